//! Where an agent keeps things on disk, and the atomic swap.
//!
//! ```text
//! <prefix>/logs/{error.log,nginx.pid}   nginx's runtime files (-p prefix)
//! <prefix>/temp/...                     nginx's temp paths
//! <prefix>/wharf/peers.txt              last peer table pushed (dynamic mode seed)
//! <conf_dir>/releases/<sha>-<n>/...     one complete rendered tree per release
//! <conf_dir>/releases/.staging-*        a tree being written and tested
//! <conf_dir>/current -> releases/<...>  the live tree; nginx runs with
//!                                       -c <conf_dir>/current/nginx.conf
//! <conf_dir>/tls/<name>-<hash>.{crt,key} certificates routes name (0700 dir,
//!                                       0600 files; see `crate::tls`)
//! ```
//!
//! A release is written into a staging directory, fsynced, tested, renamed
//! into `releases/`, and then `current` is flipped by renaming a fresh symlink
//! over it (atomic on POSIX) and fsyncing `conf_dir`. nginx reads the tree
//! through `current` on every reload, so it always sees one whole release.
//! The previous releases are kept for rollback (the last [`KEEP`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Releases kept, the current one included.
pub const KEEP: usize = 3;

/// The three paths that identify one nginx server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NginxPaths {
    pub nginx_bin: PathBuf,
    /// nginx's `-p`: runtime files live here.
    pub prefix: PathBuf,
    /// The agent's config directory (releases and the `current` link).
    pub conf_dir: PathBuf,
}

impl NginxPaths {
    pub fn new(
        nginx_bin: impl Into<PathBuf>,
        prefix: impl Into<PathBuf>,
        conf_dir: impl Into<PathBuf>,
    ) -> Self {
        NginxPaths {
            nginx_bin: nginx_bin.into(),
            prefix: prefix.into(),
            conf_dir: conf_dir.into(),
        }
    }

    /// The `-c` argument nginx runs with.
    pub fn live_conf(&self) -> PathBuf {
        self.current_link().join("nginx.conf")
    }

    pub fn current_link(&self) -> PathBuf {
        self.conf_dir.join("current")
    }

    pub fn releases(&self) -> PathBuf {
        self.conf_dir.join("releases")
    }

    pub fn error_log(&self) -> PathBuf {
        self.prefix.join("logs/error.log")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.prefix.join("logs/nginx.pid")
    }

    pub fn peers_file(&self) -> PathBuf {
        self.prefix.join("wharf/peers.txt")
    }

    /// The control endpoint's secret (mode 0600), outside the release trees: nginx's Lua reads
    /// it when it starts or reloads, the agent sends it with every request that reads or
    /// changes the peer table (see [`NginxPaths::control_token`]).
    pub fn control_token_file(&self) -> PathBuf {
        self.prefix.join("wharf/control.token")
    }

    /// The control endpoint's secret, created (64 hex digits from the kernel's random source)
    /// the first time. Anyone on the host who can reach 127.0.0.1 could otherwise read and
    /// rewrite every upstream's peers.
    pub fn control_token(&self) -> Result<String> {
        let path = self.control_token_file();
        if let Ok(token) = fs::read_to_string(&path) {
            let token = token.trim();
            if token.len() >= 32 {
                return Ok(token.to_string());
            }
        }
        let mut bytes = [0u8; 32];
        {
            use std::io::Read;
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .map_err(Error::io("reading", Path::new("/dev/urandom")))?;
        }
        let token = hex::encode(bytes);
        let tmp = path.with_extension("token.tmp");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(Error::io("writing", &tmp))?;
            f.write_all(token.as_bytes())
                .map_err(Error::io("writing", &tmp))?;
        }
        fs::rename(&tmp, &path).map_err(Error::io("writing", &path))?;
        Ok(token)
    }

    /// Certificates and keys, outside the release trees (see [`crate::tls`]).
    pub fn tls_dir(&self) -> PathBuf {
        self.conf_dir.join("tls")
    }

    /// Creates the directories nginx and the agent expect (idempotent).
    pub fn prepare(&self) -> Result<()> {
        for d in [
            self.prefix.join("logs"),
            self.prefix.join("temp"),
            self.prefix.join("wharf"),
            self.releases(),
        ] {
            fs::create_dir_all(&d).map_err(Error::io("creating", &d))?;
        }
        Ok(())
    }

    /// The release `current` points at, if any.
    pub fn current_release(&self) -> Option<PathBuf> {
        let target = fs::read_link(self.current_link()).ok()?;
        Some(if target.is_absolute() {
            target
        } else {
            self.conf_dir.join(target)
        })
    }

    /// The sha a release directory was named after (`<sha>-<n>`).
    pub fn release_sha(release: &Path) -> Option<String> {
        let name = release.file_name()?.to_str()?;
        let (sha, _) = name.split_once('-')?;
        (sha.len() == 64).then(|| sha.to_string())
    }
}

/// Writes `files` under a fresh staging directory and fsyncs them.
pub(crate) fn write_staging(
    paths: &NginxPaths,
    files: &BTreeMap<PathBuf, String>,
) -> Result<PathBuf> {
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(paths.releases())
        .map_err(Error::io("creating staging dir in", paths.releases()))?
        .keep();
    let mut written = Vec::with_capacity(files.len());
    for (rel, body) in files {
        let path = staging.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
        }
        let mut f = fs::File::create(&path).map_err(Error::io("writing", &path))?;
        f.write_all(body.as_bytes())
            .map_err(Error::io("writing", &path))?;
        written.push((path, f));
    }
    sync_all_parallel(written)?;
    sync_tree_dirs(&staging)?;
    Ok(staging)
}

/// fsyncs files from a few threads at once.
///
/// NB: one fsync after another costs ~2 ms each here, 10 s for 5,000 hosts;
/// concurrent fsyncs share journal commits, so a handful of threads make the
/// same durability cheap.
fn sync_all_parallel(files: Vec<(PathBuf, fs::File)>) -> Result<()> {
    const THREADS: usize = 8;
    if files.len() < 16 {
        for (path, f) in &files {
            f.sync_all().map_err(Error::io("syncing", path))?;
        }
        return Ok(());
    }
    let chunk = files.len().div_ceil(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    for (path, f) in part {
                        f.sync_all().map_err(Error::io("syncing", path))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or(Err(Error::Stopped)))
    })
}

fn sync_tree_dirs(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(Error::io("reading", dir))? {
        let entry = entry.map_err(Error::io("reading", dir))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            sync_tree_dirs(&entry.path())?;
        }
    }
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing", dir))
}

/// Moves a tested staging tree into `releases/<sha>-<n>`.
pub(crate) fn promote(paths: &NginxPaths, staging: &Path, sha: &str) -> Result<PathBuf> {
    let releases = paths.releases();
    let mut n = 0u32;
    let release = loop {
        let candidate = releases.join(format!("{sha}-{n}"));
        if !candidate.exists() {
            break candidate;
        }
        n += 1;
    };
    fs::rename(staging, &release).map_err(Error::io("renaming staging to", &release))?;
    sync_dir(&releases)?;
    Ok(release)
}

/// Points `current` at `release` atomically.
pub(crate) fn flip(paths: &NginxPaths, release: &Path) -> Result<()> {
    let rel = release.strip_prefix(&paths.conf_dir).unwrap_or(release);
    let tmp = paths.conf_dir.join(".current.tmp");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(rel, &tmp).map_err(Error::io("linking", &tmp))?;
    fs::rename(&tmp, paths.current_link()).map_err(Error::io("replacing", paths.current_link()))?;
    sync_dir(&paths.conf_dir)
}

/// Removes releases beyond the newest [`KEEP`] (never the current one or `keep_also`).
pub(crate) fn prune(paths: &NginxPaths, keep_also: Option<&Path>) {
    let current = paths.current_release();
    let Ok(entries) = fs::read_dir(paths.releases()) else {
        return;
    };
    let mut releases: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    releases.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (_, path) in releases.into_iter().skip(KEEP) {
        if Some(&path) != current.as_ref() && Some(path.as_path()) != keep_also {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Reads every file under `root` (following the `current` link), as the
/// drift check sees them. Non-UTF-8 bytes are replaced, which still changes
/// the sha, as it should.
pub fn read_tree(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(Error::io("reading", dir))? {
        let entry = entry.map_err(Error::io("reading", dir))?;
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else {
            let bytes = fs::read(&path).map_err(Error::io("reading", &path))?;
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            out.insert(rel, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(())
}

/// Writes a file via temp + rename + fsync. The temp file is created with
/// mode 0600 (`tempfile`'s default), and the rename keeps it: private keys
/// are written this way.
pub(crate) fn write_atomic(path: &Path, body: &[u8]) -> Result<()> {
    replace(path, body, true)
}

/// Temp + rename without fsync: readers see the old or the new bytes, never
/// a mix, but a power loss may bring back the old ones.
///
/// NB: for the peers seed after a push. Its two fsyncs cost 8–15 ms on this
/// project's disk and more when other work writes, while a seed lost to a
/// power cut is harmless: the agent that restarts with the machine reads the
/// table nginx holds and pushes again if it is not the rendered one.
pub(crate) fn write_replace(path: &Path, body: &[u8]) -> Result<()> {
    replace(path, body, false)
}

fn replace(path: &Path, body: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(Error::io("creating temp file in", dir))?;
    tmp.write_all(body).map_err(Error::io("writing", path))?;
    if durable {
        tmp.as_file()
            .sync_all()
            .map_err(Error::io("syncing", path))?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io("renaming to", path)(e.error))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}
