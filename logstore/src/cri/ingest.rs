//! Reading CRI files into the store, once ([`ingest_dir`]) or continuously
//! ([`follow`]). See the [module docs](super) for how re-ingestion is kept
//! from adding anything twice.

use std::collections::HashMap;
use std::fs::{self, File};
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layout::{parse_pod_dir, LogFileName};
use super::line::parse_cri_line;
use crate::error::IoContext;
use crate::key::{Labels, StreamKey};
use crate::line::{truncate_line, LogStream};
use crate::resume::ResumeFilter;
use crate::store::{Store, StreamHandle};
use crate::time::Timestamp;
use crate::Result;

const CHUNK: usize = 1 << 20;

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub files_read: u64,
    pub bytes_read: u64,
    pub lines_appended: u64,
    /// Lines already stored (dropped by the resume filter).
    pub lines_skipped: u64,
    /// Records that do not parse as CRI (skipped).
    pub bad_lines: u64,
    /// Where the first bad record was, for the operator.
    pub first_error: Option<String>,
}

impl IngestReport {
    fn add(&mut self, o: IngestReport) {
        self.files_read += o.files_read;
        self.bytes_read += o.bytes_read;
        self.lines_appended += o.lines_appended;
        self.lines_skipped += o.lines_skipped;
        self.bad_lines += o.bad_lines;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// Ingest every CRI file under `dir` and flush the store; safe to repeat.
pub fn ingest_dir(dir: impl AsRef<Path>, store: &Store) -> Result<IngestReport> {
    Follower::new(dir, store.clone()).poll()
}

/// Poll `dir` every `interval` until `shutdown` resolves, flushing the store
/// after each pass. The blocking file work runs on tokio's blocking pool.
pub async fn follow(
    dir: impl AsRef<Path>,
    store: Store,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<IngestReport> {
    let mut follower = Follower::new(dir, store);
    let mut total = IngestReport::default();
    tokio::pin!(shutdown);
    loop {
        let (f, report) = tokio::task::spawn_blocking(move || {
            let r = follower.poll();
            (follower, r)
        })
        .await
        .map_err(|_| crate::Error::Closed)?;
        follower = f;
        total.add(report?);
        tokio::select! {
            _ = &mut shutdown => return Ok(total),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[derive(Debug)]
struct FileState {
    offset: u64,
    first_ts: Option<i64>,
    /// The name the file had when last read (a rename keeps the inode; so may a new file
    /// that took a deleted one's inode, which the kubelet's rotation does often).
    name: std::ffi::OsString,
    /// A `.gz` (read once, whole).
    done: bool,
}

struct Partial {
    ts: Timestamp,
    stream: LogStream,
    buf: Vec<u8>,
    total: usize,
}

struct Container {
    key: StreamKey,
    handle: Option<StreamHandle>,
    files: HashMap<(u64, u64), FileState>,
    partial: OpenLines,
}

/// The line each stream has open (`P` parts read, `F` not yet). NB: one per stream, because
/// the runtime copies stdout and stderr with two readers into one file, so records of one
/// stream can come between the `P` parts of the other's line and its `F`.
#[derive(Default)]
struct OpenLines([Option<Partial>; 2]);

impl OpenLines {
    fn of(&mut self, stream: LogStream) -> &mut Option<Partial> {
        match stream {
            LogStream::Stdout => &mut self.0[0],
            LogStream::Stderr => &mut self.0[1],
        }
    }
}

/// Follows the CRI files under a folder; each [`Follower::poll`] reads what
/// is new since the last.
pub struct Follower {
    root: PathBuf,
    store: Store,
    containers: HashMap<PathBuf, Container>,
    first_pass: bool,
}

struct Candidate {
    path: PathBuf,
    name: LogFileName,
    id: (u64, u64),
    len: u64,
}

impl Follower {
    pub fn new(root: impl AsRef<Path>, store: Store) -> Self {
        Follower {
            root: root.as_ref().to_path_buf(),
            store,
            containers: HashMap::new(),
            first_pass: true,
        }
    }

    /// One pass over every container folder, then a store flush.
    pub fn poll(&mut self) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut dirs = Vec::new();
        for pod in read_dir_sorted(&self.root)? {
            let Some(pod_name) = pod.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            let Some((ns, pod_n, _uid)) = parse_pod_dir(&pod_name) else {
                continue;
            };
            if !pod.is_dir() {
                continue;
            }
            for cdir in read_dir_sorted(&pod)? {
                let Some(container) = cdir.file_name().and_then(|n| n.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                if cdir.is_dir() {
                    dirs.push((cdir, StreamKey::new(ns, pod_n, container)));
                }
            }
        }
        for (cdir, key) in dirs {
            if key.validate().is_err() {
                continue;
            }
            let first_pass = self.first_pass;
            let store = self.store.clone();
            let c = self
                .containers
                .entry(cdir.clone())
                .or_insert_with(|| Container {
                    key,
                    handle: None,
                    files: HashMap::new(),
                    partial: OpenLines::default(),
                });
            report.add(c.poll(&store, &cdir, first_pass)?);
        }
        self.first_pass = false;
        self.store.flush()?;
        Ok(report)
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                out.push(e.at(dir)?.path());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at(dir),
    }
    out.sort();
    Ok(out)
}

impl Container {
    fn handle(&mut self, store: &Store) -> Result<StreamHandle> {
        if let Some(h) = &self.handle {
            return Ok(h.clone());
        }
        let h = match store.existing_stream(&self.key) {
            Some(h) => h,
            None => store.stream(&self.key, &Labels::new())?,
        };
        self.handle = Some(h.clone());
        Ok(h)
    }

    fn poll(&mut self, store: &Store, dir: &Path, first_pass: bool) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut found: Vec<Candidate> = Vec::new();
        for path in read_dir_sorted(dir)? {
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(LogFileName::parse)
            else {
                continue;
            };
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            }; // vanished meanwhile
            if !meta.is_file() {
                continue;
            }
            found.push(Candidate {
                path,
                name,
                id: (meta.dev(), meta.ino()),
                len: meta.len(),
            });
        }
        // A .gz next to its plain twin is the same content being compressed.
        let plain: Vec<String> = found
            .iter()
            .filter(|c| !c.name.gz)
            .map(|c| c.name.plain_name())
            .collect();
        found.retain(|c| !c.name.gz || !plain.contains(&c.name.plain_name()));
        self.files.retain(|id, _| found.iter().any(|c| c.id == *id));
        // Order by first timestamp (peeking new files), then name.
        let mut ordered = Vec::new();
        for c in found {
            // NB: an inode seen before may now be another file: the kubelet deletes a rotated
            // file and creates the new live one, which the file system often gives the same
            // inode. A file shorter than what was read of it, or renamed and starting with
            // another line, is a new file.
            let file_name = c.path.file_name().unwrap_or_default();
            let replaced = self.files.get(&c.id).is_some_and(|s| {
                (!c.name.gz && c.len < s.offset)
                    || (s.name != file_name
                        && s.first_ts.is_some()
                        && peek_first_ts(&c.path, c.name.gz) != s.first_ts)
            });
            if replaced {
                self.files.remove(&c.id);
            }
            let first_ts = match self.files.get(&c.id) {
                // NB: a file first seen empty is looked at again, so it sorts by its first line
                Some(s) if s.first_ts.is_some() => s.first_ts,
                _ => peek_first_ts(&c.path, c.name.gz),
            };
            ordered.push((first_ts.unwrap_or(i64::MAX), c));
        }
        ordered.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
        for (first_ts, c) in ordered {
            let is_new = !self.files.contains_key(&c.id);
            let handle = self.handle(store)?;
            let state = self.files.entry(c.id).or_insert(FileState {
                offset: 0,
                first_ts: None,
                name: Default::default(),
                done: false,
            });
            state.first_ts = state
                .first_ts
                .or((first_ts != i64::MAX).then_some(first_ts));
            state.name = c.path.file_name().unwrap_or_default().to_owned();
            if state.done || (!c.name.gz && state.offset >= c.len) {
                continue;
            }
            // Files present at start and compressed copies may hold stored lines.
            let arm = is_new && (first_pass || c.name.gz);
            let mut filter = if arm {
                Some(ResumeFilter::new(handle.resume_point()))
            } else {
                None
            };
            let mut offset = state.offset;
            if let (Some(f), Some(p), false, 0) =
                (&filter, handle.resume_point(), c.name.gz, offset)
            {
                // Skip a whole file that ends before the resume point, reading only its tail.
                if !f.is_past_seam() && last_ts(&c.path, c.len).is_some_and(|t| t < p.last.0) {
                    state.offset = c.len;
                    continue;
                }
            }
            let max = store.config().max_line_bytes;
            let mut sink = Sink {
                handle: &handle,
                filter: filter.as_mut(),
                partial: &mut self.partial,
                report: &mut report,
                max,
                path: &c.path,
            };
            let consumed = if c.name.gz {
                let file = File::open(&c.path).at(&c.path)?;
                let n = sink.read_all(flate2::read::MultiGzDecoder::new(file), 0, true)?;
                state.done = true;
                n
            } else {
                let mut file = File::open(&c.path).at(&c.path)?;
                file.seek(SeekFrom::Start(offset)).at(&c.path)?;
                // Rotated files are final: their last record counts even without a newline.
                sink.read_all(file.take(c.len - offset), offset, !c.name.is_live())?
            };
            offset += consumed;
            state.offset = offset;
            report.files_read += 1;
        }
        Ok(report)
    }
}

struct Sink<'a> {
    handle: &'a StreamHandle,
    filter: Option<&'a mut ResumeFilter>,
    partial: &'a mut OpenLines,
    report: &'a mut IngestReport,
    max: usize,
    path: &'a Path,
}

impl Sink<'_> {
    /// Process complete records from `r`; returns the bytes consumed (up to
    /// the last newline, or everything when `final_eof`).
    fn read_all(&mut self, mut r: impl Read, base: u64, final_eof: bool) -> Result<u64> {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0usize;
        let mut consumed = 0u64;
        loop {
            if filled == buf.len() {
                // A record longer than the buffer: grow (bounded by what the file holds).
                buf.resize(buf.len() * 2, 0);
            }
            let n = r.read(&mut buf[filled..]).at(self.path)?;
            self.report.bytes_read += n as u64;
            if n == 0 {
                if final_eof && filled > 0 {
                    self.record(&buf[..filled], base + consumed)?;
                    consumed += filled as u64;
                }
                return Ok(consumed);
            }
            filled += n;
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', &buf[start..filled]).collect::<Vec<_>>() {
                self.record(&buf[start..nl], base + consumed)?;
                consumed += (nl + 1 - start) as u64;
                start = nl + 1;
            }
            buf.copy_within(start..filled, 0);
            filled -= start;
        }
    }

    fn record(&mut self, line: &[u8], offset: u64) -> Result<()> {
        let rec = match parse_cri_line(line) {
            Ok(r) => r,
            Err(reason) => {
                self.report.bad_lines += 1;
                if self.report.first_error.is_none() {
                    self.report.first_error = Some(
                        crate::Error::BadCriLine {
                            path: self.path.to_path_buf(),
                            offset,
                            reason,
                        }
                        .to_string(),
                    );
                }
                return Ok(());
            }
        };
        let open = self.partial.of(rec.stream);
        let p = open.get_or_insert_with(|| Partial {
            ts: rec.ts,
            stream: rec.stream,
            buf: Vec::new(),
            total: 0,
        });
        let room = (self.max + 1).saturating_sub(p.buf.len());
        p.buf
            .extend_from_slice(&rec.text[..rec.text.len().min(room)]);
        p.total += rec.text.len();
        if rec.partial {
            return Ok(());
        }
        let Some(p) = open.take() else {
            return Ok(());
        };
        if let Some(f) = self.filter.as_deref_mut() {
            if !f.admit(p.ts) {
                self.report.lines_skipped += 1;
                return Ok(());
            }
        }
        if p.total > self.max {
            let cut = truncate_line(&p.buf, self.max, p.total);
            self.handle.append_prepared(p.ts, p.stream, &cut, true)?;
        } else {
            self.handle.append_prepared(p.ts, p.stream, &p.buf, false)?;
        }
        self.report.lines_appended += 1;
        Ok(())
    }
}

/// Timestamp of a file's first record.
fn peek_first_ts(path: &Path, gz: bool) -> Option<i64> {
    let file = File::open(path).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = if gz {
        read_some(flate2::read::MultiGzDecoder::new(file), &mut buf)
    } else {
        read_some(file, &mut buf)
    };
    let line = buf[..n].split(|&b| b == b'\n').next()?;
    parse_cri_line(line).ok().map(|l| l.ts.0)
}

fn read_some(mut r: impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Timestamp of a plain file's last complete record, reading only its tail.
fn last_ts(path: &Path, len: u64) -> Option<i64> {
    let mut file = File::open(path).ok()?;
    let start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = vec![0u8; (len - start) as usize];
    file.read_exact(&mut buf).ok()?;
    let body = buf.strip_suffix(b"\n")?;
    let line = match memchr::memrchr(b'\n', body) {
        Some(i) => &body[i + 1..],
        None if start == 0 => body,
        None => return None,
    };
    parse_cri_line(line).ok().map(|l| l.ts.0)
}
