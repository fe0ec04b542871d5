//! `/ws/workloads/{tenant}`: the tenant's workload view, pushed whenever the cluster changes
//! ([`push_snapshots`] serves the other live pages' sockets the same way).
//! Authorization happens before the upgrade: a stranger gets 401, another tenant's user 403,
//! and no socket is opened.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::workloads::LiveMessage;
use wharf_console::auth::{authorize, principal_from_headers, TenantScope};
use wharf_console::state::{AppState, ChangeSet};
use wharf_console::workloads::view;

/// Changes closer together than this are sent as one snapshot.
const COALESCE: Duration = Duration::from_millis(100);
/// Pings keep proxies that cut idle connections (often after 60 s) from closing the feed.
const PING_EVERY: Duration = Duration::from_secs(25);

/// A refusal before a socket, a download or an upload: the error's sentence in both
/// languages, as JSON (`{"en": …, "zh": …}`; the page shows the reader's).
pub fn refuse(err: AppError) -> Response {
    let code = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::FORBIDDEN);
    (code, axum::Json(err.text())).into_response()
}

/// An upload's announced length (`Content-Length`), or the refusal (411) to send instead:
/// uploads check their limit before a byte is read.
#[allow(clippy::result_large_err)]
pub fn announced_length(headers: &HeaderMap) -> Result<u64, Response> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            let needs = wharf_api::text!(
                "an upload needs a Content-Length",
                "上传需要 Content-Length"
            );
            (StatusCode::LENGTH_REQUIRED, axum::Json(needs)).into_response()
        })
}

/// The principal and scope for a socket, or the refusal to send instead of upgrading.
// NB: the refusal is the handler's whole answer, returned at once; boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub fn scope_for_socket(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &str,
    need: Role,
) -> Result<TenantScope, Response> {
    let who = principal_from_headers(state, headers).map_err(refuse)?;
    authorize(state, &who, tenant, need).map_err(refuse)
}

pub async fn workloads(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    match scope_for_socket(&state, &headers, &tenant, Role::Viewer) {
        Ok(scope) => ws.on_upgrade(move |socket| push(socket, state, scope)),
        Err(refusal) => refusal,
    }
}

async fn push(socket: WebSocket, state: AppState, scope: TenantScope) {
    let _open = state
        .metrics
        .socket_open(wharf_api::routes::WS_WORKLOADS.pattern);
    let changes = state.cache.changes.workloads();
    push_snapshots(socket, changes, move || {
        LiveMessage::Snapshot(view(&state.cache, &scope))
    })
    .await
}

/// Sends `snapshot()` now and again whenever the cache changed and the snapshot differs,
/// with keep-alive pings, until the browser goes away. Every live page's socket ends here,
/// after its own authorization.
pub async fn push_snapshots<T: serde::Serialize>(
    mut socket: WebSocket,
    mut changed: ChangeSet,
    snapshot: impl Fn() -> T,
) {
    let mut last_sent = String::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        let text = match serde_json::to_string(&snapshot()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "serializing a live view");
                return;
            }
        };
        if text != last_sent {
            if socket
                .send(Message::Text(text.clone().into()))
                .await
                .is_err()
            {
                return;
            }
            last_sent = text;
        }
        tokio::select! {
            r = changed.changed() => {
                if r.is_err() { return; }
                tokio::time::sleep(COALESCE).await;
                changed.mark_seen();
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { return; }
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
