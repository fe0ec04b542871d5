//! Storage on the demo cluster: the seeded StorageClasses, claims provisioned and bound by
//! the demo's provisioner (folders standing in for Ceph), `WaitForFirstConsumer`, unknown
//! classes, expansion and its refusals, reclaiming, and a claim's data outliving its pods.

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use crate::support::{eventually, spawn, spawn_with_node};

fn claim(name: &str, class: Option<&str>, size: &str) -> PersistentVolumeClaim {
    let mut c = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}});
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    serde_json::from_value(c).unwrap()
}

async fn bound(claims: &Api<PersistentVolumeClaim>, name: &str) -> PersistentVolumeClaim {
    eventually(20, || async {
        let c = claims.get(name).await.ok()?;
        (c.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(c)
    })
    .await
}

/// Waits for an Event about `name` with `reason`, and returns its message.
async fn event(client: &kube::Client, name: &str, reason: &str) -> String {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(20, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
            })
            .and_then(|e| e.message)
    })
    .await
}

fn api_error(r: Result<PersistentVolumeClaim, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn grow(size: &str) -> Patch<Value> {
    Patch::Merge(json!({"spec": {"resources": {"requests": {"storage": size}}}}))
}

#[tokio::test]
async fn classes_claims_expansion_and_reclaim() {
    let (sim, client) = spawn().await;
    let classes: Api<StorageClass> = Api::all(client.clone());
    let list = classes.list(&ListParams::default()).await.unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, ["local-path", "rook-ceph-block", "rook-cephfs"]);
    let block = classes.get("rook-ceph-block").await.unwrap();
    assert_eq!(
        block.metadata.annotations.as_ref().unwrap()["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(block.provisioner, "rook-ceph.rbd.csi.ceph.com");
    assert_eq!(block.parameters.as_ref().unwrap()["pool"], "replicapool");
    assert_eq!(block.allow_volume_expansion, Some(true));
    let fs = classes.get("rook-cephfs").await.unwrap();
    assert_eq!(fs.parameters.as_ref().unwrap()["fsName"], "myfs");
    assert_eq!(fs.reclaim_policy.as_deref(), Some("Delete"));
    assert_eq!(fs.volume_binding_mode.as_deref(), Some("Immediate"));
    let local = classes.get("local-path").await.unwrap();
    assert_eq!(
        local.volume_binding_mode.as_deref(),
        Some("WaitForFirstConsumer")
    );

    // A claim without a class: the default one, provisioned and bound at once.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let created = claims
        .create(&pp, &claim("data", None, "1Gi"))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    assert_eq!(
        created.spec.as_ref().unwrap().storage_class_name.as_deref(),
        Some("rook-ceph-block")
    );
    assert_eq!(
        created.metadata.finalizers.as_deref(),
        Some(&["kubernetes.io/pvc-protection".to_string()][..])
    );
    let c = bound(&claims, "data").await;
    let pv_name = format!("pvc-{uid}");
    assert_eq!(
        c.spec.as_ref().unwrap().volume_name.as_deref(),
        Some(pv_name.as_str())
    );
    let ann = c.metadata.annotations.as_ref().unwrap();
    assert_eq!(ann["pv.kubernetes.io/bind-completed"], "yes");
    assert_eq!(ann["pv.kubernetes.io/bound-by-controller"], "yes");
    let st = c.status.as_ref().unwrap();
    assert_eq!(st.capacity.as_ref().unwrap()["storage"].0, "1Gi");
    assert_eq!(
        st.access_modes.as_deref(),
        Some(&["ReadWriteOnce".to_string()][..])
    );

    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = eventually(20, || async {
        let pv = pvs.get(&pv_name).await.ok()?;
        (pv.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(pv)
    })
    .await;
    let spec = pv.spec.as_ref().unwrap();
    assert_eq!(spec.capacity.as_ref().unwrap()["storage"].0, "1Gi");
    assert_eq!(spec.storage_class_name.as_deref(), Some("rook-ceph-block"));
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    assert_eq!(
        spec.claim_ref.as_ref().unwrap().uid.as_deref(),
        Some(uid.as_str())
    );
    assert_eq!(
        pv.metadata.annotations.as_ref().unwrap()["pv.kubernetes.io/provisioned-by"],
        "rook-ceph.rbd.csi.ceph.com"
    );
    let folder = std::path::PathBuf::from(&spec.host_path.as_ref().unwrap().path);
    assert!(folder.ends_with(format!("volumes/{pv_name}")), "{folder:?}");
    assert!(folder.is_dir());

    // Expansion: allowed by the class; shrinking refused.
    let pp2 = PatchParams::default();
    claims.patch("data", &pp2, &grow("2Gi")).await.unwrap();
    eventually(20, || async {
        let c = claims.get("data").await.ok()?;
        let pv = pvs.get(&pv_name).await.ok()?;
        let cap = &c.status?.capacity?["storage"].0;
        let pv_cap = &pv.spec?.capacity?["storage"].0;
        (cap == "2Gi" && pv_cap == "2Gi").then_some(())
    })
    .await;
    let (code, msg) = api_error(claims.patch("data", &pp2, &grow("1Gi")).await);
    assert_eq!(code, 422);
    assert!(
        msg.ends_with(
            "spec.resources.requests.storage: Forbidden: field can not be less than previous value"
        ),
        "{msg}"
    );

    // A class that does not allow expansion: the resize plugin refuses.
    let fixed: StorageClass = serde_json::from_value(json!({"apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass", "metadata": {"name": "fixed"}, "provisioner": "wharf.dev/local-path"}))
    .unwrap();
    let fixed = classes.create(&pp, &fixed).await.unwrap();
    assert_eq!(fixed.reclaim_policy.as_deref(), Some("Delete"));
    assert_eq!(fixed.volume_binding_mode.as_deref(), Some("Immediate"));
    claims
        .create(&pp, &claim("small", Some("fixed"), "1Gi"))
        .await
        .unwrap();
    bound(&claims, "small").await;
    let (code, msg) = api_error(claims.patch("small", &pp2, &grow("2Gi")).await);
    assert_eq!(code, 403);
    assert_eq!(msg, "persistentvolumeclaims \"small\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize");

    // An unknown class: Pending, with the controller's event.
    claims
        .create(&pp, &claim("lost", Some("x"), "1Gi"))
        .await
        .unwrap();
    let msg = event(&client, "lost", "ProvisioningFailed").await;
    assert_eq!(msg, "storageclass.storage.k8s.io \"x\" not found");
    let lost = claims.get("lost").await.unwrap();
    assert_eq!(lost.status.unwrap().phase.as_deref(), Some("Pending"));

    // Deleting the claim: its volume (reclaim Delete) and its folder go.
    claims
        .delete("data", &DeleteParams::default())
        .await
        .unwrap();
    eventually(20, || async {
        let gone = matches!(pvs.get(&pv_name).await, Err(kube::Error::Api(s)) if s.code == 404);
        let claim_gone =
            matches!(claims.get("data").await, Err(kube::Error::Api(s)) if s.code == 404);
        (gone && claim_gone && !folder.exists()).then_some(())
    })
    .await;
    sim.shutdown().await;
}

fn pod(name: &str, claim: &str, script: &str) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}))
    .unwrap()
}

async fn finished(pods: &Api<Pod>, name: &str) -> Pod {
    eventually(30, || async {
        let p = pods.get(name).await.ok()?;
        let phase = p.status.as_ref()?.phase.clone()?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(p)
    })
    .await
}

#[tokio::test]
async fn a_claims_data_outlives_its_pods_and_waits_for_its_first_consumer() {
    let (sim, client) = spawn_with_node().await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    // A pod whose claim does not exist is not scheduled.
    pods.create(&pp, &pod("orphan", "nope", "true"))
        .await
        .unwrap();
    let msg = event(&client, "orphan", "FailedScheduling").await;
    assert!(
        msg.contains("persistentvolumeclaim \"nope\" not found"),
        "{msg}"
    );

    claims
        .create(&pp, &claim("cache", Some("local-path"), "1Gi"))
        .await
        .unwrap();
    let msg = event(&client, "cache", "WaitForFirstConsumer").await;
    assert_eq!(
        msg,
        "waiting for first consumer to be created before binding"
    );
    assert_eq!(
        claims
            .get("cache")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );

    pods.create(&pp, &pod("writer", "cache", "echo kept > /data/f"))
        .await
        .unwrap();
    let c = bound(&claims, "cache").await;
    let node =
        c.metadata.annotations.as_ref().unwrap()["volume.kubernetes.io/selected-node"].clone();
    let w = finished(&pods, "writer").await;
    assert_eq!(
        w.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded"),
        "{w:?}"
    );
    assert_eq!(
        w.spec.as_ref().unwrap().node_name.as_deref(),
        Some(node.as_str())
    );
    pods.delete("writer", &DeleteParams::default())
        .await
        .unwrap();
    eventually(20, || async {
        matches!(pods.get("writer").await, Err(kube::Error::Api(s)) if s.code == 404).then_some(())
    })
    .await;

    pods.create(&pp, &pod("reader", "cache", "cat /data/f"))
        .await
        .unwrap();
    let r = finished(&pods, "reader").await;
    assert_eq!(
        r.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded"),
        "{r:?}"
    );
    let logs = pods.logs("reader", &LogParams::default()).await.unwrap();
    assert_eq!(logs.trim(), "kept");

    // `readOnly` on the claim: the folder is there, but not writable (in the sandbox; an
    // unconfined node cannot refuse a write).
    let mut ro = pod("viewer", "cache", "cat /data/f && echo x > /data/g");
    let spec = ro.spec.as_mut().unwrap();
    spec.volumes.as_mut().unwrap()[0]
        .persistent_volume_claim
        .as_mut()
        .unwrap()
        .read_only = Some(true);
    pods.create(&pp, &ro).await.unwrap();
    let v = finished(&pods, "viewer").await;
    let logs = pods.logs("viewer", &LogParams::default()).await.unwrap();
    assert!(logs.starts_with("kept"), "{logs}");
    if sim.sandbox_unavailable().is_none() {
        assert_eq!(
            v.status.as_ref().unwrap().phase.as_deref(),
            Some("Failed"),
            "{logs}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_claim_in_use_stays_until_its_pod_is_gone() {
    let (sim, client) = spawn_with_node().await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    claims.create(&pp, &claim("db", None, "1Gi")).await.unwrap();
    bound(&claims, "db").await;
    let mut p = pod("server", "db", "sleep 3600");
    p.spec.as_mut().unwrap().termination_grace_period_seconds = Some(0);
    pods.create(&pp, &p).await.unwrap();
    eventually(20, || async {
        let p = pods.get("server").await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    claims.delete("db", &DeleteParams::default()).await.unwrap();
    let c = claims.get("db").await.unwrap();
    assert!(c.metadata.deletion_timestamp.is_some());
    pods.delete("server", &DeleteParams::default())
        .await
        .unwrap();
    eventually(20, || async {
        matches!(claims.get("db").await, Err(kube::Error::Api(s)) if s.code == 404).then_some(())
    })
    .await;
    sim.shutdown().await;
}
