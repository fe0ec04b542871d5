//! A store's copy in the bucket, as a read-only [`logstore::Directory`]: open it with
//! [`logstore::Store::open_read_only`] and query it like a local store.
//!
//! Opening a file asks the bucket for its size and ETag (one `HEAD`), except a sealed
//! segment, whose size the catalog gives and which never changes; reads are ranged `GET`s
//! through the shared [`BlockCache`]. Every method that would change something
//! answers [`logstore::Error::ReadOnly`]: only the node's shipper writes its store's copy.

use std::io;
use std::sync::Arc;

use logstore::directory::{AppendFile, ReadFile, WriterLock};
use logstore::Directory;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::bucket::Counters;
use crate::cache::{BlockCache, Key};
use crate::{Bucket, SHIPPED};

/// The store `name` of a bucket, read-only.
#[derive(Clone)]
pub struct BucketDirectory {
    bucket: Bucket,
    root: Path,
    cache: BlockCache,
}

impl BucketDirectory {
    pub fn new(bucket: &Bucket, name: &str, cache: BlockCache) -> BucketDirectory {
        BucketDirectory {
            bucket: bucket.clone(),
            root: bucket.store_root(name),
            cache,
        }
    }

    /// The ETag of the store's `shipped.json` (`None` before the first pass): when it has
    /// not changed since the last look, neither has anything else, and a refresh can wait.
    pub fn shipped_tag(&self) -> logstore::Result<Option<String>> {
        match self.head(SHIPPED)? {
            Some(meta) => Ok(Some(meta.e_tag.unwrap_or_else(|| {
                format!(
                    "{}:{}",
                    meta.size,
                    meta.last_modified.timestamp_nanos_opt().unwrap_or(0)
                )
            }))),
            None => Ok(None),
        }
    }

    fn path(&self, rel: &str) -> Path {
        Bucket::object(&self.root, rel)
    }

    fn head(&self, rel: &str) -> logstore::Result<Option<object_store::ObjectMeta>> {
        let (store, path) = (self.bucket.store.clone(), self.path(rel));
        Counters::add(&self.bucket.counts.heads, 1);
        match self.bucket.run(async move { store.head(&path).await }) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_error(rel, e)),
        }
    }
}

/// The version a sealed segment's cached ranges are kept under.
const SEALED: &str = "sealed";

fn io_error(rel: &str, e: object_store::Error) -> logstore::Error {
    logstore::Error::Io {
        path: rel.into(),
        source: io::Error::from(e),
    }
}

fn read_only(operation: &'static str) -> logstore::Error {
    logstore::Error::ReadOnly { operation }
}

impl Directory for BucketDirectory {
    fn open_read(&self, path: &str) -> logstore::Result<Arc<dyn ReadFile>> {
        let Some(meta) = self.head(path)? else {
            return Err(logstore::Error::Io {
                path: path.into(),
                source: io::Error::new(io::ErrorKind::NotFound, "not in the bucket"),
            });
        };
        Ok(Arc::new(BucketFile {
            dir: self.clone(),
            rel: path.into(),
            location: meta.location,
            size: meta.size,
            e_tag: meta.e_tag.map(Into::into),
        }))
    }

    fn open_read_sealed(&self, path: &str, len: u64) -> logstore::Result<Arc<dyn ReadFile>> {
        // NB: a sealed segment never changes, so no request for its size and version: its
        // cached ranges are keyed by the name alone
        Ok(Arc::new(BucketFile {
            dir: self.clone(),
            rel: path.into(),
            location: self.path(path),
            size: len,
            e_tag: Some(SEALED.into()),
        }))
    }

    fn read_all(&self, path: &str) -> logstore::Result<Option<Vec<u8>>> {
        let (store, location) = (self.bucket.store.clone(), self.path(path));
        Counters::add(&self.bucket.counts.gets, 1);
        let got = self.bucket.run(async move {
            match store.get(&location).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        if let Ok(Some(b)) = &got {
            Counters::add(&self.bucket.counts.bytes_in, b.len() as u64);
        }
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| io_error(path, e))
    }

    fn list(&self, dir: &str) -> logstore::Result<Vec<String>> {
        let (store, location) = (self.bucket.store.clone(), self.path(dir));
        Counters::add(&self.bucket.counts.lists, 1);
        let listed = self
            .bucket
            .run(async move { store.list_with_delimiter(Some(&location)).await })
            .map_err(|e| io_error(dir, e))?;
        let folders = listed.common_prefixes.iter().filter_map(|p| p.filename());
        let files = listed.objects.iter().filter_map(|o| o.location.filename());
        Ok(folders.chain(files).map(str::to_owned).collect())
    }

    fn open_append(&self, _: &str) -> logstore::Result<Box<dyn AppendFile>> {
        Err(read_only("append to a file"))
    }

    fn truncate(&self, _: &str, _: u64) -> logstore::Result<()> {
        Err(read_only("cut a file"))
    }

    fn atomic_write(&self, _: &str, _: &[u8]) -> logstore::Result<()> {
        Err(read_only("replace a file"))
    }

    fn delete(&self, _: &str) -> logstore::Result<()> {
        Err(read_only("delete a file"))
    }

    fn sync_dir(&self, _: &str) -> logstore::Result<()> {
        Err(read_only("sync a folder"))
    }

    fn lock_writer(&self) -> logstore::Result<Box<dyn WriterLock>> {
        Err(read_only(
            "write (only the node's shipper writes its store's copy)",
        ))
    }
}

/// One object, as it was when opened.
struct BucketFile {
    dir: BucketDirectory,
    rel: Arc<str>,
    location: Path,
    size: u64,
    e_tag: Option<Arc<str>>,
}

/// How much of a sealed segment's end one read fetches (its footer, its index of up to about
/// 1,600 blocks, and its last blocks).
const TAIL: u64 = 64 * 1024;

impl BucketFile {
    /// Bytes `from..to` of the object, through the cache.
    fn fetch(&self, from: u64, to: u64) -> logstore::Result<Arc<[u8]>> {
        let len = (to - from) as usize;
        let key = self.e_tag.clone().map(|e_tag| Key {
            path: self.rel.clone(),
            e_tag,
            offset: from,
            len,
        });
        if let Some(hit) = key.as_ref().and_then(|k| self.dir.cache.get(k)) {
            return Ok(hit);
        }
        let (store, location) = (self.dir.bucket.store.clone(), self.location.clone());
        let counts = &self.dir.bucket.counts;
        Counters::add(&counts.gets, 1);
        Counters::add(&counts.bytes_in, len as u64);
        let got = self
            .dir
            .bucket
            .run(async move { store.get_range(&location, from..to).await })
            .map_err(|e| io_error(&self.rel, e))?;
        if got.len() != len {
            // the object was replaced by a shorter one since it was opened
            return Err(logstore::Error::Io {
                path: self.rel.as_ref().into(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("asked for {len} bytes, got {}", got.len()),
                ),
            });
        }
        let got: Arc<[u8]> = Arc::from(&got[..]);
        if let Some(key) = key {
            self.dir.cache.put(key, got.clone());
        }
        Ok(got)
    }
}

impl ReadFile for BucketFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> logstore::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.size {
            return Err(logstore::Error::Io {
                path: self.rel.as_ref().into(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{end} is past the end ({} bytes)", self.size),
                ),
            });
        }
        // NB: a sealed segment's footer and index are read back to back from its end: the
        // first read there fetches the whole tail, so both (and the last blocks) cost one GET
        let (from, to) = match self.e_tag.as_deref() {
            Some(SEALED) if offset >= self.size.saturating_sub(TAIL) => {
                (self.size.saturating_sub(TAIL), self.size)
            }
            _ => (offset, end),
        };
        let range = self.fetch(from, to)?;
        let at = (offset - from) as usize;
        buf.copy_from_slice(&range[at..at + buf.len()]);
        Ok(())
    }

    fn len(&self) -> logstore::Result<u64> {
        Ok(self.size)
    }
}
