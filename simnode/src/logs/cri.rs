//! Containers' logs as CRI files, laid out and rotated as a kubelet with containerd does,
//! so a node log agent reads the demo node as it reads a real one.
//!
//! # Layout
//! ```text
//! <pods dir>/<namespace>_<pod>_<pod uid>/<container>/<restartCount>.log       the live file
//!                                                    <n>.log.<YYYYMMDD-hhmmss>      rotated
//!                                                    <n>.log.<YYYYMMDD-hhmmss>.gz   older, compressed
//! ```
//! The pods dir is the node's `/var/log/pods` ([`crate::NodeConfig::pod_logs_dir`],
//! `<node folder>/pods` unless set).
//!
//! One runtime runs the pods of every node of the demo cluster. With
//! [`crate::NodeConfig::pod_logs_by_node`] each node gets a `/var/log/pods` of its own,
//! `<pods dir>/<spec.nodeName>` ([`node_dir`], [`crate::NodeRuntime::pod_logs_dir_of`]),
//! so one node log agent per node reads exactly its node's pods:
//! ```text
//! <pods dir>/<node>/<namespace>_<pod>_<pod uid>/<container>/<restartCount>.log
//! ```
//! A pod without a node name, or with one that is not a Kubernetes node name (a DNS
//! subdomain: lowercase letters, digits, `-` and `.`, see [`is_node_name`]) and so might
//! not be one safe path component, goes to [`UNSCHEDULED`] (`<pods dir>/_unscheduled`),
//! which no node name can be: nothing is ever written outside the pods dir. Without the
//! setting every pod's folder is right in the pods dir, whatever its node.
//!
//! One file per container instance, init and ephemeral containers included; each record
//! is one line `<RFC3339Nano time> <stdout|stderr> <F|P> <text>\n` with the time as Go prints it in
//! UTC (fraction without trailing zeros), a line's `\n` (or `\r\n`) dropped, and a line
//! longer than containerd's 16 KiB cut into `P` records of exactly 16 KiB followed by an
//! `F` record with the rest — containerd's rule, so an empty `F` never follows. All
//! records of one line carry the line's time, the time [`LogBuffer`](super::LogBuffer)
//! gives it: the file holds the same lines as the instance's buffer, in its order.
//!
//! # Writing
//! A line is only encoded into the instance's memory when it is pushed (under the
//! buffer's lock, so never out of order); a thread of the node ([`PodLogs`]) appends what
//! came to each file every `log_flush_interval` (at most a second, the agent's poll), so
//! a simulated process never waits for a disk. If a file falls 8 MiB behind, further lines
//! are dropped from it (and counted in a warning) rather than slowing the process.
//!
//! # Rotation and removal, as the kubelet does them
//! When a running instance's live file has reached `containerLogMaxSize`, the next write
//! first rotates it as the kubelet's `rotateLog` does: the live file is renamed to
//! `<n>.log.<UTC stamp>` and a new `<n>.log` started; of the older rotated files,
//! leftover `.tmp` files and plain files with a `.gz` twin are removed, then the oldest
//! until `containerLogMaxFiles - 2` are left, and those are gzip-compressed (`<f>.tmp`,
//! renamed to `<f>.gz`, then `<f>` removed) — at most `containerLogMaxFiles` files per
//! instance, the newest rotated one uncompressed. The stamp has one-second resolution, so
//! a second rotation within the same second waits (the kubelet checks every ten seconds
//! and never meets this). Two differences no reader can tell from the files left, both
//! for followers that know files by inode, as logstore's CRI ingester does: a new file
//! appears with its first lines in it (written under a hidden name, then renamed), never
//! empty, so its first time can be read when it is first seen; and the older files are
//! compressed and removed after the new live file exists, not before, so it cannot take
//! the inode of a file removed a moment earlier.
//!
//! A deleted pod's folder is removed `pod_logs_linger` after the pod stopped (the
//! kubelet removes it at its next garbage collection, so an agent still reads the last
//! lines), and so are the files of a container's dead instances other than the latest
//! (the kubelet keeps one dead container per container). A node that shuts down keeps its
//! folders, as a stopped kubelet does, and flushes everything first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::LogStream;

/// containerd's default `max_container_log_line_size`: longer lines are cut into `P`
/// records of this many bytes.
pub const MAX_RECORD_TEXT: usize = 16 * 1024;
/// The kubelet's default `containerLogMaxSize`.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// The kubelet's default `containerLogMaxFiles`.
pub const DEFAULT_MAX_FILES: usize = 5;
/// How far a file may fall behind its instance before lines are dropped from it.
const MAX_PENDING: usize = 8 << 20;

/// The pods dir of a node whose folder is `scratch`: `<scratch>/pods` (pods' scratch
/// folders are `<namespace>_<pod>`, so the name cannot clash with one).
pub fn default_dir(scratch: &Path) -> PathBuf {
    scratch.join("pods")
}

/// The folder, under the pods dir, of pods whose node name is missing or not a node name
/// (see [`node_dir`]). `_` is in no node name, so it never is a node's folder.
pub const UNSCHEDULED: &str = "_unscheduled";

/// Whether `name` is a Kubernetes node name (a DNS-1123 subdomain: at most 253 lowercase
/// letters, digits, `-` and `.`, starting and ending with a letter or digit), hence one
/// path component that is neither `.` nor `..`.
pub fn is_node_name(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            bytes.len() <= 253
                && alnum(first)
                && alnum(last)
                && bytes.iter().all(|&b| alnum(b) || b == b'-' || b == b'.')
        }
        _ => false,
    }
}

/// A node's `/var/log/pods` when the pods dir is split by node: `<pods dir>/<node>`, or
/// `<pods dir>/`[`UNSCHEDULED`] when `node` is empty or not a node name (it then cannot
/// lead outside the pods dir).
pub fn node_dir(pods_dir: &Path, node: &str) -> PathBuf {
    if is_node_name(node) {
        pods_dir.join(node)
    } else {
        pods_dir.join(UNSCHEDULED)
    }
}

/// A pod's log folder: `<pods dir>/<namespace>_<pod>_<uid>`.
pub fn pod_dir(pods_dir: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    pods_dir.join(format!("{namespace}_{pod}_{uid}"))
}

/// A container instance's live file: `<pod log folder>/<container>/<restart>.log`.
pub fn live_file(pod_dir: &Path, container: &str, restart: u32) -> PathBuf {
    pod_dir.join(container).join(format!("{restart}.log"))
}

/// How the node writes its pods' log files (from [`crate::NodeConfig`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The pods dir.
    pub dir: PathBuf,
    /// Each node's pods in `<dir>/<node>` ([`node_dir`]) rather than all in `dir`.
    pub by_node: bool,
    pub max_size: u64,
    pub max_files: usize,
    pub flush_interval: Duration,
    pub linger: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // NB: every critical section here leaves its data consistent, so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Appends Go's `time.RFC3339Nano` of `ts` in UTC: nine fraction digits at most, trailing
/// zeros (and a bare `.`) dropped, as containerd stamps records.
pub fn write_time(out: &mut Vec<u8>, ts: DateTime<Utc>) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        ts.year(),
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );
    // NB: chrono shows a leap second as nanoseconds past 999_999_999.
    let nanos = ts.nanosecond().min(999_999_999);
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push(b'.');
        out.extend_from_slice(digits.trim_end_matches('0').as_bytes());
    }
    out.push(b'Z');
}

/// Appends the records of one pushed line (see the module docs).
pub fn encode(out: &mut Vec<u8>, ts: DateTime<Utc>, stream: LogStream, text: &[u8]) {
    let mut head = Vec::with_capacity(40);
    write_time(&mut head, ts);
    head.push(b' ');
    head.extend_from_slice(stream.as_str().as_bytes());
    head.push(b' ');
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    // NB: containerd reads lines, so a newline inside what was pushed as one line ends one.
    for line in text.split(|&b| b == b'\n') {
        let mut rest = line.strip_suffix(b"\r").unwrap_or(line);
        let mut record = |tag: u8, part: &[u8]| {
            out.extend_from_slice(&head);
            out.push(tag);
            out.push(b' ');
            out.extend_from_slice(part);
            out.push(b'\n');
        };
        while rest.len() > MAX_RECORD_TEXT {
            let (part, more) = rest.split_at(MAX_RECORD_TEXT);
            record(b'P', part);
            rest = more;
        }
        record(b'F', rest);
    }
}

#[derive(Debug, Default)]
struct Pending {
    buf: Vec<u8>,
    closed: bool,
    dropped_lines: u64,
}

#[derive(Debug, Default)]
struct Io {
    file: Option<File>,
    size: u64,
    /// An error was reported already (reported once per file, not per tick).
    warned: bool,
}

/// One container instance's log file. Lines go in with [`append`](Self::append) (cheap:
/// memory only); the node's [`PodLogs`] writes them out.
#[derive(Debug)]
pub struct CriFile {
    /// `<pods dir>[/<node>]/<ns>_<pod>_<uid>/<container>`.
    dir: PathBuf,
    /// `<restart>.log`.
    name: String,
    pending: Mutex<Pending>,
    io: Mutex<Io>,
}

impl CriFile {
    /// The live file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// Queues a line's records for the file; a line after [`close`](Self::close) is dropped.
    pub fn append(&self, ts: DateTime<Utc>, stream: LogStream, text: &[u8]) {
        let mut p = lock(&self.pending);
        if p.closed {
            return;
        }
        if p.buf.len() >= MAX_PENDING {
            p.dropped_lines += 1;
            return;
        }
        encode(&mut p.buf, ts, stream, text);
    }

    /// The instance ended: what is queued is written, then the file is closed for good.
    pub fn close(&self) {
        lock(&self.pending).closed = true;
    }

    /// Opens the live file to append `first` to it; a new one appears with `first` in it
    /// at once (written under a hidden name, then renamed), never empty.
    fn open_with(&self, first: &[u8]) -> io::Result<(File, u64)> {
        let live = self.path();
        // NB: O_APPEND as containerd opens it: a node restarted with the same pods goes on
        // writing the same instance's file.
        let append = || OpenOptions::new().append(true).open(&live);
        let mut file = match append() {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir)?;
                let fresh = self.dir.join(format!(".{}.new", self.name));
                let mut file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o640)
                    .open(&fresh)?;
                file.write_all(first)?;
                fs::rename(&fresh, &live)?;
                return Ok((file, first.len() as u64));
            }
            Err(e) => return Err(e),
        };
        file.write_all(first)?;
        let size = file.metadata()?.len();
        Ok((file, size))
    }

    fn warn(&self, io: &mut Io, what: &str, e: &io::Error) {
        if !std::mem::replace(&mut io.warned, true) {
            tracing::warn!(file = %self.path().display(), "container log file: {what}: {e}");
        }
    }

    /// Writes what is queued, rotating first when the live file reached the size limit.
    /// Returns whether the file is done (closed and written out).
    fn flush(&self, s: &Settings) -> bool {
        let (data, closed, dropped) = {
            let mut p = lock(&self.pending);
            (
                std::mem::take(&mut p.buf),
                p.closed,
                std::mem::take(&mut p.dropped_lines),
            )
        };
        let mut io = lock(&self.io);
        if dropped > 0 {
            tracing::warn!(file = %self.path().display(), dropped, "container log file fell behind; lines dropped from it");
        }
        if !data.is_empty() {
            // The kubelet rotates running containers only.
            let rotated =
                !closed && io.file.is_some() && io.size >= s.max_size && self.rotate(&mut io);
            match io.file.as_mut() {
                Some(file) => match file.write_all(&data) {
                    Ok(()) => io.size += data.len() as u64,
                    Err(e) => self.warn(&mut io, "cannot write it", &e),
                },
                None => match self.open_with(&data) {
                    Ok((file, size)) => {
                        io.file = Some(file);
                        io.size = size;
                    }
                    Err(e) => self.warn(&mut io, "cannot write it", &e),
                },
            }
            if rotated {
                // Only now that the new live file exists (see `prune_rotated`).
                self.prune_rotated(s);
            }
        }
        if closed {
            io.file = None;
            return true;
        }
        false
    }

    /// The kubelet's `rotateLatestLog`: the live file becomes `<n>.log.<stamp>`; the next
    /// write opens a new one. False when the stamp's name is taken (a rotation this second).
    fn rotate(&self, io: &mut Io) -> bool {
        let stamp = Utc::now().format("%Y%m%d-%H%M%S");
        let rotated = self.dir.join(format!("{}.{stamp}", self.name));
        if rotated.exists() || with_suffix(&rotated, ".gz").exists() {
            return false;
        }
        if let Err(e) = fs::rename(self.path(), &rotated) {
            self.warn(io, "cannot rotate it", &e);
            return false;
        }
        io.file = None;
        io.size = 0;
        true
    }

    /// The rest of the kubelet's `rotateLog`, for the rotated files but the newest: its
    /// `cleanupUnusedLogs` (unfinished compressions, plain files compressed already), its
    /// `removeExcessLogs` (the oldest, down to `containerLogMaxFiles - 2` besides the
    /// newest) and `compressLog` for the others.
    ///
    /// NB: the kubelet does this before it renames the live file. Done after the new live
    /// file is written instead (see [`flush`](Self::flush)), the new file cannot take the inode of a file removed a
    /// moment before: a follower that knows files by inode (logstore's CRI ingester does)
    /// would take the new file for the removed one and skip its first bytes. The files
    /// left are the same.
    fn prune_rotated(&self, s: &Settings) {
        let prefix = format!("{}.", self.name);
        let mut logs: Vec<PathBuf> = match fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .map(|e| e.path())
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "cannot list rotated container logs: {e}");
                return;
            }
        };
        logs.retain(|l| {
            let name = l.to_string_lossy();
            let unused = name.ends_with(".tmp")
                || (!name.ends_with(".gz") && with_suffix(l, ".gz").exists());
            if unused {
                let _ = fs::remove_file(l);
            }
            !unused
        });
        logs.sort();
        // The newest stays as it is; of the others at most max_files - 2 are kept.
        logs.pop();
        let keep = s.max_files.max(2) - 2;
        let excess = logs.len().saturating_sub(keep);
        for l in logs.drain(..excess) {
            let _ = fs::remove_file(&l);
        }
        for l in logs
            .iter()
            .filter(|l| !l.to_string_lossy().ends_with(".gz"))
        {
            if let Err(e) = compress(l) {
                tracing::warn!(file = %l.display(), "cannot compress a rotated container log: {e}");
            }
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The kubelet's `compressLog`: `<f>` → `<f>.tmp` (gzip) → `<f>.gz`, then `<f>` removed.
fn compress(path: &Path) -> io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let result = (|| {
        let mut src = File::open(path)?;
        let dst = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        let mut gz =
            flate2::write::GzEncoder::new(BufWriter::new(dst), flate2::Compression::default());
        io::copy(&mut src, &mut gz)?;
        gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&tmp, with_suffix(path, ".gz"))?;
        fs::remove_file(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What to remove once its time has come.
#[derive(Debug)]
enum Removal {
    /// A deleted pod's folder (unless the pod runs again meanwhile).
    Pod(PathBuf),
    /// A container's files of instances before `keep_from`.
    OldInstances { dir: PathBuf, keep_from: u32 },
}

#[derive(Debug)]
struct Shared {
    settings: Settings,
    files: Mutex<Vec<Arc<CriFile>>>,
    removals: Mutex<Vec<(Instant, Removal)>>,
    /// One flush at a time (the thread's or a caller's), so each file's chunks keep their order.
    flushing: Mutex<()>,
}

impl Shared {
    /// Writes every file out, then carries out the removals that are due (all of them
    /// with `all_removals`).
    fn tick(&self, all_removals: bool) {
        let _one = lock(&self.flushing);
        let files: Vec<Arc<CriFile>> = lock(&self.files).clone();
        let done: Vec<Arc<CriFile>> = files
            .into_iter()
            .filter(|f| f.flush(&self.settings))
            .collect();
        if !done.is_empty() {
            lock(&self.files).retain(|f| !done.iter().any(|d| Arc::ptr_eq(f, d)));
        }
        let now = Instant::now();
        let due: Vec<Removal> = {
            let mut removals = lock(&self.removals);
            let (due, later) = std::mem::take(&mut *removals)
                .into_iter()
                .partition(|(at, _)| all_removals || *at <= now);
            *removals = later;
            due.into_iter().map(|(_, r)| r).collect()
        };
        for removal in due {
            self.remove(removal);
        }
    }

    fn remove(&self, removal: Removal) {
        match removal {
            Removal::Pod(dir) => {
                // A pod that runs again (same uid) keeps its folder.
                if lock(&self.files).iter().any(|f| f.dir.starts_with(&dir)) {
                    return;
                }
                match fs::remove_dir_all(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), "cannot remove a deleted pod's logs: {e}")
                    }
                }
            }
            Removal::OldInstances { dir, keep_from } => {
                let Ok(entries) = fs::read_dir(&dir) else {
                    return;
                };
                for e in entries.filter_map(|e| e.ok()) {
                    let name = e.file_name();
                    let restart = name
                        .to_str()
                        .and_then(|n| n.split_once(".log"))
                        .filter(|(_, rest)| rest.is_empty() || rest.starts_with('.'))
                        .and_then(|(n, _)| n.parse::<u32>().ok());
                    if restart.is_some_and(|r| r < keep_from) {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The node is gone: what its instances wrote last still reaches the files.
        let files = std::mem::take(&mut *lock(&self.files));
        for f in files {
            f.close();
            f.flush(&self.settings);
        }
    }
}

/// The node's pods' log files: hands out a [`CriFile`] per container instance and runs
/// the thread that writes, rotates and removes them (it ends with the last clone).
#[derive(Debug, Clone)]
pub struct PodLogs {
    shared: Arc<Shared>,
}

impl PodLogs {
    pub fn new(settings: Settings) -> Self {
        if let Err(e) = fs::create_dir_all(&settings.dir) {
            tracing::warn!(dir = %settings.dir.display(), "cannot create the pods' log folder: {e}");
        }
        let interval = settings
            .flush_interval
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        let shared = Arc::new(Shared {
            settings,
            files: Mutex::default(),
            removals: Mutex::default(),
            flushing: Mutex::default(),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let spawned = std::thread::Builder::new()
            .name("simnode-pod-logs".into())
            .spawn(move || loop {
                // NB: a thread of its own, not a task: file writes, renames and gzip block.
                std::thread::sleep(interval);
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                shared.tick(false);
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the thread that writes pods' log files: {e}");
        }
        Self { shared }
    }

    /// The pods dir (the node's `/var/log/pods`, or the parent of every node's one when
    /// split by node).
    pub fn dir(&self) -> &Path {
        &self.shared.settings.dir
    }

    /// Where the pods of node `node` have their folders: [`node_dir`] when split by node,
    /// else the pods dir itself (whatever `node`).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        if self.shared.settings.by_node {
            node_dir(self.dir(), node)
        } else {
            self.dir().to_path_buf()
        }
    }

    /// The log folder of pod `namespace/pod` (`uid`) running on node `node`.
    pub fn pod_dir(&self, node: &str, namespace: &str, pod: &str, uid: &str) -> PathBuf {
        if self.shared.settings.by_node && !node.is_empty() && !is_node_name(node) {
            tracing::warn!(
                node,
                namespace,
                pod,
                "not a node name; the pod's logs go to {UNSCHEDULED}"
            );
        }
        pod_dir(&self.node_dir(node), namespace, pod, uid)
    }

    /// The file of instance `restart` of a container of a pod on node `node`. Files of
    /// the container's instances before `restart - 1` are removed after the linger time.
    pub fn open(
        &self,
        node: &str,
        namespace: &str,
        pod: &str,
        uid: &str,
        container: &str,
        restart: u32,
    ) -> Arc<CriFile> {
        let pod_dir = self.pod_dir(node, namespace, pod, uid);
        let live = live_file(&pod_dir, container, restart);
        let file = Arc::new(CriFile {
            dir: pod_dir.join(container),
            name: live
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            pending: Mutex::default(),
            io: Mutex::default(),
        });
        lock(&self.shared.files).push(file.clone());
        if restart >= 2 {
            self.remove_later(Removal::OldInstances {
                dir: file.dir.clone(),
                keep_from: restart - 1,
            });
        }
        file
    }

    /// The pod (on node `node`) was deleted: its folder goes after the linger time; the
    /// node's folder stays, as `/var/log/pods` does.
    pub fn remove_pod_later(&self, node: &str, namespace: &str, pod: &str, uid: &str) {
        let dir = pod_dir(&self.node_dir(node), namespace, pod, uid);
        self.remove_later(Removal::Pod(dir));
    }

    fn remove_later(&self, removal: Removal) {
        let at = Instant::now() + self.shared.settings.linger;
        lock(&self.shared.removals).push((at, removal));
    }

    /// Writes everything queued now (blocking), as the thread would at its next tick.
    pub fn flush(&self) {
        self.shared.tick(false);
    }

    /// Writes everything queued and carries out every pending removal at once (blocking);
    /// for a node that shuts down.
    pub fn flush_and_remove_all(&self) {
        self.shared.tick(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn text(ts: &str, stream: LogStream, line: &[u8]) -> String {
        let mut out = Vec::new();
        encode(&mut out, at(ts), stream, line);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn only_node_names_are_node_folders() {
        let pods = Path::new("/var/log/pods");
        for ok in [
            "demo-node-1",
            "a",
            "node.example.com",
            "1-2",
            "x".repeat(253).as_str(),
        ] {
            assert!(is_node_name(ok), "{ok}");
            assert_eq!(node_dir(pods, ok), pods.join(ok));
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/../..",
            "/etc",
            "a/b",
            "Node1",
            "-a",
            "a-",
            ".a",
            "a.",
            "a_b",
            "a b",
            "a\0b",
            "nöde",
            "x".repeat(254).as_str(),
        ] {
            assert!(!is_node_name(bad), "{bad:?}");
            assert_eq!(node_dir(pods, bad), pods.join(UNSCHEDULED), "{bad:?}");
        }
        assert!(!is_node_name(UNSCHEDULED));
    }

    #[test]
    fn times_are_go_rfc3339_nano() {
        let mut out = Vec::new();
        for (ts, want) in [
            (
                "2024-05-01T10:02:03.123456789Z",
                "2024-05-01T10:02:03.123456789Z",
            ),
            ("2024-05-01T10:02:03.120000000Z", "2024-05-01T10:02:03.12Z"),
            (
                "2024-05-01T10:02:03.000000100+02:00",
                "2024-05-01T08:02:03.0000001Z",
            ),
            ("2024-05-01T10:02:03Z", "2024-05-01T10:02:03Z"),
        ] {
            out.clear();
            write_time(&mut out, at(ts));
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
    }

    #[test]
    fn records_as_containerd_writes_them() {
        let ts = "2024-05-01T10:02:03.5Z";
        assert_eq!(
            text(ts, LogStream::Stdout, b"hello\n"),
            "2024-05-01T10:02:03.5Z stdout F hello\n"
        );
        assert_eq!(
            text(ts, LogStream::Stderr, b"crlf\r\n"),
            "2024-05-01T10:02:03.5Z stderr F crlf\n"
        );
        assert_eq!(
            text(ts, LogStream::Stdout, b"\n"),
            "2024-05-01T10:02:03.5Z stdout F \n"
        );
        assert_eq!(
            text(ts, LogStream::Stdout, b"a\nb\n"),
            "2024-05-01T10:02:03.5Z stdout F a\n2024-05-01T10:02:03.5Z stdout F b\n"
        );
        // Exactly 16 KiB is one record; one byte more is a P of 16 KiB and an F of one.
        let exact = vec![b'x'; MAX_RECORD_TEXT];
        assert_eq!(
            text(ts, LogStream::Stdout, &exact).matches(" F ").count(),
            1
        );
        let mut long = vec![b'y'; 2 * MAX_RECORD_TEXT + 1];
        long.push(b'\n');
        let got = text(ts, LogStream::Stdout, &long);
        let records: Vec<&str> = got.lines().collect();
        assert_eq!(records.len(), 3);
        let head = "2024-05-01T10:02:03.5Z stdout ";
        assert_eq!(records[0].len(), head.len() + 2 + MAX_RECORD_TEXT);
        assert!(records[0].starts_with(&format!("{head}P ")));
        assert!(records[1].starts_with(&format!("{head}P ")));
        assert_eq!(records[2], format!("{head}F y"));
        // A line of exactly two parts ends in a full F, never an empty one.
        let two = vec![b'z'; 2 * MAX_RECORD_TEXT];
        let got = text(ts, LogStream::Stdout, &two);
        assert_eq!(got.lines().count(), 2);
        assert!(got.lines().nth(1).unwrap().len() > head.len() + 2 + 1000);
    }
}
