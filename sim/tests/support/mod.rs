//! Shared set-up for the integration tests: a sim on port 0, in memory, and a
//! kube-rs client built from its kubeconfig.

#![allow(dead_code)]

pub mod kubectl;

use std::future::Future;
use std::time::Duration;

pub async fn spawn() -> (sim::Sim, kube::Client) {
    let sim = sim::start(sim::SimConfig::default())
        .await
        .expect("sim starts");
    let client = sim::testing::client(&sim)
        .await
        .expect("client from kubeconfig");
    (sim, client)
}

/// [`spawn`] with a fast demo node, so pods run (logs, exec, Jobs, rollouts).
pub async fn spawn_with_node() -> (sim::Sim, kube::Client) {
    let sim = sim::start_with_node(sim::SimConfig::default(), sim::NodeConfig::fast(""))
        .await
        .expect("sim starts");
    let client = sim::testing::client(&sim)
        .await
        .expect("client from kubeconfig");
    (sim, client)
}

/// Polls `check` until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
