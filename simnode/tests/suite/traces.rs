//! The OpenTelemetry Collector's servicegraph and spanmetrics series the node exports for
//! pods whose agent the APM switch turned on.

use std::collections::HashMap;

use crate::common::*;
use serde_json::json;

type Sample = (String, HashMap<String, String>, f64);

fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap();
            let labels = labels
                .strip_suffix('}')
                .unwrap()
                .split("\",")
                .map(|kv| {
                    let (k, v) = kv.split_once("=\"").unwrap();
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            (name.to_string(), labels, value.parse().unwrap())
        })
        .collect()
}

/// `(client, server)` of every `traces_service_graph_request_total` series, as
/// `namespace/app` (`db/NAME` for a database).
fn edges(text: &str) -> Vec<String> {
    let mut out: Vec<String> = samples(text)
        .into_iter()
        .filter(|(n, _, _)| n == "traces_service_graph_request_total")
        .map(|(_, l, _)| {
            let server_ns = match l["connection_type"].as_str() {
                "database" => {
                    assert!(!l.contains_key("server_k8s_namespace_name"), "{l:?}");
                    "db"
                }
                "" => l["server_k8s_namespace_name"].as_str(),
                other => panic!("connection_type {other}"),
            };
            format!(
                "{}/{} > {server_ns}/{}",
                l["client_k8s_namespace_name"], l["client"], l["server"]
            )
        })
        .collect();
    out.sort();
    out
}

/// The services with spanmetrics series, as `namespace/service KIND`.
fn span_services(text: &str) -> Vec<String> {
    let mut out: Vec<String> = samples(text)
        .into_iter()
        .filter(|(n, _, _)| n == "traces_span_metrics_calls_total")
        .map(|(_, l, _)| {
            format!(
                "{}/{} {}",
                l["k8s_namespace_name"], l["service_name"], l["span_kind"]
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn edge_total(text: &str, client: &str, server: &str) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(n, l, _)| {
            n == "traces_service_graph_request_total"
                && l["client"] == client
                && l["server"] == server
        })
        .map(|(_, _, v)| v)
}

/// A Deployment-like pod of app `app` in `namespace`, with the APM switch's OpenTelemetry
/// agent (an init container copying it into the `wharf-apm` volume, the agent's env) when
/// `traced`.
fn app_pod(namespace: &str, app: &str, uid: &str, traced: bool, calls: &str) -> serde_json::Value {
    let mut container = json!({"name": "app", "image": "eclipse-temurin:21",
        "env": [{"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx512m"}]});
    let mut spec = json!({"containers": []});
    if traced {
        container["env"] = json!([
            {"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx512m -javaagent:/wharf-apm/javaagent.jar"},
            {"name": "OTEL_SERVICE_NAME", "value": app},
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"},
            // A tenant can type anything here: the namespace comes from the pod.
            {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "wharf.tenant=t,k8s.namespace.name=someone-else"},
        ]);
        container["volumeMounts"] = json!([{"name": "wharf-apm", "mountPath": "/wharf-apm"}]);
        spec["volumes"] = json!([{"name": "wharf-apm", "emptyDir": {}}]);
        spec["initContainers"] = json!([{"name": "wharf-apm-agent", "image": "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.10.0",
            "command": ["cp", "/javaagent.jar", "/wharf-apm/javaagent.jar"],
            "volumeMounts": [{"name": "wharf-apm", "mountPath": "/wharf-apm"}]}]);
    }
    spec["containers"] = json!([container]);
    json!({
        "metadata": {"name": format!("{app}-5d9c7b-x2k4q"), "namespace": namespace, "uid": uid,
            "labels": {"app": app}, "annotations": {"sim.wharf.dev/calls": calls}},
        "spec": spec
    })
}

async fn wait_text(rt: &simnode::NodeRuntime, what: &str, pred: impl Fn(&str) -> bool) -> String {
    wait_for(20, what, || {
        let text = rt.metrics_text();
        let ok = pred(&text);
        async move { ok.then_some(text) }
    })
    .await
}

#[tokio::test]
async fn traced_apps_export_their_call_graph_and_stop_when_the_agent_goes() {
    let n = node();
    let pods = [
        app_pod(
            "shop",
            "orders",
            "uid-tr-orders",
            true,
            "payments, billing/invoices@900ms!5%, db:orders-db@1.2s, bad entry!",
        ),
        app_pod(
            "shop",
            "payments",
            "uid-tr-payments",
            false,
            "db:payments-db, ledger",
        ),
        app_pod("shop", "ledger", "uid-tr-ledger", false, ""),
        app_pod(
            "billing",
            "invoices",
            "uid-tr-invoices",
            false,
            "shop/orders",
        ),
    ];
    // The agent's env without its file (no init container copied it): not traced.
    let mut ghost = app_pod("shop", "ghost", "uid-tr-ghost", true, "ledger, db:ghost-db");
    ghost["spec"]["initContainers"] = json!([]);
    for (i, p) in pods.iter().chain([&ghost]).enumerate() {
        n.rt.start_pod(&pod(p.clone()), ip(20, i as u8 + 1))
            .await
            .unwrap();
    }
    for uid in [
        "uid-tr-orders",
        "uid-tr-payments",
        "uid-tr-ledger",
        "uid-tr-invoices",
        "uid-tr-ghost",
    ] {
        wait_running(&n.rt, uid).await;
    }

    let text = wait_text(&n.rt, "the traced app's edges", |t| {
        edges(t).iter().any(|e| e == "shop/orders > shop/payments")
    })
    .await;
    assert_eq!(
        edges(&text),
        [
            "billing/invoices > shop/orders",
            "shop/orders > billing/invoices",
            "shop/orders > db/orders-db",
            "shop/orders > shop/payments",
        ],
        "payments > payments-db (untraced caller), payments > ledger and ghost's calls \
         (no traced end) are absent"
    );
    assert_eq!(
        span_services(&text),
        [
            "shop/orders SPAN_KIND_CLIENT",
            "shop/orders SPAN_KIND_SERVER"
        ]
    );
    assert!(!text.contains("someone-else"));
    for family in [
        "traces_service_graph_request_total counter",
        "traces_service_graph_request_failed_total counter",
        "traces_service_graph_request_server_seconds histogram",
        "traces_service_graph_request_client_seconds histogram",
        "traces_span_metrics_calls_total counter",
        "traces_span_metrics_duration_seconds histogram",
    ] {
        assert!(text.contains(&format!("# TYPE {family}\n")), "{family}");
    }
    // Histograms as Prometheus reads them: `le="+Inf"` is `_count`; failures within totals.
    let all = samples(&text);
    let without = |l: &HashMap<String, String>, key: &str| {
        let mut l = l.clone();
        l.remove(key);
        l
    };
    let mut histograms = 0;
    for (name, labels, inf) in all
        .iter()
        .filter(|(_, l, _)| l.get("le").is_some_and(|le| le == "+Inf"))
    {
        let base = name.strip_suffix("_bucket").unwrap();
        let count = all
            .iter()
            .find(|(n, l, _)| *n == format!("{base}_count") && *l == without(labels, "le"))
            .map(|(_, _, v)| *v);
        assert_eq!(count, Some(*inf), "{name} {labels:?}");
        histograms += 1;
    }
    assert!(histograms >= 4 * 2 + 4 * 2, "{histograms}");
    for (_, labels, failed) in all
        .iter()
        .filter(|(n, _, _)| n == "traces_service_graph_request_failed_total")
    {
        let total = all
            .iter()
            .find(|(n, l, _)| n == "traces_service_graph_request_total" && l == labels)
            .map(|(_, _, v)| *v)
            .unwrap();
        assert!(*failed <= total);
    }

    let before = edge_total(&text, "orders", "payments").unwrap();
    wait_text(&n.rt, "the edge's counter grows", |t| {
        edge_total(t, "orders", "payments").is_some_and(|v| v > before)
    })
    .await;

    // The APM switch turned off: the pod is deleted and comes back without the agent.
    n.rt.stop_pod("uid-tr-orders").await;
    let untraced = app_pod(
        "shop",
        "orders",
        "uid-tr-orders-2",
        false,
        "payments, billing/invoices@900ms!5%, db:orders-db@1.2s",
    );
    n.rt.start_pod(&pod(untraced), ip(20, 9)).await.unwrap();
    wait_running(&n.rt, "uid-tr-orders-2").await;
    let text = wait_text(&n.rt, "no traced app left", |t| !t.contains("traces_")).await;
    assert!(edges(&text).is_empty() && span_services(&text).is_empty());
}
