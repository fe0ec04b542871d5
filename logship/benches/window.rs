//! The shared-store benchmark of issue 16: `cargo bench -p wharf-logship --bench window`.
//!
//! Writes a node's store as an agent would (its segment settings) — `WHARF_BENCH_CONTAINERS`
//! containers (20) over 24 h, one line every `WHARF_BENCH_EVERY_MS` ms (2000) per container —
//! ships it into a real SeaweedFS on loopback (started here, from `/opt/seaweedfs`), and
//! prints, side by side in one run:
//! 1. 100 random (container, five-minute window) queries: from the bucket with a cold cache
//!    (a store freshly opened on the bucket, empty block cache) and warm (the same query
//!    again), from the local store (warm page cache), and naively (GET every object of the
//!    container's stream, no index); p50/p99 ms, GETs (+ HEADs) and bytes per query;
//! 2. the agent's ingest (lines/s into its store) and shipping (objects/s, MB/s);
//! 3. objects and bytes per container-day, measured here, and extrapolated to 1,000
//!    containers at 10 lines/s (the method is printed with the numbers).

use std::sync::Arc;
use std::time::{Duration, Instant};

use logship::seaweedfs::SeaweedFs;
use logship::{BlockCache, Bucket, BucketDirectory, BucketSettings, Requests, Shipper};
use logstore::{Config, LogStream, Query, Store, StreamKey, StreamSelector, Timestamp};

const ACCESS_KEY: &str = "wharf-bench";
const SECRET_KEY: &str = "wharf-bench-secret";
const DAY: i64 = 86_400 * 1_000_000_000;
const START: i64 = 1_714_521_600 * 1_000_000_000; // 2024-05-01T00:00:00Z
const WINDOW: i64 = 5 * 60 * 1_000_000_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The agent's store settings (server/src/logs/agent.rs `store_config`).
fn agent_config() -> Config {
    Config {
        segment_bytes: 4 * 1024 * 1024,
        segment_age: Duration::from_secs(15 * 60),
        sync_on_seal: false,
        ..Config::default()
    }
}

fn key(c: u64) -> StreamKey {
    StreamKey::new("shop", format!("web-{c}"), "app")
}

fn main() {
    let containers = env("WHARF_BENCH_CONTAINERS", 20);
    let every_ms = env("WHARF_BENCH_EVERY_MS", 2000).max(1) as i64;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let weed_dir = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(SeaweedFs::start(weed_dir.path(), ACCESS_KEY, SECRET_KEY))
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(server.create_bucket("bench")).unwrap();
    let settings = BucketSettings {
        url: "s3://bench/cluster".into(),
        endpoint: Some(server.endpoint.clone()),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        ..Default::default()
    };

    // 2. the agent's ingest and shipping
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_path(dir.path(), agent_config()).unwrap();
    let lines_per = DAY / (every_ms * 1_000_000);
    let t = Instant::now();
    let mut raw = 0u64;
    for c in 0..containers {
        let s = store.stream(&key(c), &Default::default()).unwrap();
        for i in 0..lines_per {
            let text = format!(
                "2024-05-01 INFO [http-nio-8080-exec-{}] c.e.shop.OrderController - GET /orders/{} 200 {} ms user={}",
                i % 200,
                i * 7919 % 1_000_003,
                i % 900,
                i % 5000
            );
            raw += text.len() as u64 + 1;
            s.append(
                Timestamp(START + i * every_ms * 1_000_000),
                LogStream::Stdout,
                text.as_bytes(),
            )
            .unwrap();
        }
    }
    store.seal_all().unwrap();
    let ingest = t.elapsed().as_secs_f64();
    let lines = containers as i64 * lines_per;
    let bucket = Bucket::connect(&settings).unwrap();
    let mut shipper = Shipper::new(&bucket, "node-a", dir.path()).unwrap();
    let t = Instant::now();
    let pass = shipper.pass().unwrap();
    let ship = t.elapsed().as_secs_f64();
    let shipped = bucket.requests();

    // 1. five-minute windows
    let mut seed = 42u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let picks: Vec<(u64, i64)> = (0..100)
        .map(|_| {
            let c = next() % containers;
            let from = START + (next() % (24 * 60 - 5)) as i64 * 60_000_000_000;
            (c, from)
        })
        .collect();
    let query = |c: u64, from: i64| {
        Query::new(StreamSelector::stream(&key(c))).range(Timestamp(from), Timestamp(from + WINDOW))
    };
    let (mut cold, mut warm, mut local, mut naive) = (vec![], vec![], vec![], vec![]);
    let (mut cold_req, mut naive_req) = (vec![], vec![]);
    let mut found = 0;
    for &(c, from) in &picks {
        let reader_bucket = Bucket::connect(&settings).unwrap();
        let dir = BucketDirectory::new(&reader_bucket, "node-a", BlockCache::new(64 << 20));
        let copy = Store::open_read_only(Arc::new(dir), agent_config()).unwrap();
        let before = reader_bucket.requests();
        let t = Instant::now();
        let a = copy.query(&query(c, from)).unwrap();
        cold.push(t.elapsed());
        cold_req.push(minus(reader_bucket.requests(), before));
        let t = Instant::now();
        let b = copy.query(&query(c, from)).unwrap();
        warm.push(t.elapsed());
        let t = Instant::now();
        let l = store.query(&query(c, from)).unwrap();
        local.push(t.elapsed());
        assert_eq!(a.lines, l.lines);
        assert_eq!(b.lines, l.lines);
        found += l.lines.len();
        // naive: every object of the container's stream, whole
        let id = store.streams(&StreamSelector::stream(&key(c)))[0].id;
        let before = reader_bucket.requests();
        let t = Instant::now();
        let dir = BucketDirectory::new(&reader_bucket, "node-a", BlockCache::new(0));
        use logstore::Directory;
        let folder = format!("streams/{id}");
        for name in dir.list(&folder).unwrap() {
            let _ = dir.read_all(&format!("{folder}/{name}")).unwrap();
        }
        naive.push(t.elapsed());
        naive_req.push(minus(reader_bucket.requests(), before));
    }

    println!("## issue 16 shared store: {containers} containers x 24 h, a line every {every_ms} ms each ({lines} lines, {:.0} MB raw)", raw as f64 / 1e6);
    println!("| five-minute window of one container ({} lines on average) | p50 ms | p99 ms | GETs p50 / max | HEADs p50 / max | bytes fetched p50 / max |", found / picks.len());
    println!("|---|---:|---:|---:|---:|---:|");
    row(
        "bucket, cold (fresh store, empty cache)",
        &cold,
        Some(&cold_req),
    );
    row("bucket, warm (the same query again)", &warm, None);
    row("local store (page cache warm)", &local, None);
    row(
        "naive: GET every object of the container",
        &naive,
        Some(&naive_req),
    );
    println!();
    println!(
        "ingest into the agent's store: {:.0} lines/s ({:.1} MB/s raw); shipping: {} objects, {:.1} MB in {:.1} s = {:.0} objects/s, {:.1} MB/s",
        lines as f64 / ingest,
        raw as f64 / 1e6 / ingest,
        pass.uploaded,
        shipped.bytes_out as f64 / 1e6,
        ship,
        pass.uploaded as f64 / ship,
        shipped.bytes_out as f64 / 1e6 / ship
    );
    let per_container_objects = pass.uploaded as f64 / containers as f64;
    let per_container_bytes = shipped.bytes_out as f64 / containers as f64;
    let bytes_per_line = shipped.bytes_out as f64 / lines as f64;
    // 1,000 containers at 10 lines/s: 864,000 lines a container-day; a segment rolls at
    // 4 MiB or 15 min, so a container-day is max(96, bytes / 4 MiB) segments + 1 catalog.
    let day_lines = 10.0 * 86_400.0;
    let day_bytes = day_lines * bytes_per_line;
    let segments = (day_bytes / (4.0 * 1024.0 * 1024.0)).ceil().max(96.0);
    println!(
        "measured: {per_container_objects:.0} objects and {:.2} MB per container-day at this rate ({bytes_per_line:.1} stored bytes a line)",
        per_container_bytes / 1e6
    );
    println!(
        "extrapolated, 1,000 containers x 10 lines/s for a day: {:.0} k objects, {:.1} GB (bytes a line as measured; segments = max(96 by age, bytes / 4 MiB) + 1 catalog per container)",
        1000.0 * (segments + 1.0) / 1000.0,
        1000.0 * day_bytes / 1e9
    );

    // 4. live: every container logs a line every `every_ms` while the agent ships every 2 s
    // (into segments still being written: each pass sends what each gained as one part)
    let live_passes = 30i64;
    let per_pass = (2000 / every_ms).max(1);
    let stored = |dir: &std::path::Path| -> u64 {
        walk(dir)
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum()
    };
    let stored_before = stored(dir.path());
    let before = bucket.requests();
    let mut raw_live = 0u64;
    let mut pass_ms = Vec::new();
    // the reference: what the previous shipper sent, every grown segment whole each pass
    let sizes = |dir: &std::path::Path| -> std::collections::HashMap<std::path::PathBuf, u64> {
        walk(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .map(|p| {
                let len = std::fs::metadata(&p).map_or(0, |m| m.len());
                (p, len)
            })
            .collect()
    };
    let mut last = sizes(dir.path());
    let mut whole_equiv = 0u64;
    for p in 0..live_passes {
        for c in 0..containers {
            let s = store.stream(&key(c), &Default::default()).unwrap();
            for j in 0..per_pass {
                let i = p * per_pass + j;
                let text = format!(
                    "2024-05-02 INFO [http-nio-8080-exec-{}] c.e.shop.OrderController - GET /orders/{} 200 {} ms",
                    i % 200,
                    i * 7919 % 1_000_003,
                    i % 900
                );
                raw_live += text.len() as u64 + 1;
                s.append(
                    Timestamp(START + DAY + i * every_ms * 1_000_000),
                    LogStream::Stdout,
                    text.as_bytes(),
                )
                .unwrap();
            }
        }
        store.flush().unwrap();
        let now = sizes(dir.path());
        whole_equiv += now
            .iter()
            .filter(|(p, len)| last.get(*p) != Some(len))
            .map(|(_, len)| len)
            .sum::<u64>();
        last = now;
        let t = Instant::now();
        shipper.pass().unwrap();
        pass_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let live = minus(bucket.requests(), before);
    let grown = stored(dir.path()) - stored_before;
    pass_ms.sort_by(f64::total_cmp);
    println!(
        "live: {live_passes} passes, each after 2 s of {containers} containers logging: {:.0} PUTs and {:.1} KB sent a pass (p50 {:.1} ms) for {:.1} KB of new lines ({:.1} KB stored): {:.2} bytes sent per byte stored",
        live.puts as f64 / live_passes as f64,
        live.bytes_out as f64 / 1e3 / live_passes as f64,
        pass_ms[pass_ms.len() / 2],
        raw_live as f64 / 1e3 / live_passes as f64,
        grown as f64 / 1e3 / live_passes as f64,
        live.bytes_out as f64 / grown.max(1) as f64
    );
    println!(
        "  reference, each grown segment sent whole every pass (the shipper before parts): {:.1} KB a pass, {:.1} bytes sent per byte stored",
        whole_equiv as f64 / 1e3 / live_passes as f64,
        whole_equiv as f64 / grown.max(1) as f64
    );
    drop(server);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn minus(a: Requests, b: Requests) -> Requests {
    Requests {
        lists: a.lists - b.lists,
        heads: a.heads - b.heads,
        gets: a.gets - b.gets,
        puts: a.puts - b.puts,
        deletes: a.deletes - b.deletes,
        bytes_in: a.bytes_in - b.bytes_in,
        bytes_out: a.bytes_out - b.bytes_out,
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn row(what: &str, times: &[Duration], req: Option<&[Requests]>) {
    let mut ms: Vec<u64> = times.iter().map(|d| d.as_micros() as u64).collect();
    ms.sort();
    let fmt = |us: u64| format!("{:.2}", us as f64 / 1000.0);
    let (gets, heads, bytes) = match req {
        Some(r) => {
            let stat = |f: fn(&Requests) -> u64| {
                let mut v: Vec<u64> = r.iter().map(f).collect();
                v.sort();
                format!("{} / {}", pct(&v, 0.5), v[v.len() - 1])
            };
            (stat(|r| r.gets), stat(|r| r.heads), stat(|r| r.bytes_in))
        }
        None => ("—".into(), "—".into(), "—".into()),
    };
    println!(
        "| {what} | {} | {} | {gets} | {heads} | {bytes} |",
        fmt(pct(&ms, 0.5)),
        fmt(pct(&ms, 0.99))
    );
}
