//! Liveness, readiness and startup probes as the kubelet runs them: readiness follows an
//! HTTP or exec probe through its thresholds, a failing liveness probe kills and restarts
//! the container, a startup probe holds the others back; the app's `/status/<code>`.

use std::path::PathBuf;

use crate::common::*;
use serde_json::json;
use simnode::{KubeletEvent, NodeRuntime, PodEvent};
use tokio::sync::broadcast;

/// The kubelet events of one pod seen so far, read from the runtime's announcements.
struct Events {
    rx: broadcast::Receiver<PodEvent>,
    uid: String,
    seen: Vec<KubeletEvent>,
}

impl Events {
    fn of(rt: &NodeRuntime, uid: &str) -> Events {
        Events {
            rx: rt.subscribe(),
            uid: uid.into(),
            seen: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Ok(ev) = self.rx.try_recv() {
            if ev.uid == self.uid {
                self.seen.extend(ev.event);
            }
        }
    }

    /// How many events so far have this reason and a message containing `text`.
    fn count(&mut self, reason: &str, text: &str) -> usize {
        self.drain();
        self.seen
            .iter()
            .filter(|e| e.reason == reason && e.message.contains(text))
            .count()
    }

    /// Waits until `n` such events were seen; returns the last one.
    async fn wait(&mut self, n: usize, reason: &str, text: &str) -> KubeletEvent {
        wait_for(20, &format!("{n}× {reason} {text:?}"), || {
            let found = (self.count(reason, text) >= n).then(|| {
                self.seen
                    .iter()
                    .rfind(|e| e.reason == reason && e.message.contains(text))
                    .cloned()
                    .expect("counted")
            });
            async move { found }
        })
        .await
    }
}

/// The folder of container `c` of pod `pod` (namespace `demo`): an exec probe's working
/// directory.
fn container_dir(n: &Node, pod: &str, c: &str) -> PathBuf {
    n.dir.path().join(format!("demo_{pod}")).join(c)
}

#[tokio::test]
async fn readiness_follows_an_http_probe_with_the_kubelets_words() {
    let n = node();
    let mut events = Events::of(&n.rt, "uid-pr-1");
    let p = app_pod(
        "web-503",
        "uid-pr-1",
        json!({"name": "web", "image": "nginx",
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/status/503", "port": "http"},
                "periodSeconds": 1, "failureThreshold": 1}}),
    );
    n.rt.start_pod(&p, ip(30, 1)).await.unwrap();
    let ev = events.wait(2, "Unhealthy", "Readiness probe failed").await;
    assert_eq!(
        ev.message,
        "Readiness probe failed: HTTP probe failed with statuscode: 503"
    );
    assert_eq!(ev.type_, "Warning");
    assert_eq!(ev.field_path.as_deref(), Some("spec.containers{web}"));
    let s = n.rt.pod_state("uid-pr-1").unwrap();
    assert!(s.containers[0].state.is_running(), "running");
    assert!(!s.containers[0].ready && !s.ready(), "but not ready");
}

#[tokio::test]
async fn readiness_needs_its_thresholds_of_exec_results_in_a_row() {
    let n = node();
    let mut events = Events::of(&n.rt, "uid-pr-2");
    let p = app_pod(
        "flag",
        "uid-pr-2",
        json!({"name": "app", "image": "busybox",
            "readinessProbe": {"exec": {"command": ["sh", "-c", "cat ready"]},
                "periodSeconds": 1, "successThreshold": 2, "failureThreshold": 2}}),
    );
    n.rt.start_pod(&p, ip(30, 2)).await.unwrap();
    // The command's output is the message, as with the kubelet.
    let ev = events.wait(1, "Unhealthy", "Readiness probe failed").await;
    assert!(
        ev.message.contains("ready: No such file or directory"),
        "{}",
        ev.message
    );
    assert!(!n.rt.pod_state("uid-pr-2").unwrap().containers[0].ready);

    let flag = container_dir(&n, "flag", "app").join("ready");
    std::fs::write(&flag, "yes\n").unwrap();
    let failures = events.count("Unhealthy", "Readiness probe failed");
    wait_state(&n.rt, "uid-pr-2", "ready", |s| s.ready()).await;
    assert_eq!(
        events.count("Unhealthy", "Readiness probe failed"),
        failures,
        "no failure since the file is there"
    );

    // One failure is not enough to lose readiness; the second in a row is.
    std::fs::remove_file(&flag).unwrap();
    events
        .wait(failures + 1, "Unhealthy", "Readiness probe failed")
        .await;
    // NB: the state is read right after the first new failure's event, before the next
    // try a second later.
    assert!(
        n.rt.pod_state("uid-pr-2").unwrap().containers[0].ready,
        "still ready after one failure (failureThreshold 2)"
    );
    wait_state(&n.rt, "uid-pr-2", "unready again", |s| {
        !s.containers[0].ready
    })
    .await;
    assert!(events.count("Unhealthy", "Readiness probe failed") >= failures + 2);
}

#[tokio::test]
async fn a_failing_liveness_probe_kills_and_restarts_the_container() {
    let n = node();
    let mut events = Events::of(&n.rt, "uid-pr-3");
    let p = app_pod(
        "sick",
        "uid-pr-3",
        json!({"name": "app", "image": "busybox", "ports": [{"containerPort": 8080}],
            "livenessProbe": {"httpGet": {"path": "/status/500", "port": 8080},
                "periodSeconds": 1, "failureThreshold": 2}}),
    );
    n.rt.start_pod(&p, ip(30, 3)).await.unwrap();
    let killing = events.wait(1, "Killing", "liveness").await;
    assert_eq!(
        killing.message,
        "Container app failed liveness probe, will be restarted"
    );
    assert_eq!(killing.type_, "Normal");
    assert!(
        events.count(
            "Unhealthy",
            "Liveness probe failed: HTTP probe failed with statuscode: 500"
        ) >= 2,
        "failureThreshold failures before the kill"
    );
    let s = wait_state(&n.rt, "uid-pr-3", "restarted and running", |s| {
        s.containers[0].restart_count >= 1 && s.containers[0].state.is_running()
    })
    .await;
    let last = s.containers[0].last_state.as_ref().expect("lastState");
    assert_eq!((last.exit_code, last.reason.as_str()), (137, "Error"));
}

#[tokio::test]
async fn a_startup_probe_holds_liveness_and_readiness_back_until_it_succeeds() {
    let n = node();
    let mut events = Events::of(&n.rt, "uid-pr-4");
    let p = app_pod(
        "slow",
        "uid-pr-4",
        json!({"name": "app", "image": "busybox", "ports": [{"containerPort": 8080}],
            "startupProbe": {"exec": {"command": ["cat", "started"]},
                "periodSeconds": 1, "failureThreshold": 60},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
            "livenessProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 1}}),
    );
    n.rt.start_pod(&p, ip(30, 4)).await.unwrap();
    events.wait(3, "Unhealthy", "Startup probe failed").await;
    let s = n.rt.pod_state("uid-pr-4").unwrap();
    let c = &s.containers[0];
    assert!(c.state.is_running());
    assert!(!c.started && !c.ready, "neither started nor ready");
    assert_eq!(c.restart_count, 0);
    assert_eq!(
        events.count("Unhealthy", "Liveness"),
        0,
        "liveness waits for startup"
    );

    std::fs::write(container_dir(&n, "slow", "app").join("started"), "").unwrap();
    // Started; then the liveness probe (a port nobody listens on) kills it at once.
    let ev = events.wait(1, "Unhealthy", "Liveness probe failed").await;
    assert_eq!(
        ev.message,
        "Liveness probe failed: dial tcp 127.77.30.4:9: connect: connection refused"
    );
    events.wait(1, "Killing", "failed liveness probe").await;
    wait_state(&n.rt, "uid-pr-4", "restarted", |s| {
        s.containers[0].restart_count >= 1
    })
    .await;
}

#[tokio::test]
async fn a_startup_probe_that_keeps_failing_kills_the_container() {
    let n = node();
    let mut events = Events::of(&n.rt, "uid-pr-5");
    let p = app_pod(
        "never",
        "uid-pr-5",
        json!({"name": "app", "image": "busybox",
            "startupProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 2}}),
    );
    n.rt.start_pod(&p, ip(30, 5)).await.unwrap();
    let ev = events.wait(1, "Killing", "startup").await;
    assert_eq!(
        ev.message,
        "Container app failed startup probe, will be restarted"
    );
    assert!(events.count("Unhealthy", "Startup probe failed: dial tcp") >= 2);
}

#[tokio::test]
async fn without_a_readiness_probe_an_app_is_ready_as_it_runs() {
    let n = node();
    let p = app_pod(
        "plain",
        "uid-pr-6",
        json!({"name": "app", "image": "busybox", "ports": [{"containerPort": 8080}]}),
    );
    n.rt.start_pod(&p, ip(30, 6)).await.unwrap();
    let s = wait_running(&n.rt, "uid-pr-6").await;
    assert!(s.containers[0].ready && s.containers[0].started);
}

/// `GET path` on the app's port: the status code.
async fn status_of(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_app_answers_status_paths_with_their_code() {
    let n = node();
    let p = app_pod(
        "codes",
        "uid-pr-7",
        json!({"name": "app", "image": "busybox", "ports": [{"containerPort": 8080}]}),
    );
    n.rt.start_pod(&p, ip(30, 7)).await.unwrap();
    wait_running(&n.rt, "uid-pr-7").await;
    let addr = std::net::SocketAddr::from((ip(30, 7), 8080));
    for (path, code) in [
        ("/status/503", 503),
        ("/status/404", 404),
        ("/status/201?x=1", 201),
        ("/status/302", 302),
        ("/status/600", 400),
        ("/status/abc", 400),
        ("/healthz", 200),
        ("/anything/else", 200),
    ] {
        assert_eq!(status_of(addr, path).await, code, "{path}");
    }
}
