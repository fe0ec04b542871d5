//! StatefulSets and ControllerRevisions as kube-apiserver 1.20 validates them
//! (`pkg/apis/apps/validation`), after their defaults: the pod management policy, the
//! update strategy and its partition, replicas, a selector that is not empty and matches
//! the template's labels, `restartPolicy: Always`, no `activeDeadlineSeconds`; on update,
//! nothing of the spec but `replicas`, `template` and `updateStrategy` may change. As in
//! 1.20 the template's pod spec is not validated for StatefulSets (its comment: the volumes
//! would fail without the claim templates).

use serde_json::Value;

use super::validate::answer;
use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;

fn invalid(field: &str, message: String) -> Cause {
    Cause::invalid(field, message)
}

fn required(field: &str) -> Cause {
    Cause::new("FieldValueRequired", field, "Required value")
}

fn non_negative(v: &Value, field: &str, out: &mut Vec<Cause>) {
    if let Some(n) = v.as_i64().filter(|n| *n < 0) {
        out.push(invalid(
            field,
            format!("Invalid value: {n}: must be greater than or equal to 0"),
        ));
    }
}

/// A Go map of strings as `%#v` prints it, keys sorted: `map[string]string{"app":"web"}`.
fn go_string_map(v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return "map[string]string(nil)".into();
    };
    let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or_default()))
        .collect();
    format!("map[string]string{{{}}}", inner.join(", "))
}

/// An empty LabelSelector as `%#v` prints it (nil and empty told apart, as Go does).
fn go_selector(selector: &Value) -> String {
    let labels = match &selector["matchLabels"] {
        Value::Object(_) => "map[string]string{}",
        _ => "map[string]string(nil)",
    };
    let exprs = match &selector["matchExpressions"] {
        Value::Array(_) => "[]v1.LabelSelectorRequirement{}",
        _ => "[]v1.LabelSelectorRequirement(nil)",
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// Go's `%#v` of a `runtime.RawExtension` that held `data`: the JSON's bytes in hex.
fn go_raw(data: &Value) -> String {
    let bytes: Vec<String> = data
        .to_string()
        .bytes()
        .map(|b| format!("{b:#04x}"))
        .collect();
    format!(
        "runtime.Unknown{{TypeMeta:runtime.TypeMeta{{APIVersion:\"\", Kind:\"\"}}, Raw:[]uint8{{{}}}, ContentEncoding:\"\", ContentType:\"application/json\"}}",
        bytes.join(", ")
    )
}

/// Whether `labels` satisfy `selector` (`matchLabels` and `matchExpressions`).
fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let by_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str().unwrap_or_default() {
                "In" => label(key).is_some_and(|l| values.contains(&l)),
                "NotIn" => label(key).is_none_or(|l| !values.contains(&l)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

fn is_empty_selector(selector: &Value) -> bool {
    let n = |k: &str| {
        selector[k]
            .as_object()
            .map(|m| m.len())
            .or_else(|| selector[k].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    n("matchLabels") + n("matchExpressions") == 0
}

/// `ValidateStatefulSetSpec`'s field errors, in its order.
fn spec_causes(obj: &Value) -> Vec<Cause> {
    let spec = &obj["spec"];
    let mut out = Vec::new();
    match spec["podManagementPolicy"].as_str().unwrap_or_default() {
        "" => out.push(required("spec.podManagementPolicy")),
        "OrderedReady" | "Parallel" => {}
        other => out.push(invalid(
            "spec.podManagementPolicy",
            format!("Invalid value: {other:?}: must be 'OrderedReady' or 'Parallel'"),
        )),
    }
    let strategy = &spec["updateStrategy"];
    let rolling = &strategy["rollingUpdate"];
    match strategy["type"].as_str().unwrap_or_default() {
        "" => out.push(required("spec.updateStrategy")),
        "OnDelete" => {
            if rolling.is_object() {
                out.push(invalid(
                    "spec.updateStrategy.rollingUpdate",
                    format!(
                        "Invalid value: apps.RollingUpdateStatefulSetStrategy{{Partition:{}}}: only allowed for updateStrategy 'RollingUpdate'",
                        rolling["partition"].as_i64().unwrap_or(0)
                    ),
                ));
            }
        }
        "RollingUpdate" => non_negative(
            &rolling["partition"],
            "spec.updateStrategy.rollingUpdate.partition",
            &mut out,
        ),
        other => {
            // NB: Go prints the pointer's address when `rollingUpdate` is set; not copied.
            let ru = if rolling.is_object() {
                format!(
                    "&apps.RollingUpdateStatefulSetStrategy{{Partition:{}}}",
                    rolling["partition"].as_i64().unwrap_or(0)
                )
            } else {
                "(*apps.RollingUpdateStatefulSetStrategy)(nil)".into()
            };
            out.push(invalid(
                "spec.updateStrategy",
                format!(
                    "Invalid value: apps.StatefulSetUpdateStrategy{{Type:{other:?}, RollingUpdate:{ru}}}: must be 'RollingUpdate' or 'OnDelete'"
                ),
            ));
        }
    }
    non_negative(&spec["replicas"], "spec.replicas", &mut out);
    let selector = &spec["selector"];
    if !selector.is_object() {
        out.push(required("spec.selector"));
    } else if is_empty_selector(selector) {
        out.push(invalid(
            "spec.selector",
            format!(
                "Invalid value: {}: empty selector is invalid for statefulset",
                go_selector(selector)
            ),
        ));
    }
    // NB: no selector selects nothing (the template's labels never match); an empty one
    // selects everything, and is not compared.
    let labels = &spec["template"]["metadata"]["labels"];
    let matched =
        selector.is_object() && (is_empty_selector(selector) || selector_matches(selector, labels));
    if !matched {
        out.push(invalid(
            "spec.template.metadata.labels",
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                go_string_map(labels)
            ),
        ));
    }
    let pod = &spec["template"]["spec"];
    let restart = pod["restartPolicy"].as_str().unwrap_or_default();
    if restart != "Always" {
        out.push(Cause::new(
            "FieldValueNotSupported",
            "spec.template.spec.restartPolicy",
            format!("Unsupported value: {restart:?}: supported values: \"Always\""),
        ));
    }
    if !pod["activeDeadlineSeconds"].is_null() {
        out.push(Cause::new(
            "FieldValueForbidden",
            "spec.template.spec.activeDeadlineSeconds",
            "Forbidden: activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    out
}

/// `ValidateStatefulSetUpdate`: only `replicas`, `template` and `updateStrategy` change.
fn update_causes(old: &Value, new: &Value) -> Vec<Cause> {
    let strip = |v: &Value| {
        let mut spec = v["spec"].clone();
        if let Some(m) = spec.as_object_mut() {
            for k in ["replicas", "template", "updateStrategy"] {
                m.remove(k);
            }
            // NB: Go compares structs, where a field left out and its zero value are one.
            m.retain(|_, v| !is_zero(v));
        }
        spec
    };
    let mut out = Vec::new();
    if strip(old) != strip(new) {
        out.push(Cause::new(
            "FieldValueForbidden",
            "spec",
            "Forbidden: updates to statefulset spec for fields other than 'replicas', 'template', and 'updateStrategy' are forbidden",
        ));
    }
    non_negative(&new["spec"]["replicas"], "spec.replicas", &mut out);
    out
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// `ValidateControllerRevision`: data is mandatory, the revision not negative.
fn revision_causes(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if obj["data"].is_null() {
        out.push(Cause::new(
            "FieldValueRequired",
            "data",
            "Required value: data is mandatory",
        ));
    }
    non_negative(&obj["revision"], "revision", &mut out);
    out
}

/// A new object's 422, if it has one.
pub(super) fn validate(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    match info.kind.as_str() {
        "StatefulSet" => answer(info, obj, spec_causes(obj)),
        "ControllerRevision" => answer(info, obj, revision_causes(obj)),
        _ => Ok(()),
    }
}

/// An update's 422, if it has one: the object's own errors, then the update's.
pub(super) fn validate_update(
    info: &ResourceInfo,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    match info.kind.as_str() {
        "StatefulSet" => {
            let mut causes = spec_causes(new);
            causes.extend(update_causes(old, new));
            answer(info, new, causes)
        }
        "ControllerRevision" => {
            let mut causes = revision_causes(new);
            if old["data"] != new["data"] {
                causes.push(invalid(
                    "data",
                    format!(
                        "Invalid value: {}: field is immutable",
                        go_raw(&new["data"])
                    ),
                ));
            }
            answer(info, new, causes)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"app": "web", "tier": "db"});
        assert!(selector_matches(
            &json!({"matchLabels": {"app": "web"}}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            &labels
        ));
        let e = json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]});
        assert!(selector_matches(&e, &labels));
        let e = json!({"matchExpressions": [{"key": "x", "operator": "Exists"}]});
        assert!(!selector_matches(&e, &labels));
    }

    #[test]
    fn a_go_map_prints_sorted() {
        let m = json!({"b": "2", "a": "1"});
        assert_eq!(go_string_map(&m), r#"map[string]string{"a":"1", "b":"2"}"#);
    }
}
