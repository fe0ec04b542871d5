//! Monitoring and alerts: dashboards of a tenant's apps and pods (CPU, memory, threads,
//! sockets, file descriptors, network, restarts) read from Prometheus, and alert thresholds
//! kept as one Prometheus rule file per app. Every query goes through the server, which
//! scopes each vector selector to the tenant's namespaces (`promql`); the alerts Alertmanager
//! sends to the server's webhook are shown per tenant and per app, firing ones re-read from
//! Alertmanager and the history kept as Events (`alerts`). A tenant's own receivers
//! (`receivers`) become its route in Alertmanager's configuration (`alertmanager`); its
//! silences (`silences`) are Alertmanager's, bounded to its namespaces by the server.

use crate::{text, Text};
use serde::{Deserialize, Serialize};

pub use receivers::{Receiver, ReceiverKind, ReceiversView};
pub use silences::{MatchValue, NewSilence, SilenceRow, SilenceState, SilencesView};

pub mod receivers;
pub mod silences;

/// Time ranges the picker offers, in minutes (15 minutes to 7 days).
pub const RANGES: &[(u32, &str)] = &[
    (15, "15m"),
    (60, "1h"),
    (360, "6h"),
    (1440, "24h"),
    (4320, "3d"),
    (10080, "7d"),
];
/// Points per series a chart asks for (the step follows from the range).
pub const POINTS: u32 = 240;

/// A dashboard panel: what is measured, summed per pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Panel {
    Cpu,
    Memory,
    Threads,
    Sockets,
    Fds,
    NetIn,
    NetOut,
    Restarts,
    /// Calls the app received per second (from traces: needs APM).
    Requests,
    /// Failed received calls, % of all (from traces).
    Errors,
    /// p95 latency of received calls, ms (from traces).
    Latency,
}

impl Panel {
    pub const ALL: [Panel; 8] = [
        Panel::Cpu,
        Panel::Memory,
        Panel::Threads,
        Panel::Sockets,
        Panel::Fds,
        Panel::NetIn,
        Panel::NetOut,
        Panel::Restarts,
    ];

    /// The panels read from traces (the OpenTelemetry Collector's spanmetrics), per app.
    pub const TRACED: [Panel; 3] = [Panel::Requests, Panel::Errors, Panel::Latency];

    pub fn traced(self) -> bool {
        Panel::TRACED.contains(&self)
    }

    pub fn title(self) -> (&'static str, &'static str) {
        match self {
            Panel::Cpu => ("CPU (cores)", "CPU(核)"),
            Panel::Memory => ("Memory (working set)", "内存(工作集)"),
            Panel::Threads => ("Threads", "线程数"),
            Panel::Sockets => ("Sockets", "套接字数"),
            Panel::Fds => ("File descriptors", "文件描述符"),
            Panel::NetIn => ("Network in (bytes/s)", "网络入(字节/秒)"),
            Panel::NetOut => ("Network out (bytes/s)", "网络出(字节/秒)"),
            Panel::Restarts => ("Restarts", "重启次数"),
            Panel::Requests => ("Requests (calls/s)", "请求率(次/秒)"),
            Panel::Errors => ("Failed calls (%)", "失败调用(%)"),
            Panel::Latency => ("p95 latency (ms)", "p95 延迟(毫秒)"),
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Panel::Cpu => "cpu",
            Panel::Memory => "memory",
            Panel::Threads => "threads",
            Panel::Sockets => "sockets",
            Panel::Fds => "fds",
            Panel::NetIn => "net-in",
            Panel::NetOut => "net-out",
            Panel::Restarts => "restarts",
            Panel::Requests => "requests",
            Panel::Errors => "errors",
            Panel::Latency => "latency",
        }
    }

    /// Values are bytes (axis labels in KiB/MiB/GiB).
    pub fn bytes(self) -> bool {
        matches!(self, Panel::Memory | Panel::NetIn | Panel::NetOut)
    }
}

/// Whose series a panel shows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// Every pod of the tenant.
    Tenant,
    /// The pods of one app (Deployment).
    App {
        namespace: String,
        name: String,
    },
    Pod {
        namespace: String,
        name: String,
    },
}

/// One line of a chart: unix seconds and values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

/// What a chart draws.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PanelData {
    pub series: Vec<Series>,
    /// The app's alert threshold for this panel, drawn as a line (same unit as the series).
    pub threshold: Option<f64>,
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    /// Set when there is nothing to show and why (e.g. monitoring is not configured).
    pub notice: Option<Text>,
}

/// Alert thresholds of an app, as typed (empty = no alert). Kept as text so the form can say
/// exactly what is wrong with what was typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertThresholds {
    /// CPU use in % of the container's limit.
    #[serde(default)]
    pub cpu_percent: String,
    /// Memory working set in % of the container's limit.
    #[serde(default)]
    pub memory_percent: String,
    #[serde(default)]
    pub threads: String,
    #[serde(default)]
    pub sockets: String,
    /// Failed received calls in % of all received calls over 5 minutes (from traces: needs APM).
    #[serde(default)]
    pub error_percent: String,
    /// p95 latency of received calls over 5 minutes, in milliseconds (from traces: needs APM).
    #[serde(default)]
    pub p95_ms: String,
    /// How long the condition must hold before the alert fires: `30s`, `5m`, `1h` (default 1m).
    #[serde(default)]
    pub duration: String,
}

/// What the form says under the error-ratio and latency fields: they are read from traces.
pub const TRACED_THRESHOLDS_HINT: (&str, &str) = (
    "Failed calls and p95 latency (over 5 minutes) come from traces: they need APM turned on for the app (its pods traced by the OpenTelemetry agent).",
    "失败调用与 p95 延迟(5 分钟内)来自调用链:需要为应用开启 APM(由 OpenTelemetry 探针追踪其 Pod)。",
);

/// Checked thresholds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub threads: Option<u64>,
    pub sockets: Option<u64>,
    pub error_percent: Option<f64>,
    pub p95_ms: Option<u64>,
    pub duration: String,
}

/// The highest p95 latency threshold, in ms (10 minutes): above it, a typo more than a wish.
pub const MAX_P95_MS: u64 = 600_000;

impl AlertThresholds {
    pub fn is_empty(&self) -> bool {
        [
            &self.cpu_percent,
            &self.memory_percent,
            &self.threads,
            &self.sockets,
            &self.error_percent,
            &self.p95_ms,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }

    /// The thresholds, or one sentence per field that is wrong.
    pub fn parse(&self) -> Result<Thresholds, Vec<Text>> {
        let mut errors = Vec::new();
        let mut percent = |field: Text, v: &str| -> Option<f64> {
            let v = v.trim().trim_end_matches('%').trim();
            if v.is_empty() {
                return None;
            }
            let not_a_number = || text!("{field}: '{v}' is not a number", "{field}:“{v}”不是数字");
            match v.parse::<f64>() {
                Ok(n) if !n.is_finite() => errors.push(not_a_number()),
                Ok(n) if n < 0.0 => errors.push(text!(
                    "{field}: {v} is negative; give a percentage between 1 and 100",
                    "{field}:{v} 是负数,请填写 1 到 100 之间的百分比"
                )),
                Ok(0.0) => errors.push(text!(
                    "{field}: 0 % would always fire; give a percentage between 1 and 100",
                    "{field}:0% 会一直触发告警,请填写 1 到 100 之间的百分比"
                )),
                Ok(n) if n > 100.0 => errors.push(text!(
                    "{field}: {v} % is over 100 %; give a percentage of the limit between 1 and 100",
                    "{field}:{v}% 超过了 100%,请填写占上限 1 到 100 之间的百分比"
                )),
                Ok(n) => return Some(n),
                Err(_) => errors.push(not_a_number()),
            }
            None
        };
        let cpu_percent = percent(
            text!("CPU alert (% of limit)", "CPU 告警(占上限的 %)"),
            &self.cpu_percent,
        );
        let memory_percent = percent(
            text!("memory alert (% of limit)", "内存告警(占上限的 %)"),
            &self.memory_percent,
        );
        let error_percent = percent(
            text!("error ratio alert (% of calls)", "错误率告警(占调用的 %)"),
            &self.error_percent,
        );
        let mut count = |field: Text, v: &str| -> Option<u64> {
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            if v.starts_with('-') && v[1..].parse::<f64>().is_ok() {
                errors.push(text!(
                    "{field}: {v} is negative; give a whole number of at least 1",
                    "{field}:{v} 是负数,请填写不小于 1 的整数"
                ));
            } else {
                match v.parse::<u64>() {
                    Ok(0) => errors.push(text!(
                        "{field}: 0 would always fire; give a whole number of at least 1",
                        "{field}:0 会一直触发告警,请填写不小于 1 的整数"
                    )),
                    Ok(n) => return Some(n),
                    Err(_) => errors.push(text!(
                        "{field}: '{v}' is not a whole number",
                        "{field}:“{v}”不是整数"
                    )),
                }
            }
            None
        };
        let threads = count(text!("threads alert", "线程数告警"), &self.threads);
        let sockets = count(text!("sockets alert", "连接数告警"), &self.sockets);
        let p95_ms = (|| {
            let field = text!("p95 latency alert (ms)", "p95 延迟告警(毫秒)");
            let v = self.p95_ms.trim();
            let v = v.strip_suffix("ms").unwrap_or(v).trim();
            if v.is_empty() {
                return None;
            }
            if v.starts_with('-') && v[1..].parse::<f64>().is_ok() {
                errors.push(text!(
                    "{field}: {v} is negative; give a whole number of milliseconds, e.g. 500",
                    "{field}:{v} 是负数,请填写整数毫秒数,如 500"
                ));
                return None;
            }
            match v.parse::<u64>() {
                Ok(0) => errors.push(text!(
                    "{field}: 0 ms would always fire; give a whole number of milliseconds, e.g. 500",
                    "{field}:0 毫秒会一直触发告警,请填写整数毫秒数,如 500"
                )),
                Ok(n) if n > MAX_P95_MS => errors.push(text!(
                    "{field}: {v} ms is over {MAX_P95_MS} ms (10 minutes); give a whole number of milliseconds, e.g. 500",
                    "{field}:{v} 毫秒超过了 {MAX_P95_MS} 毫秒(10 分钟),请填写整数毫秒数,如 500"
                )),
                Ok(n) => return Some(n),
                Err(_) => errors.push(text!(
                    "{field}: '{v}' is not a whole number of milliseconds, e.g. 500",
                    "{field}:“{v}”不是整数毫秒数,请填写如 500"
                )),
            }
            None
        })();
        let d = self.duration.trim();
        let duration = if d.is_empty() {
            "1m".to_string()
        } else {
            d.to_string()
        };
        let unit_ok = duration.len() >= 2
            && matches!(duration.as_bytes()[duration.len() - 1], b's' | b'm' | b'h');
        let n_ok = duration[..duration.len().saturating_sub(1)]
            .parse::<u32>()
            .is_ok_and(|n| n <= 7 * 24 * 3600);
        if !(unit_ok && n_ok) {
            errors.push(text!(
                "alert duration: '{d}' is not a duration; write e.g. 30s, 5m or 1h",
                "告警持续时间:“{d}”不是有效的时长,请填写如 30s、5m 或 1h"
            ));
        }
        if errors.is_empty() {
            Ok(Thresholds {
                cpu_percent,
                memory_percent,
                threads,
                sockets,
                error_percent,
                p95_ms,
                duration,
            })
        } else {
            Err(errors)
        }
    }
}

/// An alert as Alertmanager reported it to the server's webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    /// Alertmanager's fingerprint.
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub app: String,
    pub pod: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub summary: String,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: Option<String>,
    /// RFC 3339: when the server last heard of it.
    pub updated: String,
    /// The silences muting it now (Alertmanager's `status.silencedBy`; empty: not silenced).
    #[serde(default)]
    pub silenced_by: Vec<String>,
}

impl AlertRow {
    pub fn silenced(&self) -> bool {
        self.status == "firing" && !self.silenced_by.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(cpu: &str, mem: &str, threads: &str, sockets: &str, d: &str) -> AlertThresholds {
        AlertThresholds {
            cpu_percent: cpu.into(),
            memory_percent: mem.into(),
            threads: threads.into(),
            sockets: sockets.into(),
            duration: d.into(),
            ..Default::default()
        }
    }

    #[test]
    fn good_thresholds_parse() {
        let p = t("80", "90%", "200", "", "30s").parse().unwrap();
        assert_eq!(p.cpu_percent, Some(80.0));
        assert_eq!(p.memory_percent, Some(90.0));
        assert_eq!(p.threads, Some(200));
        assert_eq!(p.sockets, None);
        assert_eq!(p.duration, "30s");
        assert_eq!(t("", "", "", "", "").parse().unwrap().duration, "1m");
    }

    #[test]
    fn bad_thresholds_are_explained() {
        let errs = t("150", "-5", "lots", "-3", "soon").parse().unwrap_err();
        assert!(errs[0].en.contains("over 100 %"), "{errs:?}");
        assert!(errs[1].en.contains("negative"), "{errs:?}");
        assert!(
            errs[2].en.contains("'lots' is not a whole number"),
            "{errs:?}"
        );
        assert!(errs[3].en.contains("negative"), "{errs:?}");
        assert!(errs[4].en.contains("not a duration"), "{errs:?}");
        assert!(t("abc", "", "", "", "").parse().unwrap_err()[0]
            .en
            .contains("'abc' is not a number"));
        assert!(t("NaN", "", "", "", "").parse().is_err());
        assert!(t("", "", "1.5", "", "").parse().is_err());
    }

    fn traced(error_percent: &str, p95_ms: &str) -> Result<Thresholds, Vec<Text>> {
        AlertThresholds {
            error_percent: error_percent.into(),
            p95_ms: p95_ms.into(),
            ..Default::default()
        }
        .parse()
    }

    #[test]
    fn good_error_ratio_and_latency_thresholds_parse() {
        for (typed, want) in [("5", 5.0), ("0.5", 0.5), (" 2.5 % ", 2.5), ("100", 100.0)] {
            assert_eq!(
                traced(typed, "").unwrap().error_percent,
                Some(want),
                "{typed}"
            );
        }
        for (typed, want) in [
            ("500", 500),
            ("250ms", 250),
            (" 1000 ms ", 1000),
            ("600000", 600_000),
        ] {
            assert_eq!(traced("", typed).unwrap().p95_ms, Some(want), "{typed}");
        }
        let p = traced("", "").unwrap();
        assert_eq!((p.error_percent, p.p95_ms), (None, None));
    }

    #[test]
    fn bad_error_ratio_and_latency_thresholds_are_explained_in_both_languages() {
        for (typed, says) in [
            ("150", "over 100 %"),
            ("-1", "negative"),
            ("0", "would always fire"),
            ("many", "'many' is not a number"),
            ("inf", "is not a number"),
        ] {
            let errs = traced(typed, "").unwrap_err();
            assert_eq!(errs.len(), 1, "{typed}: {errs:?}");
            assert!(errs[0].en.starts_with("error ratio alert"), "{errs:?}");
            assert!(errs[0].en.contains(says), "{typed}: {errs:?}");
            assert!(errs[0].zh.starts_with("错误率告警"), "{errs:?}");
        }
        for (typed, says, zh) in [
            ("0", "0 ms would always fire", "会一直触发"),
            ("0ms", "0 ms would always fire", "会一直触发"),
            ("-20", "-20 is negative", "是负数"),
            (
                "slow",
                "'slow' is not a whole number of milliseconds",
                "不是整数毫秒数",
            ),
            ("1.5", "'1.5' is not a whole number", "不是整数毫秒数"),
            ("0.5s", "'0.5s' is not a whole number", "不是整数毫秒数"),
            ("600001", "is over 600000 ms", "超过了 600000 毫秒"),
            (
                "99999999999999999999",
                "is not a whole number",
                "不是整数毫秒数",
            ),
        ] {
            let errs = traced("", typed).unwrap_err();
            assert_eq!(errs.len(), 1, "{typed}: {errs:?}");
            assert!(
                errs[0].en.starts_with("p95 latency alert (ms): "),
                "{errs:?}"
            );
            assert!(errs[0].en.contains(says), "{typed}: {errs:?}");
            assert!(errs[0].zh.starts_with("p95 延迟告警"), "{errs:?}");
            assert!(errs[0].zh.contains(zh), "{typed}: {errs:?}");
        }
        assert_eq!(traced("abc", "0").unwrap_err().len(), 2);
    }

    #[test]
    fn old_deploy_forms_without_thresholds_still_read() {
        let v: AlertThresholds = serde_json::from_str("{}").unwrap();
        assert!(v.is_empty());
        let v: AlertThresholds =
            serde_json::from_str(r#"{"threads": "", "sockets": "", "duration": "1m"}"#).unwrap();
        assert_eq!((v.error_percent.as_str(), v.p95_ms.as_str()), ("", ""));
        assert!(v.is_empty());
    }

    #[test]
    fn error_ratio_or_latency_alone_is_a_threshold() {
        for t in [
            AlertThresholds {
                error_percent: "5".into(),
                ..Default::default()
            },
            AlertThresholds {
                p95_ms: "500".into(),
                ..Default::default()
            },
        ] {
            assert!(!t.is_empty(), "{t:?}");
        }
    }
}
