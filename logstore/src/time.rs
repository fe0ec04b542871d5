//! Timestamps: nanoseconds since the Unix epoch, parsed from and printed as
//! RFC 3339 (the CRI and Kubernetes format). The parser is hand-written
//! because CRI ingestion parses one timestamp per line and must stay fast.

use std::fmt;

use crate::{Error, Result};

/// A point in time, in nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Parses RFC 3339 with an optional fraction of up to 9 digits and a `Z`
    /// or `±HH:MM` offset, e.g. `2024-05-01T10:02:00.123456789Z`.
    pub fn parse_rfc3339(input: &str) -> Result<Self> {
        parse_rfc3339_bytes(input.as_bytes()).ok_or_else(|| Error::BadTime {
            input: input.to_owned(),
        })
    }

    pub fn saturating_add_nanos(self, d: i64) -> Self {
        Timestamp(self.0.saturating_add(d))
    }

    pub fn saturating_sub_nanos(self, d: i64) -> Self {
        Timestamp(self.0.saturating_sub(d))
    }
}

/// RFC 3339 with exactly nine fractional digits in UTC (`…T10:02:00.000000000Z`),
/// so printed timestamps sort as strings.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

/// Parses an RFC 3339 timestamp from bytes; `None` when malformed.
pub(crate) fn parse_rfc3339_bytes(b: &[u8]) -> Option<Timestamp> {
    fn num(b: &[u8]) -> Option<i64> {
        let mut v: i64 = 0;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    }
    if b.len() < 20 {
        return None;
    }
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = num(&b[0..4])?;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    let hour = num(&b[11..13])?;
    let min = num(&b[14..16])?;
    let sec = num(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac = frac * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits.min(9)..9 {
            frac *= 10;
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        s @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(&b[i + 1..i + 3])?;
            let om = num(&b[i + 4..i + 6])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *s == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    secs.checked_mul(1_000_000_000)?
        .checked_add(frac)
        .map(Timestamp)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

// Howard Hinnant's algorithms (public domain): days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_cri_timestamps() {
        let t = Timestamp::parse_rfc3339("2024-05-01T10:02:00.123456789Z").unwrap();
        let c = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:02:00.123456789Z").unwrap();
        assert_eq!(t.0, c.timestamp_nanos_opt().unwrap());
        assert_eq!(t.to_string(), "2024-05-01T10:02:00.123456789Z");
        let t2 = Timestamp::parse_rfc3339("2024-05-01T12:02:00.5+02:00").unwrap();
        assert_eq!(t2.0, t.0 - 123_456_789 + 500_000_000);
        assert_eq!(
            Timestamp::parse_rfc3339("2024-05-01T10:02:00Z").unwrap().0 % 1_000_000_000,
            0
        );
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-05-01T10:02:00",
            "2024-05-01T10:02:00.Z",
            "2024-05-01T10:02:00Zjunk",
        ] {
            assert!(
                matches!(Timestamp::parse_rfc3339(s), Err(Error::BadTime { .. })),
                "{s}"
            );
        }
    }

    proptest! {
        #[test]
        fn round_trips(n in 0i64..i64::MAX) {
            let t = Timestamp(n);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).unwrap(), t);
        }
    }
}
