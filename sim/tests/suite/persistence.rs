//! State under a data dir survives a restart (same CA and token too), and a
//! torn WAL tail — a write cut short by `kill -9` — is dropped on open.

use std::io::Write;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

fn config(dir: &std::path::Path) -> sim::SimConfig {
    sim::SimConfig {
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": name}})).unwrap()
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim::start(config(dir.path())).await.unwrap();
    let client = sim::testing::client(&sim).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("kept"))
        .await
        .unwrap();
    let rv = sim.store().resource_version();
    let kubeconfig = sim.kubeconfig_yaml();
    let ca_line = |k: &str| {
        k.lines()
            .find(|l| l.contains("certificate-authority-data"))
            .map(String::from)
    };
    sim.shutdown().await;

    let sim = sim::start(config(dir.path())).await.unwrap();
    assert_eq!(
        ca_line(&sim.kubeconfig_yaml()),
        ca_line(&kubeconfig),
        "same CA after restart"
    );
    assert!(sim.store().resource_version() >= rv);
    let client = sim::testing::client(&sim).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    assert_eq!(api.get("kept").await.unwrap().data.unwrap()["k"], "kept");
    // Not seeded twice.
    api.create(&PostParams::default(), &cm("after"))
        .await
        .unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn crash_without_snapshot_replays_wal_and_drops_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim::start(config(dir.path())).await.unwrap();
    let client = sim::testing::client(&sim).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("before-crash"))
        .await
        .unwrap();
    // Simulate kill -9: no shutdown (no snapshot), then a half-written frame at the end.
    drop(sim);
    let mut wal = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("wal.log"))
        .unwrap();
    wal.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"'])
        .unwrap();
    drop(wal);

    let sim = sim::start(config(dir.path())).await.unwrap();
    let client = sim::testing::client(&sim).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    assert!(api.get("before-crash").await.is_ok());
    api.create(&PostParams::default(), &cm("after-crash"))
        .await
        .unwrap();
    sim.shutdown().await;

    let sim = sim::start(config(dir.path())).await.unwrap();
    let store = sim.store();
    for name in ["before-crash", "after-crash"] {
        store
            .get(&sim::ResourceId::core("configmaps"), "default", name)
            .unwrap();
    }
    sim.shutdown().await;
}
