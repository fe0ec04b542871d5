//! A real Kubernetes API server for a test: etcd and `kube-apiserver` (optionally the
//! controller manager, the scheduler and the fake kubelet) started by
//! `scripts/kube-real/up.sh` in a directory of their own, on free ports, and stopped (data
//! removed) when the [`RealCluster`] is dropped. Each test gets a cluster nobody else
//! writes to.
//!
//! The binaries come from `scripts/kube-real/build.sh` (run once per machine by
//! `scripts/setup.sh`). When they are missing the test fails and says how to build them:
//! a real-cluster test never passes without a real cluster.
//!
//! `WHARF_TEST_KUBECONFIG=/path` runs the suites against a cluster you already have
//! instead (an admin's kubeconfig; nothing is started or stopped, and each test works in
//! names of its own).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// What to start besides etcd and the API server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parts {
    /// kube-controller-manager and kube-scheduler (Deployments roll out, ServiceAccount
    /// tokens appear, namespaces finish deleting, garbage collection runs).
    pub controllers: bool,
    /// The fake kubelet: a Ready node whose pods run (requires `controllers`).
    pub node: bool,
}

impl Parts {
    /// etcd and the API server only: enough for anything that is about the API itself.
    pub const API: Parts = Parts {
        controllers: false,
        node: false,
    };
    /// Everything: controllers, scheduler and a node whose pods reach Running.
    pub const ALL: Parts = Parts {
        controllers: true,
        node: true,
    };
}

/// A running real cluster (or the one `WHARF_TEST_KUBECONFIG` names).
pub struct RealCluster {
    /// `None` for a cluster this harness did not start.
    dir: Option<PathBuf>,
    kubeconfig: PathBuf,
}

/// Where the binaries are (`KUBE_REAL_BIN`, default where build.sh puts them).
pub fn bin_dir() -> PathBuf {
    std::env::var_os("KUBE_REAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/kube-real/bin"))
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kube-real")
}

/// Ports nobody listens on: API server, etcd (whose peer port is the next one), controller
/// manager, scheduler, kubelet. Held together while they are picked, so none repeats.
fn free_ports() -> [u16; 5] {
    let mut held = Vec::new();
    let mut ports = [0u16; 5];
    for (i, port) in ports.iter_mut().enumerate() {
        loop {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            let p = l.local_addr().expect("local addr").port();
            held.push(l);
            // etcd's peer port is the client port + 1
            if i == 1 {
                match TcpListener::bind(("127.0.0.1", p.wrapping_add(1))) {
                    Ok(next) => held.push(next),
                    Err(_) => continue,
                }
            }
            *port = p;
            break;
        }
    }
    ports
}

impl RealCluster {
    /// Starts a cluster with `parts`, or connects to `WHARF_TEST_KUBECONFIG`. Panics (the
    /// test's failure) when the binaries are missing or the cluster does not come up.
    pub async fn start(parts: Parts) -> RealCluster {
        if let Some(path) = std::env::var_os("WHARF_TEST_KUBECONFIG") {
            return RealCluster {
                dir: None,
                kubeconfig: PathBuf::from(path),
            };
        }
        let bin = bin_dir();
        let wanted: &[&str] = if parts.controllers {
            &[
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ]
        } else {
            &["kube-apiserver"]
        };
        for b in wanted {
            assert!(
                bin.join(b).is_file(),
                "{} is missing: build the real API server once with `bash scripts/kube-real/build.sh` \
                 (`make test` does), or point WHARF_TEST_KUBECONFIG at a cluster",
                bin.join(b).display()
            );
        }
        // NB: ports are free when picked, but another process may take one before the
        // cluster binds it; a start that fails is tried once more on other ports.
        let mut failures = Vec::new();
        for _ in 0..2 {
            match Self::start_once(&bin, parts).await {
                Ok(cluster) => return cluster,
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "the real cluster did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    async fn start_once(bin: &Path, parts: Parts) -> Result<RealCluster, String> {
        let [api, etcd, kcm, sched, kubelet] = free_ports();
        let dir =
            std::env::temp_dir().join(format!("wharf-kube-real-{}-{api}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let flag = |b: bool| if b { "1" } else { "0" };
        let out = tokio::process::Command::new("bash")
            .arg(scripts().join("up.sh"))
            .env("KA_DIR", &dir)
            .env("BIN_DIR", bin)
            .env("API_PORT", api.to_string())
            .env("ETCD_PORT", etcd.to_string())
            .env("KCM_PORT", kcm.to_string())
            .env("SCHED_PORT", sched.to_string())
            .env("KUBELET_PORT", kubelet.to_string())
            .env("KCM_HTTP_PORT", "0")
            .env("SCHED_HTTP_PORT", "0")
            .env("CONTROLLERS", flag(parts.controllers))
            .env("FAKE_NODE", flag(parts.node))
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run scripts/kube-real/up.sh");
        let cluster = RealCluster {
            kubeconfig: dir.join("kubeconfig"),
            dir: Some(dir),
        };
        if out.status.success() {
            return Ok(cluster);
        }
        let logs: Vec<String> = [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "fake-kubelet",
        ]
        .iter()
        .map(|c| cluster.log_tail(c))
        .collect();
        Err(format!(
            "{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            logs.join("\n")
        ))
        // NB: dropping `cluster` here stops what did start and removes its folder.
    }

    /// An admin's kubeconfig (group `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube-rs client with the admin's credentials.
    pub async fn client(&self) -> kube::Client {
        client_from(&self.kubeconfig).await
    }

    /// Whether this harness started the cluster (false under `WHARF_TEST_KUBECONFIG`).
    pub fn is_owned(&self) -> bool {
        self.dir.is_some()
    }

    /// The last lines a component logged, for failure messages.
    pub fn log_tail(&self, component: &str) -> String {
        let Some(dir) = &self.dir else {
            return String::new();
        };
        let path = dir.join("logs").join(format!("{component}.log"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- last lines of {}:\n{}",
            path.display(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

/// A kube-rs client from a kubeconfig file.
pub async fn client_from(path: &Path) -> kube::Client {
    // NB: both ring and aws-lc-rs may be compiled in; pick one for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("read the kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a client config from the kubeconfig");
    kube::Client::try_from(config).expect("a client")
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        let Some(dir) = &self.dir else { return };
        let _ = std::process::Command::new("bash")
            .arg(scripts().join("down.sh"))
            .env("KA_DIR", dir)
            .env("KILL", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail("kube-apiserver"));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl RealCluster {
    /// A kubeconfig that authenticates as ServiceAccount `namespace/name` (a bound token
    /// from the TokenRequest API, valid for a day), written beside the admin's one. The
    /// ServiceAccount must exist.
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let api: kube::Api<ServiceAccount> = kube::Api::namespaced(self.client().await, namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![],
                expiration_seconds: Some(86_400),
                ..Default::default()
            },
            ..Default::default()
        };
        let token = api
            .create_token_request(name, &Default::default(), &request)
            .await
            .unwrap_or_else(|e| panic!("a token for ServiceAccount {namespace}/{name}: {e}"))
            .status
            .expect("a TokenRequest answer with a status")
            .token;
        let mut kubeconfig =
            kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read the kubeconfig");
        for named in &mut kubeconfig.auth_infos {
            let auth = named.auth_info.get_or_insert_with(Default::default);
            *auth = kube::config::AuthInfo {
                token: Some(token.clone().into()),
                ..Default::default()
            };
        }
        let dir = match &self.dir {
            Some(d) => d.clone(),
            None => std::env::temp_dir(),
        };
        let path = dir.join(format!(
            "kubeconfig-sa-{namespace}-{name}-{}",
            std::process::id()
        ));
        std::fs::write(
            &path,
            serde_yaml::to_string(&kubeconfig).expect("serialize the kubeconfig"),
        )
        .expect("write the kubeconfig");
        path
    }
}
