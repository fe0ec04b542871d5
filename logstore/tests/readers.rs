//! Readers and writers: a store opened to read changes no byte of it, even beside a writer or
//! over a torn tail; it takes in what the writer flushed since when refreshed; and a store has
//! one writer at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logstore::directory::{AppendFile, ReadFile};
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

fn key() -> StreamKey {
    StreamKey::new("shop", "web-0", "nginx")
}

/// Every file and folder below `root`, with the files' bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                todo.push(path);
            } else {
                out.insert(path.clone(), Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

fn write_lines_to(store: &Store, key: &StreamKey, from: i64, n: i64) {
    let s = store.stream(key, &Labels::new()).unwrap();
    for i in from..from + n {
        s.append(
            Timestamp(T0 + i * S / 10),
            LogStream::Stdout,
            format!("line {i} {}", "x".repeat(40)).as_bytes(),
        )
        .unwrap();
    }
    store.flush().unwrap();
}

fn write_lines(store: &Store, from: i64, n: i64) {
    write_lines_to(store, &key(), from, n);
}

fn all_lines(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut query = Query::new(StreamSelector::default()).limit(1000);
    loop {
        let page = store.query(&query).unwrap();
        out.extend(page.lines.iter().map(|l| l.text_lossy().into_owned()));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return out,
        }
    }
}

/// The path of the newest segment file of the store's only stream.
fn last_segment(root: &Path) -> PathBuf {
    let stream_dir = root.join("streams/1");
    let mut segments: Vec<_> = std::fs::read_dir(&stream_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

/// Everything a reader does: queries of every kind, a tail, a refresh, the stream list.
async fn read_everything(reader: &Store) -> Vec<String> {
    let all = all_lines(reader);
    let window = reader
        .query(
            &Query::new(StreamSelector::stream(&key()))
                .range(Timestamp(T0 + 10 * S), Timestamp(T0 + 20 * S))
                .filter(Filter::Keyword("line 1".into()))
                .direction(Direction::Backward),
        )
        .unwrap();
    assert!(!window.lines.is_empty());
    let mut tail = reader
        .tail(TailRequest {
            selector: StreamSelector::default(),
            filter: None,
            start: TailStart::Last(5),
        })
        .unwrap();
    let last = tokio::time::timeout(Duration::from_secs(10), async {
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(tail.next().await.unwrap().text_lossy().into_owned());
        }
        got
    })
    .await
    .expect("the tail's backlog");
    assert_eq!(last[..], all[all.len() - 5..]);
    assert_eq!(reader.refresh().unwrap(), 0, "nothing new");
    assert_eq!(reader.streams(&StreamSelector::default()).len(), 1);
    all
}

#[tokio::test]
async fn a_reader_beside_a_writer_changes_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = Store::open_path(tmp.path(), small()).unwrap();
    write_lines(&writer, 0, 3000);
    let written = all_lines(&writer);
    assert_eq!(written.len(), 3000);

    let before = snapshot(tmp.path());
    let reader = Store::open_path_read_only(tmp.path(), small()).unwrap();
    assert!(reader.is_read_only() && !writer.is_read_only());
    assert_eq!(
        read_everything(&reader).await,
        written,
        "the reader sees what was flushed"
    );
    // nothing can be written through it
    let refused = reader.stream(&key(), &Labels::new()).err().unwrap();
    assert!(matches!(refused, Error::ReadOnly { .. }), "{refused}");
    assert!(refused.to_string().contains("read-only"), "{refused}");
    assert!(matches!(
        reader.append(
            &key(),
            &Labels::new(),
            Timestamp(T0),
            LogStream::Stdout,
            b"x"
        ),
        Err(Error::ReadOnly { .. })
    ));
    let handle = reader.existing_stream(&key()).unwrap();
    assert!(matches!(
        handle.append(Timestamp(T0), LogStream::Stdout, b"x"),
        Err(Error::ReadOnly { .. })
    ));
    for refused in [
        handle.flush(),
        reader.flush(),
        reader.sync(),
        reader.seal_all(),
    ] {
        assert!(matches!(refused, Err(Error::ReadOnly { .. })));
    }
    let rule = RetentionRule {
        namespaces: vec!["shop".into()],
        max_age: Some(Duration::from_secs(1)),
        max_bytes: None,
    };
    assert!(matches!(
        reader.apply_retention(&[rule], Timestamp(T0 + 3600 * S)),
        Err(Error::ReadOnly { .. })
    ));
    drop((handle, reader));
    assert_eq!(snapshot(tmp.path()), before, "the reader changed the store");

    // a torn tail (a writer killed in the middle of a block): read up to it, left as it is
    drop(writer);
    let last = last_segment(tmp.path());
    let mut torn = std::fs::read(&last).unwrap();
    torn.extend_from_slice(b"WLB1 half a block, then the power went");
    std::fs::write(&last, &torn).unwrap();
    let before = snapshot(tmp.path());
    let reader = Store::open_path_read_only(tmp.path(), small()).unwrap();
    assert_eq!(read_everything(&reader).await, written);
    drop(reader);
    assert_eq!(snapshot(tmp.path()), before, "the reader cut the torn tail");
    // (a writer does cut it, and goes on after the last good block)
    let writer = Store::open_path(tmp.path(), small()).unwrap();
    assert_ne!(snapshot(tmp.path()), before);
    write_lines(&writer, 3000, 1);
    assert_eq!(all_lines(&writer).len(), 3001);
}

/// A directory that records every call that could change something.
struct Recording {
    inner: MemoryDirectory,
    changes: Arc<Mutex<Vec<String>>>,
}

impl Recording {
    fn note(&self, what: &str, path: &str) {
        self.changes.lock().unwrap().push(format!("{what} {path}"));
    }
}

impl Directory for Recording {
    fn open_read(&self, path: &str) -> Result<Arc<dyn ReadFile>> {
        self.inner.open_read(path)
    }
    fn open_append(&self, path: &str) -> Result<Box<dyn AppendFile>> {
        self.note("open_append", path);
        self.inner.open_append(path)
    }
    fn truncate(&self, path: &str, len: u64) -> Result<()> {
        self.note("truncate", path);
        self.inner.truncate(path, len)
    }
    fn atomic_write(&self, path: &str, data: &[u8]) -> Result<()> {
        self.note("atomic_write", path);
        self.inner.atomic_write(path, data)
    }
    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        self.inner.read_all(path)
    }
    fn delete(&self, path: &str) -> Result<()> {
        self.note("delete", path);
        self.inner.delete(path)
    }
    fn list(&self, dir: &str) -> Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn sync_dir(&self, dir: &str) -> Result<()> {
        self.note("sync_dir", dir);
        self.inner.sync_dir(dir)
    }
    fn lock_writer(&self) -> Result<Box<dyn WriterLock>> {
        self.note("lock_writer", "");
        self.inner.lock_writer()
    }
}

#[tokio::test]
async fn a_reader_calls_nothing_that_changes_the_directory() {
    let dir = MemoryDirectory::new();
    let writer = Store::open(Arc::new(dir.clone()), small()).unwrap();
    write_lines(&writer, 0, 3000);
    // a torn tail after the active segment's last block
    let files = dir.list("streams/1").unwrap();
    let active = format!(
        "streams/1/{}",
        files.iter().rfind(|f| f.ends_with(".seg")).unwrap()
    );
    dir.open_append(&active)
        .unwrap()
        .append(b"WLB1 and then nothing")
        .unwrap();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let recording = Recording {
        inner: dir.clone(),
        changes: changes.clone(),
    };
    let reader = Store::open_read_only(Arc::new(recording), small()).unwrap();
    assert_eq!(read_everything(&reader).await, all_lines(&writer));
    assert!(changes.lock().unwrap().is_empty(), "{changes:?}");
}

#[tokio::test]
async fn a_reader_takes_in_what_was_flushed_since_when_refreshed() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = Store::open_path(tmp.path(), small()).unwrap();
    write_lines(&writer, 0, 10);
    let reader = Store::open_path_read_only(tmp.path(), small()).unwrap();
    let mut tail = reader
        .tail(TailRequest {
            selector: StreamSelector::default(),
            filter: None,
            start: TailStart::Now,
        })
        .unwrap();
    // more lines (rolling several segments), a new stream, a line not flushed
    write_lines(&writer, 10, 2000);
    let other = StreamKey::new("shop", "db-0", "postgres");
    write_lines_to(&writer, &other, 0, 5);
    writer
        .append(
            &key(),
            &Labels::new(),
            Timestamp(T0 + 10_000 * S),
            LogStream::Stdout,
            b"unflushed",
        )
        .unwrap();
    // queries never refresh by themselves: a reader is a stable view
    assert_eq!(all_lines(&reader).len(), 10);
    assert_eq!(reader.refresh().unwrap(), 2005);
    let flushed = all_lines(&reader);
    assert_eq!(flushed.len(), 2015);
    assert!(!flushed.contains(&"unflushed".to_string()));
    assert_eq!(reader.streams(&StreamSelector::default()).len(), 2);
    // its live tail got them too, in each stream's order
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        let mut got = Vec::new();
        for _ in 0..2005 {
            got.push(tail.next().await.unwrap());
        }
        got
    })
    .await
    .expect("the refreshed lines reach the tail");
    let texts_of = |k: &StreamKey| -> Vec<String> {
        got.iter()
            .filter(|e| *e.key == *k)
            .map(|e| e.text_lossy().into_owned())
            .collect()
    };
    assert_eq!(texts_of(&key()), all_of(&reader, &key())[10..]);
    assert_eq!(texts_of(&other), all_of(&reader, &other));
    // the rest flushed, the writer sealed everything, retention dropped the oldest segments
    writer.seal_all().unwrap();
    let report = writer
        .apply_retention(
            &[RetentionRule {
                namespaces: vec!["shop".into()],
                max_age: None,
                max_bytes: Some(20_000),
            }],
            Timestamp(T0),
        )
        .unwrap();
    assert!(report.segments_deleted > 0);
    reader.refresh().unwrap();
    assert_eq!(all_lines(&reader), all_lines(&writer));
    let everything = StreamSelector::default();
    assert_eq!(reader.streams(&everything), writer.streams(&everything));
    assert_eq!(reader.disk_bytes(), writer.disk_bytes());
    // a new segment, then more blocks in it
    write_lines(&writer, 20_000, 3);
    assert_eq!(reader.refresh().unwrap(), 3);
    assert_eq!(all_lines(&reader), all_lines(&writer));
    for more in 0..3 {
        write_lines(&writer, 20_003 + more, 1);
        assert_eq!(reader.refresh().unwrap(), 1);
        assert_eq!(all_lines(&reader), all_lines(&writer));
    }
}

fn all_of(store: &Store, key: &StreamKey) -> Vec<String> {
    store
        .query(&Query::new(StreamSelector::stream(key)))
        .unwrap()
        .lines
        .iter()
        .map(|l| l.text_lossy().into_owned())
        .collect()
}

#[test]
fn a_store_has_one_writer_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Store::open_path(tmp.path(), small()).unwrap();
    write_lines(&first, 0, 5);
    let refused = Store::open_path(tmp.path(), small())
        .err()
        .expect("refused");
    assert!(matches!(refused, Error::Locked { .. }), "{refused}");
    let said = refused.to_string();
    assert!(
        said.contains(&tmp.path().display().to_string()) && said.contains("read-only"),
        "{said}"
    );
    // readers are never refused
    let reader = Store::open_path_read_only(tmp.path(), small()).unwrap();
    assert_eq!(all_lines(&reader).len(), 5);
    // a handle keeps the store (and its lock) alive
    let handle = first.existing_stream(&key()).unwrap();
    drop(first);
    assert!(matches!(
        Store::open_path(tmp.path(), small()),
        Err(Error::Locked { .. })
    ));
    drop(handle);
    let second = Store::open_path(tmp.path(), small()).unwrap();
    write_lines(&second, 5, 1);
    assert_eq!(all_lines(&second).len(), 6);

    // the same in memory
    let dir = Arc::new(MemoryDirectory::new());
    let first = Store::open(dir.clone(), small()).unwrap();
    assert!(matches!(
        Store::open(dir.clone(), small()),
        Err(Error::Locked { .. })
    ));
    Store::open_read_only(dir.clone(), small()).unwrap();
    drop(first);
    Store::open(dir, small()).unwrap();
}

#[test]
fn a_missing_folder_is_not_made_by_a_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing-here");
    assert!(Store::open_path_read_only(&missing, small()).is_err());
    assert!(!missing.exists());
}
