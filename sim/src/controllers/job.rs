//! The Job controller: runs pods until `completions` of them succeed, `parallelism`
//! at a time, giving up after `backoffLimit` failures (pod failures with
//! `restartPolicy: Never`, container restarts with `OnFailure`) or
//! `activeDeadlineSeconds`; honours `suspend` and `ttlSecondsAfterFinished`; writes
//! `active`, `ready`, `succeeded`, `failed`, `startTime`, `completionTime` and the
//! conditions of Kubernetes 1.31+ (`SuccessCriteriaMet` then `Complete`,
//! `FailureTarget` then `Failed`).
//!
//! Succeeded and failed pods are counted from the pods that still exist (the real
//! controller tracks them with finalizers), so deleting finished pods of a running Job
//! lowers its counts. `completionMode: Indexed` runs like NonIndexed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::events::{ObjectRef, Recorder, Source};
use super::{
    controlled_by, controller_of, int_or, label_selector, now, parse_time, pod, pod_from_template,
    str_at, Action, Key, Queue, Reconciler,
};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, EventType, ListParams, Propagation, Store, WriteOptions};

/// Who this controller's writes are recorded for in `managedFields`, as the real one.
const MANAGER: &str = "kube-controller-manager";

const SOURCE: Source<'static> = Source::component("job-controller");
/// Back-off before replacing failed pods: 10 s, doubled per failure, capped at 6 min.
const BACKOFF_BASE: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(360);

pub struct JobController {
    store: Store,
    events: Recorder,
}

fn jobs() -> ResourceId {
    ResourceId::new("batch", "jobs")
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store, events: &Recorder) {
    let queue = Queue::new();
    let q = queue.clone();
    super::spawn_watch(tasks, store, jobs(), move |ev| {
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
            if kind == "Job" {
                q.add((ev.namespace.clone(), name));
            }
        }
    });
    super::spawn_resync(tasks, store, jobs(), Duration::from_secs(10), queue.clone());
    let c = Arc::new(JobController {
        store: store.clone(),
        events: events.clone(),
    });
    tasks.spawn(super::run_worker(c, queue));
}

fn condition_true(job: &Value, type_: &str) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == type_ && c["status"] == "True")
    })
}

fn finish_time(job: &Value) -> Option<chrono::DateTime<Utc>> {
    parse_time(&job["status"]["completionTime"]).or_else(|| {
        job["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Failed" && c["status"] == "True")
            .and_then(|c| parse_time(&c["lastTransitionTime"]))
    })
}

/// When a failed pod's last container finished.
fn failed_at(p: &Value) -> Option<chrono::DateTime<Utc>> {
    p["status"]["containerStatuses"]
        .as_array()?
        .iter()
        .filter_map(|c| parse_time(&c["state"]["terminated"]["finishedAt"]))
        .max()
}

fn set_condition(
    conditions: &mut Vec<Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) {
    let ts = now();
    match conditions.iter_mut().find(|c| c["type"] == type_) {
        Some(c) if c["status"] == status => {
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        Some(c) => *c = json!({"type": type_, "status": status, "reason": reason, "message": message, "lastProbeTime": ts, "lastTransitionTime": ts}),
        None => conditions.push(json!({"type": type_, "status": status, "reason": reason, "message": message, "lastProbeTime": ts, "lastTransitionTime": ts})),
    }
}

impl Reconciler for JobController {
    const NAME: &'static str = "job";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let job = match self.store.get(&jobs(), ns, name) {
            Ok(j) => j,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        if job["metadata"]["deletionTimestamp"].is_string() {
            return Ok(Action::Done);
        }
        let now_t = Utc::now();
        if condition_true(&job, "Complete") || condition_true(&job, "Failed") {
            return self.after_finish(&job, now_t);
        }
        let uid = str_at(&job, &["metadata", "uid"]).to_string();
        let job_ref = ObjectRef::to(&job);
        let pods_res = ResourceId::core("pods");
        let Some(selector) = label_selector(&job["spec"]["selector"]) else {
            return Ok(Action::Done);
        };
        let list = self.store.list(
            &pods_res,
            Some(ns),
            &ListParams {
                labels: selector,
                ..Default::default()
            },
        )?;
        let pods: Vec<Value> = list
            .values()
            .into_iter()
            .filter(|p| controlled_by(p, &uid))
            .collect();
        let mut active: Vec<&Value> = pods.iter().filter(|p| pod::active(p)).collect();
        let succeeded = pods.iter().filter(|p| pod::phase(p) == "Succeeded").count() as i64;
        let failed_pods: Vec<&Value> = pods.iter().filter(|p| pod::phase(p) == "Failed").collect();
        let failed = failed_pods.len() as i64;
        let spec = &job["spec"];
        let parallelism = int_or(&spec["parallelism"], 1).max(0);
        let completions = spec["completions"].as_i64();
        let backoff_limit = int_or(&spec["backoffLimit"], 6);
        let suspended = spec["suspend"].as_bool() == Some(true);
        let on_failure = spec["template"]["spec"]["restartPolicy"] == "OnFailure";

        let mut status = job["status"].clone();
        if !status.is_object() {
            status = json!({});
        }
        let mut conditions: Vec<Value> =
            status["conditions"].as_array().cloned().unwrap_or_default();
        let mut requeue = None;

        // Terminal decisions first.
        let restarts: i64 = active.iter().map(|p| pod::restarts(p)).sum();
        let over_backoff = if on_failure {
            backoff_limit == 0 && restarts > 0 || backoff_limit > 0 && restarts >= backoff_limit
        } else {
            failed > backoff_limit
        };
        let started = parse_time(&status["startTime"]);
        let deadline = spec["activeDeadlineSeconds"]
            .as_i64()
            .zip(started)
            .map(|(s, t)| t + chrono::Duration::seconds(s));
        let done = match completions {
            Some(c) => succeeded >= c,
            // Work queue style: done once one pod succeeded and none is left running.
            None => succeeded > 0 && active.is_empty(),
        };
        let failure = if over_backoff {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if deadline.is_some_and(|d| d <= now_t) && !suspended {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            None
        };

        if done || failure.is_some() {
            for p in active.drain(..) {
                self.delete_pod(&job_ref, p)?;
            }
            if done {
                let msg = "Reached expected number of succeeded pods";
                set_condition(
                    &mut conditions,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    msg,
                );
                set_condition(
                    &mut conditions,
                    "Complete",
                    "True",
                    "CompletionsReached",
                    msg,
                );
                status["completionTime"] = json!(now());
                self.events
                    .record(&job_ref, SOURCE, "Normal", "Completed", "Job completed");
            } else if let Some((reason, msg)) = failure {
                set_condition(&mut conditions, "FailureTarget", "True", reason, msg);
                set_condition(&mut conditions, "Failed", "True", reason, msg);
                self.events.record(&job_ref, SOURCE, "Warning", reason, msg);
            }
        } else if suspended {
            for p in active.drain(..) {
                self.delete_pod(&job_ref, p)?;
            }
            if !condition_true(&job, "Suspended") {
                set_condition(
                    &mut conditions,
                    "Suspended",
                    "True",
                    "JobSuspended",
                    "Job suspended",
                );
                self.events
                    .record(&job_ref, SOURCE, "Normal", "Suspended", "Job suspended");
            }
            if let Some(m) = status.as_object_mut() {
                m.remove("startTime");
            }
        } else {
            if condition_true(&job, "Suspended") {
                set_condition(
                    &mut conditions,
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                );
                self.events
                    .record(&job_ref, SOURCE, "Normal", "Resumed", "Job resumed");
            }
            if status["startTime"].is_null() {
                status["startTime"] = json!(now());
            }
            let remaining = completions
                .map(|c| (c - succeeded).max(0))
                .unwrap_or(if succeeded > 0 { 0 } else { parallelism });
            let want_active = parallelism.min(remaining);
            let missing = want_active - active.len() as i64;
            if missing > 0 {
                // Back off after failures before replacing pods.
                let wait = failed_pods
                    .iter()
                    .filter_map(|p| failed_at(p))
                    .max()
                    .and_then(|last| {
                        let factor = 1u32 << (failed.clamp(1, 16) - 1) as u32;
                        let backoff = BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX);
                        let at = last + chrono::Duration::from_std(backoff).unwrap_or_default();
                        (at > now_t).then(|| (at - now_t).to_std().unwrap_or_default())
                    });
                match wait {
                    Some(w) if failed > 0 => requeue = Some(w),
                    _ => {
                        for _ in 0..missing {
                            let new = pod_from_template(&job, &spec["template"]);
                            let p = self
                                .store
                                .create(&pods_res, ns, new, &WriteOptions::by(MANAGER))
                                .inspect_err(|e| {
                                    // NB: as the real pod control reports a refused pod
                                    // (quota, PodSecurity), then the create is retried.
                                    let msg = format!("Error creating: {}", e.message);
                                    self.events.record(
                                        &job_ref,
                                        SOURCE,
                                        "Warning",
                                        "FailedCreate",
                                        &msg,
                                    );
                                })?;
                            let msg = format!("Created pod: {}", str_at(&p, &["metadata", "name"]));
                            self.events.record(
                                &job_ref,
                                SOURCE,
                                "Normal",
                                "SuccessfulCreate",
                                &msg,
                            );
                        }
                    }
                }
            } else if missing < 0 {
                // Parallelism lowered: delete the newest extra pods.
                active.sort_by(|a, b| {
                    str_at(b, &["metadata", "creationTimestamp"])
                        .cmp(str_at(a, &["metadata", "creationTimestamp"]))
                });
                for p in active.drain(..(-missing) as usize) {
                    self.delete_pod(&job_ref, p)?;
                }
            }
            if let Some(d) = deadline {
                let left = (d - now_t).to_std().unwrap_or_default();
                requeue = Some(requeue.map_or(left, |r: Duration| r.min(left)));
            }
        }

        // Counts from the pods as they are now (new pods count as active).
        let list = self.store.list(
            &pods_res,
            Some(ns),
            &ListParams {
                labels: label_selector(&job["spec"]["selector"]).unwrap_or_default(),
                ..Default::default()
            },
        )?;
        let pods: Vec<Value> = list
            .values()
            .into_iter()
            .filter(|p| controlled_by(p, &uid))
            .collect();
        let finished = condition_true(&json!({"status": {"conditions": conditions}}), "Complete")
            || condition_true(&json!({"status": {"conditions": conditions}}), "Failed");
        let active_now: Vec<&Value> = pods.iter().filter(|p| pod::active(p)).collect();
        status["active"] = json!(if finished { 0 } else { active_now.len() });
        status["ready"] = json!(active_now.iter().filter(|p| pod::ready(p)).count());
        status["succeeded"] = json!(succeeded);
        status["failed"] = json!(failed);
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        if !conditions.is_empty() {
            status["conditions"] = json!(conditions);
        }
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| {
                matches!(
                    k.as_str(),
                    "ready" | "terminating" | "uncountedTerminatedPods"
                ) || v.as_i64() != Some(0)
            });
        }
        if job["status"] != status {
            self.store
                .modify(
                    &jobs(),
                    ns,
                    name,
                    Some("status"),
                    &WriteOptions::by(MANAGER),
                    |mut cur| {
                        if str_at(&cur, &["metadata", "uid"]) != uid {
                            return Err(ApiError::not_found("jobs.batch", name));
                        }
                        cur["status"] = status.clone();
                        Ok(cur)
                    },
                )
                .or_else(|e| {
                    if e.code == 404 {
                        Ok(Value::Null)
                    } else {
                        Err(e)
                    }
                })?;
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }
}

impl JobController {
    fn delete_pod(&self, job_ref: &ObjectRef, p: &Value) -> Result<(), ApiError> {
        let (ns, name) = super::key_of(p);
        match self.store.delete(
            &ResourceId::core("pods"),
            &ns,
            &name,
            &DeleteOptions::default(),
        ) {
            Ok(_) => {
                self.events.record(
                    job_ref,
                    SOURCE,
                    "Normal",
                    "SuccessfulDelete",
                    &format!("Deleted pod: {name}"),
                );
                Ok(())
            }
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A finished Job: delete it `ttlSecondsAfterFinished` after it finished, if set.
    fn after_finish(&self, job: &Value, now_t: chrono::DateTime<Utc>) -> Result<Action, ApiError> {
        let Some(ttl) = job["spec"]["ttlSecondsAfterFinished"].as_i64() else {
            return Ok(Action::Done);
        };
        let at = finish_time(job).unwrap_or(now_t) + chrono::Duration::seconds(ttl.max(0));
        if at > now_t {
            return Ok(Action::RequeueAfter(
                (at - now_t).to_std().unwrap_or_default(),
            ));
        }
        let (ns, name) = super::key_of(job);
        let opts = DeleteOptions {
            propagation: Some(Propagation::Background),
            ..Default::default()
        };
        match self.store.delete(&jobs(), &ns, &name, &opts) {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}
