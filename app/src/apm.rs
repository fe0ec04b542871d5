//! The APM server functions the app page calls (types in `wharf_api::apm`); each body is one
//! call into `wharf_console::apm::endpoints`, which authorizes and does the work.

pub use wharf_api::apm::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The app's APM switch.
#[server(prefix = "/api", endpoint = "apm_state", input = Json)]
pub async fn apm_state(
    tenant: String,
    namespace: String,
    app: String,
) -> Result<ApmView, AppError> {
    wharf_console::apm::endpoints::apm_state(expect_context(), tenant, namespace, app).await
}

/// Turns APM on or off for the app (developers); `java`: the user says it is a Java app.
#[server(prefix = "/api", endpoint = "set_apm", input = Json)]
pub async fn set_apm(
    tenant: String,
    namespace: String,
    app: String,
    on: bool,
    java: bool,
) -> Result<ApmView, AppError> {
    wharf_console::apm::endpoints::set_apm(expect_context(), tenant, namespace, app, on, java).await
}

/// The tenant's call graph over the last `minutes` (one of `GRAPH_RANGES`).
#[server(prefix = "/api", endpoint = "tenant_calls", input = Json)]
pub async fn tenant_calls(tenant: String, minutes: u32) -> Result<CallGraph, AppError> {
    wharf_console::apm::endpoints::tenant_calls(expect_context(), tenant, minutes).await
}
