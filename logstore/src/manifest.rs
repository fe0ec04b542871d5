//! The manifest: which streams exist, their keys and labels, and the oldest
//! segment each still owns. It is small JSON, replaced whole and atomically
//! ([`crate::directory::Directory::atomic_write`]) whenever a stream is created,
//! its labels change, or retention drops segments.
//!
//! Segments are not listed here but in each stream's catalog
//! ([`crate::catalog`]), so that a roll rewrites one stream's small file, not
//! the whole store's.
//!
//! ```json
//! {"version":2,"next_stream_id":3,
//!  "streams":[{"id":1,"key":{"namespace":"shop","pod":"web-0","container":"nginx"},
//!              "labels":{"app":"web"},"min_segment":4}]}
//! ```
//! `min_segment` makes retention crash-safe: the manifest is written first,
//! then files below it are deleted; a crash in between leaves files that the
//! next writer deletes (and catalog entries that every open skips).
//!
//! Version 1 (the previous format) is the same JSON from a time without
//! catalogs: such a store is opened by reading every segment once; a writer
//! then writes the catalogs and, last, the manifest as version 2.

use serde::{Deserialize, Serialize};

use crate::directory::Directory;
use crate::key::{Labels, StreamKey};
use crate::{Error, Result};

pub const MANIFEST_PATH: &str = "manifest.json";
pub const MANIFEST_VERSION: u32 = 2;
/// Stores of this version have no catalogs (they are still opened).
pub const MANIFEST_VERSION_WITHOUT_CATALOGS: u32 = 1;

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
        if !(MANIFEST_VERSION_WITHOUT_CATALOGS..=MANIFEST_VERSION).contains(&m.version) {
            return Err(Error::UnsupportedVersion {
                path: MANIFEST_PATH.into(),
                version: m.version,
            });
        }
        Ok(m)
    }

    /// Does every stream keep a catalog of its sealed segments?
    pub fn has_catalogs(&self) -> bool {
        self.version >= MANIFEST_VERSION
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
