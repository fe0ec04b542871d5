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

/// Why an administration step was refused or failed; the text is for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} does not exist")]
    NotFound(String),
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
            AdminError::Exists(_) => AppError::Conflict(e.to_string()),
            AdminError::NotFound(m) => AppError::NotFound(m),
            AdminError::NotInstalled => AppError::Unavailable(e.to_string()),
            AdminError::Kube(k) => k.into(),
            AdminError::Hash(m) => AppError::Internal(format!("hashing the password: {m}")),
        }
    }
}

/// A lower-case RFC 1123 label (users, tenants and namespaces are named like namespaces).
pub fn check_name(what: &str, name: &str) -> Result<(), AdminError> {
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
            assert!(check_name("user", good).is_ok(), "{good}");
        }
        for bad in ["", "Admin", "-a", "a-", "a_b", "a.b", &"x".repeat(64)] {
            assert!(check_name("user", bad).is_err(), "{bad}");
        }
    }
}
