//! Server side of monitoring: the panels' PromQL (built here, then scoped by
//! [`super::promql::scope_query`] like any hand-written query), Prometheus' range API, the
//! rule files (see [`super::rules`]), and the alerts Alertmanager posts to the webhook.

use super::promql::{quote, scope_query, ScopeError};
use super::rules::{self, RuleStore};
use super::{AlertRow, AlertThresholds, Panel, PanelData, Series, Target, Thresholds, POINTS, RANGES};
use crate::auth::ssr::{forbidden, TenantScope};
use crate::error::AppError;
use crate::state::AppState;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Most series a chart returns (a tenant-wide panel of a big tenant is cut, not sent whole).
pub const MAX_SERIES: usize = 100;

/// A shared secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Self {
        Token(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, other: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), other.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Where Prometheus and the rule files are; all unset means monitoring is off (dashboards
/// say so, thresholds are refused with that reason).
#[derive(Clone, Debug, Default)]
pub struct MonitoringSettings {
    pub prometheus_url: Option<String>,
    pub alertmanager_url: Option<String>,
    /// Prometheus loads `<rules_dir>/*.rules.yml`.
    pub rules_dir: Option<PathBuf>,
    /// `promtool` (default: found on PATH).
    pub promtool: Option<PathBuf>,
    /// Alertmanager sends `Authorization: Bearer <token>` to `/hooks/alertmanager`; without
    /// a token the webhook refuses everything.
    pub webhook_token: Option<Token>,
}

impl MonitoringSettings {
    pub fn rule_store(&self) -> Result<RuleStore, AppError> {
        match (&self.rules_dir, &self.prometheus_url) {
            (Some(dir), Some(url)) => Ok(RuleStore { dir: dir.clone(), prometheus_url: url.clone(), promtool: self.promtool.clone().unwrap_or_else(|| "promtool".into()) }),
            _ => Err(AppError::Invalid("alerts need Prometheus, and this console has none configured (wharf serve --prometheus-url … --rules-dir …)".into())),
        }
    }
}

/// Alerts as the webhook received them, by fingerprint. Kept in memory: Alertmanager
/// re-sends firing alerts on its repeat interval, so a restarted console catches up.
#[derive(Clone, Default)]
pub struct AlertBook(Arc<RwLock<BTreeMap<String, AlertRow>>>);

/// Most alerts kept; the oldest resolved ones go first.
const MAX_ALERTS: usize = 10_000;

impl AlertBook {
    /// Records an Alertmanager webhook payload (version 4); returns how many alerts it held.
    pub fn record(&self, payload: &serde_json::Value) -> usize {
        let now = chrono::Utc::now().to_rfc3339();
        let alerts = payload["alerts"].as_array().cloned().unwrap_or_default();
        let mut book = self.0.write().unwrap_or_else(|p| p.into_inner());
        for a in &alerts {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let labels = &a["labels"];
            let id = match a["fingerprint"].as_str() {
                Some(f) if !f.is_empty() => f.to_string(),
                _ => format!("{}/{}/{}", s(&labels["alertname"]), s(&labels["namespace"]), s(&labels["pod"])),
            };
            let status = if a["status"] == "resolved" { "resolved" } else { "firing" };
            let ends = s(&a["endsAt"]);
            book.insert(
                id.clone(),
                AlertRow {
                    id,
                    name: s(&labels["alertname"]),
                    namespace: s(&labels["namespace"]),
                    app: s(&labels["wharf_app"]),
                    pod: s(&labels["pod"]),
                    status: status.into(),
                    summary: s(&a["annotations"]["summary"]),
                    starts_at: s(&a["startsAt"]),
                    ends_at: (status == "resolved" && !ends.starts_with("0001")).then_some(ends),
                    updated: now.clone(),
                },
            );
        }
        while book.len() > MAX_ALERTS {
            let oldest = book.iter().filter(|(_, r)| r.status == "resolved").min_by(|a, b| a.1.updated.cmp(&b.1.updated)).map(|(k, _)| k.clone());
            match oldest.or_else(|| book.keys().next().cloned()) {
                Some(k) => book.remove(&k),
                None => break,
            };
        }
        alerts.len()
    }

    pub fn rows(&self) -> Vec<AlertRow> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}

/// Monitoring's share of `AppState`: the alert book and one HTTP client for Prometheus.
#[derive(Clone)]
pub struct Monitoring {
    pub alerts: AlertBook,
    pub http: reqwest::Client,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring { alerts: AlertBook::default(), http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default() }
    }
}

fn scope_err(e: ScopeError) -> AppError {
    match e {
        ScopeError::Invalid(m) => AppError::Invalid(format!("PromQL: {m}")),
        ScopeError::Forbidden(m) => forbidden(m),
    }
}

/// A panel's PromQL before scoping: `sel` are the target's own matchers.
pub fn panel_query(panel: Panel, sel: &str, by: &str) -> String {
    let c = if sel.is_empty() { "container!=\"\"".to_string() } else { format!("{sel},container!=\"\"") };
    match panel {
        Panel::Cpu => format!("sum by ({by}) (rate(container_cpu_usage_seconds_total{{{c}}}[1m]))"),
        Panel::Memory => format!("sum by ({by}) (container_memory_working_set_bytes{{{c}}})"),
        Panel::Threads => format!("sum by ({by}) (container_threads{{{c}}})"),
        Panel::Sockets => format!("sum by ({by}) (container_sockets{{{c}}})"),
        Panel::Fds => format!("sum by ({by}) (container_file_descriptors{{{c}}})"),
        Panel::NetIn => format!("sum by ({by}) (rate(container_network_receive_bytes_total{{{sel}}}[1m]))"),
        Panel::NetOut => format!("sum by ({by}) (rate(container_network_transmit_bytes_total{{{sel}}}[1m]))"),
        Panel::Restarts => format!("sum by ({by}) (kube_pod_container_status_restarts_total{{{sel}}})"),
    }
}

fn minutes_ok(minutes: u32) -> Result<u32, AppError> {
    if RANGES.iter().any(|(m, _)| *m == minutes) || (15..=10080).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(AppError::Invalid(format!("time range: {minutes} minutes is outside 15 minutes to 7 days")))
    }
}

/// Reads a CPU quantity in cores (`500m`, `1`, `1.5`).
pub fn cores(q: &str) -> Option<f64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse::<f64>().ok().map(|v| v / 1000.0),
        None => q.parse().ok(),
    }
}

/// Reads a memory quantity in bytes (`512Mi`, `1G`, `1000`).
pub fn bytes(q: &str) -> Option<f64> {
    const UNITS: &[(&str, f64)] = &[("Ki", 1024.0), ("Mi", 1048576.0), ("Gi", 1073741824.0), ("Ti", 1099511627776.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)];
    for (u, f) in UNITS {
        if let Some(n) = q.strip_suffix(u) {
            return n.parse::<f64>().ok().map(|v| v * f);
        }
    }
    q.parse().ok()
}

/// The threshold line of an app's panel, in the panel's unit.
fn threshold_line(state: &AppState, namespace: &str, app: &str, panel: Panel) -> Option<f64> {
    let dir = state.settings.monitoring.rules_dir.as_ref()?;
    let t = rules::read(dir, namespace, app).ok()?;
    let limit = |f: fn(&k8s_openapi::api::core::v1::ResourceRequirements) -> Option<String>| -> Option<String> {
        let d = state.cache.deployments.get(&kube::runtime::reflector::ObjectRef::new(app).within(namespace))?;
        let c = d.spec.as_ref()?.template.spec.as_ref()?.containers.first()?.resources.clone()?;
        f(&c)
    };
    match panel {
        Panel::Threads => t.threads.parse().ok(),
        Panel::Sockets => t.sockets.parse().ok(),
        Panel::Cpu => {
            let pct: f64 = t.cpu_percent.parse().ok()?;
            Some(cores(&limit(|r| r.limits.as_ref()?.get("cpu").map(|q| q.0.clone()))?)? * pct / 100.0)
        }
        Panel::Memory => {
            let pct: f64 = t.memory_percent.parse().ok()?;
            Some(bytes(&limit(|r| r.limits.as_ref()?.get("memory").map(|q| q.0.clone()))?)? * pct / 100.0)
        }
        _ => None,
    }
}

pub async fn panel(state: &AppState, scope: &TenantScope, panel: Panel, target: &Target, minutes: u32) -> Result<PanelData, AppError> {
    let minutes = minutes_ok(minutes)?;
    let (sel, by, threshold) = match target {
        Target::Tenant => (String::new(), "namespace, pod", None),
        Target::App { namespace, name } => {
            let ns = scope.namespace(namespace)?;
            crate::workloads::validate::name("app", name).map_err(AppError::Invalid)?;
            (format!("namespace={},pod=~{}", quote(ns), quote(&rules::pod_pattern(name))), "pod", threshold_line(state, ns, name, panel))
        }
        Target::Pod { namespace, name } => {
            let ns = scope.namespace(namespace)?;
            (format!("namespace={},pod={}", quote(ns), quote(name)), "pod", None)
        }
    };
    let query = panel_query(panel, &sel, by);
    let mut data = range(state, scope, &query, minutes).await?;
    data.threshold = threshold;
    Ok(data)
}

pub async fn promql(state: &AppState, scope: &TenantScope, query: &str, minutes: u32) -> Result<PanelData, AppError> {
    range(state, scope, query, minutes_ok(minutes)?).await
}

/// Scopes `query` to the tenant, then asks Prometheus for the last `minutes`.
async fn range(state: &AppState, scope: &TenantScope, query: &str, minutes: u32) -> Result<PanelData, AppError> {
    let scoped = scope_query(query, scope.namespaces()).map_err(scope_err)?;
    let end = chrono::Utc::now().timestamp();
    let start = end - i64::from(minutes) * 60;
    let step = (i64::from(minutes) * 60 / i64::from(POINTS)).max(2);
    let Some(url) = state.settings.monitoring.prometheus_url.as_deref() else {
        return Ok(PanelData { start, end, notice: Some("Monitoring is not configured: no Prometheus URL.".into()), ..Default::default() });
    };
    let url = url.trim_end_matches('/');
    let form = [("query", scoped.clone()), ("start", start.to_string()), ("end", end.to_string()), ("step", step.to_string())];
    let res = state
        .monitoring
        .http
        .post(format!("{url}/api/v1/query_range"))
        .form(&form)
        .send()
        .await
        .map_err(|e| AppError::Internal(format!("Prometheus at {url} is not reachable ({e})")))?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.map_err(|e| AppError::Internal(format!("Prometheus answered {status} with something unreadable ({e})")))?;
    if body["status"] != "success" {
        let msg = body["error"].as_str().unwrap_or("unknown error");
        return Err(if status.is_client_error() { AppError::Invalid(format!("Prometheus: {msg}")) } else { AppError::Internal(format!("Prometheus: {msg}")) });
    }
    let mut series: Vec<Series> = Vec::new();
    for r in body["data"]["result"].as_array().into_iter().flatten().take(MAX_SERIES) {
        let metric = r["metric"].as_object().cloned().unwrap_or_default();
        let label = match (metric.get("namespace").and_then(|v| v.as_str()), metric.get("pod").and_then(|v| v.as_str())) {
            (Some(ns), Some(pod)) if metric.len() == 2 => format!("{ns}/{pod}"),
            (_, Some(pod)) if metric.len() == 1 => pod.to_string(),
            _ if metric.is_empty() => "value".to_string(),
            _ => {
                let pairs: Vec<String> = metric.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
                format!("{{{}}}", pairs.join(", "))
            }
        };
        let values = r["values"].as_array().map(|v| v.as_slice()).unwrap_or_default();
        let points = values
            .iter()
            .filter_map(|p| Some((p[0].as_f64()? as i64, p[1].as_str()?.parse::<f64>().ok().filter(|v| v.is_finite())?)))
            .collect();
        series.push(Series { label, points });
    }
    series.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(PanelData { series, threshold: None, start, end, notice: None })
}

pub async fn thresholds_of(state: &AppState, scope: &TenantScope, namespace: &str, app: &str) -> Result<AlertThresholds, AppError> {
    let ns = scope.namespace(namespace)?;
    crate::workloads::validate::name("app", app).map_err(AppError::Invalid)?;
    match &state.settings.monitoring.rules_dir {
        Some(dir) => rules::read(dir, ns, app),
        None => Ok(AlertThresholds::default()),
    }
}

/// Checks, then writes/loads an app's rule file.
pub async fn set_thresholds(state: &AppState, scope: &TenantScope, namespace: &str, app: &str, t: &AlertThresholds) -> Result<(), AppError> {
    let ns = scope.namespace(namespace)?;
    crate::workloads::validate::name("app", app).map_err(AppError::Invalid)?;
    let parsed: Thresholds = t.parse().map_err(|e| AppError::Invalid(e.join("; ")))?;
    let store = state.settings.monitoring.rule_store()?;
    store.apply(&state.monitoring.http, ns, app, &parsed).await
}

pub fn alerts(state: &AppState, scope: &TenantScope, namespace: Option<&str>, app: Option<&str>) -> Result<Vec<AlertRow>, AppError> {
    if let Some(ns) = namespace {
        scope.namespace(ns)?;
    }
    let mut rows: Vec<AlertRow> = state
        .monitoring
        .alerts
        .rows()
        .into_iter()
        .filter(|r| scope.contains(&r.namespace))
        .filter(|r| namespace.is_none_or(|ns| r.namespace == ns))
        .filter(|r| app.is_none_or(|a| r.app == a))
        .collect();
    rows.sort_by(|a, b| (a.status != "firing", std::cmp::Reverse(&a.updated)).cmp(&(b.status != "firing", std::cmp::Reverse(&b.updated))));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_panel_query_scopes_cleanly() {
        let ns = vec!["alpha".to_string(), "alpha-dev".to_string()];
        for p in Panel::ALL {
            for sel in ["", "namespace=\"alpha\",pod=~\"orders-[a-z0-9]+-[a-z0-9]+\"", "namespace=\"alpha\",pod=\"x-1\""] {
                let q = panel_query(p, sel, "pod");
                let out = scope_query(&q, &ns).unwrap_or_else(|e| panic!("{q}: {e}"));
                assert!(out.contains("namespace=~"), "{out}");
            }
        }
    }

    #[test]
    fn the_book_keeps_the_latest_state_of_each_alert() {
        let book = AlertBook::default();
        let firing = serde_json::json!({"alerts": [{"status": "firing", "fingerprint": "f1", "labels": {"alertname": "WharfThreadsHigh", "namespace": "alpha", "pod": "orders-1", "wharf_app": "orders"},
            "annotations": {"summary": "hot"}, "startsAt": "2024-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]});
        assert_eq!(book.record(&firing), 1);
        assert_eq!(book.rows()[0].status, "firing");
        assert_eq!(book.rows()[0].ends_at, None);
        let mut resolved = firing.clone();
        resolved["alerts"][0]["status"] = "resolved".into();
        resolved["alerts"][0]["endsAt"] = "2024-01-01T00:05:00Z".into();
        book.record(&resolved);
        assert_eq!(book.rows().len(), 1);
        assert_eq!(book.rows()[0].status, "resolved");
    }

    #[test]
    fn quantities_read() {
        assert_eq!(cores("500m"), Some(0.5));
        assert_eq!(cores("2"), Some(2.0));
        assert_eq!(bytes("512Mi"), Some(512.0 * 1048576.0));
        assert_eq!(bytes("1G"), Some(1e9));
    }

    #[test]
    fn tokens_compare_whole() {
        let t = Token::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3creT"));
        assert_eq!(format!("{t:?}"), "Token(..)");
    }
}
