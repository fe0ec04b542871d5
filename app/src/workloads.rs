//! The workloads server functions the pages call (their types come from `wharf_api::workloads`); each body is one call
//! into `wharf_console::workloads::endpoints`, which authorizes and does the work.

pub use wharf_api::workloads::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The tenant's apps, pods and services (also pushed live; this is the first paint).
#[server(prefix = "/api", endpoint = "workloads", input = Json)]
pub async fn workloads(tenant: String) -> Result<WorkloadView, AppError> {
    wharf_console::workloads::endpoints::workloads(expect_context(), tenant).await
}

/// One page of the tenant's pods, sorted by namespace and name.
#[server(prefix = "/api", endpoint = "list_pods", input = Json)]
pub async fn list_pods(tenant: String, query: PodQuery) -> Result<PodPage, AppError> {
    wharf_console::workloads::endpoints::list_pods(expect_context(), tenant, query).await
}

#[server(prefix = "/api", endpoint = "deploy_app", input = Json)]
pub async fn deploy_app(tenant: String, form: DeployForm) -> Result<(), AppError> {
    wharf_console::workloads::endpoints::deploy_app(expect_context(), tenant, form).await
}

#[server(prefix = "/api", endpoint = "scale_app", input = Json)]
pub async fn scale_app(
    tenant: String,
    namespace: String,
    name: String,
    replicas: i32,
) -> Result<(), AppError> {
    wharf_console::workloads::endpoints::scale_app(
        expect_context(),
        tenant,
        namespace,
        name,
        replicas,
    )
    .await
}

#[server(prefix = "/api", endpoint = "set_image", input = Json)]
pub async fn set_image(
    tenant: String,
    namespace: String,
    name: String,
    image: String,
) -> Result<(), AppError> {
    wharf_console::workloads::endpoints::set_image(expect_context(), tenant, namespace, name, image)
        .await
}

#[server(prefix = "/api", endpoint = "restart_app", input = Json)]
pub async fn restart_app(tenant: String, namespace: String, name: String) -> Result<(), AppError> {
    wharf_console::workloads::endpoints::restart_app(expect_context(), tenant, namespace, name)
        .await
}

/// Deletes the app's Deployment and its Service of the same name.
#[server(prefix = "/api", endpoint = "delete_app", input = Json)]
pub async fn delete_app(tenant: String, namespace: String, name: String) -> Result<(), AppError> {
    wharf_console::workloads::endpoints::delete_app(expect_context(), tenant, namespace, name).await
}

/// The app's revisions, newest first.
#[server(prefix = "/api", endpoint = "app_revisions", input = Json)]
pub async fn app_revisions(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<AppRevision>, AppError> {
    wharf_console::workloads::endpoints::app_revisions(expect_context(), tenant, namespace, name)
        .await
}

/// Rolls the app back to an older revision's pod template (`kubectl rollout undo
/// --to-revision`). Refused, changing nothing, for the current revision, an unknown one, or
/// when the app changed since it was read.
#[server(prefix = "/api", endpoint = "rollback_app", input = Json)]
pub async fn rollback_app(
    tenant: String,
    namespace: String,
    name: String,
    revision: i64,
) -> Result<(), AppError> {
    wharf_console::workloads::endpoints::rollback_app(
        expect_context(),
        tenant,
        namespace,
        name,
        revision,
    )
    .await
}

/// Events of an app, its ReplicaSets and its pods, newest first.
#[server(prefix = "/api", endpoint = "app_events", input = Json)]
pub async fn app_events(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<EventRow>, AppError> {
    wharf_console::workloads::endpoints::app_events(expect_context(), tenant, namespace, name).await
}

/// The app's health checks, as the deploy form shows them.
#[server(prefix = "/api", endpoint = "app_probes", input = Json)]
pub async fn app_probes(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<pod::AppProbes, AppError> {
    wharf_console::workloads::endpoints::app_probes(expect_context(), tenant, namespace, name).await
}

/// Gives the app new health checks (a rollout); checks only YAML can show stay as they are.
#[server(prefix = "/api", endpoint = "set_app_probes", input = Json)]
pub async fn set_app_probes(
    tenant: String,
    namespace: String,
    name: String,
    probes: pod::ProbesForm,
) -> Result<(), AppError> {
    wharf_console::workloads::endpoints::set_app_probes(
        expect_context(),
        tenant,
        namespace,
        name,
        probes,
    )
    .await
}

/// An object as YAML, without the server's bookkeeping fields.
#[server(prefix = "/api", endpoint = "get_yaml", input = Json)]
pub async fn get_yaml(
    tenant: String,
    namespace: String,
    kind: String,
    name: String,
) -> Result<String, AppError> {
    wharf_console::workloads::endpoints::get_yaml(expect_context(), tenant, namespace, kind, name)
        .await
}

/// Replaces an object with the edited YAML; returns the stored result. A parse error or the
/// API server's refusal comes back as the error, and nothing changes.
#[server(prefix = "/api", endpoint = "put_yaml", input = Json)]
pub async fn put_yaml(
    tenant: String,
    namespace: String,
    kind: String,
    name: String,
    yaml: String,
) -> Result<String, AppError> {
    wharf_console::workloads::endpoints::put_yaml(
        expect_context(),
        tenant,
        namespace,
        kind,
        name,
        yaml,
    )
    .await
}
