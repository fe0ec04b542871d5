//! The bodies of the workloads server functions (declared in `wharf_app::workloads`): each authorizes the
//! call for its tenant first, then does the work.

use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::workloads::*;

/// The tenant's apps, pods and services (also pushed live; this is the first paint).
pub async fn workloads(call: Call, tenant: String) -> Result<WorkloadView, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    Ok(super::view(&state.cache, &scope))
}

/// One page of the tenant's pods, sorted by namespace and name.
pub async fn list_pods(call: Call, tenant: String, query: PodQuery) -> Result<PodPage, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::pods(&state.cache, &scope, &query)
}

pub async fn deploy_app(call: Call, tenant: String, form: DeployForm) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::deploy(&state, &scope, form).await
}

pub async fn scale_app(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    replicas: i32,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::scale(&state, &scope, &namespace, &name, replicas).await
}

pub async fn set_image(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    image: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::set_image(&state, &scope, &namespace, &name, &image).await
}

pub async fn restart_app(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::restart(&state, &scope, &namespace, &name).await
}

/// Deletes the app's Deployment and its Service of the same name.
pub async fn delete_app(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::delete(&state, &scope, &namespace, &name).await
}

/// The app's revisions, newest first.
pub async fn app_revisions(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<AppRevision>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::revisions(&state, &scope, &namespace, &name).await
}

/// Rolls the app back to an older revision's pod template (`kubectl rollout undo
/// --to-revision`). Refused, changing nothing, for the current revision, an unknown one, or
/// when the app changed since it was read.
pub async fn rollback_app(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    revision: i64,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::rollback(&state, &scope, &namespace, &name, revision).await
}

/// Events of an app, its ReplicaSets and its pods, newest first.
pub async fn app_events(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<EventRow>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::events(&state, &scope, &namespace, &name).await
}

/// An object as YAML, without the server's bookkeeping fields.
pub async fn get_yaml(
    call: Call,
    tenant: String,
    namespace: String,
    kind: String,
    name: String,
) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::get_yaml(&state, &scope, &namespace, &kind, &name).await
}

/// Replaces an object with the edited YAML; returns the stored result. A parse error or the
/// API server's refusal comes back as the error, and nothing changes.
pub async fn put_yaml(
    call: Call,
    tenant: String,
    namespace: String,
    kind: String,
    name: String,
    yaml: String,
) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::put_yaml(&state, &scope, &namespace, &kind, &name, &yaml).await
}

/// The app's health checks, as the form shows them.
pub async fn app_probes(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<pod::AppProbes, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::probes::probes(&state, &scope, &namespace, &name).await
}

/// Gives the app new health checks (a rollout).
pub async fn set_app_probes(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    probes: pod::ProbesForm,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::probes::set_probes(&state, &scope, &namespace, &name, probes).await
}
