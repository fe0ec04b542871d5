//! The audit log's server function; its types come from `wharf_api::audit`.

pub use wharf_api::audit::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Audit records, newest first: every tenant's for a platform admin, one tenant's for its
/// admins.
#[server(prefix = "/api", endpoint = "audit_records", input = Json)]
pub async fn audit_records(filter: AuditFilter) -> Result<Vec<AuditRecord>, AppError> {
    wharf_console::audit::records(expect_context(), filter).await
}
