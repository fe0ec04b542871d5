//! `wharf logs agent`: one per node (a DaemonSet, `deploy/log-agent.yaml`). It reads the
//! kubelet's CRI files under `/var/log/pods` into a log store on the node's disk (the CRI
//! ingester of `logstore`: partial lines, rotation, gz, idempotent resume), tags each
//! container's stream with its pod's labels (a pod watch limited to this node with
//! `fieldSelector=spec.nodeName=<node>`), and ships the store into the shared bucket
//! (`logship`) every couple of seconds, where every console replica reads it. Container
//! logs no longer cross the API server.
//!
//! Restarts: the store lives on the node (a hostPath), so an agent killed with `kill -9`
//! reopens it where its files end, the CRI ingester resumes from what the store holds, and
//! the shipper's first pass uploads only what the bucket lacks: no line lost, none twice.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use logship::Shipper;
use logstore::{Config, Labels, Store, StreamSelector};

use super::bucket::BucketArgs;

/// `wharf logs agent`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// This node's name (in a DaemonSet: `spec.nodeName` through the Downward API); it names
    /// the node's store in the bucket.
    #[arg(long, env = "NODE_NAME")]
    pub node: String,
    /// The kubelet's pod log folder.
    #[arg(long, env = "WHARF_PODS_DIR", default_value = "/var/log/pods")]
    pub pods_dir: PathBuf,
    /// The node's log store (keep it on the node: a hostPath), shipped to the bucket.
    #[arg(
        long,
        env = "WHARF_AGENT_DATA",
        default_value = "/var/lib/wharf/agent-logs"
    )]
    pub data: PathBuf,
    /// How often the store is shipped (lines are queryable about this long after written).
    #[arg(long, env = "WHARF_SHIP_SECONDS", default_value_t = 2)]
    pub ship_seconds: u64,
    /// Lines older than this many days are dropped (whole segments, on the node and then in
    /// the bucket), checked hourly; 0 keeps everything.
    #[arg(long, env = "WHARF_LOG_KEEP_DAYS", default_value_t = 14)]
    pub keep_days: u64,
    #[command(flatten)]
    pub bucket: BucketArgs,
    /// The cluster whose pods' labels tag the streams [default: in-cluster, or KUBECONFIG].
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

/// An agent's store: small segments, so a segment being written (uploaded again each time
/// it grows) stays cheap to ship, and an hour of one container's log is a few objects.
pub fn store_config() -> Config {
    Config {
        segment_bytes: 4 * 1024 * 1024,
        segment_age: Duration::from_secs(15 * 60),
        ..Config::default()
    }
}

/// Each pod's labels, by `(namespace, pod)`, as the pod watch has them.
type PodLabels = Arc<RwLock<HashMap<(String, String), Labels>>>;

/// Runs the agent until `shutdown` resolves; then ingests, flushes and ships once more.
pub async fn run(
    client: kube::Client,
    args: AgentArgs,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    if !logship::valid_name(&args.node) {
        anyhow::bail!("--node {:?} is not a node name", args.node);
    }
    anyhow::ensure!(
        args.pods_dir.is_dir(),
        "--pods-dir {}: not a folder",
        args.pods_dir.display()
    );
    let bucket = args.bucket.connect()?.context("--log-bucket is required")?;
    let store = open_store(&args.data).await?;
    let shipper = Shipper::new(&bucket, &args.node, &args.data)?;
    tracing::info!(node = %args.node, pods = %args.pods_dir.display(), bucket = bucket.url(), "log agent started");

    let labels = PodLabels::default();
    // NB: the tasks end with this future, even when it is dropped rather than finished
    let watch = AbortOnDrop(tokio::spawn(watch_pods(
        client,
        args.node.clone(),
        labels.clone(),
    )));
    let (stop_follow, mut follow_stopped) = tokio::sync::watch::channel(false);
    let (stop_ship, ship_stopped) = tokio::sync::watch::channel(false);
    let mut follow = {
        let (dir, store) = (args.pods_dir.clone(), store.clone());
        AbortOnDrop(tokio::spawn(async move {
            let stopped = async move {
                let _ = follow_stopped.wait_for(|s| *s).await;
            };
            logstore::cri::follow(&dir, store, Duration::from_secs(1), stopped).await
        }))
    };
    let mut ship = AbortOnDrop(tokio::spawn(ship_loop(
        store.clone(),
        shipper,
        labels.clone(),
        Duration::from_secs(args.ship_seconds.max(1)),
        Duration::from_secs(args.keep_days.saturating_mul(24 * 3600)),
        ship_stopped,
    )));
    shutdown.await;
    tracing::info!("log agent stopping: last ingest and shipment");
    let _ = stop_follow.send(true);
    (&mut follow.0)
        .await?
        .context("reading the pods' log files")?;
    {
        // what was written since the follower's last pass (a new follower resumes from
        // the store, so nothing is read twice)
        let (dir, store) = (args.pods_dir.clone(), store.clone());
        tokio::task::spawn_blocking(move || logstore::cri::ingest_dir(&dir, &store))
            .await?
            .context("reading the pods' log files")?;
    }
    let _ = stop_ship.send(true);
    (&mut ship.0).await??;
    drop(watch);
    Ok(())
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens the node's store; while the agent before this one still holds it (a rolling update
/// on the same hostPath), waits for it, at most a minute.
async fn open_store(data: &std::path::Path) -> anyhow::Result<Store> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let path = data.to_owned();
        match tokio::task::spawn_blocking(move || Store::open_path(&path, store_config())).await? {
            Ok(store) => return Ok(store),
            Err(logstore::Error::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                tracing::info!(store = %data.display(), "the node's log store is still open elsewhere; waiting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("opening the node's log store {}", data.display()))
            }
        }
    }
}

/// How often old lines are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Every `every`: labels onto the streams, retention (hourly), then a shipping pass; once
/// more when stopped.
async fn ship_loop(
    store: Store,
    shipper: Shipper,
    labels: PodLabels,
    every: Duration,
    keep: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let shipper = Arc::new(std::sync::Mutex::new(shipper));
    let mut retention_at: Option<tokio::time::Instant> = None;
    loop {
        let last = *stop.borrow();
        let retain = !keep.is_zero() && retention_at.is_none_or(|t| t.elapsed() >= RETENTION_EVERY);
        if retain {
            retention_at = Some(tokio::time::Instant::now());
        }
        let (store, shipper, labels) = (store.clone(), shipper.clone(), labels.clone());
        let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<logship::Pass> {
            tag_streams(&store, &labels)?;
            if retain {
                drop_older_than(&store, keep)?;
            }
            store.flush()?;
            let mut shipper = shipper.lock().unwrap_or_else(|e| e.into_inner());
            Ok(shipper.pass()?)
        })
        .await?;
        match outcome {
            Ok(pass) if pass.changed() => {
                tracing::debug!(
                    uploaded = pass.uploaded,
                    bytes = pass.bytes,
                    deleted = pass.deleted,
                    "shipped"
                )
            }
            Ok(_) => {}
            // NB: the bucket may be down for a while: the store keeps everything meanwhile
            Err(e) if !last => {
                tracing::warn!(error = %format!("{e:#}"), "shipping the node's logs")
            }
            Err(e) => return Err(e),
        }
        if last {
            return Ok(());
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Drops the node's segments whose newest line is older than `keep`; the next pass deletes
/// them from the bucket.
fn drop_older_than(store: &Store, keep: Duration) -> logstore::Result<()> {
    let mut namespaces: Vec<String> = store
        .streams(&StreamSelector::default())
        .into_iter()
        .map(|s| s.key.namespace)
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let rule = logstore::RetentionRule {
        namespaces,
        max_age: Some(keep),
        max_bytes: None,
    };
    let report = store.apply_retention(&[rule], logstore::Timestamp::now())?;
    if report.segments_deleted > 0 {
        tracing::info!(
            segments = report.segments_deleted,
            bytes = report.bytes_deleted,
            "old logs dropped"
        );
    }
    Ok(())
}

/// Gives every stream of a known pod that pod's labels (the CRI ingester makes streams
/// without labels; the store writes its manifest only when some changed).
fn tag_streams(store: &Store, labels: &PodLabels) -> logstore::Result<()> {
    let known = labels.read().unwrap_or_else(|e| e.into_inner()).clone();
    for info in store.streams(&StreamSelector::default()) {
        let pod = (info.key.namespace.clone(), info.key.pod.clone());
        if let Some(want) = known.get(&pod).filter(|l| **l != info.labels) {
            store.stream(&info.key, want)?;
        }
    }
    Ok(())
}

/// The pods of this node, their labels kept in `labels` (a pod that is gone keeps its
/// labels: its last lines are still being read).
async fn watch_pods(client: kube::Client, node: String, labels: PodLabels) {
    let pods: Api<Pod> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = watcher::watcher(pods, config).boxed();
    while let Some(event) = events.next().await {
        let pod = match event {
            Ok(Event::Apply(p) | Event::InitApply(p)) => p,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "watching this node's pods");
                continue;
            }
        };
        let key = (pod.namespace().unwrap_or_default(), pod.name_any());
        let value: Labels = pod.labels().clone().into_iter().collect();
        labels
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
    }
}
