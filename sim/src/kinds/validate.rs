//! Field values of built-in kinds, checked as kube-apiserver's validation does for what the
//! console and kubectl send: counts that must not be negative, containers without a name or
//! an image, ports out of range. The answer is the real server's: 422 `Invalid`, one cause
//! per field, in its words (`spec.replicas: Invalid value: -1: must be greater than or equal
//! to 0`).

use serde_json::Value;

use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;

/// `Ok` without causes, else the 422 `Invalid` kube-apiserver answers for object `obj` of
/// `info`'s kind (built by [`ApiError::invalid`]): how built-in field checks, custom
/// resources' schema checks and CRD checks answer.
pub(super) fn answer(info: &ResourceInfo, obj: &Value, causes: Vec<Cause>) -> Result<(), ApiError> {
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid(&info.kind, &info.group, name, causes))
}

fn non_negative(obj: &Value, path: &str, out: &mut Vec<Cause>) {
    let v = path.split('.').fold(obj, |v, k| &v[k]);
    if let Some(n) = v.as_i64().filter(|n| *n < 0) {
        out.push(Cause {
            field: path.into(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {n}: must be greater than or equal to 0"),
        });
    }
}

fn containers(pod_spec: &Value, path: &str, out: &mut Vec<Cause>) {
    for (i, c) in pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{path}.containers[{i}]");
        for key in ["name", "image"] {
            if c[key].as_str().is_none_or(str::is_empty) {
                out.push(Cause {
                    field: format!("{at}.{key}"),
                    reason: "FieldValueRequired",
                    message: "Required value".into(),
                });
            }
        }
        for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
            if let Some(n) = p["containerPort"]
                .as_i64()
                .filter(|n| !(1..=65535).contains(n))
            {
                out.push(Cause {
                    field: format!("{at}.ports[{j}].containerPort"),
                    reason: "FieldValueInvalid",
                    message: format!("Invalid value: {n}: must be between 1 and 65535, inclusive"),
                });
            }
        }
    }
}

/// `Ok` or the 422 the real server answers for `obj`.
pub fn fields(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let mut out = Vec::new();
    match info.kind.as_str() {
        "Deployment" | "ReplicaSet" => {
            non_negative(obj, "spec.replicas", &mut out);
            non_negative(obj, "spec.minReadySeconds", &mut out);
            if info.kind == "Deployment" {
                non_negative(obj, "spec.revisionHistoryLimit", &mut out);
                non_negative(obj, "spec.progressDeadlineSeconds", &mut out);
                let deadline = obj["spec"]["progressDeadlineSeconds"].as_i64();
                let min_ready = obj["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
                if let Some(d) = deadline.filter(|d| *d <= min_ready) {
                    out.push(Cause {
                        field: "spec.progressDeadlineSeconds".into(),
                        reason: "FieldValueInvalid",
                        message: format!(
                            "Invalid value: {d}: must be greater than minReadySeconds"
                        ),
                    });
                }
            }
            containers(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut out,
            );
        }
        "Job" => {
            for f in ["parallelism", "completions", "backoffLimit"] {
                non_negative(obj, &format!("spec.{f}"), &mut out);
            }
            containers(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut out,
            );
        }
        "Pod" => containers(&obj["spec"], "spec", &mut out),
        "StorageClass" => storage_class(obj, &mut out),
        "PersistentVolume" => persistent_volume(obj, &mut out),
        _ => {}
    }
    answer(info, obj, out)
}

/// `Unsupported value` for `path` unless its value (when set) is one of `allowed`.
fn one_of(obj: &Value, path: &str, allowed: &[&str], out: &mut Vec<Cause>) {
    let v = path.split('.').fold(obj, |v, k| &v[k]);
    if let Some(s) = v.as_str().filter(|s| !allowed.contains(s)) {
        let list: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        out.push(Cause {
            field: path.into(),
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: \"{s}\": supported values: {}",
                list.join(", ")
            ),
        });
    }
}

fn required(field: &str, message: &str, out: &mut Vec<Cause>) {
    out.push(Cause {
        field: field.into(),
        reason: "FieldValueRequired",
        message: message.into(),
    });
}

/// `ValidateStorageClass` (storage/validation): a provisioner, known policies.
fn storage_class(obj: &Value, out: &mut Vec<Cause>) {
    if obj["provisioner"].as_str().is_none_or(str::is_empty) {
        required("provisioner", "Required value", out);
    }
    one_of(obj, "reclaimPolicy", &["Delete", "Retain"], out);
    one_of(
        obj,
        "volumeBindingMode",
        &["Immediate", "WaitForFirstConsumer"],
        out,
    );
}

/// The parts of `ValidatePersistentVolume` for what the demo serves: a capacity, access
/// modes, one volume source, a known reclaim policy.
fn persistent_volume(obj: &Value, out: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    if spec["accessModes"].as_array().is_none_or(Vec::is_empty) {
        required("spec.accessModes", "Required value", out);
    }
    if spec["capacity"]["storage"].is_null() {
        required("spec.capacity", "Required value", out);
    }
    const SOURCES: [&str; 8] = [
        "hostPath", "local", "csi", "nfs", "iscsi", "rbd", "cephfs", "fc",
    ];
    if !SOURCES.iter().any(|k| spec[*k].is_object()) {
        required("spec", "Required value: must specify a volume type", out);
    }
    one_of(
        obj,
        "spec.persistentVolumeReclaimPolicy",
        &["Delete", "Recycle", "Retain"],
        out,
    );
}
