//! The crate's error type, and [`NginxError`]: nginx's own complaint with the
//! file and line it points at, which the console shows next to the config.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a desired state and a serving nginx.
///
/// `Clone` so one apply's failure can be handed to every caller whose change
/// it covered (see [`crate::Agent::apply`]); causes are kept behind `Arc`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The desired state cannot be rendered (bad host, path, directive, ...).
    /// Caught before nginx ever sees it.
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },

    /// `nginx -t` rejected the candidate config; the live config is untouched.
    #[error("nginx rejected the config: {0}")]
    Nginx(NginxError),

    /// The config passed `nginx -t` but the reload did not take effect before
    /// the deadline; the previous files were put back.
    #[error("reload did not take effect: {0}")]
    Reload(NginxError),

    /// The control endpoint refused or garbled a peer update.
    #[error("dynamic upstream update failed: {0}")]
    Control(String),

    /// Running the nginx binary failed (not found, killed, ...).
    #[error("running {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },

    /// File system trouble in the prefix or conf dir.
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The agent task is gone (shut down or panicked).
    #[error("the agent stopped")]
    Stopped,
}

impl Error {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |e| Error::Io {
            context,
            path,
            source: Arc::new(e),
        }
    }

    /// nginx's own message, when this error carries one.
    pub fn nginx(&self) -> Option<&NginxError> {
        match self {
            Error::Nginx(e) | Error::Reload(e) => Some(e),
            _ => None,
        }
    }
}

/// A message from nginx, with the file (relative to the config root when it
/// lies inside it) and line it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}{}", location(.file, .line))]
pub struct NginxError {
    pub message: String,
    pub file: Option<PathBuf>,
    pub line: Option<u32>,
}

fn location(file: &Option<PathBuf>, line: &Option<u32>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!(" ({}:{l})", f.display()),
        (Some(f), None) => format!(" ({})", f.display()),
        _ => String::new(),
    }
}

impl NginxError {
    pub(crate) fn plain(message: impl Into<String>) -> Self {
        NginxError {
            message: message.into(),
            file: None,
            line: None,
        }
    }

    /// Picks the first `[emerg]`/`[alert]`/`[crit]`/`[error]` line out of nginx's
    /// stderr or error log, and splits off its trailing `in FILE:LINE`. Paths
    /// under `root` are made relative to it, so the console can point into the
    /// rendered tree whichever staging directory was tested.
    pub fn parse(output: &str, root: Option<&std::path::Path>) -> Option<NginxError> {
        let line = ["[emerg]", "[alert]", "[crit]", "[error]"]
            .iter()
            .find_map(|lvl| output.lines().find(|l| l.contains(lvl)))?;
        Self::parse_line(line, root)
    }

    /// The warnings of a configuration test that Wharf treats as errors: a server name two
    /// server blocks claim (nginx keeps one and ignores the other, so one route would
    /// silently serve another's host).
    pub fn parse_fatal_warning(output: &str, root: Option<&std::path::Path>) -> Option<NginxError> {
        let line = output
            .lines()
            .find(|l| l.contains("[warn]") && l.contains("conflicting server name"))?;
        Self::parse_line(line, root)
    }

    fn parse_line(line: &str, root: Option<&std::path::Path>) -> Option<NginxError> {
        // "nginx: [emerg] msg" or "2024/01/01 00:00:00 [emerg] 12#12: msg"
        let after = &line[line.find("] ")? + 2..];
        let after = match after.split_once(": ") {
            Some((pid, rest)) if pid.chars().all(|c| c.is_ascii_digit() || c == '#') => rest,
            _ => after,
        };
        let mut err = NginxError::plain(after.trim());
        if let Some(idx) = after.rfind(" in ") {
            let loc = after[idx + 4..].trim();
            if let Some((file, num)) = loc.rsplit_once(':') {
                if let Ok(n) = num.parse::<u32>() {
                    let mut file = PathBuf::from(file);
                    if let Some(rel) = root.and_then(|r| file.strip_prefix(r).ok()) {
                        file = rel.to_path_buf();
                    }
                    err = NginxError {
                        message: after[..idx].trim().to_string(),
                        file: Some(file),
                        line: Some(n),
                    };
                }
            }
        }
        Some(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_test_output_with_location() {
        let out = "nginx: [emerg] invalid number of arguments in \"proxy_buffers\" directive in /tmp/p/conf/.staging/servers/a.conf:12\nnginx: configuration file /tmp/p/conf/.staging/nginx.conf test failed\n";
        let e = NginxError::parse(out, Some(Path::new("/tmp/p/conf/.staging"))).unwrap();
        assert_eq!(
            e.message,
            "invalid number of arguments in \"proxy_buffers\" directive"
        );
        assert_eq!(e.file.as_deref(), Some(Path::new("servers/a.conf")));
        assert_eq!(e.line, Some(12));
    }

    #[test]
    fn parses_error_log_line_without_location() {
        let out = "2024/01/01 00:00:00 [notice] 1#1: signal\n2024/01/01 00:00:00 [emerg] 12#12: bind() to 127.0.0.1:80 failed (98: Address already in use)\n";
        let e = NginxError::parse(out, None).unwrap();
        assert_eq!(
            e.message,
            "bind() to 127.0.0.1:80 failed (98: Address already in use)"
        );
        assert_eq!(e.line, None);
    }
}
