//! The per-app APM switch (`wharf_console::apm`) on a cluster: a developer turns it on and
//! the app's pod template gets the agent (init container, volume, `JAVA_TOOL_OPTIONS`
//! appended), recorded as the rollout's change cause; off gives back the template exactly;
//! with the OpenTelemetry Operator's `Instrumentation` kind served, the switch sets the
//! operator's annotation instead. Viewers see the switch, other tenants do not.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Api, DynamicObject, PostParams};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_console::apm::{AgentKind, AgentSettings, ApmSettings};
use wharf_tests::{eventually, on_both_clusters, TestApp};

fn apm_settings(_real: bool) -> wharf_console::state::Settings {
    wharf_console::state::Settings {
        apm: ApmSettings {
            agent: Some(AgentSettings {
                kind: AgentKind::OpenTelemetry,
                image: None,
                collector: "http://otel-collector.observability:4317".into(),
            }),
            trace_url: Some("https://jaeger.example.com/search?service={app}&tags={tenant}".into()),
        },
        ..Default::default()
    }
}

on_both_clusters!(settings = apm_settings:
    on_attaches_the_agent_and_off_gives_the_template_back,
    with_the_opentelemetry_operator_the_switch_sets_its_annotation,
    deployed_with_apm_on_the_agent_is_there_from_the_start,
    a_statefulsets_switch_patches_its_template_and_gives_it_back,
);
fn pinpoint_settings(_real: bool) -> wharf_console::state::Settings {
    kind_settings(AgentKind::Pinpoint, "pinpoint-collector.observability")
}

fn skywalking_settings(_real: bool) -> wharf_console::state::Settings {
    kind_settings(AgentKind::SkyWalking, "oap.observability:11800")
}

fn kind_settings(kind: AgentKind, collector: &str) -> wharf_console::state::Settings {
    wharf_console::state::Settings {
        apm: ApmSettings {
            agent: Some(AgentSettings {
                kind,
                image: None,
                collector: collector.into(),
            }),
            trace_url: None,
        },
        ..Default::default()
    }
}

on_both_clusters!(settings = pinpoint_settings: pinpoint_is_attached_and_removed);
on_both_clusters!(settings = skywalking_settings: skywalking_is_attached_and_removed);

async fn pinpoint_is_attached_and_removed(app: TestApp) {
    kind_is_attached_and_removed(
        app,
        AgentKind::Pinpoint,
        &[
            "-Dpinpoint.applicationName=orders",
            "-Dpinpoint.agentName=$(WHARF_APM_POD_NAME)",
            "-Dprofiler.transport.grpc.collector.ip=pinpoint-collector.observability",
        ],
        &[],
    )
    .await
}

async fn skywalking_is_attached_and_removed(app: TestApp) {
    kind_is_attached_and_removed(
        app,
        AgentKind::SkyWalking,
        &[],
        &[
            ("SW_AGENT_NAME", "alpha::orders"),
            (
                "SW_AGENT_COLLECTOR_BACKEND_SERVICES",
                "oap.observability:11800",
            ),
        ],
    )
    .await
}

/// The template as the API server stored it: the kind's image in the init container, the
/// volume, `-javaagent:` and the kind's options appended to the app's own
/// `JAVA_TOOL_OPTIONS`, its variables; off gives back the stored template exactly.
async fn kind_is_attached_and_removed(
    app: TestApp,
    kind: AgentKind,
    options: &[&str],
    vars: &[(&str, &str)],
) {
    let alice = deploy_orders(&app).await;
    let (original, _) = template(&app).await;
    let (status, view) = alice.call("set_apm", switch(true, true)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["agent"], kind.label());
    let (on, cause) = template(&app).await;
    assert!(
        cause.starts_with(&format!("APM on ({}) by alice", kind.label())),
        "{cause}"
    );
    let spec = &on["spec"];
    assert_eq!(spec["initContainers"][0]["name"], "wharf-apm-agent");
    assert_eq!(spec["initContainers"][0]["image"], kind.default_image());
    assert!(spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "wharf-apm" && v["emptyDir"].is_object()));
    assert!(spec["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "wharf-apm" && m["mountPath"] == "/wharf-apm"));
    let env = spec["containers"][0]["env"].as_array().unwrap().clone();
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let opts = value("JAVA_TOOL_OPTIONS");
    assert!(
        opts.starts_with(&format!("-Xmx256m {}", kind.javaagent_option())),
        "appended, never clobbered: {opts}"
    );
    for o in options {
        assert!(opts.contains(o), "{o} in {opts}");
    }
    for (k, v) in vars {
        assert_eq!(value(k), *v, "{k}");
    }
    let (status, view) = alice.call("set_apm", switch(false, false)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        template(&app).await.0,
        original,
        "off: the template as it was"
    );
}

on_both_clusters!(
    without_a_collector_the_switch_says_apm_is_not_configured,
    without_a_collector_deploying_with_apm_is_refused_and_nothing_is_created,
);

/// alice deploys `orders` (a Java image) in alpha.
async fn deploy_orders(app: &TestApp) -> wharf_tests::Session {
    let alice = app.login("alice").await.unwrap();
    let form = json!({"namespace": "alpha", "name": "orders", "image": "registry.local/alpha/orders:1.4.2",
        "replicas": 1, "port": 8080, "env": [["JAVA_TOOL_OPTIONS", "-Xmx256m"]],
        "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""});
    let (status, body) = alice
        .call("deploy_app", json!({"tenant": "alpha", "form": form}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    alice
}

fn switch(on: bool, java: bool) -> Value {
    json!({"tenant": "alpha", "namespace": "alpha", "app": "orders", "on": on, "java": java})
}

const WHICH: &str = r#"{"tenant": "alpha", "namespace": "alpha", "app": "orders"}"#;

async fn template(app: &TestApp) -> (Value, String) {
    let d = Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .get("orders")
        .await
        .unwrap();
    let cause = d
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .get("kubernetes.io/change-cause")
        .cloned()
        .unwrap_or_default();
    let t = serde_json::to_value(d.spec.unwrap().template).unwrap();
    (t, cause)
}

async fn on_attaches_the_agent_and_off_gives_the_template_back(app: TestApp) {
    let alice = deploy_orders(&app).await;
    let which: Value = serde_json::from_str(WHICH).unwrap();
    let (status, view) = alice.call("apm_state", which.clone()).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["configured"], true);
    assert_eq!(view["agent"], "OpenTelemetry");
    assert_eq!(view["languages"], json!(["java"]));
    assert_eq!(view["on"], false);
    assert_eq!(view["operator"], false);
    assert_eq!(
        view["java_likely"], false,
        "registry.local/alpha/orders says nothing"
    );
    assert_eq!(
        view["trace_link"],
        "https://jaeger.example.com/search?service=orders&tags=alpha"
    );
    let (original, _) = template(&app).await;

    // not obviously Java: refused until alice says it is
    let (status, body) = alice.call("set_apm", switch(true, false)).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string().contains("does not look like a Java app"),
        "{body}"
    );
    assert!(body.to_string().contains("Java 应用"), "{body}");
    assert_eq!(template(&app).await.0, original, "nothing changed");

    let (status, view) = alice.call("set_apm", switch(true, true)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["on"], true);
    let (on, cause) = template(&app).await;
    assert!(
        cause.starts_with("APM on (OpenTelemetry) by alice"),
        "{cause}"
    );
    let spec = &on["spec"];
    assert_eq!(spec["initContainers"][0]["name"], "wharf-apm-agent");
    assert!(spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "wharf-apm" && v["emptyDir"].is_object()));
    let env = spec["containers"][0]["env"].as_array().unwrap().clone();
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        value("JAVA_TOOL_OPTIONS").starts_with("-Xmx256m -javaagent:/wharf-apm/"),
        "appended, never clobbered: {env:?}"
    );
    assert_eq!(value("OTEL_SERVICE_NAME"), "orders");
    assert_eq!(
        value("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "http://otel-collector.observability:4317"
    );
    assert!(value("OTEL_RESOURCE_ATTRIBUTES").contains("wharf.tenant=alpha"));

    // on again: nothing changes (no new rollout)
    let generation = |d: &Deployment| d.metadata.generation;
    let api = Api::<Deployment>::namespaced(app.kube.clone(), "alpha");
    let before = generation(&api.get("orders").await.unwrap());
    let (status, _) = alice.call("set_apm", switch(true, true)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(generation(&api.get("orders").await.unwrap()), before);

    // viewers see the switch and cannot flip it; another tenant sees nothing
    let vera = app.login("vera").await.unwrap();
    let (status, view) = vera.call("apm_state", which.clone()).await.unwrap();
    assert_eq!((status, view["on"].clone()), (StatusCode::OK, json!(true)));
    let (status, _) = vera.call("set_apm", switch(false, false)).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bob = app.login("bob").await.unwrap();
    for (f, args) in [
        ("apm_state", which.clone()),
        ("set_apm", switch(false, false)),
    ] {
        let (status, _) = bob.call(f, args).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{f}");
    }
    let (status, _) = app
        .anonymous()
        .call("apm_state", which.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        template(&app).await.0["spec"]["initContainers"][0]["name"],
        "wharf-apm-agent"
    );

    // off: the template as it was before
    let (status, view) = alice.call("set_apm", switch(false, false)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["on"], false);
    let (off, cause) = template(&app).await;
    assert!(cause.starts_with("APM off by alice"), "{cause}");
    assert_eq!(off, original);
}

/// A StatefulSet (a Java app keeping data) has the same switch: on patches its pod template
/// (the set's controller then replaces the pods in order), recorded on the set; off gives
/// the template back exactly; another tenant cannot touch it.
async fn a_statefulsets_switch_patches_its_template_and_gives_it_back(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let form = json!({"namespace": "alpha", "name": "ledger", "kind": "StatefulSet",
        "image": "registry.local/alpha/ledger:2.0", "replicas": 2, "port": 8080,
        "env": [["JAVA_TOOL_OPTIONS", "-Xmx512m"]],
        "mounts": [{"source": {"NewClaim": {"name": "data", "size": "1Gi", "class": ""}}, "path": "/data"}],
        "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""});
    let (status, body) = alice
        .call("deploy_app", json!({"tenant": "alpha", "form": form}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let sets = Api::<StatefulSet>::namespaced(app.kube.clone(), "alpha");
    let read = || async {
        let s = sets.get("ledger").await.unwrap();
        let cause = s
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .get("kubernetes.io/change-cause")
            .cloned()
            .unwrap_or_default();
        (
            serde_json::to_value(s.spec.unwrap().template).unwrap(),
            cause,
        )
    };
    let (original, _) = read().await;
    let which = json!({"tenant": "alpha", "namespace": "alpha", "app": "ledger"});
    let (status, view) = alice.call("apm_state", which.clone()).await.unwrap();
    assert_eq!(
        (status, view["on"].clone()),
        (StatusCode::OK, json!(false)),
        "{view}"
    );

    let mut on = which.clone();
    on["on"] = json!(true);
    on["java"] = json!(true);
    let bob = app.login("bob").await.unwrap();
    let (status, _) = bob.call("set_apm", on.clone()).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "another tenant");
    assert_eq!(read().await.0, original);

    let (status, view) = alice.call("set_apm", on).await.unwrap();
    assert_eq!(
        (status, view["on"].clone()),
        (StatusCode::OK, json!(true)),
        "{view}"
    );
    let (t, cause) = read().await;
    assert!(
        cause.starts_with("APM on (OpenTelemetry) by alice"),
        "{cause}"
    );
    assert_eq!(t["spec"]["initContainers"][0]["name"], "wharf-apm-agent");
    let opts = t["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "JAVA_TOOL_OPTIONS")
        .unwrap()["value"]
        .clone();
    assert!(
        opts.as_str()
            .unwrap()
            .starts_with("-Xmx512m -javaagent:/wharf-apm/"),
        "{opts}"
    );
    let (_, view) = alice.call("apm_state", which.clone()).await.unwrap();
    assert_eq!(view["on"], true, "{view}");

    let mut off = which.clone();
    off["on"] = json!(false);
    off["java"] = json!(false);
    let (status, view) = alice.call("set_apm", off).await.unwrap();
    assert_eq!(
        (status, view["on"].clone()),
        (StatusCode::OK, json!(false)),
        "{view}"
    );
    let (t, cause) = read().await;
    assert!(cause.starts_with("APM off by alice"), "{cause}");
    assert_eq!(t, original, "off: the template as it was");
}

/// The OpenTelemetry Operator's `Instrumentation` kind, as its CRD serves it (the schema
/// trimmed to what this test writes).
async fn install_instrumentation_crd(admin: &kube::Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "instrumentations.opentelemetry.io"},
        "spec": {"group": "opentelemetry.io", "scope": "Namespaced",
            "names": {"kind": "Instrumentation", "listKind": "InstrumentationList",
                "plural": "instrumentations", "singular": "instrumentation"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    Api::<CustomResourceDefinition>::all(admin.clone())
        .create(&PostParams::default(), &crd)
        .await
        .expect("the Instrumentation CRD");
    eventually(
        Duration::from_secs(30),
        "Instrumentation served",
        || async {
            wharf_console::discovery::serves(admin, "opentelemetry.io/v1alpha1", "instrumentations")
                .await
                .ok()?
                .then_some(())
        },
    )
    .await
    .unwrap();
    let r = kube::discovery::ApiResource {
        group: "opentelemetry.io".into(),
        version: "v1alpha1".into(),
        api_version: "opentelemetry.io/v1alpha1".into(),
        kind: "Instrumentation".into(),
        plural: "instrumentations".into(),
    };
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "opentelemetry.io/v1alpha1", "kind": "Instrumentation",
        "metadata": {"name": "java", "namespace": "alpha"},
        "spec": {"exporter": {"endpoint": "http://otel-collector.observability:4317"}}
    }))
    .unwrap();
    Api::<DynamicObject>::namespaced_with(admin.clone(), "alpha", &r)
        .create(&PostParams::default(), &obj)
        .await
        .expect("an Instrumentation");
}

async fn with_the_opentelemetry_operator_the_switch_sets_its_annotation(app: TestApp) {
    let alice = deploy_orders(&app).await;
    install_instrumentation_crd(&app.kube).await;
    let which: Value = serde_json::from_str(WHICH).unwrap();
    let (_, view) = alice.call("apm_state", which).await.unwrap();
    assert_eq!(view["operator"], true, "{view}");
    let (original, _) = template(&app).await;

    let (status, view) = alice.call("set_apm", switch(true, true)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["on"], true);
    let (on, cause) = template(&app).await;
    assert!(
        cause.starts_with("APM on (OpenTelemetry Operator)"),
        "{cause}"
    );
    assert_eq!(
        on["metadata"]["annotations"]["instrumentation.opentelemetry.io/inject-java"],
        "true"
    );
    assert!(
        on["spec"]["initContainers"].is_null(),
        "the operator injects, not Wharf"
    );

    let (status, view) = alice.call("set_apm", switch(false, false)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(template(&app).await.0, original);
}

async fn without_a_collector_the_switch_says_apm_is_not_configured(app: TestApp) {
    let alice = deploy_orders(&app).await;
    let which: Value = serde_json::from_str(WHICH).unwrap();
    let (status, view) = alice.call("apm_state", which).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["configured"], false);
    let (original, _) = template(&app).await;
    let (status, body) = alice.call("set_apm", switch(true, true)).await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.to_string().contains("--apm-collector"), "{body}");
    assert_eq!(template(&app).await.0, original);
}

fn catalog_form(apm: bool) -> Value {
    json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "catalog", "image": "eclipse-temurin:21-jre",
        "replicas": 1, "port": 8080, "env": [["JAVA_TOOL_OPTIONS", "-Xmx128m"]],
        "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": "", "apm": apm}})
}

/// The deploy form's APM tick: the Deployment is created with the agent (no rollout after),
/// its cause says so, and the switch shows on; off then gives the form's plain template.
async fn deployed_with_apm_on_the_agent_is_there_from_the_start(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let (status, body) = alice.call("deploy_app", catalog_form(true)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .get("catalog")
        .await
        .unwrap();
    let cause =
        d.metadata.annotations.clone().unwrap_or_default()["kubernetes.io/change-cause"].clone();
    assert!(cause.contains("with APM on by alice"), "{cause}");
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "created with the agent, not patched after"
    );
    let t = serde_json::to_value(d.spec.unwrap().template).unwrap();
    assert_eq!(t["spec"]["initContainers"][0]["name"], "wharf-apm-agent");
    let opts = t["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "JAVA_TOOL_OPTIONS")
        .unwrap()["value"]
        .clone();
    assert!(
        opts.as_str()
            .unwrap()
            .starts_with("-Xmx128m -javaagent:/wharf-apm/"),
        "{opts}"
    );
    let which = json!({"tenant": "alpha", "namespace": "alpha", "app": "catalog"});
    let (_, view) = alice.call("apm_state", which.clone()).await.unwrap();
    assert_eq!(view["on"], true, "{view}");
    let mut off = which.clone();
    off["on"] = json!(false);
    off["java"] = json!(false);
    let (status, body) = alice.call("set_apm", off).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let plain = Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .get("catalog")
        .await
        .unwrap();
    let t = serde_json::to_value(plain.spec.unwrap().template).unwrap();
    assert!(t["spec"].get("initContainers").is_none(), "{t}");
}

async fn without_a_collector_deploying_with_apm_is_refused_and_nothing_is_created(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let (status, body) = alice.call("deploy_app", catalog_form(true)).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("--apm-collector"), "{body}");
    assert!(body.to_string().contains("采集端"), "{body}");
    let left = Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .get_opt("catalog")
        .await
        .unwrap();
    assert!(left.is_none(), "nothing half-created");
    let services =
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(app.kube.clone(), "alpha");
    assert!(services.get_opt("catalog").await.unwrap().is_none());
}

// ---- the call graph -------------------------------------------------------------------

/// What an OpenTelemetry Collector's `servicegraph` and `spanmetrics` connectors export for
/// alpha's shop-web → orders → orders-db (slow), orders → beta's billing, and beta's spy →
/// alpha's orders, `secs` seconds after the exporter started (counters grow at fixed rates).
fn collector_metrics(secs: f64) -> String {
    let mut out = String::new();
    let les = ["0.05", "0.4", "1", "+Inf"];
    // (client ns, client, server ns, server, database?, calls/s, failed/s, share per bucket)
    let edges = [
        (
            "alpha",
            "shop-web",
            "alpha",
            "orders",
            false,
            10.0,
            0.1,
            [0.9, 1.0, 1.0, 1.0],
        ),
        (
            "alpha",
            "orders",
            "",
            "orders-db",
            true,
            6.0,
            0.0,
            [0.0, 0.1, 1.0, 1.0],
        ),
        (
            "alpha",
            "orders",
            "beta",
            "billing",
            false,
            2.0,
            0.0,
            [1.0, 1.0, 1.0, 1.0],
        ),
        (
            "beta",
            "spy",
            "alpha",
            "orders",
            false,
            1.0,
            0.5,
            [1.0, 1.0, 1.0, 1.0],
        ),
    ];
    for (cns, c, sns, s, db, rate, failed, shares) in edges {
        let server_ns = if sns.is_empty() {
            String::new()
        } else {
            format!(",server_k8s_namespace_name=\"{sns}\"")
        };
        let l = format!(
            "client=\"{c}\",server=\"{s}\",connection_type=\"{}\",client_k8s_namespace_name=\"{cns}\"{server_ns}",
            if db { "database" } else { "" }
        );
        out += &format!(
            "traces_service_graph_request_total{{{l}}} {}\n",
            rate * secs
        );
        out += &format!(
            "traces_service_graph_request_failed_total{{{l}}} {}\n",
            failed * secs
        );
        for (le, share) in les.iter().zip(shares) {
            out += &format!(
                "traces_service_graph_request_server_seconds_bucket{{{l},le=\"{le}\"}} {}\n",
                rate * secs * share
            );
        }
    }
    for (ns, svc, code, rate) in [
        ("alpha", "orders", "STATUS_CODE_UNSET", 10.0),
        ("alpha", "orders", "STATUS_CODE_ERROR", 1.0),
        ("beta", "billing", "STATUS_CODE_UNSET", 2.0),
    ] {
        out += &format!(
            "traces_span_metrics_calls_total{{service_name=\"{svc}\",span_name=\"GET /\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"{code}\",k8s_namespace_name=\"{ns}\"}} {}\n",
            rate * secs
        );
    }
    out
}

/// A real Prometheus scraping, every second, an exporter serving [`collector_metrics`].
async fn collector_and_prometheus(
    dir: &std::path::Path,
) -> (
    String,
    server::monitoring::Process,
    tokio::task::JoinHandle<()>,
) {
    let started = std::time::Instant::now();
    let exporter = axum::Router::new().route(
        "/metrics",
        axum::routing::get(
            move || async move { collector_metrics(started.elapsed().as_secs_f64()) },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let exporter_addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move {
        axum::serve(listener, exporter).await.unwrap();
    });
    let (url, process) = wharf_tests::prometheus::start(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: otel-collector\n    static_configs:\n      - targets: ['{exporter_addr}']\n"
        ),
    )
    .await;
    (url, process, serving)
}

mod the_call_graph_is_the_tenants_own {
    #[tokio::test]
    async fn demo() {
        super::the_call_graph_is_the_tenants_own(false).await
    }
    #[tokio::test]
    async fn real() {
        super::the_call_graph_is_the_tenants_own(true).await
    }
}

fn ids(graph: &Value, what: &str) -> Vec<String> {
    let mut v: Vec<String> = graph[what]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| match what {
            "nodes" => x["id"].as_str().unwrap().to_string(),
            _ => format!(
                "{} -> {}",
                x["from"].as_str().unwrap(),
                x["to"].as_str().unwrap()
            ),
        })
        .collect();
    v.sort();
    v
}

/// alpha sees its services, its database and one unnamed "outside" for beta's; beta sees the
/// mirror image; numbers come through a real Prometheus; a range not offered is refused.
async fn the_call_graph_is_the_tenants_own(real: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (url, _prometheus, _exporter) = collector_and_prometheus(dir.path()).await;
    let mut settings = apm_settings(real);
    settings.monitoring.prometheus_url = Some(url);
    let listen = "127.0.0.1:0".parse().unwrap();
    let app = if real {
        wharf_tests::real::spawn_real_app_with(settings, listen).await
    } else {
        wharf_tests::spawn_app_with(settings, listen).await
    }
    .expect("the console");
    let (vera, bob) = (
        app.login("vera").await.unwrap(),
        app.login("bob").await.unwrap(),
    );
    let graph = |who: &'static str, tenant: &'static str| {
        let session = if who == "vera" { &vera } else { &bob };
        async move {
            let (s, g) = session
                .call("tenant_calls", json!({"tenant": tenant, "minutes": 5}))
                .await
                .unwrap();
            assert_eq!(s, StatusCode::OK, "{g}");
            g
        }
    };
    // a viewer reads the graph once Prometheus has two scrapes of every edge
    let alpha = eventually(Duration::from_secs(60), "alpha's four edges", || async {
        let g = graph("vera", "alpha").await;
        (g["edges"].as_array().map(Vec::len) == Some(4)).then_some(g)
    })
    .await
    .unwrap();
    assert_eq!(
        ids(&alpha, "nodes"),
        [
            "alpha/orders",
            "alpha/shop-web",
            "db:alpha/orders-db",
            "outside"
        ]
    );
    assert_eq!(
        ids(&alpha, "edges"),
        [
            "alpha/orders -> db:alpha/orders-db",
            "alpha/orders -> outside",
            "alpha/shop-web -> alpha/orders",
            "outside -> alpha/orders",
        ]
    );
    let text = alpha.to_string();
    for other in ["beta", "billing", "spy"] {
        assert!(!text.contains(other), "alpha's graph names {other}: {text}");
    }
    let edge = |g: &Value, from: &str, to: &str| {
        g["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == from && e["to"] == to)
            .unwrap()["stats"]
            .clone()
    };
    let web = edge(&alpha, "alpha/shop-web", "alpha/orders");
    // NB: a rate is averaged over the whole range, and these series are seconds old: compare
    // edges that started together (10/s against 2/s) rather than absolute rates
    let r = web["rate"].as_f64().unwrap();
    let billing = edge(&alpha, "alpha/orders", "outside")["rate"]
        .as_f64()
        .unwrap();
    assert!(
        r > 0.0 && (4.0..=6.0).contains(&(r / billing)),
        "shop-web → orders at {r}/s, orders → outside at {billing}/s"
    );
    let p95 = edge(&alpha, "alpha/orders", "db:alpha/orders-db")["p95_ms"]
        .as_f64()
        .unwrap();
    assert!(p95 >= 500.0, "the database call is the slow one: {p95} ms");
    let web_p95 = web["p95_ms"].as_f64().unwrap();
    assert!(web_p95 < 500.0, "{web_p95}");
    let orders = alpha["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "alpha/orders")
        .unwrap()
        .clone();
    let ratio = orders["stats"]["error_ratio"].as_f64().unwrap();
    assert!(
        (0.07..=0.11).contains(&ratio),
        "orders fails 1 call in 11: {ratio}"
    );
    assert!(
        orders["trace_link"]
            .as_str()
            .unwrap()
            .starts_with("https://jaeger.example.com/search?service=orders&tags=alpha"),
        "{orders}"
    );

    // beta: billing called from outside, spy calling outside; nothing of alpha by name
    let beta = eventually(Duration::from_secs(30), "beta's two edges", || async {
        let g = graph("bob", "beta").await;
        (g["edges"].as_array().map(Vec::len) == Some(2)).then_some(g)
    })
    .await
    .unwrap();
    assert_eq!(
        ids(&beta, "edges"),
        ["beta/spy -> outside", "outside -> beta/billing"]
    );
    let text = beta.to_string();
    for other in ["alpha", "orders", "shop-web"] {
        assert!(!text.contains(other), "beta's graph names {other}: {text}");
    }
    // bob asking for alpha's graph gets nothing
    let (s, body) = bob
        .call("tenant_calls", json!({"tenant": "alpha", "minutes": 5}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    // a range the page does not offer
    let (s, body) = vera
        .call("tenant_calls", json!({"tenant": "alpha", "minutes": 7}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("时间范围"), "{body}");
}

// ---- an agent image that does not pull ------------------------------------------------

/// On the demo cluster (whose node fails to pull images tagged `:bad`): the switch rolls, the
/// new pod's agent container cannot pull, the card says so, the pod from before keeps
/// running; off clears it.
#[tokio::test]
async fn a_missing_agent_image_leaves_the_app_running_and_says_why() {
    let mut settings = apm_settings(false);
    if let Some(agent) = settings.apm.agent.as_mut() {
        agent.image = Some("registry.local/agents/otel-java:bad".into());
    }
    let app = wharf_tests::spawn_app_with(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the console over the demo cluster");
    let alice = deploy_orders(&app).await;
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(app.kube.clone(), "alpha");
    let running_without_agent = || async {
        let list = pods
            .list(&kube::api::ListParams::default().labels("app=orders"))
            .await
            .unwrap();
        list.items.iter().any(|p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                && p.spec.as_ref().is_some_and(|s| s.init_containers.is_none())
        })
    };
    eventually(Duration::from_secs(60), "orders running", || async {
        running_without_agent().await.then_some(())
    })
    .await
    .unwrap();
    let (status, body) = alice.call("set_apm", switch(true, true)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let which: Value = serde_json::from_str(WHICH).unwrap();
    let problem = eventually(
        Duration::from_secs(60),
        "the pull error on the card",
        || async {
            let (_, view) = alice.call("apm_state", which.clone()).await.unwrap();
            view["agent_problem"].as_str().map(str::to_string)
        },
    )
    .await
    .unwrap();
    assert!(
        problem.contains("ErrImagePull") || problem.contains("ImagePullBackOff"),
        "{problem}"
    );
    assert!(
        running_without_agent().await,
        "the pod from before keeps serving"
    );
    let (status, body) = alice.call("set_apm", switch(false, false)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(
        Duration::from_secs(60),
        "the problem gone with the pod",
        || async {
            let (_, view) = alice.call("apm_state", which.clone()).await.unwrap();
            view["agent_problem"].is_null().then_some(())
        },
    )
    .await
    .unwrap();
}
