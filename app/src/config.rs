//! The config server functions the config page and the app page call (types in
//! `wharf_api::config`); each body is one call into `wharf_console::config::endpoints`, which
//! authorizes and does the work.

pub use wharf_api::config::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The tenant's ConfigMaps and Secrets (keys only for Secrets).
#[server(prefix = "/api", endpoint = "config_objects", input = Json)]
pub async fn config_objects(tenant: String) -> Result<Vec<ConfigRow>, AppError> {
    wharf_console::config::endpoints::config_objects(expect_context(), tenant).await
}

/// One object with its history; a Secret's values are left out.
#[server(prefix = "/api", endpoint = "config_object", input = Json)]
pub async fn config_object(
    tenant: String,
    namespace: String,
    kind: ConfigKind,
    name: String,
) -> Result<ConfigDetail, AppError> {
    wharf_console::config::endpoints::config_object(expect_context(), tenant, namespace, kind, name)
        .await
}

/// A Secret's values (developers; audited).
#[server(prefix = "/api", endpoint = "reveal_secret", input = Json)]
pub async fn reveal_secret(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<ConfigEntry>, AppError> {
    wharf_console::config::endpoints::reveal_secret(expect_context(), tenant, namespace, name).await
}

/// Creates or changes a ConfigMap or Secret (developers); its new version.
#[server(prefix = "/api", endpoint = "save_config", input = Json)]
pub async fn save_config(tenant: String, form: ConfigForm) -> Result<String, AppError> {
    wharf_console::config::endpoints::save_config(expect_context(), tenant, form).await
}

/// Deletes a ConfigMap or Secret (developers; `confirm` is its name, typed; refused while an
/// app uses it).
#[server(prefix = "/api", endpoint = "delete_config", input = Json)]
pub async fn delete_config(
    tenant: String,
    namespace: String,
    kind: ConfigKind,
    name: String,
    confirm: String,
) -> Result<(), AppError> {
    wharf_console::config::endpoints::delete_config(
        expect_context(),
        tenant,
        namespace,
        kind,
        name,
        confirm,
    )
    .await
}

/// Rolls the apps that use the object (developers); the apps rolled.
#[server(prefix = "/api", endpoint = "apply_config", input = Json)]
pub async fn apply_config(
    tenant: String,
    namespace: String,
    kind: ConfigKind,
    name: String,
) -> Result<Vec<String>, AppError> {
    wharf_console::config::endpoints::apply_config(expect_context(), tenant, namespace, kind, name)
        .await
}

/// The config objects an app reads, and which changed after its pods started.
#[server(prefix = "/api", endpoint = "app_config", input = Json)]
pub async fn app_config(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<Vec<ConfigUse>, AppError> {
    wharf_console::config::endpoints::app_config(expect_context(), tenant, namespace, name).await
}
