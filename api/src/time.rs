//! Timestamps as people read them: "3m ago", with the exact time on hover.

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
