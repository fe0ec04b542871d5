//! Custom resources against their CRD's schema, the demo cluster beside kube-apiserver 1.20:
//! CRD schemas refused for the same causes, custom objects validated (types, enums,
//! required fields, bounds, lengths, string formats), pruned and defaulted the same way,
//! and the status subresource splitting writes the same way.

use serde_json::{json, Value};

use crate::support::parity::{normalize, Answer, Pair};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// A namespaced CRD in `parity.dev` whose one version `v1` has `schema`.
fn crd(plural: &str, kind: &str, schema: Value, subresources: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.parity.dev")},
        "spec": {"group": "parity.dev", "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": schema}, "subresources": subresources}]}
    })
}

/// A root schema whose `spec` has `props`.
fn spec_schema(props: Value) -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "properties": props}}})
}

/// Creates the CRD on both and waits until both serve its objects.
async fn install(pair: &Pair, crd: &Value) {
    let (demo, real) = pair.send("POST", CRDS, JSON, crd).await;
    assert_eq!((demo.status, real.status), (201, 201), "{demo:?}\n{real:?}");
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
    pair.wait_until_served(&format!("/apis/parity.dev/v1/namespaces/default/{plural}"))
        .await;
}

/// Both answers with what only a server's bookkeeping puts in an object (managedFields)
/// removed too.
fn content(a: &Answer) -> Value {
    let mut n = normalize(a);
    if let Some(md) = n["body"]["metadata"].as_object_mut() {
        md.remove("managedFields");
    }
    n
}

/// [`Pair::same`] for answers that carry a custom object; returns the real answer.
async fn same(pair: &Pair, what: &str, method: &str, path: &str, ct: &str, body: &Value) -> Answer {
    let (demo, real) = pair.send(method, path, ct, body).await;
    let (d, r) = (content(&demo), content(&real));
    assert!(
        d == r,
        "{what}: the demo cluster answered differently from kube-apiserver\n--- demo:\n{}\n--- real:\n{}",
        serde_json::to_string_pretty(&d).unwrap(),
        serde_json::to_string_pretty(&r).unwrap()
    );
    real
}

#[tokio::test]
async fn crd_schemas_are_refused_for_the_same_causes() {
    let pair = Pair::start().await;
    let refused = [
        // Wharf's own Tenant CRD had this: 1.20 checks an empty-string default as null.
        (
            "an empty-string default",
            spec_schema(json!({"displayName": {"type": "string", "default": ""}})),
        ),
        (
            "null in an enum",
            spec_schema(
                json!({"phase": {"type": "string", "nullable": true, "enum": ["Running", null]}}),
            ),
        ),
        (
            "a field without a type",
            spec_schema(json!({"d": {"properties": {"e": {"type": "string"}}}})),
        ),
        (
            "an array without items",
            spec_schema(json!({"a": {"type": "array"}})),
        ),
        (
            "a nullable root",
            json!({"type": "object", "nullable": true}),
        ),
        (
            "a default of the wrong type",
            spec_schema(json!({"f": {"type": "integer", "default": "no"}})),
        ),
        (
            "a default with unknown fields",
            spec_schema(
                json!({"g": {"type": "object", "default": {"zz": 1}, "properties": {"h": {"type": "string"}}}}),
            ),
        ),
        (
            "a default missing a required field",
            spec_schema(
                json!({"g": {"type": "object", "default": {}, "required": ["x"], "properties": {"x": {"type": "string"}}}}),
            ),
        ),
        (
            "a default outside its enum",
            spec_schema(json!({"m": {"type": "string", "default": "x", "enum": ["y"]}})),
        ),
        (
            "a default too long",
            spec_schema(json!({"s": {"type": "string", "maxLength": 2, "default": "long"}})),
        ),
        (
            "a nested empty-string default",
            spec_schema(
                json!({"o": {"type": "object", "default": {}, "properties": {"x": {"type": "string", "default": ""}}}}),
            ),
        ),
    ];
    for (i, (what, schema)) in refused.into_iter().enumerate() {
        let body = crd(
            &format!("refused{i}s"),
            &format!("Refused{i}"),
            schema,
            json!({}),
        );
        let real = pair.same(what, "POST", CRDS, JSON, &body).await;
        assert_eq!(real.status, 422, "{what}: {:?}", real.body);
    }
    // Versions with different schemas are checked (and reported) one by one; a schema with a
    // structural error has its defaults left unchecked.
    let mut two = crd(
        "tworefuseds",
        "TwoRefused",
        spec_schema(json!({"a": {"type": "string", "default": ""}})),
        json!({}),
    );
    let mut v2 = two["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["b"] =
        json!({"type": "array"});
    two["spec"]["versions"].as_array_mut().unwrap().push(v2);
    let real = pair.same("two versions", "POST", CRDS, JSON, &two).await;
    assert_eq!(
        real.body["details"]["causes"].as_array().map(Vec::len),
        Some(2)
    );
    let accepted = spec_schema(json!({
        "list": {"type": "array", "items": {"type": "string"}, "default": []},
        "flag": {"type": "boolean", "default": false},
        "zero": {"type": "integer", "default": 0},
        "obj": {"type": "object", "default": {}, "properties": {"x": {"type": "string"}}},
        "nothing": {"type": "string", "default": null},
        "maybe": {"type": "string", "nullable": true, "default": ""},
        "port": {"x-kubernetes-int-or-string": true},
        "free": {"x-kubernetes-preserve-unknown-fields": true}
    }));
    install(&pair, &crd("accepteds", "Accepted", accepted, json!({}))).await;
}

/// The schema the custom-object tests share.
fn things() -> Value {
    crd(
        "things",
        "Thing",
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "name": {"type": "string", "minLength": 2, "maxLength": 5},
                "count": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "port": {"x-kubernetes-int-or-string": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "nick": {"type": "string", "nullable": true},
                "when": {"type": "string", "format": "date-time"},
                "dflt": {"type": "string", "default": "d"},
                "nested": {"type": "object", "properties": {"x": {"type": "integer", "default": 7}, "y": {"type": "string"}}},
                "req": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}}}
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }}),
        json!({"status": {}}),
    )
}

const THINGS: &str = "/apis/parity.dev/v1/namespaces/default/things";

fn thing(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "parity.dev/v1", "kind": "Thing", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn custom_objects_are_validated_against_the_schema() {
    let pair = Pair::start().await;
    install(&pair, &things()).await;
    let refused = [
        ("a number for a string", json!({"name": 1})),
        ("a string too short", json!({"name": "a"})),
        ("a string too long", json!({"name": "abcdef"})),
        ("below the minimum", json!({"count": 0})),
        ("above the maximum", json!({"count": 11})),
        ("a string for an integer", json!({"count": "x"})),
        ("a fraction for an integer", json!({"count": 1.5})),
        ("a value outside the enum", json!({"mode": "c"})),
        ("too many items", json!({"tags": ["a", "b", "c"]})),
        ("an item of the wrong type", json!({"tags": [1]})),
        ("a map value of the wrong type", json!({"labels": {"a": 1}})),
        ("a boolean for int-or-string", json!({"port": true})),
        ("a malformed date-time", json!({"when": "yesterday"})),
        ("a missing required field", json!({"req": {}})),
        ("a string for an object", json!("str")),
    ];
    for (what, spec) in refused {
        let real = same(&pair, what, "POST", THINGS, JSON, &thing("bad", spec)).await;
        assert_eq!(real.status, 422, "{what}: {:?}", real.body);
    }
    let ok = json!({"name": "abc", "count": 3, "mode": "a", "tags": ["x"], "labels": {"a": "b"},
        "port": "http", "when": "2024-01-02T03:04:05Z", "req": {"k": "v"}});
    let real = same(
        &pair,
        "a valid object",
        "POST",
        THINGS,
        JSON,
        &thing("good", ok),
    )
    .await;
    assert_eq!(real.status, 201);
    let path = format!("{THINGS}/good");
    let real = same(
        &pair,
        "a merge patch that breaks the schema",
        "PATCH",
        &path,
        MERGE,
        &json!({"spec": {"count": "many"}}),
    )
    .await;
    assert_eq!(real.status, 422);
    let real = same(
        &pair,
        "a JSON patch that breaks the schema",
        "PATCH",
        &path,
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/spec/name", "value": 5}]),
    )
    .await;
    assert_eq!(real.status, 422);
    let real = same(
        &pair,
        "a PUT without a resourceVersion",
        "PUT",
        &path,
        JSON,
        &thing("good", json!({"mode": "z"})),
    )
    .await;
    assert_eq!(real.status, 422);
}

#[tokio::test]
async fn unknown_fields_are_pruned_and_defaults_applied() {
    let pair = Pair::start().await;
    install(&pair, &things()).await;
    let mut body = thing(
        "t",
        json!({"name": null, "nested": {}, "junk": 1, "free": {"any": {"x": 1}}, "nick": null}),
    );
    body["junk2"] = json!(2);
    let real = same(
        &pair,
        "create with unknown fields, nulls and fieldValidation=Strict",
        "POST",
        &format!("{THINGS}?fieldValidation=Strict"),
        JSON,
        &body,
    )
    .await;
    assert_eq!(real.status, 201);
    assert_eq!(
        real.body["spec"],
        json!({"dflt": "d", "free": {"any": {"x": 1}}, "nested": {"x": 7}, "nick": null})
    );
    let path = format!("{THINGS}/t");
    same(
        &pair,
        "a merge patch nulling a defaulted field and adding junk",
        "PATCH",
        &path,
        MERGE,
        &json!({"spec": {"dflt": null, "junk": 3, "nested": {"x": null, "y": "why"}}}),
    )
    .await;
    same(
        &pair,
        "a JSON patch adding an unknown field",
        "PATCH",
        &path,
        "application/json-patch+json",
        &json!([{"op": "add", "path": "/spec/other", "value": 1}]),
    )
    .await;
    same(&pair, "read back", "GET", &path, JSON, &Value::Null).await;
    let real = same(
        &pair,
        "create with a null object",
        "POST",
        THINGS,
        JSON,
        &thing("u", json!({"nested": null, "dflt": null})),
    )
    .await;
    assert_eq!(real.body["spec"], json!({"dflt": "d"}));
}

#[tokio::test]
async fn the_status_subresource_splits_writes() {
    let pair = Pair::start().await;
    install(&pair, &things()).await;
    let mut body = thing("s", json!({"name": "ab"}));
    body["status"] = json!({"ready": true});
    let real = same(&pair, "create drops status", "POST", THINGS, JSON, &body).await;
    assert!(real.body.get("status").is_none());
    let path = format!("{THINGS}/s");
    let real = same(
        &pair,
        "the main resource ignores status",
        "PATCH",
        &path,
        MERGE,
        &json!({"spec": {"name": "abc"}, "status": {"ready": true}}),
    )
    .await;
    assert_eq!(real.body["metadata"]["generation"], json!(2));
    let status = format!("{path}/status");
    same(
        &pair,
        "/status ignores spec",
        "PATCH",
        &status,
        MERGE,
        &json!({"spec": {"name": "zz"}, "status": {"ready": true}}),
    )
    .await;
    same(
        &pair,
        "/status ignores labels",
        "PATCH",
        &status,
        MERGE,
        &json!({"metadata": {"labels": {"a": "b"}}, "status": {"ready": false}}),
    )
    .await;
    same(
        &pair,
        "/status validates status",
        "PATCH",
        &status,
        MERGE,
        &json!({"status": {"ready": "x"}}),
    )
    .await;
    same(
        &pair,
        "metadata-only change keeps the generation",
        "PATCH",
        &path,
        MERGE,
        &json!({"metadata": {"labels": {"a": "c"}}}),
    )
    .await;

    // Without a status subresource, status is part of the object.
    let plain = crd(
        "plains",
        "Plain",
        json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}),
        json!({}),
    );
    install(&pair, &plain).await;
    let plains = "/apis/parity.dev/v1/namespaces/default/plains";
    let body = json!({"apiVersion": "parity.dev/v1", "kind": "Plain", "metadata": {"name": "p"},
        "spec": {"a": "x"}, "status": {"ready": true}});
    same(&pair, "create keeps status", "POST", plains, JSON, &body).await;
    let real = same(
        &pair,
        "a status change",
        "PATCH",
        &format!("{plains}/p"),
        MERGE,
        &json!({"status": {"ready": false}}),
    )
    .await;
    assert_eq!(real.status, 200);
    same(
        &pair,
        "no /status",
        "GET",
        &format!("{plains}/p/status"),
        JSON,
        &Value::Null,
    )
    .await;
}

/// The schema of the `gadgets.example.com` CRD: formats, nested defaults, int-or-string.
fn gadget_schema() -> Value {
    let spec = json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"},
        "size": {"type": "integer", "default": 3},
        "ratio": {"type": "number"},
        "when": {"type": "string", "format": "date-time"},
        "small": {"type": "integer", "format": "int32"},
        "host": {"type": "string", "format": "hostname"},
        "day": {"type": "string", "format": "date"},
        "addr": {"type": "string", "format": "ipv4"},
        "addr6": {"type": "string", "format": "ipv6"},
        "id": {"type": "string", "format": "uuid"},
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

fn gadget_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
        "versions": [{"name": "v1", "served": true, "storage": true,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": gadget_schema()}}]}})
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
            &gadget_crd(),
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
        ("not a date", json!({"name": "x", "day": "2024-13-01"})),
        (
            "not an IPv4 address",
            json!({"name": "x", "addr": "10.0.0"}),
        ),
        (
            "not an IPv6 address",
            json!({"name": "x", "addr6": "fe80:::1"}),
        ),
        ("not a UUID", json!({"name": "x", "id": "not-a-uuid"})),
    ] {
        let real = pair
            .same(what, "POST", GADGETS, JSON, &gadget("bad", spec))
            .await;
        assert_eq!(real.status, 422, "{what}: {}", real.body);
    }
    // well-formed values pass, as do the edge cases answered the same either way
    for (i, (what, spec)) in [
        (
            "well-formed formats",
            json!({"name": "x", "when": "2024-01-02T03:04:05Z", "day": "2024-01-02",
                "host": "a.example.com", "addr": "10.0.0.1", "addr6": "fe80::1",
                "id": "123e4567-e89b-12d3-a456-426614174000"}),
        ),
        (
            "a date-time without a zone",
            json!({"name": "x", "when": "2024-01-02T03:04:05"}),
        ),
        (
            "a date-time with a fraction and an offset",
            json!({"name": "x", "when": "2024-01-02T03:04:05.123+02:00"}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        pair.same_in(
            what,
            "POST",
            GADGETS,
            JSON,
            &gadget(&format!("fmt{i}"), spec),
            &parts,
        )
        .await;
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
