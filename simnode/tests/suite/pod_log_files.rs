//! Containers' logs as the kubelet's CRI files under the node's pods dir, read back with
//! the log store's CRI ingester (what a node log agent runs): the same lines as `GET log`,
//! rotation and compression at the size limit, one file per instance, folders of deleted
//! pods removed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use logstore::cri::{ingest_dir, Follower};
use logstore::{Config, LogEntry, Query, Store, StreamKey, StreamSelector};
use serde_json::json;
use simnode::logs::{LogLine, LogStream};
use simnode::NodeRuntime;

use crate::common::*;

fn store() -> Store {
    Store::in_memory(Config::default()).unwrap()
}

fn stored(store: &Store, pod: &str, container: &str) -> Vec<LogEntry> {
    let key = StreamKey::new("demo", pod, container);
    store
        .query(&Query::new(StreamSelector::stream(&key)).limit(1_000_000))
        .unwrap()
        .lines
}

/// `(time in ns, stderr?, text)` of buffer lines and of stored lines, to compare.
type Row = (i64, bool, Vec<u8>);

fn rows_of_buffer(lines: &[LogLine]) -> Vec<Row> {
    lines
        .iter()
        .map(|l| {
            let text = l.text.strip_suffix(b"\n").unwrap_or(&l.text).to_vec();
            let ts = l.ts.timestamp_nanos_opt().unwrap();
            (ts, l.stream == LogStream::Stderr, text)
        })
        .collect()
}

fn rows_of_store(entries: &[LogEntry]) -> Vec<Row> {
    entries
        .iter()
        .map(|e| {
            assert!(!e.truncated, "no line is cut");
            let stderr = e.stream == logstore::LogStream::Stderr;
            (e.timestamp().0, stderr, e.text.clone())
        })
        .collect()
}

/// A readable summary of where two row lists first differ.
fn assert_same_rows(got: &[Row], want: &[Row]) {
    let first_diff = got.iter().zip(want).position(|(g, w)| g != w);
    let show = |r: Option<&Row>| {
        r.map(|(ts, err, text)| {
            let text = String::from_utf8_lossy(&text[..text.len().min(120)]).to_string();
            format!("{ts} stderr={err} {text:?} ({} bytes)", text.len())
        })
    };
    assert!(
        first_diff.is_none() && got.len() == want.len(),
        "stored {} lines, the buffer has {}; first difference at {first_diff:?}: stored {:?}, buffer {:?}",
        got.len(),
        want.len(),
        first_diff.and_then(|i| show(got.get(i))),
        first_diff.and_then(|i| show(want.get(i))),
    );
}

/// What a follower stored so far is the start of what the buffer holds, exactly.
fn assert_stored_prefix(rt: &NodeRuntime, store: &Store, pod: &str) {
    let buffer = rows_of_buffer(&rt.log_lines("demo", pod, None, false).unwrap());
    let got = rows_of_store(&stored(store, pod, "app"));
    assert!(got.len() <= buffer.len());
    assert_same_rows(&got, &buffer[..got.len()]);
}

fn container_dir(rt: &NodeRuntime, pod: &str, uid: &str, container: &str) -> PathBuf {
    simnode::logs::cri::pod_dir(rt.pod_logs_dir(), "demo", pod, uid).join(container)
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn files_hold_the_lines_get_log_gives_with_their_streams() {
    let n = node();
    assert_eq!(n.rt.pod_logs_dir(), n.dir.path().join("pods"));
    // A process writing both pipes, a line of 40,000 bytes among them.
    let script = "echo first; echo oops >&2; head -c 40000 /dev/zero | tr '\\0' x; echo; \
                  printf 'crlf\\r\\n'; echo; echo 'err again' >&2; echo last";
    let p = pod(json!({
        "metadata": {"name": "mixed", "namespace": "demo", "uid": "uid-cri-1"},
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "job", "image": "busybox", "command": ["sh", "-c", script]}
        ]}
    }));
    n.rt.start_pod(&p, ip(40, 1)).await.unwrap();
    wait_state(&n.rt, "uid-cri-1", "job done", |s| {
        s.containers[0].state.terminated().is_some()
    })
    .await;
    let job = n.rt.log_lines("demo", "mixed", Some("job"), false).unwrap();
    // The node shuts down: everything is written out and the folders stay.
    n.rt.stop_all().await;
    let s = store();
    let report = ingest_dir(n.rt.pod_logs_dir(), &s).unwrap();
    assert_eq!(report.bad_lines, 0, "{:?}", report.first_error);

    let job_rows = rows_of_buffer(&job);
    assert!(job_rows.iter().any(|(_, _, t)| t.len() == 40_000));
    assert!(job_rows.iter().any(|(_, err, t)| *err && t == b"oops"));
    let long_records =
        std::fs::read_to_string(container_dir(&n.rt, "mixed", "uid-cri-1", "job").join("0.log"))
            .unwrap()
            .lines()
            .filter(|l| l.contains(" stdout P "))
            .count();
    assert_eq!(
        long_records, 2,
        "40,000 bytes are two 16 KiB P records and an F"
    );
    // containerd drops a `\r\n` line end; the buffer keeps what the process wrote.
    let want_job: Vec<Row> = job_rows
        .into_iter()
        .map(|(ts, err, t)| {
            (
                ts,
                err,
                t.strip_suffix(b"\r").map(<[u8]>::to_vec).unwrap_or(t),
            )
        })
        .collect();
    assert_same_rows(&rows_of_store(&stored(&s, "mixed", "job")), &want_job);
}

#[tokio::test]
async fn a_running_app_s_file_matches_its_buffer() {
    let n = node();
    let p = app_pod(
        "shop",
        "uid-cri-2",
        json!({"name": "app", "image": "busybox", "env": [{"name": "WHARF_SIM_LOG_RATE", "value": "300"}]}),
    );
    n.rt.start_pod(&p, ip(40, 2)).await.unwrap();
    wait_running(&n.rt, "uid-cri-2").await;
    wait_for(20, "some stderr lines", || {
        let ok =
            n.rt.log_lines("demo", "shop", None, false)
                .ok()
                .filter(|l| l.iter().filter(|l| l.stream == LogStream::Stderr).count() >= 3);
        async move { ok.map(|_| ()) }
    })
    .await;
    // While it keeps writing: the stored lines are always the buffer's first lines, and
    // they catch up within a flush and a pass.
    let s = store();
    let mut follower = Follower::new(n.rt.pod_logs_dir(), s.clone());
    wait_for(20, "the file caught up with the buffer", || {
        follower.poll().unwrap();
        assert_stored_prefix(&n.rt, &s, "shop");
        let caught_up = stored(&s, "shop", "app").len() > 100;
        async move { caught_up.then_some(()) }
    })
    .await;
    let buffer = n.rt.log_lines("demo", "shop", None, false).unwrap();
    n.rt.stop_all().await;
    follower.poll().unwrap();
    let got = rows_of_store(&stored(&s, "shop", "app"));
    // Lines pushed between the snapshot and the stop are in the file too.
    assert!(got.len() >= buffer.len());
    assert_same_rows(&got[..buffer.len()], &rows_of_buffer(&buffer));
}

#[tokio::test]
async fn files_rotate_and_compress_at_the_size_limit_and_are_read_once() {
    let n = node_with(|c| {
        c.container_log_max_size = 4096;
        c.container_log_max_files = 3;
    });
    let p = app_pod(
        "busy",
        "uid-cri-3",
        json!({"name": "app", "image": "nginx", "env": [{"name": "WHARF_SIM_LOG_RATE", "value": "300"}]}),
    );
    n.rt.start_pod(&p, ip(40, 3)).await.unwrap();
    wait_running(&n.rt, "uid-cri-3").await;
    let dir = container_dir(&n.rt, "busy", "uid-cri-3", "app");
    let s = store();
    let mut follower = Follower::new(n.rt.pod_logs_dir(), s.clone());
    let mut rotated_seen = BTreeSet::new();
    wait_for(
        30,
        "four rotations, the oldest compressed then removed",
        || {
            follower.poll().unwrap();
            assert_stored_prefix(&n.rt, &s, "busy");
            let names = file_names(&dir);
            assert!(
                names.iter().filter(|n| !n.ends_with(".tmp")).count() <= 3,
                "at most containerLogMaxFiles files: {names:?}"
            );
            for name in &names {
                if let Some(stamp) = name.strip_prefix("0.log.") {
                    let stamp = stamp.trim_end_matches(".gz");
                    assert!(
                        chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S").is_ok(),
                        "{name}"
                    );
                    rotated_seen.insert(stamp.to_string());
                }
            }
            let plain: Vec<&String> = names
                .iter()
                .filter(|n| n.starts_with("0.log.") && !n.ends_with(".gz"))
                .collect();
            let done = rotated_seen.len() >= 4
                && names.iter().any(|n| n.ends_with(".gz"))
                && plain.len() == 1
                && names.contains("0.log");
            async move { done.then_some(()) }
        },
    )
    .await;
    // The newest rotated file stays plain; older ones are gzip.
    let names = file_names(&dir);
    let newest = names
        .iter()
        .filter(|n| n.starts_with("0.log."))
        .max()
        .unwrap();
    assert!(!newest.ends_with(".gz"), "{names:?}");
    let oldest_seen = rotated_seen.iter().next().unwrap();
    assert!(
        !names.iter().any(|n| n.contains(oldest_seen.as_str())),
        "the oldest rotation was removed: {names:?}"
    );
    let buffer = n.rt.log_lines("demo", "busy", None, false).unwrap();
    assert!(
        buffer.len() < n.rt.config().log_buffer_lines,
        "the buffer kept every line"
    );
    n.rt.stop_all().await;
    follower.poll().unwrap();
    let got = rows_of_store(&stored(&s, "busy", "app"));
    assert!(got.len() >= buffer.len());
    assert!(
        got.iter().any(|(_, err, _)| *err),
        "nginx's error log is stderr"
    );
    assert_same_rows(&got[..buffer.len()], &rows_of_buffer(&buffer));
    // Once more from scratch, reading only what is left: nothing twice, nothing missing at the end.
    let again = store();
    ingest_dir(n.rt.pod_logs_dir(), &again).unwrap();
    let left = rows_of_store(&stored(&again, "busy", "app"));
    assert!(!left.is_empty() && left.len() < got.len());
    assert_same_rows(&left, &got[got.len() - left.len()..]);
}

#[tokio::test]
async fn a_restarted_container_writes_1_log() {
    let n = node();
    let p = app_pod(
        "crashy",
        "uid-cri-4",
        json!({"name": "app", "image": "spring-shop:1",
            "env": [{"name": "WHARF_SIM_CRASH_AFTER", "value": "1.5"}]}),
    );
    n.rt.start_pod(&p, ip(40, 4)).await.unwrap();
    let state = wait_state(&n.rt, "uid-cri-4", "restarted once and running", |s| {
        s.containers[0].restart_count == 1 && s.containers[0].state.is_running()
    })
    .await;
    assert_eq!(state.containers[0].restart_count, 1);
    let dir = container_dir(&n.rt, "crashy", "uid-cri-4", "app");
    wait_for(10, "1.log", || {
        let ok = dir.join("1.log").is_file();
        async move { ok.then_some(()) }
    })
    .await;
    let previous = n.rt.log_lines("demo", "crashy", None, true).unwrap();
    let current = n.rt.log_lines("demo", "crashy", None, false).unwrap();
    n.rt.stop_all().await;
    assert_eq!(
        file_names(&dir),
        BTreeSet::from(["0.log".to_string(), "1.log".to_string()])
    );
    let s = store();
    ingest_dir(n.rt.pod_logs_dir(), &s).unwrap();
    let got = rows_of_store(&stored(&s, "crashy", "app"));
    let mut want = rows_of_buffer(&previous);
    assert!(want
        .iter()
        .any(|(_, _, t)| t.ends_with(b"Application run failed")));
    want.extend(rows_of_buffer(&current));
    assert!(got.len() >= want.len());
    assert_same_rows(&got[..want.len()], &want);
}

#[tokio::test]
async fn dead_instances_but_the_last_lose_their_files() {
    let n = node_with(|c| c.pod_logs_linger = std::time::Duration::from_millis(500));
    let p = app_pod(
        "dies",
        "uid-cri-5",
        json!({"name": "app", "image": "busybox", "env": [{"name": "WHARF_SIM_EXIT", "value": "3"}]}),
    );
    n.rt.start_pod(&p, ip(40, 5)).await.unwrap();
    let dir = container_dir(&n.rt, "dies", "uid-cri-5", "app");
    wait_for(30, "0.log removed once instance 2 ran", || {
        let instances: BTreeSet<u32> = file_names(&dir)
            .iter()
            .filter_map(|n| n.strip_suffix(".log")?.parse().ok())
            .collect();
        let latest = instances.last().copied().unwrap_or(0);
        // The newest dead instance's file stays (`previous` on a real node).
        assert!(
            latest == 0 || instances.contains(&(latest - 1)),
            "{instances:?}"
        );
        let ok = latest >= 2 && !instances.contains(&0);
        async move { ok.then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn a_deleted_pod_s_folder_goes_after_a_while() {
    let n = node();
    let p = app_pod(
        "gone",
        "uid-cri-6",
        json!({"name": "app", "image": "busybox"}),
    );
    n.rt.start_pod(&p, ip(40, 6)).await.unwrap();
    wait_running(&n.rt, "uid-cri-6").await;
    let pod_dir = simnode::logs::cri::pod_dir(n.rt.pod_logs_dir(), "demo", "gone", "uid-cri-6");
    let live = pod_dir.join("app").join("0.log");
    wait_for(10, "lines in the file", || {
        let ok = live.metadata().is_ok_and(|m| m.len() > 0);
        async move { ok.then_some(()) }
    })
    .await;
    n.rt.stop_pod("uid-cri-6").await;
    assert!(live.is_file(), "an agent still gets to read the last lines");
    wait_for(10, "the pod's log folder removed", || {
        let gone = !pod_dir.exists();
        async move { gone.then_some(()) }
    })
    .await;
    assert!(n.rt.pod_logs_dir().is_dir(), "the pods dir itself stays");
}

/// A pod with one simulated app container, scheduled on `node` (none when `None`).
fn pod_on(node: Option<&str>, name: &str, uid: &str) -> k8s_openapi::api::core::v1::Pod {
    let mut spec = json!({"containers": [
        {"name": "app", "image": "busybox", "env": [{"name": "WHARF_SIM_LOG_RATE", "value": "50"}]}
    ]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    pod(json!({
        "metadata": {"name": name, "namespace": "demo", "uid": uid},
        "spec": spec,
    }))
}

/// Waits until `file` has some lines in it.
async fn wait_lines_in(file: &Path) {
    wait_for(10, &format!("lines in {}", file.display()), || {
        let ok = file.metadata().is_ok_and(|m| m.len() > 0);
        async move { ok.then_some(()) }
    })
    .await;
}

/// The pods of the streams a store holds.
fn stored_pods(store: &Store) -> BTreeSet<String> {
    store
        .streams(&StreamSelector::default())
        .into_iter()
        .map(|s| s.key.pod)
        .collect()
}

fn set<const N: usize>(names: [&str; N]) -> BTreeSet<String> {
    names.into_iter().map(String::from).collect()
}

#[tokio::test]
async fn by_node_each_node_s_pods_are_in_its_own_folder() {
    let n = node_with(|c| {
        c.pod_logs_by_node = true;
        // Rotation and compression in a node's folder too, every file kept.
        c.container_log_max_size = 2048;
        c.container_log_max_files = 1000;
    });
    let pods = n.rt.pod_logs_dir().to_path_buf();
    let a = n.rt.pod_logs_dir_of("node-a");
    let b = n.rt.pod_logs_dir_of("node-b");
    assert_eq!(a, pods.join("node-a"));
    assert_eq!(b, pods.join("node-b"));
    assert!(
        a.is_dir() && b.is_dir(),
        "an agent can start before any pod"
    );
    let placed = [
        ("node-a", "web", "uid-node-1"),
        ("node-a", "api", "uid-node-2"),
        ("node-b", "db", "uid-node-3"),
    ];
    for (i, (node, name, uid)) in placed.into_iter().enumerate() {
        n.rt.start_pod(&pod_on(Some(node), name, uid), ip(41, i as u8 + 1))
            .await
            .unwrap();
    }
    for (node, name, uid) in placed {
        wait_running(&n.rt, uid).await;
        let dir = simnode::logs::cri::pod_dir(&n.rt.pod_logs_dir_of(node), "demo", name, uid);
        wait_lines_in(&dir.join("app").join("0.log")).await;
    }
    let db = simnode::logs::cri::pod_dir(&b, "demo", "db", "uid-node-3").join("app");
    wait_for(20, "a rotated, compressed file in node-b's folder", || {
        let ok = file_names(&db).iter().any(|n| n.ends_with(".gz"));
        async move { ok.then_some(()) }
    })
    .await;
    let buffers: Vec<Vec<LogLine>> = placed
        .iter()
        .map(|(_, name, _)| n.rt.log_lines("demo", name, None, false).unwrap())
        .collect();
    n.rt.stop_all().await;
    assert_eq!(file_names(&pods), set(["node-a", "node-b"]));

    // One agent per node: each reads its node's pods, and only those.
    let sa = store();
    let report = ingest_dir(&a, &sa).unwrap();
    assert_eq!(report.bad_lines, 0, "{:?}", report.first_error);
    assert_eq!(stored_pods(&sa), set(["web", "api"]));
    let sb = store();
    let report = ingest_dir(&b, &sb).unwrap();
    assert_eq!(report.bad_lines, 0, "{:?}", report.first_error);
    assert_eq!(stored_pods(&sb), set(["db"]));
    for ((node, name, _), buffer) in placed.iter().zip(&buffers) {
        let s = if *node == "node-a" { &sa } else { &sb };
        let got = rows_of_store(&stored(s, name, "app"));
        assert!(got.len() >= buffer.len() && !buffer.is_empty(), "{name}");
        assert_same_rows(&got[..buffer.len()], &rows_of_buffer(buffer));
    }
}

#[tokio::test]
async fn by_node_a_hostile_or_missing_node_name_stays_in_the_pods_dir() {
    let n = node_with(|c| c.pod_logs_by_node = true);
    let pods = n.rt.pod_logs_dir().to_path_buf();
    let fallback = pods.join(simnode::logs::cri::UNSCHEDULED);
    // NB: an absolute name inside the test's folder, so that a bug writes nowhere else.
    let abs = n.dir.path().join("abs");
    let abs = abs.to_str().unwrap();
    let placed = [
        (Some("../x"), "up", "uid-hostile-1"),
        (Some(abs), "abs", "uid-hostile-2"),
        (Some(".."), "dots", "uid-hostile-3"),
        (None, "nowhere", "uid-hostile-4"),
    ];
    for (i, (node, name, uid)) in placed.into_iter().enumerate() {
        n.rt.start_pod(&pod_on(node, name, uid), ip(42, i as u8 + 1))
            .await
            .unwrap();
    }
    for (_, name, uid) in placed {
        wait_running(&n.rt, uid).await;
        wait_for(10, "log lines", || {
            let ok =
                n.rt.log_lines("demo", name, None, false)
                    .is_ok_and(|l| !l.is_empty());
            async move { ok.then_some(()) }
        })
        .await;
    }
    // Everything is written out wherever it goes.
    n.rt.stop_all().await;
    assert_eq!(
        file_names(&pods),
        set([simnode::logs::cri::UNSCHEDULED]),
        "nothing but the fallback folder"
    );
    assert!(
        !n.dir.path().join("x").exists(),
        "nothing next to the pods dir"
    );
    assert!(!Path::new(abs).exists(), "nothing at an absolute path");
    let s = store();
    ingest_dir(&fallback, &s).unwrap();
    assert_eq!(stored_pods(&s), set(["up", "abs", "dots", "nowhere"]));
    for (node, _, _) in placed {
        assert_eq!(n.rt.pod_logs_dir_of(node.unwrap_or("")), fallback);
    }
}

#[tokio::test]
async fn by_node_a_deleted_pod_s_folder_goes_and_its_node_s_stays() {
    let n = node_with(|c| {
        c.pod_logs_by_node = true;
        c.pod_logs_linger = std::time::Duration::from_millis(500);
    });
    n.rt.start_pod(&pod_on(Some("node-a"), "gone", "uid-node-gone"), ip(43, 1))
        .await
        .unwrap();
    n.rt.start_pod(
        &pod_on(Some("node-a"), "stays", "uid-node-stays"),
        ip(43, 2),
    )
    .await
    .unwrap();
    let node_dir = n.rt.pod_logs_dir_of("node-a");
    let gone = simnode::logs::cri::pod_dir(&node_dir, "demo", "gone", "uid-node-gone");
    let stays = simnode::logs::cri::pod_dir(&node_dir, "demo", "stays", "uid-node-stays");
    wait_running(&n.rt, "uid-node-gone").await;
    wait_lines_in(&gone.join("app").join("0.log")).await;
    n.rt.stop_pod("uid-node-gone").await;
    assert!(
        gone.join("app").join("0.log").is_file(),
        "an agent still gets to read the last lines"
    );
    wait_for(10, "the pod's log folder removed", || {
        let removed = !gone.exists();
        async move { removed.then_some(()) }
    })
    .await;
    assert!(stays.is_dir(), "the other pod's folder stays");
    assert!(node_dir.is_dir(), "the node's folder stays");
    n.rt.stop_all().await;
}

#[tokio::test]
async fn without_by_node_every_node_shares_the_pods_dir() {
    let n = node();
    let pods = n.rt.pod_logs_dir().to_path_buf();
    assert_eq!(n.rt.pod_logs_dir_of("node-a"), pods);
    assert_eq!(n.rt.pod_logs_dir_of("../x"), pods);
    n.rt.start_pod(&pod_on(Some("node-a"), "flat", "uid-flat"), ip(44, 1))
        .await
        .unwrap();
    wait_running(&n.rt, "uid-flat").await;
    let dir = simnode::logs::cri::pod_dir(&pods, "demo", "flat", "uid-flat");
    wait_lines_in(&dir.join("app").join("0.log")).await;
    n.rt.stop_all().await;
    assert_eq!(file_names(&pods), set(["demo_flat_uid-flat"]));
}
