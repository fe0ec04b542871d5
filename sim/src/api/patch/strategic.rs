//! Strategic merge patch for built-in kinds, as `kubectl apply`, `edit`,
//! `set image` and `patch` send it: lists with a merge key are merged by that
//! key (containers by name, container ports by containerPort, service ports by
//! port, volumeMounts by mountPath, conditions by type, ownerReferences by uid,
//! ...), `finalizers` merge as a set, other lists are replaced. Directives:
//! `$patch: replace|delete|merge`, `$setElementOrder/<field>`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>`; a `null` value deletes a key.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ListMerge {
    Key(&'static str),
    Set,
    Replace,
}

/// The merge strategy of list `field` whose enclosing list field (if any) is `parent`.
pub(crate) fn list_merge(parent: Option<&str>, field: &str) -> ListMerge {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => ListMerge::Key("name"),
        "volumeMounts" => ListMerge::Key("mountPath"),
        "volumeDevices" => ListMerge::Key("devicePath"),
        "ports" => match parent {
            Some("containers" | "initContainers" | "ephemeralContainers") => {
                ListMerge::Key("containerPort")
            }
            _ => ListMerge::Key("port"),
        },
        "conditions" => ListMerge::Key("type"),
        "ownerReferences" => ListMerge::Key("uid"),
        "hostAliases" => ListMerge::Key("ip"),
        "topologySpreadConstraints" => ListMerge::Key("topologyKey"),
        "finalizers" => ListMerge::Set,
        _ => ListMerge::Replace,
    }
}

/// Applies `patch` to `original` and returns the result.
pub fn apply(original: &Value, patch: &Value) -> Result<Value, ApiError> {
    let Some(p) = patch.as_object() else {
        return Err(ApiError::bad_request(
            "strategic merge patch must be a JSON object",
        ));
    };
    let mut out = original.clone();
    merge_object(&mut out, p, None)?;
    Ok(out)
}

fn directive(m: &Map<String, Value>) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

/// A copy of `v` with directive keys removed, recursively.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| {
                    !v.as_object()
                        .is_some_and(|m| directive(m).is_some() && m.len() == 1)
                })
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_object(
    orig: &mut Value,
    patch: &Map<String, Value>,
    parent_list: Option<&str>,
) -> Result<(), ApiError> {
    match directive(patch) {
        Some("replace") => {
            *orig = strip(&Value::Object(patch.clone()));
            return Ok(());
        }
        Some("delete") => {
            *orig = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other}"
            )))
        }
    }
    if !orig.is_object() {
        *orig = Value::Object(Map::new());
    }
    let mut orders: Vec<(&str, &Value)> = Vec::new();
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(del)) = (
                orig.get_mut(field).and_then(Value::as_array_mut),
                v.as_array(),
            ) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            orders.push((field, v));
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        let Some(o) = orig.as_object_mut() else { break };
        match v {
            Value::Null => {
                o.remove(k);
            }
            Value::Object(pm) => {
                if directive(pm) == Some("delete") {
                    o.remove(k);
                    continue;
                }
                let slot = o.entry(k.clone()).or_insert(Value::Null);
                merge_object(slot, pm, parent_list)?;
            }
            Value::Array(items) => {
                let slot = o.entry(k.clone()).or_insert(Value::Null);
                merge_list(slot, items, list_merge(parent_list, k), k)?;
            }
            other => {
                o.insert(k.clone(), other.clone());
            }
        }
    }
    for (field, order) in orders {
        if let (Some(list), Some(order)) = (
            orig.get_mut(field).and_then(Value::as_array_mut),
            order.as_array(),
        ) {
            reorder(list, order, list_merge(parent_list, field));
        }
    }
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        if let Some(o) = orig.as_object_mut() {
            o.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
        }
    }
    Ok(())
}

fn merge_list(
    orig: &mut Value,
    patch: &[Value],
    how: ListMerge,
    field: &str,
) -> Result<(), ApiError> {
    let replace_all = patch.iter().any(|i| {
        i.as_object()
            .is_some_and(|m| directive(m) == Some("replace"))
    });
    if replace_all || how == ListMerge::Replace || !orig.is_array() {
        let mut v = strip(&Value::Array(patch.to_vec()));
        if !replace_all && how != ListMerge::Replace {
            // Nothing to merge into: `$patch: delete` items just vanish.
            if let (ListMerge::Key(_), Some(a)) = (how, v.as_array_mut()) {
                a.retain(|i| i.is_object());
            }
        }
        *orig = v;
        return Ok(());
    }
    let Some(list) = orig.as_array_mut() else {
        return Ok(());
    };
    match how {
        ListMerge::Set => {
            for item in patch {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
        }
        ListMerge::Key(key) => {
            for item in patch {
                let Some(pm) = item.as_object() else {
                    return Err(ApiError::bad_request(format!(
                        "list {field} must contain objects with merge key {key}"
                    )));
                };
                let id = pm.get(key);
                let pos = id.and_then(|id| list.iter().position(|o| o.get(key) == Some(id)));
                match (directive(pm), pos) {
                    (Some("delete"), Some(p)) => {
                        list.remove(p);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(p)) => merge_object(&mut list[p], pm, Some(field))?,
                    (_, None) => {
                        let mut fresh = Value::Null;
                        merge_object(&mut fresh, pm, Some(field))?;
                        list.push(fresh);
                    }
                }
            }
        }
        ListMerge::Replace => {}
    }
    Ok(())
}

/// Orders `list` as `order` says (items not named there keep their place at the end).
fn reorder(list: &mut Vec<Value>, order: &[Value], how: ListMerge) {
    let ident = |v: &Value| -> Value {
        match how {
            ListMerge::Key(k) => v.get(k).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let mut rest: Vec<Value> = std::mem::take(list);
    for o in order {
        let want = ident(o);
        if let Some(p) = rest.iter().position(|v| ident(v) == want) {
            list.push(rest.remove(p));
        }
    }
    list.extend(rest);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_delete() {
        let orig = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        let patch = json!({"spec": {"containers": [
            {"name": "a", "image": "a:2", "ports": [{"containerPort": 81}]},
            {"name": "b", "$patch": "delete"},
            {"name": "c", "image": "c:1"}
        ]}});
        let out = super::apply(&orig, &patch).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81}]},
                {"name": "c", "image": "c:1"}
            ]}})
        );
    }

    #[test]
    fn directives() {
        let orig = json!({"metadata": {"finalizers": ["x", "y"], "labels": {"a": "1", "b": "2"}},
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "args": ["1"]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"], "labels": {"a": null}},
            "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}, "args": ["2"]}});
        let out = super::apply(&orig, &patch).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"finalizers": ["y"], "labels": {"b": "2"}},
            "spec": {"strategy": {"type": "Recreate"}, "args": ["2"]}})
        );
    }

    #[test]
    fn set_element_order() {
        let orig = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let patch = json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]});
        let out = super::apply(&orig, &patch).unwrap();
        assert_eq!(out, json!({"containers": [{"name": "b"}, {"name": "a"}]}));
    }
}
