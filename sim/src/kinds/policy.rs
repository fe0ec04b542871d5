//! ResourceQuota, LimitRange and NetworkPolicy as kube-apiserver 1.20 decodes, defaults and
//! validates them, and resource quantities wherever built-in kinds carry them (quota `hard`
//! and `used`, LimitRange bounds, containers' `requests`/`limits`, PVC requests):
//!
//! - [`prepare`] (before the typed decode): numbers taken as quantities, and a string that
//!   is no quantity refused with the decoder's 400 (its `...|context|...` quoted from the
//!   body as kube-rs and the parity tests send it: compact JSON, keys sorted);
//! - [`check`] (after it): the 422s of the real validation, then quantities rewritten in
//!   their canonical form (`1000m` is stored as `1`);
//! - [`defaults`]: LimitRange items' `default`/`defaultRequest`, NetworkPolicy
//!   `policyTypes` and port protocols, a Pod's requests from its limits.

use serde_json::{json, Map, Value};

use super::quantity::Quantity;
use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;

const QUANTITY_PATTERN: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A map of quantities in an object: its JSON pointer and the decoder's path to it.
struct Site {
    pointer: String,
    chain: String,
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn pod_sites(spec: &Value, at: &str, chain: &str, out: &mut Vec<Site>) {
    for list in ["containers", "initContainers"] {
        for (i, _) in spec[list].as_array().into_iter().flatten().enumerate() {
            for f in ["limits", "requests"] {
                out.push(Site {
                    pointer: format!("{at}/{list}/{i}/resources/{f}"),
                    chain: format!(
                        "{chain}v1.PodSpec.{}: []v1.Container: v1.Container.Resources: v1.ResourceRequirements.{}",
                        upper_first(list),
                        upper_first(f)
                    ),
                });
            }
        }
    }
}

fn sites(info: &ResourceInfo, obj: &Value) -> Vec<Site> {
    let mut out = Vec::new();
    if info.custom {
        return out;
    }
    let kind = info.kind.as_str();
    let site = |pointer: &str, chain: String| Site {
        pointer: pointer.into(),
        chain,
    };
    match kind {
        "ResourceQuota" => {
            for (p, c) in [
                ("/spec/hard", "Spec: v1.ResourceQuotaSpec.Hard"),
                ("/status/hard", "Status: v1.ResourceQuotaStatus.Hard"),
                ("/status/used", "Status: v1.ResourceQuotaStatus.Used"),
            ] {
                out.push(site(p, format!("v1.ResourceQuota.{c}")));
            }
        }
        "LimitRange" => {
            for (i, _) in obj["spec"]["limits"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                for f in [
                    "default",
                    "defaultRequest",
                    "max",
                    "maxLimitRequestRatio",
                    "min",
                ] {
                    out.push(site(
                        &format!("/spec/limits/{i}/{f}"),
                        format!("v1.LimitRange.Spec: v1.LimitRangeSpec.Limits: []v1.LimitRangeItem: v1.LimitRangeItem.{}", upper_first(f)),
                    ));
                }
            }
        }
        "PersistentVolumeClaim" => {
            for f in ["limits", "requests"] {
                out.push(site(
                    &format!("/spec/resources/{f}"),
                    format!("v1.PersistentVolumeClaim.Spec: v1.PersistentVolumeClaimSpec.Resources: v1.ResourceRequirements.{}", upper_first(f)),
                ));
            }
            out.push(site(
                "/status/capacity",
                "v1.PersistentVolumeClaim.Status: v1.PersistentVolumeClaimStatus.Capacity".into(),
            ));
        }
        "Pod" => pod_sites(&obj["spec"], "/spec", "v1.Pod.Spec: ", &mut out),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "Job" => pod_sites(
            &obj["spec"]["template"]["spec"],
            "/spec/template/spec",
            &format!("v1.{kind}.Spec: v1.{kind}Spec.Template: v1.PodTemplateSpec.Spec: "),
            &mut out,
        ),
        _ => {}
    }
    out
}

/// Before the typed decode: numbers become quantity strings; a value that is no quantity
/// is the decoder's 400.
pub(super) fn prepare(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let mut bad: Vec<(String, String, String)> = Vec::new();
    for s in sites(info, obj) {
        let Some(map) = obj.pointer_mut(&s.pointer).and_then(Value::as_object_mut) else {
            continue;
        };
        for (k, v) in map.iter_mut() {
            match v {
                Value::Number(n) => *v = Value::String(n.to_string()),
                Value::String(q) if Quantity::parse(q).is_none() => {
                    bad.push((s.pointer.clone(), k.clone(), s.chain.clone()))
                }
                _ => {}
            }
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    // The decoder stops at the first bad value in the body: the one nearest its start.
    let mut first: Option<(usize, String, String)> = None;
    for (pointer, key, chain) in bad {
        let original = obj
            .pointer(&pointer)
            .and_then(|m| m.get(&key))
            .cloned()
            .unwrap_or(Value::Null);
        let mut marked = obj.clone();
        let slot = marked
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
            .and_then(|m| m.get_mut(&key));
        let Some(slot) = slot else { continue };
        *slot = marker();
        let text = serde_json::to_string(&marked).unwrap_or_default();
        let marker = serde_json::to_string(&marker()).unwrap_or_default();
        let Some(at) = text.find(&marker) else {
            continue;
        };
        let value_json = serde_json::to_string(&original).unwrap_or_default();
        let body = format!(
            "{}{}{}",
            &text[..at],
            value_json,
            &text[at + marker.len()..]
        );
        let head = at + value_json.len();
        if first.as_ref().is_none_or(|(h, _, _)| head < *h) {
            first = Some((head, body, chain));
        }
    }
    let Some((head, body, chain)) = first else {
        return Err(ApiError::bad_request(QUANTITY_PATTERN));
    };
    let bytes = body.as_bytes();
    let slice = |from: usize, to: usize| String::from_utf8_lossy(&bytes[from..to]).into_owned();
    let peek_start = head.saturating_sub(10);
    let peek = slice(peek_start, (head + 10).min(bytes.len()));
    let context = slice(head.saturating_sub(50), (head + 50).min(bytes.len()));
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{v}\" cannot be handled as a {kind}: {chain}: unmarshalerDecoder: {QUANTITY_PATTERN}, error found in #{n} byte of ...|{peek}|..., bigger context ...|{context}|...",
        kind = info.kind,
        v = info.version,
        n = head - peek_start,
    )))
}

/// What stands in for the bad value while the body is written out, to find its place.
fn marker() -> Value {
    json!("\u{1}wharf-quantity\u{1}")
}

/// A `FieldValueInvalid` cause with the real server's "Invalid value: " lead.
fn invalid(field: String, message: String) -> Cause {
    Cause::invalid(field, format!("Invalid value: {message}"))
}

/// The 422 for `causes` on `obj` (none: `Ok`), through the one builder of such answers.
fn answer(kind: &str, group: &str, obj: &Value, causes: Vec<Cause>) -> Result<(), ApiError> {
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid(kind, group, name, causes))
}

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
    "storage",
    "requests.storage",
];

const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn standard_resource(name: &str) -> bool {
    STANDARD_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

fn standard_quota_resource(name: &str) -> bool {
    (STANDARD_RESOURCES.contains(&name) && name != "storage")
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

/// `validateResourceName`: standard, or qualified with a `/`.
fn resource_name(name: &str, field: &str, out: &mut Vec<Cause>) -> bool {
    if !name.contains('/') && !standard_resource(name) {
        out.push(invalid(
            field.into(),
            format!("\"{name}\": must be a standard resource type or fully qualified"),
        ));
        return false;
    }
    true
}

fn quota_spec(obj: &Value, out: &mut Vec<Cause>) {
    let Some(hard) = obj["spec"]["hard"].as_object() else {
        return;
    };
    for (k, v) in hard {
        let field = format!("spec.hard[{k}]");
        resource_name(k, &field, out);
        if !k.contains('/') && !standard_quota_resource(k) {
            out.push(invalid(
                field.clone(),
                format!("\"{k}\": must be a standard resource for quota"),
            ));
        }
        let s = v.as_str().unwrap_or_default();
        let Some(q) = Quantity::parse(s) else {
            continue;
        };
        if q.is_negative() {
            out.push(invalid(
                field.clone(),
                format!("\"{q}\": must be greater than or equal to 0"),
            ));
        }
        if (INTEGER_RESOURCES.contains(&k.as_str()) || k.starts_with("count/")) && !q.is_integer() {
            out.push(invalid(
                field,
                format!("{}: must be an integer", Quantity::go_debug(s)),
            ));
        }
    }
}

fn parse_map(v: &Value) -> Vec<(String, String, Quantity)> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let s = v.as_str()?;
            Some((k.clone(), s.to_string(), Quantity::parse(s)?))
        })
        .collect()
}

fn limit_range(obj: &Value, out: &mut Vec<Cause>) {
    let mut seen: Vec<String> = Vec::new();
    for (i, item) in obj["spec"]["limits"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("spec.limits[{i}]");
        let ty = item["type"].as_str().unwrap_or_default();
        if !ty.contains('/') && !matches!(ty, "Pod" | "Container" | "PersistentVolumeClaim") {
            out.push(invalid(
                format!("{at}.type"),
                format!("\"{ty}\": must be a standard limit type or fully qualified"),
            ));
        }
        if seen.iter().any(|s| s == ty) {
            out.push(Cause {
                field: format!("{at}.type"),
                reason: "FieldValueDuplicate",
                message: format!("Duplicate value: \"{ty}\""),
            });
        }
        seen.push(ty.to_string());
        let mut item = item.clone();
        if ty == "Container" {
            default_limit_item(&mut item);
        }
        let get = |f: &str| parse_map(&item[f]);
        let (max, min) = (get("max"), get("min"));
        let (default, default_request) = (get("default"), get("defaultRequest"));
        let mut keys: Vec<String> = Vec::new();
        for (f, list) in [("max", &max), ("min", &min)] {
            for (k, _, _) in list {
                resource_name(k, &format!("{at}.{f}[{k}]"), out);
                keys.push(k.clone());
            }
        }
        if ty == "Pod" {
            for f in ["default", "defaultRequest"] {
                if item[f].as_object().is_some_and(|m| !m.is_empty()) {
                    out.push(Cause {
                        field: format!("{at}.{f}"),
                        reason: "FieldValueForbidden",
                        message: "Forbidden: may not be specified when `type` is 'Pod'".into(),
                    });
                }
            }
        } else {
            for (f, list) in [("default", &default), ("defaultRequest", &default_request)] {
                for (k, _, _) in list {
                    resource_name(k, &format!("{at}.{f}[{k}]"), out);
                    keys.push(k.clone());
                }
            }
        }
        keys.sort();
        keys.dedup();
        let find = |list: &[(String, String, Quantity)], k: &str| {
            list.iter()
                .find(|(n, _, _)| n == k)
                .map(|(_, s, q)| (s.clone(), *q))
        };
        for k in &keys {
            let (mn, mx) = (find(&min, k), find(&max, k));
            let (df, dr) = (find(&default, k), find(&default_request, k));
            let msg = |(s, _): &(String, Quantity), text: String| {
                format!("{}: {text}", Quantity::go_debug(s))
            };
            if let (Some(a), Some(b)) = (&mn, &mx) {
                if a.1 > b.1 {
                    out.push(invalid(
                        format!("{at}.min[{k}]"),
                        msg(
                            a,
                            format!("min value {} is greater than max value {}", a.1, b.1),
                        ),
                    ));
                }
            }
            if let (Some(d), Some(m)) = (&dr, &mn) {
                if m.1 > d.1 {
                    out.push(invalid(
                        format!("{at}.defaultRequest[{k}]"),
                        msg(
                            d,
                            format!(
                                "min value {} is greater than default request value {}",
                                m.1, d.1
                            ),
                        ),
                    ));
                }
            }
            if let (Some(d), Some(m)) = (&dr, &mx) {
                if d.1 > m.1 {
                    out.push(invalid(
                        format!("{at}.defaultRequest[{k}]"),
                        msg(
                            d,
                            format!(
                                "default request value {} is greater than max value {}",
                                d.1, m.1
                            ),
                        ),
                    ));
                }
            }
            if let (Some(d), Some(l)) = (&dr, &df) {
                if d.1 > l.1 {
                    out.push(invalid(
                        format!("{at}.defaultRequest[{k}]"),
                        msg(
                            d,
                            format!(
                                "default request value {} is greater than default limit value {}",
                                d.1, l.1
                            ),
                        ),
                    ));
                }
            }
            if let (Some(d), Some(m)) = (&df, &mn) {
                if m.1 > d.1 {
                    out.push(invalid(
                        format!("{at}.default[{k}]"),
                        msg(
                            m,
                            format!("min value {} is greater than default value {}", m.1, d.1),
                        ),
                    ));
                }
            }
            if let (Some(d), Some(m)) = (&df, &mx) {
                if d.1 > m.1 {
                    out.push(invalid(
                        format!("{at}.default[{k}]"),
                        msg(
                            d,
                            format!("default value {} is greater than max value {}", d.1, m.1),
                        ),
                    ));
                }
            }
        }
    }
}

fn network_policy(obj: &Value, out: &mut Vec<Cause>) {
    for (i, t) in obj["spec"]["policyTypes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let t = t.as_str().unwrap_or_default();
        if !matches!(t, "Ingress" | "Egress") {
            out.push(Cause {
                field: format!("spec.policyTypes[{i}]"),
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: \"{t}\": supported values: \"Ingress\", \"Egress\""
                ),
            });
        }
    }
}

/// Containers' requests and limits: not negative, a request not above its limit.
fn pod_resources(spec: &Value, at: &str, out: &mut Vec<Cause>) {
    for list in ["containers", "initContainers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let base = format!("{at}.{list}[{i}].resources");
            let limits = parse_map(&c["resources"]["limits"]);
            let requests = parse_map(&c["resources"]["requests"]);
            for (f, l) in [("limits", &limits), ("requests", &requests)] {
                for (k, _, q) in l {
                    if q.is_negative() {
                        out.push(invalid(
                            format!("{base}.{f}[{k}]"),
                            format!("\"{q}\": must be greater than or equal to 0"),
                        ));
                    }
                }
            }
            for (k, _, q) in &requests {
                let Some((_, _, lim)) = limits.iter().find(|(n, _, _)| n == k) else {
                    continue;
                };
                let overcommit = !(k.starts_with("hugepages-") || k.contains('/'));
                if !overcommit && q != lim {
                    out.push(invalid(
                        format!("{base}.requests"),
                        format!("\"{q}\": must be equal to {k} limit"),
                    ));
                } else if q > lim {
                    out.push(invalid(
                        format!("{base}.requests"),
                        format!("\"{q}\": must be less than or equal to {k} limit"),
                    ));
                }
            }
        }
    }
}

/// The 422 the real server answers for a Pod's container resources (also after the
/// LimitRanger has filled them in).
pub(crate) fn pod_resources_valid(obj: &Value) -> Result<(), ApiError> {
    let mut out = Vec::new();
    pod_resources(&obj["spec"], "spec", &mut out);
    answer("Pod", "", obj, out)
}

/// After the typed decode: the real server's 422s for these kinds, then every quantity
/// rewritten in canonical form.
pub(super) fn check(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    if info.custom {
        return Ok(());
    }
    let mut out = Vec::new();
    let mut kind = info.kind.as_str();
    let mut group = info.group.as_str();
    match kind {
        "ResourceQuota" => quota_spec(obj, &mut out),
        "LimitRange" => limit_range(obj, &mut out),
        "NetworkPolicy" => {
            network_policy(obj, &mut out);
            // NB: 1.20 validates the internal type, which it names for the old group.
            (kind, group) = ("NetworkPolicy", "extensions");
        }
        "Pod" => pod_resources(&obj["spec"], "spec", &mut out),
        "Deployment" | "ReplicaSet" | "Job" => pod_resources(
            &obj["spec"]["template"]["spec"],
            "spec.template.spec",
            &mut out,
        ),
        _ => {}
    }
    answer(kind, group, obj, out)?;
    for s in sites(info, obj) {
        if let Some(map) = obj.pointer_mut(&s.pointer).and_then(Value::as_object_mut) {
            canonical(map);
        }
    }
    Ok(())
}

fn canonical(map: &mut Map<String, Value>) {
    for v in map.values_mut() {
        if let Some(q) = v.as_str().and_then(Quantity::parse) {
            *v = Value::String(q.to_string());
        }
    }
}

/// `SetDefaults_LimitRangeItem` for a `Container` item: the default limit from `max`, the
/// default request from the default limit, else from `min`.
fn default_limit_item(item: &mut Value) {
    let copy_missing = |item: &mut Value, from: &str, to: &str| {
        let src = item[from].as_object().cloned().unwrap_or_default();
        if src.is_empty() {
            return;
        }
        if !item[to].is_object() {
            item[to] = json!({});
        }
        for (k, v) in src {
            if item[to].get(&k).is_none() {
                item[to][k] = v;
            }
        }
    };
    copy_missing(item, "max", "default");
    copy_missing(item, "default", "defaultRequest");
    copy_missing(item, "min", "defaultRequest");
}

/// Defaults of these kinds (called from `defaults::apply`).
pub(crate) fn defaults(info: &ResourceInfo, obj: &mut Value) {
    if info.custom {
        return;
    }
    match info.kind.as_str() {
        "LimitRange" => {
            if let Some(items) = obj
                .get_mut("spec")
                .and_then(|s| s.get_mut("limits"))
                .and_then(Value::as_array_mut)
            {
                for item in items.iter_mut().filter(|i| i["type"] == "Container") {
                    default_limit_item(item);
                }
            }
        }
        "NetworkPolicy" => {
            if !obj["spec"].is_object() {
                obj["spec"] = json!({});
            }
            let spec = &mut obj["spec"];
            if spec.get("podSelector").is_none_or(Value::is_null) {
                spec["podSelector"] = json!({});
            }
            if spec
                .get("policyTypes")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                let egress = spec
                    .get("egress")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty());
                spec["policyTypes"] = if egress {
                    json!(["Ingress", "Egress"])
                } else {
                    json!(["Ingress"])
                };
            }
            for dir in ["ingress", "egress"] {
                let Some(rules) = spec.get_mut(dir).and_then(Value::as_array_mut) else {
                    continue;
                };
                for rule in rules {
                    let Some(ports) = rule.get_mut("ports").and_then(Value::as_array_mut) else {
                        continue;
                    };
                    for p in ports.iter_mut().filter(|p| p.is_object()) {
                        if p.get("protocol").is_none_or(Value::is_null) {
                            p["protocol"] = json!("TCP");
                        }
                    }
                }
            }
        }
        "Pod" => {
            let Some(spec) = obj.get_mut("spec") else {
                return;
            };
            for list in ["containers", "initContainers"] {
                let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                    continue;
                };
                for c in cs {
                    let Some(res) = c.get_mut("resources").filter(|r| r.is_object()) else {
                        continue;
                    };
                    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
                        continue;
                    };
                    if !res["requests"].is_object() {
                        res["requests"] = json!({});
                    }
                    for (k, v) in limits {
                        if res["requests"].get(&k).is_none() {
                            res["requests"][k] = v;
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
