//! `User`: a person who logs into the console, with a role in each tenant they belong to.
//! The password hash is not here but in a Secret in [`crate::SYSTEM_NAMESPACE`], so that
//! reading users (e.g. to list members) never exposes credentials.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "wharf.dev",
    version = "v1alpha1",
    kind = "User",
    shortname = "wu",
    status = "UserStatus"
)]
#[kube(printcolumn = r#"{"name":"Admin","type":"boolean","jsonPath":".spec.platformAdmin"}"#)]
#[kube(printcolumn = r#"{"name":"Disabled","type":"boolean","jsonPath":".spec.disabled"}"#)]
#[kube(printcolumn = r#"{"name":"Last login","type":"date","jsonPath":".status.lastLogin"}"#)]
#[serde(rename_all = "camelCase")]
pub struct UserSpec {
    // NB: omitted when empty: kube-apiserver 1.20 built with Go >= 1.19 reads "" as null and
    // refuses it (see `schema`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// A platform admin sees and changes every tenant.
    #[serde(default)]
    pub platform_admin: bool,
    #[serde(default)]
    pub memberships: Vec<Membership>,
    /// Name of the Secret in `wharf-system` whose `passwordHash` key holds the argon2 PHC
    /// string. Empty for a user of an identity provider (no Wharf password).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password_secret: String,
    /// The `IdentityProvider` this user signs in with; empty for a local user. Set when the
    /// console creates the user at their first directory login.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// The name a directory user signs in with, as the directory knows it (`John.Smith`),
    /// which the Wharf name (`john-smith`) may not match; the directory sync looks it up.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub login: String,
    /// A disabled user cannot log in; existing sessions stop working at their next request.
    #[serde(default)]
    pub disabled: bool,
}

/// What the console records about a user's sign-ins (written through the status subresource,
/// so editing the spec cannot forge it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserStatus {
    /// Sessions issued at or before this instant are refused: logout, a password change, a
    /// disable and a role change move it to "now", which ends the user's existing sessions on
    /// every replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_valid_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Set when someone else chose the password (the bootstrap admin, a new user, a reset):
    /// until the user picks their own, the console lets them do nothing else.
    #[serde(default)]
    pub must_change_password: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<chrono::DateTime<chrono::Utc>>,
    /// Wrong passwords given since the last successful login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_logins: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_login: Option<chrono::DateTime<chrono::Utc>>,
    /// The user's groups in their identity provider, as last read (at login, and by the
    /// directory sync); tenants map groups to roles (`TenantSpec::group_roles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_read: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Membership {
    pub tenant: String,
    pub role: Role,
}

/// What a member may do inside a tenant. Ordered: each role can do what the one before can.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything of the tenant; changes nothing; no shell.
    Viewer,
    /// Deploys, scales, edits and opens shells in the tenant's namespaces.
    Developer,
    /// A developer who also manages the tenant's members and settings.
    Admin,
}
