//! The shipper: copies a store's folder into the bucket, pass after pass (see the crate docs
//! for the order that keeps readers consistent).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path as LocalPath, PathBuf};

use object_store::path::Path;

use crate::bucket::relative;
use crate::directory::{part_name, part_range, PARTS};
use crate::{Bucket, Error, Result, SHIPPED};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Files uploaded (segments that grew, catalogs and manifest that changed).
    pub uploaded: usize,
    pub bytes: u64,
    /// Files whose objects were deleted because the store deleted them (retention).
    pub deleted: usize,
    /// Parts deleted: their segment is in the bucket whole since the pass before, or they
    /// held bytes past the end of a segment cut back to its last whole block.
    pub parts_retired: usize,
}

impl Pass {
    pub fn changed(&self) -> bool {
        self.uploaded > 0 || self.deleted > 0 || self.parts_retired > 0
    }
}

/// Ships the store in `local` to the bucket as the store `name`.
pub struct Shipper {
    bucket: Bucket,
    name: String,
    local: PathBuf,
    root: Path,
    /// What the bucket holds, as far as this shipper knows. `None` until the first pass
    /// listed it.
    shipped: Option<Shipped>,
    passes: u64,
    /// When `shipped.json` was last written.
    marked: Option<std::time::Instant>,
    heartbeat: std::time::Duration,
}

/// How often a pass writes `shipped.json` even when nothing changed: the mark says the
/// store's writer is alive (a console deletes stores not marked for days: their node is gone).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The store's objects in the bucket.
#[derive(Debug, Default)]
struct Shipped {
    /// Whole objects: per sealed segment its size, per list (catalog, manifest) a digest of
    /// its content.
    whole: HashMap<String, u64>,
    /// Per segment still being written, the ranges its parts hold, in order from 0.
    parts: HashMap<String, Vec<(u64, u64)>>,
    /// Parts whose segment the bucket holds whole since this pass: deleted by the next pass,
    /// so a reader that opened the parts meanwhile finds them (or the whole segment).
    retired: Vec<String>,
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
            marked: None,
            heartbeat: HEARTBEAT,
        })
    }

    /// Write `shipped.json` at least this often (default [`HEARTBEAT`]).
    pub fn with_heartbeat(mut self, every: std::time::Duration) -> Shipper {
        self.heartbeat = every;
        self
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

    fn pass_with(&mut self, shipped: &mut Shipped) -> Result<Pass> {
        let mut pass = Pass::default();
        // 1. the files that list others, as they are now
        let Some(manifest) = read_if_exists(&self.local.join(logstore::manifest::MANIFEST_PATH))?
        else {
            return Ok(pass); // nothing written yet
        };
        let mut lists: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut segments: Vec<(String, u64, bool)> = Vec::new();
        for stream in read_dir_names(&self.local.join("streams"))? {
            let dir = format!("streams/{stream}");
            let catalog = format!("{dir}/{}", logstore::catalog::CATALOG_FILE);
            let catalog = read_if_exists(&self.local.join(&catalog))?.map(|b| (catalog, b));
            let sealed = catalog
                .as_ref()
                .map(|(_, bytes)| sealed_ids(bytes))
                .unwrap_or_default();
            for file in read_dir_names(&self.local.join(&dir))? {
                let Some(id) = file
                    .strip_suffix(".seg")
                    .and_then(|id| u64::from_str_radix(id, 16).ok())
                else {
                    continue;
                };
                let rel = format!("{dir}/{file}");
                if let Ok(meta) = std::fs::metadata(self.local.join(&rel)) {
                    segments.push((rel, meta.len(), sealed.contains(&id)));
                }
            }
            lists.extend(catalog);
        }
        let retiring = std::mem::take(&mut shipped.retired);
        let mut present: HashSet<String> = lists.keys().cloned().collect();
        present.insert(logstore::manifest::MANIFEST_PATH.to_owned());
        // 2. segments: a sealed one whole (once), a growing one as parts of what it gained
        for (rel, size, sealed) in segments {
            present.insert(rel.clone());
            let shipped_now = match sealed {
                true => self.ship_sealed(shipped, &rel, size, &mut pass)?,
                false => self.ship_growing(shipped, &rel, size, &mut pass)?,
            };
            if !shipped_now {
                present.remove(&rel); // deleted by retention just now
            }
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
            if shipped.whole.get(rel) != Some(&digest) {
                changed.push((rel.clone(), bytes.clone(), digest));
            }
        }
        for (rel, bytes, digest) in changed {
            pass.bytes += bytes.len() as u64;
            self.put(&rel, bytes)?;
            shipped.whole.insert(rel, digest);
            pass.uploaded += 1;
        }
        // 4. what the store deleted, and the parts retired by the last pass
        for rel in absent(&shipped.whole, &present) {
            self.delete(&rel)?;
            shipped.whole.remove(&rel);
            pass.deleted += 1;
        }
        for rel in absent(&shipped.parts, &present) {
            for (from, to) in shipped.parts.remove(&rel).unwrap_or_default() {
                self.delete(&part(&rel, from, to))?;
            }
            pass.deleted += 1;
        }
        for (i, rel) in retiring.iter().enumerate() {
            if let Err(e) = self.delete(rel) {
                shipped.retired.extend(retiring[i..].iter().cloned());
                return Err(e);
            }
            pass.parts_retired += 1;
        }
        // 5. the mark readers watch (and the janitor: written now and then anyway)
        let due = self.marked.is_none_or(|at| at.elapsed() >= self.heartbeat);
        if pass.changed() || due {
            self.marked = Some(std::time::Instant::now());
            self.passes += 1;
            let mark = serde_json::json!({
                "pass": self.passes,
                "at": chrono::Utc::now().to_rfc3339(),
                "files": shipped.whole.len() + shipped.parts.len(),
            });
            self.put(SHIPPED, mark.to_string().into_bytes())?;
        }
        Ok(pass)
    }

    /// A sealed segment: uploaded whole unless the bucket has it whole; its parts retired.
    /// `false` if its file is gone.
    fn ship_sealed(
        &self,
        shipped: &mut Shipped,
        rel: &str,
        size: u64,
        pass: &mut Pass,
    ) -> Result<bool> {
        if shipped.whole.get(rel) != Some(&size) {
            let Some(bytes) = read_if_exists(&self.local.join(rel))? else {
                return Ok(false);
            };
            let len = bytes.len() as u64;
            self.put(rel, bytes)?;
            shipped.whole.insert(rel.to_owned(), len);
            pass.uploaded += 1;
            pass.bytes += len;
        }
        if let Some(ranges) = shipped.parts.remove(rel) {
            let parts = ranges.into_iter().map(|(from, to)| part(rel, from, to));
            shipped.retired.extend(parts);
        }
        Ok(true)
    }

    /// A segment being written: what it gained since the last pass as one more part. A
    /// file shorter than its parts (a torn tail cut when the store was reopened) loses the
    /// parts past its end first. `false` if its file is gone.
    fn ship_growing(
        &self,
        shipped: &mut Shipped,
        rel: &str,
        size: u64,
        pass: &mut Pass,
    ) -> Result<bool> {
        if shipped.whole.contains_key(rel) {
            // shipped whole by an older shipper: from now on as parts, which readers find
            // only once the whole object is gone
            self.delete(rel)?;
            shipped.whole.remove(rel);
            pass.parts_retired += 1;
        }
        let ranges = shipped.parts.entry(rel.to_owned()).or_default();
        while ranges.last().is_some_and(|&(_, to)| to > size) {
            let (from, to) = ranges.pop().expect("a last part");
            self.delete(&part(rel, from, to))?;
            pass.parts_retired += 1;
        }
        let end = ranges.last().map_or(0, |&(_, to)| to);
        if size == end {
            return Ok(true);
        }
        let Some(bytes) = read_range(&self.local.join(rel), end, size)? else {
            return Ok(false);
        };
        self.put(&part(rel, end, size), bytes)?;
        ranges.push((end, size));
        pass.uploaded += 1;
        pass.bytes += size - end;
        Ok(true)
    }

    /// What the bucket holds for this store (a shipper's first pass after a start): sizes of
    /// whole segments and the parts of growing ones, so only what differs is uploaded again;
    /// lists are uploaded again.
    fn listed(&self) -> Result<Shipped> {
        let objects = self
            .bucket
            .list_objects(&self.root)
            .map_err(Error::bucket("list", &self.root))?;
        let mut out = Shipped::default();
        for o in objects {
            let Some(rel) = relative(&self.root, &o.location) else {
                continue;
            };
            let in_parts = rel
                .rsplit_once('/')
                .and_then(|(folder, name)| Some((folder.strip_suffix(PARTS)?, part_range(name)?)));
            if let Some((segment, range)) = in_parts {
                out.parts.entry(segment.to_owned()).or_default().push(range);
            } else if rel.ends_with(".seg") {
                out.whole.insert(rel, o.size);
            } else if rel != SHIPPED {
                out.whole.insert(rel, u64::MAX); // a list: compared by digest, never equal to this
            }
        }
        // parts that do not follow on from 0 (left by a pass cut short) go
        for (segment, ranges) in &mut out.parts {
            ranges.sort_unstable();
            let mut end = 0;
            let mut kept = Vec::with_capacity(ranges.len());
            for &(from, to) in ranges.iter() {
                if from == end {
                    end = to;
                    kept.push((from, to));
                } else {
                    out.retired.push(part(segment, from, to));
                }
            }
            *ranges = kept;
        }
        Ok(out)
    }

    fn path(&self, rel: &str) -> Path {
        Bucket::object(&self.root, rel)
    }

    fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(rel);
        self.bucket
            .put_object(&path, bytes)
            .map_err(Error::bucket("upload", &path))
    }

    fn delete(&self, rel: &str) -> Result<()> {
        let path = self.path(rel);
        self.bucket
            .delete_object(&path)
            .map_err(Error::bucket("delete", &path))
    }
}

/// The keys of `shipped` the store no longer has.
fn absent<V>(shipped: &HashMap<String, V>, present: &HashSet<String>) -> Vec<String> {
    shipped
        .keys()
        .filter(|rel| !present.contains(*rel))
        .cloned()
        .collect()
}

/// The object of the part of segment `rel` holding bytes `from..to`.
fn part(rel: &str, from: u64, to: u64) -> String {
    format!("{rel}{PARTS}/{}", part_name(from, to))
}

/// The ids of the sealed segments a catalog lists (up to a torn line: what follows it is
/// shipped as growing, which reads the same).
fn sealed_ids(catalog: &[u8]) -> HashSet<u64> {
    catalog
        .split(|&b| b == b'\n')
        .skip(1) // the header
        .map_while(|line| serde_json::from_slice::<logstore::catalog::CatalogEntry>(line).ok())
        .map(|e| e.id)
        .collect()
}

/// Bytes `from..to` of the file at `path`; `None` if it is gone.
fn read_range(path: &LocalPath, from: u64, to: u64) -> Result<Option<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let local = |source| Error::Local {
        path: path.to_owned(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(local(e)),
    };
    file.seek(SeekFrom::Start(from)).map_err(local)?;
    let mut bytes = vec![0; (to - from) as usize];
    file.read_exact(&mut bytes).map_err(local)?;
    Ok(Some(bytes))
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
