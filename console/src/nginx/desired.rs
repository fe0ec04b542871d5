//! From custom resources to an `ngx::DesiredState`: the one translation both the agent
//! (`server/src/nginx/agent.rs`, with the ready endpoints) and the console (validation and
//! the config view, without them) use, so what the console checks is what nodes render. Both
//! then attach the routes' certificates with `super::tls`.

use crate::egress::{EgressPolicy, Refused};
use crds::nginx::{NginxCluster, NginxRoute, NginxRouteError, NginxUpstream};
use crds::Tenant;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use ngx::{ClusterSpec, Defaults, DesiredState, Listen, Peer, Route, Target, Upstream};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The objects a cluster's desired state is made of (each list may hold other clusters'
/// and other namespaces' objects: they are filtered here).
#[derive(Default, Clone)]
pub struct Inputs {
    /// Where external upstreams' servers may be (see `crate::egress`).
    pub egress: EgressPolicy,
    pub tenants: Vec<Arc<Tenant>>,
    pub routes: Vec<Arc<NginxRoute>>,
    pub upstreams: Vec<Arc<NginxUpstream>>,
    pub services: Vec<Arc<Service>>,
    pub slices: Vec<Arc<EndpointSlice>>,
}

/// The label EndpointSlices carry to name their Service.
use super::endpoint_source::SERVICE_NAME_LABEL;

/// Namespaces the cluster serves: its tenants' and the ones it names.
pub fn served_namespaces(cluster: &NginxCluster, tenants: &[Arc<Tenant>]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = cluster.spec.namespaces.iter().cloned().collect();
    for t in tenants {
        if cluster.spec.tenants.iter().any(|n| *n == t.name_any()) {
            out.extend(t.spec.namespaces.iter().cloned());
        }
    }
    out
}

/// The nginx upstream name of an `NginxUpstream`: namespace and name joined by `_`, which
/// neither may contain, so two namespaces never collide.
pub fn external_name(namespace: &str, name: &str) -> String {
    format!("{namespace}_{name}")
}

/// `namespace/name`: how routes are named in the rendered config and its errors.
pub fn route_id(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn cluster_spec(cluster: &NginxCluster, namespaces: &BTreeSet<String>) -> ClusterSpec {
    let d = &cluster.spec.defaults;
    let base = Defaults::default();
    ClusterSpec {
        name: cluster.name_any(),
        listen: Listen {
            http: cluster.spec.listen.http,
            https: cluster.spec.listen.https,
        },
        defaults: Defaults {
            client_max_body_size: d
                .client_max_body_size
                .clone()
                .unwrap_or(base.client_max_body_size),
            proxy_connect_timeout_secs: d
                .proxy_connect_timeout_secs
                .unwrap_or(base.proxy_connect_timeout_secs),
            proxy_read_timeout_secs: d
                .proxy_read_timeout_secs
                .unwrap_or(base.proxy_read_timeout_secs),
            proxy_send_timeout_secs: d
                .proxy_send_timeout_secs
                .unwrap_or(base.proxy_send_timeout_secs),
            upstream_keepalive: d.upstream_keepalive.unwrap_or(base.upstream_keepalive),
            worker_connections: base.worker_connections,
            access_log: d.access_log.unwrap_or(base.access_log),
        },
        tenants: cluster.spec.tenants.clone(),
        namespaces: namespaces.iter().cloned().collect(),
        server_directives: cluster.spec.server_directives.clone(),
        http_directives: cluster.spec.http_directives.clone(),
    }
}

/// Why `r`'s host is not its tenant's to route, when it is not: a route in a tenant's
/// namespace serves only the host names a platform admin gave that tenant (exact names or
/// `*.suffix` patterns; compared in lower case, as nginx matches). Routes in namespaces of no
/// tenant (the platform's own, named by the cluster) are not limited.
pub fn host_refusal(r: &NginxRoute, tenants: &[Arc<Tenant>]) -> Option<String> {
    let ns = r.namespace()?;
    let tenant = tenants.iter().find(|t| t.spec.namespaces.contains(&ns))?;
    let host = r.spec.host.trim().to_ascii_lowercase();
    let patterns = &tenant.spec.hosts;
    if patterns
        .iter()
        .any(|p| wharf_api::admin::host_matches(p, &host))
    {
        return None;
    }
    Some(format!(
        "host '{host}' is not among tenant '{}''s host names ({}): the route is not served",
        tenant.name_any(),
        if patterns.is_empty() {
            "none".to_string()
        } else {
            patterns.join(", ")
        }
    ))
}

/// The routes `cluster` serves but leaves out for their host, as the route errors its nodes
/// report: a host not among its tenant's ([`host_refusal`]), and a host another owner routes
/// already. A host (compared in lower case, as nginx matches) belongs to whoever routed it
/// first — its oldest route's tenant, or for the platform's own namespaces that namespace —
/// and a later route of another owner is refused whatever its path, so no one serves a path
/// inside someone else's host (with their certificate). Within one owner, a second route for
/// the same host and path is refused the same way, rather than failing the whole cluster's
/// configuration.
pub fn host_refusals(cluster: &NginxCluster, inputs: &Inputs) -> Vec<NginxRouteError> {
    let name = cluster.name_any();
    let namespaces = served_namespaces(cluster, &inputs.tenants);
    let mut served: Vec<&Arc<NginxRoute>> = inputs
        .routes
        .iter()
        .filter(|r| {
            r.spec.cluster == name && r.namespace().is_some_and(|ns| namespaces.contains(&ns))
        })
        .collect();
    // oldest first: who routed a host first owns it
    served.sort_by(|a, b| {
        let at = |r: &NginxRoute| r.metadata.creation_timestamp.clone().map(|t| t.0);
        (at(a), a.namespace(), a.name_any()).cmp(&(at(b), b.namespace(), b.name_any()))
    });
    let owner_of = |ns: &str| {
        inputs
            .tenants
            .iter()
            .find(|t| t.spec.namespaces.iter().any(|n| n == ns))
            .map_or_else(
                || format!("namespace {ns}"),
                |t| format!("tenant {}", t.name_any()),
            )
    };
    let mut owners: HashMap<String, (String, String)> = HashMap::new();
    let mut paths: HashMap<(String, String), String> = HashMap::new();
    let mut out = Vec::new();
    for r in served {
        let ns = r.namespace().unwrap_or_default();
        let id = route_id(&ns, &r.name_any());
        if let Some(message) = host_refusal(r, &inputs.tenants) {
            out.push(NginxRouteError { route: id, message });
            continue;
        }
        let host = r.spec.host.trim().to_ascii_lowercase();
        let path = if r.spec.path.is_empty() {
            "/".to_string()
        } else {
            r.spec.path.clone()
        };
        let owner = owner_of(&ns);
        let (first_owner, first_route) = owners
            .entry(host.clone())
            .or_insert_with(|| (owner.clone(), id.clone()))
            .clone();
        if first_owner != owner {
            out.push(NginxRouteError {
                route: id,
                message: format!(
                    "host '{host}' is served for {first_owner} (route {first_route}): the route is not served"
                ),
            });
            continue;
        }
        if let Some(other) = paths.get(&(host.clone(), path.clone())) {
            out.push(NginxRouteError {
                route: id,
                message: format!(
                    "{host}{path} is already routed by {other}: the route is not served"
                ),
            });
            continue;
        }
        paths.insert((host, path), id);
    }
    out
}

impl Inputs {
    /// The Service or pod (an EndpointSlice's endpoint) that has `ip` now, as far as these
    /// inputs know.
    pub fn cluster_object(&self, ip: IpAddr) -> Option<String> {
        let ip = ip.to_string();
        let id = |ns: Option<String>, name: String| format!("{}/{name}", ns.unwrap_or_default());
        for s in &self.services {
            let spec = s.spec.as_ref();
            let mut ips = spec
                .and_then(|s| s.cluster_ips.as_ref())
                .into_iter()
                .flatten()
                .chain(spec.and_then(|s| s.cluster_ip.as_ref()));
            if ips.any(|i| *i == ip) {
                return Some(format!("Service {}", id(s.namespace(), s.name_any())));
            }
        }
        for slice in &self.slices {
            for e in &slice.endpoints {
                if e.addresses.contains(&ip) {
                    let pod = e.target_ref.as_ref().and_then(|t| t.name.clone());
                    return Some(format!(
                        "pod {}",
                        id(slice.namespace(), pod.unwrap_or_else(|| ip.clone()))
                    ));
                }
            }
        }
        None
    }

    /// An external server's address, if the egress policy lets nginx reach it.
    pub fn server_allowed(&self, server: &str) -> Result<SocketAddr, wharf_api::Text> {
        let addr = parse_server(server)?;
        self.egress
            .check(server.trim(), addr, |ip| self.cluster_object(ip))
            .map_err(|r: Refused| r.text())?;
        Ok(addr)
    }
}

/// The external servers of the routes `cluster` serves that the egress policy refuses, as the
/// route errors its nodes report (the rest of the upstream's servers are still served).
pub fn upstream_refusals(cluster: &NginxCluster, inputs: &Inputs) -> Vec<NginxRouteError> {
    let name = cluster.name_any();
    let namespaces = served_namespaces(cluster, &inputs.tenants);
    let mut out = Vec::new();
    for r in inputs.routes.iter().filter(|r| {
        r.spec.cluster == name && r.namespace().is_some_and(|ns| namespaces.contains(&ns))
    }) {
        let (Some(ns), Some(upstream)) = (r.namespace(), r.spec.upstream.as_ref()) else {
            continue;
        };
        let Some(u) = inputs
            .upstreams
            .iter()
            .find(|u| u.namespace().as_deref() == Some(&ns) && u.name_any() == *upstream)
        else {
            continue;
        };
        let refused: Vec<String> = u
            .spec
            .servers
            .iter()
            .filter_map(|s| inputs.server_allowed(s).err().map(|t| t.en))
            .collect();
        if !refused.is_empty() {
            out.push(NginxRouteError {
                route: route_id(&ns, &r.name_any()),
                message: format!("servers left out: {}", refused.join("; ")),
            });
        }
    }
    out
}

/// The engine's route for a route object; `None` when it names neither a Service nor an upstream.
pub fn route_of(r: &NginxRoute) -> Option<Route> {
    let ns = r.namespace().unwrap_or_default();
    let target = match (&r.spec.service, &r.spec.upstream) {
        (Some(s), _) => Target::Service {
            namespace: ns.clone(),
            name: s.name.clone(),
            port: s.port,
        },
        (None, Some(u)) => Target::External {
            name: external_name(&ns, u),
        },
        (None, None) => return None,
    };
    Some(Route {
        name: route_id(&ns, &r.name_any()),
        host: r.spec.host.trim().to_ascii_lowercase(),
        path: if r.spec.path.is_empty() {
            "/".into()
        } else {
            r.spec.path.clone()
        },
        target,
        directives: r.spec.directives.clone(),
        // NB: certificates come from Secrets; `super::tls::TlsSecrets::attach` sets this.
        tls: None,
    })
}

/// Parses `ip:port` (IPv6 as `[ip]:port`); the error is a sentence for the console.
pub fn parse_server(s: &str) -> Result<SocketAddr, wharf_api::Text> {
    s.trim().parse::<SocketAddr>().map_err(|_| {
        wharf_api::text!(
            "`{s}` is not ip:port (host names are not resolved; IPv6 as [ip]:port)",
            "`{s}` 不是 ip:port 格式(不解析主机名;IPv6 请写成 [ip]:port)"
        )
    })
}

/// Ready endpoints of one Service port, as peers on the pods' target port.
fn service_peers(
    ns: &str,
    name: &str,
    port: u16,
    services: &HashMap<(&str, &str), &Service>,
    slices: &HashMap<(String, String), Vec<&EndpointSlice>>,
) -> Vec<Peer> {
    let Some(svc) = services.get(&(ns, name)) else {
        return Vec::new();
    };
    let Some(sp) = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|ps| ps.iter().find(|p| p.port == i32::from(port)))
    else {
        return Vec::new();
    };
    let port_name = sp.name.clone().unwrap_or_default();
    let mut peers = BTreeSet::new();
    for slice in slices
        .get(&(ns.to_string(), name.to_string()))
        .into_iter()
        .flatten()
    {
        let Some(target) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.clone().unwrap_or_default() == port_name)
            .and_then(|p| p.port)
        else {
            continue;
        };
        let Ok(target) = u16::try_from(target) else {
            continue;
        };
        for ep in &slice.endpoints {
            if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for a in &ep.addresses {
                if let Ok(ip) = a.parse::<IpAddr>() {
                    peers.insert(Peer::new(SocketAddr::new(ip, target)));
                }
            }
        }
    }
    peers.into_iter().collect()
}

/// The desired state of `cluster`: the routes of the namespaces it serves that name it,
/// with the ready endpoints of their Services and the servers of their upstreams. Routes
/// that point nowhere are left out; unparsable upstream servers are skipped (the console
/// refuses them before they are stored).
pub fn desired_state(cluster: &NginxCluster, inputs: &Inputs) -> DesiredState {
    desired_state_and_refusals(cluster, inputs).0
}

/// [`desired_state`] and the routes it left out for their host ([`host_refusals`]), worked
/// out once for callers that report both (the agent, the config view).
pub fn desired_state_and_refusals(
    cluster: &NginxCluster,
    inputs: &Inputs,
) -> (DesiredState, Vec<NginxRouteError>) {
    let refusals = host_refusals(cluster, inputs);
    let name = cluster.name_any();
    let namespaces = served_namespaces(cluster, &inputs.tenants);
    let serves = |o: &dyn Fn() -> (Option<String>, String)| {
        let (ns, c) = o();
        c == name && ns.is_some_and(|ns| namespaces.contains(&ns))
    };
    let refused: BTreeSet<&str> = refusals.iter().map(|e| e.route.as_str()).collect();
    let mut routes: Vec<Route> = inputs
        .routes
        .iter()
        .filter(|r| serves(&|| (r.namespace(), r.spec.cluster.clone())))
        .filter(|r| {
            let id = route_id(&r.namespace().unwrap_or_default(), &r.name_any());
            !refused.contains(id.as_str())
        })
        .filter_map(|r| route_of(r))
        .collect();
    routes.sort_by(|a, b| a.name.cmp(&b.name));
    let services: HashMap<(&str, &str), &Service> = inputs
        .services
        .iter()
        .filter_map(|s| {
            Some((
                (
                    s.metadata.namespace.as_deref()?,
                    s.metadata.name.as_deref()?,
                ),
                s.as_ref(),
            ))
        })
        .collect();
    let mut slices: HashMap<(String, String), Vec<&EndpointSlice>> = HashMap::new();
    for s in &inputs.slices {
        if let (Some(ns), Some(svc)) = (s.namespace(), s.labels().get(SERVICE_NAME_LABEL)) {
            slices
                .entry((ns, svc.clone()))
                .or_default()
                .push(s.as_ref());
        }
    }
    let mut upstreams = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &routes {
        if let Target::Service {
            namespace,
            name,
            port,
        } = &r.target
        {
            if seen.insert(r.target.upstream_name()) {
                upstreams.push(Upstream::for_service(
                    namespace,
                    name,
                    *port,
                    service_peers(namespace, name, *port, &services, &slices),
                ));
            }
        }
    }
    for u in inputs
        .upstreams
        .iter()
        .filter(|u| serves(&|| (u.namespace(), u.spec.cluster.clone())))
    {
        let peers = u
            .spec
            .servers
            .iter()
            .filter_map(|s| inputs.server_allowed(s).ok())
            .map(Peer::new)
            .collect();
        upstreams.push(Upstream::external(
            &external_name(&u.namespace().unwrap_or_default(), &u.name_any()),
            peers,
        ));
    }
    let state = DesiredState {
        generation: cluster
            .metadata
            .generation
            .and_then(|g| u64::try_from(g).ok())
            .unwrap_or(0),
        cluster: cluster_spec(cluster, &namespaces),
        routes,
        upstreams,
        certificates: Vec::new(),
    };
    (state, refusals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant(name: &str, namespaces: &[&str], hosts: &[&str]) -> Arc<Tenant> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "wharf.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
                "spec": {"displayName": name, "namespaces": namespaces, "hosts": hosts}}))
            .unwrap(),
        )
    }

    /// A route created `at` (seconds into the day) to Service `web` port 80.
    fn route(ns: &str, name: &str, host: &str, path: &str, at: u32) -> Arc<NginxRoute> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "wharf.dev/v1alpha1", "kind": "NginxRoute",
                "metadata": {"name": name, "namespace": ns,
                    "creationTimestamp": format!("2026-12-04T00:{:02}:{:02}Z", at / 60, at % 60)},
                "spec": {"cluster": "edge", "host": host, "path": path, "service": {"name": "web", "port": 80}}}))
            .unwrap(),
        )
    }

    fn inputs(routes: Vec<Arc<NginxRoute>>) -> (NginxCluster, Inputs) {
        let cluster: NginxCluster = serde_json::from_value(json!({
            "apiVersion": "wharf.dev/v1alpha1", "kind": "NginxCluster", "metadata": {"name": "edge"},
            "spec": {"tenants": ["alpha", "beta"], "namespaces": ["ops"], "listen": {"http": 8080}}}))
        .unwrap();
        let tenants = vec![
            tenant("alpha", &["alpha"], &["*.shared.demo", "*.alpha.demo"]),
            tenant("beta", &["beta"], &["*.shared.demo"]),
        ];
        let inputs = Inputs {
            tenants,
            routes,
            ..Inputs::default()
        };
        (cluster, inputs)
    }

    fn refused(cluster: &NginxCluster, inputs: &Inputs) -> Vec<(String, String)> {
        host_refusals(cluster, inputs)
            .into_iter()
            .map(|e| (e.route, e.message))
            .collect()
    }

    fn served(cluster: &NginxCluster, inputs: &Inputs) -> Vec<(String, String, String)> {
        desired_state(cluster, inputs)
            .routes
            .into_iter()
            .map(|r| (r.name, r.host, r.path))
            .collect()
    }

    #[test]
    fn a_host_belongs_to_the_tenant_that_routed_it_first_whatever_the_case_or_path() {
        let (cluster, inputs) = inputs(vec![
            route("beta", "grab", "SHOP.Shared.demo", "/admin", 20),
            route("alpha", "shop", "shop.shared.demo", "/", 10),
            route("ops", "status", "Shop.shared.demo", "/status", 30),
            route("beta", "own", "beta-app.shared.demo", "/", 40),
        ]);
        let errors = refused(&cluster, &inputs);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].0, "beta/grab");
        assert!(
            errors[0]
                .1
                .contains("host 'shop.shared.demo' is served for tenant alpha (route alpha/shop)"),
            "{errors:?}"
        );
        assert_eq!(errors[1].0, "ops/status");
        assert!(
            errors[1].1.contains("is served for tenant alpha"),
            "{errors:?}"
        );
        assert_eq!(
            served(&cluster, &inputs),
            vec![
                ("alpha/shop".into(), "shop.shared.demo".into(), "/".into()),
                ("beta/own".into(), "beta-app.shared.demo".into(), "/".into()),
            ]
        );
    }

    #[test]
    fn a_second_route_for_one_host_and_path_is_refused_alone() {
        let (cluster, inputs) = inputs(vec![
            route("alpha", "new", "WEB.alpha.demo", "/", 50),
            route("alpha", "old", "web.alpha.demo", "/", 5),
            route("alpha", "api", "web.alpha.demo", "/api", 60),
        ]);
        let errors = refused(&cluster, &inputs);
        assert_eq!(
            errors,
            vec![(
                "alpha/new".to_string(),
                "web.alpha.demo/ is already routed by alpha/old: the route is not served"
                    .to_string()
            )]
        );
        // the rest renders (a duplicate no longer fails the whole cluster's configuration)
        let state = desired_state(&cluster, &inputs);
        assert_eq!(state.routes.len(), 2);
        ngx::render(&state, &ngx::RenderOptions::detect(9000)).unwrap();
    }

    #[test]
    fn a_host_outside_the_tenants_names_is_refused_first() {
        let (cluster, inputs) = inputs(vec![route("beta", "x", "shop.alpha.demo", "/", 1)]);
        let errors = refused(&cluster, &inputs);
        assert!(
            errors[0]
                .1
                .contains("is not among tenant 'beta''s host names"),
            "{errors:?}"
        );
        assert!(served(&cluster, &inputs).is_empty());
    }
}
