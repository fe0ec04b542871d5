//! The terminal's harder paths: programs an image lacks fail to exec as runc says, and an
//! ephemeral debug container runs an interactive shell that attach and exec reach.

use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::{EphemeralContainer, PodStatus};
use serde_json::json;
use simnode::exec::Protocol;
use simnode::{AttachRequest, ExecRequest, NodeRuntime};

fn exec_req(pod: &str, container: Option<&str>, command: &[&str]) -> ExecRequest {
    ExecRequest {
        namespace: "demo".into(),
        pod: pod.into(),
        container: container.map(String::from),
        command: command.iter().map(|s| s.to_string()).collect(),
        stdout: true,
        stderr: true,
        ..Default::default()
    }
}

async fn running_pod(
    n: &Node,
    name: &str,
    uid: &str,
    ip: std::net::Ipv4Addr,
    annotations: serde_json::Value,
    image: &str,
) {
    let p = pod(json!({
        "metadata": {"name": name, "namespace": "demo", "uid": uid, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": image}]}
    }));
    n.rt.start_pod(&p, ip).await.unwrap();
    wait_running(&n.rt, uid).await;
}

const RUNC_TAR: &str = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"tar\": executable file not found in $PATH: unknown";

#[tokio::test]
async fn exec_of_a_program_the_image_lacks_fails_like_runc() {
    let n = node();
    running_pod(
        &n,
        "no-tar",
        "uid-dbg-1",
        ip(22, 1),
        json!({"sim.wharf.dev/missing-programs": "tar,bash"}),
        "busybox",
    )
    .await;

    let out = exec_session(
        &n.rt,
        exec_req("no-tar", None, &["tar", "cf", "-", "."]),
        vec![],
    )
    .await;
    assert_eq!(out.status["status"], "Failure");
    assert_eq!(out.status["reason"], "InternalError");
    let msg = out.status["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \""),
        "{msg}"
    );
    assert!(msg.ends_with(RUNC_TAR), "{msg}");
    assert!(out.stdout.is_empty());

    // No fallback from bash to the host's sh for an image without bash.
    let out = exec_session(
        &n.rt,
        exec_req("no-tar", None, &["/bin/bash", "-c", "echo hi"]),
        vec![],
    )
    .await;
    assert!(
        out.status["message"]
            .as_str()
            .unwrap()
            .contains("exec: \"/bin/bash\": stat /bin/bash: no such file or directory"),
        "{}",
        out.status
    );
    let out = exec_session(
        &n.rt,
        exec_req("no-tar", None, &["sh", "-c", "echo still here"]),
        vec![],
    )
    .await;
    assert_eq!(
        (out.stdout.as_str(), &out.status["status"]),
        ("still here\n", &json!("Success"))
    );

    // A distroless image has nothing, not even sh.
    running_pod(
        &n,
        "distroless",
        "uid-dbg-2",
        ip(22, 2),
        json!({}),
        "gcr.io/distroless/static:nonroot",
    )
    .await;
    let out = exec_session(&n.rt, exec_req("distroless", None, &["sh"]), vec![]).await;
    assert!(
        out.status["message"]
            .as_str()
            .unwrap()
            .contains("exec: \"sh\": executable file not found in $PATH"),
        "{}",
        out.status
    );
}

fn debugger() -> EphemeralContainer {
    serde_json::from_value(json!({
        "name": "debugger", "image": "busybox:1.36", "stdin": true, "tty": true,
        "targetContainerName": "app"
    }))
    .unwrap()
}

/// Attaches to `container` with a tty, sends `input`, and reads stdout until `until` shows
/// up; returns what was read and the session (still open).
async fn attach_until(
    rt: &NodeRuntime,
    pod: &str,
    container: &str,
    input: &str,
    until: &str,
) -> (
    String,
    mpsc::UnboundedSender<Bytes>,
    mpsc::UnboundedReceiver<Bytes>,
    tokio::task::JoinHandle<()>,
) {
    let req = AttachRequest {
        namespace: "demo".into(),
        pod: pod.into(),
        container: Some(container.into()),
        stdin: true,
        stdout: true,
        tty: true,
        ..Default::default()
    };
    let (mut client_tx, server_rx) = mpsc::unbounded::<Bytes>();
    let (server_tx, mut client_rx) = mpsc::unbounded::<Bytes>();
    let rt = rt.clone();
    let session = tokio::spawn(async move {
        rt.attach_over(server_rx, server_tx, Protocol::V5, req)
            .await
    });
    client_tx
        .send(Bytes::from(stdin_frame(input)))
        .await
        .unwrap();
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(f) = client_rx.next().await {
            if f.len() > 1 && f[0] == 1 {
                seen.push_str(&String::from_utf8_lossy(&f[1..]));
                if seen.contains(until) {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "waiting for {until:?}, saw {seen:?}"
    );
    (seen, client_tx, client_rx, session)
}

#[tokio::test]
async fn ephemeral_container_runs_a_shell_that_attach_and_exec_reach() {
    let n = node();
    // The app's image has no program at all; the debug container's image has them.
    running_pod(
        &n,
        "shelless",
        "uid-dbg-3",
        ip(22, 3),
        json!({"sim.wharf.dev/missing-programs": "*"}),
        "nginx:1.27",
    )
    .await;
    let mut events = n.rt.subscribe();
    n.rt.start_ephemeral_containers("uid-dbg-3", &[debugger()]);
    n.rt.start_ephemeral_containers("uid-dbg-3", &[debugger()]); // idempotent

    let s = wait_state(&n.rt, "uid-dbg-3", "debugger running", |s| {
        s.ephemeral_containers
            .first()
            .is_some_and(|c| c.state.is_running())
    })
    .await;
    assert_eq!(s.ephemeral_containers.len(), 1);
    let mut status = PodStatus::default();
    s.apply_to(&mut status);
    let ecs = status
        .ephemeral_container_statuses
        .expect("ephemeralContainerStatuses");
    assert_eq!(ecs[0].name, "debugger");
    assert!(ecs[0]
        .state
        .as_ref()
        .unwrap()
        .running
        .as_ref()
        .unwrap()
        .started_at
        .is_some());
    assert!(!ecs[0].ready);
    assert_eq!(
        status.phase.as_deref(),
        Some("Running"),
        "the pod's phase is the app's"
    );

    let mut reasons = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let Some(k) = ev
            .event
            .filter(|k| k.field_path.as_deref() == Some("spec.ephemeralContainers{debugger}"))
        {
            reasons.push(k.reason);
        }
    }
    assert_eq!(reasons, ["Pulling", "Pulled", "Created", "Started"]);

    // `kubectl debug -it`: attach to the shell and use it.
    let (_, mut keys, _screen, session) =
        attach_until(&n.rt, "shelless", "debugger", "echo $((6*7))\n", "42").await;

    // exec into the debug container works, though the app's image has no sh.
    let out = exec_session(
        &n.rt,
        exec_req("shelless", Some("debugger"), &["sh", "-c", "echo $((6*7))"]),
        vec![],
    )
    .await;
    assert_eq!(out.stdout, "42\n");
    let out = exec_session(&n.rt, exec_req("shelless", Some("app"), &["sh"]), vec![]).await;
    assert_eq!(out.status["status"], "Failure");

    // Typing exit ends the shell, and the container with it; it is not restarted.
    keys.send(Bytes::from(stdin_frame("exit 0\n")))
        .await
        .unwrap();
    let s = wait_state(&n.rt, "uid-dbg-3", "debugger exited", |s| {
        s.ephemeral_containers[0].state.terminated().is_some()
    })
    .await;
    let t = s.ephemeral_containers[0].state.terminated().unwrap();
    assert_eq!((t.exit_code, t.reason.as_str()), (0, "Completed"));
    assert!(s.containers[0].state.is_running(), "the app keeps running");
    tokio::time::timeout(Duration::from_secs(10), session)
        .await
        .expect("attach ends with the shell")
        .unwrap();
    let log = container_log(&n.rt, "demo", "shelless", "debugger").await;
    assert!(
        log.contains("42"),
        "the terminal's output is the container's log: {log}"
    );
}

#[tokio::test]
async fn stdin_once_ends_the_shell_when_the_session_detaches() {
    let n = node();
    running_pod(
        &n,
        "dbg-once",
        "uid-dbg-4",
        ip(22, 4),
        json!({}),
        "nginx:1.27",
    )
    .await;
    let ec: EphemeralContainer = serde_json::from_value(json!({
        "name": "once", "image": "busybox", "stdin": true, "stdinOnce": true, "tty": true
    }))
    .unwrap();
    n.rt.start_ephemeral_containers("uid-dbg-4", &[ec]);
    wait_state(&n.rt, "uid-dbg-4", "running", |s| {
        s.ephemeral_containers
            .first()
            .is_some_and(|c| c.state.is_running())
    })
    .await;
    let (_, keys, screen, session) = attach_until(
        &n.rt,
        "dbg-once",
        "once",
        "echo first-$((1+1))\n",
        "first-2",
    )
    .await;
    drop((keys, screen));
    session.await.unwrap();
    let s = wait_state(&n.rt, "uid-dbg-4", "shell ended by the detach", |s| {
        s.ephemeral_containers[0].state.terminated().is_some()
    })
    .await;
    assert_eq!(s.ephemeral_containers[0].restart_count, 0);
}

/// What the server does for a debug terminal: attach the moment the status says the debug
/// container runs. The shell must already be there to take the keys (not a read-only view
/// of the container's log that drops them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_at_the_moment_the_debug_container_runs_reaches_its_shell() {
    let n = node();
    running_pod(
        &n,
        "attach-early",
        "uid-dbg-4",
        ip(22, 4),
        json!({"sim.wharf.dev/missing-programs": "*"}),
        "gcr.io/distroless/java17",
    )
    .await;
    let mut events = n.rt.subscribe();
    n.rt.start_ephemeral_containers("uid-dbg-4", &[debugger()]);
    let runs = |rt: &NodeRuntime| {
        rt.pod_state("uid-dbg-4").is_some_and(|s| {
            s.ephemeral_containers
                .first()
                .is_some_and(|c| c.state.is_running())
        })
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        while !runs(&n.rt) {
            events.recv().await.expect("pod events");
        }
    })
    .await
    .expect("the debug container runs within 20 s");
    attach_until(&n.rt, "attach-early", "debugger", "echo $((6*7))\n", "42").await;
}
