//! Server side of NgFront: views from the watcher cache, validation with the same nginx the
//! nodes run, changes stored as custom resources (never sent to nodes directly: the agents
//! follow the resources).
//!
//! The config view and validation attach the routes' certificates as the agents do
//! (`crate::nginx::tls`), so they hold the HTTPS listeners the nodes serve. The console reads only
//! the Secrets the routes name, one GET each in the route's namespace, and for a tenant only
//! its own namespaces' (see [`secret_sources`]): another tenant's TLS route on a shared
//! cluster is rendered with a stand-in certificate for that tenant's validation, and its
//! Secret is never read on their behalf. Key material never leaves the server: the config
//! names certificate *files*, validation writes them to a throw-away folder (removed after
//! `nginx -t`), and only nginx's verdicts are kept between requests, by content hash.

pub mod agent;
pub mod clusters;
pub mod desired;
pub mod endpoint_source;
pub mod endpoints;
pub mod join;
pub mod secrets;
pub mod tls;

use crate::auth::TenantScope;
use crate::call::Call;
use crate::nginx::desired::{parse_server, Inputs};
use crate::nginx::tls::{Pair, TlsSecrets, Verdicts};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use crds::nginx::{
    node_configmap, repair_annotation, NginxCluster, NginxNodeStatus, NginxRoute, NginxRouteError,
    NginxRouteSpec, NginxUpstream, NginxUpstreamSpec,
};
use crds::SYSTEM_NAMESPACE;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, DeleteParams, PostParams};
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::nginx::{
    ClusterView, ConfigFile, ConfigView, DriftView, NginxChange, NginxMessage, NodeError,
    NodeState, NodeView, RouteError, RouteView, UpstreamView, Validation,
};
use wharf_api::{text, Text};

/// Who is asking: the tenant scope every query needs, and whether they are a platform admin.
#[derive(Clone, Debug)]
pub struct Access {
    pub scope: TenantScope,
    pub platform_admin: bool,
}

/// The tenant check (first), then the admin flag.
pub fn access(call: &Call, tenant: &str, need: Role) -> Result<(AppState, Access), AppError> {
    let (state, scope) = call.scope(tenant, need)?;
    let platform_admin = call.principal()?.platform_admin;
    Ok((
        state,
        Access {
            scope,
            platform_admin,
        },
    ))
}

impl Access {
    /// A cluster is visible to a platform admin, and to a tenant it serves.
    pub fn sees(&self, c: &NginxCluster) -> bool {
        self.platform_admin
            || c.spec.tenants.iter().any(|t| t == self.scope.tenant())
            || c.spec.namespaces.iter().any(|n| self.scope.contains(n))
    }
    /// The whole config names every tenant's hosts: admins, or the only tenant served.
    pub fn sees_whole(&self, c: &NginxCluster) -> bool {
        self.platform_admin
            || (c.spec.tenants.iter().all(|t| t == self.scope.tenant())
                && c.spec.namespaces.iter().all(|n| self.scope.contains(n))
                && self.sees(c))
    }
    fn owns(&self, namespace: Option<String>) -> bool {
        self.platform_admin || namespace.is_some_and(|n| self.scope.contains(&n))
    }
}

fn inputs(state: &AppState) -> Inputs {
    Inputs {
        egress: state.settings.egress.clone(),
        tenants: state.cache.tenants.state(),
        routes: state.cache.nginx_routes.state(),
        upstreams: state.cache.nginx_upstreams.state(),
        // NB: the console keeps no EndpointSlice cache; peers do not change what nginx -t
        // says, and in the dynamic mode they are not in the files at all.
        services: Vec::new(),
        slices: Vec::new(),
    }
}

fn cluster_named(
    state: &AppState,
    access: &Access,
    name: &str,
) -> Result<Arc<NginxCluster>, AppError> {
    any_cluster(state, name).and_then(|c| {
        if access.sees(&c) {
            Ok(c)
        } else {
            Err(not_found(name))
        }
    })
}

fn not_found(name: &str) -> AppError {
    AppError::NotFound(text!("nginx cluster '{name}'", "nginx 集群“{name}”"))
}

/// The cluster of that name, from this replica's cache, whoever asks (platform admins).
fn any_cluster(state: &AppState, name: &str) -> Result<Arc<NginxCluster>, AppError> {
    state
        .cache
        .nginx_clusters
        .state()
        .into_iter()
        .find(|c| c.name_any() == name)
        .ok_or_else(|| not_found(name))
}

fn parse_time(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Stale after three missed heartbeats (and a little slack for clocks).
pub fn node_state(s: &NginxNodeStatus, now: DateTime<Utc>) -> NodeState {
    let Some(beat) = parse_time(&s.heartbeat) else {
        return NodeState::Pending;
    };
    let every = i64::from(s.heartbeat_seconds.max(1));
    if (now - beat).num_seconds() > 3 * every + 5 {
        NodeState::Stale
    } else if s.last_error.is_some() {
        NodeState::Failing
    } else if s.rendered_sha.is_none() {
        NodeState::Pending
    } else if s.rendered_sha != s.on_disk_sha {
        NodeState::Drifted
    } else {
        NodeState::InSync
    }
}

fn node_view(c: &NginxCluster, name: &str, s: &NginxNodeStatus, now: DateTime<Utc>) -> NodeView {
    let asked = c.annotations().get(&repair_annotation(name));
    NodeView {
        name: name.to_string(),
        state: node_state(s, now),
        mode: s.mode.clone(),
        nginx_version: s.nginx_version.clone(),
        generation: s.generation,
        rendered_sha: s.rendered_sha.clone(),
        on_disk_sha: s.on_disk_sha.clone(),
        last_error: s.last_error.as_ref().map(|e| NodeError {
            at: e.at.clone(),
            message: e.message.clone(),
            nginx: e.nginx_message.clone().map(|m| NginxMessage {
                message: m,
                file: e.file.clone(),
                line: e.line,
            }),
        }),
        last_reload: s.last_reload.clone(),
        reload_count: s.reload_count,
        heartbeat: s.heartbeat.clone(),
        repair_pending: asked.is_some() && asked != s.repaired.as_ref(),
    }
}

/// Every node the cluster's status has, as the pages show them.
fn node_views(c: &NginxCluster, now: DateTime<Utc>) -> Vec<NodeView> {
    c.status
        .as_ref()
        .map(|s| {
            s.nodes
                .iter()
                .map(|(n, st)| node_view(c, n, st, now))
                .collect()
        })
        .unwrap_or_default()
}

/// What the cluster's nodes report about a route (the first node that reports something).
fn route_error(c: &NginxCluster, id: &str) -> Option<String> {
    c.status
        .as_ref()?
        .nodes
        .values()
        .flat_map(|n| &n.route_errors)
        .find(|e| e.route == id)
        .map(|e| e.message.clone())
}

fn route_view(r: &NginxRoute, c: &NginxCluster) -> RouteView {
    let target = match (&r.spec.service, &r.spec.upstream) {
        (Some(s), _) => format!("service {}:{}", s.name, s.port),
        (None, Some(u)) => format!("upstream {u}"),
        (None, None) => "nothing".into(),
    };
    RouteView {
        namespace: r.namespace().unwrap_or_default(),
        name: r.name_any(),
        host: r.spec.host.clone(),
        path: r.spec.path.clone(),
        target,
        external: r.spec.service.is_none() && r.spec.upstream.is_some(),
        directives: r.spec.directives.clone(),
        tls_secret: r.spec.tls_secret.clone(),
        error: route_error(
            c,
            &desired::route_id(&r.namespace().unwrap_or_default(), &r.name_any()),
        ),
    }
}

pub fn clusters(state: &AppState, access: &Access) -> Vec<ClusterView> {
    let now = Utc::now();
    let tenants = state.cache.tenants.state();
    let routes = state.cache.nginx_routes.state();
    let upstreams = state.cache.nginx_upstreams.state();
    let mut out: Vec<ClusterView> = state
        .cache
        .nginx_clusters
        .state()
        .iter()
        .filter(|c| access.sees(c))
        .map(|c| {
            let name = c.name_any();
            let served = desired::served_namespaces(c, &tenants);
            let mine = |ns: Option<String>| {
                ns.as_ref().is_some_and(|n| served.contains(n)) && access.owns(ns)
            };
            let mut rs: Vec<RouteView> = routes
                .iter()
                .filter(|r| r.spec.cluster == name && mine(r.namespace()))
                .map(|r| route_view(r, c))
                .collect();
            rs.sort_by(|a, b| {
                (&a.host, &a.path, &a.namespace).cmp(&(&b.host, &b.path, &b.namespace))
            });
            let mut us: Vec<UpstreamView> = upstreams
                .iter()
                .filter(|u| u.spec.cluster == name && mine(u.namespace()))
                .map(|u| UpstreamView {
                    namespace: u.namespace().unwrap_or_default(),
                    name: u.name_any(),
                    servers: u.spec.servers.clone(),
                })
                .collect();
            us.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            let nodes = node_views(c, now);
            ClusterView {
                display_name: if c.spec.display_name.is_empty() {
                    name.clone()
                } else {
                    c.spec.display_name.clone()
                },
                name,
                tenants: c.spec.tenants.clone(),
                http_port: c.spec.listen.http,
                nodes,
                routes: rs,
                upstreams: us,
                whole_config: access.sees_whole(c),
                can_edit: access.scope.can_change(),
                namespaces: served
                    .iter()
                    .filter(|n| access.scope.contains(n))
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Render options for what the console shows and checks: the mode this machine's nginx
/// supports, the cluster's own ports.
fn render_options() -> ngx::RenderOptions {
    let mut opts = ngx::RenderOptions::detect(18080);
    opts.worker_processes = 1;
    opts
}

/// Where the config view says certificate files are. Each node keeps them in its own
/// `<conf_dir>/tls` (same file names); validation uses a throw-away folder.
pub const CONFIG_VIEW_TLS_DIR: &str = "/<conf_dir>/tls";

/// How the console gets a Secret a route names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// One GET in the route's namespace: the caller's tenant's namespace (any, for a
    /// platform admin).
    Read,
    /// Another tenant's: never read for this caller. A stand-in certificate takes its place,
    /// so `nginx -t` still sees the HTTPS listener the nodes serve (only validation on a
    /// shared cluster gets here: its whole config is for platform admins).
    StandIn,
}

/// The source of each Secret asked for: the tenant check for Secret reads.
pub fn secret_sources(
    access: &Access,
    asked: &BTreeSet<(String, String)>,
) -> BTreeMap<(String, String), SecretSource> {
    sources_by(&|ns| access.owns(Some(ns.to_string())), asked)
}

/// [`secret_sources`] for a caller who owns the namespaces `owns` says yes to.
fn sources_by(
    owns: &(dyn Fn(&str) -> bool + Sync),
    asked: &BTreeSet<(String, String)>,
) -> BTreeMap<(String, String), SecretSource> {
    asked
        .iter()
        .map(|(ns, name)| {
            (
                (ns.clone(), name.clone()),
                if owns(ns) {
                    SecretSource::Read
                } else {
                    SecretSource::StandIn
                },
            )
        })
        .collect()
}

/// A self-signed pair made once per process: what [`SecretSource::StandIn`] renders.
fn stand_in() -> Result<Pair, String> {
    static STAND_IN: OnceLock<Result<Pair, String>> = OnceLock::new();
    STAND_IN
        .get_or_init(|| {
            ngx::tls::self_signed(&["stand-in.wharf.invalid".to_string()])
                .map(|(cert_pem, key_pem)| Pair { cert_pem, key_pem })
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// nginx's verdicts on the pairs the console checked, by content hash (no key material),
/// so a pair costs one `nginx -t` per process rather than one per request (kept in
/// `AppState`). Emptied when it grows past [`MAX_VERDICTS`].
#[derive(Clone, Default)]
pub struct KnownVerdicts(Arc<Mutex<Verdicts>>);
const MAX_VERDICTS: usize = 4096;

/// Attaches the routes' certificates to `desired` exactly as the cluster's agents do, from
/// the Secrets the routes name ([`secret_sources`] decides which are read); returns the
/// routes left on HTTP and why, as a node reports them.
async fn attach_certificates(
    state: &AppState,
    owns: &(dyn Fn(&str) -> bool + Sync),
    cluster: &NginxCluster,
    desired: &mut ngx::DesiredState,
    routes: &[Arc<NginxRoute>],
) -> Result<Vec<NginxRouteError>, AppError> {
    let sources = sources_by(owns, &tls::asked(desired, routes));
    let reads = sources
        .iter()
        .filter(|(_, s)| **s == SecretSource::Read)
        .map(|((ns, name), _)| async move {
            let found = Api::<Secret>::namespaced(state.client.clone(), ns)
                .get_opt(name)
                .await?;
            Ok::<_, kube::Error>(((ns.clone(), name.clone()), found))
        });
    let read: HashMap<(String, String), Option<Secret>> = futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .collect();
    let known = state
        .tls_verdicts
        .0
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    let mut secrets = TlsSecrets::with_verdicts(state.settings.nginx_bin.clone(), known);
    let https = cluster.spec.listen.https.is_some();
    let errors = secrets
        .attach(desired, routes, https, |ns, name| {
            let key = (ns.to_string(), name.to_string());
            match sources.get(&key) {
                Some(SecretSource::StandIn) => stand_in(),
                _ => tls::pair_of(read.get(&key).and_then(Option::as_ref), ns),
            }
        })
        .await;
    if let Ok(mut memo) = state.tls_verdicts.0.lock() {
        if memo.len() + secrets.verdicts().len() > MAX_VERDICTS {
            memo.clear();
        }
        memo.extend(
            secrets
                .verdicts()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    Ok(errors)
}

/// The namespace of a route id (`namespace/name`).
fn namespace_of(route: &str) -> Option<String> {
    route.split_once('/').map(|(ns, _)| ns.to_string())
}

pub async fn config(
    state: &AppState,
    access: &Access,
    cluster: &str,
) -> Result<ConfigView, AppError> {
    let c = cluster_named(state, access, cluster)?;
    if !access.sees_whole(&c) {
        return Err(AppError::Forbidden(text!(
            "nginx cluster '{cluster}' also serves other tenants; its whole config is for platform admins",
            "nginx 集群“{cluster}”同时服务其他租户;完整配置仅平台管理员可见"
        )));
    }
    let inputs = inputs(state);
    let (mut desired, mut errors) = desired::desired_state_and_refusals(&c, &inputs);
    errors.extend(desired::upstream_refusals(&c, &inputs));
    let owns = |ns: &str| access.owns(Some(ns.to_string()));
    errors.extend(attach_certificates(state, &owns, &c, &mut desired, &inputs.routes).await?);
    let opts = ngx::RenderOptions {
        tls_dir: Some(CONFIG_VIEW_TLS_DIR.into()),
        ..render_options()
    };
    let rendered = ngx::render(&desired, &opts).map_err(|e| {
        AppError::Invalid(Text::new(e.to_string(), format!("生成 nginx 配置失败:{e}")))
    })?;
    Ok(ConfigView {
        sha: rendered.sha256.clone(),
        mode: format!("{:?}", rendered.mode).to_lowercase(),
        files: rendered
            .files
            .iter()
            .map(|(p, t)| ConfigFile {
                path: p.display().to_string(),
                text: t.clone(),
            })
            .collect(),
        tls_dir: CONFIG_VIEW_TLS_DIR.into(),
        route_errors: errors
            .into_iter()
            .filter(|e| access.owns(namespace_of(&e.route)))
            .map(|e| RouteError {
                route: e.route,
                message: e.message,
            })
            .collect(),
    })
}

/// A node's published files and drift, from its ConfigMap (one GET, no list).
pub async fn node_configmap_of(
    state: &AppState,
    cluster: &str,
    node: &str,
) -> Result<ConfigMap, AppError> {
    let api: Api<ConfigMap> = Api::namespaced(state.client.clone(), SYSTEM_NAMESPACE);
    api.get_opt(&node_configmap(cluster, node))
        .await?
        .ok_or_else(|| {
            AppError::NotFound(text!(
                "node '{node}' of nginx cluster '{cluster}' has not published its files yet",
                "nginx 集群“{cluster}”的节点“{node}”尚未上报其文件"
            ))
        })
}

/// The cluster and node, checked: the caller sees the whole config and the node exists.
pub fn node_of(
    state: &AppState,
    access: &Access,
    cluster: &str,
    node: &str,
) -> Result<(Arc<NginxCluster>, NginxNodeStatus), AppError> {
    let c = cluster_named(state, access, cluster)?;
    if !access.sees_whole(&c) {
        return Err(AppError::Forbidden(text!(
            "nginx cluster '{cluster}' also serves other tenants; its nodes' files are for platform admins",
            "nginx 集群“{cluster}”同时服务其他租户;其节点上的文件仅平台管理员可见"
        )));
    }
    let st = c
        .status
        .as_ref()
        .and_then(|s| s.nodes.get(node))
        .cloned()
        .ok_or_else(|| {
            AppError::NotFound(text!(
                "node '{node}' of nginx cluster '{cluster}'",
                "nginx 集群“{cluster}”的节点“{node}”"
            ))
        })?;
    Ok((c, st))
}

pub async fn drift(
    state: &AppState,
    access: &Access,
    cluster: &str,
    node: &str,
) -> Result<DriftView, AppError> {
    let (_, st) = node_of(state, access, cluster, node)?;
    let cm = node_configmap_of(state, cluster, node).await?;
    let diff = cm
        .data
        .as_ref()
        .and_then(|d| d.get("drift.diff"))
        .cloned()
        .unwrap_or_default();
    Ok(DriftView {
        node: node.to_string(),
        rendered_sha: st.rendered_sha,
        on_disk_sha: st.on_disk_sha,
        diff,
    })
}

/// Sets the node's repair annotation to a new request id; its agent re-applies the rendered
/// config once and reports the id back.
pub async fn repair(
    state: &AppState,
    access: &Access,
    cluster: &str,
    node: &str,
) -> Result<(), AppError> {
    node_of(state, access, cluster, node)?;
    let request = format!(
        "{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        access.scope.user()
    );
    let patch =
        serde_json::json!({"metadata": {"annotations": {repair_annotation(node): request}}});
    let api: Api<NginxCluster> = Api::all(state.client.clone());
    api.patch(
        cluster,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await?;
    tracing::info!(user = access.scope.user(), tenant = access.scope.tenant(), %cluster, %node, %request, "nginx node repair requested");
    Ok(())
}

/// What a change does to the cluster's objects, in memory.
struct Candidate {
    cluster: Arc<NginxCluster>,
    inputs: Inputs,
}

fn check_name(what: Text, v: &str) -> Result<(), AppError> {
    let ok = !v.is_empty()
        && v.len() <= 50
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(text!(
            "{what}: lower-case letters, digits and '-', at most 50",
            "{what}:只能包含小写字母、数字和“-”,最多 50 个字符"
        )))
    }
}

fn clean_directives(ds: &[String]) -> Vec<String> {
    ds.iter()
        .map(|d| d.trim().trim_end_matches(';').trim().to_string())
        .filter(|d| !d.is_empty())
        .collect()
}

/// A tenant routes only host names its settings give it (exact names or `*.suffix` patterns,
/// set by a platform admin on the Tenants page).
fn host_of_tenant(state: &AppState, tenant: &str, host: &str) -> Result<(), AppError> {
    let hosts = state
        .cache
        .tenant(tenant)
        .map(|t| t.spec.hosts.clone())
        .unwrap_or_default();
    if hosts
        .iter()
        .any(|p| wharf_api::admin::host_matches(p, host))
    {
        return Ok(());
    }
    Err(AppError::Forbidden(if hosts.is_empty() {
        text!(
            "host '{host}': tenant '{tenant}' has no host names on nginx clusters; a platform admin gives them on the Tenants page",
            "域名“{host}”:租户“{tenant}”在 nginx 集群上没有可用的域名;平台管理员可在“租户”页面分配"
        )
    } else {
        let hosts = hosts.join(", ");
        text!(
            "host '{host}' is not among tenant '{tenant}''s host names ({hosts}); a platform admin adds more on the Tenants page",
            "域名“{host}”不在租户“{tenant}”的可用域名({hosts})中;平台管理员可在“租户”页面添加"
        )
    }))
}

/// The creation time a changed route keeps, or now for a new one: a host belongs to whoever
/// routed it first (`desired::host_refusals`), so a change must not make a route younger.
fn age_of(
    routes: &[Arc<NginxRoute>],
    namespace: &str,
    name: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    routes
        .iter()
        .find(|r| r.namespace().as_deref() == Some(namespace) && r.name_any() == name)
        .and_then(|r| r.metadata.creation_timestamp.clone())
        .unwrap_or_else(|| {
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now())
        })
}

/// Refuses a route's TLS Secret unless it is a `kubernetes.io/tls` Secret of the route's own
/// namespace (empty: no TLS, nothing to check).
async fn tls_secret_of(
    state: &AppState,
    access: &Access,
    namespace: &str,
    secret: &str,
) -> Result<(), AppError> {
    if secret.is_empty() {
        return Ok(());
    }
    check_name(text!("TLS Secret", "TLS 密钥"), secret)?;
    let api: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(state.client.clone(), access.scope.namespace(namespace)?);
    match api.get_opt(secret).await? {
        None => Err(AppError::Invalid(text!(
            "TLS Secret '{secret}': there is none in namespace '{namespace}'; add it on the page first",
            "TLS 密钥“{secret}”:命名空间“{namespace}”中没有,请先在页面上添加"
        ))),
        Some(s) if s.type_.as_deref() != Some("kubernetes.io/tls") => {
            let kind = s.type_.unwrap_or_else(|| "Opaque".into());
            Err(AppError::Invalid(text!(
                "TLS Secret '{secret}' is of type {kind}, not kubernetes.io/tls",
                "密钥“{secret}”的类型是 {kind},不是 kubernetes.io/tls"
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Largest PEM file a TLS upload takes (a chain of a few certificates is a few KiB).
pub const MAX_PEM: usize = 64 * 1024;

/// Adds a `kubernetes.io/tls` Secret to a namespace of the tenant from an uploaded certificate
/// chain and key, after `nginx -t` loaded them together (a key that does not match the
/// certificate is refused with nginx's words). An existing Secret is never replaced.
pub async fn add_tls_secret(
    state: &AppState,
    access: &Access,
    namespace: &str,
    name: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<(), AppError> {
    let ns = access.scope.namespace(namespace)?.to_string();
    check_name(text!("name", "名称"), name)?;
    for (what, pem) in [("tls.crt", cert_pem), ("tls.key", key_pem)] {
        if pem.len() > MAX_PEM {
            let kib = MAX_PEM / 1024;
            return Err(AppError::Invalid(text!(
                "{what}: larger than {kib} KiB; is it really a PEM file?",
                "{what}:超过 {kib} KiB,确定是 PEM 文件吗?"
            )));
        }
    }
    ngx::tls::check(cert_pem, key_pem, &state.settings.nginx_bin)
        .await
        .map_err(|e| {
            let e = e.to_string();
            AppError::Invalid(text!(
                "the certificate and key were refused: {e}",
                "证书与私钥未通过检查:{e}"
            ))
        })?;
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.clone()),
            labels: Some(std::collections::BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "wharf".to_string(),
            )])),
            ..Default::default()
        },
        type_: Some(tls::TLS_SECRET_TYPE.into()),
        data: Some(std::collections::BTreeMap::from([
            (
                "tls.crt".to_string(),
                k8s_openapi::ByteString(cert_pem.as_bytes().to_vec()),
            ),
            (
                "tls.key".to_string(),
                k8s_openapi::ByteString(key_pem.as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(state.client.clone(), &ns);
    match api.create(&kube::api::PostParams::default(), &secret).await {
        Err(kube::Error::Api(e)) if e.code == 409 => Err(AppError::Conflict(text!(
            "a Secret named '{name}' already exists in '{ns}'; pick another name",
            "命名空间“{ns}”中已有名为“{name}”的密钥,请换一个名称"
        ))),
        other => {
            other?;
            tracing::info!(user = access.scope.user(), tenant = access.scope.tenant(), namespace = %ns, name, "TLS Secret added");
            Ok(())
        }
    }
}

/// The `kubernetes.io/tls` Secrets of the tenant's namespaces a route may use, as
/// `(namespace, name)` (names only: their keys never leave the server).
pub async fn tls_secrets(
    state: &AppState,
    access: &Access,
) -> Result<Vec<(String, String)>, AppError> {
    let mut out = Vec::new();
    for ns in access.scope.namespaces() {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(state.client.clone(), ns);
        let lp = kube::api::ListParams::default().fields("type=kubernetes.io/tls");
        for s in api.list_metadata(&lp).await?.items {
            out.push((ns.clone(), s.metadata.name.unwrap_or_default()));
        }
    }
    out.sort();
    Ok(out)
}

/// A route's path: `/` when empty, else a location prefix nginx cannot misread.
fn route_path(path: &str) -> Result<String, AppError> {
    let path = path.trim();
    if path.is_empty() {
        return Ok("/".into());
    }
    ngx::directive::check_path(path).map_err(|_| {
        AppError::Invalid(text!(
            "path '{path}': it must start with / and hold no spaces, quotes, ;, {{, }}, #, $ or \\",
            "路径“{path}”:必须以 / 开头,且不含空格、引号、;、{{、}}、#、$ 或 \\"
        ))
    })?;
    Ok(path.to_string())
}

fn candidate(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
) -> Result<Candidate, AppError> {
    candidate_with(state, access, change, None)
}

/// [`candidate`], with `planned` a Service not created yet (an app being deployed with its
/// route) that a `SetRoute` may name.
fn candidate_with(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
    planned: Option<&Service>,
) -> Result<Candidate, AppError> {
    let mut inputs = inputs(state);
    let (ns, cluster_name) = match change {
        NginxChange::SetDirectives {
            namespace,
            route,
            directives,
        } => {
            access.scope.namespace(namespace)?;
            let i = inputs
                .routes
                .iter()
                .position(|r| r.namespace().as_deref() == Some(namespace) && r.name_any() == *route)
                .ok_or_else(|| {
                    AppError::NotFound(text!(
                        "route {namespace}/{route}",
                        "路由 {namespace}/{route}"
                    ))
                })?;
            let mut r = (*inputs.routes[i]).clone();
            r.spec.directives = clean_directives(directives);
            let cluster = r.spec.cluster.clone();
            inputs.routes[i] = Arc::new(r);
            (namespace.clone(), cluster)
        }
        NginxChange::AddExternal {
            cluster,
            namespace,
            name,
            host,
            path,
            servers,
            directives,
        } => {
            access.scope.namespace(namespace)?;
            check_name(text!("name", "名称"), name)?;
            let host = host.trim().to_ascii_lowercase();
            host_of_tenant(state, access.scope.tenant(), &host)?;
            if servers.iter().all(|s| s.trim().is_empty()) {
                return Err(AppError::Invalid(text!(
                    "servers: at least one ip:port",
                    "服务器:至少填写一个 ip:port"
                )));
            }
            for s in servers.iter().filter(|s| !s.trim().is_empty()) {
                let addr = parse_server(s)
                    .map_err(|e| AppError::Invalid(text!("servers: {e}", "服务器:{e}")))?;
                // NB: checked here with the console's whole view (every pod and Service), and
                // again by each node when it renders (`desired::Inputs::server_allowed`).
                state
                    .settings
                    .egress
                    .check(s.trim(), addr, |ip| {
                        crate::egress::cluster_object_of(&state.cache, ip)
                    })
                    .map_err(|r| {
                        let why = r.text();
                        AppError::Forbidden(text!("servers: {why}", "服务器:{why}"))
                    })?;
            }
            let taken = inputs.routes.iter().any(|r| {
                r.namespace().as_deref() == Some(namespace)
                    && r.name_any() == *name
                    && r.spec.service.is_some()
            });
            if taken {
                return Err(AppError::Conflict(text!(
                    "{namespace}/{name} is a route to a Service; pick another name",
                    "{namespace}/{name} 已是指向 Service 的路由,请换一个名称"
                )));
            }
            let mut route = NginxRoute::new(
                name,
                NginxRouteSpec {
                    cluster: cluster.clone(),
                    host: host.clone(),
                    path: if path.trim().is_empty() {
                        "/".into()
                    } else {
                        path.trim().to_string()
                    },
                    service: None,
                    upstream: Some(name.clone()),
                    directives: clean_directives(directives),
                    tls_secret: None,
                },
            );
            route.metadata.namespace = Some(namespace.clone());
            // NB: a host belongs to whoever routed it first (`desired::host_refusals`): the
            // route keeps its age when it is changed, and a new one is the newest
            route.metadata.creation_timestamp = Some(age_of(&inputs.routes, namespace, name));
            let mut up = NginxUpstream::new(
                name,
                NginxUpstreamSpec {
                    cluster: cluster.clone(),
                    servers: servers
                        .iter()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                },
            );
            up.metadata.namespace = Some(namespace.clone());
            inputs.routes.retain(|r| {
                !(r.namespace().as_deref() == Some(namespace) && r.name_any() == *name)
            });
            inputs.upstreams.retain(|u| {
                !(u.namespace().as_deref() == Some(namespace) && u.name_any() == *name)
            });
            inputs.routes.push(Arc::new(route));
            inputs.upstreams.push(Arc::new(up));
            (namespace.clone(), cluster.clone())
        }
        NginxChange::SetRoute {
            cluster,
            namespace,
            name,
            host,
            path,
            service,
            port,
            tls_secret,
            directives,
        } => {
            access.scope.namespace(namespace)?;
            check_name(text!("name", "名称"), name)?;
            let host = host.trim().to_ascii_lowercase();
            host_of_tenant(state, access.scope.tenant(), &host)?;
            let path = route_path(path)?;
            let svc = state
                .cache
                .services
                .state()
                .into_iter()
                .chain(planned.cloned().map(Arc::new))
                .find(|s| s.namespace().as_deref() == Some(namespace) && s.name_any() == *service)
                .ok_or_else(|| {
                    AppError::NotFound(text!(
                        "Service '{service}' in namespace '{namespace}'",
                        "命名空间“{namespace}”中的 Service“{service}”"
                    ))
                })?;
            let ports: Vec<String> = svc
                .spec
                .iter()
                .flat_map(|s| s.ports.iter().flatten())
                .map(|p| p.port.to_string())
                .collect();
            if !ports.contains(&port.to_string()) {
                let have = if ports.is_empty() {
                    "none".to_string()
                } else {
                    ports.join(", ")
                };
                return Err(AppError::Invalid(text!(
                    "port {port}: Service '{service}' has no such port (it has: {have})",
                    "端口 {port}:Service“{service}”没有该端口(已有:{have})"
                )));
            }
            if let Some(t) = tls_secret.as_deref().filter(|t| !t.is_empty()) {
                check_name(text!("TLS Secret", "TLS 密钥"), t)?;
            }
            let taken = inputs.routes.iter().any(|r| {
                r.namespace().as_deref() == Some(namespace)
                    && r.name_any() == *name
                    && r.spec.upstream.is_some()
            });
            if taken {
                return Err(AppError::Conflict(text!(
                    "{namespace}/{name} is a proxy to servers outside Kubernetes; pick another name",
                    "{namespace}/{name} 已是指向集群外服务器的代理,请换一个名称"
                )));
            }
            let mut route = NginxRoute::new(
                name,
                NginxRouteSpec {
                    cluster: cluster.clone(),
                    host,
                    path,
                    service: Some(crds::nginx::RouteService {
                        name: service.clone(),
                        port: *port,
                    }),
                    upstream: None,
                    directives: clean_directives(directives),
                    tls_secret: tls_secret.clone().filter(|t| !t.is_empty()),
                },
            );
            route.metadata.namespace = Some(namespace.clone());
            route.metadata.creation_timestamp = Some(age_of(&inputs.routes, namespace, name));
            inputs.routes.retain(|r| {
                !(r.namespace().as_deref() == Some(namespace) && r.name_any() == *name)
            });
            inputs.routes.push(Arc::new(route));
            (namespace.clone(), cluster.clone())
        }
        NginxChange::RemoveRoute { namespace, name } => {
            access.scope.namespace(namespace)?;
            let route = inputs
                .routes
                .iter()
                .find(|r| {
                    r.namespace().as_deref() == Some(namespace)
                        && r.name_any() == *name
                        && r.spec.service.is_some()
                })
                .ok_or_else(|| {
                    AppError::NotFound(text!("route {namespace}/{name}", "路由 {namespace}/{name}"))
                })?;
            let cluster = route.spec.cluster.clone();
            inputs.routes.retain(|r| {
                !(r.namespace().as_deref() == Some(namespace) && r.name_any() == *name)
            });
            (namespace.clone(), cluster)
        }
        NginxChange::RemoveExternal { namespace, name } => {
            access.scope.namespace(namespace)?;
            let up = inputs
                .upstreams
                .iter()
                .find(|u| u.namespace().as_deref() == Some(namespace) && u.name_any() == *name)
                .ok_or_else(|| {
                    AppError::NotFound(text!(
                        "upstream {namespace}/{name}",
                        "上游 {namespace}/{name}"
                    ))
                })?;
            let cluster = up.spec.cluster.clone();
            inputs.routes.retain(|r| {
                !(r.namespace().as_deref() == Some(namespace)
                    && r.spec.upstream.as_deref() == Some(name))
            });
            inputs.upstreams.retain(|u| {
                !(u.namespace().as_deref() == Some(namespace) && u.name_any() == *name)
            });
            (namespace.clone(), cluster)
        }
    };
    let cluster = cluster_named(state, access, &cluster_name)?;
    if !desired::served_namespaces(&cluster, &inputs.tenants).contains(&ns) {
        return Err(AppError::Invalid(text!(
            "nginx cluster '{cluster_name}' does not serve namespace '{ns}'",
            "nginx 集群“{cluster_name}”不服务命名空间“{ns}”"
        )));
    }
    if let NginxChange::AddExternal {
        namespace, name, ..
    }
    | NginxChange::SetRoute {
        namespace, name, ..
    } = change
    {
        let id = desired::route_id(namespace, name);
        if let Some(e) = desired::host_refusals(&cluster, &inputs)
            .into_iter()
            .find(|e| e.route == id)
        {
            let why = e.message;
            return Err(AppError::Conflict(text!(
                "route {id} would not be served: {why}",
                "路由 {id} 不会生效(域名已被占用或路径重复):{why}"
            )));
        }
    }
    Ok(Candidate { cluster, inputs })
}

/// Renders the candidate with everything else the cluster serves, the routes' certificates
/// attached as the agents attach them, and runs `nginx -t` on it (HTTPS listeners included).
pub async fn check(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
) -> Result<Validation, AppError> {
    check_with(state, access, change, None).await
}

/// The route of an app being deployed, checked before anything is created: `planned` is the
/// Service the deploy is about to create. A refusal (or nginx's) is the deploy's error.
pub async fn check_planned_route(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
    planned: &Service,
) -> Result<(), AppError> {
    let v = check_with(state, access, change, Some(planned)).await?;
    if v.ok {
        return Ok(());
    }
    let message = v.message.unwrap_or_default();
    Err(AppError::Invalid(Text::new(
        format!("route: nginx refused it: {message}"),
        format!("路由:nginx 拒绝了它:{message}"),
    )))
}

/// Stores the route [`check_planned_route`] passed, once its app and Service are created (the
/// console's cache may not have the Service yet, so it is named here).
pub async fn store_planned_route(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
    planned: &Service,
) -> Result<(), AppError> {
    let NginxChange::SetRoute {
        namespace, name, ..
    } = change
    else {
        return Ok(());
    };
    let cand = candidate_with(state, access, change, Some(planned))?;
    let route = cand
        .inputs
        .routes
        .iter()
        .find(|r| r.namespace().as_deref() == Some(namespace) && r.name_any() == *name)
        .cloned();
    if let Some(route) = route {
        upsert(
            &Api::<NginxRoute>::namespaced(state.client.clone(), namespace),
            (*route).clone(),
        )
        .await?;
    }
    Ok(())
}

async fn check_with(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
    planned: Option<&Service>,
) -> Result<Validation, AppError> {
    if let NginxChange::SetRoute {
        namespace,
        tls_secret: Some(secret),
        ..
    } = change
    {
        tls_secret_of(state, access, namespace, secret).await?;
    }
    let cand = candidate_with(state, access, change, planned)?;
    let owns = |ns: &str| access.owns(Some(ns.to_string()));
    verdict(state, &owns, &cand.cluster, &cand.inputs).await
}

/// `nginx -t` on what `cluster` would serve from `inputs`, the routes' certificates attached
/// as the agents attach them (those of namespaces `owns` refuses by a stand-in).
async fn verdict(
    state: &AppState,
    owns: &(dyn Fn(&str) -> bool + Sync),
    cluster: &NginxCluster,
    inputs: &Inputs,
) -> Result<Validation, AppError> {
    verdict_with(state, owns, cluster, inputs, Vec::new()).await
}

/// [`verdict`] with `extra` routes beside the cluster's own.
async fn verdict_with(
    state: &AppState,
    owns: &(dyn Fn(&str) -> bool + Sync),
    cluster: &NginxCluster,
    inputs: &Inputs,
    extra: Vec<ngx::Route>,
) -> Result<Validation, AppError> {
    let mut desired = desired::desired_state(cluster, inputs);
    desired.routes.extend(extra);
    attach_certificates(state, owns, cluster, &mut desired, &inputs.routes).await?;
    let tested =
        match ngx::validate::test_state(&desired, &render_options(), &state.settings.nginx_bin)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                return Ok(Validation {
                    ok: false,
                    message: Some(e.to_string()),
                    nginx: None,
                    excerpt: Vec::new(),
                })
            }
        };
    match tested.verdict {
        Ok(()) => Ok(Validation {
            ok: true,
            message: None,
            nginx: None,
            excerpt: Vec::new(),
        }),
        Err(e) => {
            let nginx = e.nginx().map(|n| NginxMessage {
                message: n.message.clone(),
                file: n.file.as_ref().map(|f| f.display().to_string()),
                line: n.line,
            });
            let excerpt = match &nginx {
                Some(NginxMessage {
                    file: Some(f),
                    line: Some(l),
                    ..
                }) => tested
                    .rendered
                    .files
                    .get(std::path::Path::new(f))
                    .map(|text| {
                        text.lines()
                            .enumerate()
                            .map(|(i, t)| (i as u32 + 1, t.to_string()))
                            .filter(|(n, _)| n + 2 >= *l && *n <= l + 2)
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok(Validation {
                ok: false,
                message: Some(e.to_string()),
                nginx,
                excerpt,
            })
        }
    }
}

pub async fn validate(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
) -> Result<Validation, AppError> {
    let v = check(state, access, change).await?;
    tracing::info!(
        user = access.scope.user(),
        tenant = access.scope.tenant(),
        ok = v.ok,
        "nginx change validated"
    );
    Ok(v)
}

/// nginx's refusal as the error of a change that is not stored.
fn refusal(v: &Validation) -> AppError {
    let place = v
        .nginx
        .as_ref()
        .and_then(|n| Some(format!(" ({}:{})", n.file.as_ref()?, n.line?)))
        .unwrap_or_default();
    // NB: nginx's own words (the English of the log), with a Chinese lead-in
    let message = v.message.clone().unwrap_or_default();
    AppError::Invalid(Text::new(
        format!("{message}{place}"),
        format!("nginx 拒绝了此修改:{message}{place}"),
    ))
}

/// Validates, and only if nginx accepts, writes the resources.
pub async fn apply(
    state: &AppState,
    access: &Access,
    change: &NginxChange,
) -> Result<Validation, AppError> {
    let v = check(state, access, change).await?;
    if !v.ok {
        return Err(refusal(&v));
    }
    let client = state.client.clone();
    match change {
        NginxChange::SetDirectives {
            namespace,
            route,
            directives,
        } => {
            let api: Api<NginxRoute> = Api::namespaced(client, namespace);
            let patch = serde_json::json!({"spec": {"directives": clean_directives(directives)}});
            api.patch(
                route,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await?;
        }
        NginxChange::AddExternal {
            namespace, name, ..
        } => {
            let cand = candidate(state, access, change)?;
            let up = cand
                .inputs
                .upstreams
                .iter()
                .find(|u| u.namespace().as_deref() == Some(namespace) && u.name_any() == *name)
                .cloned();
            let route = cand
                .inputs
                .routes
                .iter()
                .find(|r| r.namespace().as_deref() == Some(namespace) && r.name_any() == *name)
                .cloned();
            if let (Some(up), Some(route)) = (up, route) {
                upsert(
                    &Api::<NginxUpstream>::namespaced(client.clone(), namespace),
                    (*up).clone(),
                )
                .await?;
                upsert(
                    &Api::<NginxRoute>::namespaced(client, namespace),
                    (*route).clone(),
                )
                .await?;
            }
        }
        NginxChange::SetRoute {
            namespace, name, ..
        } => {
            let cand = candidate(state, access, change)?;
            let route = cand
                .inputs
                .routes
                .iter()
                .find(|r| r.namespace().as_deref() == Some(namespace) && r.name_any() == *name)
                .cloned();
            if let Some(route) = route {
                upsert(
                    &Api::<NginxRoute>::namespaced(client, namespace),
                    (*route).clone(),
                )
                .await?;
            }
        }
        NginxChange::RemoveRoute { namespace, name } => {
            ignore_missing(
                Api::<NginxRoute>::namespaced(client, namespace)
                    .delete(name, &DeleteParams::default())
                    .await
                    .map(|_| ()),
            )?;
        }
        NginxChange::RemoveExternal { namespace, name } => {
            let routes: Api<NginxRoute> = Api::namespaced(client.clone(), namespace);
            for r in state.cache.nginx_routes.state().iter().filter(|r| {
                r.namespace().as_deref() == Some(namespace)
                    && r.spec.upstream.as_deref() == Some(name)
            }) {
                ignore_missing(
                    routes
                        .delete(&r.name_any(), &DeleteParams::default())
                        .await
                        .map(|_| ()),
                )?;
            }
            ignore_missing(
                Api::<NginxUpstream>::namespaced(client, namespace)
                    .delete(name, &DeleteParams::default())
                    .await
                    .map(|_| ()),
            )?;
        }
    }
    tracing::info!(
        user = access.scope.user(),
        tenant = access.scope.tenant(),
        ?change,
        "nginx change applied"
    );
    Ok(v)
}

fn ignore_missing(r: Result<(), kube::Error>) -> Result<(), AppError> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => Ok(other?),
    }
}

/// Creates the object, or replaces the spec of the one that is there.
async fn upsert<K>(api: &Api<K>, mut obj: K) -> Result<(), AppError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    match api.get_opt(&name).await? {
        Some(current) => {
            obj.meta_mut().resource_version = current.meta().resource_version.clone();
            api.replace(&name, &PostParams::default(), &obj).await?;
        }
        None => {
            api.create(&PostParams::default(), &obj).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_reads_only_its_own_namespaces_secrets() {
        let asked: BTreeSet<(String, String)> = [
            ("alpha", "shop-tls"),
            ("alpha-dev", "dev-tls"),
            ("beta", "billing-tls"),
        ]
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
        let key = |n: &str, s: &str| (n.to_string(), s.to_string());
        let alice = Access {
            scope: TenantScope::for_tests("alpha", &["alpha", "alpha-dev"]),
            platform_admin: false,
        };
        let sources = secret_sources(&alice, &asked);
        assert_eq!(sources[&key("alpha", "shop-tls")], SecretSource::Read);
        assert_eq!(sources[&key("alpha-dev", "dev-tls")], SecretSource::Read);
        assert_eq!(
            sources[&key("beta", "billing-tls")],
            SecretSource::StandIn,
            "another tenant's Secret is never read for alpha"
        );
        let admin = Access {
            scope: TenantScope::for_tests("alpha", &["alpha", "alpha-dev"]),
            platform_admin: true,
        };
        assert!(secret_sources(&admin, &asked)
            .values()
            .all(|s| *s == SecretSource::Read));
    }

    #[test]
    fn the_stand_in_is_a_pem_pair_made_once() {
        let (a, b) = (stand_in().unwrap(), stand_in().unwrap());
        assert!(a.cert_pem.contains("BEGIN CERTIFICATE") && a.key_pem.0.contains("PRIVATE KEY"));
        assert_eq!(
            ngx::tls::fingerprint(&a.cert_pem, &a.key_pem.0),
            ngx::tls::fingerprint(&b.cert_pem, &b.key_pem.0),
            "one nginx -t per process"
        );
    }

    #[test]
    fn node_states_follow_the_report() {
        let now = Utc::now();
        let beat = |secs: i64| Some((now - chrono::Duration::seconds(secs)).to_rfc3339());
        let sha = Some("a".repeat(64));
        let ok = NginxNodeStatus {
            rendered_sha: sha.clone(),
            on_disk_sha: sha.clone(),
            heartbeat: beat(1),
            heartbeat_seconds: 5,
            ..Default::default()
        };
        assert_eq!(node_state(&ok, now), NodeState::InSync);
        let drifted = NginxNodeStatus {
            on_disk_sha: Some("b".repeat(64)),
            ..ok.clone()
        };
        assert_eq!(node_state(&drifted, now), NodeState::Drifted);
        let failing = NginxNodeStatus {
            last_error: Some(Default::default()),
            ..ok.clone()
        };
        assert_eq!(node_state(&failing, now), NodeState::Failing);
        let stale = NginxNodeStatus {
            heartbeat: beat(60),
            ..ok.clone()
        };
        assert_eq!(node_state(&stale, now), NodeState::Stale);
        assert_eq!(
            node_state(&NginxNodeStatus::default(), now),
            NodeState::Pending
        );
    }
}
