//! One Prometheus rule file per app, `<rules dir>/<namespace>_<app>.rules.yml` (names are
//! DNS labels, so `_` cannot be part of either). Changing one is a transaction:
//!
//! 1. Prometheus must answer `/-/ready` (a Prometheus that is down changes nothing);
//! 2. the new file is written beside the old one under a temporary name (not matched by the
//!    `*.rules.yml` glob), fsynced, and checked with `promtool check rules`;
//! 3. it is renamed over the old one (atomic on one filesystem) and the folder fsynced;
//! 4. `POST /-/reload`, then `/api/v1/rules` is polled until the group shows the new
//!    thresholds.
//!
//! If 3 or 4 fail, the previous file is put back and Prometheus reloaded again: the previous
//! rules stay, and the error says which step failed. Other apps' files are never opened.
//! Changes are serialized in-process so two reloads cannot interleave.
//!
//! The rules themselves ([`rule_groups`]) are also what the Prometheus Operator mode writes
//! as a `PrometheusRule`'s spec (`super::operator`); [`shows`] is the confirmation both use.

use std::path::{Path, PathBuf};
use std::time::Duration;
use wharf_api::error::AppError;
use wharf_api::monitoring::Thresholds;
use wharf_api::text;

/// How long a reload may take to show in `/api/v1/rules`.
const CONFIRM_WITHIN: Duration = Duration::from_secs(15);

/// Where rules live and how to reach the Prometheus that loads them.
#[derive(Clone, Debug)]
pub struct RuleStore {
    pub dir: PathBuf,
    pub prometheus_url: String,
    pub promtool: PathBuf,
}

pub fn file_name(namespace: &str, app: &str) -> String {
    format!("{namespace}_{app}.rules.yml")
}

pub fn group_name(namespace: &str, app: &str) -> String {
    format!("wharf/{namespace}/{app}")
}

/// The regex of an app's pods: `<deployment>-<pod-template-hash>-<suffix>`.
pub fn pod_pattern(app: &str) -> String {
    format!("{}-[a-z0-9]+-[a-z0-9]+", regex::escape(app))
}

/// `s` as the inside of a PromQL string literal.
fn literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Names of the OpenTelemetry Collector's spanmetrics connector as the console's collector is
/// configured (`namespace: traces.span.metrics`, `histogram.unit: s`, dimension
/// `k8s.namespace.name`): calls by service, span, kind and status, and their durations.
const SPAN_CALLS: &str = "traces_span_metrics_calls_total";
const SPAN_DURATION_BUCKETS: &str = "traces_span_metrics_duration_seconds_bucket";

/// `(alert name, metric key, PromQL over one pod, or over the app for the trace-based
/// ones, threshold)`.
fn conditions(
    namespace: &str,
    app: &str,
    t: &Thresholds,
) -> Vec<(&'static str, &'static str, String, String)> {
    let sel = format!(
        "namespace=\"{namespace}\",pod=~\"{}\",container!=\"\"",
        pod_pattern(app).replace('\\', "\\\\")
    );
    let mut out = Vec::new();
    if let Some(p) = t.cpu_percent {
        out.push((
            "WharfCpuHigh",
            "cpu_percent",
            format!(
                "100 * sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{{sel}}}[1m])) / sum by (namespace, pod) (container_spec_cpu_quota{{{sel}}} / container_spec_cpu_period{{{sel}}}) > {p}"
            ),
            p.to_string(),
        ));
    }
    if let Some(p) = t.memory_percent {
        out.push((
            "WharfMemoryHigh",
            "memory_percent",
            format!(
                "100 * sum by (namespace, pod) (container_memory_working_set_bytes{{{sel}}}) / sum by (namespace, pod) (container_spec_memory_limit_bytes{{{sel}}} > 0) > {p}"
            ),
            p.to_string(),
        ));
    }
    if let Some(n) = t.threads {
        out.push((
            "WharfThreadsHigh",
            "threads",
            format!("sum by (namespace, pod) (container_threads{{{sel}}}) > {n}"),
            n.to_string(),
        ));
    }
    if let Some(n) = t.sockets {
        out.push((
            "WharfSocketsHigh",
            "sockets",
            format!("sum by (namespace, pod) (container_sockets{{{sel}}}) > {n}"),
            n.to_string(),
        ));
    }
    // NB: from traces, an app is its service (the Deployment's name, as the agent reports it)
    // and the calls it receives are its server spans; no pod label survives the connector
    let received = format!(
        "k8s_namespace_name=\"{}\",service_name=\"{}\",span_kind=\"SPAN_KIND_SERVER\"",
        literal(namespace),
        literal(app)
    );
    if let Some(p) = t.error_percent {
        out.push((
            "WharfErrorRatioHigh",
            "error_percent",
            format!(
                "100 * sum by (k8s_namespace_name, service_name) (rate({SPAN_CALLS}{{{received},status_code=\"STATUS_CODE_ERROR\"}}[5m])) / sum by (k8s_namespace_name, service_name) (rate({SPAN_CALLS}{{{received}}}[5m])) > {p}"
            ),
            p.to_string(),
        ));
    }
    if let Some(ms) = t.p95_ms {
        out.push((
            "WharfLatencyHigh",
            "p95_ms",
            format!(
                "1000 * histogram_quantile(0.95, sum by (k8s_namespace_name, service_name, le) (rate({SPAN_DURATION_BUCKETS}{{{received}}}[5m]))) > {ms}"
            ),
            ms.to_string(),
        ));
    }
    out
}

/// The rule groups of an app, `{"groups": [{"name": …, "rules": […]}]}` (`None`: no
/// thresholds). This one document is both the rule file's content ([`render`]) and a
/// `PrometheusRule`'s `spec` (see `super::operator`): the Prometheus Operator writes the spec
/// verbatim as a rule file, so either way Prometheus evaluates the same rules.
pub fn rule_groups(namespace: &str, app: &str, t: &Thresholds) -> Option<serde_json::Value> {
    let conds = conditions(namespace, app, t);
    if conds.is_empty() {
        return None;
    }
    let rules: Vec<serde_json::Value> = conds
        .into_iter()
        .map(|(alert, metric, expr, threshold)| {
            let for_ = &t.duration;
            let (what, value) = match metric {
                "cpu_percent" => ("CPU use (% of limit)", "%.0f"),
                "memory_percent" => ("Memory use (% of limit)", "%.0f"),
                "threads" => ("Threads", "%.0f"),
                "sockets" => ("Sockets", "%.0f"),
                "error_percent" => ("Failed calls (% of calls received)", "%.1f"),
                _ => ("p95 latency of calls received (ms)", "%.0f"),
            };
            let mut labels = serde_json::json!({
                "severity": "warning",
                "wharf_app": app,
                "wharf_metric": metric,
                "wharf_threshold": threshold,
            });
            // the trace-based ones are the app's, not a pod's
            let of = if matches!(metric, "error_percent" | "p95_ms") {
                // NB: the tenant's route in Alertmanager and the alert's Event go by
                // `namespace`, which spanmetrics names `k8s_namespace_name`
                labels["namespace"] = namespace.into();
                format!("app {app}")
            } else {
                "{{ $labels.pod }}".to_string()
            };
            serde_json::json!({
                "alert": alert,
                "expr": expr,
                "for": for_,
                "labels": labels,
                "annotations": {
                    "summary": format!("{what} of {of} is {{{{ $value | printf \"{value}\" }}}}, above {threshold} for {for_}"),
                },
            })
        })
        .collect();
    Some(serde_json::json!({"groups": [{"name": group_name(namespace, app), "rules": rules}]}))
}

/// The rule file of an app (`None`: no thresholds, no file).
pub fn render(namespace: &str, app: &str, t: &Thresholds) -> Option<String> {
    let doc = rule_groups(namespace, app, t)?;
    // NB: a `Value` of strings and maps always serializes
    let yaml = serde_yaml::to_string(&doc).unwrap_or_default();
    Some(format!(
        "# Managed by Wharf: the alert thresholds of app {app} in {namespace}, set from the console.\n{yaml}"
    ))
}

/// The thresholds (as the form shows them) in a rule groups document: a rule file read as
/// YAML, or a `PrometheusRule`'s `spec`.
pub fn thresholds_in(doc: &serde_json::Value) -> wharf_api::monitoring::AlertThresholds {
    let mut out = wharf_api::monitoring::AlertThresholds::default();
    for rule in doc["groups"][0]["rules"].as_array().into_iter().flatten() {
        let value = rule["labels"]["wharf_threshold"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match rule["labels"]["wharf_metric"].as_str() {
            Some("cpu_percent") => out.cpu_percent = value,
            Some("memory_percent") => out.memory_percent = value,
            Some("threads") => out.threads = value,
            Some("sockets") => out.sockets = value,
            Some("error_percent") => out.error_percent = value,
            Some("p95_ms") => out.p95_ms = value,
            _ => {}
        }
        if let Some(d) = rule["for"].as_str() {
            out.duration = d.to_string();
        }
    }
    out
}

/// The thresholds in an app's rule file (as the form shows them), if it has one.
pub fn read(
    dir: &Path,
    namespace: &str,
    app: &str,
) -> Result<wharf_api::monitoring::AlertThresholds, AppError> {
    let path = dir.join(file_name(namespace, app));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => {
            let path = path.display();
            return Err(AppError::Internal(text!(
                "reading {path}: {e}",
                "读取 {path} 失败:{e}"
            )));
        }
    };
    let doc: serde_json::Value = serde_yaml::from_str(&text).map_err(|e| {
        let path = path.display();
        AppError::internal(text!("reading {path}", "读取 {path} 失败"), e)
    })?;
    Ok(thresholds_in(&doc))
}

fn unavailable(url: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Unavailable(text!(
        "Prometheus at {url} is not reachable ({e}); the previous alert rules stay",
        "无法连接 Prometheus({url}):{e};原告警规则继续生效"
    ))
}

fn unreachable(url: &str, e: reqwest::Error) -> AppError {
    unavailable(url, super::cause(&e))
}

fn write_synced(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Puts `content` (or no file) at `path` atomically.
fn install(dir: &Path, path: &Path, content: Option<&str>) -> std::io::Result<()> {
    match content {
        Some(c) => {
            let tmp = dir.join(format!(
                ".{}.restore",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("rules")
            ));
            write_synced(&tmp, c)?;
            std::fs::rename(&tmp, path)?;
        }
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        },
    }
    sync_dir(dir);
    Ok(())
}

impl RuleStore {
    /// Replaces an app's rules (see the module's steps). `None` removes them. Holds `lock`
    /// (the console's `Monitoring::rules_lock`) throughout, so two changes cannot interleave.
    pub async fn apply(
        &self,
        lock: &tokio::sync::Mutex<()>,
        http: &reqwest::Client,
        namespace: &str,
        app: &str,
        t: &Thresholds,
    ) -> Result<(), AppError> {
        let _one_at_a_time = lock.lock().await;
        let url = self.prometheus_url.trim_end_matches('/');
        let ready = http
            .get(format!("{url}/-/ready"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| unreachable(url, e))?;
        if !ready.status().is_success() {
            return Err(unavailable(url, format!("it answers {}", ready.status())));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            let dir = self.dir.display();
            AppError::internal(text!("creating {dir}", "创建 {dir} 失败"), e)
        })?;
        let path = self.dir.join(file_name(namespace, app));
        let previous = std::fs::read_to_string(&path).ok();
        let next = render(namespace, app, t);
        if next == previous {
            return Ok(());
        }
        if let Some(content) = &next {
            let tmp = self.dir.join(format!(
                ".{}.{}.tmp",
                file_name(namespace, app),
                std::process::id()
            ));
            write_synced(&tmp, content).map_err(|e| {
                let path = tmp.display();
                AppError::internal(text!("writing {path}", "写入 {path} 失败"), e)
            })?;
            let checked = tokio::process::Command::new(&self.promtool)
                .arg("check")
                .arg("rules")
                .arg(&tmp)
                .output()
                .await;
            let verdict = match checked {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => {
                    let (stderr, stdout) = (
                        String::from_utf8_lossy(&o.stderr),
                        String::from_utf8_lossy(&o.stdout),
                    );
                    // NB: promtool ends its stdout with a blank line and says why on stderr
                    fn last(s: &str) -> Option<&str> {
                        s.lines().map(str::trim).rfind(|l| !l.is_empty())
                    }
                    let why = last(&stderr).or_else(|| last(&stdout)).unwrap_or("");
                    Err(AppError::Invalid(text!(
                        "promtool refused the alert rules: {why}",
                        "promtool 拒绝了告警规则:{why}"
                    )))
                }
                Err(e) => {
                    let promtool = self.promtool.display();
                    Err(AppError::Internal(text!(
                        "running {promtool}: {e}",
                        "运行 {promtool} 失败:{e}"
                    )))
                }
            };
            if let Err(e) = verdict {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            if let Err(e) = std::fs::rename(&tmp, &path) {
                let _ = std::fs::remove_file(&tmp);
                let path = path.display();
                return Err(AppError::Internal(text!(
                    "swapping in {path}: {e}",
                    "替换 {path} 失败:{e}"
                )));
            }
            sync_dir(&self.dir);
        } else {
            install(&self.dir, &path, None).map_err(|e| {
                let path = path.display();
                AppError::internal(text!("removing {path}", "删除 {path} 失败"), e)
            })?;
        }
        if let Err(e) = self.reload_and_confirm(http, namespace, app, t).await {
            tracing::warn!(namespace, app, error = %e, "alert rules not loaded; putting the previous ones back");
            if let Err(io) = install(&self.dir, &path, previous.as_deref()) {
                tracing::error!(error = %io, path = %path.display(), "could not restore the previous alert rules");
            }
            let _ = http
                .post(format!("{url}/-/reload"))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            return Err(e);
        }
        Ok(())
    }

    async fn reload_and_confirm(
        &self,
        http: &reqwest::Client,
        namespace: &str,
        app: &str,
        t: &Thresholds,
    ) -> Result<(), AppError> {
        let url = self.prometheus_url.trim_end_matches('/');
        let res = http
            .post(format!("{url}/-/reload"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| unreachable(url, e))?;
        if !res.status().is_success() {
            let body = res.text().await.unwrap_or_default();
            let body = body.trim();
            return Err(AppError::Unavailable(text!(
                "Prometheus at {url} failed to reload its rules: {body}; the previous alert rules stay",
                "Prometheus({url})重新加载规则失败:{body};原告警规则继续生效"
            )));
        }
        if !shows(http, url, namespace, app, t, CONFIRM_WITHIN).await? {
            return Err(AppError::Unavailable(text!(
                "Prometheus at {url} reloaded but does not show the new rules of {namespace}/{app} after {CONFIRM_WITHIN:?}; the previous alert rules stay",
                "Prometheus({url})已重新加载,但 {CONFIRM_WITHIN:?} 后仍未出现 {namespace}/{app} 的新规则;原告警规则继续生效"
            )));
        }
        Ok(())
    }
}

/// Polls Prometheus at `url` until its `/api/v1/rules` shows the app's group with exactly the
/// alerts and thresholds of `t` (no group at all when `t` has none): `Ok(false)` if it does
/// not within `within`.
pub async fn shows(
    http: &reqwest::Client,
    url: &str,
    namespace: &str,
    app: &str,
    t: &Thresholds,
    within: Duration,
) -> Result<bool, AppError> {
    let mut want: Vec<(String, String)> = conditions(namespace, app, t)
        .into_iter()
        .map(|(a, _, _, th)| (a.to_string(), th))
        .collect();
    want.sort();
    let group = group_name(namespace, app);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut have = loaded_rules(http, url, &group).await?;
        have.sort();
        if have == want {
            return Ok(true);
        }
        if tokio::time::Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(alert, threshold)` of the rules Prometheus has loaded in `group`.
async fn loaded_rules(
    http: &reqwest::Client,
    url: &str,
    group: &str,
) -> Result<Vec<(String, String)>, AppError> {
    let res = http
        .get(format!("{url}/api/v1/rules"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    let body: serde_json::Value = res.json().await.map_err(|e| unreachable(url, e))?;
    let mut out = Vec::new();
    for g in body["data"]["groups"].as_array().into_iter().flatten() {
        if g["name"] != group {
            continue;
        }
        for r in g["rules"].as_array().into_iter().flatten() {
            out.push((
                r["name"].as_str().unwrap_or_default().to_string(),
                r["labels"]["wharf_threshold"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_api::monitoring::AlertThresholds;

    fn parsed(threads: &str, cpu: &str) -> Thresholds {
        AlertThresholds {
            threads: threads.into(),
            cpu_percent: cpu.into(),
            duration: "30s".into(),
            ..Default::default()
        }
        .parse()
        .unwrap()
    }

    #[test]
    fn a_rule_file_round_trips_to_the_form() {
        let dir = std::env::temp_dir().join(format!("wharf-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = render("alpha", "orders", &parsed("40", "80")).unwrap();
        let doc: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        let exprs: Vec<&str> = doc["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["expr"].as_str())
            .collect();
        assert!(exprs.iter().any(|e| e.ends_with("container_threads{namespace=\"alpha\",pod=~\"orders-[a-z0-9]+-[a-z0-9]+\",container!=\"\"}) > 40")), "{text}");
        assert_eq!(
            doc["groups"][0]["rules"][1]["labels"]["wharf_threshold"], "40",
            "a label is a string: {text}"
        );
        std::fs::write(dir.join(file_name("alpha", "orders")), &text).unwrap();
        let back = read(&dir, "alpha", "orders").unwrap();
        assert_eq!(
            (
                back.threads.as_str(),
                back.cpu_percent.as_str(),
                back.duration.as_str()
            ),
            ("40", "80", "30s")
        );
        assert_eq!(
            read(&dir, "alpha", "none").unwrap(),
            AlertThresholds::default()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_thresholds_no_file() {
        assert_eq!(
            render("a", "b", &AlertThresholds::default().parse().unwrap()),
            None
        );
    }

    #[test]
    fn a_rule_file_passes_promtool_when_installed() {
        let Ok(out) = std::process::Command::new("promtool")
            .arg("--version")
            .output()
        else {
            return;
        };
        assert!(out.status.success());
        let dir = std::env::temp_dir().join(format!("wharf-promtool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = AlertThresholds {
            cpu_percent: "80".into(),
            memory_percent: "90".into(),
            threads: "10".into(),
            sockets: "5".into(),
            error_percent: "0.5".into(),
            p95_ms: "500ms".into(),
            duration: "1m".into(),
        };
        let path = dir.join("x.rules.yml");
        let text = render("alpha", "shop-web", &t.parse().unwrap()).unwrap();
        assert!(
            text.contains("WharfErrorRatioHigh") && text.contains("WharfLatencyHigh"),
            "{text}"
        );
        std::fs::write(&path, text).unwrap();
        let check = std::process::Command::new("promtool")
            .arg("check")
            .arg("rules")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn traced(error_percent: &str, p95_ms: &str) -> Thresholds {
        AlertThresholds {
            error_percent: error_percent.into(),
            p95_ms: p95_ms.into(),
            duration: "2m".into(),
            ..Default::default()
        }
        .parse()
        .unwrap()
    }

    #[test]
    fn error_ratio_and_latency_rules_read_the_apps_server_spans() {
        let doc = rule_groups("alpha", "orders", &traced("0.5", "500")).unwrap();
        let rules = doc["groups"][0]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "{doc}");
        let sel =
            r#"k8s_namespace_name="alpha",service_name="orders",span_kind="SPAN_KIND_SERVER""#;
        let errors = &rules[0];
        assert_eq!(errors["alert"], "WharfErrorRatioHigh");
        assert_eq!(
            errors["expr"].as_str().unwrap(),
            format!(
                r#"100 * sum by (k8s_namespace_name, service_name) (rate(traces_span_metrics_calls_total{{{sel},status_code="STATUS_CODE_ERROR"}}[5m])) / sum by (k8s_namespace_name, service_name) (rate(traces_span_metrics_calls_total{{{sel}}}[5m])) > 0.5"#
            )
        );
        let latency = &rules[1];
        assert_eq!(latency["alert"], "WharfLatencyHigh");
        assert_eq!(
            latency["expr"].as_str().unwrap(),
            format!(
                r#"1000 * histogram_quantile(0.95, sum by (k8s_namespace_name, service_name, le) (rate(traces_span_metrics_duration_seconds_bucket{{{sel}}}[5m]))) > 500"#
            )
        );
        for (rule, metric, threshold) in
            [(errors, "error_percent", "0.5"), (latency, "p95_ms", "500")]
        {
            assert_eq!(rule["for"], "2m");
            assert_eq!(
                rule["labels"],
                serde_json::json!({
                    "severity": "warning",
                    "namespace": "alpha",
                    "wharf_app": "orders",
                    "wharf_metric": metric,
                    "wharf_threshold": threshold,
                }),
                "the tenant's route matches on namespace, which spans do not carry"
            );
            let summary = rule["annotations"]["summary"].as_str().unwrap();
            assert!(
                summary.contains("of app orders is {{ $value")
                    && summary.ends_with(&format!("above {threshold} for 2m"))
                    && !summary.contains("$labels.pod"),
                "{summary}"
            );
        }
        let back = thresholds_in(&doc);
        assert_eq!(
            (
                back.error_percent.as_str(),
                back.p95_ms.as_str(),
                back.duration.as_str()
            ),
            ("0.5", "500", "2m")
        );
        assert_eq!(back.parse().unwrap(), traced("0.5", "500"));
    }

    #[test]
    fn pod_rules_keep_their_pod_summaries_and_no_fixed_namespace() {
        let doc = rule_groups("alpha", "orders", &parsed("40", "80")).unwrap();
        for rule in doc["groups"][0]["rules"].as_array().unwrap() {
            assert_eq!(rule["labels"].get("namespace"), None, "{rule}");
            assert!(
                rule["annotations"]["summary"]
                    .as_str()
                    .unwrap()
                    .contains(" of {{ $labels.pod }} is {{ $value | printf \"%.0f\" }}"),
                "{rule}"
            );
        }
    }

    #[test]
    fn every_threshold_round_trips_through_a_rule_file() {
        let typed = AlertThresholds {
            cpu_percent: "80".into(),
            memory_percent: "90".into(),
            threads: "10".into(),
            sockets: "5".into(),
            error_percent: "2.5".into(),
            p95_ms: "750".into(),
            duration: "5m".into(),
        };
        let text = render("alpha", "orders", &typed.parse().unwrap()).unwrap();
        let doc: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(thresholds_in(&doc), typed, "{text}");
    }

    #[test]
    fn names_in_span_selectors_are_escaped() {
        let doc = rule_groups("al\"pha", "or\\ders", &traced("", "300")).unwrap();
        let expr = doc["groups"][0]["rules"][0]["expr"].as_str().unwrap();
        assert!(
            expr.contains(r#"k8s_namespace_name="al\"pha",service_name="or\\ders","#),
            "{expr}"
        );
    }
}
