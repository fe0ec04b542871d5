//! The store: opens a directory as its one writer (recovering it) or as one
//! of any number of readers, hands out stream handles for appending, and owns
//! the broadcast that live tails listen to.
//!
//! # Writers and readers
//! [`Store::open`] takes the directory's writer lock ([`Directory::lock_writer`])
//! for as long as the store (or any handle of it) lives; a second writer gets
//! [`crate::Error::Locked`] at once. [`Store::open_read_only`] takes no lock
//! and never changes a byte: no cut, no file or folder created, nothing opened
//! for appending; writes on it fail with [`crate::Error::ReadOnly`].
//!
//! A reader sees the store as it was when opened, and takes in what the
//! writer flushed since each time [`Store::refresh`] is called (queries never
//! refresh by themselves: a page and the next one see the same store unless
//! the caller refreshed between them). Lines a refresh finds go to the
//! reader's live tails too, so a tail on a reader is live as long as someone
//! calls `refresh` (e.g. every second).
//!
//! # What an open reads
//! The manifest, then per stream its catalog ([`crate::catalog`]), the
//! listing of its folder, and the segment files the catalog does not list
//! (normally only the active segment), plus the newest block: a constant
//! amount per stream however long the history. A sealed segment's index is
//! read the first time a query reaches it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast;

use crate::config::Config;
use crate::directory::{Directory, FileDirectory, MemoryDirectory, ReadStats, WriterLock};
use crate::key::{Labels, StreamKey, StreamSelector};
use crate::line::{truncate_line, LineFlags, LogEntry, LogStream, Position};
use crate::manifest::{Manifest, StreamEntry, MANIFEST_VERSION};
use crate::query::{run, Matcher, Plan};
use crate::resume::ResumePoint;
use crate::stream::{Shared, Stream, StreamState};
use crate::time::Timestamp;
use crate::{Error, Result};

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
    /// Held by a writer for the store's lifetime; `None` in a reader.
    _writer: Option<Box<dyn WriterLock>>,
    /// One [`Store::refresh`] at a time.
    refreshing: Mutex<()>,
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

    /// `Err(Error::ReadOnly)` on a reader.
    pub fn writable(&self, operation: &'static str) -> Result<()> {
        match self.shared.read_only {
            true => Err(Error::ReadOnly { operation }),
            false => Ok(()),
        }
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
    /// Open (creating if empty) a store on any [`Directory`] as its only
    /// writer, recovering every stream: torn tails are cut, segments left
    /// unsealed are sealed. [`Error::Locked`] if another writer has it open.
    /// A store of the previous format (without catalogs) is read whole once
    /// and given its catalogs.
    pub fn open(dir: Arc<dyn Directory>, config: Config) -> Result<Store> {
        let lock = dir.lock_writer()?;
        Store::open_with(dir, config, Some(lock))
    }

    /// Open a store to read it (queries, tails), beside its writer or not:
    /// takes no lock and changes nothing, ever (see the module docs);
    /// [`Store::refresh`] takes in what was written since.
    pub fn open_read_only(dir: Arc<dyn Directory>, config: Config) -> Result<Store> {
        Store::open_with(dir, config, None)
    }

    fn open_with(
        dir: Arc<dyn Directory>,
        config: Config,
        writer: Option<Box<dyn WriterLock>>,
    ) -> Result<Store> {
        let manifest = Manifest::load(dir.as_ref())?;
        let (tail_tx, _) = broadcast::channel(config.tail_capacity.max(16));
        let shared = Shared {
            dir,
            config,
            stats: Arc::new(ReadStats::default()),
            read_only: writer.is_none(),
        };
        let mut streams = Streams {
            next_id: manifest.next_stream_id.max(1),
            ..Default::default()
        };
        for entry in &manifest.streams {
            let stream = open_stream(&shared, entry, manifest.has_catalogs())?;
            streams.next_id = streams.next_id.max(entry.id + 1);
            streams.by_key.insert(entry.key.clone(), stream.clone());
            streams.by_id.insert(entry.id, stream);
        }
        let inner = Inner {
            shared,
            streams: RwLock::new(streams),
            tail_tx,
            _writer: writer,
            refreshing: Mutex::new(()),
        };
        if !manifest.has_catalogs() && !inner.shared.read_only {
            // Every stream has its catalog now (written by its open): say so, last.
            inner.write_manifest(&inner.streams_read())?;
        }
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Open a store in a folder of the file system (created if missing), as its writer.
    pub fn open_path(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        Store::open(Arc::new(FileDirectory::open(path)?), config)
    }

    /// [`Store::open_read_only`] on an existing folder of the file system
    /// (an error if it is missing: a reader creates nothing).
    pub fn open_path_read_only(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        Store::open_read_only(Arc::new(FileDirectory::open_existing(path)?), config)
    }

    /// A store that lives in memory only (tests, demos).
    pub fn in_memory(config: Config) -> Result<Store> {
        Store::open(Arc::new(MemoryDirectory::new()), config)
    }

    /// Opened with [`Store::open_read_only`]?
    pub fn is_read_only(&self) -> bool {
        self.inner.shared.read_only
    }

    /// Reader: take in what the writer flushed since the open or the last
    /// refresh (new lines, new segments, new streams, label changes, segments
    /// deleted by retention) and hand the new lines to this store's live
    /// tails. Returns how many lines were new. Reads the manifest, and per
    /// stream the length of its active segment and the bytes added to it; a
    /// stream whose active segment was sealed also looks for the next one.
    /// A writer's view is always current: `Ok(0)`.
    pub fn refresh(&self) -> Result<u64> {
        let inner = &self.inner;
        if !inner.shared.read_only {
            return Ok(0);
        }
        let _one = inner.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        let sh = &inner.shared;
        let manifest = Manifest::load(sh.dir.as_ref())?;
        // Per stream that grew: the sequence numbers new to this reader.
        let mut grown: HashMap<u64, (u64, u64)> = HashMap::new();
        for entry in &manifest.streams {
            let known = inner.streams_read().by_id.get(&entry.id).cloned();
            let Some(stream) = known else {
                let stream = open_stream(sh, entry, manifest.has_catalogs())?;
                let next_seq = stream.lock().next_seq;
                if next_seq > 0 {
                    grown.insert(entry.id, (0, next_seq));
                }
                let mut streams = inner.streams_write();
                streams.next_id = streams.next_id.max(entry.id + 1);
                streams.by_key.insert(entry.key.clone(), stream.clone());
                streams.by_id.insert(entry.id, stream);
                continue;
            };
            if *stream.labels() != entry.labels {
                *stream.labels.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(entry.labels.clone());
            }
            stream
                .min_segment
                .store(entry.min_segment, Ordering::SeqCst);
            let mut st = stream.lock();
            let before = st.next_seq;
            if !st.refresh(sh, entry.min_segment)? {
                *st = StreamState::open(sh, entry.id, entry.min_segment, manifest.has_catalogs())?;
            }
            if st.next_seq > before {
                grown.insert(entry.id, (before, st.next_seq));
            }
        }
        let new_lines = grown.values().map(|(lo, hi)| hi - lo).sum();
        if inner.tail_tx.receiver_count() > 0 && !grown.is_empty() {
            let everything = StreamSelector::default();
            let plan = Plan {
                selector: &everything,
                span: crate::index::Span::ALL,
                seq_bounds: Some(&grown),
                after: None,
                forward: true,
                limit: None,
            };
            let (lines, _) = run(inner, &plan, &Matcher::All)?;
            for line in lines {
                let _ = inner.tail_tx.send(Arc::new(line));
            }
        }
        Ok(new_lines)
    }

    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// The stream for `key`, created if new; `labels` replace the stored ones
    /// when they differ (the manifest is rewritten then).
    pub fn stream(&self, key: &StreamKey, labels: &Labels) -> Result<StreamHandle> {
        self.inner.writable("open a stream for appending")?;
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
        self.inner.writable("flush")?;
        for s in self.inner.select(&StreamSelector::default()) {
            s.lock().flush_pending(&self.inner.shared)?;
        }
        Ok(())
    }

    /// [`Store::flush`], then fsync every active segment (survives a power cut).
    pub fn sync(&self) -> Result<()> {
        self.inner.writable("sync")?;
        for s in self.inner.select(&StreamSelector::default()) {
            let mut st = s.lock();
            st.flush_pending(&self.inner.shared)?;
            if let Some(file) = st.active.as_mut().and_then(|a| a.file.as_mut()) {
                file.sync()?;
            }
        }
        Ok(())
    }

    /// Flush and seal every stream's active segment (e.g. at shutdown; not
    /// required for safety: an unsealed segment is recovered on open).
    pub fn seal_all(&self) -> Result<()> {
        self.inner.writable("seal segments")?;
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
        self.inner.writable("append")?;
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
        self.inner.writable("flush")?;
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

/// Open one stream of the manifest.
fn open_stream(sh: &Shared, entry: &StreamEntry, use_catalog: bool) -> Result<Arc<Stream>> {
    let state = StreamState::open(sh, entry.id, entry.min_segment, use_catalog)?;
    Ok(Arc::new(Stream {
        id: entry.id,
        key: Arc::new(entry.key.clone()),
        labels: RwLock::new(Arc::new(entry.labels.clone())),
        min_segment: AtomicU64::new(entry.min_segment),
        state: Mutex::new(state),
    }))
}
