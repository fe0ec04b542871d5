//! Containers' states: creating, running, ready, crash loops, image pulls, restart policies.

use crate::common::*;
use bytes::Bytes;
use futures::StreamExt;
use k8s_openapi::api::core::v1::PodStatus;
use serde_json::json;
use simnode::{LogOptions, PodPhase};

async fn log_text(rt: &simnode::NodeRuntime, pod: &str, opts: LogOptions) -> String {
    let chunks: Vec<Bytes> = rt.logs("demo", pod, &opts).unwrap().collect().await;
    String::from_utf8_lossy(&chunks.concat()).to_string()
}

#[tokio::test]
async fn creating_then_running_then_ready_after_the_probe_delay() {
    let n = node_with(|c| {
        c.start_delay_min = std::time::Duration::from_millis(300);
        c.start_delay_max = std::time::Duration::from_millis(300);
    });
    let p = app_pod(
        "api",
        "uid-life-1",
        json!({"name": "api", "image": "eclipse-temurin:21", "readinessProbe": {"initialDelaySeconds": 1}}),
    );
    let mut events = n.rt.subscribe();
    n.rt.start_pod(&p, ip(2, 1)).await.unwrap();
    let s = n.rt.pod_state("uid-life-1").unwrap();
    assert_eq!(
        s.containers[0].state.waiting_reason(),
        Some("ContainerCreating")
    );
    assert_eq!(s.phase(), PodPhase::Pending);
    let s = wait_running(&n.rt, "uid-life-1").await;
    assert!(
        !s.containers[0].ready,
        "not ready before initialDelaySeconds"
    );
    assert_eq!(s.phase(), PodPhase::Running);
    let s = wait_state(&n.rt, "uid-life-1", "ready", |s| s.ready()).await;
    let mut status = PodStatus::default();
    s.apply_to(&mut status);
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let cs = &status.container_statuses.unwrap()[0];
    assert!(
        cs.ready
            && cs
                .container_id
                .as_deref()
                .unwrap()
                .starts_with("containerd://")
    );
    assert!(cs.image_id.contains("@sha256:"));

    // Kubelet-style events were announced along the way.
    let mut reasons = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let Some(k) = e.event {
            reasons.push(k.reason);
        }
    }
    for r in ["Pulling", "Pulled", "Created", "Started"] {
        assert!(reasons.contains(&r), "{r} in {reasons:?}");
    }
}

#[tokio::test]
async fn crash_after_goes_into_crash_loop_back_off_with_restart_count() {
    let n = node();
    let p = app_pod(
        "crashy",
        "uid-life-2",
        json!({"name": "app", "image": "spring-shop:1",
        "env": [{"name": "WHARF_SIM_CRASH_AFTER", "value": "0.2"}]}),
    );
    n.rt.start_pod(&p, ip(2, 2)).await.unwrap();
    let s = wait_state(&n.rt, "uid-life-2", "crash loop back-off", |s| {
        s.containers[0].state.waiting_reason() == Some("CrashLoopBackOff")
            && s.containers[0].restart_count >= 1
    })
    .await;
    let c = &s.containers[0];
    let last = c.last_state.as_ref().unwrap();
    assert_eq!(last.exit_code, 1);
    assert_eq!(last.reason, "Error");
    assert_eq!(
        s.phase(),
        PodPhase::Running,
        "a restarting pod stays Running"
    );
    let msg = match &c.state {
        simnode::ContainerState::Waiting { message, .. } => message.clone().unwrap(),
        _ => unreachable!(),
    };
    assert!(
        msg.starts_with("back-off ")
            && msg.contains("restarting failed container=app pod=crashy_demo(uid-life-2)"),
        "{msg}"
    );

    // The previous instance's log ends with the crash; the pod keeps restarting.
    let prev = log_text(
        &n.rt,
        "crashy",
        LogOptions {
            previous: true,
            ..Default::default()
        },
    )
    .await;
    assert!(
        prev.contains("Application run failed") && prev.contains("OutOfMemoryError"),
        "{prev}"
    );
    wait_state(&n.rt, "uid-life-2", "second restart", |s| {
        s.containers[0].restart_count >= 2
    })
    .await;
}

#[tokio::test]
async fn bad_images_wait_in_err_image_pull_and_image_pull_back_off() {
    let n = node();
    let p = app_pod(
        "broken",
        "uid-life-3",
        json!({"name": "app", "image": "shop:bad"}),
    );
    n.rt.start_pod(&p, ip(2, 3)).await.unwrap();
    let s = wait_state(&n.rt, "uid-life-3", "ErrImagePull", |s| {
        s.containers[0].state.waiting_reason() == Some("ErrImagePull")
    })
    .await;
    assert_eq!(s.phase(), PodPhase::Pending);
    wait_state(&n.rt, "uid-life-3", "ImagePullBackOff", |s| {
        s.containers[0].state.waiting_reason() == Some("ImagePullBackOff")
    })
    .await;
    let err =
        n.rt.logs("demo", "broken", &LogOptions::default())
            .err()
            .unwrap();
    assert_eq!(err.status_code(), 400);
    assert!(err.to_string().contains("is waiting to start"), "{err}");
}

#[tokio::test]
async fn restart_policy_never_leaves_a_failed_pod() {
    let n = node();
    let p = pod(json!({
        "metadata": {"name": "once", "namespace": "demo", "uid": "uid-life-4"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "env": [{"name": "WHARF_SIM_EXIT", "value": "2"}]}]}
    }));
    n.rt.start_pod(&p, ip(2, 4)).await.unwrap();
    let s = wait_state(&n.rt, "uid-life-4", "failed", |s| {
        s.phase() == PodPhase::Failed
    })
    .await;
    let t = s.containers[0].state.terminated().unwrap();
    assert_eq!(t.exit_code, 2);
    assert_eq!(s.containers[0].restart_count, 0);
}

#[tokio::test]
async fn restart_policy_on_failure_restarts_until_success_is_impossible() {
    let n = node();
    let p = pod(json!({
        "metadata": {"name": "retry", "namespace": "demo", "uid": "uid-life-5"},
        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo attempt; exit 4"]}]}
    }));
    n.rt.start_pod(&p, ip(2, 5)).await.unwrap();
    let s = wait_state(&n.rt, "uid-life-5", "restarted", |s| {
        s.containers[0].restart_count >= 1
    })
    .await;
    assert_eq!(s.phase(), PodPhase::Running);
    assert_eq!(s.containers[0].last_state.as_ref().unwrap().exit_code, 4);
}

#[tokio::test]
async fn multi_container_pods_need_a_container_name() {
    let n = node();
    let p = pod(json!({
        "metadata": {"name": "two", "namespace": "demo", "uid": "uid-life-6"},
        "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]}
    }));
    n.rt.start_pod(&p, ip(2, 6)).await.unwrap();
    // Idempotent per uid.
    n.rt.start_pod(&p, ip(2, 6)).await.unwrap();
    let err =
        n.rt.logs("demo", "two", &LogOptions::default())
            .err()
            .unwrap();
    assert_eq!(
        err.to_string(),
        "a container name must be specified for pod two, choose one of: [a b]"
    );
    let err =
        n.rt.logs("demo", "nope", &LogOptions::default())
            .err()
            .unwrap();
    assert_eq!(err.status_code(), 404);
    wait_state(&n.rt, "uid-life-6", "both ready", |s| s.ready()).await;
    let err =
        n.rt.logs(
            "demo",
            "two",
            &LogOptions {
                container: Some("a".into()),
                previous: true,
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("previous terminated container \"a\""),
        "{err}"
    );
}
