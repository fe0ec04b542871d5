//! The one check of a DNS-1123 label, the shape Kubernetes gives namespaces and most names
//! and Wharf gives users, tenants and receivers. Each caller words its own refusal.

/// 1 to 63 lower-case letters, digits or `-`, starting and ending with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::is_dns_label;

    #[test]
    fn labels_are_lower_case_bounded_and_trimmed_of_dashes() {
        for good in ["a", "alpha", "team-7", &"x".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "Alpha", "-a", "a-", "a_b", "a.b", &"x".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
