//! The objects a fresh demo cluster starts with: the system namespaces (each
//! gets its `default` ServiceAccount), N Ready nodes, the `kubernetes`
//! Service in `default`, and three StorageClasses named as a Rook-Ceph cluster's
//! (`rook-ceph-block`, the default, and `rook-cephfs`) plus `local-path` (binding
//! `WaitForFirstConsumer`). All three are served by the demo's own provisioner, which makes
//! folders on the node (see `controllers/volume.rs`): Ceph is simulated by folders.

use serde_json::json;

use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{Store, WriteOptions};

/// Seeds an empty store (one whose resourceVersion is 0); otherwise does nothing.
pub fn seed(store: &Store, nodes: usize, api_port: u16) -> Result<(), ApiError> {
    if store.resource_version() != 0 {
        return Ok(());
    }
    let w = WriteOptions::default();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        store.create(
            &ResourceId::core("namespaces"),
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            &w,
        )?;
    }
    let now = crate::store::now();
    for i in 1..=nodes {
        let name = format!("demo-node-{i}");
        let ip = format!("127.0.100.{i}");
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "wharf-demo",
                "topology.kubernetes.io/zone": format!("demo-zone-{}", (i - 1) % 3 + 1),
            }},
            "spec": {"podCIDR": format!("10.244.{i}.0/24"), "podCIDRs": [format!("10.244.{i}.0/24")]},
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "7800m", "memory": "31Gi", "pods": "110", "ephemeral-storage": "95Gi"},
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
                ],
                "nodeInfo": {
                    "machineID": format!("wharf-demo-{i}"), "systemUUID": format!("wharf-demo-{i}"), "bootID": format!("wharf-demo-{i}"),
                    "kernelVersion": "6.1.0-wharf", "osImage": "Wharf demo node", "containerRuntimeVersion": "wharf-sim://1.0",
                    "kubeletVersion": "v1.33.0-wharf-demo", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"
                },
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
            }
        });
        store.create(&ResourceId::core("nodes"), "", node, &w)?;
    }
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api_port}]}
    });
    store.create(&ResourceId::core("services"), "default", svc, &w)?;
    for class in storage_classes() {
        store.create(
            &ResourceId::new("storage.k8s.io", "storageclasses"),
            "",
            class,
            &w,
        )?;
    }
    Ok(())
}

/// The seeded StorageClasses (parameters as in Rook's examples, for the console to show).
fn storage_classes() -> [serde_json::Value; 3] {
    let class = |name: &str, provisioner: &str| {
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name}, "provisioner": provisioner})
    };
    let mut block = class("rook-ceph-block", crate::controllers::volume::CEPH_RBD);
    block["metadata"]["annotations"] = json!({crate::store::claims::DEFAULT_CLASS: "true"});
    block["parameters"] = json!({
        "clusterID": "rook-ceph",
        "pool": "replicapool",
        "imageFormat": "2",
        "imageFeatures": "layering",
        "csi.storage.k8s.io/fstype": "ext4",
    });
    block["allowVolumeExpansion"] = json!(true);
    block["reclaimPolicy"] = json!("Delete");
    block["volumeBindingMode"] = json!("Immediate");
    let mut fs = class("rook-cephfs", crate::controllers::volume::CEPH_FS);
    fs["parameters"] =
        json!({"clusterID": "rook-ceph", "fsName": "myfs", "pool": "myfs-replicated"});
    fs["allowVolumeExpansion"] = json!(true);
    fs["reclaimPolicy"] = json!("Delete");
    let mut local = class("local-path", crate::controllers::volume::LOCAL_PATH);
    local["volumeBindingMode"] = json!("WaitForFirstConsumer");
    local["allowVolumeExpansion"] = json!(false);
    local["reclaimPolicy"] = json!("Delete");
    [block, fs, local]
}
