//! [`Application`]: the one way the console starts. `wharf serve`, `wharf demo` and the
//! integration tests all build it from a kube client and [`Settings`], then run it until a
//! stop signal: bootstrap (CRDs, the session key), the watcher caches, the controllers
//! (alerts sync, the pipeline controller under its Lease), the log collector, the recordings
//! sweep, and the HTTP server on the port it was given (0 in tests). Stopping is graceful:
//! the server drains, the Lease is released, the log store flushed.

use anyhow::{Context, Result};
use std::future::Future;
use std::net::SocketAddr;
use tokio::task::JoinHandle;
use wharf_console::state::{AppState, Settings};

/// Where the console serves and keeps things (beside the cluster-facing [`Settings`]).
pub struct Launch {
    /// The address to bind; port 0 picks a free one (see [`Application::addr`]).
    pub listen: SocketAddr,
    /// Trunk's output: the single-page app.
    pub site_dir: std::path::PathBuf,
    /// The console's own log store: the collector fills it (without a log bucket), the audit
    /// records go there.
    pub logs: logstore::Store,
    /// The log bucket, if there is one: then node agents collect, and the console reads
    /// every store in the bucket and ships its own store there (see `crate::logs::shared`).
    pub shared_logs: Option<(crate::logs::shared::SharedLogs, std::path::PathBuf)>,
    /// The terminal recordings' sweep (none: nothing recorded, or everything kept).
    pub retention: Option<crate::terminal::retention::Retention>,
}

/// A background task the application supervises: if it ends, the application stops and says
/// which one did.
struct Task {
    name: &'static str,
    handle: JoinHandle<()>,
}

pub struct Application {
    addr: SocketAddr,
    state: AppState,
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tasks: Vec<Task>,
    collector: Option<JoinHandle<()>>,
    /// The elections this console runs, their Leases released on a clean stop.
    leaderships: Vec<wharf_console::leader::Leadership>,
}

impl Application {
    /// Everything but serving: the cluster's objects are listed (caches ready) and the port is
    /// bound when this returns.
    pub async fn build(
        client: kube::Client,
        mut settings: Settings,
        launch: Launch,
    ) -> Result<Application> {
        let reader = match &launch.shared_logs {
            None => logstore::Federation::single(launch.logs.clone()),
            Some(_) => logstore::Federation::new(),
        };
        // finished terminal recordings go into the log bucket, where every replica finds them
        let archive = launch.shared_logs.as_ref().map(|(shared, _)| {
            wharf_console::terminal::archive::Archive::new(shared.bucket.clone())
        });
        let listener = tokio::net::TcpListener::bind(launch.listen)
            .await
            .with_context(|| format!("binding the console to {}", launch.listen))?;
        let addr = listener.local_addr()?;
        // NB: where build pods run on this host (the demo cluster), they reach the console
        // where it listens
        let artifacts = &mut settings.pipelines.artifacts;
        if artifacts.url_for_builds.is_none() && settings.pipelines.local_git {
            artifacts.url_for_builds = Some(format!("http://{}", crate::settings::loopback(addr)));
        }
        // uploaded artifacts too, so any replica serves them to a run's build pod
        settings.pipelines.artifacts.bucket = launch
            .shared_logs
            .as_ref()
            .map(|(shared, _)| shared.bucket.clone());
        let recordings = settings.terminal.recordings.clone();
        if recordings.is_some() {
            settings.terminal.archive = archive.clone();
        }
        let (state, watchers, leaderships) =
            crate::console::prepare_with_logs(client, settings, launch.logs, reader).await?;
        let mut tasks: Vec<Task> = watchers
            .into_iter()
            .map(|handle| Task {
                name: "a cluster watcher or controller",
                handle,
            })
            .collect();
        if let Some(retention) = launch.retention {
            if let (Some(archive), Some(leadership)) = (&archive, leaderships.first()) {
                tasks.push(Task {
                    name: "the sweep of the log bucket's recordings",
                    handle: crate::terminal::retention::spawn_shared(
                        archive.bucket().clone(),
                        retention.keep,
                        retention.max_total,
                        crate::terminal::retention::SWEEP_EVERY,
                        leadership.clone(),
                    ),
                });
            }
            tasks.push(Task {
                name: "the terminal recordings' sweep",
                handle: crate::terminal::retention::spawn(retention),
            });
        }
        if let (Some(archive), Some(dir)) = (archive, recordings) {
            // what a failed copy, or a console killed mid-copy, left behind
            tokio::spawn(async move {
                let copied = archive.upload_leftovers(&dir).await;
                if copied > 0 {
                    tracing::info!(copied, "recordings left on disk copied into the log bucket");
                }
            });
        }
        let collector = match launch.shared_logs {
            None => Some(crate::logs::collector::spawn(&state)),
            Some((shared, own_dir)) => {
                tracing::info!(bucket = shared.bucket.url(), name = %shared.name, "logs come from the log bucket");
                if let (false, Some(leadership)) = (shared.stale.is_zero(), leaderships.first()) {
                    tasks.push(Task {
                        name: "the log bucket's janitor",
                        handle: crate::logs::shared::spawn_janitor(
                            shared.bucket.clone(),
                            shared.name.clone(),
                            shared.stale,
                            crate::terminal::retention::SWEEP_EVERY,
                            leadership.clone(),
                        ),
                    });
                }
                let following = crate::logs::shared::Following::start(
                    state.log_reader.clone(),
                    state.logs.clone(),
                    own_dir,
                    shared,
                )
                .await;
                tasks.push(Task {
                    name: "the log bucket's follower",
                    handle: tokio::spawn(following.run()),
                });
                None
            }
        };
        let router = crate::console::router(state.clone(), launch.site_dir);
        Ok(Application {
            addr,
            state,
            listener,
            router,
            tasks,
            collector,
            leaderships,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Adds a task to supervise (the demo's Prometheus, say): its end stops the application.
    pub fn supervise(&mut self, name: &'static str, handle: JoinHandle<()>) {
        self.tasks.push(Task { name, handle });
    }

    /// The log collector's task, taken out of supervision (a test stops it to check what a
    /// restart resumes from).
    pub fn take_collector(&mut self) -> Option<JoinHandle<()>> {
        self.collector.take()
    }

    /// Serves until `stop` resolves (then drains gracefully) or a supervised task ends (then
    /// says which, as an error). Either way, the Lease is released and the log store flushed.
    pub async fn run_until_stopped(
        mut self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        if let Some(collector) = self.collector.take() {
            self.tasks.push(Task {
                name: "the log collector",
                handle: collector,
            });
        }
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = drain_rx.await;
        });
        let mut server = tokio::spawn(async move { serving.await });
        let names: Vec<&'static str> = self.tasks.iter().map(|t| t.name).collect();
        let handles: Vec<JoinHandle<()>> = self.tasks.into_iter().map(|t| t.handle).collect();
        let any_task = async {
            if handles.is_empty() {
                std::future::pending::<()>().await;
            }
            let (_, index, rest) = futures::future::select_all(handles).await;
            (index, rest)
        };
        let outcome = tokio::select! {
            r = &mut server => match r {
                Ok(Ok(())) => Err(anyhow::anyhow!("the console's HTTP server stopped")),
                Ok(Err(e)) => Err(anyhow::Error::new(e).context("the console's HTTP server failed")),
                Err(e) => Err(anyhow::Error::new(e).context("the console's HTTP server panicked")),
            },
            (index, rest) = any_task => {
                rest.iter().for_each(JoinHandle::abort);
                Err(anyhow::anyhow!("{} stopped unexpectedly", names[index]))
            }
            _ = stop => {
                tracing::info!("shutting down");
                let _ = drain_tx.send(());
                match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
                    Ok(_) => {}
                    Err(_) => tracing::warn!("open connections did not finish within 10 s; closing them"),
                }
                Ok(())
            }
        };
        wharf_console::leader::release_all(&self.leaderships).await;
        flush_logs(self.state.logs.clone()).await;
        outcome
    }
}

/// Writes out the collector's buffered lines (without it they are fetched again next start).
async fn flush_logs(store: logstore::Store) {
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.flush()).await {
        tracing::error!(error = %e, "flushing the log store at shutdown");
    }
}

/// Ctrl-C or SIGTERM (what `kill`, systemd and Kubernetes send): either one stops gracefully,
/// so nginx, Prometheus and Alertmanager children are stopped, not orphaned.
pub async fn stop_signal() {
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
