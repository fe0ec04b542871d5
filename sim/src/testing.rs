//! Helpers for tests (feature `testing`): a kube-rs client built from the
//! sim's kubeconfig through the same path the console uses.

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Sim;

/// A `kube::Client` for `sim`, via `Config::from_custom_kubeconfig`.
pub async fn client(sim: &Sim) -> Result<kube::Client, Box<dyn std::error::Error + Send + Sync>> {
    // NB: both ring and aws-lc-rs may be compiled in; pick one for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = Kubeconfig::from_yaml(&sim.kubeconfig_yaml())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}
