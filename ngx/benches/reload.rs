//! Benchmark of the nginx engine against real nginx (not a timed test).
//!
//! 1. render (and `nginx -t`) of 5,000 services;
//! 2. event to traffic: from submitting an endpoint change to the first
//!    request through nginx reaching the new peer, p50/p99 over 50 changes;
//! 3. churn: 1,000 endpoint changes within 10 s under a steady request loop:
//!    reloads and failed requests;
//!
//! each in the dynamic and the static mode. `cargo bench -p wharf-ngx`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ngx::{Agent, Mode, Peer, Route, Target, Upstream};
use support::*;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn render_5000(mode: Mode) -> (Duration, Duration, usize) {
    let node = Node::new(mode);
    let routes: Vec<Route> = (0..5000)
        .map(|i| Route {
            name: format!("ns{}/svc{i}", i % 50),
            host: format!("svc{i}.bench.test"),
            path: "/".into(),
            target: Target::Service {
                namespace: format!("ns{}", i % 50),
                name: format!("svc{i}"),
                port: 80,
            },
            directives: if i % 10 == 0 {
                vec!["client_max_body_size 10m".into()]
            } else {
                vec![]
            },
            tls: None,
        })
        .collect();
    let upstreams: Vec<Upstream> = (0..5000u32)
        .map(|i| {
            let peers = (0..3u32)
                .map(|k| {
                    Peer::new(
                        format!("10.{}.{}.{}:8080", i / 256 % 256, i % 256, k + 1)
                            .parse()
                            .unwrap(),
                    )
                })
                .collect();
            Upstream::for_service(&format!("ns{}", i % 50), &format!("svc{i}"), 80, peers)
        })
        .collect();
    let state = node.state(routes, upstreams);
    let mut times = Vec::new();
    let mut rendered = None;
    for _ in 0..5 {
        let t = Instant::now();
        rendered = Some(ngx::render(&state, &node.opts).unwrap());
        times.push(t.elapsed());
    }
    times.sort();
    let rendered = rendered.unwrap();
    let bytes = rendered.files.values().map(|f| f.len()).sum();
    // Stage (write + fsync every file) and `nginx -t`, as an apply does.
    let t = Instant::now();
    ngx::validate::validate_files(&rendered.files, Path::new(NGINX))
        .await
        .unwrap();
    (times[2], t.elapsed(), bytes)
}

async fn event_to_traffic(mode: Mode, changes: usize) -> (Duration, Duration, u64) {
    let backs = [
        backend(20, "e0").await,
        backend(20, "e1").await,
        backend(20, "e2").await,
    ];
    let mut node = Node::new(mode);
    let r = || vec![support::route("shop/web", "shop.test", "/", "web")];
    let agent = Agent::start(node.agent_config()).unwrap();
    agent
        .apply(node.state(r(), vec![service("web", vec![backs[0].peer()])]))
        .await
        .unwrap();
    node.start_nginx().await;
    let mut lat = Vec::new();
    for i in 1..=changes {
        let b = &backs[i % 3];
        let t = Instant::now();
        agent.submit(node.state(r(), vec![service("web", vec![b.peer()])]));
        loop {
            if let Some((200, body)) = node.hit("shop.test", "/").await {
                if body == b.name {
                    break;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "change {i} never reached traffic"
            );
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    (pct(&lat, 0.5), pct(&lat, 0.99), agent.status().reload_count)
}

async fn churn(mode: Mode) -> (u64, usize, u64, u64, u64) {
    let mut backs = Vec::new();
    for k in 0..6 {
        backs.push(backend(21, &format!("c{k}")).await);
    }
    let mut node = Node::new(mode);
    node.opts.worker_processes = 2;
    let r = || vec![support::route("shop/web", "shop.test", "/", "web")];
    let agent = Arc::new(Agent::start(node.agent_config()).unwrap());
    agent
        .apply(node.state(r(), vec![service("web", vec![backs[0].peer()])]))
        .await
        .unwrap();
    node.start_nginx().await;

    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (ok, failed, stop, addr) = (ok.clone(), failed.clone(), stop.clone(), node.http);
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match ngx::http::get(addr, "shop.test", "/").await {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    let start = Instant::now();
    let mut last = 0;
    for i in 0..1000u32 {
        // A different non-empty subset of the six backends each time.
        let mask = (i * 37 % 63) + 1;
        let peers: Vec<Peer> = backs
            .iter()
            .enumerate()
            .filter(|(k, _)| mask & (1 << k) != 0)
            .map(|(_, b)| b.peer())
            .collect();
        last = agent.submit(node.state(r(), vec![service("web", peers)]));
        tokio::time::sleep_until((start + Duration::from_millis(10) * (i + 1)).into()).await;
    }
    agent.wait(last).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let st = agent.status();
    (
        st.reload_count,
        node.reloads_logged(),
        st.peer_push_count,
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; a bare `cargo test --benches` passes nothing useful: run either way.
    println!(
        "wharf-ngx benchmark (nginx {NGINX}, {} cores)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("| measure | dynamic | static |\n|---|---|---|");
    let (rd, td, bd) = render_5000(Mode::Dynamic).await;
    let (rs, ts, bs) = render_5000(Mode::Static).await;
    println!(
        "| render 5,000 services (median of 5) | {} ({} KiB) | {} ({} KiB) |",
        ms(rd),
        bd / 1024,
        ms(rs),
        bs / 1024
    );
    println!(
        "| stage (write+fsync) and nginx -t of that tree | {} | {} |",
        ms(td),
        ms(ts)
    );
    let (d50, d99, dr) = event_to_traffic(Mode::Dynamic, 50).await;
    let (s50, s99, sr) = event_to_traffic(Mode::Static, 50).await;
    println!(
        "| endpoint change -> traffic, p50 (50 changes) | {} | {} |",
        ms(d50),
        ms(s50)
    );
    println!(
        "| endpoint change -> traffic, p99 | {} | {} |",
        ms(d99),
        ms(s99)
    );
    println!("| reloads for those 50 changes | {dr} | {sr} |");
    let (dr, dl, dp, dok, dfail) = churn(Mode::Dynamic).await;
    let (sr, sl, sp, sok, sfail) = churn(Mode::Static).await;
    println!(
        "| churn 1,000 changes / 10 s: reloads (agent / nginx log) | {dr} / {dl} | {sr} / {sl} |"
    );
    println!("| churn: peer pushes | {dp} | {sp} |");
    println!("| churn: requests ok / failed | {dok} / {dfail} | {sok} / {sfail} |");
}
