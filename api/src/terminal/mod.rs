//! The web terminal: what the terminal page and the server share. A keystroke goes from the
//! page (`pages/terminal.rs`, xterm.js) over `GET /ws/terminal/{tenant}?{TerminalLink}` to
//! the server (`server/src/terminal/`), into an exec session with a tty, and back.
//!
//! ## The socket protocol
//! * **Binary frames** carry terminal bytes: browser → server is the shell's stdin (keys,
//!   pastes), server → browser its output (one tty stream: stdout and stderr merged).
//! * **Text frames** carry one JSON control message: browser → server a [`ClientControl`]
//!   (resize), server → browser a [`ServerControl`] (started, idle warning, exit, error).
//! * The server pings every 25 s (answered by the browser itself), so proxies that cut idle
//!   connections after 60 s keep the session. Only user input counts against the idle
//!   timeout; a warning comes before the close.
//!
//! Everything is checked before the upgrade: 401 for a stranger, 403 for another tenant's
//! namespace or a viewer (viewers get no shell), 404 for an unknown pod, 400 for a container
//! the pod does not have, 409 for a pod that is not running. Browsers do not show why a
//! handshake was refused, so the page first asks [`terminal_check`], which makes the same
//! checks and answers with the sentence.
//!
//! A container without a shell (distroless images: `/bin/bash` and `/bin/sh` both fail with
//! "executable file not found") gets [`ServerControl::NoShell`], and the page offers a debug
//! container: the same socket with `debug=true` adds an ephemeral container (the tools image
//! the admin chose, `targetContainerName` = the container) to the pod, as `kubectl debug`
//! does, waits until it runs, and attaches the terminal to it. Its stdin closes when the
//! session ends (`stdinOnce`), so its shell ends with the session like an exec'd one.
//!
//! Files go through exec with `tar`, as `kubectl cp` does:
//! `POST /upload/terminal/{tenant}?{TransferLink}` (raw body, `Content-Length` required, at
//! most the configured limit) and `GET /download/terminal/{tenant}?{TransferLink}`.
//!
//! Every session is audited (see [`terminal_sessions`]): who, which pod and container, when,
//! how long, how it ended — as Kubernetes Events in the pod's namespace, labelled
//! [`AUDIT_LABEL`], so the record lives in the cluster with the pod, not in the console.
//! When the console records sessions, each session's output is also kept as an asciicast v2
//! file ([`cast`]) that admins replay in the page or download from
//! `GET /recordings/terminal/{tenant}?{RecordingLink}`, up to a size limit per recording and
//! for as long as the console's retention keeps it ([`SessionRecord::recording_truncated`],
//! [`SessionRecord::recording_expired`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod cast;

/// Label on every audit Event the console writes (value: `session`, `debug`, `upload`, `download`).
pub const AUDIT_LABEL: &str = "wharf.dev/audit";

/// The socket's query string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalLink {
    pub ns: String,
    pub pod: String,
    /// Empty or absent: the pod's default container (the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// A shell to run instead of the fallback `/bin/bash`, then `/bin/sh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Start a debug container targeting `container` and attach to it instead of exec'ing a shell.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub debug: bool,
    /// The browser's terminal size when it opens the socket (the shell starts with it, and a
    /// recording's header names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
}

/// The recording download's query string: the session's audit id in its namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingLink {
    pub ns: String,
    /// [`SessionRecord::id`].
    pub session: String,
    /// Answer as an attachment (`<session>.cast`) rather than inline for the player.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub download: bool,
}

/// What [`terminal_check`] answers when a terminal may be opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalTarget {
    pub namespace: String,
    pub pod: String,
    /// The container meant (the default one when none was named).
    pub container: String,
    /// The tools image a debug container would run.
    pub debug_image: String,
    /// Sessions are recorded (the page says so before anyone types).
    pub recording: bool,
}

/// The upload's and download's query string: a file path inside the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLink {
    pub ns: String,
    pub pod: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Absolute path of the file in the container (for an upload: where it will be).
    pub path: String,
}

/// What an upload answers with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadDone {
    pub path: String,
    pub bytes: u64,
}

/// Browser → server, in a text frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientControl {
    /// The terminal's size in character cells.
    Resize { cols: u16, rows: u16 },
}

/// Server → browser, in a text frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerControl {
    /// The shell runs; output follows in binary frames. For a debug session `container` is
    /// the debug container and `debug_image` its image.
    Started {
        container: String,
        shell: String,
        idle_timeout_secs: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        debug_image: Option<String>,
        /// The session's output is being recorded.
        #[serde(default)]
        recording: bool,
    },
    /// Something takes a while (a debug container being added and started).
    Preparing { message: crate::Text },
    /// The container has none of the shells tried; a debug container with `debug_image`
    /// can be started instead (the socket closes after this).
    NoShell {
        container: String,
        tried: Vec<String>,
        debug_image: String,
    },
    /// The session's recording reached its size limit and stopped; the session goes on.
    RecordingStopped { limit_bytes: u64 },
    /// No input for a while: the session closes in `closes_in_secs` unless a key is pressed.
    IdleWarning { closes_in_secs: u64 },
    /// Closed for lack of input (the shell is ended).
    IdleClosed { idle_secs: u64 },
    /// The shell exited with this code.
    Exit { code: i32 },
    /// The session could not start or broke; the sentence says why.
    Error { message: crate::Text },
}

/// One audited terminal session (or file transfer), as admins see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The audit Event's name, unique in its namespace; a recording is named after it.
    #[serde(default)]
    pub id: String,
    /// `session`, `debug` (a shell in a debug container), `upload` or `download`.
    pub kind: String,
    /// The console user (never the console's service account).
    pub user: String,
    pub tenant: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The shell, or the file path of a transfer.
    pub detail: String,
    pub started: Option<DateTime<Utc>>,
    /// `None` while the session is still open (or the console stopped during it).
    pub duration_secs: Option<f64>,
    pub exit_code: Option<i32>,
    /// `exit`, `idle`, `closed` (the browser went away), `error: ...`; empty while open.
    pub outcome: String,
    /// The session's output was recorded (see [`RecordingLink`]).
    #[serde(default)]
    pub recording: bool,
    /// The recording stops before the session's end: it reached the console's size limit
    /// (it ends with a line saying so), or it could not be written on (the console's log says why).
    #[serde(default)]
    pub recording_truncated: bool,
    /// The session was recorded but its recording is no longer there to replay: removed by
    /// the console's retention (age or total size), or unreadable by this console.
    #[serde(default)]
    pub recording_expired: bool,
}

/// `key=value&...` for a link, with `%`-escaping of what a query string cannot hold.
pub fn query_of(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", crate::logs::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_are_tagged_json() {
        let resize: ClientControl =
            serde_json::from_str(r#"{"type":"resize","cols":120,"rows":40}"#).unwrap();
        assert_eq!(
            resize,
            ClientControl::Resize {
                cols: 120,
                rows: 40
            }
        );
        assert_eq!(
            serde_json::to_string(&ServerControl::Exit { code: 3 }).unwrap(),
            r#"{"type":"exit","code":3}"#
        );
    }

    #[test]
    fn links_leave_out_empty_values_and_escape_the_rest() {
        assert_eq!(
            query_of(&[("ns", "alpha"), ("container", ""), ("path", "/tmp/a b")]),
            "ns=alpha&path=%2Ftmp%2Fa%20b"
        );
    }
}
