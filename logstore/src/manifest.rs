//! The manifest: which streams exist, their keys and labels, and the oldest
//! segment each still owns. It is small JSON, replaced whole and atomically
//! ([`crate::directory::Directory::atomic_write`]) whenever a stream is created,
//! its labels change, or retention drops segments.
//!
//! Segments themselves are not listed: a stream's folder is the list, and each
//! file's footer says whether it is sealed. That keeps the manifest off the
//! write path of every roll.
//!
//! ```json
//! {"version":1,"next_stream_id":3,
//!  "streams":[{"id":1,"key":{"namespace":"shop","pod":"web-0","container":"nginx"},
//!              "labels":{"app":"web"},"min_segment":4}]}
//! ```
//! `min_segment` makes retention crash-safe: the manifest is written first,
//! then files below it are deleted; a crash in between leaves files that the
//! next open deletes.

use serde::{Deserialize, Serialize};

use crate::directory::Directory;
use crate::key::{Labels, StreamKey};
use crate::{Error, Result};

pub const MANIFEST_PATH: &str = "manifest.json";
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub version: u32,
    pub next_stream_id: u64,
    pub streams: Vec<StreamEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: u64,
    pub key: StreamKey,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub min_segment: u64,
}

impl Manifest {
    pub fn load(dir: &dyn Directory) -> Result<Manifest> {
        let Some(bytes) = dir.read_all(MANIFEST_PATH)? else {
            return Ok(Manifest {
                version: MANIFEST_VERSION,
                next_stream_id: 1,
                streams: Vec::new(),
            });
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|source| Error::Manifest {
            path: MANIFEST_PATH.into(),
            source,
        })?;
        if m.version != MANIFEST_VERSION {
            return Err(Error::UnsupportedVersion {
                path: MANIFEST_PATH.into(),
                version: m.version,
            });
        }
        Ok(m)
    }

    pub fn store(&self, dir: &dyn Directory) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|source| Error::Manifest {
            path: MANIFEST_PATH.into(),
            source,
        })?;
        dir.atomic_write(MANIFEST_PATH, &bytes)
    }
}

pub fn stream_dir(id: u64) -> String {
    format!("streams/{id}")
}
