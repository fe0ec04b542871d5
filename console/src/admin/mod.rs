//! Administration: users and tenants as a platform team manages them. Used by `wharf admin`
//! (scripted installs, no console running), by the first start of a console on an empty
//! cluster ([`bootstrap`]), and by the console's administration pages as they land.
//!
//! Everything here talks to the cluster directly (not through the console's caches), so it
//! works the same from a CLI and from a replica that has just started.

pub mod bootstrap;
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

/// A lower-case RFC 1123 label (users, tenants and namespaces are named like namespaces).
pub fn check_name(what: &str, name: &str) -> Result<(), AdminError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "{what} '{name}' must be 1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit"
        )))
    }
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
