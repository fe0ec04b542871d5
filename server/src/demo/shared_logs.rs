//! `wharf demo --shared-logs`: the demo laid out as a cluster that outgrew one machine. A
//! SeaweedFS (from `/opt/seaweedfs`, like the demo's nginx and Prometheus from Debian) holds
//! the log bucket, one `wharf logs agent` per demo node reads that node's `/var/log/pods`
//! (the demo node writes each node's pods under a folder of its own, as kubelets do) and
//! ships into the bucket, and the console reads the bucket (`--log-bucket`) instead of
//! collecting logs itself; finished terminal recordings go there too. With `--log-bucket`
//! given, the agents ship into that bucket instead and no SeaweedFS is started.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use logship::seaweedfs::SeaweedFs;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::logs::agent::{self, AgentArgs};
use crate::logs::bucket::BucketArgs;

/// The demo's bucket and prefix when it runs its own SeaweedFS.
pub const BUCKET: &str = "wharf-logs";
pub const URL: &str = "s3://wharf-logs/demo";

/// The demo's log agents (and its SeaweedFS, if it started one).
pub struct SharedLogsDemo {
    seaweedfs: Option<SeaweedFs>,
    stop: watch::Sender<bool>,
    agents: Vec<JoinHandle<()>>,
    failed: Option<mpsc::UnboundedReceiver<String>>,
    /// What to tell the person running the demo.
    pub banner: String,
}

impl SharedLogsDemo {
    /// Starts SeaweedFS under `<data>/seaweedfs` unless `bucket` names one already (and then
    /// points `bucket` at it), and an agent per node of `cluster`, each keeping its store
    /// under `<data>/agents/<node>`.
    pub async fn start(
        data: &Path,
        cluster: &sim::Sim,
        client: &kube::Client,
        bucket: &mut BucketArgs,
    ) -> Result<SharedLogsDemo> {
        let seaweedfs = match bucket.url {
            Some(_) => None,
            None => {
                let (key, secret) = (random_key(20), random_key(40));
                let server = SeaweedFs::start(&data.join("seaweedfs"), &key, &secret)
                    .await
                    .context("starting the demo's SeaweedFS")?;
                server.create_bucket(BUCKET).await?;
                *bucket = BucketArgs {
                    url: Some(URL.into()),
                    endpoint: Some(server.endpoint.clone()),
                    region: None,
                    keys: Some((key, secret)),
                };
                Some(server)
            }
        };
        let (stop, stopped) = watch::channel(false);
        let (failed_tx, failed) = mpsc::unbounded_channel();
        let mut agents = Vec::new();
        let nodes = cluster.node_names();
        for node in &nodes {
            let args = AgentArgs {
                node: node.clone(),
                pods_dir: cluster.pod_logs_dir_of(node),
                data: data.join("agents").join(node),
                ship_seconds: 1,
                keep_days: 14,
                bucket: bucket.clone(),
                kubeconfig: None,
            };
            std::fs::create_dir_all(&args.pods_dir)
                .with_context(|| format!("creating {}", args.pods_dir.display()))?;
            let (client, failed, mut stopped) =
                (client.clone(), failed_tx.clone(), stopped.clone());
            let node = node.clone();
            agents.push(tokio::spawn(async move {
                let until = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = agent::run(client, args, until).await {
                    let _ = failed.send(format!("the log agent of {node} stopped: {e:#}"));
                }
            }));
        }
        // the console starts once every node's store is in the bucket, so its first page of
        // logs is not an empty one
        let reader = bucket.connect()?.context("the log bucket")?;
        let want = nodes.clone();
        let shipped = async move {
            loop {
                let r = reader.clone();
                let names = tokio::task::spawn_blocking(move || r.store_names()).await;
                if let Ok(Ok(names)) = names {
                    if want.iter().all(|n| names.contains(n)) {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(60), shipped)
            .await
            .is_err()
        {
            tracing::warn!("the demo's log agents shipped nothing within 60 s");
        }
        let banner = format!(
            "  Logs:        {} node agents ship into {}{}",
            nodes.len(),
            bucket.url.as_deref().unwrap_or_default(),
            bucket
                .endpoint
                .as_deref()
                .map(|e| format!(" (S3 at {e})"))
                .unwrap_or_default()
        );
        Ok(SharedLogsDemo {
            seaweedfs,
            stop,
            agents,
            failed: Some(failed),
            banner,
        })
    }

    /// A task that ends (so the demo stops, saying why) when an agent fails.
    pub fn watchdog(&mut self) -> JoinHandle<()> {
        let mut failed = self.failed.take().expect("one watchdog");
        tokio::spawn(async move {
            if let Some(why) = failed.recv().await {
                tracing::error!("{why}");
            }
        })
    }

    /// Stops the agents (each ingests and ships what came last), then SeaweedFS.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for agent in self.agents.drain(..) {
            if tokio::time::timeout(Duration::from_secs(60), agent)
                .await
                .is_err()
            {
                tracing::warn!("a log agent did not finish within 60 s");
            }
        }
        if let Some(mut s) = self.seaweedfs.take() {
            s.stop().await;
        }
    }
}

/// A fresh access key: the demo's SeaweedFS takes the one it was started with.
fn random_key(len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
        .collect()
}
