//! The web terminal's server side (protocol: `wharf_api::terminal`): a keystroke arrives on
//! the [`socket`], goes through the [`bridge`] into a kube-rs exec session with a tty (or an
//! attach to a [`debug`] container for images without a shell), and the output comes back
//! the same way. Files go in and out by [`transfer`] (exec + [`tar`], as `kubectl cp` does).
//! Every session and transfer is recorded by [`audit`]; sessions' output optionally by
//! [`recording`] (asciicast v2, up to a size limit), replayed by admins, and deleted again by
//! [`retention`] (by age and a total cap).
//!
//! The debug image, the recordings folder, its size limit and retention, the idle timeout and
//! the upload limit are [`TerminalArgs`] (flags, each with its `WHARF_…` variable), kept in
//! `wharf_console::state::Settings`; the retention's sweeper is a task the `Application` starts.

pub mod audit;
pub mod bridge;
pub mod debug;
pub mod recording;
pub mod retention;
pub mod socket;
pub mod tar;
pub mod transfer;

use axum::routing::{get, post};
use axum::Router;
use std::path::PathBuf;
use std::time::Duration;
use wharf_api::routes;
use wharf_console::state::AppState;
use wharf_console::terminal::{
    TerminalOptions, DEFAULT_DEBUG_IMAGE, DEFAULT_IDLE_SECS, DEFAULT_IDLE_WARN_SECS,
    DEFAULT_MAX_UPLOAD_MB, DEFAULT_RECORDING_MAX_MB,
};

const MB: u64 = 1024 * 1024;

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
    /// The largest recording of one session, in MB: there the recording stops with a line
    /// saying so (the session goes on). 0: no limit.
    #[arg(long, env = "WHARF_TERMINAL_RECORDING_MAX_MB", default_value_t = DEFAULT_RECORDING_MAX_MB)]
    pub recording_max_mb: u64,
    /// Recordings whose session ended more than this many days ago are deleted (at start,
    /// then hourly). 0: kept forever.
    #[arg(
        long,
        env = "WHARF_TERMINAL_RECORDINGS_KEEP_DAYS",
        default_value_t = 30
    )]
    pub recordings_keep_days: u64,
    /// When all recordings together take more than this many GB (fractions allowed: 0.5),
    /// the oldest are deleted. 0: no cap.
    #[arg(
        long,
        env = "WHARF_TERMINAL_RECORDINGS_MAX_TOTAL_GB",
        default_value_t = 20.0,
        value_parser = non_negative_gb
    )]
    pub recordings_max_total_gb: f64,
    /// A session without input for this many seconds is closed.
    #[arg(long, env = "WHARF_TERMINAL_IDLE_SECS", default_value_t = DEFAULT_IDLE_SECS)]
    pub terminal_idle_secs: u64,
    /// The user is warned this many seconds before the idle timeout.
    #[arg(long, env = "WHARF_TERMINAL_IDLE_WARN_SECS", default_value_t = DEFAULT_IDLE_WARN_SECS)]
    pub terminal_idle_warn_secs: u64,
    /// The largest file uploaded into a container, in MB.
    #[arg(long, env = "WHARF_TERMINAL_MAX_UPLOAD_MB", default_value_t = DEFAULT_MAX_UPLOAD_MB)]
    pub terminal_max_upload_mb: u64,
}

impl TerminalArgs {
    pub fn options(&self) -> TerminalOptions {
        let idle_timeout = Duration::from_secs(self.terminal_idle_secs);
        TerminalOptions {
            debug_image: self.debug_image.clone(),
            recordings: self.recordings_dir.clone(),
            recording_max_bytes: (self.recording_max_mb > 0)
                .then(|| self.recording_max_mb.saturating_mul(MB)),
            idle_timeout,
            idle_warning: Duration::from_secs(self.terminal_idle_warn_secs).min(idle_timeout),
            max_upload: self.terminal_max_upload_mb.saturating_mul(MB),
            ..TerminalOptions::default()
        }
    }

    /// What the sweeper keeps; `None` where nothing is recorded or everything is kept.
    pub fn retention(&self) -> Option<retention::Retention> {
        let keep = (self.recordings_keep_days > 0)
            .then(|| Duration::from_secs(self.recordings_keep_days.saturating_mul(86_400)));
        let max_total = (self.recordings_max_total_gb > 0.0)
            .then_some((self.recordings_max_total_gb * (1024 * MB) as f64) as u64);
        let dir = self.recordings_dir.clone()?;
        (keep.is_some() || max_total.is_some()).then_some(retention::Retention {
            dir,
            keep,
            max_total,
        })
    }
}

/// A size in GB: a number, 0 or more.
fn non_negative_gb(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(gb) if gb.is_finite() && gb >= 0.0 => Ok(gb),
        _ => Err(format!(
            "{s:?} is not a size in GB (0 or more, e.g. 20 or 0.5)"
        )),
    }
}

/// `/ws/terminal/{tenant}`, `/upload/terminal/{tenant}`, `/download/terminal/{tenant}`,
/// `/recordings/terminal/{tenant}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::WS_TERMINAL.pattern, get(socket::open))
        .route(routes::DOWNLOAD_RECORDING.pattern, get(recording::serve))
        .route(routes::UPLOAD_TERMINAL.pattern, post(transfer::upload))
        .route(routes::DOWNLOAD_TERMINAL.pattern, get(transfer::download))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        terminal: TerminalArgs,
    }

    #[test]
    fn recording_limits_default_and_zero_means_none() {
        let args = Cli::parse_from(["wharf", "--recordings-dir", "/rec"]).terminal;
        assert_eq!(args.options().recording_max_bytes, Some(64 * MB));
        let r = args.retention().unwrap();
        assert_eq!(
            (r.dir.as_path(), r.keep, r.max_total),
            (
                std::path::Path::new("/rec"),
                Some(Duration::from_secs(30 * 86_400)),
                Some(20 * 1024 * MB)
            )
        );

        let args = Cli::parse_from([
            "wharf",
            "--recordings-dir",
            "/rec",
            "--recording-max-mb",
            "0",
            "--recordings-keep-days",
            "0",
            "--recordings-max-total-gb",
            "0",
        ])
        .terminal;
        assert_eq!(args.options().recording_max_bytes, None);
        assert_eq!(args.retention(), None, "everything kept: no sweeper");
        let args = Cli::parse_from([
            "wharf",
            "--recordings-dir",
            "/rec",
            "--recordings-keep-days",
            "0",
        ])
        .terminal;
        assert_eq!(
            args.retention().map(|r| (r.keep, r.max_total)),
            Some((None, Some(20 * 1024 * MB)))
        );
        assert_eq!(
            Cli::parse_from(["wharf"]).terminal.retention(),
            None,
            "nothing recorded: nothing to sweep"
        );
        let half = [
            "wharf",
            "--recordings-dir",
            "/rec",
            "--recordings-max-total-gb",
        ];
        let args = Cli::parse_from(half.into_iter().chain(["0.5"])).terminal;
        assert_eq!(args.retention().unwrap().max_total, Some(512 * MB));
        for bad in ["-1", "NaN", "lots"] {
            assert!(
                Cli::try_parse_from(half.into_iter().chain([bad])).is_err(),
                "{bad}"
            );
        }
    }
}
