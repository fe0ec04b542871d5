//! The `wharf` server as a library, so integration tests start exactly what `main` starts:
//! [`application::Application`] is built from [`settings`] by `wharf serve`, `wharf demo` and
//! the tests alike; it binds the port it is given (0 in tests) and tells the bound address.
//!
//! * `application` — the one way to start: bootstrap, caches, controllers, the HTTP server
//! * `settings`  — every flag (and its `WHARF_…` variable) into one `Settings`
//! * `bootstrap` — CRDs, the `wharf-system` namespace and the session key, created when missing
//! * `watchers`  — the kube-runtime reflectors every page reads from
//! * `console`   — the axum router: server functions, WebSockets, the single-page app
//! * `live`      — the live workloads WebSocket
//! * `logs`      — the log collector, the follow socket, the download, `wharf logs …`
//! * `terminal`  — the web terminal: exec socket, file transfer through tar, audit trail
//! * `nginx`     — `wharf ng-agent` (watchers → `ngx`), the node config download, the demo's nginx nodes
//! * `leader`    — leader election over a Lease, for work that runs once per cluster
//! * `pipelines` — the controller running pipeline runs as Jobs, the git push webhook, the live socket
//! * `monitoring` — Prometheus and Alertmanager for the demo and tests, the Alertmanager webhook
//! * `remote`    — `wharf login`, `wharf call`, `wharf logout`: a console's server functions from scripts
//! * `demo`      — `wharf demo`: the demo cluster in-process, seeded with tenants, users and apps

// NB: the server functions are declared in wharf-app and register themselves at start-up
// (`inventory`), which works only if the crate is linked: nothing else here names it.
extern crate wharf_app;

pub mod admin;
pub mod application;
pub mod bootstrap;
pub mod console;
pub mod cross_site;
pub mod demo;
pub mod live;
pub mod logs;
pub mod monitoring;
pub mod nginx;
pub mod oidc;
pub mod pipelines;
pub mod remote;
pub mod settings;
pub mod terminal;

/// A client for the cluster of a kubeconfig file, or (none given) of `KUBECONFIG` or the
/// pod's service account.
pub async fn kube_client(kubeconfig: Option<std::path::PathBuf>) -> anyhow::Result<kube::Client> {
    Ok(kube::Client::try_from(kube_config(kubeconfig).await?)?)
}

/// [`kube_client`]'s configuration.
pub async fn kube_config(kubeconfig: Option<std::path::PathBuf>) -> anyhow::Result<kube::Config> {
    use anyhow::Context;
    Ok(match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig given and no in-cluster configuration found")?,
    })
}
