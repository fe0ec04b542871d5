//! Authentication and bad input: what the real API server answers, and the
//! store left unchanged.

use axum::http::Request;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::Error;
use serde_json::{json, Value};

#[tokio::test]
async fn missing_or_wrong_token_is_401_with_status() {
    let (sim, _) = crate::support::spawn().await;
    for token in [None, Some("wrong")] {
        let client = crate::support::client_with_token(&sim.kubeconfig_yaml(), token).await;
        let err = Api::<ConfigMap>::namespaced(client, "default")
            .list(&ListParams::default())
            .await
            .unwrap_err();
        match err {
            Error::Api(s) => {
                assert_eq!(s.code, 401);
                assert_eq!(s.reason, "Unauthorized");
            }
            other => panic!("{other:?}"),
        }
    }
    sim.shutdown().await;
}

/// Sends a raw request; returns (HTTP code, body as JSON).
async fn raw(
    client: &kube::Client,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .unwrap();
    match client.request_text(req).await {
        Ok(text) => (200, serde_json::from_str(&text).unwrap_or(Value::Null)),
        Err(Error::Api(s)) => (s.code, serde_json::to_value(&*s).unwrap()),
        Err(e) => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn bad_input_gets_4xx_and_changes_nothing() {
    let (sim, client) = crate::support::spawn().await;
    let cms = "/api/v1/namespaces/default/configmaps";

    let (code, body) = raw(
        &client,
        "POST",
        cms,
        "application/json",
        "{\"apiVersion\": \"v1\", \"kind\": ",
    )
    .await;
    assert_eq!(code, 400, "{body}");

    let (code, _) = raw(
        &client,
        "POST",
        cms,
        "application/yaml",
        "apiVersion: v1\nkind: [unclosed",
    )
    .await;
    assert_eq!(code, 400);

    let (code, body) = raw(
        &client,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
        "application/json",
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"replicaz": 3, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
        .to_string(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.replicaz\""),
        "{body}"
    );

    let (code, body) = raw(
        &client,
        "POST",
        cms,
        "application/json",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}).to_string(),
    )
    .await;
    assert_eq!(code, 400, "{body}");

    let (code, body) = raw(
        &client,
        "POST",
        cms,
        "application/json",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
            .to_string(),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(body["reason"], "Invalid");
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");

    // Wrong shape for a typed field.
    let (code, _) = raw(&client, "POST", cms, "application/json",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "data": "not-a-map"}).to_string()).await;
    assert_eq!(code, 400);

    // Without Strict, unknown fields are dropped and the object is stored.
    let (code, body) = raw(
        &client,
        "POST",
        cms,
        "application/yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lenient\nbogus: 1\ndata:\n  a: b\n",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.get("bogus").is_none());
    // Nothing of the rejected requests was stored (the living cluster's own
    // controllers may write meanwhile, so the global resourceVersion is no measure).
    let cms_api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["x", "Bad_Name", "ok"] {
        assert!(cms_api.get_opt(name).await.unwrap().is_none(), "{name}");
    }
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    assert!(d.get_opt("x").await.unwrap().is_none());

    // Unknown paths and the routes owned by other modules are 404 Status.
    let (code, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/pods/nope/log",
        "application/json",
        "",
    )
    .await;
    assert_eq!((code, body["reason"].as_str()), (404, Some("NotFound")));
    let (code, _) = raw(
        &client,
        "GET",
        "/apis/nope.example.com/v1/things",
        "application/json",
        "",
    )
    .await;
    assert_eq!(code, 404);

    let _ = PostParams::default();
    sim.shutdown().await;
}
