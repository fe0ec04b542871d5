//! `wharf`: the console server and the operators' commands.
//!
//! * `wharf demo`  — demo cluster + console on http://127.0.0.1:3000, seeded
//! * `wharf serve` — the console against a real cluster (kubeconfig or in-cluster config)
//! * `wharf sim`   — the demo cluster alone, writing a kubeconfig for kubectl
//! * `wharf logs`  — query a log store, ingest kubelet CRI log files into one
//! * `wharf ng-agent` — keep one nginx server in step with an `NginxCluster`
//! * `wharf admin` — users and tenants, without the console running

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use server::application::{stop_signal, Application};
use server::settings::ConsoleArgs;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "wharf",
    version,
    about = "Wharf: a container-cloud console for Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the demo cluster, seed it, and serve the console in front of it.
    Demo {
        /// Where the demo cluster keeps its state between runs.
        #[arg(long, default_value = ".wharf/demo")]
        data: PathBuf,
        /// Forget the previous run's state and seed anew.
        #[arg(long)]
        fresh: bool,
        /// Logs as on a cluster that outgrew one machine: a log agent per demo node ships into
        /// a log bucket (a SeaweedFS the demo starts, or --log-bucket), and the console reads
        /// the bucket.
        #[arg(long)]
        shared_logs: bool,
        #[command(flatten)]
        console: Box<ConsoleArgs>,
    },
    /// Serve the console against a cluster.
    Serve {
        /// A kubeconfig; without it, the in-cluster service account (or $KUBECONFIG).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
        #[command(flatten)]
        console: Box<ConsoleArgs>,
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
        /// The cluster's pod and Service ranges: external upstreams' servers there are left out.
        #[arg(
            long = "cluster-cidr",
            env = "WHARF_CLUSTER_CIDRS",
            value_delimiter = ','
        )]
        cluster_cidrs: Vec<ipnet::IpNet>,
        /// A range external upstreams' servers may be in although refused by default
        /// (loopback, link-local, the cluster's ranges).
        #[arg(
            long = "egress-allow",
            env = "WHARF_EGRESS_ALLOW",
            value_delimiter = ','
        )]
        egress_allow: Vec<ipnet::IpNet>,
    },
    /// Users and tenants, without the console running (scripted installs).
    Admin {
        #[arg(long, env = "KUBECONFIG", global = true)]
        kubeconfig: Option<PathBuf>,
        #[command(subcommand)]
        command: server::admin::AdminCommand,
    },
    /// Sign in to a console once and keep an API token for scripts (`wharf call`).
    Login(server::remote::LoginArgs),
    /// Call a server function of the console logged in to; prints its JSON answer.
    Call(server::remote::CallArgs),
    /// Forget the token kept for a console (revoke it on the console's tokens page).
    Logout {
        #[arg(long, env = "WHARF_SERVER")]
        server: Option<String>,
    },
    /// Operators' commands on a log store.
    Logs {
        #[command(subcommand)]
        command: server::logs::cli::LogsCommand,
    },
}

/// A `wharf login|call|logout` outcome: a refusal is one line on stderr and exit code 2.
fn remote(outcome: Result<(), server::remote::RemoteError>) -> Result<()> {
    match outcome {
        Ok(()) => Ok(()),
        Err(server::remote::RemoteError::Refused(why)) => {
            eprintln!("wharf: {why}");
            std::process::exit(2);
        }
        Err(server::remote::RemoteError::Failed(e)) => Err(e),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn,hyper=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Demo {
            data,
            fresh,
            shared_logs,
            mut console,
        } => {
            let nginx_bin = PathBuf::from("/usr/sbin/nginx");
            server::nginx::demo::stop_leftovers(&data, &nginx_bin).await;
            if fresh && data.exists() {
                std::fs::remove_dir_all(&data)
                    .with_context(|| format!("removing {}", data.display()))?;
            }
            let (cluster, client, kubeconfig) = server::demo::start_cluster(&data).await?;
            server::bootstrap::install_crds(&client).await?;
            server::demo::seed::identities(&client).await?;
            server::demo::seed::apps(&client).await?;
            server::demo::seed::nginx(&client).await?;
            server::demo::seed::pipelines(&client, &cluster.shared_dir()).await?;
            let mut shared = match shared_logs || console.log_bucket.url.is_some() {
                true => Some(
                    server::demo::shared_logs::SharedLogsDemo::start(
                        &data,
                        &cluster,
                        &client,
                        &mut console.log_bucket,
                    )
                    .await?,
                ),
                false => None,
            };
            // Prometheus + Alertmanager under <data>/monitoring; Alertmanager posts to this console
            let listen = console.demo_listen();
            let webhook_host = if listen.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], listen.port()))
            } else {
                listen
            };
            let monitoring = server::monitoring::StackConfig::local(
                &data.join("monitoring"),
                &cluster.kubeconfig_yaml(),
                webhook_host,
            )?;
            let (mut settings, launch) = console.demo(&data, monitoring.settings())?;
            if let Some(shared) = shared.as_mut() {
                println!("{}", shared.banner);
            }
            // nginx nodes joined from the console run on this machine, beside the demo cluster
            settings
                .api_server_for_nodes
                .get_or_insert_with(|| format!("https://{}", cluster.addr()));
            settings.terminal.unconfined = cluster.sandbox_unavailable();
            if let Some(why) = &settings.terminal.unconfined {
                println!("  ! the demo node cannot sandbox its containers ({why}): only platform admins get shells");
            }
            let mut application =
                Application::build(client.clone(), settings, launch.open()?).await?;
            let mut stack = server::monitoring::Stack::start(monitoring)
                .await
                .context("starting Prometheus and Alertmanager")?;
            println!(
                "  Prometheus:  http://{}   Alertmanager: http://{}",
                stack.config.prometheus_addr, stack.config.alertmanager_addr
            );
            // NB: the children die with the task (kill_on_drop) when the demo stops
            application.supervise(
                "Prometheus or Alertmanager",
                tokio::spawn(async move {
                    let why = stack.exited().await;
                    tracing::error!("{why}");
                }),
            );
            let nginx = server::nginx::demo::start(
                &client,
                &data,
                &nginx_bin,
                std::time::Duration::from_secs(2),
            )
            .await?;
            if let Some(shared) = shared.as_mut() {
                application.supervise("a demo node's log agent", shared.watchdog());
            }
            println!("{}", server::demo::banner(application.addr(), &kubeconfig));
            println!("{}", nginx.banner());
            let outcome = application.run_until_stopped(stop_signal()).await;
            if let Some(shared) = shared {
                shared.stop().await;
            }
            nginx.stop().await;
            drop(cluster);
            outcome
        }
        Command::Serve {
            kubeconfig,
            console,
        } => {
            // NB: the console's own API server address is what joined nginx nodes get unless
            // --ng-agent-api-server says otherwise, but only from a kubeconfig: in a pod it is
            // the cluster-internal Service address, which servers outside do not reach.
            let from_file = kubeconfig.is_some();
            let config = server::kube_config(kubeconfig).await?;
            let own_api = from_file.then(|| config.cluster_url.to_string());
            let client = kube::Client::try_from(config)?;
            let (mut settings, launch) = console.serve()?;
            if settings.api_server_for_nodes.is_none() {
                settings.api_server_for_nodes = own_api;
            }
            let application = Application::build(client, settings, launch.open()?).await?;
            tracing::info!(addr = %application.addr(), "console listening");
            application.run_until_stopped(stop_signal()).await
        }
        Command::Admin {
            kubeconfig,
            command,
        } => server::admin::run(server::kube_client(kubeconfig).await?, command).await,
        Command::Login(args) => remote(server::remote::login(args).await),
        Command::Call(args) => remote(server::remote::call(args).await),
        Command::Logout { server } => remote(server::remote::logout(server).await),
        Command::Logs { command } => match server::logs::cli::run(command).await {
            Ok(()) => Ok(()),
            Err(server::logs::cli::CliError::Usage(message)) => {
                eprintln!("wharf logs: {message}");
                std::process::exit(2);
            }
            Err(server::logs::cli::CliError::Failed(e)) => Err(e),
        },
        Command::NgAgent {
            kubeconfig,
            cluster,
            node,
            conf_dir,
            nginx,
            prefix,
            control_port,
            http_port,
            heartbeat_secs,
            start_nginx,
            cluster_cidrs,
            egress_allow,
        } => {
            let client = server::kube_client(kubeconfig).await?;
            let paths = ngx::NginxPaths::new(
                &nginx,
                prefix.unwrap_or_else(|| conf_dir.join("runtime")),
                &conf_dir,
            );
            let mut opts = ngx::RenderOptions::detect(control_port);
            opts.http_port = http_port;
            let mut cfg =
                wharf_console::nginx::agent::NodeConfig::new(&cluster, &node, paths.clone(), opts);
            cfg.heartbeat = std::time::Duration::from_secs(heartbeat_secs.max(1));
            cfg.egress.cluster_ranges = cluster_cidrs;
            cfg.egress.allowed = egress_allow;
            let mut agent = wharf_console::nginx::agent::NodeAgent::start(client, cfg).await?;
            tracing::info!(%cluster, %node, mode = ?agent.engine.status().mode, "ng-agent running");
            let _nginx = if start_nginx {
                agent
                    .first_apply(std::time::Duration::from_secs(60))
                    .await?;
                let probe = SocketAddr::from(([127, 0, 0, 1], control_port));
                Some(
                    ngx::NginxProcess::start(&paths, probe, std::time::Duration::from_secs(10))
                        .await
                        .context("starting nginx")?,
                )
            } else {
                None
            };
            tokio::select! {
                _ = agent.stopped() => anyhow::bail!("the agent stopped unexpectedly"),
                _ = stop_signal() => { tracing::info!("shutting down"); Ok(()) }
            }
        }
        Command::Sim {
            listen,
            data,
            kubeconfig_out,
            ephemeral,
        } => {
            let cluster = sim::start(sim::SimConfig {
                listen,
                data_dir: (!ephemeral).then_some(data),
                kubeconfig_out: Some(kubeconfig_out.clone()),
                nodes: 3,
            })
            .await
            .context("starting the demo cluster")?;
            println!(
                "Demo cluster on https://{}  (kubectl --kubeconfig {})",
                cluster.addr(),
                kubeconfig_out.display()
            );
            stop_signal().await;
            cluster.shutdown().await;
            Ok(())
        }
    }
}
