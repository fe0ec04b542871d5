//! The storage server functions the storage page calls (types in `wharf_api::storage`); each
//! body is one call into `wharf_console::storage::endpoints`, which authorizes and does the
//! work.

pub use wharf_api::storage::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The cluster's storage classes and the tenant's claims.
#[server(prefix = "/api", endpoint = "storage", input = Json)]
pub async fn storage(tenant: String) -> Result<StorageView, AppError> {
    wharf_console::storage::endpoints::storage(expect_context(), tenant).await
}

/// Creates a claim (developers).
#[server(prefix = "/api", endpoint = "create_claim", input = Json)]
pub async fn create_claim(tenant: String, form: ClaimForm) -> Result<(), AppError> {
    wharf_console::storage::endpoints::create_claim(expect_context(), tenant, form).await
}

/// Grows a claim to `size` (developers; the class must allow it).
#[server(prefix = "/api", endpoint = "expand_claim", input = Json)]
pub async fn expand_claim(
    tenant: String,
    namespace: String,
    name: String,
    size: String,
) -> Result<(), AppError> {
    wharf_console::storage::endpoints::expand_claim(expect_context(), tenant, namespace, name, size)
        .await
}

/// Deletes a claim and its data (developers; `confirm` is its name, typed; refused while
/// mounted).
#[server(prefix = "/api", endpoint = "delete_claim", input = Json)]
pub async fn delete_claim(
    tenant: String,
    namespace: String,
    name: String,
    confirm: String,
) -> Result<(), AppError> {
    wharf_console::storage::endpoints::delete_claim(
        expect_context(),
        tenant,
        namespace,
        name,
        confirm,
    )
    .await
}

/// A folder of a claim's volume, read through a running pod that mounts it (developers).
#[server(prefix = "/api", endpoint = "volume_files", input = Json)]
pub async fn volume_files(
    tenant: String,
    namespace: String,
    claim: String,
    path: String,
) -> Result<VolumeListing, AppError> {
    wharf_console::storage::endpoints::volume_files(
        expect_context(),
        tenant,
        namespace,
        claim,
        path,
    )
    .await
}

/// Starts a files pod for a claim no running pod mounts (developers); the pod's name.
#[server(prefix = "/api", endpoint = "open_volume_files", input = Json)]
pub async fn open_volume_files(
    tenant: String,
    namespace: String,
    claim: String,
) -> Result<String, AppError> {
    wharf_console::storage::endpoints::open_volume_files(expect_context(), tenant, namespace, claim)
        .await
}

/// Stops the files pods of a claim (developers).
#[server(prefix = "/api", endpoint = "close_volume_files", input = Json)]
pub async fn close_volume_files(
    tenant: String,
    namespace: String,
    claim: String,
) -> Result<(), AppError> {
    wharf_console::storage::endpoints::close_volume_files(
        expect_context(),
        tenant,
        namespace,
        claim,
    )
    .await
}
