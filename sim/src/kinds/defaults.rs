//! Defaults the real API server fills in, for the fields that `kubectl
//! rollout status`, `describe` and the console read: pod specs, Deployments,
//! ReplicaSets, StatefulSets, Jobs, Services, Secrets, CRDs.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;
use crate::store::IpAllocator;

fn default(m: &mut Value, k: &str, v: Value) {
    if let Some(map) = m.as_object_mut() {
        if map.get(k).is_none_or(Value::is_null) {
            map.insert(k.to_string(), v);
        }
    }
}

/// Applies defaults in place (idempotent, so it runs on every write).
pub fn apply(info: &ResourceInfo, obj: &mut Value) {
    super::policy::defaults(info, obj);
    super::rbac::defaults(info, obj);
    match info.kind.as_str() {
        "Pod" => {
            pod_spec(&mut obj["spec"]);
            pod_only(&mut obj["spec"]);
        }
        "Deployment" => {
            let spec = &mut obj["spec"];
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            default(spec, "strategy", json!({}));
            default(&mut spec["strategy"], "type", json!("RollingUpdate"));
            if spec["strategy"]["type"] == "RollingUpdate" {
                default(&mut spec["strategy"], "rollingUpdate", json!({}));
                default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxSurge",
                    json!("25%"),
                );
            }
            template_spec(spec);
        }
        "ReplicaSet" => {
            default(&mut obj["spec"], "replicas", json!(1));
            template_spec(&mut obj["spec"]);
        }
        "StatefulSet" => {
            // `SetDefaults_StatefulSet`: a `rollingUpdate` (partition 0) only when the type
            // was left out; a given `RollingUpdate` without one stays without.
            let spec = &mut obj["spec"];
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "updateStrategy", json!({}));
            if spec["updateStrategy"]["type"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                spec["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {}});
            }
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                if let Some(ru) = spec["updateStrategy"]
                    .get_mut("rollingUpdate")
                    .filter(|r| r.is_object())
                {
                    default(ru, "partition", json!(0));
                }
            }
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            // NB: not `omitempty` in Go, and not required by 1.20's validation.
            default(spec, "serviceName", json!(""));
            template_spec(spec);
            if let Some(claims) = spec
                .get_mut("volumeClaimTemplates")
                .and_then(Value::as_array_mut)
            {
                for c in claims {
                    claim_template(c);
                }
            }
        }
        "Job" => {
            let spec = &mut obj["spec"];
            if spec["completions"].is_null() && spec["parallelism"].is_null() {
                spec["completions"] = json!(1);
            }
            default(spec, "parallelism", json!(1));
            default(spec, "backoffLimit", json!(6));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
            default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            default(spec, "manualSelector", json!(false));
            template_spec(spec);
        }
        "Service" => {
            let spec = &mut obj["spec"];
            default(spec, "type", json!("ClusterIP"));
            default(spec, "sessionAffinity", json!("None"));
            default(spec, "internalTrafficPolicy", json!("Cluster"));
            if matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer")) {
                default(spec, "externalTrafficPolicy", json!("Cluster"));
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    default(p, "protocol", json!("TCP"));
                    let port = p["port"].clone();
                    default(p, "targetPort", port);
                }
            }
        }
        "Secret" => {
            default(obj, "type", json!("Opaque"));
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                default(obj, "data", json!({}));
                for (k, v) in sd {
                    let enc = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    obj["data"][k] = json!(enc);
                }
            }
        }
        "Namespace" => {
            default(obj, "spec", json!({}));
            default(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
        }
        "PersistentVolumeClaim" => default(&mut obj["spec"], "volumeMode", json!("Filesystem")),
        "PersistentVolume" => {
            // `SetDefaults_PersistentVolume`: a static PV keeps its data unless told otherwise.
            default(
                &mut obj["spec"],
                "persistentVolumeReclaimPolicy",
                json!("Retain"),
            );
            default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            if let Some(hp) = obj["spec"].get_mut("hostPath").filter(|h| h.is_object()) {
                default(hp, "type", json!(""));
            }
        }
        "StorageClass" => {
            default(obj, "reclaimPolicy", json!("Delete"));
            default(obj, "volumeBindingMode", json!("Immediate"));
        }
        "CustomResourceDefinition" => {
            default(&mut obj["spec"], "conversion", json!({"strategy": "None"}));
        }
        _ => {}
    }
}

/// Pod defaults inside `spec.template.spec`, if there is one.
fn template_spec(spec: &mut Value) {
    let Some(t) = spec.get_mut("template").and_then(Value::as_object_mut) else {
        return;
    };
    // NB: as Go writes the template's zero-valued ObjectMeta.
    let md = t.entry("metadata").or_insert_with(|| json!({}));
    default(md, "creationTimestamp", Value::Null);
    if let Some(s) = t.get_mut("spec") {
        pod_spec(s);
    }
}

/// A StatefulSet's claim template: what `SetDefaults_PersistentVolumeClaim` gives a claim
/// (its volume mode, the `Pending` phase), with Go's zero-valued `creationTimestamp`.
fn claim_template(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    default(c, "metadata", json!({}));
    default(&mut c["metadata"], "creationTimestamp", Value::Null);
    default(c, "spec", json!({}));
    default(&mut c["spec"], "volumeMode", json!("Filesystem"));
    default(c, "status", json!({}));
    default(&mut c["status"], "phase", json!("Pending"));
}

// NB: reads go through `get_mut`, never `v["k"]` on a `&mut Value`, which would insert nulls.
fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                container(c);
            }
        }
    }
}

/// What pods get and their templates do not (the ServiceAccount admission plugin and
/// `SetDefaults_Pod`, not `SetDefaults_PodSpec`).
fn pod_only(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default(spec, "serviceAccountName", json!("default"));
    let sa = spec["serviceAccountName"].clone();
    default(spec, "serviceAccount", sa);
    default(spec, "enableServiceLinks", json!(true));
}

fn container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default().to_string();
    let tag = image.rsplit('/').next().unwrap_or_default();
    let latest = !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest"));
    default(
        c,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            default(p, "protocol", json!("TCP"));
        }
    }
    // SetDefaults_ObjectFieldSelector: the downward API's field references name their version
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env {
            if let Some(r) = e.pointer_mut("/valueFrom/fieldRef") {
                default(r, "apiVersion", json!("v1"));
            }
        }
    }
}

/// Guaranteed, Burstable or BestEffort, from the containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let cs: Vec<&Value> = spec["containers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let any = cs.iter().any(|c| {
        c["resources"]["requests"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
            || c["resources"]["limits"]
                .as_object()
                .is_some_and(|m| !m.is_empty())
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = cs.iter().all(|c| {
        let l = &c["resources"]["limits"];
        let r = &c["resources"]["requests"];
        ["cpu", "memory"]
            .iter()
            .all(|k| l[*k].is_string() && (r[*k].is_null() || r[*k] == l[*k]))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The generated selector and template labels of a Job without `manualSelector`.
pub fn job_selector(obj: &mut Value) {
    if obj["spec"]["manualSelector"].as_bool() == Some(true) {
        return;
    }
    let uid = obj["metadata"]["uid"].clone();
    let name = obj["metadata"]["name"].clone();
    let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    labels["batch.kubernetes.io/controller-uid"] = uid.clone();
    labels["batch.kubernetes.io/job-name"] = name.clone();
    labels["controller-uid"] = uid.clone();
    labels["job-name"] = name;
    obj["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
}

/// Gives a new Service its cluster IP (unless headless) and node ports.
pub fn allocate_cluster_ip(
    obj: &mut Value,
    ips: &IpAllocator,
    info: &ResourceInfo,
) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    if spec["type"].as_str() == Some("ExternalName") {
        return Ok(());
    }
    let ip = match spec["clusterIP"].as_str() {
        Some("None") => "None".to_string(),
        Some(ip) if !ip.is_empty() => {
            if ips.is_used(ip) {
                return Err(ApiError::invalid(
                    &info.kind,
                    "",
                    &name,
                    vec![Cause::invalid("spec.clusterIPs", format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated"))],
                ));
            }
            ip.to_string()
        }
        _ => ips
            .allocate()
            .ok_or_else(|| ApiError::internal("no cluster IPs left in 10.96.0.0/12"))?,
    };
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    default(spec, "ipFamilies", json!(["IPv4"]));
    default(spec, "ipFamilyPolicy", json!("SingleStack"));
    if matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer")) {
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                if p["nodePort"].is_null() {
                    use rand::Rng;
                    p["nodePort"] = json!(rand::rng().random_range(30000..32768));
                }
            }
        }
    }
    Ok(())
}
