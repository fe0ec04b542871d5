//! The workloads server functions against the demo cluster: what they change, and that bad
//! input is refused with a clear message and changes nothing.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_tests::{eventually, spawn_app};

fn form(name: &str, image: &str, replicas: i64) -> Value {
    json!({"namespace": "alpha", "name": name, "image": image, "replicas": replicas, "port": 8080,
        "env": [["MODE", "test"]], "cpu_request": "100m", "cpu_limit": "1", "memory_request": "64Mi", "memory_limit": "256Mi"})
}

#[tokio::test]
async fn deploy_scale_upgrade_restart_delete() {
    let app = spawn_app().await.unwrap();
    let alice = app.login("alice").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");

    let (status, body) = alice.call("deploy_app", json!({"tenant": "alpha", "form": form("web", "nginx:1.25", 2)})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(2));
    assert!(services.get_opt("web").await.unwrap().is_some(), "the form's port makes a Service");

    // the live view (from the watcher cache) catches up with the new app
    eventually(Duration::from_secs(10), "the app in the workloads view", || async {
        let (_, v) = alice.call("workloads", json!({"tenant": "alpha"})).await.ok()?;
        v["apps"].as_array()?.iter().any(|a| a["name"] == "web").then_some(())
    })
    .await
    .unwrap();

    let (status, _) = alice.call("scale_app", json!({"tenant": "alpha", "namespace": "alpha", "name": "web", "replicas": 3})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deployments.get("web").await.unwrap().spec.unwrap().replicas, Some(3));

    let (status, _) = alice.call("set_image", json!({"tenant": "alpha", "namespace": "alpha", "name": "web", "image": "nginx:1.27"})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:1.27"));

    let (status, _) = alice.call("restart_app", json!({"tenant": "alpha", "namespace": "alpha", "name": "web"})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let d = deployments.get("web").await.unwrap();
    let annotations = d.spec.unwrap().template.metadata.unwrap().annotations.unwrap_or_default();
    assert!(annotations.contains_key("kubectl.kubernetes.io/restartedAt"));

    let (status, _) = alice.call("delete_app", json!({"tenant": "alpha", "namespace": "alpha", "name": "web"})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    eventually(Duration::from_secs(10), "the Deployment and Service to go", || async {
        (deployments.get_opt("web").await.ok()?.is_none() && services.get_opt("web").await.ok()?.is_none()).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_input_is_explained_and_changes_nothing() {
    let app = spawn_app().await.unwrap();
    let alice = app.login("alice").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    let before = deployments.list(&Default::default()).await.unwrap().items.len();

    for (form, expected) in [
        (form("", "nginx", 1), "name: required"),
        (form("Bad_Name", "nginx", 1), "name: 'Bad_Name'"),
        (form("ok", "Not An Image", 1), "image:"),
        (form("ok", "nginx", -1), "replicas: between 0"),
    ] {
        let (status, body) = alice.call("deploy_app", json!({"tenant": "alpha", "form": form})).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains(expected), "expected {expected:?} in {body}");
    }
    let (status, body) = alice.call("scale_app", json!({"tenant": "alpha", "namespace": "alpha", "name": "x", "replicas": -3})).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // an oversized request is refused before any work
    let huge = "x".repeat(3 * 1024 * 1024);
    let (status, _) = alice.call("deploy_app", json!({"tenant": "alpha", "form": form("big", &huge, 1)})).await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(deployments.list(&Default::default()).await.unwrap().items.len(), before, "bad input created something");
}

#[tokio::test]
async fn yaml_edits_show_the_api_servers_refusal_and_change_nothing() {
    let app = spawn_app().await.unwrap();
    let alice = app.login("alice").await.unwrap();
    let (status, _) = alice.call("deploy_app", json!({"tenant": "alpha", "form": form("cfg", "nginx:1.25", 1)})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let args = |yaml: &str| json!({"tenant": "alpha", "namespace": "alpha", "kind": "Deployment", "name": "cfg", "yaml": yaml});

    let (status, body) = alice.call("get_yaml", json!({"tenant": "alpha", "namespace": "alpha", "kind": "Deployment", "name": "cfg"})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let yaml = body.as_str().unwrap().to_string();
    assert!(yaml.contains("kind: Deployment") && !yaml.contains("managedFields"), "{yaml}");

    let (status, body) = alice.call("put_yaml", args("metadata: [unclosed")).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("YAML"), "{body}");

    let (status, body) = alice.call("put_yaml", args(&yaml.replace("namespace: alpha", "namespace: beta"))).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "moving an object to another namespace: {body}");

    let (status, body) = alice.call("put_yaml", args(&yaml.replace("replicas: 1", "replicas: lots"))).await.unwrap();
    assert!(status.is_client_error(), "{status} {body}");

    let (status, body) = alice.call("put_yaml", args(&yaml.replace("replicas: 1", "replicas: 4"))).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    assert_eq!(deployments.get("cfg").await.unwrap().spec.unwrap().replicas, Some(4));
}
