//! Tenants: created, edited and deleted with their namespaces (made when missing; a namespace
//! belongs to at most one tenant, and taking over one that exists is explicit), and their
//! settings brought into those namespaces (see [`super::policy`]).

use super::{not_installed, policy, AdminError};
use crds::{NginxCluster, PodSecurity, Tenant, TenantQuota, TenantSpec, User};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;
use wharf_api::admin::{check_tenant, DeletionPlan, NamespaceUsage, QuotaForm, TenantForm, Usage};
use wharf_api::text;

/// The checked spec of a form; `keep` supplies what the form does not edit (alerting, the
/// description) when a tenant is changed.
pub fn spec_of(form: &TenantForm, keep: Option<&TenantSpec>) -> Result<TenantSpec, AdminError> {
    check_tenant(form).map_err(AdminError::Invalid)?;
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let q = &form.quota;
    let quota = TenantQuota {
        cpu: some(&q.cpu),
        memory: some(&q.memory),
        pods: q.pods.parse().ok(),
        storage: some(&q.storage),
    };
    let pod_security = match form.pod_security.as_str() {
        "baseline" => PodSecurity::Baseline,
        "privileged" => PodSecurity::Privileged,
        _ => PodSecurity::Restricted,
    };
    let mut namespaces = form.namespaces.clone();
    namespaces.dedup();
    Ok(TenantSpec {
        display_name: form.display_name.trim().to_string(),
        namespaces,
        description: keep.and_then(|k| k.description.clone()),
        alerting: keep.and_then(|k| k.alerting.clone()),
        quota: (quota != TenantQuota::default()).then_some(quota),
        pod_security,
        hosts: form.hosts.clone(),
        image_prefix: form.image_prefix.clone(),
        // NB: edited by the tenant's admins on the members page, not in this form
        group_roles: keep.map(|k| k.group_roles.clone()).unwrap_or_default(),
    })
}

/// The form showing a tenant as it is.
pub fn form_of(t: &Tenant) -> TenantForm {
    let q = t.spec.quota.clone().unwrap_or_default();
    TenantForm {
        name: t.name_any(),
        display_name: t.spec.display_name.clone(),
        namespaces: t.spec.namespaces.clone(),
        adopt: Vec::new(),
        quota: QuotaForm {
            cpu: q.cpu.unwrap_or_default(),
            memory: q.memory.unwrap_or_default(),
            pods: q.pods.map(|p| p.to_string()).unwrap_or_default(),
            storage: q.storage.unwrap_or_default(),
        },
        pod_security: t.spec.pod_security.label().to_string(),
        hosts: t.spec.hosts.clone(),
        image_prefix: t.spec.image_prefix.clone(),
    }
}

async fn all_tenants(client: &Client) -> Result<Vec<Tenant>, AdminError> {
    Ok(Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(not_installed)?
        .items)
}

async fn nginx_clusters(client: &Client) -> Result<Vec<NginxCluster>, AdminError> {
    Ok(Api::<NginxCluster>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(not_installed)?
        .items)
}

/// Makes sure each namespace may become `tenant`'s: none belongs to another tenant, and one
/// that exists is either already the tenant's or being adopted on purpose. Creates the missing
/// ones. Nothing is created unless every namespace passes.
async fn claim_namespaces(
    client: &Client,
    tenant: &str,
    form: &TenantForm,
    tenants: &[Tenant],
) -> Result<(), AdminError> {
    for other in tenants.iter().filter(|t| t.name_any() != tenant) {
        if let Some(ns) = form
            .namespaces
            .iter()
            .find(|ns| other.spec.namespaces.contains(ns))
        {
            let other = other.name_any();
            return Err(AdminError::Invalid(text!(
                "namespace '{ns}' already belongs to tenant '{other}'",
                "命名空间“{ns}”已属于租户“{other}”"
            )));
        }
    }
    let api: Api<Namespace> = Api::all(client.clone());
    let mut missing = Vec::new();
    for ns in &form.namespaces {
        match api.get_opt(ns).await? {
            None => missing.push(ns.clone()),
            Some(found) => {
                if found.metadata.deletion_timestamp.is_some() {
                    return Err(AdminError::Invalid(text!(
                        "namespace '{ns}' is being deleted; wait until it is gone",
                        "命名空间“{ns}”正在删除,请等它删除完成后再试"
                    )));
                }
                let owner = found.labels().get(policy::TENANT_LABEL).cloned();
                let ours = owner.as_deref() == Some(tenant);
                if !ours && !form.adopt.contains(ns) {
                    return Err(AdminError::Invalid(text!(
                        "namespace '{ns}' exists already: adopt it explicitly to give it, with everything in it, to tenant '{tenant}'",
                        "命名空间“{ns}”已存在:如要把它连同其中的所有资源交给租户“{tenant}”,请明确选择接管"
                    )));
                }
            }
        }
    }
    for ns in missing {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                labels: Some(BTreeMap::from([(
                    policy::TENANT_LABEL.to_string(),
                    tenant.to_string(),
                )])),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A host name belongs to one tenant: the form's patterns may not overlap another tenant's
/// (`*.example.com` and `shop.example.com` do), or both could route it.
fn hosts_of_no_other(form: &TenantForm, tenants: &[Tenant]) -> Result<(), AdminError> {
    for other in tenants.iter().filter(|t| t.name_any() != form.name) {
        for mine in &form.hosts {
            if let Some(theirs) = other
                .spec
                .hosts
                .iter()
                .find(|h| wharf_api::admin::patterns_overlap(mine, h))
            {
                let name = other.name_any();
                return Err(AdminError::Invalid(text!(
                    "host '{mine}' overlaps '{theirs}' of tenant '{name}': a host name can belong to one tenant only",
                    "域名“{mine}”与租户“{name}”的“{theirs}”重叠:一个域名只能属于一个租户"
                )));
            }
        }
    }
    Ok(())
}

/// Creates the tenant, its missing namespaces and their quota, pod security and isolation.
/// Refused when the tenant exists or a namespace belongs to another tenant.
pub async fn create(client: &Client, form: &TenantForm) -> Result<Tenant, AdminError> {
    let spec = spec_of(form, None)?;
    let tenants = all_tenants(client).await?;
    if tenants.iter().any(|t| t.name_any() == form.name) {
        let name = &form.name;
        return Err(AdminError::Exists(text!("tenant '{name}'", "租户“{name}”")));
    }
    hosts_of_no_other(form, &tenants)?;
    claim_namespaces(client, &form.name, form, &tenants).await?;
    let created = match Api::<Tenant>::all(client.clone())
        .create(&PostParams::default(), &Tenant::new(&form.name, spec))
        .await
    {
        Ok(t) => t,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let name = &form.name;
            return Err(AdminError::Exists(text!("tenant '{name}'", "租户“{name}”")));
        }
        Err(e) => return Err(e.into()),
    };
    policy::apply(client, &created, &nginx_clusters(client).await?).await?;
    Ok(created)
}

/// Changes the tenant's settings; namespaces it no longer lists are released (they stay, with
/// Wharf's quota, defaults and isolation removed from them).
pub async fn update(client: &Client, form: &TenantForm) -> Result<Tenant, AdminError> {
    let api: Api<Tenant> = Api::all(client.clone());
    let current = api
        .get_opt(&form.name)
        .await
        .map_err(not_installed)?
        .ok_or_else(|| {
            let name = &form.name;
            AdminError::NotFound(text!("tenant '{name}'", "租户“{name}”"))
        })?;
    let spec = spec_of(form, Some(&current.spec))?;
    let tenants = all_tenants(client).await?;
    hosts_of_no_other(form, &tenants)?;
    claim_namespaces(client, &form.name, form, &tenants).await?;
    let mut changed = current.clone();
    changed.spec = spec;
    let saved = api
        .replace(&form.name, &PostParams::default(), &changed)
        .await?;
    for ns in current
        .spec
        .namespaces
        .iter()
        .filter(|ns| !saved.spec.namespaces.contains(ns))
    {
        release(client, ns).await?;
    }
    policy::apply(client, &saved, &nginx_clusters(client).await?).await?;
    Ok(saved)
}

/// Takes Wharf's labels and objects off a namespace that leaves its tenant.
async fn release(client: &Client, ns: &str) -> Result<(), AdminError> {
    let bare =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    Api::<Namespace>::all(client.clone())
        .patch(
            ns,
            &PatchParams::apply(policy::MANAGER).force(),
            &Patch::Apply(&bare),
        )
        .await?;
    let gone = |r: Result<(), kube::Error>| match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other,
    };
    let dp = DeleteParams::default();
    gone(
        Api::<ResourceQuota>::namespaced(client.clone(), ns)
            .delete(policy::QUOTA, &dp)
            .await
            .map(|_| ()),
    )?;
    gone(
        Api::<k8s_openapi::api::core::v1::LimitRange>::namespaced(client.clone(), ns)
            .delete(policy::DEFAULTS, &dp)
            .await
            .map(|_| ()),
    )?;
    gone(
        Api::<k8s_openapi::api::networking::v1::NetworkPolicy>::namespaced(client.clone(), ns)
            .delete(policy::ISOLATION, &dp)
            .await
            .map(|_| ()),
    )?;
    Ok(())
}

/// A list's items; none where the server does not serve the kind at all (a 404 on the list).
fn served<K: Clone>(
    list: Result<kube::api::ObjectList<K>, kube::Error>,
) -> Result<Vec<K>, AdminError> {
    match list {
        Ok(l) => Ok(l.items),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// What deleting the tenant would take with it.
pub async fn deletion_plan(client: &Client, name: &str) -> Result<DeletionPlan, AdminError> {
    let tenant = Api::<Tenant>::all(client.clone())
        .get_opt(name)
        .await
        .map_err(not_installed)?
        .ok_or_else(|| AdminError::NotFound(text!("tenant '{name}'", "租户“{name}”")))?;
    let mut workloads = Vec::new();
    let lp = ListParams::default();
    for ns in &tenant.spec.namespaces {
        let named = |kind: &str, n: String| format!("{kind} {ns}/{n}");
        for d in served(
            Api::<Deployment>::namespaced(client.clone(), ns)
                .list(&lp)
                .await,
        )? {
            workloads.push(named("Deployment", d.name_any()));
        }
        for s in served(
            Api::<StatefulSet>::namespaced(client.clone(), ns)
                .list(&lp)
                .await,
        )? {
            workloads.push(named("StatefulSet", s.name_any()));
        }
        for j in served(Api::<Job>::namespaced(client.clone(), ns).list(&lp).await)? {
            workloads.push(named("Job", j.name_any()));
        }
    }
    let mut members: Vec<String> = Api::<User>::all(client.clone())
        .list(&lp)
        .await?
        .items
        .iter()
        .filter(|u| u.spec.memberships.iter().any(|m| m.tenant == name))
        .map(|u| u.name_any())
        .collect();
    members.sort();
    Ok(DeletionPlan {
        tenant: name.to_string(),
        namespaces: tenant.spec.namespaces.clone(),
        workloads,
        members,
    })
}

/// Deletes the tenant, its namespaces (with everything in them) and its memberships. When
/// workloads would go with it, `confirm` must be the tenant's name.
pub async fn delete(
    client: &Client,
    name: &str,
    confirm: &str,
) -> Result<DeletionPlan, AdminError> {
    let plan = deletion_plan(client, name).await?;
    if plan.needs_confirmation() && confirm != name {
        let (count, which) = (plan.workloads.len(), plan.workloads.join(", "));
        return Err(AdminError::Invalid(text!(
            "tenant '{name}' still runs {count} workload(s) ({which}); type the tenant's name to delete it with them",
            "租户“{name}”仍有 {count} 个工作负载在运行({which});请输入租户名称以连同它们一起删除"
        )));
    }
    let users: Api<User> = Api::all(client.clone());
    for member in &plan.members {
        let Some(user) = users.get_opt(member).await? else {
            continue;
        };
        let kept: Vec<_> = user
            .spec
            .memberships
            .iter()
            .filter(|m| m.tenant != name)
            .cloned()
            .collect();
        users
            .patch(
                member,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"memberships": kept}})),
            )
            .await?;
    }
    match Api::<Tenant>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in &plan.namespaces {
        match namespaces.delete(ns, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(plan)
}

/// Quota use of each of the tenant's namespaces, as the quota's status says.
pub async fn usage(client: &Client, tenant: &Tenant) -> Result<Vec<NamespaceUsage>, AdminError> {
    let mut out = Vec::new();
    for ns in &tenant.spec.namespaces {
        let Some(q) = Api::<ResourceQuota>::namespaced(client.clone(), ns)
            .get_opt(policy::QUOTA)
            .await?
        else {
            continue;
        };
        let status = q.status.unwrap_or_default();
        let hard = status.hard.unwrap_or_default();
        let used = status.used.unwrap_or_default();
        let resources = hard
            .iter()
            .map(|(resource, h)| {
                let u = used
                    .get(resource)
                    .map(|q| q.0.clone())
                    .unwrap_or_else(|| "0".into());
                let fraction = match (quantity_value(&u), quantity_value(&h.0)) {
                    (Some(u), Some(h)) if h > 0.0 => u / h,
                    _ => 0.0,
                };
                Usage {
                    resource: resource.clone(),
                    used: u,
                    hard: h.0.clone(),
                    fraction,
                }
            })
            .collect();
        out.push(NamespaceUsage {
            namespace: ns.clone(),
            resources,
        });
    }
    Ok(out)
}

/// A quantity's value as a float, for the "used / hard" bar (not for arithmetic that matters).
pub fn quantity_value(q: &str) -> Option<f64> {
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * scale)
}

/// One row of [`list`] (for `wharf admin tenant list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRow {
    pub name: String,
    pub display_name: String,
    pub namespaces: Vec<String>,
}

/// Every tenant, by name.
pub async fn list(client: &Client) -> Result<Vec<TenantRow>, AdminError> {
    let mut rows: Vec<TenantRow> = all_tenants(client)
        .await?
        .into_iter()
        .map(|t| TenantRow {
            name: t.name_any(),
            display_name: t.spec.display_name.clone(),
            namespaces: t.spec.namespaces.clone(),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_across_units() {
        assert_eq!(quantity_value("500m"), Some(0.5));
        assert_eq!(quantity_value("4Gi"), Some(4.0 * 1024f64.powi(3)));
        assert_eq!(quantity_value("1e3"), Some(1000.0));
        assert_eq!(quantity_value("10"), Some(10.0));
        assert_eq!(quantity_value("x"), None);
    }

    #[test]
    fn a_form_round_trips_through_the_spec() {
        let form = TenantForm {
            name: "gamma".into(),
            display_name: "Gamma".into(),
            namespaces: vec!["gamma".into()],
            adopt: vec![],
            quota: QuotaForm {
                cpu: "2".into(),
                memory: "4Gi".into(),
                pods: "10".into(),
                storage: String::new(),
            },
            pod_security: "baseline".into(),
            hosts: vec!["*.gamma.example.com".into()],
            image_prefix: "registry.example.com/gamma/".into(),
        };
        let spec = spec_of(&form, None).unwrap();
        assert_eq!(spec.quota.as_ref().unwrap().pods, Some(10));
        assert_eq!(form_of(&Tenant::new("gamma", spec)), form);
        let no_quota = TenantForm {
            quota: QuotaForm::default(),
            ..form
        };
        assert_eq!(spec_of(&no_quota, None).unwrap().quota, None);
    }
}
