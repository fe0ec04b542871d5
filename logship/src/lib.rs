//! Wharf's log stores on object storage. Each node's agent writes its
//! containers' logs into a [`logstore::Store`] on the node's disk and a
//! [`Shipper`] copies that store into an S3 bucket as it grows; any number
//! of consoles read every node's copy straight from the bucket with a
//! [`BucketDirectory`] under a read-only store, and never talk to each other.
//! Targets: Ceph RGW, MinIO, SeaweedFS, AWS S3 — anything that speaks S3.
//!
//! # In the bucket
//! ```text
//! s3://BUCKET/PREFIX/
//!   stores/<name>/manifest.json                  a copy of that store's files, as the
//!   stores/<name>/streams/<id>/catalog.jsonl     store's own format describes them
//!   stores/<name>/streams/<id>/<seg:016x>.seg    (logstore's crate docs): a sealed segment
//!   stores/<name>/streams/<id>/<seg:016x>.seg.parts/<from:016x>-<to:016x>
//!                                                a segment still being written, as parts
//!                                                holding its bytes from..to
//!   stores/<name>/shipped.json                   written last by every pass that changed
//!                                                something: readers look at it to know
//!                                                whether to refresh
//!   files/recordings/<namespace>/<session>.cast  whole files consoles share (terminal
//!                                                session recordings; [`Bucket::put_file`])
//! ```
//! `<name>` is a node's name for an agent, a console's pod name for the
//! console's own records.
//!
//! # Why readers always see a consistent store
//! The store's files are append-only or replaced whole, and S3 replaces an
//! object whole. A shipping pass first takes copies of the small files that
//! list others (the manifest, the stream catalogs), then ships the segments,
//! then those copies, then deletes what the store deleted (retention) and the
//! parts retired by the pass before, then writes `shipped.json`. So whatever a
//! reader lists was uploaded before anything that names it.
//!
//! A segment still being written grows by appends: each pass uploads what it
//! gained since the last as one more immutable part (its bytes `from..to`), so
//! shipping costs what was written, not the segment again and again; a reader
//! lists the parts and reads the segment up to its last complete block, as a
//! reader beside a local writer does. Once the catalog lists the segment as
//! sealed, the pass uploads it whole (before the catalog that names it) and the
//! next pass deletes its parts: a reader that opened the parts meanwhile reads
//! the same bytes, at the same offsets, from the whole segment. A segment cut
//! back when its store reopened after a crash (a torn last block) loses the parts
//! past its new end before new ones are added.
//!
//! # Caching
//! Consoles keep ranges of sealed segments and of parts (blocks, indexes) in one bounded
//! [`BlockCache`] for the whole bucket, under the object's full name (every store has a
//! `streams/1/0000000000000000.seg`), since neither ever changes; ranges of other objects
//! are kept under their ETag. A node whose store is wiped and started anew under the same
//! name would reuse segment names: give it a new name (or restart the consoles) in that
//! case.
//!
//! # Restarts
//! A shipper keeps nothing on disk. After a restart (`kill -9` included) its
//! first pass lists what the bucket holds, uploads only sealed segments whose
//! size differs and what growing segments gained past their parts, and every
//! small file; the store itself resumes from its own files. Nothing is lost
//! and nothing is stored twice, because the bucket holds copies of files'
//! bytes, never lines appended twice.

mod bucket;
mod cache;
mod directory;
mod error;
mod files;
pub mod seaweedfs;
mod ship;

pub use bucket::{Bucket, BucketSettings, Requests};
pub use cache::BlockCache;
pub use directory::BucketDirectory;
pub use error::{Error, Result};
pub use files::{FileInfo, FILES};
pub use ship::{Pass, Shipper, HEARTBEAT};

/// The folder of the bucket (under its prefix) that holds one store per name.
pub const STORES: &str = "stores";

/// The object a shipping pass writes last.
pub const SHIPPED: &str = "shipped.json";

/// Is `name` usable as a store's name: a Kubernetes node or pod name (lower-case letters,
/// digits, `-` and `.`, 1 to 253 characters, starting and ending alphanumeric)?
pub fn valid_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}
