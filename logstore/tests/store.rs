//! The store's behaviour, one suite run on the file and the in-memory directory.

use std::sync::Arc;
use std::time::Duration;

use logstore::*;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_714_557_600 * S; // 2024-05-01T10:00:00Z

fn small() -> Config {
    Config {
        block_bytes: 512,
        segment_bytes: 8 * 1024,
        segment_age: Duration::from_secs(600),
        compression_level: 1,
        ..Config::default()
    }
}

fn key(ns: &str, pod: &str) -> StreamKey {
    StreamKey::new(ns, pod, "main")
}

fn texts(lines: &[LogEntry]) -> Vec<String> {
    lines.iter().map(|l| l.text_lossy().into_owned()).collect()
}

/// The segment files of a stream folder, in order (its catalog aside).
fn segment_files(dir: &dyn Directory, stream: &str) -> Vec<String> {
    let mut names = dir.list(stream).unwrap();
    names.retain(|n| n.ends_with(".seg"));
    names
}

/// Copy every file of a memory directory (a "disk image" to reopen).
fn image(dir: &MemoryDirectory) -> MemoryDirectory {
    let copy = MemoryDirectory::new();
    for p in dir.paths() {
        let data = dir.read_all(&p).unwrap().unwrap();
        copy.atomic_write(&p, &data).unwrap();
    }
    copy
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod on_memory {
            $(#[test] fn $name() { let d = std::sync::Arc::new(logstore::MemoryDirectory::new()); super::$name(d); })*
        }
        mod on_files {
            $(#[test] fn $name() {
                let tmp = tempfile::tempdir().unwrap();
                let d = std::sync::Arc::new(logstore::FileDirectory::open(tmp.path()).unwrap());
                super::$name(d);
            })*
        }
    };
}

suite!(
    roll_and_reopen,
    range_query_reads_only_the_window,
    merge_order_across_streams,
    paging_forward_and_backward,
    filters_and_bad_input,
    retention_by_age_and_size,
    odd_lines_are_stored_safely,
    resume_point_counts_equal_timestamps,
    a_query_stops_at_its_budget_with_what_it_found,
);

fn roll_and_reopen(dir: Arc<dyn Directory>) {
    let store = Store::open(dir.clone(), small()).unwrap();
    let s = store.stream(&key("a", "p"), &Labels::new()).unwrap();
    for i in 0..2000 {
        s.append(
            Timestamp(T0 + i * S / 10),
            LogStream::Stdout,
            format!("line {i} {}", "x".repeat(40)).as_bytes(),
        )
        .unwrap();
    }
    store.flush().unwrap();
    let segs = segment_files(dir.as_ref(), "streams/1");
    assert!(segs.len() > 3, "segments rolled by size: {segs:?}");
    let all = store.query(&Query::new(StreamSelector::default())).unwrap();
    assert_eq!(all.lines.len(), 2000);
    // NB: a stream handle keeps its store open (and the writer's place held)
    drop((s, store));
    let store = Store::open(dir.clone(), small()).unwrap();
    let again = store.query(&Query::new(StreamSelector::default())).unwrap();
    assert_eq!(again.lines, all.lines);
    // Appends continue the sequence after a reopen.
    let p = store
        .append(
            &key("a", "p"),
            &Labels::new(),
            Timestamp(T0 + 9999 * S),
            LogStream::Stderr,
            b"after",
        )
        .unwrap();
    assert_eq!(p.seq, 2000);
    drop(store);
    // Age roll: lines spanning more than segment_age start a new segment.
    let age = Store::open(
        dir.clone(),
        Config {
            segment_bytes: u64::MAX,
            ..small()
        },
    )
    .unwrap();
    let before = segment_files(dir.as_ref(), "streams/2").len();
    let s2 = age.stream(&key("a", "aged"), &Labels::new()).unwrap();
    for i in 0..40 {
        s2.append(Timestamp(T0 + i * 60 * S), LogStream::Stdout, b"tick")
            .unwrap();
        s2.flush().unwrap();
    }
    assert_eq!(before, 0);
    assert_eq!(
        segment_files(dir.as_ref(), "streams/2").len(),
        4,
        "40 minutes / 10-minute segments"
    );
}

fn range_query_reads_only_the_window(dir: Arc<dyn Directory>) {
    let store = Store::open(
        dir,
        Config {
            segment_bytes: 64 * 1024,
            ..small()
        },
    )
    .unwrap();
    let s = store.stream(&key("a", "p"), &Labels::new()).unwrap();
    for i in 0..20_000 {
        s.append(
            Timestamp(T0 + i * S),
            LogStream::Stdout,
            format!("{i:08} some log text here").as_bytes(),
        )
        .unwrap();
    }
    store.flush().unwrap();
    let total = store.disk_bytes();
    let before = store.bytes_read();
    let page = store
        .query(
            &Query::new(StreamSelector::stream(&key("a", "p")))
                .range(Timestamp(T0 + 10_000 * S), Timestamp(T0 + 10_300 * S)),
        )
        .unwrap();
    let read = store.bytes_read() - before;
    assert_eq!(page.lines.len(), 300);
    assert_eq!(page.lines[0].text_lossy(), "00010000 some log text here");
    assert!(page.next_cursor.is_none());
    assert!(read * 20 < total, "read {read} of {total} bytes");
    // Empty and boundary ranges.
    let q = |a: i64, b: i64| {
        store
            .query(
                &Query::new(StreamSelector::default())
                    .range(Timestamp(T0 + a * S), Timestamp(T0 + b * S)),
            )
            .unwrap()
            .lines
            .len()
    };
    assert_eq!(q(5, 5), 0);
    assert_eq!(q(-100, 1), 1);
    assert_eq!(q(19_999, 30_000), 1);
    assert_eq!(q(30_000, 40_000), 0);
}

fn merge_order_across_streams(dir: Arc<dyn Directory>) {
    let store = Store::open(dir, small()).unwrap();
    let web = Labels::from([("app".to_string(), "web".to_string())]);
    let db = Labels::from([("app".to_string(), "db".to_string())]);
    // Three streams, interleaved timestamps, with ties.
    for i in 0..300i64 {
        store
            .append(
                &key("shop", "web-0"),
                &web,
                Timestamp(T0 + i * 3 * S),
                LogStream::Stdout,
                format!("w0 {i}").as_bytes(),
            )
            .unwrap();
        store
            .append(
                &key("shop", "web-1"),
                &web,
                Timestamp(T0 + (i * 2 + 1) * S),
                LogStream::Stdout,
                format!("w1 {i}").as_bytes(),
            )
            .unwrap();
        store
            .append(
                &key("shop", "db-0"),
                &db,
                Timestamp(T0 + i * 3 * S),
                LogStream::Stdout,
                format!("d0 {i}").as_bytes(),
            )
            .unwrap();
        store
            .append(
                &key("other", "x"),
                &web,
                Timestamp(T0 + i * S),
                LogStream::Stdout,
                b"other tenant",
            )
            .unwrap();
    }
    let sel =
        StreamSelector::namespaces(["shop"]).with_labels(LabelSelector::parse("app=web").unwrap());
    let fwd = store.query(&Query::new(sel.clone())).unwrap().lines;
    assert_eq!(fwd.len(), 600);
    assert!(fwd.windows(2).all(|w| w[0].position < w[1].position));
    assert!(fwd
        .iter()
        .all(|l| l.key.namespace == "shop" && l.key.pod.starts_with("web")));
    let mut back = store
        .query(&Query::new(sel).direction(Direction::Backward))
        .unwrap()
        .lines;
    back.reverse();
    assert_eq!(back, fwd);
    let pods = store
        .query(&Query::new(
            StreamSelector::namespaces(["shop"]).with_pod("db-0"),
        ))
        .unwrap()
        .lines;
    assert_eq!(pods.len(), 300);
    assert_eq!(
        store.streams(&StreamSelector::namespaces(["shop"])).len(),
        3
    );
}

fn paging_forward_and_backward(dir: Arc<dyn Directory>) {
    let store = Store::open(dir, small()).unwrap();
    for i in 0..500i64 {
        // Many equal timestamps across and within streams.
        store
            .append(
                &key("a", "p1"),
                &Labels::new(),
                Timestamp(T0 + (i / 7) * S),
                LogStream::Stdout,
                format!("p1 {i}").as_bytes(),
            )
            .unwrap();
        store
            .append(
                &key("a", "p2"),
                &Labels::new(),
                Timestamp(T0 + (i / 5) * S),
                LogStream::Stderr,
                format!("p2 {i}").as_bytes(),
            )
            .unwrap();
    }
    for direction in [Direction::Forward, Direction::Backward] {
        let base = Query::new(StreamSelector::namespaces(["a"]))
            .range(Timestamp(T0 + 3 * S), Timestamp(T0 + 60 * S))
            .direction(direction);
        let all = store.query(&base).unwrap().lines;
        assert!(!all.is_empty());
        for limit in [1, 7, 64] {
            let mut pages = Vec::new();
            let mut cursor = None;
            loop {
                let mut q = base.clone().limit(limit);
                q.cursor = cursor.take();
                let page = store.query(&q).unwrap();
                assert!(page.lines.len() <= limit);
                pages.extend(page.lines);
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(pages, all, "{direction:?} limit {limit}");
        }
    }
}

fn filters_and_bad_input(dir: Arc<dyn Directory>) {
    let store = Store::open(dir, small()).unwrap();
    for i in 0..1000i64 {
        let text = if i % 100 == 7 {
            format!("ERROR code={i}")
        } else {
            format!("info {i}")
        };
        store
            .append(
                &key("a", "p"),
                &Labels::new(),
                Timestamp(T0 + i * S),
                LogStream::Stdout,
                text.as_bytes(),
            )
            .unwrap();
    }
    let kw = store
        .query(&Query::new(StreamSelector::default()).filter(Filter::Keyword("ERROR".into())))
        .unwrap();
    assert_eq!(kw.lines.len(), 10);
    let re = store
        .query(&Query::new(StreamSelector::default()).filter(Filter::Regex(r"code=\d*07$".into())))
        .unwrap();
    assert_eq!(
        texts(&re.lines),
        vec![
            "ERROR code=107",
            "ERROR code=207",
            "ERROR code=307",
            "ERROR code=407",
            "ERROR code=507",
            "ERROR code=607",
            "ERROR code=707",
            "ERROR code=807",
            "ERROR code=907"
        ]
    );
    let bad_re =
        store.query(&Query::new(StreamSelector::default()).filter(Filter::Regex("(".into())));
    assert!(matches!(bad_re, Err(Error::InvalidRegex { .. })));
    let bad_range =
        store.query(&Query::new(StreamSelector::default()).range(Timestamp(T0 + S), Timestamp(T0)));
    let err = bad_range.unwrap_err();
    assert!(matches!(err, Error::InvalidRange { .. }));
    assert!(err.to_string().contains("is after"));
    let bad_cursor = store.query(&Query::new(StreamSelector::default()).cursor("nope"));
    assert!(matches!(bad_cursor, Err(Error::InvalidCursor(_))));
    assert!(matches!(
        Timestamp::parse_rfc3339("10:02"),
        Err(Error::BadTime { .. })
    ));
    assert!(matches!(
        store.append(
            &StreamKey::new("a", "b/c", "d"),
            &Labels::new(),
            Timestamp(0),
            LogStream::Stdout,
            b"x"
        ),
        Err(Error::InvalidKey(_))
    ));
}

fn retention_by_age_and_size(dir: Arc<dyn Directory>) {
    let store = Store::open(
        dir.clone(),
        Config {
            segment_bytes: 2048,
            ..small()
        },
    )
    .unwrap();
    for i in 0..3000i64 {
        for (ns, pod) in [("t1", "a"), ("t1", "b"), ("t2", "c")] {
            store
                .append(
                    &key(ns, pod),
                    &Labels::new(),
                    Timestamp(T0 + i * S),
                    LogStream::Stdout,
                    format!("{pod} {i} {}", "y".repeat(30)).as_bytes(),
                )
                .unwrap();
        }
    }
    store.flush().unwrap();
    let t2_before = store
        .query(&Query::new(StreamSelector::namespaces(["t2"])))
        .unwrap()
        .lines;
    // Age: keep the last ~1000 s of tenant t1.
    let now = Timestamp(T0 + 3000 * S);
    let r = store
        .apply_retention(
            &[RetentionRule {
                namespaces: vec!["t1".into()],
                max_age: Some(Duration::from_secs(1000)),
                max_bytes: None,
            }],
            now,
        )
        .unwrap();
    assert!(r.segments_deleted > 0);
    let t1 = store
        .query(&Query::new(StreamSelector::namespaces(["t1"])))
        .unwrap()
        .lines;
    let oldest = t1.first().unwrap().position.ts;
    assert!(
        oldest.0 >= T0 + 1000 * S - 600 * S,
        "whole segments only, none newer than the cutoff deleted"
    );
    assert!(
        t1.iter()
            .filter(|l| l.position.ts.0 >= T0 + 2000 * S)
            .count()
            == 2000,
        "everything inside the age kept"
    );
    // Other tenant untouched.
    assert_eq!(
        store
            .query(&Query::new(StreamSelector::namespaces(["t2"])))
            .unwrap()
            .lines,
        t2_before
    );
    // Size: shrink t2 under a budget.
    let budget = 8 * 1024;
    store
        .apply_retention(
            &[RetentionRule {
                namespaces: vec!["t2".into()],
                max_age: None,
                max_bytes: Some(budget),
            }],
            now,
        )
        .unwrap();
    let t2_info = store.streams(&StreamSelector::namespaces(["t2"]));
    assert!(
        t2_info[0].bytes_on_disk <= budget + 2048 + 1024,
        "{t2_info:?}"
    );
    let t2_after = store
        .query(&Query::new(StreamSelector::namespaces(["t2"])))
        .unwrap()
        .lines;
    assert!(t2_after.len() < t2_before.len());
    assert_eq!(t2_after.last(), t2_before.last(), "the newest lines stay");
    // Survives reopen: deleted segments stay deleted.
    drop(store);
    let store = Store::open(dir, small()).unwrap();
    assert_eq!(
        store
            .query(&Query::new(StreamSelector::namespaces(["t2"])))
            .unwrap()
            .lines,
        t2_after
    );
}

fn odd_lines_are_stored_safely(dir: Arc<dyn Directory>) {
    let store = Store::open(
        dir.clone(),
        Config {
            max_line_bytes: 1 << 20,
            ..small()
        },
    )
    .unwrap();
    let k = key("a", "p");
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0),
            LogStream::Stdout,
            b"\xff\xfe not utf-8 \x00 nul",
        )
        .unwrap();
    let huge = vec![b'z'; 10 * 1024 * 1024];
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0 + 1),
            LogStream::Stdout,
            &huge,
        )
        .unwrap();
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0 + 2),
            LogStream::Stdout,
            b"",
        )
        .unwrap();
    // An earlier timestamp keeps arrival order (stored at the stream's last time).
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0 - 5 * S),
            LogStream::Stderr,
            b"late",
        )
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir, small()).unwrap();
    let lines = store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines;
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0].text, b"\xff\xfe not utf-8 \x00 nul");
    assert!(lines[1].truncated);
    assert!(lines[1].text.starts_with(&[b'z'; 1000]));
    assert!(lines[1]
        .text
        .ends_with(format!("{}]", 9 * 1024 * 1024).as_bytes()));
    assert!(lines[1].text.len() < (1 << 20) + 100);
    assert_eq!(lines[2].text, b"");
    assert_eq!(
        (
            lines[3].text.as_slice(),
            lines[3].stream,
            lines[3].position.ts
        ),
        (&b"late"[..], LogStream::Stderr, Timestamp(T0 + 2))
    );
}

fn resume_point_counts_equal_timestamps(dir: Arc<dyn Directory>) {
    let store = Store::open(dir.clone(), small()).unwrap();
    let k = key("a", "p");
    assert!(store.resume_point(&k).is_none());
    // 600 lines, the last 300 share one timestamp (spanning blocks).
    for i in 0..600i64 {
        store
            .append(
                &k,
                &Labels::new(),
                Timestamp(T0 + i.min(300)),
                LogStream::Stdout,
                format!("{i} padding padding").as_bytes(),
            )
            .unwrap();
    }
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir, small()).unwrap();
    let p = store.resume_point(&k).unwrap();
    assert_eq!(
        (p.last, p.lines_at_last, p.next_seq),
        (Timestamp(T0 + 300), 300, 600)
    );
    // A resumed source repeats from a second earlier: nothing is stored twice.
    let mut f = ResumeFilter::new(Some(p));
    for i in 0..700i64 {
        let ts = Timestamp(T0 + i.min(300) + if i >= 600 { 1 } else { 0 });
        if f.admit(ts) {
            store
                .append(
                    &k,
                    &Labels::new(),
                    ts,
                    LogStream::Stdout,
                    format!("{i} padding padding").as_bytes(),
                )
                .unwrap();
        }
    }
    let lines = store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines;
    assert_eq!(lines.len(), 700);
    assert!(lines
        .iter()
        .enumerate()
        .all(|(i, l)| l.text.starts_with(format!("{i} ").as_bytes())));
}

#[test]
fn crash_at_any_point_keeps_complete_blocks() {
    use rand::{Rng, SeedableRng};
    let dir = MemoryDirectory::new();
    let cfg = Config {
        block_bytes: 1 << 30,
        segment_bytes: 6000,
        ..small()
    };
    let store = Store::open(Arc::new(dir.clone()), cfg.clone()).unwrap();
    let k = key("a", "p");
    let s = store.stream(&k, &Labels::new()).unwrap();
    // After each flush: (segment file, its length, lines durable so far).
    let mut marks: Vec<(String, u64, u64)> = Vec::new();
    let mut n = 0u64;
    for round in 0..60i64 {
        for j in 0..(round % 5 + 1) {
            s.append(
                Timestamp(T0 + round * S + j),
                LogStream::Stdout,
                format!("r{round} j{j} {}", "q".repeat((round % 7) as usize * 9)).as_bytes(),
            )
            .unwrap();
            n += 1;
        }
        s.flush().unwrap();
        let files = segment_files(&dir, "streams/1");
        let last = files.last().unwrap();
        let path = format!("streams/1/{last}");
        marks.push((
            path.clone(),
            dir.read_all(&path).unwrap().unwrap().len() as u64,
            n,
        ));
    }
    let full = store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines;
    let active = marks.last().unwrap().0.clone();
    let len = marks.last().unwrap().1;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut cuts: Vec<u64> = (0..40).map(|_| rng.random_range(0..=len)).collect();
    cuts.extend([0, 1, len - 1, len]);
    for cut in cuts {
        let img = image(&dir);
        img.truncate(&active, cut).unwrap();
        let expect = marks
            .iter()
            .filter(|(p, l, _)| *p != active || *l <= cut)
            .map(|m| m.2)
            .max()
            .unwrap_or(0);
        let expect = expect.max(
            marks
                .iter()
                .filter(|(p, _, _)| *p != active)
                .map(|m| m.2)
                .max()
                .unwrap_or(0),
        );
        let reopened = Store::open(Arc::new(img.clone()), cfg.clone()).unwrap();
        let got = reopened
            .query(&Query::new(StreamSelector::default()))
            .unwrap()
            .lines;
        assert_eq!(got.len() as u64, expect, "cut at {cut}");
        assert_eq!(
            got[..],
            full[..got.len()],
            "cut at {cut}: kept lines are intact"
        );
        // The store goes on writing after the tear.
        let p = reopened
            .append(
                &k,
                &Labels::new(),
                Timestamp(T0 + 100 * S),
                LogStream::Stdout,
                b"after crash",
            )
            .unwrap();
        assert_eq!(p.seq, expect);
        reopened.flush().unwrap();
        drop(reopened);
        let again = Store::open(Arc::new(img), cfg.clone()).unwrap();
        assert_eq!(
            again
                .query(&Query::new(StreamSelector::default()))
                .unwrap()
                .lines
                .len() as u64,
            expect + 1
        );
    }
}

#[test]
fn torn_footer_and_flipped_bits() {
    let dir = MemoryDirectory::new();
    let cfg = small();
    let store = Store::open(Arc::new(dir.clone()), cfg.clone()).unwrap();
    for i in 0..2000i64 {
        store
            .append(
                &key("a", "p"),
                &Labels::new(),
                Timestamp(T0 + i),
                LogStream::Stdout,
                format!("{i} {}", "w".repeat(50)).as_bytes(),
            )
            .unwrap();
    }
    store.seal_all().unwrap();
    assert!(segment_files(&dir, "streams/1").len() > 1);
    let full = store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines;
    let files = segment_files(&dir, "streams/1");
    let last = format!("streams/1/{}", files.last().unwrap());
    let len = dir.read_all(&last).unwrap().unwrap().len() as u64;
    // A seal torn inside its footer (after its catalog line was written): the blocks are
    // still read.
    let img = image(&dir);
    img.truncate(&last, len - 10).unwrap();
    let s = Store::open(Arc::new(img.clone()), cfg.clone()).unwrap();
    assert_eq!(
        s.query(&Query::new(StreamSelector::default()))
            .unwrap()
            .lines,
        full
    );
    // A flipped bit in an old sealed block is reported, not silently served.
    let first = format!("streams/1/{}", files[0]);
    let mut data = img.read_all(&first).unwrap().unwrap();
    data[100] ^= 0x40;
    img.atomic_write(&first, &data).unwrap();
    drop(s);
    let s = Store::open(Arc::new(img), cfg).unwrap();
    let err = s.query(&Query::new(StreamSelector::default())).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_seam_has_no_gap_and_no_duplicate() {
    let store = Store::in_memory(Config {
        tail_capacity: 16,
        ..small()
    })
    .unwrap();
    let writers = 3;
    let per_writer = 2000u64;
    for w in 0..writers {
        for i in 0..100 {
            store
                .append(
                    &key("a", &format!("p{w}")),
                    &Labels::new(),
                    Timestamp(T0 + i),
                    LogStream::Stdout,
                    format!("{w}:{i}").as_bytes(),
                )
                .unwrap();
        }
    }
    let start = tokio::sync::Barrier::new(writers as usize + 1);
    let start = Arc::new(start);
    let mut handles = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            for i in 100..per_writer {
                store
                    .append(
                        &key("a", &format!("p{w}")),
                        &Labels::new(),
                        Timestamp(T0 + i as i64),
                        LogStream::Stdout,
                        format!("{w}:{i}").as_bytes(),
                    )
                    .unwrap();
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    start.wait().await;
    // Subscribe while the writers run; a capacity of 16 forces lag and catch-up.
    let mut tail = store
        .tail(TailRequest {
            selector: StreamSelector::namespaces(["a"]),
            filter: None,
            start: TailStart::Last(10),
        })
        .unwrap();
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); writers as usize];
    let mut got = 0;
    let mut first = true;
    let mut slow = 0u64;
    loop {
        let e = tail.next().await.unwrap();
        let text = e.text_lossy().into_owned();
        let (w, i) = text.split_once(':').unwrap();
        let (w, i): (usize, u64) = (w.parse().unwrap(), i.parse().unwrap());
        if first {
            first = false;
        }
        seen[w].push(i);
        got += 1;
        slow += 1;
        if slow.is_multiple_of(500) {
            tokio::time::sleep(Duration::from_millis(5)).await; // be a slow reader now and then
        }
        if seen.iter().all(|s| s.last() == Some(&(per_writer - 1))) {
            break;
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    for s in &seen {
        // Each stream: consecutive numbers from its first delivered line to the end.
        assert!(
            s.windows(2).all(|w| w[1] == w[0] + 1),
            "gap or duplicate: {:?}",
            &s[..s.len().min(20)]
        );
    }
    let firsts: u64 = seen.iter().map(|s| s[0]).sum();
    assert!(got > 0 && firsts < writers * per_writer);
    // The backlog was the last 10 lines at subscription time.
    let from_backlog: usize = seen.iter().map(|s| s.len()).sum::<usize>()
        - seen
            .iter()
            .map(|s| (per_writer - s[0]) as usize)
            .sum::<usize>();
    assert_eq!(from_backlog, 0);
}

#[tokio::test]
async fn tail_from_cursor_continues_a_query() {
    let store = Store::in_memory(small()).unwrap();
    let k = key("a", "p");
    for i in 0..50i64 {
        store
            .append(
                &k,
                &Labels::new(),
                Timestamp(T0 + i),
                LogStream::Stdout,
                format!("{i}").as_bytes(),
            )
            .unwrap();
    }
    let page = store
        .query(&Query::new(StreamSelector::default()).limit(20))
        .unwrap();
    let mut tail = store
        .tail(TailRequest {
            selector: StreamSelector::default(),
            filter: Some(Filter::Regex("^[0-9]+$".into())),
            start: TailStart::After(page.lines.last().unwrap().cursor()),
        })
        .unwrap();
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0 + 50),
            LogStream::Stdout,
            b"50",
        )
        .unwrap();
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0 + 51),
            LogStream::Stdout,
            b"skip me",
        )
        .unwrap();
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0 + 52),
            LogStream::Stdout,
            b"52",
        )
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 32 {
        got.push(tail.next().await.unwrap().text_lossy().into_owned());
    }
    let want: Vec<String> = (20..51).chain([52]).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    let mut now = store
        .tail(TailRequest {
            selector: StreamSelector::default(),
            filter: None,
            start: TailStart::Now,
        })
        .unwrap();
    store
        .append(
            &k,
            &Labels::new(),
            Timestamp(T0 + 60),
            LogStream::Stdout,
            b"new",
        )
        .unwrap();
    assert_eq!(now.next().await.unwrap().text, b"new");
    drop(store);
    drop(tail);
    assert!(matches!(now.next().await, Err(Error::Closed)));
}

/// A year of two pods' logs (a line an hour), searched with a regex that never matches and a
/// bytes budget: the answer is partial, says where it got, and following its cursor page by
/// page covers the whole year exactly once; matches found before the budget ran out are
/// returned. A zero time budget stops before reading anything.
fn a_query_stops_at_its_budget_with_what_it_found(dir: Arc<dyn Directory>) {
    const H: i64 = 3600 * S;
    let store = Store::open(dir, small()).unwrap();
    let hours = 365 * 24;
    for pod in ["p", "q"] {
        let s = store.stream(&key("a", pod), &Labels::new()).unwrap();
        for i in 0..hours {
            let text = if i % 1000 == 7 {
                format!("{i:05} rare needle")
            } else {
                format!("{i:05} ordinary line of {pod}")
            };
            s.append(Timestamp(T0 + i * H), LogStream::Stdout, text.as_bytes())
                .unwrap();
        }
    }
    store.flush().unwrap();
    let year = (Timestamp(T0), Timestamp(T0 + hours * H));
    let all = Query::new(StreamSelector::default()).range(year.0, year.1);

    // no budget: the full answer, not partial
    let full = store
        .query(&all.clone().filter(Filter::Regex("needle".into())))
        .unwrap();
    assert_eq!(full.lines.len(), 18);
    assert!(full.partial.is_none() && full.next_cursor.is_none());

    // a never-matching regex within 20 KB of text: partial, nothing found, resumable
    let budget = Budget {
        bytes: Some(20_000),
        time: None,
    };
    let never = all
        .clone()
        .filter(Filter::Regex("x{3}y{3}".into()))
        .budget(budget);
    let page = store.query(&never).unwrap();
    let partial = page.partial.expect("partial");
    assert_eq!(partial.exhausted, Exhausted::Bytes);
    assert!(page.lines.is_empty());
    assert!(
        partial.scanned >= 20_000 && partial.scanned < 40_000,
        "{partial:?}"
    );
    assert!(
        partial.reached > year.0 && partial.reached < year.1,
        "{partial:?}"
    );
    assert!(page.next_cursor.is_some());

    // following the cursors finds every needle once, in order, forward and backward
    for direction in [Direction::Forward, Direction::Backward] {
        let q = all
            .clone()
            .filter(Filter::Regex("needle".into()))
            .budget(budget)
            .direction(direction);
        let (mut found, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let mut q = q.clone();
            if let Some(c) = &cursor {
                q = q.cursor(c.clone());
            }
            let page = store.query(&q).unwrap();
            pages += 1;
            found.extend(texts(&page.lines));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => {
                    assert!(page.partial.is_none());
                    break;
                }
            }
            assert!(pages < 10_000, "no progress");
        }
        assert!(
            pages > 10,
            "{direction:?}: the budget should have cut it into many pages ({pages})"
        );
        let mut want = texts(&full.lines);
        if direction == Direction::Backward {
            want.reverse();
        }
        assert_eq!(found, want, "{direction:?}");
    }

    // no time at all: nothing read
    let page = store
        .query(&never.clone().budget(Budget {
            time: Some(Duration::ZERO),
            bytes: None,
        }))
        .unwrap();
    let partial = page.partial.expect("partial");
    assert_eq!((partial.exhausted, partial.scanned), (Exhausted::Time, 0));
    assert_eq!(partial.reached, year.0);
}
