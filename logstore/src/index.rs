//! The sparse index: one entry per data block, `(first_ts..=last_ts,
//! first_seq + line_count, byte range)`. Blocks of a stream never go back in
//! time nor in sequence, so both keys are sorted and a range query finds its
//! first block by binary search, in a segment list and inside a segment.
//!
//! ```text
//! entry (40 bytes, little endian)
//!   0 u64 offset   8 u32 length   12 u32 line count
//!  16 u64 first sequence number   24 i64 first ts   32 i64 last ts
//! ```

use std::ops::Range;

use crate::segment::block::{partition, read_u32, read_u64, BlockMeta};

pub const ENTRY_LEN: usize = 40;

pub fn encode(blocks: &[BlockMeta], out: &mut Vec<u8>) {
    for b in blocks {
        out.extend_from_slice(&b.offset.to_le_bytes());
        out.extend_from_slice(&b.len.to_le_bytes());
        out.extend_from_slice(&b.line_count.to_le_bytes());
        out.extend_from_slice(&b.first_seq.to_le_bytes());
        out.extend_from_slice(&b.first_ts.to_le_bytes());
        out.extend_from_slice(&b.last_ts.to_le_bytes());
    }
}

/// `None` unless `bytes` is a whole number of entries.
pub fn decode(bytes: &[u8]) -> Option<Vec<BlockMeta>> {
    if !bytes.len().is_multiple_of(ENTRY_LEN) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(ENTRY_LEN)
            .map(|e| BlockMeta {
                offset: read_u64(e, 0),
                len: read_u32(e, 8),
                line_count: read_u32(e, 12),
                first_seq: read_u64(e, 16),
                first_ts: read_u64(e, 24) as i64,
                last_ts: read_u64(e, 32) as i64,
            })
            .collect(),
    )
}

/// The sorted-ness every index must keep: offsets increase without overlap,
/// sequence numbers increase (contiguous unless recovery skipped a damaged
/// block), timestamps never go back.
pub fn is_well_formed(blocks: &[BlockMeta]) -> bool {
    blocks
        .iter()
        .all(|b| b.first_ts <= b.last_ts && b.line_count > 0)
        && blocks.windows(2).all(|w| {
            w[0].offset + u64::from(w[0].len) <= w[1].offset
                && w[0].end_seq() <= w[1].first_seq
                && w[0].last_ts <= w[1].first_ts
        })
}

/// What part of a stream a reader wants: timestamps in `ts`, sequence numbers in `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub ts_lo: i64,
    /// Exclusive.
    pub ts_hi: i64,
    pub seq_lo: u64,
    /// Exclusive.
    pub seq_hi: u64,
}

impl Span {
    pub const ALL: Span = Span {
        ts_lo: i64::MIN,
        ts_hi: i64::MAX,
        seq_lo: 0,
        seq_hi: u64::MAX,
    };

    pub fn is_empty(&self) -> bool {
        self.ts_lo >= self.ts_hi || self.seq_lo >= self.seq_hi
    }

    /// Does a run of lines with these bounds (inclusive ts, half-open seq) meet the span?
    pub fn overlaps(&self, first_ts: i64, last_ts: i64, first_seq: u64, end_seq: u64) -> bool {
        last_ts >= self.ts_lo
            && first_ts < self.ts_hi
            && end_seq > self.seq_lo
            && first_seq < self.seq_hi
    }

    pub fn contains(&self, ts: i64, seq: u64) -> bool {
        ts >= self.ts_lo && ts < self.ts_hi && seq >= self.seq_lo && seq < self.seq_hi
    }
}

/// The contiguous range of items (blocks or segments, sorted) that overlap `span`,
/// found by binary search. `key(i)` gives `(first_ts, last_ts, first_seq, end_seq)`.
pub fn overlapping(
    n: usize,
    span: &Span,
    key: impl Fn(usize) -> (i64, i64, u64, u64),
) -> Range<usize> {
    if span.is_empty() {
        return 0..0;
    }
    let start = partition(n, |i| {
        let (_, last_ts, _, end_seq) = key(i);
        last_ts < span.ts_lo || end_seq <= span.seq_lo
    });
    let end = partition(n, |i| {
        let (first_ts, _, first_seq, _) = key(i);
        first_ts < span.ts_hi && first_seq < span.seq_hi
    });
    start..end.max(start)
}

/// [`overlapping`] over block metadata.
pub fn blocks_overlapping(blocks: &[BlockMeta], span: &Span) -> Range<usize> {
    overlapping(blocks.len(), span, |i| {
        let b = &blocks[i];
        (b.first_ts, b.last_ts, b.first_seq, b.end_seq())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(lines: &[(i64, u32)]) -> Vec<BlockMeta> {
        // (ts delta, lines in block) -> blocks
        let (mut ts, mut seq, mut off) = (0i64, 0u64, 0u64);
        lines
            .iter()
            .map(|&(d, n)| {
                let first_ts = ts + d;
                let last_ts = first_ts + i64::from(n % 3);
                ts = last_ts;
                let b = BlockMeta {
                    offset: off,
                    len: 100,
                    line_count: n,
                    first_seq: seq,
                    first_ts,
                    last_ts,
                };
                off += 100;
                seq += u64::from(n);
                b
            })
            .collect()
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(spec in proptest::collection::vec((0i64..5, 1u32..10), 0..50)) {
            let blocks = build(&spec);
            prop_assert!(is_well_formed(&blocks));
            let mut bytes = Vec::new();
            encode(&blocks, &mut bytes);
            prop_assert_eq!(decode(&bytes).unwrap(), blocks);
        }

        /// Binary search returns exactly the blocks a linear scan would keep.
        #[test]
        fn search_equals_scan(
            spec in proptest::collection::vec((0i64..5, 1u32..10), 0..50),
            a in -2i64..120, b in -2i64..120, s1 in 0u64..300, s2 in 0u64..300,
        ) {
            let blocks = build(&spec);
            let span = Span { ts_lo: a.min(b), ts_hi: a.max(b), seq_lo: s1.min(s2), seq_hi: s1.max(s2) };
            let got = blocks_overlapping(&blocks, &span);
            let want: Vec<usize> = (0..blocks.len())
                .filter(|&i| !span.is_empty() && span.overlaps(blocks[i].first_ts, blocks[i].last_ts, blocks[i].first_seq, blocks[i].end_seq()))
                .collect();
            prop_assert_eq!(got.collect::<Vec<_>>(), want);
        }
    }
}
