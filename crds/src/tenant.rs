//! `Tenant`: a team that owns a set of namespaces. Everything a tenant's users see or touch
//! is bounded by `spec.namespaces`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "wharf.dev",
    version = "v1alpha1",
    kind = "Tenant",
    shortname = "tn"
)]
#[kube(printcolumn = r#"{"name":"Namespaces","type":"string","jsonPath":".spec.namespaces"}"#)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Shown in the console instead of the resource name.
    // NB: omitted when empty: kube-apiserver 1.20 built with Go >= 1.19 reads "" as null and
    // refuses it (see `schema`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// The namespaces this tenant owns. A namespace belongs to at most one tenant.
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the tenant's alerts go besides the console (edited on the alerts page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<TenantAlerting>,
    /// The most each of the tenant's namespaces may use (a `ResourceQuota` in each, plus a
    /// `LimitRange` whose defaults make pods without requests count too). None: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<TenantQuota>,
    /// The Pod Security Standard enforced on the tenant's namespaces.
    #[serde(default)]
    pub pod_security: PodSecurity,
    /// Host names the tenant may route on nginx clusters: exact names (`shop.example.com`) or
    /// suffixes (`*.alpha.example.com`, which matches any name ending in `.alpha.example.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The image repository prefix the tenant's pipelines may push to, e.g.
    /// `registry.example.com/alpha/`. Empty: the tenant's pipelines may not push.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_prefix: String,
    /// Directory groups whose members get a role in the tenant (besides the members added by
    /// hand): a user in several gets the highest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_roles: Vec<GroupRole>,
}

/// Members of `group` in identity provider `provider` are `role`s of the tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRole {
    pub provider: String,
    pub group: String,
    pub role: crate::user::Role,
}

/// Hard limits per namespace, as Kubernetes quantities (`2`, `500m`, `4Gi`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantQuota {
    /// Total CPU requested by the namespace's pods (`requests.cpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Total memory requested (`requests.memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Number of pods that are not finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<i64>,
    /// Total storage requested by persistent volume claims (`requests.storage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// The `pod-security.kubernetes.io/enforce` level of the tenant's namespaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    /// Hardened: non-root, no privilege escalation, dropped capabilities, a seccomp profile.
    #[default]
    Restricted,
    /// Blocks known privilege escalations (host namespaces, privileged containers).
    Baseline,
    /// No restrictions: for system tenants only.
    Privileged,
}

impl PodSecurity {
    pub fn label(self) -> &'static str {
        match self {
            PodSecurity::Restricted => "restricted",
            PodSecurity::Baseline => "baseline",
            PodSecurity::Privileged => "privileged",
        }
    }
}

/// A tenant's alert routing: Alertmanager gets one route per tenant, matching the tenant's
/// namespaces, that sends to these receivers (and always to the console too).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantAlerting {
    #[serde(default)]
    pub receivers: Vec<AlertReceiver>,
}

/// One receiver: exactly one of `webhookUrl` or `email` is set (the console checks this,
/// names are unique within the tenant).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertReceiver {
    pub name: String,
    /// Alertmanager posts its webhook payload (version 4) here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Alertmanager sends a mail here through the console's SMTP settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}
