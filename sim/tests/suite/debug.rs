//! The terminal's harder paths through kube-rs: exec of a program the image lacks fails
//! with runc's message in the status, and an ephemeral debug container added through
//! `pods/ephemeralcontainers` runs a shell that attach and exec reach.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, AttachParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(60);

use crate::support::spawn_with_node as spawn;

async fn running_app(client: &Client, name: &str, missing: &str) -> Api<Pod> {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {"sim.wharf.dev/missing-programs": missing}},
        "spec": {"containers": [{"name": "app", "image": "registry.local/team/app:1", "ports": [{"containerPort": 8080}]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    let running =
        |p: Option<&Pod>| p.and_then(|p| p.status.as_ref()?.phase.as_deref()) == Some("Running");
    tokio::time::timeout(WAIT, await_condition(pods.clone(), name, running))
        .await
        .expect("pod running")
        .unwrap();
    pods
}

/// Runs `command` without a tty and returns (stdout, the status on the error channel).
async fn exec(
    pods: &Api<Pod>,
    pod: &str,
    container: Option<&str>,
    command: &[&str],
) -> (
    String,
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Status,
) {
    let mut ap = AttachParams::default().stdout(true).stderr(true);
    if let Some(c) = container {
        ap = ap.container(c);
    }
    let mut proc = pods.exec(pod, command.to_vec(), &ap).await.unwrap();
    let mut out = String::new();
    proc.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = proc.take_status().unwrap().await.expect("a status");
    (out, status)
}

#[tokio::test]
async fn exec_of_a_missing_program_reports_runcs_message_in_the_status() {
    let (sim, client) = spawn().await;
    let pods = running_app(&client, "no-tar", "tar,bash").await;
    let (out, status) = exec(&pods, "no-tar", None, &["tar", "cf", "-", "/workspace"]).await;
    assert!(out.is_empty());
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("InternalError"));
    let msg = status.message.unwrap();
    assert!(
        msg.ends_with("OCI runtime exec failed: exec failed: unable to start container process: exec: \"tar\": executable file not found in $PATH: unknown"),
        "{msg}"
    );
    let (out, status) = exec(&pods, "no-tar", None, &["sh", "-c", "echo fine"]).await;
    assert_eq!(
        (out.as_str(), status.status.as_deref()),
        ("fine\n", Some("Success"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn ephemeral_container_patched_in_runs_a_shell_for_attach_and_exec() {
    let (sim, client) = spawn().await;
    let pods = running_app(&client, "shelless", "*").await;

    // What `kubectl debug -it shelless --image=busybox --target=app` sends.
    let patch = json!({"spec": {"ephemeralContainers": [{
        "name": "debugger", "image": "busybox:1.36", "stdin": true, "tty": true,
        "targetContainerName": "app", "terminationMessagePolicy": "File"
    }]}});
    pods.patch_ephemeral_containers(
        "shelless",
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
    .unwrap();
    let debugger_running = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()?.ephemeral_container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == "debugger"))
            .and_then(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
            .is_some()
    };
    tokio::time::timeout(
        WAIT,
        await_condition(pods.clone(), "shelless", debugger_running),
    )
    .await
    .expect("debugger running")
    .unwrap();

    let mut shell = pods
        .attach(
            "shelless",
            &AttachParams::interactive_tty().container("debugger"),
        )
        .await
        .unwrap();
    let mut keys = shell.stdin().unwrap();
    let mut screen = shell.stdout().unwrap();
    keys.write_all(b"echo $((6*7))\n").await.unwrap();
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 1024];
        while !seen.contains("42") {
            let n = screen.read(&mut buf).await.unwrap();
            assert!(n > 0, "the terminal closed early: {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no 42 on the terminal: {seen:?}"));

    let (out, status) = exec(
        &pods,
        "shelless",
        Some("debugger"),
        &["sh", "-c", "echo $((6*7))"],
    )
    .await;
    assert_eq!(
        (out.as_str(), status.status.as_deref()),
        ("42\n", Some("Success"))
    );

    keys.write_all(b"exit\n").await.unwrap();
    let debugger_done = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()?.ephemeral_container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == "debugger"))
            .and_then(|c| c.state.as_ref()?.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0)
    };
    let p = tokio::time::timeout(
        WAIT,
        await_condition(pods.clone(), "shelless", debugger_done),
    )
    .await
    .expect("debugger terminated")
    .unwrap()
    .unwrap();
    assert_eq!(
        p.status.unwrap().phase.as_deref(),
        Some("Running"),
        "the app runs on"
    );

    let events: Api<Event> = Api::default_namespaced(client.clone());
    let evs = events
        .list(&ListParams::default().fields("involvedObject.name=shelless"))
        .await
        .unwrap()
        .items;
    assert!(
        evs.iter().any(|e| e.reason.as_deref() == Some("Started")
            && e.involved_object.field_path.as_deref()
                == Some("spec.ephemeralContainers{debugger}")),
        "{evs:?}"
    );
    sim.shutdown().await;
}
