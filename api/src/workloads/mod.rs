//! Workloads: a tenant's apps (Deployments), pods and services; deploy, scale, upgrade,
//! restart, delete, events, revisions and rollback, and YAML view/edit. Lists come from the server's watcher cache
//! and are pushed live over `/ws/workloads/{tenant}` (see the server's `live` module).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod pod;
pub mod validate;

/// The kinds the YAML editor opens.
pub const EDITABLE_KINDS: &[&str] = &["Deployment", "StatefulSet", "Service", "Pod", "ConfigMap"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppHealth {
    /// Every desired replica is updated and ready.
    Running,
    /// A rollout or scale is under way.
    Progressing,
    /// Some replicas are not ready and nothing is rolling out.
    Degraded,
    /// Scaled to zero.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppRow {
    pub namespace: String,
    pub name: String,
    pub image: String,
    pub replicas: i32,
    pub ready: i32,
    pub updated: i32,
    pub health: AppHealth,
    pub created: Option<DateTime<Utc>>,
    /// Why pods are missing, as the cluster says it (the Deployment's `ReplicaFailure`
    /// condition: a quota exceeded, a pod spec refused), if they are.
    #[serde(default)]
    pub problem: Option<String>,
    /// A Deployment or a StatefulSet.
    #[serde(default)]
    pub kind: AppKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    /// The Deployment the pod belongs to (its `app` label), if any.
    pub app: Option<String>,
    /// What `kubectl get pods` shows in STATUS: Running, Pending, CrashLoopBackOff, ...
    pub status: String,
    pub ready: String,
    pub restarts: i32,
    pub node: String,
    pub ip: String,
    pub image: String,
    pub containers: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    /// The PersistentVolumeClaims the pod mounts (for a StatefulSet's replica: its own).
    #[serde(default)]
    pub claims: Vec<String>,
    /// For a StatefulSet's replica: does it run the set's update revision yet? (`None` for
    /// other pods.) A rolling update replaces replicas from the highest ordinal down.
    #[serde(default)]
    pub updated: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceRow {
    pub namespace: String,
    pub name: String,
    pub kind: String,
    pub cluster_ip: String,
    pub ports: String,
    pub created: Option<DateTime<Utc>>,
}

/// What the live socket pushes for one tenant: apps and services whole, pods only counted —
/// a tenant may have tens of thousands, so pod rows are fetched a page at a time with
/// [`list_pods`], again whenever `version` moves.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadView {
    pub apps: Vec<AppRow>,
    pub services: Vec<ServiceRow>,
    pub pod_total: usize,
    /// Changes whenever anything the view is built from changed.
    pub version: u64,
}

/// Which pods to list, and which slice of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodQuery {
    /// Only pods of this app (its `app` label).
    pub app: Option<String>,
    pub namespace: Option<String>,
    /// Substring of the pod's name.
    pub filter: String,
    pub offset: usize,
    pub limit: usize,
}

/// Largest page [`list_pods`] returns.
pub const MAX_POD_PAGE: usize = 500;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodPage {
    /// How many pods match, over all pages.
    pub total: usize,
    pub offset: usize,
    pub rows: Vec<PodRow>,
}

/// The deploy form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployForm {
    pub namespace: String,
    pub name: String,
    pub image: String,
    pub replicas: i32,
    /// Container port; when set, a Service of the same name is created.
    pub port: Option<u16>,
    pub env: Vec<(String, String)>,
    pub cpu_request: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub memory_limit: String,
    /// Alert thresholds written into the app's Prometheus rule file (absent in older clients).
    #[serde(default)]
    pub alerts: crate::monitoring::AlertThresholds,
    /// Deploy with the APM switch on (a Java app: the agent is attached from the start).
    #[serde(default)]
    pub apm: bool,
    /// Expose the app through nginx in the same step (needs `port`): checked with `nginx -t`
    /// before anything is created.
    #[serde(default)]
    pub expose: Option<ExposeForm>,
    /// A Deployment (replicas alike) or a StatefulSet (stable names, a claim per replica).
    #[serde(default)]
    pub kind: AppKind,
    #[serde(default)]
    pub mounts: Vec<pod::MountForm>,
    #[serde(default)]
    pub probes: pod::ProbesForm,
    #[serde(default)]
    pub sidecars: Vec<pod::SidecarForm>,
    /// A `kubernetes.io/dockerconfigjson` Secret of the namespace (empty: none, or the
    /// console's own for its registry).
    #[serde(default)]
    pub image_pull_secret: String,
    /// Environment variables whose values are kept in a Secret made with the app
    /// (`<name>-env`): passwords, tokens. An empty value is a password the server makes.
    #[serde(default)]
    pub secret_env: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppKind {
    #[default]
    Deployment,
    StatefulSet,
}

impl AppKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Deployment => "Deployment",
            AppKind::StatefulSet => "StatefulSet",
        }
    }
}

/// "Expose through nginx" in the deploy form: a route named like the app to its Service port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposeForm {
    /// The `NginxCluster`.
    pub cluster: String,
    /// One of the tenant's host names.
    pub host: String,
    /// A path prefix (`/` when empty).
    #[serde(default)]
    pub path: String,
    /// A `kubernetes.io/tls` Secret of the namespace (empty: HTTP only).
    #[serde(default)]
    pub tls_secret: String,
}

impl Default for DeployForm {
    fn default() -> Self {
        DeployForm {
            namespace: String::new(),
            name: String::new(),
            image: String::new(),
            replicas: 1,
            port: Some(8080),
            env: Vec::new(),
            cpu_request: "100m".into(),
            cpu_limit: "500m".into(),
            memory_request: "128Mi".into(),
            memory_limit: "512Mi".into(),
            alerts: Default::default(),
            apm: false,
            expose: None,
            kind: AppKind::Deployment,
            mounts: Vec::new(),
            probes: Default::default(),
            sidecars: Vec::new(),
            image_pull_secret: String::new(),
            secret_env: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub kind: String,
    pub reason: String,
    pub message: String,
    pub object: String,
    pub count: i32,
    pub last_seen: Option<DateTime<Utc>>,
}

/// One revision of an app: a ReplicaSet the Deployment owns, as `kubectl rollout history`
/// lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppRevision {
    /// `deployment.kubernetes.io/revision`; a ReplicaSet rolled back to takes the next one.
    pub revision: i64,
    /// The ReplicaSet's name (for a StatefulSet: its ControllerRevision's).
    pub replica_set: String,
    /// (container, image) for each container of the pod template.
    pub images: Vec<(String, String)>,
    pub created: Option<DateTime<Utc>>,
    /// `kubernetes.io/change-cause`: who changed what, when it was recorded.
    pub cause: Option<String>,
    pub replicas: i32,
    pub ready: i32,
    /// The Deployment's pod template is this revision's.
    pub current: bool,
}

/// A message on the live workloads socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LiveMessage {
    Snapshot(WorkloadView),
    /// Why the feed cannot go on (the page shows it in its error banner).
    Error(crate::error::AppError),
}
