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
