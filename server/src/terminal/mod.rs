//! The web terminal's server side (protocol: `wharf_app::terminal`): a keystroke arrives on
//! the [`socket`], goes through the [`bridge`] into a kube-rs exec session with a tty (or an
//! attach to a [`debug`] container for images without a shell), and the output comes back
//! the same way. Files go in and out by [`transfer`] (exec + [`tar`], as `kubectl cp` does).
//! Every session and transfer is recorded by [`audit`]; sessions' output optionally by
//! [`recording`] (asciicast v2), replayed by admins.
//!
//! The debug image and the recordings folder are [`TerminalArgs`] (flags, in
//! `wharf_app::state::Settings`). Other settings, from the environment (read once when the
//! router is built):
//! `WHARF_TERMINAL_IDLE_SECS` (default 1800: no input for this long closes a session),
//! `WHARF_TERMINAL_IDLE_WARN_SECS` (default 60: the warning comes this long before),
//! `WHARF_TERMINAL_MAX_UPLOAD_MB` (default 512).

pub mod audit;
pub mod bridge;
pub mod debug;
pub mod recording;
pub mod socket;
pub mod tar;
pub mod transfer;

use axum::routing::{get, post};
use axum::{Extension, Router};
use std::path::PathBuf;
use std::time::Duration;
use wharf_app::state::AppState;
use wharf_app::terminal::ssr::{TerminalOptions, DEFAULT_DEBUG_IMAGE};

/// `wharf serve`'s and `wharf demo`'s terminal flags.
#[derive(clap::Args, Clone, Debug)]
pub struct TerminalArgs {
    /// The tools image of debug containers offered for containers without a shell.
    #[arg(long, env = "WHARF_DEBUG_IMAGE", default_value = DEFAULT_DEBUG_IMAGE)]
    pub debug_image: String,
    /// Record every terminal session's output (asciicast v2) into this folder; admins replay
    /// them. Unset: not recorded (`wharf demo`: `<data>/recordings`).
    #[arg(long, env = "WHARF_TERMINAL_RECORDINGS")]
    pub recordings_dir: Option<PathBuf>,
}

impl TerminalArgs {
    pub fn options(self) -> TerminalOptions {
        TerminalOptions { debug_image: self.debug_image, recordings: self.recordings_dir }
    }
}

#[derive(Clone, Debug)]
pub struct TerminalSettings {
    pub idle_timeout: Duration,
    pub idle_warning: Duration,
    pub ping_every: Duration,
    /// Largest upload in bytes; bigger ones get 413 before anything reaches the container.
    pub max_upload: u64,
}

impl Default for TerminalSettings {
    fn default() -> Self {
        TerminalSettings {
            idle_timeout: Duration::from_secs(1800),
            idle_warning: Duration::from_secs(60),
            // NB: under the 60 s after which many proxies and load balancers cut a quiet connection.
            ping_every: Duration::from_secs(25),
            max_upload: 512 * 1024 * 1024,
        }
    }
}

impl TerminalSettings {
    pub fn from_env() -> Self {
        let num = |key: &str| std::env::var(key).ok().and_then(|v| v.trim().parse::<u64>().ok());
        let d = TerminalSettings::default();
        let idle_timeout = num("WHARF_TERMINAL_IDLE_SECS").map(Duration::from_secs).unwrap_or(d.idle_timeout);
        TerminalSettings {
            idle_timeout,
            idle_warning: num("WHARF_TERMINAL_IDLE_WARN_SECS").map(Duration::from_secs).unwrap_or(d.idle_warning).min(idle_timeout),
            ping_every: d.ping_every,
            max_upload: num("WHARF_TERMINAL_MAX_UPLOAD_MB").map(|mb| mb * 1024 * 1024).unwrap_or(d.max_upload),
        }
    }
}

/// `/ws/terminal/{tenant}`, `/upload/terminal/{tenant}`, `/download/terminal/{tenant}`,
/// `/recordings/terminal/{tenant}`.
pub fn routes(settings: TerminalSettings) -> Router<AppState> {
    Router::new()
        .route("/ws/terminal/{tenant}", get(socket::open))
        .route("/recordings/terminal/{tenant}", get(recording::serve))
        .route("/upload/terminal/{tenant}", post(transfer::upload))
        .route("/download/terminal/{tenant}", get(transfer::download))
        .layer(Extension(settings))
}
