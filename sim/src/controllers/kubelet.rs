//! The kubelet bridge: runs every pod bound to an existing node on the cluster's one
//! [`NodeRuntime`] and writes what the runtime reports back into `pod.status`.
//!
//! - A pod bound to a node gets a loopback IP and `start_pod`; a pod that is deleted,
//!   being deleted, or unbound is stopped (`Killing` events) and its IP released. A pod
//!   being deleted is then deleted for good (graceful deletion's last step).
//! - Every runtime state change queues a status write: `pod_state().apply_to()` plus
//!   `hostIP` from the node and the `PodScheduled` condition. The write is a
//!   read-modify-write of the status subresource that checks the uid, so status is
//!   never written to a deleted pod or to a new pod of the same name.
//! - Kubelet events (Pulling, Pulled, Created, Started, BackOff...) become Events.
//! - Containers' `secretKeyRef`, `configMapKeyRef` and `envFrom` read Secrets and
//!   ConfigMaps from the store (decoding Secrets' base64) each time a container starts;
//!   simnode resolves them as a kubelet does (see `simnode::env`). The same reads give
//!   `configMap`, `secret` and `projected` volumes their files, which simnode renders
//!   again while the pod runs, so an edited ConfigMap reaches them (see
//!   `simnode::volumes`). A pod's `persistentVolumeClaim` volumes are the bound PVs'
//!   folders (`hostPath`/`local` path); their capacity feeds the node's
//!   `kubelet_volume_stats_*`.
//! - Probes run in simnode (see `simnode::probes`): a readiness change is a runtime state
//!   change, so it is written to the pod's status (its `Ready` condition) like any other,
//!   and the endpoints controller follows that condition.
//! - Ephemeral containers appended to a running pod (`pods/ephemeralcontainers`, as
//!   `kubectl debug` does) are started by the runtime, which reports them in
//!   `status.ephemeralContainerStatuses`.
//! - On restart with a data dir, stored pods are adopted again: their recorded IP is
//!   reserved and they start anew. Pods that had finished are left as they are.
//!
//! Pod IPs: each cluster on the machine gets its own `127.<block>.x.y` range (claimed with
//! a lock file, see `claim_block`), so several demo clusters (tests run many at once, and
//! a demo may run beside them) never bind the same address; a persistent cluster prefers
//! block 1, the addresses simnode hands out (`127.1.0.1` upwards).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use k8s_openapi::api::core::v1 as core;
use serde_json::Value;
use simnode::{IpAllocator, NodeRuntime, ObjectSource, PodEvent};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;

use super::events::{ObjectRef, Recorder, Source};
use super::{pod, str_at, Action, Key, Queue, Reconciler};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, EventType, FieldSelector, ListParams, Store, WriteOptions};

/// Who this controller's writes are recorded for in `managedFields`, as the real one.
const MANAGER: &str = "kubelet";

/// Address blocks (second octet) taken by clusters in this process.
static BLOCKS: Mutex<BTreeSet<u8>> = Mutex::new(BTreeSet::new());

/// This cluster's pod IPs: simnode's allocator (which hands out `127.1.x.y`) moved to
/// `127.<block>.x.y`. About 65,000 pods per cluster.
struct IpPool {
    block: u8,
    inner: IpAllocator,
    /// The block's machine-wide lock (see [`claim_block`]), held while the cluster runs.
    _lock: Option<std::fs::File>,
}

/// Claims a block no other cluster on this machine holds: in this process (`BLOCKS`) and
/// in others (an exclusive lock on `<tmp>/wharf-sim-ip-blocks/<block>.lock`, released by
/// the system when the process ends, however it ends). Two demos, or a demo and the test
/// suite, then never bind the same pod address.
fn claim_block(
    used: &BTreeSet<u8>,
    candidates: impl Iterator<Item = u8>,
) -> (u8, Option<std::fs::File>) {
    let dir = std::env::temp_dir().join("wharf-sim-ip-blocks");
    let locks = std::fs::create_dir_all(&dir).is_ok();
    let mut first_free = None;
    for b in candidates.filter(|b| !used.contains(b)) {
        first_free.get_or_insert(b);
        if !locks {
            return (b, None);
        }
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{b}.lock")))
        else {
            return (b, None);
        };
        if file.try_lock().is_ok() {
            return (b, Some(file));
        }
    }
    // Every block is locked elsewhere (or unusable): share one rather than fail.
    (first_free.unwrap_or(2), None)
}

impl IpPool {
    fn new(persistent: bool) -> IpPool {
        let mut used = BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
        // A persistent cluster prefers block 1 (its pods keep their addresses across
        // restarts); others spread by process id, so test binaries rarely even compete.
        let start = (std::process::id() % 253) as u16;
        let spread = (0..253u16).map(move |i| (2 + (start + i) % 253) as u8);
        let (block, lock) = if persistent {
            claim_block(&used, std::iter::once(1).chain(spread))
        } else {
            claim_block(&used, spread)
        };
        used.insert(block);
        IpPool {
            block,
            inner: IpAllocator::new(),
            _lock: lock,
        }
    }
    fn inner_ip(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        let o = ip.octets();
        (o[0] == 127 && o[1] == self.block).then(|| Ipv4Addr::new(127, 1, o[2], o[3]))
    }
    fn allocate(&mut self) -> Option<Ipv4Addr> {
        let ip = self.inner.allocate()?;
        let o = ip.octets();
        (o[1] == 1).then(|| Ipv4Addr::new(127, self.block, o[2], o[3]))
    }
    /// Takes `ip` if it is in this pool and free. An address outside the pool (recorded
    /// when the cluster ran on another block, which another cluster may hold now) is not
    /// taken: the pod gets a new one, as after a node's reboot.
    fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        self.inner_ip(ip).is_some_and(|i| self.inner.reserve(i))
    }
    fn release(&mut self, ip: Ipv4Addr) {
        if let Some(i) = self.inner_ip(ip) {
            self.inner.release(i);
        }
    }
}

impl Drop for IpPool {
    fn drop(&mut self) {
        BLOCKS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.block);
    }
}

/// Secrets, ConfigMaps and claims for containers' environment and volumes, read from the
/// store.
/// `.1`: the volumes folder; a PV's path elsewhere is not mounted (a PV may name any path
/// of this host, and the demo has no RBAC to keep users from making one).
struct StoreObjects(Store, std::path::PathBuf);

impl StoreObjects {
    fn data(&self, resource: &str, ns: &str, name: &str) -> Option<serde_json::Map<String, Value>> {
        let obj = self.0.get(&ResourceId::core(resource), ns, name).ok()?;
        Some(obj["data"].as_object().cloned().unwrap_or_default())
    }
}

impl ObjectSource for StoreObjects {
    fn secret(&self, ns: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        Some(
            self.data("secrets", ns, name)?
                .into_iter()
                .filter_map(|(k, v)| Some((k, b64.decode(v.as_str()?).ok()?)))
                .collect(),
        )
    }

    fn config_map(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        Some(
            self.data("configmaps", ns, name)?
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
                .collect(),
        )
    }

    /// The bound PV's `hostPath` or `local` path (the demo's volumes are folders, see
    /// `volume.rs`).
    fn claim_folder(&self, ns: &str, name: &str) -> Option<std::path::PathBuf> {
        let claim = self
            .0
            .get(&ResourceId::core("persistentvolumeclaims"), ns, name)
            .ok()?;
        if str_at(&claim, &["status", "phase"]) != "Bound" {
            return None;
        }
        let pv_name = str_at(&claim, &["spec", "volumeName"]);
        let pv = self
            .0
            .get(&ResourceId::core("persistentvolumes"), "", pv_name)
            .ok()?;
        ["hostPath", "local"]
            .iter()
            .find_map(|k| pv["spec"][*k]["path"].as_str())
            .map(std::path::PathBuf::from)
            .filter(|p| p.parent() == Some(self.1.as_path()))
    }

    /// Why a claim has no folder, as the kubelet 1.20's volume manager words it.
    fn claim_error(&self, ns: &str, name: &str) -> String {
        match self
            .0
            .get(&ResourceId::core("persistentvolumeclaims"), ns, name)
        {
            Err(_) => format!(
                "failed to fetch PVC from API server: persistentvolumeclaims \"{name}\" not found"
            ),
            Ok(c) if !c["metadata"]["deletionTimestamp"].is_null() => "PVC is being deleted".into(),
            Ok(c) if str_at(&c, &["spec", "volumeName"]).is_empty() => {
                "PVC has empty pvc.Spec.VolumeName".into()
            }
            Ok(_) => "PVC is not bound".into(),
        }
    }

    /// The claim's `status.capacity.storage`, else its bound PV's `spec.capacity.storage`.
    fn claim_capacity(&self, ns: &str, name: &str) -> Option<u64> {
        let claim = self
            .0
            .get(&ResourceId::core("persistentvolumeclaims"), ns, name)
            .ok()?;
        let quantity = claim["status"]["capacity"]["storage"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                let pv_name = str_at(&claim, &["spec", "volumeName"]);
                let pv = self
                    .0
                    .get(&ResourceId::core("persistentvolumes"), "", pv_name)
                    .ok()?;
                pv["spec"]["capacity"]["storage"]
                    .as_str()
                    .map(str::to_string)
            })?;
        simnode::plan::parse_bytes(&quantity)
    }
}

/// A pod this kubelet runs.
#[derive(Debug, Clone)]
struct Running {
    uid: String,
    ip: Ipv4Addr,
    node: String,
}

struct State {
    pods: HashMap<Key, Running>,
    ips: IpPool,
    /// Node name → its InternalIP (the pods' hostIP).
    nodes: HashMap<String, String>,
}

/// The bridge; also answers "which node runs this pod" for the node routes.
pub struct Kubelet {
    store: Store,
    runtime: NodeRuntime,
    events: Recorder,
    state: Mutex<State>,
    status_queue: Queue,
}

impl Kubelet {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node running pod `ns/name`, if this kubelet runs it.
    pub fn node_of(&self, ns: &str, name: &str) -> Option<String> {
        self.lock()
            .pods
            .get(&(ns.to_string(), name.to_string()))
            .map(|r| r.node.clone())
    }

    fn pod_ref(ns: &str, name: &str, uid: &str, field_path: Option<String>) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: ns.into(),
            name: name.into(),
            uid: uid.into(),
            field_path,
        }
    }

    fn on_runtime_event(&self, ev: PodEvent) {
        let key = (ev.namespace.clone(), ev.name.clone());
        match ev.event {
            None => self.status_queue.add(key),
            Some(k) => {
                let node = self
                    .lock()
                    .pods
                    .get(&key)
                    .filter(|r| r.uid == ev.uid)
                    .map(|r| r.node.clone());
                let obj = Self::pod_ref(&ev.namespace, &ev.name, &ev.uid, k.field_path);
                let source = Source {
                    component: "kubelet",
                    host: node.as_deref(),
                };
                self.events
                    .record(&obj, source, k.type_, k.reason, &k.message);
            }
        }
    }

    /// Stops a pod; `killed` records the Killing events a deletion causes.
    async fn stop(&self, key: &Key, run: &Running, killed: bool) {
        if killed {
            if let Some(state) = self.runtime.pod_state(&run.uid) {
                let obj = |c: &str| {
                    Self::pod_ref(
                        &key.0,
                        &key.1,
                        &run.uid,
                        Some(format!("spec.containers{{{c}}}")),
                    )
                };
                for c in state.containers.iter().filter(|c| c.state.is_running()) {
                    let source = Source {
                        component: "kubelet",
                        host: Some(&run.node),
                    };
                    self.events.record(
                        &obj(&c.name),
                        source,
                        "Normal",
                        "Killing",
                        &format!("Stopping container {}", c.name),
                    );
                }
            }
        }
        self.runtime.stop_pod(&run.uid).await;
        let mut st = self.lock();
        if st.pods.get(key).is_some_and(|r| r.uid == run.uid) {
            st.pods.remove(key);
        }
        st.ips.release(run.ip);
    }

    /// A pod being deleted on one of our nodes, stopped: the kubelet's part of graceful
    /// deletion is to delete it for good (grace period 0), as that pod and no other.
    fn finish_deletion(&self, p: &Value) -> Result<Action, ApiError> {
        let node = str_at(p, &["spec", "nodeName"]);
        if !self.lock().nodes.contains_key(node) {
            return Ok(Action::Done);
        }
        let opts = DeleteOptions {
            grace_period: Some(0),
            precondition_uid: Some(str_at(p, &["metadata", "uid"]).to_string()),
            ..Default::default()
        };
        let (ns, name) = (
            str_at(p, &["metadata", "namespace"]),
            str_at(p, &["metadata", "name"]),
        );
        match self
            .store
            .delete(&ResourceId::core("pods"), ns, name, &opts)
        {
            Ok(_)
            | Err(ApiError {
                code: 404 | 409, ..
            }) => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }

    /// Writes the runtime's view of a pod into its status.
    fn write_status(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let (run, host_ip) = {
            let st = self.lock();
            let Some(run) = st.pods.get(key).cloned() else {
                return Ok(Action::Done);
            };
            let host = st.nodes.get(&run.node).cloned();
            (run, host)
        };
        let Some(state) = self.runtime.pod_state(&run.uid) else {
            return Ok(Action::Done);
        };
        let res = self.store.modify(
            &ResourceId::core("pods"),
            ns,
            name,
            Some("status"),
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != run.uid {
                    return Err(ApiError::not_found("pods", name));
                }
                let mut status: core::PodStatus =
                    serde_json::from_value(cur["status"].clone()).unwrap_or_default();
                state.apply_to(&mut status);
                if let Some(h) = &host_ip {
                    status.host_ip = Some(h.clone());
                    status.host_ips = Some(vec![core::HostIP { ip: h.clone() }]);
                }
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                if !conditions.iter().any(|c| c.type_ == "PodScheduled") {
                    conditions.push(core::PodCondition {
                        type_: "PodScheduled".into(),
                        status: "True".into(),
                        last_transition_time: Some(simnode::state::k8s_time(chrono::Utc::now())),
                        ..Default::default()
                    });
                }
                // The order kubectl describe shows.
                let order = |t: &str| match t {
                    "PodReadyToStartContainers" => 0,
                    "Initialized" => 1,
                    "Ready" => 2,
                    "ContainersReady" => 3,
                    "PodScheduled" => 4,
                    _ => 5,
                };
                conditions.sort_by_key(|c| order(&c.type_));
                cur["status"] =
                    serde_json::to_value(&status).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(cur)
            },
        );
        match res {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}

fn should_run(p: &Value, nodes: &HashMap<String, String>) -> bool {
    let node = str_at(p, &["spec", "nodeName"]);
    !node.is_empty() && nodes.contains_key(node) && !pod::deleting(p)
}

fn internal_ip(node: &Value) -> String {
    node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|x| x["address"].as_str())
        .unwrap_or_default()
        .to_string()
}

impl Reconciler for Kubelet {
    const NAME: &'static str = "kubelet";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let obj = match self.store.get(&ResourceId::core("pods"), ns, name) {
            Ok(v) => Some(v),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        let (tracked, want) = {
            let st = self.lock();
            (
                st.pods.get(key).cloned(),
                obj.as_ref().filter(|p| should_run(p, &st.nodes)),
            )
        };
        if let Some(run) = &tracked {
            let same = want.is_some_and(|p| str_at(p, &["metadata", "uid"]) == run.uid);
            if same {
                if let Some(list) = want
                    .map(|p| &p["spec"]["ephemeralContainers"])
                    .filter(|l| l.as_array().is_some_and(|a| !a.is_empty()))
                {
                    let ecs: Vec<core::EphemeralContainer> =
                        serde_json::from_value(list.clone())
                            .map_err(|e| ApiError::internal(e.to_string()))?;
                    self.runtime.start_ephemeral_containers(&run.uid, &ecs);
                }
                self.status_queue.add(key.clone());
                return Ok(Action::Done);
            }
            let killed = obj.as_ref().is_none_or(pod::deleting);
            self.stop(key, run, killed).await;
        }
        if let Some(p) = obj.as_ref().filter(|p| pod::deleting(p)) {
            return self.finish_deletion(p);
        }
        let Some(p) = want else {
            return Ok(Action::Done);
        };
        if pod::terminal(p) {
            // It finished before the cluster restarted; its status stays as it was.
            return Ok(Action::Done);
        }
        let uid = str_at(p, &["metadata", "uid"]).to_string();
        let node = str_at(p, &["spec", "nodeName"]).to_string();
        let recorded: Option<Ipv4Addr> = p["status"]["podIP"].as_str().and_then(|s| s.parse().ok());
        let ip = {
            let mut st = self.lock();
            let ip = match recorded {
                Some(ip) if st.ips.reserve(ip) => Some(ip),
                _ => st.ips.allocate(),
            };
            let Some(ip) = ip else {
                return Err(ApiError::internal(
                    "no pod IPs left in this demo cluster's range",
                ));
            };
            st.pods.insert(key.clone(), Running { uid, ip, node });
            ip
        };
        let typed: core::Pod =
            serde_json::from_value(p.clone()).map_err(|e| ApiError::internal(e.to_string()))?;
        if let Err(e) = self.runtime.start_pod(&typed, ip).await {
            let mut st = self.lock();
            st.pods.remove(key);
            st.ips.release(ip);
            return Err(ApiError::internal(format!("starting pod {ns}/{name}: {e}")));
        }
        Ok(Action::Done)
    }
}

/// The status writer: a second worker, so status writes never wait behind pod starts.
struct StatusWriter(Arc<Kubelet>);

impl Reconciler for StatusWriter {
    const NAME: &'static str = "kubelet-status";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        self.0.write_status(key)
    }
}

pub(crate) fn spawn(
    tasks: &mut JoinSet<()>,
    store: &Store,
    events: &Recorder,
    runtime: NodeRuntime,
    persistent: bool,
) -> Arc<Kubelet> {
    let queue = Queue::new();
    let volumes = super::volume::volumes_dir(&runtime.config().scratch_dir);
    runtime.set_object_source(Arc::new(StoreObjects(store.clone(), volumes)));
    let kubelet = Arc::new(Kubelet {
        store: store.clone(),
        runtime: runtime.clone(),
        events: events.clone(),
        state: Mutex::new(State {
            pods: HashMap::new(),
            ips: IpPool::new(persistent),
            nodes: HashMap::new(),
        }),
        status_queue: Queue::new(),
    });

    // Subscribe before anything starts, so no state change is missed.
    let mut rx = runtime.subscribe();
    let k = kubelet.clone();
    tasks.spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => k.on_runtime_event(ev),
                Err(RecvError::Lagged(_)) => {
                    let keys: Vec<Key> = k.lock().pods.keys().cloned().collect();
                    for key in keys {
                        k.status_queue.add(key);
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    });

    let (k, q, s) = (kubelet.clone(), queue.clone(), store.clone());
    super::spawn_watch(tasks, store, ResourceId::core("nodes"), move |ev| {
        {
            let mut st = k.lock();
            if ev.kind == EventType::Deleted {
                st.nodes.remove(&ev.name);
            } else {
                st.nodes.insert(ev.name.clone(), internal_ip(&ev.value()));
            }
        }
        // Pods bound to this node may start (or stop) now.
        let Ok(fields) = FieldSelector::parse(&format!("spec.nodeName={}", ev.name)) else {
            return;
        };
        if let Ok(list) = s.list(
            &ResourceId::core("pods"),
            None,
            &ListParams {
                fields,
                ..Default::default()
            },
        ) {
            for p in list.values() {
                q.add(super::key_of(&p));
            }
        }
    });
    let q = queue.clone();
    super::spawn_watch(tasks, store, ResourceId::core("pods"), move |ev| {
        let bound = ev
            .meta
            .fields
            .iter()
            .any(|(k, v)| *k == "spec.nodeName" && !v.is_empty());
        let was_bound = ev
            .prev
            .as_ref()
            .is_some_and(|(_, m)| m.fields.iter().any(|(k, _)| *k == "spec.nodeName"));
        if bound || was_bound || ev.kind == EventType::Deleted {
            q.add((ev.namespace.clone(), ev.name.clone()));
        }
    });
    tasks.spawn(super::run_worker(kubelet.clone(), queue));
    tasks.spawn(super::run_worker(
        Arc::new(StatusWriter(kubelet.clone())),
        kubelet.status_queue.clone(),
    ));
    kubelet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_locked_by_another_cluster_on_the_machine_is_passed_over() {
        // Another cluster (here: this test, through its own open file) holds block 250.
        let dir = std::env::temp_dir().join("wharf-sim-ip-blocks");
        std::fs::create_dir_all(&dir).unwrap();
        let held = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("250.lock"))
            .unwrap();
        held.lock().unwrap();
        let (block, lock) = claim_block(&BTreeSet::new(), [250u8].into_iter().chain(200..250));
        assert_ne!(block, 250, "block 250 is held elsewhere");
        assert!(
            lock.is_some(),
            "the block taken is locked for as long as the cluster runs"
        );
        // ...and while it runs, nobody else gets it.
        let (again, _) = claim_block(&BTreeSet::new(), std::iter::once(block).chain(200..250));
        assert_ne!(again, block);
    }

    #[test]
    fn an_address_of_another_block_is_not_reserved_but_replaced() {
        let mut pool = IpPool {
            block: 7,
            inner: IpAllocator::new(),
            _lock: None,
        };
        assert!(
            !pool.reserve(Ipv4Addr::new(127, 1, 0, 2)),
            "recorded on block 1: another cluster may hold it"
        );
        assert!(pool.reserve(Ipv4Addr::new(127, 7, 0, 2)));
        assert!(!pool.reserve(Ipv4Addr::new(127, 7, 0, 2)), "taken once");
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(127, 7, 0, 1)));
    }
}
