//! nginx end to end: a node agent (in-process, as `wharf ng-agent` runs it) in front of a
//! real nginx master on loopback ports, following the demo cluster; real HTTP through nginx
//! to the demo cluster's pods. And the console's NgFront functions over HTTP.

use crds::nginx::{NginxCluster, NginxClusterSpec, NginxListen, NginxRoute, NginxRouteSpec, RouteService};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use ngx::{Mode, NginxPaths, NginxProcess, RenderOptions};
use reqwest::StatusCode;
use serde_json::json;
use server::nginx::agent::{NodeAgent, NodeConfig};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use wharf_tests::{eventually, spawn_app, TestApp};

const NGINX: &str = "/usr/sbin/nginx";
const WITHIN: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One nginx server and its agent, in a temp dir with free ports.
struct Node {
    dir: tempfile::TempDir,
    paths: NginxPaths,
    opts: RenderOptions,
    http: SocketAddr,
    agent: Option<NodeAgent>,
    nginx: Option<NginxProcess>,
}

impl Node {
    fn new() -> Node {
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

    async fn start_agent(&mut self, app: &TestApp) {
        let mut cfg = NodeConfig::new("edge", "n1", self.paths.clone(), self.opts.clone());
        cfg.heartbeat = Duration::from_secs(1);
        let agent = NodeAgent::start(app.kube.clone(), cfg).await.expect("agent starts");
        let st = agent.first_apply(WITHIN).await.expect("first apply");
        assert!(st.last_error.is_none(), "{st:?}");
        self.agent = Some(agent);
    }

    async fn start(&mut self, app: &TestApp) {
        self.start_agent(app).await;
        let control = SocketAddr::from((Ipv4Addr::LOCALHOST, self.opts.control_port));
        self.nginx = Some(NginxProcess::start(&self.paths, control, Duration::from_secs(10)).await.expect("nginx starts"));
    }

    async fn hit(&self, host: &str) -> Option<(u16, String)> {
        ngx::http::get(self.http, host, "/").await.ok().map(|r| (r.status, r.body))
    }

    fn reloads(&self) -> usize {
        self.nginx.as_ref().map(|n| n.reloads_logged()).unwrap_or(0)
    }

    fn engine(&self) -> &ngx::Agent {
        &self.agent.as_ref().unwrap().engine
    }
}

async fn cluster(app: &TestApp) {
    let c = NginxCluster::new(
        "edge",
        NginxClusterSpec { display_name: "Edge".into(), tenants: vec!["alpha".into()], namespaces: vec![], listen: NginxListen { http: 8081, https: None }, defaults: Default::default() },
    );
    Api::<NginxCluster>::all(app.kube.clone()).create(&PostParams::default(), &c).await.unwrap();
}

async fn deploy(app: &TestApp, name: &str, replicas: i32, port: u16) {
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

async fn route(app: &TestApp, name: &str, host: &str, port: u16, directives: Vec<String>) {
    let mut r = NginxRoute::new(
        name,
        NginxRouteSpec { cluster: "edge".into(), host: host.into(), path: "/".into(), service: Some(RouteService { name: name.into(), port }), upstream: None, directives, tls_secret: None },
    );
    r.metadata.namespace = Some("alpha".into());
    Api::<NginxRoute>::namespaced(app.kube.clone(), "alpha").create(&PostParams::default(), &r).await.unwrap();
}

/// Which pods answered `n` requests through nginx (the demo pods' page names the pod).
async fn pods_answering(node: &Node, host: &str, n: usize) -> BTreeSet<String> {
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

#[tokio::test]
async fn a_new_service_becomes_routable_scaling_needs_no_reload_and_deletion_removes_it() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let mut node = Node::new();
    node.start(&app).await;
    assert_eq!(node.hit("shop.alpha.test").await.map(|r| r.0), Some(404), "nothing routed yet");

    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    eventually(WITHIN, "the new service answers through nginx", || async { (pods_answering(&node, "shop.alpha.test", 1).await.len() == 1).then_some(()) }).await.unwrap();

    let reloads = node.reloads();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    deployments.patch("shop", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}}))).await.unwrap();
    eventually(WITHIN, "three pods answer through nginx", || async { (pods_answering(&node, "shop.alpha.test", 12).await.len() == 3).then_some(()) }).await.unwrap();
    if node.opts.mode == Mode::Dynamic {
        assert_eq!(node.reloads(), reloads, "endpoint-only changes must not reload nginx in the dynamic mode");
        assert!(node.engine().status().peer_push_count >= 1);
    }

    Api::<Service>::namespaced(app.kube.clone(), "alpha").delete("shop", &DeleteParams::default()).await.unwrap();
    eventually(WITHIN, "a deleted service stops answering", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s != 200).map(|_| ()) }).await.unwrap();
    Api::<NginxRoute>::namespaced(app.kube.clone(), "alpha").delete("shop", &DeleteParams::default()).await.unwrap();
    eventually(WITHIN, "a deleted route falls to the default server", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s == 404).map(|_| ()) }).await.unwrap();
}

#[tokio::test]
async fn an_invalid_directive_is_rejected_and_the_old_config_keeps_serving() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec!["client_max_body_size 20m".into()]).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "the route answers", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s == 200).map(|_| ()) }).await.unwrap();

    // The console refuses it: validation shows nginx's message and line; apply stores nothing.
    let alice = app.login("alice").await.unwrap();
    let change = json!({"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": ["proxy_buffers 8"]});
    let (status, v) = alice.call("validate_nginx_change", json!({"tenant": "alpha", "change": change})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["nginx"]["message"].as_str().unwrap_or_default().contains("proxy_buffers"), "{v}");
    assert!(v["nginx"]["line"].as_u64().is_some(), "{v}");
    let (status, body) = alice.call("apply_nginx_change", json!({"tenant": "alpha", "change": change})).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let routes: Api<NginxRoute> = Api::namespaced(app.kube.clone(), "alpha");
    assert_eq!(routes.get("shop").await.unwrap().spec.directives, vec!["client_max_body_size 20m".to_string()]);

    // Written behind the console's back, the agent rejects it and nginx keeps the old config.
    let sha_before = node.engine().status().rendered_sha.clone();
    routes.patch("shop", &PatchParams::default(), &Patch::Merge(json!({"spec": {"directives": ["proxy_buffers 8"]}}))).await.unwrap();
    let clusters: Api<NginxCluster> = Api::all(app.kube.clone());
    let err = eventually(WITHIN, "the node reports nginx's message", || async {
        let c = clusters.get("edge").await.ok()?;
        c.status?.nodes.get("n1")?.last_error.clone()
    })
    .await
    .unwrap();
    assert!(err.nginx_message.as_deref().unwrap_or_default().contains("proxy_buffers"), "{err:?}");
    assert!(err.line.is_some(), "{err:?}");
    assert_eq!(node.engine().status().rendered_sha, sha_before);
    assert_eq!(node.hit("shop.alpha.test").await.map(|r| r.0), Some(200), "the old config keeps serving");
    let (_, views) = alice.call("nginx_clusters", json!({"tenant": "alpha"})).await.unwrap();
    assert_eq!(views[0]["nodes"][0]["state"], "Failing", "{views}");

    // A valid change through the console clears it.
    let good = json!({"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": ["client_max_body_size 30m"]});
    let (status, body) = alice.call("apply_nginx_change", json!({"tenant": "alpha", "change": good})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(WITHIN, "the node applies the valid change", || async {
        let live = std::fs::read_to_string(node.paths.current_link().join("servers/shop.alpha.test.conf")).ok()?;
        (live.contains("client_max_body_size 30m") && node.engine().status().last_error.is_none()).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_hand_edit_shows_as_drift_in_the_console() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    let admin = app.login("admin").await.unwrap();
    eventually(WITHIN, "the node is in sync", || async {
        let (_, v) = admin.call("nginx_clusters", json!({"tenant": "alpha"})).await.ok()?;
        (v[0]["nodes"][0]["state"] == "InSync").then_some(())
    })
    .await
    .unwrap();

    let file = node.paths.current_link().join("servers/shop.alpha.test.conf");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# edited by hand on the node\n");
    std::fs::write(&file, text).unwrap();
    eventually(WITHIN, "the console shows drift", || async {
        let (_, v) = admin.call("nginx_clusters", json!({"tenant": "alpha"})).await.ok()?;
        (v[0]["nodes"][0]["state"] == "Drifted").then_some(())
    })
    .await
    .unwrap();
    let diff = eventually(WITHIN, "the drift diff names the edit", || async {
        let (_, d) = admin.call("nginx_drift", json!({"tenant": "alpha", "cluster": "edge", "node": "n1"})).await.ok()?;
        let diff = d["diff"].as_str()?.to_string();
        diff.contains("+# edited by hand on the node").then_some(diff)
    })
    .await
    .unwrap();
    assert!(diff.contains("--- a/servers/shop.alpha.test.conf"), "{diff}");
    // The download is the node's files, hand edit included; a tenant of an alpha-only
    // cluster may read it too, another tenant may not.
    let get = |cookie: Option<String>| {
        let mut req = reqwest::Client::new().get(app.url("/download/nginx/alpha/edge/n1"));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap() }
    };
    let res = get(admin.cookie().map(String::from)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("# edited by hand on the node"));
    let alice = app.login("alice").await.unwrap();
    assert_eq!(get(alice.cookie().map(String::from)).await.status(), StatusCode::OK);
    let bob = app.login("bob").await.unwrap();
    assert_eq!(get(bob.cookie().map(String::from)).await.status(), StatusCode::FORBIDDEN);
    let (_, beta) = bob.call("nginx_clusters", json!({"tenant": "beta"})).await.unwrap();
    assert_eq!(beta, json!([]), "bob sees no cluster of alpha");
    drop(node.dir);
}

#[tokio::test]
async fn a_restarted_agent_converges_without_a_reload() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 2, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "both pods answer", || async { (pods_answering(&node, "shop.alpha.test", 8).await.len() == 2).then_some(()) }).await.unwrap();
    let sha = node.engine().status().rendered_sha.clone();
    let reloads = node.reloads();
    node.agent = None; // the agent dies; nginx keeps serving
    node.start_agent(&app).await;
    let st = node.engine().status();
    assert_eq!(st.rendered_sha, sha);
    assert!(st.in_sync(), "{st:?}");
    assert_eq!(st.reload_count, 0, "the restarted agent reloaded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node.reloads(), reloads, "nginx saw a reload");
    assert_eq!(node.hit("shop.alpha.test").await.map(|r| r.0), Some(200));
}

/// Benchmark, not a timed test: `cargo nextest run -p wharf-tests --test nginx --run-ignored only --no-capture`.
/// Event to traffic: from creating a Service (with ready pods) and its route to the first
/// request through nginx that reaches a pod, over 100 changes; p50 and p99.
#[tokio::test]
#[ignore]
async fn bench_event_to_traffic() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 2, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "the pods answer", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s == 200).map(|_| ()) }).await.unwrap();
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");
    let reloads = node.reloads();
    let mut took = Vec::new();
    for i in 0..100 {
        let name = format!("svc-{i}");
        let host = format!("h{i}.alpha.test");
        let s: Service = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "alpha"},
            "spec": {"selector": {"app": "shop"}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}))
        .unwrap();
        let start = std::time::Instant::now();
        services.create(&PostParams::default(), &s).await.unwrap();
        route(&app, &name, &host, 80, vec![]).await;
        loop {
            if let Some((200, _)) = node.hit(&host).await {
                break;
            }
            assert!(start.elapsed() < WITHIN, "{host} never answered");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(start.elapsed());
    }
    took.sort();
    let pct = |p: f64| took[((took.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "event to traffic ({:?} mode, new Service + route, {} changes): p50 {:?}, p99 {:?}, max {:?}; reloads {}",
        node.opts.mode,
        took.len(),
        pct(0.50),
        pct(0.99),
        took.last().unwrap(),
        node.reloads() - reloads
    );
}
