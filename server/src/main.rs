//! `wharf`: the console server and the operators' commands.
//!
//! * `wharf demo`  — demo cluster + console on http://127.0.0.1:3000, seeded
//! * `wharf serve` — the console against a real cluster (kubeconfig or in-cluster config)
//! * `wharf sim`   — the demo cluster alone, writing a kubeconfig for kubectl
//! * `wharf logs`  — query a log store, ingest kubelet CRI log files into one
//! * `wharf ng-agent` — keep one nginx server in step with an `NginxCluster`

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use wharf_console::state::Settings;

#[derive(Parser)]
#[command(name = "wharf", version, about = "Wharf: a container-cloud console for Kubernetes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the demo cluster, seed it, and serve the console in front of it.
    Demo {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Where the demo cluster keeps its state between runs.
        #[arg(long, default_value = ".wharf/demo")]
        data: PathBuf,
        /// The built single-page app (Trunk's output).
        #[arg(long, env = "WHARF_SITE_DIR", default_value = "dist")]
        site_dir: PathBuf,
        /// Forget the previous run's state and seed anew.
        #[arg(long)]
        fresh: bool,
        /// The log store's folder (default: `<data>/logs`).
        #[arg(long)]
        logs: Option<PathBuf>,
        /// The terminal's debug image and session recordings, their size limit and retention (recordings default: `<data>/recordings`).
        #[command(flatten)]
        terminal: server::terminal::TerminalArgs,
    },
    /// Serve the console against a cluster.
    Serve {
        /// A kubeconfig; without it, the in-cluster service account (or $KUBECONFIG).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
        #[arg(long, default_value = "0.0.0.0:3000")]
        listen: SocketAddr,
        #[arg(long, env = "WHARF_SITE_DIR", default_value = "dist")]
        site_dir: PathBuf,
        /// Mark session cookies Secure (set when TLS terminates in front of the console).
        #[arg(long, env = "WHARF_SECURE_COOKIES")]
        secure_cookies: bool,
        #[arg(long, env = "WHARF_SESSION_HOURS", default_value_t = 12)]
        session_hours: i64,
        /// The log store's folder: the collector writes every container's log there.
        #[arg(long, env = "WHARF_LOGS_DIR", default_value = ".wharf/logs")]
        logs: PathBuf,
        /// Prometheus for dashboards and alert rules (e.g. http://prometheus:9090).
        #[arg(long, env = "WHARF_PROMETHEUS_URL")]
        prometheus_url: Option<String>,
        #[arg(long, env = "WHARF_ALERTMANAGER_URL")]
        alertmanager_url: Option<String>,
        /// Where the console writes one rule file per app; Prometheus must load `<dir>/*.rules.yml`.
        #[arg(long, env = "WHARF_RULES_DIR")]
        rules_dir: Option<PathBuf>,
        /// A registry pipelines may push to, `name=host` or `name=host@push-secret` (a
        /// dockerconfigjson Secret in each pipeline's namespace); repeat or separate with commas.
        #[arg(long = "registry", env = "WHARF_REGISTRIES", value_delimiter = ',')]
        registries: Vec<wharf_console::pipelines::Registry>,
        /// The token Alertmanager sends (Authorization: Bearer) to /hooks/alertmanager.
        #[arg(long, env = "WHARF_ALERT_WEBHOOK_TOKEN", hide_env_values = true)]
        webhook_token: Option<String>,
        /// Tenants' own receivers: the console's webhook URL, Alertmanager's config file, SMTP.
        #[command(flatten)]
        alerting: Box<server::monitoring::AlertingArgs>,
        /// The terminal's debug image and session recordings, their size limit and retention.
        #[command(flatten)]
        terminal: server::terminal::TerminalArgs,
    },
    /// Run the demo cluster alone.
    Sim {
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: SocketAddr,
        #[arg(long, default_value = ".wharf/sim")]
        data: PathBuf,
        #[arg(long, default_value = ".wharf/sim/kubeconfig")]
        kubeconfig_out: PathBuf,
        /// Keep state in memory only.
        #[arg(long)]
        ephemeral: bool,
    },
    /// Keep one nginx server in step with an NginxCluster (run one beside every nginx).
    NgAgent {
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
        /// The NginxCluster this node belongs to.
        #[arg(long)]
        cluster: String,
        /// This node's name in the cluster's status.
        #[arg(long)]
        node: String,
        /// Where releases and the `current` link live; nginx runs with -c <conf-dir>/current/nginx.conf.
        #[arg(long)]
        conf_dir: PathBuf,
        #[arg(long, default_value = "/usr/sbin/nginx")]
        nginx: PathBuf,
        /// nginx's -p (logs, pid, temp); default <conf-dir>/runtime.
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// The local control server's port (config sha, dynamic upstreams).
        #[arg(long, default_value_t = 18080)]
        control_port: u16,
        /// Override the cluster's HTTP port on this node.
        #[arg(long)]
        http_port: Option<u16>,
        #[arg(long, default_value_t = 10)]
        heartbeat_secs: u64,
        /// Also run the nginx master (foreground, stopped with the agent) instead of
        /// following one that systemd runs.
        #[arg(long)]
        start_nginx: bool,
    },
    /// Operators' commands on a log store.
    Logs {
        #[command(subcommand)]
        command: server::logs::cli::LogsCommand,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn,hyper=warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

async fn client_for(kubeconfig: Option<PathBuf>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await.context("no kubeconfig given and no in-cluster configuration found")?,
    };
    Ok(kube::Client::try_from(config)?)
}

fn open_logs(dir: &std::path::Path) -> Result<logstore::Store> {
    logstore::Store::open_path(dir, logstore::Config::default()).with_context(|| format!("opening the log store {}", dir.display()))
}

/// Writes out the collector's buffered lines (without it they are fetched again next start).
async fn flush_logs(store: logstore::Store) {
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.flush()).await {
        tracing::error!(error = %e, "flushing the log store at shutdown");
    }
}

/// Ctrl-C or SIGTERM (what `kill`, systemd and Kubernetes send): either one shuts down
/// gracefully, so nginx, Prometheus and Alertmanager children are stopped, not orphaned.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops gracefully");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs until Ctrl-C/SIGTERM or until a supervised task ends (which is then reported, not swallowed).
async fn supervise(console: tokio::task::JoinHandle<Result<()>>, watchers: Vec<tokio::task::JoinHandle<()>>) -> Result<()> {
    let any_watcher = futures::future::select_all(watchers);
    tokio::select! {
        r = console => r.context("console task panicked")?.context("console stopped"),
        _ = any_watcher => anyhow::bail!("a background task (a cluster watcher or the log collector) stopped unexpectedly"),
        _ = stop_signal() => { tracing::info!("shutting down"); Ok(()) }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Demo { listen, data, site_dir, fresh, logs, mut terminal } => {
            let nginx_bin = PathBuf::from("/usr/sbin/nginx");
            server::nginx::demo::stop_leftovers(&data, &nginx_bin).await;
            if fresh && data.exists() {
                std::fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
            }
            let (_cluster, client, kubeconfig) = server::demo::start_cluster(&data).await?;
            server::bootstrap::install_crds(&client).await?;
            server::demo::seed::identities(&client).await?;
            server::demo::seed::apps(&client).await?;
            server::demo::seed::nginx(&client).await?;
            server::demo::seed::pipelines(&client, &data).await?;
            let nginx_client = client.clone();
            let store = open_logs(&logs.unwrap_or_else(|| data.join("logs")))?;
            // Prometheus + Alertmanager under <data>/monitoring; Alertmanager posts to this console
            let webhook_host = if listen.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], listen.port())) } else { listen };
            let monitoring = server::monitoring::StackConfig::local(&data.join("monitoring"), &_cluster.kubeconfig_yaml(), webhook_host)?;
            // the demo records terminal sessions, so admins can replay them
            terminal.recordings_dir.get_or_insert_with(|| data.join("recordings"));
            let settings = Settings {
                monitoring: monitoring.settings(),
                pipelines: wharf_console::pipelines::PipelineSettings::demo(),
                terminal: terminal.options(),
                ..Settings::default()
            };
            let (state, mut tasks) = server::console::prepare_with_logs(client, settings, store.clone()).await?;
            tasks.push(server::logs::collector::spawn(&state));
            tasks.extend(terminal.retention().map(server::terminal::retention::spawn));
            let (addr, console) = server::console::start(state, site_dir, listen).await?;
            let mut stack = server::monitoring::Stack::start(monitoring).await.context("starting Prometheus and Alertmanager")?;
            println!("  Prometheus:  http://{}   Alertmanager: http://{}", stack.config.prometheus_addr, stack.config.alertmanager_addr);
            // NB: the children die with the task (kill_on_drop) when the demo stops
            tasks.push(tokio::spawn(async move {
                let why = stack.exited().await;
                tracing::error!("{why}");
            }));
            let nginx = server::nginx::demo::start(&nginx_client, &data, &nginx_bin, std::time::Duration::from_secs(2)).await?;
            println!("{}", server::demo::banner(addr, &kubeconfig));
            println!("{}", nginx.banner());
            let outcome = supervise(console, tasks).await;
            server::leader::release_all().await;
            nginx.stop().await;
            flush_logs(store).await;
            outcome
        }
        Command::Serve { kubeconfig, listen, site_dir, secure_cookies, session_hours, logs, prometheus_url, alertmanager_url, rules_dir, webhook_token, alerting, registries, terminal } => {
            let client = client_for(kubeconfig).await?;
            let mut monitoring = wharf_console::monitoring::MonitoringSettings {
                prometheus_url,
                alertmanager_url,
                rules_dir,
                webhook_token: webhook_token.map(wharf_console::monitoring::Token::new),
                ..Default::default()
            };
            alerting.apply_to(&mut monitoring)?;
            let pipelines = wharf_console::pipelines::PipelineSettings { registries, ..Default::default() };
            let settings = Settings { session_ttl_secs: session_hours * 3600, secure_cookies, monitoring, pipelines, terminal: terminal.options(), ..Settings::default() };
            let store = open_logs(&logs)?;
            let (state, mut tasks) = server::console::prepare_with_logs(client, settings, store.clone()).await?;
            tasks.push(server::logs::collector::spawn(&state));
            tasks.extend(terminal.retention().map(server::terminal::retention::spawn));
            let (addr, console) = server::console::start(state, site_dir, listen).await?;
            tracing::info!(%addr, "console listening");
            let outcome = supervise(console, tasks).await;
            server::leader::release_all().await;
            flush_logs(store).await;
            outcome
        }
        Command::Logs { command } => match server::logs::cli::run(command).await {
            Ok(()) => Ok(()),
            Err(server::logs::cli::CliError::Usage(message)) => {
                eprintln!("wharf logs: {message}");
                std::process::exit(2);
            }
            Err(server::logs::cli::CliError::Failed(e)) => Err(e),
        },
        Command::NgAgent { kubeconfig, cluster, node, conf_dir, nginx, prefix, control_port, http_port, heartbeat_secs, start_nginx } => {
            let client = client_for(kubeconfig).await?;
            let paths = ngx::NginxPaths::new(&nginx, prefix.unwrap_or_else(|| conf_dir.join("runtime")), &conf_dir);
            let mut opts = ngx::RenderOptions::detect(control_port);
            opts.http_port = http_port;
            let mut cfg = server::nginx::agent::NodeConfig::new(&cluster, &node, paths.clone(), opts);
            cfg.heartbeat = std::time::Duration::from_secs(heartbeat_secs.max(1));
            let mut agent = server::nginx::agent::NodeAgent::start(client, cfg).await?;
            tracing::info!(%cluster, %node, mode = ?agent.engine.status().mode, "ng-agent running");
            let _nginx = if start_nginx {
                agent.first_apply(std::time::Duration::from_secs(60)).await?;
                let probe = SocketAddr::from(([127, 0, 0, 1], control_port));
                Some(ngx::NginxProcess::start(&paths, probe, std::time::Duration::from_secs(10)).await.context("starting nginx")?)
            } else {
                None
            };
            tokio::select! {
                _ = agent.stopped() => anyhow::bail!("the agent stopped unexpectedly"),
                _ = stop_signal() => { tracing::info!("shutting down"); Ok(()) }
            }
        }
        Command::Sim { listen, data, kubeconfig_out, ephemeral } => {
            let cluster = sim::start(sim::SimConfig {
                listen,
                data_dir: (!ephemeral).then_some(data),
                kubeconfig_out: Some(kubeconfig_out.clone()),
                nodes: 3,
            })
            .await
            .context("starting the demo cluster")?;
            println!("Demo cluster on https://{}  (kubectl --kubeconfig {})", cluster.addr(), kubeconfig_out.display());
            stop_signal().await;
            cluster.shutdown().await;
            Ok(())
        }
    }
}
