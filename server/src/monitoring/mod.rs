//! Monitoring for `wharf demo` and the tests: a Prometheus scraping the demo cluster's
//! cAdvisor-style `/metrics` (with its CA and bearer token) and loading the console's alert
//! rule files, an Alertmanager whose configuration the console renders (every alert to the
//! console's webhook, each tenant's to its own receivers), and the webhook itself. Against a
//! real cluster these are the user's own (`wharf serve --prometheus-url`).
//!
//! * `prometheus`   — generated config, start, ready-wait, stop
//! * `alertmanager` — the same for Alertmanager (its first config: the console's route only)
//! * `webhook`      — `POST /hooks/alertmanager`, guarded by a shared token
//! * `sync`         — the console's alert tasks: the alert Events watched, firing alerts
//!   re-read from Alertmanager, its configuration kept in step with the tenants' receivers

pub mod alertmanager;
pub mod prometheus;
pub mod sync;
pub mod webhook;

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use wharf_console::monitoring::{
    AlertRules, MonitoringSettings, OperatorSettings, RouteTiming, Smtp, Token,
};

/// How a stack is laid out and how fast it ticks.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Everything lives below: `prometheus/`, `alertmanager/`, `rules/`.
    pub data_dir: PathBuf,
    /// The demo cluster's kubeconfig (server, CA, token are read from it).
    pub kubeconfig_yaml: String,
    pub prometheus_addr: SocketAddr,
    pub alertmanager_addr: SocketAddr,
    /// Where Alertmanager posts (the console's `/hooks/alertmanager`).
    pub webhook_url: String,
    pub webhook_token: Token,
    /// Scrape and rule-evaluation interval (2 s in the demo and tests); also how often the
    /// console re-syncs with Alertmanager.
    pub interval: Duration,
    /// The mail server for tenants' e-mail receivers (none in the demo).
    pub smtp: Option<Smtp>,
}

impl StackConfig {
    /// Free ports on 127.0.0.1, a fresh token, 2 s intervals.
    pub fn local(
        data_dir: &Path,
        kubeconfig_yaml: &str,
        console: SocketAddr,
    ) -> Result<StackConfig> {
        let token = random_token();
        Ok(StackConfig {
            // NB: absolute, because each process runs in its own folder
            data_dir: std::path::absolute(data_dir)
                .with_context(|| format!("resolving {}", data_dir.display()))?,
            kubeconfig_yaml: kubeconfig_yaml.to_string(),
            prometheus_addr: free_port()?,
            alertmanager_addr: free_port()?,
            webhook_url: format!("http://{console}/hooks/alertmanager"),
            webhook_token: Token::new(token),
            interval: Duration::from_secs(2),
            smtp: None,
        })
    }

    pub fn rules_dir(&self) -> PathBuf {
        self.data_dir.join("rules")
    }

    /// Alertmanager's configuration file, rendered by the console.
    pub fn alertmanager_config(&self) -> PathBuf {
        self.data_dir.join("alertmanager").join("alertmanager.yml")
    }

    /// What the console needs to know of this stack.
    pub fn settings(&self) -> MonitoringSettings {
        MonitoringSettings {
            prometheus_url: Some(format!("http://{}", self.prometheus_addr)),
            alertmanager_url: Some(format!("http://{}", self.alertmanager_addr)),
            rules_dir: Some(self.rules_dir()),
            promtool: None,
            webhook_token: Some(self.webhook_token.clone()),
            webhook_url: Some(self.webhook_url.clone()),
            alertmanager_config: Some(self.alertmanager_config()),
            amtool: None,
            smtp: self.smtp.clone(),
            // NB: quick, so a demo alert reaches the page (and a tenant's receiver) within seconds
            routing: RouteTiming {
                group_wait: "1s".into(),
                group_interval: "2s".into(),
                repeat_interval: "1m".into(),
            },
            sync_every: self.interval,
            alert_rules: AlertRules::Files,
        }
    }
}

/// A new random token (URL-safe base64 of 32 bytes).
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?)
}

/// A started child process whose output goes to `<dir>/<name>.log`; killed when dropped.
pub struct Process {
    pub name: &'static str,
    child: tokio::process::Child,
}

impl Process {
    pub fn spawn(
        name: &'static str,
        program: &str,
        args: &[String],
        dir: &Path,
    ) -> Result<Process> {
        let log = std::fs::File::create(dir.join(format!("{name}.log")))
            .with_context(|| format!("creating {name}'s log"))?;
        let child = tokio::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("starting {program} (is it installed? scripts/setup.sh installs it)")
            })?;
        Ok(Process { name, child })
    }

    /// Resolves when the process ends (for supervision).
    pub async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Waits until `GET url` answers 2xx, or fails naming the log to read.
pub async fn wait_ready(
    http: &reqwest::Client,
    url: &str,
    process: &mut Process,
    within: Duration,
    log: &Path,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(r) = http.get(url).timeout(Duration::from_secs(2)).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            anyhow::bail!(
                "{} exited ({status}) before it was ready; see {}",
                process.name,
                log.display()
            );
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "{} was not ready within {within:?}; see {}",
                process.name,
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running Prometheus and Alertmanager.
pub struct Stack {
    pub config: StackConfig,
    pub prometheus: Process,
    pub alertmanager: Process,
}

impl Stack {
    /// Starts Alertmanager, then Prometheus, and waits until both are ready.
    pub async fn start(config: StackConfig) -> Result<Stack> {
        std::fs::create_dir_all(config.rules_dir())
            .with_context(|| format!("creating {}", config.rules_dir().display()))?;
        let am_dir = config.data_dir.join("alertmanager");
        std::fs::create_dir_all(&am_dir)
            .with_context(|| format!("creating {}", am_dir.display()))?;
        let http = reqwest::Client::new();
        let alertmanager = alertmanager::start(&config, &http).await?;
        let prometheus = prometheus::start(&config, &http).await?;
        Ok(Stack {
            config,
            prometheus,
            alertmanager,
        })
    }

    pub async fn stop(self) {
        self.prometheus.stop().await;
        self.alertmanager.stop().await;
    }

    /// Resolves when either process ends, naming it (for `main`'s supervision).
    pub async fn exited(&mut self) -> String {
        tokio::select! {
            s = self.prometheus.exited() => format!("prometheus exited: {s:?}"),
            s = self.alertmanager.exited() => format!("alertmanager exited: {s:?}"),
        }
    }
}

/// `wharf serve`'s settings for tenants' receivers (flags or environment).
#[derive(clap::Args, Debug, Default)]
pub struct AlertingArgs {
    /// Where Alertmanager reaches this console's webhook, e.g. http://wharf.wharf-system:3000/hooks/alertmanager.
    #[arg(long, env = "WHARF_ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,
    /// Alertmanager's configuration file, rendered by the console from the tenants' receivers
    /// (Alertmanager must read it, and the console reloads it through --alertmanager-url).
    #[arg(long, env = "WHARF_ALERTMANAGER_CONFIG")]
    pub alertmanager_config: Option<PathBuf>,
    /// The mail server for e-mail receivers, host:port.
    #[arg(long, env = "WHARF_SMTP_SMARTHOST")]
    pub smtp_smarthost: Option<String>,
    /// The sender of alert mails.
    #[arg(long, env = "WHARF_SMTP_FROM")]
    pub smtp_from: Option<String>,
    #[arg(long, env = "WHARF_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    #[arg(long, env = "WHARF_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// Insist on STARTTLS with the mail server.
    #[arg(long, env = "WHARF_SMTP_REQUIRE_TLS", default_value_t = true, action = clap::ArgAction::Set)]
    pub smtp_require_tls: bool,
    /// How alert thresholds and tenants' receivers are kept: `files` (a rule file per app in
    /// --rules-dir, Alertmanager's --alertmanager-config, both reloaded by the console) or
    /// `operator` (PrometheusRule and AlertmanagerConfig resources the Prometheus Operator loads).
    #[arg(long, env = "WHARF_ALERT_RULES", value_enum, default_value_t = AlertRulesMode::Files)]
    pub alert_rules: AlertRulesMode,
    /// With --alert-rules operator: a label `key=value` on every PrometheusRule and
    /// AlertmanagerConfig, for the operator's selectors (kube-prometheus-stack selects
    /// `release=<its Helm release>`); repeat or separate with commas.
    #[arg(long = "rule-labels", env = "WHARF_RULE_LABELS", value_delimiter = ',')]
    pub rule_labels: Vec<String>,
    /// With --alert-rules operator and --prometheus-url: how long Prometheus may take to show
    /// a saved PrometheusRule before it is put back, in seconds.
    #[arg(long, env = "WHARF_RULE_CONFIRM_SECS", default_value_t = 120)]
    pub rule_confirm_secs: u64,
}

/// `--alert-rules`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertRulesMode {
    #[default]
    Files,
    Operator,
}

impl AlertingArgs {
    pub fn apply_to(self, s: &mut MonitoringSettings) -> Result<()> {
        s.alert_rules = match self.alert_rules {
            AlertRulesMode::Files => {
                anyhow::ensure!(
                    self.rule_labels.is_empty(),
                    "--rule-labels is for --alert-rules operator"
                );
                AlertRules::Files
            }
            AlertRulesMode::Operator => {
                anyhow::ensure!(
                    s.rules_dir.is_none() && self.alertmanager_config.is_none(),
                    "--alert-rules operator keeps rules and receivers in the cluster: drop --rules-dir and --alertmanager-config"
                );
                let mut labels = std::collections::BTreeMap::new();
                for l in &self.rule_labels {
                    let (k, v) = l
                        .split_once('=')
                        .filter(|(k, _)| !k.trim().is_empty())
                        .with_context(|| format!("--rule-labels: '{l}' is not key=value"))?;
                    labels.insert(k.trim().to_string(), v.trim().to_string());
                }
                AlertRules::Operator(OperatorSettings {
                    labels,
                    confirm_within: Duration::from_secs(self.rule_confirm_secs.max(1)),
                })
            }
        };
        s.webhook_url = self.alert_webhook_url;
        s.alertmanager_config = self.alertmanager_config;
        s.smtp = match (self.smtp_smarthost, self.smtp_from) {
            (Some(smarthost), Some(from)) => Some(Smtp {
                smarthost,
                from,
                username: self.smtp_username,
                password: self.smtp_password.map(Token::new),
                require_tls: self.smtp_require_tls,
            }),
            (None, None) => None,
            _ => {
                anyhow::bail!("e-mail receivers need both WHARF_SMTP_SMARTHOST and WHARF_SMTP_FROM")
            }
        };
        Ok(())
    }
}
