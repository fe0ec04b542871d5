//! Administration as the pages see it: tenants (namespaces, quota, pod security, hosts, image
//! prefix), users, and a tenant's members; and the checks both the forms and the server run on
//! what an admin types (every field here ends up as cluster objects, so each is checked as
//! hostile).

use crate::auth::Role;
use crate::{text, Text};
use serde::{Deserialize, Serialize};

/// A tenant as a platform admin creates or edits it. Empty quota fields mean "no limit".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantForm {
    pub name: String,
    pub display_name: String,
    pub namespaces: Vec<String>,
    /// Namespaces that exist already and belong to no tenant, taken over on purpose. A
    /// namespace that exists and is not listed here is refused (nothing is adopted by typo).
    pub adopt: Vec<String>,
    pub quota: QuotaForm,
    /// `restricted`, `baseline` or `privileged`.
    pub pod_security: String,
    /// Exact host names or `*.suffix` patterns the tenant may route on nginx clusters.
    pub hosts: Vec<String>,
    /// Where the tenant's pipelines may push, e.g. `registry.example.com/alpha/`.
    pub image_prefix: String,
}

/// Hard limits per namespace as typed: Kubernetes quantities (`2`, `500m`, `4Gi`); empty is
/// no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaForm {
    pub cpu: String,
    pub memory: String,
    pub pods: String,
    pub storage: String,
}

/// A tenant in the platform admin's list, with what it uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantSummary {
    pub form: TenantForm,
    pub members: usize,
    pub admins: Vec<String>,
    pub usage: Vec<NamespaceUsage>,
}

/// One namespace's quota use, read from its `ResourceQuota`'s status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamespaceUsage {
    pub namespace: String,
    pub resources: Vec<Usage>,
}

/// `used` of `hard` for one resource (`requests.cpu`, `pods`, …), as the API server wrote them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub resource: String,
    pub used: String,
    pub hard: String,
    /// used / hard, 0.0 when unknown.
    pub fraction: f64,
}

impl Usage {
    /// The overview warns from 80 % on.
    pub fn warns(&self) -> bool {
        self.fraction >= 0.8
    }
}

/// What deleting a tenant takes with it, shown before the admin confirms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeletionPlan {
    pub tenant: String,
    /// Namespaces deleted with everything in them.
    pub namespaces: Vec<String>,
    /// `namespace/name` of the Deployments, StatefulSets and Jobs in them.
    pub workloads: Vec<String>,
    /// Users who lose their membership (the users themselves stay).
    pub members: Vec<String>,
}

impl DeletionPlan {
    /// Deleting needs the tenant's name typed when something would be lost.
    pub fn needs_confirmation(&self) -> bool {
        !self.workloads.is_empty()
    }
}

/// A user in the platform admin's list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    pub name: String,
    pub display_name: String,
    pub platform_admin: bool,
    pub disabled: bool,
    pub must_change_password: bool,
    /// RFC 3339, or `None` if they never logged in through the console.
    pub last_login: Option<String>,
    /// Wrong passwords given since the last successful login, and when the last was.
    pub failed_logins: u32,
    pub last_failed_login: Option<String>,
    pub memberships: Vec<(String, Role)>,
}

/// A new user as a platform admin types it; the password is one-time (changed at first login).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewUserForm {
    pub name: String,
    pub display_name: String,
    pub password: String,
    pub platform_admin: bool,
}

/// One member of a tenant, as its admins see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub user: String,
    pub display_name: String,
    pub role: Role,
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

pub fn check_password(password: &str) -> Result<(), Text> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(text!(
            "A password needs at least {MIN_PASSWORD} characters.",
            "密码至少需要 {MIN_PASSWORD} 个字符。"
        ));
    }
    Ok(())
}

/// A lower-case RFC 1123 label: how users, tenants and namespaces are named.
/// `what` is the kind of name (user, tenant, namespace) in both languages.
pub fn check_name(what: &Text, name: &str) -> Result<(), Text> {
    if crate::names::is_dns_label(name) {
        Ok(())
    } else {
        Err(text!(
            "{what} '{name}' must be 1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit",
            "{what}“{name}”只能包含 1 到 63 个小写字母、数字或“-”,且以字母或数字开头和结尾"
        ))
    }
}

/// Namespaces no tenant may own.
pub fn reserved_namespace(ns: &str) -> bool {
    ns.starts_with("kube-") || ns == "default" || ns.starts_with("wharf-")
}

/// A Kubernetes quantity as the API server parses it: a decimal number (optionally signed,
/// with a fraction) and an optional suffix (`m`, `k`, `M`, `G`, `T`, `P`, `E`, `Ki`…`Ei`, or
/// an exponent `e3`/`E3`). Negative quantities are refused here (a quota cannot be negative).
pub fn check_quantity(field: &Text, value: &str) -> Result<(), Text> {
    let bad = || {
        Err(text!(
            "{field} '{value}' is not a quantity: write a number with an optional unit, e.g. 2, 500m, 4Gi",
            "{field}“{value}”不是有效的数量:请填写数字,可带单位,例如 2、500m、4Gi"
        ))
    };
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits_end);
    if number.is_empty()
        || number == "."
        || number.matches('.').count() > 1
        || !number.bytes().any(|b| b.is_ascii_digit())
    {
        return bad();
    }
    let known = [
        "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    let exponent = suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    if known.contains(&suffix) || exponent {
        Ok(())
    } else {
        bad()
    }
}

/// A host name a tenant may route: an exact DNS name (`shop.example.com`) or a suffix pattern
/// `*.alpha.example.com`. A pattern needs at least two labels after `*.` so that no tenant can
/// claim a whole top-level domain (`*.com`), and `*` alone is refused.
pub fn check_host_pattern(pattern: &str) -> Result<(), Text> {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| crate::names::is_dns_label(l);
    let wildcard = pattern.starts_with("*.");
    if name.len() > 253 || !labels.iter().all(label_ok) || (wildcard && labels.len() < 2) {
        return Err(text!(
            "host '{pattern}' must be a lower-case DNS name (shop.example.com) or a pattern *.example.com with at least two labels after '*.'",
            "域名“{pattern}”必须是小写的 DNS 名称(如 shop.example.com),或“*.”后至少有两级的通配形式(如 *.example.com)"
        ));
    }
    Ok(())
}

/// Does `host` fall under `pattern` (see [`check_host_pattern`])?
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => host == pattern,
    }
}

/// Can one host name fall under both patterns (see [`check_host_pattern`])? Two tenants'
/// patterns must not overlap, so a host has one owner.
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    match (a.strip_prefix("*."), b.strip_prefix("*.")) {
        (None, None) => a == b,
        (Some(_), None) => host_matches(&a, &b),
        (None, Some(_)) => host_matches(&b, &a),
        (Some(x), Some(y)) => {
            x == y || x.ends_with(&format!(".{y}")) || y.ends_with(&format!(".{x}"))
        }
    }
}

/// An image repository prefix: `registry-host[:port]/path/` with a lower-case path and no `..`.
/// The host must contain a dot or a port (or be `localhost`), as Docker tells registries from
/// Docker Hub user names, so a prefix cannot silently mean Docker Hub.
pub fn check_image_prefix(prefix: &str) -> Result<(), Text> {
    let bad = |why: Text| {
        Err(text!(
            "image prefix '{prefix}' {why}",
            "镜像前缀“{prefix}”{why}"
        ))
    };
    let Some((host, path)) = prefix.split_once('/') else {
        return bad(text!(
            "needs a registry and a path, e.g. registry.example.com/alpha/",
            "需要包含镜像仓库地址和路径,例如 registry.example.com/alpha/"
        ));
    };
    let registry = host.contains('.') || host.contains(':') || host == "localhost";
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
    if !registry || !host_ok {
        return bad(text!(
            "must start with a registry host such as registry.example.com or 10.0.0.5:5000",
            "必须以镜像仓库地址开头,例如 registry.example.com 或 10.0.0.5:5000"
        ));
    }
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return bad(text!(
            "needs a path after the registry, e.g. registry.example.com/alpha/",
            "镜像仓库地址后需要路径,例如 registry.example.com/alpha/"
        ));
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
    };
    if !path.split('/').all(segment_ok) {
        return bad(text!(
            "has a path segment that is not lower-case letters, digits, '-', '_' or '.'",
            "的路径中有一段不只包含小写字母、数字、“-”、“_”或“.”"
        ));
    }
    Ok(())
}

/// Does the image `repository` (`registry/path/name`, without tag) fall under `prefix`?
pub fn image_under(prefix: &str, repository: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    repository
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('/') && !rest.contains(".."))
}

/// Every check of a tenant form, in the order of the form's fields.
pub fn check_tenant(form: &TenantForm) -> Result<(), Text> {
    check_name(&text!("tenant", "租户"), &form.name)?;
    let name = &form.name;
    if form.namespaces.is_empty() {
        return Err(text!(
            "tenant '{name}' needs at least one namespace",
            "租户“{name}”至少需要一个命名空间"
        ));
    }
    for ns in form.namespaces.iter().chain(&form.adopt) {
        check_name(&text!("namespace", "命名空间"), ns)?;
        if reserved_namespace(ns) {
            return Err(text!(
                "namespace '{ns}' belongs to the cluster or to Wharf, not to a tenant",
                "命名空间“{ns}”属于集群或 Wharf 本身,不能分配给租户"
            ));
        }
    }
    if let Some(ns) = form.adopt.iter().find(|a| !form.namespaces.contains(a)) {
        return Err(text!(
            "namespace '{ns}' is to be adopted but is not among the tenant's namespaces",
            "要接管的命名空间“{ns}”不在该租户的命名空间中"
        ));
    }
    let q = &form.quota;
    for (field, value) in [
        (text!("CPU", "CPU"), &q.cpu),
        (text!("memory", "内存"), &q.memory),
        (text!("storage", "存储"), &q.storage),
    ] {
        if !value.is_empty() {
            check_quantity(&field, value)?;
        }
    }
    let pods = &q.pods;
    if !pods.is_empty() && pods.parse::<u32>().is_err() {
        return Err(text!(
            "pods '{pods}' must be a whole number",
            "Pod 数“{pods}”必须是整数"
        ));
    }
    let level = &form.pod_security;
    if !["restricted", "baseline", "privileged"].contains(&level.as_str()) {
        return Err(text!(
            "pod security '{level}' must be restricted, baseline or privileged",
            "Pod 安全级别“{level}”必须是 restricted、baseline 或 privileged"
        ));
    }
    for host in &form.hosts {
        check_host_pattern(host)?;
    }
    if !form.image_prefix.is_empty() {
        check_image_prefix(&form.image_prefix)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_the_api_server_reads_them() {
        for good in [
            "2", "500m", "0.5", "4Gi", "128Mi", "1e3", "10", "1.5G", "100Ki",
        ] {
            assert!(
                check_quantity(&Text::verbatim("cpu"), good).is_ok(),
                "{good}"
            );
        }
        for bad in ["", "-1", "2 cores", "4GB", "Gi", ".", "1.2.3", "1e", "two"] {
            assert!(
                check_quantity(&Text::verbatim("cpu"), bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn host_patterns_cannot_claim_a_whole_domain() {
        for good in [
            "shop.example.com",
            "*.alpha.example.com",
            "*.example.com",
            "localhost",
        ] {
            assert!(check_host_pattern(good).is_ok(), "{good}");
        }
        for bad in [
            "*",
            "*.com",
            "*.*.example.com",
            "Shop.example.com",
            "a..b",
            "-a.com",
            "a.com.",
            "*example.com",
            "a b.com",
        ] {
            assert!(check_host_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_suffix_pattern_matches_names_under_it_only() {
        assert!(host_matches(
            "*.alpha.example.com",
            "shop.alpha.example.com"
        ));
        assert!(host_matches("*.alpha.example.com", "a.b.alpha.example.com"));
        assert!(!host_matches("*.alpha.example.com", "alpha.example.com"));
        assert!(!host_matches(
            "*.alpha.example.com",
            "evilalpha.example.com"
        ));
        assert!(!host_matches(
            "*.alpha.example.com",
            "shop.beta.example.com"
        ));
        assert!(host_matches("shop.example.com", "shop.example.com"));
        assert!(!host_matches("shop.example.com", "x.shop.example.com"));
    }

    #[test]
    fn patterns_overlap_when_one_host_could_match_both() {
        for (a, b) in [
            ("shop.example.com", "SHOP.example.com"),
            ("*.example.com", "shop.example.com"),
            ("shop.example.com", "*.example.com"),
            ("*.example.com", "*.example.com"),
            ("*.example.com", "*.team.example.com"),
            ("*.a.team.example.com", "*.example.com"),
        ] {
            assert!(patterns_overlap(a, b), "{a} {b}");
        }
        for (a, b) in [
            ("shop.example.com", "cart.example.com"),
            ("*.alpha.example.com", "*.beta.example.com"),
            ("*.example.com", "example.com"),
            ("*.ample.com", "*.example.com"),
            ("*.alpha.demo", "shop.alpha.demo.evil.com"),
        ] {
            assert!(!patterns_overlap(a, b), "{a} {b}");
        }
    }

    #[test]
    fn image_prefixes_name_a_registry_and_stay_under_their_path() {
        for good in [
            "registry.example.com/alpha/",
            "10.0.0.5:5000/alpha",
            "localhost/a/b/",
        ] {
            assert!(check_image_prefix(good).is_ok(), "{good}");
        }
        for bad in [
            "alpha/",
            "registry.example.com/",
            "registry.example.com",
            "registry.example.com/../beta/",
            "registry.example.com/Alpha/",
            "reg istry.com/a/",
        ] {
            assert!(check_image_prefix(bad).is_err(), "{bad}");
        }
        assert!(image_under(
            "registry.example.com/alpha/",
            "registry.example.com/alpha/shop"
        ));
        assert!(!image_under(
            "registry.example.com/alpha/",
            "registry.example.com/alphabet/shop"
        ));
        assert!(!image_under(
            "registry.example.com/alpha/",
            "registry.example.com/alpha/../beta/x"
        ));
    }

    #[test]
    fn a_tenant_form_is_checked_field_by_field() {
        let good = TenantForm {
            name: "gamma".into(),
            namespaces: vec!["gamma".into()],
            pod_security: "restricted".into(),
            quota: QuotaForm {
                cpu: "2".into(),
                memory: "4Gi".into(),
                pods: "10".into(),
                storage: String::new(),
            },
            ..Default::default()
        };
        assert_eq!(check_tenant(&good), Ok(()));
        let with = |f: fn(&mut TenantForm)| {
            let mut form = good.clone();
            f(&mut form);
            check_tenant(&form)
        };
        assert!(with(|f| f.namespaces.clear()).is_err());
        assert!(with(|f| f.namespaces.push("kube-system".into())).is_err());
        assert!(with(|f| f.namespaces.push("wharf-system".into())).is_err());
        assert!(with(|f| f.adopt.push("other".into())).is_err());
        assert!(with(|f| f.quota.pods = "ten".into()).is_err());
        assert!(with(|f| f.pod_security = "none".into()).is_err());
        assert!(with(|f| f.hosts.push("*.com".into())).is_err());
        assert!(with(|f| f.image_prefix = "docker.io".into()).is_err());
    }
}
