//! Server-side apply and `managedFields` against a real kube-apiserver 1.20: the same
//! applies, patches, updates and creates to both, the answers compared (see
//! `support::parity`), managers' field sets and conflicts included.

use serde_json::{json, Value};

use crate::support::parity::Pair;

const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";
const JSON: &str = "application/json";
const CM: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": data})
}

/// Managers of a ConfigMap: applies create and update it, a merge patch and a PUT take
/// fields, conflicting applies fail with the real message and causes, `force` takes
/// fields over, and what an applier stops sending goes unless someone else owns it.
#[tokio::test]
async fn configmap_managers_conflicts_and_pruning() {
    let pair = Pair::start().await;
    let one = cm(
        "one",
        json!({"a": "1"}),
        json!({"key": "one", "other": "x"}),
    );
    let at = |q: &str| format!("{CM}/one?{q}");

    let r = pair
        .same("apply without a manager", "PATCH", &at(""), APPLY, &one)
        .await;
    assert_eq!(r.status, 422);
    let mut v0 = one.clone();
    v0["apiVersion"] = json!("v2");
    let r = pair
        .same(
            "apply of another version",
            "PATCH",
            &at("fieldManager=alice"),
            APPLY,
            &v0,
        )
        .await;
    assert_eq!(r.status, 400);
    let mut named = one.clone();
    named["metadata"]["name"] = json!("other");
    pair.same(
        "apply of another name",
        "PATCH",
        &at("fieldManager=alice"),
        APPLY,
        &named,
    )
    .await;
    let mut with_managers = one.clone();
    with_managers["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Apply"}]);
    pair.same(
        "apply with managedFields",
        "PATCH",
        &at("fieldManager=alice"),
        APPLY,
        &with_managers,
    )
    .await;
    let r = pair
        .same(
            "a dry-run apply creates nothing",
            "PATCH",
            &at("fieldManager=alice&dryRun=All"),
            APPLY,
            &one,
        )
        .await;
    assert_eq!(r.status, 201);
    pair.same("nothing was created", "GET", &at(""), JSON, &Value::Null)
        .await;
    let r = pair
        .same(
            "apply creates",
            "PATCH",
            &at("fieldManager=alice"),
            APPLY,
            &one,
        )
        .await;
    assert_eq!(r.status, 201);
    let r = pair
        .same(
            "the same apply again",
            "PATCH",
            &at("fieldManager=alice"),
            APPLY,
            &one,
        )
        .await;
    assert_eq!(r.status, 200);

    pair.same(
        "force is for apply only",
        "PATCH",
        &at("fieldManager=bob&force=true"),
        MERGE,
        &json!({"data": {"key": "two"}}),
    )
    .await;
    let mut stale = one.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    pair.same(
        "apply with a stale resourceVersion",
        "PATCH",
        &at("fieldManager=alice"),
        APPLY,
        &stale,
    )
    .await;
    let r = pair
        .same(
            "a merge patch takes a field",
            "PATCH",
            &at("fieldManager=bob"),
            MERGE,
            &json!({"data": {"key": "two"}}),
        )
        .await;
    assert_eq!(
        r.body["metadata"]["managedFields"].as_array().map(Vec::len),
        Some(2)
    );

    let three = cm(
        "one",
        json!({"a": "2", "b": "x"}),
        json!({"key": "three", "other": "why"}),
    );
    let r = pair
        .same(
            "conflicts with two managers",
            "PATCH",
            &at("fieldManager=carol"),
            APPLY,
            &three,
        )
        .await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (409, Some("Conflict"))
    );
    let mut just_key = one.clone();
    just_key["data"]["key"] = json!("four");
    let r = pair
        .same(
            "one conflict",
            "PATCH",
            &at("fieldManager=alice"),
            APPLY,
            &just_key,
        )
        .await;
    assert_eq!(
        r.body["message"],
        json!("Apply failed with 1 conflict: conflict with \"bob\" using v1: .data.key")
    );
    let r = pair
        .same(
            "dry run of a forced apply",
            "PATCH",
            &at("fieldManager=carol&force=true&dryRun=All"),
            APPLY,
            &three,
        )
        .await;
    assert_eq!(r.status, 200);
    pair.same(
        "force takes the fields",
        "PATCH",
        &at("fieldManager=carol&force=true"),
        APPLY,
        &three,
    )
    .await;

    let fewer = cm("one", json!({"a": "2"}), json!({"key": "three"}));
    pair.same(
        "alice shares fields with carol",
        "PATCH",
        &at("fieldManager=alice"),
        APPLY,
        &fewer,
    )
    .await;
    let r = pair
        .same(
            "carol drops fields only she owned",
            "PATCH",
            &at("fieldManager=carol"),
            APPLY,
            &fewer,
        )
        .await;
    assert_eq!(r.body["data"], json!({"key": "three"}));
    let r = pair
        .same(
            "alice drops a field carol still owns",
            "PATCH",
            &at("fieldManager=alice"),
            APPLY,
            &cm("one", json!({}), json!({"key": "three"})),
        )
        .await;
    assert_eq!(r.body["metadata"]["labels"], json!({"a": "2"}));

    let put = cm("one", json!({"c": "3"}), json!({"key": "five", "new": "n"}));
    pair.same(
        "a PUT takes and removes fields",
        "PUT",
        &at("fieldManager=dave"),
        JSON,
        &put,
    )
    .await;
    pair.same(
        "a create records an Update",
        "POST",
        &format!("{CM}?fieldManager=erin"),
        JSON,
        &cm("two", json!({"x": "1"}), json!({"k": "v"})),
    )
    .await;
    pair.same(
        "no manager: unknown",
        "POST",
        CM,
        JSON,
        &cm("three", json!({"t": "3"}), json!({"k": "v"})),
    )
    .await;
    pair.same("read back", "GET", &at(""), JSON, &Value::Null)
        .await;
}

fn deployment(name: &str, image: &str, env: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                {"name": "web", "image": image, "args": ["a", "b"], "ports": [{"containerPort": 80}], "env": env}]}}}})
}

/// Deployments (keyed lists, atomic selector and args, defaults owned by a creator but
/// not by an applier) and a custom resource whose CRD declares list and map types.
#[tokio::test]
async fn deployments_and_custom_resources() {
    let pair = Pair::start().await;
    let deps = "/apis/apps/v1/namespaces/default/deployments";
    let parts = ["/metadata/managedFields", "/metadata/labels", "/spec"];
    let env = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
    let applied = deployment("web", "nginx:1.19", env.clone());
    pair.same_in(
        "apply creates a Deployment",
        "PATCH",
        &format!("{deps}/web?fieldManager=alice"),
        APPLY,
        &applied,
        &parts,
    )
    .await;
    pair.same_in(
        "a create owns the defaults",
        "POST",
        &format!("{deps}?fieldManager=kubectl-create"),
        JSON,
        &deployment("made", "nginx:1.19", env.clone()),
        &parts,
    )
    .await;
    let other = deployment("web", "nginx:1.20", env.clone());
    let r = pair
        .same_in(
            "another image conflicts",
            "PATCH",
            &format!("{deps}/web?fieldManager=bob"),
            APPLY,
            &other,
            &parts,
        )
        .await;
    assert_eq!(r.status, 409);
    pair.same_in("a strategic patch of a container", "PATCH", &format!("{deps}/web?fieldManager=kubectl-set"), "application/strategic-merge-patch+json",
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.21"}]}}}}), &parts)
        .await;
    let fewer = deployment("web", "nginx:1.19", json!([{"name": "A", "value": "1"}]));
    pair.same_in(
        "alice forces and drops an env var",
        "PATCH",
        &format!("{deps}/web?fieldManager=alice&force=true"),
        APPLY,
        &fewer,
        &parts,
    )
    .await;
    // Keyed items keep their place; new ones go last; what another applier holds stays.
    for (who, names) in [
        ("bob", ["C", "A", ""]),
        ("bob", ["D", "B", "A"]),
        ("alice", ["E", "", ""]),
    ] {
        let env: Vec<Value> = names
            .iter()
            .filter(|n| !n.is_empty())
            .map(|n| json!({"name": n, "value": "1"}))
            .collect();
        pair.same_in(
            &format!("{who} applies env {names:?}"),
            "PATCH",
            &format!("{deps}/web?fieldManager={who}&force=true"),
            APPLY,
            &deployment("web", "nginx:1.19", json!(env)),
            &parts,
        )
        .await;
    }

    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                "owners": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "limits": {"type": "object", "additionalProperties": {"type": "string"}},
                "target": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}}
            }}}}}}]}});
    pair.same_in("apply creates a CRD", "PATCH", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com?fieldManager=alice", APPLY, &crd, &["/metadata/managedFields"])
        .await;
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    pair.wait_until_served(widgets).await;
    let w = |size: i64, port: i64, owners: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": size, "tags": ["a", "b"], "ports": [{"name": "http", "port": port}],
                "owners": owners, "limits": {"cpu": "1"}, "target": {"kind": "Kind", "name": "one"}}})
    };
    pair.same(
        "apply creates a custom resource",
        "PATCH",
        &format!("{widgets}/w?fieldManager=alice"),
        APPLY,
        &w(1, 80, json!(["ann"])),
    )
    .await;
    pair.same(
        "a merge patch of a custom resource",
        "PATCH",
        &format!("{widgets}/w?fieldManager=bob"),
        MERGE,
        &json!({"spec": {"owners": ["ann", "bea"], "limits": {"memory": "1Gi"}}}),
    )
    .await;
    let r = pair
        .same(
            "conflict on a keyed item",
            "PATCH",
            &format!("{widgets}/w?fieldManager=carol"),
            APPLY,
            &w(1, 81, json!(["bea"])),
        )
        .await;
    assert_eq!(r.status, 409);
    pair.same(
        "forced",
        "PATCH",
        &format!("{widgets}/w?fieldManager=carol&force=true"),
        APPLY,
        &w(1, 81, json!(["bea"])),
    )
    .await;
    pair.same(
        "alice leaves",
        "PATCH",
        &format!("{widgets}/w?fieldManager=alice"),
        APPLY,
        &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
    )
    .await;

    // NB: a Service's ports name their protocol: kube-apiserver 1.20 refuses to apply
    // them without (a bug later versions fixed; the demo cluster, which says it is 1.33,
    // takes TCP), and it has no `internalTrafficPolicy` for a create to own.
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}});
    let parts = ["/metadata/managedFields", "/spec/ports", "/spec/selector"];
    pair.same_in(
        "apply creates a Service",
        "PATCH",
        "/api/v1/namespaces/default/services/s?fieldManager=alice",
        APPLY,
        &svc,
        &parts,
    )
    .await;

    // A schema that keeps whatever it is given: maps are granular, lists atomic.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo", "listKind": "GizmoList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    pair.same_in("a CRD that keeps unknown fields", "PATCH", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com?fieldManager=alice", APPLY, &crd, &["/metadata/managedFields"])
        .await;
    let gizmos = "/apis/example.com/v1/namespaces/default/gizmos";
    pair.wait_until_served(gizmos).await;
    let g = |depth: i64, items: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"},
            "spec": {"outer": {"inner": {"depth": depth}, "flag": true}, "items": items}})
    };
    pair.same(
        "apply an untyped object",
        "PATCH",
        &format!("{gizmos}/g?fieldManager=alice"),
        APPLY,
        &g(1, json!([1, 2])),
    )
    .await;
    let r = pair
        .same(
            "a nested conflict",
            "PATCH",
            &format!("{gizmos}/g?fieldManager=bob"),
            APPLY,
            &g(2, json!([1, 2])),
        )
        .await;
    assert_eq!(r.status, 409);
    pair.same(
        "bob adds to a list alice owns, forced",
        "PATCH",
        &format!("{gizmos}/g?fieldManager=bob&force=true"),
        APPLY,
        &g(1, json!([1, 2, 3])),
    )
    .await;
    pair.same(
        "an update of an untyped object",
        "PATCH",
        &format!("{gizmos}/g?fieldManager=carol"),
        MERGE,
        &json!({"spec": {"outer": {"flag": null, "more": {"x": "y"}}}}),
    )
    .await;
}
