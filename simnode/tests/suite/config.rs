//! Containers' environment from Secrets, ConfigMaps and the downward API, resolved when
//! each container starts; a missing Secret keeps it in CreateContainerConfigError until
//! the Secret appears.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::common::*;
use serde_json::json;
use simnode::{ObjectSource, PodPhase};

/// `(namespace, name)` → an object's data.
type ByName<V> = Mutex<BTreeMap<(String, String), BTreeMap<String, V>>>;

/// Secrets and ConfigMaps a test can add while pods run.
#[derive(Default)]
struct Objects {
    secrets: ByName<Vec<u8>>,
    config_maps: ByName<String>,
}

impl Objects {
    fn add_secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let data = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        self.secrets
            .lock()
            .unwrap()
            .insert((ns.into(), name.into()), data);
    }
}

impl ObjectSource for Objects {
    fn secret(&self, ns: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        self.secrets
            .lock()
            .unwrap()
            .get(&(ns.into(), name.into()))
            .cloned()
    }
    fn config_map(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.config_maps
            .lock()
            .unwrap()
            .get(&(ns.into(), name.into()))
            .cloned()
    }
}

fn job(name: &str, uid: &str) -> k8s_openapi::api::core::v1::Pod {
    pod(json!({
        "metadata": {"name": name, "namespace": "ci", "uid": uid},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "push", "image": "alpine",
            "command": ["sh", "-c", "echo \"user=$REG_USER pass=$REG_PASS level=$CFG_LEVEL pod=$POD ip=$IP\"; echo $(REG_USER)"],
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
            "env": [
                {"name": "REG_USER", "valueFrom": {"secretKeyRef": {"name": "registry", "key": "user"}}},
                {"name": "REG_PASS", "valueFrom": {"secretKeyRef": {"name": "registry", "key": "password"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
            ]}]}
    }))
}

#[tokio::test]
async fn secrets_config_maps_and_fields_become_env_and_expand_in_args() {
    let n = node();
    let objects = Arc::new(Objects::default());
    objects.add_secret(
        "ci",
        "registry",
        &[("user", "robot"), ("password", "s3cret")],
    );
    objects.config_maps.lock().unwrap().insert(
        ("ci".into(), "settings".into()),
        BTreeMap::from([("LEVEL".to_string(), "debug".to_string())]),
    );
    n.rt.set_object_source(objects);
    n.rt.start_pod(&job("env-1", "uid-env-1"), ip(21, 1))
        .await
        .unwrap();
    let s = wait_state(&n.rt, "uid-env-1", "finished", |s| {
        s.phase() == PodPhase::Succeeded
    })
    .await;
    assert!(s.initialized());
    assert_eq!(
        container_log(&n.rt, "ci", "env-1", "push").await,
        "user=robot pass=s3cret level=debug pod=env-1 ip=127.77.21.1\nrobot\n"
    );
}

#[tokio::test]
async fn a_missing_secret_waits_in_create_container_config_error_until_it_appears() {
    let n = node();
    let objects = Arc::new(Objects::default());
    objects
        .config_maps
        .lock()
        .unwrap()
        .insert(("ci".into(), "settings".into()), BTreeMap::new());
    n.rt.set_object_source(objects.clone());
    let mut events = n.rt.subscribe();
    n.rt.start_pod(&job("env-2", "uid-env-2"), ip(21, 2))
        .await
        .unwrap();
    let s = wait_state(&n.rt, "uid-env-2", "config error", |s| {
        s.containers[0].state.waiting_reason() == Some("CreateContainerConfigError")
    })
    .await;
    assert_eq!(s.phase(), PodPhase::Pending);
    assert_eq!(
        s.containers[0].state,
        simnode::ContainerState::Waiting {
            reason: "CreateContainerConfigError".into(),
            message: Some("secret \"registry\" not found".into()),
        }
    );
    let failed = wait_for(10, "a Failed event", || {
        let mut found = None;
        while let Ok(ev) = events.try_recv() {
            if let Some(k) = ev.event.filter(|k| k.reason == "Failed") {
                found = Some(k);
            }
        }
        async move { found }
    })
    .await;
    assert_eq!(failed.message, "Error: secret \"registry\" not found");
    assert_eq!(failed.field_path.as_deref(), Some("spec.containers{push}"));

    // A Secret without the key: the kubelet's other message.
    objects.add_secret("ci", "registry", &[("user", "robot")]);
    wait_state(&n.rt, "uid-env-2", "missing key", |s| {
        matches!(&s.containers[0].state, simnode::ContainerState::Waiting { message: Some(m), .. }
            if m == "couldn't find key password in Secret ci/registry")
    })
    .await;

    objects.add_secret(
        "ci",
        "registry",
        &[("user", "robot"), ("password", "later")],
    );
    wait_state(
        &n.rt,
        "uid-env-2",
        "started once the secret is there",
        |s| s.phase() == PodPhase::Succeeded,
    )
    .await;
    assert!(container_log(&n.rt, "ci", "env-2", "push")
        .await
        .contains("pass=later"));
}
