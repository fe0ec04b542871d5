//! What an agent reports about its node (becomes the per-node entry of the
//! `NginxCluster` status).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::NginxError;
use crate::render::Mode;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub mode: Option<Mode>,
    /// `nginx -v` of the node's binary (`1.22.1`), read once when the
    /// converger starts; `None` if that failed (logged as a warning).
    pub nginx_version: Option<String>,
    /// `DesiredState::generation` of the last state applied successfully.
    pub generation: Option<u64>,
    /// sha256 of the tree rendered for that state.
    pub rendered_sha: Option<String>,
    /// sha256 of the files in the live release, as last read from disk.
    /// Differs from `rendered_sha` after a hand edit (drift).
    pub on_disk_sha: Option<String>,
    /// sha256 of the peer table nginx holds (dynamic mode).
    pub peers_sha: Option<String>,
    pub last_error: Option<LastError>,
    pub last_reload: Option<DateTime<Utc>>,
    /// Reloads this agent asked for and saw take effect.
    pub reload_count: u64,
    /// Peer tables pushed without a reload.
    pub peer_push_count: u64,
}

impl Status {
    /// In sync: the live files are the rendered ones.
    pub fn in_sync(&self) -> bool {
        self.rendered_sha.is_some() && self.rendered_sha == self.on_disk_sha
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub at: DateTime<Utc>,
    /// The whole error as a sentence.
    pub message: String,
    /// nginx's own message with file and line, when nginx said it.
    pub nginx: Option<NginxError>,
}
