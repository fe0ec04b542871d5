//! Custom resources against their CRD's structural schema, as kube-apiserver 1.20 treats
//! them on every write: nulls of fields that are not `nullable` dropped (or defaulted),
//! `default`s filled in, unknown fields pruned (except under
//! `x-kubernetes-preserve-unknown-fields`), then the OpenAPI validation with the real
//! server's causes: `Invalid value: "integer": spec.x in body must be of type string:
//! "integer"`, `Required value`, `Unsupported value: "x": supported values: "a", "b"`.
//!
//! NB: kube-apiserver 1.20 built with Go >= 1.19 (the suite's) also takes an empty string for
//! null in a non-nullable string field; that is a quirk of that build (its validator
//! compares zero values by address), not Kubernetes' behaviour, and is not copied here.

use serde_json::{json, Map, Value};

use super::validate::{answer, Cause};
use crate::error::ApiError;
use crate::resources::ResourceInfo;

/// Prunes, defaults and validates `obj` (a whole custom resource) against `schema`.
pub fn admit(info: &ResourceInfo, schema: &Value, obj: &mut Value) -> Result<(), ApiError> {
    if let Some(map) = obj.as_object_mut() {
        for (key, value) in map.iter_mut() {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = schema["properties"].get(key) {
                normalize(s, value);
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            drop_nulls(props, map);
        }
        if !preserves(schema) {
            let known = schema["properties"].as_object();
            map.retain(|k, _| {
                matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                    || known.is_some_and(|p| p.contains_key(k))
            });
        }
        fill_defaults(schema, map);
    }
    let mut causes = Vec::new();
    if let Some(props) = schema["properties"].as_object() {
        for (key, s) in props {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(v) = obj.get(key) {
                validate(s, v, key, &mut causes);
            }
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        if let Some(key) = required.as_str() {
            if obj.get(key).is_none() {
                causes.push(Cause {
                    field: key.into(),
                    reason: "FieldValueRequired",
                    message: "Required value".into(),
                });
            }
        }
    }
    answer(info, obj, &causes)
}

fn preserves(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"] == json!(true)
}

fn nullable(schema: &Value) -> bool {
    schema["nullable"] == json!(true)
}

/// Below the root: drops non-nullable nulls, prunes unknown fields, fills defaults.
fn normalize(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in map.iter_mut() {
                    if let Some(s) = props.get(k) {
                        normalize(s, v);
                    }
                }
                drop_nulls(props, map);
                if !preserves(schema) && !schema["additionalProperties"].is_object() {
                    map.retain(|k, _| props.contains_key(k));
                }
                fill_defaults(schema, map);
            } else if let Some(each) = schema["additionalProperties"].as_object() {
                let each = Value::Object(each.clone());
                for v in map.values_mut() {
                    normalize(&each, v);
                }
            } else if !preserves(schema) && schema["type"] == json!("object") {
                // an object with neither properties nor additionalProperties keeps nothing
                map.clear();
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for v in items.iter_mut() {
                normalize(&schema["items"], v);
            }
        }
        _ => {}
    }
}

/// A null where the schema does not allow one is dropped (its default, if any, then fills it).
fn drop_nulls(props: &Map<String, Value>, map: &mut Map<String, Value>) {
    map.retain(|k, v| !(v.is_null() && props.get(k).is_some_and(|s| !nullable(s))));
}

fn fill_defaults(schema: &Value, map: &mut Map<String, Value>) {
    for (k, s) in schema["properties"].as_object().into_iter().flatten() {
        if !map.contains_key(k) {
            if let Some(d) = s.get("default") {
                // a default is defaulted in turn (an object's own fields' defaults)
                let mut d = d.clone();
                normalize(s, &mut d);
                map.insert(k.clone(), d);
            }
        }
    }
}

/// The name go-openapi gives a JSON value's type in its messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(want: &str, v: &Value) -> bool {
    match want {
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

/// A Go `%v`-like rendering of a value in a cause (`"text"` quoted, numbers bare).
fn shown(v: &Value) -> String {
    v.to_string()
}

/// `path` names the value as go-openapi does in 1.20: without list indices
/// (`spec.items.id` for the `id` of any item of `spec.items`).
fn validate(schema: &Value, v: &Value, path: &str, out: &mut Vec<Cause>) {
    if v.is_null() {
        if !nullable(schema) && schema["type"].is_string() {
            out.push(invalid_type(schema, v, path));
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"] == json!(true) {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            out.push(Cause {
                field: path.into(),
                reason: "FieldValueInvalid",
                message: format!(
                    "Invalid value: \"{}\": {path} in body must be of type integer,string: \"{}\"",
                    type_name(v),
                    type_name(v)
                ),
            });
        }
        return;
    }
    if let Some(want) = schema["type"].as_str() {
        if !type_ok(want, v) {
            out.push(invalid_type(schema, v, path));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            let values: Vec<String> = allowed.iter().map(shown).collect();
            out.push(Cause {
                field: path.into(),
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: {}: supported values: {}",
                    shown(v),
                    values.join(", ")
                ),
            });
        }
    }
    if let (Some(format), Some(text)) = (schema["format"].as_str(), v.as_str()) {
        if !format_ok(format, text) {
            out.push(Cause {
                field: path.into(),
                reason: "FieldValueInvalid",
                message: format!(
                    "Invalid value: {}: {path} in body must be of type {format}: {}",
                    shown(v),
                    shown(v)
                ),
            });
        }
    }
    match v {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, s) in props {
                    if let Some(child) = map.get(k) {
                        validate(s, child, &format!("{path}.{k}"), out);
                    }
                }
            }
            if let Some(each) = schema["additionalProperties"].as_object() {
                let each = Value::Object(each.clone());
                for (k, child) in map {
                    validate(&each, child, &format!("{path}.{k}"), out);
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                if let Some(key) = required.as_str() {
                    if !map.contains_key(key) {
                        out.push(Cause {
                            field: format!("{path}.{key}"),
                            reason: "FieldValueRequired",
                            message: "Required value".into(),
                        });
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                validate(&schema["items"], item, path, out);
            }
        }
        _ => {}
    }
}

/// The string formats go-openapi checks that custom resources use; others pass.
fn format_ok(format: &str, text: &str) -> bool {
    match format {
        "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => uuid::Uuid::parse_str(text).is_ok(),
        "hostname" => {
            !text.is_empty()
                && text.len() <= 255
                && text.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                })
        }
        _ => true,
    }
}

fn invalid_type(schema: &Value, v: &Value, path: &str) -> Cause {
    let want = schema["type"].as_str().unwrap_or_default();
    Cause {
        field: path.into(),
        reason: "FieldValueInvalid",
        message: format!(
            "Invalid value: \"{}\": {path} in body must be of type {want}: \"{}\"",
            type_name(v),
            type_name(v)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ResourceInfo {
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
            schema: None,
        }
    }

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "size": {"type": "integer", "default": 3},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "note": {"type": "string", "nullable": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "items": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}
            }}
        }})
    }

    #[test]
    fn unknown_fields_are_pruned_defaults_filled_and_non_nullable_nulls_dropped() {
        let mut obj = json!({"apiVersion": "t.dev/v1", "kind": "Thing", "metadata": {"name": "t"},
            "spec": {"name": "n", "bogus": 1, "mode": null, "note": null, "labels": {"a": "b"},
                "free": {"anything": {"goes": true}}, "items": [{"x": 1, "y": 2}]},
            "extra": true});
        admit(&info(), &schema(), &mut obj).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "t.dev/v1", "kind": "Thing", "metadata": {"name": "t"},
                "spec": {"name": "n", "size": 3, "note": null, "labels": {"a": "b"},
                    "free": {"anything": {"goes": true}}, "items": [{"x": 1}]}})
        );
    }

    #[test]
    fn type_enum_and_required_errors_are_the_real_servers() {
        let mut obj = json!({"metadata": {"name": "t"}, "spec": {"size": "big", "mode": "c"}});
        let err = admit(&info(), &schema(), &mut obj).unwrap_err();
        let causes = err.status()["details"]["causes"].clone();
        assert_eq!(
            causes,
            json!([
                {"reason": "FieldValueNotSupported", "field": "spec.mode", "message": "Unsupported value: \"c\": supported values: \"a\", \"b\""},
                {"reason": "FieldValueInvalid", "field": "spec.size", "message": "Invalid value: \"string\": spec.size in body must be of type integer: \"string\""},
                {"reason": "FieldValueRequired", "field": "spec.name", "message": "Required value"}
            ])
        );
        assert!(err.message.starts_with("Thing.t.dev \"t\" is invalid: ["));
    }
}
