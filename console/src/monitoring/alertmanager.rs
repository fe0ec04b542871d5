//! Alertmanager's configuration, rendered by the console from the tenants' receivers.
//!
//! ```text
//! route:                       receiver wharf (the console's webhook), grouped by alert/namespace/pod
//!   routes:
//!     - receiver: wharf        continue: true  — every alert reaches the console, always
//!     - receiver: tenant:alpha matchers: namespace=~"alpha|alpha-dev"   (one per tenant with receivers)
//! receivers:
//!   - wharf                    webhook to /hooks/alertmanager with the shared token
//!   - tenant:alpha             its webhook_configs and email_configs (SMTP from the console's settings)
//! ```
//!
//! A namespace belongs to at most one tenant, so an alert (whose rule keeps its `namespace`
//! label) matches at most one tenant route: a tenant's receivers never get another
//! tenant's alerts.
//!
//! Changing it is a transaction, like the rule files (`rules`):
//! 1. Alertmanager must answer `/-/ready` (one that is down changes nothing);
//! 2. the new file is written beside the old one under a temporary name, fsynced, and
//!    checked with `amtool check-config`;
//! 3. it is renamed over the old one (atomic on one filesystem) and the folder fsynced;
//! 4. `POST /-/reload` (Alertmanager answers only once it has loaded the file, or failed to),
//!    then `GET /api/v2/status` must show the new routes and receivers.
//!
//! If 3 or 4 fail, the previous file is put back and Alertmanager reloaded again; the error
//! says which step failed and why. Changes are serialized in-process ([`lock`]).

use super::MonitoringSettings;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use wharf_api::error::AppError;
use wharf_api::monitoring::receivers::{Receiver, ReceiverKind};
use wharf_api::text;

/// The console's own receiver.
pub const WHARF_RECEIVER: &str = "wharf";

/// How long a reload may take to show in `/api/v2/status`.
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

/// A tenant as its route needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantRoute {
    pub tenant: String,
    pub namespaces: Vec<String>,
    pub receivers: Vec<Receiver>,
}

/// The Alertmanager receiver of a tenant.
pub fn receiver_name(tenant: &str) -> String {
    format!("tenant:{tenant}")
}

/// A tenant's receivers as kept in its `spec.alerting` (what cannot be used is left out,
/// with a warning: one bad entry written by hand must not stop every tenant's alerts).
pub fn receivers_of(t: &crds::Tenant, email_ok: bool) -> Vec<Receiver> {
    let name = t.metadata.name.as_deref().unwrap_or_default();
    let mut out: Vec<Receiver> = Vec::new();
    for r in t.spec.alerting.iter().flat_map(|a| a.receivers.iter()) {
        let candidate = match (&r.webhook_url, &r.email) {
            (Some(url), None) => Receiver {
                name: r.name.clone(),
                kind: ReceiverKind::Webhook,
                to: url.clone(),
            },
            (None, Some(addr)) => Receiver {
                name: r.name.clone(),
                kind: ReceiverKind::Email,
                to: addr.clone(),
            },
            _ => {
                tracing::warn!(tenant = name, receiver = %r.name, "receiver needs exactly one of webhookUrl and email; left out");
                continue;
            }
        };
        match wharf_api::monitoring::receivers::check_new(&out, &candidate) {
            Ok(_) if candidate.kind == ReceiverKind::Email && !email_ok => {
                tracing::warn!(tenant = name, receiver = %r.name, "e-mail receiver but no SMTP settings; left out")
            }
            Ok(c) => out.push(c),
            Err(e) => {
                tracing::warn!(tenant = name, receiver = %r.name, error = %e, "receiver left out")
            }
        }
    }
    out
}

/// The routes of every tenant, from the cache (`replace`: one tenant's spec as it is about to be).
pub fn tenant_routes(
    tenants: &[std::sync::Arc<crds::Tenant>],
    replace: Option<&crds::Tenant>,
    email_ok: bool,
) -> Vec<TenantRoute> {
    let mut all: std::collections::BTreeMap<String, &crds::Tenant> = tenants
        .iter()
        .filter_map(|t| Some((t.metadata.name.clone()?, t.as_ref())))
        .collect();
    if let Some(t) = replace {
        if let Some(n) = &t.metadata.name {
            all.insert(n.clone(), t);
        }
    }
    all.into_iter()
        .map(|(tenant, t)| TenantRoute {
            tenant,
            namespaces: t.spec.namespaces.clone(),
            receivers: receivers_of(t, email_ok),
        })
        .collect()
}

/// The whole configuration file. Needs the console's webhook URL and token.
pub fn render(s: &MonitoringSettings, tenants: &[TenantRoute]) -> Result<String, AppError> {
    let (Some(webhook_url), Some(token)) = (&s.webhook_url, &s.webhook_token) else {
        return Err(AppError::Invalid(text!(
            "alert receivers need the console's webhook URL and token (WHARF_ALERT_WEBHOOK_URL, WHARF_ALERT_WEBHOOK_TOKEN)",
            "告警接收者需要配置控制台的 Webhook 地址和令牌(WHARF_ALERT_WEBHOOK_URL、WHARF_ALERT_WEBHOOK_TOKEN)"
        )));
    };
    let mut routes = vec![json!({"receiver": WHARF_RECEIVER, "continue": true})];
    let mut receivers = vec![json!({
        "name": WHARF_RECEIVER,
        "webhook_configs": [{"url": webhook_url, "send_resolved": true, "http_config": {"authorization": {"credentials": token.expose()}}}],
    })];
    let mut tenants: Vec<&TenantRoute> = tenants.iter().collect();
    tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    for t in tenants {
        let namespaces: Vec<&str> = t
            .namespaces
            .iter()
            .map(String::as_str)
            // a namespace name as Kubernetes allows it is safe inside a regex unescaped
            .filter(|n| wharf_api::names::is_dns_label(n))
            .collect();
        // NB: no namespaces, no route: `namespace=~""` would match alerts without a namespace
        if t.receivers.is_empty() || namespaces.is_empty() {
            continue;
        }
        let name = receiver_name(&t.tenant);
        routes.push(json!({"receiver": name, "matchers": [format!("namespace=~\"{}\"", namespaces.join("|"))]}));
        let hooks: Vec<serde_json::Value> = t
            .receivers
            .iter()
            .filter(|r| r.kind == ReceiverKind::Webhook)
            .map(|r| json!({"url": r.to, "send_resolved": true}))
            .collect();
        let mails: Vec<serde_json::Value> = t
            .receivers
            .iter()
            .filter(|r| r.kind == ReceiverKind::Email)
            .map(|r| json!({"to": r.to, "send_resolved": true}))
            .collect();
        let mut rec = json!({"name": name});
        if !hooks.is_empty() {
            rec["webhook_configs"] = hooks.into();
        }
        if !mails.is_empty() {
            rec["email_configs"] = mails.into();
        }
        receivers.push(rec);
    }
    let t = &s.routing;
    let mut doc = json!({
        "route": {
            "receiver": WHARF_RECEIVER,
            "group_by": ["alertname", "namespace", "pod"],
            "group_wait": t.group_wait, "group_interval": t.group_interval, "repeat_interval": t.repeat_interval,
            "routes": routes,
        },
        "receivers": receivers,
    });
    if let Some(smtp) = &s.smtp {
        let mut g = json!({"smtp_smarthost": smtp.smarthost, "smtp_from": smtp.from, "smtp_require_tls": smtp.require_tls});
        if let Some(u) = &smtp.username {
            g["smtp_auth_username"] = u.clone().into();
        }
        if let Some(p) = &smtp.password {
            g["smtp_auth_password"] = p.expose().into();
        }
        doc["global"] = g;
    }
    let yaml = serde_yaml::to_string(&doc).map_err(|e| {
        AppError::internal(
            text!(
                "rendering Alertmanager's configuration",
                "生成 Alertmanager 配置失败"
            ),
            e,
        )
    })?;
    Ok(format!("# Managed by Wharf: rendered from the tenants' alert receivers; edits here are replaced.\n{yaml}"))
}

/// What must show in Alertmanager's loaded configuration: the routes (receiver and
/// matchers) and, per receiver, its webhook count and e-mail addresses.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    routes: Vec<(String, Vec<String>)>,
    receivers: Vec<(String, usize, Vec<String>)>,
}

/// The [`Summary`] of a configuration document (ours or the one Alertmanager reports).
pub fn summary(yaml: &str) -> Option<Summary> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).ok()?;
    let strs = |v: &serde_yaml::Value| -> Vec<String> {
        v.as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let routes = doc["route"]["routes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["receiver"].as_str().unwrap_or_default().to_string(),
                strs(&r["matchers"]),
            )
        })
        .collect();
    let mut receivers: Vec<(String, usize, Vec<String>)> = doc["receivers"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut mails: Vec<String> = r["email_configs"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|m| m["to"].as_str().map(String::from))
                .collect();
            mails.sort();
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["webhook_configs"].as_sequence().map_or(0, |v| v.len()),
                mails,
            )
        })
        .collect();
    receivers.sort();
    Some(Summary { routes, receivers })
}

fn unreachable(url: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Unavailable(text!(
        "Alertmanager at {url} is not reachable ({e}); its configuration is unchanged",
        "无法连接 Alertmanager({url}):{e};其配置未改变"
    ))
}

fn write_private_synced(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // NB: 0600 — the file holds the webhook token and the SMTP password
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Where the configuration file is and how to reach the Alertmanager that loads it.
pub struct ConfigStore<'a> {
    pub path: &'a Path,
    pub url: &'a str,
    pub amtool: &'a Path,
}

impl<'a> ConfigStore<'a> {
    /// `None` when the console does not manage Alertmanager's configuration.
    pub fn of(s: &'a MonitoringSettings) -> Option<ConfigStore<'a>> {
        Some(ConfigStore {
            path: s.alertmanager_config.as_deref()?,
            url: s.alertmanager_url.as_deref()?.trim_end_matches('/'),
            amtool: s.amtool.as_deref().unwrap_or(Path::new("amtool")),
        })
    }

    /// The file as it is now (empty when there is none).
    pub fn current(&self) -> String {
        std::fs::read_to_string(self.path).unwrap_or_default()
    }

    /// Puts `text` in place and has Alertmanager load it (see the module's steps). Call with
    /// [`lock`] held.
    pub async fn apply(&self, http: &reqwest::Client, text: &str) -> Result<(), AppError> {
        let url = self.url;
        let ready = http
            .get(format!("{url}/-/ready"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| unreachable(url, super::cause(&e)))?;
        if !ready.status().is_success() {
            return Err(unreachable(url, format!("it answers {}", ready.status())));
        }
        let want = summary(text).ok_or_else(|| {
            AppError::Internal(text!(
                "the rendered Alertmanager configuration does not read back",
                "生成的 Alertmanager 配置无法读回"
            ))
        })?;
        let previous = std::fs::read_to_string(self.path).ok();
        if previous.as_deref() == Some(text)
            && self.loaded(http).await.ok().flatten().as_ref() == Some(&want)
        {
            return Ok(());
        }
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("alertmanager.yml");
        let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
        write_private_synced(&tmp, text).map_err(|e| {
            let path = tmp.display();
            AppError::internal(text!("writing {path}", "写入 {path} 失败"), e)
        })?;
        let checked = tokio::process::Command::new(self.amtool)
            .arg("check-config")
            .arg(&tmp)
            .output()
            .await;
        let verdict = match checked {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => {
                let out = format!(
                    "{}\n{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                let why = out
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("Checking"))
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(AppError::Invalid(text!(
                    "amtool refused the new Alertmanager configuration: {why}",
                    "amtool 拒绝了新的 Alertmanager 配置:{why}"
                )))
            }
            Err(e) => {
                let amtool = self.amtool.display();
                Err(AppError::Internal(text!(
                    "running {amtool}: {e}",
                    "运行 {amtool} 失败:{e}"
                )))
            }
        };
        if let Err(e) = verdict {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Err(e) = std::fs::rename(&tmp, self.path) {
            let _ = std::fs::remove_file(&tmp);
            let path = self.path.display();
            return Err(AppError::Internal(text!(
                "swapping in {path}: {e}",
                "替换 {path} 失败:{e}"
            )));
        }
        sync_dir(dir);
        if let Err(e) = self.reload_and_confirm(http, &want).await {
            tracing::warn!(error = %e, "Alertmanager did not load the new configuration; putting the previous one back");
            let restored = match &previous {
                Some(p) => {
                    write_private_synced(&tmp, p).and_then(|_| std::fs::rename(&tmp, self.path))
                }
                None => std::fs::remove_file(self.path),
            };
            if let Err(io) = restored {
                tracing::error!(error = %io, path = %self.path.display(), "could not restore the previous Alertmanager configuration");
            }
            sync_dir(dir);
            let _ = http
                .post(format!("{url}/-/reload"))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            return Err(e);
        }
        Ok(())
    }

    /// The summary of the configuration Alertmanager has loaded.
    async fn loaded(&self, http: &reqwest::Client) -> Result<Option<Summary>, AppError> {
        let url = self.url;
        let res = http
            .get(format!("{url}/api/v2/status"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| unreachable(url, super::cause(&e)))?;
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| unreachable(url, super::cause(&e)))?;
        Ok(body["config"]["original"].as_str().and_then(summary))
    }

    async fn reload_and_confirm(
        &self,
        http: &reqwest::Client,
        want: &Summary,
    ) -> Result<(), AppError> {
        let url = self.url;
        let res = http
            .post(format!("{url}/-/reload"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| unreachable(url, super::cause(&e)))?;
        if !res.status().is_success() {
            let body = res.text().await.unwrap_or_default();
            let body = body.trim();
            return Err(AppError::Unavailable(text!(
                "Alertmanager at {url} did not load the new configuration: {body}; the previous one stays",
                "Alertmanager({url})未能加载新配置:{body};原配置继续生效"
            )));
        }
        let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
        loop {
            if self.loaded(http).await?.as_ref() == Some(want) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(AppError::Unavailable(text!(
                    "Alertmanager at {url} reloaded but does not show the new receivers after {CONFIRM_WITHIN:?}; the previous configuration stays",
                    "Alertmanager({url})已重新加载,但 {CONFIRM_WITHIN:?} 后仍未出现新的接收者;原配置继续生效"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{Smtp, Token};

    fn settings(smtp: bool) -> MonitoringSettings {
        MonitoringSettings {
            webhook_url: Some("http://127.0.0.1:3000/hooks/alertmanager".into()),
            webhook_token: Some(Token::new("s3cret")),
            smtp: smtp.then(|| Smtp {
                smarthost: "127.0.0.1:2525".into(),
                from: "wharf@example.org".into(),
                username: None,
                password: None,
                require_tls: false,
            }),
            ..Default::default()
        }
    }

    fn routes() -> Vec<TenantRoute> {
        vec![
            TenantRoute {
                tenant: "beta".into(),
                namespaces: vec!["beta".into()],
                receivers: vec![Receiver {
                    name: "pager".into(),
                    kind: ReceiverKind::Webhook,
                    to: "https://hooks.example.org/b?x='y'".into(),
                }],
            },
            TenantRoute {
                tenant: "alpha".into(),
                namespaces: vec!["alpha".into(), "alpha-dev".into()],
                receivers: vec![
                    Receiver {
                        name: "ops".into(),
                        kind: ReceiverKind::Email,
                        to: "ops@example.org".into(),
                    },
                    Receiver {
                        name: "hook".into(),
                        kind: ReceiverKind::Webhook,
                        to: "http://127.0.0.1:9000/a".into(),
                    },
                ],
            },
            TenantRoute {
                tenant: "quiet".into(),
                namespaces: vec!["quiet".into()],
                receivers: vec![],
            },
            TenantRoute {
                tenant: "homeless".into(),
                namespaces: vec![],
                receivers: vec![Receiver {
                    name: "x".into(),
                    kind: ReceiverKind::Webhook,
                    to: "http://x.org/".into(),
                }],
            },
        ]
    }

    #[test]
    fn every_alert_reaches_the_console_and_each_tenant_only_its_own() {
        let text = render(&settings(true), &routes()).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let r = &doc["route"]["routes"];
        assert_eq!(r[0]["receiver"], "wharf");
        assert_eq!(r[0]["continue"], true);
        assert_eq!(r[1]["receiver"], "tenant:alpha");
        assert_eq!(r[1]["matchers"][0], "namespace=~\"alpha|alpha-dev\"");
        assert_eq!(r[2]["receiver"], "tenant:beta");
        assert_eq!(r[2]["matchers"][0], "namespace=~\"beta\"");
        assert!(
            r[3].is_null(),
            "no route for a tenant without receivers or without namespaces: {text}"
        );
        assert_eq!(
            doc["receivers"][1]["email_configs"][0]["to"],
            "ops@example.org"
        );
        assert_eq!(
            doc["receivers"][2]["webhook_configs"][0]["url"], "https://hooks.example.org/b?x='y'",
            "quotes survive as data"
        );
        assert_eq!(doc["global"]["smtp_smarthost"], "127.0.0.1:2525");
        assert_eq!(summary(&text).unwrap(), summary(&text).unwrap());
    }

    #[test]
    fn without_a_webhook_url_nothing_is_rendered() {
        let s = MonitoringSettings {
            webhook_url: None,
            ..settings(false)
        };
        assert!(render(&s, &routes())
            .unwrap_err()
            .to_string()
            .contains("WHARF_ALERT_WEBHOOK_URL"));
    }

    #[test]
    fn the_rendered_configuration_passes_amtool_when_installed() {
        let Ok(out) = std::process::Command::new("amtool")
            .arg("--version")
            .output()
        else {
            return;
        };
        assert!(out.status.success());
        let dir = tempfile_dir("amtool");
        let path = dir.join("alertmanager.yml");
        std::fs::write(&path, render(&settings(true), &routes()).unwrap()).unwrap();
        let check = std::process::Command::new("amtool")
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        // and an e-mail receiver without SMTP settings is what amtool refuses
        std::fs::write(&path, render(&settings(false), &routes()).unwrap()).unwrap();
        let check = std::process::Command::new("amtool")
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!check.status.success());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(what: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wharf-{what}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
