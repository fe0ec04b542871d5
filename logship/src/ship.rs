//! The shipper: copies a store's folder into the bucket, pass after pass (see the crate docs
//! for the order that keeps readers consistent).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path as LocalPath, PathBuf};

use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::bucket::Counters;
use crate::{Bucket, Error, Result, SHIPPED};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Files uploaded (segments that grew, catalogs and manifest that changed).
    pub uploaded: usize,
    pub bytes: u64,
    /// Objects deleted because the store deleted their file (retention).
    pub deleted: usize,
}

impl Pass {
    pub fn changed(&self) -> bool {
        self.uploaded > 0 || self.deleted > 0
    }
}

/// Ships the store in `local` to the bucket as the store `name`.
pub struct Shipper {
    bucket: Bucket,
    name: String,
    local: PathBuf,
    root: Path,
    /// What the bucket holds, as far as this shipper knows: per file its size (segments)
    /// or a hash of its content (catalogs, manifest). `None` until the first pass listed it.
    shipped: Option<HashMap<String, u64>>,
    passes: u64,
}

impl Shipper {
    pub fn new(bucket: &Bucket, name: &str, local: impl Into<PathBuf>) -> Result<Shipper> {
        if !crate::valid_name(name) {
            return Err(Error::Settings(format!(
                "{name:?} cannot name a store (a node or pod name: a-z, 0-9, '-', '.')"
            )));
        }
        Ok(Shipper {
            bucket: bucket.clone(),
            name: name.to_owned(),
            local: local.into(),
            root: bucket.store_root(name),
            shipped: None,
            passes: 0,
        })
    }

    /// The store's name in the bucket.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One pass: upload what changed since the last one, delete what the store deleted.
    /// A failed pass leaves the bucket consistent (see the crate docs); the next pass
    /// redoes what it did not finish.
    pub fn pass(&mut self) -> Result<Pass> {
        let mut shipped = match self.shipped.take() {
            Some(s) => s,
            None => self.listed()?,
        };
        let result = self.pass_with(&mut shipped);
        self.shipped = Some(shipped);
        result
    }

    fn pass_with(&mut self, shipped: &mut HashMap<String, u64>) -> Result<Pass> {
        let mut pass = Pass::default();
        // 1. the files that list others, as they are now
        let Some(manifest) = read_if_exists(&self.local.join(logstore::manifest::MANIFEST_PATH))?
        else {
            return Ok(pass); // nothing written yet
        };
        let mut lists: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut segments: Vec<(String, u64)> = Vec::new();
        for stream in read_dir_names(&self.local.join("streams"))? {
            let dir = format!("streams/{stream}");
            for file in read_dir_names(&self.local.join(&dir))? {
                let rel = format!("{dir}/{file}");
                if file == logstore::catalog::CATALOG_FILE {
                    if let Some(bytes) = read_if_exists(&self.local.join(&rel))? {
                        lists.insert(rel, bytes);
                    }
                } else if file.ends_with(".seg") {
                    if let Ok(meta) = std::fs::metadata(self.local.join(&rel)) {
                        segments.push((rel, meta.len()));
                    }
                }
            }
        }
        let mut present: HashSet<String> = lists.keys().cloned().collect();
        present.insert(logstore::manifest::MANIFEST_PATH.to_owned());
        // 2. segments that grew
        for (rel, size) in segments {
            present.insert(rel.clone());
            if shipped.get(&rel) == Some(&size) {
                continue;
            }
            let Some(bytes) = read_if_exists(&self.local.join(&rel))? else {
                present.remove(&rel); // deleted by retention just now
                continue;
            };
            let len = bytes.len() as u64;
            self.put(&rel, bytes)?;
            shipped.insert(rel, len);
            pass.uploaded += 1;
            pass.bytes += len;
        }
        // 3. then what lists them, the manifest last
        lists.insert(logstore::manifest::MANIFEST_PATH.to_owned(), manifest);
        let manifest_last = lists
            .iter()
            .filter(|(rel, _)| *rel != logstore::manifest::MANIFEST_PATH)
            .chain(lists.get_key_value(logstore::manifest::MANIFEST_PATH));
        let mut changed = Vec::new();
        for (rel, bytes) in manifest_last {
            let digest = digest(bytes);
            if shipped.get(rel) != Some(&digest) {
                changed.push((rel.clone(), bytes.clone(), digest));
            }
        }
        for (rel, bytes, digest) in changed {
            pass.bytes += bytes.len() as u64;
            self.put(&rel, bytes)?;
            shipped.insert(rel, digest);
            pass.uploaded += 1;
        }
        // 4. what the store deleted
        let gone: Vec<String> = shipped
            .keys()
            .filter(|rel| !present.contains(*rel))
            .cloned()
            .collect();
        for rel in gone {
            let (store, path) = (self.bucket.store.clone(), self.path(&rel));
            Counters::add(&self.bucket.counts.deletes, 1);
            match self.bucket.run(async move { store.delete(&path).await }) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Error::bucket("delete", &self.path(&rel))(e)),
            }
            shipped.remove(&rel);
            pass.deleted += 1;
        }
        // 5. the mark readers watch
        if pass.changed() {
            self.passes += 1;
            let mark = serde_json::json!({
                "pass": self.passes,
                "at": chrono::Utc::now().to_rfc3339(),
                "files": shipped.len(),
            });
            self.put(SHIPPED, mark.to_string().into_bytes())?;
        }
        Ok(pass)
    }

    /// What the bucket holds for this store (a shipper's first pass after a start): sizes
    /// of segments, so only those that differ are uploaded again; lists are uploaded again.
    fn listed(&self) -> Result<HashMap<String, u64>> {
        let (store, root) = (self.bucket.store.clone(), self.root.clone());
        Counters::add(&self.bucket.counts.lists, 1);
        let objects = self
            .bucket
            .run(async move {
                use futures::TryStreamExt;
                store.list(Some(&root)).try_collect::<Vec<_>>().await
            })
            .map_err(Error::bucket("list", &self.root))?;
        let mut out = HashMap::new();
        for o in objects {
            let Some(rel) = o.location.prefix_match(&self.root) else {
                continue;
            };
            let rel: Vec<_> = rel.map(|p| p.as_ref().to_owned()).collect();
            let rel = rel.join("/");
            if rel.ends_with(".seg") {
                out.insert(rel, o.size);
            } else if rel != SHIPPED {
                out.insert(rel, u64::MAX); // a list: compared by digest, never equal to this
            }
        }
        Ok(out)
    }

    fn path(&self, rel: &str) -> Path {
        Bucket::object(&self.root, rel)
    }

    fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let (store, path) = (self.bucket.store.clone(), self.path(rel));
        Counters::add(&self.bucket.counts.puts, 1);
        Counters::add(&self.bucket.counts.bytes_out, bytes.len() as u64);
        let payload = PutPayload::from(bytes);
        {
            let path = path.clone();
            self.bucket
                .run(async move { store.put(&path, payload).await })
        }
        .map_err(Error::bucket("upload", &path))?;
        Ok(())
    }
}

fn digest(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    // NB: u64::MAX marks a list whose content is unknown (see `listed`)
    h.finish().min(u64::MAX - 1)
}

fn read_if_exists(path: &LocalPath) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Local {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_dir_names(dir: &LocalPath) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Local {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}
