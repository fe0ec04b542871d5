//! The resource registry: which resources the demo cluster serves, with the
//! names, scope, verbs and subresources that discovery reports.
//!
//! Built-in resources come from a fixed table ([`builtin`]); custom resources
//! are added from stored `CustomResourceDefinition`s ([`Registry::from_crds`]).

pub mod builtin;

use serde_json::{json, Value};

/// Identifies a resource across versions: `pods`, `deployments.apps`.
/// This is the key the [`Store`](crate::Store) files objects under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    pub group: String,
    pub resource: String,
}

impl ResourceId {
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        ResourceId {
            group: group.into(),
            resource: resource.into(),
        }
    }
    /// A core (`v1`) resource such as `pods`.
    pub fn core(resource: &str) -> Self {
        Self::new("", resource)
    }
    /// The resource a k8s-openapi type is stored under.
    pub fn of<K: k8s_openapi::Resource>() -> Self {
        Self::new(K::GROUP, K::URL_PATH_SEGMENT)
    }
    /// `pods` or `deployments.apps`, as the API server names resources in messages.
    pub fn key(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// What discovery says about one resource, and how the store treats it.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Subresources served besides the object itself: `status`, `scale`, `log`...
    pub subresources: Vec<String>,
    /// Custom resources defined by a CRD (no typed validation, no strategic merge).
    pub custom: bool,
    /// A custom resource's `openAPIV3Schema` for this version: what its objects are
    /// pruned, defaulted and validated against (see `kinds::schema`).
    pub schema: Option<std::sync::Arc<Value>>,
}

impl ResourceInfo {
    pub fn id(&self) -> ResourceId {
        ResourceId::new(self.group.clone(), self.plural.clone())
    }
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }
    pub fn has_scale(&self) -> bool {
        self.subresources.iter().any(|s| s == "scale")
    }

    /// The discovery `APIResource` entries: the resource and its subresources.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let verbs = if self.plural == "selfsubjectaccessreviews" {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        };
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        for sub in &self.subresources {
            let (kind, group, version, verbs): (&str, Option<&str>, Option<&str>, Vec<&str>) =
                match sub.as_str() {
                    "status" => (&self.kind, None, None, vec!["get", "patch", "update"]),
                    "scale" => (
                        "Scale",
                        Some("autoscaling"),
                        Some("v1"),
                        vec!["get", "patch", "update"],
                    ),
                    "log" => ("Pod", None, None, vec!["get"]),
                    "exec" | "attach" | "portforward" => {
                        ("PodExecOptions", None, None, vec!["create", "get"])
                    }
                    "ephemeralcontainers" => ("Pod", None, None, vec!["get", "patch", "update"]),
                    "binding" => ("Binding", None, None, vec!["create"]),
                    "eviction" => ("Eviction", Some("policy"), Some("v1"), vec!["create"]),
                    "proxy" => (
                        "NodeProxyOptions",
                        None,
                        None,
                        vec!["create", "delete", "get", "patch", "update"],
                    ),
                    _ => (&self.kind, None, None, vec!["get"]),
                };
            let mut e = json!({
                "name": format!("{}/{}", self.plural, sub),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if let Some(g) = group {
                e["group"] = json!(g);
            }
            if let Some(v) = version {
                e["version"] = json!(v);
            }
            out.push(e);
        }
        out
    }
}

/// All resources served right now: the built-ins plus those defined by CRDs.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Registry {
    /// Built-ins plus the custom resources of the given CRD objects.
    pub fn from_crds<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut resources = builtin::resources();
        for crd in crds {
            resources.extend(custom_resources(crd));
        }
        Registry { resources }
    }

    pub fn all(&self) -> &[ResourceInfo] {
        &self.resources
    }

    /// The resource served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Any served version of a resource (the store keeps one version per resource).
    pub fn by_id(&self, id: &ResourceId) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == id.group && r.plural == id.resource)
    }

    /// Group versions served, grouped by group, in a stable order (core group first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.resources {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }
}

/// Resources a CRD object defines: one per served version.
pub fn custom_resources(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let str_list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let singular = names["singular"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let mut subresources = Vec::new();
        if v["subresources"]["status"].is_object() {
            subresources.push("status".to_string());
        }
        if v["subresources"]["scale"].is_object() {
            subresources.push("scale".to_string());
        }
        out.push(ResourceInfo {
            group: group.clone(),
            version: v["name"].as_str().unwrap_or_default().to_string(),
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: str_list(&names["shortNames"]),
            categories: str_list(&names["categories"]),
            subresources,
            custom: true,
            schema: v["schema"]["openAPIV3Schema"]
                .is_object()
                .then(|| std::sync::Arc::new(v["schema"]["openAPIV3Schema"].clone())),
        });
    }
    out
}
