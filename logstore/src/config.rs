//! Tuning knobs of the store, with defaults that suit a node's logs.

use std::time::Duration;

/// How the store cuts and compresses. Changing it on an existing store is
/// safe: it only affects blocks and segments written afterwards.
#[derive(Debug, Clone)]
pub struct Config {
    /// A block is written once its raw (uncompressed) lines reach this many
    /// bytes. Smaller blocks make time-range reads more precise, larger ones
    /// compress better.
    pub block_bytes: usize,
    /// Roll the active segment once it holds this many bytes on disk.
    pub segment_bytes: u64,
    /// Roll the active segment once its lines span this much time (by the
    /// lines' own timestamps, so historical imports partition by time too).
    pub segment_age: Duration,
    /// Longer lines are cut to this many bytes and marked
    /// ([`crate::TRUNCATION_MARKER`]).
    pub max_line_bytes: usize,
    /// zstd level; 0 stores blocks uncompressed.
    pub compression_level: i32,
    /// fsync a segment (and its catalog line) when it is sealed. Without it a
    /// kill -9 still loses nothing written, but a power cut may.
    pub sync_on_seal: bool,
    /// Lines buffered for live tails before a slow subscriber lags (it then
    /// catches up from storage, losing nothing).
    pub tail_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            block_bytes: 32 * 1024,
            segment_bytes: 64 * 1024 * 1024,
            segment_age: Duration::from_secs(3600),
            max_line_bytes: 1024 * 1024,
            compression_level: 3,
            sync_on_seal: true,
            tail_capacity: 4096,
        }
    }
}

impl Config {
    pub(crate) fn segment_age_nanos(&self) -> i64 {
        i64::try_from(self.segment_age.as_nanos()).unwrap_or(i64::MAX)
    }
}
