//! Field sets, the `fieldsV1` of `metadata.managedFields`: a tree of path elements
//! (`f:` a field, `k:` a list item by its keys, `v:` a set member, `i:` a list index),
//! each node either a member (owned itself) or only a parent of members, as in
//! structured-merge-diff. A node that is both is written with a `".": {}` entry.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One step of a path. The order (fields, then keys, then values, then indices) is
/// structured-merge-diff's, so conflicts are listed in the real server's order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    Field(String),
    /// The item's key fields as compact JSON with sorted names: `{"name":"web"}`.
    Key(String),
    /// A set member as JSON: `"example.com/x"`.
    Value(String),
    Index(usize),
}

impl Element {
    /// The `fieldsV1` spelling: `f:name`, `k:{...}`, `v:...`, `i:0`.
    fn encode(&self) -> String {
        match self {
            Element::Field(f) => format!("f:{f}"),
            Element::Key(k) => format!("k:{k}"),
            Element::Value(v) => format!("v:{v}"),
            Element::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<Element> {
        let (tag, rest) = s.split_once(':')?;
        Some(match tag {
            "f" => Element::Field(rest.to_string()),
            "k" => Element::Key(rest.to_string()),
            "v" => Element::Value(rest.to_string()),
            "i" => Element::Index(rest.parse().ok()?),
            _ => return None,
        })
    }

    /// As conflict messages print it: `.data.key`, `[name="web"]`, `[="x"]`, `[0]`.
    fn display(&self) -> String {
        match self {
            Element::Field(f) => format!(".{f}"),
            Element::Key(k) => {
                let fields: BTreeMap<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let parts: Vec<String> = fields.iter().map(|(n, v)| format!("{n}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            Element::Value(v) => format!("[={v}]"),
            Element::Index(i) => format!("[{i}]"),
        }
    }
}

pub type Path = Vec<Element>;

/// A path as the real server prints it in conflicts.
pub fn display(path: &[Element]) -> String {
    path.iter().map(Element::display).collect()
}

/// A set of paths, as a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    children: BTreeMap<Element, Node>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    member: bool,
    set: FieldSet,
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[Element]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let node = self.children.entry(first.clone()).or_default();
        if rest.is_empty() {
            node.member = true;
        } else {
            node.set.insert(rest);
        }
    }

    pub fn contains(&self, path: &[Element]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        match self.children.get(first) {
            Some(n) if rest.is_empty() => n.member,
            Some(n) => n.set.contains(rest),
            None => false,
        }
    }

    /// Whether `path` or anything below it is a member.
    pub fn has_prefix(&self, path: &[Element]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return !self.is_empty();
        };
        match self.children.get(first) {
            Some(_) if rest.is_empty() => true,
            Some(n) => n.set.has_prefix(rest),
            None => false,
        }
    }

    /// Removes `path` (only that member: what is below it stays).
    pub fn remove(&mut self, path: &[Element]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if let Some(n) = self.children.get_mut(first) {
            if rest.is_empty() {
                n.member = false;
            } else {
                n.set.remove(rest);
            }
            if !n.member && n.set.is_empty() {
                self.children.remove(first);
            }
        }
    }

    /// Every member, parents before their children, in structured-merge-diff's order
    /// (a node's own members first, then its children's).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (e, n) in &self.children {
            if n.member {
                let mut p = prefix.clone();
                p.push(e.clone());
                out.push(p);
            }
        }
        for (e, n) in &self.children {
            prefix.push(e.clone());
            n.set.collect(prefix, out);
            prefix.pop();
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for p in other.paths() {
            out.insert(&p);
        }
        out
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for p in other.paths() {
            out.remove(&p);
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.paths().into_iter().filter(|p| other.contains(p)) {
            out.insert(&p);
        }
        out
    }

    /// The `fieldsV1` JSON.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (e, n) in &self.children {
            let mut inner = match n.set.to_json() {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            if n.member && !inner.is_empty() {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            m.insert(e.encode(), Value::Object(inner));
        }
        Value::Object(m)
    }

    /// Reads `fieldsV1`; what cannot be read is left out.
    pub fn from_json(v: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        for (k, inner) in v.as_object().into_iter().flatten() {
            let Some(e) = Element::decode(k) else {
                continue;
            };
            let children = FieldSet::from_json(inner);
            let own = inner.get(".").is_some();
            let member = own || children.is_empty();
            set.children.insert(
                e,
                Node {
                    member,
                    set: children,
                },
            );
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"f:data": {".": {}, "f:key": {}}, "f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}}}}});
        let set = FieldSet::from_json(&v);
        assert_eq!(set.to_json(), v);
        let paths: Vec<String> = set.paths().iter().map(|p| display(p)).collect();
        assert_eq!(
            paths,
            [
                ".data",
                ".data.key",
                ".spec.containers[name=\"a\"]",
                ".spec.containers[name=\"a\"].image"
            ]
        );
    }
}
