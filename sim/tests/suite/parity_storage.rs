//! StorageClasses, PersistentVolumes and claims' expansion against a real kube-apiserver
//! 1.20 (API only: no provisioner there, so the PV is made statically and the claim's
//! `Bound` status is written through the status subresource on both sides): the classes'
//! defaults and field errors, a static PV's defaults, and the update validation and
//! PersistentVolumeClaimResize refusals of a bound claim.

use serde_json::{json, Value};

use crate::support::parity::Pair;

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const CLASSES: &str = "/apis/storage.k8s.io/v1/storageclasses";
const PVS: &str = "/api/v1/persistentvolumes";
const CLAIMS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";

fn class(name: &str, expand: bool) -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
        "provisioner": "example.com/parity", "parameters": {"k": "v"}, "allowVolumeExpansion": expand})
}

fn size(s: &str) -> Value {
    json!({"spec": {"resources": {"requests": {"storage": s}}}})
}

/// A static PV and a claim bound to it (status written by hand on both sides).
async fn bound_claim(pair: &Pair, name: &str, class: &str) {
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": format!("{name}-pv")},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "hostPath": {"path": format!("/tmp/wharf-parity-{name}")}}});
    let r = pair
        .same_in(
            "a static PV",
            "POST",
            PVS,
            JSON,
            &pv,
            &["/spec", "/metadata/finalizers"],
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "volumeName": format!("{name}-pv"),
            "resources": {"requests": {"storage": "1Gi"}}}});
    let r = pair
        .same_in(
            "a claim",
            "POST",
            CLAIMS,
            JSON,
            &claim,
            &["/spec", "/metadata/finalizers"],
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let status = json!({"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}});
    let (d, r) = pair
        .send("PATCH", &format!("{CLAIMS}/{name}/status"), MERGE, &status)
        .await;
    assert_eq!((d.status, r.status), (200, 200), "{d:?}\n{r:?}");
}

#[tokio::test]
async fn storage_classes_volumes_and_resizing_as_on_the_real_one() {
    let pair = Pair::start().await;
    let r = pair
        .same(
            "a class with defaults",
            "POST",
            CLASSES,
            JSON,
            &class("parity-fixed", false),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["reclaimPolicy"], "Delete");
    assert_eq!(r.body["volumeBindingMode"], "Immediate");
    let mut bad = class("parity-bad", false);
    bad.as_object_mut().unwrap().remove("provisioner");
    bad["reclaimPolicy"] = json!("Keep");
    let r = pair
        .same("a class without provisioner", "POST", CLASSES, JSON, &bad)
        .await;
    assert_eq!(r.status, 422);
    let r = pair
        .same(
            "a class's provisioner changed",
            "PATCH",
            &format!("{CLASSES}/parity-fixed"),
            MERGE,
            &json!({"provisioner": "example.com/other"}),
        )
        .await;
    assert_eq!(r.status, 422);

    let r = pair
        .same(
            "an expandable class",
            "POST",
            CLASSES,
            JSON,
            &class("parity-grow", true),
        )
        .await;
    assert_eq!(r.status, 201);
    bound_claim(&pair, "fixed", "parity-fixed").await;
    bound_claim(&pair, "grow", "parity-grow").await;

    let r = pair
        .same(
            "growing a claim whose class does not allow it",
            "PATCH",
            &format!("{CLAIMS}/fixed"),
            MERGE,
            &size("2Gi"),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = pair
        .same(
            "shrinking a claim",
            "PATCH",
            &format!("{CLAIMS}/grow"),
            MERGE,
            &size("512Mi"),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    // NB: 1.20 appends a go-cmp diff of the two specs to the message, which the demo
    // cluster does not reproduce: the first line is compared.
    let (d, r) = pair
        .send(
            "PATCH",
            &format!("{CLAIMS}/grow"),
            MERGE,
            &json!({"spec": {"accessModes": ["ReadWriteMany"]}}),
        )
        .await;
    assert_eq!((d.status, r.status), (422, 422), "{d:?}\n{r:?}");
    let first = |a: &crate::support::parity::Answer| {
        let m = a.body["message"].as_str().unwrap_or_default();
        m.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(first(&d), first(&r));
    let r = pair
        .same_in(
            "growing a claim whose class allows it",
            "PATCH",
            &format!("{CLAIMS}/grow"),
            MERGE,
            &size("2Gi"),
            &["/spec/resources"],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}
