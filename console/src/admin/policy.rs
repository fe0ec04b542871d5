//! What a tenant's settings become in each of its namespaces: the namespace's labels (its
//! tenant and Pod Security level), a `ResourceQuota` and a `LimitRange` for its quota, and a
//! `NetworkPolicy` that admits traffic from the tenant's own namespaces, from monitoring and
//! from the nginx clusters that serve it, and from nothing else.
//!
//! The functions building objects are pure (tested below); [`apply`] writes them with
//! server-side apply under one field manager, so re-applying is harmless and other fields of
//! the namespace (someone's own labels) are left alone.

use crds::{NginxCluster, Tenant};
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;

/// The label naming a namespace's tenant.
pub const TENANT_LABEL: &str = "wharf.dev/tenant";
/// The label of namespaces whose pods may reach every tenant for monitoring (Prometheus).
pub const MONITORING_LABEL: &str = "wharf.dev/monitoring";
/// The label of an nginx cluster's pods, naming the cluster.
pub const NGINX_CLUSTER_LABEL: &str = "wharf.dev/nginx-cluster";
/// The names of the objects Wharf keeps in each tenant namespace.
pub const QUOTA: &str = "wharf-quota";
pub const DEFAULTS: &str = "wharf-defaults";
pub const ISOLATION: &str = "wharf-isolation";
/// The field manager of everything here.
pub const MANAGER: &str = "wharf-tenancy";
/// What a container without requests is counted as (the `LimitRange` default).
pub const DEFAULT_CPU_REQUEST: &str = "100m";
pub const DEFAULT_MEMORY_REQUEST: &str = "256Mi";

fn meta(name: &str, ns: &str, tenant: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        labels: Some(BTreeMap::from([
            (TENANT_LABEL.to_string(), tenant.to_string()),
            (
                "app.kubernetes.io/managed-by".to_string(),
                "wharf".to_string(),
            ),
        ])),
        ..Default::default()
    }
}

/// The namespace's labels: its tenant and the Pod Security Standard enforced (and warned
/// about, so `kubectl apply` says why a pod would be refused).
pub fn namespace(tenant: &Tenant, ns: &str) -> Namespace {
    let level = tenant.spec.pod_security.label();
    Namespace {
        metadata: ObjectMeta {
            name: Some(ns.into()),
            labels: Some(BTreeMap::from([
                (TENANT_LABEL.to_string(), tenant.name_any()),
                (
                    "pod-security.kubernetes.io/enforce".to_string(),
                    level.to_string(),
                ),
                (
                    "pod-security.kubernetes.io/enforce-version".to_string(),
                    "latest".to_string(),
                ),
                (
                    "pod-security.kubernetes.io/warn".to_string(),
                    level.to_string(),
                ),
            ])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The `ResourceQuota`, when the tenant has a quota with at least one limit.
pub fn quota(tenant: &Tenant, ns: &str) -> Option<ResourceQuota> {
    let q = tenant.spec.quota.as_ref()?;
    let mut hard = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            hard.insert(key.to_string(), Quantity(v));
        }
    };
    put("requests.cpu", q.cpu.clone());
    put("requests.memory", q.memory.clone());
    put("pods", q.pods.map(|p| p.to_string()));
    put("requests.storage", q.storage.clone());
    if hard.is_empty() {
        return None;
    }
    Some(ResourceQuota {
        metadata: meta(QUOTA, ns, &tenant.name_any()),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The `LimitRange` that gives containers without requests the default ones, so that they
/// count against a quota on CPU or memory (which would otherwise refuse them outright).
pub fn limit_range(tenant: &Tenant, ns: &str) -> Option<LimitRange> {
    let q = tenant.spec.quota.as_ref()?;
    if q.cpu.is_none() && q.memory.is_none() {
        return None;
    }
    Some(LimitRange {
        metadata: meta(DEFAULTS, ns, &tenant.name_any()),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default_request: Some(BTreeMap::from([
                    ("cpu".to_string(), Quantity(DEFAULT_CPU_REQUEST.into())),
                    (
                        "memory".to_string(),
                        Quantity(DEFAULT_MEMORY_REQUEST.into()),
                    ),
                ])),
                ..Default::default()
            }],
        }),
    })
}

/// The nginx clusters serving the tenant: named in the cluster's tenants, or serving one of
/// its namespaces.
pub fn serving_clusters(tenant: &Tenant, clusters: &[NginxCluster]) -> Vec<String> {
    let name = tenant.name_any();
    let mut names: Vec<String> = clusters
        .iter()
        .filter(|c| {
            c.spec.tenants.contains(&name)
                || c.spec
                    .namespaces
                    .iter()
                    .any(|ns| tenant.spec.namespaces.contains(ns))
        })
        .map(|c| c.name_any())
        .collect();
    names.sort();
    names
}

/// The `NetworkPolicy` isolating the namespace: every pod in it accepts traffic only from
/// the tenant's namespaces, monitoring namespaces and the pods of the nginx clusters that
/// serve the tenant.
pub fn isolation(tenant: &Tenant, ns: &str, nginx_clusters: &[String]) -> NetworkPolicy {
    let name = tenant.name_any();
    let namespaces = |key: &str, value: &str| NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(key.to_string(), value.to_string())])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut from = vec![
        namespaces(TENANT_LABEL, &name),
        namespaces(MONITORING_LABEL, "true"),
    ];
    if !nginx_clusters.is_empty() {
        from.push(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: NGINX_CLUSTER_LABEL.into(),
                    operator: "In".into(),
                    values: Some(nginx_clusters.to_vec()),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    NetworkPolicy {
        metadata: meta(ISOLATION, ns, &name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(from),
                ports: None,
            }]),
            egress: None,
        }),
    }
}

fn params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

/// Writes (or removes) one namespaced object of `desired`'s kind.
async fn put<K>(api: Api<K>, name: &str, desired: Option<K>) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match desired {
        Some(obj) => {
            // NB: two appliers creating the same object at once (the tenant's save and every
            // replica's sync) — the loser's apply-create answers 409 "already exists"; applied
            // again it is an update of the same fields.
            let mut tries = 0;
            loop {
                match api.patch(name, &params(), &Patch::Apply(&obj)).await {
                    Err(kube::Error::Api(s)) if s.code == 409 && tries < 3 => tries += 1,
                    Err(e) => return Err(e),
                    Ok(_) => break,
                }
            }
        }
        None => match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        },
    }
    Ok(())
}

/// Brings every namespace of the tenant to its settings.
pub async fn apply(
    client: &Client,
    tenant: &Tenant,
    clusters: &[NginxCluster],
) -> Result<(), kube::Error> {
    let serving = serving_clusters(tenant, clusters);
    for ns in &tenant.spec.namespaces {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .patch(ns, &params(), &Patch::Apply(&namespace(tenant, ns)))
            .await?;
        // NB: each object goes through `put`, which survives a concurrent first apply
        put(
            Api::<ResourceQuota>::namespaced(client.clone(), ns),
            QUOTA,
            quota(tenant, ns),
        )
        .await?;
        put(
            Api::<LimitRange>::namespaced(client.clone(), ns),
            DEFAULTS,
            limit_range(tenant, ns),
        )
        .await?;
        put(
            Api::<NetworkPolicy>::namespaced(client.clone(), ns),
            ISOLATION,
            Some(isolation(tenant, ns, &serving)),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::{NginxClusterSpec, PodSecurity, TenantQuota, TenantSpec};

    fn gamma(quota: Option<TenantQuota>) -> Tenant {
        Tenant::new(
            "gamma",
            TenantSpec {
                namespaces: vec!["gamma".into(), "gamma-test".into()],
                quota,
                pod_security: PodSecurity::Restricted,
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_quota_limits_what_was_set_and_nothing_else() {
        let t = gamma(Some(TenantQuota {
            cpu: Some("2".into()),
            memory: Some("4Gi".into()),
            pods: Some(10),
            storage: None,
        }));
        let q = quota(&t, "gamma").unwrap();
        let hard = q.spec.unwrap().hard.unwrap();
        let keys: Vec<&str> = hard.keys().map(String::as_str).collect();
        assert_eq!(keys, ["pods", "requests.cpu", "requests.memory"]);
        assert_eq!(hard["pods"], Quantity("10".into()));
        assert!(
            limit_range(&t, "gamma").is_some(),
            "cpu/memory quota needs defaults"
        );
        assert!(quota(&gamma(None), "gamma").is_none());
        assert!(quota(&gamma(Some(TenantQuota::default())), "gamma").is_none());
        let pods_only = gamma(Some(TenantQuota {
            pods: Some(3),
            ..Default::default()
        }));
        assert!(limit_range(&pods_only, "gamma").is_none());
    }

    #[test]
    fn namespaces_carry_their_tenant_and_pod_security_level() {
        let mut t = gamma(None);
        t.spec.pod_security = PodSecurity::Baseline;
        let labels = namespace(&t, "gamma").metadata.labels.unwrap();
        assert_eq!(labels[TENANT_LABEL], "gamma");
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    }

    #[test]
    fn isolation_admits_own_namespaces_monitoring_and_serving_nginx_only() {
        let t = gamma(None);
        let cluster = |name: &str, tenants: &[&str], namespaces: &[&str]| {
            let mut c = NginxCluster::new(name, NginxClusterSpec::default());
            c.spec.tenants = tenants.iter().map(|s| s.to_string()).collect();
            c.spec.namespaces = namespaces.iter().map(|s| s.to_string()).collect();
            c
        };
        let clusters = [
            cluster("edge", &["gamma"], &[]),
            cluster("other", &["alpha"], &[]),
            cluster("shared", &[], &["gamma-test"]),
        ];
        let serving = serving_clusters(&t, &clusters);
        assert_eq!(serving, ["edge", "shared"]);
        let policy = isolation(&t, "gamma", &serving);
        let spec = policy.spec.unwrap();
        assert_eq!(
            spec.pod_selector,
            Some(LabelSelector::default()),
            "every pod"
        );
        let from = spec.ingress.unwrap()[0].from.clone().unwrap();
        assert_eq!(from.len(), 3);
        assert_eq!(
            from[0]
                .namespace_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()[TENANT_LABEL],
            "gamma"
        );
        let nginx = from[2]
            .pod_selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap();
        assert_eq!(nginx[0].values.as_deref(), Some(&serving[..]));
        let alone = isolation(&t, "gamma", &[]);
        assert_eq!(
            alone.spec.unwrap().ingress.unwrap()[0]
                .from
                .as_ref()
                .unwrap()
                .len(),
            2
        );
    }
}
