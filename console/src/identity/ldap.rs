//! The LDAP client: connect over TLS (LDAPS or StartTLS, never plain), bind with the
//! console's account, find a user by the name typed at login, bind as them with the password
//! they gave (never kept), and read their groups. Works with OpenLDAP, Active Directory and
//! anything that speaks LDAPv3.
//!
//! Every value put into a filter is escaped (RFC 4515), an empty password is refused before
//! anything is sent (an LDAP bind with a DN and no password is an *unauthenticated* bind that
//! succeeds), and every operation has a deadline.

use crds::LdapSpec;
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;
use wharf_api::identity::{DirectoryUser, TrialReport, TrialStep};
use wharf_api::{text, Text};

/// How long one connection or operation may take.
const DEADLINE: Duration = Duration::from_secs(5);
/// LDAP's "invalid credentials" result code.
const INVALID_CREDENTIALS: u32 = 49;

/// Why a directory did not sign someone in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such user, or the wrong password: told apart from nothing.
    BadCredentials,
    /// The directory did not answer, or refused the console's own account: the words say which.
    Unavailable(Text),
}

/// The TLS settings: the system's roots and the provider's own CA certificates.
fn tls(spec: &LdapSpec) -> Result<Arc<rustls::ClientConfig>, Text> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // NB: one unreadable system certificate must not stop the others
        let _ = roots.add(cert);
    }
    for cert in CertificateDer::pem_slice_iter(spec.ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| {
            text!(
                "the CA certificates do not read as PEM: {e}",
                "CA 证书不是有效的 PEM:{e}"
            )
        })?;
        roots.add(cert).map_err(|e| {
            text!(
                "a CA certificate is not usable: {e}",
                "某个 CA 证书不可用:{e}"
            )
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| text!("TLS: {e}", "TLS:{e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The directory at `url` failed at `what` (English, Chinese) with `e`, in its own words.
fn unavailable(url: &str, what: (&str, &str), e: impl std::fmt::Display) -> Refusal {
    let (en, zh) = what;
    Refusal::Unavailable(text!(
        "the directory {url} {en}: {e}",
        "目录 {url} {zh}:{e}"
    ))
}

/// A connection bound as the console's account.
async fn connect(spec: &LdapSpec, bind_password: &str) -> Result<Ldap, Refusal> {
    let url = spec.url.trim();
    if url.starts_with("ldap://") && !spec.start_tls {
        return Err(Refusal::Unavailable(text!(
            "the directory {url} has no TLS: turn StartTLS on or use ldaps://",
            "目录 {url} 没有 TLS:请打开 StartTLS 或使用 ldaps://"
        )));
    }
    let settings = LdapConnSettings::new()
        .set_conn_timeout(DEADLINE)
        .set_starttls(spec.start_tls)
        .set_config(tls(spec).map_err(Refusal::Unavailable)?);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .map_err(|e| unavailable(url, ("did not answer", "没有响应"), e))?;
    ldap3::drive!(conn);
    let bound = ldap
        .with_timeout(DEADLINE)
        .simple_bind(spec.bind_dn.trim(), bind_password)
        .await
        .and_then(|r| r.success());
    if let Err(e) = bound {
        return Err(unavailable(
            url,
            (
                "refused the console's bind account",
                "拒绝了控制台的绑定账号",
            ),
            e,
        ));
    }
    Ok(ldap)
}

fn first(entry: &SearchEntry, attribute: &str) -> String {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
        .and_then(|(_, v)| v.first().cloned())
        .unwrap_or_default()
}

fn or<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.trim().is_empty() {
        default
    } else {
        value.trim()
    }
}

/// Finds the one entry `user_filter` names for `username` (escaped); `None` for no entry.
async fn find(
    ldap: &mut Ldap,
    spec: &LdapSpec,
    username: &str,
) -> Result<Option<SearchEntry>, Refusal> {
    let filter = spec
        .user_filter
        .trim()
        .replace("{username}", &ldap_escape(username));
    let attrs = [
        or(&spec.display_name_attribute, "cn"),
        or(&spec.email_attribute, "mail"),
    ];
    let (entries, _) = ldap
        .with_timeout(DEADLINE)
        .search(
            spec.user_base.trim(),
            Scope::Subtree,
            &filter,
            attrs.to_vec(),
        )
        .await
        .and_then(|r| r.success())
        .map_err(|e| unavailable(&spec.url, ("could not search for users", "无法搜索用户"), e))?;
    match entries.len() {
        0 => Ok(None),
        1 => Ok(entries.into_iter().next().map(SearchEntry::construct)),
        n => Err(Refusal::Unavailable(text!(
            "the user filter {filter} matches {n} entries for '{username}': make it match one",
            "用户过滤器 {filter} 对“{username}”匹配到 {n} 个条目:请让它只匹配一个"
        ))),
    }
}

/// The names of the groups `group_filter` finds for the user.
async fn groups(
    ldap: &mut Ldap,
    spec: &LdapSpec,
    dn: &str,
    username: &str,
) -> Result<Vec<String>, Refusal> {
    let filter = spec
        .group_filter
        .trim()
        .replace("{dn}", &ldap_escape(dn))
        .replace("{username}", &ldap_escape(username));
    let attribute = or(&spec.group_name_attribute, "cn");
    let (entries, _) = ldap
        .with_timeout(DEADLINE)
        .search(
            spec.group_base.trim(),
            Scope::Subtree,
            &filter,
            vec![attribute],
        )
        .await
        .and_then(|r| r.success())
        .map_err(|e| unavailable(&spec.url, ("could not search for groups", "无法搜索组"), e))?;
    let mut names: Vec<String> = entries
        .into_iter()
        .map(SearchEntry::construct)
        .map(|e| first(&e, attribute))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn user_of(spec: &LdapSpec, entry: &SearchEntry, groups: Vec<String>) -> DirectoryUser {
    DirectoryUser {
        dn: entry.dn.clone(),
        display_name: first(entry, or(&spec.display_name_attribute, "cn")),
        email: first(entry, or(&spec.email_attribute, "mail")),
        groups,
    }
}

/// Signs `username` in with `password`: the user as the directory describes them now.
pub async fn login(
    spec: &LdapSpec,
    bind_password: &str,
    username: &str,
    password: &str,
) -> Result<DirectoryUser, Refusal> {
    if password.is_empty() {
        return Err(Refusal::BadCredentials);
    }
    let mut ldap = connect(spec, bind_password).await?;
    let outcome = async {
        let entry = find(&mut ldap, spec, username)
            .await?
            .ok_or(Refusal::BadCredentials)?;
        match ldap
            .with_timeout(DEADLINE)
            .simple_bind(&entry.dn, password)
            .await
            .and_then(|r| r.success())
        {
            Ok(_) => {}
            Err(ldap3::LdapError::LdapResult { result }) if result.rc == INVALID_CREDENTIALS => {
                return Err(Refusal::BadCredentials)
            }
            Err(e) => {
                return Err(unavailable(
                    &spec.url,
                    ("could not check the password", "无法核对密码"),
                    e,
                ))
            }
        }
        // NB: groups are read as the console's account again: users often cannot read them
        ldap.with_timeout(DEADLINE)
            .simple_bind(spec.bind_dn.trim(), bind_password)
            .await
            .and_then(|r| r.success())
            .map_err(|e| {
                unavailable(
                    &spec.url,
                    (
                        "refused the console's bind account",
                        "拒绝了控制台的绑定账号",
                    ),
                    e,
                )
            })?;
        let groups = groups(&mut ldap, spec, &entry.dn, username).await?;
        Ok(user_of(spec, &entry, groups))
    }
    .await;
    let _ = ldap.unbind().await;
    outcome
}

/// The user as the directory describes them now, without their password (the directory
/// sync); `None` when the directory no longer has them.
pub async fn lookup(
    spec: &LdapSpec,
    bind_password: &str,
    username: &str,
) -> Result<Option<DirectoryUser>, Refusal> {
    let mut ldap = connect(spec, bind_password).await?;
    let outcome = async {
        let Some(entry) = find(&mut ldap, spec, username).await? else {
            return Ok(None);
        };
        let groups = groups(&mut ldap, spec, &entry.dn, username).await?;
        Ok(Some(user_of(spec, &entry, groups)))
    }
    .await;
    let _ = ldap.unbind().await;
    outcome
}

fn step(what: Text, result: Result<String, Refusal>) -> (TrialStep, bool) {
    let ok = result.is_ok();
    let detail = match result {
        Ok(d) => d,
        Err(Refusal::BadCredentials) => "wrong user name or password".into(),
        Err(Refusal::Unavailable(t)) => t.en,
    };
    (TrialStep { what, ok, detail }, ok)
}

/// The identity page's "test these settings": each step and what it found, stopping at the
/// first that fails.
pub async fn trial(
    spec: &LdapSpec,
    bind_password: &str,
    username: &str,
    password: &str,
) -> TrialReport {
    let mut report = TrialReport {
        steps: Vec::new(),
        user: None,
    };
    let (s, ok) = step(
        text!(
            "Connect and bind as the console's account",
            "连接并以控制台账号绑定"
        ),
        connect(spec, bind_password)
            .await
            .map(|_| spec.bind_dn.clone()),
    );
    report.steps.push(s);
    if !ok || username.trim().is_empty() {
        return report;
    }
    let found = lookup(spec, bind_password, username.trim()).await;
    let (s, ok) = step(
        text!("Find the user and their groups", "查找用户及其所属组"),
        match &found {
            Ok(Some(u)) => Ok(format!("{} ({} groups)", u.dn, u.groups.len())),
            Ok(None) => Err(Refusal::Unavailable(text!(
                "no entry matches the user filter",
                "没有条目匹配用户过滤器"
            ))),
            Err(e) => Err(e.clone()),
        },
    );
    report.steps.push(s);
    report.user = found.ok().flatten();
    if !ok || password.is_empty() {
        return report;
    }
    let (s, _) = step(
        text!(
            "Sign in as the user with the password given",
            "用给出的密码以该用户登录"
        ),
        login(spec, bind_password, username.trim(), password)
            .await
            .map(|u| u.dn),
    );
    report.steps.push(s);
    report
}
