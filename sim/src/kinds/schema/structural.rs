//! A CRD's schemas checked as kube-apiserver 1.20 checks them: no `nullable` at the root,
//! structural (every node typed, arrays with `items`), and every `default` valid against
//! its node and unchanged by pruning.
//!
//! 1.20 converts a v1 CRD whose versions all carry the same schema into one top-level
//! schema, so that is where it reports errors: `spec.validation.openAPIV3Schema…`.

use serde_json::Value;

use super::gofmt::{quote, sharp_v};
use super::{nullable, preserves_unknown, prune, validate};
use crate::error::Cause;

/// The causes for which the real API server refuses this CRD's schemas (empty if none).
pub(crate) fn validate_crd(crd: &Value) -> Vec<Cause> {
    let versions: Vec<&Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut out = Vec::new();
    let identical = versions.first().is_some_and(|first| {
        first["schema"]["openAPIV3Schema"].is_object()
            && versions.iter().all(|v| v["schema"] == first["schema"])
    });
    if identical {
        let schema = &versions[0]["schema"]["openAPIV3Schema"];
        if has_null_enum(schema) {
            out.push(identical_versions_error(&versions));
            return out;
        }
        check_schema(schema, "spec.validation.openAPIV3Schema", &mut out);
    } else {
        for (i, v) in versions.iter().enumerate() {
            let schema = &v["schema"]["openAPIV3Schema"];
            if schema.is_object() {
                check_schema(
                    schema,
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    &mut out,
                );
            }
        }
    }
    out
}

fn check_schema(s: &Value, path: &str, out: &mut Vec<Cause>) {
    if nullable(s) {
        out.push(Cause::new(
            "FieldValueForbidden",
            format!("{path}.nullable"),
            "Forbidden: nullable cannot be true at the root",
        ));
    }
    let before = out.len();
    structure(s, path, Level::Root, out);
    if out.len() == before {
        defaults(s, path, out);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Field,
    Item,
}

/// Children of a schema node, with the field path each is reported at.
fn children<'a>(s: &'a Value, path: &str) -> Vec<(String, &'a Value, Level)> {
    let mut out = Vec::new();
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        out.push((format!("{path}.items"), items, Level::Item));
    }
    for (k, p) in s["properties"].as_object().into_iter().flatten() {
        out.push((format!("{path}.properties[{k}]"), p, Level::Field));
    }
    if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
        out.push((format!("{path}.additionalProperties"), ap, Level::Field));
    }
    out
}

fn structure(s: &Value, path: &str, level: Level, out: &mut Vec<Cause>) {
    let ty = s["type"].as_str().unwrap_or_default();
    if ty == "array" && !s["items"].is_object() {
        out.push(Cause::new(
            "FieldValueRequired",
            format!("{path}.items"),
            "Required value: must be specified",
        ));
    }
    for (p, child, l) in children(s, path) {
        structure(child, &p, l, out);
    }
    let exempt = s["x-kubernetes-int-or-string"].as_bool() == Some(true)
        || s["x-kubernetes-embedded-resource"].as_bool() == Some(true);
    if ty.is_empty() && !exempt {
        let why = match level {
            Level::Root => Some("must not be empty at the root"),
            // NB: an item or a field that keeps unknown fields may leave its type out (a real
            // 1.20 API server takes the Prometheus Operator's AlertmanagerConfig CRD, whose
            // `spec.route.routes.items` is such an item)
            Level::Item if !preserves_unknown(s) => {
                Some("must not be empty for specified array items")
            }
            Level::Field if !preserves_unknown(s) => {
                Some("must not be empty for specified object fields")
            }
            Level::Field | Level::Item => None,
        };
        if let Some(why) = why {
            out.push(Cause::new(
                "FieldValueRequired",
                format!("{path}.type"),
                format!("Required value: {why}"),
            ));
        }
    }
    if level == Level::Root && !ty.is_empty() && ty != "object" {
        out.push(Cause::new(
            "FieldValueInvalid",
            format!("{path}.type"),
            format!("Invalid value: {}: must be object at the root", quote(ty)),
        ));
    }
}

fn defaults(s: &Value, path: &str, out: &mut Vec<Cause>) {
    if let Some(d) = s.get("default").filter(|d| !d.is_null()) {
        // NB: 1.20 loses an empty-string default on its way to validation and checks null
        // instead; that is why `default: ''` on a non-nullable string is refused.
        let checked = if *d == Value::String(String::new()) {
            &Value::Null
        } else {
            d
        };
        let field = format!("{path}.default");
        let causes = validate::validate(s, checked, &field);
        if causes.is_empty() {
            let mut pruned = d.clone();
            prune::prune(&mut pruned, s, false);
            if pruned != *d {
                out.push(Cause::new(
                    "FieldValueInvalid",
                    field,
                    format!(
                        "Invalid value: {}: must not have unknown fields",
                        sharp_v(d)
                    ),
                ));
            }
        }
        out.extend(causes);
    }
    for (p, child, _) in children(s, path) {
        defaults(child, &p, out);
    }
}

fn has_null_enum(s: &Value) -> bool {
    s["enum"]
        .as_array()
        .is_some_and(|e| e.contains(&Value::Null))
        || children(s, "").iter().any(|(_, c, _)| has_null_enum(c))
}

/// 1.20 fails to lift identical per-version schemas with `null` in an `enum` to the top
/// level, then refuses the CRD for not having lifted them, printing the versions as Go
/// values (pointers included, which differ from run to run).
fn identical_versions_error(versions: &[&Value]) -> Cause {
    let pointer = |ty: &str, v: &Value| {
        if v.is_null() || *v == Value::Bool(false) {
            format!("(*{ty})(nil)")
        } else {
            format!("(*{ty})(0xc000000000)")
        }
    };
    let printed: Vec<String> = versions
        .iter()
        .map(|v| {
            let columns = match v["additionalPrinterColumns"].as_array() {
                None => "[]apiextensions.CustomResourceColumnDefinition(nil)".to_string(),
                Some(cols) => {
                    let cols: Vec<String> = cols
                        .iter()
                        .map(|c| {
                            format!(
                                "apiextensions.CustomResourceColumnDefinition{{Name:{}, Type:{}, Format:{}, Description:{}, Priority:{}, JSONPath:{}}}",
                                quote(c["name"].as_str().unwrap_or_default()),
                                quote(c["type"].as_str().unwrap_or_default()),
                                quote(c["format"].as_str().unwrap_or_default()),
                                quote(c["description"].as_str().unwrap_or_default()),
                                c["priority"].as_i64().unwrap_or(0),
                                quote(c["jsonPath"].as_str().unwrap_or_default()),
                            )
                        })
                        .collect();
                    format!("[]apiextensions.CustomResourceColumnDefinition{{{}}}", cols.join(", "))
                }
            };
            format!(
                "apiextensions.CustomResourceDefinitionVersion{{Name:{}, Served:{}, Storage:{}, Deprecated:{}, DeprecationWarning:{}, Schema:{}, Subresources:{}, AdditionalPrinterColumns:{}}}",
                quote(v["name"].as_str().unwrap_or_default()),
                v["served"].as_bool().unwrap_or(false),
                v["storage"].as_bool().unwrap_or(false),
                v["deprecated"].as_bool().unwrap_or(false),
                pointer("string", &v["deprecationWarning"]),
                pointer("apiextensions.CustomResourceValidation", &v["schema"]),
                // NB: `subresources: {}` comes through as none at all.
                pointer(
                    "apiextensions.CustomResourceSubresources",
                    &Value::from(v["subresources"].as_object().is_some_and(|m| !m.is_empty())),
                ),
                columns,
            )
        })
        .collect();
    Cause::new(
        "FieldValueInvalid",
        "spec.versions",
        format!(
            "Invalid value: []apiextensions.CustomResourceDefinitionVersion{{{}}}: per-version schemas may not all be set to identical values (top-level validation should be used instead)",
            printed.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(props: Value) -> Value {
        json!({"spec": {"versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema":
            {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}}}]}})
    }

    #[test]
    fn an_empty_string_default_is_refused_as_null() {
        let causes = validate_crd(&crd(json!({"a": {"type": "string", "default": ""}})));
        assert_eq!(
            causes,
            vec![Cause::new(
                "FieldValueInvalid",
                "spec.validation.openAPIV3Schema.properties[spec].properties[a].default",
                "Invalid value: \"null\":  in body must be of type string: \"null\""
            )]
        );
        assert!(validate_crd(&crd(
            json!({"a": {"type": "array", "items": {"type": "string"}, "default": []}})
        ))
        .is_empty());
    }
}
