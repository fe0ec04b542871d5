//! Every setting of the console, from flags (each with its `WHARF_…` environment variable)
//! into one [`wharf_console::state::Settings`] and one [`Launch`]. `wharf serve` and
//! `wharf demo` share these flags; the demo fills in what it starts itself (its Prometheus
//! and Alertmanager, its registry, folders under `--data`). Nothing reads the environment
//! after `main` parses the command line.

use crate::application::Launch;
use crate::monitoring::AlertingArgs;
use crate::terminal::TerminalArgs;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use wharf_console::egress::EgressPolicy;
use wharf_console::monitoring::{MonitoringSettings, Token};
use wharf_console::pipelines::{PipelineSettings, Registry};
use wharf_console::state::Settings;

/// `wharf serve` listens on every interface; `wharf demo` on loopback only.
pub const SERVE_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 3000);
pub const DEMO_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 3000);

/// The demo's "servers outside Kubernetes" (external upstreams in the nginx console): a block of
/// loopback addresses the demo lets tenants reach.
pub const DEMO_OUTSIDE: &str = "127.200.0.0/16";

/// The console's flags, shared by `wharf serve` and `wharf demo`.
#[derive(clap::Args, Debug)]
pub struct ConsoleArgs {
    /// Where the console listens [default: 0.0.0.0:3000 for serve, 127.0.0.1:3000 for demo].
    #[arg(long, env = "WHARF_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The built single-page app (Trunk's output).
    #[arg(long, env = "WHARF_SITE_DIR", default_value = "dist")]
    pub site_dir: PathBuf,
    /// Mark session cookies Secure (set when TLS terminates in front of the console).
    #[arg(long, env = "WHARF_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// An origin besides the console's own whose pages may call it (`https://wharf.example.com`),
    /// for a reverse proxy that rewrites `Host`; repeat or separate with commas.
    #[arg(
        long = "allowed-origin",
        env = "WHARF_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// The cluster's pod and Service ranges (`10.244.0.0/16,10.96.0.0/12`): addresses tenants
    /// type (external upstreams, webhook receivers) may not lead there; repeat or separate with commas.
    #[arg(
        long = "cluster-cidr",
        env = "WHARF_CLUSTER_CIDRS",
        value_delimiter = ','
    )]
    pub cluster_cidrs: Vec<ipnet::IpNet>,
    /// A range tenants' addresses may reach although it is refused by default (loopback,
    /// link-local, the cluster's ranges); the platform's own services stay refused.
    #[arg(
        long = "egress-allow",
        env = "WHARF_EGRESS_ALLOW",
        value_delimiter = ','
    )]
    pub egress_allow: Vec<ipnet::IpNet>,
    /// A reverse proxy or ingress in front of the console (`10.244.0.0/16`): its
    /// `X-Forwarded-For` names the client that login limits count (without it, everyone
    /// behind the proxy is one client); repeat or separate with commas.
    #[arg(
        long = "trusted-proxy",
        env = "WHARF_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a login lasts.
    #[arg(long, env = "WHARF_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: i64,
    /// How often directory users' groups are re-read, in seconds: a group change in the
    /// directory reaches open sessions within this time.
    #[arg(long, env = "WHARF_DIRECTORY_SYNC_SECS", default_value_t = 300)]
    pub directory_sync_secs: u64,
    /// The longest a session begun through an OpenID Connect provider lasts, in minutes: the
    /// user then goes through the provider again and their groups are read anew.
    #[arg(long, env = "WHARF_OIDC_SESSION_MINUTES", default_value_t = 60)]
    pub oidc_session_minutes: u64,
    /// The Java agent the per-app APM switch attaches: opentelemetry, pinpoint or skywalking.
    #[arg(long, env = "WHARF_APM_AGENT", default_value = "opentelemetry", value_parser = apm_agent)]
    pub apm_agent: wharf_console::apm::AgentKind,
    /// The agent's image (a mirror of it) [default: the agent's own image].
    #[arg(long, env = "WHARF_APM_AGENT_IMAGE")]
    pub apm_agent_image: Option<String>,
    /// Where the agents send traces: the OTLP endpoint (`http://otel-collector.observability:4317`),
    /// Pinpoint's collector host, or SkyWalking's OAP `host:port` [default: none, and the
    /// switch says APM is not configured].
    #[arg(long, env = "WHARF_APM_COLLECTOR")]
    pub apm_collector: Option<String>,
    /// The trace UI's page of an app, `{app}`, `{namespace}`, `{tenant}` replaced, and
    /// `{start}`/`{end}` (unix ms) or `{start_us}`/`{end_us}` by the range looked at
    /// (`https://jaeger.example.com/search?service={app}&start={start_us}&end={end_us}`).
    #[arg(long, env = "WHARF_APM_TRACE_URL")]
    pub apm_trace_url: Option<String>,
    /// The console's URL as people's browsers reach it (`https://wharf.example.com`): identity
    /// providers send people back below it [default: each request's Host].
    #[arg(long, env = "WHARF_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The Kubernetes API server as nginx servers outside the cluster reach it: the kubeconfig
    /// of each node joined from the console names it [default: the console's kubeconfig's
    /// server; none when the console runs in a pod].
    #[arg(long, env = "WHARF_NG_AGENT_API_SERVER")]
    pub ng_agent_api_server: Option<String>,
    /// The log store's folder: the collector writes every container's log there
    /// [default: .wharf/logs for serve, <data>/logs for demo].
    #[arg(long, env = "WHARF_LOGS_DIR")]
    pub logs: Option<PathBuf>,
    /// The shared log bucket: node agents collect into it, every replica reads it.
    #[command(flatten)]
    pub log_bucket: crate::logs::bucket::BucketArgs,
    /// Memory for bucket blocks read by log queries, in MiB.
    #[arg(long, env = "WHARF_LOG_CACHE_MIB", default_value_t = 256)]
    pub log_cache_mib: usize,
    /// A store in the log bucket not shipped for this many days (its node, or console pod,
    /// gone for good; a live agent marks its store hourly) is deleted from the bucket, by
    /// the replica holding the `wharf-pipelines` Lease. 0: never.
    #[arg(long, env = "WHARF_LOG_BUCKET_STALE_DAYS", default_value_t = 14)]
    pub log_bucket_stale_days: u64,
    /// Prometheus for dashboards and alert rules (e.g. http://prometheus:9090); the demo runs its own.
    #[arg(long, env = "WHARF_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// Alertmanager for alerts, silences and receivers; the demo runs its own.
    #[arg(long, env = "WHARF_ALERTMANAGER_URL")]
    pub alertmanager_url: Option<String>,
    /// Where the console writes one rule file per app; Prometheus must load `<dir>/*.rules.yml`.
    #[arg(long, env = "WHARF_RULES_DIR")]
    pub rules_dir: Option<PathBuf>,
    /// A registry pipelines may push to, `name=host` or `name=host@push-secret` (a
    /// dockerconfigjson Secret in each pipeline's namespace), and `+pull-secret` at the end
    /// when apps need one to pull from it (attached to apps deployed with its images);
    /// repeat or separate with commas.
    #[arg(long = "registry", env = "WHARF_REGISTRIES", value_delimiter = ',')]
    pub registries: Vec<Registry>,
    /// A base image uploaded artifacts may be built on, `name=image` (`jre17=eclipse-temurin:17-jre`);
    /// repeat or separate with commas [default: eclipse-temurin 8, 11, 17 and 21 JREs as
    /// jre8…jre21, python:3.11-slim as python3].
    #[arg(long = "artifact-base-image", env = "WHARF_ARTIFACT_BASE_IMAGES", value_delimiter = ',', value_parser = wharf_console::pipelines::artifacts::parse_base_image)]
    pub artifact_base_images: Vec<wharf_api::pipelines::BaseImageOption>,
    /// The largest artifact (jar, war, zip) a pipeline may upload, in MiB.
    #[arg(long, env = "WHARF_ARTIFACT_MAX_MIB", default_value_t = 200)]
    pub artifact_max_mib: u64,
    /// Where uploaded artifacts arrive, and are kept when there is no log bucket
    /// [default: .wharf/artifacts for serve, <data>/artifacts for demo].
    #[arg(long, env = "WHARF_ARTIFACTS_DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// The console's URL as the cluster's pods reach it (`http://wharf.wharf-system.svc`):
    /// pipeline runs fetch uploaded artifacts from it [default: none, and pipelines cannot
    /// build from uploads; the demo: its own address].
    #[arg(long, env = "WHARF_CONSOLE_URL_FOR_BUILDS")]
    pub console_url_for_builds: Option<String>,
    /// The token Alertmanager sends (Authorization: Bearer) to /hooks/alertmanager.
    #[arg(long, env = "WHARF_ALERT_WEBHOOK_TOKEN", hide_env_values = true)]
    pub webhook_token: Option<String>,
    /// Tenants' own receivers: the console's webhook URL, Alertmanager's config file, SMTP.
    #[command(flatten)]
    pub alerting: AlertingArgs,
    /// The terminal's debug image, session recordings, limits and retention.
    #[command(flatten)]
    pub terminal: TerminalArgs,
}

impl ConsoleArgs {
    /// `wharf serve`'s settings.
    pub fn serve(mut self) -> Result<(Settings, LaunchArgs)> {
        let launch = self.launch(SERVE_LISTEN, PathBuf::from(".wharf/logs"));
        let mut monitoring = MonitoringSettings {
            prometheus_url: self.prometheus_url.take(),
            alertmanager_url: self.alertmanager_url.take(),
            rules_dir: self.rules_dir.take(),
            webhook_token: self.webhook_token.take().map(Token::new),
            ..Default::default()
        };
        std::mem::take(&mut self.alerting).apply_to(&mut monitoring)?;
        let pipelines = PipelineSettings {
            registries: std::mem::take(&mut self.registries),
            ..Default::default()
        };
        let egress = self.egress(&monitoring, launch.listen, Vec::new());
        let mut settings = self.settings(monitoring, pipelines, egress, None)?;
        settings.apm = self.apm()?;
        Ok((settings, launch))
    }

    /// `wharf demo`'s settings: folders under `data`, the demo's own monitoring stack and
    /// registry, terminal sessions recorded.
    pub fn demo(
        mut self,
        data: &Path,
        monitoring: MonitoringSettings,
    ) -> Result<(Settings, LaunchArgs)> {
        self.terminal
            .recordings_dir
            .get_or_insert_with(|| data.join("recordings"));
        // NB: the demo node copies stand-ins of the agents (simnode's shims) and its apps are
        // no JVMs: the switch works, nothing listens here yet for traces
        self.apm_collector
            .get_or_insert_with(|| DEMO_APM_COLLECTOR.to_string());
        let launch = self.launch(DEMO_LISTEN, data.join("logs"));
        // NB: the demo's "servers outside Kubernetes" live on this machine, in a loopback block
        // of their own (pods and the platform's services use other 127.x addresses).
        let demo_outside = vec![DEMO_OUTSIDE.parse().expect("a CIDR")];
        let egress = self.egress(&monitoring, launch.listen, demo_outside);
        let mut settings = self.settings(
            monitoring,
            PipelineSettings::demo(),
            egress,
            Some(data.join("artifacts")),
        )?;
        settings.apm = self.apm()?;
        Ok((settings, launch))
    }

    /// Where `wharf demo` listens (its Alertmanager is told before the console starts).
    pub fn demo_listen(&self) -> SocketAddr {
        self.listen.unwrap_or(DEMO_LISTEN)
    }

    /// What both modes take from the flags alike; `listen` and `logs` where no flag says.
    fn launch(&self, listen: SocketAddr, logs: PathBuf) -> LaunchArgs {
        LaunchArgs {
            listen: self.listen.unwrap_or(listen),
            site_dir: self.site_dir.clone(),
            logs: self.logs.clone().unwrap_or(logs),
            log_bucket: self.log_bucket.clone(),
            log_cache_bytes: self.log_cache_mib.saturating_mul(1 << 20),
            log_bucket_stale: std::time::Duration::from_secs(
                self.log_bucket_stale_days.saturating_mul(86_400),
            ),
            retention: self.terminal.retention(),
        }
    }

    /// The egress policy: the flags' ranges, and the platform's own endpoints (the console,
    /// Prometheus, Alertmanager) as they resolve now.
    fn egress(
        &self,
        monitoring: &MonitoringSettings,
        listen: SocketAddr,
        also_allowed: Vec<ipnet::IpNet>,
    ) -> EgressPolicy {
        use std::net::ToSocketAddrs;
        let mut platform = vec![listen];
        for url in [&monitoring.prometheus_url, &monitoring.alertmanager_url]
            .into_iter()
            .flatten()
        {
            let Ok(u) = url::Url::parse(url) else {
                continue;
            };
            let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
                continue;
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            platform.extend((host, port).to_socket_addrs().into_iter().flatten());
        }
        EgressPolicy {
            cluster_ranges: self.cluster_cidrs.clone(),
            allowed: self
                .egress_allow
                .iter()
                .copied()
                .chain(also_allowed)
                .collect(),
            platform,
        }
    }

    /// The APM switch's settings; a bad image or collector stops the console with the reason.
    fn apm(&self) -> Result<wharf_console::apm::ApmSettings> {
        use wharf_console::apm::template::{valid_collector, valid_image};
        let agent = match &self.apm_collector {
            None => None,
            Some(collector) => {
                let kind = self.apm_agent;
                if !valid_collector(kind, collector) {
                    anyhow::bail!(
                        "--apm-collector {collector:?} is not what the {} agent takes (see --help)",
                        kind.label()
                    );
                }
                if let Some(image) = self.apm_agent_image.as_deref().filter(|i| !valid_image(i)) {
                    anyhow::bail!("--apm-agent-image {image:?} is not an image reference");
                }
                Some(wharf_console::apm::AgentSettings {
                    kind,
                    image: self.apm_agent_image.clone(),
                    collector: collector.clone(),
                })
            }
        };
        if let Some(u) = &self.apm_trace_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                anyhow::bail!("--apm-trace-url {u:?} is not an http(s) URL");
            }
        }
        Ok(wharf_console::apm::ApmSettings {
            agent,
            trace_url: self.apm_trace_url.clone(),
        })
    }

    /// What both modes share; `demo_artifacts`: the demo's artifacts folder. (The demo's
    /// build pods reach the console where it listens: see `Application::build`.)
    fn settings(
        &self,
        monitoring: MonitoringSettings,
        mut pipelines: PipelineSettings,
        egress: EgressPolicy,
        demo_artifacts: Option<PathBuf>,
    ) -> Result<Settings> {
        let artifacts = &mut pipelines.artifacts;
        if let Some(dir) = self.artifacts_dir.clone().or(demo_artifacts) {
            artifacts.dir = dir;
        }
        artifacts.url_for_builds = self.console_url_for_builds.clone();
        if let Some(u) = &artifacts.url_for_builds {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                anyhow::bail!("--console-url-for-builds {u:?} is not an http(s) URL");
            }
        }
        artifacts.max_bytes = self.artifact_max_mib.max(1) << 20;
        if !self.artifact_base_images.is_empty() {
            artifacts.base_images = self.artifact_base_images.clone();
        }
        Ok(Settings {
            egress,
            session_ttl_secs: self.session_hours * 3600,
            directory_sync: std::time::Duration::from_secs(self.directory_sync_secs.max(10)),
            oidc_session: std::time::Duration::from_secs(self.oidc_session_minutes.max(1) * 60),
            public_url: self.public_url.clone(),
            api_server_for_nodes: self.ng_agent_api_server.clone(),
            secure_cookies: self.secure_cookies,
            allowed_origins: self.allowed_origins.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            monitoring,
            pipelines,
            terminal: self.terminal.options(),
            ..Settings::default()
        })
    }
}

/// The address to reach a listener at: itself, or loopback for a wildcard address.
pub fn loopback(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, listen.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, listen.port()))
        }
        _ => listen,
    }
}

/// [`Launch`] before the log store is opened.
pub struct LaunchArgs {
    pub listen: SocketAddr,
    pub site_dir: PathBuf,
    pub logs: PathBuf,
    pub log_bucket: crate::logs::bucket::BucketArgs,
    pub log_cache_bytes: usize,
    pub log_bucket_stale: std::time::Duration,
    pub retention: Option<crate::terminal::retention::Retention>,
}

impl LaunchArgs {
    pub fn open(self) -> Result<Launch> {
        let logs = logstore::Store::open_path(&self.logs, logstore::Config::default())
            .with_context(|| format!("opening the log store {}", self.logs.display()))?;
        let shared_logs = self.log_bucket.connect()?.map(|bucket| {
            let shared = crate::logs::shared::SharedLogs {
                bucket,
                name: crate::logs::shared::SharedLogs::console_name(),
                cache_bytes: self.log_cache_bytes,
                stale: self.log_bucket_stale,
            };
            (shared, self.logs.clone())
        });
        Ok(Launch {
            listen: self.listen,
            site_dir: self.site_dir,
            logs,
            shared_logs,
            retention: self.retention,
        })
    }
}

/// Where the demo's APM agents would send traces.
pub const DEMO_APM_COLLECTOR: &str = "http://127.0.0.1:4317";

/// `--apm-agent`'s values.
fn apm_agent(s: &str) -> Result<wharf_console::apm::AgentKind, String> {
    use wharf_console::apm::AgentKind;
    AgentKind::ALL
        .into_iter()
        .find(|k| k.label().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("{s:?}: one of opentelemetry, pinpoint, skywalking"))
}
