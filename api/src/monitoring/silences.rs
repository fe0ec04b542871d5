//! Silences: an operator mutes a tenant's alerts for a while (maintenance), from the alerts
//! page, through Alertmanager's v2 API (`GET /api/v2/silences`, `POST /api/v2/silences`,
//! `GET`/`DELETE /api/v2/silence/{id}`). Alertmanager keeps them; the console keeps nothing.
//!
//! Tenant isolation is the server's ([`ssr`]), whatever the request says:
//! * every silence the console creates carries `namespace="<ns>"`, an equal match on one
//!   namespace of the tenant — the other matchers (app, alert, pod; equal or regex) can only
//!   narrow it, so a tenant never silences another tenant's alerts;
//! * a tenant lists only silences with a positive namespace matcher that lies within its
//!   namespaces ([`within`]): silences made elsewhere (amtool) that reach further are not
//!   shown, and cannot be expired from the console;
//! * expiring reads the silence first; one that is not the tenant's answers exactly like one
//!   that does not exist.
//!
//! What was typed is checked here on both sides ([`NewSilence::check`]): the page to answer at
//! once, the server because it decides. `createdBy` is always the signed-in user.

use crate::{text, Text};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The label alerts carry their app in (see `rules`).
pub const APP_LABEL: &str = "wharf_app";
/// Longest silence the console creates.
pub const MAX_DAYS: i64 = 30;
/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 500;
/// Longest matcher value (a pod name is at most 253; regexes get some room).
pub const MAX_VALUE: usize = 256;
/// Expired silences are listed for this long after they ended (Alertmanager keeps them for
/// its `--data.retention`, 120 h by default).
pub const RECENT_HOURS: i64 = 24;

/// One matcher value as typed: a label value, or a regex it must match in full.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchValue {
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub regex: bool,
}

impl MatchValue {
    pub fn equal(value: impl Into<String>) -> Self {
        MatchValue {
            value: value.into(),
            regex: false,
        }
    }
}

/// A silence as the page asks for it. The namespace is one of the tenant's; the app is
/// required, the alert name and the pod are optional (empty: any). How long: a `duration`
/// (`2h`, `90m`, `1d12h`) or an end time (`ends_at`, RFC 3339), one of the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSilence {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub app: MatchValue,
    #[serde(default)]
    pub alertname: MatchValue,
    #[serde(default)]
    pub pod: MatchValue,
    #[serde(default)]
    pub duration: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub comment: String,
}

/// One matcher of a silence, as Alertmanager keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub regex: bool,
    /// `false`: a negative matcher (`!=`, `!~`).
    pub equal: bool,
}

impl std::fmt::Display for SilenceMatcher {
    /// `name="value"`, `name=~"re"`, `name!="value"`, `name!~"re"` (PromQL's notation).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.equal, self.regex) {
            (true, false) => "=",
            (true, true) => "=~",
            (false, false) => "!=",
            (false, true) => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    /// Starts later.
    Pending,
    Expired,
}

impl SilenceState {
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            SilenceState::Active => ("active", "生效中"),
            SilenceState::Pending => ("pending", "待生效"),
            SilenceState::Expired => ("expired", "已过期"),
        }
    }
    pub fn slug(self) -> &'static str {
        self.label().0
    }
}

/// A silence as the alerts page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceRow {
    pub id: String,
    pub state: SilenceState,
    pub matchers: Vec<SilenceMatcher>,
    pub created_by: String,
    pub comment: String,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    pub updated_at: String,
}

/// What the alerts page shows of a tenant's silences.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilencesView {
    /// The console knows an Alertmanager (silences can be listed and created at all).
    pub configured: bool,
    /// Active and pending first, then those expired in the last [`RECENT_HOURS`].
    pub silences: Vec<SilenceRow>,
}

/// A checked [`NewSilence`]: the matchers besides the namespace one, and when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub namespace: String,
    pub matchers: Vec<SilenceMatcher>,
    pub ends_at: DateTime<Utc>,
    pub comment: String,
}

/// `2h`, `90m`, `1d12h`, `30s`: a sequence of whole numbers with a unit (s, m, h, d).
pub fn parse_duration(value: &str) -> Result<Duration, Text> {
    let t = value.trim();
    let bad = || {
        text!(
            "duration: '{t}' is not a duration; write e.g. 30m, 2h or 1d",
            "时长:“{t}”不是有效的时长,请填写如 30m、2h 或 1d"
        )
    };
    if let Some(rest) = t.strip_prefix('-') {
        return match parse_duration(rest) {
            Ok(_) => Err(text!(
                "duration: '{t}' is negative; give how long the silence lasts, more than 0",
                "时长:“{t}”是负数,请填写大于 0 的静默时长"
            )),
            Err(_) => Err(bad()),
        };
    }
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        // NB: more than 9 digits is past any sensible silence, and keeps the sum in range
        if digits.is_empty() || digits.len() > 9 {
            return Err(if digits.is_empty() {
                bad()
            } else {
                too_long(t)
            });
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        total += n * unit;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(if total == 0 && t.chars().all(|c| c.is_ascii_digit()) {
            text!(
                "duration: '{t}' needs a unit; write e.g. {t}m or {t}h",
                "时长:“{t}”缺少单位,请写成如 {t}m 或 {t}h"
            )
        } else {
            bad()
        });
    }
    if total == 0 {
        return Err(text!(
            "duration: '{t}' would end the silence at once; give more than 0",
            "时长:“{t}”会让静默立即结束,请填写大于 0 的时长"
        ));
    }
    if total > MAX_DAYS * 86_400 {
        return Err(too_long(t));
    }
    Ok(Duration::seconds(total))
}

fn too_long(t: &str) -> Text {
    text!(
        "duration: '{t}' is longer than a silence may last ({MAX_DAYS} days)",
        "时长:“{t}”超过了静默的最长时限({MAX_DAYS} 天)"
    )
}

/// The short reason a regex does not compile ("unclosed group").
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string())
}

/// Checks one matcher value; `Ok(None)`: left empty (matches any).
fn matcher(
    field: &Text,
    label: &str,
    m: &MatchValue,
    plain: impl Fn(&str) -> Result<(), Text>,
) -> Result<Option<SilenceMatcher>, Text> {
    let v = m.value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > MAX_VALUE {
        return Err(text!(
            "{field}: at most {MAX_VALUE} characters",
            "{field}:最多 {MAX_VALUE} 个字符"
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(text!(
            "{field}: control characters are not allowed",
            "{field}:不能包含控制字符"
        ));
    }
    if m.regex {
        // NB: Alertmanager anchors a regex matcher (Go's RE2); Rust's regex crate reads the same syntax
        regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| {
            let why = regex_error(&e);
            text!(
                "{field}: '{v}' is not a regular expression: {why}",
                "{field}:“{v}”不是有效的正则表达式:{why}"
            )
        })?;
    } else {
        plain(v)?;
    }
    Ok(Some(SilenceMatcher {
        name: label.into(),
        value: v.into(),
        regex: m.regex,
        equal: true,
    }))
}

/// A pod name: lower-case letters, digits, `-` and `.`, at most 253.
fn pod_name(v: &str) -> Result<(), Text> {
    if v.len() <= 253
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        Ok(())
    } else {
        Err(text!(
            "pod: '{v}' is not a pod name (lower-case letters, digits, '-' and '.'); tick regex for a pattern",
            "Pod:“{v}”不是有效的 Pod 名称(小写字母、数字、“-”和“.”);如需模式匹配请勾选正则"
        ))
    }
}

impl NewSilence {
    /// The form pre-filled from a firing alert: its namespace, app and alert name, for 2 hours.
    pub fn for_alert(a: &super::AlertRow) -> NewSilence {
        NewSilence {
            namespace: a.namespace.clone(),
            app: MatchValue::equal(a.app.clone()),
            alertname: MatchValue::equal(a.name.clone()),
            duration: "2h".into(),
            ..Default::default()
        }
    }

    /// Checks everything but whether the namespace is the tenant's (the server's part);
    /// every problem is named, joined by "; ".
    pub fn check(&self, now: DateTime<Utc>) -> Result<Checked, Text> {
        let mut errors = Vec::new();
        let namespace = self.namespace.trim().to_string();
        if namespace.is_empty() {
            errors.push(text!(
                "namespace: choose one of the tenant's namespaces",
                "命名空间:请选择租户的一个命名空间"
            ));
        }
        let mut matchers = Vec::new();
        let app = |v: &str| crate::workloads::validate::name(&text!("app", "应用"), v);
        let alertname = |v: &str| {
            if v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            {
                Ok(())
            } else {
                Err(text!(
                    "alert: '{v}' is not an alert name (letters, digits, '_' and ':'); tick regex for a pattern",
                    "告警:“{v}”不是有效的告警名称(字母、数字、“_”和“:”);如需模式匹配请勾选正则"
                ))
            }
        };
        for (field, label, m, check) in [
            (
                text!("app", "应用"),
                APP_LABEL,
                &self.app,
                &app as &dyn Fn(&str) -> Result<(), Text>,
            ),
            (
                text!("alert", "告警"),
                "alertname",
                &self.alertname,
                &alertname,
            ),
            (text!("pod", "Pod"), "pod", &self.pod, &pod_name),
        ] {
            match matcher(&field, label, m, check) {
                Ok(Some(m)) => matchers.push(m),
                Ok(None) if label == APP_LABEL => errors.push(text!(
                    "app: required (a silence covers one app, or the apps a regex matches)",
                    "应用:必填(一条静默作用于一个应用,或正则匹配到的应用)"
                )),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        let (duration, end) = (self.duration.trim(), self.ends_at.trim());
        let ends_at = match (duration.is_empty(), end.is_empty()) {
            (true, true) => Err(text!(
                "how long: give a duration (e.g. 2h) or an end time",
                "持续时间:请填写时长(如 2h)或结束时间"
            )),
            (false, false) => Err(text!(
                "how long: give a duration or an end time, not both",
                "持续时间:时长和结束时间只能填一个"
            )),
            (false, true) => parse_duration(duration).map(|d| now + d),
            (true, false) => match DateTime::parse_from_rfc3339(end) {
                Err(_) => Err(text!(
                    "end: '{end}' is not a time; pick a date and time",
                    "结束时间:“{end}”不是有效的时间,请选择日期和时间"
                )),
                Ok(t) if t.with_timezone(&Utc) <= now => {
                    let at = crate::time::exact(t.with_timezone(&Utc));
                    Err(text!(
                        "end: {at} is in the past; pick a time after now",
                        "结束时间:{at} 已经过去,请选择当前之后的时间"
                    ))
                }
                Ok(t) if t.with_timezone(&Utc) > now + Duration::days(MAX_DAYS) => Err(text!(
                    "end: more than {MAX_DAYS} days away; a silence may last {MAX_DAYS} days at most",
                    "结束时间:超过 {MAX_DAYS} 天之后;静默最长持续 {MAX_DAYS} 天"
                )),
                Ok(t) => Ok(t.with_timezone(&Utc)),
            },
        };
        let ends_at = ends_at.map_err(|e| errors.push(e)).ok();
        let comment = self.comment.trim().to_string();
        if comment.is_empty() {
            errors.push(text!(
                "comment: say why (everyone who sees the silence reads it)",
                "备注:请说明原因(所有看到这条静默的人都会读到)"
            ));
        } else if comment.chars().count() > MAX_COMMENT {
            let got = comment.chars().count();
            errors.push(text!(
                "comment: at most {MAX_COMMENT} characters (got {got})",
                "备注:最多 {MAX_COMMENT} 个字符(当前 {got} 个)"
            ));
        }
        match ends_at {
            Some(ends_at) if errors.is_empty() => Ok(Checked {
                namespace,
                matchers,
                ends_at,
                comment,
            }),
            _ => Err(Text::join(&errors, "; ", ";")),
        }
    }
}

/// The silence only covers alerts in `namespaces`: one of its positive namespace matchers
/// names only those (an equal match, or a regex that is a plain list `a|b`). A regex with
/// anything else in it counts as reaching further, whatever it would match.
pub fn within(matchers: &[SilenceMatcher], namespaces: &[String]) -> bool {
    let mine = |n: &str| namespaces.iter().any(|x| x == n);
    matchers
        .iter()
        .filter(|m| m.name == "namespace" && m.equal)
        .any(|m| {
            if m.regex {
                m.value.split('|').all(|alt| {
                    alt.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && mine(alt)
                })
            } else {
                mine(&m.value)
            }
        })
}

/// An Alertmanager silence id (a UUID): anything else cannot be one, and is not sent on.
pub fn is_silence_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> NewSilence {
        NewSilence {
            namespace: "alpha".into(),
            app: MatchValue::equal("orders"),
            duration: "2h".into(),
            comment: "database upgrade".into(),
            ..Default::default()
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn m(name: &str, value: &str, regex: bool, equal: bool) -> SilenceMatcher {
        SilenceMatcher {
            name: name.into(),
            value: value.into(),
            regex,
            equal,
        }
    }

    #[test]
    fn durations_read_and_are_bounded() {
        assert_eq!(parse_duration("2h"), Ok(Duration::hours(2)));
        assert_eq!(parse_duration(" 1d12h "), Ok(Duration::hours(36)));
        assert_eq!(parse_duration("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("30d"), Ok(Duration::days(30)));
        for (bad, says) in [
            ("0h", "at once"),
            ("0m0s", "at once"),
            ("-2h", "negative"),
            ("31d", "longer than a silence may last"),
            ("9999999999h", "longer than a silence may last"),
            ("2", "needs a unit"),
            ("soon", "not a duration"),
            ("h", "not a duration"),
            ("2h30", "not a duration"),
            ("", "not a duration"),
            ("-", "not a duration"),
        ] {
            let e = parse_duration(bad).unwrap_err().en;
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_good_form_checks_out() {
        let c = form().check(now()).unwrap();
        assert_eq!(c.namespace, "alpha");
        assert_eq!(c.matchers, vec![m(APP_LABEL, "orders", false, true)]);
        assert_eq!(c.ends_at, now() + Duration::hours(2));
        let with_all = NewSilence {
            alertname: MatchValue::equal("WharfThreadsHigh"),
            pod: MatchValue {
                value: "orders-.*".into(),
                regex: true,
            },
            duration: String::new(),
            ends_at: "2024-05-02T08:00:00+08:00".into(),
            ..form()
        };
        let c = with_all.check(now()).unwrap();
        assert_eq!(
            c.matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            vec![
                "wharf_app=\"orders\"",
                "alertname=\"WharfThreadsHigh\"",
                "pod=~\"orders-.*\""
            ]
        );
        assert_eq!(
            c.ends_at,
            DateTime::parse_from_rfc3339("2024-05-02T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
        );
    }

    #[test]
    fn bad_forms_are_explained() {
        let cases = [
            (
                NewSilence {
                    comment: "  ".into(),
                    ..form()
                },
                "comment: say why",
            ),
            (
                NewSilence {
                    comment: "x".repeat(MAX_COMMENT + 1),
                    ..form()
                },
                "at most 500 characters",
            ),
            (
                NewSilence {
                    duration: "0m".into(),
                    ..form()
                },
                "at once",
            ),
            (
                NewSilence {
                    duration: "-1h".into(),
                    ..form()
                },
                "negative",
            ),
            (
                NewSilence {
                    duration: "45d".into(),
                    ..form()
                },
                "30 days",
            ),
            (
                NewSilence {
                    duration: String::new(),
                    ends_at: "2024-05-01T09:00:00Z".into(),
                    ..form()
                },
                "in the past",
            ),
            (
                NewSilence {
                    duration: String::new(),
                    ends_at: "2024-07-01T09:00:00Z".into(),
                    ..form()
                },
                "30 days",
            ),
            (
                NewSilence {
                    duration: String::new(),
                    ends_at: "tomorrow".into(),
                    ..form()
                },
                "not a time",
            ),
            (
                NewSilence {
                    duration: String::new(),
                    ..form()
                },
                "give a duration (e.g. 2h) or an end time",
            ),
            (
                NewSilence {
                    ends_at: "2024-05-01T12:00:00Z".into(),
                    ..form()
                },
                "not both",
            ),
            (
                NewSilence {
                    app: MatchValue::default(),
                    ..form()
                },
                "app: required",
            ),
            (
                NewSilence {
                    app: MatchValue::equal("Orders!"),
                    ..form()
                },
                "lower-case",
            ),
            (
                NewSilence {
                    pod: MatchValue {
                        value: "orders-(".into(),
                        regex: true,
                    },
                    ..form()
                },
                "'orders-(' is not a regular expression: unclosed group",
            ),
            (
                NewSilence {
                    alertname: MatchValue {
                        value: "a[".into(),
                        regex: true,
                    },
                    ..form()
                },
                "is not a regular expression",
            ),
            (
                NewSilence {
                    pod: MatchValue::equal("orders-*"),
                    ..form()
                },
                "tick regex",
            ),
            (
                NewSilence {
                    namespace: " ".into(),
                    ..form()
                },
                "namespace: choose",
            ),
        ];
        for (f, says) in cases {
            let e = f.check(now()).unwrap_err().en;
            assert!(e.contains(says), "{f:?}: {e}");
        }
        // every problem at once
        let e = NewSilence {
            comment: String::new(),
            duration: "0h".into(),
            ..form()
        }
        .check(now())
        .unwrap_err();
        assert!(e.en.contains("comment") && e.en.contains("at once"), "{e}");
        assert!(
            e.zh.contains("备注") && e.zh.contains("立即结束"),
            "{}",
            e.zh
        );
    }

    #[test]
    fn only_silences_bounded_to_the_tenants_namespaces_are_its_own() {
        let ns = vec!["alpha".to_string(), "alpha-dev".to_string()];
        let app = m(APP_LABEL, "orders", false, true);
        assert!(within(
            &[m("namespace", "alpha", false, true), app.clone()],
            &ns
        ));
        assert!(within(
            &[app.clone(), m("namespace", "alpha|alpha-dev", true, true)],
            &ns
        ));
        // narrowing further with another namespace matcher is still within
        assert!(within(
            &[
                m("namespace", "alpha", false, true),
                m("namespace", "beta", false, false)
            ],
            &ns
        ));
        for outside in [
            vec![app.clone()],
            vec![m("namespace", "beta", false, true)],
            vec![m("namespace", "alpha|beta", true, true)],
            vec![m("namespace", "alpha.*", true, true)],
            vec![m("namespace", "alph(a)", true, true)],
            vec![m("namespace", "beta", false, false)],
            vec![m("namespace", "alpha", false, false)],
            vec![m("Namespace", "alpha", false, true)],
        ] {
            assert!(!within(&outside, &ns), "{outside:?}");
        }
    }

    #[test]
    fn silence_ids_are_uuids() {
        assert!(is_silence_id("002fe24b-98dc-475f-bc48-392b176a984a"));
        for bad in [
            "",
            "x",
            "../alerts",
            "002fe24b-98dc-475f-bc48-392b176a984a/",
            "002fe24b+98dc-475f-bc48-392b176a984a",
            "002fe24b-98dc-475f-bc48-392b176a984g",
        ] {
            assert!(!is_silence_id(bad), "{bad}");
        }
    }
}
