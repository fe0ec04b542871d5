//! The bodies of the storage server functions (declared in `wharf_app::storage`): each
//! authorizes the call for its tenant first. Viewers see classes and claims; developers
//! create, expand and delete claims.

use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::storage::{ClaimForm, StorageView};

/// The cluster's storage classes and the tenant's claims.
pub async fn storage(call: Call, tenant: String) -> Result<StorageView, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::view(&state, &scope).await
}

/// Creates a claim.
pub async fn create_claim(call: Call, tenant: String, form: ClaimForm) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{}/{}", form.namespace, form.name));
    super::create(&state, &scope, &form).await
}

/// Grows a claim to `size`.
pub async fn expand_claim(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    size: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{name} size={size}"));
    super::expand(&state, &scope, &namespace, &name, &size).await
}

/// Deletes a claim (`confirm`: its name, typed).
pub async fn delete_claim(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    confirm: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{name}"));
    super::delete(&state, &scope, &namespace, &name, &confirm).await
}

/// A folder of a claim's volume, through a running pod that mounts it (developers: it reads
/// the tenant's data; audited).
pub async fn volume_files(
    call: Call,
    tenant: String,
    namespace: String,
    claim: String,
    path: String,
) -> Result<wharf_api::storage::VolumeListing, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{claim}:/{path}"));
    super::files::list(&state, &scope, &namespace, &claim, &path).await
}

/// Starts a files pod for a claim no running pod mounts (developers; audited); the name of
/// the pod that reaches the claim.
pub async fn open_volume_files(
    call: Call,
    tenant: String,
    namespace: String,
    claim: String,
) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{claim}"));
    super::files::open(&state, &scope, &namespace, &claim).await
}

/// Stops the files pods of a claim (developers; audited).
pub async fn close_volume_files(
    call: Call,
    tenant: String,
    namespace: String,
    claim: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    call.audit_target(format!("{namespace}/{claim}"));
    super::files::close(&state, &scope, &namespace, &claim).await
}
