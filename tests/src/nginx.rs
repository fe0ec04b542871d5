//! Helpers for tests and benchmarks that put real nginx in front of the demo cluster: one
//! nginx server with its `ng-agent` in a temp dir on free ports, and the objects a route needs.

use crate::TestApp;
use crds::nginx::{NginxCluster, NginxClusterSpec, NginxListen, NginxRoute, NginxRouteSpec, RouteService};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use ngx::{NginxPaths, NginxProcess, RenderOptions};
use serde_json::json;
use server::nginx::agent::{NodeAgent, NodeConfig};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const NGINX: &str = "/usr/sbin/nginx";
pub const WITHIN: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One nginx server and its agent, in a temp dir with free ports.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub paths: NginxPaths,
    pub opts: RenderOptions,
    pub http: SocketAddr,
    pub agent: Option<NodeAgent>,
    pub nginx: Option<NginxProcess>,
}

impl Node {
    pub fn new() -> Node {
        let dir = tempfile::Builder::new().prefix("wharf-ng-it-").tempdir().unwrap();
        // Workers run as `nobody` when the tests run as root: let them in.
        let _ = std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755));
        let paths = NginxPaths::new(NGINX, dir.path().join("prefix"), dir.path().join("conf"));
        let mut opts = RenderOptions::detect(free_port());
        opts.worker_processes = 1;
        opts.listen_address = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        opts.shared_dict_size = "4m".into();
        let http = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        opts.http_port = Some(http.port());
        Node { dir, paths, opts, http, agent: None, nginx: None }
    }

    pub async fn start_agent(&mut self, app: &TestApp) {
        let mut cfg = NodeConfig::new("edge", "n1", self.paths.clone(), self.opts.clone());
        cfg.heartbeat = Duration::from_secs(1);
        let agent = NodeAgent::start(app.kube.clone(), cfg).await.expect("agent starts");
        let st = agent.first_apply(WITHIN).await.expect("first apply");
        assert!(st.last_error.is_none(), "{st:?}");
        self.agent = Some(agent);
    }

    pub async fn start(&mut self, app: &TestApp) {
        self.start_agent(app).await;
        let control = SocketAddr::from((Ipv4Addr::LOCALHOST, self.opts.control_port));
        self.nginx = Some(NginxProcess::start(&self.paths, control, Duration::from_secs(10)).await.expect("nginx starts"));
    }

    pub async fn hit(&self, host: &str) -> Option<(u16, String)> {
        ngx::http::get(self.http, host, "/").await.ok().map(|r| (r.status, r.body))
    }

    pub fn reloads(&self) -> usize {
        self.nginx.as_ref().map(|n| n.reloads_logged()).unwrap_or(0)
    }

    pub fn engine(&self) -> &ngx::Agent {
        &self.agent.as_ref().unwrap().engine
    }
}

pub async fn cluster(app: &TestApp) {
    let c = NginxCluster::new(
        "edge",
        NginxClusterSpec { display_name: "Edge".into(), tenants: vec!["alpha".into()], namespaces: vec![], listen: NginxListen { http: 8081, https: None }, defaults: Default::default() },
    );
    Api::<NginxCluster>::all(app.kube.clone()).create(&PostParams::default(), &c).await.unwrap();
}

pub async fn deploy(app: &TestApp, name: &str, replicas: i32, port: u16) {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": port}]}]}}}
    }))
    .unwrap();
    Api::<Deployment>::namespaced(app.kube.clone(), "alpha").create(&PostParams::default(), &d).await.unwrap();
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha"},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": port}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(app.kube.clone(), "alpha").create(&PostParams::default(), &s).await.unwrap();
}

pub async fn route(app: &TestApp, name: &str, host: &str, port: u16, directives: Vec<String>) {
    let mut r = NginxRoute::new(
        name,
        NginxRouteSpec { cluster: "edge".into(), host: host.into(), path: "/".into(), service: Some(RouteService { name: name.into(), port }), upstream: None, directives, tls_secret: None },
    );
    r.metadata.namespace = Some("alpha".into());
    Api::<NginxRoute>::namespaced(app.kube.clone(), "alpha").create(&PostParams::default(), &r).await.unwrap();
}

/// Which pods answered `n` requests through nginx (the demo pods' page names the pod).
pub async fn pods_answering(node: &Node, host: &str, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        if let Some((200, body)) = node.hit(host).await {
            if let Some(pod) = body.split_whitespace().find(|w| w.starts_with("shop-")) {
                seen.insert(pod.trim_matches(|c: char| !c.is_alphanumeric() && c != '-').to_string());
            }
        }
    }
    seen
}

