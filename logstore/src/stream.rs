//! One stream's state: the lines not yet in a block, the active segment
//! being appended to, and the sealed segments before it; the open that
//! rebuilds it from the catalog and the files (a writer also recovers after a
//! crash), and the refresh by which a reader catches up with a writer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use crate::catalog::{is_catalog_file, Catalog, CatalogEntry};
use crate::config::Config;
use crate::directory::{AppendFile, CountingReader, Directory, ReadStats};
use crate::error::is_not_found;
use crate::index::{self, Span};
use crate::key::{Labels, StreamKey};
use crate::manifest::stream_dir;
use crate::segment::block::{BlockBuilder, BlockMeta, Compressor, DecodedBlock, Decompressor};
use crate::segment::{
    self, parse_segment_file_name, segment_file_name, SealedSegment, SegmentMeta,
};
use crate::{Error, Result};

/// What every stream needs from the store.
pub(crate) struct Shared {
    pub dir: Arc<dyn Directory>,
    pub config: Config,
    pub stats: Arc<ReadStats>,
    /// Opened read-only: nothing is ever written, cut, created or deleted.
    pub read_only: bool,
}

impl Shared {
    pub fn reader(&self, path: &str) -> Result<CountingReader> {
        Ok(CountingReader {
            inner: self.dir.open_read(path)?,
            stats: self.stats.clone(),
        })
    }

    /// A reader of a sealed segment of `len` bytes ([`Directory::open_read_sealed`]).
    pub fn sealed_reader(&self, path: &str, len: u64) -> Result<CountingReader> {
        Ok(CountingReader {
            inner: self.dir.open_read_sealed(path, len)?,
            stats: self.stats.clone(),
        })
    }

    /// [`Shared::reader`], `None` if the file is not there.
    pub fn reader_if_exists(&self, path: &str) -> Result<Option<CountingReader>> {
        match self.reader(path) {
            Ok(r) => Ok(Some(r)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

pub(crate) struct Stream {
    pub id: u64,
    pub key: Arc<StreamKey>,
    pub labels: RwLock<Arc<Labels>>,
    /// Segments below this id are deleted (mirrors the manifest).
    pub min_segment: AtomicU64,
    pub state: Mutex<StreamState>,
}

impl Stream {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn labels(&self) -> Arc<Labels> {
        self.labels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub(crate) struct ActiveSegment {
    pub id: u64,
    pub path: Arc<str>,
    /// `None` in a reader: it only follows what the writer appends.
    pub file: Option<Box<dyn AppendFile>>,
    pub blocks: Vec<BlockMeta>,
    /// Where the good blocks end (a reader ignores a torn tail after it).
    pub size: u64,
}

/// What a reader will visit: a block on disk, a sealed segment whose blocks
/// are picked once it is reached (its index may not be read yet), or the
/// not-yet-written lines.
#[derive(Clone)]
pub(crate) enum PlannedBlock {
    /// `sealed`: the segment's length when it is sealed (see [`Shared::sealed_reader`]).
    Disk {
        path: Arc<str>,
        meta: BlockMeta,
        sealed: Option<u64>,
    },
    Segment(Arc<SealedSegment>),
    Memory(Arc<DecodedBlock>),
}

/// The blocks of sealed segment `seg` that overlap `span` (reading its index
/// on first use); `None` if the file is gone (deleted by retention since).
pub(crate) fn segment_blocks(
    sh: &Shared,
    seg: &SealedSegment,
    span: &Span,
) -> Result<Option<Vec<PlannedBlock>>> {
    let blocks = match seg.loaded_blocks() {
        Some(b) => b.clone(),
        None => match sh
            .sealed_reader(&seg.path, seg.meta.bytes)
            .and_then(|r| seg.blocks(&r))
        {
            Ok(blocks) => blocks,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    Ok(Some(
        blocks[index::blocks_overlapping(&blocks, span)]
            .iter()
            .map(|b| PlannedBlock::Disk {
                path: seg.path.clone(),
                meta: *b,
                sealed: Some(seg.meta.bytes),
            })
            .collect(),
    ))
}

pub(crate) struct StreamState {
    pub stream_id: u64,
    pub sealed: Vec<Arc<SealedSegment>>,
    pub active: Option<ActiveSegment>,
    pub pending: BlockBuilder,
    pub next_seq: u64,
    pub last_ts: Option<i64>,
    pub lines_at_last_ts: u64,
    pub next_segment_id: u64,
    /// The catalog file lists exactly the sealed segments with a footer, so
    /// the next seal may append its line (else it replaces the file).
    pub catalog_in_step: bool,
}

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, Compressor)>> = const { RefCell::new(None) };
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

fn zstd_err(source: std::io::Error) -> Error {
    Error::Io {
        path: "<zstd>".into(),
        source,
    }
}

/// Run `f` with this thread's decompressor.
pub(crate) fn with_decompressor<T>(f: impl FnOnce(&mut Decompressor) -> Result<T>) -> Result<T> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Decompressor::new().map_err(zstd_err)?);
        }
        match slot.as_mut() {
            Some(d) => f(d),
            None => Err(Error::Closed),
        }
    })
}

impl StreamState {
    fn empty(stream_id: u64, first_segment: u64) -> Self {
        StreamState {
            stream_id,
            sealed: Vec::new(),
            active: None,
            pending: BlockBuilder::default(),
            next_seq: 0,
            last_ts: None,
            lines_at_last_ts: 0,
            next_segment_id: first_segment,
            catalog_in_step: false,
        }
    }

    pub fn new_stream(stream_id: u64) -> Self {
        Self::empty(stream_id, 0)
    }

    fn segment_first_ts(&self) -> Option<i64> {
        self.active
            .as_ref()
            .and_then(|a| a.blocks.first())
            .map(|b| b.first_ts)
            .or_else(|| self.pending.ts.first().copied())
    }

    /// Append one line (already cut to size). Timestamps are clamped to be
    /// non-decreasing within the stream; returns the stored ts and seq.
    pub fn append(&mut self, sh: &Shared, ts: i64, flags: u8, text: &[u8]) -> Result<(i64, u64)> {
        let ts = match self.last_ts {
            Some(last) if ts < last => last,
            _ => ts,
        };
        if let Some(first) = self.segment_first_ts() {
            if ts.saturating_sub(first) >= sh.config.segment_age_nanos() {
                self.flush_pending(sh)?;
                self.seal_active(sh)?;
            }
        }
        self.pending.push(ts, flags, text);
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.last_ts == Some(ts) {
            self.lines_at_last_ts += 1;
        } else {
            self.last_ts = Some(ts);
            self.lines_at_last_ts = 1;
        }
        if self.pending.raw_len() >= sh.config.block_bytes {
            self.flush_pending(sh)?;
        }
        Ok((ts, seq))
    }

    /// Write the pending lines as one block of the active segment.
    pub fn flush_pending(&mut self, sh: &Shared) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.active.is_none() {
            let id = self.next_segment_id;
            self.next_segment_id += 1;
            let path: Arc<str> =
                format!("{}/{}", stream_dir(self.stream_id), segment_file_name(id)).into();
            let file = sh.dir.open_append(&path)?;
            self.active = Some(ActiveSegment {
                id,
                path,
                file: Some(file),
                blocks: Vec::new(),
                size: 0,
            });
        }
        let first_seq = self.next_seq - self.pending.len() as u64;
        let level = sh.config.compression_level;
        let pending = &self.pending;
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let Some(file) = active.file.as_mut() else {
            return Err(Error::ReadOnly {
                operation: "write a block",
            });
        };
        let written = SCRATCH.with(|scratch| {
            let (raw, out) = &mut *scratch.borrow_mut();
            COMPRESSOR.with(|cell| {
                let mut c = cell.borrow_mut();
                if c.as_ref().is_none_or(|(l, _)| *l != level) {
                    *c = Some((level, Compressor::new(level).map_err(zstd_err)?));
                }
                let Some((_, comp)) = c.as_mut() else {
                    return Err(Error::Closed);
                };
                pending.encode(first_seq, comp, raw, out).map_err(zstd_err)
            })?;
            if let Err(e) = file.append(out) {
                // Cut a partial write so later blocks stay readable after recovery.
                let _ = sh.dir.truncate(&active.path, active.size);
                return Err(e);
            }
            Ok(out.len())
        })?;
        active.blocks.push(BlockMeta {
            offset: active.size,
            len: written as u32,
            line_count: pending.len() as u32,
            first_seq,
            first_ts: pending.ts.first().copied().unwrap_or(0),
            last_ts: pending.ts.last().copied().unwrap_or(0),
        });
        active.size += written as u64;
        let full = active.size >= sh.config.segment_bytes;
        self.pending.clear();
        if full {
            self.seal_active(sh)?;
        }
        Ok(())
    }

    /// Seal the active segment (index + footer) and add it to the catalog;
    /// the next block starts a new segment.
    pub fn seal_active(&mut self, sh: &Shared) -> Result<()> {
        if !self.seal_active_file(sh)? {
            return Ok(());
        }
        let sealed = self.sealed.last().map(|s| CatalogEntry::from(&s.meta));
        match sealed {
            Some(entry) if self.catalog_in_step => {
                let sync = sh.config.sync_on_seal;
                let appended = Catalog::append(sh.dir.as_ref(), self.stream_id, &entry, sync);
                // NB: a failed append may have left half a line: replace the file next time.
                self.catalog_in_step = appended.is_ok();
                appended
            }
            _ => self.write_catalog(sh),
        }
    }

    /// Seal the active segment's file; true if a segment was sealed (the
    /// catalog is then behind).
    fn seal_active_file(&mut self, sh: &Shared) -> Result<bool> {
        let Some(mut a) = self.active.take() else {
            return Ok(false);
        };
        let Some(file) = a.file.as_mut() else {
            return Err(Error::ReadOnly {
                operation: "seal a segment",
            });
        };
        if a.blocks.is_empty() {
            drop(a.file);
            // NB: the id is used again, so that the ids above the catalog stay
            // contiguous for readers looking for the next segment.
            self.next_segment_id = a.id;
            sh.dir.delete(&a.path)?;
            return Ok(false);
        }
        let result = segment::write_seal(file.as_mut(), &a.blocks, a.size, sh.config.sync_on_seal);
        let bytes = *result.as_ref().unwrap_or(&a.size);
        if let Some(meta) = SegmentMeta::from_blocks(a.id, &a.blocks, bytes) {
            // NB: even if the seal failed, the blocks are good; the next open
            // finds no footer, cuts after the last block and seals again.
            self.sealed.push(Arc::new(SealedSegment::with_blocks(
                meta,
                a.path.clone(),
                a.blocks.into(),
                result.is_ok(),
            )));
        }
        result.map(|_| true)
    }

    /// Replace the catalog with the sealed segments whose footer is on disk.
    pub fn write_catalog(&mut self, sh: &Shared) -> Result<()> {
        if sh.read_only {
            return Err(Error::ReadOnly {
                operation: "write a catalog",
            });
        }
        let entries = self
            .sealed
            .iter()
            .filter(|s| s.has_footer)
            .map(|s| CatalogEntry::from(&s.meta));
        self.catalog_in_step = false;
        Catalog::store(sh.dir.as_ref(), self.stream_id, entries)?;
        self.catalog_in_step = true;
        Ok(())
    }

    /// Bytes on disk (sealed and active segments).
    pub fn disk_bytes(&self) -> u64 {
        self.sealed.iter().map(|s| s.meta.bytes).sum::<u64>()
            + self.active.as_ref().map_or(0, |a| a.size)
    }

    /// First and last timestamp and line count of what is stored.
    pub fn extent(&self) -> Option<(i64, i64)> {
        let first = self
            .sealed
            .first()
            .map(|s| s.meta.first_ts)
            .or_else(|| {
                self.active
                    .as_ref()
                    .and_then(|a| a.blocks.first())
                    .map(|b| b.first_ts)
            })
            .or_else(|| self.pending.ts.first().copied())?;
        Some((first, self.last_ts.unwrap_or(first)))
    }

    /// What overlaps `span`, in order: sealed segments (their blocks are
    /// picked when a reader reaches them), the active segment's blocks, and
    /// the not-yet-written lines last. Reads nothing: it runs under the
    /// stream's lock, which appends wait for.
    pub fn plan(&self, span: &Span) -> Vec<PlannedBlock> {
        let mut out = Vec::new();
        let segs = index::overlapping(self.sealed.len(), span, |i| {
            let m = &self.sealed[i].meta;
            (m.first_ts, m.last_ts, m.first_seq, m.end_seq())
        });
        for seg in &self.sealed[segs] {
            out.push(PlannedBlock::Segment(seg.clone()));
        }
        if let Some(a) = &self.active {
            for b in &a.blocks[index::blocks_overlapping(&a.blocks, span)] {
                out.push(PlannedBlock::Disk {
                    path: a.path.clone(),
                    meta: *b,
                    sealed: None,
                });
            }
        }
        if let (Some(&first_ts), Some(&last_ts)) = (self.pending.ts.first(), self.pending.ts.last())
        {
            let first_seq = self.next_seq - self.pending.len() as u64;
            if span.overlaps(first_ts, last_ts, first_seq, self.next_seq) {
                out.push(PlannedBlock::Memory(Arc::new(
                    self.pending.snapshot(first_seq),
                )));
            }
        }
        out
    }

    /// Drop sealed segments from the front while `drop(meta)` says so.
    /// Returns the dropped segments (their files are still there).
    pub fn drop_front(
        &mut self,
        mut drop: impl FnMut(&SegmentMeta) -> bool,
    ) -> Vec<Arc<SealedSegment>> {
        let n = self.sealed.iter().take_while(|s| drop(&s.meta)).count();
        self.sealed.drain(..n).collect()
    }

    /// Open a stream: the catalog (unless `use_catalog` is false: a store of
    /// the previous version) says what its sealed segments are; the segment
    /// files it does not list are read (normally just the active one).
    ///
    /// A writer also recovers: it deletes files below `min_segment` (left by
    /// a crash during retention), cuts a torn tail, seals a segment left
    /// unsealed by a crash during a roll, opens the last segment for
    /// appending, and rewrites the catalog if it was behind. A reader does
    /// none of that and keeps the same view in memory: a torn tail is just
    /// where its readable data ends.
    pub fn open(sh: &Shared, stream_id: u64, min_segment: u64, use_catalog: bool) -> Result<Self> {
        let dir = stream_dir(stream_id);
        let catalog = match use_catalog {
            true => Catalog::load(sh.dir.as_ref(), stream_id)?,
            false => None,
        };
        let exists = catalog.is_some();
        let (entries, complete) = catalog.map_or((Vec::new(), true), |c| (c.segments, c.complete));
        // Which segment files there are. A writer lists the folder (and deletes
        // what a crash during retention left below `min_segment`); a reader
        // with a catalog only looks for the ids it does not list.
        let (ids, mut probed) = match sh.read_only && exists {
            true => probe_segments(sh, stream_id, &entries, min_segment)?,
            false => (list_segments(sh, stream_id, min_segment)?, HashMap::new()),
        };
        let listed: HashMap<u64, SegmentMeta> = entries
            .iter()
            .filter(|e| e.id >= min_segment && ids.binary_search(&e.id).is_ok())
            .map(|e| (e.id, SegmentMeta::from(e)))
            .collect();
        // The catalog is behind if it lists what is gone or misses what is there.
        let mut stale = !use_catalog || !complete || listed.len() != entries.len();
        let mut st = StreamState::empty(stream_id, ids.last().map_or(min_segment, |l| l + 1));
        let last = ids.last().copied();
        for id in ids {
            let path: Arc<str> = format!("{dir}/{}", segment_file_name(id)).into();
            match listed.get(&id) {
                Some(meta) => st
                    .sealed
                    .push(Arc::new(SealedSegment::cataloged(*meta, path))),
                None => {
                    // NB: the active segment is not listed; a sealed one should be.
                    let sealed = st.sealed.len();
                    let reader = match probed.remove(&id) {
                        Some(r) => r,
                        None => sh.reader(&path)?,
                    };
                    st.open_segment(sh, id, path, reader, Some(id) == last)?;
                    stale |= st.sealed.len() > sealed;
                }
            }
        }
        if stale && !sh.read_only {
            st.write_catalog(sh)?;
        }
        st.catalog_in_step = st.catalog_in_step || (exists && !stale);
        st.find_end(sh)?;
        Ok(st)
    }

    /// Read a segment file the catalog does not list: a sealed one (its
    /// footer and index), or the blocks of an unsealed one, which becomes the
    /// active segment if it is the `last` file (else it was left unsealed by
    /// a crash during a roll and is sealed now, in memory only for a reader).
    fn open_segment(
        &mut self,
        sh: &Shared,
        id: u64,
        path: Arc<str>,
        reader: CountingReader,
        last: bool,
    ) -> Result<()> {
        if let Some((meta, blocks)) = segment::open_sealed(id, &path, &reader)? {
            self.sealed.push(Arc::new(SealedSegment::with_blocks(
                meta,
                path,
                blocks.into(),
                true,
            )));
            return Ok(());
        }
        let expected = self.sealed.last().map(|s| s.meta.end_seq());
        let (blocks, valid) = segment::recover_blocks(&reader, expected)?;
        let len = reader.len()?;
        drop(reader);
        let file = if sh.read_only {
            // NB: an empty last file stays the active segment in a reader:
            // the writer may be about to write its first block.
            if blocks.is_empty() && !last {
                return Ok(());
            }
            None
        } else {
            if valid < len {
                tracing::warn!(path = %path, kept = valid, dropped = len - valid, "cut torn tail of segment");
                sh.dir.truncate(&path, valid)?;
            }
            if blocks.is_empty() {
                // NB: a later segment keeps its id: this empty file stays rather
                // than leave a hole, where readers looking for the next id stop.
                if last {
                    sh.dir.delete(&path)?;
                    self.next_segment_id = id;
                }
                return Ok(());
            }
            Some(sh.dir.open_append(&path)?)
        };
        self.active = Some(ActiveSegment {
            id,
            path,
            file,
            blocks,
            size: valid,
        });
        if !last {
            self.close_unsealed(sh)?;
        }
        Ok(())
    }

    /// An active segment that is not the last file: a writer seals it, a
    /// reader takes it as sealed in memory.
    fn close_unsealed(&mut self, sh: &Shared) -> Result<()> {
        if !sh.read_only {
            return self.seal_active_file(sh).map(|_| ());
        }
        if let Some(a) = self.active.take() {
            if let Some(meta) = SegmentMeta::from_blocks(a.id, &a.blocks, a.size) {
                self.sealed.push(Arc::new(SealedSegment::with_blocks(
                    meta,
                    a.path,
                    a.blocks.into(),
                    false,
                )));
            }
        }
        Ok(())
    }

    /// Where the stream goes on: next sequence number, last timestamp and how
    /// many lines carry it, from the newest block.
    fn find_end(&mut self, sh: &Shared) -> Result<()> {
        let end = self
            .active
            .as_ref()
            .and_then(|a| a.blocks.last().map(|b| (b.end_seq(), b.last_ts)))
            .or_else(|| {
                self.sealed
                    .last()
                    .map(|s| (s.meta.end_seq(), s.meta.last_ts))
            });
        if let Some((next_seq, last_ts)) = end {
            self.next_seq = next_seq;
            self.last_ts = Some(last_ts);
        }
        self.lines_at_last_ts = self.count_at_last_ts(sh)?;
        Ok(())
    }

    /// Reader only: take in what the writer wrote since the last look —
    /// blocks appended to the active segment, its seal, new segments after
    /// it — and forget segments retention deleted. Reads the active segment's
    /// new bytes only. `Ok(false)` if the files changed under the reader in a
    /// way it cannot follow (a writer cut a torn tail it had seen): then
    /// [`StreamState::open`] it again.
    pub fn refresh(&mut self, sh: &Shared, min_segment: u64) -> Result<bool> {
        let gone = self
            .sealed
            .iter()
            .take_while(|s| s.meta.id < min_segment)
            .count();
        self.sealed.drain(..gone);
        let before = self.shape();
        if self.active.as_ref().is_some_and(|a| a.id < min_segment) {
            // Sealed and deleted by retention since: gone, but its lines still count.
            self.active = None;
        }
        if let Some(a) = self.active.as_mut() {
            let Some(reader) = sh.reader_if_exists(&a.path)? else {
                return Ok(false);
            };
            let len = reader.len()?;
            if len < a.size {
                return Ok(false);
            }
            if len > a.size {
                if let Some((meta, blocks)) = segment::open_sealed(a.id, &a.path, &reader)? {
                    if !blocks.starts_with(&a.blocks) {
                        return Ok(false);
                    }
                    self.sealed.push(Arc::new(SealedSegment::with_blocks(
                        meta,
                        a.path.clone(),
                        blocks.into(),
                        true,
                    )));
                    self.active = None;
                } else {
                    let expected = self.sealed.last().map(|s| s.meta.end_seq());
                    let (more, end) =
                        segment::scan_blocks(&reader, a.size, a.blocks.last().copied(), expected)?;
                    a.blocks.extend(more);
                    a.size = end;
                }
            }
        }
        if self.active.is_none() {
            // New segments: the writer numbers them on from the last one.
            loop {
                let id = self.next_segment_id;
                let path: Arc<str> =
                    format!("{}/{}", stream_dir(self.stream_id), segment_file_name(id)).into();
                let Some(reader) = sh.reader_if_exists(&path)? else {
                    break;
                };
                self.next_segment_id = id + 1;
                self.close_unsealed(sh)?;
                self.open_segment(sh, id, path, reader, true)?;
            }
        }
        if self.shape() != before {
            self.find_end(sh)?;
        }
        Ok(true)
    }

    /// Changes whenever the stream's segments do (cheap to compare).
    fn shape(&self) -> (usize, Option<u64>, Option<(u64, u64)>) {
        (
            self.sealed.len(),
            self.sealed.last().map(|s| s.meta.id),
            self.active.as_ref().map(|a| (a.id, a.size)),
        )
    }

    /// How many stored lines carry the last timestamp (read from the newest blocks).
    fn count_at_last_ts(&self, sh: &Shared) -> Result<u64> {
        let Some(last) = self.last_ts else {
            return Ok(0);
        };
        let span = Span {
            ts_lo: last,
            ..Span::ALL
        };
        let mut count = 0u64;
        for planned in self.plan(&span).into_iter().rev() {
            let blocks = match planned {
                PlannedBlock::Segment(seg) => segment_blocks(sh, &seg, &span)?.unwrap_or_default(),
                PlannedBlock::Memory(_) => continue,
                disk => vec![disk],
            };
            for planned in blocks.iter().rev() {
                let PlannedBlock::Disk { path, meta, .. } = planned else {
                    continue;
                };
                let reader = sh.reader(path)?;
                let block = with_decompressor(|d| segment::read_block(&reader, path, meta, d))?;
                let n = block.len() - block.lower_bound(last);
                count += n as u64;
                if n < block.len() {
                    return Ok(count);
                }
            }
        }
        Ok(count)
    }
}

/// The ids of a stream's segment files (from `min_segment` on), by listing its
/// folder; a writer deletes the files below `min_segment` on the way.
fn list_segments(sh: &Shared, stream_id: u64, min_segment: u64) -> Result<Vec<u64>> {
    let dir = stream_dir(stream_id);
    let mut ids = Vec::new();
    for name in sh.dir.list(&dir)? {
        if is_catalog_file(&name) {
            continue;
        }
        match parse_segment_file_name(&name) {
            Some(id) if id < min_segment => {
                if !sh.read_only {
                    sh.dir.delete(&format!("{dir}/{name}"))?;
                }
            }
            Some(id) => ids.push(id),
            None => {
                tracing::warn!(stream = stream_id, file = %name, "ignoring unknown file in stream folder")
            }
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The ids of a stream's segment files (from `min_segment` on) as its catalog
/// lists them, plus those found where it has none: in a gap between two of
/// its entries (a seal whose footer failed) and from the one after its last
/// on, until an id has no file (the writer numbers segments on without holes).
/// Returns the files found that way opened.
fn probe_segments(
    sh: &Shared,
    stream_id: u64,
    entries: &[CatalogEntry],
    min_segment: u64,
) -> Result<(Vec<u64>, HashMap<u64, CountingReader>)> {
    let dir = stream_dir(stream_id);
    let mut ids = Vec::with_capacity(entries.len() + 1);
    let mut found = HashMap::new();
    let probe = |id: u64, found: &mut HashMap<u64, CountingReader>| -> Result<bool> {
        let path = format!("{dir}/{}", segment_file_name(id));
        Ok(match sh.reader_if_exists(&path)? {
            Some(reader) => found.insert(id, reader).is_none(),
            None => false,
        })
    };
    let mut next = min_segment;
    for e in entries.iter().filter(|e| e.id >= min_segment) {
        for gap in next..e.id {
            if probe(gap, &mut found)? {
                ids.push(gap);
            }
        }
        ids.push(e.id);
        next = e.id + 1;
    }
    while probe(next, &mut found)? {
        ids.push(next);
        next += 1;
    }
    Ok((ids, found))
}
