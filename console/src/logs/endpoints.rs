//! The bodies of the logs server functions (declared in `wharf_app::logs`): each authorizes the
//! call for its tenant first, then does the work.

use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::logs::*;

/// The apps (with their pods and containers) whose logs the tenant may read.
pub async fn log_sources(call: Call, tenant: String) -> Result<Vec<LogSource>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    Ok(super::sources(&state.cache, &scope))
}

/// One page of a time range of an app's, a pod's or a container's logs, merged in time order.
pub async fn query_logs(call: Call, tenant: String, query: LogQuery) -> Result<LogPage, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::query(&state, &scope, query).await
}
