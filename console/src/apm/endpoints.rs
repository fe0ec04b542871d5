//! The bodies of the APM server functions (declared in `wharf_app::apm`): each authorizes the
//! call for its tenant first. Viewers see the switch; developers flip it.

use crate::call::Call;
use wharf_api::apm::{ApmView, CallGraph};
use wharf_api::auth::Role;
use wharf_api::error::AppError;

/// The app's APM switch.
pub async fn apm_state(
    call: Call,
    tenant: String,
    namespace: String,
    app: String,
) -> Result<ApmView, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::view(&state, &scope, &namespace, &app).await
}

/// Turns APM on or off for the app (`java`: the user says it is a Java app though it does
/// not look like one).
pub async fn set_apm(
    call: Call,
    tenant: String,
    namespace: String,
    app: String,
    on: bool,
    java: bool,
) -> Result<ApmView, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{app}"));
    super::set(&state, &scope, &namespace, &app, on, java).await
}

/// The tenant's call graph over the last `minutes` (one of `GRAPH_RANGES`).
pub async fn tenant_calls(call: Call, tenant: String, minutes: u32) -> Result<CallGraph, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::graph::call_graph(&state, &scope, minutes).await
}
