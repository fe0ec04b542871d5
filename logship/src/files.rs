//! Whole files kept in the bucket beside the log stores, under `<prefix>/files/`: what a
//! console writes once and any replica reads later (terminal session recordings, as
//! `files/recordings/<namespace>/<session>.cast`). Each call is one request, made on the
//! bucket's runtime while the calling thread waits: call them from blocking threads.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::PutPayload;

use crate::bucket::{Bucket, Counters};
use crate::{Error, Result};

/// The folder of the bucket (under its prefix) that holds whole files.
pub const FILES: &str = "files";

/// A file in the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Its path under `files/`, `/`-separated.
    pub path: String,
    pub size: u64,
    /// When it was written.
    pub modified: DateTime<Utc>,
}

impl Bucket {
    /// `<prefix>/files/<rel>`; `None` for a path with an empty, `.` or `..` part (a name a
    /// caller built from input it did not check).
    fn file_path(&self, rel: &str) -> Option<Path> {
        let parts: Vec<&str> = rel.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return None;
        }
        Some(
            parts
                .iter()
                .fold(self.prefix().child(FILES), |p, part| p.child(*part)),
        )
    }

    fn checked(&self, rel: &str) -> Result<Path> {
        self.file_path(rel)
            .ok_or_else(|| Error::Settings(format!("{rel:?} cannot name a file in the bucket")))
    }

    /// Writes `bytes` as the file `rel` (replacing one that is there).
    pub fn put_file(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.checked(rel)?;
        let store = self.store.clone();
        Counters::add(&self.counts.puts, 1);
        Counters::add(&self.counts.bytes_out, bytes.len() as u64);
        let at = path.clone();
        self.run(async move { store.put(&at, PutPayload::from(bytes)).await })
            .map(|_| ())
            .map_err(Error::bucket("put", &path))
    }

    /// The file `rel`, whole; `None` if there is none.
    pub fn get_file(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = self.checked(rel)?;
        let store = self.store.clone();
        Counters::add(&self.counts.gets, 1);
        let at = path.clone();
        let got = self.run(async move {
            match store.get(&at).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let got = got.map_err(Error::bucket("get", &path))?;
        if let Some(b) = &got {
            Counters::add(&self.counts.bytes_in, b.len() as u64);
        }
        Ok(got.map(|b| b.to_vec()))
    }

    /// The file `rel`'s size and time; `None` if there is none.
    pub fn file_info(&self, rel: &str) -> Result<Option<FileInfo>> {
        let path = self.checked(rel)?;
        let store = self.store.clone();
        Counters::add(&self.counts.heads, 1);
        let at = path.clone();
        let meta = self.run(async move {
            match store.head(&at).await {
                Ok(m) => Ok(Some(m)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let meta = meta.map_err(Error::bucket("head", &path))?;
        Ok(meta.map(|m| FileInfo {
            path: rel.to_owned(),
            size: m.size,
            modified: m.last_modified,
        }))
    }

    /// Every file under the folder `under` (`""`: all), in no particular order.
    pub fn list_files(&self, under: &str) -> Result<Vec<FileInfo>> {
        let root = self.prefix().child(FILES);
        let dir = if under.is_empty() {
            root.clone()
        } else {
            self.checked(under)?
        };
        let store = self.store.clone();
        Counters::add(&self.counts.lists, 1);
        let at = dir.clone();
        let listed = self
            .run(async move { store.list(Some(&at)).try_collect::<Vec<_>>().await })
            .map_err(Error::bucket("list", &dir))?;
        Ok(listed
            .into_iter()
            .filter_map(|m| {
                let rel = m.location.prefix_match(&root)?;
                let rel: Vec<String> = rel.map(|p| p.as_ref().to_owned()).collect();
                Some(FileInfo {
                    path: rel.join("/"),
                    size: m.size,
                    modified: m.last_modified,
                })
            })
            .collect())
    }

    /// Deletes the file `rel` (one that is not there is not an error).
    pub fn delete_file(&self, rel: &str) -> Result<()> {
        let path = self.checked(rel)?;
        let store = self.store.clone();
        Counters::add(&self.counts.deletes, 1);
        let at = path.clone();
        self.run(async move {
            match store.delete(&at).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .map_err(Error::bucket("delete", &path))
    }
}
