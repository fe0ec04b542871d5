//! Validation of a value against a schema node, with go-openapi's messages
//! (`spec.x in body must be of type string: "integer"`) turned into `details.causes` the
//! way apiextensions-apiserver 1.20 does: a missing required field is `Required value`,
//! a value outside `enum` is `Unsupported value`, everything else `Invalid value`.

use serde_json::Value;

use super::gofmt::{bad_value, plain, quote};
use super::{field_schema, nullable};
use crate::error::Cause;

/// Every violation of `s` in `v`; field paths start at `base` (`""` for an object, or e.g.
/// `spec.validation.openAPIV3Schema.default` for a CRD's default).
pub(super) fn validate(s: &Value, v: &Value, base: &str) -> Vec<Cause> {
    let mut out = Vec::new();
    check(s, v, "", base, &mut out);
    out
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

/// The JSON type of a value, as go-openapi names it.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `name` is go-openapi's path inside the validated value; `base` the field path it sits at.
fn check(s: &Value, v: &Value, name: &str, base: &str, out: &mut Vec<Cause>) {
    let field = join(base, name);
    let mut invalid = |value: String, detail: String| {
        out.push(Cause::new(
            "FieldValueInvalid",
            field.clone(),
            format!("Invalid value: {value}: {detail}"),
        ))
    };
    let types: Vec<&str> = match s["type"].as_str() {
        Some(t) if !t.is_empty() => vec![t],
        _ if s["x-kubernetes-int-or-string"].as_bool() == Some(true) => vec!["integer", "string"],
        _ => vec![],
    };
    let actual = type_of(v);
    let type_ok = types.is_empty()
        || (v.is_null() && nullable(s))
        || types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
    if !type_ok {
        let detail = format!(
            "{name} in body must be of type {}: {}",
            types.join(","),
            quote(actual)
        );
        invalid(quote(actual), detail);
        return;
    }
    match v {
        Value::String(text) => {
            let len = text.chars().count() as u64;
            if let Some(max) = s["maxLength"].as_u64().filter(|m| len > *m) {
                invalid(
                    bad_value(v),
                    format!("{name} in body should be at most {max} chars long"),
                );
            }
            if let Some(min) = s["minLength"].as_u64().filter(|m| len < *m) {
                invalid(
                    bad_value(v),
                    format!("{name} in body should be at least {min} chars long"),
                );
            }
            if let Some(format) = s["format"].as_str().filter(|f| !format_ok(f, text)) {
                invalid(
                    bad_value(v),
                    format!("{name} in body must be of type {format}: {}", quote(text)),
                );
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(min) = s.get("minimum").filter(|m| m.is_number()) {
                let m = min.as_f64().unwrap_or_default();
                let exclusive = s["exclusiveMinimum"].as_bool() == Some(true);
                if x < m || (exclusive && x == m) {
                    let or_equal = if exclusive { "" } else { " or equal to" };
                    invalid(
                        bad_value(v),
                        format!(
                            "{name} in body should be greater than{or_equal} {}",
                            plain(min)
                        ),
                    );
                }
            }
            if let Some(max) = s.get("maximum").filter(|m| m.is_number()) {
                let m = max.as_f64().unwrap_or_default();
                let exclusive = s["exclusiveMaximum"].as_bool() == Some(true);
                if x > m || (exclusive && x == m) {
                    let or_equal = if exclusive { "" } else { " or equal to" };
                    invalid(
                        bad_value(v),
                        format!(
                            "{name} in body should be less than{or_equal} {}",
                            plain(max)
                        ),
                    );
                }
            }
        }
        Value::Array(items) => {
            let len = items.len();
            if let Some(min) = s["minItems"].as_u64().filter(|m| (len as u64) < *m) {
                invalid(
                    len.to_string(),
                    format!("{name} in body should have at least {min} items"),
                );
            }
            if let Some(max) = s["maxItems"].as_u64().filter(|m| (len as u64) > *m) {
                invalid(
                    len.to_string(),
                    format!("{name} in body should have at most {max} items"),
                );
            }
        }
        _ => {}
    }
    if let Some(allowed) = s["enum"].as_array() {
        if !v.is_null() && !allowed.contains(v) {
            let values: Vec<String> = allowed
                .iter()
                .map(|a| match a {
                    Value::String(s) => quote(s),
                    other => quote(&other.to_string()),
                })
                .collect();
            out.push(Cause::new(
                "FieldValueNotSupported",
                field.clone(),
                format!(
                    "Unsupported value: {}: supported values: {}",
                    bad_value(v),
                    values.join(", ")
                ),
            ));
        }
    }
    match v {
        // NB: go-openapi validates an array's items at the array's own path.
        Value::Array(items) => {
            if let Some(is) = s.get("items").filter(|i| i.is_object()) {
                for x in items {
                    check(is, x, name, base, out);
                }
            }
        }
        Value::Object(m) => {
            for r in s["required"].as_array().into_iter().flatten() {
                let key = r.as_str().unwrap_or_default();
                if !m.contains_key(key) {
                    out.push(Cause::new(
                        "FieldValueRequired",
                        join(base, &join(name, key)),
                        "Required value",
                    ));
                }
            }
            for (k, x) in m {
                if let Some(fs) = field_schema(s, k) {
                    check(fs, x, &join(name, k), base, out);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_read_like_kube_apiservers() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["k"], "properties": {
            "name": {"type": "string"}, "mode": {"type": "string", "enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 1}
        }}}});
        let v = json!({"spec": {"name": 1, "mode": "c", "tags": [1, "x"]}});
        let got: Vec<(String, String)> = validate(&s, &v, "")
            .into_iter()
            .map(|c| (c.field, c.message))
            .collect();
        let want = [
            ("spec.k", "Required value"),
            (
                "spec.mode",
                "Unsupported value: \"c\": supported values: \"a\", \"b\"",
            ),
            (
                "spec.name",
                "Invalid value: \"integer\": spec.name in body must be of type string: \"integer\"",
            ),
            (
                "spec.tags",
                "Invalid value: 2: spec.tags in body should have at most 1 items",
            ),
            (
                "spec.tags",
                "Invalid value: \"integer\": spec.tags in body must be of type string: \"integer\"",
            ),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
