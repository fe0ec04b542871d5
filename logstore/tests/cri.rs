//! CRI ingestion: partial lines, rotation (rename + new file), gz, re-ingest.

use std::fs;
use std::io::Write;
use std::path::Path;

use logstore::cri::{ingest_dir, Follower};
use logstore::*;

fn cri(ts_sec: u64, stream: &str, tag: &str, text: &str) -> String {
    format!(
        "2024-05-01T10:{:02}:{:02}.{:09}Z {stream} {tag} {text}\n",
        ts_sec / 60,
        ts_sec % 60,
        ts_sec * 7
    )
}

fn all(store: &Store) -> Vec<String> {
    store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines
        .iter()
        .map(|l| format!("{}|{}", l.key, l.text_lossy()))
        .collect()
}

fn append(path: &Path, s: &str) {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(s.as_bytes())
        .unwrap();
}

#[test]
fn ingests_partial_lines_rotation_and_gz_once() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("shop_web-0_0f1e-uid/nginx");
    fs::create_dir_all(&c).unwrap();
    // Oldest rotation compressed, next one plain, then the live file.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all((cri(1, "stdout", "F", "one") + &cri(2, "stdout", "P", "tw")).as_bytes())
        .unwrap();
    fs::write(c.join("0.log.20240501-100002.gz"), gz.finish().unwrap()).unwrap();
    fs::write(
        c.join("0.log.20240501-100005"),
        cri(3, "stdout", "F", "o") + &cri(4, "stderr", "F", "three") + "not a cri line\n",
    )
    .unwrap();
    fs::write(
        c.join("0.log"),
        cri(5, "stdout", "F", "four \u{e9}") + &cri(6, "stdout", "F", "unterminated")[..40],
    )
    .unwrap();
    let store = Store::in_memory(Config::default()).unwrap();
    let r = ingest_dir(tmp.path(), &store).unwrap();
    assert_eq!(
        all(&store),
        [
            "shop/web-0/nginx|one",
            "shop/web-0/nginx|two",
            "shop/web-0/nginx|three",
            "shop/web-0/nginx|four é"
        ]
    );
    assert_eq!(r.bad_lines, 1);
    assert!(r
        .first_error
        .as_deref()
        .unwrap()
        .contains("0.log.20240501-100005"));
    // Again: nothing added twice.
    let r2 = ingest_dir(tmp.path(), &store).unwrap();
    assert_eq!(r2.lines_appended, 0);
    assert_eq!(all(&store).len(), 4);
    // The live line completes; a re-ingest picks up only it.
    append(
        &c.join("0.log"),
        &cri(6, "stdout", "F", "unterminated")[40..],
    );
    ingest_dir(tmp.path(), &store).unwrap();
    assert_eq!(all(&store).len(), 5);
    assert!(all(&store)[4].ends_with("|unterminated"));
}

#[test]
fn follower_survives_rotation_by_rename() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("ns_pod-a_uid/app");
    fs::create_dir_all(&c).unwrap();
    let live = c.join("0.log");
    append(&live, &cri(1, "stdout", "F", "a"));
    let store = Store::in_memory(Config::default()).unwrap();
    let mut f = Follower::new(tmp.path(), store.clone());
    f.poll().unwrap();
    append(&live, &cri(2, "stdout", "F", "b"));
    // Rotate: rename, write more to the renamed file (a late flush), create a new live file.
    fs::rename(&live, c.join("0.log.20240501-100002")).unwrap();
    append(
        &c.join("0.log.20240501-100002"),
        &cri(3, "stdout", "F", "c"),
    );
    append(&live, &cri(4, "stdout", "P", "d1 "));
    f.poll().unwrap();
    append(&live, &cri(5, "stdout", "F", "d2"));
    f.poll().unwrap();
    // The rotated file gets compressed and its plain twin removed: nothing new.
    let rotated = fs::read(c.join("0.log.20240501-100002")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&rotated).unwrap();
    fs::write(c.join("0.log.20240501-100002.gz"), gz.finish().unwrap()).unwrap();
    fs::remove_file(c.join("0.log.20240501-100002")).unwrap();
    let r = f.poll().unwrap();
    assert_eq!(r.lines_appended, 0);
    let got: Vec<String> = all(&store)
        .into_iter()
        .map(|s| s.split('|').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(got, ["a", "b", "c", "d1 d2"]);
    // A fresh ingester over the same store (a restart) adds nothing either.
    assert_eq!(ingest_dir(tmp.path(), &store).unwrap().lines_appended, 0);
}

#[tokio::test]
async fn follow_runs_until_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("ns_p_uid/c");
    fs::create_dir_all(&c).unwrap();
    append(&c.join("0.log"), &cri(1, "stdout", "F", "x"));
    let store = Store::in_memory(Config::default()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tail = store
        .tail(TailRequest {
            selector: StreamSelector::default(),
            filter: None,
            start: TailStart::Last(10),
        })
        .unwrap();
    let task = tokio::spawn(logstore::cri::follow(
        tmp.path().to_path_buf(),
        store.clone(),
        std::time::Duration::from_millis(10),
        async {
            let _ = rx.await;
        },
    ));
    assert_eq!(tail.next().await.unwrap().text, b"x");
    append(&c.join("0.log"), &cri(2, "stdout", "F", "y"));
    assert_eq!(tail.next().await.unwrap().text, b"y");
    tx.send(()).unwrap();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.lines_appended, 2);
}

/// The runtime copies stdout and stderr with two readers into one file, so a stderr record can
/// come between the parts of a stdout line. It used to be glued onto the stdout line
/// (`stdout: "long err"`, then `stdout: "line"`).
#[test]
fn a_line_split_around_the_other_streams_records_stays_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("ns_pod_uid/app");
    fs::create_dir_all(&c).unwrap();
    fs::write(
        c.join("0.log"),
        cri(1, "stdout", "P", "long ")
            + &cri(2, "stderr", "F", "err")
            + &cri(3, "stdout", "F", "line"),
    )
    .unwrap();
    let store = Store::in_memory(Config::default()).unwrap();
    ingest_dir(tmp.path(), &store).unwrap();
    let mut got: Vec<String> = store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines
        .iter()
        .map(|l| format!("{}|{}", l.stream.as_str(), l.text_lossy()))
        .collect();
    got.sort();
    assert_eq!(got, ["stderr|err", "stdout|long line"]);
    // Ingesting again adds nothing (the joined line is stored at the stderr line's time).
    assert_eq!(ingest_dir(tmp.path(), &store).unwrap().lines_appended, 0);
}

mod joining_partial_records {
    //! Property: the `P` parts of a record and its `F` part are joined into one line equal to
    //! the text the container wrote, wherever the runtime split it.

    use super::*;
    use proptest::prelude::*;

    /// A text as a runtime splits it: no newline; a part never ends with `\r` (containerd
    /// keeps a `\r` with the next part, in case it begins a `\r\n`).
    #[derive(Debug, Clone)]
    struct Written {
        stderr: bool,
        text: Vec<u8>,
        cuts: Vec<usize>,
    }

    fn written() -> impl Strategy<Value = Written> {
        (
            any::<bool>(),
            prop::collection::vec(
                prop_oneof![any::<u8>(), prop::sample::select(&b"\r P F"[..])],
                0..60,
            ),
            prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        )
            .prop_map(|(stderr, mut text, cuts)| {
                text.retain(|&b| b != b'\n');
                while text.last() == Some(&b'\r') {
                    text.pop();
                }
                let mut cuts: Vec<usize> = cuts
                    .iter()
                    .map(|c| c.index(text.len() + 1))
                    .filter(|&c| c == 0 || text[c - 1] != b'\r')
                    .collect();
                cuts.sort();
                Written { stderr, text, cuts }
            })
    }

    /// The records of `w`, `P` parts then the `F`, with timestamps from `ts` on.
    fn records(w: &Written, ts: &mut u64) -> Vec<Vec<u8>> {
        let stream = if w.stderr { "stderr" } else { "stdout" };
        let mut bounds = vec![0];
        bounds.extend(&w.cuts);
        bounds.push(w.text.len());
        bounds
            .windows(2)
            .enumerate()
            .map(|(i, b)| {
                let tag = if i + 2 == bounds.len() { "F" } else { "P" };
                *ts += 1;
                let mut line =
                    format!("2024-05-01T10:00:00.{:09}Z {stream} {tag} ", *ts).into_bytes();
                line.extend_from_slice(&w.text[b[0]..b[1]]);
                line.push(b'\n');
                line
            })
            .collect()
    }

    fn ingest(file: &[u8], max_line_bytes: usize) -> Vec<LogEntry> {
        let tmp = tempfile::tempdir().unwrap();
        let c = tmp.path().join("ns_pod_uid/app");
        fs::create_dir_all(&c).unwrap();
        fs::write(c.join("0.log"), file).unwrap();
        let store = Store::in_memory(Config {
            max_line_bytes,
            ..Config::default()
        })
        .unwrap();
        ingest_dir(tmp.path(), &store).unwrap();
        store
            .query(&Query::new(StreamSelector::default()))
            .unwrap()
            .lines
    }

    fn expected(w: &Written, max: usize) -> Vec<u8> {
        if w.text.len() <= max {
            return w.text.clone();
        }
        let mut cut = w.text[..max].to_vec();
        cut.extend_from_slice(TRUNCATION_MARKER);
        cut.extend_from_slice(format!("{}]", w.text.len() - max).as_bytes());
        cut
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// One stream's records one after the other.
        #[test]
        fn parts_join_into_the_text_written(
            texts in prop::collection::vec(written(), 1..5),
            max in prop_oneof![Just(1024usize), 1..40usize],
        ) {
            let mut ts = 0;
            let file: Vec<u8> = texts.iter().flat_map(|w| records(w, &mut ts)).flatten().collect();
            let got = ingest(&file, max);
            let got: Vec<(LogStream, Vec<u8>, bool)> =
                got.into_iter().map(|e| (e.stream, e.text, e.truncated)).collect();
            let want: Vec<(LogStream, Vec<u8>, bool)> = texts
                .iter()
                .map(|w| {
                    let s = if w.stderr { LogStream::Stderr } else { LogStream::Stdout };
                    (s, expected(w, max), w.text.len() > max)
                })
                .collect();
            prop_assert_eq!(got, want);
        }

        /// Both streams, their records interleaved any which way (each stream's in order):
        /// each stream's lines are its own texts.
        #[test]
        fn each_stream_joins_its_own_parts(
            texts in prop::collection::vec(written(), 1..6),
            order in prop::collection::vec(any::<bool>(), 0..40),
        ) {
            let mut ts = 0;
            let mut queues: [std::collections::VecDeque<Vec<u8>>; 2] = Default::default();
            for w in &texts {
                queues[usize::from(w.stderr)].extend(records(w, &mut ts));
            }
            let mut file = Vec::new();
            let mut order = order.into_iter();
            while !queues[0].is_empty() || !queues[1].is_empty() {
                let pick = order.next().unwrap_or_default();
                let q = if queues[usize::from(pick)].is_empty() { !pick } else { pick };
                file.extend(queues[usize::from(q)].pop_front().unwrap());
            }
            let got = ingest(&file, 1024);
            for stream in [LogStream::Stdout, LogStream::Stderr] {
                let got: Vec<&[u8]> = got
                    .iter()
                    .filter(|e| e.stream == stream)
                    .map(|e| e.text.as_slice())
                    .collect();
                let want: Vec<&[u8]> = texts
                    .iter()
                    .filter(|w| w.stderr == (stream == LogStream::Stderr))
                    .map(|w| w.text.as_slice())
                    .collect();
                prop_assert_eq!(got, want, "{:?}", stream);
            }
        }
    }
}

#[test]
fn a_new_file_that_takes_a_read_files_inode_is_read_from_its_start() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("ns_pod-a_uid/app");
    fs::create_dir_all(&c).unwrap();
    let live = c.join("0.log");
    append(&live, &cri(1, "stdout", "F", "a"));
    append(&live, &cri(2, "stdout", "F", "b"));
    let store = Store::in_memory(Config::default()).unwrap();
    let mut f = Follower::new(tmp.path(), store.clone());
    f.poll().unwrap();
    // What the follower sees when the kubelet deletes a rotated file and the new live file
    // gets its inode: the same inode, another name, other lines (here made on purpose by
    // renaming and rewriting one file, so the inode is surely the same).
    let rotated = c.join("0.log.20240501-100002");
    fs::rename(&live, &rotated).unwrap();
    fs::write(
        &rotated,
        [
            cri(3, "stdout", "F", "c, a new file longer than the old one"),
            cri(4, "stdout", "F", "d"),
        ]
        .concat(),
    )
    .unwrap();
    f.poll().unwrap();
    // and a file shorter than what was read of it is new too
    fs::write(&rotated, cri(5, "stdout", "F", "e")).unwrap();
    f.poll().unwrap();
    let got: Vec<String> = all(&store)
        .into_iter()
        .map(|s| s.split('|').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(
        got,
        ["a", "b", "c, a new file longer than the old one", "d", "e"]
    );
}

#[test]
fn a_file_first_seen_empty_is_read_in_time_order_after_a_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("ns_pod-a_uid/app");
    fs::create_dir_all(&c).unwrap();
    let live = c.join("0.log");
    fs::write(&live, "").unwrap();
    let store = Store::in_memory(Config::default()).unwrap();
    let mut f = Follower::new(tmp.path(), store.clone());
    f.poll().unwrap(); // seen empty
    append(&live, &cri(1, "stdout", "F", "a"));
    f.poll().unwrap();
    append(&live, &cri(2, "stdout", "F", "b"));
    // rotated before "b" was read; the new live file is newer
    fs::rename(&live, c.join("0.log.20240501-100002")).unwrap();
    append(&live, &cri(3, "stdout", "F", "c"));
    f.poll().unwrap();
    let got: Vec<String> = all(&store)
        .into_iter()
        .map(|s| s.split('|').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(got, ["a", "b", "c"]);
    let ts: Vec<Timestamp> = store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines
        .iter()
        .map(|l| l.timestamp())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
}
