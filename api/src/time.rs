//! Timestamps as people read them: "3m ago", with the exact time on hover.

use crate::{text, Text};
use chrono::{DateTime, Utc};

/// "just now", "45s ago", "3m ago", "5h ago", "2d ago".
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        0..=4 => "just now".to_string(),
        5..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// The exact time for a tooltip, in UTC.
pub fn exact(then: DateTime<Utc>) -> String {
    then.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An RFC 3339 time as [`exact`] shows it ("2024-05-01 10:00:00 UTC"); the text itself when it
/// does not read.
pub fn exact_rfc3339(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| exact(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// A `datetime-local` value (the browser's local time, no zone) as RFC 3339; `field` names the
/// input in the refusal.
pub fn local_to_rfc3339(field: &Text, value: &str) -> Result<String, Text> {
    use chrono::TimeZone;
    let v = value.trim();
    let naive = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| {
            text!(
                "{field}: '{v}' is not a time; pick a date and time",
                "{field}:“{v}”不是有效的时间,请选择日期和时间"
            )
        })?;
    let local = chrono::Local
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| {
            text!(
                "{field}: {v} does not exist in this time zone",
                "{field}:{v} 在当前时区中不存在"
            )
        })?;
    Ok(local.with_timezone(&Utc).to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        let now = Utc::now();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - Duration::seconds(45), now), "45s ago");
        assert_eq!(ago(now - Duration::minutes(3), now), "3m ago");
        assert_eq!(ago(now - Duration::hours(5), now), "5h ago");
        assert_eq!(ago(now - Duration::days(2), now), "2d ago");
        // a clock slightly behind the server's never shows a negative age
        assert_eq!(ago(now + Duration::seconds(3), now), "just now");
    }
}
