//! `POST /hooks/alertmanager`: Alertmanager's webhook (payload version 4). Only a request
//! carrying `Authorization: Bearer <the configured token>` is read; without a configured
//! token every request is refused. Alerts land in the console's alert book, where the
//! alerts pages read them per tenant, and each episode's start and end is recorded as an
//! Event in the alert's namespace (see `wharf_console::monitoring::alerts`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use wharf_console::monitoring::alerts;
use wharf_console::state::AppState;

pub async fn alertmanager(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let Some(token) = state.settings.monitoring.webhook_token.as_ref() else {
        return (
            StatusCode::UNAUTHORIZED,
            "the alert webhook is not configured",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !token.matches(given) {
        return (StatusCode::UNAUTHORIZED, "wrong or missing token");
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "not an Alertmanager webhook payload",
        );
    };
    let rows = state.monitoring.alerts.record(&payload);
    tracing::info!(alerts = rows.len(), status = %payload["status"], "alerts from Alertmanager");
    let owned = alerts::owned_namespaces(&state);
    alerts::write_events(&state.client, &state.monitoring.alerts, &rows, |ns| {
        owned.contains(ns)
    })
    .await;
    (StatusCode::OK, "ok")
}
