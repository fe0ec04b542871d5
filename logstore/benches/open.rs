//! What opening a store costs as its history grows: `cargo bench -p wharf-logstore --bench open`.
//!
//! Builds two stores of 10 streams under `target/bench-data/open-*` (rebuilt each run): one
//! with 10 sealed segments in all, one with 10,000 (tiny `Config::segment_bytes`: every flush
//! seals a segment), each stream also with an active segment. Prints the median time (warm
//! cache) and the bytes read to open each as writer and as reader, the same stores in the
//! previous format (no catalogs: every segment's footer and index read at open), and a
//! one-minute query on the large one right after opening it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use logstore::manifest::Manifest;
use logstore::{
    Config, FileDirectory, Labels, LogStream, Query, Store, StreamKey, StreamSelector, Timestamp,
};

const STREAMS: usize = 10;
const S: i64 = 1_000_000_000;
const T0: i64 = 1_714_557_600 * S; // 2024-05-01T10:00:00Z
const RUNS: usize = 7;

fn key(stream: usize) -> StreamKey {
    StreamKey::new("bench", format!("pod-{stream:02}"), "app")
}

/// `per_stream` sealed segments of 20 lines per stream, one a second, then 20 lines more in
/// each stream's active segment.
fn build(dir: &Path, per_stream: i64) {
    let _ = fs::remove_dir_all(dir);
    let config = Config {
        segment_bytes: 1,
        sync_on_seal: false,
        ..Config::default()
    };
    let store = Store::open_path(dir, config).expect("open");
    let handles: Vec<_> = (0..STREAMS)
        .map(|s| store.stream(&key(s), &Labels::new()).expect("stream"))
        .collect();
    let line =
        |s: usize, t: i64, i: i64| format!("pod {s} second {t} line {i}: GET /api/v1/orders 200");
    for t in 0..per_stream {
        for (s, h) in handles.iter().enumerate() {
            for i in 0..20 {
                h.append(
                    Timestamp(T0 + t * S + i),
                    LogStream::Stdout,
                    line(s, t, i).as_bytes(),
                )
                .expect("append");
            }
            h.flush().expect("flush");
        }
    }
    drop((handles, store));
    let store = Store::open_path(
        dir,
        Config {
            sync_on_seal: false,
            ..Config::default()
        },
    )
    .expect("reopen");
    for s in 0..STREAMS {
        let h = store.stream(&key(s), &Labels::new()).expect("stream");
        for i in 0..20 {
            h.append(
                Timestamp(T0 + per_stream * S + i),
                LogStream::Stdout,
                line(s, per_stream, i).as_bytes(),
            )
            .expect("append");
        }
    }
    store.flush().expect("flush");
}

/// A copy of the store in the previous format: no catalogs, manifest version 1.
fn previous_format(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    copy(from, to);
    let dir = FileDirectory::open_existing(to).expect("copy");
    let mut manifest = Manifest::load(&dir).expect("manifest");
    manifest.version = 1;
    manifest.store(&dir).expect("manifest v1");
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy(&entry.path(), &target);
        } else if name != "writer.lock" && name != "catalog.jsonl" {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

type Opener<'a> = dyn Fn() -> Store + 'a;

/// Median time and bytes read of `open`.
fn measure(open: impl Fn() -> Store) -> (Duration, u64) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let store = open();
        times.push(t.elapsed());
        bytes = store.bytes_read();
    }
    times.sort();
    (times[RUNS / 2], bytes)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    println!();
    println!("Opening a store of {STREAMS} streams (warm cache, median of {RUNS})");
    println!("| sealed segments | open as                         |     ms | segment bytes read |");
    println!("|----------------:|---------------------------------|-------:|-------------------:|");
    for total in [10i64, 10_000] {
        let dir = root.join(format!("open-{total}"));
        let t = Instant::now();
        build(&dir, total / STREAMS as i64);
        eprintln!(
            "built {} in {:.1} s",
            dir.display(),
            t.elapsed().as_secs_f64()
        );
        let old = root.join(format!("open-{total}-v1"));
        previous_format(&dir, &old);
        let rows: [(&str, Box<Opener>); 3] = [
            (
                "writer",
                Box::new(|| Store::open_path(&dir, Config::default()).expect("writer")),
            ),
            (
                "reader",
                Box::new(|| Store::open_path_read_only(&dir, Config::default()).expect("reader")),
            ),
            (
                "reader, previous format",
                Box::new(|| {
                    Store::open_path_read_only(&old, Config::default()).expect("reader v1")
                }),
            ),
        ];
        for (name, open) in rows {
            let (time, bytes) = measure(open);
            println!(
                "| {total:15} | {name:31} | {:6.2} | {bytes:18} |",
                time.as_secs_f64() * 1e3
            );
        }
    }
    // a query right after the open: only the minute's segments are read
    let dir = root.join("open-10000");
    let mut times = Vec::new();
    let mut found = (0, 0);
    for _ in 0..RUNS {
        let store = Store::open_path_read_only(&dir, Config::default()).expect("reader");
        let opened = store.bytes_read();
        let t = Instant::now();
        let page = store
            .query(
                &Query::new(StreamSelector::namespaces(["bench"]))
                    .range(Timestamp(T0 + 500 * S), Timestamp(T0 + 560 * S)),
            )
            .expect("query");
        times.push(t.elapsed());
        found = (page.lines.len(), store.bytes_read() - opened);
    }
    times.sort();
    println!();
    println!(
        "one minute of all {STREAMS} streams (10,000 segments), first query after an open: {:.2} ms, {} lines, {} bytes read",
        times[RUNS / 2].as_secs_f64() * 1e3,
        found.0,
        found.1
    );
}
