//! Shared set-up for the integration tests: a sim on port 0, in memory, and a
//! kube-rs client built from its kubeconfig.

pub mod kubectl;
pub mod parity;

use std::future::Future;
use std::time::Duration;

/// A kube-rs client for the cluster of `kubeconfig` (its server and CA) that authenticates
/// with bearer `token` (none: no credentials at all) instead of the kubeconfig's.
pub async fn client_with_token(kubeconfig: &str, token: Option<&str>) -> kube::Client {
    // NB: both ring and aws-lc-rs may be compiled in; pick one for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut kc = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("a kubeconfig");
    for named in &mut kc.auth_infos {
        named.auth_info = Some(kube::config::AuthInfo {
            token: token.map(|t| t.to_string().into()),
            ..Default::default()
        });
    }
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("a client config from the kubeconfig");
    kube::Client::try_from(config).expect("a client")
}

pub async fn spawn() -> (sim::Sim, kube::Client) {
    let sim = sim::start(sim::SimConfig::default())
        .await
        .expect("sim starts");
    let client = sim::testing::client(&sim)
        .await
        .expect("client from kubeconfig");
    (sim, client)
}

/// [`spawn`] with a fast demo node, so pods run (logs, exec, Jobs, rollouts).
pub async fn spawn_with_node() -> (sim::Sim, kube::Client) {
    let sim = sim::start_with_node(sim::SimConfig::default(), sim::NodeConfig::fast(""))
        .await
        .expect("sim starts");
    let client = sim::testing::client(&sim)
        .await
        .expect("client from kubeconfig");
    (sim, client)
}

/// Polls `check` until it returns `Some`, failing after `secs` seconds (`wharf_testkit`).
pub async fn eventually<T, F, Fut>(secs: u64, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wharf_testkit::eventually(Duration::from_secs(secs), "the condition", check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What `cat path` prints in pod `pod`, through the API's exec.
pub async fn cat(client: &kube::Client, pod: &str, path: &str) -> String {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::default_namespaced(client.clone());
    let mut proc = pods
        .exec(
            pod,
            ["cat", path],
            &kube::api::AttachParams::default().stdout(true).stderr(true),
        )
        .await
        .unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut proc.stdout().unwrap(), &mut out)
        .await
        .unwrap();
    let _ = proc.take_status().unwrap().await;
    out
}
