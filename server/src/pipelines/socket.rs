//! `/ws/pipelines/{tenant}`: the tenant's pipelines and their recent runs, pushed whenever
//! the cluster changes. Authorized before the upgrade, like every socket.

use crate::live::{push_snapshots, scope_for_socket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use wharf_api::auth::Role;
use wharf_api::pipelines::PipelinesMessage;
use wharf_console::pipelines::view;
use wharf_console::state::AppState;

pub async fn follow(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    match scope_for_socket(&state, &headers, &tenant, Role::Viewer) {
        Ok(scope) => ws.on_upgrade(move |socket| async move {
            let _open = state
                .metrics
                .socket_open(wharf_api::routes::WS_PIPELINES.pattern);
            let changed = state
                .cache
                .changes
                .of(|c| vec![&c.pipelines, &c.pipeline_runs, &c.pods]);
            push_snapshots(socket, changed, move || {
                PipelinesMessage::Snapshot(view(&state.cache, &scope))
            })
            .await
        }),
        Err(refusal) => refusal,
    }
}
