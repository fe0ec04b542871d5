//! Job pods run their commands for real, init containers first and in order.

use crate::common::*;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use simnode::{LogOptions, PodPhase};

async fn log_of(rt: &simnode::NodeRuntime, pod: &str, container: &str) -> String {
    let opts = LogOptions {
        container: Some(container.into()),
        ..Default::default()
    };
    let chunks: Vec<Bytes> = rt.logs("demo", pod, &opts).unwrap().collect().await;
    String::from_utf8_lossy(&chunks.concat()).to_string()
}

#[tokio::test]
async fn job_container_runs_its_command_and_keeps_the_exit_code() {
    let n = node();
    let p = pod(json!({
        "metadata": {"name": "job-x", "namespace": "demo", "uid": "uid-job-1"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox",
            "command": ["sh", "-c"], "args": ["echo hi; echo \"host=$HOSTNAME greeting=$GREETING\"; pwd; exit 3"],
            "env": [{"name": "GREETING", "value": "hello"}]}]}
    }));
    n.rt.start_pod(&p, ip(3, 1)).await.unwrap();
    let s = wait_state(&n.rt, "uid-job-1", "job finished", |s| {
        s.containers[0].state.terminated().is_some()
    })
    .await;
    let t = s.containers[0].state.terminated().unwrap();
    assert_eq!(t.exit_code, 3);
    assert_eq!(t.reason, "Error");
    assert_eq!(s.phase(), PodPhase::Failed);
    let log = log_of(&n.rt, "job-x", "main").await;
    assert!(log.starts_with("hi\n"), "{log}");
    assert!(log.contains("host=job-x greeting=hello"), "{log}");
    assert!(
        log.contains("demo_job-x/main"),
        "runs in its scratch dir: {log}"
    );
}

#[tokio::test]
async fn init_containers_run_in_order_and_share_volumes() {
    let n = node();
    let step = |name: &str, script: &str| {
        json!({"name": name, "image": "alpine", "command": ["/bin/sh", "-c", script],
               "workingDir": "/workspace", "volumeMounts": [{"name": "ws", "mountPath": "/workspace"}]})
    };
    let p = pod(json!({
        "metadata": {"name": "build-1", "namespace": "demo", "uid": "uid-job-2"},
        "spec": {"restartPolicy": "Never",
            "volumes": [{"name": "ws", "emptyDir": {}}],
            "initContainers": [step("clone", "sleep 0.2; echo clone >> order.txt"), step("build", "echo build >> order.txt")],
            "containers": [step("image", "echo image >> order.txt; cat order.txt")]}
    }));
    n.rt.start_pod(&p, ip(3, 2)).await.unwrap();
    let s = wait_state(&n.rt, "uid-job-2", "pipeline done", |s| {
        s.phase() == PodPhase::Succeeded
    })
    .await;
    assert!(s.initialized());
    assert_eq!(
        log_of(&n.rt, "build-1", "image").await,
        "clone\nbuild\nimage\n"
    );
    assert_eq!(
        s.init_containers[0].state.terminated().unwrap().reason,
        "Completed"
    );
}

#[tokio::test]
async fn failed_init_container_fails_a_never_pod_and_blocks_the_rest() {
    let n = node();
    let p = pod(json!({
        "metadata": {"name": "build-2", "namespace": "demo", "uid": "uid-job-3"},
        "spec": {"restartPolicy": "Never",
            "initContainers": [{"name": "clone", "image": "alpine/git", "command": ["sh", "-c", "echo 'fatal: repository not found' >&2; exit 128"]}],
            "containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}
    }));
    n.rt.start_pod(&p, ip(3, 3)).await.unwrap();
    let s = wait_state(&n.rt, "uid-job-3", "failed", |s| {
        s.phase() == PodPhase::Failed
    })
    .await;
    assert_eq!(
        s.containers[0].state.waiting_reason(),
        Some("PodInitializing")
    );
    assert!(log_of(&n.rt, "build-2", "clone")
        .await
        .contains("repository not found"));
}

#[tokio::test]
async fn missing_program_is_a_start_error() {
    let n = node();
    let p = pod(json!({
        "metadata": {"name": "job-y", "namespace": "demo", "uid": "uid-job-4"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox", "command": ["definitely-not-here"]}]}
    }));
    n.rt.start_pod(&p, ip(3, 4)).await.unwrap();
    let s = wait_state(&n.rt, "uid-job-4", "terminated", |s| {
        s.containers[0].state.terminated().is_some()
    })
    .await;
    let t = s.containers[0].state.terminated().unwrap();
    assert_eq!((t.exit_code, t.reason.as_str()), (128, "StartError"));
    assert!(t
        .message
        .as_deref()
        .unwrap()
        .contains("executable file not found in $PATH"));
}

#[tokio::test]
async fn stopping_a_job_kills_its_processes() {
    let n = node();
    let marker = n.dir.path().join("still-running");
    let script = format!("sleep 1; touch {}", marker.display());
    let p = pod(json!({
        "metadata": {"name": "job-z", "namespace": "demo", "uid": "uid-job-5"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]}
    }));
    n.rt.start_pod(&p, ip(3, 5)).await.unwrap();
    wait_running(&n.rt, "uid-job-5").await;
    n.rt.stop_pod("uid-job-5").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "the whole process group was killed");
}

/// The APM switch's init containers, as Wharf writes them (`wharf_console::apm`): each copies
/// its agent out of the agent image's usual path into the shared volume, where the app
/// container finds it.
#[tokio::test]
async fn the_tracing_agents_are_copied_out_of_their_images() {
    let n = node();
    let copy = |name: &str, command: serde_json::Value| {
        json!({"name": name, "image": "agent-image", "command": command,
               "volumeMounts": [{"name": "wharf-apm", "mountPath": "/wharf-apm"}]})
    };
    let p = pod(json!({
        "metadata": {"name": "traced-1", "namespace": "demo", "uid": "uid-job-apm"},
        "spec": {"restartPolicy": "Never",
            "volumes": [{"name": "wharf-apm", "emptyDir": {}}],
            "initContainers": [
                copy("otel", json!(["cp", "/javaagent.jar", "/wharf-apm/javaagent.jar"])),
                copy("pinpoint", json!(["cp", "-R", "/pinpoint-agent/.", "/wharf-apm/pinpoint-agent"])),
                copy("skywalking", json!(["cp", "-R", "/skywalking/agent/.", "/wharf-apm/skywalking-agent"])),
            ],
            "containers": [{"name": "app", "image": "eclipse-temurin:17-jre",
                "command": ["sh", "-c", "cat /wharf-apm/javaagent.jar /wharf-apm/pinpoint-agent/pinpoint-bootstrap.jar /wharf-apm/skywalking-agent/skywalking-agent.jar"],
                "volumeMounts": [{"name": "wharf-apm", "mountPath": "/wharf-apm"}]}]}
    }));
    n.rt.start_pod(&p, ip(3, 9)).await.unwrap();
    let s = wait_state(&n.rt, "uid-job-apm", "the app ran", |s| {
        s.containers[0].state.terminated().is_some()
    })
    .await;
    let log = log_of(&n.rt, "traced-1", "app").await;
    assert_eq!(
        s.containers[0].state.terminated().unwrap().exit_code,
        0,
        "{log}"
    );
    for agent in ["OpenTelemetry", "Pinpoint", "SkyWalking"] {
        assert!(
            log.contains(&format!("stand-in for the {agent} Java agent")),
            "{log}"
        );
    }
}
