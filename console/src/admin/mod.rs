//! Administration: users and tenants as a platform team manages them. Used by `wharf admin`
//! (scripted installs, no console running), by the first start of a console on an empty
//! cluster ([`bootstrap`]), and by the console's administration pages as they land.
//!
//! Everything here talks to the cluster directly (not through the console's caches), so it
//! works the same from a CLI and from a replica that has just started.

pub mod bootstrap;
pub mod endpoints;
pub mod members;
pub mod policy;
pub mod sync;
pub mod tenants;
pub mod users;

use wharf_api::{text, Text};

/// Why an administration step was refused or failed; the CLI prints the English, the console
/// answers both languages.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(Text),
    /// The thing that exists, named in both languages (`user 'carol'`).
    #[error("{0} already exists")]
    Exists(Text),
    #[error("{0} does not exist")]
    NotFound(Text),
    #[error("Wharf's resources are not installed in this cluster (start `wharf serve` once, or `kubectl apply -f deploy/crds.yaml`)")]
    NotInstalled,
    #[error("the cluster refused: {0}")]
    Kube(#[from] kube::Error),
    #[error("hashing the password: {0}")]
    Hash(String),
}

impl From<AdminError> for wharf_api::error::AppError {
    fn from(e: AdminError) -> Self {
        use wharf_api::error::AppError;
        match e {
            AdminError::Invalid(m) => AppError::Invalid(m),
            AdminError::Exists(what) => {
                AppError::Conflict(text!("{what} already exists", "{what}已存在"))
            }
            AdminError::NotFound(m) => AppError::NotFound(m),
            AdminError::NotInstalled => AppError::Unavailable(text!(
                "Wharf's resources are not installed in this cluster (start `wharf serve` once, or `kubectl apply -f deploy/crds.yaml`)",
                "集群中尚未安装 Wharf 的资源(先运行一次 `wharf serve`,或执行 `kubectl apply -f deploy/crds.yaml`)"
            )),
            AdminError::Kube(k) => k.into(),
            AdminError::Hash(m) => AppError::Internal(text!(
                "hashing the password: {m}",
                "计算密码哈希失败:{m}"
            )),
        }
    }
}

/// A lower-case RFC 1123 label (users, tenants and namespaces are named like namespaces).
pub fn check_name(what: &Text, name: &str) -> Result<(), AdminError> {
    wharf_api::admin::check_name(what, name).map_err(AdminError::Invalid)
}

/// A 404 on a Wharf kind means its CRD is missing.
fn not_installed(e: kube::Error) -> AdminError {
    match &e {
        kube::Error::Api(s) if s.code == 404 => AdminError::NotInstalled,
        _ => AdminError::Kube(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rfc_1123_labels() {
        for good in ["admin", "carol", "team-7", "a"] {
            assert!(check_name(&text!("user", "用户"), good).is_ok(), "{good}");
        }
        for bad in ["", "Admin", "-a", "a-", "a_b", "a.b", &"x".repeat(64)] {
            assert!(check_name(&text!("user", "用户"), bad).is_err(), "{bad}");
        }
    }
}
