//! Wharf's log store: one append-only stream per container
//! (`namespace/pod/container`, with the pod's labels), kept as time-indexed,
//! compressed, checksummed segments so that "what happened between 10:02 and
//! 10:05?" reads only the blocks of those minutes; plus CRI log ingestion
//! ([`cri`]), queries ([`Query`]), live tails ([`Tail`]) and retention.
//!
//! # Using it
//! ```no_run
//! # fn main() -> logstore::Result<()> {
//! use logstore::*;
//! let store = Store::open_path("/var/lib/wharf/logs", Config::default())?;
//! let key = StreamKey::new("shop", "web-0", "nginx");
//! let stream = store.stream(&key, &Labels::from([("app".into(), "web".into())]))?;
//! stream.append(Timestamp::now(), LogStream::Stdout, b"GET / 200")?;
//! store.flush()?; // durable against kill -9 from here on
//! let from = Timestamp::parse_rfc3339("2024-05-01T10:02:00Z")?;
//! let to = Timestamp::parse_rfc3339("2024-05-01T10:05:00Z")?;
//! let page = store.query(&Query::new(StreamSelector::stream(&key)).range(from, to).limit(1000))?;
//! for line in &page.lines { println!("{}", format_line(line)); }
//! # Ok(()) }
//! ```
//!
//! # On-disk format (version 1)
//! ```text
//! STORE/
//!   manifest.json                 streams: id, key, labels, min_segment (atomic replace)
//!   streams/<id>/<seg:016x>.seg   one file per segment, ids increasing
//! ```
//! * **Manifest** ([`manifest`]): JSON, replaced atomically (temp file, fsync,
//!   rename, fsync folder). Written when a stream is created, its labels
//!   change, or retention drops segments — never per line or per roll.
//! * **Segment** ([`segment`]): a run of data blocks; once sealed, followed by
//!   a sparse index (one 40-byte entry per block: offset, length, line count,
//!   first sequence number, first and last timestamp) and a fixed 64-byte
//!   versioned footer ending in the magic `WLSEGFT1`, with a crc32 over footer
//!   and index. A segment rolls at `Config::segment_bytes` on disk or when its
//!   lines span `Config::segment_age`.
//! * **Block** ([`segment::block`]): a 52-byte header (magic `WLB1`, codec,
//!   lengths, line count, first sequence number, first and last timestamp,
//!   crc32 of header and payload) and a zstd payload of about
//!   `Config::block_bytes` raw bytes, stored by column: timestamps, flags
//!   (stderr, truncated), lengths, then the texts back to back.
//! * All integers little endian; timestamps are `i64` nanoseconds since the
//!   Unix epoch; sequence numbers count a stream's lines from 0, never reused.
//!
//! # Order and cursors
//! Within a stream, lines keep their order of arrival and their timestamps
//! never go back (an earlier timestamp is stored as the stream's last one).
//! Across streams, lines are ordered by `(timestamp, stream id, sequence
//! number)` ([`Position`]): a total order in which every line is distinct, so
//! a cursor names exactly one line and paging never skips or repeats.
//!
//! # Crash safety
//! The active segment is only appended to, one checksummed block at a time.
//! On open, a segment without a valid footer is read from its start while
//! block headers, lengths, checksums and sequence numbers hold; the file is
//! cut after the last good block (a torn tail) and the stream continues
//! there. Sealed segments never change. Lines still buffered in memory (less
//! than one block per stream) are lost by a crash: call [`Store::flush`]
//! (the CRI follower does after each pass) to bound that. Without
//! `fsync` (see [`Store::sync`], `Config::sync_on_seal`) a power cut may lose
//! more, but never corrupts what an fsync covered.

pub mod config;
pub mod cri;
pub mod directory;
mod error;
pub mod index;
pub mod key;
pub mod line;
pub mod manifest;
pub mod output;
pub mod query;
pub mod resume;
pub mod retention;
pub mod segment;
pub mod store;
mod stream;
pub mod tail;
pub mod time;

pub use config::Config;
pub use directory::{Directory, FileDirectory, MemoryDirectory};
pub use error::{Error, Result};
pub use key::{LabelSelector, Labels, StreamKey, StreamSelector};
pub use line::{LogEntry, LogStream, Position, TRUNCATION_MARKER};
pub use output::{format_line, write_line};
pub use query::{Budget, Direction, Exhausted, Filter, Page, Partial, Query};
pub use resume::{ResumeFilter, ResumePoint};
pub use retention::{RetentionReport, RetentionRule};
pub use store::{Store, StreamHandle, StreamInfo};
pub use tail::{Tail, TailRequest, TailStart};
pub use time::Timestamp;
