//! Where the store's bytes live, behind a small trait so that every layer
//! above it runs on disk or in memory alike (after tantivy's `Directory`).
//!
//! Paths are relative, `/`-separated names such as `streams/7/0000000000000003.seg`.
//! Files are append-only while written; the only in-place change is the
//! truncation of a torn tail during recovery. Whole files that must change
//! atomically (the manifest, the stream catalogs) go through
//! [`Directory::atomic_write`].
//!
//! A store has one writer at a time: a read-write open takes
//! [`Directory::lock_writer`] and keeps the [`WriterLock`] it returns until the
//! store is dropped. Readers take no lock and call none of the methods that
//! change anything (`open_append`, `truncate`, `atomic_write`, `delete`,
//! `sync_dir`, `lock_writer`).

mod file;
mod memory;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use file::FileDirectory;
pub use memory::MemoryDirectory;

use crate::Result;

/// A file opened for positioned reads. Reads of a file that is still being
/// appended to see every byte appended before the read started.
pub trait ReadFile: Send + Sync {
    /// Fill `buf` from `offset`; an error if the file is shorter.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Current length in bytes.
    fn len(&self) -> Result<u64>;
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// A file opened for appending.
pub trait AppendFile: Send {
    fn append(&mut self, data: &[u8]) -> Result<()>;
    /// Make every appended byte durable (fsync).
    fn sync(&mut self) -> Result<()>;
}

/// The storage the store runs on.
pub trait Directory: Send + Sync + 'static {
    fn open_read(&self, path: &str) -> Result<Arc<dyn ReadFile>>;
    /// Open a sealed segment the catalog says is `len` bytes long. It never changes again,
    /// so a directory for which asking a file's size costs a request (object storage) may
    /// take `len` instead; a missing file may then show only at the first read (as a
    /// not-found error). By default the same as [`Directory::open_read`].
    fn open_read_sealed(&self, path: &str, len: u64) -> Result<Arc<dyn ReadFile>> {
        let _ = len;
        self.open_read(path)
    }
    /// Open for appending, creating the file (and its parent folders) if needed.
    fn open_append(&self, path: &str) -> Result<Box<dyn AppendFile>>;
    /// Cut a file to `len` bytes (recovery of a torn tail).
    fn truncate(&self, path: &str, len: u64) -> Result<()>;
    /// Replace a whole file atomically: readers see the old or the new content,
    /// never a mix, even after a crash (temp file, fsync, rename, fsync folder).
    fn atomic_write(&self, path: &str, data: &[u8]) -> Result<()>;
    /// The whole content of a file, `None` if it does not exist.
    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>>;
    fn delete(&self, path: &str) -> Result<()>;
    /// Names (not paths) of the files and folders directly inside `dir`; empty if it does not exist.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// Make the creation or removal of files in `dir` durable.
    fn sync_dir(&self, dir: &str) -> Result<()>;
    /// Become the store's only writer, or fail at once with
    /// [`crate::Error::Locked`] naming the store if another writer (in this
    /// process or another) holds it. The lock lasts as long as the returned
    /// guard.
    fn lock_writer(&self) -> Result<Box<dyn WriterLock>>;
}

/// Proof of being a store's only writer; dropping it lets the next writer in.
///
/// On a file system it is an advisory lock on a file; in memory, a flag. An
/// object store has neither: there it would be a lease (a conditional write of
/// a lock object with an expiry) that the guard renews in the background and
/// gives up on drop, which is why the guard is an object of its own rather
/// than a flag on the directory.
pub trait WriterLock: Send + Sync {}

/// Counts the bytes the store reads, so the benchmark (and operators) can see
/// how much of the disk a query touched; the OS's counters hide warm-cache reads.
#[derive(Debug, Default)]
pub struct ReadStats {
    bytes: AtomicU64,
}

impl ReadStats {
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A [`ReadFile`] that counts what is read through it (into [`ReadStats`]).
pub struct CountingReader {
    pub inner: Arc<dyn ReadFile>,
    pub stats: Arc<ReadStats>,
}

impl CountingReader {
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.stats.add(buf.len());
        self.inner.read_exact_at(offset, buf)
    }

    pub fn len(&self) -> Result<u64> {
        self.inner.len()
    }

    pub fn is_empty(&self) -> Result<bool> {
        self.inner.is_empty()
    }
}
