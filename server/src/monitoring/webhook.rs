//! `POST /hooks/alertmanager`: Alertmanager's webhook (payload version 4). Only a request
//! carrying `Authorization: Bearer <the configured token>` is read, or one carrying the token
//! scoped to a namespace (`Token::scoped`, what the Prometheus Operator mode keeps in each
//! tenant namespace) whose alerts all belong to that namespace; without a configured token
//! every request is refused. Alerts land in the console's alert book, where the
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
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        // NB: the same answer as a wrong token to anyone without one
        if !token.matches(given) {
            return (StatusCode::UNAUTHORIZED, "wrong or missing token");
        }
        return (
            StatusCode::BAD_REQUEST,
            "not an Alertmanager webhook payload",
        );
    };
    if !token.matches(given) && !scoped_to_its_namespace(token, given, &payload) {
        return (StatusCode::UNAUTHORIZED, "wrong or missing token");
    }
    let rows = state.monitoring.alerts.record(&payload);
    tracing::info!(alerts = rows.len(), status = %payload["status"], "alerts from Alertmanager");
    let owned = alerts::owned_namespaces(&state);
    alerts::write_events(&state.client, &state.monitoring.alerts, &rows, |ns| {
        owned.contains(ns)
    })
    .await;
    (StatusCode::OK, "ok")
}

/// Whether `given` is the token scoped to the one namespace every alert of `payload` carries.
fn scoped_to_its_namespace(
    token: &wharf_console::monitoring::Token,
    given: &str,
    payload: &serde_json::Value,
) -> bool {
    let mut namespaces = payload["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["labels"]["namespace"].as_str());
    let Some(Some(first)) = namespaces.next() else {
        return false;
    };
    namespaces.all(|n| n == Some(first)) && token.scoped(first).matches(given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wharf_console::monitoring::Token;

    #[test]
    fn a_scoped_token_posts_its_namespace_only() {
        let t = Token::new("s3cret");
        let alpha = t.scoped("alpha");
        let of = |nss: &[&str]| json!({"alerts": nss.iter().map(|n| json!({"labels": {"namespace": n}})).collect::<Vec<_>>()});
        assert!(scoped_to_its_namespace(
            &t,
            alpha.expose(),
            &of(&["alpha", "alpha"])
        ));
        assert!(!scoped_to_its_namespace(&t, alpha.expose(), &of(&["beta"])));
        assert!(!scoped_to_its_namespace(
            &t,
            alpha.expose(),
            &of(&["alpha", "beta"])
        ));
        assert!(!scoped_to_its_namespace(&t, alpha.expose(), &of(&[])));
        assert!(!scoped_to_its_namespace(
            &t,
            alpha.expose(),
            &json!({"alerts": [{"labels": {}}]})
        ));
        assert!(!scoped_to_its_namespace(&t, "s3cret", &of(&["alpha"])));
    }
}
