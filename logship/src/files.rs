//! Whole files kept in the bucket beside the log stores, under `<prefix>/files/`: what a
//! console writes once and any replica reads later (terminal session recordings, as
//! `files/recordings/<namespace>/<session>.cast`). Each call is one request, made on the
//! bucket's runtime while the calling thread waits: call them from blocking threads.

use chrono::{DateTime, Utc};
use object_store::path::Path;

use crate::bucket::{relative, Bucket};
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
        self.put_object(&path, bytes)
            .map_err(Error::bucket("put", &path))
    }

    /// The file `rel`, whole; `None` if there is none.
    pub fn get_file(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = self.checked(rel)?;
        let got = self
            .get_object(&path)
            .map_err(Error::bucket("get", &path))?;
        Ok(got.map(|b| b.to_vec()))
    }

    /// The file `rel`'s size and time; `None` if there is none.
    pub fn file_info(&self, rel: &str) -> Result<Option<FileInfo>> {
        let path = self.checked(rel)?;
        let meta = self
            .head_object(&path)
            .map_err(Error::bucket("head", &path))?;
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
        let listed = self
            .list_objects(&dir)
            .map_err(Error::bucket("list", &dir))?;
        Ok(listed
            .into_iter()
            .filter_map(|m| {
                Some(FileInfo {
                    path: relative(&root, &m.location)?,
                    size: m.size,
                    modified: m.last_modified,
                })
            })
            .collect())
    }

    /// Deletes the file `rel` (one that is not there is not an error).
    pub fn delete_file(&self, rel: &str) -> Result<()> {
        let path = self.checked(rel)?;
        self.delete_object(&path)
            .map_err(Error::bucket("delete", &path))
    }
}
