//! Opening costs the same however long the history: the catalogs say what the sealed segments
//! are, a query reads only the segments of its range, and a store from before catalogs (or
//! with a catalog behind its files) still opens whole.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logstore::directory::{AppendFile, ReadFile};
use logstore::manifest::Manifest;
use logstore::*;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_714_557_600 * S; // 2024-05-01T10:00:00Z

/// Every flush seals a segment.
fn tiny_segments() -> Config {
    Config {
        segment_bytes: 1,
        segment_age: Duration::from_secs(3600),
        compression_level: 1,
        ..Config::default()
    }
}

fn key(pod: &str) -> StreamKey {
    StreamKey::new("shop", pod, "main")
}

const PODS: [&str; 2] = ["web-0", "web-1"];

/// Two streams of `sealed` one-block segments (segment `i` holds the lines of second `i`),
/// then a few lines in each stream's active segment.
fn store_with(sealed: i64) -> MemoryDirectory {
    let dir = MemoryDirectory::new();
    let store = Store::open(Arc::new(dir.clone()), tiny_segments()).unwrap();
    for i in 0..sealed {
        for pod in PODS {
            let s = store.stream(&key(pod), &Labels::new()).unwrap();
            for j in 0..3 {
                s.append(
                    Timestamp(T0 + i * S + j),
                    LogStream::Stdout,
                    format!("{pod} {i} {j}").as_bytes(),
                )
                .unwrap();
            }
            s.flush().unwrap();
        }
    }
    drop(store);
    let store = Store::open(
        Arc::new(dir.clone()),
        Config {
            segment_bytes: 1 << 20,
            ..tiny_segments()
        },
    )
    .unwrap();
    for pod in PODS {
        let s = store.stream(&key(pod), &Labels::new()).unwrap();
        for j in 0..3 {
            s.append(
                Timestamp(T0 + sealed * S + j),
                LogStream::Stdout,
                format!("{pod} active {j}").as_bytes(),
            )
            .unwrap();
        }
    }
    store.flush().unwrap();
    dir
}

/// What the store asked of its directory.
#[derive(Debug, Default)]
struct Calls {
    /// Files opened to read (`open_read`) and read whole (`read_all`).
    opened: Vec<String>,
    /// Files looked for that are not there.
    missing: Vec<String>,
    /// Positioned reads in opened files.
    reads: usize,
    lists: usize,
    /// Calls that change something.
    changes: Vec<String>,
}

impl Calls {
    /// Every read: opens (or attempts), whole-file reads and positioned reads.
    fn read_count(&self) -> usize {
        self.opened.len() + self.missing.len() + self.reads
    }
}

/// Counts what the store does with a directory.
struct Counting {
    inner: MemoryDirectory,
    calls: Arc<Mutex<Calls>>,
}

impl Counting {
    fn new(inner: &MemoryDirectory) -> (Arc<Counting>, Arc<Mutex<Calls>>) {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let dir = Counting {
            inner: inner.clone(),
            calls: calls.clone(),
        };
        (Arc::new(dir), calls)
    }

    fn change(&self, what: String) {
        self.calls.lock().unwrap().changes.push(what);
    }
}

struct CountingFile {
    inner: Arc<dyn ReadFile>,
    calls: Arc<Mutex<Calls>>,
}

impl ReadFile for CountingFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.calls.lock().unwrap().reads += 1;
        self.inner.read_exact_at(offset, buf)
    }
    fn len(&self) -> Result<u64> {
        self.inner.len()
    }
}

impl Directory for Counting {
    fn open_read(&self, path: &str) -> Result<Arc<dyn ReadFile>> {
        let file = self.inner.open_read(path);
        let mut calls = self.calls.lock().unwrap();
        match &file {
            Ok(_) => calls.opened.push(path.to_owned()),
            Err(_) => calls.missing.push(path.to_owned()),
        }
        Ok(Arc::new(CountingFile {
            inner: file?,
            calls: self.calls.clone(),
        }))
    }
    fn open_append(&self, path: &str) -> Result<Box<dyn AppendFile>> {
        self.change(format!("open_append {path}"));
        self.inner.open_append(path)
    }
    fn truncate(&self, path: &str, len: u64) -> Result<()> {
        self.change(format!("truncate {path}"));
        self.inner.truncate(path, len)
    }
    fn atomic_write(&self, path: &str, data: &[u8]) -> Result<()> {
        self.change(format!("atomic_write {path}"));
        self.inner.atomic_write(path, data)
    }
    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        self.calls.lock().unwrap().opened.push(path.to_owned());
        self.inner.read_all(path)
    }
    fn delete(&self, path: &str) -> Result<()> {
        self.change(format!("delete {path}"));
        self.inner.delete(path)
    }
    fn list(&self, dir: &str) -> Result<Vec<String>> {
        self.calls.lock().unwrap().lists += 1;
        self.inner.list(dir)
    }
    fn sync_dir(&self, dir: &str) -> Result<()> {
        self.change(format!("sync_dir {dir}"));
        self.inner.sync_dir(dir)
    }
    fn lock_writer(&self) -> Result<Box<dyn WriterLock>> {
        self.change("lock_writer".into());
        self.inner.lock_writer()
    }
}

/// How many segment files were opened.
fn segments_opened(calls: &Calls) -> usize {
    let segments: BTreeSet<&String> = calls
        .opened
        .iter()
        .filter(|p| p.ends_with(".seg"))
        .collect();
    segments.len()
}

/// Opens a store (as writer or reader) and returns it with what the open cost.
fn open_counted(dir: &MemoryDirectory, read_only: bool) -> (Store, Calls) {
    let (counting, calls) = Counting::new(dir);
    let store = if read_only {
        Store::open_read_only(counting, tiny_segments()).unwrap()
    } else {
        Store::open(counting, tiny_segments()).unwrap()
    };
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    (store, calls)
}

fn lines(store: &Store, query: Query) -> Vec<String> {
    store
        .query(&query)
        .unwrap()
        .lines
        .iter()
        .map(|l| l.text_lossy().into_owned())
        .collect()
}

#[test]
fn opening_reads_the_same_for_5_or_500_sealed_segments() {
    let short = store_with(5);
    let long = store_with(500);
    for read_only in [true, false] {
        let (store, few) = open_counted(&short, read_only);
        drop(store);
        let (store, many) = open_counted(&long, read_only);
        assert_eq!(
            few.read_count(),
            many.read_count(),
            "read_only {read_only}: 5 sealed segments: {few:?}\n500: {many:?}"
        );
        assert_eq!(few.lists, many.lists);
        // the manifest, and per stream its catalog and its active segment (scanned, then its
        // newest block read again for the count of lines at the last timestamp)
        assert_eq!(many.opened.len(), 1 + 3 * PODS.len(), "{many:?}");
        assert_eq!(segments_opened(&many), PODS.len(), "{many:?}");
        if read_only {
            // no listing: the id after the active segment is looked for, and is not there
            assert_eq!(
                (many.lists, many.missing.len()),
                (0, PODS.len()),
                "{many:?}"
            );
            assert!(many.changes.is_empty(), "{many:?}");
        } else {
            // a writer lists each stream's folder (to clear what a crash may have left)
            assert_eq!(
                (many.lists, many.missing.len()),
                (PODS.len(), 0),
                "{many:?}"
            );
            // the lock, the active segments opened to append to; no catalog written
            assert_eq!(many.changes.len(), 1 + PODS.len(), "{many:?}");
        }
        // and the store is all there
        let all = lines(&store, Query::new(StreamSelector::default()));
        assert_eq!(all.len(), PODS.len() * 501 * 3);
        assert_eq!(all.last().unwrap(), "web-1 active 2");
    }
}

#[test]
fn a_narrow_query_opens_only_the_segments_of_its_range() {
    let dir = store_with(500);
    for read_only in [true, false] {
        let (counting, calls) = Counting::new(&dir);
        let store = if read_only {
            Store::open_read_only(counting, tiny_segments()).unwrap()
        } else {
            Store::open(counting, tiny_segments()).unwrap()
        };
        for round in ["first (indexes read)", "second (indexes in memory)"] {
            *calls.lock().unwrap() = Calls::default();
            let got = lines(
                &store,
                Query::new(StreamSelector::default())
                    .range(Timestamp(T0 + 100 * S), Timestamp(T0 + 103 * S)),
            );
            assert_eq!(got.len(), 3 * 3 * PODS.len());
            assert_eq!(got[0], "web-0 100 0");
            let opened: BTreeSet<String> = calls.lock().unwrap().opened.iter().cloned().collect();
            let want: BTreeSet<String> = (1..=PODS.len())
                .flat_map(|stream| {
                    (100..103).map(move |seg| format!("streams/{stream}/{seg:016x}.seg"))
                })
                .collect();
            assert_eq!(opened, want, "read_only {read_only}, {round}");
            // one read per block (each segment holds one), and at first its footer and index
            let reads = calls.lock().unwrap().reads;
            let indexes = if round.starts_with("first") { 2 } else { 0 };
            assert_eq!(reads, want.len() * (1 + indexes), "{round}");
        }
    }
}

/// Turn a store into one of the previous format: no catalogs, manifest version 1.
fn without_catalogs(dir: &MemoryDirectory) {
    for path in dir.paths() {
        if path.ends_with("catalog.jsonl") {
            dir.delete(&path).unwrap();
        }
    }
    let mut manifest = Manifest::load(dir).unwrap();
    assert_eq!(manifest.version, 2);
    manifest.version = 1;
    manifest.store(dir).unwrap();
}

#[test]
fn a_store_of_the_previous_version_opens() {
    let dir = store_with(50);
    let want = lines(
        &Store::open_read_only(Arc::new(dir.clone()), tiny_segments()).unwrap(),
        Query::new(StreamSelector::default()),
    );
    let (_, fresh) = open_counted(&dir, true);
    without_catalogs(&dir);

    // a reader reads every segment, and writes nothing
    let (reader, calls) = open_counted(&dir, true);
    assert!(calls.changes.is_empty(), "{:?}", calls.changes);
    assert!(calls.read_count() > 2 * 50, "{calls:?}");
    assert_eq!(lines(&reader, Query::new(StreamSelector::default())), want);
    assert!(!dir.paths().iter().any(|p| p.ends_with("catalog.jsonl")));

    // a writer reads them once, then writes the catalogs, then the manifest
    let (writer, calls) = open_counted(&dir, false);
    assert_eq!(lines(&writer, Query::new(StreamSelector::default())), want);
    let written: Vec<&str> = calls
        .changes
        .iter()
        .filter_map(|c| c.strip_prefix("atomic_write "))
        .collect();
    assert_eq!(
        written,
        [
            "streams/1/catalog.jsonl",
            "streams/2/catalog.jsonl",
            "manifest.json"
        ]
    );
    assert_eq!(Manifest::load(&dir).unwrap().version, 2);
    drop(writer);
    let (store, calls) = open_counted(&dir, true);
    assert_eq!(calls.read_count(), fresh.read_count(), "{calls:?}");
    assert_eq!(lines(&store, Query::new(StreamSelector::default())), want);
}

#[test]
fn a_catalog_behind_its_files_is_caught_up() {
    let dir = store_with(20);
    let want = lines(
        &Store::open_read_only(Arc::new(dir.clone()), tiny_segments()).unwrap(),
        Query::new(StreamSelector::default()),
    );
    let (_, fresh) = open_counted(&dir, true);
    let catalogs = |dir: &MemoryDirectory| -> Vec<String> {
        (1..=PODS.len())
            .map(|s| {
                let bytes = dir.read_all(&format!("streams/{s}/catalog.jsonl")).unwrap();
                String::from_utf8(bytes.unwrap_or_default()).unwrap()
            })
            .collect()
    };
    let good = catalogs(&dir);
    let mut behind = [
        // a crash after segments were sealed, before their catalog lines were (all)
        // written: the last lines lost, half of the one before them
        good[0][..good[0].len() - 150].to_string(),
        // a seal whose footer could not be written (then the next one was): a gap
        good[1]
            .lines()
            .filter(|l| !l.starts_with("{\"id\":7,"))
            .map(|l| format!("{l}\n"))
            .collect(),
    ];
    assert_eq!(behind[1].lines().count(), good[1].lines().count() - 1);
    for round in ["torn and gapped catalogs", "no catalogs"] {
        for (s, catalog) in behind.iter().enumerate() {
            let path = format!("streams/{}/catalog.jsonl", s + 1);
            match catalog.is_empty() {
                true => dir.delete(&path).unwrap(),
                false => dir.atomic_write(&path, catalog.as_bytes()).unwrap(),
            }
        }
        let (reader, calls) = open_counted(&dir, true);
        assert!(calls.changes.is_empty(), "{round}: {:?}", calls.changes);
        assert_eq!(
            lines(&reader, Query::new(StreamSelector::default())),
            want,
            "{round}"
        );
        let (writer, _) = open_counted(&dir, false);
        assert_eq!(
            lines(&writer, Query::new(StreamSelector::default())),
            want,
            "{round}"
        );
        assert_eq!(catalogs(&dir), good, "{round}: the writer caught them up");
        behind = Default::default();
    }
    let (writer, _) = open_counted(&dir, false);
    // the writer goes on: its next seal appends to the caught-up catalog
    let s = writer.stream(&key("web-0"), &Labels::new()).unwrap();
    s.append(Timestamp(T0 + 100 * S), LogStream::Stdout, b"after")
        .unwrap();
    writer.seal_all().unwrap();
    drop((s, writer));
    let (store, calls) = open_counted(&dir, true);
    assert!(calls.opened.len() <= fresh.opened.len(), "{calls:?}");
    assert!(segments_opened(&calls) <= PODS.len(), "{calls:?}");
    let mut want = want;
    want.push("after".into());
    assert_eq!(lines(&store, Query::new(StreamSelector::default())), want);
}

#[test]
fn a_roll_appends_one_line_to_the_catalog() {
    let dir = MemoryDirectory::new();
    let (counting, calls) = Counting::new(&dir);
    let store = Store::open(counting, tiny_segments()).unwrap();
    let s = store.stream(&key("web-0"), &Labels::new()).unwrap();
    for i in 0..10 {
        s.append(Timestamp(T0 + i * S), LogStream::Stdout, b"tick")
            .unwrap();
        s.flush().unwrap();
    }
    let changes = std::mem::take(&mut calls.lock().unwrap().changes);
    let of_catalog: Vec<&str> = changes
        .iter()
        .filter_map(|c| c.strip_suffix(" streams/1/catalog.jsonl"))
        .collect();
    // the first seal writes the catalog, each later one appends its line: a roll costs the
    // same however many segments the stream has
    let mut want = vec!["atomic_write"];
    want.extend(["open_append"; 9]);
    assert_eq!(of_catalog, want);
    let text =
        String::from_utf8(dir.read_all("streams/1/catalog.jsonl").unwrap().unwrap()).unwrap();
    assert_eq!(text.lines().count(), 1 + 10, "{text}");
}

#[test]
fn an_unreadable_segment_before_the_active_one_leaves_no_hole() {
    // Segments 0..=2 sealed, 3 active; then (a power cut) 3's blocks are lost but the writer
    // had gone on into segment 4.
    let dir = store_with(3);
    let active = lines(
        &Store::open_read_only(Arc::new(dir.clone()), tiny_segments()).unwrap(),
        Query::new(StreamSelector::stream(&key("web-0"))),
    );
    let seg = |id: u64| format!("streams/1/{id:016x}.seg");
    let blocks = dir.read_all(&seg(3)).unwrap().unwrap();
    dir.atomic_write(&seg(4), &blocks).unwrap();
    dir.atomic_write(&seg(3), b"zeros after a power cut")
        .unwrap();
    // a writer recovers it; a reader looking for the segments after the catalog's finds 4
    drop(Store::open(Arc::new(dir.clone()), tiny_segments()).unwrap());
    let reader = Store::open_read_only(Arc::new(dir.clone()), tiny_segments()).unwrap();
    let got = lines(&reader, Query::new(StreamSelector::stream(&key("web-0"))));
    assert_eq!(got, active);
}
