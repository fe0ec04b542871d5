//! The table of built-in resources, with the short names, categories and
//! subresources a v1.33 API server reports for them.

use super::ResourceInfo;

struct Row {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    sub: &'static [&'static str],
}

const ROWS: &[Row] = &[
    Row { group: "", version: "v1", plural: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, short: &["ns"], all: false, sub: &["finalize", "status"] },
    Row { group: "", version: "v1", plural: "nodes", singular: "node", kind: "Node", namespaced: false, short: &["no"], all: false, sub: &["proxy", "status"] },
    Row { group: "", version: "v1", plural: "pods", singular: "pod", kind: "Pod", namespaced: true, short: &["po"], all: true, sub: &["attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward", "proxy", "status"] },
    Row { group: "", version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true, short: &["svc"], all: true, sub: &["proxy", "status"] },
    Row { group: "", version: "v1", plural: "endpoints", singular: "endpoints", kind: "Endpoints", namespaced: true, short: &["ep"], all: false, sub: &[] },
    Row { group: "", version: "v1", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, short: &["cm"], all: false, sub: &[] },
    Row { group: "", version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true, short: &[], all: false, sub: &[] },
    Row { group: "", version: "v1", plural: "events", singular: "event", kind: "Event", namespaced: true, short: &["ev"], all: false, sub: &[] },
    Row { group: "", version: "v1", plural: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true, short: &["sa"], all: false, sub: &[] },
    Row { group: "", version: "v1", plural: "persistentvolumeclaims", singular: "persistentvolumeclaim", kind: "PersistentVolumeClaim", namespaced: true, short: &["pvc"], all: false, sub: &["status"] },
    Row { group: "apps", version: "v1", plural: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, short: &["deploy"], all: true, sub: &["scale", "status"] },
    Row { group: "apps", version: "v1", plural: "replicasets", singular: "replicaset", kind: "ReplicaSet", namespaced: true, short: &["rs"], all: true, sub: &["scale", "status"] },
    Row { group: "batch", version: "v1", plural: "jobs", singular: "job", kind: "Job", namespaced: true, short: &[], all: true, sub: &["status"] },
    Row { group: "discovery.k8s.io", version: "v1", plural: "endpointslices", singular: "endpointslice", kind: "EndpointSlice", namespaced: true, short: &[], all: false, sub: &[] },
    Row { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", singular: "customresourcedefinition", kind: "CustomResourceDefinition", namespaced: false, short: &["crd", "crds"], all: false, sub: &["status"] },
    Row { group: "authorization.k8s.io", version: "v1", plural: "selfsubjectaccessreviews", singular: "selfsubjectaccessreview", kind: "SelfSubjectAccessReview", namespaced: false, short: &[], all: false, sub: &[] },
];

/// Fresh descriptions of every built-in resource.
pub fn resources() -> Vec<ResourceInfo> {
    ROWS.iter()
        .map(|r| ResourceInfo {
            group: r.group.into(),
            version: r.version.into(),
            plural: r.plural.into(),
            singular: r.singular.into(),
            kind: r.kind.into(),
            namespaced: r.namespaced,
            short_names: r.short.iter().map(|s| s.to_string()).collect(),
            categories: if r.all { vec!["all".into()] } else { vec![] },
            subresources: r.sub.iter().map(|s| s.to_string()).collect(),
            custom: false,
        })
        .collect()
}
