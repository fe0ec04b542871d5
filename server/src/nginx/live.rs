//! `/ws/nginx/{tenant}`: the NgFront page's live view. The clusters the caller may see, as
//! `nginx_clusters` returns them, pushed whenever the watcher cache changes (an agent's
//! status write is a change) and re-checked every few seconds, because a node turns stale
//! by its agent saying nothing. Checked before the upgrade: 401 for strangers, 403 for
//! another tenant's users; no socket is opened for them.

use crate::live::push_snapshots;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::time::Duration;
use tokio::sync::watch;
use wharf_console::nginx::clusters;
use wharf_console::state::AppState;

/// How often node states are recomputed without a change (stale detection).
const RECHECK: Duration = Duration::from_secs(5);

pub async fn follow(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let access = match super::access_for(&state, &headers, &tenant) {
        Ok(a) => a,
        Err(refusal) => return refusal,
    };
    ws.on_upgrade(move |socket| async move {
        let _open = state
            .metrics
            .socket_open(wharf_api::routes::WS_NGINX.pattern);
        tracing::debug!(
            user = access.scope.user(),
            tenant = access.scope.tenant(),
            "nginx live view opened"
        );
        let (tx, ticks) = watch::channel(0u64);
        let shown = state.cache.changes.of(|c| {
            vec![
                &c.nginx_clusters,
                &c.nginx_routes,
                &c.nginx_upstreams,
                &c.tenants,
            ]
        });
        let ticker = tokio::spawn(changes_or_every(shown, tx, RECHECK));
        let ticks = wharf_console::state::ChangeSet::single(ticks);
        push_snapshots(socket, ticks, move || clusters(&state, &access)).await;
        ticker.abort();
    })
}

/// Bumps `out` on every change of `cache` and at least every `every`.
async fn changes_or_every(
    mut cache: wharf_console::state::ChangeSet,
    out: watch::Sender<u64>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            r = cache.changed() => {
                if r.is_err() {
                    return;
                }
                cache.mark_seen();
            }
            _ = tick.tick() => {}
        }
        out.send_modify(|v| *v = v.wrapping_add(1));
    }
}
