//! `wharf`: the console server and the operators' commands.
//!
//! * `wharf demo`  — demo cluster + console on http://127.0.0.1:3000, seeded
//! * `wharf serve` — the console against a real cluster (kubeconfig or in-cluster config)
//! * `wharf sim`   — the demo cluster alone, writing a kubeconfig for kubectl
//! * `wharf logs`  — query a log store, ingest kubelet CRI log files into one

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use wharf_app::state::Settings;

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

/// Runs until Ctrl-C or until a supervised task ends (which is then reported, not swallowed).
async fn supervise(console: tokio::task::JoinHandle<Result<()>>, watchers: Vec<tokio::task::JoinHandle<()>>) -> Result<()> {
    let any_watcher = futures::future::select_all(watchers);
    tokio::select! {
        r = console => r.context("console task panicked")?.context("console stopped"),
        _ = any_watcher => anyhow::bail!("a background task (a cluster watcher or the log collector) stopped unexpectedly"),
        _ = tokio::signal::ctrl_c() => { tracing::info!("shutting down"); Ok(()) }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Demo { listen, data, site_dir, fresh, logs } => {
            if fresh && data.exists() {
                std::fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
            }
            let (_cluster, client, kubeconfig) = server::demo::start_cluster(&data).await?;
            server::bootstrap::install_crds(&client).await?;
            server::demo::seed::identities(&client).await?;
            server::demo::seed::apps(&client).await?;
            let store = open_logs(&logs.unwrap_or_else(|| data.join("logs")))?;
            let (state, mut tasks) = server::console::prepare_with_logs(client, Settings::default(), store.clone()).await?;
            tasks.push(server::logs::collector::spawn(&state));
            let (addr, console) = server::console::start(state, site_dir, listen).await?;
            println!("{}", server::demo::banner(addr, &kubeconfig));
            let outcome = supervise(console, tasks).await;
            flush_logs(store).await;
            outcome
        }
        Command::Serve { kubeconfig, listen, site_dir, secure_cookies, session_hours, logs } => {
            let client = client_for(kubeconfig).await?;
            let settings = Settings { session_ttl_secs: session_hours * 3600, secure_cookies };
            let store = open_logs(&logs)?;
            let (state, mut tasks) = server::console::prepare_with_logs(client, settings, store.clone()).await?;
            tasks.push(server::logs::collector::spawn(&state));
            let (addr, console) = server::console::start(state, site_dir, listen).await?;
            tracing::info!(%addr, "console listening");
            let outcome = supervise(console, tasks).await;
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
            tokio::signal::ctrl_c().await?;
            cluster.shutdown().await;
            Ok(())
        }
    }
}
