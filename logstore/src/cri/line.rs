//! Parsing one CRI log record: `<RFC3339Nano> <stdout|stderr> <P|F> <text>`.

use crate::line::LogStream;
use crate::time::{parse_rfc3339_bytes, Timestamp};

/// One record of a CRI log file (without its newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub ts: Timestamp,
    pub stream: LogStream,
    /// `P`: the text continues in the next record.
    pub partial: bool,
    pub text: &'a [u8],
}

/// Parse a record; the error says what is wrong.
pub fn parse_cri_line(line: &[u8]) -> Result<CriLine<'_>, &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let sp1 = memchr::memchr(b' ', line).ok_or("no space after the timestamp")?;
    let ts = parse_rfc3339_bytes(&line[..sp1]).ok_or("bad timestamp")?;
    let rest = &line[sp1 + 1..];
    let (stream, rest) = if let Some(r) = rest.strip_prefix(b"stdout ") {
        (LogStream::Stdout, r)
    } else if let Some(r) = rest.strip_prefix(b"stderr ") {
        (LogStream::Stderr, r)
    } else {
        return Err("stream is neither stdout nor stderr");
    };
    let (partial, text) = match rest {
        [b'P', b' ', text @ ..] => (true, text),
        [b'F', b' ', text @ ..] => (false, text),
        [b'P'] => (true, &[][..]),
        [b'F'] => (false, &[][..]),
        _ => return Err("tag is neither P nor F"),
    };
    Ok(CriLine {
        ts,
        stream,
        partial,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records() {
        let l = parse_cri_line(b"2024-05-01T10:02:00.123456789Z stderr F oops: bad thing").unwrap();
        assert_eq!(l.stream, LogStream::Stderr);
        assert!(!l.partial);
        assert_eq!(l.text, b"oops: bad thing");
        assert_eq!(
            l.ts,
            Timestamp::parse_rfc3339("2024-05-01T10:02:00.123456789Z").unwrap()
        );
        let p = parse_cri_line(b"2024-05-01T10:02:00Z stdout P part one ").unwrap();
        assert!(p.partial);
        assert_eq!(p.text, b"part one ");
        assert_eq!(
            parse_cri_line(b"2024-05-01T10:02:00Z stdout F")
                .unwrap()
                .text,
            b""
        );
        assert_eq!(
            parse_cri_line(b"2024-05-01T10:02:00+02:00 stdout F x\r")
                .unwrap()
                .text,
            b"x"
        );
    }

    #[test]
    fn rejects_bad_records() {
        for bad in [
            &b""[..],
            b"garbage",
            b"2024-05-01T10:02:00Z stdin F x",
            b"2024-05-01T10:02:00Z stdout X x",
            b"yesterday stdout F x",
            b"2024-05-01T10:02:00Z stdout Fx",
        ] {
            assert!(
                parse_cri_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
