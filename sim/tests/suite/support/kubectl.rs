//! The real `kubectl` against a demo cluster, from PATH or `$WHARF_KUBECTL`. Machines of this
//! kind carry it: a missing one fails these tests rather than letting them pass unchecked.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn bin() -> String {
    std::env::var("WHARF_KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

pub fn available() -> bool {
    std::process::Command::new(bin())
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// kubectl pointed at one cluster, with its own cache folder.
pub struct Kubectl {
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
}

impl Kubectl {
    /// A demo cluster with a fast node, and kubectl pointed at it (its kubeconfig and cache
    /// in `dir`).
    pub async fn with_cluster(dir: &Path) -> (sim::Sim, Kubectl) {
        assert!(available(), "kubectl not found on PATH (or $WHARF_KUBECTL)");
        let kubeconfig = dir.join("kubeconfig");
        let config = sim::SimConfig {
            kubeconfig_out: Some(kubeconfig.clone()),
            ..Default::default()
        };
        let sim = sim::start_with_node(config, sim::NodeConfig::fast(""))
            .await
            .expect("the demo cluster starts");
        let cache = dir.join("cache");
        (sim, Kubectl { kubeconfig, cache })
    }

    /// The whole argument list: the kubeconfig and cache, then `args`.
    pub fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec![
            "--kubeconfig".to_string(),
            self.kubeconfig.display().to_string(),
            "--cache-dir".to_string(),
            self.cache.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    }

    /// A command with the arguments set, killed when dropped.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(bin());
        c.args(self.args(args)).kill_on_drop(true);
        c
    }

    /// Runs kubectl to its end (at most 90 s).
    pub async fn output(&self, args: &[&str]) -> std::process::Output {
        tokio::time::timeout(Duration::from_secs(90), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .unwrap_or_else(|e| panic!("running kubectl: {e}"))
    }

    /// Runs kubectl, which must succeed; its stdout.
    pub async fn run(&self, args: &[&str]) -> String {
        let out = self.output(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}
