//! The admission plugins kube-apiserver 1.20 runs by default that the demo cluster copies:
//! **LimitRanger** (a pod's containers get their namespace's LimitRange `Container`
//! defaults, then are held to its `min`, `max` and `maxLimitRequestRatio`) and
//! **ResourceQuota** (a pod or PVC that would take a quota's `status.used` past its
//! `status.hard` is refused; an admitted one is charged to `status.used` at once, by
//! `kube-apiserver`, as the real plugin does). Both answer 403 Forbidden with the real
//! plugins' words. They run inside [`Store::create`](super::Store::create)'s write lock,
//! for API clients and the demo's controllers alike, so two creates cannot both take the
//! last of a quota.

use std::collections::BTreeMap;

use podsecurity as pod_security;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::{key, Event, EventType, State, WriteOptions};
use crate::error::{ApiError, Cause};
use crate::kinds::quantity::Quantity;
use crate::resources::{ResourceId, ResourceInfo};

/// Resource name → quantity, as Go's `corev1.ResourceList` (sorted keys).
pub type ResourceList = BTreeMap<String, Quantity>;

/// The `ResourceList` in a JSON map of quantity strings.
pub fn resource_list(v: &Value) -> ResourceList {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), Quantity::parse(v.as_str()?)?)))
        .collect()
}

/// `quota.Add`: keys of both, values summed in `a`'s format.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        out.entry(k.clone())
            .and_modify(|q| *q = q.add(v))
            .or_insert(*v);
    }
    out
}

/// `quota.Max`: keys of both, the larger value.
fn max(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        out.entry(k.clone())
            .and_modify(|q| {
                if v > q {
                    *q = *v
                }
            })
            .or_insert(*v);
    }
    out
}

fn mask<'a>(list: &ResourceList, names: impl IntoIterator<Item = &'a String>) -> ResourceList {
    let names: Vec<&String> = names.into_iter().collect();
    list.iter()
        .filter(|(k, _)| names.contains(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// `k=v,k=v`, as the quota plugin prints usage.
fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the pod evaluator tracks resource `name`.
pub fn pod_resource(name: &str) -> bool {
    matches!(
        name,
        "pods"
            | "count/pods"
            | "cpu"
            | "memory"
            | "ephemeral-storage"
            | "requests.cpu"
            | "requests.memory"
            | "requests.ephemeral-storage"
            | "limits.cpu"
            | "limits.memory"
            | "limits.ephemeral-storage"
    ) || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

/// Whether the PVC evaluator tracks resource `name`.
pub fn pvc_resource(name: &str) -> bool {
    matches!(
        name,
        "persistentvolumeclaims" | "count/persistentvolumeclaims" | "requests.storage"
    ) || name.ends_with(".storageclass.storage.k8s.io/requests.storage")
        || name.ends_with(".storageclass.storage.k8s.io/persistentvolumeclaims")
}

/// `podComputeUsageHelper`: what requests and limits charge.
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("pods".into(), Quantity::from_int(1));
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(q) = requests.get(r) {
            out.insert(r.into(), *q);
            out.insert(format!("requests.{r}"), *q);
        }
        if let Some(q) = limits.get(r) {
            out.insert(format!("limits.{r}"), *q);
        }
    }
    for (k, q) in requests {
        if k.starts_with("hugepages-") {
            out.insert(k.clone(), *q);
            out.insert(format!("requests.{k}"), *q);
        }
    }
    out
}

/// Whether a pod no longer counts for compute quota (Succeeded or Failed).
pub fn pod_terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// `PodUsageFunc`: `count/pods` always, the rest while the pod is not terminal.
pub fn pod_usage(pod: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("count/pods".into(), Quantity::from_int(1));
    if pod_terminal(pod) {
        return out;
    }
    let (mut requests, mut limits) = (ResourceList::new(), ResourceList::new());
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        requests = add(&requests, &resource_list(&c["resources"]["requests"]));
        limits = add(&limits, &resource_list(&c["resources"]["limits"]));
    }
    for c in pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        requests = max(&requests, &resource_list(&c["resources"]["requests"]));
        limits = max(&limits, &resource_list(&c["resources"]["limits"]));
    }
    add(&out, &compute_usage(&requests, &limits))
}

/// The PVC evaluator's usage: the claim and its storage request (also per storage class).
pub fn pvc_usage(pvc: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("count/persistentvolumeclaims".into(), Quantity::from_int(1));
    out.insert("persistentvolumeclaims".into(), Quantity::from_int(1));
    let class = pvc["spec"]["storageClassName"].as_str().unwrap_or_default();
    if !class.is_empty() {
        out.insert(
            format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
            Quantity::from_int(1),
        );
    }
    if let Some(q) = resource_list(&pvc["spec"]["resources"]["requests"]).get("storage") {
        out.insert("requests.storage".into(), *q);
        if !class.is_empty() {
            out.insert(
                format!("{class}.storageclass.storage.k8s.io/requests.storage"),
                *q,
            );
        }
    }
    out
}

/// The objects of `res` in namespace `ns`, by name.
fn in_namespace(st: &State, res: &str, ns: &str) -> Vec<Value> {
    let Some(table) = st.tables.get(&ResourceId::core(res)) else {
        return Vec::new();
    };
    table
        .range(key(ns, "")..)
        .take_while(|(k, _)| k.0 == ns)
        .map(|(_, e)| e.value())
        .collect()
}

/// Runs the admission plugins for a new object of `info` in `ns` (already defaulted and
/// validated); may change `obj` (LimitRanger) and the namespace's quotas' status.
pub(super) fn on_create(
    st: &mut State,
    tx: &broadcast::Sender<std::sync::Arc<Event>>,
    info: &ResourceInfo,
    ns: &str,
    obj: &mut Value,
    opts: &WriteOptions,
) -> Result<(), ApiError> {
    if info.custom || !info.group.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (usage, tracked): (ResourceList, fn(&str) -> bool) = match info.kind.as_str() {
        "Pod" => {
            limit_ranger(st, ns, &name, obj)?;
            pod_security(st, ns, &name, obj)?;
            (pod_usage(obj), pod_resource)
        }
        "Namespace" => return namespace_labels(&name, obj, None),
        "PersistentVolume" => {
            super::claims::on_create_volume(obj);
            return Ok(());
        }
        "PersistentVolumeClaim" => {
            // NB: the mutating plugins first: the quota is charged to the defaulted class.
            super::claims::on_create(st, obj);
            (pvc_usage(obj), pvc_resource)
        }
        _ => return Ok(()),
    };
    let res = info.id().key();
    let mut updates: Vec<(Value, ResourceList)> = Vec::new();
    for quota in in_namespace(st, "resourcequotas", ns) {
        let hard = resource_list(&quota["status"]["hard"]);
        let restricted: Vec<String> = hard.keys().filter(|k| tracked(k)).cloned().collect();
        if restricted.is_empty() {
            continue;
        }
        let qname = quota["metadata"]["name"].as_str().unwrap_or_default();
        if info.kind == "Pod" {
            constraints(obj, &restricted).map_err(|m| {
                ApiError::forbidden(&res, &name, format!("failed quota: {qname}: {m}"))
            })?;
        }
        let used = resource_list(&quota["status"]["used"]);
        if restricted.iter().any(|k| !used.contains_key(k)) {
            return Err(ApiError::forbidden(
                &res,
                &name,
                format!(
                    "status unknown for quota: {qname}, resources: {}",
                    restricted.join(",")
                ),
            ));
        }
        let requested = mask(&usage, hard.keys());
        let new_usage = add(&used, &requested);
        let exceeded: Vec<String> = mask(&new_usage, requested.keys())
            .into_iter()
            .filter(|(k, v)| hard.get(k).is_some_and(|h| v > h))
            .map(|(k, _)| k)
            .collect();
        if !exceeded.is_empty() {
            return Err(ApiError::forbidden(
                &res,
                &name,
                format!(
                    "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                    pretty(&mask(&requested, &exceeded)),
                    pretty(&mask(&used, &exceeded)),
                    pretty(&mask(&hard, &exceeded)),
                ),
            ));
        }
        if new_usage != used || new_usage.keys().ne(used.keys()) {
            updates.push((quota, new_usage));
        }
    }
    if opts.dry_run {
        return Ok(());
    }
    let quotas = ResourceId::core("resourcequotas");
    let Some(qinfo) = st.registry().by_id(&quotas).cloned() else {
        return Ok(());
    };
    for (old, used) in updates {
        let mut new = old.clone();
        new["status"]["used"] = used
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.to_string())))
            .collect::<serde_json::Map<_, _>>()
            .into();
        super::managed_fields::on_write(
            st,
            &qinfo,
            Some(&old),
            &mut new,
            &WriteOptions::by("kube-apiserver"),
        );
        let qname = new["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        st.commit(tx, &quotas, ns, &qname, EventType::Modified, new)?;
    }
    Ok(())
}

/// The admission plugins for an update of an object of `info` in `ns` (already validated):
/// PodSecurity, on a pod whose containers change (the main resource or its
/// `ephemeralcontainers`, never `status`), and on a namespace's Pod Security labels.
pub(super) fn on_update(
    st: &State,
    info: &ResourceInfo,
    ns: &str,
    old: &Value,
    new: &Value,
    status_only: bool,
) -> Result<(), ApiError> {
    if info.custom || !info.group.is_empty() || status_only {
        return Ok(());
    }
    let name = new["metadata"]["name"].as_str().unwrap_or_default();
    match info.kind.as_str() {
        "Pod" if pod_security::significant_update(old, new) => pod_security(st, ns, name, new),
        "Namespace" => namespace_labels(name, new, Some(old)),
        "PersistentVolumeClaim" => super::claims::on_update(st, name, old, new),
        _ => Ok(()),
    }
}

/// The PodSecurity plugin on a pod: the checks of its namespace's `enforce` level, refused
/// with the plugin's 403 (`violates PodSecurity "restricted:latest": …`).
fn pod_security(st: &State, ns: &str, name: &str, pod: &Value) -> Result<(), ApiError> {
    let Some(namespace) = st
        .tables
        .get(&ResourceId::core("namespaces"))
        .and_then(|t| t.get(&key("", ns)))
        .map(|e| e.value())
    else {
        return Ok(());
    };
    let (level, version) = pod_security::enforce_policy(&namespace["metadata"]["labels"]);
    let broken = pod_security::violations(level, &pod["metadata"], &pod["spec"]);
    if broken.is_empty() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "pods",
        name,
        pod_security::forbidden_message(level, &version, &broken),
    ))
}

/// The PodSecurity plugin on a namespace: its labels must name levels and versions, on
/// create and on an update that changes what is wrong with them (the 422 of
/// `ValidateNamespace`).
fn namespace_labels(name: &str, ns: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let errors = pod_security::label_errors(&ns["metadata"]["labels"]);
    if errors.is_empty() {
        return Ok(());
    }
    if let Some(old) = old {
        if pod_security::label_errors(&old["metadata"]["labels"]) == errors {
            return Ok(());
        }
    }
    let causes = errors
        .into_iter()
        .map(|(field, detail)| Cause::invalid(field, detail))
        .collect();
    Err(ApiError::invalid("Namespace", "", name, causes))
}

/// `enforcePodContainerConstraints`: with cpu or memory under quota, every container must
/// say how much it requests (and is limited to).
fn constraints(pod: &Value, restricted: &[String]) -> Result<(), String> {
    const VALIDATED: &[&str] = &[
        "cpu",
        "memory",
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
    ];
    let required: Vec<&String> = restricted
        .iter()
        .filter(|r| VALIDATED.contains(&r.as_str()))
        .collect();
    let mut missing: Vec<String> = Vec::new();
    for list in ["containers", "initContainers"] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            let usage = compute_usage(
                &resource_list(&c["resources"]["requests"]),
                &resource_list(&c["resources"]["limits"]),
            );
            for r in &required {
                if !usage.contains_key(*r) && !missing.contains(r) {
                    missing.push((*r).clone());
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort();
    Err(format!("must specify {}", missing.join(",")))
}

/// The LimitRanger plugin on a new pod: defaults, then bounds.
fn limit_ranger(st: &State, ns: &str, name: &str, pod: &mut Value) -> Result<(), ApiError> {
    let ranges = in_namespace(st, "limitranges", ns);
    if ranges.is_empty() {
        return Ok(());
    }
    let mut notes: Vec<String> = Vec::new();
    for lr in &ranges {
        let (mut requests, mut limits) = (ResourceList::new(), ResourceList::new());
        let mut raw_requests = serde_json::Map::new();
        let mut raw_limits = serde_json::Map::new();
        for item in lr["spec"]["limits"].as_array().into_iter().flatten() {
            if item["type"] != "Container" {
                continue;
            }
            for (k, v) in item["defaultRequest"].as_object().into_iter().flatten() {
                raw_requests.insert(k.clone(), v.clone());
            }
            for (k, v) in item["default"].as_object().into_iter().flatten() {
                raw_limits.insert(k.clone(), v.clone());
            }
        }
        requests.extend(resource_list(&Value::Object(raw_requests.clone())));
        limits.extend(resource_list(&Value::Object(raw_limits.clone())));
        if requests.is_empty() && limits.is_empty() {
            continue;
        }
        for (list, what) in [
            ("containers", "container"),
            ("initContainers", "init container"),
        ] {
            let Some(cs) = pod["spec"].get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in cs {
                let cname = c["name"].as_str().unwrap_or_default().to_string();
                if !c["resources"].is_object() {
                    c["resources"] = json!({});
                }
                let res = &mut c["resources"];
                let mut set = |field: &str, defaults: &serde_json::Map<String, Value>| {
                    if !res[field].is_object() {
                        res[field] = json!({});
                    }
                    let mut set: Vec<String> = Vec::new();
                    for (k, v) in defaults {
                        if res[field].get(k).is_none() {
                            res[field][k] = v.clone();
                            set.push(k.clone());
                        }
                    }
                    if res[field].as_object().is_some_and(|m| m.is_empty()) {
                        if let Some(m) = res.as_object_mut() {
                            m.remove(field);
                        }
                    }
                    set.sort();
                    set
                };
                let set_requests = set("requests", &raw_requests);
                let set_limits = set("limits", &raw_limits);
                if !set_requests.is_empty() {
                    notes.push(format!(
                        "{} request for {what} {cname}",
                        set_requests.join(", ")
                    ));
                }
                if !set_limits.is_empty() {
                    notes.push(format!(
                        "{} limit for {what} {cname}",
                        set_limits.join(", ")
                    ));
                }
            }
        }
    }
    if !notes.is_empty() {
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] =
            json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
        pod["status"]["qosClass"] = json!(crate::kinds::defaults::qos_class(&pod["spec"]));
        crate::kinds::pod_resources_valid(pod)?;
    }
    let mut errors: Vec<String> = Vec::new();
    for lr in &ranges {
        for item in lr["spec"]["limits"].as_array().into_iter().flatten() {
            if item["type"] != "Container" {
                continue;
            }
            for list in ["containers", "initContainers"] {
                for c in pod["spec"][list].as_array().into_iter().flatten() {
                    let requests = resource_list(&c["resources"]["requests"]);
                    let limits = resource_list(&c["resources"]["limits"]);
                    for (k, min) in resource_list(&item["min"]) {
                        let (req, lim) = (requests.get(&k), limits.get(&k));
                        match req {
                            None => errors.push(format!(
                                "minimum {k} usage per Container is {min}.  No request is specified"
                            )),
                            Some(r) if *r < min => errors.push(format!(
                                "minimum {k} usage per Container is {min}, but request is {r}"
                            )),
                            _ => {
                                if let Some(l) = lim.filter(|l| **l < min) {
                                    errors.push(format!(
                                        "minimum {k} usage per Container is {min}, but limit is {l}"
                                    ))
                                }
                            }
                        }
                    }
                    for (k, max) in resource_list(&item["max"]) {
                        let (req, lim) = (requests.get(&k), limits.get(&k));
                        match lim {
                            None => errors.push(format!(
                                "maximum {k} usage per Container is {max}.  No limit is specified"
                            )),
                            Some(l) if *l > max => errors.push(format!(
                                "maximum {k} usage per Container is {max}, but limit is {l}"
                            )),
                            _ => {
                                if let Some(r) = req.filter(|r| **r > max) {
                                    errors.push(format!(
                                        "maximum {k} usage per Container is {max}, but request is {r}"
                                    ))
                                }
                            }
                        }
                    }
                    for (k, ratio) in resource_list(&item["maxLimitRequestRatio"]) {
                        let req = requests.get(&k).filter(|q| !q.is_zero());
                        let lim = limits.get(&k).filter(|q| !q.is_zero());
                        match (req, lim) {
                            (None, _) => errors.push(format!("{k} max limit to request ratio per Container is {ratio}, but no request is specified or request is 0")),
                            (_, None) => errors.push(format!("{k} max limit to request ratio per Container is {ratio}, but no limit is specified or limit is 0")),
                            (Some(r), Some(l)) => {
                                let observed = l.as_f64() / r.as_f64();
                                if observed > ratio.as_f64() {
                                    errors.push(format!("{k} max limit to request ratio per Container is {ratio}, but provided ratio is {observed:.6}"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    match errors.as_slice() {
        [] => Ok(()),
        [one] => Err(ApiError::forbidden("pods", name, one.clone())),
        many => Err(ApiError::forbidden(
            "pods",
            name,
            format!("[{}]", many.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty_usage(pod: &Value) -> String {
        pretty(&pod_usage(pod))
    }

    #[test]
    fn pod_usage_sums_containers_and_takes_the_largest_init_container() {
        let pod = json!({"spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m"}}},
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
        }});
        assert_eq!(
            pretty_usage(&pod),
            "count/pods=1,cpu=2,limits.cpu=500m,memory=128Mi,pods=1,requests.cpu=2,requests.memory=128Mi"
        );
        let mut done = pod.clone();
        done["status"]["phase"] = json!("Succeeded");
        assert_eq!(pretty_usage(&done), "count/pods=1");
    }

    #[test]
    fn constraints_name_what_is_missing_sorted() {
        let pod = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        let restricted: Vec<String> = ["pods", "requests.memory", "limits.cpu", "requests.cpu"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            constraints(&pod, &restricted),
            Err("must specify limits.cpu,requests.memory".to_string())
        );
        let only_pods = vec!["pods".to_string()];
        assert_eq!(constraints(&pod, &only_pods), Ok(()));
    }

    #[test]
    fn claims_charge_storage_per_class() {
        let pvc = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}});
        assert_eq!(
            pretty(&pvc_usage(&pvc)),
            "count/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/requests.storage=1Gi,persistentvolumeclaims=1,requests.storage=1Gi"
        );
    }
}
