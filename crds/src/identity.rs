//! `IdentityProvider`: a company directory people sign in with instead of a Wharf password
//! (LDAP / Active Directory today). Cluster-scoped, made by platform admins on the identity
//! page; secrets it needs (the bind account's password) live in a Secret of `wharf-system`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "wharf.dev",
    version = "v1alpha1",
    kind = "IdentityProvider",
    shortname = "idp"
)]
#[kube(printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.ldap.url"}"#)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderSpec {
    /// Shown on the login page's button and in the user list.
    // NB: omitted when empty: kube-apiserver 1.20 reads "" as null (see `schema`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// A disabled provider signs nobody in; its users' sessions end at their next request.
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSpec>,
}

/// An OpenID Connect provider (Keycloak, Dex, Azure AD / Entra ID, Okta, Google…).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcSpec {
    /// Exactly as the provider's discovery document says it, e.g. `https://id.example.com/realms/corp`.
    pub issuer: String,
    pub client_id: String,
    /// The Secret in `wharf-system` whose `clientSecret` key holds the client secret.
    pub client_secret: String,
    /// Asked for at login; default `openid profile email groups`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scopes: String,
    /// The claim with the user name; default `preferred_username`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username_claim: String,
    /// The claim with the groups; default `groups`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub groups_claim: String,
}

/// An LDAP directory (OpenLDAP, Active Directory, FreeIPA...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LdapSpec {
    /// `ldaps://host:636`, or `ldap://host:389` with `startTls` (plain LDAP is refused: the
    /// users' passwords cross it).
    pub url: String,
    #[serde(default)]
    pub start_tls: bool,
    /// PEM certificates to trust for the directory's TLS besides the system's (a company CA).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_pem: String,
    /// The account the console searches with, e.g. `cn=wharf,ou=services,dc=example,dc=com`.
    pub bind_dn: String,
    /// The Secret in `wharf-system` whose `password` key holds the bind account's password.
    pub bind_secret: String,
    /// Where users are searched, e.g. `ou=people,dc=example,dc=com`.
    pub user_base: String,
    /// `{username}` is replaced by the escaped name typed at login, e.g. `(uid={username})`,
    /// or `(sAMAccountName={username})` on Active Directory.
    pub user_filter: String,
    /// Where groups are searched, e.g. `ou=groups,dc=example,dc=com`.
    pub group_base: String,
    /// `{dn}` is the user's DN and `{username}` their name, escaped, e.g.
    /// `(&(objectClass=groupOfNames)(member={dn}))`.
    pub group_filter: String,
    /// The user attribute with the name to show (`cn`, or `displayName` on Active Directory).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name_attribute: String,
    /// The user attribute with the e-mail address (`mail`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email_attribute: String,
    /// The group attribute with the group's name (`cn`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group_name_attribute: String,
}
