//! Session recordings in the shared log bucket (`--log-bucket`): a session is recorded on
//! the replica that runs it, into its recordings folder as always; when the session ends the
//! file is copied into the bucket (`files/recordings/<namespace>/<id>.cast`) and the local
//! copy removed, so any replica replays it and a replica that goes away takes none with it.
//! A copy that fails stays in the folder and is copied when the console next starts
//! ([`Archive::upload_leftovers`]). Retention of the bucket's copies runs on one replica
//! (`server/src/terminal/retention.rs`).

use std::path::{Path, PathBuf};

use super::{recording_path, valid_session_id};

/// The folder of the bucket's files that holds recordings.
pub const FOLDER: &str = "recordings";

/// The bucket where recordings go; cheap to clone.
#[derive(Clone, Debug)]
pub struct Archive {
    bucket: logship::Bucket,
}

impl PartialEq for Archive {
    fn eq(&self, other: &Self) -> bool {
        self.bucket.url() == other.bucket.url()
    }
}

impl Eq for Archive {}

/// A recording's path among the bucket's files.
pub fn object(namespace: &str, id: &str) -> String {
    format!("{FOLDER}/{namespace}/{id}.cast")
}

impl Archive {
    pub fn new(bucket: logship::Bucket) -> Archive {
        Archive { bucket }
    }

    pub fn bucket(&self) -> &logship::Bucket {
        &self.bucket
    }

    /// Copies the finished recording at `local` into the bucket, then removes `local`.
    pub async fn upload(&self, local: &Path, namespace: &str, id: &str) -> Result<(), String> {
        let bytes = tokio::fs::read(local)
            .await
            .map_err(|e| format!("reading {}: {e}", local.display()))?;
        let (bucket, name) = (self.bucket.clone(), object(namespace, id));
        tokio::task::spawn_blocking(move || bucket.put_file(&name, bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if let Err(e) = tokio::fs::remove_file(local).await {
            tracing::warn!(error = %e, path = %local.display(), "a recording copied into the log bucket stays on disk too");
        }
        Ok(())
    }

    /// The recording of session `id`, whole; `Ok(None)` if the bucket has none.
    pub async fn read(&self, namespace: &str, id: &str) -> Result<Option<Vec<u8>>, String> {
        if !valid_session_id(id) {
            return Ok(None);
        }
        let (bucket, name) = (self.bucket.clone(), object(namespace, id));
        tokio::task::spawn_blocking(move || bucket.get_file(&name))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Does the bucket hold the recording? A bucket that does not answer is taken to hold
    /// it (the page offers the link and its download says what went wrong, rather than call
    /// a recording expired that may well be there).
    pub async fn holds(&self, namespace: &str, id: &str) -> bool {
        let (bucket, name) = (self.bucket.clone(), object(namespace, id));
        match tokio::task::spawn_blocking(move || bucket.file_info(&name)).await {
            Ok(Ok(info)) => info.is_some(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "looking for a recording in the log bucket");
                true
            }
            Err(_) => true,
        }
    }

    /// Copies the finished recordings left in `dir` (a copy that failed, a console that was
    /// killed) into the bucket. Files still being written (locked) are left alone.
    pub async fn upload_leftovers(&self, dir: &Path) -> usize {
        let mut copied = 0;
        for (namespace, id, path) in finished_in(dir) {
            match self.upload(&path, &namespace, &id).await {
                Ok(()) => copied += 1,
                Err(e) => tracing::warn!(error = %e, "a recording stays on this replica's disk"),
            }
        }
        copied
    }
}

/// `(namespace, id, path)` of the recordings in `dir` that nothing writes any more.
fn finished_in(dir: &Path) -> Vec<(String, String, PathBuf)> {
    let mut found = Vec::new();
    let Ok(namespaces) = std::fs::read_dir(dir) else {
        return found;
    };
    for ns in namespaces.flatten() {
        let namespace = ns.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(ns.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".cast") else {
                continue;
            };
            let path = recording_path(dir, &namespace, id);
            let unlocked = std::fs::File::open(&path).is_ok_and(|file| file.try_lock().is_ok());
            let non_empty = f.metadata().is_ok_and(|m| m.len() > 0);
            if valid_session_id(id) && unlocked && non_empty {
                found.push((namespace.clone(), id.to_string(), path));
            }
        }
    }
    found
}
