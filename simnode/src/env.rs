//! A container's environment, resolved as the kubelet does each time it creates a
//! container (`makeEnvironmentVariables`).
//!
//! First `envFrom` (ConfigMaps and Secrets, with their `prefix`; keys that are not valid
//! variable names are skipped), then `env` in order: a `value` with its `$(VAR)`
//! references expanded against what is defined so far, or a `valueFrom` — `secretKeyRef`,
//! `configMapKeyRef`, `fieldRef` (`metadata.name`, `metadata.namespace`, `metadata.uid`,
//! `metadata.labels['k']`, `metadata.annotations['k']`, `spec.nodeName`,
//! `spec.serviceAccountName`, `status.podIP(s)`, `status.hostIP(s)`) or
//! `resourceFieldRef` (cpu and memory limits and requests; without a limit, the demo
//! node's allocatable). Later definitions of a name replace earlier ones.
//!
//! Secrets and ConfigMaps come from an [`ObjectSource`] (the demo cluster's store, see
//! [`crate::NodeRuntime::set_object_source`]). A missing one — or a missing key — that is
//! not `optional` is an error with the kubelet's words (`secret "x" not found`,
//! `couldn't find key k in Secret ns/x`); the container then waits in
//! `CreateContainerConfigError` and is tried again (see [`crate::lifecycle`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{EnvVar, ResourceFieldSelector};

use crate::plan::{expand_env_refs, parse_bytes, parse_cpu_millicores, ContainerPlan, PodPlan};

/// Where a node reads Secrets and ConfigMaps (the API server, for a kubelet).
pub trait ObjectSource: Send + Sync + 'static {
    /// The Secret's `data`, decoded; `None` when there is no such Secret.
    fn secret(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>>;
    /// The ConfigMap's `data`; `None` when there is no such ConfigMap.
    fn config_map(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>>;
    /// The folder on this host of the volume bound to claim `namespace/name`; `None` when
    /// there is no such claim or it is not bound (the kubelet's volume manager, for a node
    /// whose volumes are folders).
    fn claim_folder(&self, namespace: &str, name: &str) -> Option<std::path::PathBuf> {
        let _ = (namespace, name);
        None
    }
    /// Why claim `namespace/name` has no folder, in the words of the kubelet's volume
    /// manager: `failed to fetch PVC from API server: persistentvolumeclaims "x" not
    /// found`, `PVC is being deleted`, `PVC is not bound`. The default cannot tell them
    /// apart and says the last.
    fn claim_error(&self, namespace: &str, name: &str) -> String {
        let _ = (namespace, name);
        "PVC is not bound".into()
    }
    /// The capacity in bytes of claim `namespace/name` (its `status.capacity.storage`, or
    /// its volume's), for `kubelet_volume_stats_capacity_bytes`; `None` when unknown.
    fn claim_capacity(&self, namespace: &str, name: &str) -> Option<u64> {
        let _ = (namespace, name);
        None
    }
}

/// The demo node's allocatable resources (as the demo cluster's Node objects say), the
/// value of a `limits.*` resourceFieldRef for a container without that limit.
const NODE_CPU_MILLICORES: u64 = 7800;
const NODE_MEMORY_BYTES: u64 = 31 << 30;

/// A looked-up object: its entries, or `None` for an optional one that is missing.
type Entries = Option<BTreeMap<String, Vec<u8>>>;

struct Lookup<'a> {
    source: Option<&'a dyn ObjectSource>,
    namespace: &'a str,
    secrets: BTreeMap<String, Entries>,
    config_maps: BTreeMap<String, Entries>,
}

impl Lookup<'_> {
    /// The object's entries; `Ok(None)` when it is missing and optional.
    fn get(&mut self, secret: bool, name: &str, optional: bool) -> Result<Entries, String> {
        let ns = self.namespace;
        let source = self.source;
        let cache = if secret {
            &mut self.secrets
        } else {
            &mut self.config_maps
        };
        if let Some(found) = cache.get(name) {
            return Ok(found.clone());
        }
        let found = source.and_then(|s| {
            if secret {
                s.secret(ns, name)
            } else {
                s.config_map(ns, name)
                    .map(|m| m.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())
            }
        });
        match found {
            Some(entries) => {
                cache.insert(name.to_string(), Some(entries.clone()));
                Ok(Some(entries))
            }
            None if optional => Ok(None),
            None => Err(format!(
                "{} \"{name}\" not found",
                if secret { "secret" } else { "configmap" }
            )),
        }
    }
}

/// Whether `name` is a valid environment variable name (`IsEnvVarName`).
fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    }
}

/// The container's environment (see the module docs), or the kubelet's error message.
pub fn resolve(
    pod: &PodPlan,
    ip: Ipv4Addr,
    c: &ContainerPlan,
    source: Option<&dyn ObjectSource>,
) -> Result<Vec<(String, String)>, String> {
    let mut lookup = Lookup {
        source,
        namespace: &pod.namespace,
        secrets: BTreeMap::new(),
        config_maps: BTreeMap::new(),
    };
    let mut env: Vec<(String, String)> = Vec::new();
    for from in &c.env_from {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let (secret, name, optional) = match (&from.secret_ref, &from.config_map_ref) {
            (Some(s), _) => (true, &s.name, s.optional.unwrap_or(false)),
            (None, Some(m)) => (false, &m.name, m.optional.unwrap_or(false)),
            (None, None) => continue,
        };
        let Some(entries) = lookup.get(secret, name, optional)? else {
            continue;
        };
        for (k, v) in entries {
            let k = format!("{prefix}{k}");
            if valid_env_name(&k) {
                set(&mut env, k, String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    for var in &c.env_vars {
        if let Some(value) = env_var_value(var, pod, ip, c, &env, &mut lookup)? {
            set(&mut env, var.name.clone(), value);
        }
    }
    Ok(env)
}

/// One `env` entry's value; `None` to leave it out (an optional source that is missing).
fn env_var_value(
    var: &EnvVar,
    pod: &PodPlan,
    ip: Ipv4Addr,
    c: &ContainerPlan,
    env: &[(String, String)],
    lookup: &mut Lookup<'_>,
) -> Result<Option<String>, String> {
    let ns = &pod.namespace;
    if let Some(v) = var.value.as_deref().filter(|v| !v.is_empty()) {
        return Ok(Some(expand_env_refs(v, env)));
    }
    let Some(from) = &var.value_from else {
        return Ok(Some(String::new()));
    };
    if let Some(r) = &from.secret_key_ref {
        let optional = r.optional.unwrap_or(false);
        let Some(entries) = lookup.get(true, &r.name, optional)? else {
            return Ok(None);
        };
        return match entries.get(&r.key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {} in Secret {ns}/{}",
                r.key, r.name
            )),
        };
    }
    if let Some(r) = &from.config_map_key_ref {
        let optional = r.optional.unwrap_or(false);
        let Some(entries) = lookup.get(false, &r.name, optional)? else {
            return Ok(None);
        };
        return match entries.get(&r.key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {} in ConfigMap {ns}/{}",
                r.key, r.name
            )),
        };
    }
    if let Some(f) = &from.field_ref {
        return field_value(&f.field_path, pod, ip).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        return resource_value(r, c).map(Some);
    }
    Ok(Some(String::new()))
}

/// The downward API's `fieldRef`.
pub(crate) fn field_value(path: &str, pod: &PodPlan, ip: Ipv4Addr) -> Result<String, String> {
    let keyed = |prefix: &str, map: &BTreeMap<String, String>| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("']"))
            .map(|k| map.get(k).cloned().unwrap_or_default())
    };
    if let Some(v) = keyed("metadata.labels['", &pod.labels) {
        return Ok(v);
    }
    if let Some(v) = keyed("metadata.annotations['", &pod.annotations) {
        return Ok(v);
    }
    Ok(match path {
        "metadata.name" => pod.name.clone(),
        "metadata.namespace" => pod.namespace.clone(),
        "metadata.uid" => pod.uid.clone(),
        "spec.nodeName" => pod.node_name.clone(),
        "spec.serviceAccountName" => pod.service_account.clone(),
        "status.podIP" | "status.podIPs" => ip.to_string(),
        // NB: the demo cluster's nodes all live on this host.
        "status.hostIP" | "status.hostIPs" => Ipv4Addr::LOCALHOST.to_string(),
        _ => return Err(format!("unsupported fieldPath: {path}")),
    })
}

/// The downward API's `resourceFieldRef` for cpu and memory.
pub(crate) fn resource_value(
    r: &ResourceFieldSelector,
    c: &ContainerPlan,
) -> Result<String, String> {
    let quantity = |kind: &str, name: &str| -> Option<String> {
        let res = c.resources.as_ref()?;
        let map = if kind == "limits" {
            res.limits.as_ref()
        } else {
            res.requests.as_ref().or(res.limits.as_ref())
        };
        map?.get(name).map(|q| q.0.clone())
    };
    let divisor = r.divisor.as_ref().map(|q| q.0.as_str());
    let (kind, name) = r
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource: {}", r.resource))?;
    let value = match name {
        "cpu" => {
            let millis = quantity(kind, "cpu")
                .and_then(|q| parse_cpu_millicores(&q))
                .unwrap_or(if kind == "limits" {
                    NODE_CPU_MILLICORES
                } else {
                    0
                });
            let per = divisor
                .and_then(parse_cpu_millicores)
                .unwrap_or(1000)
                .max(1);
            millis.div_ceil(per)
        }
        "memory" => {
            let bytes = quantity(kind, "memory")
                .and_then(|q| parse_bytes(&q))
                .unwrap_or(if kind == "limits" {
                    NODE_MEMORY_BYTES
                } else {
                    0
                });
            let per = divisor.and_then(parse_bytes).unwrap_or(1).max(1);
            bytes.div_ceil(per)
        }
        _ => return Err(format!("unsupported container resource: {}", r.resource)),
    };
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    struct Objects;

    impl ObjectSource for Objects {
        fn secret(&self, ns: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
            (ns == "ci" && name == "registry").then(|| {
                BTreeMap::from([
                    ("password".to_string(), b"s3cret".to_vec()),
                    ("user".to_string(), b"robot".to_vec()),
                ])
            })
        }
        fn config_map(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
            (ns == "ci" && name == "settings").then(|| {
                BTreeMap::from([
                    ("LEVEL".to_string(), "debug".to_string()),
                    ("bad key".to_string(), "x".to_string()),
                ])
            })
        }
    }

    fn plan(env: serde_json::Value, env_from: serde_json::Value) -> PodPlan {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ci", "uid": "u", "labels": {"app": "web"}},
            "spec": {"nodeName": "demo-node-1", "restartPolicy": "Never", "containers": [{
                "name": "c", "image": "busybox", "env": env, "envFrom": env_from,
                "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}}}]}
        }))
        .unwrap();
        PodPlan::from_pod(&pod).unwrap()
    }

    fn run(p: &PodPlan) -> Result<Vec<(String, String)>, String> {
        resolve(
            p,
            Ipv4Addr::new(127, 9, 0, 1),
            &p.containers[0],
            Some(&Objects),
        )
    }

    #[test]
    fn sources_resolve_in_kubelet_order() {
        let p = plan(
            serde_json::json!([
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "registry", "key": "password"}}},
                {"name": "GREETING", "value": "hi $(CFG_LEVEL) $(NOPE)"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": true}}},
                {"name": "CFG_LEVEL", "value": "info"}
            ]),
            serde_json::json!([{"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
                               {"secretRef": {"name": "absent", "optional": true}}]),
        );
        let env = run(&p).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PASSWORD"), Some("s3cret"));
        assert_eq!(get("GREETING"), Some("hi debug $(NOPE)"));
        assert_eq!(get("CFG_LEVEL"), Some("info"), "env overrides envFrom");
        assert_eq!(get("CFG_bad key"), None, "invalid names are skipped");
        assert_eq!(get("POD"), Some("p"));
        assert_eq!(get("NS"), Some("ci"));
        assert_eq!(get("IP"), Some("127.9.0.1"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(get("CPUS"), Some("2"));
        assert_eq!(get("MEM_MI"), Some("64"));
        assert_eq!(get("GONE"), None);
    }

    #[test]
    fn missing_sources_fail_with_kubelet_words() {
        let secret = |name: &str, key: &str| serde_json::json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}]);
        let none = serde_json::json!([]);
        assert_eq!(
            run(&plan(secret("x", "k"), none.clone())).unwrap_err(),
            "secret \"x\" not found"
        );
        assert_eq!(
            run(&plan(secret("registry", "k"), none.clone())).unwrap_err(),
            "couldn't find key k in Secret ci/registry"
        );
        let cm = serde_json::json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}}]);
        assert_eq!(
            run(&plan(cm, none.clone())).unwrap_err(),
            "couldn't find key k in ConfigMap ci/settings"
        );
        let from = serde_json::json!([{"configMapRef": {"name": "absent"}}]);
        assert_eq!(
            run(&plan(none, from)).unwrap_err(),
            "configmap \"absent\" not found"
        );
    }
}
