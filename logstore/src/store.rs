//! The store: opens (and recovers) a directory, hands out stream handles
//! for appending, and owns the broadcast that live tails listen to.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast;

use crate::config::Config;
use crate::directory::{Directory, FileDirectory, MemoryDirectory, ReadStats};
use crate::key::{Labels, StreamKey, StreamSelector};
use crate::line::{truncate_line, LineFlags, LogEntry, LogStream, Position};
use crate::manifest::{Manifest, StreamEntry, MANIFEST_VERSION};
use crate::resume::ResumePoint;
use crate::stream::{Shared, Stream, StreamState};
use crate::time::Timestamp;
use crate::Result;

/// A handle on a log store; cheap to clone, shared by the collector, the
/// CRI ingester, queries and tails.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub shared: Shared,
    pub streams: RwLock<Streams>,
    pub tail_tx: broadcast::Sender<Arc<LogEntry>>,
}

#[derive(Default)]
pub(crate) struct Streams {
    pub by_key: HashMap<StreamKey, Arc<Stream>>,
    pub by_id: BTreeMap<u64, Arc<Stream>>,
    pub next_id: u64,
}

/// What the store holds for one stream (for pickers and status pages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub id: u64,
    pub key: StreamKey,
    pub labels: Labels,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Lines ever appended (sequence numbers are never reused, so lines
    /// removed by retention still count).
    pub lines_appended: u64,
    pub bytes_on_disk: u64,
}

impl Inner {
    pub fn streams_read(&self) -> RwLockReadGuard<'_, Streams> {
        self.streams.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn streams_write(&self) -> RwLockWriteGuard<'_, Streams> {
        self.streams.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Streams matching a selector, in id order.
    pub fn select(&self, selector: &StreamSelector) -> Vec<Arc<Stream>> {
        self.streams_read()
            .by_id
            .values()
            .filter(|s| selector.matches(&s.key, &s.labels()))
            .cloned()
            .collect()
    }

    /// Write the manifest; the caller holds the streams write lock so that
    /// manifest writes are serialized and never miss a stream.
    pub fn write_manifest(&self, streams: &Streams) -> Result<()> {
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            next_stream_id: streams.next_id,
            streams: streams
                .by_id
                .values()
                .map(|s| StreamEntry {
                    id: s.id,
                    key: (*s.key).clone(),
                    labels: (*s.labels()).clone(),
                    min_segment: s.min_segment.load(Ordering::SeqCst),
                })
                .collect(),
        };
        manifest.store(self.shared.dir.as_ref())
    }
}

impl Store {
    /// Open (creating if empty) a store on any [`Directory`], recovering
    /// every stream: torn tails are cut, segments left unsealed are sealed.
    pub fn open(dir: Arc<dyn Directory>, config: Config) -> Result<Store> {
        let manifest = Manifest::load(dir.as_ref())?;
        let (tail_tx, _) = broadcast::channel(config.tail_capacity.max(16));
        let shared = Shared {
            dir,
            config,
            stats: Arc::new(ReadStats::default()),
        };
        let mut streams = Streams {
            next_id: manifest.next_stream_id.max(1),
            ..Default::default()
        };
        for entry in manifest.streams {
            let state = StreamState::recover(&shared, entry.id, entry.min_segment)?;
            let stream = Arc::new(Stream {
                id: entry.id,
                key: Arc::new(entry.key.clone()),
                labels: RwLock::new(Arc::new(entry.labels)),
                min_segment: AtomicU64::new(entry.min_segment),
                state: Mutex::new(state),
            });
            streams.next_id = streams.next_id.max(entry.id + 1);
            streams.by_key.insert(entry.key, stream.clone());
            streams.by_id.insert(entry.id, stream);
        }
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                streams: RwLock::new(streams),
                tail_tx,
            }),
        })
    }

    /// Open a store in a folder of the file system.
    pub fn open_path(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        Store::open(Arc::new(FileDirectory::open(path)?), config)
    }

    /// A store that lives in memory only (tests, demos).
    pub fn in_memory(config: Config) -> Result<Store> {
        Store::open(Arc::new(MemoryDirectory::new()), config)
    }

    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// The stream for `key`, created if new; `labels` replace the stored ones
    /// when they differ (the manifest is rewritten then).
    pub fn stream(&self, key: &StreamKey, labels: &Labels) -> Result<StreamHandle> {
        {
            let streams = self.inner.streams_read();
            if let Some(s) = streams.by_key.get(key) {
                if *s.labels() == *labels {
                    return Ok(self.handle(s.clone()));
                }
            }
        }
        key.validate()?;
        let mut streams = self.inner.streams_write();
        if let Some(s) = streams.by_key.get(key).cloned() {
            if *s.labels() != *labels {
                *s.labels.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(labels.clone());
                self.inner.write_manifest(&streams)?;
            }
            return Ok(self.handle(s));
        }
        let id = streams.next_id;
        streams.next_id += 1;
        let stream = Arc::new(Stream {
            id,
            key: Arc::new(key.clone()),
            labels: RwLock::new(Arc::new(labels.clone())),
            min_segment: AtomicU64::new(0),
            state: Mutex::new(StreamState::new_stream(id)),
        });
        streams.by_key.insert(key.clone(), stream.clone());
        streams.by_id.insert(id, stream.clone());
        if let Err(e) = self.inner.write_manifest(&streams) {
            streams.by_key.remove(key);
            streams.by_id.remove(&id);
            return Err(e);
        }
        Ok(self.handle(stream))
    }

    /// The stream for `key` if it exists.
    pub fn existing_stream(&self, key: &StreamKey) -> Option<StreamHandle> {
        let s = self.inner.streams_read().by_key.get(key).cloned()?;
        Some(self.handle(s))
    }

    fn handle(&self, stream: Arc<Stream>) -> StreamHandle {
        StreamHandle {
            stream,
            inner: self.inner.clone(),
        }
    }

    /// Append one line (see [`StreamHandle::append`]); looks the stream up by key.
    pub fn append(
        &self,
        key: &StreamKey,
        labels: &Labels,
        ts: Timestamp,
        stream: LogStream,
        text: &[u8],
    ) -> Result<Position> {
        self.stream(key, labels)?.append(ts, stream, text)
    }

    /// Where a collector resumes this stream; `None` if nothing is stored.
    pub fn resume_point(&self, key: &StreamKey) -> Option<ResumePoint> {
        self.existing_stream(key)?.resume_point()
    }

    /// Write every stream's buffered lines as blocks. After `flush` returns,
    /// the lines survive a kill -9 of this process.
    pub fn flush(&self) -> Result<()> {
        for s in self.inner.select(&StreamSelector::default()) {
            s.lock().flush_pending(&self.inner.shared)?;
        }
        Ok(())
    }

    /// [`Store::flush`], then fsync every active segment (survives a power cut).
    pub fn sync(&self) -> Result<()> {
        for s in self.inner.select(&StreamSelector::default()) {
            let mut st = s.lock();
            st.flush_pending(&self.inner.shared)?;
            if let Some(a) = st.active.as_mut() {
                a.file.sync()?;
            }
        }
        Ok(())
    }

    /// Flush and seal every stream's active segment (e.g. at shutdown; not
    /// required for safety: an unsealed segment is recovered on open).
    pub fn seal_all(&self) -> Result<()> {
        for s in self.inner.select(&StreamSelector::default()) {
            let mut st = s.lock();
            st.flush_pending(&self.inner.shared)?;
            st.seal_active(&self.inner.shared)?;
        }
        Ok(())
    }

    /// The streams a selector picks, with their extent.
    pub fn streams(&self, selector: &StreamSelector) -> Vec<StreamInfo> {
        self.inner
            .select(selector)
            .into_iter()
            .map(|s| {
                let st = s.lock();
                let extent = st.extent();
                StreamInfo {
                    id: s.id,
                    key: (*s.key).clone(),
                    labels: (*s.labels()).clone(),
                    first: extent.map(|e| Timestamp(e.0)),
                    last: extent.map(|e| Timestamp(e.1)),
                    lines_appended: st.next_seq,
                    bytes_on_disk: st.disk_bytes(),
                }
            })
            .collect()
    }

    /// Bytes the store's segments take on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.inner
            .select(&StreamSelector::default())
            .iter()
            .map(|s| s.lock().disk_bytes())
            .sum()
    }

    /// Bytes read from segment files since the store was opened (warm cache
    /// or not): what a query costs in I/O.
    pub fn bytes_read(&self) -> u64 {
        self.inner.shared.stats.bytes_read()
    }
}

/// A stream to append to: the collector keeps one per container.
#[derive(Clone)]
pub struct StreamHandle {
    pub(crate) stream: Arc<Stream>,
    pub(crate) inner: Arc<Inner>,
}

impl StreamHandle {
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    pub fn id(&self) -> u64 {
        self.stream.id
    }

    /// Append one line. Lines of a stream keep their order of arrival; a
    /// timestamp earlier than the stream's last is stored as that last one
    /// (so the stream's time index stays sorted). A line longer than
    /// `Config::max_line_bytes` is cut and marked. The line is visible to
    /// queries and tails at once, and durable after [`Store::flush`] (or once
    /// its block fills).
    pub fn append(&self, ts: Timestamp, stream: LogStream, text: &[u8]) -> Result<Position> {
        let max = self.inner.shared.config.max_line_bytes;
        if text.len() > max {
            self.append_prepared(ts, stream, &truncate_line(text, max, text.len()), true)
        } else {
            self.append_prepared(ts, stream, text, false)
        }
    }

    /// Append a text already cut to size (and marked) when `truncated`.
    pub(crate) fn append_prepared(
        &self,
        ts: Timestamp,
        stream: LogStream,
        text: &[u8],
        truncated: bool,
    ) -> Result<Position> {
        let sh = &self.inner.shared;
        let flags = LineFlags::new(stream, truncated);
        let mut st = self.stream.lock();
        let (ts, seq) = st.append(sh, ts.0, flags.0, text)?;
        let position = Position {
            ts: Timestamp(ts),
            stream_id: self.stream.id,
            seq,
        };
        // NB: sent under the stream lock so a stream's lines reach tails in order.
        if self.inner.tail_tx.receiver_count() > 0 {
            let _ = self.inner.tail_tx.send(Arc::new(LogEntry {
                key: self.stream.key.clone(),
                position,
                stream,
                truncated,
                text: text.to_vec(),
            }));
        }
        Ok(position)
    }

    /// Write this stream's buffered lines as a block.
    pub fn flush(&self) -> Result<()> {
        self.stream.lock().flush_pending(&self.inner.shared)
    }

    /// Where a collector resumes; `None` if the stream holds no line.
    pub fn resume_point(&self) -> Option<ResumePoint> {
        let st = self.stream.lock();
        Some(ResumePoint {
            last: Timestamp(st.last_ts?),
            lines_at_last: st.lines_at_last_ts,
            next_seq: st.next_seq,
        })
    }
}
