//! The [`Directory`] in memory: for tests, and to simulate crashes by
//! truncating a file anywhere.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::{AppendFile, Directory, ReadFile, WriterLock};
use crate::Result;

type Data = Arc<RwLock<Vec<u8>>>;

/// Files in a shared map; clones see the same files (and the same writer lock).
#[derive(Debug, Clone, Default)]
pub struct MemoryDirectory {
    files: Arc<Mutex<BTreeMap<String, Data>>>,
    /// A writer holds the store (see [`Directory::lock_writer`]).
    writer: Arc<AtomicBool>,
}

impl MemoryDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, path: &str) -> Result<Data> {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))
    }

    /// Names of every file, for tests.
    pub fn paths(&self) -> Vec<String> {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

fn not_found(path: &str) -> crate::Error {
    crate::Error::Io {
        path: path.into(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    }
}

struct MemReader {
    data: Data,
    path: String,
}

impl ReadFile for MemReader {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(buf.len());
        match data.get(start..end) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(crate::Error::Io {
                path: self.path.clone().into(),
                source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past end"),
            }),
        }
    }

    fn len(&self) -> Result<u64> {
        Ok(self.data.read().unwrap_or_else(|e| e.into_inner()).len() as u64)
    }
}

struct MemAppender {
    data: Data,
}

impl AppendFile for MemAppender {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.data
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Clears the directory's writer flag when dropped.
struct MemLock {
    writer: Arc<AtomicBool>,
}

impl WriterLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.writer.store(false, Ordering::SeqCst);
    }
}

impl Directory for MemoryDirectory {
    fn open_read(&self, path: &str) -> Result<Arc<dyn ReadFile>> {
        Ok(Arc::new(MemReader {
            data: self.get(path)?,
            path: path.to_owned(),
        }))
    }

    fn open_append(&self, path: &str) -> Result<Box<dyn AppendFile>> {
        let data = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(path.to_owned())
            .or_default()
            .clone();
        Ok(Box::new(MemAppender { data }))
    }

    fn truncate(&self, path: &str, len: u64) -> Result<()> {
        let data = self.get(path)?;
        let mut d = data.write().unwrap_or_else(|e| e.into_inner());
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len < d.len() {
            d.truncate(len);
        }
        Ok(())
    }

    fn atomic_write(&self, path: &str, data: &[u8]) -> Result<()> {
        // A fresh Arc: readers holding the old content keep it, like a rename.
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), Arc::new(RwLock::new(data.to_vec())));
        Ok(())
    }

    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        Ok(files
            .get(path)
            .map(|d| d.read().unwrap_or_else(|e| e.into_inner()).clone()))
    }

    fn delete(&self, path: &str) -> Result<()> {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
        Ok(())
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn sync_dir(&self, _dir: &str) -> Result<()> {
        Ok(())
    }

    fn lock_writer(&self) -> Result<Box<dyn WriterLock>> {
        if self.writer.swap(true, Ordering::SeqCst) {
            return Err(crate::Error::Locked {
                path: "<memory directory>".into(),
            });
        }
        Ok(Box::new(MemLock {
            writer: self.writer.clone(),
        }))
    }
}
