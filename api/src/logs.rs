//! Logs: what the log viewer shows and asks for. The lines come from the server's log store
//! (crate `logstore`), which the collector (`server/src/logs/collector.rs`) fills from every
//! running container. Three ways out, all tenant-checked on the server:
//!
//! * [`log_sources`] and [`query_logs`]: server functions (pickers; a time range, a page at a time);
//! * `GET /ws/logs/{tenant}?{LogLink}`: follow mode — the last lines, then live ([`LogMessage`]);
//! * `GET /download/logs/{tenant}?{LogLink}`: the range as a text file, one line per log line.

use crate::{text, Text};
use serde::{Deserialize, Serialize};

/// Largest page [`query_logs`] returns.
pub const MAX_PAGE: usize = 5_000;
/// Most lines a follow socket sends before going live.
pub const MAX_TAIL: usize = 5_000;

/// An app the tenant may read the logs of, with its pods as the cache knows them now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogSource {
    pub namespace: String,
    pub app: String,
    pub pods: Vec<SourcePod>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourcePod {
    pub name: String,
    /// As `kubectl get pods` shows it.
    pub status: String,
    pub containers: Vec<String>,
}

/// Which streams: one app's pods (all merged), or one pod, or one container. Empty
/// `pod`/`container` mean "all".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSelection {
    pub namespace: String,
    pub app: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
}

/// A keyword (case-sensitive substring) or a regular expression (Rust `regex` syntax).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSearch {
    pub text: String,
    pub regex: bool,
}

impl LogSearch {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The pattern that finds matches (to filter on the server and to highlight in the
    /// browser, with the same syntax); `None` for an empty search. The error is a sentence.
    pub fn compile(&self) -> Result<Option<regex::Regex>, Text> {
        if self.text.is_empty() {
            return Ok(None);
        }
        let pattern = if self.regex {
            self.text.clone()
        } else {
            regex::escape(&self.text)
        };
        regex::Regex::new(&pattern).map(Some).map_err(|e| {
            let (pattern, why) = (&self.text, first_line(&e.to_string()));
            text!(
                "invalid regular expression {pattern:?}: {why}",
                "无效的正则表达式 {pattern:?}:{why}"
            )
        })
    }
}

fn first_line(s: &str) -> String {
    // regex errors draw a caret diagram over several lines; the last line says what is wrong.
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// One page of a time range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    pub selection: LogSelection,
    /// RFC 3339, inclusive.
    pub from: String,
    /// RFC 3339, exclusive.
    pub to: String,
    pub search: LogSearch,
    /// At most [`MAX_PAGE`].
    pub limit: usize,
    /// Newest first.
    pub backward: bool,
    /// From a previous page's `next_cursor` (same query otherwise).
    pub cursor: Option<String>,
}

/// A log line as the viewer shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Nanoseconds since the Unix epoch.
    pub ts: i64,
    /// RFC 3339 with nanoseconds, UTC.
    pub time: String,
    pub pod: String,
    pub container: String,
    pub stderr: bool,
    /// The store cut the line (it ends with a marker saying how much was dropped).
    pub truncated: bool,
    /// As written by the container (ANSI escapes kept), invalid UTF-8 replaced.
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Set when there is more: pass it as [`LogQuery::cursor`].
    pub next_cursor: Option<String>,
    /// Set when the search stopped at the server's budget for one search before the end of
    /// its range: the lines are right, but there may be more beyond `reached`.
    #[serde(default)]
    pub partial: Option<LogPartial>,
}

/// Where a search cut short by its budget got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPartial {
    /// Everything before this time (RFC 3339; after it, for a backward search) was searched.
    pub reached: String,
    /// The time budget ran out (else the bytes budget).
    pub by_time: bool,
    /// Log text looked at, in bytes.
    pub scanned_bytes: u64,
}

/// A message on the follow socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogMessage {
    /// Start over: the lines that follow replace what is shown (sent first on every
    /// connection, so a reconnect never shows a line twice).
    Reset,
    Lines(Vec<LogLine>),
    /// Why the feed cannot go on (the page shows it in its error banner).
    Error(crate::error::AppError),
}

/// The query string of the follow socket and the download (`serde_urlencoded` both ways).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLink {
    pub ns: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// RFC 3339 (download only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regex: bool,
    /// How many past lines the socket starts with (at most [`MAX_TAIL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<usize>,
}

impl LogLink {
    pub fn new(selection: &LogSelection, search: &LogSearch) -> Self {
        LogLink {
            ns: selection.namespace.clone(),
            app: selection.app.clone(),
            pod: selection.pod.clone(),
            container: selection.container.clone(),
            q: (!search.text.is_empty()).then(|| search.text.clone()),
            regex: search.regex && !search.text.is_empty(),
            ..Default::default()
        }
    }

    pub fn selection(&self) -> LogSelection {
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        LogSelection {
            namespace: self.ns.clone(),
            app: some(&self.app),
            pod: some(&self.pod),
            container: some(&self.container),
        }
    }

    pub fn search(&self) -> LogSearch {
        LogSearch {
            text: self.q.clone().unwrap_or_default(),
            regex: self.regex,
        }
    }

    /// `ns=..&app=..` with every value percent-encoded.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("ns", self.ns.clone())];
        let mut opt = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        };
        opt("app", &self.app);
        opt("pod", &self.pod);
        opt("container", &self.container);
        opt("from", &self.from);
        opt("to", &self.to);
        opt("q", &self.q);
        if self.regex {
            pairs.push(("regex", "true".into()));
        }
        if let Some(n) = self.last {
            pairs.push(("last", n.to_string()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_round_trips_through_its_query_string() {
        let link = LogLink {
            ns: "alpha".into(),
            app: Some("shop web".into()),
            q: Some("a+b&c=d/é".into()),
            regex: true,
            last: Some(10),
            ..Default::default()
        };
        let q = link.to_query();
        assert!(
            q.starts_with("ns=alpha&app=shop%20web&q=a%2Bb%26c%3Dd%2F%C3%A9&regex=true"),
            "{q}"
        );
        let back: LogLink = serde_json::from_value(serde_json::json!({"ns": "alpha", "app": "shop web", "q": "a+b&c=d/é", "regex": true, "last": 10})).unwrap();
        assert_eq!(back, link);
    }

    #[test]
    fn a_bad_regex_is_explained_in_one_sentence() {
        let err = LogSearch {
            text: "a(b".into(),
            regex: true,
        }
        .compile()
        .unwrap_err()
        .en;
        assert!(
            err.starts_with("invalid regular expression \"a(b\""),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        // a keyword is taken literally
        let kw = LogSearch {
            text: "a(b".into(),
            regex: false,
        }
        .compile()
        .unwrap()
        .unwrap();
        assert!(kw.is_match("xa(by"));
    }
}
