//! `/ws/logs/{tenant}?ns=..&app=..&pod=..&container=..&q=..&regex=true&last=N`: follow mode.
//! Sends `Reset`, the last N lines, then every new line as the collector stores it (batched,
//! `LogMessage::Lines`), with pings so idle proxies keep the socket open.
//!
//! Everything is checked before the upgrade: a stranger gets 401, another tenant's user (or
//! a namespace outside the tenant) 403, a bad regex 400 — and no socket is opened.

use crate::live::{refuse, scope_for_socket};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{
    rejection::WebSocketUpgradeRejection, Message, WebSocket, WebSocketUpgrade,
};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use logstore::FederatedTail as Tail;
use std::time::Duration;
use wharf_api::auth::Role;
use wharf_api::logs::{LogLink, LogMessage};
use wharf_console::logs::{line_of, store_error, tail_request};
use wharf_console::state::AppState;

const PING_EVERY: Duration = Duration::from_secs(25);
/// Lines sent in one message at most.
const BATCH: usize = 500;

pub async fn follow(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    link: Result<Query<LogLink>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // NB: extractor failures are looked at only after the check, so that a stranger learns
    // nothing but 401 whatever they send.
    let scope = match scope_for_socket(&state, &headers, &tenant, Role::Viewer) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let Ok(Query(link)) = link else {
        return (
            StatusCode::BAD_REQUEST,
            "expected ?ns=NAMESPACE[&app=..&pod=..&container=..&q=..&regex=true&last=N]",
        )
            .into_response();
    };
    let tail = match tail_request(&scope, &link)
        .and_then(|req| state.log_reader.tail(req).map_err(store_error))
    {
        Ok(t) => t,
        Err(e) => return refuse(e),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let (user, ns) = (scope.user().to_string(), link.ns.clone());
    let metrics = state.metrics.clone();
    ws.on_upgrade(move |socket| async move {
        let _open = metrics.socket_open(wharf_api::routes::WS_LOGS.pattern);
        tracing::debug!(%user, %ns, "log follow opened");
        push(socket, tail).await;
        tracing::debug!(%user, %ns, "log follow closed");
    })
}

async fn send(socket: &mut WebSocket, msg: &LogMessage) -> bool {
    match serde_json::to_string(msg) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "serializing log lines");
            false
        }
    }
}

async fn push(mut socket: WebSocket, mut tail: Tail) {
    if !send(&mut socket, &LogMessage::Reset).await {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            next = tail.next() => {
                let first = match next {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = send(&mut socket, &LogMessage::Error(store_error(e))).await;
                        return;
                    }
                };
                let mut batch = vec![line_of(&first)];
                // Whatever else is ready goes in the same message.
                while batch.len() < BATCH {
                    match tail.next().now_or_never() {
                        Some(Ok(e)) => batch.push(line_of(&e)),
                        _ => break,
                    }
                }
                if !send(&mut socket, &LogMessage::Lines(batch)).await {
                    return;
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
