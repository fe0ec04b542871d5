//! A stored log line, its place in the store's total order, and the opaque
//! cursor that names that place.

use std::fmt;
use std::sync::Arc;

use crate::key::StreamKey;
use crate::time::Timestamp;
use crate::{Error, Result};

/// Which output of the container a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// Per-line flag byte as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFlags(pub u8);

impl LineFlags {
    pub const STDERR: u8 = 1;
    pub const TRUNCATED: u8 = 2;

    pub fn new(stream: LogStream, truncated: bool) -> Self {
        let mut f = 0;
        if stream == LogStream::Stderr {
            f |= Self::STDERR;
        }
        if truncated {
            f |= Self::TRUNCATED;
        }
        LineFlags(f)
    }

    pub fn stream(self) -> LogStream {
        if self.0 & Self::STDERR != 0 {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        }
    }

    pub fn truncated(self) -> bool {
        self.0 & Self::TRUNCATED != 0
    }
}

/// Where a line sits in the store's total order: by timestamp, then by
/// stream id, then by the line's sequence number inside its stream.
/// Every stored line has a distinct position, so cursors are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub ts: Timestamp,
    pub stream_id: u64,
    pub seq: u64,
}

impl Position {
    /// The opaque cursor string for this position.
    pub fn cursor(&self) -> String {
        format!(
            "c1-{:x}-{:x}-{:x}",
            self.ts.0 as u64, self.stream_id, self.seq
        )
    }

    /// Parses a string made by [`Position::cursor`].
    pub fn from_cursor(s: &str) -> Result<Self> {
        let bad = || Error::InvalidCursor(s.to_owned());
        let rest = s.strip_prefix("c1-").ok_or_else(bad)?;
        let mut parts = rest.split('-');
        let mut next = || -> Result<u64> {
            parts
                .next()
                .and_then(|p| u64::from_str_radix(p, 16).ok())
                .ok_or_else(bad)
        };
        let ts = next()? as i64;
        let stream_id = next()?;
        let seq = next()?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Position {
            ts: Timestamp(ts),
            stream_id,
            seq,
        })
    }
}

/// One log line as a query or a tail returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub key: Arc<StreamKey>,
    pub position: Position,
    pub stream: LogStream,
    /// True when the store cut the line at `Config::max_line_bytes`; the text
    /// then ends with [`TRUNCATION_MARKER`] and the number of bytes dropped.
    pub truncated: bool,
    /// The line's bytes as received (not necessarily UTF-8), without newline.
    pub text: Vec<u8>,
}

impl LogEntry {
    pub fn timestamp(&self) -> Timestamp {
        self.position.ts
    }

    /// A cursor that pages on (or tails) after this line.
    pub fn cursor(&self) -> String {
        self.position.cursor()
    }

    pub fn text_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.text)
    }
}

impl fmt::Display for LogEntry {
    /// The CLI's format: `<RFC3339Nano> <namespace>/<pod>/<container> <text>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.position.ts, self.key, self.text_lossy())
    }
}

/// Appended to a line the store had to cut, followed by the number of bytes
/// dropped and `]`.
pub const TRUNCATION_MARKER: &[u8] = b" [wharf: line truncated, bytes dropped: ";

/// Keep at most `max` bytes of `text` (a prefix of a line `total` bytes long) and mark the cut.
pub(crate) fn truncate_line(text: &[u8], max: usize, total: usize) -> Vec<u8> {
    let keep = max.min(text.len());
    let mut out = Vec::with_capacity(keep + TRUNCATION_MARKER.len() + 24);
    out.extend_from_slice(&text[..keep]);
    out.extend_from_slice(TRUNCATION_MARKER);
    out.extend_from_slice((total.max(keep) - keep).to_string().as_bytes());
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        for p in [
            Position {
                ts: Timestamp(0),
                stream_id: 0,
                seq: 0,
            },
            Position {
                ts: Timestamp(-5),
                stream_id: 7,
                seq: u64::MAX,
            },
            Position {
                ts: Timestamp(1_714_557_720_123_456_789),
                stream_id: 99,
                seq: 12,
            },
        ] {
            assert_eq!(Position::from_cursor(&p.cursor()).unwrap(), p);
        }
        for bad in ["", "c1-1-2", "c1-x-1-2", "c2-1-2-3", "c1-1-2-3-4"] {
            assert!(
                matches!(Position::from_cursor(bad), Err(Error::InvalidCursor(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn truncation_marker() {
        let t = truncate_line(&[b'a'; 100], 10, 100);
        assert_eq!(t, b"aaaaaaaaaa [wharf: line truncated, bytes dropped: 90]");
    }
}
