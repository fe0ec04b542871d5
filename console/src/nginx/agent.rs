//! `wharf ng-agent`: keeps one nginx server in step with an `NginxCluster`.
//!
//! Seven kube-runtime watchers (the cluster objects, tenants, routes, upstreams, Services,
//! EndpointSlices — or Endpoints before Kubernetes 1.21, see `super::endpoint_source` —
//! `kubernetes.io/tls` Secrets) fill reflector stores and bump one counter;
//! the feed task rebuilds the desired state (`crate::nginx::desired`, the same
//! translation the console validates with, plus the routes' certificates from
//! `crate::nginx::tls` over the Secrets of `super::secrets`)
//! on every bump and hands it to the `ngx::Agent` only when it differs from the last one
//! handed over. The engine renders, tests, swaps, reloads (coalesced) or pushes peers
//! without a reload (dynamic mode).
//!
//! Repair: the console sets the annotation `crds::nginx::repair_annotation(node)` on the
//! cluster to a new request id; the feed sees it, has the engine write a fresh release of
//! the rendered config and reload (throwing hand edits away), and reports the id as
//! `repaired`, so each request is carried out once, across agent restarts too.
//!
//! The status task merge-patches this node's entry of `status.nodes` whenever the engine's
//! status or the feed's notes (route errors, repairs) change, and on every heartbeat; on
//! the heartbeat it also re-reads the live files, so a hand edit shows as drift. The live
//! files and the drift diff go into the node's ConfigMap (`crds::nginx::node_configmap`)
//! when they change.

use super::endpoint_source::EndpointSource;
use super::secrets::{pair_in, reflect_tls_secrets};
use crate::egress::EgressPolicy;
use crate::nginx::desired::{desired_state_and_refusals, upstream_refusals, Inputs};
use crate::nginx::tls::TlsSecrets;
use crate::watchers::reflect;
use crds::nginx::{
    node_configmap, repair_annotation, NginxCluster, NginxNodeError, NginxNodeStatus, NginxRoute,
    NginxRouteError, NginxUpstream,
};
use crds::{Tenant, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::{Client, ResourceExt};
use ngx::{AgentConfig, ConvergerConfig, NginxPaths, RenderOptions};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One node's agent settings.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub cluster: String,
    pub node: String,
    pub paths: NginxPaths,
    pub render: RenderOptions,
    /// How often the status is written even without a change (and the files re-read).
    pub heartbeat: Duration,
    /// At most one reload per window.
    pub coalesce_window: Duration,
    /// Where external upstreams' servers may be (`--cluster-cidr`, `--egress-allow`).
    pub egress: EgressPolicy,
}

impl NodeConfig {
    pub fn new(cluster: &str, node: &str, paths: NginxPaths, render: RenderOptions) -> Self {
        NodeConfig {
            cluster: cluster.into(),
            node: node.into(),
            paths,
            render,
            heartbeat: Duration::from_secs(10),
            coalesce_window: Duration::from_millis(200),
            egress: EgressPolicy::default(),
        }
    }
}

struct Stores {
    clusters: Store<NginxCluster>,
    tenants: Store<Tenant>,
    routes: Store<NginxRoute>,
    upstreams: Store<NginxUpstream>,
    services: Store<Service>,
    slices: EndpointSource,
    secrets: Store<Secret>,
}

impl Stores {
    fn inputs(&self, egress: &EgressPolicy) -> Inputs {
        Inputs {
            egress: egress.clone(),
            tenants: self.tenants.state(),
            routes: self.routes.state(),
            upstreams: self.upstreams.state(),
            services: self.services.state(),
            slices: self.slices.slices(),
        }
    }
    async fn ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.clusters.wait_until_ready().await?;
        self.tenants.wait_until_ready().await?;
        self.routes.wait_until_ready().await?;
        self.upstreams.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.slices.wait_until_ready().await?;
        self.secrets.wait_until_ready().await
    }
}

/// A running node agent. Dropping it stops its tasks (nginx keeps serving what it has).
pub struct NodeAgent {
    pub engine: Arc<ngx::Agent>,
    pub config: NodeConfig,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Why an agent did not start, or applied nothing.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("asking the API server which APIs it serves")]
    Discovery(#[source] kube::Error),
    #[error("the cluster's objects were not listed within 60 s")]
    NotListed,
    #[error("starting the nginx engine")]
    Engine(#[source] ngx::Error),
    #[error("the agent applied nothing in time (does the NginxCluster exist?)")]
    NothingApplied,
    #[error("the agent stopped")]
    Stopped,
}

impl NodeAgent {
    /// Starts the watchers, waits for their first lists, starts the engine and the feed and
    /// status tasks.
    pub async fn start(client: Client, cfg: NodeConfig) -> Result<NodeAgent, AgentError> {
        let (tx, changed) = watch::channel(0u64);
        let (clusters, w1) = reflect(Api::<NginxCluster>::all(client.clone()), tx.clone());
        let (tenants, w2) = reflect(Api::<Tenant>::all(client.clone()), tx.clone());
        let (routes, w3) = reflect(Api::<NginxRoute>::all(client.clone()), tx.clone());
        let (upstreams, w4) = reflect(Api::<NginxUpstream>::all(client.clone()), tx.clone());
        let (services, w5) = reflect(Api::<Service>::all(client.clone()), tx.clone());
        let (slices, w6) = EndpointSource::watch(&client, tx.clone())
            .await
            .map_err(AgentError::Discovery)?;
        let (secrets, w7) = reflect_tls_secrets(client.clone(), tx);
        let mut tasks: Vec<JoinHandle<()>> = [w1, w2, w3, w4, w5, w6, w7]
            .into_iter()
            .map(tokio::spawn)
            .collect();
        let stores = Arc::new(Stores {
            clusters,
            tenants,
            routes,
            upstreams,
            services,
            slices,
            secrets,
        });
        let ready = tokio::time::timeout(Duration::from_secs(60), stores.ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            tasks.iter().for_each(JoinHandle::abort);
            return Err(AgentError::NotListed);
        }
        let engine = Arc::new(
            ngx::Agent::start(AgentConfig {
                converger: ConvergerConfig::new(cfg.paths.clone(), cfg.render.clone()),
                coalesce_window: cfg.coalesce_window,
            })
            .map_err(AgentError::Engine)?,
        );
        // The last repair carried out, as this node reported it before a restart: read before the
        // tasks start, so neither acts on (or reports) a stale value.
        let repaired = stores
            .clusters
            .state()
            .iter()
            .find(|c| c.name_any() == cfg.cluster)
            .and_then(|c| c.status.as_ref()?.nodes.get(&cfg.node)?.repaired.clone());
        let (notes_tx, notes) = watch::channel(Notes {
            route_errors: Vec::new(),
            repaired,
        });
        tasks.push(tokio::spawn(feed(
            stores.clone(),
            changed,
            engine.clone(),
            cfg.clone(),
            notes_tx,
        )));
        tasks.push(tokio::spawn(report(
            client,
            engine.clone(),
            cfg.clone(),
            notes,
        )));
        Ok(NodeAgent {
            engine,
            config: cfg,
            tasks,
        })
    }

    /// Waits until the engine applied (or installed) a state, or failed to.
    pub async fn first_apply(&self, within: Duration) -> Result<ngx::Status, AgentError> {
        let mut rx = self.engine.watch_status();
        let st = tokio::time::timeout(
            within,
            rx.wait_for(|s| s.rendered_sha.is_some() || s.last_error.is_some()),
        )
        .await
        .map_err(|_| AgentError::NothingApplied)?
        .map_err(|_| AgentError::Stopped)?
        .clone();
        Ok(st)
    }

    /// Resolves when a task ends (they are meant to run forever).
    pub async fn stopped(&mut self) {
        let _ = futures::future::select_all(self.tasks.iter_mut()).await;
    }
}

/// What the feed learns besides the desired state, for the node's status entry.
#[derive(Debug, Clone, Default, PartialEq)]
struct Notes {
    route_errors: Vec<NginxRouteError>,
    /// The last repair request carried out.
    repaired: Option<String>,
}

/// Desired state on every change; submitted only when it differs. Also carries out repair
/// requests.
async fn feed(
    stores: Arc<Stores>,
    mut changed: watch::Receiver<u64>,
    engine: Arc<ngx::Agent>,
    cfg: NodeConfig,
    notes: watch::Sender<Notes>,
) {
    let mut last: Option<ngx::DesiredState> = None;
    let mut tls = TlsSecrets::new(cfg.paths.nginx_bin.clone());
    let mut repaired = notes.borrow().repaired.clone();
    loop {
        changed.borrow_and_update();
        let found = stores
            .clusters
            .state()
            .into_iter()
            .find(|c| c.name_any() == cfg.cluster);
        match found {
            Some(c) => {
                let inputs = stores.inputs(&cfg.egress);
                let (mut desired, mut route_errors) = desired_state_and_refusals(&c, &inputs);
                let https = cfg.render.https_port.or(c.spec.listen.https).is_some();
                route_errors.extend(upstream_refusals(&c, &inputs));
                route_errors.extend(
                    tls.attach(&mut desired, &stores.routes.state(), https, |ns, name| {
                        pair_in(&stores.secrets, ns, name)
                    })
                    .await,
                );
                if last.as_ref() != Some(&desired) {
                    tracing::debug!(
                        routes = desired.routes.len(),
                        upstreams = desired.upstreams.len(),
                        "new desired state"
                    );
                    engine.submit(desired.clone());
                    last = Some(desired.clone());
                }
                if let Some(request) = repair_request(&c, &cfg.node, repaired.as_deref()) {
                    tracing::info!(%request, "repair requested: re-applying the rendered config");
                    match engine.repair(&desired).await {
                        Ok(outcome) => tracing::info!(?outcome, "repaired"),
                        Err(e) => tracing::warn!(error = %e, "repair failed"),
                    }
                    repaired = Some(request);
                }
                let now = Notes {
                    route_errors,
                    repaired: repaired.clone(),
                };
                notes.send_if_modified(|n| {
                    let differs = *n != now;
                    *n = now;
                    differs
                });
            }
            None => {
                if last.is_none() {
                    tracing::warn!(cluster = %cfg.cluster, "no such NginxCluster yet; waiting");
                }
            }
        }
        if changed.changed().await.is_err() {
            return;
        }
    }
}

/// A repair request for `node` not carried out yet: the annotation's value when it differs
/// from the last one handled.
fn repair_request(c: &NginxCluster, node: &str, handled: Option<&str>) -> Option<String> {
    c.annotations()
        .get(&repair_annotation(node))
        .filter(|asked| Some(asked.as_str()) != handled)
        .cloned()
}

fn node_status(s: &ngx::Status, notes: &Notes, heartbeat: Duration) -> NginxNodeStatus {
    NginxNodeStatus {
        mode: s.mode.map(|m| format!("{m:?}").to_lowercase()),
        nginx_version: s.nginx_version.clone(),
        generation: s.generation.and_then(|g| i64::try_from(g).ok()),
        rendered_sha: s.rendered_sha.clone(),
        on_disk_sha: s.on_disk_sha.clone(),
        last_error: s.last_error.as_ref().map(|e| NginxNodeError {
            at: e.at.to_rfc3339(),
            message: e.message.clone(),
            nginx_message: e.nginx.as_ref().map(|n| n.message.clone()),
            file: e
                .nginx
                .as_ref()
                .and_then(|n| n.file.as_ref())
                .map(|f| f.display().to_string()),
            line: e.nginx.as_ref().and_then(|n| n.line),
        }),
        last_reload: s.last_reload.map(|t| t.to_rfc3339()),
        reload_count: s.reload_count,
        peer_push_count: s.peer_push_count,
        heartbeat: Some(chrono::Utc::now().to_rfc3339()),
        heartbeat_seconds: u32::try_from(heartbeat.as_secs().max(1)).unwrap_or(u32::MAX),
        repaired: notes.repaired.clone(),
        route_errors: notes.route_errors.clone(),
    }
}

/// The live release as one text: each file under a `# ==> path <==` header.
pub fn live_files_text(paths: &NginxPaths) -> String {
    let Some(release) = paths.current_release() else {
        return String::new();
    };
    let Ok(tree) = ngx::layout::read_tree(&release) else {
        return String::new();
    };
    let mut out = String::new();
    for (path, text) in tree {
        out.push_str(&format!("# ==> {} <==\n", path.display()));
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Writes this node's status entry, and its ConfigMap when the files or the drift changed.
async fn report(
    client: Client,
    engine: Arc<ngx::Agent>,
    cfg: NodeConfig,
    mut notes: watch::Receiver<Notes>,
) {
    let clusters: Api<NginxCluster> = Api::all(client.clone());
    let maps: Api<ConfigMap> = Api::namespaced(client, SYSTEM_NAMESPACE);
    let mut status = engine.watch_status();
    let mut tick = tokio::time::interval(cfg.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published: Option<(Option<String>, String)> = None;
    loop {
        tokio::select! {
            r = status.changed() => if r.is_err() { return },
            r = notes.changed() => if r.is_err() { return },
            _ = tick.tick() => {}
        }
        // Re-reads the files: a hand edit changes on_disk_sha and the diff.
        let diff = match engine.drift().await {
            Ok(d) => d.map(|d| d.diff).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the live files");
                String::new()
            }
        };
        status.borrow_and_update();
        let st = engine.status();
        let noted = notes.borrow_and_update().clone();
        let mut entry =
            serde_json::to_value(node_status(&st, &noted, cfg.heartbeat)).unwrap_or_default();
        if let Some(o) = entry.as_object_mut() {
            // NB: a merge patch leaves out-of-patch keys alone; null clears the stale ones.
            for k in [
                "mode",
                "generation",
                "renderedSha",
                "onDiskSha",
                "lastError",
                "lastReload",
                "heartbeat",
                "repaired",
            ] {
                o.entry(k).or_insert(serde_json::Value::Null);
            }
        }
        let patch = serde_json::json!({"status": {"nodes": {cfg.node.clone(): entry}}});
        // NB: a merge patch carries no resourceVersion, yet an API server may still answer
        // 409 when another node's write races ours; retry a few times.
        for attempt in 1..=5 {
            match clusters
                .patch_status(&cfg.cluster, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 => break,
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "writing the node status");
                    break;
                }
            }
        }
        let now = (st.on_disk_sha.clone(), diff.clone());
        if published.as_ref() != Some(&now) {
            let name = node_configmap(&cfg.cluster, &cfg.node);
            let cm = ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(SYSTEM_NAMESPACE.into()),
                    labels: Some(BTreeMap::from([
                        ("wharf.dev/nginx-cluster".to_string(), cfg.cluster.clone()),
                        ("wharf.dev/nginx-node".to_string(), cfg.node.clone()),
                    ])),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([
                    ("config".to_string(), live_files_text(&cfg.paths)),
                    ("drift.diff".to_string(), diff),
                ])),
                ..Default::default()
            };
            let pp = PatchParams::apply(&format!("wharf-ng-agent-{}", cfg.node)).force();
            match maps.patch(&name, &pp, &Patch::Apply(&cm)).await {
                Ok(_) => published = Some(now),
                Err(e) => tracing::warn!(error = %e, "publishing the node's files"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repair_request_is_carried_out_once() {
        let mut c = NginxCluster::new("edge", Default::default());
        assert_eq!(repair_request(&c, "n1", None), None);
        c.annotations_mut()
            .insert(repair_annotation("n1"), "r1".into());
        assert_eq!(repair_request(&c, "n1", None).as_deref(), Some("r1"));
        assert_eq!(
            repair_request(&c, "n1", Some("r1")),
            None,
            "handled already (also after a restart)"
        );
        assert_eq!(
            repair_request(&c, "n2", None),
            None,
            "another node's request"
        );
        c.annotations_mut()
            .insert(repair_annotation("n1"), "r2".into());
        assert_eq!(repair_request(&c, "n1", Some("r1")).as_deref(), Some("r2"));
    }
}
