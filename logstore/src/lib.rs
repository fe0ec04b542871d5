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
//! # On-disk format (version 2)
//! ```text
//! STORE/
//!   writer.lock                   locked (flock) by the one writer while it is open; empty
//!   manifest.json                 version, streams: id, key, labels, min_segment (atomic replace)
//!   streams/<id>/catalog.json     the stream's sealed segments (atomic replace, once per roll)
//!   streams/<id>/<seg:016x>.seg   one file per segment, ids increasing
//! ```
//! * **Manifest** ([`manifest`]): JSON, replaced atomically (temp file, fsync,
//!   rename, fsync folder). Written when a stream is created, its labels
//!   change, or retention drops segments — never per line or per roll.
//! * **Catalog** ([`catalog`]): JSON, replaced atomically like the manifest
//!   when one of the stream's segments is sealed (and by retention): per
//!   sealed segment its id, first and last timestamp, first sequence number,
//!   line count and byte length. Opening reads it instead of every segment's
//!   footer, so open costs the same for a day of history or a year: per
//!   stream the catalog, the folder's listing and the segments it does not
//!   list (the active one). The catalog may lag the files (a crash between a
//!   seal and its catalog write), never lead them.
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
//! Version 1 had no catalogs (`"version":1` in the manifest); segments and
//! blocks are unchanged. Such a store still opens: a reader reads every
//! segment's footer (and writes nothing); a writer does so once, writes the
//! catalogs, then the manifest as version 2. A version 1 binary refuses a
//! version 2 store (unsupported manifest version).
//!
//! # Order and cursors
//! Within a stream, lines keep their order of arrival and their timestamps
//! never go back (an earlier timestamp is stored as the stream's last one).
//! Across streams, lines are ordered by `(timestamp, stream id, sequence
//! number)` ([`Position`]): a total order in which every line is distinct, so
//! a cursor names exactly one line and paging never skips or repeats.
//!
//! # Readers and writers
//! A store has one writer at a time ([`Store::open`] takes `writer.lock`, and a
//! second writer is refused at once with [`Error::Locked`]). Any number of
//! readers ([`Store::open_read_only`], e.g. `wharf logs query` beside a running
//! console) take no lock and change nothing: a segment still being written is
//! read up to its last complete block (a torn tail is just where readable data
//! ends) and left as it is. A reader shows what was flushed when it was
//! opened, and what was flushed since after each [`Store::refresh`] (which
//! also feeds its live tails).
//!
//! # Crash safety
//! The active segment is only appended to, one checksummed block at a time.
//! On a writer's open, a segment without a valid footer is read from its
//! start while block headers, lengths, checksums and sequence numbers hold;
//! the file is cut after the last good block (a torn tail) and the stream
//! continues there. Sealed segments never change; a catalog line is appended
//! after its segment's footer, so a crash between the two leaves a segment
//! the next open finds by itself. Lines still buffered in memory (less
//! than one block per stream) are lost by a crash: call [`Store::flush`]
//! (the CRI follower does after each pass) to bound that. Without
//! `fsync` (see [`Store::sync`], `Config::sync_on_seal`) a power cut may lose
//! more, but never corrupts what an fsync covered.

pub mod catalog;
pub mod config;
pub mod cri;
pub mod directory;
mod error;
pub mod federation;
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
pub use directory::{Directory, FileDirectory, MemoryDirectory, WriterLock};
pub use error::{Error, Result};
pub use federation::{FederatedTail, Federation};
pub use key::{LabelSelector, Labels, StreamKey, StreamSelector};
pub use line::{LogEntry, LogStream, Position, TRUNCATION_MARKER};
pub use output::{format_line, write_line};
pub use query::{Budget, Direction, Exhausted, Filter, Page, Partial, Query};
pub use resume::{ResumeFilter, ResumePoint};
pub use retention::{RetentionReport, RetentionRule};
pub use store::{Store, StreamHandle, StreamInfo};
pub use tail::{Tail, TailRequest, TailStart};
pub use time::Timestamp;
