//! Wharf's demo cluster: an embedded stand-in for a Kubernetes API server.
//!
//! It serves the real Kubernetes REST API over HTTPS (discovery, CRUD, list and
//! watch with resourceVersion semantics, the three patch types, server-side
//! apply with field managers and conflicts, graceful deletion and finalizers, status
//! and scale subresources, CRDs served dynamically with their objects pruned,
//! defaulted and validated against the CRD's schema as kube-apiserver 1.20 does),
//! closely enough that kube-rs and `kubectl` use it unchanged through an ordinary
//! kubeconfig. It exists for demos and tests: it is **not** a replacement for a
//! real cluster (no RBAC, no admission webhooks, no OpenAPI documents served,
//! one stored version per resource).
//!
//! Storage is served as on a cluster with Rook-Ceph: StorageClasses `rook-ceph-block` (the
//! default), `rook-cephfs` and `local-path`, claims provisioned and bound by the demo's own
//! provisioner, whose volumes are folders on this host that the node mounts into pods
//! (Ceph is simulated by folders; see `controllers::volume` and the README's *Storage*).
//!
//! Requests authenticate with a bearer token: the kubeconfig's, or a ServiceAccount's
//! from a `kubernetes.io/service-account-token` Secret, which the token controller fills
//! as kube-controller-manager does and whose deletion revokes it. With no RBAC, both may
//! do everything: a ServiceAccount token is no narrower than the admin's.
//!
//! ```no_run
//! # async fn demo() -> sim::Result<()> {
//! let sim = sim::start(sim::SimConfig::default()).await?;
//! println!("{}", sim.kubeconfig_yaml());
//! let store = sim.store(); // in-process API for controllers
//! # Ok(()) }
//! ```
//!
//! Modules: [`store`] (objects, watches, the controllers' API), [`api`] (HTTP),
//! [`kinds`] (validation and defaults), [`resources`] (what is served),
//! [`persist`] (WAL and snapshots), `tls`, `server`, `seed`.

pub mod api;
pub mod controllers;
pub mod error;
pub mod kinds;
pub mod node_api;
pub mod persist;
pub mod resources;
mod seed;
mod server;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::controllers::NodeConfig;
pub use crate::error::{ApiError, Error, Result};
pub use crate::resources::{ResourceId, ResourceInfo};
pub use crate::store::Store;

/// How to run the demo cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free one (see [`Sim::addr`]).
    pub listen: SocketAddr,
    /// Where state, the CA and the token live; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Where to write the kubeconfig, if anywhere.
    pub kubeconfig_out: Option<PathBuf>,
    /// How many Ready nodes a fresh cluster gets.
    pub nodes: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            data_dir: None,
            kubeconfig_out: None,
            nodes: 3,
        }
    }
}

/// A running demo cluster. Dropping it without [`Sim::shutdown`] leaves the server running.
pub struct Sim {
    addr: SocketAddr,
    kubeconfig: String,
    store: Store,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    control: controllers::ControlPlane,
}

/// Starts the demo cluster: opens or creates its state, seeds a fresh one,
/// binds `config.listen` and serves in the background.
pub async fn start(config: SimConfig) -> Result<Sim> {
    start_with_routes(config, None).await
}

/// Like [`start`], with extra routes (pod logs, exec, attach, metrics...) that
/// take precedence over the generic API and sit behind the same bearer-token auth.
pub async fn start_with_routes(config: SimConfig, extra: Option<axum::Router>) -> Result<Sim> {
    start_inner(config, extra, None).await
}

/// Like [`start`], with the node side's timings from `node` (e.g. [`NodeConfig::fast`]
/// in tests); its `scratch_dir`, `allow_exec` and `pod_logs_by_node` are decided here.
pub async fn start_with_node(config: SimConfig, node: NodeConfig) -> Result<Sim> {
    start_inner(config, None, Some(node)).await
}

async fn start_inner(
    config: SimConfig,
    extra: Option<axum::Router>,
    node: Option<NodeConfig>,
) -> Result<Sim> {
    let dir = config.data_dir.as_deref();
    let store = match dir {
        Some(dir) => {
            let rec = persist::open(dir)?;
            Store::from_parts(rec.rv, rec.objects, Some(rec.wal))
        }
        None => Store::in_memory(),
    };
    let ca = tls::Ca::load_or_create(dir)?;
    let token = load_or_create_token(dir)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::io(config.listen.to_string(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io(config.listen.to_string(), e))?;
    let tls_config = ca.server_config(addr.ip())?;
    seed::seed(&store, config.nodes, addr.port())?;
    // The living cluster: controllers, scheduler, and pods run by one node runtime, which
    // writes each node's pods' logs in that node's own `/var/log/pods` (one agent per node).
    // NB: the scratch dir given here is replaced by `runtime`.
    let mut node = node.unwrap_or_else(|| NodeConfig::new(PathBuf::new()));
    node.pod_logs_by_node = true;
    let (runtime, scratch) =
        controllers::ControlPlane::runtime(dir, Some(node), addr.ip().is_loopback())?;
    let control =
        controllers::ControlPlane::start(&store, runtime, scratch, dir.is_some(), &ca.cert_pem);
    let node_routes = node_api::router(
        store.clone(),
        control.node_runtime().clone(),
        control.pod_nodes(),
    );
    let extra = Some(match extra {
        Some(e) => e.merge(node_routes),
        None => node_routes,
    });

    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let server = format!("https://{host}:{}", addr.port());
    let kubeconfig = kubeconfig_yaml(&server, &ca.cert_pem, &token);
    if let Some(path) = &config.kubeconfig_out {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        persist::write_atomic(path, kubeconfig.as_bytes())?;
    }
    let state = api::AppState {
        store: store.clone(),
        token: Arc::from(token.as_str()),
        sa_tokens: Default::default(),
        server_address: Arc::from(server.as_str()),
    };
    let app = node_api::with_metrics_discovery(api::router(state, extra));
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, tls_config, app, rx));
    tracing::info!(%addr, "demo cluster listening");
    Ok(Sim {
        addr,
        kubeconfig,
        store,
        shutdown: tx,
        task,
        control,
    })
}

impl Sim {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// A kubeconfig for this cluster: server `https://ADDR`, the CA, the bearer token, context `wharf-demo`.
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig.clone()
    }
    /// The node's shared folder, readable by every container (e.g. for `file://` git
    /// repositories a pipeline clones); nothing else of this host is.
    pub fn shared_dir(&self) -> std::path::PathBuf {
        simnode::process::shared_dir(&self.control.node_runtime().config().scratch_dir)
    }
    /// The folder of the demo's volumes: a PV's `hostPath` (or `local`) folder directly in it
    /// is what the node mounts for a claim bound to that PV (see `controllers::volume`).
    pub fn volumes_dir(&self) -> std::path::PathBuf {
        controllers::volume::volumes_dir(&self.control.node_runtime().config().scratch_dir)
    }
    /// The folder on this host of `container` of pod `namespace/pod` (what its processes
    /// may write; its `tmp` is their `/tmp`).
    pub fn container_dir(&self, namespace: &str, pod: &str, container: &str) -> std::path::PathBuf {
        let scratch = &self.control.node_runtime().config().scratch_dir;
        simnode::process::container_dir(
            &simnode::process::pod_dir(scratch, namespace, pod),
            container,
        )
    }
    /// Node `node`'s `/var/log/pods`: the logs of the containers of the pods scheduled on
    /// it (`spec.nodeName`), as the kubelet's CRI files
    /// (`<namespace>_<pod>_<uid>/<container>/<restartCount>.log`, rotated and compressed as
    /// the kubelet does; see `simnode::logs::cri`). The folder to give that node's log
    /// agent (`wharf logs agent --node NODE --pods-dir DIR`); it exists, even before the
    /// node runs a pod. Pods with no (valid) node name have theirs in
    /// `pod_logs_dir_of("")` (`<pods dir>/_unscheduled`). See [`Sim::node_names`].
    pub fn pod_logs_dir_of(&self, node: &str) -> std::path::PathBuf {
        self.control.node_runtime().pod_logs_dir_of(node)
    }
    /// The names of the cluster's nodes, sorted: the Node objects in the store (those a
    /// fresh cluster was seeded with, `demo-node-1` … `demo-node-N`, unless some were
    /// added or deleted since). One node log agent each, reading [`Sim::pod_logs_dir_of`].
    pub fn node_names(&self) -> Vec<String> {
        let params = crate::store::ListParams::default();
        // NB: a list without a continue token does not fail.
        let nodes = self
            .store
            .list(&ResourceId::core("nodes"), None, &params)
            .map(|l| l.values())
            .unwrap_or_default();
        let mut names: Vec<String> = nodes
            .iter()
            .filter_map(|n| n.pointer("/metadata/name")?.as_str().map(String::from))
            .collect();
        names.sort();
        names
    }
    /// Why the node's containers run unconfined, if they do (see `simnode::sandbox`).
    pub fn sandbox_unavailable(&self) -> Option<String> {
        let runtime = self.control.node_runtime();
        runtime.config().sandbox.unavailable().map(String::from)
    }
    /// The in-process API (see [`store`]).
    pub fn store(&self) -> Store {
        self.store.clone()
    }
    /// Stops serving, drops open connections and, with a data dir, writes a snapshot.
    pub async fn shutdown(self) {
        self.control.shutdown().await;
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        if let Err(e) = self.store.checkpoint() {
            tracing::warn!("snapshot on shutdown failed: {e}");
        }
    }
}

fn load_or_create_token(dir: Option<&std::path::Path>) -> Result<String> {
    if let Some(dir) = dir {
        let p = dir.join("token");
        if p.exists() {
            let t = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            if !t.trim().is_empty() {
                return Ok(t.trim().to_string());
            }
        }
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    if let Some(dir) = dir {
        persist::write_atomic(&dir.join("token"), token.as_bytes())?;
    }
    Ok(token)
}

fn kubeconfig_yaml(server: &str, ca_pem: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: wharf-demo\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: wharf-demo\n  user:\n    token: {token}\ncontexts:\n- name: wharf-demo\n  context:\n    cluster: wharf-demo\n    user: wharf-demo\n    namespace: default\ncurrent-context: wharf-demo\n"
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    /// Polls `check` every 50 ms until it holds, or panics after 20 s.
    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn each_node_has_its_own_pod_logs_dir() {
        let node = crate::NodeConfig::fast("");
        let sim = crate::start_with_node(crate::SimConfig::default(), node)
            .await
            .unwrap();
        let names = sim.node_names();
        assert_eq!(names, ["demo-node-1", "demo-node-2", "demo-node-3"]);
        let pods_dir = sim.control.node_runtime().pod_logs_dir().to_path_buf();
        for name in &names {
            let dir = sim.pod_logs_dir_of(name);
            assert_eq!(dir, pods_dir.join(name));
            assert!(
                dir.is_dir(),
                "an agent can start before the node runs a pod"
            );
        }
        // A pod bound to demo-node-2 writes its logs in that node's folder only.
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "logger", "namespace": "default"},
            "spec": {"nodeName": "demo-node-2", "containers": [{"name": "app", "image": "busybox"}]}
        }))
        .unwrap();
        let pod = sim.store().create_typed(&pod).unwrap();
        let uid = pod.metadata.uid.unwrap();
        let node2 = sim.pod_logs_dir_of("demo-node-2");
        let live = simnode::logs::cri::pod_dir(&node2, "default", "logger", &uid)
            .join("app")
            .join("0.log");
        eventually("the pod's log file in demo-node-2's folder", || {
            live.metadata().is_ok_and(|m| m.len() > 0)
        })
        .await;
        for other in ["demo-node-1", "demo-node-3"] {
            let entries = std::fs::read_dir(sim.pod_logs_dir_of(other))
                .unwrap()
                .count();
            assert_eq!(entries, 0, "{other} runs no pod");
        }
        sim.shutdown().await;
    }
}
