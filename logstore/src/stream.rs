//! One stream's write side: the lines not yet in a block, the active
//! segment being appended to, and the sealed segments before it; plus the
//! recovery that rebuilds all of it from the files after a crash.

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Config;
use crate::directory::{AppendFile, CountingReader, Directory, ReadStats};
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
}

impl Shared {
    pub fn reader(&self, path: &str) -> Result<CountingReader> {
        Ok(CountingReader {
            inner: self.dir.open_read(path)?,
            stats: self.stats.clone(),
        })
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
    pub file: Box<dyn AppendFile>,
    pub blocks: Vec<BlockMeta>,
    pub size: u64,
}

/// A block a reader will visit: on disk, or the not-yet-written lines.
#[derive(Clone)]
pub(crate) enum PlannedBlock {
    Disk { path: Arc<str>, meta: BlockMeta },
    Memory(Arc<DecodedBlock>),
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
                file,
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
            if let Err(e) = active.file.append(out) {
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

    /// Seal the active segment (index + footer); the next block starts a new one.
    pub fn seal_active(&mut self, sh: &Shared) -> Result<()> {
        let Some(mut a) = self.active.take() else {
            return Ok(());
        };
        if a.blocks.is_empty() {
            drop(a.file);
            return sh.dir.delete(&a.path);
        }
        let result =
            segment::write_seal(a.file.as_mut(), &a.blocks, a.size, sh.config.sync_on_seal);
        let bytes = *result.as_ref().unwrap_or(&a.size);
        if let Some(meta) = SegmentMeta::from_blocks(a.id, &a.blocks, bytes) {
            // NB: even if the seal failed, the blocks are good; the next open
            // finds no footer, cuts after the last block and seals again.
            self.sealed.push(Arc::new(SealedSegment {
                meta,
                path: a.path.clone(),
                blocks: a.blocks.into(),
            }));
        }
        result.map(|_| ())
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

    /// The blocks overlapping `span`, in order (the not-yet-written lines last).
    pub fn plan(&self, span: &Span) -> Vec<PlannedBlock> {
        let mut out = Vec::new();
        let segs = index::overlapping(self.sealed.len(), span, |i| {
            let m = &self.sealed[i].meta;
            (m.first_ts, m.last_ts, m.first_seq, m.end_seq())
        });
        for seg in &self.sealed[segs] {
            for b in &seg.blocks[index::blocks_overlapping(&seg.blocks, span)] {
                out.push(PlannedBlock::Disk {
                    path: seg.path.clone(),
                    meta: *b,
                });
            }
        }
        if let Some(a) = &self.active {
            for b in &a.blocks[index::blocks_overlapping(&a.blocks, span)] {
                out.push(PlannedBlock::Disk {
                    path: a.path.clone(),
                    meta: *b,
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

    /// Rebuild a stream from its folder after an open or a crash.
    pub fn recover(sh: &Shared, stream_id: u64, min_segment: u64) -> Result<Self> {
        let dir = stream_dir(stream_id);
        let mut ids = Vec::new();
        for name in sh.dir.list(&dir)? {
            match parse_segment_file_name(&name) {
                Some(id) if id < min_segment => sh.dir.delete(&format!("{dir}/{name}"))?,
                Some(id) => ids.push(id),
                None => {
                    tracing::warn!(stream = stream_id, file = %name, "ignoring unknown file in stream folder")
                }
            }
        }
        ids.sort_unstable();
        let mut st = StreamState::empty(stream_id, ids.last().map_or(min_segment, |l| l + 1));
        let last_index = ids.len().saturating_sub(1);
        for (i, id) in ids.iter().copied().enumerate() {
            let path: Arc<str> = format!("{dir}/{}", segment_file_name(id)).into();
            let reader = sh.reader(&path)?;
            if let Some((meta, blocks)) = segment::open_sealed(id, &path, &reader)? {
                st.sealed.push(Arc::new(SealedSegment {
                    meta,
                    path,
                    blocks: blocks.into(),
                }));
                continue;
            }
            let expected = st.sealed.last().map(|s| s.meta.end_seq());
            let (blocks, valid) = segment::recover_blocks(&reader, expected)?;
            let len = reader.len()?;
            drop(reader);
            if valid < len {
                tracing::warn!(path = %path, kept = valid, dropped = len - valid, "cut torn tail of segment");
                sh.dir.truncate(&path, valid)?;
            }
            if blocks.is_empty() {
                sh.dir.delete(&path)?;
                continue;
            }
            let file = sh.dir.open_append(&path)?;
            st.active = Some(ActiveSegment {
                id,
                path,
                file,
                blocks,
                size: valid,
            });
            if i != last_index {
                // An older segment left unsealed (a crash during a roll): seal it now.
                st.seal_active(sh)?;
            }
        }
        // Where the stream goes on.
        let last_block = st
            .active
            .as_ref()
            .and_then(|a| a.blocks.last().map(|b| (a.path.clone(), *b)))
            .or_else(|| {
                st.sealed
                    .last()
                    .and_then(|s| s.blocks.last().map(|b| (s.path.clone(), *b)))
            });
        if let Some((_, b)) = &last_block {
            st.next_seq = b.end_seq();
            st.last_ts = Some(b.last_ts);
        }
        st.lines_at_last_ts = st.count_at_last_ts(sh)?;
        Ok(st)
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
        for planned in self.plan(&span).iter().rev() {
            let PlannedBlock::Disk { path, meta } = planned else {
                continue;
            };
            let reader = sh.reader(path)?;
            let block = with_decompressor(|d| segment::read_block(&reader, path, meta, d))?;
            let n = block.len() - block.lower_bound(last);
            count += n as u64;
            if n < block.len() {
                break;
            }
        }
        Ok(count)
    }
}
