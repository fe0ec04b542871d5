//! The Alertmanager side: list, create and expire, each limited to the tenant (see the
//! parent module's doc).

use crate::auth::TenantScope;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use wharf_api::error::AppError;
use wharf_api::monitoring::silences::*;
use wharf_api::{text, Text};

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn url(state: &AppState) -> Result<&str, AppError> {
    state.settings.monitoring.alertmanager_url.as_deref().map(|u| u.trim_end_matches('/')).ok_or_else(|| {
        AppError::Invalid(text!(
            "silences need Alertmanager, and this console has none configured (wharf serve --alertmanager-url …)",
            "静默需要 Alertmanager,而本控制台未配置(wharf serve --alertmanager-url …)"
        ))
    })
}

/// `e` may be a [`Text`] (it then shows in the sentence's language); `tail` says what
/// stayed as it was.
fn unreachable(url: &str, e: impl std::fmt::Display, tail: Text) -> AppError {
    AppError::Unavailable(text!(
        "Alertmanager at {url} is not reachable ({e}){tail}",
        "无法连接 Alertmanager({url}):{e}{tail}"
    ))
}

fn answers(status: reqwest::StatusCode, reason: String) -> Text {
    text!(
        "it answers {status}: {reason}",
        "它返回了 {status}:{reason}"
    )
}

/// Alertmanager's error text: its answers are a JSON string, or an object with `message`.
async fn reason(res: reqwest::Response) -> String {
    let text = res.text().await.unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) if v["message"].is_string() => v["message"].as_str().unwrap_or_default().to_string(),
        _ => text.trim().to_string(),
    }
}

/// A silence from Alertmanager's answer (`None`: not readable as one).
pub fn row_of(s: &serde_json::Value) -> Option<SilenceRow> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let state = match s["status"]["state"].as_str()? {
        "active" => SilenceState::Active,
        "pending" => SilenceState::Pending,
        "expired" => SilenceState::Expired,
        _ => return None,
    };
    let matchers = s["matchers"]
        .as_array()?
        .iter()
        .map(|m| {
            Some(SilenceMatcher {
                name: text(&m["name"])?,
                value: text(&m["value"])?,
                regex: m["isRegex"].as_bool().unwrap_or(false),
                // NB: `isEqual` came with Alertmanager 0.22; absent means equal
                equal: m["isEqual"].as_bool().unwrap_or(true),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(SilenceRow {
        id: text(&s["id"])?,
        state,
        matchers,
        created_by: text(&s["createdBy"]).unwrap_or_default(),
        comment: text(&s["comment"]).unwrap_or_default(),
        starts_at: text(&s["startsAt"]).unwrap_or_default(),
        ends_at: text(&s["endsAt"]).unwrap_or_default(),
        updated_at: text(&s["updatedAt"]).unwrap_or_default(),
    })
}

/// The tenant's silences: active and pending (soonest end first), then the recently
/// expired (latest first). Without an Alertmanager: none, and the view says so.
pub async fn list(state: &AppState, scope: &TenantScope) -> Result<SilencesView, AppError> {
    if state.settings.monitoring.alertmanager_url.is_none() {
        return Ok(SilencesView::default());
    }
    let url = url(state)?;
    let res = state
        .monitoring
        .http
        .get(format!("{url}/api/v2/silences"))
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(url, crate::monitoring::cause(&e), Text::default()))?;
    if !res.status().is_success() {
        let status = res.status();
        return Err(unreachable(
            url,
            answers(status, reason(res).await),
            Text::default(),
        ));
    }
    let body: serde_json::Value = res
        .json()
        .await
        .map_err(|e| unreachable(url, crate::monitoring::cause(&e), Text::default()))?;
    let since = Utc::now() - Duration::hours(RECENT_HOURS);
    let ended = |s: &SilenceRow| {
        DateTime::parse_from_rfc3339(&s.ends_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let mut silences: Vec<SilenceRow> = body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(row_of)
        .filter(|s| within(&s.matchers, scope.namespaces()))
        .filter(|s| s.state != SilenceState::Expired || ended(s) >= since)
        .collect();
    silences.sort_by(|a, b| {
        a.state.cmp(&b.state).then_with(|| {
            if a.state == SilenceState::Expired {
                ended(b).cmp(&ended(a))
            } else {
                ended(a).cmp(&ended(b))
            }
        })
    });
    Ok(SilencesView {
        configured: true,
        silences,
    })
}

/// Creates the silence: the namespace must be the tenant's (403 otherwise, before
/// anything else), the rest is checked, then it goes to Alertmanager with the namespace
/// matcher first and the signed-in user as `createdBy`. Returns its id.
pub async fn create(
    state: &AppState,
    scope: &TenantScope,
    form: &NewSilence,
) -> Result<String, AppError> {
    // NB: another tenant's (or an unknown) namespace is refused first, whatever else is wrong
    let asked = form.namespace.trim();
    if !asked.is_empty() {
        scope.namespace(asked)?;
    }
    let url = url(state)?;
    let now = Utc::now();
    let checked = form.check(now).map_err(AppError::Invalid)?;
    // the one namespace matcher comes from the scope's check: nothing else can widen it
    let ns = scope.namespace(&checked.namespace)?;
    let namespace = SilenceMatcher {
        name: "namespace".into(),
        value: ns.into(),
        regex: false,
        equal: true,
    };
    let matchers: Vec<serde_json::Value> = std::iter::once(&namespace)
        .chain(&checked.matchers)
        .map(|m| json!({"name": m.name, "value": m.value, "isRegex": m.regex, "isEqual": m.equal}))
        .collect();
    let body = json!({
        "matchers": matchers,
        "startsAt": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "endsAt": checked.ends_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "createdBy": scope.user(),
        "comment": checked.comment,
    });
    let res = state
        .monitoring
        .http
        .post(format!("{url}/api/v2/silences"))
        .json(&body)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            unreachable(
                url,
                crate::monitoring::cause(&e),
                text!("; nothing was silenced", ";未创建任何静默"),
            )
        })?;
    let status = res.status();
    // NB: 400 and 422 are about the silence (what the checks above missed); anything else is Alertmanager's trouble
    if status == reqwest::StatusCode::BAD_REQUEST
        || status == reqwest::StatusCode::UNPROCESSABLE_ENTITY
    {
        let why = reason(res).await;
        return Err(AppError::Invalid(text!(
            "Alertmanager refused the silence: {why}",
            "Alertmanager 拒绝了该静默:{why}"
        )));
    }
    if !status.is_success() {
        let why = reason(res).await;
        return Err(AppError::Unavailable(text!(
            "Alertmanager at {url} could not create the silence ({status}): {why}",
            "Alertmanager({url})无法创建该静默({status}):{why}"
        )));
    }
    let created: serde_json::Value = res
        .json()
        .await
        .map_err(|e| unreachable(url, crate::monitoring::cause(&e), Text::default()))?;
    let id = created["silenceID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let matchers = std::iter::once(&namespace)
        .chain(&checked.matchers)
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(user = scope.user(), tenant = scope.tenant(), silence = %id, %matchers, until = %checked.ends_at, "silence created");
    refresh_alerts(state).await;
    Ok(id)
}

/// Expires one of the tenant's silences. Another tenant's, a malformed id and a missing
/// one all answer the same 404. Expiring an expired silence changes nothing.
pub async fn expire(state: &AppState, scope: &TenantScope, id: &str) -> Result<(), AppError> {
    let url = url(state)?;
    let tenant = scope.tenant();
    let missing = || {
        AppError::NotFound(text!(
            "silence '{id}' of tenant '{tenant}'",
            "租户“{tenant}”的静默“{id}”"
        ))
    };
    if !is_silence_id(id) {
        return Err(missing());
    }
    let http = &state.monitoring.http;
    let tail = text!("; the silence is unchanged", ";该静默未改变");
    let res = http
        .get(format!("{url}/api/v2/silence/{id}"))
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(url, crate::monitoring::cause(&e), tail.clone()))?;
    if res.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(missing());
    }
    if !res.status().is_success() {
        let status = res.status();
        return Err(unreachable(url, answers(status, reason(res).await), tail));
    }
    let body: serde_json::Value = res
        .json()
        .await
        .map_err(|e| unreachable(url, crate::monitoring::cause(&e), tail.clone()))?;
    let silence = row_of(&body)
        .filter(|s| within(&s.matchers, scope.namespaces()))
        .ok_or_else(missing)?;
    if silence.state == SilenceState::Expired {
        return Ok(());
    }
    let res = http
        .delete(format!("{url}/api/v2/silence/{id}"))
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(url, crate::monitoring::cause(&e), tail.clone()))?;
    match res.status() {
        s if s.is_success() => {}
        reqwest::StatusCode::NOT_FOUND => return Err(missing()),
        s => {
            let why = reason(res).await;
            return Err(AppError::Unavailable(text!(
                "Alertmanager at {url} could not expire the silence ({s}): {why}",
                "Alertmanager({url})无法使该静默失效({s}):{why}"
            )));
        }
    }
    tracing::info!(user = scope.user(), tenant = scope.tenant(), silence = %id, "silence expired");
    refresh_alerts(state).await;
    Ok(())
}

/// Re-reads the firing alerts at once, so the alert list shows what the change silenced
/// (or no longer silences) without waiting for the periodic sync.
async fn refresh_alerts(state: &AppState) {
    if let Err(e) = crate::monitoring::alerts::resync(state).await {
        tracing::warn!(error = %e, "re-reading firing alerts after a silence changed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: &str, regex: bool, equal: bool) -> SilenceMatcher {
        SilenceMatcher {
            name: name.into(),
            value: value.into(),
            regex,
            equal,
        }
    }

    #[test]
    fn alertmanagers_silences_read() {
        let s = serde_json::json!({"id": "002fe24b-98dc-475f-bc48-392b176a984a", "status": {"state": "active"}, "updatedAt": "2024-05-01T10:00:00.000Z",
            "comment": "maint", "createdBy": "alice", "endsAt": "2024-05-01T12:00:00.000Z", "startsAt": "2024-05-01T10:00:00.000Z",
            "matchers": [{"isEqual": true, "isRegex": false, "name": "namespace", "value": "alpha"}, {"isRegex": true, "name": "pod", "value": "orders-.*"}]});
        let r = row_of(&s).unwrap();
        assert_eq!(
            (r.state, r.created_by.as_str(), r.comment.as_str()),
            (SilenceState::Active, "alice", "maint")
        );
        assert_eq!(r.matchers[1], m("pod", "orders-.*", true, true));
        assert!(row_of(
            &serde_json::json!({"id": "x", "status": {"state": "odd"}, "matchers": []})
        )
        .is_none());
    }
}
