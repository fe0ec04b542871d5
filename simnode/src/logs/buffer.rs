//! A bounded, in-memory log of one container instance, with a notification for followers.
//!
//! Lines carry the time they were written (as the container runtime's log file does), so
//! `sinceTime`, `sinceSeconds` and `timestamps` work. The buffer keeps the newest lines up
//! to a line count and a byte size; a follower that falls behind the oldest kept line
//! continues from the oldest one, like a reader of a rotated log file.
//!
//! A buffer made [`with_file`](LogBuffer::with_file) also hands every line, as it is
//! pushed and in the same order, to the instance's CRI log file (see [`super::cri`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::cri::CriFile;
use super::LogStream;

/// One log line, ending in `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub ts: DateTime<Utc>,
    /// Which pipe of the process wrote it (`GET log` mixes both, as the kubelet does).
    pub stream: LogStream,
    pub text: Bytes,
}

#[derive(Debug)]
struct Inner {
    lines: VecDeque<LogLine>,
    bytes: usize,
    /// Sequence number of `lines[0]`.
    first_seq: u64,
    closed: bool,
}

/// The log of one container instance.
#[derive(Debug)]
pub struct LogBuffer {
    inner: Mutex<Inner>,
    max_lines: usize,
    max_bytes: usize,
    /// Bumped on every push and on close.
    changed: watch::Sender<u64>,
    /// The instance's CRI log file, written in push order.
    file: Option<Arc<CriFile>>,
}

/// What [`LogBuffer::read_from`] found.
#[derive(Debug)]
pub struct Chunk {
    pub lines: Vec<LogLine>,
    /// The sequence number to read from next time.
    pub next_seq: u64,
    pub closed: bool,
}

impl LogBuffer {
    pub fn new(max_lines: usize, max_bytes: usize) -> Arc<Self> {
        Self::build(max_lines, max_bytes, None)
    }

    /// A buffer whose lines also go to `file` (closed when the buffer is).
    pub fn with_file(max_lines: usize, max_bytes: usize, file: Arc<CriFile>) -> Arc<Self> {
        Self::build(max_lines, max_bytes, Some(file))
    }

    fn build(max_lines: usize, max_bytes: usize, file: Option<Arc<CriFile>>) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                lines: VecDeque::new(),
                bytes: 0,
                first_seq: 0,
                closed: false,
            }),
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
            changed: watch::channel(0).0,
            file,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the buffer inconsistent in a way
        // that matters for logs, so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a stdout line stamped now; a missing trailing newline is added. Lines
    /// pushed after [`close`](Self::close) are dropped.
    pub fn push(&self, text: impl AsRef<[u8]>) {
        self.push_line(Utc::now(), LogStream::Stdout, text)
    }

    /// Appends a line of `stream` stamped now.
    pub fn push_to(&self, stream: LogStream, text: impl AsRef<[u8]>) {
        self.push_line(Utc::now(), stream, text)
    }

    /// Appends a stdout line with a given time.
    pub fn push_at(&self, ts: DateTime<Utc>, text: impl AsRef<[u8]>) {
        self.push_line(ts, LogStream::Stdout, text)
    }

    /// Appends a line of `stream` with a given time (never earlier than the last line's).
    pub fn push_line(&self, ts: DateTime<Utc>, stream: LogStream, text: impl AsRef<[u8]>) {
        let text = text.as_ref();
        let text = if text.ends_with(b"\n") {
            Bytes::copy_from_slice(text)
        } else {
            let mut v = Vec::with_capacity(text.len() + 1);
            v.extend_from_slice(text);
            v.push(b'\n');
            Bytes::from(v)
        };
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        let ts = inner.lines.back().map_or(ts, |last| ts.max(last.ts));
        if let Some(file) = &self.file {
            // NB: under the buffer's lock, so the file gets the lines in the buffer's order
            // (and so with times that never go back). It only copies into memory.
            file.append(ts, stream, &text);
        }
        inner.bytes += text.len();
        inner.lines.push_back(LogLine { ts, stream, text });
        while inner.lines.len() > self.max_lines
            || (inner.bytes > self.max_bytes && inner.lines.len() > 1)
        {
            if let Some(old) = inner.lines.pop_front() {
                inner.bytes -= old.text.len();
                inner.first_seq += 1;
            }
        }
        let end = inner.first_seq + inner.lines.len() as u64;
        drop(inner);
        self.changed.send_replace(end);
    }

    /// Marks the instance as stopped: followers end after the last line.
    pub fn close(&self) {
        self.lock().closed = true;
        if let Some(file) = &self.file {
            file.close();
        }
        // NB: send_modify notifies receivers even though the value stays the same.
        self.changed.send_modify(|_| {});
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Lines from sequence number `seq` on (from the oldest kept line if `seq` is older).
    pub fn read_from(&self, seq: u64) -> Chunk {
        let inner = self.lock();
        let start = seq.max(inner.first_seq);
        let skip = (start - inner.first_seq) as usize;
        let lines: Vec<LogLine> = inner.lines.iter().skip(skip).cloned().collect();
        Chunk {
            next_seq: start + lines.len() as u64,
            lines,
            closed: inner.closed,
        }
    }

    /// All kept lines.
    pub fn snapshot(&self) -> Chunk {
        self.read_from(0)
    }

    /// A receiver that changes whenever a line is pushed or the buffer is closed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Number of kept lines.
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_lines_within_bounds() {
        let b = LogBuffer::new(3, 1 << 20);
        for i in 0..5 {
            b.push(format!("line {i}"));
        }
        let c = b.snapshot();
        let texts: Vec<_> = c
            .lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).to_string())
            .collect();
        assert_eq!(texts, ["line 2\n", "line 3\n", "line 4\n"]);
        assert_eq!(c.next_seq, 5);
        assert_eq!(b.read_from(4).lines.len(), 1);
        assert_eq!(
            b.read_from(0).lines.len(),
            3,
            "a reader behind the oldest line continues from it"
        );

        let small = LogBuffer::new(100, 16);
        small.push("0123456789");
        small.push("abcdefghij");
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn closed_buffers_take_no_more_lines() {
        let b = LogBuffer::new(10, 1000);
        b.push("a");
        b.close();
        b.push("b");
        let c = b.snapshot();
        assert!(c.closed);
        assert_eq!(c.lines.len(), 1);
    }
}
