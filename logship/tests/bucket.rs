//! A store shipped into a real S3 server (SeaweedFS, started per test) reads back from the
//! bucket exactly as it reads locally; readers follow the writer pass by pass; retention,
//! restarts of the shipper, a writer appending during passes and a bucket that is down all
//! keep the copy right; several nodes' copies read as one federation.

use std::sync::Arc;
use std::time::Duration;

use logship::seaweedfs::SeaweedFs;
use logship::{BlockCache, Bucket, BucketDirectory, BucketSettings, Shipper};
use logstore::*;

const ACCESS_KEY: &str = "wharf-test";
const SECRET_KEY: &str = "wharf-test-secret";

/// A real S3 server in a temporary folder (removed with it).
struct S3Server {
    server: SeaweedFs,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl S3Server {
    async fn start() -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        let server = SeaweedFs::start(dir.path(), ACCESS_KEY, SECRET_KEY)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let endpoint = server.endpoint.clone();
        S3Server {
            server,
            endpoint,
            _dir: dir,
        }
    }
}

const S: i64 = 1_000_000_000;
const T0: i64 = 1_714_557_600 * S; // 2024-05-01T10:00:00Z

fn small() -> Config {
    Config {
        block_bytes: 512,
        segment_bytes: 4 * 1024,
        segment_age: Duration::from_secs(600),
        compression_level: 1,
        ..Config::default()
    }
}

async fn bucket(server: &S3Server, name: &str) -> Bucket {
    server.server.create_bucket(name).await.unwrap();
    Bucket::connect(&BucketSettings {
        url: format!("s3://{name}/cluster-1"),
        endpoint: Some(server.endpoint.clone()),
        region: None,
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
    })
    .unwrap()
}

/// A SeaweedFS with bucket `logs`, a client of it, and a node's empty store folder.
async fn setup() -> (S3Server, Bucket, tempfile::TempDir, std::path::PathBuf) {
    let server = S3Server::start().await;
    let bucket = bucket(&server, "logs").await;
    let local = tempfile::tempdir().unwrap();
    let path = local.path().to_owned();
    (server, bucket, local, path)
}

fn write(store: &Store, pod: &str, from: i64, n: i64) {
    let s = store
        .stream(
            &StreamKey::new("shop", pod, "app"),
            &Labels::from([("app".into(), "web".into())]),
        )
        .unwrap();
    for i in from..from + n {
        s.append(
            Timestamp(T0 + i * S / 10),
            LogStream::Stdout,
            format!("{pod} line {i} {}", "x".repeat(60)).as_bytes(),
        )
        .unwrap();
    }
    store.flush().unwrap();
}

fn all(store: &Store) -> Vec<(Position, String)> {
    store
        .query(&Query::new(StreamSelector::default()))
        .unwrap()
        .lines
        .into_iter()
        .map(|l| (l.position, l.text_lossy().into_owned()))
        .collect()
}

fn reader(bucket: &Bucket, name: &str, cache: &BlockCache) -> (Store, BucketDirectory) {
    let dir = BucketDirectory::new(bucket, name, cache.clone());
    (
        Store::open_read_only(Arc::new(dir.clone()), small()).unwrap(),
        dir,
    )
}

/// Runs blocking bucket work off the test's runtime threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shipped_store_reads_back_from_the_bucket_as_it_reads_locally() {
    let server = S3Server::start().await;
    let bucket = bucket(&server, "logs").await;
    let local = tempfile::tempdir().unwrap();
    let path = local.path().to_owned();
    let (b, cache) = (bucket.clone(), BlockCache::new(64 << 20));
    blocking(move || {
        let store = Store::open_path(&path, small()).unwrap();
        for pod in ["web-0", "web-1", "web-2"] {
            write(&store, pod, 0, 400); // several sealed segments each, and an active one
        }
        let mut shipper = Shipper::new(&b, "node-a", &path).unwrap();
        let pass = shipper.pass().unwrap();
        assert!(pass.uploaded > 10 && pass.deleted == 0, "{pass:?}");
        assert_eq!(b.store_names().unwrap(), vec!["node-a".to_string()]);

        let (copy, _) = reader(&b, "node-a", &cache);
        assert_eq!(all(&copy), all(&store));
        assert_eq!(all(&copy).len(), 1200);
        assert_eq!(
            copy.streams(&StreamSelector::default()),
            store.streams(&StreamSelector::default())
        );
        // a time range and a filter, and the same blocks again come from the cache
        let q = Query::new(StreamSelector::default())
            .range(Timestamp(T0 + 10 * S), Timestamp(T0 + 20 * S))
            .filter(Filter::Keyword("web-1".into()));
        let (a, before) = (copy.query(&q).unwrap(), cache.hits_and_misses());
        assert_eq!(a.lines, store.query(&q).unwrap().lines);
        assert_eq!(a.lines.len(), 100);
        copy.query(&q).unwrap();
        let after = cache.hits_and_misses();
        assert!(
            after.0 > before.0 && after.1 == before.1,
            "{before:?} → {after:?}"
        );
        // nothing changed: a pass uploads nothing
        assert!(!shipper.pass().unwrap().changed());
        // a reader writes nothing
        let err = copy.stream(&StreamKey::new("shop", "x", "y"), &Labels::new());
        assert!(matches!(err, Err(Error::ReadOnly { .. })));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_follow_the_writer_pass_by_pass_and_retention_deletes_in_the_bucket() {
    let (_server, b, _local, path) = setup().await;
    blocking(move || {
        let store = Store::open_path(&path, small()).unwrap();
        write(&store, "web-0", 0, 200);
        let mut shipper = Shipper::new(&b, "node-a", &path).unwrap();
        shipper.pass().unwrap();
        let (copy, dir) = reader(&b, "node-a", &BlockCache::new(1 << 20));
        let tag = dir
            .shipped_tag()
            .unwrap()
            .expect("the first pass wrote its mark");
        assert_eq!(all(&copy).len(), 200);

        // more lines, a new stream: seen after the next pass and a refresh, not before
        write(&store, "web-0", 200, 300);
        write(&store, "web-9", 0, 5);
        assert_eq!(copy.refresh().unwrap(), 0);
        assert!(shipper.pass().unwrap().changed());
        assert_ne!(dir.shipped_tag().unwrap().as_ref(), Some(&tag));
        assert_eq!(copy.refresh().unwrap(), 305);
        assert_eq!(all(&copy), all(&store));

        // retention drops the oldest segments: the bucket drops them too
        let report = store
            .apply_retention(
                &[RetentionRule {
                    namespaces: vec!["shop".into()],
                    max_age: Some(Duration::from_secs(20)),
                    max_bytes: None,
                }],
                Timestamp(T0 + 50 * S),
            )
            .unwrap();
        assert!(report.segments_deleted > 0, "{report:?}");
        let pass = shipper.pass().unwrap();
        assert_eq!(pass.deleted, report.segments_deleted, "{pass:?}");
        copy.refresh().unwrap();
        assert_eq!(all(&copy), all(&store));
        let fresh = reader(&b, "node-a", &BlockCache::new(0)).0;
        assert_eq!(all(&fresh), all(&store));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_shipper_uploads_only_what_differs_and_nothing_is_lost_or_doubled() {
    let (_server, b, _local, path) = setup().await;
    blocking(move || {
        let store = Store::open_path(&path, small()).unwrap();
        write(&store, "web-0", 0, 400);
        let mut first = Shipper::new(&b, "node-a", &path).unwrap();
        let shipped = first.pass().unwrap();
        drop(first); // the agent dies here, having kept nothing on disk
        write(&store, "web-0", 400, 3); // a few lines into the active segment
        let mut second = Shipper::new(&b, "node-a", &path).unwrap();
        let pass = second.pass().unwrap();
        // the active segment, its catalog and the manifest (lists are always sent again),
        // not the sealed segments
        assert!(pass.uploaded <= 3, "{pass:?} after {shipped:?}");
        assert!(pass.uploaded < shipped.uploaded);
        let copy = reader(&b, "node-a", &BlockCache::new(0)).0;
        assert_eq!(all(&copy), all(&store));
        assert_eq!(all(&copy).len(), 403);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_appending_during_passes_never_shows_a_reader_a_broken_store() {
    let (_server, b, _local, path) = setup().await;
    blocking(move || {
        let store = Store::open_path(&path, small()).unwrap();
        write(&store, "web-0", 0, 10);
        let mut shipper = Shipper::new(&b, "node-a", &path).unwrap();
        shipper.pass().unwrap();
        let copy = reader(&b, "node-a", &BlockCache::new(8 << 20)).0;
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..400 {
                    write(&store, "web-0", 10 + i * 7, 7);
                    write(&store, "web-1", i * 3, 3);
                }
            })
        };
        let (mut seen, mut passes) = (0, 0);
        while !writer.is_finished() {
            shipper.pass().unwrap();
            copy.refresh().unwrap();
            let now = all(&copy);
            // what a reader sees only grows, in order, with no line twice
            assert!(now.len() >= seen);
            assert!(now.windows(2).all(|w| w[0].0 < w[1].0));
            seen = now.len();
            passes += 1;
        }
        writer.join().unwrap();
        shipper.pass().unwrap();
        copy.refresh().unwrap();
        assert_eq!(all(&copy), all(&store));
        assert_eq!(all(&copy).len(), 10 + 400 * 10);
        eprintln!("{passes} passes while the writer wrote; the reader saw {seen} lines");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_nodes_copy_reads_as_one_federation() {
    let server = S3Server::start().await;
    let bucket = bucket(&server, "logs").await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<_> = dirs.iter().map(|d| d.path().to_owned()).collect();
    let b = bucket.clone();
    blocking(move || {
        let mut locals = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let store = Store::open_path(path, small()).unwrap();
            write(&store, &format!("web-{i}"), 0, 150);
            Shipper::new(&b, &format!("node-{i}"), path)
                .unwrap()
                .pass()
                .unwrap();
            locals.push(store);
        }
        let cache = BlockCache::new(8 << 20);
        let f = Federation::new();
        for name in b.store_names().unwrap() {
            f.insert(&name, reader(&b, &name, &cache).0).unwrap();
        }
        assert_eq!(f.names().len(), 3);
        let page = f
            .query(&Query::new(StreamSelector::default()).limit(1000))
            .unwrap();
        assert_eq!(page.lines.len(), 450);
        let mut texts: Vec<String> = page.lines.iter().map(|l| l.text_lossy().into()).collect();
        let mut want: Vec<String> = locals
            .iter()
            .flat_map(|s| all(s).into_iter().map(|(_, t)| t))
            .collect();
        texts.sort();
        want.sort();
        assert_eq!(texts, want);
        let pods = f.streams(&StreamSelector::default().with_pod("web-1"));
        assert_eq!(pods.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_that_is_down_or_misconfigured_fails_with_a_clear_error() {
    let bad = Bucket::connect(&BucketSettings {
        url: "http://logs".into(),
        ..BucketSettings::default()
    })
    .unwrap_err();
    assert!(bad.to_string().contains("not an s3:// URL"), "{bad}");
    let bad = Shipper::new(
        &Bucket::connect(&BucketSettings {
            url: "s3://logs".into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            ..BucketSettings::default()
        })
        .unwrap(),
        "../etc",
        "/tmp",
    )
    .err()
    .unwrap();
    assert!(bad.to_string().contains("cannot name a store"), "{bad}");

    let mut server = S3Server::start().await;
    let bucket = bucket(&server, "logs").await;
    let wrong_key = Bucket::connect(&BucketSettings {
        url: "s3://logs".into(),
        endpoint: Some(server.endpoint.clone()),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some("not-the-secret".into()),
        ..BucketSettings::default()
    })
    .unwrap();
    let local = tempfile::tempdir().unwrap();
    let path = local.path().to_owned();
    let (b, w) = (bucket.clone(), wrong_key.clone());
    let path2 = path.clone();
    blocking(move || {
        let store = Store::open_path(&path2, small()).unwrap();
        write(&store, "web-0", 0, 50);
        let err = Shipper::new(&w, "node-a", &path2)
            .unwrap()
            .pass()
            .unwrap_err();
        assert!(matches!(err, logship::Error::Bucket { .. }), "{err}");
        Shipper::new(&b, "node-a", &path2).unwrap().pass().unwrap();
    })
    .await;
    server.server.stop().await;
    let b = bucket.clone();
    blocking(move || {
        let err = Shipper::new(&b, "node-b", &path)
            .unwrap()
            .pass()
            .unwrap_err();
        assert!(err.to_string().contains("log bucket"), "{err}");
        let err = Store::open_read_only(
            Arc::new(BucketDirectory::new(&b, "node-a", BlockCache::new(0))),
            small(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("manifest"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_files_are_written_read_listed_and_deleted_beside_the_stores() {
    let (_server, bucket, _local, _path) = setup().await;
    blocking(move || {
        let rec = "recordings/shop/0195-a.cast";
        assert_eq!(bucket.get_file(rec).unwrap(), None, "nothing there yet");
        assert_eq!(bucket.file_info(rec).unwrap(), None);
        bucket
            .put_file(rec, b"{\"version\": 2}\n".to_vec())
            .unwrap();
        bucket
            .put_file("recordings/beta/0195-b.cast", vec![b'x'; 3000])
            .unwrap();
        assert_eq!(
            bucket.get_file(rec).unwrap().as_deref(),
            Some(&b"{\"version\": 2}\n"[..])
        );
        let info = bucket.file_info(rec).unwrap().unwrap();
        assert_eq!((info.path.as_str(), info.size), (rec, 15));
        let age = chrono::Utc::now() - info.modified;
        assert!(
            age.num_seconds().abs() < 600,
            "its time is the write's: {info:?}"
        );

        let mut all: Vec<_> = bucket
            .list_files("recordings")
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.size))
            .collect();
        all.sort();
        assert_eq!(
            all,
            [
                ("recordings/beta/0195-b.cast".to_string(), 3000),
                (rec.to_string(), 15)
            ]
        );
        assert_eq!(bucket.list_files("recordings/shop").unwrap().len(), 1);
        assert!(
            bucket.store_names().unwrap().is_empty(),
            "files are not stores"
        );

        bucket.delete_file(rec).unwrap();
        bucket.delete_file(rec).unwrap(); // gone already: not an error
        assert_eq!(bucket.get_file(rec).unwrap(), None);
        assert_eq!(bucket.list_files("").unwrap().len(), 1);

        for bad in ["../stores/x", "recordings//a", "./a", ""] {
            let err = bucket.put_file(bad, vec![]).unwrap_err();
            assert!(
                err.to_string().contains("cannot name a file"),
                "{bad}: {err}"
            );
        }
    })
    .await;
}

/// The segment files of the store's one stream, oldest first (the last one is being written).
fn segment_files(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let streams = std::fs::read_dir(path.join("streams")).unwrap();
    let stream = streams.flatten().next().expect("one stream").path();
    let mut segments: Vec<_> = std::fs::read_dir(stream)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    segments
}

/// The size of the segment being written.
fn active_segment_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(segment_files(path).last().unwrap())
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_growing_segment_ships_only_what_it_gained_and_is_compacted_once_sealed() {
    let (_server, b, _local, path) = setup().await;
    blocking(move || {
        // NB: the lines compress to about 10 bytes each: 120 fit in one segment, 1,200 do not
        let big = Config {
            segment_bytes: 8 * 1024,
            ..small()
        };
        let store = Store::open_path(&path, big.clone()).unwrap();
        let mut shipper = Shipper::new(&b, "node-a", &path).unwrap();
        write(&store, "web-0", 0, 20);
        shipper.pass().unwrap();
        // NB: no cache: every read goes to the bucket
        let open_early = reader(&b, "node-a", &BlockCache::new(0)).0;
        assert_eq!(all(&open_early).len(), 20);

        // each pass sends the segment's new bytes as one more part, never the whole again
        let mut parts_bytes = 0;
        for round in 1..=5 {
            let before = active_segment_len(&path);
            write(&store, "web-0", round * 20, 20);
            let gained = active_segment_len(&path) - before;
            let pass = shipper.pass().unwrap();
            let lists = pass.bytes - gained; // the catalog-less stream's manifest
            assert!(
                pass.bytes >= gained && lists < gained,
                "round {round}: {pass:?}, the segment gained {gained} bytes"
            );
            parts_bytes += gained;
            let fresh = reader(&b, "node-a", &BlockCache::new(0)).0;
            assert_eq!(all(&fresh), all(&store), "round {round}");
        }
        assert!(parts_bytes > 0);

        // a file of the segment opened now, from its parts
        let seg_path = segment_files(&path)[0]
            .strip_prefix(&path)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts_file = BucketDirectory::new(&b, "node-a", BlockCache::new(0))
            .open_read(&seg_path)
            .unwrap();
        let head = std::fs::read(path.join(&seg_path)).unwrap()[..300].to_vec();
        let mut got = vec![0; 300];
        parts_file.read_exact_at(0, &mut got).unwrap();
        assert_eq!(got, head);

        // the segment seals: the pass ships it whole (and the new segment's first part);
        // the pass after retires its parts; a reader that opened the parts before reads on
        write(&store, "web-0", 120, 1200);
        let sealed = shipper.pass().unwrap();
        assert_eq!(sealed.parts_retired, 0, "parts stay one pass: {sealed:?}");
        let lines = all(&store);
        assert_eq!(
            all(&open_early)[..20],
            lines[..20],
            "read through the parts"
        );
        write(&store, "web-0", 1320, 1);
        let after = shipper.pass().unwrap();
        assert!(after.parts_retired >= 6, "{after:?}");
        assert_eq!(
            all(&open_early)[..20],
            lines[..20],
            "its parts gone, the same bytes come from the whole segment"
        );
        let mut got = vec![0; 300];
        parts_file.read_exact_at(0, &mut got).unwrap();
        assert_eq!(
            got, head,
            "read from the whole segment once its parts are gone"
        );
        open_early.refresh().unwrap();
        assert_eq!(all(&open_early), all(&store));
        let fresh = reader(&b, "node-a", &BlockCache::new(0)).0;
        assert_eq!(all(&fresh), all(&store));
        assert_eq!(all(&fresh).len(), 1321);

        // a restarted shipper finds the parts and goes on from their end
        drop(shipper);
        let before = active_segment_len(&path);
        write(&store, "web-0", 1321, 5);
        let gained = active_segment_len(&path) - before;
        let mut again = Shipper::new(&b, "node-a", &path).unwrap();
        let pass = again.pass().unwrap();
        assert!(
            pass.bytes - gained < 16 * 1024,
            "the new bytes and the lists, no segment again: {pass:?}"
        );
        let fresh = reader(&b, "node-a", &BlockCache::new(0)).0;
        assert_eq!(all(&fresh), all(&store));

        // a segment cut back (a torn tail dropped when a store reopens) loses the parts past
        // its new end, and the bucket holds what the file holds
        drop(store);
        again.pass().unwrap(); // what the store wrote as it closed
        let active = segment_files(&path).pop().unwrap();
        let len = std::fs::metadata(&active).unwrap().len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&active)
            .unwrap();
        f.set_len(len - 10).unwrap(); // as if its last block were torn
        drop(f);
        let cut = again.pass().unwrap();
        assert!(cut.parts_retired >= 1, "{cut:?}");
        let store = Store::open_path(&path, big).unwrap();
        again.pass().unwrap();
        let fresh = reader(&b, "node-a", &BlockCache::new(0)).0;
        assert_eq!(all(&fresh), all(&store));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_is_marked_alive_now_and_then_and_a_gone_one_is_deleted_whole() {
    let (_server, b, _local, path) = setup().await;
    blocking(move || {
        let store = Store::open_path(&path, small()).unwrap();
        write(&store, "web-0", 0, 300);
        assert_eq!(b.store_shipped_at("node-a").unwrap(), None);
        let mut shipper = Shipper::new(&b, "node-a", &path)
            .unwrap()
            .with_heartbeat(Duration::ZERO);
        shipper.pass().unwrap();
        let first = b.store_shipped_at("node-a").unwrap().expect("marked");
        // nothing changed, but the mark is due: written again
        let before = b.requests().puts;
        assert!(!shipper.pass().unwrap().changed());
        assert_eq!(b.requests().puts, before + 1, "only the mark");
        assert!(b.store_shipped_at("node-a").unwrap().unwrap() >= first);
        let mut quiet = Shipper::new(&b, "node-b", &path).unwrap(); // the hourly default
        quiet.pass().unwrap();
        let before = b.requests().puts;
        quiet.pass().unwrap();
        assert_eq!(b.requests().puts, before, "not due: nothing written");

        // a gone node's store is deleted whole; the others stay
        let deleted = b.delete_store("node-a").unwrap();
        assert!(deleted > 3, "{deleted}");
        assert_eq!(b.store_shipped_at("node-a").unwrap(), None);
        // NB: SeaweedFS may still list the emptied folder among the stores (S3 has none)
        let gone = reader(&b, "node-a", &BlockCache::new(0)).0;
        assert!(all(&gone).is_empty(), "nothing left to read");
        assert_eq!(b.delete_store("node-a").unwrap(), 0, "gone already");
        assert!(b.delete_store("../x").is_err());
        let copy = reader(&b, "node-b", &BlockCache::new(0)).0;
        assert_eq!(all(&copy), all(&store));
    })
    .await;
}
