//! Storage: what an external provisioner and kube-controller-manager's PV controller (with
//! its pvc-protection controller) do for PersistentVolumeClaims, with the demo's own
//! provisioner serving every seeded class. **Ceph is simulated by folders**: a volume is
//! the folder `<node dir>/volumes/pvc-<claim uid>` on this host (see [`volumes_dir`]), which
//! simnode mounts into the pods that use the claim (see `simnode::ObjectSource`).
//!
//! - A claim of a class served here (provisioner [`CEPH_RBD`], [`CEPH_FS`] or
//!   [`LOCAL_PATH`]) with binding `Immediate` is provisioned at once: a PV `pvc-<uid>`
//!   (capacity = the request, the claim's access modes, `claimRef`, the class's name and
//!   reclaim policy, `hostPath` for the Ceph classes — every demo node is this host, as
//!   every node reaches a Ceph cluster — or `local` with the node's affinity for
//!   `local-path`, annotation `pv.kubernetes.io/provisioned-by`), then the claim is bound
//!   (`spec.volumeName`, the `pv.kubernetes.io/bind-completed` and `bound-by-controller`
//!   annotations, `status.phase: Bound`, `capacity`, `accessModes`) and the PV is `Bound`.
//! - With `WaitForFirstConsumer` the claim stays `Pending` (event `WaitForFirstConsumer`)
//!   until the scheduler picks a node for a pod using it and sets the annotation
//!   `volume.kubernetes.io/selected-node` (see `scheduler.rs`); then as above.
//! - Before any provisioning (not for `WaitForFirstConsumer`), an unbound claim is bound to
//!   an existing PV it matches, as `findBestMatchForClaim` picks: not bound to another
//!   claim, of the claim's class, access modes, volume mode and selector, the smallest with
//!   enough storage. The PV gets `claimRef` and `pv.kubernetes.io/bound-by-controller`; the
//!   claim `bound-by-controller` only when the controller chose its `volumeName` (a claim
//!   naming its PV is completed, not marked). A new unbound PV looks at the pending claims.
//! - A class that does not exist: `Pending`, event `ProvisioningFailed`
//!   (`storageclass.storage.k8s.io "x" not found`); a provisioner not served here:
//!   `Pending`, event `ExternalProvisioning`. A claim without a class (`""`) that no PV
//!   matches: `Pending`, event `FailedBinding` (`no persistent volumes available for this
//!   claim and no storage class is set`).
//! - Growing a bound claim's request (the API server allows it only for classes with
//!   `allowVolumeExpansion`, see `store/claims.rs`) sets the PV's capacity and the claim's
//!   `status.capacity` directly, where a real cluster goes through the `Resizing` and
//!   `FileSystemResizePending` conditions.
//! - A PV whose claim is gone is reclaimed: `Delete` deletes it and its folder (only a
//!   folder under [`volumes_dir`]), `Retain` makes it `Released`. A new PV without a claim
//!   becomes `Available`.
//! - A claim being deleted keeps the finalizer `kubernetes.io/pvc-protection` while a pod
//!   that is not finished uses it; then the finalizer is removed and the claim goes. A PV
//!   being deleted keeps `kubernetes.io/pv-protection` while it is bound to a claim.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::events::{ObjectRef, Recorder, Source};
use super::{pod, str_at, Action, Key, Queue, Reconciler};
use crate::error::ApiError;
use crate::kinds::quantity::Quantity;
use crate::resources::ResourceId;
use crate::store::claims::{PROTECTION, PV_PROTECTION};
use crate::store::{DeleteOptions, EventType, Store, WriteOptions};

/// The provisioner of the seeded `rook-ceph-block` class (Rook's RBD CSI driver).
pub const CEPH_RBD: &str = "rook-ceph.rbd.csi.ceph.com";
/// The provisioner of the seeded `rook-cephfs` class (Rook's CephFS CSI driver).
pub const CEPH_FS: &str = "rook-ceph.cephfs.csi.ceph.com";
/// The provisioner of the seeded `local-path` class.
pub const LOCAL_PATH: &str = "wharf.dev/local-path";
/// What the demo's provisioner serves.
pub const PROVISIONERS: [&str; 3] = [CEPH_RBD, CEPH_FS, LOCAL_PATH];

/// The node the scheduler chose for a `WaitForFirstConsumer` claim.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

const MANAGER: &str = "kube-controller-manager";
const SOURCE: Source<'static> = Source::component("persistentvolume-controller");

/// Where the demo's volumes live: `<node dir>/volumes` (the node dir is `<data>/nodes`,
/// or a temporary folder for an ephemeral cluster). One folder per PV, named as the PV.
pub fn volumes_dir(node_dir: &Path) -> PathBuf {
    node_dir.join("volumes")
}

fn claims() -> ResourceId {
    ResourceId::core("persistentvolumeclaims")
}
fn volumes() -> ResourceId {
    ResourceId::core("persistentvolumes")
}
fn classes() -> ResourceId {
    ResourceId::new("storage.k8s.io", "storageclasses")
}

/// The claims a pod's volumes name.
pub(crate) fn claims_of(pod: &Value) -> Vec<String> {
    pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .map(String::from)
        .collect()
}

pub struct VolumeController {
    store: Store,
    events: Recorder,
    dir: PathBuf,
}

/// Runs the controller; volumes are made under `dir` (see [`volumes_dir`]).
pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store, events: &Recorder, dir: PathBuf) {
    let queue = Queue::new();
    // Claims are `(namespace, name)`; PVs, cluster-scoped, `("", name)`.
    let q = queue.clone();
    super::spawn_watch(tasks, store, claims(), move |ev| {
        q.add((ev.namespace.clone(), ev.name.clone()));
        if ev.kind == EventType::Deleted {
            let pv = str_at(&ev.value(), &["spec", "volumeName"]).to_string();
            if !pv.is_empty() {
                q.add((String::new(), pv));
            }
        }
    });
    let (q, st) = (queue.clone(), store.clone());
    super::spawn_watch(tasks, store, volumes(), move |ev| {
        q.add((String::new(), ev.name.clone()));
        // An unbound PV may be what a pending claim waits for.
        if ev.kind == EventType::Deleted || !ev.value()["spec"]["claimRef"].is_null() {
            return;
        }
        pending_claims(&st, &q);
    });
    let q = queue.clone();
    super::spawn_watch(tasks, store, ResourceId::core("pods"), move |ev| {
        // NB: most pods use no claim; skip them without parsing.
        if !ev.object.windows(21).any(|w| w == b"persistentVolumeClaim") {
            return;
        }
        for c in claims_of(&ev.value()) {
            q.add((ev.namespace.clone(), c));
        }
    });
    // A class made (or made again) after its claims: they are looked at again.
    let (q, st) = (queue.clone(), store.clone());
    super::spawn_watch(tasks, store, classes(), move |ev| {
        if ev.kind == EventType::Deleted {
            return;
        }
        pending_claims(&st, &q);
    });
    for res in [claims(), volumes()] {
        super::spawn_resync(tasks, store, res, Duration::from_secs(30), queue.clone());
    }
    let c = Arc::new(VolumeController {
        store: store.clone(),
        events: events.clone(),
        dir,
    });
    tasks.spawn(super::run_worker(c, queue));
}

/// Queues every claim still `Pending`.
fn pending_claims(store: &Store, q: &Queue) {
    if let Ok(list) = store.list(&claims(), None, &Default::default()) {
        for c in list.values() {
            if str_at(&c, &["status", "phase"]) == "Pending" {
                q.add(super::key_of(&c));
            }
        }
    }
}

impl Reconciler for VolumeController {
    const NAME: &'static str = "persistentvolume-binder";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        if key.0.is_empty() {
            self.volume(&key.1)
        } else {
            self.claim(&key.0, &key.1)
        }
    }
}

fn get(store: &Store, res: &ResourceId, ns: &str, name: &str) -> Result<Option<Value>, ApiError> {
    match store.get(res, ns, name) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok` for a write that lost to a deletion or another writer (the watch brings it back).
fn settled(r: Result<Value, ApiError>) -> Result<(), ApiError> {
    match r {
        Ok(_) | Err(ApiError { code: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

impl VolumeController {
    fn claim(&self, ns: &str, name: &str) -> Result<Action, ApiError> {
        let Some(claim) = get(&self.store, &claims(), ns, name)? else {
            return Ok(Action::Done);
        };
        if pod::deleting(&claim) {
            return self.release_protection(&claim);
        }
        if str_at(&claim, &["status", "phase"]) == "Bound" {
            return self.expand(&claim);
        }
        let volume_name = str_at(&claim, &["spec", "volumeName"]);
        if !volume_name.is_empty() {
            // Pre-bound, or provisioned and bound half-way: complete it if the PV agrees.
            let uid = str_at(&claim, &["metadata", "uid"]);
            if let Some(pv) = get(&self.store, &volumes(), "", volume_name)? {
                if str_at(&pv, &["spec", "claimRef", "uid"]) == uid
                    || pv["spec"]["claimRef"].is_null()
                {
                    self.bind(&claim, &pv)?;
                }
            }
            return Ok(Action::Done);
        }
        let class_name = str_at(&claim, &["spec", "storageClassName"]);
        let class = match class_name {
            "" => None,
            c => get(&self.store, &classes(), "", c)?,
        };
        let delayed = class
            .as_ref()
            .is_some_and(|c| str_at(c, &["volumeBindingMode"]) == "WaitForFirstConsumer");
        if !delayed {
            if let Some(pv) = self.matching_volume(&claim)? {
                self.bind(&claim, &pv)?;
                return Ok(Action::Done);
            }
        }
        if class_name.is_empty() {
            self.events.record(
                &ObjectRef::to(&claim),
                SOURCE,
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            );
            return Ok(Action::Done);
        }
        let Some(class) = class else {
            let msg = format!("storageclass.storage.k8s.io \"{class_name}\" not found");
            self.events.record(
                &ObjectRef::to(&claim),
                SOURCE,
                "Warning",
                "ProvisioningFailed",
                &msg,
            );
            return Ok(Action::Done);
        };
        let provisioner = str_at(&class, &["provisioner"]);
        if !PROVISIONERS.contains(&provisioner) {
            let msg = format!("waiting for a volume to be created, either by external provisioner \"{provisioner}\" or manually created by system administrator");
            self.events.record(
                &ObjectRef::to(&claim),
                SOURCE,
                "Normal",
                "ExternalProvisioning",
                &msg,
            );
            return Ok(Action::Done);
        }
        let node = claim["metadata"]["annotations"][SELECTED_NODE]
            .as_str()
            .map(String::from);
        if str_at(&class, &["volumeBindingMode"]) == "WaitForFirstConsumer" && node.is_none() {
            self.events.record(
                &ObjectRef::to(&claim),
                SOURCE,
                "Normal",
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            );
            return Ok(Action::Done);
        }
        let pv = self.provision(&claim, &class, node.as_deref())?;
        self.bind(&claim, &pv)?;
        Ok(Action::Done)
    }

    /// The PV the real controller's `findBestMatchForClaim` picks for an unbound claim: one
    /// not bound to another claim nor being deleted, of the claim's class, with all its
    /// access modes (the fewest modes first), its volume mode, the selector's labels and at
    /// least the storage asked for — the smallest of those.
    fn matching_volume(&self, claim: &Value) -> Result<Option<Value>, ApiError> {
        let q = |v: &Value| v.as_str().and_then(Quantity::parse);
        let Some(want) = q(&claim["spec"]["resources"]["requests"]["storage"]) else {
            return Ok(None);
        };
        let modes = |v: &Value| -> Vec<String> {
            v["spec"]["accessModes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        };
        let wanted_modes = modes(claim);
        let class = str_at(claim, &["spec", "storageClassName"]);
        let mode = |v: &Value| {
            v["spec"]["volumeMode"]
                .as_str()
                .unwrap_or("Filesystem")
                .to_string()
        };
        let selector = super::label_selector(&claim["spec"]["selector"]);
        let list = self.store.list(&volumes(), None, &Default::default())?;
        let best = list
            .values()
            .into_iter()
            .filter(|pv| pv["spec"]["claimRef"].is_null() && !pod::deleting(pv))
            .filter(|pv| str_at(pv, &["spec", "storageClassName"]) == class)
            .filter(|pv| mode(pv) == mode(claim))
            .filter(|pv| {
                selector
                    .as_ref()
                    .is_none_or(|s| s.matches(&super::labels_of(pv)))
            })
            .filter(|pv| {
                let has = modes(pv);
                wanted_modes.iter().all(|m| has.contains(m))
            })
            .filter_map(|pv| Some((modes(&pv).len(), q(&pv["spec"]["capacity"]["storage"])?, pv)))
            .filter(|(_, size, _)| *size >= want)
            .min_by_key(|(n, size, _)| (*n, *size));
        Ok(best.map(|(_, _, pv)| pv))
    }

    /// Makes the folder and the PV of `claim` (or finds the PV made before).
    fn provision(
        &self,
        claim: &Value,
        class: &Value,
        node: Option<&str>,
    ) -> Result<Value, ApiError> {
        let uid = str_at(claim, &["metadata", "uid"]);
        let pv_name = format!("pvc-{uid}");
        if let Some(pv) = get(&self.store, &volumes(), "", &pv_name)? {
            return Ok(pv);
        }
        let provisioner = str_at(class, &["provisioner"]);
        let src = Source::component(provisioner);
        let (ns, name) = super::key_of(claim);
        self.events.record(
            &ObjectRef::to(claim),
            src,
            "Normal",
            "Provisioning",
            &format!("External provisioner is provisioning volume for claim \"{ns}/{name}\""),
        );
        let size = claim["spec"]["resources"]["requests"]["storage"].clone();
        if !size.is_string() {
            let msg =
                "failed to provision volume with StorageClass \"{}\": claim has no storage request";
            let msg = msg.replace("{}", str_at(class, &["metadata", "name"]));
            self.events.record(
                &ObjectRef::to(claim),
                src,
                "Warning",
                "ProvisioningFailed",
                &msg,
            );
            return Err(ApiError::bad_request(msg));
        }
        let folder = self.dir.join(&pv_name);
        std::fs::create_dir_all(&folder)
            .map_err(|e| ApiError::internal(format!("create {}: {e}", folder.display())))?;
        let path = folder.display().to_string();
        let mut spec = json!({
            "capacity": {"storage": size},
            "accessModes": claim["spec"]["accessModes"],
            "claimRef": {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": ns, "name": name, "uid": uid,
                "resourceVersion": claim["metadata"]["resourceVersion"],
            },
            "persistentVolumeReclaimPolicy": class["reclaimPolicy"].as_str().unwrap_or("Delete"),
            "storageClassName": class["metadata"]["name"],
            "volumeMode": claim["spec"]["volumeMode"].as_str().unwrap_or("Filesystem"),
        });
        match (provisioner, node) {
            (LOCAL_PATH, Some(node)) => {
                spec["local"] = json!({"path": path});
                spec["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}});
            }
            _ => spec["hostPath"] = json!({"path": path, "type": "DirectoryOrCreate"}),
        }
        let pv = json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {PROVISIONED_BY: provisioner}},
            "spec": spec,
        });
        let pv = match self
            .store
            .create(&volumes(), "", pv, &WriteOptions::by(provisioner))
        {
            Ok(pv) => pv,
            Err(e) if e.code == 409 => self.store.get(&volumes(), "", &pv_name)?,
            Err(e) => return Err(e),
        };
        self.events.record(
            &ObjectRef::to(claim),
            src,
            "Normal",
            "ProvisioningSucceeded",
            &format!("Successfully provisioned volume {pv_name}"),
        );
        Ok(pv)
    }

    /// Binds `claim` to `pv`, in the PV controller's order: the PV's status, the claim's
    /// `volumeName` and annotations, the claim's status.
    fn bind(&self, claim: &Value, pv: &Value) -> Result<(), ApiError> {
        let (ns, name) = super::key_of(claim);
        let uid = str_at(claim, &["metadata", "uid"]).to_string();
        let pv_name = str_at(pv, &["metadata", "name"]).to_string();
        let w = WriteOptions::by(MANAGER);
        if pv["spec"]["claimRef"].is_null() {
            // A claim pre-bound to a PV (its `volumeName`): the PV learns its claim.
            let cref = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": ns, "name": name, "uid": uid,
                "resourceVersion": claim["metadata"]["resourceVersion"]});
            let res = self
                .store
                .modify(&volumes(), "", &pv_name, None, &w, |mut cur| {
                    if !cur["spec"]["claimRef"].is_null() {
                        return Err(ApiError::conflict("persistentvolumes", &pv_name));
                    }
                    cur["spec"]["claimRef"] = cref.clone();
                    if !cur["metadata"]["annotations"].is_object() {
                        cur["metadata"]["annotations"] = json!({});
                    }
                    cur["metadata"]["annotations"][BOUND_BY_CONTROLLER] = json!("yes");
                    Ok(cur)
                });
            match res {
                Err(e) if e.code == 409 => return Ok(()),
                other => settled(other)?,
            }
        }
        settled(
            self.store
                .modify(&volumes(), "", &pv_name, Some("status"), &w, |mut cur| {
                    cur["status"] = json!({"phase": "Bound"});
                    Ok(cur)
                }),
        )?;
        let provisioner = pv["metadata"]["annotations"][PROVISIONED_BY].clone();
        // NB: only a claim whose volume the controller chose is marked bound by it.
        let chosen = str_at(claim, &["spec", "volumeName"]).is_empty();
        let res = self
            .store
            .modify(&claims(), &ns, &name, None, &w, |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("persistentvolumeclaims", &name));
                }
                cur["spec"]["volumeName"] = json!(pv_name);
                if !cur["metadata"]["annotations"].is_object() {
                    cur["metadata"]["annotations"] = json!({});
                }
                let ann = &mut cur["metadata"]["annotations"];
                ann[BIND_COMPLETED] = json!("yes");
                if chosen {
                    ann[BOUND_BY_CONTROLLER] = json!("yes");
                }
                if provisioner.is_string() {
                    ann["volume.beta.kubernetes.io/storage-provisioner"] = provisioner.clone();
                    ann["volume.kubernetes.io/storage-provisioner"] = provisioner.clone();
                }
                Ok(cur)
            });
        settled(res)?;
        let res = self
            .store
            .modify(&claims(), &ns, &name, Some("status"), &w, |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("persistentvolumeclaims", &name));
                }
                cur["status"] = json!({
                    "phase": "Bound",
                    "accessModes": pv["spec"]["accessModes"],
                    "capacity": pv["spec"]["capacity"],
                });
                Ok(cur)
            });
        settled(res)
    }

    /// A bound claim asking for more than it has: the PV and the claim's status grow.
    fn expand(&self, claim: &Value) -> Result<Action, ApiError> {
        let q = |v: &Value| v.as_str().and_then(Quantity::parse);
        let want = &claim["spec"]["resources"]["requests"]["storage"];
        let (Some(w), Some(has)) = (q(want), q(&claim["status"]["capacity"]["storage"])) else {
            return Ok(Action::Done);
        };
        if w <= has {
            return Ok(Action::Done);
        }
        let (ns, name) = super::key_of(claim);
        let uid = str_at(claim, &["metadata", "uid"]).to_string();
        let pv_name = str_at(claim, &["spec", "volumeName"]);
        let opts = WriteOptions::by(MANAGER);
        settled(
            self.store
                .modify(&volumes(), "", pv_name, None, &opts, |mut cur| {
                    cur["spec"]["capacity"]["storage"] = want.clone();
                    Ok(cur)
                }),
        )?;
        let res = self
            .store
            .modify(&claims(), &ns, &name, Some("status"), &opts, |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("persistentvolumeclaims", &name));
                }
                cur["status"]["capacity"]["storage"] = want.clone();
                Ok(cur)
            });
        settled(res)?;
        Ok(Action::Done)
    }

    /// pvc-protection: the finalizer goes once no unfinished pod uses the claim.
    fn release_protection(&self, claim: &Value) -> Result<Action, ApiError> {
        let has = claim["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|v| v == PROTECTION));
        if !has {
            return Ok(Action::Done);
        }
        let (ns, name) = super::key_of(claim);
        let pods = self
            .store
            .list(&ResourceId::core("pods"), Some(&ns), &Default::default())?;
        let in_use = pods
            .values()
            .iter()
            .any(|p| !pod::terminal(p) && claims_of(p).contains(&name));
        if in_use {
            return Ok(Action::Done);
        }
        let uid = str_at(claim, &["metadata", "uid"]).to_string();
        let res = self.store.modify(
            &claims(),
            &ns,
            &name,
            None,
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("persistentvolumeclaims", &name));
                }
                if let Some(f) = cur["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|v| v != PROTECTION);
                }
                Ok(cur)
            },
        );
        settled(res)?;
        Ok(Action::Done)
    }

    /// pv-protection: the finalizer goes once the PV is not bound to a claim that exists.
    fn release_volume(&self, pv: &Value, phase: &str, cref: &Value) -> Result<Action, ApiError> {
        let has = pv["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|v| v == PV_PROTECTION));
        if !has {
            return Ok(Action::Done);
        }
        if phase == "Bound" {
            let claim = get(
                &self.store,
                &claims(),
                str_at(cref, &["namespace"]),
                str_at(cref, &["name"]),
            )?;
            if claim.is_some_and(|c| c["metadata"]["uid"] == cref["uid"]) {
                return Ok(Action::Done);
            }
        }
        let uid = str_at(pv, &["metadata", "uid"]).to_string();
        let name = str_at(pv, &["metadata", "name"]).to_string();
        let res = self.store.modify(
            &volumes(),
            "",
            &name,
            None,
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("persistentvolumes", &name));
                }
                if let Some(f) = cur["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|v| v != PV_PROTECTION);
                }
                Ok(cur)
            },
        );
        settled(res)?;
        Ok(Action::Done)
    }

    fn set_phase(&self, name: &str, phase: &str) -> Result<Action, ApiError> {
        let opts = WriteOptions::by(MANAGER);
        let res = self
            .store
            .modify(&volumes(), "", name, Some("status"), &opts, |mut cur| {
                cur["status"] = json!({"phase": phase});
                Ok(cur)
            });
        settled(res)?;
        Ok(Action::Done)
    }

    fn volume(&self, name: &str) -> Result<Action, ApiError> {
        let Some(pv) = get(&self.store, &volumes(), "", name)? else {
            return Ok(Action::Done);
        };
        let phase = str_at(&pv, &["status", "phase"]);
        let cref = &pv["spec"]["claimRef"];
        let cref_uid = str_at(cref, &["uid"]);
        if pod::deleting(&pv) {
            return self.release_volume(&pv, phase, cref);
        }
        if cref_uid.is_empty() {
            // Not bound (or pre-bound to a claim still to come).
            return match phase {
                "" | "Pending" => self.set_phase(name, "Available"),
                _ => Ok(Action::Done),
            };
        }
        let claim = get(
            &self.store,
            &claims(),
            str_at(cref, &["namespace"]),
            str_at(cref, &["name"]),
        )?
        .filter(|c| str_at(c, &["metadata", "uid"]) == cref_uid);
        if let Some(claim) = claim {
            if str_at(&claim, &["spec", "volumeName"]) == name && phase != "Bound" {
                return self.set_phase(name, "Bound");
            }
            return Ok(Action::Done);
        }
        if matches!(phase, "Released" | "Failed") {
            return Ok(Action::Done);
        }
        let ours = pv["metadata"]["annotations"][PROVISIONED_BY]
            .as_str()
            .is_some_and(|p| PROVISIONERS.contains(&p));
        if str_at(&pv, &["spec", "persistentVolumeReclaimPolicy"]) != "Delete" || !ours {
            return self.set_phase(name, "Released");
        }
        let path = ["hostPath", "local"]
            .iter()
            .find_map(|k| pv["spec"][*k]["path"].as_str())
            .map(PathBuf::from);
        // NB: only a folder the provisioner made: a PV names any path.
        if let Some(p) = path.filter(|p| p.parent() == Some(self.dir.as_path())) {
            if let Err(e) = std::fs::remove_dir_all(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(ApiError::internal(format!("remove {}: {e}", p.display())));
                }
            }
        }
        let opts = DeleteOptions {
            precondition_uid: Some(str_at(&pv, &["metadata", "uid"]).to_string()),
            ..Default::default()
        };
        match self.store.delete(&volumes(), "", name, &opts) {
            Ok(_)
            | Err(ApiError {
                code: 404 | 409, ..
            }) => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}
