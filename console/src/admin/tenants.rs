//! Tenants: created with their namespaces (made when missing; a namespace belongs to at most
//! one tenant), and listed.

use super::{check_name, not_installed, AdminError};
use crds::{Tenant, TenantSpec};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;

/// One row of [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRow {
    pub name: String,
    pub display_name: String,
    pub namespaces: Vec<String>,
}

/// Creates the tenant and any of its namespaces that do not exist yet. Refused when the
/// tenant exists or a namespace already belongs to another tenant.
pub async fn create(
    client: &Client,
    name: &str,
    display_name: &str,
    namespaces: &[String],
) -> Result<(), AdminError> {
    check_name("tenant", name)?;
    if namespaces.is_empty() {
        return Err(AdminError::Invalid(format!(
            "tenant '{name}' needs at least one namespace"
        )));
    }
    for ns in namespaces {
        check_name("namespace", ns)?;
        if ns.starts_with("kube-") || ns == "default" || ns == crds::SYSTEM_NAMESPACE {
            return Err(AdminError::Invalid(format!(
                "namespace '{ns}' belongs to the cluster or to Wharf, not to a tenant"
            )));
        }
    }
    let tenants: Api<Tenant> = Api::all(client.clone());
    let existing = tenants
        .list(&ListParams::default())
        .await
        .map_err(not_installed)?;
    for t in &existing.items {
        if t.name_any() == name {
            return Err(AdminError::Exists(format!("tenant '{name}'")));
        }
        if let Some(ns) = namespaces.iter().find(|ns| t.spec.namespaces.contains(ns)) {
            return Err(AdminError::Invalid(format!(
                "namespace '{ns}' already belongs to tenant '{}'",
                t.name_any()
            )));
        }
    }
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                labels: Some(BTreeMap::from([(
                    "wharf.dev/tenant".to_string(),
                    name.to_string(),
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
    let tenant = Tenant::new(
        name,
        TenantSpec {
            display_name: display_name.to_string(),
            namespaces: namespaces.to_vec(),
            description: None,
            alerting: None,
        },
    );
    match tenants.create(&PostParams::default(), &tenant).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            Err(AdminError::Exists(format!("tenant '{name}'")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Every tenant, by name.
pub async fn list(client: &Client) -> Result<Vec<TenantRow>, AdminError> {
    let mut rows: Vec<TenantRow> = Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(not_installed)?
        .items
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
