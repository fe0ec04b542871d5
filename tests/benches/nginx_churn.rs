//! Endpoint churn through `wharf ng-agent` and real nginx, in both modes: 1,000 endpoint
//! changes within 10 s (an EndpointSlice rewritten every 10 ms with a different subset of six
//! demo pods) while four clients send requests through nginx in a loop; how many reloads
//! nginx did, and how many requests failed. `cargo bench -p wharf-tests --bench nginx_churn`.

use ngx::Mode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_tests::nginx::*;
use wharf_tests::{eventually, spawn_app, TestApp};

const CHANGES: u32 = 1_000;
const EVERY: Duration = Duration::from_millis(10);
const CLIENTS: usize = 4;

struct Churn {
    mode: Mode,
    took: Duration,
    reloads_nginx: usize,
    reloads_agent: u64,
    pushes: u64,
    ok: u64,
    failed: u64,
}

/// A different non-empty subset of the pods for change `i`.
fn subset(pods: &[PodEndpoint], i: u32) -> Vec<PodEndpoint> {
    let mask = (i * 37 % 63) + 1;
    pods.iter()
        .enumerate()
        .filter(|(k, _)| mask & (1 << k) != 0)
        .map(|(_, p)| p.clone())
        .collect()
}

async fn churn(app: &TestApp, pods: &[PodEndpoint], mode: Mode) -> Churn {
    set_endpoints(app, "churn", pods).await;
    let mut node = Node::with_mode(Some(mode));
    node.start(app).await;
    let all: std::collections::BTreeSet<String> = pods.iter().map(|p| p.pod.clone()).collect();
    eventually(WITHIN, "all six pods answer through nginx", || async {
        (pods_answering(&node, "churn.alpha.demo", 30).await == all).then_some(())
    })
    .await
    .unwrap();

    let (ok, failed, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (ok, failed, stop, addr) = (ok.clone(), failed.clone(), stop.clone(), node.http);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match ngx::http::get(addr, "churn.alpha.demo", "/").await {
                        Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    let (reloads_before, st_before) = (node.reloads(), node.engine().status());
    let start = Instant::now();
    for i in 0..CHANGES {
        set_endpoints(app, "churn", &subset(pods, i)).await;
        tokio::time::sleep_until((start + EVERY * (i + 1)).into()).await;
    }
    let took = start.elapsed();
    // Until the last subset, and only it, answers.
    let last: std::collections::BTreeSet<String> = subset(pods, CHANGES - 1)
        .into_iter()
        .map(|p| p.pod)
        .collect();
    eventually(WITHIN, "the last change reaches traffic", || async {
        (pods_answering(&node, "churn.alpha.demo", 30).await == last).then_some(())
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let st = node.engine().status();
    Churn {
        mode,
        took,
        reloads_nginx: node.reloads() - reloads_before,
        reloads_agent: st.reload_count - st_before.reload_count,
        pushes: st.peer_push_count - st_before.peer_push_count,
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
    }
}

#[tokio::main]
async fn main() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 6, 80).await;
    let pods = ready_endpoints(&app, "shop", 6).await;
    manual_service(&app, "churn", 80, &pods).await;
    route(&app, "churn", "churn.alpha.demo", 80, vec![]).await;

    let mut results = Vec::new();
    for mode in [Mode::Dynamic, Mode::Static] {
        results.push(churn(&app, &pods, mode).await);
    }
    println!("\n| {CHANGES} endpoint changes through the agent | dynamic (Lua balancer) | static (upstream blocks) |\n|---|---|---|");
    let row = |name: &str, f: &dyn Fn(&Churn) -> String| {
        println!("| {name} | {} | {} |", f(&results[0]), f(&results[1]))
    };
    row("changes written in", &|r| {
        format!("{:.1} s", r.took.as_secs_f64())
    });
    row("nginx reloads (its log) / by the agent", &|r| {
        format!("{} / {}", r.reloads_nginx, r.reloads_agent)
    });
    row("peer pushes without a reload", &|r| r.pushes.to_string());
    row("requests ok / failed", &|r| {
        format!("{} / {}", r.ok, r.failed)
    });
    for r in &results {
        assert_eq!(
            r.failed, 0,
            "{:?} mode: requests failed during churn",
            r.mode
        );
    }
}
