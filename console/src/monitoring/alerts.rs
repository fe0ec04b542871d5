//! The alerts the console shows, and how they outlive the console process.
//!
//! * **Firing** alerts are Alertmanager's to know: the webhook tells the console as they
//!   change, and [`resync`] re-reads `GET /api/v2/alerts` at start and every
//!   `sync_every`, so a console that was restarted (or is one replica of several) catches up
//!   without waiting for a webhook.
//! * **History** is kept in the cluster as Kubernetes Events in the alert's namespace:
//!   `AlertFiring` when an episode starts, `AlertResolved` when it ends, both pointing at the
//!   pod (so an app's event list shows them) and labelled `wharf.dev/alert=firing|resolved`.
//!   Isolation follows namespaces, like every other Event. An episode is one alert
//!   (fingerprint) from one `startsAt`; its Events have names derived from both, so a webhook
//!   repeated by Alertmanager, two replicas, or a restart write each Event once (the second
//!   create answers 409 and is ignored). The console watches these Events (see
//!   `server/src/monitoring/sync.rs`) into [`AlertBook`].
//!
//! An episode with an `AlertFiring` Event but no `AlertResolved` one that Alertmanager no
//! longer lists ended while nobody listened: [`resync`] writes its `AlertResolved` Event,
//! timed when it noticed.
//!
//! NB: Events are not forever: kube-apiserver drops them after `--event-ttl` (1 h by
//! default); the resolved history is as long as the cluster keeps Events.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use wharf_api::error::AppError;
use wharf_api::monitoring::AlertRow;
use wharf_api::text;

/// Label on the console's alert Events; the value is `firing` or `resolved`.
pub const ALERT_LABEL: &str = "wharf.dev/alert";
const ANN: &str = "wharf.dev/alert-";

/// Most history rows kept in memory (the oldest go first).
const MAX_HISTORY: usize = 10_000;

/// An episode: the alert's id (Alertmanager's fingerprint) and when it started (unix s).
type Episode = (String, i64);

fn unix(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

fn episode(r: &AlertRow) -> Episode {
    (r.id.clone(), unix(&r.starts_at))
}

#[derive(Default)]
struct Book {
    /// Firing now, by episode (from the webhook and Alertmanager's API).
    firing: BTreeMap<Episode, AlertRow>,
    /// Rows of the alert Events, by Event namespace/name.
    history: BTreeMap<String, AlertRow>,
}

/// Firing alerts and the watched alert Events; see the module's doc.
#[derive(Clone, Default)]
pub struct AlertBook(Arc<RwLock<Book>>);

/// An alert as Alertmanager's webhook (payload version 4) or its `/api/v2/alerts` gives it.
pub fn row_of(a: &serde_json::Value, now: &str) -> AlertRow {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let labels = &a["labels"];
    let id = match a["fingerprint"].as_str() {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => format!(
            "{}/{}/{}",
            s(&labels["alertname"]),
            s(&labels["namespace"]),
            s(&labels["pod"])
        ),
    };
    // webhook: "status": "firing" | "resolved"; API: "status": {"state": "active" | "suppressed" | …}
    let status = if a["status"] == "resolved" {
        "resolved"
    } else {
        "firing"
    };
    let ends = s(&a["endsAt"]);
    AlertRow {
        id,
        name: s(&labels["alertname"]),
        namespace: s(&labels["namespace"]),
        app: s(&labels["wharf_app"]),
        pod: s(&labels["pod"]),
        status: status.into(),
        summary: s(&a["annotations"]["summary"]),
        starts_at: s(&a["startsAt"]),
        ends_at: (status == "resolved" && !ends.is_empty() && !ends.starts_with("0001"))
            .then_some(ends),
        updated: now.to_string(),
        // NB: only the API says; the webhook is never sent a silenced alert, so a firing one
        // from the webhook is not silenced (any more)
        silenced_by: a["status"]["silencedBy"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    }
}

impl AlertBook {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Book> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a webhook payload; returns the alerts it held, for their Events.
    pub fn record(&self, payload: &serde_json::Value) -> Vec<AlertRow> {
        let now = Utc::now().to_rfc3339();
        let rows: Vec<AlertRow> = payload["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| row_of(a, &now))
            .collect();
        let mut book = self.write();
        for r in &rows {
            if r.status == "firing" {
                book.firing.insert(episode(r), r.clone());
            } else {
                book.firing.remove(&episode(r));
            }
        }
        rows
    }

    /// Takes Alertmanager's list of firing alerts, fetched at `asked`: adds what is new, and
    /// returns the episodes it no longer lists — firing here (and heard of before `asked`) or
    /// only as an `AlertFiring` Event — as resolved rows, for their Events.
    pub fn reconcile(&self, listed: Vec<AlertRow>, asked: DateTime<Utc>) -> Vec<AlertRow> {
        let now = Utc::now().to_rfc3339();
        let live: BTreeSet<Episode> = listed.iter().map(episode).collect();
        let mut book = self.write();
        for r in listed {
            // what is new is added; what is known keeps its row but takes the silences as they are now
            match book.firing.entry(episode(&r)) {
                std::collections::btree_map::Entry::Occupied(mut known) => {
                    known.get_mut().silenced_by = r.silenced_by
                }
                std::collections::btree_map::Entry::Vacant(new) => {
                    new.insert(r);
                }
            }
        }
        let mut ended: BTreeMap<Episode, AlertRow> = BTreeMap::new();
        let gone: Vec<Episode> = book
            .firing
            .iter()
            .filter(|(k, r)| {
                !live.contains(*k)
                    && DateTime::parse_from_rfc3339(&r.updated).is_ok_and(|t| t < asked)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(r) = book.firing.remove(&k) {
                ended.insert(k, r);
            }
        }
        let resolved: BTreeSet<Episode> = book
            .history
            .values()
            .filter(|r| r.status == "resolved")
            .map(episode)
            .collect();
        for r in book.history.values().filter(|r| r.status == "firing") {
            let k = episode(r);
            if !live.contains(&k) && !resolved.contains(&k) && !book.firing.contains_key(&k) {
                ended.entry(k).or_insert_with(|| r.clone());
            }
        }
        ended
            .into_values()
            .map(|mut r| {
                r.status = "resolved".into();
                r.ends_at = Some(now.clone());
                r.updated = now.clone();
                r
            })
            .collect()
    }

    /// An alert Event seen (watched, or just written by this console).
    pub fn seen(&self, e: &Event) {
        let Some(row) = row_of_event(e) else { return };
        let mut book = self.write();
        book.history.insert(event_key(e), row);
        while book.history.len() > MAX_HISTORY {
            let oldest = book
                .history
                .iter()
                .min_by(|a, b| a.1.updated.cmp(&b.1.updated))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => book.history.remove(&k),
                None => break,
            };
        }
    }

    pub fn forget(&self, e: &Event) {
        self.write().history.remove(&event_key(e));
    }

    /// After a watch (re)list: the alert Events that exist now.
    pub fn replace_history(&self, events: &[Event]) {
        let history = events
            .iter()
            .filter_map(|e| Some((event_key(e), row_of_event(e)?)))
            .collect();
        self.write().history = history;
    }

    /// The alerts firing now as Alertmanager told (webhook or API), without the history.
    pub fn firing(&self) -> Vec<AlertRow> {
        self.read().firing.values().cloned().collect()
    }

    /// One row per episode: firing now (live state wins), else resolved, else firing as its
    /// last Event says.
    pub fn rows(&self) -> Vec<AlertRow> {
        let book = self.read();
        let mut out: BTreeMap<Episode, AlertRow> = BTreeMap::new();
        for r in book.history.values().filter(|r| r.status == "firing") {
            out.insert(episode(r), r.clone());
        }
        for r in book.history.values().filter(|r| r.status == "resolved") {
            out.insert(episode(r), r.clone());
        }
        for (k, r) in &book.firing {
            out.insert(k.clone(), r.clone());
        }
        out.into_values().collect()
    }
}

fn event_key(e: &Event) -> String {
    format!(
        "{}/{}",
        e.metadata.namespace.as_deref().unwrap_or_default(),
        e.metadata.name.as_deref().unwrap_or_default()
    )
}

/// `wharf-alert-<20 hex of sha256(id, startsAt)>-firing|resolved`: one name per episode and phase.
pub fn event_name(r: &AlertRow) -> String {
    use sha2::Digest;
    let (id, starts) = episode(r);
    let digest = sha2::Sha256::digest(format!("{id}\n{starts}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!(
        "wharf-alert-{hex}-{}",
        if r.status == "resolved" {
            "resolved"
        } else {
            "firing"
        }
    )
}

fn time(rfc3339: &str) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
    let t = DateTime::parse_from_rfc3339(rfc3339).ok()?;
    let ts =
        k8s_openapi::jiff::Timestamp::from_nanosecond(t.timestamp_nanos_opt()? as i128).ok()?;
    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts))
}

/// The Event recording a row's phase (`None`: the alert names no namespace).
pub fn alert_event(r: &AlertRow) -> Option<Event> {
    if r.namespace.is_empty() {
        return None;
    }
    let resolved = r.status == "resolved";
    let (kind, name) = if !r.pod.is_empty() {
        ("Pod", r.pod.as_str())
    } else if !r.app.is_empty() {
        ("Deployment", r.app.as_str())
    } else {
        ("Namespace", r.namespace.as_str())
    };
    let api_version = if kind == "Deployment" {
        "apps/v1"
    } else {
        "v1"
    };
    let first = time(&r.starts_at);
    let last = if resolved {
        r.ends_at.as_deref().and_then(time)
    } else {
        None
    }
    .or_else(|| time(&r.updated))
    .or(first.clone());
    let annotations = BTreeMap::from([
        (format!("{ANN}id"), r.id.clone()),
        (format!("{ANN}name"), r.name.clone()),
        (format!("{ANN}app"), r.app.clone()),
        (format!("{ANN}pod"), r.pod.clone()),
        (format!("{ANN}summary"), r.summary.clone()),
        (format!("{ANN}starts-at"), r.starts_at.clone()),
        (
            format!("{ANN}ends-at"),
            r.ends_at.clone().unwrap_or_default(),
        ),
        (format!("{ANN}updated"), r.updated.clone()),
    ]);
    let what = if r.summary.is_empty() {
        r.name.clone()
    } else {
        format!("{}: {}", r.name, r.summary)
    };
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": event_name(r),
            "namespace": r.namespace,
            "labels": {ALERT_LABEL: if resolved { "resolved" } else { "firing" }},
            "annotations": annotations,
        },
        "involvedObject": {"kind": kind, "apiVersion": api_version, "namespace": r.namespace, "name": name},
        "reason": if resolved { "AlertResolved" } else { "AlertFiring" },
        "message": if resolved { format!("resolved: {what}") } else { what },
        "type": if resolved { "Normal" } else { "Warning" },
        "source": {"component": "wharf.dev/alerts"},
        "firstTimestamp": first,
        "lastTimestamp": last,
        "count": 1,
    }))
    .ok()
}

/// The row an alert Event holds (`None`: not one of the console's).
pub fn row_of_event(e: &Event) -> Option<AlertRow> {
    let phase = e.metadata.labels.as_ref()?.get(ALERT_LABEL)?.clone();
    let empty = BTreeMap::new();
    let ann = e.metadata.annotations.as_ref().unwrap_or(&empty);
    let get = |k: &str| ann.get(&format!("{ANN}{k}")).cloned().unwrap_or_default();
    let ends = get("ends-at");
    Some(AlertRow {
        id: get("id"),
        name: get("name"),
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        app: get("app"),
        pod: get("pod"),
        status: if phase == "resolved" {
            "resolved".into()
        } else {
            "firing".into()
        },
        summary: get("summary"),
        starts_at: get("starts-at"),
        ends_at: (!ends.is_empty()).then_some(ends),
        updated: get("updated"),
        silenced_by: Vec::new(),
    })
}

/// Writes the Events of `rows` whose namespace belongs to a tenant (`owned`); an Event that
/// exists already is left as it is. Failures are logged, not returned: Alertmanager must not
/// be told to retry because the cluster refused a record.
pub async fn write_events(
    client: &kube::Client,
    book: &AlertBook,
    rows: &[AlertRow],
    owned: impl Fn(&str) -> bool,
) {
    use kube::api::{Api, PostParams};
    for r in rows {
        if !owned(&r.namespace) {
            continue;
        }
        let Some(event) = alert_event(r) else {
            continue;
        };
        let api: Api<Event> = Api::namespaced(client.clone(), &r.namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => book.seen(&event),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                tracing::warn!(namespace = %r.namespace, alert = %r.name, error = %e, "could not record an alert Event");
                book.seen(&event);
            }
        }
    }
}

/// Alertmanager's firing alerts (`GET /api/v2/alerts`), as rows.
pub async fn firing(
    http: &reqwest::Client,
    alertmanager_url: &str,
) -> Result<Vec<AlertRow>, AppError> {
    let url = alertmanager_url.trim_end_matches('/');
    let unreachable = |e: &dyn std::fmt::Display| {
        AppError::Unavailable(text!(
            "Alertmanager at {url} is not reachable ({e})",
            "无法连接 Alertmanager({url}):{e}"
        ))
    };
    let cause = |e: reqwest::Error| super::cause(&e);
    let res = http
        .get(format!("{url}/api/v2/alerts"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| unreachable(&cause(e)))?;
    if !res.status().is_success() {
        return Err(unreachable(&format!("it answers {}", res.status())));
    }
    let body: serde_json::Value = res.json().await.map_err(|e| unreachable(&cause(e)))?;
    let now = Utc::now().to_rfc3339();
    Ok(body
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| row_of(a, &now))
        .collect())
}

/// Re-reads the firing alerts from Alertmanager and records the episodes that ended unseen.
pub async fn resync(state: &crate::state::AppState) -> Result<usize, AppError> {
    let Some(url) = state.settings.monitoring.alertmanager_url.as_deref() else {
        return Ok(0);
    };
    let asked = Utc::now();
    let listed = firing(&state.monitoring.http, url).await?;
    let n = listed.len();
    let ended = state.monitoring.alerts.reconcile(listed, asked);
    if !ended.is_empty() {
        tracing::info!(
            count = ended.len(),
            "alerts Alertmanager no longer lists; recording them as resolved"
        );
    }
    let owned = owned_namespaces(state);
    write_events(&state.client, &state.monitoring.alerts, &ended, |ns| {
        owned.contains(ns)
    })
    .await;
    Ok(n)
}

/// Every namespace that belongs to a tenant.
pub fn owned_namespaces(state: &crate::state::AppState) -> BTreeSet<String> {
    state
        .cache
        .tenants()
        .iter()
        .flat_map(|t| t.spec.namespaces.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: &str, fp: &str, starts: &str) -> serde_json::Value {
        serde_json::json!({"status": status, "fingerprint": fp, "labels": {"alertname": "WharfThreadsHigh", "namespace": "alpha", "pod": "orders-1-a", "wharf_app": "orders"},
            "annotations": {"summary": "hot"}, "startsAt": starts, "endsAt": if status == "resolved" { "2024-01-01T00:05:00Z" } else { "0001-01-01T00:00:00Z" }})
    }

    #[test]
    fn the_book_keeps_the_latest_state_of_each_episode() {
        let book = AlertBook::default();
        let rows = book.record(
            &serde_json::json!({"alerts": [alert("firing", "f1", "2024-01-01T00:00:00Z")]}),
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(book.rows()[0].status, "firing");
        assert_eq!(book.rows()[0].ends_at, None);
        let resolved = book.record(
            &serde_json::json!({"alerts": [alert("resolved", "f1", "2024-01-01T00:00:00Z")]}),
        );
        assert_eq!(resolved[0].ends_at.as_deref(), Some("2024-01-01T00:05:00Z"));
        // the resolved state lives in its Event (watched back in); the firing one is gone
        assert!(book.rows().is_empty());
        book.seen(&alert_event(&resolved[0]).unwrap());
        assert_eq!(book.rows().len(), 1);
        assert_eq!(book.rows()[0].status, "resolved");
    }

    #[test]
    fn an_event_round_trips_to_its_row_and_is_named_per_episode() {
        let now = "2024-01-01T00:01:00+00:00";
        let r = row_of(&alert("firing", "f1", "2024-01-01T00:00:00Z"), now);
        let e = alert_event(&r).unwrap();
        assert_eq!(e.reason.as_deref(), Some("AlertFiring"));
        assert_eq!(e.involved_object.name.as_deref(), Some("orders-1-a"));
        assert_eq!(row_of_event(&e).unwrap(), r);
        // the API's time format and the webhook's name the same episode
        let same = row_of(&alert("firing", "f1", "2024-01-01T00:00:00.000Z"), now);
        assert_eq!(event_name(&same), event_name(&r));
        let later = row_of(&alert("firing", "f1", "2024-01-01T01:00:00Z"), now);
        assert_ne!(event_name(&later), event_name(&r));
        let mut resolved = r.clone();
        resolved.status = "resolved".into();
        assert!(event_name(&resolved).ends_with("-resolved"));
        assert!(event_name(&r).len() <= 63);
        let no_ns = AlertRow {
            namespace: String::new(),
            ..r
        };
        assert!(alert_event(&no_ns).is_none());
    }

    #[test]
    fn a_restarted_console_learns_what_ended_while_it_was_away() {
        let book = AlertBook::default();
        let now = Utc::now().to_rfc3339();
        // history from the cluster: two episodes started, none resolved
        let a = row_of(&alert("firing", "a", "2024-01-01T00:00:00Z"), &now);
        let b = row_of(&alert("firing", "b", "2024-01-01T00:00:00Z"), &now);
        book.replace_history(&[alert_event(&a).unwrap(), alert_event(&b).unwrap()]);
        assert_eq!(
            book.rows().iter().filter(|r| r.status == "firing").count(),
            2
        );
        // Alertmanager still lists b only: a ended unseen
        let ended = book.reconcile(vec![b.clone()], Utc::now());
        assert_eq!(ended.len(), 1);
        assert_eq!(
            (ended[0].id.as_str(), ended[0].status.as_str()),
            ("a", "resolved")
        );
        assert!(ended[0].ends_at.is_some());
        book.seen(&alert_event(&ended[0]).unwrap());
        let rows = book.rows();
        assert_eq!(
            rows.iter().find(|r| r.id == "a").unwrap().status,
            "resolved"
        );
        assert_eq!(rows.iter().find(|r| r.id == "b").unwrap().status, "firing");
        // nothing more ends while Alertmanager keeps listing b
        assert!(book.reconcile(vec![b], Utc::now()).is_empty());
    }

    #[test]
    fn the_api_tells_which_firing_alerts_are_silenced() {
        let book = AlertBook::default();
        book.record(
            &serde_json::json!({"alerts": [alert("firing", "f1", "2024-01-01T00:00:00Z")]}),
        );
        assert!(!book.rows()[0].silenced());
        let mut listed = alert("active", "f1", "2024-01-01T00:00:00Z");
        listed["status"] =
            serde_json::json!({"state": "suppressed", "silencedBy": ["s-1"], "inhibitedBy": []});
        let now = Utc::now().to_rfc3339();
        assert!(book
            .reconcile(vec![row_of(&listed, &now)], Utc::now())
            .is_empty());
        assert_eq!(book.rows()[0].silenced_by, vec!["s-1"]);
        assert!(book.rows()[0].silenced());
        // the silence expired: the API lists it without, and the row follows
        listed["status"] =
            serde_json::json!({"state": "active", "silencedBy": [], "inhibitedBy": []});
        book.reconcile(vec![row_of(&listed, &now)], Utc::now());
        assert!(!book.rows()[0].silenced());
    }

    #[test]
    fn an_alert_heard_of_after_the_list_was_asked_is_not_resolved_by_it() {
        let book = AlertBook::default();
        let asked = Utc::now() - chrono::Duration::seconds(5);
        book.record(
            &serde_json::json!({"alerts": [alert("firing", "new", "2024-01-01T00:00:00Z")]}),
        );
        assert!(book.reconcile(vec![], asked).is_empty());
        assert_eq!(
            book.reconcile(vec![], Utc::now() + chrono::Duration::seconds(1))
                .len(),
            1
        );
    }
}
