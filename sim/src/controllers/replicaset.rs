//! The ReplicaSet controller: keeps `spec.replicas` active pods that match the
//! selector and are controlled by the ReplicaSet, creating pods from the template
//! (`generateName: <rs>-`) or deleting the least valuable ones first (unscheduled,
//! pending, not ready, newest — kube-controller-manager's ranking), and reports
//! `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` and
//! `observedGeneration`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::events::{ObjectRef, Recorder, Source};
use super::{
    controlled_by, controller_of, int_or, label_selector, labels_of, pod, pod_from_template,
    str_at, Action, Key, Queue, Reconciler,
};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, EventType, ListParams, Store, WriteOptions};

/// Who this controller's writes are recorded for in `managedFields`, as the real one.
const MANAGER: &str = "kube-controller-manager";

/// Pods created or deleted per reconcile; the rest follow on the next pass.
const BURST: usize = 500;
const SOURCE: Source<'static> = Source::component("replicaset-controller");

pub struct ReplicaSetController {
    store: Store,
    events: Recorder,
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store, events: &Recorder) {
    let queue = Queue::new();
    let rs_res = ResourceId::new("apps", "replicasets");
    let q = queue.clone();
    super::spawn_watch(tasks, store, rs_res.clone(), move |ev| {
        if ev.kind != EventType::Deleted {
            q.add((ev.namespace.clone(), ev.name.clone()));
        }
    });
    let q = queue.clone();
    super::spawn_watch(tasks, store, ResourceId::core("pods"), move |ev| {
        if ev.meta.owners.is_empty() {
            return;
        }
        if let Some((kind, name)) = controller_of(&ev.object) {
            if kind == "ReplicaSet" {
                q.add((ev.namespace.clone(), name));
            }
        }
    });
    super::spawn_resync(tasks, store, rs_res, Duration::from_secs(10), queue.clone());
    let c = Arc::new(ReplicaSetController {
        store: store.clone(),
        events: events.clone(),
    });
    tasks.spawn(super::run_worker(c, queue));
}

/// Deletion preference, smallest first (`controller.ActivePodsWithRanks`).
fn deletion_rank(
    p: &Value,
) -> (
    u8,
    u8,
    u8,
    std::cmp::Reverse<String>,
    std::cmp::Reverse<i64>,
    std::cmp::Reverse<String>,
) {
    let assigned = u8::from(!str_at(p, &["spec", "nodeName"]).is_empty());
    let phase = match pod::phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let ready = u8::from(pod::ready(p));
    // Ready for a shorter time, more restarts, created later: deleted first.
    let ready_since = pod::ready_since(p)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let created = str_at(p, &["metadata", "creationTimestamp"]).to_string();
    (
        assigned,
        phase,
        ready,
        std::cmp::Reverse(ready_since),
        std::cmp::Reverse(pod::restarts(p)),
        std::cmp::Reverse(created),
    )
}

impl Reconciler for ReplicaSetController {
    const NAME: &'static str = "replicaset";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let rs_res = ResourceId::new("apps", "replicasets");
        let pods_res = ResourceId::core("pods");
        let rs = match self.store.get(&rs_res, ns, name) {
            Ok(rs) => rs,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        if rs["metadata"]["deletionTimestamp"].is_string() {
            return Ok(Action::Done);
        }
        let uid = str_at(&rs, &["metadata", "uid"]).to_string();
        let Some(selector) = label_selector(&rs["spec"]["selector"]) else {
            return Ok(Action::Done);
        };
        let want = int_or(&rs["spec"]["replicas"], 1).max(0) as usize;
        let min_ready = int_or(&rs["spec"]["minReadySeconds"], 0);
        let list = self.store.list(
            &pods_res,
            Some(ns),
            &ListParams {
                labels: selector,
                ..Default::default()
            },
        )?;
        let mut pods: Vec<Value> = list
            .values()
            .into_iter()
            .filter(|p| controlled_by(p, &uid) && pod::active(p))
            .collect();
        let rs_ref = ObjectRef::to(&rs);

        if pods.len() < want {
            let missing = (want - pods.len()).min(BURST);
            for _ in 0..missing {
                let new = pod_from_template(&rs, &rs["spec"]["template"]);
                match self
                    .store
                    .create(&pods_res, ns, new, &WriteOptions::by(MANAGER))
                {
                    Ok(p) => {
                        let msg = format!("Created pod: {}", str_at(&p, &["metadata", "name"]));
                        self.events
                            .record(&rs_ref, SOURCE, "Normal", "SuccessfulCreate", &msg);
                        pods.push(p);
                    }
                    Err(e) => {
                        let msg = format!("Error creating: {}", e.message);
                        self.events
                            .record(&rs_ref, SOURCE, "Warning", "FailedCreate", &msg);
                        self.write_status(&rs, &pods, min_ready, Some(&e.message))?;
                        return Err(e);
                    }
                }
            }
        } else if pods.len() > want {
            pods.sort_by_key(deletion_rank);
            let extra = (pods.len() - want).min(BURST);
            let victims: Vec<Value> = pods.drain(..extra).collect();
            for p in victims {
                let pname = str_at(&p, &["metadata", "name"]);
                match self
                    .store
                    .delete(&pods_res, ns, pname, &DeleteOptions::default())
                {
                    Ok(_) | Err(ApiError { code: 404, .. }) => {
                        self.events.record(
                            &rs_ref,
                            SOURCE,
                            "Normal",
                            "SuccessfulDelete",
                            &format!("Deleted pod: {pname}"),
                        );
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let requeue = self.write_status(&rs, &pods, min_ready, None)?;
        let more = pods.len() != want;
        Ok(match (more, requeue) {
            (true, _) => Action::RequeueAfter(Duration::from_millis(10)),
            (false, Some(d)) => Action::RequeueAfter(d),
            (false, None) => Action::Done,
        })
    }
}

impl ReplicaSetController {
    /// Writes the status if it changed; returns when a pod will become available.
    fn write_status(
        &self,
        rs: &Value,
        pods: &[Value],
        min_ready: i64,
        failure: Option<&str>,
    ) -> Result<Option<Duration>, ApiError> {
        let now = chrono::Utc::now();
        let template_labels = labels_of(&json!({"metadata": rs["spec"]["template"]["metadata"]}));
        let mut ready = 0;
        let mut available = 0;
        let mut fully_labeled = 0;
        let mut next: Option<Duration> = None;
        for p in pods {
            let labels = labels_of(p);
            if template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            {
                fully_labeled += 1;
            }
            if pod::ready(p) {
                ready += 1;
            }
            let (ok, wait) = pod::available(p, min_ready, now);
            if ok {
                available += 1;
            }
            if let Some(w) = wait {
                next = Some(next.map_or(w, |n| n.min(w)));
            }
        }
        let mut status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": fully_labeled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"]["generation"],
        });
        let old_conditions = rs["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut conditions: Vec<Value> = old_conditions
            .iter()
            .filter(|c| c["type"] != "ReplicaFailure")
            .cloned()
            .collect();
        if let Some(msg) = failure {
            // As the real controller: a failure already reported stays as first written.
            let kept = old_conditions
                .iter()
                .find(|c| c["type"] == "ReplicaFailure")
                .cloned();
            conditions.push(kept.unwrap_or_else(|| json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": msg, "lastTransitionTime": super::now()})));
        }
        if !conditions.is_empty() {
            status["conditions"] = json!(conditions);
        }
        // Kubernetes omits zero counts.
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| k == "replicas" || v.as_i64() != Some(0));
        }
        if rs["status"] == status {
            return Ok(next.map(|d| d + Duration::from_millis(20)));
        }
        let (ns, name) = super::key_of(rs);
        let rs_uid = str_at(rs, &["metadata", "uid"]).to_string();
        let res = ResourceId::new("apps", "replicasets");
        match self.store.modify(
            &res,
            &ns,
            &name,
            Some("status"),
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != rs_uid {
                    return Err(ApiError::not_found("replicasets.apps", &name));
                }
                cur["status"] = status.clone();
                Ok(cur)
            },
        ) {
            Ok(_) | Err(ApiError { code: 404, .. }) => {
                Ok(next.map(|d| d + Duration::from_millis(20)))
            }
            Err(e) => Err(e),
        }
    }
}
