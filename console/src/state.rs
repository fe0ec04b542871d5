//! `AppState`: everything a server function needs, built once by the `wharf` binary and
//! handed to every request: inside a [`crate::Call`] (server functions) or as axum state
//! (WebSockets, downloads).

use crate::auth::SessionKey;
use crds::{NginxCluster, NginxRoute, NginxUpstream, Pipeline, PipelineRun, Tenant, User};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a session cookie stays valid.
    pub session_ttl_secs: i64,
    /// Mark cookies `Secure` (the console is served over TLS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// The nginx binary the console validates candidate configs with (`nginx -t`).
    pub nginx_bin: std::path::PathBuf,
    /// Prometheus, Alertmanager and the alert rule files (all unset: monitoring is off).
    pub monitoring: crate::monitoring::MonitoringSettings,
    /// Registries and builder images for pipelines.
    pub pipelines: crate::pipelines::PipelineSettings,
    /// The web terminal's debug-container image and session recordings.
    pub terminal: crate::terminal::TerminalOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { session_ttl_secs: 12 * 3600, secure_cookies: false, nginx_bin: "/usr/sbin/nginx".into(), monitoring: Default::default(), pipelines: Default::default(), terminal: Default::default() }
    }
}

/// The shared, watcher-fed view of the cluster. Every page reads from here; nothing lists
/// the API server per request.
#[derive(Clone)]
pub struct Cache {
    pub tenants: Store<Tenant>,
    pub users: Store<User>,
    pub deployments: Store<Deployment>,
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    /// nginx clusters, routes and external upstreams (the NgFront page).
    pub nginx_clusters: Store<NginxCluster>,
    pub nginx_routes: Store<NginxRoute>,
    pub nginx_upstreams: Store<NginxUpstream>,
    /// Pipelines and their runs (the pipeline pages).
    pub pipelines: Store<Pipeline>,
    pub pipeline_runs: Store<PipelineRun>,
    /// Bumped on every watched change; live views wait on it.
    pub changed: tokio::sync::watch::Receiver<u64>,
}

impl Cache {
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.get(&ObjectRef::new(name))
    }
    pub fn tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        self.tenants.get(&ObjectRef::new(name))
    }
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants.state()
    }

    /// A cache over the given pods and nothing else, for unit tests.
    #[cfg(test)]
    pub fn for_tests(pods: Store<Pod>) -> Cache {
        use kube::runtime::reflector::store;
        Cache {
            tenants: store().0,
            users: store().0,
            deployments: store().0,
            pods,
            services: store().0,
            nginx_clusters: store().0,
            nginx_routes: store().0,
            nginx_upstreams: store().0,
            pipelines: store().0,
            pipeline_runs: store().0,
            changed: tokio::sync::watch::channel(0).1,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub client: kube::Client,
    pub cache: Cache,
    pub session_key: SessionKey,
    pub settings: Arc<Settings>,
    /// A valid argon2 hash of nothing in particular: checked against for unknown users so
    /// that a failed login takes as long whether or not the name exists.
    pub dummy_hash: String,
    /// The log store the collector fills and the log viewer reads (see `crate::logs`).
    pub logs: logstore::Store,
    /// Alerts received from Alertmanager and the HTTP client for Prometheus.
    pub monitoring: crate::monitoring::Monitoring,
}

