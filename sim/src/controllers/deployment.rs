//! The Deployment controller, following kube-controller-manager's
//! (`pkg/controller/deployment`): ReplicaSets named `<deploy>-<pod-template-hash>`,
//! the revision annotation (an old ReplicaSet rolled back to takes the next revision, its
//! old one kept in `revision-history`), the Deployment's annotations such as
//! `kubernetes.io/change-cause` copied onto its new ReplicaSet, RollingUpdate within
//! maxSurge/maxUnavailable (25%/25% by default), Recreate, old ReplicaSets scaled to 0 and kept to `revisionHistoryLimit`,
//! and the status and conditions `kubectl rollout status` reads.
//!
//! Not done: proportional scaling of several active ReplicaSets during a rollout (a
//! scale in mid-rollout goes to the new ReplicaSet), `progressDeadlineSeconds`, and
//! adoption of orphaned ReplicaSets.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use super::events::{ObjectRef, Recorder, Source};
use super::{
    controlled_by, controller_of, controller_ref, int_or, now, str_at, Action, Key, Queue,
    Reconciler,
};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, EventType, ListParams, Store, WriteOptions};

/// Who this controller's writes are recorded for in `managedFields`, as the real one.
const MANAGER: &str = "kube-controller-manager";

const SOURCE: Source<'static> = Source::component("deployment-controller");
const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const HASH_LABEL: &str = "pod-template-hash";

/// The Deployment's annotations its new ReplicaSet carries too (`kubernetes.io/change-cause`
/// among them, which `kubectl rollout history` shows): all but the controller's own
/// bookkeeping and kubectl's last-applied copy, as `skipCopyAnnotation` decides.
fn copied_annotations(d: &Value) -> Map<String, Value> {
    const SKIP: &[&str] = &[
        REVISION,
        REVISION_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "kubectl.kubernetes.io/last-applied-configuration",
    ];
    d["metadata"]["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !SKIP.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

pub struct DeploymentController {
    store: Store,
    events: Recorder,
}

fn deployments() -> ResourceId {
    ResourceId::new("apps", "deployments")
}
fn replicasets() -> ResourceId {
    ResourceId::new("apps", "replicasets")
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store, events: &Recorder) {
    let queue = Queue::new();
    let q = queue.clone();
    super::spawn_watch(tasks, store, deployments(), move |ev| {
        if ev.kind != EventType::Deleted {
            q.add((ev.namespace.clone(), ev.name.clone()));
        }
    });
    let q = queue.clone();
    super::spawn_watch(tasks, store, replicasets(), move |ev| {
        if let Some((kind, name)) = controller_of(&ev.object) {
            if kind == "Deployment" {
                q.add((ev.namespace.clone(), name));
            }
        }
    });
    super::spawn_resync(
        tasks,
        store,
        deployments(),
        Duration::from_secs(10),
        queue.clone(),
    );
    let c = Arc::new(DeploymentController {
        store: store.clone(),
        events: events.clone(),
    });
    tasks.spawn(super::run_worker(c, queue));
}

/// JSON with object keys sorted, so equal templates hash equally.
pub(crate) fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// A pod template without the `pod-template-hash` label (and without an empty label map).
fn template_without_hash(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(labels) = t["metadata"]
        .get_mut("labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
        if labels.is_empty() {
            if let Some(md) = t["metadata"].as_object_mut() {
                md.remove("labels");
            }
        }
    }
    if t["metadata"].as_object().is_some_and(|m| m.is_empty()) {
        if let Some(m) = t.as_object_mut() {
            m.remove("metadata");
        }
    }
    t
}

/// `ComputeHash`: FNV-1a (32 bit) of the template and the collision count, written with
/// the API machinery's "safe" alphabet (no vowels, no look-alikes).
pub fn pod_template_hash(template: &Value, collision_count: i64) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(canonical(&template_without_hash(template)).as_bytes());
    if collision_count > 0 {
        feed(collision_count.to_string().as_bytes());
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// An int-or-percent against `total`, rounding up (surge) or down (unavailable).
fn scaled_value(v: &Value, total: i64, round_up: bool) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if round_up => (p * total + 99) / 100,
            Some(p) => p * total / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// `(maxSurge, maxUnavailable)`, as `deploymentutil.ResolveFenceposts`.
fn fenceposts(d: &Value, replicas: i64) -> (i64, i64) {
    if d["spec"]["strategy"]["type"] != "RollingUpdate" {
        return (0, 0);
    }
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    let quarter = json!("25%");
    let or_quarter = |v: &'_ Value| {
        if v.is_null() {
            quarter.clone()
        } else {
            v.clone()
        }
    };
    let surge = scaled_value(&or_quarter(&ru["maxSurge"]), replicas, true);
    let mut unavailable = scaled_value(&or_quarter(&ru["maxUnavailable"]), replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable.min(replicas))
}

/// What the reconcile works on: each ReplicaSet's spec.replicas as decided so far.
struct Rs {
    obj: Value,
    spec: i64,
}

impl Rs {
    fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }
    fn status(&self, k: &str) -> i64 {
        int_or(&self.obj["status"][k], 0)
    }
    fn revision(&self) -> i64 {
        str_at(&self.obj, &["metadata", "annotations", REVISION])
            .parse()
            .unwrap_or(0)
    }
}

impl Reconciler for DeploymentController {
    const NAME: &'static str = "deployment";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let d = match self.store.get(&deployments(), ns, name) {
            Ok(d) => d,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        if d["metadata"]["deletionTimestamp"].is_string() {
            return Ok(Action::Done);
        }
        let uid = str_at(&d, &["metadata", "uid"]).to_string();
        let list = self
            .store
            .list(&replicasets(), Some(ns), &ListParams::default())?;
        let mut all: Vec<Rs> = list
            .values()
            .into_iter()
            .filter(|rs| {
                controlled_by(rs, &uid) && !rs["metadata"]["deletionTimestamp"].is_string()
            })
            .map(|obj| Rs {
                spec: int_or(&obj["spec"]["replicas"], 0),
                obj,
            })
            .collect();
        all.sort_by(|a, b| {
            str_at(&a.obj, &["metadata", "creationTimestamp"])
                .cmp(str_at(&b.obj, &["metadata", "creationTimestamp"]))
                .then_with(|| a.name().cmp(b.name()))
        });
        let template = template_without_hash(&d["spec"]["template"]);
        let new_idx = all
            .iter()
            .position(|rs| template_without_hash(&rs.obj["spec"]["template"]) == template);
        let replicas = int_or(&d["spec"]["replicas"], 1).max(0);
        let (surge, max_unavailable) = fenceposts(&d, replicas);
        let paused = d["spec"]["paused"].as_bool() == Some(true);
        let mut created = None;

        // The new ReplicaSet: found, given the newest revision if it is an old one
        // rolled back to, or created.
        let max_old_revision = all
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != new_idx)
            .map(|(_, r)| r.revision())
            .max()
            .unwrap_or(0);
        let new_idx = match new_idx {
            Some(i) => {
                // Rolled back to an old template: the ReplicaSet takes the next revision
                // and remembers the one it had (as `SetNewReplicaSetAnnotations` does).
                let bump = all[i].revision() <= max_old_revision;
                let copied = copied_annotations(&d);
                let stale = copied
                    .iter()
                    .any(|(k, v)| all[i].obj["metadata"]["annotations"][k] != *v);
                if bump || stale {
                    let rev = (max_old_revision + 1).to_string();
                    let obj = self.patch_rs(&all[i].obj, |rs| {
                        if !rs["metadata"]["annotations"].is_object() {
                            rs["metadata"]["annotations"] = json!({});
                        }
                        for (k, v) in &copied {
                            rs["metadata"]["annotations"][k] = v.clone();
                        }
                        if bump {
                            let old =
                                str_at(rs, &["metadata", "annotations", REVISION]).to_string();
                            if !old.is_empty() {
                                let history =
                                    str_at(rs, &["metadata", "annotations", REVISION_HISTORY]);
                                let history = if history.is_empty() {
                                    old
                                } else {
                                    format!("{history},{old}")
                                };
                                rs["metadata"]["annotations"][REVISION_HISTORY] = json!(history);
                            }
                            rs["metadata"]["annotations"][REVISION] = json!(rev);
                        }
                    })?;
                    all[i].obj = obj;
                }
                Some(i)
            }
            None if paused => None,
            None => {
                let old_total: i64 = all.iter().map(|r| r.spec).sum();
                let initial = if d["spec"]["strategy"]["type"] == "Recreate" {
                    if all.iter().any(|r| r.spec > 0 || r.status("replicas") > 0) {
                        0
                    } else {
                        replicas
                    }
                } else {
                    let max_total = replicas + surge;
                    if old_total >= max_total {
                        0
                    } else {
                        (max_total - old_total).min(replicas)
                    }
                };
                let rs = self.create_rs(&d, initial, max_old_revision + 1, surge)?;
                let rs_name = str_at(&rs, &["metadata", "name"]).to_string();
                if initial > 0 {
                    self.scaling_event(&d, &rs_name, 0, initial);
                }
                created = Some(rs_name);
                all.push(Rs {
                    spec: initial,
                    obj: rs,
                });
                Some(all.len() - 1)
            }
        };

        if !paused {
            let new_i = new_idx;
            if d["spec"]["strategy"]["type"] == "Recreate" {
                self.recreate(&d, &mut all, new_i, replicas)?;
            } else {
                self.rolling(&d, &mut all, new_i, replicas, surge, max_unavailable)?;
            }
            self.cleanup(&d, &all, new_i)?;
        }
        self.sync_status(
            &d,
            &all,
            new_idx,
            replicas,
            max_unavailable,
            created.as_deref(),
        )?;
        Ok(Action::Done)
    }
}

impl DeploymentController {
    fn scaling_event(&self, d: &Value, rs: &str, from: i64, to: i64) {
        let dir = if to > from { "up" } else { "down" };
        let msg = format!("Scaled {dir} replica set {rs} from {from} to {to}");
        self.events.record(
            &ObjectRef::to(d),
            SOURCE,
            "Normal",
            "ScalingReplicaSet",
            &msg,
        );
    }

    fn patch_rs(&self, rs: &Value, mut f: impl FnMut(&mut Value)) -> Result<Value, ApiError> {
        let (ns, name) = super::key_of(rs);
        let uid = str_at(rs, &["metadata", "uid"]).to_string();
        self.store.modify(
            &replicasets(),
            &ns,
            &name,
            None,
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("replicasets.apps", &name));
                }
                f(&mut cur);
                Ok(cur)
            },
        )
    }

    /// Sets a ReplicaSet's replicas (and the desired/max annotations), recording the event.
    fn scale(&self, d: &Value, rs: &mut Rs, to: i64, surge: i64) -> Result<(), ApiError> {
        let from = rs.spec;
        let replicas = int_or(&d["spec"]["replicas"], 1);
        let desired = replicas.to_string();
        let max = (replicas + surge).to_string();
        let unchanged_annotations = str_at(
            &rs.obj,
            &[
                "metadata",
                "annotations",
                "deployment.kubernetes.io/desired-replicas",
            ],
        ) == desired;
        if from == to && unchanged_annotations {
            return Ok(());
        }
        rs.obj = self.patch_rs(&rs.obj, |cur| {
            cur["spec"]["replicas"] = json!(to);
            cur["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                json!(desired);
            cur["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] = json!(max);
        })?;
        rs.spec = to;
        if from != to {
            self.scaling_event(d, rs.name(), from, to);
        }
        Ok(())
    }

    fn create_rs(
        &self,
        d: &Value,
        replicas: i64,
        revision: i64,
        surge: i64,
    ) -> Result<Value, ApiError> {
        let (ns, dname) = super::key_of(d);
        let mut collisions = int_or(&d["status"]["collisionCount"], 0);
        loop {
            let hash = pod_template_hash(&d["spec"]["template"], collisions);
            let mut template = d["spec"]["template"].clone();
            template["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"][HASH_LABEL] = json!(hash);
            let mut labels = template["metadata"]["labels"].clone();
            labels[HASH_LABEL] = json!(hash);
            let want = int_or(&d["spec"]["replicas"], 1);
            let mut spec =
                json!({"replicas": replicas, "selector": selector, "template": template});
            if let Some(m) = d["spec"]["minReadySeconds"].as_i64().filter(|m| *m > 0) {
                spec["minReadySeconds"] = json!(m);
            }
            let mut annotations = copied_annotations(d);
            annotations.insert(REVISION.into(), json!(revision.to_string()));
            annotations.insert(
                "deployment.kubernetes.io/desired-replicas".into(),
                json!(want.to_string()),
            );
            annotations.insert(
                "deployment.kubernetes.io/max-replicas".into(),
                json!((want + surge).to_string()),
            );
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{dname}-{hash}"),
                    "namespace": ns,
                    "labels": labels,
                    "annotations": annotations,
                    "ownerReferences": [controller_ref(d)],
                },
                "spec": spec,
            });
            match self
                .store
                .create(&replicasets(), &ns, rs, &WriteOptions::by(MANAGER))
            {
                Ok(rs) => return Ok(rs),
                Err(e) if e.code == 409 && e.reason == "AlreadyExists" && collisions < 10 => {
                    // A ReplicaSet of that name with another template (or owner): bump collisionCount.
                    collisions += 1;
                    let n = collisions;
                    self.store.modify(
                        &deployments(),
                        &ns,
                        &dname,
                        Some("status"),
                        &WriteOptions::by(MANAGER),
                        |mut cur| {
                            cur["status"]["collisionCount"] = json!(n);
                            Ok(cur)
                        },
                    )?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn recreate(
        &self,
        d: &Value,
        all: &mut [Rs],
        new_i: Option<usize>,
        replicas: i64,
    ) -> Result<(), ApiError> {
        let mut old_running = false;
        for (i, rs) in all.iter_mut().enumerate() {
            if Some(i) == new_i {
                continue;
            }
            if rs.spec > 0 {
                self.scale(d, rs, 0, 0)?;
            }
            if rs.status("replicas") > 0 {
                old_running = true;
            }
        }
        if old_running {
            return Ok(());
        }
        if let Some(i) = new_i {
            self.scale(d, &mut all[i], replicas, 0)?;
        }
        Ok(())
    }

    fn rolling(
        &self,
        d: &Value,
        all: &mut [Rs],
        new_i: Option<usize>,
        replicas: i64,
        surge: i64,
        max_unavailable: i64,
    ) -> Result<(), ApiError> {
        let Some(ni) = new_i else { return Ok(()) };
        // Scale the new ReplicaSet up within maxSurge (or down to replicas).
        let new_spec = all[ni].spec;
        if new_spec > replicas {
            self.scale(d, &mut all[ni], replicas, surge)?;
        } else if new_spec < replicas {
            let current: i64 = all.iter().map(|r| r.spec).sum();
            let room = replicas + surge - current;
            if room > 0 {
                let to = new_spec + room.min(replicas - new_spec);
                self.scale(d, &mut all[ni], to, surge)?;
            }
        } else {
            self.scale(d, &mut all[ni], replicas, surge)?;
        }
        // Scale old ReplicaSets down without going under replicas - maxUnavailable.
        let old_total: i64 = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != ni)
            .map(|(_, r)| r.spec)
            .sum();
        if old_total == 0 {
            return Ok(());
        }
        let all_total: i64 = all.iter().map(|r| r.spec).sum();
        let min_available = replicas - max_unavailable;
        let new_unavailable = all[ni].spec - all[ni].status("availableReplicas");
        let max_scaled_down = all_total - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(());
        }
        // First the old pods that are not available anyway...
        let mut cleaned = 0;
        for (i, rs) in all.iter_mut().enumerate() {
            if i == ni || cleaned >= max_scaled_down || rs.spec == 0 {
                continue;
            }
            let unhealthy = rs.spec - rs.status("availableReplicas");
            if unhealthy <= 0 {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(unhealthy);
            let to = rs.spec - down;
            self.scale(d, rs, to, surge)?;
            cleaned += down;
        }
        // ...then available ones, oldest first, while enough stay available.
        let available: i64 = all.iter().map(|r| r.status("availableReplicas")).sum();
        let total_down = available - min_available;
        let mut done = 0;
        for (i, rs) in all.iter_mut().enumerate() {
            if i == ni || done >= total_down || rs.spec == 0 {
                continue;
            }
            let down = rs.spec.min(total_down - done);
            let to = rs.spec - down;
            self.scale(d, rs, to, surge)?;
            done += down;
        }
        Ok(())
    }

    /// Deletes old, empty ReplicaSets beyond `revisionHistoryLimit`, lowest revision first.
    fn cleanup(&self, d: &Value, all: &[Rs], new_i: Option<usize>) -> Result<(), ApiError> {
        let limit = int_or(&d["spec"]["revisionHistoryLimit"], 10).max(0) as usize;
        let mut empty: Vec<&Rs> = all
            .iter()
            .enumerate()
            .filter(|(i, r)| Some(*i) != new_i && r.spec == 0 && r.status("replicas") == 0)
            .map(|(_, r)| r)
            .collect();
        if empty.len() <= limit {
            return Ok(());
        }
        empty.sort_by_key(|r| r.revision());
        let ns = str_at(d, &["metadata", "namespace"]);
        for rs in &empty[..empty.len() - limit] {
            match self
                .store
                .delete(&replicasets(), ns, rs.name(), &DeleteOptions::default())
            {
                Ok(_) | Err(ApiError { code: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn sync_status(
        &self,
        d: &Value,
        all: &[Rs],
        new_i: Option<usize>,
        replicas: i64,
        max_unavailable: i64,
        created: Option<&str>,
    ) -> Result<(), ApiError> {
        let sum = |k: &str| -> i64 { all.iter().map(|r| r.status(k)).sum() };
        let total = sum("replicas");
        let updated = new_i.map(|i| all[i].status("replicas")).unwrap_or(0);
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let generation = d["metadata"]["generation"].clone();
        let mut status = json!({
            "observedGeneration": generation,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": (replicas - available).max(0),
        });
        if let Some(c) = d["status"]["collisionCount"].as_i64() {
            status["collisionCount"] = json!(c);
        }
        let old = d["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ts = now();
        let condition = |type_: &str, ok: bool, reason: &str, message: String| -> Value {
            let status_s = if ok { "True" } else { "False" };
            match old.iter().find(|c| c["type"] == type_) {
                Some(c)
                    if c["status"] == status_s
                        && c["reason"] == reason
                        && c["message"] == message.as_str() =>
                {
                    c.clone()
                }
                Some(c) if c["status"] == status_s => json!({
                    "type": type_, "status": status_s, "reason": reason, "message": message,
                    "lastUpdateTime": ts, "lastTransitionTime": c["lastTransitionTime"],
                }),
                _ => json!({
                    "type": type_, "status": status_s, "reason": reason, "message": message,
                    "lastUpdateTime": ts, "lastTransitionTime": ts,
                }),
            }
        };
        let available_cond = if available >= replicas - max_unavailable {
            condition(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        };
        let new_name = new_i.map(|i| all[i].name().to_string());
        let complete = updated == replicas && total == replicas && available == replicas;
        let old_progressing = old.iter().find(|c| c["type"] == "Progressing");
        let progressing_cond = match (&new_name, created) {
            (_, Some(rs)) => Some(condition(
                "Progressing",
                true,
                "NewReplicaSetCreated",
                format!("Created new replica set \"{rs}\""),
            )),
            (Some(rs), None) if complete => Some(condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs}\" has successfully progressed."),
            )),
            (Some(rs), None) => {
                let progressed = [
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ]
                .iter()
                .any(|k| {
                    d["status"][*k] != status[*k] && !(d["status"][*k].is_null() && status[*k] == 0)
                });
                match old_progressing {
                    Some(c)
                        if !progressed
                            && c["reason"] != "NewReplicaSetAvailable"
                            && c["message"]
                                .as_str()
                                .is_some_and(|m| m.contains(rs.as_str())) =>
                    {
                        Some(c.clone())
                    }
                    None if !progressed => Some(condition(
                        "Progressing",
                        true,
                        "FoundNewReplicaSet",
                        format!("Found new replica set \"{rs}\""),
                    )),
                    _ => {
                        // Progress refreshes lastUpdateTime even when the message stays.
                        let mut c = condition(
                            "Progressing",
                            true,
                            "ReplicaSetUpdated",
                            format!("ReplicaSet \"{rs}\" is progressing."),
                        );
                        c["lastUpdateTime"] = json!(ts);
                        Some(c)
                    }
                }
            }
            (None, None) => old_progressing.cloned(),
        };
        let mut conditions = vec![available_cond];
        // A ReplicaSet's failure to create pods (a quota, say) is the Deployment's too.
        let failure = all.iter().find_map(|r| {
            r.obj["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
                .cloned()
        });
        if let Some(f) = failure {
            let msg = f["message"].as_str().unwrap_or_default().to_string();
            let reason = f["reason"].as_str().unwrap_or_default().to_string();
            let mut c = condition("ReplicaFailure", true, &reason, msg);
            // NB: kept as first written while reason and status stay (names differ per try).
            if let Some(o) = old
                .iter()
                .find(|c| c["type"] == "ReplicaFailure" && c["reason"] == reason.as_str())
            {
                c = o.clone();
            }
            conditions.push(c);
        }
        conditions.extend(progressing_cond);
        // Keep Available first and Progressing second, as the real controller writes them.
        status["conditions"] = json!(conditions);
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| {
                matches!(k.as_str(), "observedGeneration" | "replicas" | "conditions")
                    || v.as_i64() != Some(0)
            });
        }

        let (ns, name) = super::key_of(d);
        let uid = str_at(d, &["metadata", "uid"]).to_string();
        // The revision annotation lives in metadata: a main-resource update.
        if let Some(rev) = new_i.map(|i| all[i].revision().to_string()) {
            if str_at(d, &["metadata", "annotations", REVISION]) != rev {
                match self.store.modify(
                    &deployments(),
                    &ns,
                    &name,
                    None,
                    &WriteOptions::by(MANAGER),
                    |mut cur| {
                        if str_at(&cur, &["metadata", "uid"]) != uid {
                            return Err(ApiError::not_found("deployments.apps", &name));
                        }
                        cur["metadata"]["annotations"][REVISION] = json!(rev);
                        Ok(cur)
                    },
                ) {
                    Ok(_) | Err(ApiError { code: 404, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if d["status"] == status {
            return Ok(());
        }
        match self.store.modify(
            &deployments(),
            &ns,
            &name,
            Some("status"),
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid
                    || cur["metadata"]["generation"] != generation
                {
                    // Deleted, or changed since we read it: the watch brings us back.
                    return Err(ApiError::conflict("deployments.apps", &name));
                }
                cur["status"] = status.clone();
                Ok(cur)
            },
        ) {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(()),
            Err(e) if e.reason == "Conflict" => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_its_own_label_and_key_order() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        let b = json!({"spec": {"containers": [{"image": "nginx", "name": "web"}]}, "metadata": {"labels": {"pod-template-hash": "x", "app": "web"}}});
        assert_eq!(pod_template_hash(&a, 0), pod_template_hash(&b, 0));
        assert_ne!(pod_template_hash(&a, 0), pod_template_hash(&a, 1));
        assert!(pod_template_hash(&a, 0)
            .chars()
            .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn fenceposts_default_to_a_quarter() {
        let d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        assert_eq!(fenceposts(&d, 3), (1, 0));
        assert_eq!(fenceposts(&d, 4), (1, 1));
        let z = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!(fenceposts(&z, 3), (0, 1));
    }
}
