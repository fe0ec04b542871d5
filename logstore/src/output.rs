//! The CLI's line format, `<RFC3339Nano timestamp> <namespace>/<pod>/<container> <text>`,
//! shared so every tool prints lines the same way.

use std::io::{self, Write};

use crate::line::LogEntry;

/// Write one entry and a newline. The text's bytes are written as stored
/// (not re-encoded), so non-UTF-8 logs survive a round trip through the CLI.
pub fn write_line(out: &mut impl Write, entry: &LogEntry) -> io::Result<()> {
    write!(out, "{} {} ", entry.position.ts, entry.key)?;
    out.write_all(&entry.text)?;
    out.write_all(b"\n")
}

/// One entry as a `String` (invalid UTF-8 replaced by U+FFFD), without newline.
pub fn format_line(entry: &LogEntry) -> String {
    entry.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::StreamKey;
    use crate::line::{LogStream, Position};
    use crate::time::Timestamp;
    use std::sync::Arc;

    #[test]
    fn cli_format() {
        let e = LogEntry {
            key: Arc::new(StreamKey::new("shop", "web-0", "nginx")),
            position: Position {
                ts: Timestamp::parse_rfc3339("2024-05-01T10:02:00.5Z").unwrap(),
                stream_id: 1,
                seq: 0,
            },
            stream: LogStream::Stdout,
            truncated: false,
            text: b"GET / 200 \xff".to_vec(),
        };
        assert_eq!(
            format_line(&e),
            "2024-05-01T10:02:00.500000000Z shop/web-0/nginx GET / 200 \u{fffd}"
        );
        let mut buf = Vec::new();
        write_line(&mut buf, &e).unwrap();
        assert_eq!(
            buf,
            b"2024-05-01T10:02:00.500000000Z shop/web-0/nginx GET / 200 \xff\n"
        );
    }
}
