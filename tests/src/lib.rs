//! Helpers for the integration tests: [`spawn_app`] starts a demo cluster (in memory, port 0)
//! and the console in front of it, exactly as `wharf demo` does (log store in a temporary
//! folder, log collector running), and returns handles to talk to both over real HTTP.
//! [`spawn_real_app`] does the same over a real kube-apiserver, the console running with the
//! ServiceAccount and roles of `deploy/wharf.yaml`; [`on_both_clusters!`] runs one test body
//! against each.

pub mod ldap;
pub mod nginx;
pub mod oidc;
pub mod prometheus;
pub mod real;

use anyhow::{Context, Result};
use reqwest::StatusCode;
use serde_json::Value;
use server::application::{Application, Launch};
use std::net::SocketAddr;
use std::time::Duration;

pub use server::demo::seed::DEMO_PASSWORD;

pub struct TestApp {
    pub addr: SocketAddr,
    /// An administrator's client, for arranging and checking cluster state (on the demo
    /// cluster the console's own).
    pub kube: kube::Client,
    pub cluster: Cluster,
    /// The console's state (its cache, its log store), for tests that look inside.
    pub state: wharf_console::state::AppState,
    /// The log store's folder (the store is `state.logs`).
    pub logs_dir: tempfile::TempDir,
    /// The running log collector.
    pub collector: tokio::task::JoinHandle<()>,
    _site: tempfile::TempDir,
    _artifacts: tempfile::TempDir,
}

pub async fn spawn_app() -> Result<TestApp> {
    spawn_app_with(Default::default(), "127.0.0.1:0".parse()?).await
}

/// [`spawn_app`] with the given settings (e.g. monitoring) and console address.
pub async fn spawn_app_with(
    settings: wharf_console::state::Settings,
    listen: SocketAddr,
) -> Result<TestApp> {
    let (cluster, kube) = demo_cluster(2).await?;
    let mut settings = settings;
    // As `wharf demo` does: no shells but a platform admin's where containers run unconfined.
    if settings.terminal.unconfined.is_none() {
        settings.terminal.unconfined = cluster.sandbox_unavailable();
    }
    // As `wharf demo` does: nginx nodes joined from the console reach the demo cluster here.
    settings
        .api_server_for_nodes
        .get_or_insert_with(|| format!("https://{}", cluster.addr()));
    let logs_dir = tempfile::tempdir()?;
    let logs = logstore::Store::open_path(logs_dir.path(), logstore::Config::default())?;
    let console = start_console(kube.clone(), settings, logs, listen).await?;
    Ok(TestApp {
        addr: console.addr,
        kube,
        cluster: Cluster::Demo(cluster),
        state: console.state,
        logs_dir,
        collector: console.collector,
        _site: console.site,
        _artifacts: console.artifacts,
    })
}

/// The cluster a [`TestApp`]'s console runs against.
pub enum Cluster {
    Demo(sim::Sim),
    Real(wharf_testkit::RealCluster),
}

impl Cluster {
    /// The demo cluster, for tests that reach inside it (its store, its kubeconfig).
    pub fn sim(&self) -> &sim::Sim {
        match self {
            Cluster::Demo(sim) => sim,
            Cluster::Real(_) => panic!("this test needs the demo cluster"),
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Cluster::Real(_))
    }
}

/// A fresh demo cluster (in memory, port 0) of `nodes` nodes with Wharf's CRDs and the demo's
/// tenants and users, and a client of it.
pub async fn demo_cluster(nodes: usize) -> Result<(sim::Sim, kube::Client)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = sim::start(sim::SimConfig {
        listen: "127.0.0.1:0".parse()?,
        data_dir: None,
        kubeconfig_out: None,
        nodes,
    })
    .await?;
    let kube = server::demo::client_from_kubeconfig_yaml(&cluster.kubeconfig_yaml()).await?;
    server::bootstrap::install_crds(&kube).await?;
    server::demo::seed::identities(&kube).await?;
    Ok((cluster, kube))
}

/// A console started over a cluster by the one `Application`, running until the test ends.
pub struct Console {
    pub addr: SocketAddr,
    pub state: wharf_console::state::AppState,
    /// The log collector, out of the application's supervision (a test may stop it).
    pub collector: tokio::task::JoinHandle<()>,
    /// The stand-in site it serves (removed when dropped).
    pub site: tempfile::TempDir,
    /// Where its uploaded artifacts are kept (removed when dropped).
    pub artifacts: tempfile::TempDir,
}

/// Starts a console over `kube` (already bootstrapped or not: the application does it) with
/// these settings and log store, on `listen` (port 0: a free one).
pub async fn start_console(
    kube: kube::Client,
    settings: wharf_console::state::Settings,
    logs: logstore::Store,
    listen: SocketAddr,
) -> Result<Console> {
    let site = site_dir()?;
    let artifacts = tempfile::tempdir()?;
    let mut settings = settings;
    settings.pipelines.artifacts.dir = artifacts.path().to_path_buf();
    let launch = Launch {
        listen,
        site_dir: site.path().to_path_buf(),
        logs,
        shared_logs: None,
        retention: None,
    };
    let mut application = Application::build(kube, settings, launch).await?;
    let collector = application
        .take_collector()
        .context("the application runs a log collector")?;
    let (addr, state) = (application.addr(), application.state().clone());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    Ok(Console {
        addr,
        state,
        collector,
        site,
        artifacts,
    })
}

/// A folder standing in for Trunk's output (the tests talk to the API, not the pages).
pub fn site_dir() -> Result<tempfile::TempDir> {
    let site = tempfile::tempdir()?;
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>Wharf</title>",
    )?;
    Ok(site)
}

/// Serves the console's router over an existing state (say, with other settings) on a free
/// port, as a second replica in front of the same caches would.
pub async fn serve_state(
    state: wharf_console::state::AppState,
    site: &std::path::Path,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = server::console::router(state, site.to_path_buf());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

/// A WebSocket as the tests hold it.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestApp {
    /// Opens the WebSocket at `path` as `who` would (their session cookie, or none); a
    /// refusal before the upgrade is `Err(HTTP status)`.
    pub async fn open_socket(
        &self,
        path: &str,
        who: Option<&Session>,
    ) -> std::result::Result<Socket, u16> {
        self.open_socket_with(path, who, &[]).await
    }

    /// [`Self::open_socket`] with more request headers (`origin`, as a browser sends it).
    pub async fn open_socket_with(
        &self,
        path: &str,
        who: Option<&Session>,
        headers: &[(&'static str, &str)],
    ) -> std::result::Result<Socket, u16> {
        use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Error};
        let mut req = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .expect("a WebSocket URL");
        if let Some(cookie) = who.and_then(Session::cookie) {
            req.headers_mut().insert(
                "cookie",
                HeaderValue::from_str(cookie).expect("a cookie header"),
            );
        }
        if let Some(token) = who.and_then(|s| s.bearer.as_deref()) {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).expect("a token header"),
            );
        }
        for (name, value) in headers {
            req.headers_mut()
                .insert(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((socket, _)) => Ok(socket),
            Err(Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("connecting to {path}: {e}"),
        }
    }

    /// The status a WebSocket handshake to `path` ends with: 101 when upgraded, else the refusal.
    pub async fn handshake(&self, path: &str, who: Option<&Session>) -> u16 {
        self.open_socket(path, who)
            .await
            .map(|_| 101)
            .unwrap_or_else(|status| status)
    }
}

/// A browser-like HTTP client: keeps the session cookie the server set and sends it back.
pub struct Session {
    pub http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    /// An API token sent as `Authorization: Bearer` (a script's client has no cookie).
    bearer: Option<String>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A client without a session.
    pub fn anonymous(&self) -> Session {
        Session::anonymous_at(self.addr)
    }

    /// A script's client: no session, `token` sent as `Authorization: Bearer`.
    pub fn with_token(&self, token: &str) -> Session {
        Session {
            bearer: Some(token.to_string()),
            ..self.anonymous()
        }
    }

    /// A client logged in as `user` (one of the demo users).
    pub async fn login(&self, user: &str) -> Result<Session> {
        self.login_with(user, DEMO_PASSWORD).await
    }

    /// A client logged in as `user` with `password`.
    pub async fn login_with(&self, user: &str, password: &str) -> Result<Session> {
        Session::login_at(self.addr, user, password).await
    }
}

impl Session {
    /// A client without a session of the console at `addr`.
    pub fn anonymous_at(addr: SocketAddr) -> Session {
        Session {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: format!("http://{addr}"),
            cookie: None,
            bearer: None,
        }
    }

    /// A client logged in as `user` with `password` at the console at `addr` (one replica
    /// of several, say).
    pub async fn login_at(addr: SocketAddr, user: &str, password: &str) -> Result<Session> {
        let mut s = Session::anonymous_at(addr);
        let res = s
            .http
            .post(format!("{}/api/login", s.base))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await?;
        anyhow::ensure!(
            res.status() == StatusCode::OK,
            "login as {user} failed: {}",
            res.status()
        );
        let set_cookie = res
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .context("login set no cookie")?
            .to_str()?
            .to_string();
        s.cookie = Some(set_cookie.split(';').next().unwrap_or_default().to_string());
        Ok(s)
    }
}

/// The role `whoami`'s answer `me` gives in `tenant`, if any.
pub fn role_in(me: &Value, tenant: &str) -> Option<String> {
    me["tenants"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == tenant)
        .and_then(|t| t["role"].as_str())
        .map(str::to_string)
}

impl Session {
    /// Deploys `name` through the deploy form (nginx:1.25, `replicas`, listening on `port`,
    /// no limits) into the namespace named like `tenant`; panics unless it is accepted.
    pub async fn deploy(&self, tenant: &str, name: &str, replicas: u32, port: u16) {
        let form = serde_json::json!({"namespace": tenant, "name": name, "image": "nginx:1.25",
            "replicas": replicas, "port": port, "env": [],
            "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""});
        let (status, body) = self
            .call(
                "deploy_app",
                serde_json::json!({"tenant": tenant, "form": form}),
            )
            .await
            .expect("deploy_app answers");
        assert_eq!(status, StatusCode::OK, "deploying {name}: {body}");
    }

    /// Calls a server function expected to refuse: its status and the error's English and
    /// Chinese (`{"Invalid": {"en", "zh"}}` and the like; empty when the answer is no error).
    pub async fn refused(&self, endpoint: &str, args: Value) -> (StatusCode, String, String) {
        let (status, body) = self.call(endpoint, args).await.expect("the call answers");
        let text = body
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_default();
        (
            status,
            text["en"].as_str().unwrap_or_default().to_string(),
            text["zh"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Calls a server function by its endpoint name with JSON arguments.
    pub async fn call(&self, endpoint: &str, args: Value) -> Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .json(&args);
        if let Some(c) = &self.cookie {
            req = req.header(reqwest::header::COOKIE, c);
        }
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.context("calling the server function")?;
        let status = res.status();
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }

    /// Takes the session cookie from an answer that set one (a password change renews it).
    pub fn renew(&mut self, set_cookie: &str) {
        self.cookie = Some(set_cookie.split(';').next().unwrap_or_default().to_string());
    }

    /// The same session in another client (a cookie captured, say, before a logout).
    pub fn copy(&self) -> Session {
        Session {
            http: self.http.clone(),
            base: self.base.clone(),
            cookie: self.cookie.clone(),
            bearer: self.bearer.clone(),
        }
    }

    /// Calls a server function and returns the answer's `Set-Cookie` too.
    pub async fn call_for_cookie(
        &self,
        endpoint: &str,
        args: Value,
    ) -> Result<(StatusCode, Value, Option<String>)> {
        let mut req = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .json(&args);
        if let Some(c) = &self.cookie {
            req = req.header(reqwest::header::COOKIE, c);
        }
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.context("calling the server function")?;
        let status = res.status();
        let cookie = res
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body, cookie))
    }

    /// This client, sending `token` as `Authorization: Bearer` besides its cookie.
    pub fn with_bearer(self, token: &str) -> Session {
        Session {
            bearer: Some(token.to_string()),
            ..self
        }
    }

    /// The `Cookie` header of this session, for WebSocket handshakes.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }
}

/// Polls `check` until it returns `Some`, or fails after `within` naming what it waited for.
pub use wharf_testkit::eventually;
