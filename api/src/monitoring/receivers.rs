//! A tenant's own alert receivers — a webhook URL or an e-mail address — as the alerts page
//! shows and edits them, and the checks both sides run on what was typed (the browser to
//! answer at once, the server because it is the one that decides). They are kept in the
//! cluster, in the tenant's `spec.alerting.receivers`; the server turns them into
//! Alertmanager's configuration (see `alertmanager`).

use crate::{text, Text};
use serde::{Deserialize, Serialize};

/// Most receivers a tenant may have.
pub const MAX_RECEIVERS: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReceiverKind {
    Webhook,
    Email,
}

impl ReceiverKind {
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            ReceiverKind::Webhook => ("Webhook", "Webhook"),
            ReceiverKind::Email => ("E-mail", "邮件"),
        }
    }
}

/// One receiver: `to` is the webhook URL or the e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverKind,
    pub to: String,
}

/// What the alerts page shows of a tenant's receivers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiversView {
    pub receivers: Vec<Receiver>,
    /// The console writes Alertmanager's configuration (receivers can be added at all).
    pub managed: bool,
    /// SMTP is configured (e-mail receivers can be added).
    pub email: bool,
}

/// `ops-team`: lowercase letters, digits and `-`, at most 63, starting and ending with a
/// letter or digit (so it can be part of Alertmanager's receiver name and a label value).
pub fn check_name(name: &str) -> Result<(), Text> {
    if crate::names::is_dns_label(name) {
        Ok(())
    } else if name.is_empty() {
        Err(text!(
            "receiver name: a name is required",
            "接收者名称:必填"
        ))
    } else {
        Err(text!(
            "receiver name: '{name}' must be lowercase letters, digits and '-' (at most 63, not starting or ending with '-')",
            "接收者名称:“{name}”只能包含小写字母、数字和“-”(最多 63 个,不能以“-”开头或结尾)"
        ))
    }
}

/// An `http://` or `https://` URL with a host, no spaces or quotes, at most 2048 bytes.
pub fn check_url(url: &str) -> Result<(), Text> {
    let bad = || {
        Err(text!(
            "webhook URL: '{url}' is not a URL; write e.g. https://hooks.example.org/alerts",
            "Webhook 地址:“{url}”不是有效的 URL,请填写如 https://hooks.example.org/alerts"
        ))
    };
    if url.len() > 2048
        || url.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`')
        })
    {
        return bad();
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return if url.contains("://") {
            Err(text!(
                "webhook URL: '{url}' must start with http:// or https://",
                "Webhook 地址:“{url}”必须以 http:// 或 https:// 开头"
            ))
        } else {
            bad()
        };
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return bad(),
        },
        None => match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
        && !host.starts_with('.')
        && !host.ends_with('-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        bad()
    }
}

/// One address `local@domain.tld` (no display name, no list).
pub fn check_email(addr: &str) -> Result<(), Text> {
    let bad = || {
        Err(text!(
            "e-mail: '{addr}' is not an e-mail address; write e.g. ops@example.org",
            "邮箱:“{addr}”不是有效的邮箱地址,请填写如 ops@example.org"
        ))
    };
    if addr.len() > 254
        || addr.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    ',' | ';' | '<' | '>' | '"' | '\'' | '(' | ')' | '[' | ']' | '\\'
                )
        })
    {
        return bad();
    }
    let Some((local, domain)) = addr.split_once('@') else {
        return bad();
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !local.is_empty() && local.len() <= 64 && !domain.contains('@') && domain_ok {
        Ok(())
    } else {
        bad()
    }
}

impl Receiver {
    /// Trimmed, and checked on its own (the list-level checks are [`check_new`]).
    pub fn cleaned(&self) -> Result<Receiver, Text> {
        let r = Receiver {
            name: self.name.trim().to_string(),
            kind: self.kind,
            to: self.to.trim().to_string(),
        };
        check_name(&r.name)?;
        match r.kind {
            ReceiverKind::Webhook => check_url(&r.to)?,
            ReceiverKind::Email => check_email(&r.to)?,
        }
        Ok(r)
    }
}

/// Checks a receiver about to be added to `existing`; returns it cleaned.
pub fn check_new(existing: &[Receiver], new: &Receiver) -> Result<Receiver, Text> {
    let r = new.cleaned()?;
    let (name, to) = (&r.name, &r.to);
    if existing.iter().any(|e| e.name == r.name) {
        return Err(text!(
            "receiver name: there is already a receiver named '{name}'",
            "接收者名称:已有名为“{name}”的接收者"
        ));
    }
    if existing.iter().any(|e| e.kind == r.kind && e.to == r.to) {
        return Err(text!(
            "'{to}' already receives this tenant's alerts",
            "“{to}”已在接收该租户的告警"
        ));
    }
    if existing.len() >= MAX_RECEIVERS {
        return Err(text!(
            "a tenant may have at most {MAX_RECEIVERS} receivers",
            "一个租户最多只能有 {MAX_RECEIVERS} 个接收者"
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, to: &str) -> Receiver {
        Receiver {
            name: name.into(),
            kind: ReceiverKind::Webhook,
            to: to.into(),
        }
    }

    #[test]
    fn urls_are_checked() {
        for ok in [
            "https://hooks.example.org/alerts",
            "http://127.0.0.1:9000/x?token=a&b=c",
            "http://[::1]:8080/",
            "https://user:pw@host.example/p",
            "http://svc.ns.svc.cluster.local",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "hooks.example.org",
            "ftp://x.org/",
            "http://",
            "http:// x.org",
            "http://x.org:99999/",
            "http://x.org:0/",
            "https://ex'ample.org",
            "javascript:alert(1)",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url("ftp://x.org/")
            .unwrap_err()
            .en
            .contains("http:// or https://"));
    }

    #[test]
    fn emails_are_checked() {
        for ok in ["ops@example.org", "a.b+tag@mail.example.co.uk"] {
            assert_eq!(check_email(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "ops",
            "ops@",
            "@example.org",
            "ops@localhost",
            "a@b@c.org",
            "ops@example.org, evil@x.org",
            "Ops <ops@example.org>",
            "ops@-x.org",
            "o ps@example.org",
        ] {
            assert!(
                check_email(bad)
                    .unwrap_err()
                    .en
                    .contains("not an e-mail address"),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_are_labels_and_unique() {
        assert!(check_name("ops-team").is_ok());
        for bad in ["", "Ops", "-x", "x-", "a b", "a_b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let existing = vec![hook("ops", "https://a.example/1")];
        assert!(check_new(&existing, &hook("ops", "https://b.example/"))
            .unwrap_err()
            .en
            .contains("already a receiver named 'ops'"));
        assert!(check_new(&existing, &hook("ops2", "https://a.example/1"))
            .unwrap_err()
            .en
            .contains("already receives"));
        assert_eq!(
            check_new(&existing, &hook(" pager ", " https://b.example/ ")).unwrap(),
            hook("pager", "https://b.example/")
        );
        let full: Vec<Receiver> = (0..MAX_RECEIVERS)
            .map(|i| hook(&format!("r{i}"), &format!("https://x.example/{i}")))
            .collect();
        assert!(check_new(&full, &hook("one-more", "https://y.example/"))
            .unwrap_err()
            .en
            .contains("at most"));
    }
}
