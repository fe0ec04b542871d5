//! Pod Security admission in the demo cluster: namespaces labelled as Wharf labels a
//! tenant's (`pod-security.kubernetes.io/enforce: restricted|baseline`,
//! `enforce-version: latest`, `warn` alike) refuse pods that break that standard, with the
//! PodSecurity plugin's 403; workloads are stored and their controllers report the refusal.
//!
//! No parity test is possible: the suite's real kube-apiserver 1.20.2 predates PodSecurity
//! (1.23) and ignores the labels. The expected texts are upstream's, from
//! `k8s.io/pod-security-admission` at tag `kubernetes-1.33.0` (commit `086d64dbe017`):
//! `policy/check_*.go`, the order of `policy/registry.go`, the format of
//! `policy/checks.go` and `admission/admission.go`, and `NewForbidden`'s Status.

use axum::http::Request;
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use crate::support::{eventually, spawn};

const BARE_POD_REFUSAL: &str = "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

/// A namespace with the labels `console/src/admin/policy.rs` writes for `level`.
async fn tenant_namespace(client: &Client, name: &str, level: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": level,
    }}}))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Sends a raw request; returns the HTTP code and the body as JSON, errors included.
async fn raw(
    client: &Client,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &Value,
) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(kube::client::Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn pod(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

fn bare_spec() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx"}]})
}

fn restricted_spec() -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "nginx", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
    })
}

fn forbidden(name: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("pods \"{name}\" is forbidden: {message}"),
        "reason": "Forbidden", "details": {"name": name, "kind": "pods"}, "code": 403})
}

#[tokio::test]
async fn a_restricted_namespace_refuses_a_bare_pod_and_admits_a_compliant_one() {
    let (sim, client) = spawn().await;
    tenant_namespace(&client, "alpha-dev", "restricted").await;
    let pods = "/api/v1/namespaces/alpha-dev/pods";

    let (code, body) = raw(
        &client,
        "POST",
        pods,
        "application/json",
        &pod("x", bare_spec()),
    )
    .await;
    assert_eq!((code, body), (403, forbidden("x", BARE_POD_REFUSAL)));
    // A dry run is held to it too, and nothing was stored.
    let (code, _) = raw(
        &client,
        "POST",
        &format!("{pods}?dryRun=All"),
        "application/json",
        &pod("x", bare_spec()),
    )
    .await;
    assert_eq!(code, 403);
    let api: Api<Pod> = Api::namespaced(client.clone(), "alpha-dev");
    assert!(api.get_opt("x").await.unwrap().is_none());

    let (code, body) = raw(
        &client,
        "POST",
        pods,
        "application/json",
        &pod("ok", restricted_spec()),
    )
    .await;
    assert_eq!(code, 201, "{body}");

    // An update that changes no container is not evaluated; an ephemeral container that
    // breaks the standard is refused (as `kubectl debug` would be).
    let (code, body) = raw(
        &client,
        "PATCH",
        &format!("{pods}/ok"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"touched": "yes"}}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = raw(
        &client,
        "PATCH",
        &format!("{pods}/ok/ephemeralcontainers"),
        "application/strategic-merge-patch+json",
        &json!({"spec": {"ephemeralContainers": [{"name": "debugger", "image": "busybox", "stdin": true, "tty": true}]}}),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body["message"],
        "pods \"ok\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"debugger\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"debugger\" must set securityContext.capabilities.drop=[\"ALL\"])"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_deployment_of_a_noncompliant_template_reports_the_refusal() {
    let (sim, client) = spawn().await;
    tenant_namespace(&client, "alpha-prod", "restricted").await;
    let deploy: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": bare_spec()}}}))
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "alpha-prod");
    // Workloads are not refused (the real plugin only warns about them).
    deployments
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();

    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "alpha-prod");
    let (status, reason, message) = eventually(30, || async {
        let rs = replicasets
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .next()?;
        let c = rs
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure")?;
        Some((c.status, c.reason?, c.message?))
    })
    .await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "FailedCreate"));
    // pods "web-<hash>-<suffix>" is forbidden: …
    let (pod_name, rest) = message.split_once(" is forbidden: ").expect(&message);
    assert!(pod_name.starts_with("pods \"web-"), "{message}");
    assert_eq!(rest, BARE_POD_REFUSAL);

    let deploy_message = eventually(30, || async {
        let d = deployments.get("web").await.ok()?;
        let c = d
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure")?;
        c.message
    })
    .await;
    assert!(
        deploy_message.ends_with(&format!(" is forbidden: {BARE_POD_REFUSAL}")),
        "{deploy_message}"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "alpha-prod");
    assert!(pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_job_of_a_noncompliant_template_records_the_refusal() {
    let (sim, client) = spawn().await;
    tenant_namespace(&client, "alpha-ci", "restricted").await;
    let job: Job = serde_json::from_value(json!({"metadata": {"name": "build"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "app", "image": "nginx"}]}}}}))
    .unwrap();
    Api::<Job>::namespaced(client.clone(), "alpha-ci")
        .create(&PostParams::default(), &job)
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), "alpha-ci");
    let message = eventually(30, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedCreate")
                    && e.involved_object.name.as_deref() == Some("build")
            })?
            .message
    })
    .await;
    assert!(
        message.starts_with("Error creating: pods \"build-"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(" is forbidden: {BARE_POD_REFUSAL}")),
        "{message}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_baseline_namespace_refuses_privileged_and_host_path_but_admits_a_plain_pod() {
    let (sim, client) = spawn().await;
    tenant_namespace(&client, "beta-dev", "baseline").await;
    let pods = "/api/v1/namespaces/beta-dev/pods";

    let privileged = pod(
        "priv",
        json!({"containers": [
        {"name": "app", "image": "nginx", "securityContext": {"privileged": true}}]}),
    );
    let (code, body) = raw(&client, "POST", pods, "application/json", &privileged).await;
    assert_eq!(
        (code, body),
        (403, forbidden("priv", "violates PodSecurity \"baseline:latest\": privileged (container \"app\" must not set securityContext.privileged=true)"))
    );

    let host_path = pod(
        "host",
        json!({
        "containers": [{"name": "app", "image": "nginx", "volumeMounts": [{"name": "root", "mountPath": "/host"}]}],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
    );
    let (code, body) = raw(&client, "POST", pods, "application/json", &host_path).await;
    assert_eq!(
        (code, body),
        (
            403,
            forbidden(
                "host",
                "violates PodSecurity \"baseline:latest\": hostPath volumes (volume \"root\")"
            )
        )
    );

    // What restricted refuses, baseline admits.
    let (code, body) = raw(
        &client,
        "POST",
        pods,
        "application/json",
        &pod("plain", bare_spec()),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn privileged_and_unlabelled_namespaces_are_not_checked_and_bad_labels_are_refused() {
    let (sim, client) = spawn().await;
    tenant_namespace(&client, "ops", "privileged").await;
    let privileged = json!({"containers": [{"name": "app", "image": "nginx",
        "securityContext": {"privileged": true}}], "hostNetwork": true});
    for ns in ["ops", "default", "kube-system"] {
        let (code, body) = raw(
            &client,
            "POST",
            &format!("/api/v1/namespaces/{ns}/pods"),
            "application/json",
            &pod("anything", privileged.clone()),
        )
        .await;
        assert_eq!(code, 201, "{ns}: {body}");
    }

    // The plugin checks the labels themselves (`ValidateNamespace`).
    let bad = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "typo",
        "labels": {"pod-security.kubernetes.io/enforce": "strict"}}});
    let (code, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces",
        "application/json",
        &bad,
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "Namespace \"typo\" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted"
    );
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "FieldValueInvalid", "field": "metadata.labels[pod-security.kubernetes.io/enforce]",
            "message": "Invalid value: \"strict\": must be one of privileged, baseline, restricted"}])
    );
    sim.shutdown().await;
}
