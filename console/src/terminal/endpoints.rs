//! The bodies of the terminal server functions (declared in `wharf_app::terminal`): each authorizes the
//! call for its tenant first, then does the work.

use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::terminal::*;

/// Terminal sessions and file transfers in the tenant's namespaces, newest first. Admins only.
pub async fn terminal_sessions(call: Call, tenant: String) -> Result<Vec<SessionRecord>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Admin)?;
    super::sessions(&state, &scope).await
}

/// May this user open a terminal on this pod and container? The same checks as the socket
/// (tenant, role, pod, container, running), answered with a sentence the page shows —
/// a refused WebSocket handshake tells the browser nothing. Developers and admins.
pub async fn terminal_check(
    call: Call,
    tenant: String,
    ns: String,
    pod: String,
    container: Option<String>,
) -> Result<TerminalTarget, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::check(&state, &scope, &ns, &pod, container.as_deref())
}
