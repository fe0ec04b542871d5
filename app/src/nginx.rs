//! The nginx server functions the pages call (their types come from `wharf_api::nginx`); each body is one call
//! into `wharf_console::nginx::endpoints`, which authorizes and does the work.

pub use wharf_api::nginx::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[server(prefix = "/api", endpoint = "nginx_clusters", input = Json)]
pub async fn nginx_clusters(tenant: String) -> Result<Vec<ClusterView>, AppError> {
    wharf_console::nginx::endpoints::nginx_clusters(expect_context(), tenant).await
}

#[server(prefix = "/api", endpoint = "nginx_config", input = Json)]
pub async fn nginx_config(tenant: String, cluster: String) -> Result<ConfigView, AppError> {
    wharf_console::nginx::endpoints::nginx_config(expect_context(), tenant, cluster).await
}

#[server(prefix = "/api", endpoint = "nginx_drift", input = Json)]
pub async fn nginx_drift(
    tenant: String,
    cluster: String,
    node: String,
) -> Result<DriftView, AppError> {
    wharf_console::nginx::endpoints::nginx_drift(expect_context(), tenant, cluster, node).await
}

#[server(prefix = "/api", endpoint = "validate_nginx_change", input = Json)]
pub async fn validate_nginx_change(
    tenant: String,
    change: NginxChange,
) -> Result<Validation, AppError> {
    wharf_console::nginx::endpoints::validate_nginx_change(expect_context(), tenant, change).await
}

/// Asks the node's agent to write the rendered config again and reload, throwing away hand
/// edits. For whoever may see the node's files and change things.
#[server(prefix = "/api", endpoint = "repair_nginx_node", input = Json)]
pub async fn repair_nginx_node(
    tenant: String,
    cluster: String,
    node: String,
) -> Result<(), AppError> {
    wharf_console::nginx::endpoints::repair_nginx_node(expect_context(), tenant, cluster, node)
        .await
}

/// Validates, then stores; an invalid change answers 400 with nginx's message and stores nothing.
#[server(prefix = "/api", endpoint = "apply_nginx_change", input = Json)]
pub async fn apply_nginx_change(
    tenant: String,
    change: NginxChange,
) -> Result<Validation, AppError> {
    wharf_console::nginx::endpoints::apply_nginx_change(expect_context(), tenant, change).await
}
