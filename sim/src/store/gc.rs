//! The garbage collector: propagation through `ownerReferences` (Background,
//! Foreground, Orphan), namespace deletion (everything in it goes), and CRD deletion
//! (all its custom objects go). How one object is deleted is `deletion`'s.
//!
//! NB: unlike the real (asynchronous) garbage collector, dependents are removed
//! within the same delete call, under the store lock; watchers see the same
//! DELETED events, just sooner. A dependent is deleted when any of its owners
//! is, not only when all are — demo objects have one owner.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::{key, now, DeleteOptions, Event, EventType, Propagation, State};
use crate::error::ApiError;
use crate::resources::ResourceId;

type Deleted = Vec<(ResourceId, String, String, String)>;

/// What goes with an object deleted for good: everything in a namespace, every
/// custom object of a CRD.
pub(super) fn delete_contents(
    st: &mut State,
    tx: &broadcast::Sender<Arc<Event>>,
    res: &ResourceId,
    obj: &Value,
) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if *res == ResourceId::core("namespaces") {
        delete_namespace_contents(st, tx, name)?;
    }
    if *res == ResourceId::new("apiextensions.k8s.io", "customresourcedefinitions") {
        let group = obj["spec"]["group"].as_str().unwrap_or_default();
        let plural = obj["spec"]["names"]["plural"].as_str().unwrap_or_default();
        let cr = ResourceId::new(group, plural);
        let keys: Vec<(String, String)> = st
            .tables
            .get(&cr)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        let mut deleted = Vec::new();
        for (ons, oname) in keys {
            st.remove(tx, &cr, &ons, &oname, &mut deleted)?;
        }
        st.collect_garbage(tx, deleted)?;
    }
    Ok(())
}

/// The `orphan` finalizer's work: dependents of `uid` lose their owner reference.
pub(super) fn orphan(
    st: &mut State,
    tx: &broadcast::Sender<Arc<Event>>,
    uid: &str,
) -> Result<(), ApiError> {
    for (dres, dns, dname) in dependents(st, uid) {
        if let Some(e) = st
            .tables
            .get(&dres)
            .and_then(|t| t.get(&key(&dns, &dname)))
            .cloned()
        {
            let mut d = e.value();
            if let Some(refs) = d["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"].as_str() != Some(uid));
            }
            st.commit(tx, &dres, &dns, &dname, EventType::Modified, d)?;
        }
    }
    Ok(())
}

/// The `foregroundDeletion` finalizer's work: dependents of `uid` are deleted first
/// (in the foreground too).
pub(super) fn delete_dependents(
    st: &mut State,
    tx: &broadcast::Sender<Arc<Event>>,
    uid: &str,
) -> Result<(), ApiError> {
    let opts = DeleteOptions {
        propagation: Some(Propagation::Foreground),
        ..Default::default()
    };
    for (dres, dns, dname) in dependents(st, uid) {
        match super::deletion::delete(st, tx, &dres, &dns, &dname, &opts) {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn dependents(st: &State, uid: &str) -> Vec<(ResourceId, String, String)> {
    st.dependents
        .get(uid)
        .map(|d| d.iter().cloned().collect())
        .unwrap_or_default()
}

fn delete_namespace_contents(
    st: &mut State,
    tx: &broadcast::Sender<Arc<Event>>,
    ns: &str,
) -> Result<(), ApiError> {
    let mut victims = Vec::new();
    for (res, table) in &st.tables {
        if st.registry().by_id(res).is_some_and(|i| !i.namespaced) {
            continue;
        }
        let lower = (ns.to_string(), String::new());
        for ((ons, oname), _) in table.range(lower..) {
            if ons != ns {
                break;
            }
            victims.push((res.clone(), oname.clone()));
        }
    }
    let mut deleted = Vec::new();
    for (res, name) in victims {
        match st.remove(tx, &res, ns, &name, &mut deleted) {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    st.collect_garbage(tx, deleted)
}

impl State {
    /// Deletes, transitively, the dependents of the objects in `deleted`.
    pub(super) fn collect_garbage(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        mut deleted: Deleted,
    ) -> Result<(), ApiError> {
        while let Some((_, _, _, uid)) = deleted.pop() {
            for (dres, dns, dname) in dependents(self, &uid) {
                let Some(e) = self
                    .tables
                    .get(&dres)
                    .and_then(|t| t.get(&key(&dns, &dname)))
                    .cloned()
                else {
                    continue;
                };
                let mut d = e.value();
                if d["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty())
                {
                    if !d["metadata"]["deletionTimestamp"].is_string() {
                        d["metadata"]["deletionTimestamp"] = json!(now());
                        d["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                        self.commit(tx, &dres, &dns, &dname, EventType::Modified, d)?;
                    }
                    continue;
                }
                self.remove(tx, &dres, &dns, &dname, &mut deleted)?;
            }
        }
        Ok(())
    }
}
