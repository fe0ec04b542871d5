//! The one error type of the log store: every failure a caller can act on
//! has its own variant, so the CLI and the server can say a clear sentence.

use std::path::PathBuf;

/// Errors of the log store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on the store's files failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes failed a checksum or a structural check.
    #[error("corrupt data in {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A file was written by a newer (or unknown) format version.
    #[error("unsupported format version {version} in {path}")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// The query's `from` is after its `to`.
    #[error("invalid time range: from ({from}) is after to ({to})")]
    InvalidRange { from: String, to: String },
    /// A time string could not be parsed as RFC 3339.
    #[error("unparsable time {input:?}: expected RFC 3339, e.g. 2024-05-01T10:02:00Z")]
    BadTime { input: String },
    /// The regular expression of a filter does not compile.
    #[error("invalid regular expression {pattern:?}: {source}")]
    InvalidRegex {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    /// A paging cursor is not one this store produced.
    #[error("invalid cursor {0:?}")]
    InvalidCursor(String),
    /// A label selector does not parse.
    #[error("invalid label selector {selector:?}: {reason}")]
    InvalidSelector { selector: String, reason: String },
    /// A stream key part is empty or contains a character that cannot be stored.
    #[error("invalid stream key {0}")]
    InvalidKey(String),
    /// A CRI log line does not follow `<RFC3339Nano> <stdout|stderr> <P|F> <text>`.
    #[error("bad CRI line in {path} at byte {offset}: {reason}")]
    BadCriLine {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// The manifest could not be encoded or decoded.
    #[error("manifest {path}: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A stream's catalog (`streams/<id>/catalog.json`) could not be encoded or decoded.
    #[error("segment catalog {path}: {source}")]
    Catalog {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The store was closed (e.g. a tail subscription outlived it).
    #[error("the log store is closed")]
    Closed,
    /// Another writer holds the store (this process or another one): a store
    /// has one writer at a time. Readers ([`crate::Store::open_read_only`])
    /// are never refused.
    #[error(
        "the log store {path} is already open for writing (by this or another process); \
         only one writer at a time: stop the other one, or open the store read-only to query it"
    )]
    Locked { path: PathBuf },
    /// A write (creating a stream, appending, flushing, retention) on a store
    /// opened read-only.
    #[error("log store {name:?} cannot join: its tag is the same as {other:?}'s (rename one)")]
    MemberClash { name: String, other: String },

    #[error("cannot {operation}: the log store was opened read-only")]
    ReadOnly { operation: &'static str },
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

/// Is this the error of a file that is not there (e.g. deleted by retention)?
pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.into(),
        reason: reason.into(),
    }
}
