//! Segments: the files a stream's lines live in.
//!
//! A segment file is a run of data blocks ([`block`]). While it is the
//! stream's *active* segment, blocks are only appended, each complete block
//! being self-checking, so a crash leaves at worst a torn last block. On roll
//! the segment is *sealed*: the sparse index ([`crate::index`]) and a
//! fixed-size footer are appended and the file never changes again.
//!
//! ```text
//! footer (64 bytes, last in the file, little endian)
//!   0 u32 format version (1)     4 u32 block count
//!   8 u64 index offset          16 u64 line count
//!  24 u64 first sequence number 32 i64 first ts      40 i64 last ts
//!  48 u32 crc32 of bytes 0..48 and of the index bytes
//!  52 u32 reserved (0)          56 8 bytes magic "WLSEGFT1"
//! ```
//! A file without a valid footer is an active segment: it is recovered by
//! reading blocks from the start while headers, lengths and checksums hold,
//! and cut after the last good block (by a writer; a reader stops there and
//! leaves the file as it is).

pub mod block;

use std::sync::{Arc, OnceLock};

use block::{BlockHeader, BlockMeta, DecodedBlock, Decompressor, HEADER_LEN};

use crate::directory::{AppendFile, CountingReader};
use crate::error::corrupt;
use crate::index;
use crate::Result;

pub const FOOTER_LEN: usize = 64;
pub const FOOTER_MAGIC: &[u8; 8] = b"WLSEGFT1";
pub const FORMAT_VERSION: u32 = 1;

/// Summary of a segment, from its footer (or its blocks while active).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    pub id: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub first_seq: u64,
    pub line_count: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

impl SegmentMeta {
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.line_count
    }

    pub fn from_blocks(id: u64, blocks: &[BlockMeta], bytes: u64) -> Option<Self> {
        let (first, last) = (blocks.first()?, blocks.last()?);
        Some(SegmentMeta {
            id,
            first_ts: first.first_ts,
            last_ts: last.last_ts,
            first_seq: first.first_seq,
            line_count: last.end_seq() - first.first_seq,
            bytes,
        })
    }
}

/// A sealed, immutable segment. Its block index is in memory once read: from
/// the start when this process wrote or scanned the segment, on first use when
/// the segment came from the catalog ([`crate::catalog`]).
pub struct SealedSegment {
    pub meta: SegmentMeta,
    pub path: Arc<str>,
    blocks: OnceLock<Arc<[BlockMeta]>>,
    /// Index and footer are on disk. False for a segment sealed in memory only
    /// (its seal failed, or a reader found it left unsealed by a crash): the
    /// catalog never lists such a segment, and the next writer seals it.
    pub(crate) has_footer: bool,
}

impl SealedSegment {
    pub fn with_blocks(
        meta: SegmentMeta,
        path: Arc<str>,
        blocks: Arc<[BlockMeta]>,
        has_footer: bool,
    ) -> Self {
        SealedSegment {
            meta,
            path,
            blocks: OnceLock::from(blocks),
            has_footer,
        }
    }

    /// A segment known from the catalog only; its index is read when needed.
    pub fn cataloged(meta: SegmentMeta, path: Arc<str>) -> Self {
        SealedSegment {
            meta,
            path,
            blocks: OnceLock::new(),
            has_footer: true,
        }
    }

    /// The block index if it is in memory already.
    pub fn loaded_blocks(&self) -> Option<&Arc<[BlockMeta]>> {
        self.blocks.get()
    }

    /// The block index, read from the segment's footer on first use (and
    /// checked against what the catalog said).
    pub fn blocks(&self, reader: &CountingReader) -> Result<Arc<[BlockMeta]>> {
        if let Some(b) = self.blocks.get() {
            return Ok(b.clone());
        }
        let m = &self.meta;
        let same = |o: &SegmentMeta| {
            (o.first_ts, o.last_ts, o.first_seq, o.line_count)
                == (m.first_ts, m.last_ts, m.first_seq, m.line_count)
        };
        let blocks = match open_sealed(m.id, &self.path, reader)? {
            Some((footer, blocks)) if same(&footer) => blocks,
            Some(_) => return Err(corrupt(&*self.path, "footer disagrees with the catalog")),
            None => {
                // NB: a footer lost to a power cut without fsync (`sync_on_seal`
                // off) or damaged: its blocks are still good, read them.
                let (blocks, _) = recover_blocks(reader, Some(m.first_seq))?;
                let Some(found) = SegmentMeta::from_blocks(m.id, &blocks, m.bytes) else {
                    return Err(corrupt(&*self.path, "sealed segment without blocks"));
                };
                if found.end_seq() > m.end_seq() || found.last_ts > m.last_ts {
                    return Err(corrupt(&*self.path, "blocks disagree with the catalog"));
                }
                tracing::warn!(path = %self.path, "segment listed as sealed has no valid footer; read its blocks");
                blocks
            }
        };
        Ok(self.blocks.get_or_init(|| blocks.into()).clone())
    }
}

pub fn segment_file_name(id: u64) -> String {
    format!("{id:016x}.seg")
}

pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// Append index and footer to a segment whose blocks end at `index_offset`.
pub fn write_seal(
    file: &mut dyn AppendFile,
    blocks: &[BlockMeta],
    index_offset: u64,
    sync: bool,
) -> Result<u64> {
    let mut out = Vec::with_capacity(blocks.len() * index::ENTRY_LEN + FOOTER_LEN);
    index::encode(blocks, &mut out);
    let index_len = out.len();
    let meta = SegmentMeta::from_blocks(0, blocks, 0);
    let (first_ts, last_ts, first_seq, lines) = meta.map_or((0, 0, 0, 0), |m| {
        (m.first_ts, m.last_ts, m.first_seq, m.line_count)
    });
    let mut footer = [0u8; FOOTER_LEN];
    footer[0..4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    footer[4..8].copy_from_slice(&(blocks.len() as u32).to_le_bytes());
    footer[8..16].copy_from_slice(&index_offset.to_le_bytes());
    footer[16..24].copy_from_slice(&lines.to_le_bytes());
    footer[24..32].copy_from_slice(&first_seq.to_le_bytes());
    footer[32..40].copy_from_slice(&first_ts.to_le_bytes());
    footer[40..48].copy_from_slice(&last_ts.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&footer[..48]);
    h.update(&out[..index_len]);
    footer[48..52].copy_from_slice(&h.finalize().to_le_bytes());
    footer[56..64].copy_from_slice(FOOTER_MAGIC);
    out.extend_from_slice(&footer);
    file.append(&out)?;
    if sync {
        file.sync()?;
    }
    Ok(index_offset + out.len() as u64)
}

/// Read the footer and index of a sealed segment; `Ok(None)` if the file has
/// no valid footer (an active or torn segment).
pub fn open_sealed(
    id: u64,
    path: &str,
    reader: &CountingReader,
) -> Result<Option<(SegmentMeta, Vec<BlockMeta>)>> {
    let len = reader.len()?;
    if len < FOOTER_LEN as u64 {
        return Ok(None);
    }
    let mut footer = [0u8; FOOTER_LEN];
    reader.read_exact_at(len - FOOTER_LEN as u64, &mut footer)?;
    if &footer[56..64] != FOOTER_MAGIC {
        return Ok(None);
    }
    let version = block::read_u32(&footer, 0);
    if version != FORMAT_VERSION {
        return Err(crate::Error::UnsupportedVersion {
            path: path.into(),
            version,
        });
    }
    let count = block::read_u32(&footer, 4) as u64;
    let index_offset = block::read_u64(&footer, 8);
    let index_len = count * index::ENTRY_LEN as u64;
    if index_offset.checked_add(index_len) != Some(len - FOOTER_LEN as u64) {
        return Ok(None);
    }
    let mut idx = vec![0u8; index_len as usize];
    reader.read_exact_at(index_offset, &mut idx)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&footer[..48]);
    h.update(&idx);
    if h.finalize() != block::read_u32(&footer, 48) {
        return Ok(None);
    }
    let blocks = index::decode(&idx).ok_or_else(|| corrupt(path, "index length"))?;
    if !index::is_well_formed(&blocks)
        || blocks
            .last()
            .is_some_and(|b| b.offset + u64::from(b.len) > index_offset)
    {
        return Err(corrupt(path, "index out of order"));
    }
    let meta = SegmentMeta::from_blocks(id, &blocks, len)
        .ok_or_else(|| corrupt(path, "sealed segment without blocks"))?;
    Ok(Some((meta, blocks)))
}

/// Scan an active segment from the start; returns its complete, checked
/// blocks and the length they cover (everything after is a torn tail).
pub fn recover_blocks(
    reader: &CountingReader,
    expected_first_seq: Option<u64>,
) -> Result<(Vec<BlockMeta>, u64)> {
    scan_blocks(reader, 0, None, expected_first_seq)
}

/// [`recover_blocks`] from offset `start`, where block `prev` (if any) ends:
/// how a reader picks up what a writer appended since it last looked.
pub fn scan_blocks(
    reader: &CountingReader,
    start: u64,
    prev: Option<BlockMeta>,
    expected_first_seq: Option<u64>,
) -> Result<(Vec<BlockMeta>, u64)> {
    let len = reader.len()?;
    let mut blocks: Vec<BlockMeta> = Vec::new();
    let mut off = start;
    let mut payload = Vec::new();
    let mut dec = Decompressor::new().map_err(|e| crate::Error::Io {
        path: "zstd".into(),
        source: e,
    })?;
    let mut raw = Vec::new();
    while off + HEADER_LEN as u64 <= len {
        let mut hb = [0u8; HEADER_LEN];
        reader.read_exact_at(off, &mut hb)?;
        let Some(h) = BlockHeader::parse(&hb) else {
            break;
        };
        let total = HEADER_LEN as u64 + u64::from(h.compressed_len);
        if off + total > len || h.line_count == 0 {
            break;
        }
        payload.resize(h.compressed_len as usize, 0);
        reader.read_exact_at(off + HEADER_LEN as u64, &mut payload)?;
        // The checksum must hold and the block decode before it is trusted.
        let good = h.verify(&hb, &payload)
            && dec.decompress(&h, &payload, &mut raw).is_some()
            && DecodedBlock::from_raw(h.first_seq, h.line_count as usize, std::mem::take(&mut raw))
                .is_some();
        if !good {
            // NB: a bad block followed by a good one is damage in the middle,
            // not a torn tail: skip just that block rather than cut good data.
            if valid_block_at(reader, off + total, len) {
                tracing::warn!(
                    offset = off,
                    "skipping a corrupt block in the middle of a segment"
                );
                off += total;
                continue;
            }
            break;
        }
        let meta = BlockMeta {
            offset: off,
            len: total as u32,
            line_count: h.line_count,
            first_seq: h.first_seq,
            first_ts: h.first_ts,
            last_ts: h.last_ts,
        };
        let continues = match blocks.last().or(prev.as_ref()) {
            Some(prev) => prev.end_seq() <= meta.first_seq && prev.last_ts <= meta.first_ts,
            None => expected_first_seq.is_none_or(|s| s == meta.first_seq),
        };
        if !continues {
            break;
        }
        blocks.push(meta);
        off += total;
    }
    Ok((blocks, off))
}

/// Is there a complete block with a good checksum at `off`?
fn valid_block_at(reader: &CountingReader, off: u64, len: u64) -> bool {
    let mut hb = [0u8; HEADER_LEN];
    if off + HEADER_LEN as u64 > len || reader.read_exact_at(off, &mut hb).is_err() {
        return false;
    }
    let Some(h) = BlockHeader::parse(&hb) else {
        return false;
    };
    if off + HEADER_LEN as u64 + u64::from(h.compressed_len) > len {
        return false;
    }
    let mut payload = vec![0u8; h.compressed_len as usize];
    reader
        .read_exact_at(off + HEADER_LEN as u64, &mut payload)
        .is_ok()
        && h.verify(&hb, &payload)
}

/// Read, check and decompress one block.
pub fn read_block(
    reader: &CountingReader,
    path: &str,
    meta: &BlockMeta,
    dec: &mut Decompressor,
) -> Result<DecodedBlock> {
    let mut buf = vec![0u8; meta.len as usize];
    reader.read_exact_at(meta.offset, &mut buf)?;
    let (hb, payload) = buf.split_at(HEADER_LEN);
    let hb: &[u8; HEADER_LEN] = hb.try_into().map_err(|_| corrupt(path, "short block"))?;
    let h = BlockHeader::parse(hb)
        .ok_or_else(|| corrupt(path, format!("no block at offset {}", meta.offset)))?;
    if !h.verify(hb, payload) || h.first_seq != meta.first_seq || h.line_count != meta.line_count {
        return Err(corrupt(
            path,
            format!("checksum mismatch in block at offset {}", meta.offset),
        ));
    }
    let mut raw = Vec::new();
    dec.decompress(&h, payload, &mut raw).ok_or_else(|| {
        corrupt(
            path,
            format!("block at offset {} does not decompress", meta.offset),
        )
    })?;
    DecodedBlock::from_raw(h.first_seq, h.line_count as usize, raw).ok_or_else(|| {
        corrupt(
            path,
            format!("block at offset {} is malformed", meta.offset),
        )
    })
}
