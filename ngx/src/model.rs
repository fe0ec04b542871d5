//! The desired state of one nginx cluster: what the agent converges a node to.
//!
//! These are plain serde types so they can become the specs of the
//! `NginxCluster` and route custom resources unchanged. Nothing here touches
//! nginx; [`crate::render`] turns a [`DesiredState`] into files.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything one nginx node should serve. Rendering it is deterministic:
/// the order of `routes` and `upstreams` does not matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState {
    /// The generation of the cluster object this was built from; reported
    /// back in the status, never rendered (it must not change the sha).
    #[serde(default)]
    pub generation: u64,
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Peers of every upstream a route may point at: ready endpoints of
    /// Services, and hand-written lists for services outside Kubernetes.
    /// Upstreams no route points at are ignored.
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
    /// Certificates routes name with [`Tls::Certificate`] (e.g. from
    /// Kubernetes TLS secrets). The converger writes them under the node's
    /// `<conf_dir>/tls/`; certificates no route names are ignored.
    #[serde(default)]
    pub certificates: Vec<Certificate>,
}

/// The cluster-wide part: listen ports, defaults, who it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    pub name: String,
    pub listen: Listen,
    #[serde(default)]
    pub defaults: Defaults,
    /// Informational here: the watcher uses them to pick routes.
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Extra directives for the `http {}` block of nginx.conf, each
    /// `name value...` without the `;`. Checked by
    /// [`crate::directive::check_at`] at [`crate::directive::Level::Http`]; one
    /// naming a line Wharf writes there itself (`keepalive_timeout`,
    /// `sendfile`, ...) replaces that line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_directives: Vec<String>,
    /// Extra directives for every host's `server {}` block (not the
    /// catch-all server, not the control server). Checked at
    /// [`crate::directive::Level::Server`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_directives: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listen {
    pub http: u16,
    #[serde(default)]
    pub https: Option<u16>,
}

/// Defaults for every server; a route's extra directives override them in
/// its own location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Defaults {
    /// nginx size syntax: `1m`, `512k`, `0` (unlimited).
    pub client_max_body_size: String,
    pub proxy_connect_timeout_secs: u32,
    pub proxy_read_timeout_secs: u32,
    pub proxy_send_timeout_secs: u32,
    /// Idle keep-alive connections per worker to each upstream.
    pub upstream_keepalive: u32,
    pub worker_connections: u32,
    pub access_log: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            client_max_body_size: "1m".into(),
            proxy_connect_timeout_secs: 5,
            proxy_read_timeout_secs: 60,
            proxy_send_timeout_secs: 60,
            upstream_keepalive: 32,
            worker_connections: 1024,
            access_log: false,
        }
    }
}

/// `host` + `path` (a prefix) proxied to `target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Stable identity (e.g. `namespace/name` of the route object); used in
    /// comments and error messages.
    pub name: String,
    pub host: String,
    #[serde(default = "root_path")]
    pub path: String,
    pub target: Target,
    /// Extra directives for this location, each `name value...` without the
    /// `;`. Checked by [`crate::directive::check`] before rendering.
    #[serde(default)]
    pub directives: Vec<String>,
    #[serde(default)]
    pub tls: Option<Tls>,
}

fn root_path() -> String {
    "/".into()
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Target {
    /// A Kubernetes Service port; its peers are the ready endpoints.
    Service {
        namespace: String,
        name: String,
        port: u16,
    },
    /// A hand-written upstream for a service outside Kubernetes.
    External { name: String },
}

impl Target {
    /// The nginx upstream name. Namespaces and Service names are DNS labels
    /// (no dots), external names are restricted to `[A-Za-z0-9_-]`, so the
    /// dotted form cannot collide between the two kinds.
    pub fn upstream_name(&self) -> String {
        match self {
            Target::Service {
                namespace,
                name,
                port,
            } => format!("k8s.{namespace}.{name}.{port}"),
            Target::External { name } => format!("ext.{name}"),
        }
    }
}

/// Where a route's certificate comes from. It is served on the cluster's
/// HTTPS port (a route with TLS on a cluster without one is served on HTTP
/// only); all routes of one host must name the same certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Tls {
    /// PEM files something else put on the node (absolute paths).
    #[serde(rename_all = "camelCase")]
    Files {
        cert_path: PathBuf,
        key_path: PathBuf,
    },
    /// One of [`DesiredState::certificates`], by name.
    Certificate { name: String },
}

/// A certificate chain and its private key, PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// What routes call it, e.g. `namespace/secret`: `[A-Za-z0-9._/-]`.
    pub name: String,
    /// The leaf first, then intermediates.
    pub cert_pem: String,
    pub key_pem: PrivateKey,
}

/// PEM of a private key: never printed (`Debug` says `<redacted>`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrivateKey(pub String);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// The peers behind one upstream name (see [`Target::upstream_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upstream {
    pub name: String,
    #[serde(default)]
    pub peers: Vec<Peer>,
}

impl Upstream {
    /// The upstream of a Service port, from its ready endpoints.
    pub fn for_service(namespace: &str, name: &str, port: u16, peers: Vec<Peer>) -> Self {
        let target = Target::Service {
            namespace: namespace.into(),
            name: name.into(),
            port,
        };
        Upstream {
            name: target.upstream_name(),
            peers,
        }
    }

    /// A hand-written upstream for a service outside Kubernetes.
    pub fn external(name: &str, peers: Vec<Peer>) -> Self {
        Upstream {
            name: Target::External { name: name.into() }.upstream_name(),
            peers,
        }
    }
}

/// One backend address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    pub addr: SocketAddr,
    #[serde(default = "one")]
    pub weight: u32,
    /// Only used when no primary peer is left to try.
    #[serde(default)]
    pub backup: bool,
}

fn one() -> u32 {
    1
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        Peer {
            addr,
            weight: 1,
            backup: false,
        }
    }
}
