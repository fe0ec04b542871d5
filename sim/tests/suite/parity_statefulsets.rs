//! StatefulSets and ControllerRevisions against a real kube-apiserver 1.20 (API only: no
//! controller runs there, so what the demo's controller writes — status, revisions, pods —
//! is left out of the comparison): the defaults a set is stored with (its claim templates'
//! too), the field errors of a create, the forbidden updates and the scale subresource.

use serde_json::{json, Value};

use crate::support::parity::Pair;

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const STS: &str = "/apis/apps/v1/namespaces/default/statefulsets";
const REVISIONS: &str = "/apis/apps/v1/namespaces/default/controllerrevisions";

fn sts(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name}, "spec": spec})
}

/// A set as a manifest would have it: a headless service's name, one claim template.
fn spec() -> Value {
    json!({"serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]})
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().expect("an object").remove(key);
    v
}

#[tokio::test]
async fn a_statefulset_is_stored_with_the_real_defaults() {
    let pair = Pair::start().await;
    let r = pair
        .same(
            "a set with a claim template",
            "POST",
            STS,
            JSON,
            &sts("web", spec()),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let s = &r.body["spec"];
    assert_eq!(s["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        s["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(s["revisionHistoryLimit"], 10);
    assert_eq!(
        s["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );
    assert_eq!(r.body["status"], json!({"replicas": 0}));

    // 1.20 does not require a service name (the OpenAPI schema does, for kubectl).
    let r = pair
        .same(
            "a set without serviceName",
            "POST",
            STS,
            JSON,
            &sts("headless", without(spec(), "serviceName")),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["spec"]["serviceName"], "");

    // A strategy type given without `rollingUpdate` gets no partition.
    let mut s = without(spec(), "volumeClaimTemplates");
    s["updateStrategy"] = json!({"type": "RollingUpdate"});
    s["podManagementPolicy"] = json!("Parallel");
    s["replicas"] = json!(0);
    let r = pair
        .same(
            "a Parallel set of 0",
            "POST",
            STS,
            JSON,
            &sts("parallel", s),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.body["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate"})
    );

    let r = pair
        .same_in(
            "its scale",
            "GET",
            &format!("{STS}/web/scale"),
            JSON,
            &Value::Null,
            &["/spec", "/status/selector"],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn statefulset_field_errors_are_the_same_422() {
    let pair = Pair::start().await;
    let mut mismatch = spec();
    mismatch["template"]["metadata"]["labels"] = json!({"app": "other", "tier": "db"});
    mismatch["replicas"] = json!(-1);
    mismatch["updateStrategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": -1}});
    let mut unknown = spec();
    unknown["podManagementPolicy"] = json!("Sometimes");
    unknown["updateStrategy"] = json!({"type": "Sideways"});
    unknown["selector"] = json!({});
    unknown["template"]["spec"]["restartPolicy"] = json!("Never");
    unknown["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
    let mut on_delete = spec();
    on_delete["updateStrategy"] = json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}});
    // NB: 1.20 does not validate a StatefulSet's pod spec: no image is no error there.
    on_delete["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("image");
    let mut expressions = spec();
    expressions["selector"] = json!({"matchLabels": {}, "matchExpressions": []});
    let cases = [
        ("selector and labels differ, negative counts", mismatch),
        (
            "unknown policy and strategy, empty selector, pod rules",
            unknown,
        ),
        ("OnDelete with rollingUpdate", on_delete),
        ("no selector", without(spec(), "selector")),
        ("an empty selector's empty lists", expressions),
    ];
    for (what, s) in cases {
        let r = pair.same(what, "POST", STS, JSON, &sts("bad", s)).await;
        assert_eq!(r.status, 422, "{what}: {}", r.body);
    }
}

#[tokio::test]
async fn only_replicas_template_and_strategy_may_change() {
    let pair = Pair::start().await;
    let r = pair
        .same("a set", "POST", STS, JSON, &sts("web", spec()))
        .await;
    assert_eq!(r.status, 201);
    let web = format!("{STS}/web");
    let bigger = json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}]}});
    let cases = [
        (
            "the service name",
            json!({"spec": {"serviceName": "other"}}),
        ),
        ("a claim template's size", bigger),
        (
            "the pod management policy, and negative replicas",
            json!({"spec": {"podManagementPolicy": "Parallel", "replicas": -3}}),
        ),
        (
            "the selector",
            json!({"spec": {"selector": {"matchLabels": {"app": "web", "x": "y"}}}}),
        ),
        (
            "the history limit",
            json!({"spec": {"revisionHistoryLimit": 3}}),
        ),
    ];
    for (what, patch) in cases {
        let r = pair.same(what, "PATCH", &web, MERGE, &patch).await;
        assert_eq!(r.status, 422, "{what}: {}", r.body);
    }
    let allowed = json!({"spec": {"replicas": 3, "template": {"metadata": {"labels": {"v": "2"}}},
        "updateStrategy": {"type": "OnDelete", "rollingUpdate": null}}});
    let r = pair
        .same_in(
            "replicas, template and strategy",
            "PATCH",
            &web,
            MERGE,
            &allowed,
            &["/spec", "/metadata/generation"],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["metadata"]["generation"], 2);
    let r = pair
        .same_in(
            "a partition through a strategic merge",
            "PATCH",
            &web,
            STRATEGIC,
            &json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}}),
            &["/spec/updateStrategy"],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = pair
        .same(
            "a negative partition",
            "PATCH",
            &web,
            MERGE,
            &json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": -2}}}}),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
}

#[tokio::test]
async fn controller_revisions_are_checked_as_on_the_real_one() {
    let pair = Pair::start().await;
    let rev = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-abc"},
        "data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 1});
    let r = pair.same("a revision", "POST", REVISIONS, JSON, &rev).await;
    assert_eq!(r.status, 201, "{r:?}");
    let bad = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-abd"}, "revision": -1});
    let r = pair
        .same("a revision without data", "POST", REVISIONS, JSON, &bad)
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = pair
        .same(
            "a revision's data changed",
            "PATCH",
            &format!("{REVISIONS}/web-abc"),
            MERGE,
            &json!({"data": {"x": 1}, "revision": 2}),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    // Its number may change: the controller renumbers a revision rolled back to.
    let r = pair
        .same(
            "a revision renumbered",
            "PATCH",
            &format!("{REVISIONS}/web-abc"),
            MERGE,
            &json!({"revision": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}
