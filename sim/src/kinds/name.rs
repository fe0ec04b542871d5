//! Object name validation with the API server's messages: DNS-1123 subdomains
//! for most kinds, DNS-1123 labels for namespaces, DNS-1035 labels for services.

use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;

pub(super) const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub(super) fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// 422 Invalid unless `name` is valid for the kind.
pub fn validate_name(info: &ResourceInfo, name: &str) -> Result<(), ApiError> {
    if super::rbac::is_rbac(info) {
        // NB: RBAC names are path segments (`system:controller:x`), checked with the
        // kind's other fields (`rbac::validate`), in one answer as the real server gives.
        return Ok(());
    }
    let problem = match info.kind.as_str() {
        "Namespace" if !is_label(name) => Some(LABEL_MSG),
        "Service" if !(is_label(name) && name.as_bytes()[0].is_ascii_lowercase()) => {
            Some(DNS1035_MSG)
        }
        _ if !is_subdomain(name) => Some(SUBDOMAIN_MSG),
        _ => None,
    };
    match problem {
        None => Ok(()),
        Some(msg) => Err(ApiError::invalid(
            &info.kind,
            &info.group,
            name,
            vec![Cause::invalid(
                "metadata.name",
                format!("Invalid value: \"{name}\": {msg}"),
            )],
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert!(super::is_subdomain("web-1.example"));
        assert!(!super::is_subdomain("Bad_Name"));
        assert!(!super::is_label("a.b"));
        assert!(!super::is_label("-a"));
    }
}
