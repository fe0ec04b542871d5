//! An Alertmanager for the demo and the tests. Its configuration file is the console's to
//! render (see `wharf_console::monitoring::alertmanager`): started with the console's own route
//! only, it gets the tenants' routes from the console's first sync. Quick grouping so a demo
//! alert arrives within seconds, resolved alerts sent too; clustering off (no gossip port).

use super::{wait_ready, Process, StackConfig};
use anyhow::Result;
use std::time::Duration;

pub fn config(cfg: &StackConfig) -> Result<String> {
    wharf_console::monitoring::alertmanager::render(&cfg.settings(), &[])
        .map_err(|e| anyhow::anyhow!(e.to_string()))
}

pub async fn start(cfg: &StackConfig, http: &reqwest::Client) -> Result<Process> {
    let dir = cfg.data_dir.join("alertmanager");
    std::fs::create_dir_all(dir.join("data"))?;
    let path = cfg.alertmanager_config();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(config(cfg)?.as_bytes())?;
    }
    let args = vec![
        format!("--config.file={}", path.display()),
        format!("--storage.path={}", dir.join("data").display()),
        format!("--web.listen-address={}", cfg.alertmanager_addr),
        "--cluster.listen-address=".into(),
        "--log.level=warn".into(),
    ];
    let mut p = Process::spawn("alertmanager", "prometheus-alertmanager", &args, &dir)?;
    wait_ready(
        http,
        &format!("http://{}/-/ready", cfg.alertmanager_addr),
        &mut p,
        Duration::from_secs(60),
        &dir.join("alertmanager.log"),
    )
    .await?;
    Ok(p)
}
