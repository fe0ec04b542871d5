//! Custom resources against their CRD's `openAPIV3Schema`, as kube-apiserver 1.20 treats
//! them: unknown fields pruned, nulls of non-nullable fields dropped, defaults applied,
//! then the object validated; and the CRDs themselves checked (structural rules, defaults
//! that validate and survive pruning).
//!
//! Messages and field paths are go-openapi's and apiextensions-apiserver's, quirks
//! included (an array item's error is reported at the array's path). String formats are
//! checked (date-time, date, hostname, ipv4, ipv6, uuid), integer formats are not, as in
//! 1.20.
//!
//! NB: kube-apiserver 1.20 built with Go >= 1.19 (the suite's) also takes an empty string
//! for null in a non-nullable string field; that is a quirk of that build (its validator
//! compares zero values by address), not Kubernetes' behaviour, and is not copied here.

mod default;
mod gofmt;
mod prune;
mod structural;
mod validate;

use serde_json::Value;

pub(crate) use self::structural::validate_crd;
use crate::error::ApiError;
use crate::resources::ResourceInfo;

/// Prunes and defaults a custom object as it is decoded (before its write is recorded in
/// `managedFields`, as kube-apiserver's decoder does).
pub(crate) fn normalize(info: &ResourceInfo, obj: &mut Value) {
    if let Some(schema) = &info.schema {
        prune::prune(obj, schema, true);
        default::apply(obj, schema);
    }
}

/// Prunes, defaults and validates a custom object being written (after the server-set
/// fields are in place, so the answer is about the object as it would be stored).
pub(crate) fn admit(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let Some(schema) = &info.schema else {
        return Ok(());
    };
    normalize(info, obj);
    let causes = validate::validate(schema, obj, "");
    super::validate::answer(info, obj, causes)
}

/// A schema node's `nullable`.
fn nullable(s: &Value) -> bool {
    s["nullable"].as_bool() == Some(true)
}

/// A schema node's `x-kubernetes-preserve-unknown-fields`.
fn preserves_unknown(s: &Value) -> bool {
    s["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true)
}

/// The schema for a key of an object: its property, else `additionalProperties`.
fn field_schema<'a>(s: &'a Value, key: &str) -> Option<&'a Value> {
    s["properties"]
        .get(key)
        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info() -> ResourceInfo {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "size": {"type": "integer", "default": 3},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "note": {"type": "string", "nullable": true},
                "host": {"type": "string", "format": "hostname"},
                "addr": {"type": "string", "format": "ipv4"},
                "id": {"type": "string", "format": "uuid"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "items": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}
            }}
        }});
        ResourceInfo {
            group: "t.dev".into(),
            version: "v1".into(),
            plural: "things".into(),
            singular: "thing".into(),
            kind: "Thing".into(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            subresources: vec![],
            custom: true,
            schema: Some(std::sync::Arc::new(schema)),
        }
    }

    #[test]
    fn unknown_fields_are_pruned_defaults_filled_and_non_nullable_nulls_dropped() {
        let mut obj = json!({"apiVersion": "t.dev/v1", "kind": "Thing", "metadata": {"name": "t"},
            "spec": {"name": "n", "bogus": 1, "mode": null, "note": null, "labels": {"a": "b"},
                "free": {"anything": {"goes": true}}, "items": [{"x": 1, "y": 2}]},
            "extra": true});
        admit(&info(), &mut obj).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "t.dev/v1", "kind": "Thing", "metadata": {"name": "t"},
                "spec": {"name": "n", "size": 3, "note": null, "labels": {"a": "b"},
                    "free": {"anything": {"goes": true}}, "items": [{"x": 1}]}})
        );
    }

    #[test]
    fn type_enum_format_and_required_errors_are_the_real_servers() {
        let mut obj = json!({"metadata": {"name": "t"}, "spec": {"size": "big", "mode": "c",
            "host": "-bad-", "addr": "1.2.3", "id": "nope"}});
        let err = admit(&info(), &mut obj).unwrap_err();
        let mut causes: Vec<Value> = err.status()["details"]["causes"]
            .as_array()
            .unwrap()
            .clone();
        causes.sort_by_key(|c| c["field"].to_string());
        assert_eq!(
            causes,
            vec![
                json!({"reason": "FieldValueInvalid", "field": "spec.addr", "message": "Invalid value: \"1.2.3\": spec.addr in body must be of type ipv4: \"1.2.3\""}),
                json!({"reason": "FieldValueInvalid", "field": "spec.host", "message": "Invalid value: \"-bad-\": spec.host in body must be of type hostname: \"-bad-\""}),
                json!({"reason": "FieldValueInvalid", "field": "spec.id", "message": "Invalid value: \"nope\": spec.id in body must be of type uuid: \"nope\""}),
                json!({"reason": "FieldValueNotSupported", "field": "spec.mode", "message": "Unsupported value: \"c\": supported values: \"a\", \"b\""}),
                json!({"reason": "FieldValueRequired", "field": "spec.name", "message": "Required value"}),
                json!({"reason": "FieldValueInvalid", "field": "spec.size", "message": "Invalid value: \"string\": spec.size in body must be of type integer: \"string\""}),
            ]
        );
        assert!(err.message.starts_with("Thing.t.dev \"t\" is invalid: ["));
    }
}
