//! The server side of the Pods tab benchmark in the browser (`end2end/bench/pods.mjs`, which
//! starts this binary): the demo cluster and the console serving a built site (the folder in
//! WHARF_BENCH_SITE, e.g. a release build in target/bench-site), 20,000 pods in tenant alpha,
//! and WHARF_BENCH_CHURN (100) pod changes a second in the background, half of them a label
//! on a pod, half its status phase (Running ⇄ Pending). Prints the console's URL and alice's
//! credentials as `WHARF_BENCH_URL=…`, `WHARF_BENCH_USER=…`, `WHARF_BENCH_PASSWORD=…` lines,
//! then serves until its standard input closes.
//!
//! `WHARF_BENCH_SITE=target/bench-site cargo bench -p wharf-tests --bench pods_browser`
//! (WHARF_BENCH_PODS to change the count).

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One change to pod `i`: a label (even ticks) or its status phase (odd ticks).
fn change(store: &sim::store::Store, i: usize, tick: u64) -> anyhow::Result<()> {
    let name = format!("big-{i:05}");
    let mut pod: Pod = store
        .get_typed("alpha", &name)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    if tick.is_multiple_of(2) {
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("bench-rev".into(), tick.to_string());
        store
            .update_typed(&pod)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    } else {
        let status = pod.status.get_or_insert_with(Default::default);
        let phase = if status.phase.as_deref() == Some("Running") {
            "Pending"
        } else {
            "Running"
        };
        status.phase = Some(phase.into());
        store
            .update_status_typed(&pod)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // NB: pods only need to exist, not run: 20,000 simulated processes would measure the node.
    std::env::set_var("WHARF_SIM_KUBELET", "off");
    let count = env_or("WHARF_BENCH_PODS", 20_000);
    let churn = env_or("WHARF_BENCH_CHURN", 100);
    let site = std::path::PathBuf::from(
        std::env::var("WHARF_BENCH_SITE")
            .map_err(|_| anyhow::anyhow!("set WHARF_BENCH_SITE to a built site (Trunk's dist)"))?,
    );
    anyhow::ensure!(
        site.join("index.html").is_file(),
        "no built site in {} (trunk build --offline --release --dist {0})",
        site.display()
    );
    let app = wharf_tests::spawn_app().await?;
    let store = app.cluster.sim().store();
    let started = Instant::now();
    for i in 0..count {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("big-{i:05}"), "namespace": "alpha", "labels": {"app": format!("big-{}", i % 50)}},
            "spec": {"containers": [{"name": "app", "image": "registry.local/alpha/big:1.0"}]}
        }))?;
        store
            .create_typed(&pod)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    eprintln!(
        "created {count} pods in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    wharf_tests::eventually(
        Duration::from_secs(120),
        "the console's cache to hold every pod",
        || async { (app.state.cache.pods.state().len() >= count).then_some(()) },
    )
    .await?;
    // The same console (state, caches, sessions) serving the built pages.
    let addr = wharf_tests::serve_state(app.state.clone(), &site).await?;

    // The churn: `churn` changes a second, spread over the pods, on a thread of its own.
    let changes = Arc::new(AtomicU64::new(0));
    if churn > 0 && count > 0 {
        let (store, changes) = (store.clone(), changes.clone());
        std::thread::spawn(move || {
            let period = Duration::from_secs_f64(1.0 / churn as f64);
            let mut next = Instant::now();
            let mut tick = 0u64;
            loop {
                // a stride coprime with the count, so changes land all over the list
                let i = (tick as usize).wrapping_mul(7_919) % count;
                if let Err(e) = change(&store, i, tick) {
                    eprintln!("churn: {e}");
                }
                changes.fetch_add(1, Ordering::Relaxed);
                tick += 1;
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
    }

    println!("WHARF_BENCH_URL=http://{addr}");
    println!("WHARF_BENCH_USER=alice");
    println!("WHARF_BENCH_PASSWORD={}", wharf_tests::DEMO_PASSWORD);
    println!("WHARF_BENCH_READY {count} pods, {churn} changes/s");
    std::io::stdout().flush()?;

    // Serve until whoever started us closes our standard input.
    let started = Instant::now();
    tokio::task::spawn_blocking(|| for _ in std::io::stdin().lock().lines() {}).await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} pod changes in {secs:.1} s ({:.0}/s)",
        changes.load(Ordering::Relaxed),
        changes.load(Ordering::Relaxed) as f64 / secs
    );
    Ok(())
}
