//! Data blocks: a few KiB to a few tens of KiB of lines, stored column by
//! column (timestamps, flags, lengths, then the texts back to back),
//! compressed as one unit and checksummed with its header.
//!
//! ```text
//! header (52 bytes, little endian)
//!   0  u32  magic "WLB1"
//!   4  u8   codec (0 = none, 1 = zstd)     5..8 reserved (0)
//!   8  u32  compressed payload length
//!  12  u32  raw payload length
//!  16  u32  line count n
//!  20  u32  reserved (0)
//!  24  u64  sequence number of the first line
//!  32  i64  first timestamp (ns)
//!  40  i64  last timestamp (ns)
//!  48  u32  crc32 of bytes 0..48 and of the compressed payload
//! payload (compressed), raw form:
//!   n × i64 timestamp | n × u8 flags | n × u32 text length | texts
//! flags: bit 0 = stderr, bit 1 = text truncated by the store
//! ```
//!
//! The texts sit back to back so that a keyword search can reject a whole
//! block with one `memmem` over its text column.

use crate::line::{LineFlags, LogStream};
use crate::time::Timestamp;

pub const BLOCK_MAGIC: u32 = u32::from_le_bytes(*b"WLB1");
pub const HEADER_LEN: usize = 52;
pub const CODEC_NONE: u8 = 0;
pub const CODEC_ZSTD: u8 = 1;

/// Where a block is and what it holds; one entry of the sparse index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Offset of the block header in its segment file.
    pub offset: u64,
    /// Header plus payload length.
    pub len: u32,
    pub line_count: u32,
    pub first_seq: u64,
    pub first_ts: i64,
    pub last_ts: i64,
}

impl BlockMeta {
    pub fn end_seq(&self) -> u64 {
        self.first_seq + u64::from(self.line_count)
    }
}

/// Parsed fixed header.
#[derive(Debug, Clone, Copy)]
pub struct BlockHeader {
    pub codec: u8,
    pub compressed_len: u32,
    pub raw_len: u32,
    pub line_count: u32,
    pub first_seq: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub crc: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    u32_at(b, at)
}

pub(crate) fn read_u64(b: &[u8], at: usize) -> u64 {
    u64_at(b, at)
}

impl BlockHeader {
    /// `None` if the magic is wrong (not a block, or a torn write).
    pub fn parse(b: &[u8; HEADER_LEN]) -> Option<Self> {
        if u32_at(b, 0) != BLOCK_MAGIC {
            return None;
        }
        Some(BlockHeader {
            codec: b[4],
            compressed_len: u32_at(b, 8),
            raw_len: u32_at(b, 12),
            line_count: u32_at(b, 16),
            first_seq: u64_at(b, 24),
            first_ts: u64_at(b, 32) as i64,
            last_ts: u64_at(b, 40) as i64,
            crc: u32_at(b, 48),
        })
    }

    /// Check the checksum of header and payload.
    pub fn verify(&self, header: &[u8; HEADER_LEN], payload: &[u8]) -> bool {
        let mut h = crc32fast::Hasher::new();
        h.update(&header[..48]);
        h.update(payload);
        h.finalize() == self.crc
    }
}

/// Lines being gathered into the next block, column by column.
#[derive(Debug, Default, Clone)]
pub struct BlockBuilder {
    pub ts: Vec<i64>,
    pub flags: Vec<u8>,
    pub lens: Vec<u32>,
    pub text: Vec<u8>,
}

impl BlockBuilder {
    pub fn push(&mut self, ts: i64, flags: u8, text: &[u8]) {
        self.ts.push(ts);
        self.flags.push(flags);
        // NB: texts are capped well below 4 GiB by `Config::max_line_bytes`.
        self.lens.push(text.len() as u32);
        self.text.extend_from_slice(text);
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn raw_len(&self) -> usize {
        self.ts.len() * 13 + self.text.len()
    }

    pub fn clear(&mut self) {
        self.ts.clear();
        self.flags.clear();
        self.lens.clear();
        self.text.clear();
    }

    /// The raw (uncompressed) payload.
    pub fn encode_raw(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.raw_len());
        for t in &self.ts {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend_from_slice(&self.flags);
        for l in &self.lens {
            out.extend_from_slice(&l.to_le_bytes());
        }
        out.extend_from_slice(&self.text);
    }

    /// Encode header + compressed payload into `out` (cleared first).
    pub fn encode(
        &self,
        first_seq: u64,
        compressor: &mut Compressor,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        self.encode_raw(scratch);
        out.clear();
        out.resize(HEADER_LEN, 0);
        let codec = compressor.compress_into(scratch, out)?;
        let compressed_len = (out.len() - HEADER_LEN) as u32;
        let first_ts = self.ts.first().copied().unwrap_or(0);
        let last_ts = self.ts.last().copied().unwrap_or(0);
        out[0..4].copy_from_slice(&BLOCK_MAGIC.to_le_bytes());
        out[4] = codec;
        out[8..12].copy_from_slice(&compressed_len.to_le_bytes());
        out[12..16].copy_from_slice(&(scratch.len() as u32).to_le_bytes());
        out[16..20].copy_from_slice(&(self.ts.len() as u32).to_le_bytes());
        out[24..32].copy_from_slice(&first_seq.to_le_bytes());
        out[32..40].copy_from_slice(&first_ts.to_le_bytes());
        out[40..48].copy_from_slice(&last_ts.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&out[..48]);
        h.update(&out[HEADER_LEN..]);
        let crc = h.finalize();
        out[48..52].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }

    /// A decoded copy, so queries can read lines not yet written to disk.
    pub fn snapshot(&self, first_seq: u64) -> DecodedBlock {
        let mut raw = Vec::new();
        self.encode_raw(&mut raw);
        DecodedBlock::from_raw(first_seq, self.ts.len(), raw)
            .unwrap_or_else(|| DecodedBlock::empty(first_seq))
    }
}

/// Compression with a reusable context.
pub struct Compressor {
    zstd: Option<zstd::bulk::Compressor<'static>>,
    buf: Vec<u8>,
}

impl Compressor {
    /// `level` 0 stores blocks uncompressed.
    pub fn new(level: i32) -> std::io::Result<Self> {
        Ok(Compressor {
            zstd: if level == 0 {
                None
            } else {
                Some(zstd::bulk::Compressor::new(level)?)
            },
            buf: Vec::new(),
        })
    }

    /// Appends the compressed form of `raw` to `out`; returns the codec used.
    fn compress_into(&mut self, raw: &[u8], out: &mut Vec<u8>) -> std::io::Result<u8> {
        match &mut self.zstd {
            Some(c) => {
                self.buf.clear();
                self.buf.reserve(zstd::zstd_safe::compress_bound(raw.len()));
                c.compress_to_buffer(raw, &mut self.buf)?;
                out.extend_from_slice(&self.buf);
                Ok(CODEC_ZSTD)
            }
            None => {
                out.extend_from_slice(raw);
                Ok(CODEC_NONE)
            }
        }
    }
}

/// Decompression with a reusable context.
pub struct Decompressor {
    zstd: zstd::bulk::Decompressor<'static>,
}

impl Decompressor {
    pub fn new() -> std::io::Result<Self> {
        Ok(Decompressor {
            zstd: zstd::bulk::Decompressor::new()?,
        })
    }

    /// Decompress a verified payload into `out`; `None` if it does not decode
    /// to exactly `header.raw_len` bytes.
    pub fn decompress(
        &mut self,
        header: &BlockHeader,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<()> {
        out.clear();
        match header.codec {
            CODEC_NONE => out.extend_from_slice(payload),
            CODEC_ZSTD => {
                out.reserve(header.raw_len as usize);
                self.zstd.decompress_to_buffer(payload, out).ok()?;
            }
            _ => return None,
        }
        (out.len() == header.raw_len as usize).then_some(())
    }
}

/// The lines of one block, decompressed, with random access.
#[derive(Debug, Clone)]
pub struct DecodedBlock {
    pub first_seq: u64,
    n: usize,
    raw: Vec<u8>,
    /// Start of each text inside `raw`, plus the end of the last.
    starts: Vec<u32>,
}

impl DecodedBlock {
    pub fn empty(first_seq: u64) -> Self {
        DecodedBlock {
            first_seq,
            n: 0,
            raw: Vec::new(),
            starts: vec![0],
        }
    }

    /// Validate the column layout; `None` if lengths do not add up.
    pub fn from_raw(first_seq: u64, n: usize, raw: Vec<u8>) -> Option<Self> {
        let text_start = n.checked_mul(13)?;
        if raw.len() < text_start {
            return None;
        }
        let mut starts = Vec::with_capacity(n + 1);
        let mut pos = text_start;
        for i in 0..n {
            starts.push(u32::try_from(pos).ok()?);
            pos = pos.checked_add(u32_at(&raw, 9 * n + 4 * i) as usize)?;
        }
        starts.push(u32::try_from(pos).ok()?);
        if pos != raw.len() {
            return None;
        }
        let block = DecodedBlock {
            first_seq,
            n,
            raw,
            starts,
        };
        // Timestamps inside a block never go backwards (the writer clamps them).
        if (1..n).any(|i| block.ts(i) < block.ts(i - 1)) {
            return None;
        }
        Some(block)
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn ts(&self, i: usize) -> i64 {
        u64_at(&self.raw, 8 * i) as i64
    }

    pub fn flags(&self, i: usize) -> LineFlags {
        LineFlags(self.raw[8 * self.n + i])
    }

    pub fn text(&self, i: usize) -> &[u8] {
        &self.raw[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// All texts back to back, for block-level keyword rejection.
    pub fn texts(&self) -> &[u8] {
        &self.raw[self.starts[0] as usize..]
    }

    pub fn stream(&self, i: usize) -> LogStream {
        self.flags(i).stream()
    }

    pub fn timestamp(&self, i: usize) -> Timestamp {
        Timestamp(self.ts(i))
    }

    /// First index with `ts >= t`.
    pub fn lower_bound(&self, t: i64) -> usize {
        partition(self.n, |i| self.ts(i) < t)
    }
}

/// Smallest `i` in `0..n` for which `pred(i)` is false (pred must be monotone).
pub fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_round_trip() {
        let mut b = BlockBuilder::default();
        b.push(10, 0, b"hello");
        b.push(10, 1, b"");
        b.push(12, 2, &[0xff, 0xfe, b'x']);
        let mut c = Compressor::new(3).unwrap();
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        b.encode(40, &mut c, &mut scratch, &mut out).unwrap();
        let header: [u8; HEADER_LEN] = out[..HEADER_LEN].try_into().unwrap();
        let h = BlockHeader::parse(&header).unwrap();
        assert!(h.verify(&header, &out[HEADER_LEN..]));
        assert_eq!(
            (h.first_seq, h.first_ts, h.last_ts, h.line_count),
            (40, 10, 12, 3)
        );
        let mut raw = Vec::new();
        Decompressor::new()
            .unwrap()
            .decompress(&h, &out[HEADER_LEN..], &mut raw)
            .unwrap();
        let d = DecodedBlock::from_raw(40, 3, raw).unwrap();
        assert_eq!(d.text(0), b"hello");
        assert_eq!(d.text(1), b"");
        assert_eq!(d.text(2), &[0xff, 0xfe, b'x']);
        assert_eq!(d.stream(1), LogStream::Stderr);
        assert!(d.flags(2).truncated());
        assert_eq!(d.lower_bound(11), 2);
        // a flipped bit is caught
        let mut bad = out.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(!h.verify(&header, &bad[HEADER_LEN..]));
    }
}
