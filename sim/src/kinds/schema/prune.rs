//! Structural pruning: fields the schema does not specify are dropped silently on write
//! (1.20 has no `fieldValidation`; the parameter is ignored for custom resources).

use serde_json::Value;

use super::{field_schema, preserves_unknown};

/// Removes what `s` does not specify from `v`. At the root of a resource, and in an
/// embedded resource, `apiVersion`, `kind` and `metadata` are the API server's and stay.
pub(super) fn prune(v: &mut Value, s: &Value, resource_root: bool) {
    match v {
        Value::Object(m) => {
            let keep_unknown =
                preserves_unknown(s) || s["additionalProperties"] == Value::Bool(true);
            m.retain(|k, _| {
                (resource_root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    || keep_unknown
                    || field_schema(s, k).is_some()
            });
            for (k, x) in m.iter_mut() {
                if resource_root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(fs) = field_schema(s, k) {
                    let embedded = fs["x-kubernetes-embedded-resource"].as_bool() == Some(true);
                    prune(x, fs, embedded);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items").filter(|i| i.is_object()) {
                let embedded = items["x-kubernetes-embedded-resource"].as_bool() == Some(true);
                for x in a {
                    prune(x, items, embedded);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_go_unless_preserved() {
        let s = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"x": {"type": "string"}}}},
            "l": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}}
        }}}});
        let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"}, "junk": 1,
            "spec": {"a": "x", "b": 1, "free": {"any": {"x": 1}},
                     "m": {"k": {"x": "1", "y": 2}}, "l": [{"n": "1", "o": 2}]}});
        prune(&mut v, &s, true);
        assert_eq!(
            v,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                "spec": {"a": "x", "free": {"any": {"x": 1}}, "m": {"k": {"x": "1"}}, "l": [{"n": "1"}]}})
        );
    }
}
