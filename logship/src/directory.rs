//! A store's copy in the bucket, as a read-only [`logstore::Directory`]: open it with
//! [`logstore::Store::open_read_only`] and query it like a local store.
//!
//! Opening a file asks the bucket for its size and ETag (one `HEAD`), except a sealed
//! segment, whose size the catalog gives and which never changes; reads are ranged `GET`s
//! through the shared [`BlockCache`]. A segment still being written is in the bucket as its
//! parts (`<segment>.parts/<from>-<to>`, see [`crate::Shipper`]): opening it lists them, and
//! reads go to the part that holds each range (or, once the segment was sealed and its parts
//! retired, to the whole segment, which holds the same bytes at the same offsets). Every method that would change something
//! answers [`logstore::Error::ReadOnly`]: only the node's shipper writes its store's copy.

use std::io;
use std::sync::Arc;

use logstore::directory::{AppendFile, ReadFile, WriterLock};
use logstore::Directory;
use object_store::path::Path;

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

    /// A segment being written, from its parts: `None` if it has none, or if they do not
    /// cover it from its start without a gap (a part still being replaced: the segment is
    /// read as missing until the next look).
    fn open_parts(&self, rel: &str) -> logstore::Result<Option<BucketFile>> {
        let folder = format!("{rel}{PARTS}");
        let listed = self
            .bucket
            .list_folder(&self.path(&folder))
            .map_err(|e| io_error(&folder, e))?;
        let mut pieces: Vec<Piece> = listed
            .objects
            .into_iter()
            .filter_map(|o| {
                let (from, to) = part_range(o.location.filename()?)?;
                (o.size == to - from).then(|| Piece::new(from, to, o.location, Some(PART.into())))
            })
            .collect();
        if pieces.is_empty() {
            return Ok(None);
        }
        pieces.sort_by_key(|p| p.from);
        // the longest run from 0 without a gap
        let mut end = 0;
        let mut run = Vec::with_capacity(pieces.len());
        for p in pieces {
            if p.from == end {
                end = p.to;
                run.push(p);
            }
        }
        if run.is_empty() {
            return Ok(None);
        }
        Ok(Some(BucketFile {
            dir: self.clone(),
            rel: rel.into(),
            location: self.path(rel),
            size: end,
            pieces: run,
        }))
    }

    fn head(&self, rel: &str) -> logstore::Result<Option<object_store::ObjectMeta>> {
        self.bucket
            .head_object(&self.path(rel))
            .map_err(|e| io_error(rel, e))
    }
}

/// The version a sealed segment's cached ranges are kept under.
const SEALED: &str = "sealed";
/// The version a part's cached ranges are kept under (a part never changes).
const PART: &str = "part";

/// The folder of a segment's parts: `<segment>.parts`.
pub(crate) const PARTS: &str = ".parts";

/// A part's name: the range of the segment it holds, `<from:016x>-<to:016x>`.
pub(crate) fn part_name(from: u64, to: u64) -> String {
    format!("{from:016x}-{to:016x}")
}

/// The range a part's name says it holds.
pub(crate) fn part_range(name: &str) -> Option<(u64, u64)> {
    let (from, to) = name.split_once('-')?;
    let from = u64::from_str_radix(from, 16).ok()?;
    let to = u64::from_str_radix(to, 16).ok()?;
    (from < to).then_some((from, to))
}

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
        if let Some(meta) = self.head(path)? {
            return Ok(Arc::new(BucketFile {
                dir: self.clone(),
                rel: path.into(),
                location: meta.location.clone(),
                size: meta.size,
                pieces: vec![Piece::new(
                    0,
                    meta.size,
                    meta.location,
                    meta.e_tag.map(Into::into),
                )],
            }));
        }
        if let Some(file) = self.open_parts(path)? {
            return Ok(Arc::new(file));
        }
        Err(logstore::Error::Io {
            path: path.into(),
            source: io::Error::new(io::ErrorKind::NotFound, "not in the bucket"),
        })
    }

    fn open_read_sealed(&self, path: &str, len: u64) -> logstore::Result<Arc<dyn ReadFile>> {
        // NB: a sealed segment never changes, so no request for its size and version: its
        // cached ranges are keyed by the name alone
        Ok(Arc::new(BucketFile {
            dir: self.clone(),
            rel: path.into(),
            location: self.path(path),
            size: len,
            pieces: vec![Piece::new(0, len, self.path(path), Some(SEALED.into()))],
        }))
    }

    fn read_all(&self, path: &str) -> logstore::Result<Option<Vec<u8>>> {
        self.bucket
            .get_object(&self.path(path))
            .map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| io_error(path, e))
    }

    fn list(&self, dir: &str) -> logstore::Result<Vec<String>> {
        let listed = self
            .bucket
            .list_folder(&self.path(dir))
            .map_err(|e| io_error(dir, e))?;
        // NB: a segment still being written is a folder of parts: listed as the segment
        let folders = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename())
            .map(|f| f.strip_suffix(PARTS).unwrap_or(f));
        let files = listed.objects.iter().filter_map(|o| o.location.filename());
        let mut names: Vec<String> = folders.chain(files).map(str::to_owned).collect();
        names.sort();
        names.dedup();
        Ok(names)
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

/// One file as it was when opened: one object, or the parts of a segment being written.
struct BucketFile {
    dir: BucketDirectory,
    rel: Arc<str>,
    /// The whole object (where a part's bytes are once the segment is sealed).
    location: Path,
    size: u64,
    /// What holds bytes `from..to`, in order, without gaps.
    pieces: Vec<Piece>,
}

struct Piece {
    from: u64,
    to: u64,
    /// The object's full name, as the cache knows it.
    key: Arc<str>,
    location: Path,
    e_tag: Option<Arc<str>>,
}

impl Piece {
    fn new(from: u64, to: u64, location: Path, e_tag: Option<Arc<str>>) -> Piece {
        Piece {
            from,
            to,
            key: location.as_ref().into(),
            location,
            e_tag,
        }
    }
}

/// How much of a sealed segment's end one read fetches (its footer, its index of up to about
/// 1,600 blocks, and its last blocks).
const TAIL: u64 = 64 * 1024;

impl BucketFile {
    /// Bytes `from..to` of the file, through the cache, from the pieces holding them.
    fn fetch(&self, from: u64, to: u64) -> logstore::Result<Arc<[u8]>> {
        let mut parts = self
            .pieces
            .iter()
            .filter(|p| p.from < to && from < p.to)
            .map(|p| self.fetch_piece(p, from.max(p.from), to.min(p.to)));
        if self.pieces.len() == 1 {
            return parts.next().unwrap_or_else(|| Ok(Arc::from(&[][..])));
        }
        let mut out = Vec::with_capacity((to - from) as usize);
        for part in parts {
            out.extend_from_slice(&part?);
        }
        Ok(Arc::from(out))
    }

    /// Bytes `from..to` (of the file) from piece `p`; a part gone since the file was opened
    /// (its segment sealed, the part retired) is read from the whole segment instead.
    fn fetch_piece(&self, p: &Piece, from: u64, to: u64) -> logstore::Result<Arc<[u8]>> {
        let len = (to - from) as usize;
        // NB: keyed by the object's full name: every store has a `streams/1/…0001.seg`, and
        // one cache serves all the stores of a bucket
        let key = p.e_tag.clone().map(|e_tag| Key {
            path: p.key.clone(),
            e_tag,
            offset: from,
            len,
        });
        if let Some(hit) = key.as_ref().and_then(|k| self.dir.cache.get(k)) {
            return Ok(hit);
        }
        let got = match self.get_range(&p.location, from - p.from, to - p.from) {
            Err(object_store::Error::NotFound { .. }) if p.e_tag.as_deref() == Some(PART) => {
                self.get_range(&self.location, from, to)
            }
            got => got,
        }
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

    fn get_range(
        &self,
        location: &Path,
        from: u64,
        to: u64,
    ) -> Result<bytes::Bytes, object_store::Error> {
        self.dir.bucket.get_object_range(location, from, to)
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
        let sealed = self.pieces.first().and_then(|p| p.e_tag.as_deref()) == Some(SEALED);
        let (from, to) = match sealed {
            true if offset >= self.size.saturating_sub(TAIL) => {
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
