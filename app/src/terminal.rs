//! The terminal server functions the pages call (their types come from `wharf_api::terminal`); each body is one call
//! into `wharf_console::terminal::endpoints`, which authorizes and does the work.

pub use wharf_api::terminal::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Terminal sessions and file transfers in the tenant's namespaces, newest first. Admins only.
#[server(prefix = "/api", endpoint = "terminal_sessions", input = Json)]
pub async fn terminal_sessions(tenant: String) -> Result<Vec<SessionRecord>, AppError> {
    wharf_console::terminal::endpoints::terminal_sessions(expect_context(), tenant).await
}

/// May this user open a terminal on this pod and container? The same checks as the socket
/// (tenant, role, pod, container, running), answered with a sentence the page shows —
/// a refused WebSocket handshake tells the browser nothing. Developers and admins.
#[server(prefix = "/api", endpoint = "terminal_check", input = Json)]
pub async fn terminal_check(
    tenant: String,
    ns: String,
    pod: String,
    container: Option<String>,
) -> Result<TerminalTarget, AppError> {
    wharf_console::terminal::endpoints::terminal_check(expect_context(), tenant, ns, pod, container)
        .await
}
