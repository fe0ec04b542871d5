//! Walking objects with their schema, as structured-merge-diff does: the set of fields
//! an object sets, what changed between two versions of an object, server-side apply's
//! merge, and removing fields.

use serde_json::Value;

use super::schema::{ListType, Schema};
use super::set::{Element, FieldSet, Path};

/// The fields `v` sets (structured-merge-diff's `ToFieldSet`): every leaf, every list
/// item and every free map key (so a declared field holding `{}` is not in it).
pub fn field_set(v: &Value, schema: &Schema) -> FieldSet {
    let mut out = FieldSet::default();
    to_set(v, schema, &mut Vec::new(), &mut out);
    out
}

fn to_set(v: &Value, schema: &Schema, path: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !schema.atomic_map() => {
            for (k, child) in m {
                let (cs, declared) = schema.field(k);
                path.push(Element::Field(k.clone()));
                to_set(child, &cs, path, out);
                if !declared {
                    out.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => match schema.list_type() {
            ListType::Atomic => out.insert(path),
            list_type => {
                let item_schema = schema.items();
                for item in items {
                    path.push(item_element(&list_type, item));
                    to_set(item, &item_schema, path, out);
                    out.insert(path);
                    path.pop();
                }
            }
        },
        _ => out.insert(path),
    }
}

/// How a list item is named in a path.
fn item_element(list_type: &ListType, item: &Value) -> Element {
    match list_type {
        ListType::Map(keys) => {
            let fields: std::collections::BTreeMap<&str, Value> = keys
                .iter()
                .filter_map(|(k, default)| {
                    let v = item.get(k.as_str()).cloned().or_else(|| default.clone())?;
                    Some((k.as_str(), v))
                })
                .collect();
            Element::Key(serde_json::to_string(&fields).unwrap_or_default())
        }
        _ => Element::Value(serde_json::to_string(item).unwrap_or_default()),
    }
}

/// What changed from `old` to `new`: nodes only in `new` (`added`, parents included),
/// leaves whose value changed (`modified`), nodes only in `old` (`removed`).
#[derive(Debug, Default)]
pub struct Diff {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Diff {
    /// Added or modified: what the writer now owns, and what others may lose.
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }
}

pub fn compare(old: &Value, new: &Value, schema: &Schema) -> Diff {
    let mut d = Diff::default();
    walk_compare(Some(old), Some(new), schema, &mut Vec::new(), &mut d);
    d
}

/// Children of a map or list node, each with the path element naming it.
fn children<'v>(v: Option<&'v Value>, schema: &Schema, list: bool) -> Vec<(Element, &'v Value)> {
    match v {
        Some(Value::Object(m)) if !list => m
            .iter()
            .map(|(k, c)| (Element::Field(k.clone()), c))
            .collect(),
        Some(Value::Array(a)) if list => {
            let lt = schema.list_type();
            a.iter().map(|i| (item_element(&lt, i), i)).collect()
        }
        _ => Vec::new(),
    }
}

fn walk_compare(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    schema: &Schema,
    path: &mut Path,
    d: &mut Diff,
) {
    // Compared child by child when both sides (or the only one) are maps, or lists whose
    // items are told apart; otherwise as one value. A null side counts as empty.
    let present: Vec<&Value> = [lhs, rhs]
        .into_iter()
        .flatten()
        .filter(|v| !v.is_null())
        .collect();
    let all = |f: fn(&Value) -> bool| !present.is_empty() && present.iter().all(|v| f(v));
    let list = all(Value::is_array) && schema.list_type() != ListType::Atomic;
    let granular = list || (all(Value::is_object) && !schema.atomic_map());
    if granular {
        let (l, r) = (children(lhs, schema, list), children(rhs, schema, list));
        let mut seen: Vec<&Element> = Vec::new();
        for (e, _) in l.iter().chain(r.iter()) {
            if seen.contains(&e) {
                continue;
            }
            seen.push(e);
            let lv = l.iter().find(|(x, _)| x == e).map(|(_, v)| *v);
            let rv = r.iter().find(|(x, _)| x == e).map(|(_, v)| *v);
            let child = match e {
                Element::Field(k) => schema.field(k).0,
                _ => schema.items(),
            };
            path.push(e.clone());
            walk_compare(lv, rv, &child, path, d);
            path.pop();
        }
    } else {
        match (lhs, rhs) {
            (Some(a), Some(b)) if a != b => d.modified.insert(path),
            _ => {}
        }
    }
    match (lhs, rhs) {
        (None, Some(_)) => d.added.insert(path),
        (Some(_), None) => d.removed.insert(path),
        _ => {}
    }
}

/// Server-side apply's merge: `config` over `live`. Maps merge key by key, keyed lists
/// and sets item by item (new items at the end), anything atomic is replaced.
pub fn merge(live: &Value, config: &Value, schema: &Schema) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !schema.atomic_map() => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, &schema.field(k).0),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) if schema.list_type() != ListType::Atomic => {
            let lt = schema.list_type();
            let items = schema.items();
            let mut out: Vec<Value> = l.clone();
            for ci in c {
                let e = item_element(&lt, ci);
                match out.iter().position(|li| item_element(&lt, li) == e) {
                    Some(p) => out[p] = merge(&out[p], ci, &items),
                    None => out.push(ci.clone()),
                }
            }
            Value::Array(out)
        }
        (_, c) => c.clone(),
    }
}

/// Removes the node at `path` from `v`, if it is there.
pub fn remove(v: &mut Value, path: &[Element], schema: &Schema) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, v) {
        (Element::Field(k), Value::Object(m)) => {
            if rest.is_empty() {
                m.remove(k);
            } else if let Some(child) = m.get_mut(k) {
                remove(child, rest, &schema.field(k).0);
            }
        }
        (e, Value::Array(items)) => {
            let lt = schema.list_type();
            let Some(p) = items.iter().position(|i| item_element(&lt, i) == *e) else {
                return;
            };
            if rest.is_empty() {
                items.remove(p);
            } else {
                remove(&mut items[p], rest, &schema.items());
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
    fn a_deployment_applied_owns_what_it_sets() {
        let dep = json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}});
        let set = field_set(&dep, &Schema::builtin("Deployment"));
        assert_eq!(
            set.to_json(),
            json!({"f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}})
        );
    }

    #[test]
    fn a_new_map_is_added_with_its_parent() {
        let d = compare(
            &json!({"metadata": {}}),
            &json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v"}}),
            &Schema::builtin("ConfigMap"),
        );
        assert_eq!(
            d.changed().to_json(),
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
    }
}
