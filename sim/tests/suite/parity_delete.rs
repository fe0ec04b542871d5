//! Deletion against a real kube-apiserver 1.20: finalizers, preconditions, propagation
//! policies, what a DELETE answers, and pods' grace periods (see `support::parity`).
//! The kubelets' part of graceful deletion: on both with controllers and a node, and on
//! the demo cluster alone with a running container.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use serde_json::{json, Value};

use crate::support::parity::{Answer, Pair};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const CM: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str, finalizers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "finalizers": finalizers}, "data": {"k": "v"}})
}

/// The types of the next `n` events of a watch of ConfigMap `name` from `rv`.
async fn next_events(client: kube::Client, name: &str, rv: String, n: usize) -> Vec<String> {
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let wp = WatchParams::default().fields(&format!("metadata.name={name}"));
    let stream = api.watch(&wp, &rv).await.expect("watch");
    let events: Vec<WatchEvent<ConfigMap>> = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.take(n).try_collect(),
    )
    .await
    .expect("events in time")
    .expect("events");
    events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        })
        .map(String::from)
        .collect()
}

fn rv(a: &Answer) -> String {
    a.body["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_string()
}

/// An object with a finalizer is marked, not deleted; it cannot gain finalizers; it goes
/// when the last one is removed (one DELETED event: the update is not stored). Preconditions, propagation
/// policies and the answers of DELETE.
#[tokio::test]
async fn finalizers_preconditions_and_answers() {
    let pair = Pair::start().await;
    let fin = format!("{CM}/fin");
    pair.same(
        "create with a finalizer",
        "POST",
        CM,
        JSON,
        &cm("fin", json!(["example.com/a"])),
    )
    .await;
    let body = |v: Value| v;
    let r = pair
        .same(
            "a uid precondition",
            "DELETE",
            &fin,
            JSON,
            &body(json!({"preconditions": {"uid": "not-it"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = pair
        .same(
            "a resourceVersion precondition",
            "DELETE",
            &fin,
            JSON,
            &body(json!({"preconditions": {"resourceVersion": "1"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = pair
        .same("delete marks it", "DELETE", &fin, JSON, &Value::Null)
        .await;
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], json!(0));
    pair.same("delete again", "DELETE", &fin, JSON, &Value::Null)
        .await;
    let r = pair
        .same(
            "no new finalizers",
            "PATCH",
            &fin,
            MERGE,
            &json!({"metadata": {"finalizers": ["example.com/a", "example.com/b"]}}),
        )
        .await;
    assert_eq!(r.status, 422);
    let (demo, real) = pair.send("GET", &fin, JSON, &Value::Null).await;
    let (demo_events, real_events) = (
        tokio::spawn(next_events(pair.sim_client.clone(), "fin", rv(&demo), 1)),
        tokio::spawn(next_events(pair.real_client.clone(), "fin", rv(&real), 1)),
    );
    pair.same(
        "the last finalizer goes",
        "PATCH",
        &fin,
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    let (d, r) = (
        demo_events.await.expect("demo"),
        real_events.await.expect("real"),
    );
    assert_eq!(d, r, "watch events (demo, real)");
    assert_eq!(r, ["DELETED"]);
    pair.same("then it is gone", "GET", &fin, JSON, &Value::Null)
        .await;

    for (name, opts) in [
        ("plain", json!(null)),
        ("orphan", json!({"propagationPolicy": "Orphan"})),
        ("foreground", json!({"propagationPolicy": "Foreground"})),
        ("background", json!({"propagationPolicy": "Background"})),
        ("not-orphaned", json!({"orphanDependents": false})),
    ] {
        pair.same("create", "POST", CM, JSON, &cm(name, json!(null)))
            .await;
        pair.same(
            &format!("delete {name}"),
            "DELETE",
            &format!("{CM}/{name}"),
            JSON,
            &opts,
        )
        .await;
    }
    pair.same(
        "create",
        "POST",
        CM,
        JSON,
        &cm("kept", json!(["example.com/a"])),
    )
    .await;
    let r = pair
        .same(
            "orphanDependents: false of a kept object",
            "DELETE",
            &format!("{CM}/kept"),
            JSON,
            &json!({"orphanDependents": false}),
        )
        .await;
    assert_eq!(r.status, 202);

    let sa = "/api/v1/namespaces/default/serviceaccounts";
    pair.same(
        "a ServiceAccount",
        "POST",
        sa,
        JSON,
        &json!({"metadata": {"name": "robot"}}),
    )
    .await;
    pair.same(
        "a ServiceAccount's delete answers the object",
        "DELETE",
        &format!("{sa}/robot"),
        JSON,
        &Value::Null,
    )
    .await;
    let deps = "/apis/apps/v1/namespaces/default/deployments";
    let dep = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
    pair.same_in(
        "a Deployment",
        "POST",
        deps,
        JSON,
        &dep,
        &["/metadata/name"],
    )
    .await;
    pair.same(
        "a Deployment's delete answers a Status",
        "DELETE",
        &format!("{deps}/d"),
        JSON,
        &Value::Null,
    )
    .await;
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    let job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "i:1"}]}}}});
    let parts = [
        "/kind",
        "/metadata/finalizers",
        "/metadata/deletionGracePeriodSeconds",
    ];
    pair.same_in("a Job", "POST", jobs, JSON, &job, &["/metadata/name"])
        .await;
    let r = pair
        .same_in(
            "a Job orphans its pods by default",
            "DELETE",
            &format!("{jobs}/j"),
            JSON,
            &Value::Null,
            &parts,
        )
        .await;
    assert_eq!(r.body["metadata"]["finalizers"], json!(["orphan"]));
}

fn pod(name: &str, node: Option<&str>) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"automountServiceAccountToken": false, "terminationGracePeriodSeconds": 20,
            "containers": [{"name": "c", "image": "busybox:1"}]}});
    match node {
        Some(n) => p["spec"]["nodeName"] = json!(n),
        // NB: the demo cluster's scheduler would bind it; the real one has none running.
        None => p["spec"]["schedulerName"] = json!("nobody"),
    }
    p
}

/// Seconds from a pod's creation to its deletionTimestamp.
fn grace_of(a: &Answer) -> i64 {
    let md = &a.body["metadata"];
    let at =
        |k: &str| chrono::DateTime::parse_from_rfc3339(md[k].as_str().expect(k)).expect("a time");
    (at("deletionTimestamp") - at("creationTimestamp")).num_seconds()
}

/// Pods on a node (one no kubelet runs, so both servers keep them) get a grace period:
/// the pod's own, shortened by a later delete but never lengthened; 0 deletes at once,
/// as does deleting a pod never bound to a node.
#[tokio::test]
async fn pods_are_deleted_gracefully() {
    let pair = Pair::start().await;
    // NB: without controllers the real server has no default ServiceAccount to admit pods.
    let sas: Api<ServiceAccount> = Api::default_namespaced(pair.real_client.clone());
    let sa = serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("sa");
    sas.create(&PostParams::default(), &sa)
        .await
        .expect("default ServiceAccount");

    let pods = "/api/v1/namespaces/default/pods";
    let parts = [
        "/kind",
        "/metadata/deletionGracePeriodSeconds",
        "/metadata/finalizers",
    ];
    pair.same_in(
        "a pod on a node",
        "POST",
        pods,
        JSON,
        &pod("p", Some("ghost")),
        &parts,
    )
    .await;
    let p = format!("{pods}/p");
    let (d, r) = (
        pair.same_in(
            "delete: the pod's grace period",
            "DELETE",
            &p,
            JSON,
            &Value::Null,
            &parts,
        )
        .await,
        pair.send("GET", &p, JSON, &Value::Null).await.0,
    );
    assert_eq!(d.body["metadata"]["deletionGracePeriodSeconds"], json!(20));
    assert!((19..=21).contains(&grace_of(&d)) && (19..=21).contains(&grace_of(&r)));
    let r = pair
        .same_in(
            "shortened",
            "DELETE",
            &p,
            JSON,
            &json!({"gracePeriodSeconds": 5}),
            &parts,
        )
        .await;
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], json!(5));
    let r = pair
        .same_in(
            "never lengthened",
            "DELETE",
            &p,
            JSON,
            &json!({"gracePeriodSeconds": 10}),
            &parts,
        )
        .await;
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], json!(5));
    pair.same_in(
        "0: at once",
        "DELETE",
        &p,
        JSON,
        &json!({"gracePeriodSeconds": 0}),
        &parts,
    )
    .await;
    pair.same("gone", "GET", &p, JSON, &Value::Null).await;

    pair.same_in(
        "a pod on no node",
        "POST",
        pods,
        JSON,
        &pod("q", None),
        &parts,
    )
    .await;
    let r = pair
        .same_in(
            "goes at once",
            "DELETE",
            &format!("{pods}/q"),
            JSON,
            &Value::Null,
            &parts,
        )
        .await;
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], json!(0));
    pair.same("gone too", "GET", &format!("{pods}/q"), JSON, &Value::Null)
        .await;
}

/// On the demo cluster the kubelet plays its part: a running pod deleted with its grace
/// period is stopped, then deleted for good.
#[tokio::test]
async fn the_demo_kubelet_finishes_a_graceful_deletion() {
    let (_sim, client) = crate::support::spawn_with_node().await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let p = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}))
    .expect("pod");
    pods.create(&PostParams::default(), &p)
        .await
        .expect("create");
    let running = crate::support::eventually(30, || async {
        let p = pods.get("p").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    // Who wrote what, as on a real node: the creator, the scheduler, the kubelet.
    let managers: Vec<String> = running
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.manager)
        .collect();
    for m in ["unknown", "kube-scheduler", "kubelet"] {
        assert!(managers.iter().any(|x| x == m), "{m} in {managers:?}");
    }
    let marked = pods
        .delete("p", &Default::default())
        .await
        .expect("delete")
        .left()
        .expect("the pod, still there");
    let md = marked.metadata;
    assert_eq!(md.deletion_grace_period_seconds, Some(30));
    assert!(md.deletion_timestamp.is_some());
    crate::support::eventually(30, || async {
        pods.get_opt("p").await.ok()?.is_none().then_some(())
    })
    .await;
}

/// With controllers and a kubelet on both sides, a running pod deleted with its grace
/// period is marked, then finalized by the kubelet: gone from both.
#[tokio::test]
async fn kubelets_finish_graceful_deletions_on_both() {
    let pair = Pair::start_with(wharf_testkit::Parts::ALL).await;
    let pods = "/api/v1/namespaces/default/pods";
    let mut p = pod("runner", None);
    p["spec"]["schedulerName"] = json!("default-scheduler");
    pair.same_in("a pod", "POST", pods, JSON, &p, &["/kind"])
        .await;
    let running = |client: kube::Client| async move {
        let api: Api<Pod> = Api::default_namespaced(client);
        crate::support::eventually(60, || async {
            let p = api.get("runner").await.ok()?;
            (p.status?.phase.as_deref() == Some("Running")).then_some(())
        })
        .await;
    };
    running(pair.sim_client.clone()).await;
    running(pair.real_client.clone()).await;
    let parts = ["/kind", "/metadata/deletionGracePeriodSeconds"];
    let r = pair
        .same_in(
            "delete a running pod",
            "DELETE",
            &format!("{pods}/runner"),
            JSON,
            &Value::Null,
            &parts,
        )
        .await;
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], json!(20));
    for client in [pair.sim_client.clone(), pair.real_client.clone()] {
        let api: Api<Pod> = Api::default_namespaced(client);
        crate::support::eventually(60, || async {
            api.get_opt("runner").await.ok()?.is_none().then_some(())
        })
        .await;
    }
}
