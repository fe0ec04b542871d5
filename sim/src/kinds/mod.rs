//! Admission for every kind: the body's shape (decoded into the k8s-openapi
//! type for built-ins, with unknown-field detection under
//! `fieldValidation=Strict`), name validation, and the defaults and
//! server-set fields a real API server adds on create and update.

pub(crate) mod defaults;
mod name;
mod policy;
pub mod quantity;
mod rbac;
mod schema;
mod statefulset;
mod strict;
mod validate;

use k8s_openapi::api::rbac::v1 as rbac_v1;
use k8s_openapi::api::{apps, batch, core::v1 as core, discovery};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

pub use self::name::validate_name;
pub(crate) use self::policy::pod_resources_valid;
use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;
use crate::store::IpAllocator;

/// Checks a request body against the resource it is sent to and returns it
/// normalized (unknown fields dropped, unless `strict`, where they are a 400).
pub fn check_body(info: &ResourceInfo, mut obj: Value, strict: bool) -> Result<Value, ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request was not a JSON object",
        ));
    };
    let cannot = |what: String| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {what}",
            info.kind, info.version, info.kind
        ))
    };
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(info.kind));
        }
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind of the provided object ({k}) does not match the resource it was sent to ({}, kind {})",
                info.id().key(),
                info.kind
            )))
        }
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(info.api_version()));
        }
        Some(av) => {
            let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            if group != info.group || (!info.custom && av != info.api_version()) {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    info.api_version()
                )));
            }
        }
    }
    match map.get("metadata") {
        None | Some(Value::Null) => {
            map.insert("metadata".into(), json!({}));
        }
        Some(Value::Object(_)) => {}
        Some(_) => return Err(cannot("metadata must be an object".into())),
    }
    if info.custom {
        // Its metadata as for any object; the rest pruned and defaulted by the CRD's schema
        // here, and validated once the server-set fields are in (`on_create`, `on_update`).
        let md = roundtrip::<ObjectMeta>(&obj["metadata"]).map_err(cannot)?;
        if strict {
            strict::report(&obj["metadata"], &md, "metadata").map_err(cannot)?;
        }
        obj["metadata"] = md;
        schema::normalize(info, &mut obj);
        return Ok(obj);
    }
    policy::prepare(info, &mut obj)?;
    let mut typed = typed_roundtrip(info, &obj).map_err(cannot)?;
    if info.kind == "StatefulSet" && obj["spec"]["selector"].is_null() {
        // NB: k8s-openapi's selector is not optional; a missing one must stay missing, as
        // 1.20 answers it differently from an empty one.
        if let Some(spec) = typed.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("selector");
        }
    }
    if strict {
        strict::report(&obj, &typed, "").map_err(cannot)?;
    }
    validate::fields(info, &typed)?;
    policy::check(info, &mut typed)?;
    Ok(typed)
}

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&t).map_err(|e| e.to_string())
}

fn typed_roundtrip(info: &ResourceInfo, obj: &Value) -> Result<Value, String> {
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Pod") => roundtrip::<core::Pod>(obj),
        ("", "Service") => roundtrip::<core::Service>(obj),
        ("", "Endpoints") => roundtrip::<core::Endpoints>(obj),
        ("", "ConfigMap") => roundtrip::<core::ConfigMap>(obj),
        ("", "Secret") => roundtrip::<core::Secret>(obj),
        ("", "Event") => roundtrip::<core::Event>(obj),
        ("", "ServiceAccount") => roundtrip::<core::ServiceAccount>(obj),
        ("", "PersistentVolumeClaim") => roundtrip::<core::PersistentVolumeClaim>(obj),
        ("", "PersistentVolume") => roundtrip::<core::PersistentVolume>(obj),
        ("storage.k8s.io", "StorageClass") => {
            roundtrip::<k8s_openapi::api::storage::v1::StorageClass>(obj)
        }
        ("", "Node") => roundtrip::<core::Node>(obj),
        ("", "ResourceQuota") => roundtrip::<core::ResourceQuota>(obj),
        ("", "LimitRange") => roundtrip::<core::LimitRange>(obj),
        ("networking.k8s.io", "NetworkPolicy") => {
            roundtrip::<k8s_openapi::api::networking::v1::NetworkPolicy>(obj)
        }
        ("", "Namespace") => roundtrip::<core::Namespace>(obj),
        ("rbac.authorization.k8s.io", "Role") => roundtrip::<rbac_v1::Role>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => roundtrip::<rbac_v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => roundtrip::<rbac_v1::RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            roundtrip::<rbac_v1::ClusterRoleBinding>(obj)
        }
        ("apps", "Deployment") => roundtrip::<apps::v1::Deployment>(obj),
        ("apps", "ReplicaSet") => roundtrip::<apps::v1::ReplicaSet>(obj),
        ("apps", "StatefulSet") => roundtrip::<apps::v1::StatefulSet>(obj),
        ("apps", "ControllerRevision") => roundtrip::<apps::v1::ControllerRevision>(obj),
        ("batch", "Job") => roundtrip::<batch::v1::Job>(obj),
        ("coordination.k8s.io", "Lease") => {
            roundtrip::<k8s_openapi::api::coordination::v1::Lease>(obj)
        }
        ("discovery.k8s.io", "EndpointSlice") => roundtrip::<discovery::v1::EndpointSlice>(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            roundtrip::<apiext::CustomResourceDefinition>(obj)
        }
        ("authorization.k8s.io", "SelfSubjectAccessReview") => {
            roundtrip::<k8s_openapi::api::authorization::v1::SelfSubjectAccessReview>(obj)
        }
        _ => Ok(obj.clone()),
    }
}

/// Kinds whose `metadata.generation` the server maintains.
pub fn has_generation(info: &ResourceInfo) -> bool {
    !matches!(
        info.kind.as_str(),
        "ConfigMap"
            | "Secret"
            | "Event"
            | "Endpoints"
            | "ServiceAccount"
            | "Namespace"
            | "Node"
            | "EndpointSlice"
            | "Lease"
            | "Pod"
            | "ResourceQuota"
            | "LimitRange"
            | "PersistentVolume"
            | "StorageClass"
            | "Role"
            | "ClusterRole"
            | "RoleBinding"
            | "ClusterRoleBinding"
            | "ControllerRevision"
    ) || info.custom
}

/// Server-set fields and defaults for a new object (metadata.uid and name are already set).
pub(crate) fn on_create(
    info: &ResourceInfo,
    obj: &mut Value,
    ips: &IpAllocator,
) -> Result<(), ApiError> {
    if info.custom {
        return schema::admit(info, obj);
    }
    match info.kind.as_str() {
        "Service" => defaults::allocate_cluster_ip(obj, ips, info)?,
        "Namespace" => {
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            obj["status"] = json!({"phase": "Active"});
        }
        "Pod" => {
            obj["status"] =
                json!({"phase": "Pending", "qosClass": defaults::qos_class(&obj["spec"])})
        }
        "PersistentVolumeClaim" if obj["status"]["phase"].as_str().is_none() => {
            obj["status"] = json!({"phase": "Pending"});
        }
        // NB: `SetDefaults_PersistentVolume`; the PV controller then makes it Available.
        "PersistentVolume" => obj["status"] = json!({"phase": "Pending"}),
        "Job" => defaults::job_selector(obj),
        // NB: `replicas` has no `omitempty`: a new set's status shows it.
        "StatefulSet" => obj["status"] = json!({"replicas": 0}),
        "ResourceQuota" => obj["status"] = json!({}),
        "CustomResourceDefinition" => obj["status"] = crd_status(obj),
        _ => {}
    }
    defaults::apply(info, obj);
    rbac::encode(info, obj);
    Ok(())
}

/// Server-set fields and defaults on update; `old` is the stored object.
pub(crate) fn on_update(info: &ResourceInfo, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    if info.custom {
        return schema::admit(info, new);
    }
    match info.kind.as_str() {
        "Service" => {
            for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                if new["spec"].get(k).is_none_or(Value::is_null) {
                    if let Some(v) = old["spec"].get(k) {
                        new["spec"][k] = v.clone();
                    }
                }
            }
            let (o, n) = (&old["spec"]["clusterIP"], &new["spec"]["clusterIP"]);
            if o != n {
                let name = new["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                return Err(ApiError::invalid(
                    "Service",
                    "",
                    &name,
                    vec![Cause::invalid(
                        "spec.clusterIP",
                        format!("Invalid value: {n}: field is immutable"),
                    )],
                ));
            }
        }
        "Job" if new["spec"]["selector"].is_null() => {
            new["spec"]["selector"] = old["spec"]["selector"].clone()
        }
        "Namespace" => {
            let name = new["metadata"]["name"].clone();
            new["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        }
        "CustomResourceDefinition" => new["status"] = crd_status(new),
        "StorageClass" => storage_class_update(info, old, new)?,
        _ => {}
    }
    defaults::apply(info, new);
    rbac::encode(info, new);
    statefulset::validate_update(info, old, new)?;
    // NB: a binding's roleRef is compared once both sides are defaulted, as 1.20 does.
    rbac::validate(info, new, Some(old))
}

/// `ValidateStorageClassUpdate`: what provisions a class's volumes never changes (the
/// defaults are compared, as the stored object has them).
fn storage_class_update(info: &ResourceInfo, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    defaults::apply(info, new);
    let mut causes = Vec::new();
    for k in ["parameters", "provisioner", "reclaimPolicy"] {
        let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|m| m.is_empty());
        if old[k] != new[k] && !(empty(&old[k]) && empty(&new[k])) {
            causes.push(Cause::new(
                "FieldValueForbidden",
                k,
                format!("Forbidden: updates to {k} are forbidden."),
            ));
        }
    }
    if old["volumeBindingMode"] != new["volumeBindingMode"] {
        causes.push(Cause::invalid(
            "volumeBindingMode",
            format!(
                "Invalid value: {}: field is immutable",
                new["volumeBindingMode"]
            ),
        ));
    }
    validate::answer(info, new, causes)
}

/// Custom resources cannot be replaced unconditionally: a PUT must carry the
/// `resourceVersion` it replaces (PATCH sets it from the object it patched).
pub(crate) fn check_update_precondition(
    info: &ResourceInfo,
    name: &str,
    obj: &Value,
) -> Result<(), ApiError> {
    let rv = obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    if !info.custom || !rv.is_empty() {
        return Ok(());
    }
    // NB: kube-apiserver names the resource (`things.parity.dev`) where a kind would be.
    Err(ApiError::invalid(
        &info.plural,
        &info.group,
        name,
        vec![Cause::invalid(
            "metadata.resourceVersion",
            "Invalid value: 0x0: must be specified for an update",
        )],
    ))
}

/// Checks that go beyond the shape: the name of a CRD, a Deployment's selector, the fields of
/// RBAC kinds (after their defaults, see `rbac::validate`).
pub(crate) fn validate(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    rbac::validate(info, obj, None)?;
    if !info.custom {
        statefulset::validate(info, obj)?;
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match info.kind.as_str() {
        "CustomResourceDefinition" if !info.custom => {
            let mut causes = Vec::new();
            let want = format!(
                "{}.{}",
                obj["spec"]["names"]["plural"].as_str().unwrap_or_default(),
                obj["spec"]["group"].as_str().unwrap_or_default()
            );
            if name != want {
                causes.push(Cause::invalid(
                    "metadata.name",
                    format!(
                        "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                    ),
                ));
            }
            causes.extend(schema::validate_crd(obj));
            validate::answer(info, obj, causes)?;
        }
        "Deployment" | "ReplicaSet" if !info.custom => {
            let sel = &obj["spec"]["selector"]["matchLabels"];
            let labels = &obj["spec"]["template"]["metadata"]["labels"];
            if let Some(sel) = sel.as_object() {
                if sel.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                    let cause = Cause::invalid(
                        "spec.template.metadata.labels",
                        format!(
                            "Invalid value: {labels}: `selector` does not match template `labels`"
                        ),
                    );
                    validate::answer(info, obj, vec![cause])?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The status a CRD gets once "established" (names accepted, served immediately).
pub(crate) fn crd_status(crd: &Value) -> Value {
    let now = crate::store::now();
    let names = crd["spec"]["names"].clone();
    let mut accepted = names.clone();
    if accepted["singular"].is_null() {
        accepted["singular"] = json!(names["kind"].as_str().unwrap_or_default().to_lowercase());
    }
    if accepted["listKind"].is_null() {
        accepted["listKind"] = json!(format!(
            "{}List",
            names["kind"].as_str().unwrap_or_default()
        ));
    }
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "acceptedNames": accepted,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ]
    })
}
