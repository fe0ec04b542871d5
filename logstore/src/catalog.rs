//! A stream's catalog: the summary of each of its sealed segments, so that
//! opening a store reads one small file per stream instead of the footer and
//! index of every segment ever written.
//!
//! `streams/<id>/catalog.jsonl`: JSON lines, a header then one line per
//! sealed segment, in increasing `id`:
//!
//! ```text
//! {"version":1,"stream":7}
//! {"id":4,"first_ts":1714557600000000000,"last_ts":1714557659000000000,"first_seq":5120,"lines":1280,"bytes":65601}
//! {"id":5,"first_ts":1714557660000000000,"last_ts":1714557719000000000,"first_seq":6400,"lines":1311,"bytes":66020}
//! ```
//! `lines` counts the segment's lines from `first_seq`; `bytes` is the sealed
//! file's length.
//!
//! When a segment is sealed, the writer appends its line (once per roll,
//! never per line of log). When the file must change otherwise — retention
//! dropped segments, an open found the catalog behind the files, an append
//! failed — it is replaced whole and atomically
//! ([`crate::directory::Directory::atomic_write`]).
//!
//! NB: appending rather than rewriting keeps a roll's cost constant: a quiet
//! stream (a line an hour, segments cut by age) rolls at every line, and
//! rewriting its catalog each time would cost the square of its history.
//!
//! The files are the truth, the catalog an account of them that may lag but
//! never lead: only segments whose footer was written are listed, and files
//! of the stream's folder it does not list (the active segment; a segment
//! sealed just before a crash) are read at open. Reading stops at the first
//! line that does not parse or breaks the order (an append torn by a crash):
//! what it would have said is found by reading the files, and the next writer
//! replaces the catalog. Entries below the manifest's `min_segment` are
//! skipped (retention deleted them). A segment's block index is read from its
//! own footer the first time a query reaches it.

use serde::{Deserialize, Serialize};

use crate::directory::Directory;
use crate::error::corrupt;
use crate::manifest::stream_dir;
use crate::segment::SegmentMeta;
use crate::{Error, Result};

pub const CATALOG_FILE: &str = "catalog.jsonl";
pub const CATALOG_VERSION: u32 = 1;

/// Where stream `stream_id`'s catalog lives.
pub fn catalog_path(stream_id: u64) -> String {
    format!("{}/{CATALOG_FILE}", stream_dir(stream_id))
}

/// Is this name in a stream folder the catalog (or the temporary file of its
/// atomic replacement)?
pub fn is_catalog_file(name: &str) -> bool {
    name == CATALOG_FILE || name == "catalog.tmp"
}

/// The first line.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct Header {
    version: u32,
    stream: u64,
}

/// One sealed segment: what its footer says, without opening it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CatalogEntry {
    pub id: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub first_seq: u64,
    pub lines: u64,
    pub bytes: u64,
}

impl CatalogEntry {
    /// Can `next` follow this entry in a stream?
    fn precedes(&self, next: &CatalogEntry) -> bool {
        self.id < next.id
            && self.first_seq + self.lines <= next.first_seq
            && self.last_ts <= next.first_ts
    }
}

impl From<&SegmentMeta> for CatalogEntry {
    fn from(m: &SegmentMeta) -> Self {
        CatalogEntry {
            id: m.id,
            first_ts: m.first_ts,
            last_ts: m.last_ts,
            first_seq: m.first_seq,
            lines: m.line_count,
            bytes: m.bytes,
        }
    }
}

impl From<&CatalogEntry> for SegmentMeta {
    fn from(e: &CatalogEntry) -> Self {
        SegmentMeta {
            id: e.id,
            first_ts: e.first_ts,
            last_ts: e.last_ts,
            first_seq: e.first_seq,
            line_count: e.lines,
            bytes: e.bytes,
        }
    }
}

/// A catalog as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub segments: Vec<CatalogEntry>,
    /// Every line was read as written: nothing torn, nothing out of order.
    /// When false, a writer replaces the catalog.
    pub complete: bool,
}

fn line_of<T: Serialize>(path: &str, value: &T, out: &mut Vec<u8>) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|source| Error::Catalog {
        path: path.into(),
        source,
    })?;
    out.push(b'\n');
    Ok(())
}

impl Catalog {
    /// The stream's catalog, `None` if it has none (yet).
    pub fn load(dir: &dyn Directory, stream_id: u64) -> Result<Option<Catalog>> {
        let path = catalog_path(stream_id);
        let Some(bytes) = dir.read_all(&path)? else {
            return Ok(None);
        };
        let mut lines = bytes.split_inclusive(|&b| b == b'\n');
        let header = lines
            .next()
            .and_then(|l| l.strip_suffix(b"\n"))
            .and_then(|l| serde_json::from_slice::<Header>(l).ok());
        let Some(header) = header else {
            tracing::warn!(
                path,
                "catalog without a readable header: reading the segments instead"
            );
            return Ok(None);
        };
        if header.version != CATALOG_VERSION {
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                version: header.version,
            });
        }
        if header.stream != stream_id {
            return Err(corrupt(
                path,
                format!(
                    "catalog of stream {} in stream {stream_id}'s folder",
                    header.stream
                ),
            ));
        }
        let mut segments: Vec<CatalogEntry> = Vec::new();
        let mut complete = true;
        for line in lines {
            let entry = line
                .strip_suffix(b"\n")
                .and_then(|l| serde_json::from_slice::<CatalogEntry>(l).ok())
                .filter(|e| e.lines > 0 && e.first_ts <= e.last_ts)
                .filter(|e| segments.last().is_none_or(|prev| prev.precedes(e)));
            match entry {
                Some(e) => segments.push(e),
                None => {
                    tracing::warn!(
                        path,
                        "catalog ends in a torn or bad line: reading the segments after it"
                    );
                    complete = false;
                    break;
                }
            }
        }
        Ok(Some(Catalog { segments, complete }))
    }

    /// Replace the stream's catalog, atomically, by one listing `segments`.
    pub fn store(
        dir: &dyn Directory,
        stream_id: u64,
        segments: impl IntoIterator<Item = CatalogEntry>,
    ) -> Result<()> {
        let path = catalog_path(stream_id);
        let mut out = Vec::new();
        let header = Header {
            version: CATALOG_VERSION,
            stream: stream_id,
        };
        line_of(&path, &header, &mut out)?;
        for e in segments {
            line_of(&path, &e, &mut out)?;
        }
        dir.atomic_write(&path, &out)
    }

    /// Add one segment at the end of an existing catalog (fsync'ed when `sync`).
    pub fn append(
        dir: &dyn Directory,
        stream_id: u64,
        entry: &CatalogEntry,
        sync: bool,
    ) -> Result<()> {
        let path = catalog_path(stream_id);
        let mut out = Vec::new();
        line_of(&path, entry, &mut out)?;
        let mut file = dir.open_append(&path)?;
        file.append(&out)?;
        if sync {
            file.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::MemoryDirectory;

    fn entry(id: u64, first_seq: u64, ts: i64) -> CatalogEntry {
        CatalogEntry {
            id,
            first_ts: ts,
            last_ts: ts + 5,
            first_seq,
            lines: 10,
            bytes: 300,
        }
    }

    #[test]
    fn store_append_load() {
        let dir = MemoryDirectory::new();
        assert_eq!(Catalog::load(&dir, 3).unwrap(), None);
        Catalog::store(&dir, 3, [entry(0, 0, 0)]).unwrap();
        Catalog::append(&dir, 3, &entry(2, 10, 5), false).unwrap();
        let c = Catalog::load(&dir, 3).unwrap().unwrap();
        assert_eq!(c.segments, vec![entry(0, 0, 0), entry(2, 10, 5)]);
        assert!(c.complete);
        Catalog::store(&dir, 3, []).unwrap();
        let c = Catalog::load(&dir, 3).unwrap().unwrap();
        assert!(c.segments.is_empty() && c.complete);
    }

    #[test]
    fn a_torn_or_bad_line_ends_the_catalog() {
        let dir = MemoryDirectory::new();
        Catalog::store(&dir, 1, [entry(0, 0, 0), entry(1, 10, 5)]).unwrap();
        let whole = dir.read_all(&catalog_path(1)).unwrap().unwrap();
        // torn inside the last line, or just before its newline
        for cut in [whole.len() - 9, whole.len() - 1] {
            dir.atomic_write(&catalog_path(1), &whole[..cut]).unwrap();
            let c = Catalog::load(&dir, 1).unwrap().unwrap();
            assert_eq!((c.segments, c.complete), (vec![entry(0, 0, 0)], false));
        }
        // an entry out of order
        Catalog::store(&dir, 1, [entry(1, 10, 5)]).unwrap();
        Catalog::append(&dir, 1, &entry(0, 0, 0), false).unwrap();
        let c = Catalog::load(&dir, 1).unwrap().unwrap();
        assert_eq!((c.segments, c.complete), (vec![entry(1, 10, 5)], false));
        // no readable header: as if there were no catalog
        dir.atomic_write(&catalog_path(1), b"{\"vers").unwrap();
        assert_eq!(Catalog::load(&dir, 1).unwrap(), None);
    }

    #[test]
    fn another_stream_or_a_newer_version_is_refused() {
        let dir = MemoryDirectory::new();
        Catalog::store(&dir, 4, [entry(0, 0, 0)]).unwrap();
        let moved = dir.read_all(&catalog_path(4)).unwrap().unwrap();
        dir.atomic_write(&catalog_path(5), &moved).unwrap();
        assert!(matches!(Catalog::load(&dir, 5), Err(Error::Corrupt { .. })));
        dir.atomic_write(&catalog_path(6), b"{\"version\":9,\"stream\":6}\n")
            .unwrap();
        assert!(matches!(
            Catalog::load(&dir, 6),
            Err(Error::UnsupportedVersion { version: 9, .. })
        ));
        assert!(is_catalog_file("catalog.jsonl") && is_catalog_file("catalog.tmp"));
        assert!(!is_catalog_file("0000000000000001.seg"));
    }
}
