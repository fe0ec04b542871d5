//! Ingestion of the kubelet's CRI log files into the store.
//!
//! Layout: `DIR/<namespace>_<pod>_<uid>/<container>/<n>.log`, rotated files
//! `<n>.log.<timestamp>` and `<n>.log.<timestamp>.gz` ([`layout`]); one line
//! per record, `<RFC3339Nano> <stdout|stderr> <P|F> <text>`, `P` parts joined
//! until the `F` of the same stream ([`line`]); a line joined around the other
//! stream's records is stored after them, at the time of its first part (the
//! store keeps a stream's times non-decreasing).
//!
//! [`ingest_dir`] ingests what is there and returns; [`follow`] keeps polling
//! (rotation included: a renamed file is followed by its inode to its end,
//! a new `<n>.log` is read from its start).
//!
//! # Ingesting twice adds nothing twice
//! Chosen mechanism: the *stream's* resume point ([`crate::ResumeFilter`]),
//! not a separate checkpoint file. Files of a container are read in order of
//! their first timestamp; every joined line goes through the filter built from
//! the stream's last stored timestamp and the count of lines stored with it.
//! The store is then the only state: nothing can disagree with it after a
//! crash. To stay cheap, a plain file whose last line is older than the resume
//! point is skipped after reading only its tail. Within one run, followed
//! files are tracked by inode and offset, so only new bytes are read.
//!
//! Limits: exact when a container's timestamps never go backwards (what the
//! runtime writes); a `.gz` rotated file is decompressed to be checked (its
//! lines are then dropped by the filter if already stored); lines deleted by
//! the kubelet before ingestion are gone; the unterminated last line of a
//! live `<n>.log` waits for its newline. Lines of CRI files carry no pod
//! labels: a stream created here has none until the collector sets them.

pub mod ingest;
pub mod layout;
pub mod line;

pub use ingest::{follow, ingest_dir, Follower, IngestReport};
pub use layout::{parse_pod_dir, LogFileName};
pub use line::{parse_cri_line, CriLine};
