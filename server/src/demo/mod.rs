//! `wharf demo`: the demo cluster in-process, seeded with two tenants, their users, an admin
//! and a few running apps, and the console in front of it. What it prints is what a person
//! needs: the URL and the demo credentials.

pub mod seed;
pub mod shared_logs;

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A `kube::Client` from kubeconfig YAML — the same path `wharf serve --kubeconfig` takes.
pub async fn client_from_kubeconfig_yaml(yaml: &str) -> Result<Client> {
    let kubeconfig = Kubeconfig::from_yaml(yaml).context("parsing the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")?;
    Client::try_from(config).context("building the Kubernetes client")
}

pub struct DemoOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub site_dir: PathBuf,
}

/// The demo cluster, started in-process; its kubeconfig is written beside its data.
pub async fn start_cluster(data_dir: &std::path::Path) -> Result<(sim::Sim, Client, PathBuf)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let kubeconfig_path = data_dir.join("kubeconfig");
    let cluster = sim::start(sim::SimConfig {
        listen: "127.0.0.1:0".parse()?,
        data_dir: Some(data_dir.join("cluster")),
        kubeconfig_out: Some(kubeconfig_path.clone()),
        nodes: 3,
    })
    .await
    .context("starting the demo cluster")?;
    let client = client_from_kubeconfig_yaml(&cluster.kubeconfig_yaml()).await?;
    Ok((cluster, client, kubeconfig_path))
}

pub fn banner(console: SocketAddr, kubeconfig: &std::path::Path) -> String {
    let mut out = String::new();
    out.push_str("\n  Wharf demo is running.\n\n");
    out.push_str(&format!("  Console:     http://{console}\n"));
    out.push_str(&format!(
        "  kubectl:     kubectl --kubeconfig {} get pods -A\n\n",
        kubeconfig.display()
    ));
    out.push_str("  Log in as (password for all: ");
    out.push_str(seed::DEMO_PASSWORD);
    out.push_str(")\n");
    for u in seed::USERS {
        out.push_str(&format!("    {:<8} {}\n", u.name, u.what));
    }
    out.push_str("\n  Stop with Ctrl-C. State is kept between runs; `--fresh` starts over.\n");
    out
}
