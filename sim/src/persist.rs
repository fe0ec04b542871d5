//! Persistence under `--data DIR`: a write-ahead log plus periodic snapshots,
//! so state survives a restart or `kill -9` with no torn files.
//!
//! # On-disk format
//! Both files are a sequence of frames:
//!
//! ```text
//! frame   = len:u32 LE | crc32(payload):u32 LE (IEEE) | payload: len bytes of JSON
//! payload = {"rv":N,"op":"put","group":G,"resource":R,"ns":NS,"name":NAME,"object":{...}}
//!         | {"rv":N,"op":"delete","group":G,"resource":R,"ns":NS,"name":NAME}
//!         | {"rv":N,"op":"snapshot"}            (first frame of a snapshot only)
//! ```
//!
//! - `DIR/wal.log`: one frame per write, appended and `fdatasync`ed before the
//!   API answers. On open, frames are replayed in order; the first frame that is
//!   short or fails its CRC marks a torn tail (a write cut by a crash), which is
//!   dropped and truncated away. Frames with `rv` ≤ the snapshot's are skipped.
//! - `DIR/snapshot.bin`: a header frame with the resourceVersion it reflects,
//!   then one `put` frame per object (with the object's own rv). Written to
//!   `snapshot.tmp`, fsynced, renamed over `snapshot.bin`, then the directory is
//!   fsynced; only then is the WAL truncated. A crash in between leaves either the
//!   old snapshot plus the full WAL, or the new snapshot plus a WAL whose frames
//!   it already covers. A snapshot is taken when the WAL passes 16 MiB and on shutdown.
//! - `DIR/ca.key`, `DIR/ca.crt` (PEM) and `DIR/token`: the cluster CA and bearer
//!   token, written atomically the same way, so a restarted sim keeps its kubeconfig.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::resources::ResourceId;
use crate::store::Entry;

const WAL: &str = "wal.log";
const SNAPSHOT: &str = "snapshot.bin";
const SNAPSHOT_TMP: &str = "snapshot.tmp";
const SNAPSHOT_AFTER_BYTES: u64 = 16 << 20;

/// One WAL frame's payload, already serialized.
pub struct Record(Vec<u8>);

impl Record {
    pub fn put(rv: u64, res: &ResourceId, ns: &str, name: &str, object: &[u8]) -> Record {
        let head = json!({"rv": rv, "op": "put", "group": res.group, "resource": res.resource, "ns": ns, "name": name});
        let mut out = serde_json::to_vec(&head).unwrap_or_default();
        out.pop(); // the closing brace
        out.extend_from_slice(b",\"object\":");
        out.extend_from_slice(object);
        out.push(b'}');
        Record(out)
    }
    pub fn delete(rv: u64, res: &ResourceId, ns: &str, name: &str) -> Record {
        let v = json!({"rv": rv, "op": "delete", "group": res.group, "resource": res.resource, "ns": ns, "name": name});
        Record(serde_json::to_vec(&v).unwrap_or_default())
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 8);
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(&crc32(payload).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// Parses frames from `buf`; returns the payloads and the length of the valid prefix.
fn parse_frames(buf: &[u8]) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= 8 {
        let len = u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]);
        let Some(payload) = buf.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32(payload) != crc {
            break;
        }
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            break;
        };
        out.push(v);
        pos += 8 + len;
    }
    (out, pos)
}

/// The append-only log, owned by the store.
pub struct Wal {
    dir: PathBuf,
    file: File,
    size: u64,
}

/// What [`open`] recovered.
pub struct Recovered {
    pub rv: u64,
    pub objects: Vec<(ResourceId, Value, u64)>,
    pub wal: Wal,
    /// Bytes of torn tail dropped from the WAL.
    pub dropped_bytes: u64,
}

/// Opens (creating if needed) the state in `dir`: snapshot, then WAL replay.
pub fn open(dir: &Path) -> Result<Recovered> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut objects: HashMap<(ResourceId, String, String), (Value, u64)> = HashMap::new();
    let mut rv = 0;
    let snap_path = dir.join(SNAPSHOT);
    if snap_path.exists() {
        let buf = std::fs::read(&snap_path).map_err(|e| Error::io(&snap_path, e))?;
        let (frames, valid) = parse_frames(&buf);
        if valid != buf.len()
            || frames
                .first()
                .map(|f| f["op"] != "snapshot")
                .unwrap_or(true)
        {
            return Err(Error::Corrupt {
                path: snap_path.display().to_string(),
                message: "snapshot fails its checksums".into(),
            });
        }
        rv = frames[0]["rv"].as_u64().unwrap_or(0);
        for f in frames.into_iter().skip(1) {
            apply(&mut objects, f);
        }
    }
    let wal_path = dir.join(WAL);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&wal_path)
        .map_err(|e| Error::io(&wal_path, e))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| Error::io(&wal_path, e))?;
    let (frames, valid) = parse_frames(&buf);
    for f in frames {
        let frv = f["rv"].as_u64().unwrap_or(0);
        if frv <= rv {
            continue;
        }
        rv = frv;
        apply(&mut objects, f);
    }
    let dropped_bytes = (buf.len() - valid) as u64;
    if dropped_bytes > 0 {
        tracing::warn!(
            dropped_bytes,
            "dropping a torn tail from {}",
            wal_path.display()
        );
        file.set_len(valid as u64)
            .map_err(|e| Error::io(&wal_path, e))?;
        file.sync_all().map_err(|e| Error::io(&wal_path, e))?;
    }
    file.seek(SeekFrom::End(0))
        .map_err(|e| Error::io(&wal_path, e))?;
    let objects = objects
        .into_iter()
        .map(|((res, _, _), (obj, orv))| (res, obj, orv))
        .collect();
    Ok(Recovered {
        rv,
        objects,
        wal: Wal {
            dir: dir.to_path_buf(),
            file,
            size: valid as u64,
        },
        dropped_bytes,
    })
}

fn apply(objects: &mut HashMap<(ResourceId, String, String), (Value, u64)>, mut f: Value) {
    let res = ResourceId::new(
        f["group"].as_str().unwrap_or_default(),
        f["resource"].as_str().unwrap_or_default(),
    );
    let k = (
        res,
        f["ns"].as_str().unwrap_or_default().to_string(),
        f["name"].as_str().unwrap_or_default().to_string(),
    );
    let rv = f["rv"].as_u64().unwrap_or(0);
    match f["op"].as_str() {
        Some("put") => {
            objects.insert(k, (f["object"].take(), rv));
        }
        Some("delete") => {
            objects.remove(&k);
        }
        _ => {}
    }
}

impl Wal {
    /// Appends one record and syncs it to disk.
    pub fn append(&mut self, rec: &Record) -> Result<()> {
        let f = frame(&rec.0);
        let path = self.dir.join(WAL);
        self.file.write_all(&f).map_err(|e| Error::io(&path, e))?;
        self.file.sync_data().map_err(|e| Error::io(&path, e))?;
        self.size += f.len() as u64;
        Ok(())
    }

    pub fn wants_snapshot(&self) -> bool {
        self.size > SNAPSHOT_AFTER_BYTES
    }

    /// Writes a snapshot of `tables` at `rv` and truncates the WAL.
    pub fn snapshot(
        &mut self,
        rv: u64,
        tables: &HashMap<ResourceId, BTreeMap<(String, String), Entry>>,
    ) -> Result<()> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
        let io = |e| Error::io(&tmp, e);
        out.write_all(&frame(
            &serde_json::to_vec(&json!({"rv": rv, "op": "snapshot"})).unwrap_or_default(),
        ))
        .map_err(io)?;
        for (res, table) in tables {
            for ((ns, name), e) in table {
                out.write_all(&frame(&Record::put(e.rv, res, ns, name, &e.bytes).0))
                    .map_err(io)?;
            }
        }
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        let dest = self.dir.join(SNAPSHOT);
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        sync_dir(&self.dir)?;
        let wal = self.dir.join(WAL);
        self.file.set_len(0).map_err(|e| Error::io(&wal, e))?;
        self.file.sync_all().map_err(|e| Error::io(&wal, e))?;
        self.size = 0;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// CRC-32 (IEEE 802.3, as zlib and `crc32fast` compute it).
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut crc = !0u32;
    for b in data {
        crc = TABLE[((crc ^ *b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let res = ResourceId::core("configmaps");
        {
            let mut r = open(dir.path()).unwrap();
            r.wal
                .append(&Record::put(
                    1,
                    &res,
                    "default",
                    "a",
                    br#"{"metadata":{"name":"a"}}"#,
                ))
                .unwrap();
            r.wal
                .append(&Record::put(
                    2,
                    &res,
                    "default",
                    "b",
                    br#"{"metadata":{"name":"b"}}"#,
                ))
                .unwrap();
        }
        let path = dir.path().join(WAL);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let r = open(dir.path()).unwrap();
        assert_eq!(r.rv, 1);
        assert_eq!(r.objects.len(), 1);
        assert!(r.dropped_bytes > 0);
    }
}
