//! Helpers shared by the integration tests: a runtime in a temp dir, pods from JSON, and
//! waiting for a condition with a deadline.

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use simnode::{NodeConfig, NodeRuntime, PodRuntimeState};

pub struct Node {
    pub rt: NodeRuntime,
    pub dir: tempfile::TempDir,
}

pub fn node() -> Node {
    node_with(|_| {})
}

pub fn node_with(f: impl FnOnce(&mut NodeConfig)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NodeConfig::fast(dir.path());
    f(&mut cfg);
    Node {
        rt: NodeRuntime::new(cfg),
        dir,
    }
}

pub fn pod(json: serde_json::Value) -> Pod {
    serde_json::from_value(json).unwrap()
}

/// A pod with one simulated app container.
pub fn app_pod(name: &str, uid: &str, container: serde_json::Value) -> Pod {
    pod(serde_json::json!({
        "metadata": {"name": name, "namespace": "demo", "uid": uid},
        "spec": {"containers": [container]}
    }))
}

/// Polls `check` until it returns `Some`, or panics after `secs` seconds (`wharf_testkit`).
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wharf_testkit::eventually(Duration::from_secs(secs), what, check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until the pod's state satisfies `pred`, returning that state.
pub async fn wait_state(
    rt: &NodeRuntime,
    uid: &str,
    what: &str,
    pred: impl Fn(&PodRuntimeState) -> bool,
) -> PodRuntimeState {
    wait_for(20, what, || {
        let s = rt.pod_state(uid).filter(|s| pred(s));
        async move { s }
    })
    .await
}

/// Waits until the pod's first container runs.
pub async fn wait_running(rt: &NodeRuntime, uid: &str) -> PodRuntimeState {
    wait_state(rt, uid, "container running", |s| {
        s.containers[0].state.is_running()
    })
    .await
}

pub fn ip(a: u8, b: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 77, a, b)
}

/// What a client saw of an exec or attach session.
#[derive(Debug, Default)]
pub struct Session {
    pub stdout: String,
    pub stderr: String,
    pub status: serde_json::Value,
}

/// Runs an exec session over the v5 protocol, sending `frames`, and collects the rest.
pub async fn exec_session(
    rt: &NodeRuntime,
    req: simnode::ExecRequest,
    frames: Vec<Vec<u8>>,
) -> Session {
    use futures::{SinkExt, StreamExt};
    let (mut client_tx, server_rx) = futures::channel::mpsc::unbounded::<bytes::Bytes>();
    let (server_tx, mut client_rx) = futures::channel::mpsc::unbounded::<bytes::Bytes>();
    for f in frames {
        client_tx.send(bytes::Bytes::from(f)).await.unwrap();
    }
    let session = rt.exec_over(server_rx, server_tx, simnode::exec::Protocol::V5, req);
    let collect = async {
        let mut out = Session::default();
        while let Some(frame) = client_rx.next().await {
            match frame.first() {
                Some(1) => out.stdout.push_str(&String::from_utf8_lossy(&frame[1..])),
                Some(2) => out.stderr.push_str(&String::from_utf8_lossy(&frame[1..])),
                Some(3) if frame.len() > 1 => {
                    out.status = serde_json::from_slice(&frame[1..]).unwrap()
                }
                _ => {}
            }
        }
        out
    };
    let (_, out) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(session, collect)
    })
    .await
    .expect("exec session ended");
    drop(client_tx);
    out
}

/// A stdin frame.
pub fn stdin_frame(s: &str) -> Vec<u8> {
    [&[0u8][..], s.as_bytes()].concat()
}

/// The whole current log of a container.
pub async fn container_log(
    rt: &NodeRuntime,
    namespace: &str,
    pod: &str,
    container: &str,
) -> String {
    use futures::StreamExt;
    let opts = simnode::LogOptions {
        container: Some(container.into()),
        ..Default::default()
    };
    let chunks: Vec<bytes::Bytes> = rt.logs(namespace, pod, &opts).unwrap().collect().await;
    String::from_utf8_lossy(&chunks.concat()).to_string()
}
