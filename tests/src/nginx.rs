//! Helpers for tests and benchmarks that put real nginx in front of the demo cluster: one
//! nginx server with its `ng-agent` in a temp dir on free ports, the objects a route needs,
//! and a test certificate authority with an HTTPS client that trusts only it.

use crate::TestApp;
use crds::nginx::{
    NginxCluster, NginxClusterSpec, NginxListen, NginxRoute, NginxRouteSpec, RouteService,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use ngx::{Mode, NginxPaths, NginxProcess, RenderOptions};
use serde_json::json;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use wharf_console::nginx::agent::{NodeAgent, NodeConfig};

pub const NGINX: &str = "/usr/sbin/nginx";
pub const WITHIN: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One nginx server and its agent, in a temp dir with free ports.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub paths: NginxPaths,
    pub opts: RenderOptions,
    pub http: SocketAddr,
    /// Where TLS routes are served (the node's HTTPS port).
    pub https: SocketAddr,
    pub agent: Option<NodeAgent>,
    pub nginx: Option<NginxProcess>,
}

impl Default for Node {
    fn default() -> Self {
        Node::new()
    }
}

impl Node {
    /// A node in the mode this machine's nginx supports (dynamic with the lua module).
    pub fn new() -> Node {
        Node::with_mode(None)
    }

    /// A node in the given mode (`None`: detected).
    pub fn with_mode(mode: Option<Mode>) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("wharf-ng-it-")
            .tempdir()
            .unwrap();
        // Workers run as `nobody` when the tests run as root: let them in.
        let _ = std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        );
        let paths = NginxPaths::new(NGINX, dir.path().join("prefix"), dir.path().join("conf"));
        let mut opts = RenderOptions::detect(free_port());
        if let Some(m) = mode {
            opts.mode = m;
        }
        opts.worker_processes = 1;
        opts.listen_address = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        opts.shared_dict_size = "4m".into();
        let http = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        opts.http_port = Some(http.port());
        let https = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        opts.https_port = Some(https.port());
        Node {
            dir,
            paths,
            opts,
            http,
            https,
            agent: None,
            nginx: None,
        }
    }

    pub async fn start_agent(&mut self, app: &TestApp) {
        self.start_agent_with(app.kube.clone()).await
    }

    /// Starts the agent with a client of its own (the agent's ServiceAccount on a real cluster).
    pub async fn start_agent_with(&mut self, client: kube::Client) {
        let mut cfg = NodeConfig::new("edge", "n1", self.paths.clone(), self.opts.clone());
        cfg.heartbeat = Duration::from_secs(1);
        let agent = NodeAgent::start(client, cfg).await.expect("agent starts");
        let st = agent.first_apply(WITHIN).await.expect("first apply");
        assert!(st.last_error.is_none(), "{st:?}");
        self.agent = Some(agent);
    }

    pub async fn start(&mut self, app: &TestApp) {
        self.start_agent(app).await;
        let control = SocketAddr::from((Ipv4Addr::LOCALHOST, self.opts.control_port));
        self.nginx = Some(
            NginxProcess::start(&self.paths, control, Duration::from_secs(10))
                .await
                .expect("nginx starts"),
        );
    }

    pub async fn hit(&self, host: &str) -> Option<(u16, String)> {
        ngx::http::get(self.http, host, "/")
            .await
            .ok()
            .map(|r| (r.status, r.body))
    }

    /// Waits (up to [`WITHIN`]) until `host` answers 200 through this node; panics naming `what`.
    pub async fn wait_ok(&self, host: &str, what: &str) {
        crate::eventually(WITHIN, what, || async {
            self.hit(host).await.filter(|(s, _)| *s == 200).map(|_| ())
        })
        .await
        .unwrap();
    }

    pub fn reloads(&self) -> usize {
        self.nginx.as_ref().map(|n| n.reloads_logged()).unwrap_or(0)
    }

    /// Every file of the node's live configuration, concatenated (what nginx would load).
    pub fn live_config(&self) -> String {
        fn walk(dir: &std::path::Path, out: &mut String) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    out.push_str(&text);
                }
            }
        }
        let mut out = String::new();
        walk(&self.paths.conf_dir.join("current"), &mut out);
        out
    }

    pub fn engine(&self) -> &ngx::Agent {
        &self.agent.as_ref().unwrap().engine
    }
}

pub async fn cluster(app: &TestApp) {
    let c = NginxCluster::new(
        "edge",
        NginxClusterSpec {
            display_name: "Edge".into(),
            tenants: vec!["alpha".into()],
            namespaces: vec![],
            listen: NginxListen {
                http: 8081,
                https: None,
            },
            defaults: Default::default(),
            ..Default::default()
        },
    );
    Api::<NginxCluster>::all(app.kube.clone())
        .create(&PostParams::default(), &c)
        .await
        .unwrap();
}

pub async fn deploy(app: &TestApp, name: &str, replicas: i32, port: u16) {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": port}]}]}}}
    }))
    .unwrap();
    Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha"},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": port}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(app.kube.clone(), "alpha")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

pub async fn route(app: &TestApp, name: &str, host: &str, port: u16, directives: Vec<String>) {
    route_with_tls(app, name, host, port, directives, None).await
}

/// A route to the Service `name` that asks for the TLS secret `tls_secret`.
pub async fn route_with_tls(
    app: &TestApp,
    name: &str,
    host: &str,
    port: u16,
    directives: Vec<String>,
    tls_secret: Option<&str>,
) {
    let mut r = NginxRoute::new(
        name,
        NginxRouteSpec {
            cluster: "edge".into(),
            host: host.into(),
            path: "/".into(),
            service: Some(RouteService {
                name: name.into(),
                port,
            }),
            upstream: None,
            directives,
            tls_secret: tls_secret.map(String::from),
        },
    );
    r.metadata.namespace = Some("alpha".into());
    Api::<NginxRoute>::namespaced(app.kube.clone(), "alpha")
        .create(&PostParams::default(), &r)
        .await
        .unwrap();
}

/// Which pods answered `n` requests through nginx (the demo pods' page names the pod).
pub async fn pods_answering(node: &Node, host: &str, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        if let Some((200, body)) = node.hit(host).await {
            if let Some(pod) = pod_of(&body) {
                seen.insert(pod);
            }
        }
    }
    seen
}

/// The pod a demo pod's page names (`<dd id="pod">name</dd>`).
pub fn pod_of(body: &str) -> Option<String> {
    let rest = &body[body.find("id=\"pod\">")? + 9..];
    Some(rest[..rest.find('<')?].to_string())
}

/// A certificate authority for tests: issues server certificates for host names.
pub struct TestCa {
    pub cert_pem: String,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert_pem: cert.pem(),
            params,
            key,
        }
    }

    /// A server certificate for `host` and its key, PEM.
    pub fn issue(&self, host: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = rcgen::Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// An HTTPS client that trusts this CA only and sends `host` to `addr`. It keeps no
    /// connection, so each request makes a full handshake and checks the certificate.
    pub fn client(&self, addr: SocketAddr, host: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap())
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .resolve(host, addr)
            .build()
            .unwrap()
    }
}

/// Creates or replaces the `kubernetes.io/tls` Secret `name` in alpha.
pub async fn tls_secret(app: &TestApp, name: &str, cert_pem: &str, key_pem: &str) {
    use k8s_openapi::ByteString;
    let s = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("alpha".into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(
            [
                (
                    "tls.crt".to_string(),
                    ByteString(cert_pem.as_bytes().to_vec()),
                ),
                (
                    "tls.key".to_string(),
                    ByteString(key_pem.as_bytes().to_vec()),
                ),
            ]
            .into(),
        ),
        ..Default::default()
    };
    let pp = PatchParams::apply("wharf-tests").force();
    Api::<Secret>::namespaced(app.kube.clone(), "alpha")
        .patch(name, &pp, &Patch::Apply(&s))
        .await
        .unwrap();
}

/// `GET https://host/` through the node's HTTPS port by a fresh client trusting only `ca`:
/// `(status, body)`, or the error as text (a certificate the client does not trust, nothing
/// listening...).
pub async fn https_get(ca: &TestCa, node: &Node, host: &str) -> Result<(u16, String), String> {
    let client = ca.client(node.https, host);
    let res = client
        .get(format!("https://{host}:{}/", node.https.port()))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = res.status().as_u16();
    Ok((status, res.text().await.map_err(|e| e.to_string())?))
}

/// A ready endpoint of a demo pod: its address, port, and the pod's name (which its page shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodEndpoint {
    pub ip: String,
    pub port: u16,
    pub pod: String,
}

/// The ready endpoints of the Service `name` in alpha, once there are `want` of them.
pub async fn ready_endpoints(app: &TestApp, name: &str, want: usize) -> Vec<PodEndpoint> {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let slices: Api<EndpointSlice> = Api::namespaced(app.kube.clone(), "alpha");
    let lp = kube::api::ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    crate::eventually(
        WITHIN,
        &format!("{want} ready endpoints of {name}"),
        || async {
            let mut out = Vec::new();
            for s in slices.list(&lp).await.ok()?.items {
                let port = s.ports.as_ref()?.first()?.port? as u16;
                for e in &s.endpoints {
                    if e.conditions.as_ref().and_then(|c| c.ready) == Some(true) {
                        let pod = e
                            .target_ref
                            .as_ref()
                            .and_then(|r| r.name.clone())
                            .unwrap_or_default();
                        out.extend(e.addresses.iter().map(|ip| PodEndpoint {
                            ip: ip.clone(),
                            port,
                            pod: pod.clone(),
                        }));
                    }
                }
            }
            out.sort_by(|a, b| a.pod.cmp(&b.pod));
            (out.len() == want).then_some(out)
        },
    )
    .await
    .unwrap()
}

/// A Service without a selector and its one EndpointSlice, which the caller rewrites (with
/// [`set_endpoints`]) as an endpoints controller would: endpoint changes without pod churn.
pub async fn manual_service(app: &TestApp, name: &str, port: u16, endpoints: &[PodEndpoint]) {
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha"},
        "spec": {"ports": [{"name": "http", "port": port}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(app.kube.clone(), "alpha")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let slice: k8s_openapi::api::discovery::v1::EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": endpoints.first().map(|e| e.port).unwrap_or(80), "protocol": "TCP"}],
        "endpoints": endpoint_list(endpoints)
    }))
    .unwrap();
    Api::<k8s_openapi::api::discovery::v1::EndpointSlice>::namespaced(app.kube.clone(), "alpha")
        .create(&PostParams::default(), &slice)
        .await
        .unwrap();
}

fn endpoint_list(endpoints: &[PodEndpoint]) -> serde_json::Value {
    endpoints.iter().map(|e| json!({"addresses": [e.ip], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "namespace": "alpha", "name": e.pod}})).collect()
}

/// Replaces the endpoints of a [`manual_service`]'s slice (one merge patch: one watch event).
pub async fn set_endpoints(app: &TestApp, name: &str, endpoints: &[PodEndpoint]) {
    let slices: Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        Api::namespaced(app.kube.clone(), "alpha");
    slices
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"endpoints": endpoint_list(endpoints)})),
        )
        .await
        .unwrap();
}
