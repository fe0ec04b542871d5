//! Deleting one object as kube-apiserver 1.20 does.
//!
//! - An object without finalizers goes at once (DELETED), its dependents after it
//!   (the garbage collector, `gc`).
//! - An object with finalizers is only marked: `deletionTimestamp` and
//!   `deletionGracePeriodSeconds: 0` (MODIFIED); it goes when an update removes its last
//!   finalizer: that update is not stored, the object goes as it was (one DELETED
//!   event). Finalizers cannot be added meanwhile.
//! - `propagationPolicy: Orphan` / `Foreground` add the `orphan` / `foregroundDeletion`
//!   finalizer, which the garbage collector's work removes: here at once, so the
//!   answer is the marked object while the store has moved on. Without a policy,
//!   batch/v1 Jobs orphan their pods, as in kube-apiserver.
//! - Pods are deleted gracefully: `gracePeriodSeconds` (else the pod's
//!   `terminationGracePeriodSeconds`, else 30) sets `deletionTimestamp` that far ahead
//!   and `deletionGracePeriodSeconds`; the kubelet stops the pod and deletes it with a
//!   grace period of 0. A second delete may shorten the period, never lengthen it. Pods
//!   not bound to a node and pods that have finished go at once.
//! - `preconditions` (uid, resourceVersion) that do not hold are a 409.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::{gc, key, DeleteOptions, Event, EventType, Propagation, State};
use crate::error::{ApiError, Cause};
use crate::resources::ResourceId;

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

pub(super) fn delete(
    st: &mut State,
    tx: &broadcast::Sender<Arc<Event>>,
    res: &ResourceId,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let entry = st
        .tables
        .get(res)
        .and_then(|t| t.get(&key(ns, name)))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&res.key(), name))?;
    let mut obj = entry.value();
    check_preconditions(st, res, &obj, entry.rv, opts)?;
    if opts.dry_run {
        return Ok(obj);
    }
    let before = obj.clone();
    let deleting = obj["metadata"]["deletionTimestamp"].is_string();
    let grace = if *res == ResourceId::core("pods") {
        pod_grace_period(&obj, opts.grace_period)
    } else {
        0
    };
    let current_grace = obj["metadata"]["deletionGracePeriodSeconds"].as_i64();
    if !deleting || current_grace.is_some_and(|c| grace < c) {
        let at = chrono::Utc::now() + chrono::Duration::seconds(grace);
        obj["metadata"]["deletionTimestamp"] =
            json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    }
    let policy = opts.propagation.or_else(|| default_policy(res, &obj));
    set_gc_finalizers(&mut obj, policy);
    if !finalizers(&obj).is_empty() || grace_pending(&obj) {
        if obj != before {
            obj = st.commit(tx, res, ns, name, EventType::Modified, obj)?;
        }
        run_gc_finalizers(st, tx, res, ns, name)?;
        return Ok(obj);
    }
    let out = remove_for_good(st, tx, res, ns, name, &obj)?;
    if *res == ResourceId::core("pods") {
        // What the real server answers: the pod as it went, deletion fields set.
        obj["metadata"]["resourceVersion"] = out["metadata"]["resourceVersion"].clone();
        return Ok(obj);
    }
    Ok(out)
}

/// The 409s of `preconditions`, worded as kube-apiserver words them.
fn check_preconditions(
    st: &State,
    res: &ResourceId,
    obj: &Value,
    rv: u64,
    opts: &DeleteOptions,
) -> Result<(), ApiError> {
    let uid = obj["metadata"]["uid"].as_str().unwrap_or_default();
    let problem = if let Some(p) = opts.precondition_uid.as_ref().filter(|p| *p != uid) {
        format!("the UID in the precondition ({p}) does not match the UID in record ({uid}). The object might have been deleted and then recreated")
    } else if let Some(p) = opts
        .precondition_rv
        .as_ref()
        .filter(|p| **p != rv.to_string())
    {
        format!("the ResourceVersion in the precondition ({p}) does not match the ResourceVersion in record ({rv}). The object might have been modified")
    } else {
        return Ok(());
    };
    let kind = st
        .registry()
        .by_id(res)
        .map(|i| i.kind.clone())
        .unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let mut details = json!({"name": name, "kind": kind});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    Err(ApiError::new(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on {kind} \"{name}\": {problem}"),
    )
    .with_details(details))
}

/// How long a pod may take to stop: none when it never ran or has finished.
fn pod_grace_period(pod: &Value, asked: Option<i64>) -> i64 {
    let unbound = pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty);
    let finished = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if unbound || finished {
        return 0;
    }
    asked
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

/// The policy when none is asked: batch/v1 Jobs orphan their pods (kubectl asks for
/// Background explicitly); other kinds keep the finalizers they have.
fn default_policy(res: &ResourceId, obj: &Value) -> Option<Propagation> {
    let has_gc_finalizer = finalizers(obj)
        .iter()
        .any(|f| [ORPHAN, FOREGROUND].contains(f));
    (*res == ResourceId::new("batch", "jobs") && !has_gc_finalizer).then_some(Propagation::Orphan)
}

fn finalizers(obj: &Value) -> Vec<&str> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A pod whose kubelet has yet to stop it.
fn grace_pending(obj: &Value) -> bool {
    obj["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .is_some_and(|g| g > 0)
}

/// Whether an object being deleted can go now: no finalizers left, no grace pending.
pub(super) fn done(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
        && finalizers(obj).is_empty()
        && !grace_pending(obj)
}

/// The garbage collector's finalizers as the policy asks (none given: as they are).
fn set_gc_finalizers(obj: &mut Value, policy: Option<Propagation>) {
    let Some(policy) = policy else { return };
    let want = match policy {
        Propagation::Orphan => Some(ORPHAN),
        Propagation::Foreground => Some(FOREGROUND),
        Propagation::Background => None,
    };
    let mut list: Vec<Value> = obj["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.retain(|f| !matches!(f.as_str(), Some(ORPHAN | FOREGROUND)) || f.as_str() == want);
    if let Some(w) = want {
        if !list.iter().any(|f| f == w) {
            list.push(json!(w));
        }
    }
    let Some(md) = obj["metadata"].as_object_mut() else {
        return;
    };
    if list.is_empty() {
        md.remove("finalizers");
    } else {
        md.insert("finalizers".into(), Value::Array(list));
    }
}

/// Does at once what the real garbage collector does in the background for an object
/// marked with its finalizers, then removes them (and the object, if it can go).
fn run_gc_finalizers(
    st: &mut State,
    tx: &broadcast::Sender<Arc<Event>>,
    res: &ResourceId,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let Some(entry) = st
        .tables
        .get(res)
        .and_then(|t| t.get(&key(ns, name)))
        .cloned()
    else {
        return Ok(());
    };
    let mut obj = entry.value();
    let fins = finalizers(&obj);
    let (orphan, foreground) = (fins.contains(&ORPHAN), fins.contains(&FOREGROUND));
    if !orphan && !foreground {
        return Ok(());
    }
    if orphan {
        gc::orphan(st, tx, &entry.meta.uid)?;
    }
    if foreground {
        gc::delete_dependents(st, tx, &entry.meta.uid)?;
    }
    set_gc_finalizers(&mut obj, Some(Propagation::Background));
    if done(&obj) {
        remove_for_good(st, tx, res, ns, name, &obj)?;
    } else {
        st.commit(tx, res, ns, name, EventType::Modified, obj)?;
    }
    Ok(())
}

/// Removes an object (one DELETED event), then what goes with it: a namespace's
/// contents, a CRD's objects, dependents. Returns the object as removed.
pub(super) fn remove_for_good(
    st: &mut State,
    tx: &broadcast::Sender<Arc<Event>>,
    res: &ResourceId,
    ns: &str,
    name: &str,
    obj: &Value,
) -> Result<Value, ApiError> {
    gc::delete_contents(st, tx, res, obj)?;
    let mut deleted = Vec::new();
    let out = st.remove(tx, res, ns, name, &mut deleted)?;
    st.collect_garbage(tx, deleted)?;
    Ok(out)
}

/// Updates may not add finalizers to an object being deleted (422, with the cause
/// twice, as kube-apiserver 1.20 reports it).
pub(super) fn check_new_finalizers(
    kind: &str,
    group: &str,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if !old["metadata"]["deletionTimestamp"].is_string() {
        return Ok(());
    }
    let before = finalizers(old);
    let added: Vec<&str> = finalizers(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    // Go's %#v of a []string.
    let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
    let message = format!(
        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
        quoted.join(", ")
    );
    let name = new["metadata"]["name"].as_str().unwrap_or_default();
    let cause = Cause::new("FieldValueForbidden", "metadata.finalizers", message);
    Err(ApiError::invalid(
        kind,
        group,
        name,
        vec![cause.clone(), cause],
    ))
}
