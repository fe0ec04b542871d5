//! Workloads: a tenant's apps (Deployments), pods and services; deploy, scale, upgrade,
//! restart, delete, events, revisions and rollback, and YAML view/edit. Lists come from the server's watcher cache
//! and are pushed live over `/ws/workloads/{tenant}` (see the server's `live` module).

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

pub mod validate;

#[cfg(feature = "ssr")]
pub mod ssr;

/// The kinds the YAML editor opens.
pub const EDITABLE_KINDS: &[&str] = &["Deployment", "Service", "Pod", "ConfigMap"];

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
    /// The ReplicaSet's name.
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
    Error(String),
}

/// The tenant's apps, pods and services (also pushed live; this is the first paint).
#[server(prefix = "/api", endpoint = "workloads", input = Json)]
pub async fn workloads(tenant: String) -> Result<WorkloadView, AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Viewer).await?;
    Ok(ssr::view(&state.cache, &scope))
}

/// One page of the tenant's pods, sorted by namespace and name.
#[server(prefix = "/api", endpoint = "list_pods", input = Json)]
pub async fn list_pods(tenant: String, query: PodQuery) -> Result<PodPage, AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Viewer).await?;
    ssr::pods(&state.cache, &scope, &query)
}

#[server(prefix = "/api", endpoint = "deploy_app", input = Json)]
pub async fn deploy_app(tenant: String, form: DeployForm) -> Result<(), AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Developer).await?;
    ssr::deploy(&state, &scope, form).await
}

#[server(prefix = "/api", endpoint = "scale_app", input = Json)]
pub async fn scale_app(tenant: String, namespace: String, name: String, replicas: i32) -> Result<(), AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Developer).await?;
    ssr::scale(&state, &scope, &namespace, &name, replicas).await
}

#[server(prefix = "/api", endpoint = "set_image", input = Json)]
pub async fn set_image(tenant: String, namespace: String, name: String, image: String) -> Result<(), AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Developer).await?;
    ssr::set_image(&state, &scope, &namespace, &name, &image).await
}

#[server(prefix = "/api", endpoint = "restart_app", input = Json)]
pub async fn restart_app(tenant: String, namespace: String, name: String) -> Result<(), AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Developer).await?;
    ssr::restart(&state, &scope, &namespace, &name).await
}

/// Deletes the app's Deployment and its Service of the same name.
#[server(prefix = "/api", endpoint = "delete_app", input = Json)]
pub async fn delete_app(tenant: String, namespace: String, name: String) -> Result<(), AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Developer).await?;
    ssr::delete(&state, &scope, &namespace, &name).await
}

/// The app's revisions, newest first.
#[server(prefix = "/api", endpoint = "app_revisions", input = Json)]
pub async fn app_revisions(tenant: String, namespace: String, name: String) -> Result<Vec<AppRevision>, AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Viewer).await?;
    ssr::revisions(&state, &scope, &namespace, &name).await
}

/// Rolls the app back to an older revision's pod template (`kubectl rollout undo
/// --to-revision`). Refused, changing nothing, for the current revision, an unknown one, or
/// when the app changed since it was read.
#[server(prefix = "/api", endpoint = "rollback_app", input = Json)]
pub async fn rollback_app(tenant: String, namespace: String, name: String, revision: i64) -> Result<(), AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Developer).await?;
    ssr::rollback(&state, &scope, &namespace, &name, revision).await
}

/// Events of an app, its ReplicaSets and its pods, newest first.
#[server(prefix = "/api", endpoint = "app_events", input = Json)]
pub async fn app_events(tenant: String, namespace: String, name: String) -> Result<Vec<EventRow>, AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Viewer).await?;
    ssr::events(&state, &scope, &namespace, &name).await
}

/// An object as YAML, without the server's bookkeeping fields.
#[server(prefix = "/api", endpoint = "get_yaml", input = Json)]
pub async fn get_yaml(tenant: String, namespace: String, kind: String, name: String) -> Result<String, AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Viewer).await?;
    ssr::get_yaml(&state, &scope, &namespace, &kind, &name).await
}

/// Replaces an object with the edited YAML; returns the stored result. A parse error or the
/// API server's refusal comes back as the error, and nothing changes.
#[server(prefix = "/api", endpoint = "put_yaml", input = Json)]
pub async fn put_yaml(tenant: String, namespace: String, kind: String, name: String, yaml: String) -> Result<String, AppError> {
    let (state, scope) = crate::auth::ssr::scope(&tenant, crate::auth::Role::Developer).await?;
    ssr::put_yaml(&state, &scope, &namespace, &kind, &name, &yaml).await
}
