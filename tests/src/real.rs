//! The console over a real kube-apiserver (`wharf_testkit::RealCluster`), set up the way
//! `deploy/` installs it: the namespace, ServiceAccounts and roles of `deploy/wharf.yaml`
//! applied by an administrator, and the console running with a token of its own
//! ServiceAccount, so a right the manifest forgot fails the test as it would fail in a
//! cluster.

use crate::{start_console, Cluster, TestApp};
use anyhow::{Context, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use std::net::SocketAddr;
use wharf_testkit::{Parts, RealCluster};

/// `deploy/wharf.yaml`, as installers apply it.
pub const MANIFEST: &str = include_str!("../../deploy/wharf.yaml");

/// The console's ServiceAccount in `deploy/wharf.yaml`.
pub const SERVICE_ACCOUNT: (&str, &str) = ("wharf-system", "wharf");

/// Applies every object of `manifest` except workloads (the console runs in the test, not
/// as the manifest's Deployment) with server-side apply, as `kubectl apply --server-side`
/// would.
pub async fn apply_manifest(client: &kube::Client, manifest: &str) -> Result<()> {
    use serde::Deserialize;
    for doc in serde_yaml::Deserializer::from_str(manifest) {
        let value = serde_yaml::Value::deserialize(doc)?;
        if value.is_null() {
            continue;
        }
        let obj: DynamicObject = serde_yaml::from_value(value)?;
        let types = obj
            .types
            .clone()
            .context("an object without apiVersion/kind")?;
        if ["Deployment", "Service"].contains(&types.kind.as_str()) {
            continue;
        }
        let gvk = kube::api::GroupVersionKind::try_from(&types)?;
        let (resource, caps): (ApiResource, ApiCapabilities) =
            kube::discovery::pinned_kind(client, &gvk).await?;
        let api: Api<DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            _ => Api::all_with(client.clone(), &resource),
        };
        let name = obj
            .metadata
            .name
            .clone()
            .context("an object without a name")?;
        api.patch(
            &name,
            &PatchParams::apply("wharf-tests").force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying {} {name}", types.kind))?;
    }
    Ok(())
}

/// A real cluster with `deploy/wharf.yaml`'s accounts and roles, the console's CRDs (installed
/// by the console's own account) and the demo's tenants and users; returns the cluster, an
/// administrator's client, and the console's client.
pub async fn prepared_cluster() -> Result<(RealCluster, kube::Client, kube::Client)> {
    let real = RealCluster::start(Parts::ALL).await;
    let admin = real.client().await;
    apply_manifest(&admin, MANIFEST).await?;
    let (ns, name) = SERVICE_ACCOUNT;
    let console =
        wharf_testkit::real_cluster::client_from(&real.service_account_kubeconfig(ns, name).await)
            .await;
    server::bootstrap::install_crds(&console)
        .await
        .context("the console's account installs its CRDs")?;
    server::demo::seed::identities(&admin).await?;
    Ok((real, admin, console))
}

/// [`crate::spawn_app`] over a real kube-apiserver.
pub async fn spawn_real_app() -> Result<TestApp> {
    spawn_real_app_with(Default::default(), "127.0.0.1:0".parse()?).await
}

pub async fn spawn_real_app_with(
    settings: wharf_console::state::Settings,
    listen: SocketAddr,
) -> Result<TestApp> {
    let (real, admin, console_client) = prepared_cluster().await?;
    let mut settings = settings;
    if settings.api_server_for_nodes.is_none() {
        let kubeconfig = kube::config::Kubeconfig::read_from(real.kubeconfig())?;
        settings.api_server_for_nodes = kubeconfig
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref()?.server.clone());
    }
    let logs_dir = tempfile::tempdir()?;
    let logs = logstore::Store::open_path(logs_dir.path(), logstore::Config::default())?;
    let console = start_console(console_client, settings, logs, listen).await?;
    Ok(TestApp {
        addr: console.addr,
        kube: admin,
        cluster: Cluster::Real(real),
        state: console.state,
        logs_dir,
        collector: console.collector,
        _site: console.site,
        _artifacts: console.artifacts,
    })
}

/// `deploy/log-agent/log-agent.yaml`: the node log agent's account, role and DaemonSet.
pub const LOG_AGENT_MANIFEST: &str = include_str!("../../deploy/log-agent/log-agent.yaml");

/// The client a node log agent runs with: on a real cluster, `deploy/log-agent/` applied
/// (its DaemonSet too: the server validates it) and a token of the agent's own
/// ServiceAccount, so a right the manifest forgot fails the test; on the demo cluster an
/// administrator's.
pub async fn log_agent_client(clients: &Clients) -> Result<kube::Client> {
    match &clients.cluster {
        Cluster::Demo(_) => Ok(clients.admin.clone()),
        Cluster::Real(real) => {
            apply_manifest(&clients.admin, LOG_AGENT_MANIFEST).await?;
            Ok(wharf_testkit::real_cluster::client_from(
                &real
                    .service_account_kubeconfig("wharf-system", "wharf-log-agent")
                    .await,
            )
            .await)
        }
    }
}

/// The ServiceAccount `deploy/wharf.yaml` gives `wharf ng-agent`.
pub const AGENT_SERVICE_ACCOUNT: (&str, &str) = ("wharf-system", "wharf-ng-agent");

/// The client an nginx agent runs with: on a real cluster a token of its own ServiceAccount
/// (so a right the manifest forgot fails the test), on the demo cluster the console's.
pub async fn agent_client(app: &TestApp) -> kube::Client {
    match &app.cluster {
        Cluster::Demo(_) => app.kube.clone(),
        Cluster::Real(real) => {
            let (ns, name) = AGENT_SERVICE_ACCOUNT;
            wharf_testkit::real_cluster::client_from(
                &real.service_account_kubeconfig(ns, name).await,
            )
            .await
        }
    }
}

/// A cluster without a console: the console's own client (on the real cluster its
/// ServiceAccount's) and an administrator's, with the CRDs, `wharf-system` and the demo's
/// tenants and users in place; for tests of parts that run beside the console (leader
/// election, the nginx agent).
pub struct Clients {
    pub console: kube::Client,
    pub admin: kube::Client,
    pub cluster: Cluster,
}

/// [`Clients`] over a fresh demo cluster.
pub async fn demo_clients() -> Result<Clients> {
    let (sim, client) = crate::demo_cluster(1).await?;
    Ok(Clients {
        console: client.clone(),
        admin: client,
        cluster: Cluster::Demo(sim),
    })
}

/// [`Clients`] over a fresh real cluster.
pub async fn real_clients() -> Result<Clients> {
    let (real, admin, console) = prepared_cluster().await?;
    Ok(Clients {
        console,
        admin,
        cluster: Cluster::Real(real),
    })
}

/// One test body, two tests: `<name>::demo` against the demo cluster and `<name>::real`
/// against a real kube-apiserver. The body is an `async fn <name>(app: TestApp)`; with
/// `settings = f:` first, the consoles start with `f(real: bool) -> Settings`; with
/// `clients:` first, the body is an `async fn <name>(clients: Clients)` (no console running).
#[macro_export]
macro_rules! on_both_clusters {
    (settings = $settings:ident: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn demo() {
                let listen = "127.0.0.1:0".parse().unwrap();
                super::$name(
                    $crate::spawn_app_with(super::$settings(false), listen)
                        .await
                        .expect("the console over the demo cluster"),
                )
                .await
            }
            #[tokio::test]
            async fn real() {
                let listen = "127.0.0.1:0".parse().unwrap();
                super::$name(
                    $crate::real::spawn_real_app_with(super::$settings(true), listen)
                        .await
                        .expect("the console over a real kube-apiserver"),
                )
                .await
            }
        }
    )*};
    (clients: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn demo() {
                super::$name($crate::real::demo_clients().await.expect("a demo cluster")).await
            }
            #[tokio::test]
            async fn real() {
                super::$name($crate::real::real_clients().await.expect("a real kube-apiserver"))
                    .await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn demo() {
                super::$name($crate::spawn_app().await.expect("the console over the demo cluster"))
                    .await
            }
            #[tokio::test]
            async fn real() {
                super::$name(
                    $crate::real::spawn_real_app()
                        .await
                        .expect("the console over a real kube-apiserver"),
                )
                .await
            }
        }
    )*};
}
