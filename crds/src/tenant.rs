//! `Tenant`: a team that owns a set of namespaces. Everything a tenant's users see or touch
//! is bounded by `spec.namespaces`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(group = "wharf.dev", version = "v1alpha1", kind = "Tenant", shortname = "tn")]
#[kube(printcolumn = r#"{"name":"Namespaces","type":"string","jsonPath":".spec.namespaces"}"#)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Shown in the console instead of the resource name.
    #[serde(default)]
    pub display_name: String,
    /// The namespaces this tenant owns. A namespace belongs to at most one tenant.
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
