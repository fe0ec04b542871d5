//! The StatefulSet controller, following kube-controller-manager 1.20's
//! (`pkg/controller/statefulset`, `stateful_set_control.go`):
//!
//! - pods named `<set>-<ordinal>`, with the template's labels plus
//!   `statefulset.kubernetes.io/pod-name` and `controller-revision-hash`, `hostname` = the
//!   pod's name, `subdomain` = `serviceName`, owned by the set (so the garbage collector
//!   deletes them with it);
//! - one claim per replica and claim template, `<template>-<set>-<ordinal>`, labelled with
//!   the selector's `matchLabels`, made before the pod and mounted as the pod's volume of the
//!   template's name. Claims have no owner: they outlive scale-downs and the set itself (1.20
//!   has no `persistentVolumeClaimRetentionPolicy`), so a pod made again under the same name
//!   finds its data;
//! - `OrderedReady`: ordinal `i` is made only once `0..i-1` are Running and Ready, a scale-down
//!   removes the highest ordinal first, one at a time, each once the others are healthy;
//!   `Parallel`: all at once. A Failed pod is deleted and made again (same name, same claims);
//! - revisions as ControllerRevisions `<set>-<hash>` holding the template
//!   (`{"spec":{"template":{…,"$patch":"replace"}}}`), a template seen before taking the next
//!   revision number, old ones kept to `revisionHistoryLimit`;
//! - `RollingUpdate`: the highest ordinal at or above `partition` whose revision differs is
//!   deleted (and made again at the update revision), one at a time, each waiting for the
//!   one before to be Running and Ready; pods below the partition are made from the current
//!   revision. `OnDelete`: only `updateRevision` moves, pods change when someone deletes them;
//! - status as the real controller writes it: `observedGeneration`, `replicas`,
//!   `readyReplicas`, `currentReplicas`, `updatedReplicas`, `currentRevision`,
//!   `updateRevision`, `collisionCount`, the rolling update completed (current = update)
//!   once every replica is updated and ready;
//! - events as its recorder words them (`create Pod web-0 in StatefulSet web successful`,
//!   `create Claim data-web-0 Pod web-0 in StatefulSet web success`).
//!
//! Not done: adoption and release of pods whose labels or owners change, fixing a pod's
//! identity or storage in place (the real one updates a pod whose labels or volumes drifted),
//! `minReadySeconds`, and the hash is not byte-for-byte the real one's (it hashes the
//! template as this store keeps it, not as Go serializes it).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::events::{ObjectRef, Recorder, Source};
use super::{
    controlled_by, controller_of, controller_ref, int_or, label_selector, pod, str_at, Action, Key,
    Queue, Reconciler,
};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, EventType, ListParams, Store, WriteOptions};

/// Who this controller's writes are recorded for in `managedFields`, as the real one.
const MANAGER: &str = "kube-controller-manager";
const SOURCE: Source<'static> = Source::component("statefulset-controller");

/// The pod label naming the revision a pod was made from (`apps.StatefulSetRevisionLabel`).
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// The pod label carrying the pod's own name (`apps.StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// A ControllerRevision's hash label (`history.ControllerRevisionHashLabel`).
const HASH_LABEL: &str = "controller.kubernetes.io/hash";

fn statefulsets() -> ResourceId {
    ResourceId::new("apps", "statefulsets")
}
fn revisions() -> ResourceId {
    ResourceId::new("apps", "controllerrevisions")
}
fn pods() -> ResourceId {
    ResourceId::core("pods")
}
fn claims() -> ResourceId {
    ResourceId::core("persistentvolumeclaims")
}

pub struct StatefulSetController {
    store: Store,
    events: Recorder,
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store, events: &Recorder) {
    let queue = Queue::new();
    let q = queue.clone();
    super::spawn_watch(tasks, store, statefulsets(), move |ev| {
        if ev.kind != EventType::Deleted {
            q.add((ev.namespace.clone(), ev.name.clone()));
        }
    });
    let q = queue.clone();
    super::spawn_watch(tasks, store, pods(), move |ev| {
        if ev.meta.owners.is_empty() {
            return;
        }
        if let Some((kind, name)) = controller_of(&ev.object) {
            if kind == "StatefulSet" {
                q.add((ev.namespace.clone(), name));
            }
        }
    });
    super::spawn_resync(
        tasks,
        store,
        statefulsets(),
        Duration::from_secs(10),
        queue.clone(),
    );
    let c = Arc::new(StatefulSetController {
        store: store.clone(),
        events: events.clone(),
    });
    tasks.spawn(super::run_worker(c, queue));
}

/// The ordinal of `<set>-<ordinal>`, if `pod` is named so.
fn ordinal(set: &str, pod: &Value) -> Option<usize> {
    str_at(pod, &["metadata", "name"])
        .strip_prefix(set)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn revision_of(pod: &Value) -> &str {
    str_at(pod, &["metadata", "labels", REVISION_LABEL])
}

/// Running with its Ready condition true (`isRunningAndReady`).
fn running_and_ready(p: &Value) -> bool {
    pod::phase(p) == "Running" && pod::ready(p)
}

/// Running and Ready and not being deleted (`isHealthy`).
fn healthy(p: &Value) -> bool {
    running_and_ready(p) && !pod::deleting(p)
}

/// The revision data of a set: its template, to replace the whole template when applied
/// (`getPatch`).
fn revision_data(set: &Value) -> Value {
    let mut template = set["spec"]["template"].clone();
    if let Some(t) = template.as_object_mut() {
        t.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The template a revision's data holds (`ApplyRevision`).
fn template_of(revision: &Value) -> Value {
    let mut t = revision["data"]["spec"]["template"].clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    t
}

/// `HashControllerRevision`: FNV-1 (32 bit) of the data, then the collision count, written
/// with the API machinery's "safe" alphabet.
pub fn revision_hash(data: &Value, collision_count: i64) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h = h.wrapping_mul(0x0100_0193);
            h ^= u32::from(*b);
        }
    };
    feed(super::deployment::canonical(data).as_bytes());
    feed(collision_count.to_string().as_bytes());
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// What one reconcile works out before it acts.
struct Plan<'a> {
    set: &'a Value,
    name: &'a str,
    ns: &'a str,
    current: Value,
    update: Value,
}

impl Plan<'_> {
    fn current_name(&self) -> &str {
        str_at(&self.current, &["metadata", "name"])
    }
    fn update_name(&self) -> &str {
        str_at(&self.update, &["metadata", "name"])
    }

    /// The claim of template `t` for `ordinal`: `<template>-<set>-<ordinal>`.
    fn claim_name(&self, t: &Value, ordinal: usize) -> String {
        format!(
            "{}-{}-{ordinal}",
            str_at(t, &["metadata", "name"]),
            self.name
        )
    }

    fn claim_templates(&self) -> Vec<Value> {
        self.set["spec"]["volumeClaimTemplates"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `newVersionedStatefulSetPod`: below the partition (or, without one, below the
    /// current replicas) a pod is made from the current revision, else from the update one.
    fn new_pod(&self, ordinal: usize) -> Value {
        let strategy = &self.set["spec"]["updateStrategy"];
        let rolling = strategy["type"] == "RollingUpdate";
        let ru = &strategy["rollingUpdate"];
        let below_current = if ru.is_object() {
            (ordinal as i64) < int_or(&ru["partition"], 0)
        } else {
            rolling && (ordinal as i64) < int_or(&self.set["status"]["currentReplicas"], 0)
        };
        let revision = if below_current {
            &self.current
        } else {
            &self.update
        };
        let template = template_of(revision);
        let pod_name = format!("{}-{ordinal}", self.name);
        let mut md = json!({
            "name": pod_name,
            "namespace": self.ns,
            "ownerReferences": [controller_ref(self.set)],
        });
        for k in ["labels", "annotations"] {
            if let Some(m) = template["metadata"][k].as_object() {
                md[k] = Value::Object(m.clone());
            }
        }
        md["labels"][POD_NAME_LABEL] = json!(pod_name);
        md["labels"][REVISION_LABEL] = revision["metadata"]["name"].clone();
        let mut spec = template["spec"].clone();
        spec["hostname"] = json!(pod_name);
        if let Some(svc) = self.set["spec"]["serviceName"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            spec["subdomain"] = json!(svc);
        }
        // `updateStorage`: the claims' volumes first, then the template's of other names.
        let templates = self.claim_templates();
        let mut volumes: Vec<Value> = templates
            .iter()
            .map(|t| {
                json!({"name": t["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": self.claim_name(t, ordinal)}})
            })
            .collect();
        let claimed: BTreeSet<&str> = templates
            .iter()
            .map(|t| str_at(t, &["metadata", "name"]))
            .collect();
        for v in spec["volumes"].as_array().into_iter().flatten() {
            if !claimed.contains(str_at(v, &["name"])) {
                volumes.push(v.clone());
            }
        }
        if !volumes.is_empty() {
            spec["volumes"] = json!(volumes);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec})
    }
}

/// The status the reconcile has seen so far, adjusted as it acts (as the real one's is).
#[derive(Debug, Default)]
struct Counts {
    replicas: i64,
    ready: i64,
    current: i64,
    updated: i64,
}

impl Counts {
    fn add(&mut self, p: &Value, plan: &Plan<'_>, sign: i64) {
        self.replicas += sign;
        if revision_of(p) == plan.current_name() {
            self.current += sign;
        }
        if revision_of(p) == plan.update_name() {
            self.updated += sign;
        }
    }
}

impl Reconciler for StatefulSetController {
    const NAME: &'static str = "statefulset";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let set = match self.store.get(&statefulsets(), ns, name) {
            Ok(s) => s,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        let uid = str_at(&set, &["metadata", "uid"]).to_string();
        let Some(selector) = label_selector(&set["spec"]["selector"]) else {
            return Ok(Action::Done);
        };
        let listed = self.store.list(
            &pods(),
            Some(ns),
            &ListParams {
                labels: selector,
                ..Default::default()
            },
        )?;
        let mut owned: Vec<Value> = listed
            .values()
            .into_iter()
            .filter(|p| controlled_by(p, &uid) && ordinal(name, p).is_some())
            .collect();
        owned.sort_by_key(|p| ordinal(name, p));
        let (mut history, collisions) = self.revisions(&set, &uid)?;
        let update = history
            .pop()
            .ok_or_else(|| ApiError::internal("a StatefulSet without an update revision"))?;
        let current = history
            .iter()
            .find(|r| r["metadata"]["name"] == set["status"]["currentRevision"])
            .cloned()
            .unwrap_or_else(|| update.clone());
        let plan = Plan {
            set: &set,
            name,
            ns,
            current,
            update,
        };
        let mut counts = Counts::default();
        for p in &owned {
            counts.replicas += 1;
            if running_and_ready(p) {
                counts.ready += 1;
            }
            if !pod::deleting(p) {
                if revision_of(p) == plan.current_name() {
                    counts.current += 1;
                }
                if revision_of(p) == plan.update_name() {
                    counts.updated += 1;
                }
            }
        }
        if !set["metadata"]["deletionTimestamp"].is_string() {
            self.act(&plan, &owned, &mut counts)?;
        }
        self.write_status(&plan, &counts, collisions)?;
        self.truncate_history(&plan, &owned, history)?;
        Ok(Action::Done)
    }
}

impl StatefulSetController {
    /// `updateStatefulSet`: at most one step in `OrderedReady`, every step possible in
    /// `Parallel`. Returns early where the real one does.
    fn act(&self, plan: &Plan<'_>, owned: &[Value], counts: &mut Counts) -> Result<(), ApiError> {
        let want = int_or(&plan.set["spec"]["replicas"], 1).max(0) as usize;
        let monotonic = plan.set["spec"]["podManagementPolicy"] != "Parallel";
        let mut replicas: Vec<Option<Value>> = vec![None; want];
        let mut condemned: Vec<&Value> = Vec::new();
        for p in owned {
            match ordinal(plan.name, p) {
                Some(i) if i < want => replicas[i] = Some(p.clone()),
                Some(_) => condemned.push(p),
                None => {}
            }
        }
        // The first unhealthy pod, among the replicas first, then the condemned.
        let first_unhealthy = replicas
            .iter()
            .flatten()
            .chain(condemned.iter().copied())
            .find(|p| !healthy(p))
            .map(|p| str_at(p, &["metadata", "name"]).to_string());

        for (i, slot) in replicas.iter_mut().enumerate() {
            if let Some(p) = slot.as_ref().filter(|p| pod::phase(p) == "Failed") {
                let msg = format!(
                    "StatefulSet {}/{} is recreating failed Pod {}",
                    plan.ns,
                    plan.name,
                    str_at(p, &["metadata", "name"])
                );
                self.record(plan, "Warning", "RecreatingFailedPod", &msg);
                self.delete_pod(plan, p)?;
                counts.add(p, plan, -1);
                // NB: the name is taken until the pod is gone; made again on a later pass.
                if monotonic {
                    return Ok(());
                }
                *slot = None;
                continue;
            }
            let Some(p) = slot.as_ref() else {
                let new = plan.new_pod(i);
                if self.pod_exists(plan.ns, str_at(&new, &["metadata", "name"]))? {
                    // Still terminating (or not ours): wait for it to go.
                    if monotonic {
                        return Ok(());
                    }
                    continue;
                }
                self.create_pod(plan, i, new.clone())?;
                counts.add(&new, plan, 1);
                if monotonic {
                    return Ok(());
                }
                continue;
            };
            if monotonic && (pod::deleting(p) || !running_and_ready(p)) {
                return Ok(());
            }
        }

        // Scale down: the highest ordinal first.
        for p in condemned.iter().rev() {
            if pod::deleting(p) {
                if monotonic {
                    return Ok(());
                }
                continue;
            }
            let pname = str_at(p, &["metadata", "name"]);
            if monotonic && !running_and_ready(p) && first_unhealthy.as_deref() != Some(pname) {
                return Ok(());
            }
            self.delete_pod(plan, p)?;
            if revision_of(p) == plan.current_name() {
                counts.current -= 1;
            }
            if revision_of(p) == plan.update_name() {
                counts.updated -= 1;
            }
            if monotonic {
                return Ok(());
            }
        }

        if plan.set["spec"]["updateStrategy"]["type"] == "OnDelete" {
            return Ok(());
        }
        let partition = int_or(
            &plan.set["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            0,
        )
        .max(0) as usize;
        // Rolling update: the highest ordinal not at the update revision goes first.
        for slot in replicas.iter().skip(partition).rev() {
            let Some(p) = slot else { return Ok(()) };
            if revision_of(p) != plan.update_name() && !pod::deleting(p) {
                self.delete_pod(plan, p)?;
                counts.current -= 1;
                return Ok(());
            }
            if !healthy(p) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn record(&self, plan: &Plan<'_>, type_: &str, reason: &str, msg: &str) {
        self.events
            .record(&ObjectRef::to(plan.set), SOURCE, type_, reason, msg);
    }

    fn pod_exists(&self, ns: &str, name: &str) -> Result<bool, ApiError> {
        match self.store.get(&pods(), ns, name) {
            Ok(_) => Ok(true),
            Err(e) if e.code == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `CreateStatefulPod`: the pod's claims first (those missing), then the pod.
    fn create_pod(&self, plan: &Plan<'_>, ordinal: usize, pod: Value) -> Result<(), ApiError> {
        let pod_name = str_at(&pod, &["metadata", "name"]).to_string();
        let opts = WriteOptions::by(MANAGER);
        for t in plan.claim_templates() {
            let claim_name = plan.claim_name(&t, ordinal);
            match self.store.get(&claims(), plan.ns, &claim_name) {
                Ok(_) => continue,
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
            let mut labels = t["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            for (k, v) in plan.set["spec"]["selector"]["matchLabels"]
                .as_object()
                .into_iter()
                .flatten()
            {
                labels[k] = v.clone();
            }
            let mut md = json!({"name": claim_name, "namespace": plan.ns, "labels": labels});
            if let Some(a) = t["metadata"]["annotations"].as_object() {
                md["annotations"] = Value::Object(a.clone());
            }
            let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": md, "spec": t["spec"]});
            match self.store.create(&claims(), plan.ns, claim, &opts) {
                Ok(_) => {
                    let msg = format!(
                        "create Claim {claim_name} Pod {pod_name} in StatefulSet {} success",
                        plan.name
                    );
                    self.record(plan, "Normal", "SuccessfulCreate", &msg);
                }
                Err(e) if e.code == 409 => {}
                Err(e) => {
                    let msg = format!(
                        "create Claim {claim_name} for Pod {pod_name} in StatefulSet {} failed error: {}",
                        plan.name, e.message
                    );
                    self.record(plan, "Warning", "FailedCreate", &msg);
                    let msg = format!(
                        "create Pod {pod_name} in StatefulSet {} failed error: {}",
                        plan.name, e.message
                    );
                    self.record(plan, "Warning", "FailedCreate", &msg);
                    return Err(e);
                }
            }
        }
        match self.store.create(&pods(), plan.ns, pod, &opts) {
            Ok(_) => {
                let msg = format!(
                    "create Pod {pod_name} in StatefulSet {} successful",
                    plan.name
                );
                self.record(plan, "Normal", "SuccessfulCreate", &msg);
                Ok(())
            }
            Err(e) => {
                let msg = format!(
                    "create Pod {pod_name} in StatefulSet {} failed error: {}",
                    plan.name, e.message
                );
                self.record(plan, "Warning", "FailedCreate", &msg);
                Err(e)
            }
        }
    }

    fn delete_pod(&self, plan: &Plan<'_>, p: &Value) -> Result<(), ApiError> {
        let pod_name = str_at(p, &["metadata", "name"]);
        let opts = DeleteOptions {
            precondition_uid: Some(str_at(p, &["metadata", "uid"]).to_string()),
            ..Default::default()
        };
        match self.store.delete(&pods(), plan.ns, pod_name, &opts) {
            Ok(_) | Err(ApiError { code: 404, .. }) => {
                let msg = format!(
                    "delete Pod {pod_name} in StatefulSet {} successful",
                    plan.name
                );
                self.record(plan, "Normal", "SuccessfulDelete", &msg);
                Ok(())
            }
            Err(e) => {
                let msg = format!(
                    "delete Pod {pod_name} in StatefulSet {} failed error: {}",
                    plan.name, e.message
                );
                self.record(plan, "Warning", "FailedDelete", &msg);
                Err(e)
            }
        }
    }

    /// `getStatefulSetRevisions`: the set's revisions by revision number, the update revision
    /// last (found, renumbered when an older one matches the template, or created), and
    /// the collision count it took.
    fn revisions(&self, set: &Value, uid: &str) -> Result<(Vec<Value>, i64), ApiError> {
        let (ns, name) = super::key_of(set);
        let list = self
            .store
            .list(&revisions(), Some(&ns), &ListParams::default())?;
        let mut all: Vec<Value> = list
            .values()
            .into_iter()
            .filter(|r| controlled_by(r, uid))
            .collect();
        all.sort_by_key(|r| int_or(&r["revision"], 0));
        let data = revision_data(set);
        let next = all.last().map_or(1, |r| int_or(&r["revision"], 0) + 1);
        let mut collisions = int_or(&set["status"]["collisionCount"], 0);
        let opts = WriteOptions::by(MANAGER);
        if let Some(i) = all.iter().rposition(|r| r["data"] == data) {
            if i + 1 != all.len() {
                // Back to an older template: it becomes the newest revision.
                let rname = str_at(&all[i], &["metadata", "name"]).to_string();
                let renumbered =
                    self.store
                        .modify(&revisions(), &ns, &rname, None, &opts, |mut cur| {
                            cur["revision"] = json!(next);
                            Ok(cur)
                        })?;
                all.remove(i);
                all.push(renumbered);
            }
            return Ok((all, collisions));
        }
        loop {
            let hash = revision_hash(&data, collisions);
            let mut labels = set["spec"]["template"]["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels[HASH_LABEL] = json!(hash);
            let mut md = json!({
                "name": format!("{name}-{hash}"),
                "namespace": ns,
                "labels": labels,
                "ownerReferences": [controller_ref(set)],
            });
            if let Some(a) = set["metadata"]["annotations"]
                .as_object()
                .filter(|a| !a.is_empty())
            {
                md["annotations"] = Value::Object(a.clone());
            }
            let rev = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": md, "data": data, "revision": next});
            match self.store.create(&revisions(), &ns, rev, &opts) {
                Ok(r) => {
                    all.push(r);
                    return Ok((all, collisions));
                }
                Err(e) if e.code == 409 && e.reason == "AlreadyExists" => {
                    let rname = format!("{name}-{hash}");
                    let existing = self.store.get(&revisions(), &ns, &rname)?;
                    if existing["data"] == data && controlled_by(&existing, uid) {
                        all.push(existing);
                        return Ok((all, collisions));
                    }
                    // Another object took the name: a new hash, remembered in the status.
                    collisions += 1;
                    if collisions > 10 {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `updateStatefulSetStatus`, with `completeRollingUpdate`.
    fn write_status(
        &self,
        plan: &Plan<'_>,
        counts: &Counts,
        collisions: i64,
    ) -> Result<(), ApiError> {
        let set = plan.set;
        let mut current_revision = plan.current_name().to_string();
        let mut current = counts.current;
        if set["spec"]["updateStrategy"]["type"] == "RollingUpdate"
            && counts.updated == counts.replicas
            && counts.ready == counts.replicas
        {
            current_revision = plan.update_name().to_string();
            current = counts.updated;
        }
        let mut status = json!({
            "observedGeneration": set["metadata"]["generation"],
            "replicas": counts.replicas,
            "readyReplicas": counts.ready,
            "currentReplicas": current,
            "updatedReplicas": counts.updated,
            "currentRevision": current_revision,
            "updateRevision": plan.update_name(),
            "collisionCount": collisions,
        });
        // Go's `omitempty`: zero counts are left out (`replicas` and `collisionCount` stay).
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| {
                matches!(k.as_str(), "replicas" | "collisionCount") || v.as_i64() != Some(0)
            });
        }
        if set["status"] == status {
            return Ok(());
        }
        let uid = str_at(set, &["metadata", "uid"]).to_string();
        match self.store.modify(
            &statefulsets(),
            plan.ns,
            plan.name,
            Some("status"),
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("statefulsets.apps", plan.name));
                }
                cur["status"] = status.clone();
                Ok(cur)
            },
        ) {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `truncateHistory`: revisions no pod uses, beyond `revisionHistoryLimit`, oldest first.
    fn truncate_history(
        &self,
        plan: &Plan<'_>,
        owned: &[Value],
        history: Vec<Value>,
    ) -> Result<(), ApiError> {
        let mut live: HashSet<&str> = owned.iter().map(revision_of).collect();
        live.insert(plan.current_name());
        live.insert(plan.update_name());
        let old: Vec<&Value> = history
            .iter()
            .filter(|r| !live.contains(str_at(r, &["metadata", "name"])))
            .collect();
        let limit = int_or(&plan.set["spec"]["revisionHistoryLimit"], 10).max(0) as usize;
        if old.len() <= limit {
            return Ok(());
        }
        for r in &old[..old.len() - limit] {
            let rname = str_at(r, &["metadata", "name"]);
            match self
                .store
                .delete(&revisions(), plan.ns, rname, &DeleteOptions::default())
            {
                Ok(_) | Err(ApiError { code: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_are_read_from_the_pods_own_name_only() {
        let p = |n: &str| json!({"metadata": {"name": n}});
        assert_eq!(ordinal("web", &p("web-0")), Some(0));
        assert_eq!(ordinal("web", &p("web-12")), Some(12));
        assert_eq!(ordinal("web", &p("web-x")), None);
        assert_eq!(ordinal("web", &p("webby-1")), None);
        assert_eq!(ordinal("web", &p("web-db-1")), None);
    }

    #[test]
    fn a_revision_hash_depends_on_the_template_and_the_collision_count() {
        let a =
            revision_data(&json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}}}}}));
        let b =
            revision_data(&json!({"spec": {"template": {"metadata": {"labels": {"app": "db"}}}}}));
        assert_ne!(revision_hash(&a, 0), revision_hash(&b, 0));
        assert_ne!(revision_hash(&a, 0), revision_hash(&a, 1));
        assert_eq!(revision_hash(&a, 0), revision_hash(&a.clone(), 0));
        assert_eq!(a["spec"]["template"]["$patch"], "replace");
        assert!(template_of(&json!({"data": a})).get("$patch").is_none());
    }
}
