//! Retention of session recordings: a sweep over the recordings folder deletes recordings
//! older than `--recordings-keep-days` (by the end of their session: the file's modification
//! time, the last thing written), then, while all of them together are over
//! `--recordings-max-total-gb`, the oldest ones. It runs once when the console starts and then
//! every hour ([`spawn`]); it is housekeeping on a clock, nothing waits for it.
//!
//! A recording still being written is never deleted, however old or large: its writer holds a
//! lock on the file for the whole session (`recording.rs`), and the sweep leaves locked files
//! alone — also another replica's, where replicas share the folder. Where locks cannot be
//! taken (a file system without them) the sweep cannot tell, so it keeps the file and says so.
//!
//! The audit record of a session outlives nothing here: the sessions list looks for the file
//! and shows a deleted recording as expired rather than as a broken link.
//!
//! [`sweep`] is a plain function of a folder and a clock, so it is tested on files with set
//! modification times, without waiting.

use std::fs::TryLockError;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often the console sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// What the console keeps of its recordings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The recordings folder (`<dir>/<namespace>/<session id>.cast`).
    pub dir: PathBuf,
    /// Recordings whose session ended longer ago than this are deleted; `None`: kept forever.
    pub keep: Option<Duration>,
    /// When all recordings together take more bytes than this, the oldest are deleted; `None`: no cap.
    pub max_total: Option<u64>,
}

/// Why a recording was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Older than the retention.
    Expired,
    /// Among the oldest while all recordings together were over the total cap.
    OverTotal,
}

/// A deleted recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    pub path: PathBuf,
    pub bytes: u64,
    /// When its session ended.
    pub modified: SystemTime,
    pub why: Why,
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Deleted, oldest first within each reason.
    pub removed: Vec<Removed>,
    /// Recordings that would have gone but are still being written, so were left alone.
    pub active: Vec<PathBuf>,
    /// Bytes of all recordings after the sweep, those being written included.
    pub total_bytes: u64,
    /// What could not be looked at or deleted, as sentences (each also logged).
    pub problems: Vec<String>,
}

/// A recording found where recordings are kept.
pub struct Found {
    /// Its file (`<namespace>/<id>.cast` under the folder), or its path in the bucket.
    pub path: PathBuf,
    pub bytes: u64,
    /// When its session ended (the last write).
    pub modified: SystemTime,
}

/// What became of one recording a sweep chose.
pub enum Removal {
    Deleted,
    /// Someone else was first (another replica's sweep): it takes no room any more.
    Gone,
    /// Its session is still going: kept.
    Active,
    /// Kept, for the reason given (a sentence for the report).
    Kept(String),
}

/// Where recordings are kept: the console's folder ([`Local`]) or the shared bucket
/// ([`Shared`]).
pub trait Shelf {
    /// Every recording; what could not be looked at goes into `problems` as a sentence.
    fn list(&self, problems: &mut Vec<String>) -> Vec<Found>;
    /// Deletes one recording unless its session is still going.
    fn remove(&self, f: &Found) -> Removal;
}

/// Deletes from `dir` the recordings that ended more than `keep` before `now`, then the
/// oldest until all together take at most `max_total` bytes — never one being written, and
/// never an empty one for the cap (it would free nothing; and a recording is empty only in
/// the moment between its creation and its lock). Logs every deletion.
pub fn sweep(
    dir: &Path,
    now: SystemTime,
    keep: Option<Duration>,
    max_total: Option<u64>,
) -> SweepReport {
    sweep_shelf(&Local(dir), now, keep, max_total)
}

/// [`sweep`] of any [`Shelf`].
pub fn sweep_shelf(
    shelf: &impl Shelf,
    now: SystemTime,
    keep: Option<Duration>,
    max_total: Option<u64>,
) -> SweepReport {
    let mut report = SweepReport::default();
    let mut files = shelf.list(&mut report.problems);
    files.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
    report.total_bytes = files.iter().map(|f| f.bytes).sum();
    let mut left = Vec::with_capacity(files.len());
    for f in files {
        let expired =
            keep.is_some_and(|keep| now.duration_since(f.modified).is_ok_and(|age| age > keep));
        if expired {
            // NB: whatever came of it, an expired file is not tried again for the cap.
            remove(shelf, &f, Why::Expired, now, &mut report);
        } else {
            left.push(f);
        }
    }
    if let Some(max) = max_total {
        for f in left.iter().filter(|f| f.bytes > 0) {
            if report.total_bytes <= max {
                break;
            }
            remove(shelf, f, Why::OverTotal, now, &mut report);
        }
        if report.total_bytes > max {
            tracing::warn!(
                total_bytes = report.total_bytes,
                max_total_bytes = max,
                active = report.active.len(),
                "terminal recordings still take more than their total cap: what is left is being written, or could not be deleted"
            );
        }
    }
    report
}

/// The console's recordings folder: `<dir>/<namespace>/<id>.cast`.
pub struct Local<'a>(pub &'a Path);

impl Shelf for Local<'_> {
    /// The `<namespace>/<id>.cast` files; a folder that does not exist yet holds none.
    fn list(&self, problems: &mut Vec<String>) -> Vec<Found> {
        let dir = self.0;
        let mut found = Vec::new();
        let mut problem = |text: String| {
            tracing::warn!("{text}");
            problems.push(text);
        };
        let namespaces = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return found,
            Err(e) => {
                problem(format!(
                    "The recordings folder {} could not be read, so no recording was deleted: {e}",
                    dir.display()
                ));
                return found;
            }
        };
        for ns in namespaces.flatten() {
            if !ns.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let entries = match std::fs::read_dir(ns.path()) {
                Ok(entries) => entries,
                Err(e) => {
                    problem(format!(
                        "The recordings of namespace folder {} could not be read: {e}",
                        ns.path().display()
                    ));
                    continue;
                }
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|ext| ext != "cast") {
                    continue;
                }
                match entry.metadata() {
                    Ok(m) if m.is_file() => match m.modified() {
                        Ok(modified) => found.push(Found {
                            path,
                            bytes: m.len(),
                            modified,
                        }),
                        Err(e) => problem(format!(
                            "The age of recording {} is unknown, so it is kept: {e}",
                            path.display()
                        )),
                    },
                    Ok(_) => {}
                    // Deleted meanwhile (another replica's sweep, or a session that printed nothing).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => problem(format!(
                        "Recording {} could not be looked at, so it is kept: {e}",
                        path.display()
                    )),
                }
            }
        }
        found
    }

    fn remove(&self, f: &Found) -> Removal {
        match being_written(&f.path) {
            Ok(false) => {}
            Ok(true) => return Removal::Active,
            Err(e) => {
                return Removal::Kept(format!("Whether recording {} is still being written is unknown (no file lock: {e}), so it is kept.", f.path.display()))
            }
        }
        match std::fs::remove_file(&f.path) {
            Ok(()) => Removal::Deleted,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Removal::Gone,
            Err(e) => Removal::Kept(format!(
                "Recording {} could not be deleted: {e}",
                f.path.display()
            )),
        }
    }
}

/// The recordings in the shared bucket (`files/recordings/<namespace>/<id>.cast`, see
/// `wharf_console::terminal::archive`): finished sessions only, so none is being written.
/// Blocking: run it off the runtime's threads.
pub struct Shared<'a>(pub &'a logship::Bucket);

impl Shelf for Shared<'_> {
    fn list(&self, problems: &mut Vec<String>) -> Vec<Found> {
        match self.0.list_files(wharf_console::terminal::archive::FOLDER) {
            Ok(files) => files
                .into_iter()
                .filter(|f| f.path.ends_with(".cast"))
                .map(|f| Found {
                    path: PathBuf::from(f.path),
                    bytes: f.size,
                    modified: f.modified.into(),
                })
                .collect(),
            Err(e) => {
                let text = format!(
                    "The recordings in the log bucket could not be listed, so none was deleted: {e}"
                );
                tracing::warn!("{text}");
                problems.push(text);
                Vec::new()
            }
        }
    }

    fn remove(&self, f: &Found) -> Removal {
        match self.0.delete_file(&f.path.to_string_lossy()) {
            Ok(()) => Removal::Deleted,
            Err(e) => Removal::Kept(format!(
                "Recording {} in the log bucket could not be deleted: {e}",
                f.path.display()
            )),
        }
    }
}

/// Is someone writing this file (does it hold a writer's lock)?
fn being_written(path: &Path) -> std::io::Result<bool> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        // gone already: nothing writes it
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Deletes one recording unless it is being written; `report` learns what happened.
fn remove(shelf: &impl Shelf, f: &Found, why: Why, now: SystemTime, report: &mut SweepReport) {
    match shelf.remove(f) {
        Removal::Deleted => {
            report.total_bytes -= f.bytes;
            let age_days = now
                .duration_since(f.modified)
                .unwrap_or_default()
                .as_secs_f64()
                / 86_400.0;
            tracing::info!(path = %f.path.display(), bytes = f.bytes, age_days = format!("{age_days:.1}"), ?why, "terminal recording deleted");
            report.removed.push(Removed {
                path: f.path.clone(),
                bytes: f.bytes,
                modified: f.modified,
                why,
            });
        }
        Removal::Gone => report.total_bytes -= f.bytes,
        Removal::Active => {
            tracing::debug!(path = %f.path.display(), ?why, "terminal recording kept: its session is still going");
            report.active.push(f.path.clone());
        }
        Removal::Kept(text) => {
            tracing::warn!("{text}");
            report.problems.push(text);
        }
    }
}

/// The console's sweeper: once now, then every [`SWEEP_EVERY`]. It never ends (a sweep that
/// fails is logged and the next one tries again).
pub fn spawn(retention: Retention) -> tokio::task::JoinHandle<()> {
    tracing::info!(dir = %retention.dir.display(), keep_days = retention.keep.map(|k| k.as_secs() / 86_400), max_total_bytes = retention.max_total, "terminal recordings retention");
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let r = retention.clone();
            match tokio::task::spawn_blocking(move || {
                sweep(&r.dir, SystemTime::now(), r.keep, r.max_total)
            })
            .await
            {
                Ok(report) if report.removed.is_empty() => tracing::debug!(
                    total_bytes = report.total_bytes,
                    "terminal recordings swept: nothing to delete"
                ),
                Ok(report) => tracing::info!(
                    deleted = report.removed.len(),
                    deleted_bytes = report.removed.iter().map(|r| r.bytes).sum::<u64>(),
                    total_bytes = report.total_bytes,
                    "terminal recordings swept"
                ),
                Err(e) => tracing::error!(error = %e, "the terminal recordings sweep failed"),
            }
        }
    })
}

/// The sweep of the recordings in the log bucket, by one console replica at a time: the one
/// leading (the pipelines' Lease), once when it starts to lead and then every `every` while it
/// does. Another replica takes over when this one stops or loses the Lease.
pub fn spawn_shared(
    bucket: logship::Bucket,
    keep: Option<Duration>,
    max_total: Option<u64>,
    every: Duration,
    leadership: wharf_console::leader::Leadership,
) -> tokio::task::JoinHandle<()> {
    wharf_console::leader::every_while_leading(leadership, every, move || {
        let b = bucket.clone();
        async move {
            let swept = tokio::task::spawn_blocking(move || {
                sweep_shelf(&Shared(&b), SystemTime::now(), keep, max_total)
            });
            match swept.await {
                Ok(report) => tracing::info!(
                    deleted = report.removed.len(),
                    total_bytes = report.total_bytes,
                    "terminal recordings in the log bucket swept"
                ),
                Err(e) => tracing::error!(error = %e, "the bucket's recordings sweep failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    struct Folder(PathBuf);

    impl Folder {
        fn new() -> Folder {
            let d = std::env::temp_dir().join(format!(
                "wharf-sweep-{}-{}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&d).unwrap();
            Folder(d)
        }

        /// `<ns>/<name>` of `bytes` bytes, last written `age` before `now`.
        fn file(
            &self,
            ns: &str,
            name: &str,
            bytes: usize,
            now: SystemTime,
            age: Duration,
        ) -> PathBuf {
            let path = self.0.join(ns).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, vec![b'x'; bytes]).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(now - age)
                .unwrap();
            path
        }

        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = walk(&self.0)
                .iter()
                .map(|p| p.strip_prefix(&self.0).unwrap().display().to_string())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .flat_map(|e| {
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path())
                } else {
                    vec![e.path()]
                }
            })
            .collect()
    }

    fn removed(report: &SweepReport) -> Vec<(String, Why)> {
        report
            .removed
            .iter()
            .map(|r| {
                (
                    r.path.file_name().unwrap().to_string_lossy().into_owned(),
                    r.why,
                )
            })
            .collect()
    }

    #[test]
    fn recordings_older_than_the_retention_go_and_the_rest_stays() {
        let dir = Folder::new();
        let now = SystemTime::now();
        dir.file("alpha", "wharf-session-old.cast", 100, now, 31 * DAY);
        dir.file("beta", "wharf-session-older.cast", 200, now, 90 * DAY);
        dir.file("alpha", "wharf-session-new.cast", 300, now, 29 * DAY);
        dir.file("alpha", "notes.txt", 10, now, 400 * DAY);
        std::fs::write(dir.0.join("stray.cast"), "not in a namespace folder").unwrap();

        let report = sweep(&dir.0, now, Some(30 * DAY), None);
        assert_eq!(
            removed(&report),
            vec![
                ("wharf-session-older.cast".into(), Why::Expired),
                ("wharf-session-old.cast".into(), Why::Expired)
            ],
            "oldest first"
        );
        assert_eq!(report.removed[0].bytes, 200);
        assert_eq!(report.total_bytes, 300);
        assert!(
            report.active.is_empty() && report.problems.is_empty(),
            "{report:?}"
        );
        assert_eq!(
            dir.names(),
            vec![
                "alpha/notes.txt",
                "alpha/wharf-session-new.cast",
                "stray.cast"
            ],
            "only recordings are touched"
        );

        // Kept forever: nothing goes, whatever its age.
        dir.file("alpha", "wharf-session-ancient.cast", 1, now, 3650 * DAY);
        let report = sweep(&dir.0, now, None, None);
        assert!(report.removed.is_empty(), "{report:?}");
        assert_eq!(report.total_bytes, 301);
    }

    #[test]
    fn over_the_total_cap_the_oldest_go_until_it_fits() {
        let dir = Folder::new();
        let now = SystemTime::now();
        for (i, ns) in ["alpha", "beta", "alpha", "beta", "alpha"]
            .iter()
            .enumerate()
        {
            dir.file(
                ns,
                &format!("wharf-session-{i}.cast"),
                1000,
                now,
                (5 - i as u32) * DAY,
            );
        }
        dir.file("alpha", "wharf-session-empty.cast", 0, now, 10 * DAY);

        let report = sweep(&dir.0, now, Some(30 * DAY), Some(2500));
        assert_eq!(
            removed(&report),
            vec![
                ("wharf-session-0.cast".into(), Why::OverTotal),
                ("wharf-session-1.cast".into(), Why::OverTotal),
                ("wharf-session-2.cast".into(), Why::OverTotal)
            ]
        );
        assert_eq!(report.total_bytes, 2000);
        assert_eq!(
            dir.names(),
            vec![
                "alpha/wharf-session-4.cast",
                "alpha/wharf-session-empty.cast",
                "beta/wharf-session-3.cast"
            ],
            "an empty file frees nothing"
        );
        // Under the cap: nothing more.
        assert!(sweep(&dir.0, now, Some(30 * DAY), Some(2500))
            .removed
            .is_empty());
    }

    #[test]
    fn a_recording_being_written_is_never_deleted() {
        let dir = Folder::new();
        let now = SystemTime::now();
        let active = dir.file("alpha", "wharf-session-live.cast", 5000, now, 60 * DAY);
        dir.file("alpha", "wharf-session-done.cast", 1000, now, 2 * DAY);
        dir.file("alpha", "wharf-session-recent.cast", 1000, now, DAY);
        // The recorder holds an exclusive lock while its session lasts.
        let writer = std::fs::File::options().append(true).open(&active).unwrap();
        writer.try_lock().unwrap();

        let report = sweep(&dir.0, now, Some(30 * DAY), Some(6000));
        assert_eq!(
            report.active,
            vec![active.clone()],
            "expired, but being written"
        );
        assert_eq!(
            removed(&report),
            vec![("wharf-session-done.cast".into(), Why::OverTotal)],
            "the cap takes the next oldest instead"
        );
        assert_eq!(report.total_bytes, 6000);
        assert!(active.exists());

        // Once its session ends, it goes like any other.
        drop(writer);
        let report = sweep(&dir.0, now, Some(30 * DAY), Some(6000));
        assert_eq!(
            removed(&report),
            vec![("wharf-session-live.cast".into(), Why::Expired)]
        );
        assert!(report.active.is_empty());
        assert_eq!(dir.names(), vec!["alpha/wharf-session-recent.cast"]);
    }

    #[test]
    fn a_folder_not_made_yet_holds_nothing() {
        let report = sweep(
            Path::new("/nonexistent/wharf-recordings"),
            SystemTime::now(),
            Some(DAY),
            Some(1),
        );
        assert_eq!(report, SweepReport::default());
    }
}
