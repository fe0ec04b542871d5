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
    use proptest::prelude::*;

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

    /// A record's text as a runtime writes it: no newline, and no `\r` at the end (containerd
    /// drops the `\r` of a `\r\n` line end, and never ends a `P` part with a `\r`), so the
    /// parser's CRLF tolerance cannot eat a byte of the message.
    fn text() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(prop::sample::select(&b"PF \r\t x:Zstdout"[..]), 0..16),
        ]
        .prop_map(|mut t| {
            t.retain(|&b| b != b'\n');
            while t.last() == Some(&b'\r') {
                t.pop();
            }
            t
        })
    }

    fn record(ts: Timestamp, stream: &[u8], tag: &[u8], text: &[u8]) -> Vec<u8> {
        let mut line = format!("{ts} ").into_bytes();
        line.extend_from_slice(stream);
        line.push(b' ');
        line.extend_from_slice(tag);
        line.push(b' ');
        line.extend_from_slice(text);
        line
    }

    /// One space-free field that is not one of `allowed`.
    fn other_field(allowed: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..8),
            // near misses: an allowed word with one byte changed, added or dropped
            (
                prop::sample::select(allowed),
                any::<prop::sample::Index>(),
                any::<u8>(),
                0..3u8
            )
                .prop_map(|(w, at, b, how)| {
                    let mut w = w.to_vec();
                    let i = at.index(w.len() + 1);
                    match how {
                        0 if i < w.len() => w[i] = b,
                        1 => w.insert(i, b),
                        _ if i < w.len() => {
                            w.remove(i);
                        }
                        _ => w.push(b),
                    }
                    w
                }),
        ]
        .prop_filter("a space splits fields", |w| !w.contains(&b' '))
        .prop_filter("an allowed word", move |w| !allowed.contains(&w.as_slice()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics(line in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_cri_line(&line);
        }

        /// Also near-valid lines, which get past the timestamp to the later fields.
        #[test]
        fn never_panics_on_near_valid_records(
            ts in any::<i64>(),
            text in text(),
            cut in any::<prop::sample::Index>(),
            junk in prop::collection::vec(any::<u8>(), 0..3),
        ) {
            let mut line = record(Timestamp(ts), b"stdout", b"P", &text);
            let at = cut.index(line.len() + 1);
            line.truncate(at);
            line.extend_from_slice(&junk);
            let _ = parse_cri_line(&line);
        }

        #[test]
        fn round_trips(
            ts in any::<i64>(),
            stderr in any::<bool>(),
            partial in any::<bool>(),
            text in text(),
            crlf in any::<bool>(),
        ) {
            let ts = Timestamp(ts);
            let stream = if stderr { LogStream::Stderr } else { LogStream::Stdout };
            let mut line = record(
                ts,
                if stderr { b"stderr" } else { b"stdout" },
                if partial { b"P" } else { b"F" },
                &text,
            );
            if text.is_empty() && crlf {
                // `<ts> stdout F` without the space before an empty text is accepted too.
                line.pop();
            }
            if crlf {
                line.push(b'\r');
            }
            let got = parse_cri_line(&line);
            prop_assert_eq!(got, Ok(CriLine { ts, stream, partial, text: &text[..] }));
        }

        #[test]
        fn refuses_other_streams(ts in any::<i64>(), stream in other_field(&[b"stdout", b"stderr"]), text in text()) {
            let line = record(Timestamp(ts), &stream, b"F", &text);
            prop_assert!(parse_cri_line(&line).is_err(), "{:?}", String::from_utf8_lossy(&line));
        }

        #[test]
        fn refuses_other_tags(ts in any::<i64>(), tag in other_field(&[b"P", b"F"]), text in text()) {
            let line = record(Timestamp(ts), b"stdout", &tag, &text);
            prop_assert!(parse_cri_line(&line).is_err(), "{:?}", String::from_utf8_lossy(&line));
        }
    }
}
