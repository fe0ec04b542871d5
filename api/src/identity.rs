//! Company directories people sign in with (LDAP / Active Directory), and the directory
//! groups tenants map to roles: what the identity page and the members page send, and the
//! checks both sides run.

use crate::auth::Role;
use crate::{text, Text};
use serde::{Deserialize, Serialize};

/// An LDAP directory as the identity page edits it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapForm {
    /// The provider's name (a DNS label); users it signs in are marked with it.
    pub name: String,
    pub display_name: String,
    pub disabled: bool,
    /// `ldaps://host:636`, or `ldap://host:389` with `start_tls`.
    pub url: String,
    pub start_tls: bool,
    /// PEM certificates to trust (a company CA); empty: the system's.
    pub ca_pem: String,
    pub bind_dn: String,
    /// The bind account's password; empty when editing keeps the stored one.
    pub bind_password: String,
    pub user_base: String,
    /// With `{username}`, e.g. `(uid={username})`.
    pub user_filter: String,
    pub group_base: String,
    /// With `{dn}` or `{username}`, e.g. `(&(objectClass=groupOfNames)(member={dn}))`.
    pub group_filter: String,
    pub display_name_attribute: String,
    pub email_attribute: String,
    pub group_name_attribute: String,
}

impl LdapForm {
    /// OpenLDAP's usual shape, for a new directory.
    pub fn openldap() -> LdapForm {
        LdapForm {
            user_filter: "(uid={username})".into(),
            group_filter: "(&(objectClass=groupOfNames)(member={dn}))".into(),
            display_name_attribute: "cn".into(),
            email_attribute: "mail".into(),
            group_name_attribute: "cn".into(),
            ..LdapForm::default()
        }
    }
}

/// An OpenID Connect provider as the identity page edits it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcForm {
    /// The provider's name (a DNS label): in the callback URL and on its users.
    pub name: String,
    pub display_name: String,
    pub disabled: bool,
    /// Exactly as the provider's discovery document names itself, e.g.
    /// `https://id.example.com/realms/corp`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret; empty when editing keeps the stored one.
    pub client_secret: String,
    /// Asked for at login, space-separated; must include `openid`.
    pub scopes: String,
    /// The ID token claim with the user name (`preferred_username`).
    pub username_claim: String,
    /// The ID token claim with the groups (`groups`).
    pub groups_claim: String,
}

impl OidcForm {
    /// The usual claims and scopes (Keycloak, Dex, Authentik), for a new provider.
    pub fn usual() -> OidcForm {
        OidcForm {
            scopes: DEFAULT_SCOPES.into(),
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            ..OidcForm::default()
        }
    }
}

/// Scopes asked for when a provider names none.
pub const DEFAULT_SCOPES: &str = "openid profile email groups";

/// A provider in the identity page's list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSummary {
    pub name: String,
    pub display_name: String,
    pub disabled: bool,
    /// The directory's URL, or the OpenID Connect issuer.
    pub url: String,
    /// Wharf users signed in through it so far.
    pub users: usize,
    /// An LDAP directory's settings, without the bind password (empty for OpenID Connect).
    pub form: LdapForm,
    /// An OpenID Connect provider's settings, without the client secret.
    pub oidc: Option<OidcForm>,
    /// Where the provider sends people back (to register at the provider), for OpenID Connect.
    pub redirect_uri: Option<String>,
}

/// A way to sign in shown on the login page besides the password (an OpenID Connect
/// provider): the browser goes to [`crate::routes::oidc_start`] of its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOption {
    pub name: String,
    pub display_name: String,
}

/// Why a sign-in through OpenID Connect came back without a session: the callback sends the
/// browser to `/login?oidc=<code>`, and the login page says it in both languages (the details
/// go to the audit log, never into a URL a stranger could write).
pub fn oidc_failure(code: &str) -> Text {
    match code {
        "expired" => text!(
            "The sign-in took too long or was started in another browser. Try again.",
            "登录超时,或是在另一个浏览器中开始的。请重试。"
        ),
        "refused" => text!(
            "The identity provider did not sign you in.",
            "身份提供方没有让您登录。"
        ),
        "invalid" => text!(
            "The identity provider's answer failed the console's checks (see the audit log).",
            "身份提供方的应答未通过控制台的校验(详见审计日志)。"
        ),
        "unavailable" => text!(
            "The identity provider did not answer. Try again, or sign in with a password.",
            "身份提供方没有响应。请重试,或使用密码登录。"
        ),
        "taken" => text!(
            "Your name at the identity provider belongs to another Wharf user. Ask a platform admin.",
            "您在身份提供方的用户名已属于另一个 Wharf 用户。请联系平台管理员。"
        ),
        "disabled" => text!(
            "Your Wharf account is disabled.",
            "您的 Wharf 账号已被禁用。"
        ),
        _ => text!(
            "Signing in through the identity provider failed. Try again.",
            "通过身份提供方登录失败。请重试。"
        ),
    }
}

/// "Test these settings": connect and bind with the form's account, then (when a user name
/// is given) find that user and their groups, and (when a password is given) bind as them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapTrial {
    pub form: LdapForm,
    pub username: String,
    pub password: String,
}

/// One step of a trial and how it went, in the directory's own words when it refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialStep {
    pub what: Text,
    pub ok: bool,
    pub detail: String,
}

/// A directory user as a trial found them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub dn: String,
    pub display_name: String,
    pub email: String,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialReport {
    pub steps: Vec<TrialStep>,
    pub user: Option<DirectoryUser>,
}

/// A tenant's group mappings, as its admins edit them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRoleRow {
    pub provider: String,
    pub group: String,
    pub role: Role,
}

/// A member who has their role through groups (shown apart from those added by hand).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedMember {
    pub user: String,
    pub display_name: String,
    pub role: Role,
    /// The groups that give it.
    pub through: Vec<String>,
}

/// A tenant's group mappings and who has a role through them, for its members page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantGroups {
    pub rows: Vec<GroupRoleRow>,
    pub mapped: Vec<MappedMember>,
    /// The identity providers a mapping may name.
    pub providers: Vec<String>,
}

/// The most mappings one tenant holds.
pub const MAX_GROUP_ROLES: usize = 100;

fn required(field: &Text, value: &str) -> Result<(), Text> {
    if value.trim().is_empty() {
        return Err(text!("{field}: required", "{field}:必填"));
    }
    Ok(())
}

/// A filter as LDAP reads it: parenthesized, balanced, no control characters.
fn filter(field: &Text, value: &str, placeholders: &[&str]) -> Result<(), Text> {
    required(field, value)?;
    let v = value.trim();
    let mut depth = 0i32;
    let balanced = v.chars().all(|c| {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        depth >= 0
    }) && depth == 0;
    if !v.starts_with('(') || !v.ends_with(')') || !balanced || v.chars().any(char::is_control) {
        return Err(text!(
            "{field} '{v}' is not an LDAP filter: write it in parentheses, e.g. (uid={{username}})",
            "{field}“{v}”不是 LDAP 过滤器:请写在括号中,例如 (uid={{username}})"
        ));
    }
    if !placeholders.iter().any(|p| v.contains(p)) {
        let want = placeholders.join(" / ");
        return Err(text!(
            "{field} must contain {want}, where the console puts the user",
            "{field}必须包含 {want},控制台在此处填入用户"
        ));
    }
    Ok(())
}

/// The form's problems, if any (the server runs the same checks, and `editing` says whether
/// an empty bind password keeps the stored one).
pub fn check_ldap(form: &LdapForm, editing: bool) -> Result<(), Text> {
    crate::admin::check_name(&text!("Provider", "身份源"), &form.name)?;
    let url = form.url.trim();
    let rest = if let Some(rest) = url.strip_prefix("ldaps://") {
        if form.start_tls {
            return Err(text!(
                "ldaps:// is TLS already: turn StartTLS off, or use ldap:// with StartTLS",
                "ldaps:// 已是 TLS:请关闭 StartTLS,或使用 ldap:// 加 StartTLS"
            ));
        }
        rest
    } else if let Some(rest) = url.strip_prefix("ldap://") {
        if !form.start_tls {
            return Err(text!(
                "ldap:// without StartTLS would send people's passwords in clear text: turn StartTLS on or use ldaps://",
                "不带 StartTLS 的 ldap:// 会明文传送密码:请打开 StartTLS 或使用 ldaps://"
            ));
        }
        rest
    } else {
        return Err(text!(
            "URL '{url}': write ldaps://host:636 or ldap://host:389",
            "URL“{url}”:请写 ldaps://host:636 或 ldap://host:389"
        ));
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '@', ' ']) {
        return Err(text!(
            "URL '{url}': only a host and an optional port, e.g. ldaps://ldap.example.com:636",
            "URL“{url}”:只写主机和可选端口,例如 ldaps://ldap.example.com:636"
        ));
    }
    let pem = form.ca_pem.trim();
    if !pem.is_empty() && !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(text!(
            "CA certificates: paste PEM certificates (-----BEGIN CERTIFICATE-----…)",
            "CA 证书:请粘贴 PEM 格式证书(-----BEGIN CERTIFICATE-----…)"
        ));
    }
    required(&text!("Bind DN", "绑定 DN"), &form.bind_dn)?;
    if !editing {
        required(&text!("Bind password", "绑定密码"), &form.bind_password)?;
    }
    required(&text!("User search base", "用户搜索基准"), &form.user_base)?;
    filter(
        &text!("User filter", "用户过滤器"),
        &form.user_filter,
        &["{username}"],
    )?;
    required(&text!("Group search base", "组搜索基准"), &form.group_base)?;
    filter(
        &text!("Group filter", "组过滤器"),
        &form.group_filter,
        &["{dn}", "{username}"],
    )?;
    for (field, value) in [
        (
            text!("Display name attribute", "显示名属性"),
            &form.display_name_attribute,
        ),
        (text!("E-mail attribute", "邮箱属性"), &form.email_attribute),
        (
            text!("Group name attribute", "组名属性"),
            &form.group_name_attribute,
        ),
    ] {
        let v = value.trim();
        if !v.is_empty() && !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(text!(
                "{field} '{v}' is not an attribute name",
                "{field}“{v}”不是属性名"
            ));
        }
    }
    Ok(())
}

/// The form's problems, if any (`editing`: an empty client secret keeps the stored one).
pub fn check_oidc(form: &OidcForm, editing: bool) -> Result<(), Text> {
    crate::admin::check_name(&text!("Provider", "身份源"), &form.name)?;
    let issuer = form.issuer.trim();
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(text!(
            "Issuer '{issuer}': write the provider's URL, e.g. https://id.example.com/realms/corp",
            "Issuer“{issuer}”:请写身份提供方的 URL,例如 https://id.example.com/realms/corp"
        ));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || rest.contains(['?', '#', '@', ' '])
        || issuer.chars().any(char::is_control)
    {
        return Err(text!(
            "Issuer '{issuer}': a URL with a host and an optional path, no query",
            "Issuer“{issuer}”:须是带主机和可选路径的 URL,不带查询参数"
        ));
    }
    let client_id = form.client_id.trim();
    required(&text!("Client ID", "客户端 ID"), client_id)?;
    if client_id.len() > 256 || client_id.chars().any(char::is_control) {
        return Err(text!(
            "Client ID: at most 256 characters, no control characters",
            "客户端 ID:最多 256 个字符,不含控制字符"
        ));
    }
    if !editing {
        required(&text!("Client secret", "客户端密钥"), &form.client_secret)?;
    }
    let scopes = if form.scopes.trim().is_empty() {
        DEFAULT_SCOPES
    } else {
        form.scopes.trim()
    };
    if !scopes.split_whitespace().any(|s| s == "openid")
        || !scopes
            .chars()
            .all(|c| (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ')
    {
        return Err(text!(
            "Scopes '{scopes}': space-separated, and openid among them",
            "Scopes“{scopes}”:以空格分隔,且须包含 openid"
        ));
    }
    for (field, value) in [
        (text!("User name claim", "用户名声明"), &form.username_claim),
        (text!("Groups claim", "组声明"), &form.groups_claim),
    ] {
        let v = value.trim();
        if v.len() > 128 || !v.chars().all(|c| c.is_ascii_graphic()) {
            return Err(text!(
                "{field} '{v}' is not a claim name",
                "{field}“{v}”不是声明名"
            ));
        }
    }
    Ok(())
}

/// A tenant's mappings: each names a provider and a group, no pair twice.
pub fn check_group_roles(rows: &[GroupRoleRow]) -> Result<(), Text> {
    if rows.len() > MAX_GROUP_ROLES {
        return Err(text!(
            "at most {MAX_GROUP_ROLES} group mappings per tenant",
            "每个租户最多 {MAX_GROUP_ROLES} 条组映射"
        ));
    }
    for (i, row) in rows.iter().enumerate() {
        crate::admin::check_name(&text!("Provider", "身份源"), &row.provider)?;
        let group = row.group.trim();
        if group.is_empty() || group.len() > 256 || group.chars().any(char::is_control) {
            return Err(text!(
                "group '{group}': 1 to 256 characters, no control characters",
                "组“{group}”:1 到 256 个字符,不含控制字符"
            ));
        }
        if rows[..i]
            .iter()
            .any(|r| r.provider == row.provider && r.group.trim().eq_ignore_ascii_case(group))
        {
            let provider = &row.provider;
            return Err(text!(
                "group '{group}' of '{provider}' is mapped twice",
                "“{provider}”的组“{group}”映射了两次"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> LdapForm {
        LdapForm {
            name: "corp".into(),
            url: "ldaps://ldap.example.com:636".into(),
            bind_dn: "cn=wharf,dc=example,dc=com".into(),
            bind_password: "secret".into(),
            user_base: "ou=people,dc=example,dc=com".into(),
            group_base: "ou=groups,dc=example,dc=com".into(),
            ..LdapForm::openldap()
        }
    }

    #[test]
    fn a_directory_form_is_checked() {
        assert_eq!(check_ldap(&form(), false), Ok(()));
        let bad = |f: fn(&mut LdapForm)| {
            let mut v = form();
            f(&mut v);
            check_ldap(&v, false).is_err()
        };
        assert!(bad(|f| f.name = "Corp".into()));
        assert!(bad(|f| f.url = "ldap://ldap.example.com".into()), "plain");
        assert!(bad(|f| f.start_tls = true), "ldaps with StartTLS");
        assert!(bad(|f| f.url = "http://ldap.example.com".into()));
        assert!(bad(|f| f.url = "ldaps://".into()));
        assert!(bad(|f| f.url = "ldaps://h/dc=x?uid".into()));
        assert!(bad(|f| f.user_filter = "uid={username}".into()));
        assert!(
            bad(|f| f.user_filter = "(uid=admin)".into()),
            "no placeholder"
        );
        assert!(bad(|f| f.user_filter = "(uid={username}))(".into()));
        assert!(bad(|f| f.group_filter = "(member=x)".into()));
        assert!(bad(|f| f.bind_password.clear()));
        assert!(bad(|f| f.ca_pem = "not a pem".into()));
        assert!(bad(|f| f.email_attribute = "mail)(x".into()));
        let mut editing = form();
        editing.bind_password.clear();
        assert_eq!(check_ldap(&editing, true), Ok(()));
        let mut tls = form();
        tls.url = "ldap://ldap.example.com:389".into();
        tls.start_tls = true;
        assert_eq!(check_ldap(&tls, false), Ok(()));
    }

    #[test]
    fn an_oidc_form_is_checked() {
        let good = OidcForm {
            name: "corp".into(),
            issuer: "https://id.example.com/realms/corp".into(),
            client_id: "wharf".into(),
            client_secret: "s".into(),
            ..OidcForm::usual()
        };
        assert_eq!(check_oidc(&good, false), Ok(()));
        let bad = |f: fn(&mut OidcForm)| {
            let mut v = good.clone();
            f(&mut v);
            check_oidc(&v, false).is_err()
        };
        assert!(bad(|f| f.name = "Corp".into()));
        assert!(bad(|f| f.issuer = "id.example.com".into()));
        assert!(bad(|f| f.issuer = "https://".into()));
        assert!(bad(|f| f.issuer = "https://id.example.com/?x=1".into()));
        assert!(bad(|f| f.issuer = "https://u@id.example.com".into()));
        assert!(bad(|f| f.client_id = " ".into()));
        assert!(bad(|f| f.client_secret.clear()));
        assert!(bad(|f| f.scopes = "profile email".into()), "no openid");
        assert!(bad(|f| f.scopes = "openid\"x".into()));
        assert!(bad(|f| f.username_claim = "a b".into()));
        let mut editing = good.clone();
        editing.client_secret.clear();
        editing.scopes.clear();
        assert_eq!(
            check_oidc(&editing, true),
            Ok(()),
            "empty scopes: the default"
        );
    }

    #[test]
    fn every_oidc_failure_code_says_something_of_its_own() {
        let codes = [
            "expired",
            "refused",
            "invalid",
            "unavailable",
            "taken",
            "disabled",
        ];
        let other = oidc_failure("anything else");
        for code in codes {
            assert_ne!(oidc_failure(code), other, "{code}");
        }
    }

    #[test]
    fn group_mappings_are_checked() {
        let row = |g: &str| GroupRoleRow {
            provider: "corp".into(),
            group: g.into(),
            role: Role::Developer,
        };
        assert_eq!(check_group_roles(&[row("alpha-devs"), row("ops")]), Ok(()));
        assert!(check_group_roles(&[row("a"), row("A")]).is_err());
        assert!(check_group_roles(&[row(" ")]).is_err());
        assert!(check_group_roles(&[row("a\nb")]).is_err());
        assert!(check_group_roles(&vec![row("x"); MAX_GROUP_ROLES + 1]).is_err());
    }
}
