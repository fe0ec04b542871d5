//! The storage admission plugins of kube-apiserver 1.20 for PersistentVolumeClaims, and the
//! update validation that goes with resizing:
//!
//! - **DefaultStorageClass**: a claim created without `spec.storageClassName` (absent, not
//!   `""`, which asks for no class) gets the class annotated
//!   `storageclass.kubernetes.io/is-default-class: "true"` (the newest, if several);
//! - **StorageObjectInUseProtection**: every new claim carries the finalizer
//!   `kubernetes.io/pvc-protection`, which the volume controller removes once no pod uses
//!   the claim (see `controllers/volume.rs`), and every new PersistentVolume
//!   `kubernetes.io/pv-protection`, removed once it is not bound;
//! - `ValidatePersistentVolumeClaimUpdate`: only `spec.resources.requests` of a bound claim
//!   may change (422 `spec: Forbidden: spec is immutable after creation except
//!   resources.requests for bound claims`), and never below what it was (422
//!   `spec.resources.requests.storage: Forbidden: field can not be less than previous value`);
//! - **PersistentVolumeClaimResize**: a larger request is refused with 403 unless the claim's
//!   class exists and has `allowVolumeExpansion: true`.

use serde_json::{json, Value};

use super::{key, State};
use crate::error::{ApiError, Cause};
use crate::kinds::quantity::Quantity;
use crate::resources::ResourceId;

/// The annotation that marks the default StorageClass.
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The finalizer that keeps a claim while pods use it.
pub const PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The finalizer that keeps a PersistentVolume while it is bound.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

fn classes() -> ResourceId {
    ResourceId::new("storage.k8s.io", "storageclasses")
}

fn class(st: &State, name: &str) -> Option<Value> {
    st.tables
        .get(&classes())
        .and_then(|t| t.get(&key("", name)))
        .map(|e| e.value())
}

/// The default class's name: the newest of those annotated, as the plugin picks.
fn default_class(st: &State) -> Option<String> {
    let table = st.tables.get(&classes())?;
    table
        .values()
        .map(|e| e.value())
        .filter(|c| c["metadata"]["annotations"][DEFAULT_CLASS] == "true")
        .max_by(|a, b| {
            let t = |c: &Value| {
                c["metadata"]["creationTimestamp"]
                    .as_str()
                    .map(String::from)
            };
            t(a).cmp(&t(b))
        })
        .and_then(|c| c["metadata"]["name"].as_str().map(String::from))
}

/// DefaultStorageClass and StorageObjectInUseProtection on a new claim.
pub(super) fn on_create(st: &State, claim: &mut Value) {
    if claim["spec"]["storageClassName"].is_null() {
        if let Some(name) = default_class(st) {
            claim["spec"]["storageClassName"] = json!(name);
        }
    }
    add_finalizer(claim, PROTECTION);
}

/// StorageObjectInUseProtection on a new PersistentVolume.
pub(super) fn on_create_volume(pv: &mut Value) {
    add_finalizer(pv, PV_PROTECTION);
}

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let md = &mut obj["metadata"];
    if !md["finalizers"].is_array() {
        md["finalizers"] = json!([]);
    }
    if let Some(f) = md["finalizers"].as_array_mut() {
        if !f.iter().any(|v| v == finalizer) {
            f.push(json!(finalizer));
        }
    }
}

fn storage(claim: &Value) -> Option<Quantity> {
    Quantity::parse(claim["spec"]["resources"]["requests"]["storage"].as_str()?)
}

/// Update validation and PersistentVolumeClaimResize on a claim's main resource.
pub(super) fn on_update(st: &State, name: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    let bound = old["status"]["phase"] == "Bound";
    let (old_size, new_size) = (storage(old), storage(new));
    let mut causes = Vec::new();
    let mut old_spec = old["spec"].clone();
    let mut new_spec = new["spec"].clone();
    if bound {
        old_spec["resources"]["requests"]["storage"] = Value::Null;
        new_spec["resources"]["requests"]["storage"] = Value::Null;
    }
    // NB: binding fills `volumeName` (the controller's update); compared only once set.
    if old_spec["volumeName"].is_null() {
        if let Some(m) = old_spec.as_object_mut() {
            match new_spec.get("volumeName") {
                Some(v) => m.insert("volumeName".into(), v.clone()),
                None => m.remove("volumeName"),
            };
        }
    }
    if old_spec != new_spec {
        causes.push(Cause::new(
            "FieldValueForbidden",
            "spec",
            "Forbidden: spec is immutable after creation except resources.requests for bound claims",
        ));
    }
    if let (Some(o), Some(n)) = (old_size, new_size) {
        if n < o {
            causes.push(Cause::new(
                "FieldValueForbidden",
                "spec.resources.requests.storage",
                "Forbidden: field can not be less than previous value",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("PersistentVolumeClaim", "", name, causes));
    }
    let grows = matches!((old_size, new_size), (Some(o), Some(n)) if n > o);
    if grows {
        let class_name = new["spec"]["storageClassName"].as_str().unwrap_or_default();
        let expandable = !class_name.is_empty()
            && class(st, class_name).is_some_and(|c| c["allowVolumeExpansion"] == true);
        if !expandable {
            return Err(ApiError::forbidden(
                "persistentvolumeclaims",
                name,
                "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize",
            ));
        }
    }
    Ok(())
}
