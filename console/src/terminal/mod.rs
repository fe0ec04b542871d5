//! The terminal's server side shared by the socket, the transfers (`server/src/terminal/`),
//! [`wharf_api::terminal::terminal_check`] and [`wharf_api::terminal::terminal_sessions`]: which container a request
//! means, the console's terminal options, and how an audit record is kept as a Kubernetes
//! Event.
//!
//! An audit Event is named `wharf-<kind>-<random>`, labelled `wharf.dev/audit=<kind>`, points
//! at the pod (`involvedObject`), and carries the record in `wharf.dev/…` annotations
//! (`user`, `tenant`, `container`, `detail`, `started`, `duration-ms`, `exit-code`,
//! `outcome`, `recording`, `recording-truncated`); its message repeats it as a sentence for
//! `kubectl get events`.

pub mod archive;
pub mod endpoints;

use crate::auth::{forbidden, TenantScope};
use crate::state::{AppState, Cache};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::reflector::ObjectRef;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wharf_api::error::AppError;
use wharf_api::terminal::{SessionRecord, TerminalTarget, AUDIT_LABEL};
use wharf_api::{text, Text};

/// The debug container's image unless the admin chooses another (`--debug-image`): curl,
/// dig, netcat, tcpdump, a shell and more.
pub const DEFAULT_DEBUG_IMAGE: &str = "nicolaka/netshoot:v0.13";

/// The largest recording of one session unless the admin chooses otherwise (`--recording-max-mb`).
pub const DEFAULT_RECORDING_MAX_MB: u64 = 64;

/// The console's terminal settings that server functions need too (the rest, timeouts and
/// the upload limit, live with the socket in `server/src/terminal`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalOptions {
    /// The tools image of debug containers for containers without a shell.
    pub debug_image: String,
    /// Where session recordings are written ([`recording_path`]); `None`: sessions are not recorded.
    pub recordings: Option<PathBuf>,
    /// Where finished recordings go when the console has a log bucket ([`archive`]).
    pub archive: Option<archive::Archive>,
    /// The largest recording of one session in bytes (a little more: the line saying it
    /// stopped); `None`: no limit.
    pub recording_max_bytes: Option<u64>,
    /// No input for this long closes a session.
    pub idle_timeout: std::time::Duration,
    /// The warning comes this long before the idle timeout.
    pub idle_warning: std::time::Duration,
    /// Pings on a quiet session's socket, under the 60 s after which many proxies cut it.
    pub ping_every: std::time::Duration,
    /// Largest upload in bytes; bigger ones get 413 before anything reaches the container.
    pub max_upload: u64,
    /// Why the cluster's containers run unconfined on its host, if they do (the demo
    /// cluster's node without its sandbox): then only platform admins get shells and
    /// file transfers, since a shell there is the host's user.
    pub unconfined: Option<String>,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        TerminalOptions {
            debug_image: DEFAULT_DEBUG_IMAGE.into(),
            recordings: None,
            archive: None,
            recording_max_bytes: Some(DEFAULT_RECORDING_MAX_MB * 1024 * 1024),
            idle_timeout: std::time::Duration::from_secs(DEFAULT_IDLE_SECS),
            idle_warning: std::time::Duration::from_secs(DEFAULT_IDLE_WARN_SECS),
            ping_every: std::time::Duration::from_secs(25),
            max_upload: DEFAULT_MAX_UPLOAD_MB * 1024 * 1024,
            unconfined: None,
        }
    }
}

/// A session without input for this long is closed.
pub const DEFAULT_IDLE_SECS: u64 = 1800;
/// The idle warning comes this long before.
pub const DEFAULT_IDLE_WARN_SECS: u64 = 60;
/// The largest upload.
pub const DEFAULT_MAX_UPLOAD_MB: u64 = 512;

/// The recording of session `id` in `namespace`: `<dir>/<namespace>/<id>.cast`.
pub fn recording_path(dir: &Path, namespace: &str, id: &str) -> PathBuf {
    dir.join(namespace).join(format!("{id}.cast"))
}

/// A session id as the audit trail makes them (`wharf-session-…`): nothing a path could abuse.
pub fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 253
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

/// How a session's recording ended, for its audit record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recorded {
    /// Not recorded (the console does not record, or the session printed nothing).
    #[default]
    No,
    /// The whole session.
    Whole,
    /// Up to the size limit (or a write error); the session went on unrecorded.
    Truncated,
}

/// [`wharf_api::terminal::terminal_check`]: the role first (viewers get no shell), then [`target`].
pub fn check(
    state: &AppState,
    scope: &TenantScope,
    ns: &str,
    pod: &str,
    container: Option<&str>,
) -> Result<TerminalTarget, AppError> {
    if scope.read_only() {
        return Err(forbidden(text!(
            "a read-only API token cannot open a shell (a shell can change the container)",
            "只读 API 令牌不能打开终端(终端可以修改容器)"
        )));
    }
    if !scope.role().can_change() {
        let (role, tenant) = (scope.role().words(), scope.tenant());
        return Err(forbidden(text!(
            "a {role} of '{tenant}' cannot open a shell (a shell can change the container); developers and admins can",
            "租户“{tenant}”的{role}不能打开终端(终端可以修改容器),开发者和管理员可以"
        )));
    }
    confined(state, scope)?;
    let t = target(&state.cache, scope, ns, pod, container)?;
    let options = &state.settings.terminal;
    Ok(TerminalTarget {
        namespace: t.namespace,
        pod: t.pod,
        container: t.container,
        debug_image: options.debug_image.clone(),
        recording: options.recordings.is_some(),
    })
}

/// Refuses a shell or a file transfer to anyone but a platform admin where containers run
/// unconfined on the host ([`TerminalOptions::unconfined`]).
pub fn confined(state: &AppState, scope: &TenantScope) -> Result<(), AppError> {
    match &state.settings.terminal.unconfined {
        Some(why) if !scope.platform_admin() => Err(forbidden(text!(
            "shells are turned off on this demo cluster: its containers would run as this machine's user ({why}); install bubblewrap (scripts/setup.sh) and restart the demo, or ask a platform admin",
            "此演示集群已关闭终端:它的容器会以本机用户身份运行({why});请安装 bubblewrap(scripts/setup.sh)后重启演示,或请平台管理员操作"
        ))),
        _ => Ok(()),
    }
}

/// A running container a terminal or transfer may reach, checked against the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// The pod from the cache and the container asked for (empty: the default container, as
/// kubectl picks it). 403 outside the tenant, 404 unknown pod, 400 unknown container,
/// 409 a pod that does not run.
pub fn target(
    cache: &Cache,
    scope: &TenantScope,
    ns: &str,
    pod: &str,
    container: Option<&str>,
) -> Result<Target, AppError> {
    let ns = scope.namespace(ns)?;
    if pod.is_empty() {
        return Err(AppError::Invalid(text!(
            "pod: a pod name is required",
            "Pod:必须填写 Pod 名称"
        )));
    }
    let found: Arc<Pod> = cache
        .pods
        .get(&ObjectRef::new(pod).within(ns))
        .ok_or_else(|| {
            AppError::NotFound(text!(
                "pod '{pod}' in namespace '{ns}'",
                "命名空间“{ns}”中的 Pod“{pod}”"
            ))
        })?;
    let spec = found.spec.as_ref();
    let names: Vec<String> = spec
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let default = found
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
        .filter(|c| names.contains(c))
        .cloned()
        .or_else(|| names.first().cloned());
    let container = match container.filter(|c| !c.is_empty()) {
        Some(c) if names.iter().any(|n| n == c) => c.to_string(),
        Some(c) => {
            let names = names.join(", ");
            return Err(AppError::Invalid(text!(
                "container '{c}' is not in pod '{pod}'; its containers: {names}",
                "容器“{c}”不在 Pod“{pod}”中;它的容器有:{names}"
            )));
        }
        None => default.ok_or_else(|| {
            AppError::Invalid(text!("pod '{pod}' has no containers", "Pod“{pod}”没有容器"))
        })?,
    };
    let phase = found
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if phase != "Running" {
        let phase = if phase.is_empty() {
            text!("not started", "未启动")
        } else {
            Text::verbatim(phase)
        };
        return Err(AppError::Conflict(text!(
            "pod '{pod}' is {phase}; a shell needs a running container",
            "Pod“{pod}”处于 {phase} 状态;终端需要运行中的容器"
        )));
    }
    Ok(Target {
        namespace: ns.to_string(),
        pod: pod.to_string(),
        container,
    })
}

const ANN: &str = "wharf.dev/";

/// The Event that records the start of something (`kind`: session, upload, download).
pub fn audit_event(
    kind: &str,
    scope: &TenantScope,
    target: &Target,
    detail: &str,
    started: DateTime<Utc>,
) -> Event {
    let suffix: String = (0..10)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    let annotations = BTreeMap::from([
        (format!("{ANN}user"), scope.user().to_string()),
        (format!("{ANN}tenant"), scope.tenant().to_string()),
        (format!("{ANN}container"), target.container.clone()),
        (format!("{ANN}detail"), detail.to_string()),
        (format!("{ANN}started"), started.to_rfc3339()),
    ]);
    let time = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(to_jiff(started));
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": format!("wharf-{kind}-{suffix}"),
            "namespace": target.namespace,
            "labels": {AUDIT_LABEL: kind},
            "annotations": annotations,
        },
        "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": target.namespace, "name": target.pod,
                           "fieldPath": format!("spec.containers{{{}}}", target.container)},
        "reason": format!("Terminal{}", capitalized(kind)),
        "message": format!("{} opened a {kind} in {}/{} ({}) through the console: {detail}", scope.user(), target.pod, target.container, scope.tenant()),
        "type": "Normal",
        "source": {"component": "wharf.dev/terminal"},
        "firstTimestamp": time,
        "lastTimestamp": time,
        "count": 1,
    }))
    .expect("a well-formed Event")
}

/// The annotations that close a record (`recorded`: whether and how the output was recorded).
pub fn audit_end(
    detail: Option<&str>,
    duration_secs: f64,
    exit_code: Option<i32>,
    outcome: &str,
    recorded: Recorded,
) -> serde_json::Value {
    let mut ann = serde_json::Map::new();
    if let Some(d) = detail {
        ann.insert(format!("{ANN}detail"), d.into());
    }
    if recorded != Recorded::No {
        ann.insert(format!("{ANN}recording"), "true".into());
    }
    if recorded == Recorded::Truncated {
        ann.insert(format!("{ANN}recording-truncated"), "true".into());
    }
    ann.insert(
        format!("{ANN}duration-ms"),
        ((duration_secs * 1000.0).round() as i64).to_string().into(),
    );
    if let Some(code) = exit_code {
        ann.insert(format!("{ANN}exit-code"), code.to_string().into());
    }
    ann.insert(format!("{ANN}outcome"), outcome.into());
    serde_json::json!({"metadata": {"annotations": ann}})
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn to_jiff(t: DateTime<Utc>) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_nanosecond(
        t.timestamp_nanos_opt().unwrap_or_default() as i128
    )
    .unwrap_or_default()
}

/// The record an audit Event holds.
pub fn record_of(e: &Event) -> Option<SessionRecord> {
    let labels = e.metadata.labels.as_ref()?;
    let kind = labels.get(AUDIT_LABEL)?.clone();
    let empty = BTreeMap::new();
    let ann = e.metadata.annotations.as_ref().unwrap_or(&empty);
    let get = |k: &str| ann.get(&format!("{ANN}{k}")).cloned().unwrap_or_default();
    Some(SessionRecord {
        id: e.metadata.name.clone().unwrap_or_default(),
        kind,
        user: get("user"),
        tenant: get("tenant"),
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        pod: e.involved_object.name.clone().unwrap_or_default(),
        container: get("container"),
        detail: get("detail"),
        started: DateTime::parse_from_rfc3339(&get("started"))
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        duration_secs: get("duration-ms")
            .parse::<i64>()
            .ok()
            .map(|ms| ms as f64 / 1000.0),
        exit_code: get("exit-code").parse().ok(),
        outcome: get("outcome"),
        recording: get("recording") == "true",
        recording_truncated: get("recording-truncated") == "true",
        recording_expired: false,
    })
}

/// Is the recording of this record gone (or out of this console's reach)? Only a file that
/// is certainly not there counts; one that cannot be looked at keeps its link, and the
/// download says what is wrong.
pub async fn recording_expired(options: &TerminalOptions, record: &SessionRecord) -> bool {
    let Some(dir) = options.recordings.as_deref() else {
        return true;
    };
    if !valid_session_id(&record.id) {
        return true;
    }
    let local = recording_path(dir, &record.namespace, &record.id);
    if tokio::fs::try_exists(&local).await.unwrap_or(false) {
        return false;
    }
    match &options.archive {
        Some(archive) => !archive.holds(&record.namespace, &record.id).await,
        None => true,
    }
}

/// The audit records in the tenant's namespaces, newest first; a recorded session whose
/// recording is gone (retention removed it) says so rather than offer a broken link.
pub async fn sessions(
    state: &AppState,
    scope: &TenantScope,
) -> Result<Vec<SessionRecord>, AppError> {
    let mut rows = Vec::new();
    for ns in scope.namespaces() {
        let api: Api<Event> = Api::namespaced(state.client.clone(), ns);
        let list = api.list(&ListParams::default().labels(AUDIT_LABEL)).await?;
        rows.extend(list.items.iter().filter_map(record_of));
    }
    for r in rows.iter_mut().filter(|r| r.recording) {
        r.recording_expired = recording_expired(&state.settings.terminal, r).await;
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.started));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher;

    fn cache_with(pods: Vec<serde_json::Value>) -> Cache {
        let (reader, mut writer) = store::<Pod>();
        for p in pods {
            writer.apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(p).unwrap()));
        }
        Cache::for_tests(reader)
    }

    fn pod(name: &str, phase: &str, containers: &[&str]) -> serde_json::Value {
        serde_json::json!({"metadata": {"name": name, "namespace": "alpha"},
            "spec": {"containers": containers.iter().map(|c| serde_json::json!({"name": c})).collect::<Vec<_>>()},
            "status": {"phase": phase}})
    }

    #[test]
    fn the_target_is_checked_against_tenant_pod_container_and_phase() {
        let cache = cache_with(vec![
            pod("web-1", "Running", &["app", "sidecar"]),
            pod("new-1", "Pending", &["app"]),
        ]);
        let scope = TenantScope::for_tests("alpha", &["alpha"]);
        let t = target(&cache, &scope, "alpha", "web-1", None).unwrap();
        assert_eq!(t.container, "app", "the first container by default");
        assert_eq!(
            target(&cache, &scope, "alpha", "web-1", Some("sidecar"))
                .unwrap()
                .container,
            "sidecar"
        );
        assert_eq!(
            target(&cache, &scope, "beta", "web-1", None)
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            target(&cache, &scope, "alpha", "nope", None)
                .unwrap_err()
                .status(),
            404
        );
        let wrong = target(&cache, &scope, "alpha", "web-1", Some("db")).unwrap_err();
        assert_eq!(wrong.status(), 400);
        assert!(wrong.to_string().contains("app, sidecar"), "{wrong}");
        assert_eq!(
            target(&cache, &scope, "alpha", "new-1", None)
                .unwrap_err()
                .status(),
            409
        );
    }

    #[test]
    fn an_audit_event_round_trips_into_a_record() {
        let scope = TenantScope::for_tests("alpha", &["alpha"]);
        let t = Target {
            namespace: "alpha".into(),
            pod: "web-1".into(),
            container: "app".into(),
        };
        let started = Utc::now();
        let mut e = audit_event("session", &scope, &t, "/bin/bash", started);
        let open = record_of(&e).unwrap();
        assert_eq!(
            (open.recording, open.recording_truncated, open.duration_secs),
            (false, false, None)
        );
        let end = audit_end(None, 1.5, Some(3), "exit", Recorded::Whole);
        for (k, v) in end["metadata"]["annotations"].as_object().unwrap() {
            e.metadata
                .annotations
                .as_mut()
                .unwrap()
                .insert(k.clone(), v.as_str().unwrap().to_string());
        }
        let r = record_of(&e).unwrap();
        assert_eq!(
            (
                r.kind.as_str(),
                r.user.as_str(),
                r.pod.as_str(),
                r.container.as_str()
            ),
            ("session", "test", "web-1", "app")
        );
        assert_eq!(
            (
                r.duration_secs,
                r.exit_code,
                r.outcome.as_str(),
                r.recording,
                r.recording_truncated
            ),
            (Some(1.5), Some(3), "exit", true, false)
        );
        assert!(r.id.starts_with("wharf-session-"), "{}", r.id);
        assert_eq!(
            r.started.map(|s| s.timestamp_millis()),
            Some(started.timestamp_millis())
        );
    }

    #[test]
    fn a_truncated_recording_is_in_the_record_and_no_recording_leaves_no_trace() {
        let annotations = |recorded| {
            audit_end(None, 1.0, None, "closed", recorded)["metadata"]["annotations"].clone()
        };
        let truncated = annotations(Recorded::Truncated);
        assert_eq!(
            (
                truncated["wharf.dev/recording"].as_str(),
                truncated["wharf.dev/recording-truncated"].as_str()
            ),
            (Some("true"), Some("true"))
        );
        let whole = annotations(Recorded::Whole);
        assert!(
            whole.get("wharf.dev/recording-truncated").is_none(),
            "{whole}"
        );
        let none = annotations(Recorded::No);
        assert!(
            none.get("wharf.dev/recording").is_none()
                && none.get("wharf.dev/recording-truncated").is_none(),
            "{none}"
        );
    }

    #[tokio::test]
    async fn a_recording_whose_file_is_gone_is_expired() {
        let dir = std::env::temp_dir().join(format!(
            "wharf-rec-list-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let record = |id: &str| {
            let scope = TenantScope::for_tests("alpha", &["alpha"]);
            let t = Target {
                namespace: "alpha".into(),
                pod: "web-1".into(),
                container: "app".into(),
            };
            let mut e = audit_event("session", &scope, &t, "/bin/sh", Utc::now());
            e.metadata.name = Some(id.into());
            record_of(&e).unwrap()
        };
        std::fs::create_dir_all(dir.join("alpha")).unwrap();
        std::fs::write(recording_path(&dir, "alpha", "wharf-session-kept"), "{}").unwrap();
        let with = TerminalOptions {
            recordings: Some(dir.clone()),
            ..TerminalOptions::default()
        };
        assert!(!recording_expired(&with, &record("wharf-session-kept")).await);
        assert!(recording_expired(&with, &record("wharf-session-gone")).await);
        assert!(
            recording_expired(&TerminalOptions::default(), &record("wharf-session-kept")).await,
            "a console without a recordings folder has none to offer"
        );
        assert!(recording_expired(&with, &record("..")).await);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ids_cannot_leave_the_folder() {
        assert!(valid_session_id("wharf-session-abcdefghij"));
        for bad in ["", "../x", "a/b", "A", "-x", "x.cast", ".."] {
            assert!(!valid_session_id(bad), "{bad}");
        }
    }
}
