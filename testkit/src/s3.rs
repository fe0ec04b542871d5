//! A real S3 server per test: [`logship::seaweedfs::SeaweedFs`] in a temporary folder with
//! one access key, killed (and its folder removed) when dropped. A missing `weed` fails
//! the test with what to run.

use logship::seaweedfs::SeaweedFs;

pub const ACCESS_KEY: &str = "wharf-test";
pub const SECRET_KEY: &str = "wharf-test-secret";
pub const REGION: &str = "us-east-1";

/// A running SeaweedFS with its S3 gateway.
pub struct S3Server {
    server: SeaweedFs,
    /// `http://127.0.0.1:<port>`: the S3 API
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        let server = SeaweedFs::start(dir.path(), ACCESS_KEY, SECRET_KEY)
            .await
            .unwrap_or_else(|e| panic!("starting SeaweedFS: {e}"));
        S3Server {
            endpoint: server.endpoint.clone(),
            server,
            _dir: dir,
        }
    }

    /// Makes bucket `name` (as an operator would before pointing Wharf at it).
    pub async fn create_bucket(&self, name: &str) {
        self.server
            .create_bucket(name)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// What weed wrote to its log so far (for failure messages).
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// Stops the server (a store that is down).
    pub async fn stop(&mut self) {
        self.server.stop().await;
    }
}
