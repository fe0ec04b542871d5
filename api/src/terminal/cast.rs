//! Session recordings in the asciicast v2 format (what asciinema writes and plays), shared by
//! the server that writes them (`server/src/terminal/recording.rs`) and the page that replays
//! them (`pages/terminal_replay.rs`).
//!
//! A `.cast` file is newline-delimited JSON: one header object, then one event per line,
//! `[seconds_since_start, code, data]`:
//! ```text
//! {"version":2,"width":120,"height":40,"timestamp":1717000000,"title":"alice: alpha/web-1 (app)","env":{"TERM":"xterm"}}
//! [0.084211,"o","root@web-1:/# "]
//! [2.5,"r","100x30"]
//! ```
//! Codes written here: `o` (terminal output, UTF-8 text) and `r` (resize, `COLSxROWS`). Other
//! codes a player meets (`i` input, `m` marker) are kept as [`EventKind::Other`] and skipped.
//!
//! A recording that reached the console's size limit ends with an output event that says so
//! ([`size_limit_marker`]), so whoever replays it sees where and why it stops — as plain
//! terminal text, which asciinema shows too (its `m` markers are not drawn).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The header line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always 2.
    pub version: u8,
    /// Initial terminal size in character cells.
    pub width: u16,
    pub height: u16,
    /// Unix time of the start of the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
}

impl Header {
    pub fn new(width: u16, height: u16, timestamp: i64, title: String) -> Header {
        Header {
            version: 2,
            width,
            height,
            timestamp: Some(timestamp),
            title: Some(title),
            env: Some(BTreeMap::from([("TERM".to_string(), "xterm".to_string())])),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    Output(String),
    Resize {
        cols: u16,
        rows: u16,
    },
    /// An event a console session never writes (input, marker, ...): skipped on replay.
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Seconds since the start of the recording.
    pub time: f64,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    pub header: Header,
    pub events: Vec<Event>,
}

impl Cast {
    /// Seconds from the start to the last event.
    pub fn duration(&self) -> f64 {
        self.events.last().map(|e| e.time).unwrap_or(0.0)
    }
}

/// One event line (without the newline). Times are kept to the microsecond.
pub fn event_line(time: f64, kind: &EventKind) -> Option<String> {
    let time = (time.max(0.0) * 1e6).round() / 1e6;
    let line = match kind {
        EventKind::Output(text) => serde_json::to_string(&(time, "o", text)),
        EventKind::Resize { cols, rows } => {
            serde_json::to_string(&(time, "r", format!("{cols}x{rows}")))
        }
        EventKind::Other => return None,
    };
    line.ok()
}

/// How a size limit reads in the marker: whole MB (the flag's unit) as such, anything else in bytes.
fn size_label(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else {
        format!("{bytes} bytes")
    }
}

/// What a recording stopped at its size limit ends with (an output event's text).
pub fn size_limit_marker(limit_bytes: u64) -> String {
    format!(
        "\r\n[recording stopped: size limit {} reached]\r\n",
        size_label(limit_bytes)
    )
}

/// `"100x30"` → `(100, 30)`.
pub fn parse_size(s: &str) -> Option<(u16, u16)> {
    let (c, r) = s.split_once('x')?;
    Some((c.trim().parse().ok()?, r.trim().parse().ok()?))
}

/// Reads a whole `.cast` file. A file cut off in its last line (a session still being
/// written, or a console that stopped) is read up to the last whole line.
pub fn parse(text: &str) -> Result<Cast, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().ok_or("the recording is empty")?;
    let header: Header =
        serde_json::from_str(first).map_err(|e| format!("not an asciicast header: {e}"))?;
    if header.version != 2 {
        return Err(format!(
            "asciicast version {} is not supported (only 2)",
            header.version
        ));
    }
    let mut events = Vec::new();
    let mut lines = lines.peekable();
    while let Some(line) = lines.next() {
        let parsed: Result<(f64, String, String), _> = serde_json::from_str(line);
        let (time, code, data) = match parsed {
            Ok(v) => v,
            // NB: only the very last line may be torn.
            Err(_) if lines.peek().is_none() => break,
            Err(e) => return Err(format!("a bad event line in the recording ({e}): {line}")),
        };
        let kind = match code.as_str() {
            "o" => EventKind::Output(data),
            "r" => match parse_size(&data) {
                Some((cols, rows)) => EventKind::Resize { cols, rows },
                None => EventKind::Other,
            },
            _ => EventKind::Other,
        };
        events.push(Event { time, kind });
    }
    Ok(Cast { header, events })
}

/// Turns a stream of terminal bytes into UTF-8 text without cutting a character in two: an
/// incomplete sequence at the end of one chunk waits for the next. Bytes that are not UTF-8
/// at all become U+FFFD (a JSON string cannot hold them).
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &bad[n..];
                        }
                        // An incomplete character at the end: keep it for the next chunk.
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }

    /// What is left at the end of the stream (an incomplete character), as replacement text.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_lines_read_back() {
        let header = Header::new(120, 40, 1_717_000_000, "alice: alpha/web-1 (app)".into());
        let mut text = serde_json::to_string(&header).unwrap();
        for (t, k) in [
            (
                0.0841234567,
                EventKind::Output("$ \u{1b}[1mhi\u{1b}[0m\r\n\"q\"".into()),
            ),
            (
                2.5,
                EventKind::Resize {
                    cols: 100,
                    rows: 30,
                },
            ),
        ] {
            text.push('\n');
            text.push_str(&event_line(t, &k).unwrap());
        }
        assert!(
            text.contains(r#"[0.084123,"o","$ \u001b[1mhi\u001b[0m\r\n\"q\""]"#),
            "{text}"
        );
        assert!(text.contains(r#"[2.5,"r","100x30"]"#), "{text}");
        let cast = parse(&text).unwrap();
        assert_eq!(cast.header, header);
        assert_eq!(cast.events.len(), 2);
        assert_eq!(
            cast.events[1],
            Event {
                time: 2.5,
                kind: EventKind::Resize {
                    cols: 100,
                    rows: 30
                }
            }
        );
        assert_eq!(cast.duration(), 2.5);
    }

    #[test]
    fn an_asciinema_file_plays_and_a_torn_last_line_is_dropped() {
        let text = "{\"version\": 2, \"width\": 80, \"height\": 24, \"timestamp\": 1504467315, \"title\": \"Demo\", \"env\": {\"TERM\": \"xterm-256color\", \"SHELL\": \"/bin/zsh\"}}\n\
                    [0.248848, \"o\", \"\\u001b[1;31mHello \\u001b[32mWorld!\\u001b[0m\\n\"]\n\
                    [1.500000, \"m\", \"\"]\n\
                    [4.050000, \"r\", \"80x24\"]\n\
                    [6.5, \"o\", \"By";
        let cast = parse(text).unwrap();
        assert_eq!(cast.header.width, 80);
        assert_eq!(cast.events.len(), 3);
        assert_eq!(
            cast.events[0].kind,
            EventKind::Output("\u{1b}[1;31mHello \u{1b}[32mWorld!\u{1b}[0m\n".into())
        );
        assert_eq!(cast.events[1].kind, EventKind::Other);
        assert!(parse("{\"version\": 1, \"width\": 80, \"height\": 24}").is_err());
        assert!(
            parse("{\"version\": 2, \"width\": 80, \"height\": 24}\n[1, \"o\"\n[2, \"o\", \"x\"]")
                .is_err(),
            "only the last line may be torn"
        );
        assert!(parse("").is_err());
    }

    #[test]
    fn the_size_limit_marker_names_the_limit_in_the_flags_unit() {
        assert_eq!(
            size_limit_marker(64 * 1024 * 1024),
            "\r\n[recording stopped: size limit 64 MB reached]\r\n"
        );
        assert_eq!(
            size_limit_marker(4096),
            "\r\n[recording stopped: size limit 4096 bytes reached]\r\n"
        );
    }

    #[test]
    fn characters_split_across_chunks_stay_whole() {
        let text = "日本 ok é";
        let bytes = text.as_bytes();
        let mut s = Utf8Stream::default();
        let mut out = String::new();
        for chunk in bytes.chunks(2) {
            out.push_str(&s.push(chunk));
        }
        out.push_str(&s.finish());
        assert_eq!(out, text);
        // bytes that are not UTF-8 become U+FFFD, the rest survives
        let mut s = Utf8Stream::default();
        assert_eq!(s.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(s.push(b"\xe6\x97"), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }
}
