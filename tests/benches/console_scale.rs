//! How the console copes with a big tenant: 20,000 pods in tenant alpha. Measures what the
//! pod list costs the browser to open (the `workloads` snapshot, the first `list_pods` page,
//! a deep page, a filtered page) against the reference of what a naive console does on
//! every page load: a full LIST of the namespace's pods from the API server.
//!
//! `cargo bench -p wharf-tests --bench console_scale` (WHARF_BENCH_PODS to change the count).

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use std::time::{Duration, Instant};

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

async fn time<F, Fut>(runs: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    (
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // NB: pods only need to exist, not run: 20,000 simulated processes would measure the node.
    std::env::set_var("WHARF_SIM_KUBELET", "off");
    let count: usize = std::env::var("WHARF_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
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
    println!(
        "created {count} pods in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let cache_filled = Instant::now();
    wharf_tests::eventually(
        Duration::from_secs(120),
        "the console's cache to hold every pod",
        || async { (app.state.cache.pods.state().len() >= count).then_some(()) },
    )
    .await?;
    println!(
        "console cache caught up in {:.1} s",
        cache_filled.elapsed().as_secs_f64()
    );

    let alice = app.login("alice").await?;
    let runs = 30;
    let call = |endpoint: &'static str, args: serde_json::Value| {
        let alice = &alice;
        move || {
            let args = args.clone();
            async move {
                let (status, _) = alice.call(endpoint, args).await.expect("call");
                assert!(status.is_success());
            }
        }
    };
    let query = |offset: usize, filter: &str| json!({"tenant": "alpha", "query": {"app": null, "namespace": null, "filter": filter, "offset": offset, "limit": 200}});
    let snapshot = time(runs, call("workloads", json!({"tenant": "alpha"}))).await;
    let first = time(runs, call("list_pods", query(0, ""))).await;
    let deep = time(
        runs,
        call("list_pods", query(count.saturating_sub(200), "")),
    )
    .await;
    let filtered = time(runs, call("list_pods", query(0, "big-1"))).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(app.kube.clone(), "alpha");
    let naive = time(10, || {
        let pods = pods.clone();
        async move {
            pods.list(&Default::default()).await.expect("list");
        }
    })
    .await;

    println!();
    println!("| {count} pods in one tenant | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    println!(
        "| `workloads` snapshot (apps, services, pod count) | {:.1} | {:.1} |",
        snapshot.0, snapshot.1
    );
    println!(
        "| `list_pods` first page (200 rows) | {:.1} | {:.1} |",
        first.0, first.1
    );
    println!("| `list_pods` last page | {:.1} | {:.1} |", deep.0, deep.1);
    println!(
        "| `list_pods` filtered by name | {:.1} | {:.1} |",
        filtered.0, filtered.1
    );
    println!(
        "| reference: full LIST of the namespace's pods (kube-rs) | {:.1} | {:.1} |",
        naive.0, naive.1
    );
    Ok(())
}
