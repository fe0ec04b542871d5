//! Converging one nginx server to a desired state, one change at a time.
//!
//! [`Converger::plan`] renders and decides what the change needs;
//! [`Converger::execute`] does it:
//!
//! * nothing, when nginx already serves the rendered sha and (dynamic mode)
//!   holds the rendered peers: this is how a restarted agent avoids a reload;
//! * a peer push, when only peers changed in the dynamic mode: POST to the
//!   control endpoint, read back with GET, no reload;
//! * otherwise a new release: write a staging tree, `nginx -t` it (nginx's
//!   message is kept on failure and the live files are untouched), promote,
//!   flip `current`, reload, and poll `/wharf/config-sha` until the new
//!   workers answer with the new sha. If that does not happen before the
//!   deadline (or nginx logs an `[emerg]`), `current` is flipped back.
//!
//! Coalescing bursts is the [`crate::Agent`]'s job, one level up.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::drift::{self, Drift};
use crate::error::NginxError;
use crate::layout::{self, NginxPaths};
use crate::model::DesiredState;
use crate::peers::PeerTable;
use crate::render::{render, tree_sha, Mode, RenderOptions, RenderedConfig};
use crate::status::{LastError, Status};
use crate::{http, nginx, tls, Error, Result};

/// The header that carries the control endpoint's token.
pub const CONTROL_TOKEN_HEADER: &str = "X-Wharf-Control-Token";

/// One nginx server's paths and the node-level render options.
#[derive(Debug, Clone)]
pub struct ConvergerConfig {
    pub paths: NginxPaths,
    pub render: RenderOptions,
    /// The control endpoint's secret (see [`NginxPaths::control_token`]); read by
    /// [`Converger::new`].
    pub control_token: String,
    /// How long a reload may take to show its new sha.
    pub reload_timeout: Duration,
}

impl ConvergerConfig {
    pub fn new(paths: NginxPaths, render: RenderOptions) -> Self {
        ConvergerConfig {
            paths,
            render,
            control_token: String::new(),
            reload_timeout: Duration::from_secs(15),
        }
    }

    pub fn control_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.render.control_port))
    }
}

/// What one apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// nginx already served this state.
    Unchanged,
    /// Dynamic mode: new peers are in the shared dict; no reload.
    PeersPushed { upstreams: usize },
    /// A new release is live and confirmed.
    Reloaded { sha: String, took: Duration },
    /// nginx is not running: the release is in place for its next start.
    Installed { sha: String },
}

/// What a desired state needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Nothing,
    PushPeers,
    Reload,
    Install,
}

/// A rendered state and the action it needs (see [`Converger::plan`]).
#[derive(Debug, Clone)]
pub struct Plan {
    pub generation: u64,
    pub rendered: RenderedConfig,
    pub action: Action,
}

/// Drives one nginx server. Not `Clone`: one converger per server.
#[derive(Debug)]
pub struct Converger {
    cfg: ConvergerConfig,
    status: Status,
    /// The tree of the live release, as the agent rendered it (drift baseline).
    live: Option<RenderedConfig>,
    /// The peer table nginx confirmed holding.
    pushed: Option<PeerTable>,
    seed: Seed,
    /// `nginx -v` was run (whatever it said).
    version_read: bool,
}

impl Converger {
    /// Prepares the directories and reads what is on disk already (an
    /// agent restart finds the previous release and nginx still serving it).
    pub fn new(mut cfg: ConvergerConfig) -> Result<Self> {
        cfg.paths.prepare()?;
        cfg.control_token = cfg.paths.control_token()?;
        if cfg.render.tls_dir.is_none() {
            let dir = cfg.paths.tls_dir();
            cfg.render.tls_dir = Some(std::path::absolute(&dir).unwrap_or(dir));
        }
        let mut status = Status {
            mode: Some(cfg.render.mode),
            ..Status::default()
        };
        if let Some(release) = cfg.paths.current_release() {
            if let Ok(tree) = layout::read_tree(&release) {
                status.on_disk_sha = Some(tree_sha(&tree));
            }
        }
        Ok(Converger {
            cfg,
            status,
            live: None,
            pushed: None,
            seed: Seed::default(),
            version_read: false,
        })
    }

    /// Reads the nginx binary's version into the status, once: the agent
    /// calls this as its task starts, a bare converger on its first plan.
    /// A failure leaves it `None` with a warning; it is not retried.
    pub async fn read_nginx_version(&mut self) {
        if std::mem::replace(&mut self.version_read, true) {
            return;
        }
        match nginx::version(&self.cfg.paths.nginx_bin).await {
            Ok(v) => {
                info!(version = %v, "nginx version");
                self.status.nginx_version = Some(v);
            }
            Err(e) => warn!(error = %e, "reading the nginx version"),
        }
    }

    pub fn config(&self) -> &ConvergerConfig {
        &self.cfg
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The sha nginx's workers serve, `None` if nothing answers.
    pub async fn served_sha(&self) -> Option<String> {
        let r = http::request(
            self.cfg.control_addr(),
            "GET",
            "/wharf/config-sha",
            None,
            None,
            Duration::from_secs(2),
        )
        .await
        .ok()?;
        (r.status == 200).then(|| r.body.trim().to_string())
    }

    /// The peer table nginx holds (dynamic mode).
    pub async fn held_peers(&self) -> Result<PeerTable> {
        let r = http::request_with(
            self.cfg.control_addr(),
            "GET",
            "/wharf/upstreams",
            None,
            &[(CONTROL_TOKEN_HEADER, &self.cfg.control_token)],
            None,
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| Error::Control(format!("GET /wharf/upstreams: {e}")))?;
        if r.status != 200 {
            return Err(Error::Control(format!(
                "GET /wharf/upstreams answered {}: {}",
                r.status,
                r.body.trim()
            )));
        }
        PeerTable::from_wire(&r.body)
    }

    /// Renders `desired` and works out what it needs. `Err` only for a state
    /// that cannot be rendered.
    pub async fn plan(&mut self, desired: &DesiredState) -> Result<Plan> {
        self.read_nginx_version().await;
        let rendered = match render(desired, &self.cfg.render) {
            Ok(r) => r,
            Err(e) => {
                self.record_error(&e);
                return Err(e);
            }
        };
        let action = match self.served_sha().await {
            Some(served) if served != rendered.sha256 => Action::Reload,
            Some(_) if self.cfg.render.mode == Mode::Dynamic => {
                let held = match &self.pushed {
                    Some(p) => Some(p.clone()),
                    None => self.held_peers().await.ok(),
                };
                if held.as_ref() == Some(&rendered.peers) {
                    self.pushed = held;
                    Action::Nothing
                } else {
                    Action::PushPeers
                }
            }
            Some(_) => Action::Nothing,
            None => {
                let on_disk = self
                    .cfg
                    .paths
                    .current_release()
                    .and_then(|r| NginxPaths::release_sha(&r));
                self.seed.flush().await;
                let seed = std::fs::read_to_string(self.cfg.paths.peers_file()).unwrap_or_default();
                let seed_ok =
                    self.cfg.render.mode == Mode::Static || seed == rendered.peers.to_wire();
                if on_disk.as_deref() == Some(rendered.sha256.as_str()) && seed_ok {
                    Action::Nothing
                } else {
                    Action::Install
                }
            }
        };
        if action == Action::Nothing
            && self.live.as_ref().map(|l| &l.sha256) != Some(&rendered.sha256)
        {
            // Adopted after a restart: remember the tree as the drift baseline.
            self.live = Some(rendered.clone());
        }
        Ok(Plan {
            generation: desired.generation,
            rendered,
            action,
        })
    }

    /// Carries out a plan.
    pub async fn execute(&mut self, plan: Plan) -> Result<Outcome> {
        let result = match plan.action {
            Action::Nothing => Ok(Outcome::Unchanged),
            Action::PushPeers => {
                self.push(&plan.rendered.peers)
                    .await
                    .map(|_| Outcome::PeersPushed {
                        upstreams: plan.rendered.peers.len(),
                    })
            }
            Action::Reload | Action::Install => {
                self.release(&plan.rendered, plan.action == Action::Reload)
                    .await
            }
        };
        match &result {
            Ok(_) => {
                self.status.generation = Some(plan.generation);
                self.status.rendered_sha = Some(plan.rendered.sha256.clone());
                self.status.last_error = None;
                self.refresh_on_disk();
            }
            Err(e) => self.record_error(e),
        }
        result
    }

    /// `plan` then `execute`, without coalescing.
    pub async fn apply(&mut self, desired: &DesiredState) -> Result<Outcome> {
        let plan = self.plan(desired).await?;
        self.execute(plan).await
    }

    /// Writes a new release and reloads even if nginx already serves this
    /// sha: how an operator throws away a hand edit.
    pub async fn repair(&mut self, desired: &DesiredState) -> Result<Outcome> {
        let mut plan = self.plan(desired).await?;
        if plan.action != Action::Install {
            plan.action = Action::Reload;
        }
        self.execute(plan).await
    }

    /// The live files against the last rendered tree; `None` when they
    /// match or nothing was rendered yet.
    pub fn drift(&mut self) -> Result<Option<Drift>> {
        self.refresh_on_disk();
        let (Some(live), Some(release)) = (&self.live, self.cfg.paths.current_release()) else {
            return Ok(None);
        };
        let actual = layout::read_tree(&release)?;
        Ok(drift::compare(&live.files, &actual))
    }

    fn refresh_on_disk(&mut self) {
        self.status.on_disk_sha = self
            .cfg
            .paths
            .current_release()
            .and_then(|r| layout::read_tree(&r).ok())
            .map(|t| tree_sha(&t));
    }

    fn record_error(&mut self, e: &Error) {
        warn!(error = %e, "nginx apply failed");
        self.status.last_error = Some(LastError {
            at: Utc::now(),
            message: e.to_string(),
            nginx: e.nginx().cloned(),
        });
    }

    /// Dynamic mode: POST, read back, then queue the seed file.
    ///
    /// NB: the seed is written after nginx holds the table, by a background
    /// task and without fsync (see [`Seed`]): file system writes stall for
    /// 5–30 ms when other work writes to the disk, and were the whole p99 of
    /// an endpoint change when they came first. An nginx that restarts in the
    /// moment before the seed is on disk comes back with the previous peers;
    /// [`Converger::peers_lost`] on the next heartbeat finds that and the
    /// agent pushes again.
    async fn push(&mut self, table: &PeerTable) -> Result<()> {
        let wire = table.to_wire();
        let addr = self.cfg.control_addr();
        let r = http::request_with(
            addr,
            "POST",
            "/wharf/upstreams",
            None,
            &[(CONTROL_TOKEN_HEADER, &self.cfg.control_token)],
            Some(wire.as_bytes()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| Error::Control(format!("POST /wharf/upstreams: {e}")))?;
        if r.status != 200 {
            return Err(Error::Control(format!(
                "POST /wharf/upstreams answered {}: {}",
                r.status,
                r.body.trim()
            )));
        }
        let held = self.held_peers().await?;
        if &held != table {
            return Err(Error::Control(
                "nginx holds a different peer table than the one pushed".into(),
            ));
        }
        debug!(upstreams = table.len(), "peers pushed");
        self.pushed = Some(held);
        self.status.peers_sha = Some(table.sha256());
        self.status.peer_push_count += 1;
        self.seed.queue(self.cfg.paths.peers_file(), wire);
        Ok(())
    }

    /// Waits until the peers seed queued last is on disk (or failed to be).
    pub async fn flush_seed(&mut self) {
        self.seed.flush().await;
    }

    /// Dynamic mode, nginx running: whether nginx no longer holds the peers
    /// last pushed (it restarted from an older seed, or someone POSTed by
    /// hand). If so they are forgotten, so the next plan reads what nginx
    /// holds and pushes again.
    pub async fn peers_lost(&mut self) -> bool {
        if self.cfg.render.mode != Mode::Dynamic {
            return false;
        }
        let Some(pushed) = &self.pushed else {
            return false;
        };
        match self.held_peers().await {
            Ok(held) if &held != pushed => {
                warn!("nginx lost the pushed peers (restarted?); pushing again");
                self.pushed = None;
                true
            }
            _ => false,
        }
    }

    /// Stage, test, promote, flip, and (when nginx runs) reload and confirm.
    async fn release(&mut self, rendered: &RenderedConfig, running: bool) -> Result<Outcome> {
        let started = Instant::now();
        let paths = self.cfg.paths.clone();
        if let Some(dir) = &self.cfg.render.tls_dir {
            tls::install(dir, &rendered.certificates)?;
        }
        let staging = layout::write_staging(&paths, &rendered.files)?;
        if let Err(e) =
            nginx::test_config(&paths.nginx_bin, &paths.prefix, &staging.join("nginx.conf")).await
        {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        let release = match layout::promote(&paths, &staging, &rendered.sha256) {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let dynamic = rendered.mode == Mode::Dynamic;
        if !running {
            if dynamic {
                self.seed.flush().await;
                layout::write_atomic(&paths.peers_file(), rendered.peers.to_wire().as_bytes())?;
                self.pushed = None;
            }
            layout::flip(&paths, &release)?;
            let before = self.live.replace(rendered.clone());
            layout::prune(&paths, None);
            self.prune_certificates(before.as_ref());
            info!(sha = %rendered.sha256, "release installed; nginx is not running");
            return Ok(Outcome::Installed {
                sha: rendered.sha256.clone(),
            });
        }
        // Peers first: old workers keep what they use, new workers find theirs.
        if dynamic {
            let merged = match &self.pushed {
                Some(old) => rendered.peers.union_keep(old),
                None => rendered.peers.clone(),
            };
            if let Err(e) = self.push(&merged).await {
                let _ = std::fs::remove_dir_all(&release);
                return Err(e);
            }
        }
        let previous = paths.current_release();
        layout::flip(&paths, &release)?;
        if let Err(e) = self.reload_and_confirm(&rendered.sha256).await {
            warn!(error = %e, "reload failed; restoring the previous release");
            if let Some(prev) = &previous {
                let _ = layout::flip(&paths, prev);
            }
            let _ = std::fs::remove_dir_all(&release);
            return Err(e);
        }
        let before = self.live.replace(rendered.clone());
        if dynamic && self.pushed.as_ref() != Some(&rendered.peers) {
            self.push(&rendered.peers).await?;
        }
        self.status.reload_count += 1;
        self.status.last_reload = Some(Utc::now());
        layout::prune(&paths, previous.as_deref());
        self.prune_certificates(before.as_ref());
        let took = started.elapsed();
        info!(sha = %rendered.sha256, ?took, "reloaded");
        Ok(Outcome::Reloaded {
            sha: rendered.sha256.clone(),
            took,
        })
    }

    /// Removes certificate files neither the live release nor `before` (the
    /// one it replaced, kept for a rollback) names.
    fn prune_certificates(&self, before: Option<&RenderedConfig>) {
        let Some(dir) = &self.cfg.render.tls_dir else {
            return;
        };
        let keep = self
            .live
            .iter()
            .chain(before)
            .flat_map(|r| &r.certificates)
            .flat_map(|c| [c.cert_path.clone(), c.key_path.clone()])
            .collect();
        tls::prune(dir, &keep);
    }

    async fn reload_and_confirm(&self, sha: &str) -> Result<()> {
        let log = self.cfg.paths.error_log();
        let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let master = nginx::master_pid(&self.cfg.paths);
        let old_workers = master
            .and_then(nginx::accepting_workers)
            .unwrap_or_default();
        nginx::signal(&self.cfg.paths, "reload").await?;
        let deadline = Instant::now() + self.cfg.reload_timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            // Confirmed when a new worker answers with the new sha and no old
            // worker still accepts (see `nginx::accepting_workers`).
            if self.served_sha().await.as_deref() == Some(sha) {
                let still_old = match master.and_then(nginx::accepting_workers) {
                    Some(now) => now.iter().any(|p| old_workers.contains(p)),
                    None => false,
                };
                if !still_old {
                    return Ok(());
                }
            }
            if let Some(e) = fatal_since(&log, offset) {
                return Err(Error::Reload(e));
            }
            if Instant::now() > deadline {
                return Err(Error::Reload(NginxError::plain(format!(
                    "new workers did not serve sha {sha} within {:?}",
                    self.cfg.reload_timeout
                ))));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// The first `[emerg]`/`[alert]` nginx logged after `offset`.
fn fatal_since(log: &std::path::Path, offset: u64) -> Option<NginxError> {
    let bytes = std::fs::read(log).ok()?;
    let tail = String::from_utf8_lossy(bytes.get(offset as usize..)?);
    let fatal: String = tail
        .lines()
        .filter(|l| l.contains("[emerg]") || l.contains("[alert]"))
        .collect::<Vec<_>>()
        .join("\n");
    NginxError::parse(&fatal, None::<&std::path::Path>)
}

/// The peers seed (`<prefix>/wharf/peers.txt`), written off the push path by
/// one background task; the newest table queued wins and older ones still
/// waiting are skipped. A failed write is logged: the seed only matters for
/// an nginx that restarts without its agent.
#[derive(Debug, Default)]
struct Seed {
    queued: u64,
    tx: Option<watch::Sender<Option<(u64, String)>>>,
    written: Option<watch::Receiver<u64>>,
}

impl Seed {
    fn queue(&mut self, path: PathBuf, wire: String) {
        self.queued += 1;
        let tx = self.tx.get_or_insert_with(|| {
            let (tx, rx) = watch::channel(None);
            let (written_tx, written) = watch::channel(0);
            self.written = Some(written);
            tokio::spawn(write_seeds(path, rx, written_tx));
            tx
        });
        tx.send_replace(Some((self.queued, wire)));
    }

    async fn flush(&mut self) {
        let queued = self.queued;
        if let Some(written) = &mut self.written {
            // Err: the writer is gone (runtime shutting down); nothing to wait for.
            let _ = written.wait_for(|w| *w >= queued).await;
        }
    }
}

/// Ends when the converger (and so the sender) is dropped.
async fn write_seeds(
    path: PathBuf,
    mut rx: watch::Receiver<Option<(u64, String)>>,
    written: watch::Sender<u64>,
) {
    while rx.changed().await.is_ok() {
        let Some((seq, wire)) = rx.borrow_and_update().clone() else {
            continue;
        };
        let p = path.clone();
        match tokio::task::spawn_blocking(move || layout::write_replace(&p, wire.as_bytes())).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "writing the peers seed"),
            Err(e) => warn!(error = %e, "writing the peers seed"),
        }
        written.send_replace(seq);
    }
}
