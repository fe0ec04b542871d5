//! The log collector: follows every running container's log through the Kubernetes API
//! (`GET pods/NAME/log?follow=true&timestamps=true`) into the log store, one task per
//! container instance, so nothing is lost and nothing is stored twice.
//!
//! * **What to follow** comes from the console's pod reflector (`Cache::pods`), re-read
//!   whenever the pods' change counter moves: each container whose state is `running`, keyed by
//!   `namespace/pod/container` and tagged with the pod's labels (so an app's pods can be
//!   selected together).
//! * **Resuming** (a broken stream, a restarted console) follows `logstore::resume`: ask from
//!   the stream's last stored timestamp *rounded down to the second* (`sinceTime` has
//!   one-second precision) and let a [`ResumeFilter`] drop what is already stored.
//! * **A restarted container** (a new instance of the same stream) first reads the previous
//!   instance's log (`previous=true`) through the same filter, so the lines it wrote after
//!   the collector last read are kept; then follows the new instance.
//! * **Stopping**: a task ends when its stream ends and its instance is no longer running;
//!   it is aborted when its pod disappears.
//! * **Durability**: the store is flushed about once a second. Lines lost by a crash before
//!   a flush are not lost for good: the next run resumes from what was flushed.
//!
//! Limits: a line the API sends without its trailing newline (the connection broke inside
//! it) is not stored; the resumed stream sends it again whole. A container that writes the
//! same timestamp out of order is handled as `logstore::resume` describes.

use futures::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use kube::runtime::reflector;
use kube::ResourceExt;
use logstore::{Labels, LogStream, ResumeFilter, Store, StreamHandle, StreamKey, Timestamp};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wharf_console::state::AppState;

/// How often buffered lines are written out.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Changes closer together than this are looked at once.
const SETTLE: Duration = Duration::from_millis(200);
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// One running container instance, as the pod reflector shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub key: StreamKey,
    pub labels: Labels,
    /// The runtime's container id (or the restart count when the runtime gives none).
    pub instance: String,
    pub restarts: i32,
    /// The instance has exited: its log is read to the end once, then left alone.
    pub finished: bool,
}

/// The container instances of a pod that have a log to read: running ones, and finished
/// ones (a Job's init containers often start and end between two looks at the pod).
pub fn targets(pod: &Pod) -> Vec<Target> {
    let (Some(ns), name) = (pod.namespace(), pod.name_any()) else {
        return Vec::new();
    };
    if pod.metadata.deletion_timestamp.is_some()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_none()
    {
        return Vec::new();
    }
    let labels: Labels = pod.labels().clone();
    pod.status
        .iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .filter(|cs| {
            cs.state
                .as_ref()
                .is_some_and(|st| st.running.is_some() || st.terminated.is_some())
        })
        .map(|cs| Target {
            key: StreamKey::new(ns.clone(), name.clone(), cs.name.clone()),
            labels: labels.clone(),
            instance: cs
                .container_id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("restart-{}", cs.restart_count)),
            restarts: cs.restart_count,
            finished: cs.state.as_ref().is_some_and(|st| st.terminated.is_some()),
        })
        .collect()
}

/// Starts the collector for the console's cluster and store; `main` supervises the handle.
pub fn spawn(state: &AppState) -> JoinHandle<()> {
    tokio::spawn(run(
        state.client.clone(),
        state.cache.pods.clone(),
        state.cache.changes.pods.clone(),
        state.logs.clone(),
    ))
}

/// The follow tasks; dropping it (the collector aborted) aborts them all.
#[derive(Default)]
struct Tasks(HashMap<StreamKey, (String, JoinHandle<()>)>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for (_, (_, handle)) in self.0.drain() {
            handle.abort();
        }
    }
}

/// Runs until the pod reflector goes away (then the console is shutting down anyway).
#[tracing::instrument(name = "log_collector", skip_all)]
pub async fn run(
    client: kube::Client,
    pods: reflector::Store<Pod>,
    mut changed: watch::Receiver<u64>,
    store: Store,
) {
    let mut tasks = Tasks::default();
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        reconcile(&client, &pods, &store, &mut tasks).await;
        tokio::select! {
            r = changed.changed() => {
                if r.is_err() {
                    tracing::info!("pod watcher gone; collector stops");
                    let _ = flush_store(&store).await;
                    return;
                }
                tokio::time::sleep(SETTLE).await;
                changed.borrow_and_update();
            }
            _ = flush.tick() => {
                if let Err(e) = flush_store(&store).await {
                    tracing::error!(error = %e, "flushing the log store");
                }
            }
        }
    }
}

async fn flush_store(store: &Store) -> anyhow::Result<()> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.flush()).await??;
    Ok(())
}

/// Starts a task for every running instance without one; aborts those whose pod is gone.
async fn reconcile(
    client: &kube::Client,
    pods: &reflector::Store<Pod>,
    store: &Store,
    tasks: &mut Tasks,
) {
    let state = pods.state();
    let wanted: HashMap<StreamKey, Target> = state
        .iter()
        .flat_map(|p| targets(p))
        .map(|t| (t.key.clone(), t))
        .collect();
    let live_pods: std::collections::HashSet<(String, String)> = state
        .iter()
        .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
        .collect();
    tasks.0.retain(|key, (instance, handle)| {
        // A task that read a finished instance to its end is kept (finished) as the record
        // that it was read; one that ended while its instance still runs is started again.
        let read_to_end = wanted
            .get(key)
            .is_some_and(|t| t.finished && &t.instance == instance);
        if handle.is_finished() && !read_to_end {
            return false;
        }
        if !live_pods.contains(&(key.namespace.clone(), key.pod.clone())) {
            tracing::debug!(stream = %key, "pod gone; stop following");
            handle.abort();
            return false;
        }
        true
    });
    for (key, target) in wanted {
        let previous = match tasks.0.remove(&key) {
            Some((instance, handle)) if instance == target.instance => {
                tasks.0.insert(key, (instance, handle));
                continue;
            }
            Some((_, handle)) => {
                // A new instance: the old task's reading is taken over by the new one
                // (previous=true), so stop it first and never let two append at once.
                handle.abort();
                Some(handle)
            }
            None => None,
        };
        let (client, pods, store, instance) = (
            client.clone(),
            pods.clone(),
            store.clone(),
            target.instance.clone(),
        );
        let handle = tokio::spawn(async move {
            if let Some(old) = previous {
                let _ = old.await;
            }
            follow_container(client, pods, store, target).await;
        });
        tasks.0.insert(key, (instance, handle));
    }
}

fn still_running(pods: &reflector::Store<Pod>, target: &Target) -> bool {
    pods.state()
        .iter()
        .filter(|p| {
            p.namespace().as_deref() == Some(target.key.namespace.as_str())
                && p.name_any() == target.key.pod
        })
        .flat_map(|p| targets(p))
        .any(|t| t.key == target.key && t.instance == target.instance && !t.finished)
}

/// `sinceTime` for a resume: the last stored time rounded *down* to the second.
pub fn since_time(last: Timestamp) -> k8s_openapi::jiff::Timestamp {
    let secs = last.0.div_euclid(1_000_000_000);
    k8s_openapi::jiff::Timestamp::from_second(secs)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

#[tracing::instrument(skip_all, fields(stream = %target.key, instance = %target.instance))]
async fn follow_container(
    client: kube::Client,
    pods: reflector::Store<Pod>,
    store: Store,
    target: Target,
) {
    let api: Api<Pod> = Api::namespaced(client, &target.key.namespace);
    let handle = match store.stream(&target.key, &target.labels) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the log stream");
            return;
        }
    };
    let mut retry = RETRY_MIN;
    let mut first = true;
    loop {
        let point = handle.resume_point();
        let mut filter = ResumeFilter::new(point);
        let params = |previous: bool, follow: bool| LogParams {
            container: Some(target.key.container.clone()),
            follow,
            previous,
            timestamps: true,
            since_time: point.map(|p| since_time(p.last)),
            ..LogParams::default()
        };
        if first && target.restarts > 0 && point.is_some() {
            // The previous instance may have written more after we last read it.
            if let Err(e) = pump(
                &api,
                &target.key.pod,
                &handle,
                &mut filter,
                &params(true, false),
            )
            .await
            {
                tracing::debug!(error = %e, "no previous instance log");
            }
        }
        first = false;
        match pump(
            &api,
            &target.key.pod,
            &handle,
            &mut filter,
            &params(false, true),
        )
        .await
        {
            Ok(0) => {}
            Ok(_) => retry = RETRY_MIN,
            Err(e) => tracing::debug!(error = %e, "log stream broke; resuming"),
        }
        if !still_running(&pods, &target) {
            tracing::debug!("container instance ended");
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// Reads one log request to its end, appending the lines the filter admits; returns how many.
async fn pump(
    api: &Api<Pod>,
    pod: &str,
    handle: &StreamHandle,
    filter: &mut ResumeFilter,
    params: &LogParams,
) -> anyhow::Result<u64> {
    let reader = api.log_stream(pod, params).await?;
    futures::pin_mut!(reader);
    let mut buf = Vec::with_capacity(1024);
    let mut appended = 0;
    let mut last = None;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).await? == 0 || buf.pop() != Some(b'\n') {
            return Ok(appended);
        }
        let (ts, text) = match split_timestamp(&buf) {
            Some((ts, text)) => (ts, text),
            // NB: with timestamps=true every line has one; if not, it shares the last one, so a
            // resumed read treats it the same way.
            None => match last {
                Some(ts) => (ts, &buf[..]),
                None => continue,
            },
        };
        last = Some(ts);
        if filter.admit(ts) {
            handle.append(ts, LogStream::Stdout, text)?;
            appended += 1;
        }
    }
}

/// `<RFC3339Nano> <text>` → the time and the text.
pub fn split_timestamp(line: &[u8]) -> Option<(Timestamp, &[u8])> {
    let space = line.iter().position(|&b| b == b' ');
    let (ts, text) = match space {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[][..]),
    };
    let ts = Timestamp::parse_rfc3339(std::str::from_utf8(ts).ok()?).ok()?;
    Some((ts, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_time_and_text() {
        let (ts, text) = split_timestamp(b"2024-05-01T10:02:00.123456789Z GET / 200 \xff").unwrap();
        assert_eq!(ts.to_string(), "2024-05-01T10:02:00.123456789Z");
        assert_eq!(text, b"GET / 200 \xff");
        assert_eq!(split_timestamp(b"2024-05-01T10:02:00Z").unwrap().1, b"");
        assert!(split_timestamp(b"no time here").is_none());
    }

    #[test]
    fn resume_asks_from_the_second_before() {
        let t = Timestamp::parse_rfc3339("2024-05-01T10:02:00.999999999Z").unwrap();
        assert_eq!(since_time(t).to_string(), "2024-05-01T10:02:00Z");
        let whole = Timestamp::parse_rfc3339("2024-05-01T10:02:00Z").unwrap();
        assert_eq!(since_time(whole).to_string(), "2024-05-01T10:02:00Z");
    }

    #[test]
    fn running_and_finished_containers_are_read_but_not_waiting_ones() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "build-1", "namespace": "alpha", "labels": {"app": "web"}},
            "status": {
                "initContainerStatuses": [
                    {"name": "clone", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "containerID": "sim://c1", "state": {"terminated": {"exitCode": 0}}}
                ],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 2, "image": "i", "imageID": "", "containerID": "sim://abc", "state": {"running": {}}},
                    {"name": "side", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ]
            }
        }))
        .unwrap();
        let t = targets(&pod);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].key, StreamKey::new("alpha", "build-1", "clone"));
        assert!(t[0].finished);
        assert_eq!(t[1].key, StreamKey::new("alpha", "build-1", "app"));
        assert_eq!(t[1].instance, "sim://abc");
        assert!(!t[1].finished);
        assert_eq!(t[1].labels.get("app").map(String::as_str), Some("web"));
    }
}
