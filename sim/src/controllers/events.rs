//! Recording `core/v1` Events as the real components do (`kubectl describe` and
//! `kubectl get events` read them): one Event per involved object, reason and message,
//! whose `count` and `lastTimestamp` grow when the same thing happens again — the
//! aggregation client-go's `EventCorrelator` performs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{now, str_at};
use crate::resources::ResourceId;
use crate::store::{Store, WriteOptions};

/// Aggregation cache entries kept before the cache starts over (then a repeat creates a new Event).
const CACHE_LIMIT: usize = 20_000;

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub field_path: Option<String>,
}

impl ObjectRef {
    /// A reference to a stored object.
    pub fn to(obj: &Value) -> ObjectRef {
        ObjectRef {
            api_version: str_at(obj, &["apiVersion"]).to_string(),
            kind: str_at(obj, &["kind"]).to_string(),
            namespace: str_at(obj, &["metadata", "namespace"]).to_string(),
            name: str_at(obj, &["metadata", "name"]).to_string(),
            uid: str_at(obj, &["metadata", "uid"]).to_string(),
            field_path: None,
        }
    }
}

/// Who reports: `deployment-controller`, `kubelet` on `demo-node-1`...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

impl<'a> Source<'a> {
    pub const fn component(component: &'a str) -> Self {
        Source {
            component,
            host: None,
        }
    }
}

type AggKey = (ObjectRef, String, String, String, String, String);

/// Writes Events into the store. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    store: Store,
    /// Aggregation key → the Event's name.
    seen: Arc<Mutex<HashMap<AggKey, String>>>,
}

impl Recorder {
    pub fn new(store: Store) -> Recorder {
        Recorder {
            store,
            seen: Default::default(),
        }
    }

    /// `type_` is `Normal` or `Warning`. Failures are logged, never returned: an Event
    /// that cannot be written must not fail the reconcile that reports it.
    pub fn record(
        &self,
        obj: &ObjectRef,
        source: Source<'_>,
        type_: &str,
        reason: &str,
        message: &str,
    ) {
        let res = ResourceId::core("events");
        // Cluster-scoped objects (nodes) get their Events in `default`, as the kubelet does.
        let ns = if obj.namespace.is_empty() {
            "default"
        } else {
            obj.namespace.as_str()
        };
        let key: AggKey = (
            obj.clone(),
            source.component.to_string(),
            source.host.unwrap_or_default().to_string(),
            type_.to_string(),
            reason.to_string(),
            message.to_string(),
        );
        let existing = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(name) = existing {
            let ts = now();
            let bumped =
                self.store
                    .modify(&res, ns, &name, None, &WriteOptions::default(), |mut e| {
                        let n = e["count"].as_i64().unwrap_or(1) + 1;
                        e["count"] = json!(n);
                        e["lastTimestamp"] = json!(ts);
                        Ok(e)
                    });
            if bumped.is_ok() {
                return;
            }
        }
        let ts = now();
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let name = format!("{}.{:x}", obj.name, nanos);
        let mut involved = json!({
            "apiVersion": obj.api_version, "kind": obj.kind, "name": obj.name, "uid": obj.uid,
        });
        if !obj.namespace.is_empty() {
            involved["namespace"] = json!(obj.namespace);
        }
        if let Some(fp) = &obj.field_path {
            involved["fieldPath"] = json!(fp);
        }
        let mut src = json!({"component": source.component});
        if let Some(h) = source.host {
            src["host"] = json!(h);
        }
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": src,
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "type": type_,
            "eventTime": null,
            "reportingComponent": source.component,
            "reportingInstance": source.host.unwrap_or_default(),
        });
        match self.store.create(&res, ns, event, &WriteOptions::default()) {
            Ok(_) => {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                if seen.len() >= CACHE_LIMIT {
                    seen.clear();
                }
                seen.insert(key, name);
            }
            // The namespace is going away, or the store is shutting down: nothing to tell.
            Err(e) => tracing::debug!(reason, "event not recorded: {e}"),
        }
    }
}
