//! ConfigMap and Secret volumes as files the node writes (items, modes), seen by exec and
//! by an interactive shell at their mount paths, updated when the object changes (but not
//! through a `subPath` mount); a missing ConfigMap or a claim not bound holds the pod with
//! `FailedMount`; the kubelet's volume stats of mounted claims.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::common::*;
use serde_json::json;
use simnode::{ExecRequest, NodeRuntime, ObjectSource};

/// ConfigMaps, Secrets and one claim a test can change while pods run.
#[derive(Default)]
struct Objects {
    config_maps: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    secrets: Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
    claim: Mutex<Option<(String, PathBuf, u64)>>,
}

impl Objects {
    fn set_config_map(&self, name: &str, data: &[(&str, &str)]) {
        let data = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.config_maps.lock().unwrap().insert(name.into(), data);
    }
}

impl ObjectSource for Objects {
    fn secret(&self, _: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        self.secrets.lock().unwrap().get(name).cloned()
    }
    fn config_map(&self, _: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.config_maps.lock().unwrap().get(name).cloned()
    }
    fn claim_folder(&self, _: &str, name: &str) -> Option<PathBuf> {
        let claim = self.claim.lock().unwrap();
        claim
            .as_ref()
            .filter(|(n, _, _)| n == name)
            .map(|(_, f, _)| f.clone())
    }
    fn claim_capacity(&self, _: &str, name: &str) -> Option<u64> {
        let claim = self.claim.lock().unwrap();
        claim
            .as_ref()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, c)| *c)
    }
}

/// A node whose object source is `objects`.
fn node_with_objects(objects: &Arc<Objects>) -> Node {
    let n = node();
    n.rt.set_object_source(objects.clone());
    n
}

/// A pod of namespace `demo` mounting ConfigMap `app` (two items, one with its own mode),
/// Secret `creds`, and `app.properties` alone through a `subPath`.
fn config_pod(name: &str, uid: &str) -> k8s_openapi::api::core::v1::Pod {
    pod(json!({
        "metadata": {"name": name, "namespace": "demo", "uid": uid},
        "spec": {"containers": [{"name": "app", "image": "busybox",
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/config"},
                {"name": "sec", "mountPath": "/var/run/secrets/app", "readOnly": true},
                {"name": "cfg", "mountPath": "/opt/app/app.properties", "subPath": "app.properties"}]}],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "app", "defaultMode": 0o640, "items": [
                    {"key": "app.properties", "path": "app.properties"},
                    {"key": "log.level", "path": "conf/level", "mode": 0o600}]}},
                {"name": "sec", "secret": {"secretName": "creds"}}]}
    }))
}

/// The output of `command` run in pod `pod`'s container, with or without a terminal
/// (with one, `script` is typed into it).
async fn exec_out(rt: &NodeRuntime, pod: &str, command: &[&str], script: Option<&str>) -> String {
    let tty = script.is_some();
    let req = ExecRequest {
        namespace: "demo".into(),
        pod: pod.into(),
        container: None,
        command: command.iter().map(|s| s.to_string()).collect(),
        stdin: tty,
        stdout: true,
        stderr: !tty,
        tty,
    };
    let frames = script.map(|s| vec![stdin_frame(s)]).unwrap_or_default();
    let out = exec_session(rt, req, frames).await;
    format!("{}{}", out.stdout, out.stderr)
}

fn volume_dir(n: &Node, pod: &str, volume: &str) -> PathBuf {
    n.dir
        .path()
        .join(format!("demo_{pod}"))
        .join("volume-files")
        .join(volume)
}

#[tokio::test]
async fn config_map_and_secret_files_are_written_with_their_items_and_modes() {
    let objects = Arc::new(Objects::default());
    objects.set_config_map(
        "app",
        &[
            ("app.properties", "greeting=hello\n"),
            ("log.level", "debug"),
        ],
    );
    objects.secrets.lock().unwrap().insert(
        "creds".into(),
        BTreeMap::from([("token".into(), b"s3cr\xffet".to_vec())]),
    );
    let n = node_with_objects(&objects);
    n.rt.start_pod(&config_pod("cfg-1", "uid-vol-1"), ip(31, 1))
        .await
        .unwrap();
    wait_running(&n.rt, "uid-vol-1").await;

    let cfg = volume_dir(&n, "cfg-1", "cfg");
    assert_eq!(
        std::fs::read_to_string(cfg.join("app.properties")).unwrap(),
        "greeting=hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(cfg.join("conf/level")).unwrap(),
        "debug"
    );
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(cfg.join("app.properties")), 0o640, "defaultMode");
    assert_eq!(mode(cfg.join("conf/level")), 0o600, "the item's mode");
    assert!(!cfg.join("log.level").exists(), "only the items");
    let sec = volume_dir(&n, "cfg-1", "sec");
    assert_eq!(std::fs::read(sec.join("token")).unwrap(), b"s3cr\xffet");
    assert_eq!(mode(sec.join("token")), 0o644, "the kubelet's default mode");

    // What `kubectl exec … cat /etc/config/app.properties` prints.
    let out = exec_out(&n.rt, "cfg-1", &["cat", "/etc/config/app.properties"], None).await;
    assert_eq!(out, "greeting=hello\n");
    // And a shell in the terminal, where typed paths are not rewritten.
    let out = exec_out(
        &n.rt,
        "cfg-1",
        &["sh"],
        Some("cat /etc/config/conf/level /opt/app/app.properties; echo; echo x > /etc/config/new || echo refused\nexit\n"),
    )
    .await;
    assert!(out.contains("debuggreeting=hello"), "{out}");
    assert!(out.contains("refused"), "read-only: {out}");
    assert!(!cfg.join("new").exists());
}

#[tokio::test]
async fn edits_reach_the_files_but_not_a_sub_path_mount() {
    let objects = Arc::new(Objects::default());
    objects.set_config_map("app", &[("app.properties", "v=1\n"), ("log.level", "info")]);
    objects
        .secrets
        .lock()
        .unwrap()
        .insert("creds".into(), BTreeMap::new());
    let n = node_with_objects(&objects);
    n.rt.start_pod(&config_pod("cfg-2", "uid-vol-2"), ip(31, 2))
        .await
        .unwrap();
    wait_running(&n.rt, "uid-vol-2").await;
    let out = exec_out(&n.rt, "cfg-2", &["cat", "/opt/app/app.properties"], None).await;
    assert_eq!(out, "v=1\n");

    objects.set_config_map("app", &[("app.properties", "v=2\n"), ("log.level", "info")]);
    wait_for(20, "the new content in the container", || {
        let rt = n.rt.clone();
        async move {
            let out = exec_out(&rt, "cfg-2", &["cat", "/etc/config/app.properties"], None).await;
            (out == "v=2\n").then_some(())
        }
    })
    .await;
    let out = exec_out(&n.rt, "cfg-2", &["cat", "/opt/app/app.properties"], None).await;
    assert_eq!(out, "v=1\n", "a subPath mount is never updated");
}

#[tokio::test]
async fn a_missing_config_map_holds_the_pod_with_failed_mount_until_it_exists() {
    let objects = Arc::new(Objects::default());
    objects
        .secrets
        .lock()
        .unwrap()
        .insert("creds".into(), BTreeMap::new());
    let n = node_with_objects(&objects);
    let mut events = n.rt.subscribe();
    n.rt.start_pod(&config_pod("cfg-3", "uid-vol-3"), ip(31, 3))
        .await
        .unwrap();
    let ev = wait_for(20, "a FailedMount event", || {
        let mut found = None;
        while let Ok(ev) = events.try_recv() {
            found = found.or(ev.event.filter(|k| k.reason == "FailedMount"));
        }
        async move { found }
    })
    .await;
    assert_eq!(
        ev.message,
        "MountVolume.SetUp failed for volume \"cfg\" : configmap \"app\" not found"
    );
    assert_eq!((ev.type_, ev.field_path), ("Warning", None));
    let s = n.rt.pod_state("uid-vol-3").unwrap();
    assert_eq!(
        s.containers[0].state.waiting_reason(),
        Some("ContainerCreating")
    );

    objects.set_config_map(
        "app",
        &[("app.properties", "late=yes\n"), ("log.level", "info")],
    );
    wait_running(&n.rt, "uid-vol-3").await;
    let out = exec_out(&n.rt, "cfg-3", &["cat", "/etc/config/app.properties"], None).await;
    assert_eq!(out, "late=yes\n");
}

#[tokio::test]
async fn a_claim_not_bound_holds_the_pod_with_failed_mount_until_it_is() {
    let objects = Arc::new(Objects::default());
    let n = node_with_objects(&objects);
    let mut events = n.rt.subscribe();
    let p = pod(json!({
        "metadata": {"name": "db-1", "namespace": "demo", "uid": "uid-vol-5"},
        "spec": {"containers": [{"name": "db", "image": "postgres",
            "volumeMounts": [{"name": "d", "mountPath": "/var/lib/data"}]}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}
    }));
    n.rt.start_pod(&p, ip(31, 5)).await.unwrap();
    // Twice: the node tries again, and holds the pod meanwhile.
    let mut seen = Vec::new();
    wait_for(20, "two FailedMount events", || {
        while let Ok(ev) = events.try_recv() {
            seen.extend(ev.event.filter(|k| k.reason == "FailedMount"));
        }
        let done = seen.len() >= 2;
        async move { done.then_some(()) }
    })
    .await;
    assert_eq!(
        seen[0].message,
        "Unable to attach or mount volumes: unmounted volumes=[d], unattached volumes=[d]: error processing PVC demo/data: PVC is not bound"
    );
    assert_eq!(
        (seen[0].type_, seen[0].field_path.as_deref()),
        ("Warning", None)
    );
    let s = n.rt.pod_state("uid-vol-5").unwrap();
    let c = &s.containers[0];
    assert_eq!(c.state.waiting_reason(), Some("ContainerCreating"));
    assert_eq!((c.restart_count, c.last_state.is_none()), (0, true));

    let folder = tempfile::tempdir().unwrap();
    *objects.claim.lock().unwrap() = Some(("data".into(), folder.path().to_path_buf(), 1 << 20));
    let s = wait_running(&n.rt, "uid-vol-5").await;
    assert_eq!(s.containers[0].restart_count, 0);
}

#[tokio::test]
async fn mounted_claims_export_the_kubelets_volume_stats() {
    let objects = Arc::new(Objects::default());
    let folder = tempfile::tempdir().unwrap();
    *objects.claim.lock().unwrap() = Some(("data".into(), folder.path().to_path_buf(), 1 << 20));
    let n = node_with_objects(&objects);
    let p = pod(json!({
        "metadata": {"name": "db-0", "namespace": "demo", "uid": "uid-vol-4"},
        "spec": {"containers": [{"name": "db", "image": "postgres",
            "volumeMounts": [{"name": "d", "mountPath": "/var/lib/data"}]}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}
    }));
    n.rt.start_pod(&p, ip(31, 4)).await.unwrap();
    wait_running(&n.rt, "uid-vol-4").await;
    let labels = "{namespace=\"demo\",persistentvolumeclaim=\"data\"}";
    std::fs::write(folder.path().join("a"), vec![0u8; 1000]).unwrap();
    std::fs::create_dir(folder.path().join("sub")).unwrap();
    std::fs::write(folder.path().join("sub/b"), vec![0u8; 24]).unwrap();
    let text = wait_for(20, "1024 bytes used", || {
        let text = n.rt.metrics_text();
        let ok = text.contains(&format!("kubelet_volume_stats_used_bytes{labels} 1024\n"));
        async move { ok.then_some(text) }
    })
    .await;
    assert!(text.contains(&format!(
        "kubelet_volume_stats_capacity_bytes{labels} 1048576\n"
    )));
    assert!(text.contains(&format!(
        "kubelet_volume_stats_available_bytes{labels} {}\n",
        (1 << 20) - 1024
    )));
    assert!(text.contains("# TYPE kubelet_volume_stats_used_bytes gauge"));

    n.rt.stop_pod("uid-vol-4").await;
    assert!(
        !n.rt
            .metrics_text()
            .contains("persistentvolumeclaim=\"data\""),
        "only claims running pods mount"
    );
}
