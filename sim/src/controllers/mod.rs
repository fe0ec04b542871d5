//! The demo cluster's control plane and node side: what makes it look alive.
//!
//! - [`deployment`]: Deployment → ReplicaSets (rolling update, recreate, history);
//! - [`replicaset`]: ReplicaSet → Pods;
//! - [`statefulset`]: StatefulSet → Pods `<set>-<ordinal>` with their own claims, in order,
//!   and ControllerRevisions;
//! - [`job`]: Job → Pods run to completion;
//! - [`endpoints`]: Service → Endpoints and EndpointSlices;
//! - [`scheduler`]: binds pending pods to Ready nodes;
//! - [`kubelet`]: runs bound pods on one [`simnode::NodeRuntime`] and writes their status;
//! - [`quota`]: ResourceQuota `status.hard` / `status.used`;
//! - [`events`]: records core/v1 Events, aggregated like client-go's recorder;
//! - [`volume`]: StorageClasses' provisioner (folders standing in for Ceph), binds claims
//!   to PersistentVolumes, reclaims volumes, expands them, protects claims in use;
//! - [`serviceaccount_token`]: fills `kubernetes.io/service-account-token` Secrets (token,
//!   CA, namespace) and deletes those whose ServiceAccount is gone.
//!
//! Every controller has the same shape as a `kube_runtime::Controller`, but in-process:
//! store watches map changes to keys on a deduplicating [`queue::Queue`], and one
//! worker per controller calls `reconcile(key) -> Result<Action>`, requeueing with
//! back-off on error. Controllers write through the same [`Store`] calls as any
//! client, so resourceVersions, watches, validation and conflicts behave the same.
//! Garbage collection of dependents is the store's (`store/gc.rs`).
//!
//! `WHARF_SIM_KUBELET=off` (or a cluster with no nodes) keeps pods from running, for
//! benchmarks of the API server alone; the other controllers still run.

pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod job;
pub mod kubelet;
mod queue;
pub mod quota;
pub mod replicaset;
pub mod scheduler;
pub mod serviceaccount_token;
pub mod statefulset;
pub mod volume;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::task::JoinSet;

pub use simnode::NodeConfig;
use simnode::NodeRuntime;

pub(crate) use self::queue::{Key, Queue};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{Event, LabelSelector, Store, WatchParams};

/// What a reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next change.
    Done,
    /// Look again after this long (e.g. waiting for minReadySeconds or a back-off).
    RequeueAfter(Duration),
}

/// One controller: a reconcile per key, `(namespace, name)` of its primary object.
pub(crate) trait Reconciler: Send + Sync + 'static {
    const NAME: &'static str;
    fn reconcile(&self, key: &Key) -> impl Future<Output = Result<Action, ApiError>> + Send;
}

/// Runs `r` over `queue` until aborted: one key at a time, errors requeued with back-off.
pub(crate) async fn run_worker<R: Reconciler>(r: Arc<R>, queue: Queue) {
    let mut failures: std::collections::HashMap<Key, u32> = Default::default();
    loop {
        let key = queue.next().await;
        match r.reconcile(&key).await {
            Ok(Action::Done) => {
                failures.remove(&key);
            }
            Ok(Action::RequeueAfter(d)) => {
                failures.remove(&key);
                queue.add_after(key, d);
            }
            Err(e) => {
                let n = failures.entry(key.clone()).or_insert(0);
                *n += 1;
                // 50 ms, 100 ms, ... capped at 5 s: conflicts clear at once, real errors get logged.
                let delay = Duration::from_millis(50u64.saturating_mul(1 << (*n).min(7)))
                    .min(Duration::from_secs(5));
                if *n > 3 {
                    tracing::warn!(controller = R::NAME, ns = %key.0, name = %key.1, failures = *n, "reconcile failed: {e}");
                } else {
                    tracing::debug!(controller = R::NAME, ns = %key.0, name = %key.1, "reconcile failed: {e}");
                }
                queue.add_after(key, delay);
            }
        }
        // NB: reconciles are mostly synchronous store calls; let other tasks in between.
        tokio::task::yield_now().await;
    }
}

/// Follows every change of `res`, calling `on_event` for each (including the initial
/// state as ADDED events). A watch that falls behind (410) starts over, which replays
/// the current state: a full resync.
pub(crate) fn spawn_watch(
    tasks: &mut JoinSet<()>,
    store: &Store,
    res: ResourceId,
    mut on_event: impl FnMut(&Event) + Send + 'static,
) {
    let store = store.clone();
    tasks.spawn(async move {
        loop {
            let mut watch = match store.watch(&res, WatchParams::default()) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(resource = %res, "controller watch failed: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                match watch.recv().await {
                    Some(Ok(ev)) => on_event(&ev),
                    Some(Err(_)) => break,
                    None => return,
                }
            }
        }
    });
}

/// Every `period`, queues every object of `res` (a safety net behind the watches).
pub(crate) fn spawn_resync(
    tasks: &mut JoinSet<()>,
    store: &Store,
    res: ResourceId,
    period: Duration,
    queue: Queue,
) {
    let store = store.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Ok(list) = store.list(&res, None, &Default::default()) {
                for obj in list.values() {
                    queue.add(key_of(&obj));
                }
            }
        }
    });
}

/// `(namespace, name)` of a stored object.
pub(crate) fn key_of(obj: &Value) -> Key {
    (
        str_at(obj, &["metadata", "namespace"]).to_string(),
        str_at(obj, &["metadata", "name"]).to_string(),
    )
}

/// The string at `path`, or "".
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_str().unwrap_or_default()
}

/// The integer at `v`, or `default`.
pub(crate) fn int_or(v: &Value, default: i64) -> i64 {
    v.as_i64().unwrap_or(default)
}

pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn now() -> String {
    crate::store::now()
}

/// A selector object (`matchLabels` + `matchExpressions`) in the store's terms.
/// `None` for a missing or empty selector, which selects nothing for controllers.
pub(crate) fn label_selector(sel: &Value) -> Option<LabelSelector> {
    let mut terms = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            terms.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = sel["matchExpressions"].as_array() {
        for e in exprs {
            let k = e["key"].as_str().unwrap_or_default();
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            terms.push(match e["operator"].as_str().unwrap_or_default() {
                "In" => format!("{k} in ({})", vals.join(",")),
                "NotIn" => format!("{k} notin ({})", vals.join(",")),
                "Exists" => k.to_string(),
                "DoesNotExist" => format!("!{k}"),
                _ => return None,
            });
        }
    }
    if terms.is_empty() {
        return None;
    }
    LabelSelector::parse(&terms.join(",")).ok()
}

/// A plain `key: value` selector (a Service's `spec.selector`).
pub(crate) fn map_selector(sel: &Value) -> Option<LabelSelector> {
    label_selector(&json!({ "matchLabels": sel }))
}

pub(crate) fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The controller owner reference `obj` gets from `owner`.
pub(crate) fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `obj`'s controller owner reference points at `uid`.
pub(crate) fn controlled_by(obj: &Value, uid: &str) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["controller"].as_bool() == Some(true) && r["uid"].as_str() == Some(uid))
        })
}

/// The kind and name of the controller owner of a stored object, read from its bytes
/// without building the whole JSON tree.
pub(crate) fn controller_of(bytes: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Partial {
        metadata: PartialMeta,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PartialMeta {
        #[serde(default)]
        owner_references: Vec<OwnerRef>,
    }
    #[derive(serde::Deserialize)]
    struct OwnerRef {
        kind: String,
        name: String,
        #[serde(default)]
        controller: Option<bool>,
    }
    let p: Partial = serde_json::from_slice(bytes).ok()?;
    p.metadata
        .owner_references
        .into_iter()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.kind, o.name))
}

/// Pod helpers shared by the workload controllers.
pub(crate) mod pod {
    use super::*;

    pub fn phase(p: &Value) -> &str {
        str_at(p, &["status", "phase"])
    }
    pub fn terminal(p: &Value) -> bool {
        matches!(phase(p), "Succeeded" | "Failed")
    }
    pub fn deleting(p: &Value) -> bool {
        p["metadata"]["deletionTimestamp"].is_string()
    }
    /// Counts toward a controller's replicas: not finished and not being deleted.
    pub fn active(p: &Value) -> bool {
        !terminal(p) && !deleting(p)
    }
    fn ready_condition(p: &Value) -> Option<&Value> {
        p["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")
    }
    pub fn ready(p: &Value) -> bool {
        ready_condition(p).is_some_and(|c| c["status"] == "True")
    }
    /// When the pod became Ready, if it is.
    pub fn ready_since(p: &Value) -> Option<DateTime<Utc>> {
        ready_condition(p)
            .filter(|c| c["status"] == "True")
            .and_then(|c| parse_time(&c["lastTransitionTime"]))
    }
    /// Ready for at least `min_ready` seconds; otherwise how long until it is (if ready).
    pub fn available(p: &Value, min_ready: i64, now: DateTime<Utc>) -> (bool, Option<Duration>) {
        if !ready(p) {
            return (false, None);
        }
        if min_ready <= 0 {
            return (true, None);
        }
        let since = ready_since(p).unwrap_or(now);
        let at = since + chrono::Duration::seconds(min_ready);
        if at <= now {
            (true, None)
        } else {
            (false, (at - now).to_std().ok())
        }
    }
    pub fn restarts(p: &Value) -> i64 {
        ["containerStatuses", "initContainerStatuses"]
            .iter()
            .flat_map(|k| p["status"][*k].as_array().into_iter().flatten())
            .map(|c| c["restartCount"].as_i64().unwrap_or(0))
            .sum()
    }
}

/// A pod template → a new pod owned by `owner` (as the ReplicaSet and Job controllers make them).
pub(crate) fn pod_from_template(owner: &Value, template: &Value) -> Value {
    let name = str_at(owner, &["metadata", "name"]);
    let mut md = json!({
        "generateName": format!("{name}-"),
        "namespace": owner["metadata"]["namespace"],
        "ownerReferences": [controller_ref(owner)],
    });
    for k in ["labels", "annotations"] {
        if let Some(m) = template["metadata"][k]
            .as_object()
            .filter(|m| !m.is_empty())
        {
            md[k] = Value::Object(m.clone());
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template["spec"]})
}

/// Whether the kubelet bridge should run (`WHARF_SIM_KUBELET=off|0|false` disables it).
fn kubelet_enabled() -> bool {
    !matches!(
        std::env::var("WHARF_SIM_KUBELET").as_deref(),
        Ok("off" | "0" | "false")
    )
}

/// The running control plane: controller tasks, the node runtime and its scratch space.
pub struct ControlPlane {
    tasks: JoinSet<()>,
    runtime: NodeRuntime,
    kubelet: Option<Arc<kubelet::Kubelet>>,
    /// A temporary scratch directory, removed on shutdown (ephemeral clusters).
    temp: Option<tempfile_dir::TempDir>,
}

impl ControlPlane {
    /// The node runtime, scratch directory chosen: `<data_dir>/nodes`, or a temporary
    /// directory for an ephemeral cluster. `node` supplies timings (its `scratch_dir` is replaced).
    pub(crate) fn runtime(
        data_dir: Option<&Path>,
        node: Option<NodeConfig>,
        allow_exec: bool,
    ) -> crate::Result<(NodeRuntime, Option<tempfile_dir::TempDir>)> {
        let (scratch, temp) = match data_dir {
            Some(dir) => (dir.join("nodes"), None),
            None => {
                let t = tempfile_dir::TempDir::new()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        std::fs::create_dir_all(&scratch).map_err(|e| crate::Error::io(&scratch, e))?;
        let shared = simnode::process::shared_dir(&scratch);
        std::fs::create_dir_all(&shared).map_err(|e| crate::Error::io(&shared, e))?;
        let mut cfg = node.unwrap_or_else(|| NodeConfig::new(&scratch));
        cfg.sandbox = cfg.sandbox.with_shared(shared);
        cfg.scratch_dir = scratch;
        cfg.allow_exec = allow_exec;
        Ok((NodeRuntime::new(cfg), temp))
    }

    /// Starts every controller on `store`; pods run on `runtime`. `ca_pem` is the cluster
    /// CA that ServiceAccount token Secrets carry.
    pub(crate) fn start(
        store: &Store,
        runtime: NodeRuntime,
        temp: Option<tempfile_dir::TempDir>,
        persistent: bool,
        ca_pem: &str,
    ) -> ControlPlane {
        let mut tasks = JoinSet::new();
        let recorder = events::Recorder::new(store.clone());
        deployment::spawn(&mut tasks, store, &recorder);
        replicaset::spawn(&mut tasks, store, &recorder);
        statefulset::spawn(&mut tasks, store, &recorder);
        job::spawn(&mut tasks, store, &recorder);
        endpoints::spawn(&mut tasks, store);
        quota::spawn(&mut tasks, store);
        serviceaccount_token::spawn(&mut tasks, store, ca_pem);
        let volumes = volume::volumes_dir(&runtime.config().scratch_dir);
        if let Err(e) = std::fs::create_dir_all(&volumes) {
            tracing::warn!(dir = %volumes.display(), "cannot create the volumes folder: {e}");
        }
        volume::spawn(&mut tasks, store, &recorder, volumes);
        scheduler::spawn(&mut tasks, store, &recorder);
        let kubelet = kubelet_enabled()
            .then(|| kubelet::spawn(&mut tasks, store, &recorder, runtime.clone(), persistent));
        ControlPlane {
            tasks,
            runtime,
            kubelet,
            temp,
        }
    }

    /// The node runtime pods run on (logs, exec, metrics).
    pub fn node_runtime(&self) -> &NodeRuntime {
        &self.runtime
    }

    /// The kubelet bridge (which node runs which pod), `None` when it is off.
    pub(crate) fn pod_nodes(&self) -> Option<Arc<kubelet::Kubelet>> {
        self.kubelet.clone()
    }

    /// Stops the controllers, then every pod; removes a temporary scratch directory.
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.runtime.stop_all().await;
        drop(self.kubelet.take());
        if let Some(t) = self.temp.take() {
            t.remove();
        }
    }
}

/// A tiny temporary directory (the `tempfile` crate is only a dev-dependency).
pub(crate) mod tempfile_dir {
    use super::*;

    #[derive(Debug)]
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> crate::Result<TempDir> {
            // NB: not under /tmp where there is /var/tmp: each sandboxed container has its own
            // /tmp, and its folder bound at a path under /tmp would show up inside it.
            let base = Some(PathBuf::from("/var/tmp"))
                .filter(|p| p.is_dir())
                .unwrap_or_else(std::env::temp_dir);
            let p = base.join(format!(
                "wharf-sim-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&p).map_err(|e| crate::Error::io(&p, e))?;
            Ok(TempDir(p))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
        pub fn remove(self) {
            drop(self)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
