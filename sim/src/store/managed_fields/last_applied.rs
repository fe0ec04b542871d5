//! kube-apiserver 1.20's bridge from client-side to server-side apply, for the manager
//! `kubectl` only (`kubectl apply --server-side`): conflicts on fields that
//! `kubectl apply` set (its `last-applied-configuration` annotation) and nobody changed
//! since are not conflicts, and the annotation, if there, is kept up to date.

use serde_json::Value;

use super::schema::Schema;
use super::set::FieldSet;
use super::walk::{compare, field_set};

const ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
const KUBECTL: &str = "kubectl";

fn annotation(obj: &Value) -> Option<Value> {
    let text = obj["metadata"]["annotations"][ANNOTATION].as_str()?;
    serde_json::from_str(text).ok()
}

/// The conflicts `manager` may override: fields of the last client-side apply that
/// still hold the values it set.
pub fn allowed_conflicts(manager: &str, live: &Value, schema: &Schema) -> FieldSet {
    let Some(last) = annotation(live).filter(|_| manager == KUBECTL) else {
        return FieldSet::default();
    };
    field_set(&last, schema).difference(&compare(&last, live, schema).modified)
}

/// After an apply by `kubectl`: the annotation, if the object had one, becomes what was
/// applied (without the annotation itself), as `kubectl apply` would have written it.
pub fn update(manager: &str, live: &Value, config: &Value, merged: &mut Value) {
    if manager != KUBECTL || annotation(live).is_none() {
        return;
    }
    let mut applied = config.clone();
    if let Some(md) = applied["metadata"].as_object_mut() {
        if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(ANNOTATION);
            if a.is_empty() {
                md.remove("annotations");
            }
        }
    }
    // NB: Go writes map keys sorted, and its encoder ends with a newline.
    let text = format!("{}\n", sorted(&applied));
    merged["metadata"]["annotations"][ANNOTATION] = Value::String(text);
}

/// Compact JSON with object keys sorted.
fn sorted(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), sorted(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(sorted).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}
