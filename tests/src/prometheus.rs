//! A real Prometheus for a test: `config` (prometheus.yml's text) in `dir`, its data beside
//! it, on a free loopback port, ready when this returns. Killed when the `Process` drops.

use server::monitoring::{free_port, wait_ready, Process};
use std::path::Path;
use std::time::Duration;

/// Starts Prometheus on `config`; returns its URL and process.
pub async fn start(dir: &Path, config: &str) -> (String, Process) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let addr = free_port().unwrap();
    let args = vec![
        format!("--config.file={}", dir.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address={addr}"),
        "--web.enable-lifecycle".into(),
        "--log.level=warn".into(),
    ];
    let mut process = Process::spawn("prometheus", "prometheus", &args, dir).unwrap();
    let url = format!("http://{addr}");
    wait_ready(
        &reqwest::Client::new(),
        &format!("{url}/-/ready"),
        &mut process,
        Duration::from_secs(60),
        &dir.join("prometheus.log"),
    )
    .await
    .unwrap();
    (url, process)
}
