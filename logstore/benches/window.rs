//! The log benchmark of issue 4: `cargo bench -p wharf-logstore --bench window`.
//!
//! Generates CRI logs for 50 pods over 24 hours (≥ 2 GB raw; `WHARF_BENCH_MB`
//! shrinks it, e.g. `WHARF_BENCH_MB=200` for a quick run) under
//! `target/bench-data` (reused), ingests them into a fresh store, and prints:
//! 1. a five-minute window of one pod, 100 random (pod, window) pairs, warm
//!    caches: Wharf's query vs a naive Docker-style reader (1 KiB buffer,
//!    parse every line from the first) vs `rg` over the raw file;
//! 2. ingest rate on one core and bytes on disk per raw byte;
//! 3. a keyword search over one hour of all pods, in GB/s of raw text.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logstore::cri::ingest_dir;
use logstore::{Config, Filter, Query, Store, StreamKey, StreamSelector, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PODS: usize = 50;
const DAY: i64 = 86_400 * 1_000_000_000;
const START: i64 = 1_714_521_600 * 1_000_000_000; // 2024-05-01T00:00:00Z
const KEYWORD: &str = "OutOfMemoryError";

fn main() {
    let total_mb: u64 = std::env::var("WHARF_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2100);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let cri = root.join(format!("cri-{total_mb}mb"));
    let raw_bytes = generate(&cri, total_mb * 1024 * 1024);
    let store_dir = root.join(format!("store-{total_mb}mb"));
    let _ = fs::remove_dir_all(&store_dir);

    // 2. ingest. WHARF_BENCH_NOSYNC=1 skips the fsync at each segment seal
    // (still safe against kill -9, not against a power cut).
    let config = Config {
        sync_on_seal: std::env::var("WHARF_BENCH_NOSYNC").is_err(),
        ..Config::default()
    };
    let store = Store::open_path(&store_dir, config).expect("open store");
    let t = Instant::now();
    let report = ingest_dir(&cri, &store).expect("ingest");
    store.seal_all().expect("seal");
    let ingest_s = t.elapsed().as_secs_f64();
    let disk = store.disk_bytes();
    drop(store);
    let store = Store::open_path(&store_dir, Config::default()).expect("reopen store");

    // 1. five-minute windows
    let mut rng = StdRng::seed_from_u64(42);
    let pairs: Vec<(usize, i64)> = (0..100)
        .map(|_| {
            (
                rng.random_range(0..PODS),
                START + rng.random_range(0..(24 * 60 - 5)) * 60_000_000_000,
            )
        })
        .collect();
    let window = 5 * 60_000_000_000i64;
    let file_of = |pod: usize| cri.join(pod_dir(pod)).join("app/0.log");
    let wharf_one = |pod: usize, from: i64| -> (usize, u64) {
        let before = store.bytes_read();
        let q = Query::new(StreamSelector::stream(&StreamKey::new(
            "bench",
            pod_name(pod),
            "app",
        )))
        .range(Timestamp(from), Timestamp(from + window));
        let n = store.query(&q).expect("query").lines.len();
        (n, store.bytes_read() - before)
    };
    let naive_one = |pod: usize, from: i64| naive(&file_of(pod), from, from + window);
    let rg_one = |pod: usize, from: i64| rg(&file_of(pod), from);
    // warm caches and check that all three agree
    for &(pod, from) in &pairs {
        let (w, _) = wharf_one(pod, from);
        let (n, _) = naive_one(pod, from);
        assert_eq!(
            w,
            n,
            "wharf and naive disagree on pod {pod} at {}",
            Timestamp(from)
        );
    }
    let mut wharf_ms = Vec::new();
    let mut wharf_bytes = Vec::new();
    let mut naive_ms = Vec::new();
    let mut naive_bytes = Vec::new();
    let mut rg_ms = Vec::new();
    let mut window_raw = Vec::new();
    let mut lines_total = 0;
    for &(pod, from) in &pairs {
        let t = Instant::now();
        let (n, b) = wharf_one(pod, from);
        wharf_ms.push(ms(t.elapsed()));
        wharf_bytes.push(b as f64);
        lines_total += n;
        let t = Instant::now();
        let (_, scanned) = naive_one(pod, from);
        naive_ms.push(ms(t.elapsed()));
        naive_bytes.push(scanned as f64);
        let t = Instant::now();
        let raw = rg_one(pod, from);
        rg_ms.push(ms(t.elapsed()));
        window_raw.push(raw as f64);
    }
    let file_size = fs::metadata(file_of(0)).map(|m| m.len()).unwrap_or(0);

    // 3. keyword over one hour of all pods
    let hour_from = START + 12 * 3_600_000_000_000;
    let q = Query::new(StreamSelector::namespaces(["bench"]))
        .range(
            Timestamp(hour_from),
            Timestamp(hour_from + 3_600_000_000_000),
        )
        .filter(Filter::Keyword(KEYWORD.into()));
    let _ = store.query(&q).expect("keyword warm-up");
    let mut kw_s = Vec::new();
    let mut hits = 0;
    for _ in 0..3 {
        let t = Instant::now();
        hits = store.query(&q).expect("keyword").lines.len();
        kw_s.push(t.elapsed().as_secs_f64());
    }
    kw_s.sort_by(f64::total_cmp);
    let hour_raw = raw_bytes as f64 / 24.0;

    let p = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * q).round() as usize]
    };
    let mb = |b: f64| b / 1e6;
    println!();
    println!("Wharf log store benchmark — {PODS} pods × 24 h, {:.2} GB raw CRI logs ({} lines), one pod file ≈ {:.1} MB", raw_bytes as f64 / 1e9, report.lines_appended, mb(file_size as f64));
    println!();
    println!("1. five-minute window of one pod, 100 random (pod, window) pairs, warm cache ({:.0} lines/window on average)", lines_total as f64 / 100.0);
    println!("| reader                         |   p50 ms |   p99 ms | bytes read p50 | bytes read p99 |");
    println!("|--------------------------------|---------:|---------:|---------------:|---------------:|");
    let (w50, w99) = (p(&mut wharf_ms, 0.5), p(&mut wharf_ms, 0.99));
    let (n50, n99) = (p(&mut naive_ms, 0.5), p(&mut naive_ms, 0.99));
    println!(
        "| wharf query                    | {w50:8.3} | {w99:8.3} | {:11.3} MB | {:11.3} MB |",
        mb(p(&mut wharf_bytes, 0.5)),
        mb(p(&mut wharf_bytes, 0.99))
    );
    println!(
        "| naive (1 KiB buffer, from top) | {n50:8.1} | {n99:8.1} | {:11.3} MB | {:11.3} MB |",
        mb(p(&mut naive_bytes, 0.5)),
        mb(p(&mut naive_bytes, 0.99))
    );
    println!(
        "| rg over the raw file           | {:8.1} | {:8.1} | {:11.3} MB | {:11.3} MB |",
        p(&mut rg_ms, 0.5),
        p(&mut rg_ms, 0.99),
        mb(file_size as f64),
        mb(file_size as f64)
    );
    println!(
        "raw bytes of the window itself: p50 {:.3} MB; speed-up vs naive: p50 {:.0}×, p99 {:.0}×",
        mb(p(&mut window_raw, 0.5)),
        n50 / w50,
        n99 / w99
    );
    println!();
    println!("2. ingest (one thread: CRI parse + store append + zstd)");
    println!("| lines/s | raw MB/s | bytes on disk | disk / raw |");
    println!("|--------:|---------:|--------------:|-----------:|");
    println!(
        "| {:7.0} | {:8.1} | {:10.1} MB | {:10.3} |",
        report.lines_appended as f64 / ingest_s,
        mb(raw_bytes as f64) / ingest_s,
        mb(disk as f64),
        disk as f64 / raw_bytes as f64
    );
    println!();
    println!(
        "3. keyword {KEYWORD:?} over one hour of all {PODS} pods ({hits} hits, ≈ {:.1} MB raw)",
        mb(hour_raw)
    );
    println!("| best s | median s | GB/s raw (median) |");
    println!("|-------:|---------:|------------------:|");
    println!(
        "| {:6.3} | {:8.3} | {:17.2} |",
        kw_s[0],
        kw_s[1],
        hour_raw / kw_s[1] / 1e9
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pod_name(pod: usize) -> String {
    format!("web-{pod:02}")
}

fn pod_dir(pod: usize) -> String {
    format!(
        "bench_{}_{:08x}-0000-4000-8000-000000000000",
        pod_name(pod),
        pod
    )
}

/// The Docker-style reader: 1 KiB buffer, every line from the first parsed and compared.
fn naive(path: &Path, from: i64, to: i64) -> (usize, u64) {
    let Ok(f) = File::open(path) else {
        return (0, 0);
    };
    let mut r = BufReader::with_capacity(1024, f);
    let mut line = Vec::new();
    let (mut n, mut scanned) = (0, 0u64);
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(k) => scanned += k as u64,
        }
        let Some(sp) = line.iter().position(|&b| b == b' ') else {
            continue;
        };
        let Ok(ts) = Timestamp::parse_rfc3339(std::str::from_utf8(&line[..sp]).unwrap_or(""))
        else {
            continue;
        };
        if ts.0 >= to {
            break;
        }
        if ts.0 >= from {
            n += 1;
        }
    }
    (n, scanned)
}

/// `rg` for the window's five minutes (windows start on a minute); returns bytes of matching output.
fn rg(path: &Path, from: i64) -> u64 {
    let minutes: Vec<String> = (0..5)
        .map(|m| {
            let t = Timestamp(from + m * 60_000_000_000).to_string();
            regex_escape(&t[..16])
        })
        .collect();
    let pattern = format!("^({}):", minutes.join("|"));
    let out = Command::new("/usr/bin/rg")
        .args(["-N", "--no-filename", "-e", &pattern])
        .arg(path)
        .stderr(Stdio::null())
        .output();
    out.map(|o| o.stdout.len() as u64).unwrap_or(0)
}

fn regex_escape(s: &str) -> String {
    s.replace('.', "\\.")
}

/// Write the data set unless a complete one is there; returns its raw size.
fn generate(dir: &Path, target: u64) -> u64 {
    let marker = dir.join(".complete");
    if let Ok(s) = fs::read_to_string(&marker) {
        if let Ok(n) = s.trim().parse() {
            return n;
        }
    }
    let _ = fs::remove_dir_all(dir);
    eprintln!(
        "generating {:.2} GB of CRI logs in {} …",
        target as f64 / 1e9,
        dir.display()
    );
    let per_pod = target / PODS as u64;
    let mut total = 0u64;
    for pod in 0..PODS {
        let cdir = dir.join(pod_dir(pod)).join("app");
        fs::create_dir_all(&cdir).expect("mkdir");
        let mut w =
            BufWriter::with_capacity(1 << 20, File::create(cdir.join("0.log")).expect("create"));
        let mut rng = StdRng::seed_from_u64(pod as u64);
        // ~190 bytes a line on average.
        let lines = per_pod / 190;
        let step = DAY / lines as i64;
        let mut written = 0u64;
        let mut line = String::with_capacity(512);
        for i in 0..lines as i64 {
            let ts = START + i * step + rng.random_range(0..step.max(1));
            line.clear();
            fake_line(&mut rng, pod, &mut line);
            let rec = format!(
                "{} {} F {}\n",
                Timestamp(ts),
                if line.starts_with("ERROR") {
                    "stderr"
                } else {
                    "stdout"
                },
                line
            );
            w.write_all(rec.as_bytes()).expect("write");
            written += rec.len() as u64;
        }
        w.flush().expect("flush");
        total += written;
    }
    fs::write(&marker, total.to_string()).expect("marker");
    total
}

const PATHS: &[&str] = &[
    "/",
    "/api/v1/orders",
    "/api/v1/cart/items",
    "/static/js/app.3f9a1c.js",
    "/healthz",
    "/api/v1/users/me",
    "/search?q=shoes&page=2",
    "/checkout/confirm",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "kube-probe/1.30",
    "curl/8.5.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
];

fn fake_line(rng: &mut StdRng, pod: usize, out: &mut String) {
    use std::fmt::Write as _;
    let r: u32 = rng.random_range(0..1000);
    if rng.random_range(0..20_000) == 0 {
        let _ = write!(out, "ERROR java.lang.{KEYWORD}: Java heap space at com.shop.cart.CartService.load(CartService.java:{})", rng.random_range(10..900));
    } else if r < 550 {
        let _ = write!(
            out,
            "10.{}.{}.{} - - \"{} {} HTTP/1.1\" {} {} \"-\" \"{}\" rt={:.3} uct=0.000 upstream=10.244.{}.{}:8080",
            rng.random_range(0..255),
            rng.random_range(0..255),
            rng.random_range(1..255),
            if r.is_multiple_of(5) { "POST" } else { "GET" },
            PATHS[rng.random_range(0..PATHS.len())],
            [200, 200, 200, 201, 204, 304, 404, 500][rng.random_range(0..8)],
            rng.random_range(0..50_000),
            AGENTS[rng.random_range(0..AGENTS.len())],
            rng.random_range(0.0..1.5f64),
            pod,
            rng.random_range(2..250)
        );
    } else if r < 900 {
        let _ = write!(
            out,
            "{{\"level\":\"{}\",\"logger\":\"shop.{}\",\"msg\":\"{}\",\"trace_id\":\"{:016x}{:016x}\",\"user\":{},\"latency_ms\":{}}}",
            ["info", "info", "debug", "warn"][rng.random_range(0..4)],
            ["cart", "orders", "payments", "search"][rng.random_range(0..4)],
            ["request handled", "cache miss, loading from db", "order placed", "retrying upstream call", "session refreshed"][rng.random_range(0..5)],
            rng.random::<u64>(),
            rng.random::<u64>(),
            rng.random_range(1..100_000),
            rng.random_range(0..900)
        );
    } else {
        let _ = write!(
            out,
            "{} worker-{} processed batch {} in {}ms",
            ["INFO", "DEBUG", "WARN"][rng.random_range(0..3)],
            rng.random_range(0..16),
            rng.random_range(0..1_000_000),
            rng.random_range(1..3000)
        );
    }
}
