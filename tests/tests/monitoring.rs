//! Monitoring against a real Prometheus and Alertmanager (Debian's), each test with its own
//! temporary folder and free ports: tenant isolation of every query path (panels and
//! hand-written PromQL), alert rules written, checked, loaded and confirmed per app, an
//! alert that fires and resolves through the webhook, bad input and a Prometheus that is down.

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::monitoring::{free_port, Stack, StackConfig};
use std::time::Duration;
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
    let dir = tempfile::tempdir()?;
    let console = free_port()?;
    let mut cfg = StackConfig::local(dir.path(), "", console)?;
    let settings = wharf_app::state::Settings { monitoring: cfg.settings(), ..Default::default() };
    let app = wharf_tests::spawn_app_with(settings, console).await?;
    server::demo::seed::apps(&app.kube).await?;
    cfg.kubeconfig_yaml = app.cluster.kubeconfig_yaml();
    let stack = Stack::start(cfg.clone()).await?;
    Ok(Monitored { app, stack: Some(stack), cfg, _dir: dir })
}

async fn alert_is(who: &Session, tenant: &str, status: &str) -> Option<()> {
    let (_, b) = who.call("list_alerts", json!({"tenant": tenant, "namespace": null, "app": null})).await.ok()?;
    b.as_array()?.iter().any(|a| a["app"] == "orders" && a["name"] == "WharfThreadsHigh" && a["status"] == status).then_some(())
}

fn labels(body: &Value) -> Vec<String> {
    body["series"].as_array().into_iter().flatten().map(|s| s["label"].as_str().unwrap_or_default().to_string()).collect()
}

fn has_data(body: &Value) -> bool {
    body["series"].as_array().is_some_and(|s| s.iter().any(|s| s["points"].as_array().is_some_and(|p| !p.is_empty())))
}

#[tokio::test]
async fn dashboards_rules_and_alerts_against_prometheus() {
    let mut m = spawn_monitored().await.unwrap();
    let app = &m.app;
    let (alice, bob) = (app.login("alice").await.unwrap(), app.login("bob").await.unwrap());
    let orders = json!({"App": {"namespace": "alpha", "name": "orders"}});

    // 1. alpha's dashboard fills once Prometheus has scraped the demo cluster
    let body = eventually(Duration::from_secs(60), "orders' threads in Prometheus", || async {
        let (s, b) = alice.call("query_range", json!({"tenant": "alpha", "panel": "Threads", "target": orders, "minutes": 15})).await.ok()?;
        (s == StatusCode::OK && has_data(&b)).then_some(b)
    })
    .await
    .unwrap();
    assert!(labels(&body).iter().all(|l| l.starts_with("orders-")), "{:?}", labels(&body));
    eventually(Duration::from_secs(60), "beta's own series", || async {
        let (_, b) = bob.call("query_promql", json!({"tenant": "beta", "query": "container_threads", "minutes": 15})).await.ok()?;
        has_data(&b).then_some(())
    })
    .await
    .unwrap();

    // 2. beta gets nothing of alpha's, by any path
    for (tenant, target) in [("alpha", orders.clone()), ("beta", orders.clone())] {
        let (s, _) = bob.call("query_range", json!({"tenant": tenant, "panel": "Threads", "target": target, "minutes": 15})).await.unwrap();
        assert_eq!(s, StatusCode::FORBIDDEN, "{tenant}");
    }
    for panel in ["Cpu", "Memory", "Threads", "Sockets", "Fds", "NetIn", "NetOut", "Restarts"] {
        let (s, b) = bob.call("query_range", json!({"tenant": "beta", "panel": panel, "target": "Tenant", "minutes": 15})).await.unwrap();
        assert_eq!(s, StatusCode::OK, "{panel}: {b}");
        assert!(labels(&b).iter().all(|l| l.starts_with("beta/")), "{panel}: {:?}", labels(&b));
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
        let (s, b) = bob.call("query_promql", json!({"tenant": "beta", "query": q, "minutes": 15})).await.unwrap();
        if s == StatusCode::OK {
            let text = b.to_string();
            // NB: label_replace may relabel beta's own series as "alpha"; what must never show is alpha's pods
            assert!(!text.contains("orders-") && !text.contains("shop-web-") && !text.contains("_alpha_"), "{q}: {text}");
        }
    }
    for (q, want) in [
        ("container_threads{namespace=\"alpha\"}", StatusCode::FORBIDDEN),
        ("container_threads{namespace=~\"alpha|beta\", pod=~\"orders.*\"}", StatusCode::OK),
        ("{__name__=~\"container_.*\"}", StatusCode::BAD_REQUEST),
        ("container_threads{pod=\"x\"} unknown_fn", StatusCode::BAD_REQUEST),
    ] {
        let (s, b) = bob.call("query_promql", json!({"tenant": "beta", "query": q, "minutes": 15})).await.unwrap();
        assert_eq!(s, want, "{q}: {b}");
        assert!(!b.to_string().contains("orders-"), "{q}: {b}");
    }

    // 3. thresholds: bad input is refused with a clear message and changes nothing
    let rules_dir = m.cfg.rules_dir();
    let set = |name: &str, t: Value| alice.call("set_alert_rules", json!({"tenant": "alpha", "namespace": "alpha", "name": name, "thresholds": t}));
    let (s, b) = set("shop-web", json!({"sockets": "5000", "duration": "5m"})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let shop_rules = std::fs::read_to_string(rules_dir.join("alpha_shop-web.rules.yml")).unwrap();
    for (t, says) in [
        (json!({"threads": "-5"}), "negative"),
        (json!({"cpu_percent": "150"}), "over 100"),
        (json!({"memory_percent": "lots"}), "not a number"),
        (json!({"threads": "10", "duration": "soon"}), "not a duration"),
    ] {
        let (s, b) = set("orders", t.clone()).await.unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{t}: {b}");
        assert!(b.to_string().contains(says), "{t}: {b}");
    }
    assert!(!rules_dir.join("alpha_orders.rules.yml").exists(), "a refused change left a file");

    // 4. a low threshold: loaded (confirmed by the server), fires, reaches the alerts page
    let (s, b) = set("orders", json!({"threads": "1", "duration": "2s"})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, rules) = alice.call("alert_rules", json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"})).await.unwrap();
    assert_eq!(rules["threads"], "1");
    assert_eq!(std::fs::read_to_string(rules_dir.join("alpha_shop-web.rules.yml")).unwrap(), shop_rules, "another app's rules changed");
    let leftovers: Vec<_> = std::fs::read_dir(&rules_dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).filter(|n| !n.to_string_lossy().ends_with(".rules.yml")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    eventually(Duration::from_secs(90), "the threads alert to fire and reach the webhook", || alert_is(&alice, "alpha", "firing")).await.unwrap();
    let (_, b) = bob.call("list_alerts", json!({"tenant": "beta", "namespace": null, "app": null})).await.unwrap();
    assert!(!b.to_string().contains("alpha"), "beta sees alpha's alerts: {b}");
    let (s, _) = bob.call("list_alerts", json!({"tenant": "beta", "namespace": "alpha", "app": "orders"})).await.unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);
    // the app's chart shows the threshold line
    let (_, b) = alice.call("query_range", json!({"tenant": "alpha", "panel": "Threads", "target": orders, "minutes": 15})).await.unwrap();
    assert_eq!(b["threshold"], 1.0, "{b}");

    // 5. raise it: the alert resolves
    let (s, b) = set("orders", json!({"threads": "100000", "duration": "2s"})).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    eventually(Duration::from_secs(90), "the threads alert to resolve", || alert_is(&alice, "alpha", "resolved")).await.unwrap();

    // 6. Prometheus down: a clear message, the previous rules stay
    let before = std::fs::read_to_string(rules_dir.join("alpha_orders.rules.yml")).unwrap();
    m.stack.take().unwrap().stop().await;
    let (s, b) = set("orders", json!({"threads": "7"})).await.unwrap();
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{b}");
    assert!(b.to_string().contains("not reachable"), "{b}");
    assert_eq!(std::fs::read_to_string(rules_dir.join("alpha_orders.rules.yml")).unwrap(), before);
    let (s, b) = alice.call("query_range", json!({"tenant": "alpha", "panel": "Threads", "target": orders, "minutes": 15})).await.unwrap();
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(b.to_string().contains("not reachable"), "{b}");
}

#[tokio::test]
async fn the_alert_webhook_needs_its_token() {
    let app = wharf_tests::spawn_app().await.unwrap();
    let http = reqwest::Client::new();
    let payload = json!({"alerts": [{"status": "firing", "fingerprint": "x", "labels": {"alertname": "Fake", "namespace": "alpha", "wharf_app": "orders"}}]});
    // without a configured token, nothing is accepted
    let r = http.post(app.url("/hooks/alertmanager")).bearer_auth("anything").json(&payload).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(app.state.monitoring.alerts.rows().is_empty());

    let mut settings = (*app.state.settings).clone();
    settings.monitoring.webhook_token = Some(wharf_app::monitoring::ssr::Token::new("s3cret-token"));
    let mut state = app.state.clone();
    state.settings = std::sync::Arc::new(settings);
    let dir = tempfile::tempdir().unwrap();
    let (addr, _task) = server::console::start(state.clone(), dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{addr}/hooks/alertmanager");
    for bad in [None, Some("wrong"), Some("s3cret-toke"), Some("s3cret-token2")] {
        let mut req = http.post(&url).json(&payload);
        if let Some(t) = bad {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    assert!(state.monitoring.alerts.rows().is_empty(), "a refused request recorded alerts");
    let r = http.post(&url).bearer_auth("s3cret-token").json(&payload).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(state.monitoring.alerts.rows().len(), 1);
    // alice sees it, bob does not
    let alice = app.login("alice").await.unwrap();
    let (_, b) = alice.call("list_alerts", json!({"tenant": "alpha", "namespace": null, "app": null})).await.unwrap();
    assert_eq!(b.as_array().unwrap().len(), 1, "{b}");
    let bob = app.login("bob").await.unwrap();
    let (_, b) = bob.call("list_alerts", json!({"tenant": "beta", "namespace": null, "app": null})).await.unwrap();
    assert_eq!(b.as_array().unwrap().len(), 0, "{b}");
}
