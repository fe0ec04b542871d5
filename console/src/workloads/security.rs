//! The security context of the pods Wharf deploys, from the tenant's Pod Security level.
//!
//! A namespace labelled `pod-security.kubernetes.io/enforce: restricted` (a tenant's default)
//! admits only pods that run as non-root, cannot gain privileges, drop every capability and use
//! the runtime's seccomp profile; a pod template without those fields is refused by the API
//! server's PodSecurity admission (Kubernetes 1.23+), and the app never starts. So an app
//! deployed from the form into such a tenant gets them written out. Baseline and privileged
//! tenants get the image's own defaults (running as root included), as `kubectl run` would.

use crate::state::Cache;
use crds::PodSecurity;
use serde_json::{json, Value};

/// The level the tenant's namespaces enforce; an unknown tenant counts as restricted (the
/// default of a new tenant, and the safe guess).
pub fn level_of(cache: &Cache, tenant: &str) -> PodSecurity {
    cache
        .tenants
        .state()
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some(tenant))
        .map(|t| t.spec.pod_security)
        .unwrap_or_default()
}

/// Writes what `level` requires into a pod spec (`template.spec`): for restricted,
/// `runAsNonRoot` and the `RuntimeDefault` seccomp profile on the pod, and on every container
/// no privilege escalation and all capabilities dropped. Fields already set are kept where
/// they satisfy the level.
pub fn harden(pod_spec: &mut Value, level: PodSecurity) {
    if level != PodSecurity::Restricted {
        return;
    }
    let pod = &mut pod_spec["securityContext"];
    if !pod.is_object() {
        *pod = json!({});
    }
    pod["runAsNonRoot"] = json!(true);
    if pod["seccompProfile"]["type"] != "Localhost" {
        pod["seccompProfile"] = json!({"type": "RuntimeDefault"});
    }
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod_spec[list].as_array_mut() else {
            continue;
        };
        for c in containers {
            let sc = &mut c["securityContext"];
            if !sc.is_object() {
                *sc = json!({});
            }
            sc["allowPrivilegeEscalation"] = json!(false);
            sc["capabilities"]["drop"] = json!(["ALL"]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_pods_get_every_field_the_standard_requires() {
        let mut spec =
            json!({"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]});
        harden(&mut spec, PodSecurity::Restricted);
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        for c in spec["containers"].as_array().unwrap() {
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        }
    }

    #[test]
    fn baseline_and_privileged_pods_keep_the_images_defaults() {
        for level in [PodSecurity::Baseline, PodSecurity::Privileged] {
            let mut spec = json!({"containers": [{"name": "a", "image": "x"}]});
            let before = spec.clone();
            harden(&mut spec, level);
            assert_eq!(spec, before);
        }
    }

    #[test]
    fn a_localhost_seccomp_profile_is_kept() {
        let mut spec = json!({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}, "containers": []});
        harden(&mut spec, PodSecurity::Restricted);
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"],
            "Localhost"
        );
    }
}
