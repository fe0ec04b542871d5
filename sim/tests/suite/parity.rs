//! The demo cluster against a real kube-apiserver: the same requests to both, the answers
//! compared (see `support::parity`).

use crate::support::parity::Pair;
use serde_json::json;

/// The smallest check that the comparison itself works: reading a namespace that does not
/// exist answers the same 404 Status from both.
#[tokio::test]
async fn a_missing_namespace_is_the_same_404() {
    let pair = Pair::start().await;
    let real = pair
        .same(
            "GET a missing namespace",
            "GET",
            "/api/v1/namespaces/nowhere",
            "application/json",
            &serde_json::Value::Null,
        )
        .await;
    assert_eq!(real.status, 404);
    assert_eq!(real.body["reason"], json!("NotFound"));
}

/// Field values of built-in workloads: negative counts, containers without a name or an
/// image, ports out of range are refused with the same 422 and causes.
#[tokio::test]
async fn workload_field_errors_are_the_same_422() {
    let pair = Pair::start().await;
    let deployment = |spec: serde_json::Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default"}, "spec": spec})
    };
    let template = |container: serde_json::Value| json!({"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [container]}});
    let cases = [
        (
            "negative counts",
            deployment(
                json!({"replicas": -1, "revisionHistoryLimit": -2, "progressDeadlineSeconds": 5, "minReadySeconds": 10,
                "selector": {"matchLabels": {"app": "d"}}, "template": template(json!({"name": "app", "image": "nginx"}))}),
            ),
        ),
        (
            "a container without an image",
            deployment(
                json!({"selector": {"matchLabels": {"app": "d"}}, "template": template(json!({"name": "app"}))}),
            ),
        ),
        (
            "a port out of range",
            deployment(json!({"selector": {"matchLabels": {"app": "d"}},
                "template": template(json!({"name": "app", "image": "nginx", "ports": [{"containerPort": 70000}]}))})),
        ),
    ];
    for (what, body) in cases {
        let real = pair
            .same(
                what,
                "POST",
                "/apis/apps/v1/namespaces/default/deployments",
                "application/json",
                &body,
            )
            .await;
        assert_eq!(real.status, 422, "{what}: {}", real.body);
    }
}

/// Defaults of a pod template as stored: a downward-API variable's `fieldRef` gets its
/// `apiVersion` (`SetDefaults_ObjectFieldSelector`), besides the container defaults. The APM
/// switch's undo record compares variables with what the server stored.
#[tokio::test]
async fn a_stored_template_has_the_same_defaults() {
    let pair = Pair::start().await;
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "downward", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "downward"}},
            "template": {"metadata": {"labels": {"app": "downward"}}, "spec": {
                "initContainers": [{"name": "init", "image": "busybox:1.36",
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}],
                "containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                    "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "PLAIN", "value": "x"}]}]}}}});
    let real = pair
        .same_in(
            "a Deployment with downward-API variables",
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            "application/json",
            &body,
            &["/spec/template"],
        )
        .await;
    assert_eq!(real.status, 201);
    assert_eq!(
        real.body["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]
            ["apiVersion"],
        json!("v1")
    );
}
