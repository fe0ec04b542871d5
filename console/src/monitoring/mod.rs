//! Server side of monitoring: the panels' PromQL (built here, then scoped by
//! [`crate::monitoring::promql::scope_query`] like any hand-written query), Prometheus' range API, the
//! rule files (see [`crate::monitoring::rules`]), and the alerts Alertmanager posts to the webhook.

pub mod alertmanager;
pub mod alerts;
pub mod endpoints;
pub mod operator;
pub mod promql;
pub mod rules;
pub mod silences;

use crate::auth::{forbidden, TenantScope};
use crate::monitoring::alertmanager::{
    receivers_of, render, tenant_routes, ConfigStore, TenantRoute,
};
pub use crate::monitoring::alerts::AlertBook;
pub use crate::monitoring::operator::OperatorSettings;
use crate::monitoring::promql::{quote, scope_query, ScopeError};
use crate::monitoring::rules::RuleStore;
use crate::state::AppState;
use std::path::PathBuf;
use std::time::Duration;
use wharf_api::error::AppError;
use wharf_api::monitoring::receivers::{check_new, Receiver, ReceiverKind, ReceiversView};
use wharf_api::monitoring::{
    AlertRow, AlertThresholds, Panel, PanelData, Series, Target, Thresholds, POINTS, RANGES,
};
use wharf_api::{text, Text};

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
    /// The token Alertmanager presents for alerts of `namespace` only (an HMAC of it under
    /// this token): the operator mode keeps it in a Secret of that namespace, so whoever can
    /// read that Secret can post alerts of that namespace and no other (see the webhook).
    pub fn scoped(&self, namespace: &str) -> Token {
        use base64::Engine;
        use hmac::Mac;
        // NB: HMAC takes a key of any length
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"wharf-alert-webhook/");
        mac.update(namespace.as_bytes());
        Token(format!(
            "ns.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        ))
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

/// Where Prometheus, Alertmanager and the rule files are; all unset means monitoring is off
/// (dashboards say so, thresholds and receivers are refused with that reason).
#[derive(Clone, Debug)]
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
    /// Where Alertmanager reaches this console's webhook (`http://wharf:3000/hooks/alertmanager`).
    pub webhook_url: Option<String>,
    /// The Alertmanager configuration file the console renders (tenant receivers); unset:
    /// receivers cannot be added and the file is left alone.
    pub alertmanager_config: Option<PathBuf>,
    /// `amtool` (default: found on PATH; Debian's `prometheus-alertmanager` ships it).
    pub amtool: Option<PathBuf>,
    /// The mail server for e-mail receivers (unset: e-mail receivers are refused).
    pub smtp: Option<Smtp>,
    /// Alertmanager's grouping times for the rendered route.
    pub routing: RouteTiming,
    /// How often firing alerts are re-read from Alertmanager and its configuration checked
    /// against the tenants' receivers.
    pub sync_every: Duration,
    /// Where thresholds and receivers are kept: files the console renders for its own
    /// Prometheus and Alertmanager, or the Prometheus Operator's resources.
    pub alert_rules: AlertRules,
}

/// `--alert-rules`: the one setting that chooses how alert rules and receivers are kept.
#[derive(Clone, Debug, Default)]
pub enum AlertRules {
    /// A rule file per app in `rules_dir`, one Alertmanager file (`alertmanager_config`),
    /// both reloaded and confirmed by the console (the demo's way).
    #[default]
    Files,
    /// `PrometheusRule` and `AlertmanagerConfig` objects the operator loads (see
    /// [`operator`]); `rules_dir` and `alertmanager_config` are not used.
    Operator(OperatorSettings),
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            prometheus_url: None,
            alertmanager_url: None,
            rules_dir: None,
            promtool: None,
            webhook_token: None,
            webhook_url: None,
            alertmanager_config: None,
            amtool: None,
            smtp: None,
            routing: RouteTiming::default(),
            sync_every: Duration::from_secs(30),
            alert_rules: AlertRules::Files,
        }
    }
}

/// SMTP for e-mail receivers (Alertmanager's `global.smtp_*`).
#[derive(Clone, Debug)]
pub struct Smtp {
    /// `host:port`.
    pub smarthost: String,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<Token>,
    /// Insist on STARTTLS (Alertmanager's default).
    pub require_tls: bool,
}

/// `group_wait`, `group_interval`, `repeat_interval` of the rendered route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTiming {
    pub group_wait: String,
    pub group_interval: String,
    pub repeat_interval: String,
}

impl Default for RouteTiming {
    /// Alertmanager's own defaults.
    fn default() -> Self {
        RouteTiming {
            group_wait: "30s".into(),
            group_interval: "5m".into(),
            repeat_interval: "4h".into(),
        }
    }
}

impl MonitoringSettings {
    /// Where this console keeps alert thresholds, or why it cannot.
    pub fn rule_store(&self) -> Result<Rules, AppError> {
        if let AlertRules::Operator(o) = &self.alert_rules {
            return Ok(Rules::Operator(o.clone()));
        }
        match (&self.rules_dir, &self.prometheus_url) {
            (Some(dir), Some(url)) => Ok(Rules::Files(RuleStore { dir: dir.clone(), prometheus_url: url.clone(), promtool: self.promtool.clone().unwrap_or_else(|| "promtool".into()) })),
            _ => Err(AppError::Invalid(text!(
                "alerts need Prometheus, and this console has none configured (wharf serve --prometheus-url … --rules-dir …, or --alert-rules operator)",
                "告警需要 Prometheus,而本控制台未配置(wharf serve --prometheus-url … --rules-dir …,或 --alert-rules operator)"
            ))),
        }
    }

    /// Where this console keeps tenants' receivers (`None`: it does not manage them).
    fn receiver_sink(&self) -> Option<ReceiverSink<'_>> {
        match &self.alert_rules {
            AlertRules::Files => ConfigStore::of(self).map(ReceiverSink::File),
            AlertRules::Operator(o) => Some(ReceiverSink::Operator(o)),
        }
    }
}

/// An app's alert thresholds, kept one way or the other (see [`AlertRules`]).
pub enum Rules {
    Files(RuleStore),
    Operator(OperatorSettings),
}

impl Rules {
    /// Saves an app's thresholds and confirms Prometheus loaded them; on failure the previous
    /// ones stay (see [`rules`] and [`operator`]).
    pub async fn apply(
        &self,
        state: &AppState,
        namespace: &str,
        app: &str,
        t: &Thresholds,
    ) -> Result<(), AppError> {
        match self {
            Rules::Files(store) => {
                store
                    .apply(
                        &state.monitoring.rules_lock,
                        &state.monitoring.http,
                        namespace,
                        app,
                        t,
                    )
                    .await
            }
            Rules::Operator(o) => operator::apply_thresholds(state, o, namespace, app, t).await,
        }
    }
}

/// Where tenants' receivers go: Alertmanager's file, or an `AlertmanagerConfig` per namespace.
enum ReceiverSink<'a> {
    File(ConfigStore<'a>),
    Operator(&'a OperatorSettings),
}

impl ReceiverSink<'_> {
    /// Puts every tenant's receivers in place; `force`: even if the file looks current.
    /// `Ok(true)`: something changed. Call with `alertmanager_lock` held.
    async fn apply(
        &self,
        state: &AppState,
        routes: &[TenantRoute],
        force: bool,
    ) -> Result<bool, AppError> {
        let s = &state.settings.monitoring;
        match self {
            ReceiverSink::File(store) => {
                let text = render(s, routes)?;
                if !force && store.current() == text {
                    return Ok(false);
                }
                store.apply(&state.monitoring.http, &text).await?;
                Ok(true)
            }
            ReceiverSink::Operator(o) => operator::converge_receivers(state, o, routes).await,
        }
    }
}

/// Monitoring's share of `AppState`: the alert book and one HTTP client for Prometheus and
/// Alertmanager.
#[derive(Clone)]
pub struct Monitoring {
    pub alerts: AlertBook,
    pub http: reqwest::Client,
    /// Held while the rule files are replaced and confirmed, so two changes cannot interleave.
    pub rules_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Held while Alertmanager's configuration is read, rendered and replaced (by a server
    /// function or the periodic check), so two changes cannot interleave.
    pub alertmanager_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            alerts: AlertBook::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            rules_lock: Default::default(),
            alertmanager_lock: Default::default(),
        }
    }
}

/// The innermost cause of an HTTP client error ("Connection refused (os error 111)" rather
/// than "error sending request for url …").
pub fn cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        last = s.to_string();
        next = s.source();
    }
    last
}

fn scope_err(e: ScopeError) -> AppError {
    match e {
        ScopeError::Invalid(m) => AppError::Invalid(text!("PromQL: {m}", "PromQL:{m}")),
        ScopeError::Forbidden(m) => forbidden(m),
    }
}

/// A panel's PromQL before scoping: `sel` are the target's own matchers.
pub fn panel_query(panel: Panel, sel: &str, by: &str) -> String {
    let c = if sel.is_empty() {
        "container!=\"\"".to_string()
    } else {
        format!("{sel},container!=\"\"")
    };
    match panel {
        Panel::Cpu => format!("sum by ({by}) (rate(container_cpu_usage_seconds_total{{{c}}}[1m]))"),
        Panel::Memory => format!("sum by ({by}) (container_memory_working_set_bytes{{{c}}})"),
        Panel::Threads => format!("sum by ({by}) (container_threads{{{c}}})"),
        Panel::Sockets => format!("sum by ({by}) (container_sockets{{{c}}})"),
        Panel::Fds => format!("sum by ({by}) (container_file_descriptors{{{c}}})"),
        Panel::NetIn => {
            format!("sum by ({by}) (rate(container_network_receive_bytes_total{{{sel}}}[1m]))")
        }
        Panel::NetOut => {
            format!("sum by ({by}) (rate(container_network_transmit_bytes_total{{{sel}}}[1m]))")
        }
        Panel::Restarts => {
            format!("sum by ({by}) (kube_pod_container_status_restarts_total{{{sel}}})")
        }
        Panel::Requests | Panel::Errors | Panel::Latency => traced_query(panel, sel, by),
    }
}

/// A traced panel's PromQL (spanmetrics of the calls received), over `sel`: matchers on
/// `k8s_namespace_name` and `service_name` built by the server, summed `by`.
pub fn traced_query(panel: Panel, sel: &str, by: &str) -> String {
    let calls = |extra: &str| {
        format!(
            "sum by ({by}) (rate(traces_span_metrics_calls_total{{{sel},span_kind=\"SPAN_KIND_SERVER\"{extra}}}[1m]))"
        )
    };
    match panel {
        Panel::Errors => format!(
            "100 * ({} or 0 * {}) / {}",
            calls(",status_code=\"STATUS_CODE_ERROR\""),
            calls(""),
            calls("")
        ),
        Panel::Latency => format!(
            "1000 * histogram_quantile(0.95, sum by ({by}, le) (rate(traces_span_metrics_duration_seconds_bucket{{{sel},span_kind=\"SPAN_KIND_SERVER\"}}[1m])))"
        ),
        _ => calls(""),
    }
}

/// A traced panel: the series' namespace label is the collector's, so it is not scoped by
/// `scope_query`; the tenant's namespaces are put on `k8s_namespace_name` here instead.
async fn traced_panel(
    state: &AppState,
    scope: &TenantScope,
    panel: Panel,
    target: &Target,
    minutes: u32,
) -> Result<PanelData, AppError> {
    let (sel, by) = match target {
        Target::Tenant => (
            format!(
                "k8s_namespace_name=~{}",
                quote(&promql::alternation(scope.namespaces()))
            ),
            "k8s_namespace_name, service_name",
        ),
        Target::App { namespace, name } => {
            let ns = scope.namespace(namespace)?;
            wharf_api::workloads::validate::name(&text!("app", "应用"), name)
                .map_err(AppError::Invalid)?;
            (
                format!(
                    "k8s_namespace_name={},service_name={}",
                    quote(ns),
                    quote(name)
                ),
                "service_name",
            )
        }
        Target::Pod { namespace, .. } => {
            scope.namespace(namespace)?;
            let (start, end) = span(minutes);
            return Ok(PanelData {
                start,
                end,
                notice: Some(text!(
                    "Calls are counted per app, not per pod: pick the app.",
                    "调用按应用统计,不按 Pod:请选择应用。"
                )),
                ..Default::default()
            });
        }
    };
    if scope.namespaces().is_empty() {
        let (start, end) = span(minutes);
        return Ok(PanelData {
            start,
            end,
            ..Default::default()
        });
    }
    let mut data = fetch_range(state, &traced_query(panel, &sel, by), minutes).await?;
    if let Target::App { namespace, name } = target {
        data.threshold = threshold_line(state, namespace, name, panel).await;
    }
    if data.series.is_empty() && data.notice.is_none() {
        data.notice = Some(text!(
            "No traced calls: turn APM on for the app (its page has the switch).",
            "没有调用链数据:请在应用页面开启 APM。"
        ));
    }
    Ok(data)
}

/// Unix seconds of the last `minutes`.
fn span(minutes: u32) -> (i64, i64) {
    let end = chrono::Utc::now().timestamp();
    (end - i64::from(minutes) * 60, end)
}

fn minutes_ok(minutes: u32) -> Result<u32, AppError> {
    if RANGES.iter().any(|(m, _)| *m == minutes) || (15..=10080).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(AppError::Invalid(text!(
            "time range: {minutes} minutes is outside 15 minutes to 7 days",
            "时间范围:{minutes} 分钟不在 15 分钟到 7 天之间"
        )))
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
    const UNITS: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (u, f) in UNITS {
        if let Some(n) = q.strip_suffix(u) {
            return n.parse::<f64>().ok().map(|v| v * f);
        }
    }
    q.parse().ok()
}

/// An app's thresholds, as kept (empty when it has none, or nothing keeps them).
async fn stored_thresholds(
    state: &AppState,
    namespace: &str,
    app: &str,
) -> Result<AlertThresholds, AppError> {
    let s = &state.settings.monitoring;
    match (&s.alert_rules, &s.rules_dir) {
        (AlertRules::Operator(_), _) => {
            operator::read_thresholds(&state.client, namespace, app).await
        }
        (AlertRules::Files, Some(dir)) => rules::read(dir, namespace, app),
        (AlertRules::Files, None) => Ok(AlertThresholds::default()),
    }
}

/// The threshold line of an app's panel, in the panel's unit.
async fn threshold_line(state: &AppState, namespace: &str, app: &str, panel: Panel) -> Option<f64> {
    if !matches!(
        panel,
        Panel::Threads
            | Panel::Sockets
            | Panel::Cpu
            | Panel::Memory
            | Panel::Errors
            | Panel::Latency
    ) {
        return None;
    }
    let t = stored_thresholds(state, namespace, app).await.ok()?;
    let limit = |f: fn(&k8s_openapi::api::core::v1::ResourceRequirements) -> Option<String>| -> Option<String> {
        let d = state.cache.deployments.get(&kube::runtime::reflector::ObjectRef::new(app).within(namespace))?;
        let c = d.spec.as_ref()?.template.spec.as_ref()?.containers.first()?.resources.clone()?;
        f(&c)
    };
    match panel {
        Panel::Errors => t
            .error_percent
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse()
            .ok(),
        Panel::Latency => t.p95_ms.trim().trim_end_matches("ms").trim().parse().ok(),
        Panel::Threads => t.threads.parse().ok(),
        Panel::Sockets => t.sockets.parse().ok(),
        Panel::Cpu => {
            let pct: f64 = t.cpu_percent.parse().ok()?;
            Some(
                cores(&limit(|r| {
                    r.limits.as_ref()?.get("cpu").map(|q| q.0.clone())
                })?)?
                    * pct
                    / 100.0,
            )
        }
        Panel::Memory => {
            let pct: f64 = t.memory_percent.parse().ok()?;
            Some(
                bytes(&limit(|r| {
                    r.limits.as_ref()?.get("memory").map(|q| q.0.clone())
                })?)?
                    * pct
                    / 100.0,
            )
        }
        _ => None,
    }
}

/// The app (Deployment) a pod belongs to: its `app` label, or its ReplicaSet owner without
/// the template hash, if that Deployment exists; else the Deployment its name is made from.
pub fn app_of_pod(state: &AppState, namespace: &str, pod: &str) -> Option<String> {
    use kube::runtime::reflector::ObjectRef;
    let exists = |app: &str| {
        state
            .cache
            .deployments
            .get(&ObjectRef::new(app).within(namespace))
            .is_some()
    };
    if let Some(p) = state.cache.pods.get(&ObjectRef::new(pod).within(namespace)) {
        if let Some(app) = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .filter(|a| exists(a))
        {
            return Some(app.clone());
        }
        for o in p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|o| o.kind == "ReplicaSet")
        {
            if let Some((app, _hash)) = o.name.rsplit_once('-') {
                if exists(app) {
                    return Some(app.to_string());
                }
            }
        }
    }
    // NB: a pod that is gone still has series; its name says whose it was
    let mut parts: Vec<&str> = pod.rsplitn(3, '-').collect();
    if parts.len() == 3 {
        let app = parts.pop().unwrap_or_default();
        if exists(app) {
            return Some(app.to_string());
        }
    }
    None
}

pub async fn panel(
    state: &AppState,
    scope: &TenantScope,
    panel: Panel,
    target: &Target,
    minutes: u32,
) -> Result<PanelData, AppError> {
    let minutes = minutes_ok(minutes)?;
    if panel.traced() {
        return traced_panel(state, scope, panel, target, minutes).await;
    }
    let (sel, by, threshold) = match target {
        Target::Tenant => (String::new(), "namespace, pod", None),
        Target::App { namespace, name } => {
            let ns = scope.namespace(namespace)?;
            wharf_api::workloads::validate::name(&text!("app", "应用"), name)
                .map_err(AppError::Invalid)?;
            (
                format!(
                    "namespace={},pod=~{}",
                    quote(ns),
                    quote(&rules::pod_pattern(name))
                ),
                "pod",
                threshold_line(state, ns, name, panel).await,
            )
        }
        Target::Pod { namespace, name } => {
            let ns = scope.namespace(namespace)?;
            let threshold = match app_of_pod(state, ns, name) {
                Some(app) => threshold_line(state, ns, &app, panel).await,
                None => None,
            };
            (
                format!("namespace={},pod={}", quote(ns), quote(name)),
                "pod",
                threshold,
            )
        }
    };
    let query = panel_query(panel, &sel, by);
    let mut data = range(state, scope, &query, minutes).await?;
    data.threshold = threshold;
    Ok(data)
}

pub async fn promql(
    state: &AppState,
    scope: &TenantScope,
    query: &str,
    minutes: u32,
) -> Result<PanelData, AppError> {
    range(state, scope, query, minutes_ok(minutes)?).await
}

/// Scopes `query` to the tenant, then asks Prometheus for the last `minutes`.
async fn range(
    state: &AppState,
    scope: &TenantScope,
    query: &str,
    minutes: u32,
) -> Result<PanelData, AppError> {
    let scoped = scope_query(query, scope.namespaces()).map_err(scope_err)?;
    fetch_range(state, &scoped, minutes).await
}

/// Asks Prometheus for `query` (already scoped, or built by the server) over the last
/// `minutes`.
async fn fetch_range(state: &AppState, query: &str, minutes: u32) -> Result<PanelData, AppError> {
    let (start, end) = span(minutes);
    let step = (i64::from(minutes) * 60 / i64::from(POINTS)).max(2);
    let Some(url) = state.settings.monitoring.prometheus_url.as_deref() else {
        return Ok(PanelData {
            start,
            end,
            notice: Some(text!(
                "Monitoring is not configured: no Prometheus URL.",
                "未配置监控:没有 Prometheus 地址。"
            )),
            ..Default::default()
        });
    };
    let form = [
        ("query", query.to_string()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("step", step.to_string()),
    ];
    let data = prometheus_api(state, url, "query_range", &form).await?;
    let mut series: Vec<Series> = Vec::new();
    for r in data["result"]
        .as_array()
        .into_iter()
        .flatten()
        .take(MAX_SERIES)
    {
        let metric = r["metric"].as_object().cloned().unwrap_or_default();
        let service = (
            metric.get("k8s_namespace_name").and_then(|v| v.as_str()),
            metric.get("service_name").and_then(|v| v.as_str()),
        );
        let label = match (
            metric.get("namespace").and_then(|v| v.as_str()),
            metric.get("pod").and_then(|v| v.as_str()),
        ) {
            _ if service.1.is_some() => match service {
                (Some(ns), Some(name)) => format!("{ns}/{name}"),
                (_, name) => name.unwrap_or_default().to_string(),
            },
            (Some(ns), Some(pod)) if metric.len() == 2 => format!("{ns}/{pod}"),
            (_, Some(pod)) if metric.len() == 1 => pod.to_string(),
            _ if metric.is_empty() => "value".to_string(),
            _ => {
                let pairs: Vec<String> = metric
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                format!("{{{}}}", pairs.join(", "))
            }
        };
        let values = r["values"]
            .as_array()
            .map(|v| v.as_slice())
            .unwrap_or_default();
        let points = values
            .iter()
            .filter_map(|p| {
                Some((
                    p[0].as_f64()? as i64,
                    p[1].as_str()?
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())?,
                ))
            })
            .collect();
        series.push(Series { label, points });
    }
    series.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(PanelData {
        series,
        threshold: None,
        start,
        end,
        notice: None,
    })
}

/// Asks Prometheus' HTTP API (`endpoint`: `query`, `query_range`) and returns its `data`; a
/// refused query is the user's error (400), anything else Prometheus' (503), in both
/// languages.
async fn prometheus_api(
    state: &AppState,
    url: &str,
    endpoint: &str,
    form: &[(&str, String)],
) -> Result<serde_json::Value, AppError> {
    let url = url.trim_end_matches('/');
    let res = state
        .monitoring
        .http
        .post(format!("{url}/api/v1/{endpoint}"))
        .form(form)
        .send()
        .await
        .map_err(|e| {
            let e = cause(&e);
            AppError::Unavailable(text!(
                "Prometheus at {url} is not reachable ({e})",
                "无法连接 Prometheus({url}):{e}"
            ))
        })?;
    let status = res.status();
    let mut body: serde_json::Value = res.json().await.map_err(|e| {
        AppError::Unavailable(text!(
            "Prometheus at {url} answered {status} with something unreadable ({e})",
            "Prometheus({url})返回了 {status},但内容无法解析({e})"
        ))
    })?;
    if body["status"] != "success" {
        let msg = body["error"].as_str().unwrap_or("unknown error");
        return Err(if status.is_client_error() {
            AppError::Invalid(text!("Prometheus: {msg}", "Prometheus:{msg}"))
        } else {
            AppError::Unavailable(text!(
                "Prometheus at {url} could not answer ({status}): {msg}",
                "Prometheus({url})无法应答({status}):{msg}"
            ))
        });
    }
    Ok(body["data"].take())
}

/// An instant query built by the server (never the user's text: it is not scoped here): each
/// series' labels and value, at most [`MAX_SERIES`] × 20 of them.
pub async fn instant(
    state: &AppState,
    url: &str,
    query: String,
) -> Result<Vec<(std::collections::BTreeMap<String, String>, f64)>, AppError> {
    let data = prometheus_api(state, url, "query", &[("query", query)]).await?;
    Ok(data["result"]
        .as_array()
        .into_iter()
        .flatten()
        .take(MAX_SERIES * 20)
        .filter_map(|r| {
            let labels = r["metric"]
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            let v = r["value"][1].as_str()?.parse::<f64>().ok()?;
            Some((labels, v))
        })
        .collect())
}

pub async fn thresholds_of(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
) -> Result<AlertThresholds, AppError> {
    let ns = scope.namespace(namespace)?;
    wharf_api::workloads::validate::name(&text!("app", "应用"), app).map_err(AppError::Invalid)?;
    stored_thresholds(state, ns, app).await
}

/// Checks, then saves an app's thresholds and confirms Prometheus loaded them.
pub async fn set_thresholds(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
    t: &AlertThresholds,
) -> Result<(), AppError> {
    let ns = scope.namespace(namespace)?;
    wharf_api::workloads::validate::name(&text!("app", "应用"), app).map_err(AppError::Invalid)?;
    let parsed: Thresholds = t
        .parse()
        .map_err(|e| AppError::Invalid(Text::join(&e, "; ", ";")))?;
    let store = state.settings.monitoring.rule_store()?;
    store.apply(state, ns, app, &parsed).await
}

pub fn alerts(
    state: &AppState,
    scope: &TenantScope,
    namespace: Option<&str>,
    app: Option<&str>,
) -> Result<Vec<AlertRow>, AppError> {
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
    rows.sort_by(|a, b| {
        (a.status != "firing", std::cmp::Reverse(&a.updated))
            .cmp(&(b.status != "firing", std::cmp::Reverse(&b.updated)))
    });
    Ok(rows)
}

/// A tenant's receivers as the alerts page shows them.
pub fn receivers(state: &AppState, scope: &TenantScope) -> Result<ReceiversView, AppError> {
    let s = &state.settings.monitoring;
    let tenant = state.cache.tenant(scope.tenant()).ok_or_else(|| {
        let tenant = scope.tenant();
        AppError::NotFound(text!("tenant '{tenant}'", "租户“{tenant}”"))
    })?;
    Ok(ReceiversView {
        receivers: receivers_of(&tenant, true),
        managed: s.receiver_sink().is_some(),
        email: s.smtp.is_some(),
    })
}

fn spec_receivers(list: &[Receiver]) -> Vec<crds::AlertReceiver> {
    list.iter()
        .map(|r| crds::AlertReceiver {
            name: r.name.clone(),
            webhook_url: (r.kind == ReceiverKind::Webhook).then(|| r.to.clone()),
            email: (r.kind == ReceiverKind::Email).then(|| r.to.clone()),
        })
        .collect()
}

/// A webhook receiver's URL must lead where the egress policy allows (see `crate::egress`):
/// Alertmanager posts to it from inside the platform, so `http://127.0.0.1:9093/…` would reach
/// Alertmanager's own API and `http://169.254.169.254/…` the cloud's metadata. Every address
/// the host resolves to is checked now, when it is saved.
async fn webhook_allowed(state: &AppState, url: &str) -> Result<(), AppError> {
    let parsed = reqwest::Url::parse(url).ok();
    let Some((host, port)) = parsed.as_ref().and_then(|u| {
        let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
        Some((host.to_string(), u.port_or_known_default()?))
    }) else {
        return Err(AppError::Invalid(text!(
            "webhook URL: '{url}' is not a URL",
            "Webhook 地址:“{url}”不是有效的 URL"
        )));
    };
    crate::egress::reachable(state, &host, port)
        .await
        .map(drop)
        .map_err(|r| {
            let why = r.text();
            AppError::Forbidden(text!("webhook URL: {why}", "Webhook 地址:{why}"))
        })
}

/// Adds (`Ok(receiver)`) or removes (`Err(name)`) one receiver of the tenant: checked, then
/// Alertmanager's configuration with it is checked, swapped in, loaded and confirmed, and
/// only then is the tenant updated — a change Alertmanager does not take is not kept.
pub async fn change_receivers(
    state: &AppState,
    scope: &TenantScope,
    change: Result<Receiver, String>,
) -> Result<(), AppError> {
    use kube::api::{Api, PostParams};
    let s = &state.settings.monitoring;
    let Some(sink) = s.receiver_sink() else {
        return Err(AppError::Invalid(text!(
            "alert receivers need the console to manage Alertmanager's configuration, and this one does not (WHARF_ALERTMANAGER_URL, WHARF_ALERTMANAGER_CONFIG, or WHARF_ALERT_RULES=operator)",
            "告警接收者需要控制台管理 Alertmanager 的配置,而本控制台未启用(WHARF_ALERTMANAGER_URL、WHARF_ALERTMANAGER_CONFIG,或 WHARF_ALERT_RULES=operator)"
        )));
    };
    if let ReceiverSink::Operator(_) = sink {
        operator::require(&state.client, &operator::alertmanager_config()).await?;
    }
    if let Ok(r) = &change {
        let r = r.cleaned().map_err(AppError::Invalid)?;
        // NB: before the lock: a name server that does not answer must not hold up every
        // tenant's receivers.
        if r.kind == ReceiverKind::Webhook {
            webhook_allowed(state, &r.to).await?;
        }
        if r.kind == ReceiverKind::Email && s.smtp.is_none() {
            return Err(AppError::Invalid(text!(
                "e-mail receivers need an SMTP server, and this console has none configured (WHARF_SMTP_SMARTHOST, WHARF_SMTP_FROM)",
                "邮件接收者需要 SMTP 服务器,而本控制台未配置(WHARF_SMTP_SMARTHOST、WHARF_SMTP_FROM)"
            )));
        }
    }
    let _one_at_a_time = state.monitoring.alertmanager_lock.lock().await;
    let api: Api<crds::Tenant> = Api::all(state.client.clone());
    let mut tenant = api.get(scope.tenant()).await?;
    let current = receivers_of(&tenant, true);
    let next: Vec<Receiver> = match &change {
        Ok(r) => {
            let r = check_new(&current, r).map_err(AppError::Invalid)?;
            current.iter().cloned().chain(std::iter::once(r)).collect()
        }
        Err(name) => {
            if !current.iter().any(|r| &r.name == name) {
                let tenant = scope.tenant();
                return Err(AppError::NotFound(text!(
                    "receiver '{name}' of tenant '{tenant}'",
                    "租户“{tenant}”的接收者“{name}”"
                )));
            }
            current
                .iter()
                .filter(|r| &r.name != name)
                .cloned()
                .collect()
        }
    };
    tenant
        .spec
        .alerting
        .get_or_insert_with(Default::default)
        .receivers = spec_receivers(&next);
    sink.apply(
        state,
        &tenant_routes(&state.cache.tenants(), Some(&tenant), s.smtp.is_some()),
        true,
    )
    .await?;
    let stored = match api
        .replace(scope.tenant(), &PostParams::default(), &tenant)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            // put Alertmanager back in step with the tenants as they are
            let back = tenant_routes(&state.cache.tenants(), None, s.smtp.is_some());
            if let Err(undo) = sink.apply(state, &back, true).await {
                tracing::error!(error = %undo, "could not put Alertmanager's configuration back after the tenant was not updated");
            }
            return Err(e.into());
        }
    };
    // NB: wait for the cache to show the new tenant, so that the periodic check (which
    // renders from the cache under the same lock) does not undo what was just loaded
    let rv = stored.metadata.resource_version.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state
        .cache
        .tenant(scope.tenant())
        .is_none_or(|t| t.metadata.resource_version != rv)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(user = scope.user(), tenant = scope.tenant(), change = ?change.as_ref().map(|r| &r.name), "alert receivers changed");
    Ok(())
}

/// Renders the receivers of the tenants as the cache has them and, where they differ from
/// what is in place (Alertmanager's file, or each namespace's `AlertmanagerConfig`), applies
/// them (at start, after a tenant was edited elsewhere, after Alertmanager was down).
/// `Ok(false)`: nothing to do.
pub async fn converge_alertmanager(state: &AppState) -> Result<bool, AppError> {
    let s = &state.settings.monitoring;
    let Some(sink) = s.receiver_sink() else {
        return Ok(false);
    };
    let _one_at_a_time = state.monitoring.alertmanager_lock.lock().await;
    let routes = tenant_routes(&state.cache.tenants(), None, s.smtp.is_some());
    sink.apply(state, &routes, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_panel_query_scopes_cleanly() {
        let ns = vec!["alpha".to_string(), "alpha-dev".to_string()];
        for p in Panel::ALL {
            for sel in [
                "",
                "namespace=\"alpha\",pod=~\"orders-[a-z0-9]+-[a-z0-9]+\"",
                "namespace=\"alpha\",pod=\"x-1\"",
            ] {
                let q = panel_query(p, sel, "pod");
                let out = scope_query(&q, &ns).unwrap_or_else(|e| panic!("{q}: {e}"));
                assert!(out.contains("namespace=~"), "{out}");
            }
        }
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
