//! Volumes the demo node cannot set up yet, as a kubelet handles them: a pod whose
//! ConfigMap is missing, or which was placed on a node (past the scheduler) with a claim
//! that does not exist, stays `Pending` with its container in `ContainerCreating` and a
//! `FailedMount` event from the kubelet; once the object appears the same pod starts.

use k8s_openapi::api::core::v1::{ConfigMap, Event, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::Client;
use serde_json::json;

use crate::support::{cat, eventually, spawn_with_node as spawn};

const SECS: u64 = 60;

/// The `(type, component, message)` of the `FailedMount` Event about pod `name`, once the
/// node has tried again (the Event's `count` grew).
async fn failed_mount(client: &Client, name: &str) -> (String, String, String) {
    let events: Api<Event> = Api::default_namespaced(client.clone());
    eventually(SECS, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some("FailedMount")
                    && e.count.unwrap_or(1) >= 2
            })
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.source.and_then(|s| s.component).unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
    })
    .await
}

/// Waits for pod `name` to be held before its containers are created, and checks its
/// status the way a kubelet writes it then.
async fn held_in_container_creating(pods: &Api<Pod>, name: &str) -> Pod {
    let pod = eventually(SECS, || async {
        let p = pods.get(name).await.ok()?;
        let cs = p.status.as_ref()?.container_statuses.as_ref()?.first()?;
        let waiting = cs.state.as_ref()?.waiting.as_ref()?;
        (waiting.reason.as_deref() == Some("ContainerCreating")).then_some(p)
    })
    .await;
    let status = pod.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    let cs = &status.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        (cs.ready, cs.started, cs.restart_count),
        (false, Some(false), 0)
    );
    assert!(cs
        .last_state
        .as_ref()
        .is_none_or(|s| s.terminated.is_none()));
    let conditions = status.conditions.unwrap_or_default();
    for type_ in ["ContainersReady", "Ready"] {
        let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("ContainersNotReady")),
            "{type_}"
        );
    }
    pod
}

/// Waits for pod `name` to run, and returns it.
async fn running(pods: &Api<Pod>, name: &str) -> Pod {
    eventually(SECS, || async {
        let p = pods.get(name).await.ok()?;
        let s = p.status.as_ref()?;
        let cs = s.container_statuses.as_ref()?.first()?;
        (s.phase.as_deref() == Some("Running") && cs.state.as_ref()?.running.is_some()).then_some(p)
    })
    .await
}

#[tokio::test]
async fn a_missing_config_map_holds_the_pod_in_container_creating_until_it_exists() {
    let (_sim, client) = spawn().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "waits-for-config"},
        "spec": {"containers": [{"name": "app", "image": "busybox",
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/config"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "missing"}}]}
    }))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();

    assert_eq!(
        failed_mount(&client, "waits-for-config").await,
        (
            "Warning".into(),
            "kubelet".into(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"missing\" not found".into()
        )
    );
    let held = held_in_container_creating(&pods, "waits-for-config").await;
    assert_eq!(held.metadata.uid, created.metadata.uid);

    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "missing"},
        "data": {"app.properties": "late=yes\n"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let run = running(&pods, "waits-for-config").await;
    assert_eq!(run.metadata.uid, created.metadata.uid, "the same pod");
    let cs = &run.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(cs.restart_count, 0);
    assert_eq!(
        cat(&client, "waits-for-config", "/etc/config/app.properties").await,
        "late=yes\n"
    );
}

#[tokio::test]
async fn a_pod_placed_past_the_scheduler_waits_for_its_claim() {
    let (_sim, client) = spawn().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "waits-for-claim"},
        "spec": {"nodeName": "demo-node-1",
            "containers": [{"name": "app", "image": "busybox",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "later"}}]}
    }))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();

    let (type_, component, message) = failed_mount(&client, "waits-for-claim").await;
    assert_eq!((type_.as_str(), component.as_str()), ("Warning", "kubelet"));
    // The words of Kubernetes 1.20's volume manager for a claim that does not exist.
    assert_eq!(
        message,
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data]: error processing PVC default/later: failed to fetch PVC from API server: persistentvolumeclaims \"later\" not found"
    );
    held_in_container_creating(&pods, "waits-for-claim").await;

    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "later"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    }))
    .unwrap();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    let run = running(&pods, "waits-for-claim").await;
    assert_eq!(run.metadata.uid, created.metadata.uid, "the same pod");
    let cs = &run.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(cs.restart_count, 0, "never failed to start");
}
