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

/// Adds a `kubernetes.io/tls` Secret from an uploaded certificate chain and key (developers).
#[server(prefix = "/api", endpoint = "add_tls_secret", input = Json)]
pub async fn add_tls_secret(
    tenant: String,
    namespace: String,
    name: String,
    cert_pem: String,
    key_pem: String,
) -> Result<(), AppError> {
    wharf_console::nginx::endpoints::add_tls_secret(
        expect_context(),
        tenant,
        namespace,
        name,
        cert_pem,
        key_pem,
    )
    .await
}

/// The tenant's `kubernetes.io/tls` Secrets a route may name, `(namespace, name)`.
#[server(prefix = "/api", endpoint = "tls_secrets", input = Json)]
pub async fn tls_secrets(tenant: String) -> Result<Vec<(String, String)>, AppError> {
    wharf_console::nginx::endpoints::tls_secrets(expect_context(), tenant).await
}

/// Every nginx cluster with its nodes (platform admins).
#[server(prefix = "/api", endpoint = "admin_nginx_clusters", input = Json)]
pub async fn admin_nginx_clusters() -> Result<Vec<AdminClusterView>, AppError> {
    wharf_console::nginx::endpoints::admin_nginx_clusters(expect_context()).await
}

/// `nginx -t` on a cluster's new settings with everything it serves (platform admins).
#[server(prefix = "/api", endpoint = "check_nginx_cluster", input = Json)]
pub async fn check_nginx_cluster(form: ClusterForm) -> Result<Validation, AppError> {
    wharf_console::nginx::endpoints::check_nginx_cluster(expect_context(), form).await
}

/// Creates (no `version`) or changes a cluster, only if nginx accepts the result.
#[server(prefix = "/api", endpoint = "save_nginx_cluster", input = Json)]
pub async fn save_nginx_cluster(form: ClusterForm) -> Result<Validation, AppError> {
    wharf_console::nginx::endpoints::save_nginx_cluster(expect_context(), form).await
}

/// Deletes a cluster no route points at, revoking its joined nodes' tokens.
#[server(prefix = "/api", endpoint = "delete_nginx_cluster", input = Json)]
pub async fn delete_nginx_cluster(cluster: String) -> Result<(), AppError> {
    wharf_console::nginx::endpoints::delete_nginx_cluster(expect_context(), cluster).await
}

/// A join command for a new node of the cluster (its own token; the code works an hour).
#[server(prefix = "/api", endpoint = "join_nginx_node", input = Json)]
pub async fn join_nginx_node(cluster: String, node: String) -> Result<JoinCommand, AppError> {
    wharf_console::nginx::endpoints::join_nginx_node(expect_context(), cluster, node).await
}

/// Removes a node: its token is revoked, its report and files forgotten.
#[server(prefix = "/api", endpoint = "remove_nginx_node", input = Json)]
pub async fn remove_nginx_node(cluster: String, node: String) -> Result<(), AppError> {
    wharf_console::nginx::endpoints::remove_nginx_node(expect_context(), cluster, node).await
}
