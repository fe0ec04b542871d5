//! Container logs: bounded buffers per container instance ([`buffer`]), the realistic
//! lines simulated apps write ([`generator`]), the kubelet's `GET pods/NAME/log` options
//! applied to them, and the same lines written as the kubelet's CRI files under the
//! node's pods dir for a node log agent ([`cri`]).

pub mod buffer;
pub mod cri;
pub mod generator;

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use serde::Deserialize;

pub use buffer::{LogBuffer, LogLine};

/// Which of a container's output pipes a line came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LogStream {
    #[default]
    Stdout,
    Stderr,
}

impl LogStream {
    /// As CRI log records name it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// The query options of `GET /api/v1/namespaces/NS/pods/NAME/log`, named as on the wire
/// so an API server can deserialize its query string straight into this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogOptions {
    /// Required when the pod has more than one container.
    pub container: Option<String>,
    /// Keep streaming new lines until the container instance stops.
    pub follow: bool,
    /// The previous (terminated) instance's log.
    pub previous: bool,
    /// Prefix each line with its RFC3339Nano time and a space.
    pub timestamps: bool,
    /// Only lines newer than this many seconds.
    pub since_seconds: Option<i64>,
    /// Only lines at or after this time (RFC3339).
    pub since_time: Option<DateTime<Utc>>,
    /// Only the last N lines (negative means all).
    pub tail_lines: Option<i64>,
    /// Stop after this many bytes, cutting mid-line if needed.
    pub limit_bytes: Option<i64>,
}

/// The kubelet's `RFC3339NanoFixed`: always nine fractional digits, `Z` for UTC.
pub fn format_timestamp(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl LogOptions {
    /// The earliest line time wanted, if any (`sinceTime` wins over `sinceSeconds`, as the
    /// API server rejects both together anyway).
    fn since(&self) -> Option<DateTime<Utc>> {
        self.since_time.or_else(|| {
            self.since_seconds
                .map(|s| Utc::now() - chrono::Duration::seconds(s.max(0)))
        })
    }
}

struct Reader {
    buf: Arc<LogBuffer>,
    changes: tokio::sync::watch::Receiver<u64>,
    next_seq: u64,
    pending: VecDeque<Bytes>,
    remaining: Option<u64>,
    follow: bool,
    timestamps: bool,
    done: bool,
}

impl Reader {
    fn render(&self, line: &LogLine) -> Bytes {
        if self.timestamps {
            let mut b = BytesMut::with_capacity(line.text.len() + 32);
            b.extend_from_slice(format_timestamp(line.ts).as_bytes());
            b.extend_from_slice(b" ");
            b.extend_from_slice(&line.text);
            b.freeze()
        } else {
            line.text.clone()
        }
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.remaining == Some(0) {
                return None;
            }
            if let Some(mut chunk) = self.pending.pop_front() {
                if let Some(rem) = self.remaining.as_mut() {
                    if chunk.len() as u64 > *rem {
                        chunk.truncate(*rem as usize);
                    }
                    *rem -= chunk.len() as u64;
                }
                return Some(chunk);
            }
            if self.done || !self.follow {
                return None;
            }
            self.changes.borrow_and_update();
            let chunk = self.buf.read_from(self.next_seq);
            self.next_seq = chunk.next_seq;
            for line in &chunk.lines {
                let rendered = self.render(line);
                self.pending.push_back(rendered);
            }
            if !self.pending.is_empty() {
                continue;
            }
            if chunk.closed {
                self.done = true;
                continue;
            }
            if self.changes.changed().await.is_err() {
                // The buffer itself is gone: read what is left once more, then end.
                self.done = true;
                let chunk = self.buf.read_from(self.next_seq);
                for line in &chunk.lines {
                    let rendered = self.render(line);
                    self.pending.push_back(rendered);
                }
            }
        }
    }
}

/// Applies `opts` (everything but `container` and `previous`, which choose `buf`) and
/// returns the log as a stream of chunks, one line each. With `follow` the stream ends when
/// the instance stops (its buffer is closed) or `limitBytes` is reached.
pub fn read(buf: Arc<LogBuffer>, opts: &LogOptions) -> BoxStream<'static, Bytes> {
    let mut changes = buf.subscribe();
    changes.borrow_and_update();
    let snapshot = buf.snapshot();
    let since = opts.since();
    let mut lines: Vec<&LogLine> = snapshot
        .lines
        .iter()
        .filter(|l| since.is_none_or(|s| l.ts >= s))
        .collect();
    if let Some(n) = opts.tail_lines.filter(|n| *n >= 0) {
        let n = n as usize;
        if lines.len() > n {
            lines.drain(..lines.len() - n);
        }
    }
    let mut reader = Reader {
        buf: buf.clone(),
        changes,
        next_seq: snapshot.next_seq,
        pending: VecDeque::new(),
        remaining: opts.limit_bytes.filter(|n| *n > 0).map(|n| n as u64),
        follow: opts.follow,
        timestamps: opts.timestamps,
        done: snapshot.closed,
    };
    reader.pending = lines.into_iter().map(|l| reader.render(l)).collect();
    stream::unfold(
        reader,
        |mut r| async move { r.next().await.map(|b| (b, r)) },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn buf_with(lines: &[(i64, &str)]) -> Arc<LogBuffer> {
        let b = LogBuffer::new(100, 1 << 20);
        let base = Utc::now() - chrono::Duration::seconds(100);
        for (secs, text) in lines {
            b.push_at(base + chrono::Duration::seconds(*secs), text);
        }
        b
    }

    async fn collect(buf: Arc<LogBuffer>, opts: LogOptions) -> String {
        let chunks: Vec<Bytes> = read(buf, &opts).collect().await;
        String::from_utf8(chunks.concat()).unwrap()
    }

    #[test]
    fn timestamps_have_nine_fraction_digits() {
        let ts = DateTime::parse_from_rfc3339("2026-11-25T10:02:03.1Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_timestamp(ts), "2026-11-25T10:02:03.100000000Z");
    }

    #[test]
    fn options_deserialize_from_camel_case() {
        let o: LogOptions = serde_json::from_value(serde_json::json!({
            "container": "c", "follow": true, "tailLines": 5, "sinceTime": "2026-01-02T03:04:05Z", "limitBytes": 10
        }))
        .unwrap();
        assert_eq!(o.container.as_deref(), Some("c"));
        assert!(o.follow);
        assert_eq!(o.tail_lines, Some(5));
        assert_eq!(o.limit_bytes, Some(10));
        assert!(o.since_time.is_some());
    }

    #[tokio::test]
    async fn tail_since_limit_and_timestamps() {
        let b = buf_with(&[(0, "one"), (10, "two"), (90, "three"), (95, "four")]);
        b.close();
        assert_eq!(
            collect(b.clone(), LogOptions::default()).await,
            "one\ntwo\nthree\nfour\n"
        );
        assert_eq!(
            collect(
                b.clone(),
                LogOptions {
                    tail_lines: Some(2),
                    ..Default::default()
                }
            )
            .await,
            "three\nfour\n"
        );
        assert_eq!(
            collect(
                b.clone(),
                LogOptions {
                    tail_lines: Some(0),
                    ..Default::default()
                }
            )
            .await,
            ""
        );
        assert_eq!(
            collect(
                b.clone(),
                LogOptions {
                    since_seconds: Some(30),
                    ..Default::default()
                }
            )
            .await,
            "three\nfour\n"
        );
        let since = b.snapshot().lines[1].ts;
        assert_eq!(
            collect(
                b.clone(),
                LogOptions {
                    since_time: Some(since),
                    ..Default::default()
                }
            )
            .await,
            "two\nthree\nfour\n"
        );
        assert_eq!(
            collect(
                b.clone(),
                LogOptions {
                    limit_bytes: Some(6),
                    ..Default::default()
                }
            )
            .await,
            "one\ntw"
        );
        let ts = collect(
            b.clone(),
            LogOptions {
                timestamps: true,
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await;
        let (stamp, rest) = ts.split_once(' ').unwrap();
        assert_eq!(rest, "four\n");
        assert_eq!(stamp.len(), "2026-11-25T10:02:03.123456789Z".len());
        assert!(DateTime::parse_from_rfc3339(stamp).is_ok());
    }

    #[tokio::test]
    async fn follow_receives_new_lines_and_ends_on_close() {
        let b = buf_with(&[(0, "old")]);
        let mut s = read(
            b.clone(),
            &LogOptions {
                follow: true,
                ..Default::default()
            },
        );
        assert_eq!(s.next().await.unwrap(), Bytes::from_static(b"old\n"));
        let writer = b.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            writer.push("new");
            writer.close();
        });
        let next = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap();
        assert_eq!(next.unwrap(), Bytes::from_static(b"new\n"));
        assert!(tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap()
            .is_none());
    }
}
