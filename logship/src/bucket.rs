//! A bucket (and a prefix in it) on an S3 server, reached with `object_store`'s client, and
//! the runtime its requests run on.
//!
//! The log store's [`logstore::Directory`] is synchronous (queries run on blocking threads),
//! while the S3 client is async. A [`Bucket`] owns a small Tokio runtime of its own and runs
//! each request there, the calling thread waiting for the answer: so the same bucket serves a
//! query on a blocking thread and a shipper on a plain thread, and never blocks inside a
//! caller's runtime (which would panic or stall it).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ClientOptions, ListResult, ObjectMeta, ObjectStore, PutPayload, RetryConfig};

use crate::{Error, Result, STORES};

/// Where the shared log store lives.
#[derive(Clone, Debug, Default)]
pub struct BucketSettings {
    /// `s3://<bucket>` or `s3://<bucket>/<prefix>`.
    pub url: String,
    /// The S3 endpoint of a server that is not AWS (Ceph RGW, MinIO, SeaweedFS), e.g.
    /// `http://rook-ceph-rgw-store.rook-ceph:80`; unset: `AWS_ENDPOINT`, else AWS. Requests
    /// use path-style addressing (`<endpoint>/<bucket>/<key>`), which every such server takes.
    pub endpoint: Option<String>,
    /// Unset: `AWS_REGION`, else `us-east-1` (what Ceph and MinIO expect by default).
    pub region: Option<String>,
    /// Unset: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (e.g. from a Secret in the pod's
    /// environment).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// A connected bucket; cheap to clone.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    io: Arc<Io>,
    counts: Arc<Counters>,
}

/// Requests made to the bucket since it was connected (for operators and benchmarks).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    pub lists: u64,
    pub heads: u64,
    pub gets: u64,
    pub puts: u64,
    pub deletes: u64,
    /// Bytes received by GETs.
    pub bytes_in: u64,
    /// Bytes sent by PUTs.
    pub bytes_out: u64,
}

#[derive(Debug, Default)]
struct Counters {
    pub lists: AtomicU64,
    pub heads: AtomicU64,
    pub gets: AtomicU64,
    pub puts: AtomicU64,
    pub deletes: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("url", &self.url).finish()
    }
}

impl Bucket {
    /// Set up the client (no request is made: a bucket that is down or refuses the
    /// credentials shows at the first use).
    pub fn connect(settings: &BucketSettings) -> Result<Bucket> {
        let rest = settings.url.strip_prefix("s3://").ok_or_else(|| {
            Error::Settings(format!(
                "{:?} is not an s3:// URL (s3://<bucket>/<prefix>)",
                settings.url
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Settings(format!(
                "{:?} names no bucket",
                settings.url
            )));
        }
        let prefix = Path::parse(prefix.trim_end_matches('/'))
            .map_err(|e| Error::Settings(format!("prefix of {:?}: {e}", settings.url)))?;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(false)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(30)),
            )
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
                ..RetryConfig::default()
            });
        if std::env::var_os("AWS_REGION").is_none() {
            b = b.with_region("us-east-1");
        }
        if let Some(endpoint) = &settings.endpoint {
            b = b
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        } else if std::env::var("AWS_ENDPOINT").is_ok_and(|e| e.starts_with("http://")) {
            b = b.with_allow_http(true);
        }
        if let Some(region) = &settings.region {
            b = b.with_region(region);
        }
        if let Some(key) = &settings.access_key_id {
            b = b.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            b = b.with_secret_access_key(secret);
        }
        let store = b
            .build()
            .map_err(|e| Error::Settings(format!("{}: {e}", settings.url)))?;
        Ok(Bucket {
            store: Arc::new(store),
            prefix,
            url: settings.url.clone(),
            io: Arc::new(Io::new()?),
            counts: Arc::default(),
        })
    }

    /// The requests made through this bucket (and its clones) so far.
    pub fn requests(&self) -> Requests {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Requests {
            lists: get(&c.lists),
            heads: get(&c.heads),
            gets: get(&c.gets),
            puts: get(&c.puts),
            deletes: get(&c.deletes),
            bytes_in: get(&c.bytes_in),
            bytes_out: get(&c.bytes_out),
        }
    }

    /// The `s3://` URL it was made from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The prefix in the bucket everything lives under.
    pub(crate) fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Where the store `name` lives: `<prefix>/stores/<name>`.
    pub fn store_root(&self, name: &str) -> Path {
        self.prefix.child(STORES).child(name)
    }

    /// The object at `rel` (a `/`-separated path of the store's format) in the store at
    /// `root` (see [`Bucket::store_root`]).
    pub(crate) fn object(root: &Path, rel: &str) -> Path {
        rel.split('/')
            .filter(|p| !p.is_empty())
            .fold(root.clone(), |p, part| p.child(part))
    }

    /// The names of the stores in the bucket (nodes that shipped, consoles that wrote).
    pub fn store_names(&self) -> Result<Vec<String>> {
        let root = self.prefix.child(STORES);
        let listed = self
            .list_folder(&root)
            .map_err(Error::bucket("list", &root))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .filter(|n| crate::valid_name(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// When the store `name` was last shipped (its `shipped.json`, which a shipper writes at
    /// least every [`crate::ship::HEARTBEAT`]); `None` if it has none.
    pub fn store_shipped_at(&self, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let path = self.store_root(name).child(crate::SHIPPED);
        let meta = self
            .head_object(&path)
            .map_err(Error::bucket("head", &path))?;
        Ok(meta.map(|m| m.last_modified))
    }

    /// Deletes the store `name` from the bucket (its mark and manifest first, so readers stop
    /// following it); the number of objects deleted. Its writer must be gone for good: a
    /// shipper still running would leave a broken copy behind until its next restart.
    pub fn delete_store(&self, name: &str) -> Result<usize> {
        if !crate::valid_name(name) {
            return Err(Error::Settings(format!("{name:?} cannot name a store")));
        }
        let root = self.store_root(name);
        let listed = self
            .list_objects(&root)
            .map_err(Error::bucket("list", &root))?;
        let first = [crate::SHIPPED, logstore::manifest::MANIFEST_PATH].map(|f| root.child(f));
        let mut paths: Vec<Path> = listed.into_iter().map(|o| o.location).collect();
        paths.sort_by_key(|p| !first.contains(p));
        for path in &paths {
            self.delete_object(path)
                .map_err(Error::bucket("delete", path))?;
        }
        Ok(paths.len())
    }

    /// Writes `bytes` as the object at `path` (replacing one that is there). Every request of
    /// this crate goes through these few functions, which count it.
    pub(crate) fn put_object(
        &self,
        path: &Path,
        bytes: Vec<u8>,
    ) -> Result<(), object_store::Error> {
        Counters::add(&self.counts.puts, 1);
        Counters::add(&self.counts.bytes_out, bytes.len() as u64);
        let (store, at) = (self.store.clone(), path.clone());
        self.run(async move { store.put(&at, PutPayload::from(bytes)).await })
            .map(|_| ())
    }

    /// The object at `path`, whole; `None` if there is none.
    pub(crate) fn get_object(&self, path: &Path) -> Result<Option<Bytes>, object_store::Error> {
        Counters::add(&self.counts.gets, 1);
        let (store, at) = (self.store.clone(), path.clone());
        let got = self.run(async move {
            match store.get(&at).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        if let Some(b) = &got {
            Counters::add(&self.counts.bytes_in, b.len() as u64);
        }
        Ok(got)
    }

    /// Bytes `from..to` of the object at `path`.
    pub(crate) fn get_object_range(
        &self,
        path: &Path,
        from: u64,
        to: u64,
    ) -> Result<Bytes, object_store::Error> {
        Counters::add(&self.counts.gets, 1);
        Counters::add(&self.counts.bytes_in, to - from);
        let (store, at) = (self.store.clone(), path.clone());
        self.run(async move { store.get_range(&at, from..to).await })
    }

    /// The object at `path`'s size, time and ETag; `None` if there is none.
    pub(crate) fn head_object(
        &self,
        path: &Path,
    ) -> Result<Option<ObjectMeta>, object_store::Error> {
        Counters::add(&self.counts.heads, 1);
        let (store, at) = (self.store.clone(), path.clone());
        match self.run(async move { store.head(&at).await }) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the object at `path` (one that is not there is not an error).
    pub(crate) fn delete_object(&self, path: &Path) -> Result<(), object_store::Error> {
        Counters::add(&self.counts.deletes, 1);
        let (store, at) = (self.store.clone(), path.clone());
        match self.run(async move { store.delete(&at).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object under `path`, at any depth.
    pub(crate) fn list_objects(&self, path: &Path) -> Result<Vec<ObjectMeta>, object_store::Error> {
        Counters::add(&self.counts.lists, 1);
        let (store, at) = (self.store.clone(), path.clone());
        self.run(async move {
            use futures::TryStreamExt;
            store.list(Some(&at)).try_collect::<Vec<_>>().await
        })
    }

    /// The objects and folders right under `path`.
    pub(crate) fn list_folder(&self, path: &Path) -> Result<ListResult, object_store::Error> {
        Counters::add(&self.counts.lists, 1);
        let (store, at) = (self.store.clone(), path.clone());
        self.run(async move { store.list_with_delimiter(Some(&at)).await })
    }

    /// Run one request on the bucket's runtime and wait for its answer.
    fn run<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.io.run(f)
    }
}

/// `location`'s path under `root`, `/`-separated; `None` if it is not under it.
pub(crate) fn relative(root: &Path, location: &Path) -> Option<String> {
    let parts: Vec<String> = location
        .prefix_match(root)?
        .map(|p| p.as_ref().to_owned())
        .collect();
    Some(parts.join("/"))
}

/// The runtime the bucket's requests run on (two threads: requests mostly wait).
struct Io {
    rt: Option<tokio::runtime::Runtime>,
}

impl Io {
    fn new() -> Result<Io> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("log-bucket")
            .enable_all()
            .build()
            .map_err(|source| Error::Local {
                path: "(runtime)".into(),
                source,
            })?;
        Ok(Io { rt: Some(rt) })
    }

    fn run<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let rt = self.rt.as_ref().expect("the runtime lives as long as Io");
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .expect("the bucket's runtime stopped while a request was running")
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // NB: a runtime dropped inside another runtime panics; this one may be dropped anywhere
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
