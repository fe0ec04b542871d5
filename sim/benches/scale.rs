//! Scale benchmark for the demo cluster (plain timing, `harness = false`):
//! - LIST of 10,000 pods through kube-rs (typed) and as raw JSON, p50/p99 over 20 runs;
//! - watch fan-out: 50 kube-rs watchers while 1,000 pods are created, updated and deleted;
//! - resident memory of this process with 10,000 pods stored.
//!
//! Run: `cargo bench -p wharf-sim --bench scale`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::json;
use sim::store::WriteOptions;
use sim::ResourceId;

const PODS: usize = 10_000;
const RUNS: usize = 20;
const WATCHERS: usize = 50;
const CHURN: usize = 1_000;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn pod(ns: &str, i: usize, sent_at_us: u64) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-{i:05}"), "namespace": ns,
            "labels": {"app": "web", "pod-template-hash": "5d8f7c9b6d", "shard": (i % 10).to_string()},
            "annotations": {"bench/sent-at-us": sent_at_us.to_string()}},
        "spec": {"nodeName": format!("demo-node-{}", i % 3 + 1), "containers": [{
            "name": "web", "image": "nginx:1.27",
            "ports": [{"containerPort": 80, "name": "http"}],
            "env": [{"name": "MODE", "value": "demo"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5}
        }]}
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn time_runs(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    (percentile(samples, 0.5), percentile(samples, 0.99))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The API server alone: the simulated kubelet would otherwise start 10,000 pods.
    // NB: set before any other thread reads the environment.
    std::env::set_var("WHARF_SIM_KUBELET", "off");
    let rss_start = rss_mib();
    let sim = sim::start(sim::SimConfig::default()).await?;
    let client = sim::testing::client(&sim)
        .await
        .map_err(|e| e.to_string())?;
    let store = sim.store();
    let pods = ResourceId::core("pods");
    let w = WriteOptions::default();
    let rss_empty = rss_mib();

    let t = Instant::now();
    for i in 0..PODS {
        store.create(&pods, "default", pod("default", i, 0), &w)?;
    }
    let seed_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss_full = rss_mib();

    // LIST through kube-rs, typed, and the same request as raw JSON.
    let api: Api<Pod> = Api::all(client.clone());
    let mut typed = Vec::new();
    let mut raw = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let list = api.list(&ListParams::default()).await?;
        typed.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(list.items.len(), PODS);
        let req = axum::http::Request::get("/api/v1/pods").body(Vec::new())?;
        let t = Instant::now();
        let text = client.request_text(req).await?;
        raw.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = text.len();
    }
    let (typed_p50, typed_p99) = time_runs(&mut typed);
    let (raw_p50, raw_p99) = time_runs(&mut raw);

    // Watch fan-out: a burst (1,000 pods created, updated, deleted as fast as the
    // store takes them), then a paced phase (200 updates/s) for delivery latency.
    let churn_ns = "bench";
    store.create(
        &ResourceId::core("namespaces"),
        "",
        json!({"metadata": {"name": churn_ns}}),
        &w,
    )?;
    let epoch = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let latencies: Arc<std::sync::Mutex<Vec<(bool, u64)>>> = Arc::default();
    let paced_phase = Arc::new(std::sync::atomic::AtomicBool::new(false));
    const PACED: usize = 400;
    let expected_per_watcher = (CHURN * 3 + PACED) as u64;
    let start_rv = store.resource_version().to_string();
    let mut handles = Vec::new();
    for _ in 0..WATCHERS {
        let api: Api<Pod> = Api::namespaced(client.clone(), churn_ns);
        let mut stream = api
            .watch(
                &WatchParams::default().timeout(290).disable_bookmarks(),
                &start_rv,
            )
            .await?
            .boxed();
        let (delivered, latencies, paced_phase) =
            (delivered.clone(), latencies.clone(), paced_phase.clone());
        handles.push(tokio::spawn(async move {
            let mut seen = 0u64;
            let mut local = Vec::new();
            while seen < expected_per_watcher {
                let Ok(Some(ev)) = stream.try_next().await else {
                    break;
                };
                let p = match ev {
                    WatchEvent::Added(p) | WatchEvent::Modified(p) => Some(p),
                    WatchEvent::Deleted(_) => None,
                    _ => continue,
                };
                seen += 1;
                delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(sent) = p.and_then(|p| p.metadata.annotations).and_then(|a| {
                    a.get("bench/sent-at-us")
                        .and_then(|v| v.parse::<u64>().ok())
                }) {
                    let now = epoch.elapsed().as_micros() as u64;
                    local.push((
                        paced_phase.load(Ordering::Relaxed),
                        now.saturating_sub(sent),
                    ));
                }
            }
            latencies.lock().map(|mut l| l.extend(local)).ok();
        }));
    }
    let now = sim::store::DeleteOptions {
        grace_period: Some(0),
        ..Default::default()
    };
    let t = Instant::now();
    for i in 0..CHURN {
        store.create(
            &pods,
            churn_ns,
            pod(churn_ns, i, epoch.elapsed().as_micros() as u64),
            &w,
        )?;
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    for i in 0..CHURN {
        let name = format!("web-{i:05}");
        let sent = epoch.elapsed().as_micros() as u64;
        store.modify(&pods, churn_ns, &name, None, &w, |mut p| {
            p["metadata"]["annotations"]["bench/sent-at-us"] = json!(sent.to_string());
            Ok(p)
        })?;
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    for i in 0..CHURN {
        // NB: grace period 0, as the kubelet's final delete: a pod's default grace would
        // only mark it terminating (one Modified event) and keep the name taken.
        store.delete(&pods, churn_ns, &format!("web-{i:05}"), &now)?;
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let writes_s = t.elapsed().as_secs_f64();
    // Let the burst drain before the paced phase.
    while delivered.load(Ordering::Relaxed) < (WATCHERS * CHURN * 3) as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let burst_s = t.elapsed().as_secs_f64();
    let burst_n = delivered.load(Ordering::Relaxed);
    paced_phase.store(true, Ordering::Relaxed);
    store.create(&pods, churn_ns, pod(churn_ns, 0, 0), &w)?;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..PACED - 1 {
        tick.tick().await;
        let sent = epoch.elapsed().as_micros() as u64;
        store.modify(&pods, churn_ns, "web-00000", None, &w, |mut p| {
            p["metadata"]["annotations"]["bench/sent-at-us"] = json!(sent.to_string());
            Ok(p)
        })?;
    }
    tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(handles)).await?;
    let lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let pct = |paced: bool| {
        let mut v: Vec<f64> = lat
            .iter()
            .filter(|(p, _)| *p == paced)
            .map(|(_, us)| *us as f64 / 1e3)
            .collect();
        if v.is_empty() {
            return (0.0, 0.0);
        }
        time_runs(&mut v)
    };
    let (burst_p50, burst_p99) = pct(false);
    let (paced_p50, paced_p99) = pct(true);

    println!();
    println!(
        "wharf-sim scale benchmark ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!("| measurement | value |");
    println!("|---|---|");
    println!("| store {PODS} pods via Store::create | {seed_ms:.0} ms total |");
    println!("| LIST {PODS} pods, kube-rs typed (p50 / p99, {RUNS} runs) | {typed_p50:.1} / {typed_p99:.1} ms |");
    println!(
        "| LIST {PODS} pods, raw JSON {:.1} MB (p50 / p99) | {raw_p50:.1} / {raw_p99:.1} ms |",
        bytes as f64 / 1e6
    );
    println!("| watch fan-out, burst: {WATCHERS} watchers x {} events ({CHURN} pods created, updated, deleted) | {burst_n} delivered in {burst_s:.2} s = {:.0} events/s |", CHURN * 3, burst_n as f64 / burst_s);
    println!(
        "| burst writes through Store ({} writes) | {:.0} writes/s |",
        CHURN * 3,
        (CHURN * 3) as f64 / writes_s
    );
    println!("| delivery latency in the burst (p50 / p99; queueing behind the burst) | {burst_p50:.1} / {burst_p99:.1} ms |");
    println!("| delivery latency at 200 updates/s to {WATCHERS} watchers (p50 / p99) | {paced_p50:.2} / {paced_p99:.2} ms |");
    println!("| RSS: process start / sim empty / with {PODS} pods | {rss_start:.0} / {rss_empty:.0} / {rss_full:.0} MiB |");
    println!("| RSS after the benchmark | {:.0} MiB |", rss_mib());
    sim.shutdown().await;
    Ok(())
}
