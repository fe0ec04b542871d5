//! `AppState`: everything a server function needs, built once by the `wharf` binary and
//! handed to every request: inside a [`crate::Call`] (server functions) or as axum state
//! (WebSockets, downloads).

use crate::auth::SessionKey;
use crds::{NginxCluster, NginxRoute, NginxUpstream, Pipeline, PipelineRun, Tenant, User};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a session cookie stays valid.
    pub session_ttl_secs: i64,
    /// Mark cookies `Secure` (the console is served over TLS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Origins besides the console's own (its `Host`) whose pages may call it, e.g. a reverse
    /// proxy's public `https://wharf.example.com` when the proxy rewrites `Host`.
    pub allowed_origins: Vec<String>,
    /// The nginx binary the console validates candidate configs with (`nginx -t`).
    pub nginx_bin: std::path::PathBuf,
    /// Prometheus, Alertmanager and the alert rule files (all unset: monitoring is off).
    pub monitoring: crate::monitoring::MonitoringSettings,
    /// Registries and builder images for pipelines.
    pub pipelines: crate::pipelines::PipelineSettings,
    /// The web terminal's debug-container image and session recordings.
    pub terminal: crate::terminal::TerminalOptions,
    /// The per-app APM switch's agent and collector.
    pub apm: crate::apm::ApmSettings,
    /// Where addresses tenants type (external upstreams, receivers) may lead.
    pub egress: crate::egress::EgressPolicy,
    /// Reverse proxies whose `X-Forwarded-For` names the client (login limits count per
    /// client; without this, everyone behind an ingress is one client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Login attempts per client and user name, argon2 checks at once.
    pub login_limits: crate::auth::throttle::Limits,
    /// What one log search may cost, and how many a user runs at once.
    pub log_search: crate::logs::SearchLimits,
    /// How often directory users' groups are re-read (see `crate::identity::sync`).
    pub directory_sync: std::time::Duration,
    /// The longest a session begun through OpenID Connect lasts before the user goes through
    /// the provider again (and their groups are read anew); see `crate::identity::oidc_login`.
    pub oidc_session: std::time::Duration,
    /// The console's URL as people's browsers reach it (`https://wharf.example.com`), for the
    /// redirect URIs identity providers send people back to; unset: each request's `Host`.
    pub public_url: Option<String>,
    /// The API server as nginx servers outside the cluster reach it, written into the
    /// kubeconfig of each node joined from the console (`--ng-agent-api-server`); the server
    /// sets it to its own kubeconfig's when not given.
    pub api_server_for_nodes: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            allowed_origins: Vec::new(),
            nginx_bin: "/usr/sbin/nginx".into(),
            monitoring: Default::default(),
            pipelines: Default::default(),
            terminal: Default::default(),
            apm: Default::default(),
            egress: Default::default(),
            trusted_proxies: Vec::new(),
            login_limits: Default::default(),
            log_search: Default::default(),
            directory_sync: std::time::Duration::from_secs(300),
            oidc_session: std::time::Duration::from_secs(3600),
            public_url: None,
            api_server_for_nodes: None,
        }
    }
}

/// The shared, watcher-fed view of the cluster. Every page reads from here; nothing lists
/// the API server per request.
#[derive(Clone)]
pub struct Cache {
    pub tenants: Store<Tenant>,
    pub users: Store<User>,
    pub deployments: Store<Deployment>,
    /// Apps with stable names and a claim per replica (databases, caches).
    pub statefulsets: Store<StatefulSet>,
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    /// nginx clusters, routes and external upstreams (the NgFront page).
    pub nginx_clusters: Store<NginxCluster>,
    pub nginx_routes: Store<NginxRoute>,
    pub nginx_upstreams: Store<NginxUpstream>,
    /// Pipelines and their runs (the pipeline pages).
    pub pipelines: Store<Pipeline>,
    pub pipeline_runs: Store<PipelineRun>,
    /// Users' API tokens: Secrets in `wharf-system` labelled as such (see `crate::auth::tokens`).
    pub tokens: Store<k8s_openapi::api::core::v1::Secret>,
    /// Company directories people sign in with (see `crate::identity`).
    pub providers: Store<crds::IdentityProvider>,
    /// One change counter per kind: a view waits only on the kinds it shows.
    pub changes: Changes,
}

/// One change counter per reflector, bumped on every event of its kind. A live view follows
/// only the kinds it shows ([`Changes::of`]), so a pipeline run finishing does not rebuild
/// every workloads page, nor a pod starting every NgFront page.
#[derive(Clone)]
pub struct Changes {
    pub tenants: watch::Receiver<u64>,
    pub users: watch::Receiver<u64>,
    pub deployments: watch::Receiver<u64>,
    pub statefulsets: watch::Receiver<u64>,
    pub pods: watch::Receiver<u64>,
    pub services: watch::Receiver<u64>,
    pub nginx_clusters: watch::Receiver<u64>,
    pub nginx_routes: watch::Receiver<u64>,
    pub nginx_upstreams: watch::Receiver<u64>,
    pub pipelines: watch::Receiver<u64>,
    pub pipeline_runs: watch::Receiver<u64>,
    pub tokens: watch::Receiver<u64>,
    pub providers: watch::Receiver<u64>,
}

impl Changes {
    /// Counters that never move, for unit tests.
    pub fn unchanging() -> Changes {
        let rx = || watch::channel(0).1;
        Changes {
            tenants: rx(),
            users: rx(),
            deployments: rx(),
            statefulsets: rx(),
            pods: rx(),
            services: rx(),
            nginx_clusters: rx(),
            nginx_routes: rx(),
            nginx_upstreams: rx(),
            pipelines: rx(),
            pipeline_runs: rx(),
            tokens: rx(),
            providers: rx(),
        }
    }

    /// A set of these counters to wait on together.
    pub fn of(&self, pick: impl FnOnce(&Changes) -> Vec<&watch::Receiver<u64>>) -> ChangeSet {
        ChangeSet(pick(self).into_iter().cloned().collect())
    }

    /// What a workloads view is built from.
    pub fn workloads(&self) -> ChangeSet {
        self.of(|c| vec![&c.deployments, &c.statefulsets, &c.pods, &c.services])
    }
}

/// Several change counters waited on as one.
pub struct ChangeSet(Vec<watch::Receiver<u64>>);

impl ChangeSet {
    /// One counter as a set (say, a ticker of one's own).
    pub fn single(rx: watch::Receiver<u64>) -> ChangeSet {
        ChangeSet(vec![rx])
    }

    /// Resolves when any counter moved since last seen; `Err` once a watcher is gone.
    pub async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.0.iter_mut().map(|rx| Box::pin(rx.changed()));
        futures::future::select_all(waits).await.0
    }

    /// Marks every counter's current value as seen.
    pub fn mark_seen(&mut self) {
        for rx in &mut self.0 {
            rx.borrow_and_update();
        }
    }

    /// Moves whenever any counter in the set moves.
    pub fn version(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, rx| sum.wrapping_add(*rx.borrow()))
    }
}

impl Cache {
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.get(&ObjectRef::new(name))
    }
    /// Waits (at most ten seconds) until the cached user satisfies `done`, so that a change
    /// the console just wrote holds for the very next request to this replica. Returns the
    /// user as cached then; `None` if it never did (the change still lands when the watch
    /// delivers it).
    pub async fn wait_for_user(
        &self,
        name: &str,
        done: impl Fn(&User) -> bool,
    ) -> Option<Arc<User>> {
        wait_until(self.changes.users.clone(), || {
            self.user(name).filter(|u| done(u))
        })
        .await
    }

    /// [`Cache::wait_for_user`] for tenants; `done` sees `None` for a tenant not (or no
    /// longer) there.
    pub async fn wait_for_tenant(&self, name: &str, done: impl Fn(Option<&Tenant>) -> bool) {
        wait_until(self.changes.tenants.clone(), || {
            let t = self.tenant(name);
            done(t.as_deref()).then_some(())
        })
        .await;
    }

    /// [`Cache::wait_for_tenant`] for nginx clusters.
    pub async fn wait_for_nginx_cluster(
        &self,
        name: &str,
        done: impl Fn(Option<&crds::nginx::NginxCluster>) -> bool,
    ) {
        wait_until(self.changes.nginx_clusters.clone(), || {
            let c = self.nginx_clusters.get(&ObjectRef::new(name));
            done(c.as_deref()).then_some(())
        })
        .await;
    }

    /// [`Cache::wait_for_user`] for an API token's Secret: until it is there (`present`) or
    /// gone.
    pub async fn wait_for_token(&self, name: &str, present: bool) {
        let key = ObjectRef::new(name).within(crds::SYSTEM_NAMESPACE);
        wait_until(self.changes.tokens.clone(), || {
            (self.tokens.get(&key).is_some() == present).then_some(())
        })
        .await;
    }

    /// [`Cache::wait_for_tenant`] for identity providers.
    pub async fn wait_for_provider(
        &self,
        name: &str,
        done: impl Fn(Option<&crds::IdentityProvider>) -> bool,
    ) {
        wait_until(self.changes.providers.clone(), || {
            let p = self.providers.get(&ObjectRef::new(name));
            done(p.as_deref()).then_some(())
        })
        .await;
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
            statefulsets: store().0,
            pods,
            services: store().0,
            nginx_clusters: store().0,
            nginx_routes: store().0,
            nginx_upstreams: store().0,
            pipelines: store().0,
            pipeline_runs: store().0,
            tokens: store().0,
            providers: store().0,
            changes: Changes::unchanging(),
        }
    }
}

/// Polls `ready` each time `changed` moves, for at most ten seconds (a watch event reaches the
/// cache in milliseconds; a loaded API server can take seconds, and a change the console
/// answered must be in force when its answer arrives).
async fn wait_until<T>(
    mut changed: watch::Receiver<u64>,
    ready: impl Fn() -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        changed.borrow_and_update();
        if let Some(found) = ready() {
            return Some(found);
        }
        if !matches!(
            tokio::time::timeout_at(deadline, changed.changed()).await,
            Ok(Ok(()))
        ) {
            tracing::warn!("a change the console wrote is not in its cache yet");
            return None;
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
    /// The console's own log store: what the collector fills (when there is no log bucket)
    /// and the audit records (see `crate::logs`, `crate::audit`).
    pub logs: logstore::Store,
    /// What the log viewer, downloads and the audit page read: `logs` alone, or every
    /// node's and console's store in the log bucket (see `logstore::federation`).
    pub log_reader: logstore::Federation,
    /// The console's own metrics (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// nginx's verdicts on the TLS pairs the console checked (see `crate::nginx`).
    pub tls_verdicts: crate::nginx::KnownVerdicts,
    /// Alerts received from Alertmanager and the HTTP client for Prometheus.
    pub monitoring: crate::monitoring::Monitoring,
    /// Login attempts counted per client and user name (see `crate::auth::throttle`).
    pub login_throttle: Arc<crate::auth::throttle::LoginThrottle>,
    /// Log searches running, per user (see `crate::logs::SearchLimits`).
    pub log_searches: Arc<crate::logs::Searches>,
    /// When this replica last recorded each API token's use (see `crate::auth::tokens`).
    pub token_uses: Arc<crate::auth::tokens::Uses>,
    /// OpenID Connect providers' discovery documents and keys (see `crate::identity::oidc`).
    pub oidc: Arc<crate::identity::oidc::Client>,
}
