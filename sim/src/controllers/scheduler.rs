//! The scheduler: binds each pod without `spec.nodeName` (and with the default
//! scheduler) to the Ready, schedulable node with the fewest pods whose labels satisfy
//! the pod's `nodeSelector`, then sets the `PodScheduled` condition and records the
//! `Scheduled` event — or `FailedScheduling` when no node fits.
//!
//! Volumes, as the `VolumeBinding` plugin: a pod whose claim is missing, being deleted, or
//! not bound while its class binds `Immediate` stays unschedulable (`persistentvolumeclaim
//! "x" not found`, `pod has unbound immediate PersistentVolumeClaims`); a bound claim's PV
//! with a node affinity pins the pod to that node; for an unbound claim of a
//! `WaitForFirstConsumer` class the node is chosen first, written on the claim
//! (`volume.kubernetes.io/selected-node`, see `volume.rs`), and the pod is bound once the
//! claim is.
//!
//! Pod counts per node are kept from the pod watch (no list per pod), so scheduling
//! thousands of pods stays linear.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::events::{ObjectRef, Recorder, Source};
use super::{labels_of, pod, str_at, Action, Key, Queue, Reconciler};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{Event, EventType, Store, WriteOptions};

/// Who this controller's writes are recorded for in `managedFields`, as the real one.
const MANAGER: &str = "kube-scheduler";

const SOURCE: Source<'static> = Source::component("default-scheduler");

#[derive(Debug, Clone)]
struct NodeInfo {
    ready: bool,
    unschedulable: bool,
    labels: BTreeMap<String, String>,
}

#[derive(Default)]
struct Cluster {
    nodes: BTreeMap<String, NodeInfo>,
    /// Pod uid → node, for pods bound and not finished.
    placed: HashMap<String, String>,
    /// Node → how many of `placed` it has.
    counts: HashMap<String, usize>,
    /// Pods waiting because nothing fit; retried when a node changes.
    waiting: Vec<Key>,
}

impl Cluster {
    fn count(&self, node: &str) -> usize {
        self.counts.get(node).copied().unwrap_or(0)
    }
    fn place(&mut self, uid: &str, node: &str) {
        if self.placed.get(uid).is_some_and(|n| n == node) {
            return;
        }
        self.unplace(uid);
        self.placed.insert(uid.to_string(), node.to_string());
        *self.counts.entry(node.to_string()).or_default() += 1;
    }
    fn unplace(&mut self, uid: &str) {
        if let Some(n) = self.placed.remove(uid) {
            if let Some(c) = self.counts.get_mut(&n) {
                *c = c.saturating_sub(1);
            }
        }
    }
}

pub struct Scheduler {
    store: Store,
    events: Recorder,
    cluster: Arc<Mutex<Cluster>>,
}

fn node_info(node: &Value) -> NodeInfo {
    let ready = node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    NodeInfo {
        ready,
        unschedulable: node["spec"]["unschedulable"].as_bool() == Some(true),
        labels: labels_of(node),
    }
}

fn field<'a>(ev: &'a Event, name: &str) -> Option<&'a str> {
    ev.meta
        .fields
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store, events: &Recorder) {
    let queue = Queue::new();
    let cluster: Arc<Mutex<Cluster>> = Default::default();
    let (q, c) = (queue.clone(), cluster.clone());
    super::spawn_watch(tasks, store, ResourceId::core("nodes"), move |ev| {
        let mut cl = c.lock().unwrap_or_else(|e| e.into_inner());
        if ev.kind == EventType::Deleted {
            cl.nodes.remove(&ev.name);
        } else {
            cl.nodes.insert(ev.name.clone(), node_info(&ev.value()));
        }
        for k in std::mem::take(&mut cl.waiting) {
            q.add(k);
        }
    });
    let (q, c) = (queue.clone(), cluster.clone());
    super::spawn_watch(tasks, store, ResourceId::core("pods"), move |ev| {
        let node = field(ev, "spec.nodeName").filter(|n| !n.is_empty());
        let finished = matches!(field(ev, "status.phase"), Some("Succeeded" | "Failed"));
        let mut cl = c.lock().unwrap_or_else(|e| e.into_inner());
        match (ev.kind, node) {
            (EventType::Deleted, _) => cl.unplace(&ev.meta.uid),
            (_, Some(n)) if !finished => cl.place(&ev.meta.uid, n),
            (_, Some(_)) => cl.unplace(&ev.meta.uid),
            (_, None) => {
                drop(cl);
                q.add((ev.namespace.clone(), ev.name.clone()));
            }
        }
    });
    // Claims changing (bound, made) let pods waiting for them try again.
    let (q, c) = (queue.clone(), cluster.clone());
    super::spawn_watch(
        tasks,
        store,
        ResourceId::core("persistentvolumeclaims"),
        move |_| {
            let mut cl = c.lock().unwrap_or_else(|e| e.into_inner());
            for k in std::mem::take(&mut cl.waiting) {
                q.add(k);
            }
        },
    );
    let s = Arc::new(Scheduler {
        store: store.clone(),
        events: events.clone(),
        cluster,
    });
    tasks.spawn(super::run_worker(s, queue));
}

impl Reconciler for Scheduler {
    const NAME: &'static str = "scheduler";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let pods = ResourceId::core("pods");
        let p = match self.store.get(&pods, ns, name) {
            Ok(p) => p,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        let scheduler_name = str_at(&p, &["spec", "schedulerName"]);
        if !str_at(&p, &["spec", "nodeName"]).is_empty()
            || pod::terminal(&p)
            || pod::deleting(&p)
            || !(scheduler_name.is_empty() || scheduler_name == "default-scheduler")
        {
            return Ok(Action::Done);
        }
        let uid = str_at(&p, &["metadata", "uid"]).to_string();
        let selector: BTreeMap<String, String> = p["spec"]["nodeSelector"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let volumes = match self.volumes(&p, ns)? {
            Ok(v) => v,
            Err(why) => {
                let total = self
                    .cluster
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .nodes
                    .len();
                let msg = format!("0/{total} nodes are available: {total} {why}.");
                return self.unschedulable(key, &p, &uid, &msg);
            }
        };
        let choice = {
            let cl = self.cluster.lock().unwrap_or_else(|e| e.into_inner());
            let total = cl.nodes.len();
            let fits: Vec<&String> = cl
                .nodes
                .iter()
                .filter(|(_, n)| {
                    n.ready
                        && !n.unschedulable
                        && selector.iter().all(|(k, v)| n.labels.get(k) == Some(v))
                })
                .filter(|(name, _)| volumes.pinned.as_ref().is_none_or(|p| p == *name))
                .map(|(name, _)| name)
                .collect();
            match fits.into_iter().min_by_key(|n| cl.count(n)) {
                Some(n) => Ok(n.clone()),
                None => Err(total),
            }
        };
        let node = match choice {
            Ok(n) => n,
            Err(total) => {
                let msg = if total == 0 {
                    "no nodes available to schedule pods".to_string()
                } else if volumes.pinned.is_some() {
                    format!("0/{total} nodes are available: {total} node(s) had volume node affinity conflict.")
                } else if selector.is_empty() {
                    format!("0/{total} nodes are available: {total} node(s) were not ready or unschedulable.")
                } else {
                    format!("0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector.")
                };
                return self.unschedulable(key, &p, &uid, &msg);
            }
        };
        if !volumes.delayed.is_empty() {
            // PreBind: the claims learn the node; the pod waits until they are bound.
            for claim in &volumes.delayed {
                self.select_node(ns, claim, &node)?;
            }
            self.wait(key);
            return Ok(Action::RequeueAfter(Duration::from_secs(30)));
        }
        // Bind (the binding subresource sets spec.nodeName and nothing else).
        let bound = self.store.modify(
            &pods,
            ns,
            name,
            None,
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("pods", name));
                }
                if !str_at(&cur, &["spec", "nodeName"]).is_empty() {
                    return Err(ApiError::conflict("pods", name));
                }
                cur["spec"]["nodeName"] = json!(node);
                Ok(cur)
            },
        );
        match bound {
            Ok(_) => {}
            Err(e) if e.code == 404 || e.reason == "Conflict" => return Ok(Action::Done),
            Err(e) => return Err(e),
        }
        self.cluster
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .place(&uid, &node);
        self.set_condition(ns, name, &uid, "True", None)?;
        let msg = format!("Successfully assigned {ns}/{name} to {node}");
        self.events
            .record(&ObjectRef::to(&p), SOURCE, "Normal", "Scheduled", &msg);
        Ok(Action::Done)
    }
}

/// What a pod's claims ask of its node.
#[derive(Default)]
struct Volumes {
    /// The only node it may run on (a bound local PV's, or a claim's selected node).
    pinned: Option<String>,
    /// Unbound claims of `WaitForFirstConsumer` classes: the pod waits for them.
    delayed: Vec<String>,
}

impl Scheduler {
    fn wait(&self, key: &Key) {
        let mut cl = self.cluster.lock().unwrap_or_else(|e| e.into_inner());
        if !cl.waiting.contains(key) {
            cl.waiting.push(key.clone());
        }
    }

    /// Records why `p` cannot be scheduled and waits for a change.
    fn unschedulable(
        &self,
        key: &Key,
        p: &Value,
        uid: &str,
        msg: &str,
    ) -> Result<Action, ApiError> {
        let (ns, name) = key;
        self.set_condition(ns, name, uid, "False", Some(("Unschedulable", msg)))?;
        self.events.record(
            &ObjectRef::to(p),
            SOURCE,
            "Warning",
            "FailedScheduling",
            msg,
        );
        self.wait(key);
        // Nodes and claims changing requeue it; a slow retry covers anything else.
        Ok(Action::RequeueAfter(Duration::from_secs(30)))
    }

    /// The `VolumeBinding` checks: `Err` with the reason when the pod cannot be placed now.
    fn volumes(&self, p: &Value, ns: &str) -> Result<Result<Volumes, String>, ApiError> {
        let mut out = Volumes::default();
        for claim_name in super::volume::claims_of(p) {
            let claim =
                match self
                    .store
                    .get(&ResourceId::core("persistentvolumeclaims"), ns, &claim_name)
                {
                    Ok(c) => c,
                    Err(e) if e.code == 404 => {
                        return Ok(Err(format!(
                            "persistentvolumeclaim \"{claim_name}\" not found"
                        )))
                    }
                    Err(e) => return Err(e),
                };
            if pod::deleting(&claim) {
                return Ok(Err(format!(
                    "persistentvolumeclaim \"{claim_name}\" is being deleted"
                )));
            }
            let selected = claim["metadata"]["annotations"][super::volume::SELECTED_NODE].as_str();
            if str_at(&claim, &["status", "phase"]) == "Bound" {
                let pv_name = str_at(&claim, &["spec", "volumeName"]);
                if let Ok(pv) = self
                    .store
                    .get(&ResourceId::core("persistentvolumes"), "", pv_name)
                {
                    let terms = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"];
                    let host = terms[0]["matchExpressions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|e| e["key"] == "kubernetes.io/hostname" && e["operator"] == "In")
                        .and_then(|e| e["values"][0].as_str());
                    if let Some(h) = host {
                        out.pinned = Some(h.to_string());
                    }
                }
                continue;
            }
            let class_name = str_at(&claim, &["spec", "storageClassName"]);
            let class = self
                .store
                .get(
                    &ResourceId::new("storage.k8s.io", "storageclasses"),
                    "",
                    class_name,
                )
                .ok();
            let delayed = class.is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer");
            if !delayed {
                return Ok(Err(
                    "pod has unbound immediate PersistentVolumeClaims".into()
                ));
            }
            if let Some(n) = selected {
                out.pinned = Some(n.to_string());
            }
            out.delayed.push(claim_name);
        }
        Ok(Ok(out))
    }

    /// Writes the chosen node on a `WaitForFirstConsumer` claim that has none.
    fn select_node(&self, ns: &str, claim: &str, node: &str) -> Result<(), ApiError> {
        let res = self.store.modify(
            &ResourceId::core("persistentvolumeclaims"),
            ns,
            claim,
            None,
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if !cur["metadata"]["annotations"].is_object() {
                    cur["metadata"]["annotations"] = serde_json::json!({});
                }
                let ann = &mut cur["metadata"]["annotations"][super::volume::SELECTED_NODE];
                if ann.is_null() {
                    *ann = json!(node);
                }
                Ok(cur)
            },
        );
        match res {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn set_condition(
        &self,
        ns: &str,
        name: &str,
        uid: &str,
        status: &str,
        why: Option<(&str, &str)>,
    ) -> Result<(), ApiError> {
        let ts = super::now();
        let res = self.store.modify(&ResourceId::core("pods"), ns, name, Some("status"), &WriteOptions::by(MANAGER), |mut cur| {
            if str_at(&cur, &["metadata", "uid"]) != uid {
                return Err(ApiError::not_found("pods", name));
            }
            let mut cond = json!({"type": "PodScheduled", "status": status, "lastProbeTime": null, "lastTransitionTime": ts});
            if let Some((reason, message)) = why {
                cond["reason"] = json!(reason);
                cond["message"] = json!(message);
            }
            let conds = cur["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let mut out: Vec<Value> = Vec::with_capacity(conds.len() + 1);
            let mut found = false;
            for c in conds {
                if c["type"] == "PodScheduled" {
                    found = true;
                    if c["status"] == status {
                        cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
                    }
                    out.push(cond.clone());
                } else {
                    out.push(c);
                }
            }
            if !found {
                out.push(cond.clone());
            }
            cur["status"]["conditions"] = json!(out);
            Ok(cur)
        });
        match res {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
