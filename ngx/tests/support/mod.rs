//! Shared by the integration tests and the benchmark: tiny backends, free
//! ports, a node (prefix + conf dir + nginx) per test, deadline polling.

#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ngx::{
    AgentConfig, ClusterSpec, ConvergerConfig, Defaults, DesiredState, Listen, Mode, NginxPaths,
    NginxProcess, Peer, RenderOptions, Route, Target, Upstream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const NGINX: &str = "/usr/sbin/nginx";

/// An HTTP server on a loopback address that answers every request with its name.
pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    pub fn peer(&self) -> Peer {
        Peer::new(self.addr)
    }
}

/// Starts a backend on `127.0.0.<host>` and a free port.
pub async fn backend(host: u8, name: &str) -> Backend {
    let listener = TcpListener::bind((Ipv4Addr::new(127, 0, 0, host), 0))
        .await
        .expect("bind backend");
    let addr = listener.local_addr().unwrap();
    let body = name.to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(1024);
                let mut chunk = [0u8; 2048];
                loop {
                    // One request head per loop (GETs only: no bodies).
                    let end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    buf.drain(..end);
                    let close = head.starts_with("get") && head.contains("http/1.0")
                        || head.contains("connection: close");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}",
                        body.len(),
                        if close { "Connection: close\r\n" } else { "" },
                        body
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    Backend {
        addr,
        name: name.to_string(),
        task,
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it yields `Some` or the deadline passes (`wharf_testkit`).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wharf_testkit::eventually(timeout, what, f)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One nginx server under test: its own prefix, conf dir and ports.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub paths: NginxPaths,
    pub opts: RenderOptions,
    pub http: SocketAddr,
    pub nginx: Option<NginxProcess>,
}

impl Node {
    pub fn new(mode: Mode) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("wharf-ngx-test-")
            .tempdir()
            .unwrap();
        // Workers run as `nobody` when the tests run as root: let them in.
        let _ = std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        );
        let paths = NginxPaths::new(NGINX, dir.path().join("prefix"), dir.path().join("conf"));
        let mut opts = RenderOptions::detect(free_port());
        if mode == Mode::Dynamic {
            assert_eq!(opts.mode, Mode::Dynamic, "the lua module is not installed");
        }
        opts.mode = mode;
        opts.worker_processes = 1;
        opts.listen_address = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        opts.shared_dict_size = "4m".into();
        let http = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        Node {
            dir,
            paths,
            opts,
            http,
            nginx: None,
        }
    }

    pub fn converger_config(&self) -> ConvergerConfig {
        ConvergerConfig::new(self.paths.clone(), self.opts.clone())
    }

    pub fn agent_config(&self) -> AgentConfig {
        AgentConfig::new(self.converger_config())
    }

    pub fn control(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.opts.control_port))
    }

    /// Starts nginx on the installed release.
    pub async fn start_nginx(&mut self) {
        let p = NginxProcess::start(&self.paths, self.control(), Duration::from_secs(10))
            .await
            .expect("start nginx");
        self.nginx = Some(p);
    }

    pub fn reloads_logged(&self) -> usize {
        self.nginx.as_ref().map(|n| n.reloads_logged()).unwrap_or(0)
    }

    /// A state with this node's port and the given routes and upstreams.
    pub fn state(&self, routes: Vec<Route>, upstreams: Vec<Upstream>) -> DesiredState {
        DesiredState {
            generation: 1,
            cluster: ClusterSpec {
                name: "test".into(),
                listen: Listen {
                    http: self.http.port(),
                    https: None,
                },
                defaults: Defaults {
                    upstream_keepalive: 8,
                    ..Defaults::default()
                },
                tenants: vec![],
                namespaces: vec![],
                http_directives: vec![],
                server_directives: vec![],
            },
            routes,
            upstreams,
            certificates: vec![],
        }
    }

    /// GET through nginx: `(status, body)`, or `None` if nginx did not answer.
    pub async fn hit(&self, host: &str, path: &str) -> Option<(u16, String)> {
        ngx::http::get(self.http, host, path)
            .await
            .ok()
            .map(|r| (r.status, r.body))
    }

    pub fn live_file(&self, rel: &str) -> std::path::PathBuf {
        self.paths.current_link().join(rel)
    }

    pub fn releases(&self) -> usize {
        std::fs::read_dir(self.paths.releases())
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub fn conf_dir(&self) -> &Path {
        &self.paths.conf_dir
    }
}

pub fn route(name: &str, host: &str, path: &str, svc: &str) -> Route {
    Route {
        name: name.into(),
        host: host.into(),
        path: path.into(),
        target: Target::Service {
            namespace: "shop".into(),
            name: svc.into(),
            port: 80,
        },
        directives: vec![],
        tls: None,
    }
}

pub fn service(svc: &str, peers: Vec<Peer>) -> Upstream {
    Upstream::for_service("shop", svc, 80, peers)
}

/// A self-signed certificate for `host` and its key, PEM.
pub fn self_signed(host: &str) -> (String, String) {
    let (cert, key) = ngx::tls::self_signed(&[host.to_string()]).unwrap();
    (cert, key.0)
}
