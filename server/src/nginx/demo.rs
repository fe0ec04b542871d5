//! The demo's nginx cluster: two nodes on loopback ports, each a real nginx master with its
//! own prefix and conf dir under `<data>/nginx/<node>/`, each followed by an in-process
//! agent exactly as `wharf ng-agent` runs beside a production nginx.

use anyhow::{Context, Result};
use kube::Client;
use ngx::{NginxPaths, NginxProcess, RenderOptions};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wharf_console::nginx::agent::{NodeAgent, NodeConfig};

/// The demo cluster's name (seeded by `crate::demo::seed::nginx`).
pub const CLUSTER: &str = "edge";
/// Nodes and the ports they prefer (http, https, control); taken ports fall back to free ones.
pub const NODES: &[(&str, u16, u16, u16)] =
    &[("node-1", 8081, 8443, 18081), ("node-2", 8082, 8444, 18082)];

pub struct DemoNode {
    pub name: String,
    pub http: SocketAddr,
    /// Where the TLS routes are served (the seeded `shop.alpha.demo`).
    pub https: SocketAddr,
    pub conf_dir: PathBuf,
    pub agent: NodeAgent,
    pub nginx: NginxProcess,
}

pub struct DemoNginx {
    pub nodes: Vec<DemoNode>,
}

fn port_or_free(preferred: u16) -> u16 {
    if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, preferred)).is_ok() {
        return preferred;
    }
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(preferred)
}

/// Absolute: nginx resolves a relative `-p` against its own working directory.
pub fn paths_of(data: &Path, node: &str, nginx_bin: &Path) -> NginxPaths {
    let data = std::path::absolute(data).unwrap_or_else(|_| data.to_path_buf());
    let root = data.join("nginx").join(node);
    NginxPaths::new(nginx_bin, root.join("prefix"), root.join("conf"))
}

/// Stops the nginx masters a previous demo left running (killed without Ctrl-C).
pub async fn stop_leftovers(data: &Path, nginx_bin: &Path) {
    for (node, _, _, _) in NODES {
        let paths = paths_of(data, node, nginx_bin);
        if paths.pid_file().exists() && paths.current_release().is_some() {
            let _ = ngx::nginx::signal(&paths, "stop").await;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Starts both nodes: the agent installs the first release, then nginx starts on it.
pub async fn start(
    client: &Client,
    data: &Path,
    nginx_bin: &Path,
    heartbeat: Duration,
) -> Result<DemoNginx> {
    let mut nodes = Vec::new();
    for (node, http, https, control) in NODES {
        let paths = paths_of(data, node, nginx_bin);
        paths.prepare()?;
        // Workers run as `nobody` when the demo runs as root: let them into the prefix.
        let root = paths
            .prefix
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for dir in [
            root.parent().map(Path::to_path_buf).unwrap_or_default(),
            root,
            paths.prefix.clone(),
        ] {
            let _ =
                std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        }
        let mut opts = RenderOptions::detect(port_or_free(*control));
        opts.listen_address = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let http = SocketAddr::from((Ipv4Addr::LOCALHOST, port_or_free(*http)));
        opts.http_port = Some(http.port());
        let https = SocketAddr::from((Ipv4Addr::LOCALHOST, port_or_free(*https)));
        opts.https_port = Some(https.port());
        opts.worker_processes = 1;
        opts.shared_dict_size = "4m".into();
        let control_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.control_port));
        let mut cfg = NodeConfig::new(CLUSTER, node, paths.clone(), opts);
        cfg.heartbeat = heartbeat;
        cfg.egress
            .allowed
            .push(crate::settings::DEMO_OUTSIDE.parse().expect("a CIDR"));
        let agent = NodeAgent::start(client.clone(), cfg)
            .await
            .with_context(|| format!("starting the agent of {node}"))?;
        let first = agent.first_apply(Duration::from_secs(30)).await?;
        if let Some(e) = first.last_error {
            anyhow::bail!("the first config of {node} failed: {}", e.message);
        }
        let nginx = NginxProcess::start(&paths, control_addr, Duration::from_secs(10))
            .await
            .with_context(|| format!("starting nginx for {node}"))?;
        nodes.push(DemoNode {
            name: node.to_string(),
            http,
            https,
            conf_dir: paths.conf_dir.clone(),
            agent,
            nginx,
        });
    }
    Ok(DemoNginx { nodes })
}

impl DemoNginx {
    /// Lines for the banner: where each node listens and a curl to try.
    pub fn banner(&self) -> String {
        let (_, _, tls_host) = crate::demo::seed::TLS_ROUTE;
        let mut out = String::from("  nginx cluster `edge` (routes: shop.alpha.demo, orders.alpha.demo, billing.beta.demo; shop also over HTTPS, self-signed):\n");
        for n in &self.nodes {
            out.push_str(&format!(
                "    {:<7} http://{}   https://{}   conf {}\n",
                n.name,
                n.http,
                n.https,
                n.conf_dir.display()
            ));
        }
        if let Some(n) = self.nodes.first() {
            out.push_str(&format!(
                "    try:    curl -H 'Host: shop.alpha.demo' http://{}/\n",
                n.http
            ));
            let port = n.https.port();
            out.push_str(&format!(
                "            curl -k --resolve {tls_host}:{port}:{} https://{tls_host}:{port}/\n",
                n.https.ip()
            ));
        }
        out
    }

    /// Stops nginx (TERM to each master) and the agents.
    pub async fn stop(self) {
        for n in self.nodes {
            let _ = n.nginx.stop().await;
        }
    }
}
