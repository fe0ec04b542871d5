//! The bodies of the config server functions (declared in `wharf_app::config`): each
//! authorizes the call for its tenant first. Viewers see objects, keys and history — never a
//! Secret's values; developers reveal them (audited), create, change, apply and delete.

use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::config::{ConfigDetail, ConfigEntry, ConfigForm, ConfigKind, ConfigRow, ConfigUse};
use wharf_api::error::AppError;

/// The tenant's ConfigMaps and Secrets.
pub async fn config_objects(call: Call, tenant: String) -> Result<Vec<ConfigRow>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::list(&state, &scope).await
}

/// One object with its history (a Secret's values left out).
pub async fn config_object(
    call: Call,
    tenant: String,
    namespace: String,
    kind: ConfigKind,
    name: String,
) -> Result<ConfigDetail, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::detail(&state, &scope, &namespace, kind, &name).await
}

/// A Secret's values.
pub async fn reveal_secret(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<ConfigEntry>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{name}"));
    super::reveal(&state, &scope, &namespace, &name).await
}

/// Creates or changes an object; its new version.
pub async fn save_config(call: Call, tenant: String, form: ConfigForm) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    let keys: Vec<&str> = form.entries.iter().map(|(k, _)| k.as_str()).collect();
    call.audit_target(format!(
        "{} {}/{} keys={}",
        form.kind.as_str(),
        form.namespace,
        form.name,
        keys.join(",")
    ));
    super::save(&state, &scope, &form).await
}

/// Deletes an object (`confirm`: its name, typed).
pub async fn delete_config(
    call: Call,
    tenant: String,
    namespace: String,
    kind: ConfigKind,
    name: String,
    confirm: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{} {namespace}/{name}", kind.as_str()));
    super::delete(&state, &scope, &namespace, kind, &name, &confirm).await
}

/// Rolls the apps that use an object; the apps rolled.
pub async fn apply_config(
    call: Call,
    tenant: String,
    namespace: String,
    kind: ConfigKind,
    name: String,
) -> Result<Vec<String>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{} {namespace}/{name}", kind.as_str()));
    super::apply(&state, &scope, &namespace, kind, &name).await
}

/// The config objects an app reads.
pub async fn app_config(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<ConfigUse>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::app_uses(&state, &scope, &namespace, &name).await
}
