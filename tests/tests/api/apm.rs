//! The per-app APM switch (`wharf_console::apm`) on a cluster: a developer turns it on and
//! the app's pod template gets the agent (init container, volume, `JAVA_TOOL_OPTIONS`
//! appended), recorded as the rollout's change cause; off gives back the template exactly;
//! with the OpenTelemetry Operator's `Instrumentation` kind served, the switch sets the
//! operator's annotation instead. Viewers see the switch, other tenants do not.

use k8s_openapi::api::apps::v1::Deployment;
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
);
on_both_clusters!(without_a_collector_the_switch_says_apm_is_not_configured);

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
