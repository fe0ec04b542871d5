//! Parsing Kubernetes API paths: `/api/v1/namespaces/NS/pods/NAME/log`,
//! `/apis/apps/v1/deployments`, `/apis/apps/v1`, `/apis/apps`.

/// A resource request, before the resource is looked up in the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiPath {
    Group { group: String },
    GroupVersion { group: String, version: String },
    Resource(ResourcePath),
}

pub fn parse(path: &str) -> Option<ApiPath> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g] => {
            return Some(ApiPath::Group {
                group: g.to_string(),
            })
        }
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    if rest.is_empty() {
        return Some(ApiPath::GroupVersion { group, version });
    }
    let (namespace, rest) = match rest {
        // `namespaces/NAME[/status|finalize]` is the Namespace object itself.
        ["namespaces", ns, plural, tail @ ..]
            if !(tail.is_empty() && matches!(*plural, "status" | "finalize")) =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (plural.to_string(), None, None),
        [plural, name] => (plural.to_string(), Some(name.to_string()), None),
        [plural, name, sub] => (
            plural.to_string(),
            Some(name.to_string()),
            Some(sub.to_string()),
        ),
        _ => return None,
    };
    Some(ApiPath::Resource(ResourcePath {
        group,
        version,
        namespace,
        plural,
        name,
        subresource,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(p: &str) -> ResourcePath {
        match parse(p) {
            Some(ApiPath::Resource(r)) => r,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let r = res("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.plural.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            (Some("default"), "pods", Some("web"), Some("log"))
        );
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.namespace, r.plural.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("kube-system"))
        );
        let r = res("/api/v1/namespaces/x/status");
        assert_eq!(
            (
                r.plural.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("x"), Some("status"))
        );
        let r = res("/apis/apps/v1/deployments");
        assert_eq!(
            (r.group.as_str(), r.namespace, r.name),
            ("apps", None, None)
        );
        let r = res("/api/v1/namespaces/default/configmaps");
        assert_eq!(
            (r.namespace.as_deref(), r.plural.as_str()),
            (Some("default"), "configmaps")
        );
        assert_eq!(
            parse("/apis/apps/v1"),
            Some(ApiPath::GroupVersion {
                group: "apps".into(),
                version: "v1".into()
            })
        );
    }
}
