//! Custom resources held to their CRD's schema, compared with kube-apiserver: unknown fields
//! pruned, nulls of non-nullable fields dropped, defaults filled, and type, enum and
//! required errors answered with the same 422 and causes.

use serde_json::{json, Value};

use crate::support::parity::Pair;

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";

fn schema() -> Value {
    let spec = json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"},
        "size": {"type": "integer", "default": 3},
        "ratio": {"type": "number"},
        "when": {"type": "string", "format": "date-time"},
        "small": {"type": "integer", "format": "int32"},
        "host": {"type": "string", "format": "hostname"},
        "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
        "note": {"type": "string", "nullable": true},
        "enabled": {"type": "boolean", "default": true},
        "port": {"x-kubernetes-int-or-string": true},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "limits": {"type": "object", "default": {}, "properties": {
            "cpu": {"type": "string", "default": "1"}, "memory": {"type": "string"}}},
        "items": {"type": "array", "items": {"type": "object", "required": ["id"],
            "properties": {"id": {"type": "integer"}, "tag": {"type": "string"}}}}
    }});
    json!({"type": "object", "properties": {
        "spec": spec,
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
    }})
}

fn crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
        "versions": [{"name": "v1", "served": true, "storage": true,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": schema()}}]}})
}

const GADGETS: &str = "/apis/example.com/v1/namespaces/default/gadgets";

fn gadget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn custom_resources_are_pruned_defaulted_and_validated_like_the_real_server() {
    let pair = Pair::start().await;
    let (demo, real) = pair
        .send(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            JSON,
            &crd(),
        )
        .await;
    assert_eq!((demo.status, real.status), (201, 201), "{demo:?} {real:?}");
    pair.wait_until_served(GADGETS).await;

    // pruned, nulls dropped, defaults filled (nested ones too), what is kept kept
    // NB: the objects are compared without managedFields: 1.20 lists the dropped status and
    // the defaults' nested fields in its entry; the demo cluster's entry does not (a gap).
    let parts = ["/spec", "/status", "/metadata/name", "/metadata/generation"];
    let created = pair
        .same_in(
            "a gadget with unknown fields, nulls and missing defaults",
            "POST",
            GADGETS,
            JSON,
            &json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"},
                "spec": {"name": "one", "bogus": 1, "mode": null, "note": null, "port": "http",
                    "labels": {"a": "b"}, "free": {"anything": {"goes": [1, 2]}},
                    "items": [{"id": 1, "extra": true}]},
                "status": {"phase": "ignored on create", "other": 1},
                "extra": {"top": "level"}}),
            &parts,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["spec"]["size"], json!(3));
    assert_eq!(created.body["spec"]["limits"], json!({"cpu": "1"}));
    assert!(created.body["spec"].get("bogus").is_none());

    // a merge patch is held to the schema too
    pair.same_in(
        "a merge patch adding an unknown field and a nested default",
        "PATCH",
        &format!("{GADGETS}/g1"),
        MERGE,
        &json!({"spec": {"unknown": true, "limits": {"memory": "1Gi", "cpu": null}}}),
        &parts,
    )
    .await;

    // one error per request, each as kube-apiserver words it
    for (what, spec) in [
        (
            "a string for an integer",
            json!({"name": "x", "size": "big"}),
        ),
        ("an integer for a string", json!({"name": 7})),
        (
            "a value outside the enum",
            json!({"name": "x", "mode": "reckless"}),
        ),
        ("a missing required field", json!({"size": 1})),
        (
            "a nested required field",
            json!({"name": "x", "items": [{"tag": "t"}]}),
        ),
        (
            "a nested type error",
            json!({"name": "x", "items": [{"id": "one"}]}),
        ),
        (
            "a boolean for int-or-string",
            json!({"name": "x", "port": true}),
        ),
        (
            "a number for a map value",
            json!({"name": "x", "labels": {"a": 1}}),
        ),
        (
            "a string for a boolean",
            json!({"name": "x", "enabled": "yes"}),
        ),
        ("an object for a number", json!({"name": "x", "ratio": {}})),
        ("not a date-time", json!({"name": "x", "when": "yesterday"})),
        (
            "not a host name",
            json!({"name": "x", "host": "-bad host-"}),
        ),
    ] {
        let real = pair
            .same(what, "POST", GADGETS, JSON, &gadget("bad", spec))
            .await;
        assert_eq!(real.status, 422, "{what}: {}", real.body);
    }
    // 1.20 does not check integer formats: an int32 too big is stored
    let kept = pair
        .same_in(
            "an int32 too big",
            "POST",
            GADGETS,
            JSON,
            &gadget("big", json!({"name": "x", "small": 3000000000i64})),
            &parts,
        )
        .await;
    assert_eq!(kept.status, 201, "{}", kept.body);
}
