//! Monitoring against a real Prometheus and Alertmanager (Debian's), each test with its own
//! temporary folder and free ports: tenant isolation of every query path (panels and
//! hand-written PromQL), alert rules written, checked, loaded and confirmed per app, an
//! alert that fires and resolves through the webhook, tenants' own receivers (a webhook and
//! a mail server in the test) getting their tenant's alerts and no other's, alerts that
//! outlive the console, silences bounded to their tenant, bad input, and a Prometheus or
//! Alertmanager that is down or refuses.

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::monitoring::{free_port, Stack, StackConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use wharf_tests::{eventually, Session, TestApp};

struct Monitored {
    app: TestApp,
    stack: Option<Stack>,
    cfg: StackConfig,
    _dir: tempfile::TempDir,
}

/// The console with the demo's apps, a Prometheus scraping its cluster and an Alertmanager
/// posting to its webhook — all on free ports, in one temporary folder.
async fn spawn_monitored() -> anyhow::Result<Monitored> {
    spawn_monitored_with(None).await
}

/// [`spawn_monitored`] with a mail server for e-mail receivers.
async fn spawn_monitored_with(smtp: Option<SocketAddr>) -> anyhow::Result<Monitored> {
    let dir = tempfile::tempdir()?;
    let console = free_port()?;
    let mut cfg = StackConfig::local(dir.path(), "", console)?;
    cfg.smtp = smtp.map(|a| wharf_console::monitoring::Smtp {
        smarthost: a.to_string(),
        from: "wharf@example.org".into(),
        username: None,
        password: None,
        require_tls: false,
    });
    let settings = wharf_console::state::Settings {
        monitoring: cfg.settings(),
        egress: demo_egress(),
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(settings, console).await?;
    server::demo::seed::apps(&app.kube).await?;
    cfg.kubeconfig_yaml = app.cluster.sim().kubeconfig_yaml();
    let stack = Stack::start(cfg.clone()).await?;
    Ok(Monitored {
        app,
        stack: Some(stack),
        cfg,
        _dir: dir,
    })
}

async fn alert_is(who: &Session, tenant: &str, status: &str) -> Option<()> {
    let (_, b) = who
        .call(
            "list_alerts",
            json!({"tenant": tenant, "namespace": null, "app": null}),
        )
        .await
        .ok()?;
    b.as_array()?
        .iter()
        .any(|a| a["app"] == "orders" && a["name"] == "WharfThreadsHigh" && a["status"] == status)
        .then_some(())
}

fn labels(body: &Value) -> Vec<String> {
    body["series"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["label"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn has_data(body: &Value) -> bool {
    body["series"].as_array().is_some_and(|s| {
        s.iter()
            .any(|s| s["points"].as_array().is_some_and(|p| !p.is_empty()))
    })
}

#[tokio::test]
async fn dashboards_rules_and_alerts_against_prometheus() {
    let mut m = spawn_monitored().await.unwrap();
    let app = &m.app;
    let (alice, bob) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
    );
    let orders = json!({"App": {"namespace": "alpha", "name": "orders"}});

    // 1. alpha's dashboard fills once Prometheus has scraped the demo cluster
    let body = eventually(
        Duration::from_secs(60),
        "orders' threads in Prometheus",
        || async {
            let (s, b) = alice
                .call(
                    "query_range",
                    json!({"tenant": "alpha", "panel": "Threads", "target": orders, "minutes": 15}),
                )
                .await
                .ok()?;
            (s == StatusCode::OK && has_data(&b)).then_some(b)
        },
    )
    .await
    .unwrap();
    assert!(
        labels(&body).iter().all(|l| l.starts_with("orders-")),
        "{:?}",
        labels(&body)
    );
    eventually(Duration::from_secs(60), "beta's own series", || async {
        let (_, b) = bob
            .call(
                "query_promql",
                json!({"tenant": "beta", "query": "container_threads", "minutes": 15}),
            )
            .await
            .ok()?;
        has_data(&b).then_some(())
    })
    .await
    .unwrap();

    // 2. beta gets nothing of alpha's, by any path
    for (tenant, target) in [("alpha", orders.clone()), ("beta", orders.clone())] {
        let (s, _) = bob
            .call(
                "query_range",
                json!({"tenant": tenant, "panel": "Threads", "target": target, "minutes": 15}),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::FORBIDDEN, "{tenant}");
    }
    for panel in [
        "Cpu", "Memory", "Threads", "Sockets", "Fds", "NetIn", "NetOut", "Restarts",
    ] {
        let (s, b) = bob
            .call(
                "query_range",
                json!({"tenant": "beta", "panel": panel, "target": "Tenant", "minutes": 15}),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::OK, "{panel}: {b}");
        assert!(
            labels(&b).iter().all(|l| l.starts_with("beta/")),
            "{panel}: {:?}",
            labels(&b)
        );
    }
    let sneaky = [
        "container_threads",
        "sum by (namespace) (container_threads)",
        "container_threads or container_sockets",
        "count by (namespace) ({__name__=\"container_threads\"})",
        "container_threads{namespace=~\".*\"}",
        "container_threads{namespace!=\"beta\"} or vector(0)",
        "label_replace(container_threads, \"namespace\", \"alpha\", \"namespace\", \".*\")",
        "container_threads # {namespace=\"alpha\"}",
    ];
    for q in sneaky {
        let (s, b) = bob
            .call(
                "query_promql",
                json!({"tenant": "beta", "query": q, "minutes": 15}),
            )
            .await
            .unwrap();
        if s == StatusCode::OK {
            let text = b.to_string();
            // NB: label_replace may relabel beta's own series as "alpha"; what must never show is alpha's pods
            assert!(
                !text.contains("orders-")
                    && !text.contains("shop-web-")
                    && !text.contains("_alpha_"),
                "{q}: {text}"
            );
        }
    }
    for (q, want) in [
        (
            "container_threads{namespace=\"alpha\"}",
            StatusCode::FORBIDDEN,
        ),
        (
            "container_threads{namespace=~\"alpha|beta\", pod=~\"orders.*\"}",
            StatusCode::OK,
        ),
        ("{__name__=~\"container_.*\"}", StatusCode::BAD_REQUEST),
        (
            "container_threads{pod=\"x\"} unknown_fn",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, b) = bob
            .call(
                "query_promql",
                json!({"tenant": "beta", "query": q, "minutes": 15}),
            )
            .await
            .unwrap();
        assert_eq!(s, want, "{q}: {b}");
        assert!(!b.to_string().contains("orders-"), "{q}: {b}");
    }

    // 3. thresholds: bad input is refused with a clear message and changes nothing
    let rules_dir = m.cfg.rules_dir();
    let set = |name: &str, t: Value| {
        alice.call(
            "set_alert_rules",
            json!({"tenant": "alpha", "namespace": "alpha", "name": name, "thresholds": t}),
        )
    };
    let (s, b) = set("shop-web", json!({"sockets": "5000", "duration": "5m"}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let shop_rules = std::fs::read_to_string(rules_dir.join("alpha_shop-web.rules.yml")).unwrap();
    for (t, says) in [
        (json!({"threads": "-5"}), "negative"),
        (json!({"cpu_percent": "150"}), "over 100"),
        (json!({"memory_percent": "lots"}), "not a number"),
        (
            json!({"threads": "10", "duration": "soon"}),
            "not a duration",
        ),
    ] {
        let (s, b) = set("orders", t.clone()).await.unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{t}: {b}");
        assert!(b.to_string().contains(says), "{t}: {b}");
    }
    assert!(
        !rules_dir.join("alpha_orders.rules.yml").exists(),
        "a refused change left a file"
    );

    // 4. a low threshold: loaded (confirmed by the server), fires, reaches the alerts page
    let (s, b) = set("orders", json!({"threads": "1", "duration": "2s"}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, rules) = alice
        .call(
            "alert_rules",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"}),
        )
        .await
        .unwrap();
    assert_eq!(rules["threads"], "1");
    assert_eq!(
        std::fs::read_to_string(rules_dir.join("alpha_shop-web.rules.yml")).unwrap(),
        shop_rules,
        "another app's rules changed"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&rules_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".rules.yml"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    eventually(
        Duration::from_secs(90),
        "the threads alert to fire and reach the webhook",
        || alert_is(&alice, "alpha", "firing"),
    )
    .await
    .unwrap();
    let (_, b) = bob
        .call(
            "list_alerts",
            json!({"tenant": "beta", "namespace": null, "app": null}),
        )
        .await
        .unwrap();
    assert!(
        !b.to_string().contains("alpha"),
        "beta sees alpha's alerts: {b}"
    );
    let (s, _) = bob
        .call(
            "list_alerts",
            json!({"tenant": "beta", "namespace": "alpha", "app": "orders"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);
    // the app's chart shows the threshold line, and so does each of its pods' charts
    let (_, b) = alice
        .call(
            "query_range",
            json!({"tenant": "alpha", "panel": "Threads", "target": orders, "minutes": 15}),
        )
        .await
        .unwrap();
    assert_eq!(b["threshold"], 1.0, "{b}");
    let pod = labels(&b).first().cloned().expect("a pod of orders");
    let (s, b) = alice.call("query_range", json!({"tenant": "alpha", "panel": "Threads", "target": {"Pod": {"namespace": "alpha", "name": pod}}, "minutes": 15})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["threshold"], 1.0, "{b}");
    assert_eq!(labels(&b), vec![pod.clone()]);
    let (_, b) = alice.call("query_range", json!({"tenant": "alpha", "panel": "Sockets", "target": {"Pod": {"namespace": "alpha", "name": pod}}, "minutes": 15})).await.unwrap();
    assert_eq!(
        b["threshold"],
        Value::Null,
        "orders has no sockets threshold: {b}"
    );
    let (s, _) = bob.call("query_range", json!({"tenant": "beta", "panel": "Threads", "target": {"Pod": {"namespace": "alpha", "name": pod}}, "minutes": 15})).await.unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);

    // 5. raise it: the alert resolves
    let (s, b) = set("orders", json!({"threads": "100000", "duration": "2s"}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    eventually(
        Duration::from_secs(90),
        "the threads alert to resolve",
        || alert_is(&alice, "alpha", "resolved"),
    )
    .await
    .unwrap();

    // 6. Prometheus down: 503 naming it, the previous rules stay
    let before = std::fs::read_to_string(rules_dir.join("alpha_orders.rules.yml")).unwrap();
    m.stack.take().unwrap().stop().await;
    let named = format!(
        "Prometheus at http://{} is not reachable",
        m.cfg.prometheus_addr
    );
    let (s, b) = set("orders", json!({"threads": "7"})).await.unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(b.to_string().contains(&named), "{b}");
    assert_eq!(
        std::fs::read_to_string(rules_dir.join("alpha_orders.rules.yml")).unwrap(),
        before
    );
    let (s, b) = alice
        .call(
            "query_range",
            json!({"tenant": "alpha", "panel": "Threads", "target": orders, "minutes": 15}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(b.to_string().contains(&named), "{b}");
}

/// The two thresholds read from traces (issue 19): refused in both languages when wrong,
/// written, checked by promtool, loaded and confirmed by Prometheus (which evaluates them
/// without error), read back; and an alert of theirs, which names the app but no pod, goes
/// through Alertmanager to its tenant's list and to an Event on the Deployment.
#[tokio::test]
async fn error_ratio_and_latency_thresholds_are_checked_loaded_and_read_back() {
    use k8s_openapi::api::core::v1::Event;
    let m = spawn_monitored().await.unwrap();
    let app = &m.app;
    let (alice, bob) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
    );
    let rules_dir = m.cfg.rules_dir();
    let set = |t: Value| {
        alice.call(
            "set_alert_rules",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "orders", "thresholds": t}),
        )
    };

    // 1. bad input: 400, one sentence in each language, nothing written
    for (t, en, zh) in [
        (
            json!({"error_percent": "150"}),
            "error ratio alert (% of calls): 150 % is over 100 %",
            "错误率告警",
        ),
        (
            json!({"error_percent": "0"}),
            "0 % would always fire",
            "会一直触发告警",
        ),
        (
            json!({"error_percent": "lots"}),
            "'lots' is not a number",
            "不是数字",
        ),
        (
            json!({"p95_ms": "0"}),
            "p95 latency alert (ms): 0 ms would always fire",
            "p95 延迟告警",
        ),
        (json!({"p95_ms": "-5"}), "-5 is negative", "是负数"),
        (
            json!({"p95_ms": "fast"}),
            "'fast' is not a whole number of milliseconds",
            "不是整数毫秒数",
        ),
        (
            json!({"p95_ms": "1.5s"}),
            "'1.5s' is not a whole number of milliseconds",
            "不是整数毫秒数",
        ),
        (
            json!({"p95_ms": "700000"}),
            "700000 ms is over 600000 ms",
            "超过了 600000 毫秒",
        ),
    ] {
        let (s, b) = set(t.clone()).await.unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{t}: {b}");
        let text = b.to_string();
        assert!(text.contains(en) && text.contains(zh), "{t}: {b}");
    }
    assert!(
        !rules_dir.join("alpha_orders.rules.yml").exists(),
        "a refused change left a file"
    );

    // 2. good input: the server answers once Prometheus shows both rules
    let (s, b) = set(
        json!({"error_percent": "0.5", "p95_ms": "500 ms", "threads": "100000", "duration": "2m"}),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, back) = alice
        .call(
            "alert_rules",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{back}");
    assert_eq!(
        (
            &back["error_percent"],
            &back["p95_ms"],
            &back["threads"],
            &back["duration"]
        ),
        (&json!("0.5"), &json!("500"), &json!("100000"), &json!("2m")),
        "{back}"
    );
    let file = std::fs::read_to_string(rules_dir.join("alpha_orders.rules.yml")).unwrap();
    let doc: Value = serde_yaml::from_str(&file).unwrap();
    let server_spans =
        r#"{k8s_namespace_name="alpha",service_name="orders",span_kind="SPAN_KIND_SERVER""#;
    for (alert, metric) in [
        ("WharfErrorRatioHigh", "traces_span_metrics_calls_total"),
        (
            "WharfLatencyHigh",
            "traces_span_metrics_duration_seconds_bucket",
        ),
    ] {
        let rule = doc["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["alert"] == alert)
            .unwrap_or_else(|| panic!("no {alert}: {file}"));
        assert!(
            rule["expr"]
                .as_str()
                .unwrap()
                .contains(&format!("{metric}{server_spans}")),
            "{file}"
        );
        assert_eq!(rule["labels"]["namespace"], "alpha", "{file}");
    }
    // Prometheus evaluates them (no series yet, so nothing fires) without an error
    let prometheus = format!("http://{}/api/v1/rules", m.cfg.prometheus_addr);
    eventually(
        Duration::from_secs(60),
        "the trace rules evaluated without error",
        || async {
            let body: Value = reqwest::get(&prometheus).await.ok()?.json().await.ok()?;
            let group = body["data"]["groups"]
                .as_array()?
                .iter()
                .find(|g| g["name"] == "wharf/alpha/orders")?
                .clone();
            let health = |alert: &str| {
                group["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["name"] == alert)
                    .map(|r| r["health"].clone())
            };
            for alert in ["WharfErrorRatioHigh", "WharfLatencyHigh"] {
                let h = health(alert)?;
                assert_ne!(h, "err", "{alert}: {group}");
                if h != "ok" {
                    return None;
                }
            }
            Some(())
        },
    )
    .await
    .unwrap();

    // 3. one of their alerts names the app and no pod: it reaches alpha's list (routed on the
    //    rule's fixed `namespace` label), not beta's, and its Event is on the Deployment
    let latency = doc["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == "WharfLatencyHigh")
        .unwrap();
    let mut labels = latency["labels"].clone();
    labels["alertname"] = json!("WharfLatencyHigh");
    // what Prometheus would send: the rule's labels over the expression's (no pod)
    labels["k8s_namespace_name"] = json!("alpha");
    labels["service_name"] = json!("orders");
    let alert = json!([{
        "labels": labels,
        "annotations": {"summary": "p95 latency of calls received (ms) of app orders is 812, above 500 for 2m"},
    }]);
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v2/alerts", m.cfg.alertmanager_addr))
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let row = eventually(
        Duration::from_secs(60),
        "the latency alert in alpha's list",
        || async {
            let (_, b) = alice
                .call(
                    "list_alerts",
                    json!({"tenant": "alpha", "namespace": "alpha", "app": "orders"}),
                )
                .await
                .ok()?;
            b.as_array()?
                .iter()
                .find(|a| a["name"] == "WharfLatencyHigh" && a["status"] == "firing")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (&row["app"], &row["pod"]),
        (&json!("orders"), &json!("")),
        "{row}"
    );
    let (_, b) = bob
        .call(
            "list_alerts",
            json!({"tenant": "beta", "namespace": null, "app": null}),
        )
        .await
        .unwrap();
    assert!(!b.to_string().contains("WharfLatencyHigh"), "{b}");
    let events: kube::Api<Event> = kube::Api::namespaced(app.kube.clone(), "alpha");
    let on = eventually(
        Duration::from_secs(30),
        "the latency alert's Event",
        || async {
            events
                .list(&kube::api::ListParams::default().labels("wharf.dev/alert"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| {
                    e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("WharfLatencyHigh"))
                })
                .map(|e| e.involved_object)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (on.kind.as_deref(), on.name.as_deref()),
        (Some("Deployment"), Some("orders"))
    );

    // 4. cleared: the file goes
    let (s, b) = set(json!({})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!rules_dir.join("alpha_orders.rules.yml").exists());
}

#[tokio::test]
async fn the_alert_webhook_needs_its_token() {
    let app = wharf_tests::spawn_app().await.unwrap();
    let http = reqwest::Client::new();
    let payload = json!({"alerts": [{"status": "firing", "fingerprint": "x", "labels": {"alertname": "Fake", "namespace": "alpha", "wharf_app": "orders"}}]});
    // without a configured token, nothing is accepted
    let r = http
        .post(app.url("/hooks/alertmanager"))
        .bearer_auth("anything")
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(app.state.monitoring.alerts.rows().is_empty());

    let mut settings = (*app.state.settings).clone();
    settings.monitoring.webhook_token = Some(wharf_console::monitoring::Token::new("s3cret-token"));
    let mut state = app.state.clone();
    state.settings = std::sync::Arc::new(settings);
    let dir = wharf_tests::site_dir().unwrap();
    let addr = wharf_tests::serve_state(state.clone(), dir.path())
        .await
        .unwrap();
    let url = format!("http://{addr}/hooks/alertmanager");
    for bad in [
        None,
        Some("wrong"),
        Some("s3cret-toke"),
        Some("s3cret-token2"),
    ] {
        let mut req = http.post(&url).json(&payload);
        if let Some(t) = bad {
            req = req.bearer_auth(t);
        }
        assert_eq!(
            req.send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{bad:?}"
        );
    }
    assert!(
        state.monitoring.alerts.rows().is_empty(),
        "a refused request recorded alerts"
    );
    let r = http
        .post(&url)
        .bearer_auth("s3cret-token")
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(state.monitoring.alerts.rows().len(), 1);
    // alice sees it, bob does not
    let alice = app.login("alice").await.unwrap();
    let (_, b) = alice
        .call(
            "list_alerts",
            json!({"tenant": "alpha", "namespace": null, "app": null}),
        )
        .await
        .unwrap();
    assert_eq!(b.as_array().unwrap().len(), 1, "{b}");
    let bob = app.login("bob").await.unwrap();
    let (_, b) = bob
        .call(
            "list_alerts",
            json!({"tenant": "beta", "namespace": null, "app": null}),
        )
        .await
        .unwrap();
    assert_eq!(b.as_array().unwrap().len(), 0, "{b}");
}

// ---------------------------------------------------------------------------------------
// Small servers the tests stand up: an HTTP endpoint that records what it is sent (a
// tenant's webhook, or a fake Prometheus/Alertmanager that answers as told) and a mail sink.

type Handler = Arc<dyn Fn(&str, &str) -> (u16, String) + Send + Sync>;

/// Requests an HTTP server received: (method, path, body).
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, String, String)>>>);

impl Received {
    fn bodies(&self, path: &str) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p, _)| p == path)
            .filter_map(|(_, _, b)| serde_json::from_str(b).ok())
            .collect()
    }
}

/// Serves HTTP/1.1 on `addr` (port 0: any), one request per connection, answering `handler(method, path)`.
async fn http_server(addr: SocketAddr, handler: Handler) -> (SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    let received = Received::default();
    let seen = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (handler, seen) = (handler.clone(), seen.clone());
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or_default().to_string(),
                    parts.next().unwrap_or_default().to_string(),
                );
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).await.unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                seen.0.lock().unwrap().push((
                    method.clone(),
                    path.clone(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let (status, text) = handler(&method, &path);
                let res = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
                let mut socket = reader.into_inner();
                let _ = socket.write_all(res.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (bound, received)
}

/// A tenant's webhook: records every notification, answers 200.
async fn webhook_receiver() -> (SocketAddr, Received) {
    http_server(
        "127.200.0.1:0".parse().unwrap(),
        Arc::new(|_, _| (200, String::new())),
    )
    .await
}

/// The alerts of every notification a webhook received: (namespace, status).
fn notified(r: &Received, path: &str) -> Vec<(String, String)> {
    r.bodies(path)
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["labels"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                a["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A mail received by the sink: recipients and the message as sent.
#[derive(Clone, Debug)]
struct Mail {
    to: Vec<String>,
    data: String,
}

/// An SMTP server that accepts every mail (no TLS, no auth) and keeps it.
async fn smtp_sink() -> (SocketAddr, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut mail = Mail {
                    to: Vec::new(),
                    data: String::new(),
                };
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "RCPT" => {
                            mail.to.push(
                                line.split_once(':')
                                    .map(|(_, a)| a.trim().trim_matches(['<', '>']).to_string())
                                    .unwrap_or_default(),
                            );
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                mail.data.push_str(&l);
                                mail.data.push('\n');
                            }
                            kept.lock().unwrap().push(std::mem::replace(
                                &mut mail,
                                Mail {
                                    to: Vec::new(),
                                    data: String::new(),
                                },
                            ));
                            b"250 OK queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, mails)
}

/// The egress policy of `wharf demo`: tenants' webhooks may be on its "outside" range of
/// loopback (127.200.0.0/16), where the tests' webhook receivers listen; the rest of loopback
/// (Prometheus, Alertmanager, the console) stays refused.
fn demo_egress() -> wharf_console::egress::EgressPolicy {
    wharf_console::egress::EgressPolicy {
        allowed: vec![server::settings::DEMO_OUTSIDE.parse().unwrap()],
        ..Default::default()
    }
}

async fn add(who: &Session, tenant: &str, r: Value) -> (StatusCode, Value) {
    who.call(
        "add_alert_receiver",
        json!({"tenant": tenant, "receiver": r}),
    )
    .await
    .unwrap()
}

fn receiver(name: &str, kind: &str, to: &str) -> Value {
    json!({"name": name, "kind": kind, "to": to})
}

async fn receivers_of(who: &Session, tenant: &str) -> (StatusCode, Value) {
    who.call("alert_receivers", json!({"tenant": tenant}))
        .await
        .unwrap()
}

fn receiver_names(view: &Value) -> Vec<String> {
    view["receivers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn tenant_receivers_get_their_tenants_alerts_and_no_others() {
    let (smtp, mails) = smtp_sink().await;
    let m = spawn_monitored_with(Some(smtp)).await.unwrap();
    let app = &m.app;
    let (alice, bob, vera) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );
    let (alpha_hook, alpha_seen) = webhook_receiver().await;
    let (beta_hook, beta_seen) = webhook_receiver().await;
    let config = m.cfg.alertmanager_config();
    // the console brings Alertmanager's file in step with the tenants (no receivers yet) once both run
    eventually(
        Duration::from_secs(30),
        "the console to render Alertmanager's configuration",
        || async {
            std::fs::read_to_string(&config)
                .ok()
                .filter(|t| t.contains("Managed by Wharf"))
                .map(|_| ())
        },
    )
    .await
    .unwrap();

    // 1. bad input: a clear message, nothing written
    let before = std::fs::read_to_string(&config).unwrap();
    for (r, says) in [
        (receiver("ops", "Webhook", "not a url"), "is not a URL"),
        (
            receiver("ops", "Webhook", "ftp://files.example.org/"),
            "http:// or https://",
        ),
        (receiver("ops", "Email", "nobody"), "not an e-mail address"),
        (
            receiver("ops", "Email", "a@example.org, b@example.org"),
            "not an e-mail address",
        ),
        (
            receiver("Ops Team", "Webhook", "https://hooks.example.org/x"),
            "lowercase",
        ),
    ] {
        let (s, b) = add(&alice, "alpha", r.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{r}: {b}");
        assert!(b.to_string().contains(says), "{r}: {b}");
    }
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before,
        "refused input changed Alertmanager's file"
    );
    assert!(receiver_names(&receivers_of(&alice, "alpha").await.1).is_empty());

    // ... and a URL leading into the platform is refused with the reason, whatever its form
    let am = format!("http://{}", m.cfg.alertmanager_addr);
    for (url, says) in [
        (format!("{am}/api/v2/silences"), "loopback".to_string()),
        ("http://localhost:9090/-/quit".into(), "loopback".into()),
        ("http://[::1]:9093/".into(), "loopback".into()),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "link-local address (such as the cloud's metadata service)".into(),
        ),
        ("http://0.0.0.0:8080/".into(), "unspecified".into()),
        (
            "https://no-such-host.invalid/".into(),
            "does not resolve to any address".into(),
        ),
    ] {
        let (s, b) = add(&alice, "alpha", receiver("ops", "Webhook", &url)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{url}: {b}");
        assert!(
            b["Forbidden"]["en"]
                .as_str()
                .unwrap_or_default()
                .contains(&says),
            "{url}: {b}"
        );
        assert!(
            b["Forbidden"]["zh"]
                .as_str()
                .unwrap_or_default()
                .contains("Webhook 地址"),
            "{url}: {b}"
        );
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    assert!(receiver_names(&receivers_of(&alice, "alpha").await.1).is_empty());

    // 2. each tenant adds its own; names are unique; viewers see, do not change; others see nothing
    let (s, b) = add(
        &alice,
        "alpha",
        receiver(
            "alpha-hook",
            "Webhook",
            &format!("http://{alpha_hook}/alpha"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = add(
        &alice,
        "alpha",
        receiver("alpha-hook", "Webhook", "http://127.200.0.2/other"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b.to_string()
            .contains("already a receiver named 'alpha-hook'"),
        "{b}"
    );
    let (s, b) = add(
        &alice,
        "alpha",
        receiver("alpha-mail", "Email", "ops@alpha.example.org"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = add(
        &bob,
        "beta",
        receiver("beta-hook", "Webhook", &format!("http://{beta_hook}/beta")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = add(
        &vera,
        "alpha",
        receiver("vera-hook", "Webhook", "https://hooks.example.org/v"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, view) = receivers_of(&vera, "alpha").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(receiver_names(&view), vec!["alpha-hook", "alpha-mail"]);
    assert_eq!(
        (view["managed"].clone(), view["email"].clone()),
        (json!(true), json!(true))
    );
    let (s, _) = receivers_of(&bob, "alpha").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, view) = receivers_of(&bob, "beta").await;
    assert_eq!(receiver_names(&view), vec!["beta-hook"]);
    assert!(
        !view.to_string().contains(&alpha_hook.to_string()),
        "{view}"
    );
    let (s, _) = bob
        .call(
            "remove_alert_receiver",
            json!({"tenant": "alpha", "name": "alpha-hook"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);
    // kept in the cluster, in the tenant
    let tenants: kube::Api<crds::Tenant> = kube::Api::all(app.kube.clone());
    let alpha = tenants.get("alpha").await.unwrap();
    let kept: Vec<&str> = alpha
        .spec
        .alerting
        .as_ref()
        .unwrap()
        .receivers
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(kept, vec!["alpha-hook", "alpha-mail"]);
    // and loaded by Alertmanager, as its status API says
    let status: Value = reqwest::get(format!("http://{}/api/v2/status", m.cfg.alertmanager_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded = status["config"]["original"].as_str().unwrap();
    for want in [
        "tenant:alpha",
        "tenant:beta",
        "ops@alpha.example.org",
        &format!("http://{alpha_hook}/alpha"),
        "namespace=~\"beta\"",
    ] {
        assert!(
            loaded.contains(want),
            "Alertmanager has not loaded {want}: {loaded}"
        );
    }

    // 3. an alert in each tenant: each receiver gets its own tenant's, and only those
    let (s, b) = alice.call("set_alert_rules", json!({"tenant": "alpha", "namespace": "alpha", "name": "orders", "thresholds": {"threads": "1", "duration": "2s"}})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = bob.call("set_alert_rules", json!({"tenant": "beta", "namespace": "beta", "name": "billing", "thresholds": {"threads": "1", "duration": "2s"}})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    eventually(
        Duration::from_secs(90),
        "alpha's webhook to be told of alpha's alert",
        || async {
            notified(&alpha_seen, "/alpha")
                .iter()
                .any(|(ns, st)| ns == "alpha" && st == "firing")
                .then_some(())
        },
    )
    .await
    .unwrap();
    eventually(
        Duration::from_secs(90),
        "beta's webhook to be told of beta's alert",
        || async {
            notified(&beta_seen, "/beta")
                .iter()
                .any(|(ns, st)| ns == "beta" && st == "firing")
                .then_some(())
        },
    )
    .await
    .unwrap();
    let mail = eventually(Duration::from_secs(90), "alpha's mail", || async {
        mails
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.to.iter().any(|t| t == "ops@alpha.example.org"))
            .cloned()
    })
    .await
    .unwrap();
    assert!(mail.data.contains("WharfThreadsHigh"), "{}", mail.data);
    assert!(
        mails
            .lock()
            .unwrap()
            .iter()
            .all(|m| m.to == vec!["ops@alpha.example.org".to_string()]),
        "a mail went elsewhere"
    );
    // the console's own webhook still gets them (the route continues)
    eventually(Duration::from_secs(30), "the alert on alpha's page", || {
        alert_is(&alice, "alpha", "firing")
    })
    .await
    .unwrap();
    let alpha_got = notified(&alpha_seen, "/alpha");
    let beta_got = notified(&beta_seen, "/beta");
    assert!(
        alpha_got.iter().all(|(ns, _)| ns == "alpha"),
        "alpha's receiver got another tenant's alert: {alpha_got:?}"
    );
    assert!(
        beta_got.iter().all(|(ns, _)| ns == "beta"),
        "beta's receiver got another tenant's alert: {beta_got:?}"
    );
    assert!(
        !mails
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.data.contains("billing-")),
        "alpha's mail names a beta pod"
    );

    // 4. removing: Alertmanager forgets it; an unknown name is 404
    let (s, b) = alice
        .call(
            "remove_alert_receiver",
            json!({"tenant": "alpha", "name": "alpha-hook"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let status: Value = reqwest::get(format!("http://{}/api/v2/status", m.cfg.alertmanager_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded = status["config"]["original"].as_str().unwrap();
    assert!(
        !loaded.contains(&format!("http://{alpha_hook}/alpha"))
            && loaded.contains("ops@alpha.example.org"),
        "{loaded}"
    );
    let (s, _) = alice
        .call(
            "remove_alert_receiver",
            json!({"tenant": "alpha", "name": "alpha-hook"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        receiver_names(&receivers_of(&alice, "alpha").await.1),
        vec!["alpha-mail"]
    );
}

/// A second console against the same cluster and Alertmanager, as after a restart: nothing
/// in memory. Its settings name the first console's webhook, so Alertmanager never posts to
/// it — what it shows, it learned from Alertmanager's API and the cluster's Events.
async fn restarted_console(
    m: &Monitored,
) -> (
    SocketAddr,
    wharf_console::state::AppState,
    tempfile::TempDir,
) {
    let settings = wharf_console::state::Settings {
        monitoring: m.cfg.settings(),
        egress: demo_egress(),
        ..Default::default()
    };
    let logs = logstore::Store::in_memory(logstore::Config::default()).unwrap();
    let console = wharf_tests::start_console(
        m.app.kube.clone(),
        settings,
        logs,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    (console.addr, console.state, console.site)
}

/// Calls a server function of the console at `addr` with a session cookie (sessions are
/// signed with the cluster's key, so one console's cookie is good at the other).
async fn call_at(
    addr: SocketAddr,
    who: &Session,
    endpoint: &str,
    args: Value,
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/api/{endpoint}"))
        .header(reqwest::header::COOKIE, who.cookie().unwrap())
        .json(&args)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn has_alert(list: &Value, app: &str, status: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|a| a["app"] == app && a["status"] == status))
}

#[tokio::test]
async fn alerts_survive_a_console_restart() {
    use k8s_openapi::api::core::v1::Event;
    let m = spawn_monitored().await.unwrap();
    let app = &m.app;
    let (alice, bob) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
    );
    let set = |name: &str, threads: &str| {
        alice.call("set_alert_rules", json!({"tenant": "alpha", "namespace": "alpha", "name": name, "thresholds": {"threads": threads, "duration": "2s"}}))
    };
    // orders fires and resolves; shop-web fires and stays firing
    assert_eq!(set("orders", "1").await.unwrap().0, StatusCode::OK);
    eventually(Duration::from_secs(90), "orders to fire", || {
        alert_is(&alice, "alpha", "firing")
    })
    .await
    .unwrap();
    assert_eq!(set("orders", "100000").await.unwrap().0, StatusCode::OK);
    eventually(Duration::from_secs(90), "orders to resolve", || {
        alert_is(&alice, "alpha", "resolved")
    })
    .await
    .unwrap();
    assert_eq!(set("shop-web", "1").await.unwrap().0, StatusCode::OK);
    eventually(Duration::from_secs(90), "shop-web to fire", || async {
        let (_, b) = alice
            .call(
                "list_alerts",
                json!({"tenant": "alpha", "namespace": null, "app": null}),
            )
            .await
            .ok()?;
        has_alert(&b, "shop-web", "firing").then_some(())
    })
    .await
    .unwrap();

    // the history is in the cluster, as Events in the alert's namespace, and the app's event list shows them
    let events: kube::Api<Event> = kube::Api::namespaced(app.kube.clone(), "alpha");
    let reasons = |list: Vec<Event>| {
        list.into_iter()
            .filter_map(|e| e.reason)
            .collect::<Vec<_>>()
    };
    let ours = reasons(
        events
            .list(&kube::api::ListParams::default().labels("wharf.dev/alert"))
            .await
            .unwrap()
            .items,
    );
    assert!(
        ours.contains(&"AlertFiring".to_string()) && ours.contains(&"AlertResolved".to_string()),
        "{ours:?}"
    );
    let (_, b) = alice
        .call(
            "app_events",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"}),
        )
        .await
        .unwrap();
    let shown: Vec<&str> = b
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        shown.contains(&"AlertFiring") && shown.contains(&"AlertResolved"),
        "{shown:?}"
    );
    let beta_events: kube::Api<Event> = kube::Api::namespaced(app.kube.clone(), "beta");
    assert!(reasons(
        beta_events
            .list(&kube::api::ListParams::default().labels("wharf.dev/alert"))
            .await
            .unwrap()
            .items
    )
    .is_empty());

    // an episode a console saw start but never end (it died first): Alertmanager does not list it
    let orphan = wharf_api::monitoring::AlertRow {
        id: "0123456789abcdef".into(),
        name: "WharfSocketsHigh".into(),
        namespace: "alpha".into(),
        app: "ghost".into(),
        pod: "ghost-5d8f7c9b6-x2x2x".into(),
        status: "firing".into(),
        summary: "Sockets of ghost-5d8f7c9b6-x2x2x is 9, above 5 for 1m".into(),
        starts_at: "2024-05-01T10:00:00Z".into(),
        ends_at: None,
        updated: "2024-05-01T10:01:00Z".into(),
        silenced_by: vec![],
    };
    events
        .create(
            &Default::default(),
            &wharf_console::monitoring::alerts::alert_event(&orphan).unwrap(),
        )
        .await
        .unwrap();

    // restart: the new console shows what is firing (from Alertmanager) and what was resolved (from the Events)
    let (second, state, _site) = restarted_console(&m).await;
    let list = eventually(
        Duration::from_secs(30),
        "the restarted console to show the alerts",
        || async {
            let (s, b) = call_at(
                second,
                &alice,
                "list_alerts",
                json!({"tenant": "alpha", "namespace": null, "app": null}),
            )
            .await;
            (s == StatusCode::OK
                && has_alert(&b, "shop-web", "firing")
                && has_alert(&b, "orders", "resolved")
                && has_alert(&b, "ghost", "resolved"))
            .then_some(b)
        },
    )
    .await
    .unwrap();
    assert!(!has_alert(&list, "orders", "firing"), "{list}");
    // no webhook reaches the new console: what it knows is firing, it read from Alertmanager
    let live = state.monitoring.alerts.firing();
    assert!(live.iter().any(|a| a.app == "shop-web"), "{live:?}");
    let ghost = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == "ghost")
        .unwrap();
    assert!(
        ghost["ends_at"].is_string(),
        "an episode that ended unseen gets an end: {ghost}"
    );
    // … and recorded that end in the cluster
    let ended = events
        .get_opt(&wharf_console::monitoring::alerts::event_name(
            &wharf_api::monitoring::AlertRow {
                status: "resolved".into(),
                ..orphan
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        ended.and_then(|e| e.reason).as_deref(),
        Some("AlertResolved")
    );
    // isolation holds on the new console too
    let (s, b) = call_at(
        second,
        &bob,
        "list_alerts",
        json!({"tenant": "beta", "namespace": null, "app": null}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!b.to_string().contains("alpha"), "{b}");
    let (s, _) = call_at(
        second,
        &bob,
        "list_alerts",
        json!({"tenant": "alpha", "namespace": null, "app": null}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_prometheus_or_alertmanager_that_is_down_or_refuses_gets_503_naming_it() {
    use wharf_console::monitoring::{MonitoringSettings, Token};
    let dir = tempfile::tempdir().unwrap();
    let backend = free_port().unwrap();
    let url = format!("http://{backend}");
    let (rules_dir, am_config) = (
        dir.path().join("rules"),
        dir.path().join("alertmanager.yml"),
    );
    std::fs::create_dir_all(&rules_dir).unwrap();
    let monitoring = MonitoringSettings {
        prometheus_url: Some(url.clone()),
        alertmanager_url: Some(url.clone()),
        rules_dir: Some(rules_dir.clone()),
        webhook_url: Some("http://127.0.0.1:9/hooks/alertmanager".into()),
        webhook_token: Some(Token::new("t0ken")),
        alertmanager_config: Some(am_config.clone()),
        // NB: one sync at start only, so the test alone talks to the fake below
        sync_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(
        wharf_console::state::Settings {
            monitoring,
            egress: demo_egress(),
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let alice = app.login("alice").await.unwrap();
    let panel = json!({"tenant": "alpha", "panel": "Threads", "target": "Tenant", "minutes": 15});
    let rules = json!({"tenant": "alpha", "namespace": "alpha", "name": "shop", "thresholds": {"threads": "5"}});
    let hook =
        json!({"tenant": "alpha", "receiver": receiver("ops", "Webhook", "http://127.200.0.3/x")});
    let unchanged = |what: &str| {
        let files: Vec<_> = std::fs::read_dir(&rules_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert!(files.is_empty(), "{what}: rule files left: {files:?}");
        assert!(
            !am_config.exists(),
            "{what}: an Alertmanager configuration was left"
        );
    };
    let no_receivers =
        || async { receiver_names(&receivers_of(&alice, "alpha").await.1).is_empty() };

    // 1. nothing listens: 503, naming what and where
    let down = format!("Prometheus at {url} is not reachable");
    for (endpoint, args) in [
        ("query_range", panel.clone()),
        (
            "query_promql",
            json!({"tenant": "alpha", "query": "container_threads", "minutes": 15}),
        ),
        ("set_alert_rules", rules.clone()),
    ] {
        let (s, b) = alice.call(endpoint, args).await.unwrap();
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{endpoint}: {b}");
        assert!(b.to_string().contains(&down), "{endpoint}: {b}");
    }
    let silence = json!({"namespace": "alpha", "app": {"value": "shop"}, "duration": "1h", "comment": "maintenance"});
    for (endpoint, args) in [
        ("add_alert_receiver", hook.clone()),
        ("list_silences", json!({"tenant": "alpha"})),
        (
            "create_silence",
            json!({"tenant": "alpha", "silence": silence}),
        ),
        (
            "expire_silence",
            json!({"tenant": "alpha", "id": "002fe24b-98dc-475f-bc48-392b176a984a"}),
        ),
    ] {
        let (s, b) = alice.call(endpoint, args).await.unwrap();
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{endpoint}: {b}");
        assert!(
            b.to_string()
                .contains(&format!("Alertmanager at {url} is not reachable")),
            "{endpoint}: {b}"
        );
    }
    unchanged("while down");
    assert!(
        no_receivers().await,
        "the tenant kept a receiver Alertmanager never loaded"
    );

    // 2. up, but refusing to reload (and to answer queries): 503 with its reason, previous state kept
    let refuse: Handler = Arc::new(|method, path| match (method, path) {
        ("GET", "/-/ready") => (200, "ready".into()),
        ("POST", "/-/reload") => (500, "boom: the fake refuses to reload".into()),
        ("GET", "/api/v1/rules") => (200, r#"{"status":"success","data":{"groups":[]}}"#.into()),
        ("GET", "/api/v2/status") => (
            200,
            r#"{"config":{"original":"route: {receiver: wharf}\nreceivers: [{name: wharf}]\n"}}"#
                .into(),
        ),
        ("GET", "/api/v2/alerts") => (200, "[]".into()),
        ("POST", "/api/v1/query_range") => (
            503,
            r#"{"status":"error","errorType":"unavailable","error":"the fake is overloaded"}"#
                .into(),
        ),
        _ => (404, "{}".into()),
    });
    let (_, seen) = http_server(backend, refuse).await;
    let (s, b) = alice.call("set_alert_rules", rules).await.unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        b.to_string().contains(&format!(
            "Prometheus at {url} failed to reload its rules: boom"
        )),
        "{b}"
    );
    let (s, b) = alice.call("add_alert_receiver", hook).await.unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        b.to_string().contains(&format!(
            "Alertmanager at {url} did not load the new configuration: boom"
        )),
        "{b}"
    );
    let (s, b) = alice.call("query_range", panel).await.unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        b.to_string().contains("the fake is overloaded") && b.to_string().contains(&url),
        "{b}"
    );
    unchanged("after refused reloads");
    assert!(
        no_receivers().await,
        "the tenant kept a receiver Alertmanager refused"
    );
    let reloads = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/-/reload")
        .count();
    assert!(
        reloads >= 4,
        "each refused change is tried, then the previous state reloaded ({reloads} reloads)"
    );
}

// ---------------------------------------------------------------------------------------
// Silences, through Alertmanager's own API as the console uses it.

/// Every silence Alertmanager holds (the console's view aside).
async fn am_silences(m: &Monitored) -> Vec<Value> {
    let url = format!("http://{}/api/v2/silences", m.cfg.alertmanager_addr);
    reqwest::get(url)
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The silences muting orders' threads alert, as Alertmanager's alert API says (`None`: not firing).
async fn orders_silenced_by(m: &Monitored) -> Option<Vec<String>> {
    let url = format!("http://{}/api/v2/alerts", m.cfg.alertmanager_addr);
    let alerts: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    let a = alerts.as_array()?.iter().find(|a| {
        a["labels"]["wharf_app"] == "orders" && a["labels"]["alertname"] == "WharfThreadsHigh"
    })?;
    Some(
        a["status"]["silencedBy"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
    )
}

/// The console's row of orders' firing alert: is it silenced, by what.
async fn orders_row_silenced_by(who: &Session) -> Option<Vec<String>> {
    let (_, b) = who
        .call(
            "list_alerts",
            json!({"tenant": "alpha", "namespace": null, "app": null}),
        )
        .await
        .ok()?;
    let a = b
        .as_array()?
        .iter()
        .find(|a| a["app"] == "orders" && a["status"] == "firing")?;
    Some(
        a["silenced_by"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
    )
}

fn merged(base: &Value, patch: Value) -> Value {
    let mut v = base.clone();
    v.as_object_mut()
        .unwrap()
        .extend(patch.as_object().unwrap().clone());
    v
}

async fn create(who: &Session, tenant: &str, silence: Value) -> (StatusCode, Value) {
    who.call(
        "create_silence",
        json!({"tenant": tenant, "silence": silence}),
    )
    .await
    .unwrap()
}

async fn silences_of(who: &Session, tenant: &str) -> (StatusCode, Value) {
    who.call("list_silences", json!({"tenant": tenant}))
        .await
        .unwrap()
}

fn listed(view: &Value, id: &str) -> Option<Value> {
    view["silences"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
}

#[tokio::test]
async fn silences_mute_a_tenants_alerts_and_no_others() {
    let mut m = spawn_monitored().await.unwrap();
    let (alice, bob, vera) = (
        m.app.login("alice").await.unwrap(),
        m.app.login("bob").await.unwrap(),
        m.app.login("vera").await.unwrap(),
    );
    // an alert to silence: orders leaks threads
    let (s, b) = alice.call("set_alert_rules", json!({"tenant": "alpha", "namespace": "alpha", "name": "orders", "thresholds": {"threads": "1", "duration": "2s"}})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    eventually(Duration::from_secs(90), "orders' alert to fire", || {
        alert_is(&alice, "alpha", "firing")
    })
    .await
    .unwrap();
    assert_eq!(orders_silenced_by(&m).await, Some(vec![]));
    let good = json!({"namespace": "alpha", "app": {"value": "orders"}, "alertname": {"value": "WharfThreadsHigh"}, "duration": "1h", "comment": "database upgrade"});

    // 1. bad input: a clear message, nothing created
    for (patch, status, says) in [
        (
            json!({"comment": "  "}),
            StatusCode::BAD_REQUEST,
            "comment: say why",
        ),
        (
            json!({"comment": "x".repeat(501)}),
            StatusCode::BAD_REQUEST,
            "at most 500 characters",
        ),
        (
            json!({"duration": "0m"}),
            StatusCode::BAD_REQUEST,
            "would end the silence at once",
        ),
        (
            json!({"duration": "-1h"}),
            StatusCode::BAD_REQUEST,
            "negative",
        ),
        (
            json!({"duration": "31d"}),
            StatusCode::BAD_REQUEST,
            "30 days",
        ),
        (
            json!({"duration": "", "ends_at": "2020-01-01T00:00:00Z"}),
            StatusCode::BAD_REQUEST,
            "in the past",
        ),
        (
            json!({"duration": ""}),
            StatusCode::BAD_REQUEST,
            "give a duration",
        ),
        (
            json!({"pod": {"value": "orders-(", "regex": true}}),
            StatusCode::BAD_REQUEST,
            "'orders-(' is not a regular expression",
        ),
        (
            json!({"app": {"value": ""}}),
            StatusCode::BAD_REQUEST,
            "app: required",
        ),
        (
            json!({"namespace": "nowhere"}),
            StatusCode::FORBIDDEN,
            "namespace 'nowhere' does not belong to tenant 'alpha'",
        ),
    ] {
        let (s, b) = create(&alice, "alpha", merged(&good, patch.clone())).await;
        assert_eq!(s, status, "{patch}: {b}");
        assert!(b.to_string().contains(says), "{patch}: {b}");
    }
    let (s, _) = create(&vera, "alpha", good.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a viewer created a silence");
    assert!(
        am_silences(&m).await.is_empty(),
        "a refused silence reached Alertmanager: {:?}",
        am_silences(&m).await
    );

    // 2. alice silences orders' alert; who made it is the session's, not the request's
    let (s, b) = create(
        &alice,
        "alpha",
        merged(
            &good,
            json!({"createdBy": "mallory", "created_by": "mallory"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = b.as_str().expect("the new silence's id").to_string();
    let (s, view) = silences_of(&alice, "alpha").await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["configured"], true);
    let row = listed(&view, &id).unwrap_or_else(|| panic!("{id} not listed: {view}"));
    assert_eq!(
        (
            row["state"].as_str(),
            row["created_by"].as_str(),
            row["comment"].as_str()
        ),
        (Some("active"), Some("alice"), Some("database upgrade")),
        "{row}"
    );
    assert_eq!(
        row["matchers"][0],
        json!({"name": "namespace", "value": "alpha", "regex": false, "equal": true}),
        "{row}"
    );
    let (s, view) = silences_of(&vera, "alpha").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        listed(&view, &id).is_some(),
        "a viewer sees the tenant's silences: {view}"
    );
    let kept = am_silences(&m).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["createdBy"], "alice");
    // Alertmanager mutes the alert, and the console's alert list says so
    eventually(
        Duration::from_secs(30),
        "Alertmanager to mark orders' alert silenced",
        || async {
            orders_silenced_by(&m)
                .await
                .filter(|by| by.contains(&id))
                .map(|_| ())
        },
    )
    .await
    .unwrap();
    eventually(
        Duration::from_secs(30),
        "the console's alert list to show it silenced",
        || async {
            orders_row_silenced_by(&alice)
                .await
                .filter(|by| by.contains(&id))
                .map(|_| ())
        },
    )
    .await
    .unwrap();

    // 3. beta: sees none of alpha's silences, cannot expire them, cannot silence alpha's namespace
    let (s, view) = silences_of(&bob, "beta").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        listed(&view, &id).is_none() && !view.to_string().contains("alpha"),
        "{view}"
    );
    assert_eq!(silences_of(&bob, "alpha").await.0, StatusCode::FORBIDDEN);
    let unknown = "00000000-1111-2222-3333-444444444444";
    let (s, theirs) = bob
        .call("expire_silence", json!({"tenant": "beta", "id": id}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND, "{theirs}");
    let (s, missing) = bob
        .call("expire_silence", json!({"tenant": "beta", "id": unknown}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(
        theirs.to_string().replace(&id, "ID"),
        missing.to_string().replace(unknown, "ID"),
        "another tenant's silence answers like a missing one"
    );
    assert_eq!(
        bob.call("expire_silence", json!({"tenant": "alpha", "id": id}))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, b) = create(&bob, "beta", good.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(
        create(&bob, "alpha", merged(&good, json!({"namespace": "beta"})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // what bob may do lands in beta only, whatever the app regex
    let (s, b) = create(&bob, "beta", json!({"namespace": "beta", "app": {"value": ".*", "regex": true}, "duration": "10m", "comment": "all of beta"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let bobs = b.as_str().unwrap().to_string();
    let raw = am_silences(&m)
        .await
        .into_iter()
        .find(|s| s["id"] == bobs.as_str())
        .unwrap();
    assert_eq!(
        (
            raw["matchers"][0]["name"].as_str(),
            raw["matchers"][0]["value"].as_str(),
            raw["matchers"][0]["isRegex"].as_bool()
        ),
        (Some("namespace"), Some("beta"), Some(false)),
        "{raw}"
    );
    assert!(listed(&silences_of(&alice, "alpha").await.1, &bobs).is_none());
    assert_eq!(
        alice
            .call("expire_silence", json!({"tenant": "alpha", "id": bobs}))
            .await
            .unwrap()
            .0,
        StatusCode::NOT_FOUND
    );
    // a silence made elsewhere (amtool) reaching both tenants is neither's to see or expire
    let now = chrono::Utc::now();
    let wide: Value = reqwest::Client::new()
        .post(format!("http://{}/api/v2/silences", m.cfg.alertmanager_addr))
        .json(&json!({"matchers": [{"name": "namespace", "value": "alpha|beta", "isRegex": true, "isEqual": true}],
            "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(), "createdBy": "ops", "comment": "platform maintenance"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wide = wide["silenceID"].as_str().unwrap().to_string();
    for (who, tenant) in [(&alice, "alpha"), (&bob, "beta")] {
        assert!(
            listed(&silences_of(who, tenant).await.1, &wide).is_none(),
            "{tenant} lists a silence reaching beyond it"
        );
        assert_eq!(
            who.call("expire_silence", json!({"tenant": tenant, "id": wide}))
                .await
                .unwrap()
                .0,
            StatusCode::NOT_FOUND,
            "{tenant}"
        );
    }
    let active = |id: &str, all: &[Value]| {
        all.iter()
            .any(|s| s["id"] == id && s["status"]["state"] == "active")
    };
    let all = am_silences(&m).await;
    assert!(
        active(&id, &all) && active(&bobs, &all) && active(&wide, &all),
        "{all:?}"
    );
    // (it mutes orders' alert too: its maker takes it back)
    let r = reqwest::Client::new()
        .delete(format!(
            "http://{}/api/v2/silence/{wide}",
            m.cfg.alertmanager_addr
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // 4. a viewer cannot expire; alice can: the alert notifies again
    assert_eq!(
        vera.call("expire_silence", json!({"tenant": "alpha", "id": id}))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, b) = alice
        .call("expire_silence", json!({"tenant": "alpha", "id": id}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let row = listed(&silences_of(&alice, "alpha").await.1, &id)
        .expect("a recently expired silence is still listed");
    assert_eq!(row["state"], "expired", "{row}");
    assert!(!active(&id, &am_silences(&m).await));
    eventually(
        Duration::from_secs(30),
        "Alertmanager to stop muting orders' alert",
        || async {
            orders_silenced_by(&m)
                .await
                .filter(|by| by.is_empty())
                .map(|_| ())
        },
    )
    .await
    .unwrap();
    eventually(
        Duration::from_secs(30),
        "the console's alert list to show it no longer silenced",
        || async {
            orders_row_silenced_by(&alice)
                .await
                .filter(|by| by.is_empty())
                .map(|_| ())
        },
    )
    .await
    .unwrap();
    // expiring it again changes nothing
    assert_eq!(
        alice
            .call("expire_silence", json!({"tenant": "alpha", "id": id}))
            .await
            .unwrap()
            .0,
        StatusCode::OK
    );

    // 5. Alertmanager down: 503 naming it, for each of the three
    m.stack.take().unwrap().stop().await;
    let named = format!(
        "Alertmanager at http://{} is not reachable",
        m.cfg.alertmanager_addr
    );
    for (endpoint, args) in [
        ("list_silences", json!({"tenant": "alpha"})),
        (
            "create_silence",
            json!({"tenant": "alpha", "silence": good}),
        ),
        ("expire_silence", json!({"tenant": "alpha", "id": bobs})),
    ] {
        let (s, b) = alice.call(endpoint, args).await.unwrap();
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{endpoint}: {b}");
        assert!(b.to_string().contains(&named), "{endpoint}: {b}");
    }
}
