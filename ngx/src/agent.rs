//! The agent: one [`Converger`] on a task, fed the latest desired state,
//! with reloads coalesced.
//!
//! Submissions go through a `watch` channel, so a burst collapses to its
//! latest state by construction. A change that needs a reload is applied at
//! once if the last reload is older than the coalescing window, otherwise it
//! waits for the window to end and then applies whatever is latest by then:
//! at most one reload per window, and a lone change is not delayed. Peer
//! pushes (dynamic mode) are not held back by the window; they cost no reload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tracing::{info_span, Instrument};

use crate::converge::{Action, Converger, ConvergerConfig, Outcome};
use crate::drift::Drift;
use crate::model::DesiredState;
use crate::status::Status;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub converger: ConvergerConfig,
    /// At most one reload per window.
    pub coalesce_window: Duration,
}

impl AgentConfig {
    pub fn new(converger: ConvergerConfig) -> Self {
        AgentConfig {
            converger,
            coalesce_window: Duration::from_millis(200),
        }
    }
}

type Submission = Option<(u64, Arc<DesiredState>)>;

#[derive(Debug, Clone)]
struct Report {
    /// Every submission up to this sequence number is covered.
    seq: u64,
    result: Option<Result<Outcome>>,
}

/// Handle to a running agent. Dropping it stops the task.
#[derive(Debug)]
pub struct Agent {
    desired: watch::Sender<Submission>,
    reports: watch::Receiver<Report>,
    status: watch::Receiver<Status>,
    status_tx: Arc<watch::Sender<Status>>,
    converger: Arc<Mutex<Converger>>,
    seq: AtomicU64,
    task: JoinHandle<()>,
}

impl Agent {
    /// Starts the agent task. Nothing is applied until the first submission.
    pub fn start(cfg: AgentConfig) -> Result<Agent> {
        let converger = Converger::new(cfg.converger)?;
        let (desired, desired_rx) = watch::channel(None);
        let (reports_tx, reports) = watch::channel(Report {
            seq: 0,
            result: None,
        });
        let (status_tx, status) = watch::channel(converger.status().clone());
        let status_tx = Arc::new(status_tx);
        let converger = Arc::new(Mutex::new(converger));
        let task = tokio::spawn(
            run(
                desired_rx,
                reports_tx,
                status_tx.clone(),
                converger.clone(),
                cfg.coalesce_window,
            )
            .instrument(info_span!("ngx-agent")),
        );
        Ok(Agent {
            desired,
            reports,
            status,
            status_tx,
            converger,
            seq: AtomicU64::new(0),
            task,
        })
    }

    /// Hands over a new desired state and returns at once with its sequence
    /// number. A newer submission supersedes an older one not yet applied.
    pub fn submit(&self, desired: DesiredState) -> u64 {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.desired.send_replace(Some((seq, Arc::new(desired))));
        seq
    }

    /// Submits and waits for the apply that covers it (which may be a later
    /// submission's, if one came in meanwhile).
    pub async fn apply(&self, desired: DesiredState) -> Result<Outcome> {
        let seq = self.submit(desired);
        self.wait(seq).await
    }

    /// Waits until submission `seq` is covered and returns that apply's result.
    pub async fn wait(&self, seq: u64) -> Result<Outcome> {
        let mut rx = self.reports.clone();
        let report = rx
            .wait_for(|r| r.seq >= seq)
            .await
            .map_err(|_| Error::Stopped)?;
        report.result.clone().unwrap_or(Err(Error::Stopped))
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (for the CRD status writer).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Reads the live files and compares them with the rendered tree; in the
    /// dynamic mode also checks that nginx still holds the pushed peers and,
    /// if not, re-applies the latest submission (see
    /// [`Converger::peers_lost`]). The node agent calls this on every heartbeat.
    pub async fn drift(&self) -> Result<Option<Drift>> {
        let mut conv = self.converger.lock().await;
        let drift = conv.drift();
        let lost = conv.peers_lost().await;
        self.status_tx.send_replace(conv.status().clone());
        drop(conv);
        if lost {
            // Wakes the task on the same submission; `None` (shutdown) is left alone.
            self.desired.send_if_modified(|d| d.is_some());
        }
        drift
    }

    /// Forces a fresh release of `desired` (discarding hand edits), outside
    /// the coalescing.
    pub async fn repair(&self, desired: &DesiredState) -> Result<Outcome> {
        let mut conv = self.converger.lock().await;
        let outcome = conv.repair(desired).await;
        self.status_tx.send_replace(conv.status().clone());
        outcome
    }

    /// Waits until background writes (the dynamic mode's peers seed) of
    /// every apply so far are on disk.
    pub async fn settle(&self) {
        self.converger.lock().await.flush_seed().await;
    }

    /// Stops after the apply in progress, if any, and its background writes.
    pub async fn shutdown(mut self) {
        self.desired.send_replace(None);
        let _ = (&mut self.task).await;
        self.settle().await;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // NB: aborting mid-apply is safe: the swap is a rename, so either the
        // old or the new release is live, and a restarted agent re-plans.
        self.task.abort();
    }
}

async fn run(
    mut desired: watch::Receiver<Submission>,
    reports: watch::Sender<Report>,
    status: Arc<watch::Sender<Status>>,
    converger: Arc<Mutex<Converger>>,
    window: Duration,
) {
    let mut last_reload: Option<Instant> = None;
    {
        let mut conv = converger.lock().await;
        conv.read_nginx_version().await;
        status.send_replace(conv.status().clone());
    }
    while desired.changed().await.is_ok() {
        loop {
            // `None` is the shutdown signal.
            let Some((seq, state)) = desired.borrow_and_update().clone() else {
                return;
            };
            let mut conv = converger.lock().await;
            let plan = match conv.plan(&state).await {
                Ok(p) => p,
                Err(e) => {
                    status.send_replace(conv.status().clone());
                    reports.send_replace(Report {
                        seq,
                        result: Some(Err(e)),
                    });
                    break;
                }
            };
            let reloads = plan.action == Action::Reload;
            if let Some(wait_until) = last_reload
                .map(|t| t + window)
                .filter(|t| reloads && *t > Instant::now())
            {
                drop(conv);
                // Let the burst finish; then apply whatever is latest.
                tokio::time::sleep_until(wait_until.into()).await;
                continue;
            }
            let result = conv.execute(plan).await;
            if reloads {
                last_reload = Some(Instant::now());
            }
            status.send_replace(conv.status().clone());
            reports.send_replace(Report {
                seq,
                result: Some(result),
            });
            break;
        }
    }
}
