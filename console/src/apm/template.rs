//! The pod-template edits behind the APM switch: [`attach`] a Java agent, [`detach`] it
//! exactly, or hand the job to the OpenTelemetry Operator ([`annotate_for_operator`]). Pure
//! functions over [`PodTemplateSpec`]; see the module docs of [`super`] for the design.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, ObjectFieldSelector,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;
use wharf_api::error::AppError;
use wharf_api::names::is_dns_label;
use wharf_api::{text, Text};

/// The `emptyDir` the init container copies the agent into.
pub const VOLUME: &str = "wharf-apm";
/// The init container that copies the agent.
pub const INIT_CONTAINER: &str = "wharf-apm-agent";
/// Where [`VOLUME`] is mounted, in the init container and in every app container.
pub const MOUNT_PATH: &str = "/wharf-apm";
/// The template annotation holding the record of an attach (JSON): its presence is what
/// "APM is on" means, and its content is what [`detach`] undoes.
pub const ANNOTATION: &str = "wharf.dev/apm";
/// The pod's own name (downward API), for Pinpoint's `-Dpinpoint.agentName=$(…)`. Reserved:
/// a template that already has it cannot be attached.
pub const POD_NAME_VAR: &str = "WHARF_APM_POD_NAME";
/// The OpenTelemetry Operator's switch for Java auto-instrumentation.
pub const OPERATOR_INJECT: &str = "instrumentation.opentelemetry.io/inject-java";
/// What [`annotate_for_operator`] found before it set [`OPERATOR_INJECT`] (JSON).
pub const OPERATOR_RECORD: &str = "wharf.dev/apm-operator";

const JAVA_TOOL_OPTIONS: &str = "JAVA_TOOL_OPTIONS";
const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// Pinpoint's limit on `applicationName` (and `agentId`), checked by the agent at start.
const PINPOINT_NAME_MAX: usize = 24;

/// Which tracing agent the switch attaches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub enum AgentKind {
    /// The OpenTelemetry Java agent, exporting OTLP to the platform's collector.
    #[default]
    OpenTelemetry,
    /// Naver Pinpoint's Java agent (gRPC to the Pinpoint collector).
    Pinpoint,
    /// Apache SkyWalking's Java agent (gRPC to the OAP server).
    SkyWalking,
}

impl AgentKind {
    /// Every kind, in the order the UI lists them.
    pub const ALL: [AgentKind; 3] = [
        AgentKind::OpenTelemetry,
        AgentKind::Pinpoint,
        AgentKind::SkyWalking,
    ];

    /// The name shown to users.
    pub fn label(self) -> &'static str {
        match self {
            AgentKind::OpenTelemetry => "OpenTelemetry",
            AgentKind::Pinpoint => "Pinpoint",
            AgentKind::SkyWalking => "SkyWalking",
        }
    }

    /// The image the init container runs unless the admin chose another (a mirror).
    pub fn default_image(self) -> &'static str {
        match self {
            AgentKind::OpenTelemetry => {
                "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.10.0"
            }
            AgentKind::Pinpoint => "pinpointdocker/pinpoint-agent:2.5.4",
            AgentKind::SkyWalking => "apache/skywalking-java-agent:9.3.0-alpine",
        }
    }

    /// Where the agent lives in its image: the jar itself for OpenTelemetry, the folder (the
    /// jar needs its plugins and config beside it) for the others.
    fn source(self) -> &'static str {
        match self {
            AgentKind::OpenTelemetry => "/javaagent.jar",
            AgentKind::Pinpoint => "/pinpoint-agent",
            AgentKind::SkyWalking => "/skywalking/agent",
        }
    }

    /// The copy's name under [`MOUNT_PATH`].
    fn copied(self) -> &'static str {
        match self {
            AgentKind::OpenTelemetry => "javaagent.jar",
            AgentKind::Pinpoint => "pinpoint-agent",
            AgentKind::SkyWalking => "skywalking-agent",
        }
    }

    /// The init container's command: copies the agent into [`MOUNT_PATH`]. No shell (the
    /// images are busybox/alpine based and have `cp`); `cp -R dir/. dest` copies the folder's
    /// content whether or not `dest` exists, so a re-run init container does not nest it.
    pub fn copy_command(self) -> Vec<String> {
        let dest = format!("{MOUNT_PATH}/{}", self.copied());
        match self {
            AgentKind::OpenTelemetry => vec!["cp".into(), self.source().into(), dest],
            AgentKind::Pinpoint | AgentKind::SkyWalking => vec![
                "cp".into(),
                "-R".into(),
                format!("{}/.", self.source()),
                dest,
            ],
        }
    }

    /// The agent's jar as the app container sees it.
    pub fn agent_jar(self) -> String {
        let jar = match self {
            AgentKind::OpenTelemetry => return format!("{MOUNT_PATH}/{}", self.copied()),
            AgentKind::Pinpoint => "pinpoint-bootstrap.jar",
            AgentKind::SkyWalking => "skywalking-agent.jar",
        };
        format!("{MOUNT_PATH}/{}/{jar}", self.copied())
    }

    /// `-javaagent:<jar>`, the first of the options appended to `JAVA_TOOL_OPTIONS`.
    pub fn javaagent_option(self) -> String {
        format!("-javaagent:{}", self.agent_jar())
    }

    /// The languages the agent instruments (so the UI can say which apps the switch fits).
    pub fn languages(self) -> &'static [&'static str] {
        match self {
            AgentKind::OpenTelemetry | AgentKind::Pinpoint | AgentKind::SkyWalking => &["java"],
        }
    }
}

/// The agent the platform admin configured.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentSettings {
    pub kind: AgentKind,
    /// `None`: [`AgentKind::default_image`].
    pub image: Option<String>,
    /// OpenTelemetry: the OTLP endpoint, an `http(s)://` URL
    /// (`http://otel-collector.observability:4317`); Pinpoint: the collector's host (the
    /// agent's gRPC ports stay the image's defaults); SkyWalking: the OAP server's
    /// `host:port`, or several separated by commas.
    pub collector: String,
}

impl AgentSettings {
    /// The image the init container runs.
    pub fn image(&self) -> &str {
        self.image
            .as_deref()
            .unwrap_or_else(|| self.kind.default_image())
    }
}

/// The app being switched, as the APM backend should name it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The app's name (its Deployment or StatefulSet).
    pub app: String,
    pub tenant: String,
    pub namespace: String,
}

/// Why a template cannot be attached. Every value a message quotes is quoted, escaped
/// (control characters visible) and cut short: they are hostile input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApmError {
    /// An environment variable the agent must append to comes from `valueFrom`.
    ValueFrom {
        container: String,
        var: String,
    },
    /// A container defines a variable the agent sets more than once.
    DuplicateEnv {
        container: String,
        var: String,
    },
    /// Something Wharf would add already exists and Wharf did not add it.
    NameTaken {
        what: Taken,
        name: String,
    },
    /// The template has no app container.
    NoContainers,
    InvalidImage(String),
    InvalidCollector {
        kind: AgentKind,
        collector: String,
    },
    /// A field of [`Target`] is not a Kubernetes-style name (or too long for the agent).
    InvalidTarget {
        field: TargetField,
        value: String,
    },
    /// The OpenTelemetry Operator is already asked to inject Java into this template.
    OperatorInjects {
        value: String,
    },
    /// [`ANNOTATION`] is there but is not a record Wharf wrote (edited by hand).
    UnreadableRecord,
}

/// What [`ApmError::NameTaken`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    Volume,
    Container,
    MountPath,
    EnvVar,
}

/// Which [`Target`] field [`ApmError::InvalidTarget`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetField {
    App,
    Tenant,
    Namespace,
    /// The app's name is too long for Pinpoint's `applicationName`.
    PinpointApp,
}

/// A hostile string as a message may quote it: Rust-escaped (control characters and quotes
/// visible) and at most 80 characters of it.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    let more = if cut.len() < s.len() { "…" } else { "" };
    format!("{cut:?}{more}")
}

impl ApmError {
    /// The message in both languages.
    pub fn text(&self) -> Text {
        match self {
            ApmError::ValueFrom { container, var } => {
                let (c, v) = (shown(container), shown(var));
                text!(
                    "container {c} takes {v} from valueFrom (a Secret, ConfigMap or field), so the agent's options cannot be appended to it safely: set it as a plain value, or remove it, before turning APM on",
                    "容器 {c} 的 {v} 来自 valueFrom(Secret、ConfigMap 或字段),无法安全地追加探针参数:请先将其改为普通值或删除,再开启 APM"
                )
            }
            ApmError::DuplicateEnv { container, var } => {
                let (c, v) = (shown(container), shown(var));
                text!(
                    "container {c} defines {v} more than once: keep one before turning APM on",
                    "容器 {c} 多次定义了 {v}:请只保留一个后再开启 APM"
                )
            }
            ApmError::NameTaken { what, name } => {
                let n = shown(name);
                let (en, zh) = match what {
                    Taken::Volume => ("a volume", "卷"),
                    Taken::Container => ("a container", "容器"),
                    Taken::MountPath => ("a volume mount", "卷挂载"),
                    Taken::EnvVar => ("an environment variable", "环境变量"),
                };
                text!(
                    "the app already has {en} {n} that Wharf did not add; Wharf needs that name for APM: rename or remove it first",
                    "应用中已有并非 Wharf 添加的{zh} {n};APM 需要使用该名称:请先重命名或删除它"
                )
            }
            ApmError::NoContainers => text!(
                "the app's pod template has no containers to attach the agent to",
                "应用的 Pod 模板中没有可挂载探针的容器"
            ),
            ApmError::InvalidImage(image) => {
                let i = shown(image);
                text!(
                    "the APM agent image {i} is not an image reference (registry/path:tag or @sha256:digest, no spaces)",
                    "APM 探针镜像 {i} 不是有效的镜像引用(registry/path:tag 或 @sha256:digest,不含空格)"
                )
            }
            ApmError::InvalidCollector { kind, collector } => {
                let (k, c) = (kind.label(), shown(collector));
                let (en, zh) = match kind {
                    AgentKind::OpenTelemetry => (
                        "an http:// or https:// URL such as http://otel-collector.observability:4317",
                        "http:// 或 https:// 地址,例如 http://otel-collector.observability:4317",
                    ),
                    AgentKind::Pinpoint => (
                        "a host name or IP address such as pinpoint-collector.pinpoint",
                        "主机名或 IP 地址,例如 pinpoint-collector.pinpoint",
                    ),
                    AgentKind::SkyWalking => (
                        "host:port (several separated by commas) such as oap.skywalking:11800",
                        "host:port(多个以逗号分隔),例如 oap.skywalking:11800",
                    ),
                };
                text!(
                    "the {k} collector {c} is not {en}",
                    "{k} 采集端地址 {c} 无效,应为{zh}"
                )
            }
            ApmError::InvalidTarget { field, value } => {
                let v = shown(value);
                match field {
                    TargetField::App => text!(
                        "app name {v} is not a Kubernetes name (lower-case letters, digits, '-' and '.')",
                        "应用名 {v} 不是合法的 Kubernetes 名称(小写字母、数字、“-”和“.”)"
                    ),
                    TargetField::Tenant => text!(
                        "tenant {v} must be 1 to 63 lower-case letters, digits or '-'",
                        "租户 {v} 只能包含 1 到 63 个小写字母、数字或“-”"
                    ),
                    TargetField::Namespace => text!(
                        "namespace {v} must be 1 to 63 lower-case letters, digits or '-'",
                        "命名空间 {v} 只能包含 1 到 63 个小写字母、数字或“-”"
                    ),
                    TargetField::PinpointApp => text!(
                        "Pinpoint accepts application names of at most {PINPOINT_NAME_MAX} characters; app {v} is longer: choose another agent",
                        "Pinpoint 的应用名最多 {PINPOINT_NAME_MAX} 个字符,应用 {v} 超出限制:请选择其他探针"
                    ),
                }
            }
            ApmError::OperatorInjects { value } => {
                let v = shown(value);
                text!(
                    "the OpenTelemetry Operator already injects Java into this app ({OPERATOR_INJECT}: {v}); two agents would trace every call twice: turn that off first",
                    "OpenTelemetry Operator 已在为该应用注入 Java 探针({OPERATOR_INJECT}: {v});两个探针会重复追踪:请先关闭它"
                )
            }
            ApmError::UnreadableRecord => text!(
                "the annotation {ANNOTATION} on the app's pod template was changed by hand and no longer says what Wharf added: restore it or remove the APM parts by hand",
                "应用 Pod 模板上的注解 {ANNOTATION} 被手动修改,已无法得知 Wharf 添加了什么:请恢复该注解,或手动移除 APM 相关内容"
            ),
        }
    }
}

impl fmt::Display for ApmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text().en)
    }
}

impl std::error::Error for ApmError {}

impl From<ApmError> for AppError {
    fn from(e: ApmError) -> Self {
        match e {
            ApmError::UnreadableRecord => AppError::Conflict(e.text()),
            _ => AppError::Invalid(e.text()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Validators: every field is hostile input until one of these said otherwise.

/// An image reference as the container runtime parses it (the distribution grammar):
/// `[host[:port]/]path[:tag][@algo:hex]`, at most 255 characters of name.
static IMAGE: LazyLock<Regex> = LazyLock::new(|| {
    let host = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?)";
    let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(
        r"\A(?:{host}/)?{component}(?:/{component})*(?::{tag})?(?:@{digest})?\z"
    ))
    .expect("the image pattern compiles")
});

/// Does `image` look like an image reference?
pub fn valid_image(image: &str) -> bool {
    image.len() <= 512 && IMAGE.is_match(image)
}

/// A DNS name or IPv4 address (no IPv6: a collector is a Service name in practice).
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn valid_port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

/// `host:port`.
fn valid_host_port(s: &str) -> bool {
    s.rsplit_once(':')
        .is_some_and(|(h, p)| valid_host(h) && valid_port(p))
}

/// `http(s)://host[:port][/path]`, the path of plain URL characters.
fn valid_url(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
    else {
        return false;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host_ok = match authority.rsplit_once(':') {
        Some((h, p)) => valid_host(h) && valid_port(p),
        None => valid_host(authority),
    };
    host_ok
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b))
}

/// Is `collector` what `kind` expects (see [`AgentSettings::collector`])?
pub fn valid_collector(kind: AgentKind, collector: &str) -> bool {
    collector.len() <= 1024
        && match kind {
            AgentKind::OpenTelemetry => valid_url(collector),
            AgentKind::Pinpoint => valid_host(collector),
            AgentKind::SkyWalking => collector.split(',').all(valid_host_port),
        }
}

/// A DNS-1123 subdomain (what a Deployment may be named).
fn valid_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn check(settings: &AgentSettings, target: &Target) -> Result<(), ApmError> {
    if !valid_image(settings.image()) {
        return Err(ApmError::InvalidImage(settings.image().to_owned()));
    }
    if !valid_collector(settings.kind, &settings.collector) {
        return Err(ApmError::InvalidCollector {
            kind: settings.kind,
            collector: settings.collector.clone(),
        });
    }
    let bad = |field, value: &str| ApmError::InvalidTarget {
        field,
        value: value.to_owned(),
    };
    if !valid_subdomain(&target.app) {
        return Err(bad(TargetField::App, &target.app));
    }
    if !is_dns_label(&target.tenant) {
        return Err(bad(TargetField::Tenant, &target.tenant));
    }
    if !is_dns_label(&target.namespace) {
        return Err(bad(TargetField::Namespace, &target.namespace));
    }
    if settings.kind == AgentKind::Pinpoint && target.app.len() > PINPOINT_NAME_MAX {
        return Err(bad(TargetField::PinpointApp, &target.app));
    }
    Ok(())
}

/// Validates an Instrumentation reference for [`annotate_for_operator`]: `name` or
/// `namespace/name`, each a DNS-1123 name.
pub fn valid_instrumentation(s: &str) -> bool {
    match s.split_once('/') {
        Some((ns, name)) => is_dns_label(ns) && valid_subdomain(name),
        None => valid_subdomain(s),
    }
}

// ---------------------------------------------------------------------------------------
// The record in ANNOTATION.

/// Everything [`detach`] needs, written by [`attach`] into [`ANNOTATION`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Record {
    kind: AgentKind,
    /// The resolved image, so a changed default counts as changed settings.
    image: String,
    collector: String,
    target: Target,
    volume: String,
    init_container: String,
    mount_path: String,
    /// Optional fields that were absent (not empty) before: detach puts `None` back.
    created: Created,
    containers: Vec<ContainerRecord>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct Created {
    metadata: bool,
    annotations: bool,
    volumes: bool,
    init_containers: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ContainerRecord {
    name: String,
    env_created: bool,
    mounts_created: bool,
    env: Vec<EnvRecord>,
}

/// One variable attach set or changed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct EnvRecord {
    /// As it was (`None`: absent; attach appended it at the end, or before
    /// `JAVA_TOOL_OPTIONS` for [`POD_NAME_VAR`]).
    original: Option<EnvVar>,
    /// As attach left it: when it is still so, detach puts `original` back.
    set: EnvVar,
    /// For appended variables, what was appended (without separator) and the separator,
    /// so that detach can take out only that from a value edited since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    appended: Option<Appended>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct Appended {
    text: String,
    sep: String,
}

fn read_record(template: &PodTemplateSpec) -> Option<Result<Record, ApmError>> {
    let raw = template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(ANNOTATION)?;
    Some(serde_json::from_str(raw).map_err(|_| ApmError::UnreadableRecord))
}

/// The agent attached to `template`, if any (`None` also when [`ANNOTATION`] is unreadable).
pub fn attached(template: &PodTemplateSpec) -> Option<AgentKind> {
    read_record(template)?.ok().map(|r| r.kind)
}

// ---------------------------------------------------------------------------------------
// attach

/// What attach does to one variable.
enum Change {
    /// Replace (or add) with this value.
    Set(String),
    /// Append this to the value, after `sep` when there is one.
    Append { text: String, sep: &'static str },
}

/// The variables of `kind`, in the order they are added to a container that has none.
fn changes(settings: &AgentSettings, target: &Target) -> Vec<(&'static str, Change)> {
    let Target {
        app,
        tenant,
        namespace,
    } = target;
    let collector = &settings.collector;
    let javaagent = settings.kind.javaagent_option();
    match settings.kind {
        AgentKind::OpenTelemetry => {
            let mut v = vec![
                (
                    JAVA_TOOL_OPTIONS,
                    Change::Append {
                        text: javaagent,
                        sep: " ",
                    },
                ),
                ("OTEL_SERVICE_NAME", Change::Set(app.clone())),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", Change::Set(collector.clone())),
            ];
            // NB: the Java agent 2.x speaks http/protobuf (4318) unless told otherwise; 4317
            // is the collector's gRPC port by convention.
            if collector.trim_end_matches('/').ends_with(":4317") {
                v.push(("OTEL_EXPORTER_OTLP_PROTOCOL", Change::Set("grpc".into())));
            }
            v.push((
                OTEL_RESOURCE_ATTRIBUTES,
                Change::Append {
                    text: format!("wharf.tenant={tenant},k8s.namespace.name={namespace}"),
                    sep: ",",
                },
            ));
            v
        }
        // NB: the image's COLLECTOR_IP is read by its own entrypoint script only, which does
        // not run in the app container: the agent takes the collector as a system property.
        // `agentName`, not `agentId`: Pinpoint refuses agent ids over 24 characters, which
        // most pod names are; with a name it generates the id.
        AgentKind::Pinpoint => vec![(
            JAVA_TOOL_OPTIONS,
            Change::Append {
                text: format!(
                    "{javaagent} -Dpinpoint.applicationName={app} -Dpinpoint.agentName=$({POD_NAME_VAR}) -Dprofiler.transport.grpc.collector.ip={collector}"
                ),
                sep: " ",
            },
        )],
        AgentKind::SkyWalking => vec![
            (
                JAVA_TOOL_OPTIONS,
                Change::Append {
                    text: javaagent,
                    sep: " ",
                },
            ),
            ("SW_AGENT_NAME", Change::Set(format!("{tenant}::{app}"))),
            (
                "SW_AGENT_COLLECTOR_BACKEND_SERVICES",
                Change::Set(collector.clone()),
            ),
        ],
    }
}

fn pod_name_var() -> EnvVar {
    EnvVar {
        name: POD_NAME_VAR.into(),
        value: None,
        value_from: Some(EnvVarSource {
            // NB: written as the API server stores it (it defaults the version), so the
            // variable read back is the one attach left and detach takes it away
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: "metadata.name".into(),
            }),
            ..Default::default()
        }),
    }
}

fn plain(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value),
        value_from: None,
    }
}

fn init_container(settings: &AgentSettings) -> Container {
    let q = |s: &str| Quantity(s.into());
    Container {
        name: INIT_CONTAINER.into(),
        image: Some(settings.image().into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(settings.kind.copy_command()),
        volume_mounts: Some(vec![mount()]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), q("10m")),
                ("memory".into(), q("32Mi")),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".into(), q("500m")),
                ("memory".into(), q("128Mi")),
            ])),
            ..Default::default()
        }),
        // NB: no runAsUser: the pod's own (or the image's) user applies, which keeps
        // OpenShift's assigned UID ranges working; the copy needs no privilege at all.
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                add: None,
                drop: Some(vec!["ALL".into()]),
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount() -> VolumeMount {
    VolumeMount {
        name: VOLUME.into(),
        mount_path: MOUNT_PATH.into(),
        ..Default::default()
    }
}

fn volume() -> Volume {
    Volume {
        name: VOLUME.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit: Some(Quantity("256Mi".into())),
        }),
        ..Default::default()
    }
}

fn taken(what: Taken, name: &str) -> ApmError {
    ApmError::NameTaken {
        what,
        name: name.to_owned(),
    }
}

/// Attaches the agent of `settings` to every app container of `template` (not init or
/// ephemeral containers) and records how to undo it in [`ANNOTATION`].
///
/// Already attached with the same settings and target: returns `template` unchanged (the
/// switch is idempotent; containers added by hand since then get the agent at the next
/// change of settings or off/on). Attached with other settings: [`detach`]es first.
pub fn attach(
    template: &PodTemplateSpec,
    settings: &AgentSettings,
    target: &Target,
) -> Result<PodTemplateSpec, ApmError> {
    check(settings, target)?;
    let detached;
    let base = match read_record(template) {
        Some(Err(e)) => return Err(e),
        Some(Ok(r)) => {
            if r.kind == settings.kind
                && r.image == settings.image()
                && r.collector == settings.collector
                && r.target == *target
            {
                return Ok(template.clone());
            }
            detached = detach(template);
            &detached
        }
        None => template,
    };
    let mut t = base.clone();

    if let Some(v) = annotation(&t, OPERATOR_INJECT) {
        if !v.eq_ignore_ascii_case("false") {
            return Err(ApmError::OperatorInjects {
                value: v.to_owned(),
            });
        }
    }
    let Some(spec) = t.spec.as_mut() else {
        return Err(ApmError::NoContainers);
    };
    if spec.containers.is_empty() {
        return Err(ApmError::NoContainers);
    }

    // Clashes first: nothing is changed unless everything can be.
    if spec.volumes.iter().flatten().any(|v| v.name == VOLUME) {
        return Err(taken(Taken::Volume, VOLUME));
    }
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| &c.name);
    let all_names = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| &c.name)
        .chain(ephemeral);
    for name in all_names {
        if name == INIT_CONTAINER {
            return Err(taken(Taken::Container, INIT_CONTAINER));
        }
    }
    let wanted = changes(settings, target);
    for c in &spec.containers {
        for m in c.volume_mounts.iter().flatten() {
            if m.name == VOLUME || m.mount_path.trim_end_matches('/') == MOUNT_PATH {
                return Err(taken(Taken::MountPath, &m.mount_path));
            }
        }
        let env = c.env.as_deref().unwrap_or_default();
        if env.iter().any(|e| e.name == POD_NAME_VAR) {
            return Err(taken(Taken::EnvVar, POD_NAME_VAR));
        }
        for (name, change) in &wanted {
            let mut same = env.iter().filter(|e| e.name == *name);
            let first = same.next();
            if same.next().is_some() {
                return Err(ApmError::DuplicateEnv {
                    container: c.name.clone(),
                    var: (*name).into(),
                });
            }
            if let (Some(e), Change::Append { .. }) = (first, change) {
                if e.value_from.is_some() {
                    return Err(ApmError::ValueFrom {
                        container: c.name.clone(),
                        var: (*name).into(),
                    });
                }
            }
        }
    }

    let mut created = Created {
        volumes: spec.volumes.is_none(),
        init_containers: spec.init_containers.is_none(),
        ..Created::default()
    };
    spec.volumes.get_or_insert_with(Vec::new).push(volume());
    spec.init_containers
        .get_or_insert_with(Vec::new)
        .push(init_container(settings));

    let mut records = Vec::with_capacity(spec.containers.len());
    for c in &mut spec.containers {
        let mounts_created = c.volume_mounts.is_none();
        c.volume_mounts.get_or_insert_with(Vec::new).push(mount());
        let env_created = c.env.is_none();
        let env = c.env.get_or_insert_with(Vec::new);
        let mut env_records = Vec::new();
        if settings.kind == AgentKind::Pinpoint {
            // Kubernetes expands `$(VAR)` only from variables defined earlier in the list.
            let at = env
                .iter()
                .position(|e| e.name == JAVA_TOOL_OPTIONS)
                .unwrap_or(env.len());
            env.insert(at, pod_name_var());
            env_records.push(EnvRecord {
                original: None,
                set: pod_name_var(),
                appended: None,
            });
        }
        for (name, change) in &wanted {
            let at = env.iter().position(|e| e.name == *name);
            let original = at.map(|i| env[i].clone());
            let (set, appended) = match change {
                Change::Set(v) => (plain(name, v.clone()), None),
                Change::Append { text, sep } => {
                    let before = original
                        .as_ref()
                        .and_then(|e| e.value.as_deref())
                        .unwrap_or("");
                    let value = if before.is_empty() {
                        text.clone()
                    } else {
                        format!("{before}{sep}{text}")
                    };
                    let appended = Appended {
                        text: text.clone(),
                        sep: (*sep).into(),
                    };
                    (plain(name, value), Some(appended))
                }
            };
            match at {
                Some(i) => env[i] = set.clone(),
                None => env.push(set.clone()),
            }
            env_records.push(EnvRecord {
                original,
                set,
                appended,
            });
        }
        records.push(ContainerRecord {
            name: c.name.clone(),
            env_created,
            mounts_created,
            env: env_records,
        });
    }

    created.metadata = t.metadata.is_none();
    let meta = t.metadata.get_or_insert_with(ObjectMeta::default);
    created.annotations = meta.annotations.is_none();
    let record = Record {
        kind: settings.kind,
        image: settings.image().into(),
        collector: settings.collector.clone(),
        target: target.clone(),
        volume: VOLUME.into(),
        init_container: INIT_CONTAINER.into(),
        mount_path: MOUNT_PATH.into(),
        created,
        containers: records,
    };
    let json = serde_json::to_string(&record).expect("a record serializes");
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION.into(), json);
    Ok(t)
}

fn annotation<'a>(t: &'a PodTemplateSpec, key: &str) -> Option<&'a str> {
    t.metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

// ---------------------------------------------------------------------------------------
// detach

/// Takes out of `value` the last occurrence of `appended` (with its separator when there is
/// one before it).
fn strip_appended(value: &str, appended: &Appended) -> Option<String> {
    let with_sep = format!("{}{}", appended.sep, appended.text);
    let (at, len) = match value.rfind(&with_sep) {
        Some(i) => (i, with_sep.len()),
        None => (value.rfind(&appended.text)?, appended.text.len()),
    };
    let mut v = value.to_owned();
    v.replace_range(at..at + len, "");
    Some(v)
}

fn undo_env(env: &mut Vec<EnvVar>, rec: &EnvRecord) {
    let Some(i) = env.iter().position(|e| e.name == rec.set.name) else {
        return; // removed by hand since: nothing of Wharf's is left
    };
    if env[i] == rec.set {
        match &rec.original {
            Some(o) => env[i] = o.clone(),
            None => {
                env.remove(i);
            }
        }
        return;
    }
    // Edited by hand since: take out only what Wharf appended, keep the rest.
    let (Some(appended), None) = (&rec.appended, &env[i].value_from) else {
        return;
    };
    let Some(rest) = env[i]
        .value
        .as_deref()
        .and_then(|v| strip_appended(v, appended))
    else {
        return;
    };
    if rest.trim().is_empty() && rec.original.is_none() {
        env.remove(i);
    } else {
        env[i].value = Some(rest);
    }
}

/// Removes exactly what [`attach`] added and restores what it changed, so that
/// `detach(&attach(t)?) == *t`. Edits made since are kept: a variable changed by hand keeps
/// its value minus Wharf's appended options (if still there), a container added by hand is
/// left alone. Without a readable [`ANNOTATION`] the template comes back unchanged.
pub fn detach(template: &PodTemplateSpec) -> PodTemplateSpec {
    let Some(Ok(record)) = read_record(template) else {
        return template.clone();
    };
    let mut t = template.clone();
    if let Some(spec) = t.spec.as_mut() {
        for cr in &record.containers {
            let Some(c) = spec.containers.iter_mut().find(|c| c.name == cr.name) else {
                continue;
            };
            if let Some(env) = c.env.as_mut() {
                for rec in cr.env.iter().rev() {
                    undo_env(env, rec);
                }
                if cr.env_created && env.is_empty() {
                    c.env = None;
                }
            }
            if let Some(mounts) = c.volume_mounts.as_mut() {
                mounts.retain(|m| !(m.name == record.volume && m.mount_path == record.mount_path));
                if cr.mounts_created && mounts.is_empty() {
                    c.volume_mounts = None;
                }
            }
        }
        if let Some(inits) = spec.init_containers.as_mut() {
            inits.retain(|c| c.name != record.init_container);
            if record.created.init_containers && inits.is_empty() {
                spec.init_containers = None;
            }
        }
        if let Some(volumes) = spec.volumes.as_mut() {
            volumes.retain(|v| v.name != record.volume);
            if record.created.volumes && volumes.is_empty() {
                spec.volumes = None;
            }
        }
    }
    remove_annotation(
        &mut t,
        ANNOTATION,
        record.created.annotations,
        record.created.metadata,
    );
    t
}

/// Removes `key`, then the annotations and the metadata if they were created for it and are
/// empty now.
fn remove_annotation(
    t: &mut PodTemplateSpec,
    key: &str,
    created_annotations: bool,
    created_metadata: bool,
) {
    let Some(meta) = t.metadata.as_mut() else {
        return;
    };
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(key);
        if created_annotations && a.is_empty() {
            meta.annotations = None;
        }
    }
    if created_metadata && *meta == ObjectMeta::default() {
        t.metadata = None;
    }
}

// ---------------------------------------------------------------------------------------
// The operator mode

/// What [`annotate_for_operator`] found, in [`OPERATOR_RECORD`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct OperatorRecord {
    /// [`OPERATOR_INJECT`] before (`None`: absent).
    previous: Option<String>,
    created_metadata: bool,
    created_annotations: bool,
}

/// Asks the OpenTelemetry Operator to inject its Java agent: sets [`OPERATOR_INJECT`] to
/// `"true"` (the namespace's Instrumentation) or to `instrumentation` (`name` or
/// `namespace/name`; the caller checks it with [`valid_instrumentation`]), recording what was
/// there before in [`OPERATOR_RECORD`]. Calling it again keeps the first record.
pub fn annotate_for_operator(
    template: &PodTemplateSpec,
    instrumentation: Option<&str>,
) -> PodTemplateSpec {
    let mut t = template.clone();
    let created_metadata = t.metadata.is_none();
    let meta = t.metadata.get_or_insert_with(ObjectMeta::default);
    let created_annotations = meta.annotations.is_none();
    let a = meta.annotations.get_or_insert_with(BTreeMap::new);
    let recorded = a
        .get(OPERATOR_RECORD)
        .is_some_and(|r| serde_json::from_str::<OperatorRecord>(r).is_ok());
    if !recorded {
        let record = OperatorRecord {
            previous: a.get(OPERATOR_INJECT).cloned(),
            created_metadata,
            created_annotations,
        };
        let json = serde_json::to_string(&record).expect("a record serializes");
        a.insert(OPERATOR_RECORD.into(), json);
    }
    a.insert(
        OPERATOR_INJECT.into(),
        instrumentation.unwrap_or("true").into(),
    );
    t
}

/// Undoes [`annotate_for_operator`]: puts back the previous [`OPERATOR_INJECT`] (or removes
/// it). Without a readable [`OPERATOR_RECORD`] the template comes back unchanged.
pub fn unannotate_for_operator(template: &PodTemplateSpec) -> PodTemplateSpec {
    let Some(record) = annotation(template, OPERATOR_RECORD)
        .and_then(|r| serde_json::from_str::<OperatorRecord>(r).ok())
    else {
        return template.clone();
    };
    let mut t = template.clone();
    if let Some(a) = t.metadata.as_mut().and_then(|m| m.annotations.as_mut()) {
        match record.previous {
            Some(p) => a.insert(OPERATOR_INJECT.into(), p),
            None => a.remove(OPERATOR_INJECT),
        };
    }
    remove_annotation(
        &mut t,
        OPERATOR_RECORD,
        record.created_annotations,
        record.created_metadata,
    );
    t
}

// ---------------------------------------------------------------------------------------
// Is it Java?

/// Image words that suggest a JVM (see [`hint_matches`]: `javascript` is not `java`).
const IMAGE_HINTS: [&str; 13] = [
    "jre", "jdk", "java", "temurin", "openjdk", "corretto", "tomcat", "jetty", "spring", "maven",
    "gradle", "zulu", "liberica",
];

/// Short hints match a whole word (or one followed by digits), long ones anywhere in a word
/// (`amazoncorretto`, `springboot`).
fn hint_matches(word: &str, hint: &str) -> bool {
    if hint.len() >= 6 {
        return word.contains(hint);
    }
    word.strip_prefix(hint)
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
}

/// A guess at "is this a Java app", for the UI to preselect the switch: the image's name or
/// tag has a JVM word (`eclipse-temurin:21-jre`, `tomcat`, `openjdk17`, …), or the command or
/// args run `java` or pass `-jar`. It is a heuristic — a Java app in an image called `api`
/// started by `./run.sh` looks like anything else — so the caller lets the user override it.
pub fn java_likely(container: &Container) -> bool {
    let image = container
        .image
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    // NB: the registry host (`java-registry.corp`) says nothing about the app.
    let path = match image.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => &image,
    };
    let path = path.split('@').next().unwrap_or("");
    let by_image = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| IMAGE_HINTS.iter().any(|h| hint_matches(word, h)));
    let by_command = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .flat_map(|s| s.split_whitespace())
        .any(|w| w == "-jar" || w.rsplit('/').next() == Some("java"));
    by_image || by_command
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMapKeySelector, PodSpec};
    use proptest::prelude::*;

    fn settings(kind: AgentKind) -> AgentSettings {
        let collector = match kind {
            AgentKind::OpenTelemetry => "http://otel-collector.observability:4317",
            AgentKind::Pinpoint => "pinpoint-collector.pinpoint",
            AgentKind::SkyWalking => "oap.skywalking:11800",
        };
        AgentSettings {
            kind,
            image: None,
            collector: collector.into(),
        }
    }

    fn target() -> Target {
        Target {
            app: "shop".into(),
            tenant: "acme".into(),
            namespace: "acme-prod".into(),
        }
    }

    fn var(name: &str, value: &str) -> EnvVar {
        plain(name, value.into())
    }

    fn container(name: &str, env: Option<Vec<EnvVar>>) -> Container {
        Container {
            name: name.into(),
            image: Some("registry.acme/shop:1.0".into()),
            env,
            ..Default::default()
        }
    }

    fn template(containers: Vec<Container>) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(BTreeMap::from([("app".into(), "shop".into())])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers,
                ..Default::default()
            }),
        }
    }

    fn env_of<'a>(t: &'a PodTemplateSpec, c: &str) -> &'a [EnvVar] {
        let spec = t.spec.as_ref().unwrap();
        let c = spec.containers.iter().find(|x| x.name == c).unwrap();
        c.env.as_deref().unwrap_or_default()
    }

    fn value<'a>(t: &'a PodTemplateSpec, c: &str, name: &str) -> Option<&'a str> {
        env_of(t, c)
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_deref())
    }

    fn names(env: &[EnvVar]) -> Vec<&str> {
        env.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn each_kind_adds_volume_init_container_and_mounts_to_app_containers_only() {
        for kind in AgentKind::ALL {
            let mut t = template(vec![container("app", None), container("sidecar", None)]);
            let user_init = container("migrate", Some(vec![var(JAVA_TOOL_OPTIONS, "-Xmx1g")]));
            t.spec.as_mut().unwrap().init_containers = Some(vec![user_init.clone()]);
            let a = attach(&t, &settings(kind), &target()).unwrap();
            let spec = a.spec.as_ref().unwrap();

            let volumes = spec.volumes.as_ref().unwrap();
            assert_eq!(volumes.len(), 1);
            assert_eq!(volumes[0].name, VOLUME);
            assert!(volumes[0].empty_dir.is_some());

            let inits = spec.init_containers.as_ref().unwrap();
            assert_eq!(
                inits[0], user_init,
                "{kind:?}: user init container untouched"
            );
            let init = &inits[1];
            assert_eq!(init.name, INIT_CONTAINER);
            assert_eq!(init.image.as_deref(), Some(kind.default_image()));
            let cmd = init.command.as_ref().unwrap();
            assert_eq!(cmd[0], "cp");
            assert!(cmd.last().unwrap().starts_with(MOUNT_PATH), "{cmd:?}");
            assert!(
                kind.agent_jar().starts_with(cmd.last().unwrap()),
                "{kind:?}"
            );
            assert_eq!(init.volume_mounts.as_ref().unwrap(), &vec![mount()]);
            let sc = init.security_context.as_ref().unwrap();
            assert_eq!(sc.allow_privilege_escalation, Some(false));
            assert_eq!(sc.privileged, Some(false));
            let r = init.resources.as_ref().unwrap();
            assert!(r.requests.as_ref().unwrap().contains_key("memory"));
            assert!(r.limits.as_ref().unwrap().contains_key("memory"));

            for c in &spec.containers {
                assert_eq!(c.volume_mounts.as_ref().unwrap(), &vec![mount()]);
                let jto = value(&a, &c.name, JAVA_TOOL_OPTIONS).unwrap();
                assert!(jto.starts_with(&kind.javaagent_option()), "{kind:?}: {jto}");
            }
            assert_eq!(attached(&a), Some(kind));
            assert_eq!(attached(&t), None);
        }
    }

    #[test]
    fn the_image_of_the_settings_wins_over_the_default() {
        let mut s = settings(AgentKind::SkyWalking);
        s.image = Some("mirror.acme:5000/apm/skywalking-java-agent:9.3.0".into());
        let a = attach(&template(vec![container("app", None)]), &s, &target()).unwrap();
        let init = &a.spec.unwrap().init_containers.unwrap()[0];
        assert_eq!(init.image, s.image);
    }

    #[test]
    fn java_tool_options_are_appended_never_clobbered() {
        for kind in AgentKind::ALL {
            let env = vec![var("A", "1"), var(JAVA_TOOL_OPTIONS, "-Xmx512m -Dfoo=bar")];
            let t = template(vec![container("app", Some(env))]);
            let a = attach(&t, &settings(kind), &target()).unwrap();
            let jto = value(&a, "app", JAVA_TOOL_OPTIONS).unwrap();
            let expect = format!("-Xmx512m -Dfoo=bar {}", kind.javaagent_option());
            assert!(jto.starts_with(&expect), "{kind:?}: {jto}");
            // in place: the variable keeps its position
            let n = names(env_of(&a, "app"));
            let pos = n.iter().position(|x| *x == JAVA_TOOL_OPTIONS).unwrap();
            let expect_pos = if kind == AgentKind::Pinpoint { 2 } else { 1 };
            assert_eq!(pos, expect_pos, "{kind:?}: {n:?}");
        }
    }

    #[test]
    fn an_empty_java_tool_options_gets_just_the_option() {
        let t = template(vec![container(
            "app",
            Some(vec![var(JAVA_TOOL_OPTIONS, "")]),
        )]);
        let kind = AgentKind::OpenTelemetry;
        let a = attach(&t, &settings(kind), &target()).unwrap();
        assert_eq!(
            value(&a, "app", JAVA_TOOL_OPTIONS),
            Some(kind.javaagent_option().as_str())
        );
        assert_eq!(detach(&a), t);
    }

    #[test]
    fn opentelemetry_env() {
        let env = vec![var(OTEL_RESOURCE_ATTRIBUTES, "team=pay")];
        let t = template(vec![container("app", Some(env))]);
        let a = attach(&t, &settings(AgentKind::OpenTelemetry), &target()).unwrap();
        assert_eq!(value(&a, "app", "OTEL_SERVICE_NAME"), Some("shop"));
        assert_eq!(
            value(&a, "app", "OTEL_EXPORTER_OTLP_ENDPOINT"),
            Some("http://otel-collector.observability:4317")
        );
        assert_eq!(
            value(&a, "app", "OTEL_EXPORTER_OTLP_PROTOCOL"),
            Some("grpc")
        );
        assert_eq!(
            value(&a, "app", OTEL_RESOURCE_ATTRIBUTES),
            Some("team=pay,wharf.tenant=acme,k8s.namespace.name=acme-prod")
        );
        assert_eq!(
            value(&a, "app", JAVA_TOOL_OPTIONS),
            Some("-javaagent:/wharf-apm/javaagent.jar")
        );

        // http/protobuf on 4318: the agent's default protocol, not set
        let mut s = settings(AgentKind::OpenTelemetry);
        s.collector = "https://otel.observability:4318".into();
        let a = attach(&t, &s, &target()).unwrap();
        assert_eq!(value(&a, "app", "OTEL_EXPORTER_OTLP_PROTOCOL"), None);
    }

    #[test]
    fn pinpoint_env_defines_the_pod_name_before_java_tool_options() {
        let s = settings(AgentKind::Pinpoint);
        // absent, and present after other variables
        for env in [
            None,
            Some(vec![
                var("A", "1"),
                var(JAVA_TOOL_OPTIONS, "-Xss1m"),
                var("B", "2"),
            ]),
        ] {
            let t = template(vec![container("app", env)]);
            let a = attach(&t, &s, &target()).unwrap();
            let e = env_of(&a, "app");
            let n = names(e);
            let pod = n.iter().position(|x| *x == POD_NAME_VAR).unwrap();
            let jto = n.iter().position(|x| *x == JAVA_TOOL_OPTIONS).unwrap();
            assert!(pod < jto, "{n:?}");
            assert_eq!(e[pod], pod_name_var());
            let field = e[pod].value_from.as_ref().unwrap().field_ref.as_ref();
            assert_eq!(field.unwrap().field_path, "metadata.name");
            let opts = e[jto].value.as_deref().unwrap();
            for want in [
                "-javaagent:/wharf-apm/pinpoint-agent/pinpoint-bootstrap.jar",
                "-Dpinpoint.applicationName=shop",
                "-Dpinpoint.agentName=$(WHARF_APM_POD_NAME)",
                "-Dprofiler.transport.grpc.collector.ip=pinpoint-collector.pinpoint",
            ] {
                assert!(opts.contains(want), "{want} not in {opts}");
            }
            assert_eq!(detach(&a), t);
        }
    }

    #[test]
    fn skywalking_env() {
        let t = template(vec![container("app", None)]);
        let a = attach(&t, &settings(AgentKind::SkyWalking), &target()).unwrap();
        assert_eq!(value(&a, "app", "SW_AGENT_NAME"), Some("acme::shop"));
        assert_eq!(
            value(&a, "app", "SW_AGENT_COLLECTOR_BACKEND_SERVICES"),
            Some("oap.skywalking:11800")
        );
        assert_eq!(
            value(&a, "app", JAVA_TOOL_OPTIONS),
            Some("-javaagent:/wharf-apm/skywalking-agent/skywalking-agent.jar")
        );
    }

    #[test]
    fn detach_restores_the_template_exactly() {
        for kind in AgentKind::ALL {
            let from_cm = EnvVar {
                name: "SW_AGENT_NAME".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: "names".into(),
                        key: "sw".into(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            };
            let env = vec![
                var(JAVA_TOOL_OPTIONS, "-Xmx1g"),
                var("OTEL_SERVICE_NAME", "legacy"),
                from_cm,
            ];
            let mut t = template(vec![container("app", Some(env)), container("b", None)]);
            t.metadata = None;
            let a = attach(&t, &settings(kind), &target()).unwrap();
            assert_ne!(a, t);
            assert_eq!(detach(&a), t, "{kind:?}");
        }
    }

    #[test]
    fn detach_keeps_hand_edits() {
        let kind = AgentKind::OpenTelemetry;
        let t = template(vec![container(
            "app",
            Some(vec![var(JAVA_TOOL_OPTIONS, "-Xmx1g")]),
        )]);
        let mut a = attach(&t, &settings(kind), &target()).unwrap();
        let spec = a.spec.as_mut().unwrap();
        let app = &mut spec.containers[0];
        let env = app.env.as_mut().unwrap();
        let jto = env
            .iter_mut()
            .find(|e| e.name == JAVA_TOOL_OPTIONS)
            .unwrap();
        jto.value = Some(format!("-Xmx2g {} -Dnew=1", kind.javaagent_option()));
        let service = env
            .iter_mut()
            .find(|e| e.name == "OTEL_SERVICE_NAME")
            .unwrap();
        service.value = Some("renamed".into());
        spec.containers
            .push(container("added", Some(vec![var("X", "1")])));

        let d = detach(&a);
        assert_eq!(value(&d, "app", JAVA_TOOL_OPTIONS), Some("-Xmx2g -Dnew=1"));
        assert_eq!(value(&d, "app", "OTEL_SERVICE_NAME"), Some("renamed"));
        assert_eq!(value(&d, "app", "OTEL_EXPORTER_OTLP_ENDPOINT"), None);
        assert_eq!(env_of(&d, "added"), &[var("X", "1")]);
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.volumes, None);
        assert_eq!(spec.init_containers, None);
        assert_eq!(spec.containers[0].volume_mounts, None);
        assert_eq!(attached(&d), None);
    }

    #[test]
    fn detach_drops_an_appended_variable_that_holds_nothing_else() {
        let t = template(vec![container("app", None)]);
        let mut a = attach(&t, &settings(AgentKind::SkyWalking), &target()).unwrap();
        let env = a.spec.as_mut().unwrap().containers[0].env.as_mut().unwrap();
        let jto = env
            .iter_mut()
            .find(|e| e.name == JAVA_TOOL_OPTIONS)
            .unwrap();
        let v = jto.value.take().unwrap();
        jto.value = Some(format!("  {v}"));
        assert_eq!(value(&detach(&a), "app", JAVA_TOOL_OPTIONS), None);
    }

    #[test]
    fn detach_without_the_annotation_changes_nothing() {
        let t = template(vec![container("app", None)]);
        let mut a = attach(&t, &settings(AgentKind::OpenTelemetry), &target()).unwrap();
        a.metadata.as_mut().unwrap().annotations = None;
        assert_eq!(detach(&a), a);
        assert_eq!(detach(&t), t);
        // unreadable: unchanged too, and attach says why it cannot go on
        let mut b = attach(&t, &settings(AgentKind::OpenTelemetry), &target()).unwrap();
        let ann = b.metadata.as_mut().unwrap().annotations.as_mut().unwrap();
        ann.insert(ANNOTATION.into(), "{not json".into());
        assert_eq!(detach(&b), b);
        assert_eq!(attached(&b), None);
        let err = attach(&b, &settings(AgentKind::Pinpoint), &target()).unwrap_err();
        assert_eq!(err, ApmError::UnreadableRecord);
    }

    #[test]
    fn attach_is_idempotent_and_switches_kinds_cleanly() {
        let t = template(vec![container(
            "app",
            Some(vec![var(JAVA_TOOL_OPTIONS, "-Xmx1g")]),
        )]);
        for kind in AgentKind::ALL {
            let a = attach(&t, &settings(kind), &target()).unwrap();
            assert_eq!(attach(&a, &settings(kind), &target()).unwrap(), a);
            for other in AgentKind::ALL {
                let b = attach(&a, &settings(other), &target()).unwrap();
                assert_eq!(b, attach(&t, &settings(other), &target()).unwrap());
                assert_eq!(attached(&b), Some(other));
                assert_eq!(detach(&b), t);
            }
        }
        // another collector is another setting: re-attached, not doubled
        let a = attach(&t, &settings(AgentKind::SkyWalking), &target()).unwrap();
        let mut s = settings(AgentKind::SkyWalking);
        s.collector = "oap2.skywalking:11800".into();
        let b = attach(&a, &s, &target()).unwrap();
        assert_eq!(
            value(&b, "app", "SW_AGENT_COLLECTOR_BACKEND_SERVICES"),
            Some("oap2.skywalking:11800")
        );
        let jto = value(&b, "app", JAVA_TOOL_OPTIONS).unwrap();
        assert_eq!(jto.matches("-javaagent:").count(), 1, "{jto}");
        assert_eq!(detach(&b), t);
    }

    #[test]
    fn value_from_on_an_appended_variable_is_refused() {
        for name in [JAVA_TOOL_OPTIONS, OTEL_RESOURCE_ATTRIBUTES] {
            let from = EnvVar {
                name: name.into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: "metadata.name".into(),
                    }),
                    ..Default::default()
                }),
            };
            let t = template(vec![container("app", Some(vec![from]))]);
            let err = attach(&t, &settings(AgentKind::OpenTelemetry), &target()).unwrap_err();
            assert_eq!(
                err,
                ApmError::ValueFrom {
                    container: "app".into(),
                    var: name.into()
                }
            );
            let msg = AppError::from(err).text();
            assert!(msg.en.contains("valueFrom"), "{}", msg.en);
            assert!(msg.zh.contains("valueFrom"), "{}", msg.zh);
        }
    }

    #[test]
    fn duplicate_variables_are_refused() {
        let env = vec![
            var(JAVA_TOOL_OPTIONS, "-Xmx1g"),
            var(JAVA_TOOL_OPTIONS, "-Xmx2g"),
        ];
        let t = template(vec![container("app", Some(env))]);
        let err = attach(&t, &settings(AgentKind::SkyWalking), &target()).unwrap_err();
        assert!(matches!(err, ApmError::DuplicateEnv { .. }), "{err:?}");
    }

    #[test]
    fn names_wharf_did_not_add_are_refused() {
        let s = settings(AgentKind::OpenTelemetry);
        let base = template(vec![container("app", None)]);

        let mut t = base.clone();
        t.spec.as_mut().unwrap().volumes = Some(vec![Volume {
            name: VOLUME.into(),
            ..Default::default()
        }]);
        let err = attach(&t, &s, &target()).unwrap_err();
        assert_eq!(err, taken(Taken::Volume, VOLUME));

        let mut t = base.clone();
        t.spec.as_mut().unwrap().init_containers = Some(vec![container(INIT_CONTAINER, None)]);
        let err = attach(&t, &s, &target()).unwrap_err();
        assert_eq!(err, taken(Taken::Container, INIT_CONTAINER));

        let t = template(vec![container(INIT_CONTAINER, None)]);
        let err = attach(&t, &s, &target()).unwrap_err();
        assert_eq!(err, taken(Taken::Container, INIT_CONTAINER));

        let mut t = base.clone();
        t.spec.as_mut().unwrap().containers[0].volume_mounts = Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: "/wharf-apm/".into(),
            ..Default::default()
        }]);
        let err = attach(&t, &s, &target()).unwrap_err();
        assert!(matches!(
            err,
            ApmError::NameTaken {
                what: Taken::MountPath,
                ..
            }
        ));

        let t = template(vec![container("app", Some(vec![var(POD_NAME_VAR, "x")]))]);
        let err = attach(&t, &s, &target()).unwrap_err();
        assert_eq!(err, taken(Taken::EnvVar, POD_NAME_VAR));
        assert!(AppError::from(err).text().zh.contains(POD_NAME_VAR));
    }

    #[test]
    fn a_template_without_containers_is_refused() {
        let s = settings(AgentKind::OpenTelemetry);
        let err = attach(&template(vec![]), &s, &target()).unwrap_err();
        assert_eq!(err, ApmError::NoContainers);
        let t = PodTemplateSpec::default();
        assert_eq!(
            attach(&t, &s, &target()).unwrap_err(),
            ApmError::NoContainers
        );
    }

    #[test]
    fn an_operator_injected_template_is_refused() {
        let t = annotate_for_operator(&template(vec![container("app", None)]), None);
        let s = settings(AgentKind::OpenTelemetry);
        let err = attach(&t, &s, &target()).unwrap_err();
        assert!(matches!(err, ApmError::OperatorInjects { .. }), "{err:?}");
        let off = annotate_for_operator(&t, Some("false"));
        assert!(attach(&off, &s, &target()).is_ok());
    }

    #[test]
    fn hostile_settings_and_targets_are_refused() {
        let t = template(vec![container("app", None)]);
        for image in [
            "",
            " ",
            "busybox\n",
            "busy box",
            "busybox:1.0 --privileged",
            "Busybox",
            "evil;rm -rf /",
            "$(SECRET)",
            "busybox:",
            "busybox@sha256:12",
            "/busybox",
            "busybox\u{0}",
            "busybox\u{202e}",
            &"a".repeat(600),
        ] {
            let mut s = settings(AgentKind::OpenTelemetry);
            s.image = Some(image.into());
            let err = attach(&t, &s, &target()).unwrap_err();
            assert_eq!(err, ApmError::InvalidImage(image.into()), "{image:?}");
            assert!(!err.to_string().contains('\n'));
        }
        for (kind, collector) in [
            (AgentKind::OpenTelemetry, ""),
            (AgentKind::OpenTelemetry, "otel:4317"),
            (AgentKind::OpenTelemetry, "ftp://otel:4317"),
            (AgentKind::OpenTelemetry, "http://otel:4317 -Dx=y"),
            (AgentKind::OpenTelemetry, "http://otel:99999"),
            (AgentKind::OpenTelemetry, "http://user@otel:4317"),
            (AgentKind::OpenTelemetry, "http://otel:4317/$(SECRET)"),
            (AgentKind::OpenTelemetry, "http://otel\r\n:4317"),
            (AgentKind::Pinpoint, "collector -Dprofiler.enable=false"),
            (AgentKind::Pinpoint, "collector:9991"),
            (AgentKind::Pinpoint, "-collector"),
            (AgentKind::Pinpoint, "\tcollector"),
            (AgentKind::SkyWalking, "oap"),
            (AgentKind::SkyWalking, "oap:11800,"),
            (AgentKind::SkyWalking, "oap:0"),
            (AgentKind::SkyWalking, "oap:11800\u{7f}"),
        ] {
            let s = AgentSettings {
                kind,
                image: None,
                collector: collector.into(),
            };
            let err = attach(&t, &s, &target()).unwrap_err();
            assert!(
                matches!(err, ApmError::InvalidCollector { .. }),
                "{kind:?} {collector:?}: {err:?}"
            );
        }
        let bad_targets = [
            (TargetField::App, "Shop"),
            (TargetField::App, "shop app"),
            (TargetField::App, "shop -Dx=1"),
            (TargetField::App, ""),
            (TargetField::Tenant, "acme::x"),
            (TargetField::Tenant, "acme,k8s.pod=x"),
            (TargetField::Namespace, "a.b"),
            (TargetField::Namespace, "ns\n"),
        ];
        for (field, v) in bad_targets {
            let mut tg = target();
            match field {
                TargetField::App => tg.app = v.into(),
                TargetField::Tenant => tg.tenant = v.into(),
                _ => tg.namespace = v.into(),
            }
            let err = attach(&t, &settings(AgentKind::SkyWalking), &tg).unwrap_err();
            let want = ApmError::InvalidTarget {
                field,
                value: v.into(),
            };
            assert_eq!(err, want);
        }
        let mut tg = target();
        tg.app = "a-very-long-application-name".into();
        assert!(attach(&t, &settings(AgentKind::OpenTelemetry), &tg).is_ok());
        let err = attach(&t, &settings(AgentKind::Pinpoint), &tg).unwrap_err();
        assert!(matches!(
            err,
            ApmError::InvalidTarget {
                field: TargetField::PinpointApp,
                ..
            }
        ));
    }

    #[test]
    fn valid_settings_pass_the_validators() {
        for image in [
            "busybox",
            "library/busybox:1.36",
            "localhost:5000/apm/agent:v1",
            "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.10.0",
            "registry.acme/apm/sw@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(valid_image(image), "{image}");
        }
        for kind in AgentKind::ALL {
            assert!(valid_image(kind.default_image()), "{kind:?}");
        }
        assert!(valid_collector(
            AgentKind::OpenTelemetry,
            "https://otel.example.com/v1"
        ));
        assert!(valid_collector(
            AgentKind::OpenTelemetry,
            "http://10.0.0.7:4317"
        ));
        assert!(valid_collector(AgentKind::Pinpoint, "10.0.0.7"));
        assert!(valid_collector(
            AgentKind::SkyWalking,
            "oap-0.sw:11800,oap-1.sw:11800"
        ));
        assert!(valid_instrumentation("observability/java"));
        assert!(valid_instrumentation("java"));
        assert!(!valid_instrumentation("a/b/c"));
        assert!(!valid_instrumentation("java\n"));
    }

    #[test]
    fn errors_quote_hostile_values_escaped_and_short() {
        let long = format!("\u{1b}[31m{}", "x".repeat(200));
        let err = ApmError::InvalidImage(long);
        let t = err.text();
        assert!(!t.en.contains('\u{1b}') && !t.zh.contains('\u{1b}'));
        assert!(t.en.len() < 400, "{}", t.en);
        assert_eq!(err.to_string(), t.en);
        assert!(matches!(AppError::from(err), AppError::Invalid(_)));
    }

    #[test]
    fn operator_annotation_round_trips() {
        let t = template(vec![container("app", None)]);
        let a = annotate_for_operator(&t, None);
        assert_eq!(annotation(&a, OPERATOR_INJECT), Some("true"));
        assert_eq!(annotate_for_operator(&a, None), a);
        assert_eq!(unannotate_for_operator(&a), t);

        let named = annotate_for_operator(&a, Some("observability/java"));
        assert_eq!(
            annotation(&named, OPERATOR_INJECT),
            Some("observability/java")
        );
        assert_eq!(unannotate_for_operator(&named), t);

        // a value that was there before comes back
        let mut before = t.clone();
        let meta = before.metadata.as_mut().unwrap();
        meta.annotations = Some(BTreeMap::from([(OPERATOR_INJECT.into(), "false".into())]));
        let a = annotate_for_operator(&before, None);
        assert_eq!(annotation(&a, OPERATOR_INJECT), Some("true"));
        assert_eq!(unannotate_for_operator(&a), before);

        // no metadata at all: none again after
        let bare = PodTemplateSpec::default();
        assert_eq!(
            unannotate_for_operator(&annotate_for_operator(&bare, None)),
            bare
        );
        // not annotated by Wharf: left alone
        assert_eq!(unannotate_for_operator(&before), before);
    }

    #[test]
    fn java_likely_reads_image_and_command() {
        let c = |image: &str, command: &[&str]| Container {
            name: "app".into(),
            image: Some(image.into()),
            command: (!command.is_empty()).then(|| command.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        for yes in [
            c("eclipse-temurin:21-jre", &[]),
            c("registry.acme/team/orders:1.2-jdk17", &[]),
            c("tomcat:10", &[]),
            c("amazoncorretto:21", &[]),
            c("openjdk17-app", &[]),
            c("acme/springboot-orders", &[]),
            c("azul/zulu-openjdk", &[]),
            c("acme/api:1", &["java", "-Xmx1g", "Main"]),
            c("acme/api:1", &["/opt/jdk/bin/java"]),
            c("acme/api:1", &["sh", "-c", "exec java -jar /app.jar"]),
        ] {
            assert!(java_likely(&yes), "{:?} {:?}", yes.image, yes.command);
        }
        for no in [
            c("node:20", &[]),
            c("acme/javascript-frontend:1", &[]),
            c("java-mirror.acme.io/team/web:1", &[]),
            c("python:3.12", &["python", "app.py"]),
            c("nginx", &["nginx", "-g", "daemon off;"]),
        ] {
            assert!(!java_likely(&no), "{:?} {:?}", no.image, no.command);
        }
    }

    // ---- property: detach(attach(t)) == t over generated templates -------------------

    fn env_value() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[ -~]{1,24}"]
    }

    fn from_field() -> EnvVar {
        EnvVar {
            name: String::new(),
            value: None,
            value_from: pod_name_var().value_from,
        }
    }

    /// A container `name` with optional JAVA_TOOL_OPTIONS, OTEL_RESOURCE_ATTRIBUTES, a
    /// service name (plain or from a field), other variables, in any order.
    fn arb_container(name: String) -> impl Strategy<Value = Container> {
        (
            proptest::option::of(env_value()),
            proptest::option::of(env_value()),
            proptest::option::of(prop::bool::ANY),
            proptest::collection::vec(("[A-Z]{1,6}", env_value()), 0..3),
            prop::bool::ANY,
            proptest::option::of(proptest::collection::vec("[a-z]{1,6}", 0..3)),
            any::<u64>(),
        )
            .prop_map(
                move |(jto, attrs, service, others, env_none, mounts, seed)| {
                    let mut env = Vec::new();
                    if let Some(v) = jto {
                        env.push(var(JAVA_TOOL_OPTIONS, &v));
                    }
                    if let Some(v) = attrs {
                        env.push(var(OTEL_RESOURCE_ATTRIBUTES, &v));
                    }
                    match service {
                        Some(true) => env.push(var("OTEL_SERVICE_NAME", "own")),
                        Some(false) => env.push(EnvVar {
                            name: "SW_AGENT_NAME".into(),
                            ..from_field()
                        }),
                        None => {}
                    }
                    for (n, v) in others {
                        let n = format!("USER_{n}");
                        if env.iter().all(|e| e.name != n) {
                            env.push(var(&n, &v));
                        }
                    }
                    // a deterministic shuffle from the seed
                    let len = env.len();
                    for i in (1..len).rev() {
                        env.swap(i, (seed as usize / (i + 1)) % (i + 1));
                    }
                    let mounts = mounts.map(|ms| {
                        ms.into_iter()
                            .map(|m| VolumeMount {
                                name: m.clone(),
                                mount_path: format!("/data/{m}"),
                                ..Default::default()
                            })
                            .collect()
                    });
                    Container {
                        name: name.clone(),
                        image: Some("registry.acme/app:1".into()),
                        env: if env.is_empty() && env_none {
                            None
                        } else {
                            Some(env)
                        },
                        volume_mounts: mounts,
                        ..Default::default()
                    }
                },
            )
    }

    fn arb_template() -> impl Strategy<Value = PodTemplateSpec> {
        let containers = (1usize..=3).prop_flat_map(|n| {
            (0..n)
                .map(|i| arb_container(format!("c{i}")))
                .collect::<Vec<_>>()
        });
        let inits = proptest::option::of((0usize..=2).prop_flat_map(|n| {
            (0..n)
                .map(|i| arb_container(format!("init{i}")))
                .collect::<Vec<_>>()
        }));
        let volumes = proptest::option::of(proptest::collection::vec("[a-z]{1,6}", 0..3));
        let annotations = proptest::option::of(proptest::collection::btree_map(
            "[a-z]{1,5}(\\.io/[a-z]{1,5})?",
            "[ -~]{0,10}",
            0..3,
        ));
        let metadata = proptest::option::of((annotations, prop::bool::ANY));
        (containers, inits, volumes, metadata).prop_map(|(containers, inits, volumes, meta)| {
            PodTemplateSpec {
                metadata: meta.map(|(annotations, labelled)| ObjectMeta {
                    annotations,
                    labels: labelled.then(|| BTreeMap::from([("app".into(), "x".into())])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers,
                    init_containers: inits,
                    volumes: volumes.map(|vs| {
                        vs.into_iter()
                            .map(|name| Volume {
                                name: format!("v-{name}"),
                                ..Default::default()
                            })
                            .collect()
                    }),
                    ..Default::default()
                }),
            }
        })
    }

    fn arb_kind() -> impl Strategy<Value = AgentKind> {
        prop::sample::select(AgentKind::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn detach_undoes_attach(t in arb_template(), kind in arb_kind(), other in arb_kind()) {
            let s = settings(kind);
            let a = attach(&t, &s, &target()).unwrap();
            prop_assert_eq!(attached(&a), Some(kind));
            prop_assert_eq!(&detach(&a), &t);
            prop_assert_eq!(&attach(&a, &s, &target()).unwrap(), &a);
            let before = &t.spec.as_ref().unwrap().containers;
            for (c, was) in a.spec.as_ref().unwrap().containers.iter().zip(before) {
                let env = c.env.as_deref().unwrap_or_default();
                let jto = env.iter().position(|e| e.name == JAVA_TOOL_OPTIONS).unwrap();
                let opts = env[jto].value.as_deref().unwrap();
                prop_assert!(opts.contains(&kind.javaagent_option()));
                // appended, never clobbered
                let own = was.env.iter().flatten().find(|e| e.name == JAVA_TOOL_OPTIONS);
                let own = own.and_then(|e| e.value.as_deref()).unwrap_or("");
                prop_assert!(opts.starts_with(own), "{:?} lost {:?}", opts, own);
                if kind == AgentKind::Pinpoint {
                    let pod = env.iter().position(|e| e.name == POD_NAME_VAR).unwrap();
                    prop_assert!(pod < jto);
                }
            }
            let b = attach(&a, &settings(other), &target()).unwrap();
            prop_assert_eq!(&detach(&b), &t);
        }
    }
}
