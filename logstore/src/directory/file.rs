//! The [`Directory`] on a real file system.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AppendFile, Directory, ReadFile, WriterLock};
use crate::error::IoContext;
use crate::{Error, Result};

/// The lock file a writer holds (`flock`-style, advisory) under the root.
pub const WRITER_LOCK_FILE: &str = "writer.lock";

/// Files under one root folder.
#[derive(Debug, Clone)]
pub struct FileDirectory {
    root: PathBuf,
}

impl FileDirectory {
    /// Opens (creating if needed) the folder `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).at(&root)?;
        Ok(FileDirectory { root })
    }

    /// Opens the existing folder `root` without creating anything (for
    /// readers): an error if it is not there.
    pub fn open_existing(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let meta = fs::metadata(&root).at(&root)?;
        if !meta.is_dir() {
            return Err(Error::Io {
                path: root,
                source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
            });
        }
        Ok(FileDirectory { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

struct FileReader {
    file: File,
    path: PathBuf,
}

impl ReadFile for FileReader {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact_at(buf, offset).at(&self.path)
    }

    fn len(&self) -> Result<u64> {
        Ok(self.file.metadata().at(&self.path)?.len())
    }
}

struct FileAppender {
    file: File,
    path: PathBuf,
}

impl AppendFile for FileAppender {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data).at(&self.path)
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_data().at(&self.path)
    }
}

/// Holds the open `writer.lock`; closing the file releases the lock.
struct FileLock {
    _file: File,
}

impl WriterLock for FileLock {}

impl Directory for FileDirectory {
    fn open_read(&self, path: &str) -> Result<Arc<dyn ReadFile>> {
        let path = self.path(path);
        let file = File::open(&path).at(&path)?;
        Ok(Arc::new(FileReader { file, path }))
    }

    fn open_append(&self, path: &str) -> Result<Box<dyn AppendFile>> {
        let path = self.path(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .at(&path)?;
        Ok(Box::new(FileAppender { file, path }))
    }

    fn truncate(&self, path: &str, len: u64) -> Result<()> {
        let path = self.path(path);
        let file = OpenOptions::new().write(true).open(&path).at(&path)?;
        file.set_len(len).at(&path)?;
        file.sync_all().at(&path)
    }

    fn atomic_write(&self, path: &str, data: &[u8]) -> Result<()> {
        let target = self.path(path);
        let parent = target.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&parent).at(&parent)?;
        let tmp = target.with_extension("tmp");
        {
            let mut f = File::create(&tmp).at(&tmp)?;
            f.write_all(data).at(&tmp)?;
            f.sync_all().at(&tmp)?;
        }
        fs::rename(&tmp, &target).at(&target)?;
        File::open(&parent).and_then(|d| d.sync_all()).at(&parent)
    }

    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(path);
        match fs::read(&path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(&path),
        }
    }

    fn delete(&self, path: &str) -> Result<()> {
        let path = self.path(path);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).at(&path),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir);
        let entries = match fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&path),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.at(&path)?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self, dir: &str) -> Result<()> {
        let path = self.path(dir);
        File::open(&path).and_then(|d| d.sync_all()).at(&path)
    }

    fn lock_writer(&self) -> Result<Box<dyn WriterLock>> {
        let path = self.path(WRITER_LOCK_FILE);
        // NB: never truncated or written: the lock is the open file's
        // `flock`, which the kernel drops when the holder exits, even by kill -9.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(FileLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
                path: self.root.clone(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(e).at(&path),
        }
    }
}
