//! How one stored object is held: its serialized JSON bytes (served as-is by
//! LIST, GET and WATCH, never re-serialized) plus the few fields that selectors
//! and the garbage collector read, extracted once at write time.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use serde_json::Value;

use crate::resources::ResourceId;

/// Fields read without parsing the object again.
#[derive(Debug, Default, PartialEq)]
pub struct Meta {
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// Owner uids from `metadata.ownerReferences`.
    pub owners: Vec<String>,
    /// Selectable fields besides name and namespace (`status.phase`, `spec.nodeName`...).
    pub fields: Vec<(&'static str, String)>,
}

/// Field paths indexed at write time; other field selectors parse the object.
const INDEXED: &[&str] = &[
    "status.phase",
    "spec.nodeName",
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.fieldPath",
    "involvedObject.resourceVersion",
    "reason",
    "type",
    "spec.unschedulable",
    "status.successful",
];

impl Meta {
    pub fn of(obj: &Value) -> Meta {
        let md = &obj["metadata"];
        let labels = md["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let owners = md["ownerReferences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| o["uid"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let fields = INDEXED
            .iter()
            .filter_map(|path| field_of(obj, path).map(|v| (*path, v)))
            .collect();
        Meta {
            uid: md["uid"].as_str().unwrap_or_default().to_string(),
            labels,
            owners,
            fields,
        }
    }
}

/// A dotted path's value as the field selector compares it (strings, numbers, bools).
pub fn field_of(obj: &Value, path: &str) -> Option<String> {
    let mut v = obj;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One object in the store.
#[derive(Debug, Clone)]
pub struct Entry {
    pub bytes: Bytes,
    pub rv: u64,
    pub meta: Arc<Meta>,
}

impl Entry {
    pub fn value(&self) -> Value {
        // NB: the bytes were produced by serde_json from a Value, so they parse.
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

/// ADDED, MODIFIED or DELETED, as in a watch stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A change to one object, kept in the watch history and broadcast to watchers.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub resource: ResourceId,
    pub namespace: String,
    pub name: String,
    /// The object after the change (for DELETED: its last state, carrying the deletion's RV).
    pub object: Bytes,
    pub meta: Arc<Meta>,
    /// The state before a MODIFIED change, so filtered watches can turn it into ADDED/DELETED.
    pub prev: Option<(Bytes, Arc<Meta>)>,
}

impl Event {
    /// The object as JSON.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.object).unwrap_or(Value::Null)
    }
    /// The object as a typed value (a k8s-openapi type, or your own).
    pub fn object_as<K: serde::de::DeserializeOwned>(&self) -> Result<K, serde_json::Error> {
        serde_json::from_slice(&self.object)
    }
}
