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
use wharf_api::workloads::validate;
use wharf_api::{text, Text};

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

/// What a tenant may write, whatever the editor: every problem of `obj` (a `kind` object as
/// JSON, e.g. from the YAML editor) under the forms' rules and the tenant's Pod Security
/// `level`, each in both languages. Empty when it may be saved.
///
/// - Deployments: at most [`validate::MAX_REPLICAS`] replicas; every container's image a
///   valid reference; the pod template passes the level's checks.
/// - Pods: the same for the pod itself.
/// - Services: no `externalIPs` (anyone who can set them can capture other tenants' traffic to
///   those addresses, CVE-2020-8554), and `NodePort` / `LoadBalancer` (a port on every node,
///   an address outside the cluster) only for a tenant a platform admin made privileged.
///
/// The level's checks are Kubernetes' own (`podsecurity`, as the 1.33 admission plugin
/// words them), so a cluster without PodSecurity admission gets the same refusal as one
/// with it, before anything is written.
pub fn policy_errors(kind: &str, obj: &Value, level: PodSecurity) -> Vec<Text> {
    let mut errors = Vec::new();
    let spec = &obj["spec"];
    match kind {
        "Deployment" | "StatefulSet" => {
            if let Some(n) = spec["replicas"].as_i64() {
                if n > i64::from(validate::MAX_REPLICAS) {
                    let max = validate::MAX_REPLICAS;
                    errors.push(text!(
                        "spec.replicas: at most {max} (got {n})",
                        "spec.replicas:最多 {max}(当前 {n})"
                    ));
                }
            }
            let template = &spec["template"];
            errors.extend(pod_errors(&template["metadata"], &template["spec"], level));
        }
        "Pod" => errors.extend(pod_errors(&obj["metadata"], spec, level)),
        "Service" => {
            if spec["externalIPs"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                errors.push(text!(
                    "spec.externalIPs: not allowed (they take over traffic to those addresses for the whole cluster); a platform admin sets them with kubectl",
                    "spec.externalIPs:不允许(会接管整个集群发往这些地址的流量);如确需,请平台管理员用 kubectl 设置"
                ));
            }
            let service_type = spec["type"].as_str().unwrap_or("ClusterIP");
            if matches!(service_type, "NodePort" | "LoadBalancer")
                && level != PodSecurity::Privileged
            {
                errors.push(text!(
                    "spec.type: {service_type} is not allowed in this tenant (it opens a port on every node or outside the cluster); expose the app through an nginx route, or ask a platform admin",
                    "spec.type:此租户不允许 {service_type}(会在每个节点或集群外开放端口);请通过 nginx 路由暴露应用,或联系平台管理员"
                ));
            }
        }
        _ => {}
    }
    errors
}

/// A pod's (or pod template's) images and Pod Security checks.
fn pod_errors(meta: &Value, spec: &Value, level: PodSecurity) -> Vec<Text> {
    let mut errors = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            if let Err(e) = validate::image(c["image"].as_str().unwrap_or_default()) {
                let name = c["name"].as_str().unwrap_or_default();
                errors.push(text!("container '{name}': {e}", "容器“{name}”:{e}"));
            }
        }
    }
    let level = podsecurity_level(level);
    let broken = podsecurity::violations(level, meta, spec);
    if !broken.is_empty() {
        let said = podsecurity::forbidden_message(level, "latest", &broken);
        let name = level.as_str();
        errors.push(text!(
            "the tenant's Pod Security level is '{name}': this pod {said}",
            "此租户的 Pod 安全级别为“{name}”,该 Pod 不符合:{said}"
        ));
    }
    errors
}

fn podsecurity_level(level: PodSecurity) -> podsecurity::Level {
    match level {
        PodSecurity::Restricted => podsecurity::Level::Restricted,
        PodSecurity::Baseline => podsecurity::Level::Baseline,
        PodSecurity::Privileged => podsecurity::Level::Privileged,
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

    fn deployment(replicas: i64, pod: Value) -> Value {
        json!({"spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "a"}}, "spec": pod}}})
    }

    fn all(errors: &[Text]) -> String {
        errors
            .iter()
            .map(|t| t.en.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_privileged_container_or_a_host_path_is_refused_with_kubernetes_reason() {
        let privileged = json!({"containers": [{"name": "a", "image": "nginx:1.25", "securityContext": {"privileged": true}}]});
        let host_path = json!({"containers": [{"name": "a", "image": "nginx:1.25"}],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}]});
        let host_network =
            json!({"hostNetwork": true, "containers": [{"name": "a", "image": "nginx:1.25"}]});
        for level in [PodSecurity::Baseline, PodSecurity::Restricted] {
            let e = all(&policy_errors(
                "Deployment",
                &deployment(1, privileged.clone()),
                level,
            ));
            assert!(
                e.contains(
                    "privileged (container \"a\" must not set securityContext.privileged=true)"
                ),
                "{e}"
            );
            let e = all(&policy_errors(
                "Deployment",
                &deployment(1, host_path.clone()),
                level,
            ));
            // baseline's own check, and restricted's volume-type check that replaces it
            assert!(
                e.contains("hostPath volumes (volume \"root\")")
                    || e.contains("restricted volume types (volume \"root\" uses restricted volume type \"hostPath\")"),
                "{e}"
            );
            let e = all(&policy_errors(
                "Pod",
                &json!({"spec": host_network.clone()}),
                level,
            ));
            assert!(e.contains("host namespaces (hostNetwork=true)"), "{e}");
        }
        // a privileged tenant is trusted with them
        for pod in [privileged, host_path] {
            assert!(
                policy_errors("Deployment", &deployment(1, pod), PodSecurity::Privileged)
                    .is_empty()
            );
        }
    }

    #[test]
    fn what_the_deploy_form_writes_passes_its_own_tenants_level() {
        for level in [
            PodSecurity::Restricted,
            PodSecurity::Baseline,
            PodSecurity::Privileged,
        ] {
            let mut pod = json!({"containers": [{"name": "a", "image": "nginx:1.25"}]});
            harden(&mut pod, level);
            assert_eq!(
                all(&policy_errors("Deployment", &deployment(2, pod), level)),
                "",
                "{level:?}"
            );
        }
        let bare = json!({"containers": [{"name": "a", "image": "nginx:1.25"}]});
        let e = all(&policy_errors(
            "Deployment",
            &deployment(2, bare),
            PodSecurity::Restricted,
        ));
        assert!(
            e.contains(
                "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"
            ),
            "{e}"
        );
    }

    #[test]
    fn replicas_over_the_cap_and_bad_images_are_refused_as_in_the_form() {
        let pod = json!({"containers": [{"name": "web", "image": "nginx 1.25"}]});
        let e = all(&policy_errors(
            "Deployment",
            &deployment(600, pod),
            PodSecurity::Privileged,
        ));
        assert!(e.contains("spec.replicas: at most 500 (got 600)"), "{e}");
        assert!(
            e.contains("container 'web': image: 'nginx 1.25' is not a valid image reference"),
            "{e}"
        );
        let ok = json!({"containers": [{"name": "web", "image": "nginx:1.25"}]});
        assert!(
            policy_errors("Deployment", &deployment(500, ok), PodSecurity::Privileged).is_empty()
        );
    }

    #[test]
    fn services_get_no_external_ips_and_node_ports_only_when_privileged() {
        let external = json!({"spec": {"externalIPs": ["8.8.8.8"], "ports": [{"port": 53}]}});
        for level in [PodSecurity::Restricted, PodSecurity::Privileged] {
            assert!(all(&policy_errors("Service", &external, level))
                .contains("spec.externalIPs: not allowed"));
        }
        for t in ["NodePort", "LoadBalancer"] {
            let svc = json!({"spec": {"type": t, "ports": [{"port": 80}]}});
            assert!(all(&policy_errors("Service", &svc, PodSecurity::Baseline))
                .contains(&format!("spec.type: {t} is not allowed")));
            assert!(policy_errors("Service", &svc, PodSecurity::Privileged).is_empty());
        }
        let plain =
            json!({"spec": {"type": "ClusterIP", "externalIPs": [], "ports": [{"port": 80}]}});
        assert!(policy_errors("Service", &plain, PodSecurity::Restricted).is_empty());
        assert!(policy_errors(
            "ConfigMap",
            &json!({"data": {"a": "b"}}),
            PodSecurity::Restricted
        )
        .is_empty());
    }

    #[test]
    fn refusals_read_in_both_languages() {
        let pod = json!({"containers": [{"name": "a", "image": "x", "securityContext": {"privileged": true}}]});
        let e = policy_errors("Deployment", &deployment(900, pod), PodSecurity::Baseline);
        assert_eq!(e.len(), 2);
        for t in e {
            assert!(!t.zh.is_empty() && t.zh != t.en, "{t:?}");
        }
    }
}
