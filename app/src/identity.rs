//! The identity server functions: company directories for platform admins, a tenant's group
//! mappings for its admins. Types from `wharf_api::identity`; bodies in
//! `wharf_console::identity::endpoints`.

pub use wharf_api::identity::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[server(prefix = "/api", endpoint = "identity_providers", input = Json)]
pub async fn identity_providers() -> Result<Vec<ProviderSummary>, AppError> {
    wharf_console::identity::endpoints::identity_providers(expect_context()).await
}

#[server(prefix = "/api", endpoint = "save_ldap_provider", input = Json)]
pub async fn save_ldap_provider(form: LdapForm) -> Result<(), AppError> {
    wharf_console::identity::endpoints::save_ldap_provider(expect_context(), form).await
}

#[server(prefix = "/api", endpoint = "save_oidc_provider", input = Json)]
pub async fn save_oidc_provider(form: OidcForm) -> Result<(), AppError> {
    wharf_console::identity::endpoints::save_oidc_provider(expect_context(), form).await
}

/// Tries an OpenID Connect provider's settings: discovery, its keys, and the client's
/// credentials at the token endpoint (nothing is saved).
#[server(prefix = "/api", endpoint = "try_oidc_provider", input = Json)]
pub async fn try_oidc_provider(form: OidcForm) -> Result<TrialReport, AppError> {
    wharf_console::identity::endpoints::try_oidc_provider(expect_context(), form).await
}

#[server(prefix = "/api", endpoint = "delete_identity_provider", input = Json)]
pub async fn delete_identity_provider(name: String) -> Result<(), AppError> {
    wharf_console::identity::endpoints::delete_identity_provider(expect_context(), name).await
}

/// Tries a directory's settings step by step (nothing is saved).
#[server(prefix = "/api", endpoint = "try_ldap_provider", input = Json)]
pub async fn try_ldap_provider(trial: LdapTrial) -> Result<TrialReport, AppError> {
    wharf_console::identity::endpoints::try_ldap_provider(expect_context(), trial).await
}

#[server(prefix = "/api", endpoint = "group_roles", input = Json)]
pub async fn group_roles(tenant: String) -> Result<TenantGroups, AppError> {
    wharf_console::identity::endpoints::group_roles(expect_context(), tenant).await
}

#[server(prefix = "/api", endpoint = "set_group_roles", input = Json)]
pub async fn set_group_roles(tenant: String, rows: Vec<GroupRoleRow>) -> Result<(), AppError> {
    wharf_console::identity::endpoints::set_group_roles(expect_context(), tenant, rows).await
}
