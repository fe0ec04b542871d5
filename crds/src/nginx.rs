//! Nginx fleets: `NginxCluster` (cluster-scoped: who it serves, listen ports, defaults, and
//! what every node's agent reports), `NginxRoute` (namespaced: host/path to a Service port
//! or an external upstream, extra directives) and `NginxUpstream` (namespaced: host:port
//! lists for services outside Kubernetes).
//!
//! Routes and upstreams are namespaced on purpose: a tenant owns the ones in its
//! namespaces, so the tenant check of the console covers them with no extra rule. A route
//! only reaches a Service or an upstream of its own namespace.
//!
//! `wharf ng-agent` turns these (plus Services and EndpointSlices) into an `ngx::DesiredState`;
//! each node's agent merge-patches its own entry of `status.nodes`, so nodes never clobber
//! each other. The node's files on disk and its drift diff are too big for a status; the
//! agent publishes them in the ConfigMap named by [`node_configmap`].

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "wharf.dev",
    version = "v1alpha1",
    kind = "NginxCluster",
    shortname = "ngc",
    status = "NginxClusterStatus"
)]
#[kube(printcolumn = r#"{"name":"Tenants","type":"string","jsonPath":".spec.tenants"}"#)]
#[kube(printcolumn = r#"{"name":"HTTP","type":"integer","jsonPath":".spec.listen.http"}"#)]
#[serde(rename_all = "camelCase")]
pub struct NginxClusterSpec {
    // NB: omitted when empty: kube-apiserver 1.20 built with Go >= 1.19 reads "" as null and
    // refuses it (see `schema`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Tenants whose namespaces' routes this cluster serves.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Further namespaces served (beyond the tenants' own).
    #[serde(default)]
    pub namespaces: Vec<String>,
    pub listen: NginxListen,
    #[serde(default)]
    pub defaults: NginxDefaults,
    /// Directives for every host's `server {}` block, each `name value...` without the `;`
    /// (an allow-list: `ngx::directive::SERVER_ALLOWED`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_directives: Vec<String>,
    /// Directives for the `http {}` block (an allow-list: `ngx::directive::HTTP_ALLOWED`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_directives: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxListen {
    pub http: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<u16>,
}

/// Every field optional: what is left out takes the engine's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxDefaults {
    /// nginx size syntax: `1m`, `512k`, `0` (unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_max_body_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_connect_timeout_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_read_timeout_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_send_timeout_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_keepalive: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<bool>,
}

/// What the agents report, one entry per node (keyed by node name).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxClusterStatus {
    #[serde(default)]
    pub nodes: BTreeMap<String, NginxNodeStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxNodeStatus {
    /// `dynamic` (peers through lua, no reload for endpoint changes) or `static`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// What `nginx -v` says on the node (`1.22.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx_version: Option<String>,
    /// The cluster's `metadata.generation` of the last state applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// sha256 of the config the agent rendered and applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_sha: Option<String>,
    /// sha256 of the files in the node's live release, as last read; differs from
    /// `renderedSha` after a hand edit (drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<NginxNodeError>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reload: Option<String>,
    #[serde(default)]
    pub reload_count: u64,
    #[serde(default)]
    pub peer_push_count: u64,
    /// RFC 3339: when the agent last wrote this entry. Old means the agent is silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<String>,
    /// How often the agent writes a heartbeat; the console calls a node stale after three
    /// missed ones.
    #[serde(default)]
    pub heartbeat_seconds: u32,
    /// The last repair request this node's agent carried out: the value the console set in
    /// the cluster's `repair.wharf.dev/<node>` annotation. Each request is handled once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired: Option<String>,
    /// Routes served without something they ask for, and why (e.g. a TLS secret that is
    /// missing or that nginx refuses: the route is served on HTTP only). Always written, so
    /// a merge patch replaces the whole list.
    #[serde(default)]
    pub route_errors: Vec<NginxRouteError>,
}

/// A route a node serves without something it asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxRouteError {
    /// `namespace/name` of the `NginxRoute`.
    pub route: String,
    pub message: String,
}

/// An apply that failed, with nginx's own words when nginx said something.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxNodeError {
    /// RFC 3339.
    pub at: String,
    /// The whole error as a sentence.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx_message: Option<String>,
    /// Relative to the config root (`servers/<host>.conf`, `nginx.conf`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "wharf.dev",
    version = "v1alpha1",
    kind = "NginxRoute",
    namespaced,
    shortname = "ngr"
)]
#[kube(printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#)]
#[kube(printcolumn = r#"{"name":"Host","type":"string","jsonPath":".spec.host"}"#)]
#[kube(printcolumn = r#"{"name":"Path","type":"string","jsonPath":".spec.path"}"#)]
#[serde(rename_all = "camelCase")]
pub struct NginxRouteSpec {
    /// The `NginxCluster` that serves this route.
    pub cluster: String,
    pub host: String,
    /// A path prefix; `/` when left out.
    #[serde(default = "root")]
    pub path: String,
    /// A Service of this namespace (set exactly one of `service` and `upstream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<RouteService>,
    /// An `NginxUpstream` of this namespace, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Extra directives for the route's location, each `name value...` without the `;`
    /// (e.g. `client_max_body_size 20m`).
    #[serde(default)]
    pub directives: Vec<String>,
    /// A `kubernetes.io/tls` Secret of this namespace: the agents write its `tls.crt` and
    /// `tls.key` to their nodes and serve the host on the cluster's HTTPS port with it. A
    /// missing or invalid secret leaves the route on HTTP and is reported in the nodes'
    /// `routeErrors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret: Option<String>,
}

fn root() -> String {
    "/".into()
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RouteService {
    pub name: String,
    /// The Service's port (not the pod's).
    pub port: u16,
}

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "wharf.dev",
    version = "v1alpha1",
    kind = "NginxUpstream",
    namespaced,
    shortname = "ngu"
)]
#[kube(printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#)]
#[serde(rename_all = "camelCase")]
pub struct NginxUpstreamSpec {
    pub cluster: String,
    /// `ip:port` of each server (IPv6 as `[ip]:port`).
    pub servers: Vec<String>,
}

/// The annotation on an `NginxCluster` that asks the agent of `node` to re-apply the rendered
/// config (throwing away hand edits); its value identifies the request, and the agent reports
/// the last one it carried out in its status entry's `repaired`.
pub fn repair_annotation(node: &str) -> String {
    format!("repair.wharf.dev/{node}")
}

/// The ConfigMap (in [`crate::SYSTEM_NAMESPACE`]) where the agent of `node` in `cluster`
/// publishes its live files (`config`) and its drift diff (`drift.diff`).
pub fn node_configmap(cluster: &str, node: &str) -> String {
    format!("wharf-ngx-{cluster}-{node}")
}
