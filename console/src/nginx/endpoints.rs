//! The bodies of the nginx server functions (declared in `wharf_app::nginx`): each authorizes the
//! call for its tenant first, then does the work.

use crate::admin::endpoints::platform_admin;
use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::nginx::*;
use wharf_api::text;

pub async fn nginx_clusters(call: Call, tenant: String) -> Result<Vec<ClusterView>, AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Viewer)?;
    Ok(super::clusters(&state, &who))
}

pub async fn nginx_config(
    call: Call,
    tenant: String,
    cluster: String,
) -> Result<ConfigView, AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Viewer)?;
    super::config(&state, &who, &cluster).await
}

pub async fn nginx_drift(
    call: Call,
    tenant: String,
    cluster: String,
    node: String,
) -> Result<DriftView, AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Viewer)?;
    super::drift(&state, &who, &cluster, &node).await
}

pub async fn validate_nginx_change(
    call: Call,
    tenant: String,
    change: NginxChange,
) -> Result<Validation, AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Developer)?;
    super::validate(&state, &who, &change).await
}

/// Asks the node's agent to write the rendered config again and reload, throwing away hand
/// edits. For whoever may see the node's files and change things.
pub async fn repair_nginx_node(
    call: Call,
    tenant: String,
    cluster: String,
    node: String,
) -> Result<(), AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Developer)?;
    super::repair(&state, &who, &cluster, &node).await
}

/// Validates, then stores; an invalid change answers 400 with nginx's message and stores nothing.
pub async fn apply_nginx_change(
    call: Call,
    tenant: String,
    change: NginxChange,
) -> Result<Validation, AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Developer)?;
    super::apply(&state, &who, &change).await
}

/// Adds a `kubernetes.io/tls` Secret from an uploaded certificate chain and key (developers).
pub async fn add_tls_secret(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    cert_pem: String,
    key_pem: String,
) -> Result<(), AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{name}"));
    super::add_tls_secret(&state, &who, &namespace, &name, &cert_pem, &key_pem).await
}

/// The tenant's `kubernetes.io/tls` Secrets a route may name, `(namespace, name)`.
pub async fn tls_secrets(call: Call, tenant: String) -> Result<Vec<(String, String)>, AppError> {
    let (state, who) = super::access(&call, &tenant, Role::Viewer)?;
    super::tls_secrets(&state, &who).await
}

/// Every nginx cluster with its nodes (platform admins).
pub async fn admin_nginx_clusters(call: Call) -> Result<Vec<AdminClusterView>, AppError> {
    platform_admin(&call, text!("manage nginx clusters", "管理 nginx 集群"))?;
    super::clusters::list_with_joined(&call.state).await
}

/// `nginx -t` on a cluster's new settings with everything it serves (platform admins).
pub async fn check_nginx_cluster(call: Call, form: ClusterForm) -> Result<Validation, AppError> {
    platform_admin(&call, text!("manage nginx clusters", "管理 nginx 集群"))?;
    super::clusters::check(&call.state, &form).await
}

/// Creates (no `version`) or changes a cluster, only if nginx accepts the result.
pub async fn save_nginx_cluster(call: Call, form: ClusterForm) -> Result<Validation, AppError> {
    let who = platform_admin(&call, text!("manage nginx clusters", "管理 nginx 集群"))?;
    call.audit_target(form.name.clone());
    super::clusters::save(&call.state, &form, &who.name).await
}

/// Deletes a cluster no route points at, revoking its joined nodes' tokens.
pub async fn delete_nginx_cluster(call: Call, cluster: String) -> Result<(), AppError> {
    let who = platform_admin(&call, text!("manage nginx clusters", "管理 nginx 集群"))?;
    call.audit_target(cluster.clone());
    super::clusters::delete(&call.state, &cluster, &who.name).await
}

/// A join command for a new node of the cluster (its own token; the code works an hour).
pub async fn join_nginx_node(
    call: Call,
    cluster: String,
    node: String,
) -> Result<JoinCommand, AppError> {
    let who = platform_admin(&call, text!("add nginx nodes", "添加 nginx 节点"))?;
    call.audit_target(format!("{cluster}/{node}"));
    super::join::create(&call.state, &cluster, &node, &who.name).await
}

/// Removes a node: its token is revoked, its report and files forgotten.
pub async fn remove_nginx_node(call: Call, cluster: String, node: String) -> Result<(), AppError> {
    let who = platform_admin(&call, text!("remove nginx nodes", "移除 nginx 节点"))?;
    call.audit_target(format!("{cluster}/{node}"));
    super::clusters::remove_node(&call.state, &cluster, &node, &who.name).await
}
