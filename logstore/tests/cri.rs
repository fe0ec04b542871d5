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
