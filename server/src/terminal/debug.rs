//! Debug containers for containers without a shell, as `kubectl debug -it POD --image=IMAGE
//! --target=CONTAINER` makes them: an ephemeral container with `stdin` and `tty`, added
//! through the pod's `ephemeralcontainers` subresource, then attached to.
//!
//! Unlike kubectl, the console sets `stdinOnce`: when the terminal session ends its stdin
//! closes and its shell exits, so a debug shell lives exactly as long as its session (as an
//! exec'd shell does) instead of idling in the pod. Ephemeral containers cannot be removed
//! from a pod; a finished one stays listed in its status.
//!
//! Waiting for it to run reads the console's pod cache (fed by the watcher), not a poll.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
use kube::api::{Api, AttachParams, AttachedProcess, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use std::time::Duration;
use wharf_api::{text, Text};
use wharf_console::state::Cache;
use wharf_console::terminal::Target;

/// `debug-` and five random letters or digits (kubectl: `debugger-xxxxx`).
pub fn new_name() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect();
    format!("debug-{suffix}")
}

/// The `pods/ephemeralcontainers` patch adding debug container `name` aimed at the target's
/// container (strategic merge: appended to those the pod has).
pub fn patch(target: &Target, name: &str, image: &str) -> serde_json::Value {
    serde_json::json!({"spec": {"ephemeralContainers": [{
        "name": name,
        "image": image,
        "stdin": true,
        "stdinOnce": true,
        "tty": true,
        "targetContainerName": target.container,
        "terminationMessagePolicy": "File",
    }]}})
}

/// What a cluster without ephemeral containers gets instead of a debug shell.
pub fn unsupported() -> Text {
    text!(
        "This cluster does not offer debug containers: ephemeral containers are served from Kubernetes 1.23 on (from 1.16 to 1.22 only with the EphemeralContainers feature gate). Open a shell in the container instead, if it has one.",
        "该集群不支持调试容器:临时容器(ephemeral containers)从 Kubernetes 1.23 起提供(1.16 到 1.22 需开启 EphemeralContainers 特性开关)。如果容器里有 shell,请直接在容器中打开终端。"
    )
}

/// Adds the debug container to the pod. The error is the sentence for the user.
pub async fn add(pods: &Api<Pod>, target: &Target, name: &str, image: &str) -> Result<(), Text> {
    match pods
        .patch_ephemeral_containers(
            &target.pod,
            &PatchParams::default(),
            &Patch::Strategic(patch(target, name, image)),
        )
        .await
    {
        Ok(_) => Ok(()),
        // NB: a 404 naming no object is the subresource missing, not the pod: the server does
        // not serve ephemeral containers (before 1.23 they need a feature gate).
        Err(kube::Error::Api(s))
            if s.code == 404 && s.details.as_ref().is_none_or(|d| d.name.is_empty()) =>
        {
            Err(unsupported())
        }
        Err(kube::Error::Api(s)) => {
            let said = s.message;
            Err(text!(
                "The cluster refused the debug container: {said}",
                "集群拒绝了调试容器:{said}"
            ))
        }
        Err(e) => Err(text!(
            "The debug container could not be added: {e}",
            "无法添加调试容器:{e}"
        )),
    }
}

fn status_of<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .as_ref()?
        .ephemeral_container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
}

/// Where a debug container stands, as far as the session cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet; the reason (e.g. `ContainerCreating`) when the kubelet gave one.
    Waiting(Option<String>),
    Running,
    /// It will not run: the sentence says why.
    Failed(Text),
    Exited(i32),
}

/// Reasons a container waits with that mean it will not start without a change.
const STUCK: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

pub fn phase(pod: &Pod, name: &str) -> Phase {
    let Some(state) = status_of(pod, name).and_then(|s| s.state.as_ref()) else {
        return Phase::Waiting(None);
    };
    if state.running.is_some() {
        return Phase::Running;
    }
    if let Some(t) = &state.terminated {
        return Phase::Exited(t.exit_code);
    }
    let waiting = state.waiting.as_ref();
    let reason = waiting.and_then(|w| w.reason.clone());
    match reason.as_deref() {
        Some(r) if STUCK.contains(&r) => {
            let detail = waiting.and_then(|w| w.message.clone()).unwrap_or_default();
            let sep = if detail.is_empty() { "" } else { ": " };
            Phase::Failed(text!(
                "The debug container cannot start: {r}{sep}{detail}",
                "调试容器无法启动:{r}{sep}{detail}"
            ))
        }
        _ => Phase::Waiting(reason),
    }
}

/// Waits until the debug container runs, reporting each new waiting reason through
/// `progress`. Errors are sentences for the user.
pub async fn wait_running(
    cache: &Cache,
    target: &Target,
    name: &str,
    within: Duration,
    mut progress: impl FnMut(&str),
) -> Result<(), Text> {
    let mut changed = cache.changes.pods.clone();
    let key = ObjectRef::new(&target.pod).within(&target.namespace);
    let mut last_reason: Option<String> = None;
    let wait = async {
        loop {
            changed.borrow_and_update();
            let Some(pod) = cache.pods.get(&key) else {
                let pod = &target.pod;
                return Err(text!("pod '{pod}' is gone", "Pod“{pod}”已不存在"));
            };
            match phase(&pod, name) {
                Phase::Running => return Ok(()),
                Phase::Failed(why) => return Err(why),
                Phase::Exited(code) => {
                    return Err(text!(
                        "The debug container {name} exited (code {code}) before the terminal could attach.",
                        "调试容器 {name} 在终端连接之前就退出了(退出码 {code})。"
                    ))
                }
                Phase::Waiting(reason) => {
                    if reason.is_some() && reason != last_reason {
                        progress(reason.as_deref().unwrap_or_default());
                        last_reason = reason;
                    }
                }
            }
            if changed.changed().await.is_err() {
                return Err(text!(
                    "the console stopped watching the cluster",
                    "控制台已停止监视集群"
                ));
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .unwrap_or_else(|_| {
            let secs = within.as_secs();
            Err(match last_reason {
                Some(r) => text!(
                    "The debug container {name} did not start within {secs} s (last state: {r}).",
                    "调试容器 {name} 未能在 {secs} 秒内启动(最后状态:{r})。"
                ),
                None => text!(
                    "The debug container {name} did not start within {secs} s.",
                    "调试容器 {name} 未能在 {secs} 秒内启动。"
                ),
            })
        })
}

/// Attaches a terminal to the running debug container.
pub async fn attach(pods: &Api<Pod>, target: &Target, name: &str) -> Result<AttachedProcess, Text> {
    pods.attach(
        &target.pod,
        &AttachParams::interactive_tty().container(name),
    )
    .await
    .map_err(|e| {
        text!(
            "attaching to the debug container {name} failed: {e}",
            "连接调试容器 {name} 失败:{e}"
        )
    })
}

/// The exit status of the debug container's shell once the attach session ended: an attach
/// ends when the process does, but its status does not carry the exit code, so it is read
/// from the container's terminated state (waiting a little for the watcher to bring it).
/// Falls back to the attach's own status when the container still runs (the attach broke).
pub async fn exit_status(
    cache: &Cache,
    target: &Target,
    name: &str,
    attach_status: Option<Status>,
) -> Option<Status> {
    let mut changed = cache.changes.pods.clone();
    let key = ObjectRef::new(&target.pod).within(&target.namespace);
    let code = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            changed.borrow_and_update();
            if let Some(Phase::Exited(code)) = cache.pods.get(&key).map(|p| phase(&p, name)) {
                return Some(code);
            }
            if changed.changed().await.is_err() {
                return None;
            }
        }
    })
    .await
    .ok()
    .flatten();
    match code {
        Some(code) => Some(status_for(code)),
        None => attach_status,
    }
}

/// An exec-style status for an exit code (what [`super::bridge::exit_code`] reads).
pub fn status_for(code: i32) -> Status {
    if code == 0 {
        return Status {
            status: Some("Success".into()),
            ..Default::default()
        };
    }
    Status {
        status: Some("Failure".into()),
        reason: Some("NonZeroExitCode".into()),
        message: Some(format!(
            "command terminated with non-zero exit code: {code}"
        )),
        details: Some(StatusDetails {
            causes: Some(vec![StatusCause {
                reason: Some("ExitCode".into()),
                message: Some(code.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_with(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": {"ephemeralContainerStatuses": [status]}})).unwrap()
    }

    #[test]
    fn the_patch_is_what_kubectl_debug_sends_plus_stdin_once() {
        let t = Target {
            namespace: "alpha".into(),
            pod: "p".into(),
            container: "app".into(),
        };
        let p = patch(&t, "debug-ab12c", "nicolaka/netshoot:v0.13");
        let ec = &p["spec"]["ephemeralContainers"][0];
        assert_eq!(ec["targetContainerName"], "app");
        assert_eq!(
            (
                ec["stdin"].as_bool(),
                ec["tty"].as_bool(),
                ec["stdinOnce"].as_bool()
            ),
            (Some(true), Some(true), Some(true))
        );
        // and it is a valid EphemeralContainer
        let _: k8s_openapi::api::core::v1::EphemeralContainer =
            serde_json::from_value(ec.clone()).unwrap();
        let name = new_name();
        assert!(
            name.len() == 11
                && name.starts_with("debug-")
                && name[6..]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{name}"
        );
    }

    #[test]
    fn phases_come_from_the_ephemeral_container_status() {
        let waiting = |reason: &str, message: &str| {
            pod_with(
                serde_json::json!({"name": "d", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}}),
            )
        };
        assert_eq!(
            phase(&waiting("ContainerCreating", ""), "d"),
            Phase::Waiting(Some("ContainerCreating".into()))
        );
        assert_eq!(
            phase(&waiting("ContainerCreating", ""), "other"),
            Phase::Waiting(None)
        );
        let Phase::Failed(why) = phase(&waiting("ErrImagePull", "no such image"), "d") else {
            panic!()
        };
        assert!(why.en.contains("ErrImagePull: no such image"), "{why}");
        let running = pod_with(
            serde_json::json!({"name": "d", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}),
        );
        assert_eq!(phase(&running, "d"), Phase::Running);
        let done = pod_with(
            serde_json::json!({"name": "d", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}),
        );
        assert_eq!(phase(&done, "d"), Phase::Exited(3));
        assert_eq!(super::super::bridge::exit_code(&status_for(3)), Some(3));
        assert_eq!(super::super::bridge::exit_code(&status_for(0)), Some(0));
    }
}
