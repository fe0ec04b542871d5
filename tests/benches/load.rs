//! The console under load, in two parts, against the demo cluster on loopback.
//!
//! **A. Many people browsing.** `WHARF_LOAD_USERS` (200) people use the console for
//! `WHARF_LOAD_SECS` (300): each opens one log-follow socket and keeps it open, and loops
//! over what the pages ask for — the shell's `whoami` and the workloads page's `workloads`,
//! the pod list (`list_pods`), the logs page's `log_sources` and `query_logs` — with a
//! think-time of 0.5–1.5 s between pages, so it models browsing, not a flood. Reported per
//! entry point: count, errors, p50/p99/max latency (and, for the follow sockets, how long a
//! new line takes from the pod to the browser); every 30 s the process's resident memory
//! and sockets. Reference measured in the same run: the same pod LIST straight from the demo
//! cluster's API server with kube-rs.
//!
//! **B. 400 bad logins at once** (three shapes: many client addresses and names, one
//! address, one name), while a signed-in user keeps listing pods: how the 400 are answered
//! (401 checked, 429 throttled, 503 turned away from the argon2 queue), how long they take,
//! and what they cost the other user's latency and the memory.
//!
//! NB: everything runs in this one process — demo cluster, console and the load itself —
//! so memory and sockets are the whole process's (and the console's own accepted
//! connections are counted apart, from `/proc/net/tcp`), and the load competes with the
//! console for the machine's cores, as a browser on the same laptop would.
//!
//! NB: every virtual user is a user account of its own (created by the benchmark, in the
//! demo's tenants, password as the demo's), logged in once before the clock starts. Sharing
//! a few demo accounts among 200 people would run into the per-user limit of two log
//! searches at once (`Settings::log_search`) — correct for one person, wrong for fifty.
//!
//! `cargo bench -p wharf-tests --bench load` (`WHARF_LOAD_SECS`, `WHARF_LOAD_USERS` to try it
//! shorter or smaller).

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message};
use wharf_api::logs::LogMessage;
use wharf_tests::{Session, TestApp};

/// The apps deployed for the run: (tenant, name, replicas). Each tenant's namespace is
/// named like it.
const APPS: &[(&str, &str, u32)] = &[
    ("alpha", "shop", 3),
    ("alpha", "api", 2),
    ("beta", "billing", 2),
];
const SAMPLE_EVERY: Duration = Duration::from_secs(30);
const THINK: (u64, u64) = (500, 1500);
const FLOOD: usize = 400;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Measuring

/// One entry point's answers: latencies of the successful ones, and the failures.
#[derive(Default)]
struct Entry {
    ok: Vec<Duration>,
    errors: usize,
    first_errors: Vec<String>,
}

impl Entry {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 3 {
            self.first_errors.push(what);
        }
    }

    fn merge(&mut self, other: Entry) {
        self.ok.extend(other.ok);
        self.errors += other.errors;
        for e in other.first_errors {
            if self.first_errors.len() < 3 {
                self.first_errors.push(e);
            }
        }
    }

    /// p50, p99 and max in milliseconds (zeros when nothing succeeded).
    fn summary(&mut self) -> (f64, f64, f64) {
        if self.ok.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        self.ok.sort();
        let at = |p: f64| {
            let i = ((self.ok.len() as f64 - 1.0) * p).round() as usize;
            ms(self.ok[i])
        };
        (at(0.5), at(0.99), ms(self.ok[self.ok.len() - 1]))
    }
}

type Stats = BTreeMap<&'static str, Entry>;

fn merge(into: &mut Stats, from: Stats) {
    for (k, v) in from {
        into.entry(k).or_default().merge(v);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// This process's resident memory in MiB (`VmRSS`).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// This process's threads (the blocking pool's among them).
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Threads:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Open file descriptors of this process that are sockets.
fn sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Established TCP connections whose local end is `port`: the connections the console
/// accepted and still holds.
fn accepted(port: u16) -> usize {
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    let local_port = cols
                        .get(1)
                        .and_then(|a| a.rsplit_once(':'))
                        .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
                    local_port == Some(port) && cols.get(3) == Some(&"01")
                })
                .map(|_| ())
                .collect::<Vec<_>>()
        })
        .count()
}

/// A small xorshift generator: think-times need to differ between users, not be secure.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn millis(&mut self, (lo, hi): (u64, u64)) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(lo + self.0 % (hi - lo + 1))
    }
}

// ---------------------------------------------------------------------------------------
// Setting up: apps with pods and logs, one account per virtual user

/// One virtual user: a signed-in session and what they look at.
struct Person {
    session: Session,
    tenant: &'static str,
    app: &'static str,
}

async fn deploy_apps(app: &TestApp) -> anyhow::Result<()> {
    let admin = app.login("admin").await?;
    for (tenant, name, replicas) in APPS {
        admin.deploy(tenant, name, *replicas, 8080).await;
    }
    let want: u32 = APPS.iter().map(|(_, _, r)| r).sum();
    let pods = app.state.cache.pods.clone();
    wharf_tests::eventually(
        Duration::from_secs(120),
        "the apps' pods running in the console's cache",
        || {
            let pods = pods.clone();
            async move {
                let running = pods
                    .state()
                    .iter()
                    .filter(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    })
                    .count();
                (running >= want as usize).then_some(())
            }
        },
    )
    .await?;
    Ok(())
}

/// `n` accounts `load-000`…: half developers of alpha, a quarter viewers of alpha, a
/// quarter developers of beta, all with the demo password; each logged in once.
async fn people(app: &TestApp, n: usize) -> anyhow::Result<Vec<Person>> {
    let secrets: Api<Secret> = Api::namespaced(app.kube.clone(), crds::SYSTEM_NAMESPACE);
    let alice = secrets.get("wharf-user-alice").await?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("wharf-user-load".into()),
            namespace: Some(crds::SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        data: alice.data,
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &secret).await?;
    let users: Api<crds::User> = Api::all(app.kube.clone());
    let plan = |i: usize| match i % 4 {
        0 | 1 => ("alpha", crds::Role::Developer, ["shop", "api"][i / 4 % 2]),
        2 => ("alpha", crds::Role::Viewer, "shop"),
        _ => ("beta", crds::Role::Developer, "billing"),
    };
    for i in 0..n {
        let (tenant, role, _) = plan(i);
        let user = crds::User::new(
            &format!("load-{i:03}"),
            crds::UserSpec {
                display_name: format!("Load {i}"),
                platform_admin: false,
                memberships: vec![crds::Membership {
                    tenant: tenant.into(),
                    role,
                }],
                password_secret: "wharf-user-load".into(),
                ..Default::default()
            },
        );
        users.create(&PostParams::default(), &user).await?;
    }
    let state = app.state.clone();
    wharf_tests::eventually(
        Duration::from_secs(60),
        "the accounts in the console's cache",
        || {
            let state = state.clone();
            async move {
                (0..n)
                    .all(|i| state.cache.user(&format!("load-{i:03}")).is_some())
                    .then_some(())
            }
        },
    )
    .await?;
    let (started, rss_before) = (Instant::now(), rss_mib());
    // NB: two at a time, one per core: argon2 is deliberately slow, and a successful login
    // gives its tokens back, so the login limits never come into play here.
    let logged_in: Vec<anyhow::Result<Person>> = futures::stream::iter(0..n)
        .map(|i| async move {
            let (tenant, _, app_name) = plan(i);
            let session = app.login(&format!("load-{i:03}")).await?;
            Ok(Person {
                session,
                tenant,
                app: app_name,
            })
        })
        .buffered(2)
        .collect()
        .await;
    println!(
        "{n} accounts logged in in {:.1} s (RSS {rss_before:.1} → {:.1} MiB)",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    logged_in.into_iter().collect()
}

// ---------------------------------------------------------------------------------------
// Part A: browsing

/// Calls a server function and records the answer under its name.
async fn call(
    session: &Session,
    stats: &mut Stats,
    total: &AtomicU64,
    endpoint: &'static str,
    args: Value,
) {
    let t = Instant::now();
    let answer = session.call(endpoint, args).await;
    let took = t.elapsed();
    total.fetch_add(1, Ordering::Relaxed);
    let entry = stats.entry(endpoint).or_default();
    match answer {
        Ok((status, _)) if status.is_success() => entry.ok.push(took),
        Ok((status, body)) => {
            let body: String = body.to_string().chars().take(200).collect();
            entry.error(format!("{status}: {body}"))
        }
        Err(e) => entry.error(format!("{e:#}")),
    }
}

/// The Pods tab's call: the first 200 pods of `tenant`.
async fn list_pods(session: &Session, stats: &mut Stats, total: &AtomicU64, tenant: &str) {
    let query = json!({"app": null, "namespace": null, "filter": "", "offset": 0, "limit": 200});
    let args = json!({"tenant": tenant, "query": query});
    call(session, stats, total, "list_pods", args).await
}

/// Sleeps a think-time, cut short at the deadline; `false` when the deadline has come.
async fn think(rng: &mut Rng, deadline: Instant) -> bool {
    let wake = (Instant::now() + rng.millis(THINK)).min(deadline);
    tokio::time::sleep_until(wake.into()).await;
    Instant::now() < deadline
}

const OPEN: &str = "log follow: open (handshake → Reset)";
const DELIVERY: &str = "log follow: new line, written in the pod → received";
const FOLLOW: &str = "log follow: socket held to the end";

/// One virtual user's log-follow socket, held open until the deadline.
async fn follow(addr: SocketAddr, who: &Person, cookie: String, deadline: Instant) -> Stats {
    let mut stats = Stats::new();
    let url = format!(
        "ws://{addr}/ws/logs/{t}?ns={t}&app={a}&last=100",
        t = who.tenant,
        a = who.app
    );
    let mut req = url.into_client_request().expect("a WebSocket URL");
    req.headers_mut().insert(
        "cookie",
        HeaderValue::from_str(&cookie).expect("a cookie header"),
    );
    let t = Instant::now();
    let mut socket = match tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(req),
    )
    .await
    {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(e)) => {
            stats.entry(OPEN).or_default().error(e.to_string());
            return stats;
        }
        Err(_) => {
            stats
                .entry(OPEN)
                .or_default()
                .error("no answer in 30 s".into());
            return stats;
        }
    };
    let opened = now_ns();
    let mut reset = false;
    let mut end = None;
    loop {
        let next = tokio::select! {
            next = socket.next() => next,
            _ = tokio::time::sleep_until(deadline.into()) => break,
        };
        match next {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<LogMessage>(&text) {
                Ok(LogMessage::Reset) if !reset => {
                    reset = true;
                    stats.entry(OPEN).or_default().ok.push(t.elapsed());
                }
                Ok(LogMessage::Reset) => {}
                Ok(LogMessage::Lines(lines)) => {
                    let now = now_ns();
                    let delivery = stats.entry(DELIVERY).or_default();
                    for line in lines.iter().filter(|l| l.ts > opened) {
                        delivery.ok.push(Duration::from_nanos(
                            now.saturating_sub(line.ts).max(0) as u64
                        ));
                    }
                }
                Ok(LogMessage::Error(e)) => {
                    end = Some(format!("the feed ended: {e:?}"));
                    break;
                }
                Err(e) => {
                    end = Some(format!("not a log message ({e}): {text}"));
                    break;
                }
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                end = Some(format!("the socket broke: {e}"));
                break;
            }
            None => {
                end = Some("the console closed the socket".into());
                break;
            }
        }
    }
    let held = stats.entry(FOLLOW).or_default();
    match end {
        None if reset => held.ok.push(t.elapsed()),
        None => held.error("no Reset before the end".into()),
        Some(e) => held.error(e),
    }
    let _ = socket.close(None).await;
    stats
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// One virtual user until the deadline: the follow socket beside pages visited in turn.
async fn browse(
    addr: SocketAddr,
    who: Person,
    seed: u64,
    deadline: Instant,
    total: Arc<AtomicU64>,
) -> Stats {
    let mut rng = Rng::new(seed);
    let mut stats = Stats::new();
    // NB: people arrive over the first think-time, not all in the same millisecond.
    if !think(&mut rng, deadline).await {
        return stats;
    }
    let cookie = who.session.cookie().unwrap_or_default().to_string();
    let (tenant, app) = (who.tenant, who.app);
    let (socket_stats, ()) = futures::join!(follow(addr, &who, cookie, deadline), async {
        let s = &who.session;
        loop {
            // The workloads page: the shell asks who is signed in, the page for the snapshot.
            call(s, &mut stats, &total, "whoami", json!({})).await;
            call(
                s,
                &mut stats,
                &total,
                "workloads",
                json!({"tenant": tenant}),
            )
            .await;
            if !think(&mut rng, deadline).await {
                break;
            }
            // The Pods tab: the first page of the tenant's pods.
            list_pods(s, &mut stats, &total, tenant).await;
            if !think(&mut rng, deadline).await {
                break;
            }
            // The logs page: its sources, then the last 15 minutes of the app, newest first.
            call(
                s,
                &mut stats,
                &total,
                "log_sources",
                json!({"tenant": tenant}),
            )
            .await;
            let now = chrono::Utc::now();
            let query = json!({
                "selection": {"namespace": tenant, "app": app, "pod": null, "container": null},
                "from": (now - chrono::Duration::minutes(15)).to_rfc3339(),
                "to": (now + chrono::Duration::minutes(1)).to_rfc3339(),
                "search": {"text": "", "regex": false}, "limit": 200, "backward": true, "cursor": null});
            call(
                s,
                &mut stats,
                &total,
                "query_logs",
                json!({"tenant": tenant, "query": query}),
            )
            .await;
            if !think(&mut rng, deadline).await {
                break;
            }
        }
    });
    merge(&mut stats, socket_stats);
    stats
}

struct Sample {
    at: Duration,
    rss: f64,
    sockets: usize,
    accepted: usize,
    threads: usize,
    requests: u64,
}

async fn part_a(app: &TestApp, people: Vec<Person>, secs: u64) -> anyhow::Result<()> {
    let users = people.len();
    // Reference, idle, before the load: the console's pod list and the API server's LIST.
    let mut idle = Stats::new();
    let quiet = AtomicU64::new(0);
    let alpha = people
        .iter()
        .find(|p| p.tenant == "alpha")
        .ok_or_else(|| anyhow::anyhow!("no user in alpha"))?;
    for _ in 0..200 {
        list_pods(&alpha.session, &mut idle, &quiet, "alpha").await;
    }
    let pods: Api<Pod> = Api::namespaced(app.kube.clone(), "alpha");
    let mut direct = Entry::default();
    for _ in 0..200 {
        let t = Instant::now();
        match pods.list(&Default::default()).await {
            Ok(_) => direct.ok.push(t.elapsed()),
            Err(e) => direct.error(e.to_string()),
        }
    }

    println!("\nPart A: {users} people for {secs} s (think-time 0.5–1.5 s)…");
    let total = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let port = app.addr.port();
    let sample = |at: Duration, total: &AtomicU64| Sample {
        at,
        rss: rss_mib(),
        sockets: sockets(),
        accepted: accepted(port),
        threads: threads(),
        requests: total.load(Ordering::Relaxed),
    };
    let mut samples = vec![sample(Duration::ZERO, &total)];
    let tasks: Vec<_> = people
        .into_iter()
        .enumerate()
        .map(|(i, who)| tokio::spawn(browse(app.addr, who, i as u64 + 1, deadline, total.clone())))
        .collect();
    // NB: the last row is taken a second before the end, while everyone is still there.
    let last = deadline - Duration::from_secs(secs.min(1));
    let mut next = start + SAMPLE_EVERY;
    while next < last {
        tokio::time::sleep_until(next.into()).await;
        samples.push(sample(start.elapsed(), &total));
        next += SAMPLE_EVERY;
    }
    tokio::time::sleep_until(last.into()).await;
    samples.push(sample(start.elapsed(), &total));
    let mut stats = Stats::new();
    for task in tasks {
        merge(&mut stats, task.await?);
    }
    let ended = start.elapsed();
    // Once every browser is gone, the console should hold no connection of theirs.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = sample(start.elapsed(), &total);

    println!();
    println!(
        "| {users} people browsing for {secs} s | count | errors | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let order = [
        "whoami",
        "workloads",
        "list_pods",
        "log_sources",
        "query_logs",
        OPEN,
        FOLLOW,
        DELIVERY,
    ];
    for name in order {
        let Some(e) = stats.get_mut(name) else {
            continue;
        };
        let (p50, p99, max) = e.summary();
        let label = if name.contains(' ') {
            name.to_string()
        } else {
            format!("`{name}`")
        };
        if name == FOLLOW {
            // Its latency is how long it was held: the count and errors are the point.
            println!(
                "| {label} | {} | {} | — | — | — |",
                e.ok.len() + e.errors,
                e.errors
            );
        } else {
            println!(
                "| {label} | {} | {} | {p50:.1} | {p99:.1} | {max:.1} |",
                e.ok.len() + e.errors,
                e.errors
            );
        }
    }
    let (i50, i99, imax) = idle
        .get_mut("list_pods")
        .map_or((0.0, 0.0, 0.0), Entry::summary);
    let (d50, d99, dmax) = direct.summary();
    println!(
        "| `list_pods`, idle, 200 one after another | 200 | {} | {i50:.1} | {i99:.1} | {imax:.1} |",
        idle.get("list_pods").map_or(0, |e| e.errors)
    );
    println!(
        "| reference: LIST the tenant's pods from the API server (kube-rs), idle, 200 one after another | 200 | {} | {d50:.1} | {d99:.1} | {dmax:.1} |",
        direct.errors
    );
    let calls: usize = stats
        .iter()
        .filter(|(k, _)| !k.contains(' '))
        .map(|(_, e)| e.ok.len() + e.errors)
        .sum();
    println!(
        "\n{calls} server function calls in {:.0} s: {:.0} per second.",
        ended.as_secs_f64(),
        calls as f64 / ended.as_secs_f64()
    );
    for (name, e) in &stats {
        for err in &e.first_errors {
            println!("error, {name}: {err}");
        }
    }

    println!();
    println!("| t | RSS (whole process) MiB | sockets (whole process) | connections the console holds | threads | requests/s since the last row |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, s) in samples.iter().enumerate() {
        let rate = match i.checked_sub(1).map(|p| &samples[p]) {
            Some(p) => format!(
                "{:.0}",
                (s.requests - p.requests) as f64 / (s.at - p.at).as_secs_f64().max(0.001)
            ),
            None => "—".into(),
        };
        println!(
            "| {:.0} s | {:.1} | {} | {} | {} | {rate} |",
            s.at.as_secs_f64(),
            s.rss,
            s.sockets,
            s.accepted,
            s.threads
        );
    }
    println!(
        "| 5 s after the end | {:.1} | {} | {} | {} | — |",
        after.rss, after.sockets, after.accepted, after.threads
    );
    let settled: Vec<f64> = samples
        .iter()
        .filter(|s| s.at >= Duration::from_secs(60))
        .map(|s| s.rss)
        .collect();
    if settled.len() >= 2 {
        let first = settled[0];
        let (lo, hi) = settled
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        let spread = (hi - lo) / first * 100.0;
        println!(
            "\nRSS from 60 s on: {lo:.1}–{hi:.1} MiB, {spread:.1} % of the 60 s value ({first:.1} MiB): {}",
            if (lo - first).abs() / first <= 0.10 && (hi - first).abs() / first <= 0.10 {
                "within ±10 %"
            } else {
                "NOT within ±10 %"
            }
        );
    } else {
        println!("\nRSS after the first minute: the run is too short to say (run for 2 minutes or more).");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Part B: 400 bad logins at once

/// Calls `list_pods` one after another until `stop`, as the other user beside the flood.
async fn keep_listing(observer: &Session, stop: &AtomicBool) -> Entry {
    let mut stats = Stats::new();
    let quiet = AtomicU64::new(0);
    while !stop.load(Ordering::Relaxed) {
        list_pods(observer, &mut stats, &quiet, "alpha").await;
    }
    stats.remove("list_pods").unwrap_or_default()
}

/// The highest RSS and thread count seen every 10 ms until `stop`.
async fn peaks(stop: &AtomicBool) -> (f64, usize) {
    let (mut rss, mut threads) = (rss_mib(), threads());
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        rss = rss.max(rss_mib());
        threads = threads.max(self::threads());
    }
    (rss, threads)
}

/// One shape of the flood: the client address (`X-Forwarded-For`) and user name of the
/// i-th attempt.
struct Shape {
    what: &'static str,
    attempt: fn(usize) -> (String, String),
}

struct Flood {
    statuses: BTreeMap<u16, usize>,
    failures: Vec<String>,
    took: Duration,
    slowest: Duration,
    observer: Entry,
    rss_before: f64,
    rss_peak: f64,
    /// Two seconds after the last answer.
    rss_after: f64,
    threads_before: usize,
    threads_peak: usize,
}

async fn flood(app: &TestApp, observer: &Session, shape: &Shape) -> anyhow::Result<Flood> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let url = app.url("/api/login");
    let stop = AtomicBool::new(false);
    let (rss_before, threads_before) = (rss_mib(), threads());
    let attempts = async {
        let started = Instant::now();
        let answers = futures::future::join_all((0..FLOOD).map(|i| {
            let (client, user) = (shape.attempt)(i);
            let req = http
                .post(&url)
                .header("x-forwarded-for", client)
                .json(&json!({"username": user, "password": "not-the-password"}));
            async move {
                let t = Instant::now();
                let status = req.send().await.map(|r| r.status());
                (status, t.elapsed())
            }
        }))
        .await;
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        (answers, took)
    };
    let ((answers, took), observed, (rss_peak, threads_peak)) =
        futures::join!(attempts, keep_listing(observer, &stop), peaks(&stop));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_mib();
    let mut statuses = BTreeMap::new();
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    for (status, t) in answers {
        slowest = slowest.max(t);
        match status {
            Ok(s) => *statuses.entry(s.as_u16()).or_default() += 1,
            Err(e) => {
                *statuses.entry(0).or_default() += 1;
                if failures.len() < 3 {
                    failures.push(format!("{e:#}"));
                }
            }
        }
    }
    Ok(Flood {
        statuses,
        failures,
        took,
        slowest,
        observer: observed,
        rss_before,
        rss_peak,
        rss_after,
        threads_before,
        threads_peak,
    })
}

const SHAPES: &[Shape] = &[
    Shape {
        what: "400 addresses, 100 names (half of them real accounts)",
        attempt: |i| {
            let user = if i % 2 == 0 {
                format!("load-{:03}", i % 100 / 2)
            } else {
                format!("nobody-{}", i % 100)
            };
            (format!("198.18.{}.{}", i / 200, i % 200 + 1), user)
        },
    },
    Shape {
        what: "one address, 100 names",
        attempt: |i| ("198.19.0.1".into(), format!("stranger-{}", i % 100)),
    },
    Shape {
        what: "400 addresses, one name (`vera`)",
        attempt: |i| {
            (
                format!("198.19.{}.{}", i / 200 + 1, i % 200 + 1),
                "vera".into(),
            )
        },
    },
];

async fn part_b(app: &TestApp) -> anyhow::Result<()> {
    println!("\nPart B: {FLOOD} bad logins at once, beside a signed-in user listing pods…");
    let observer = app.login("alice").await?;
    // Warm the connection, then the baseline: 100 calls one after another, idle.
    let _ = observer.call("whoami", json!({})).await?;
    let mut idle = Stats::new();
    for _ in 0..100 {
        list_pods(&observer, &mut idle, &AtomicU64::new(0), "alpha").await;
    }
    let mut baseline = idle.remove("list_pods").unwrap_or_default();
    let (rss_idle, threads_idle) = (rss_mib(), threads());
    let mut rows = Vec::new();
    for shape in SHAPES {
        rows.push((shape.what, flood(app, &observer, shape).await?));
    }

    let (b50, b99, _) = baseline.summary();
    println!();
    println!("| {FLOOD} bad logins at once | 401 | 429 | 503 | other | all answered in s | slowest answer s | other user's `list_pods` p50 / p99 ms (calls, errors) | RSS before → peak → 2 s after, MiB | threads before → peak |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|---|");
    println!(
        "| baseline: no flood | — | — | — | — | — | — | {b50:.1} / {b99:.1} ({}, {}) | {rss_idle:.1} | {threads_idle} |",
        baseline.ok.len() + baseline.errors,
        baseline.errors
    );
    for (what, mut f) in rows {
        let n = |code: u16| f.statuses.get(&code).copied().unwrap_or(0);
        let other: usize = f
            .statuses
            .iter()
            .filter(|(c, _)| ![401, 429, 503].contains(*c))
            .map(|(_, n)| n)
            .sum();
        let (o50, o99, _) = f.observer.summary();
        println!(
            "| {what} | {} | {} | {} | {other} | {:.2} | {:.2} | {o50:.1} / {o99:.1} ({}, {}) | {:.1} → {:.1} → {:.1} | {} → {} |",
            n(401),
            n(429),
            n(503),
            f.took.as_secs_f64(),
            f.slowest.as_secs_f64(),
            f.observer.ok.len() + f.observer.errors,
            f.observer.errors,
            f.rss_before,
            f.rss_peak,
            f.rss_after,
            f.threads_before,
            f.threads_peak
        );
        if other > 0 {
            println!("  statuses: {:?} (0: no answer)", f.statuses);
        }
        for e in f.failures.iter().chain(&f.observer.first_errors) {
            println!("  error: {e}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = env_or("WHARF_LOAD_SECS", 300);
    let users = env_or("WHARF_LOAD_USERS", 200) as usize;
    // NB: loopback is the trusted proxy, so that part B's attempts can say which client
    // they come from; part A's logins carry no X-Forwarded-For and count as 127.0.0.1.
    let settings = wharf_console::state::Settings {
        trusted_proxies: vec!["127.0.0.0/8".parse()?],
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(settings, "127.0.0.1:0".parse()?).await?;
    let started = Instant::now();
    deploy_apps(&app).await?;
    println!(
        "{} pods running in {:.1} s",
        APPS.iter().map(|(_, _, r)| r).sum::<u32>(),
        started.elapsed().as_secs_f64()
    );
    let people = people(&app, users).await?;
    part_a(&app, people, secs).await?;
    part_b(&app).await?;
    Ok(())
}
