//! What the deploy form adds to an app's pods beyond image and port: volumes (a new or
//! existing claim, a ConfigMap or Secret as files or environment), health checks, sidecar
//! containers, an image pull secret and environment kept in a Secret — and their checks,
//! shared by the page (before sending) and the server (before creating anything).

use crate::{text, Text};
use serde::{Deserialize, Serialize};

/// Where a mount's content comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSource {
    /// A claim created with the app (for a StatefulSet: one per replica, from a template).
    NewClaim {
        name: String,
        size: String,
        /// Empty: the cluster's default class.
        #[serde(default)]
        class: String,
    },
    /// A claim of the namespace.
    Claim { name: String },
    /// A ConfigMap's keys as files in a folder.
    ConfigMap { name: String },
    /// A Secret's keys as files in a folder.
    Secret { name: String },
    /// Every key of a ConfigMap as an environment variable (no path).
    ConfigMapEnv { name: String },
    /// Every key of a Secret as an environment variable (no path).
    SecretEnv { name: String },
}

impl MountSource {
    pub fn name(&self) -> &str {
        match self {
            MountSource::NewClaim { name, .. }
            | MountSource::Claim { name }
            | MountSource::ConfigMap { name }
            | MountSource::Secret { name }
            | MountSource::ConfigMapEnv { name }
            | MountSource::SecretEnv { name } => name,
        }
    }

    /// Whether it is mounted at a path (env sources are not).
    pub fn has_path(&self) -> bool {
        !matches!(
            self,
            MountSource::ConfigMapEnv { .. } | MountSource::SecretEnv { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountForm {
    pub source: MountSource,
    /// An absolute path in the container; empty for env sources.
    #[serde(default)]
    pub path: String,
}

/// How a health check asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeAction {
    /// `GET path` on the app's port: 200–399 is healthy.
    Http { path: String },
    /// A TCP connection to the app's port is accepted.
    Tcp,
    /// A command in the container exits 0 (`sh -c`).
    Command { command: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeForm {
    pub action: ProbeAction,
    /// The port asked (HTTP, TCP); `None`: the app's port.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub initial_delay_seconds: i32,
    /// Seconds between tries (1–3600; the form's default 10).
    pub period_seconds: i32,
    /// Failures in a row before it counts (1–100; the form's default 3).
    pub failure_threshold: i32,
}

impl ProbeForm {
    /// The form's suggestion for the app's port: `GET /` every 10 s, 3 failures.
    pub fn http(path: &str) -> ProbeForm {
        ProbeForm {
            action: ProbeAction::Http { path: path.into() },
            port: None,
            initial_delay_seconds: 0,
            period_seconds: 10,
            failure_threshold: 3,
        }
    }
}

/// The three health checks; each optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbesForm {
    /// Failing: the pod gets no traffic (out of the Service and nginx) until it passes.
    #[serde(default)]
    pub readiness: Option<ProbeForm>,
    /// Failing: the container is restarted.
    #[serde(default)]
    pub liveness: Option<ProbeForm>,
    /// Until it passes the others wait (a slow-starting Java app).
    #[serde(default)]
    pub startup: Option<ProbeForm>,
}

impl ProbesForm {
    pub fn each(&self) -> [(&'static str, Option<&ProbeForm>); 3] {
        [
            ("readiness", self.readiness.as_ref()),
            ("liveness", self.liveness.as_ref()),
            ("startup", self.startup.as_ref()),
        ]
    }
}

/// An app's health checks, as its page shows and edits them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppProbes {
    /// The checks the form can show (a check in `custom` is `None` here).
    pub probes: ProbesForm,
    /// The app container's port, which a check with `port: None` asks.
    pub port: Option<u16>,
    /// Checks set in a way only the YAML editor shows (a named port, HTTPS, headers, a
    /// timeout or success threshold of their own, a command not run by `sh -c`): `readiness`,
    /// `liveness` or `startup`. Saving the form leaves them as they are.
    pub custom: Vec<String>,
}

/// A second container in the app's pods (a log shipper, a proxy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarForm {
    pub name: String,
    pub image: String,
    /// `sh -c` command; empty: the image's own.
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// It sees the app's volumes at the same paths.
    #[serde(default)]
    pub share_mounts: bool,
}

/// Paths no volume may take (the container's own system folders).
const RESERVED: &[&str] = &["/", "/proc", "/sys", "/dev", "/etc", "/bin", "/usr", "/lib"];

/// Whether `path` is an absolute, plain path (no `.`, `..`, empty parts, or odd characters).
pub fn is_mount_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 1024
        && path[1..]
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
}

/// Whether `a` and `b` overlap: the same, or one inside the other.
pub fn paths_overlap(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| x == y || x.starts_with(&format!("{y}/"));
    inside(a, b) || inside(b, a)
}

/// The problems of the mounts, probes and sidecars of a form whose container port is
/// `port`: each a sentence in both languages.
pub fn check(
    mounts: &[MountForm],
    probes: &ProbesForm,
    sidecars: &[SidecarForm],
    port: Option<u16>,
    app: &str,
) -> Vec<Text> {
    let mut errors = Vec::new();
    let field = text!("volume", "存储卷");
    let mut paths: Vec<&str> = Vec::new();
    let mut new_claims: Vec<&str> = Vec::new();
    for m in mounts {
        let name = m.source.name();
        if !crate::config::is_object_name(name) {
            errors.push(text!(
                "volume '{name}': not a valid name (lower-case letters, digits, '-', '.')",
                "存储卷“{name}”:名称无效(只能包含小写字母、数字、“-”和“.”)"
            ));
        }
        if let MountSource::NewClaim { name, size, .. } = &m.source {
            if let Err(e) = crate::workloads::validate::name(&field, name) {
                errors.push(e);
            }
            if let Err(e) = crate::storage::check_size(size) {
                errors.push(text!("claim {name}: {e}", "存储卷声明 {name}:{e}"));
            }
            if new_claims.contains(&name.as_str()) {
                errors.push(text!(
                    "claim '{name}' is given twice",
                    "存储卷声明“{name}”重复"
                ));
            }
            new_claims.push(name);
        }
        if !m.source.has_path() {
            continue;
        }
        let path = m.path.as_str();
        if !is_mount_path(path) {
            errors.push(text!(
                "mount path '{path}': an absolute path such as /data (letters, digits, '-', '_', '.')",
                "挂载路径“{path}”:应为绝对路径,如 /data(字母、数字、“-”“_”“.”)"
            ));
        } else if RESERVED.contains(&path)
            || path.starts_with("/proc/")
            || path.starts_with("/sys/")
            || path.starts_with("/dev/")
        {
            errors.push(text!(
                "mount path '{path}' would hide the container's own system files",
                "挂载路径“{path}”会遮盖容器自身的系统文件"
            ));
        } else if let Some(other) = paths.iter().find(|p| paths_overlap(p, path)) {
            errors.push(text!(
                "mount paths '{other}' and '{path}' overlap: one would hide the other",
                "挂载路径“{other}”与“{path}”重叠:其中一个会遮盖另一个"
            ));
        }
        paths.push(path);
    }
    for (which, probe) in probes.each() {
        let Some(p) = probe else { continue };
        let label = match which {
            "readiness" => text!("readiness check", "就绪检查"),
            "liveness" => text!("liveness check", "存活检查"),
            _ => text!("startup check", "启动检查"),
        };
        match &p.action {
            ProbeAction::Http { path } => {
                if !path.starts_with('/')
                    || path.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    errors.push(text!(
                        "{label}: the path '{path}' must start with / and have no spaces",
                        "{label}:路径“{path}”必须以 / 开头且不含空格"
                    ));
                }
            }
            ProbeAction::Tcp => {}
            ProbeAction::Command { command } => {
                if command.trim().is_empty() {
                    errors.push(text!("{label}: the command is empty", "{label}:命令为空"));
                }
            }
        }
        if !matches!(p.action, ProbeAction::Command { .. }) {
            match (p.port.or(port), port) {
                (None, _) => errors.push(text!(
                    "{label}: the app has no port to check (set the container port)",
                    "{label}:应用没有可检查的端口(请设置容器端口)"
                )),
                (Some(asked), exposed) if Some(asked) != exposed => errors.push(text!(
                    "{label}: port {asked} is not a port the container exposes",
                    "{label}:端口 {asked} 不是容器暴露的端口"
                )),
                _ => {}
            }
        }
        if !(1..=3600).contains(&p.period_seconds) {
            errors.push(text!(
                "{label}: every 1 to 3600 seconds",
                "{label}:间隔应为 1 到 3600 秒"
            ));
        }
        if !(1..=100).contains(&p.failure_threshold) {
            errors.push(text!(
                "{label}: 1 to 100 failures in a row",
                "{label}:连续失败次数应为 1 到 100"
            ));
        }
        if !(0..=3600).contains(&p.initial_delay_seconds) {
            errors.push(text!(
                "{label}: a first delay of 0 to 3600 seconds",
                "{label}:首次延迟应为 0 到 3600 秒"
            ));
        }
    }
    let mut names = vec![app.to_string()];
    for s in sidecars {
        let n = &s.name;
        if let Err(e) = crate::workloads::validate::name(&text!("sidecar", "边车容器"), n) {
            errors.push(e);
        } else if names.contains(n) {
            errors.push(text!(
                "sidecar '{n}': another container has that name",
                "边车容器“{n}”:与其他容器同名"
            ));
        }
        names.push(n.clone());
        if let Err(e) = crate::workloads::validate::image(&s.image) {
            errors.push(text!("sidecar {n}: {e}", "边车容器 {n}:{e}"));
        }
        if let Some(p) = s.port {
            if p == 0 || Some(p) == port {
                errors.push(text!(
                    "sidecar {n}: port {p} is the app's or not a port",
                    "边车容器 {n}:端口 {p} 与应用端口相同或无效"
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(source: MountSource, path: &str) -> MountForm {
        MountForm {
            source,
            path: path.into(),
        }
    }

    fn claim(name: &str, size: &str) -> MountSource {
        MountSource::NewClaim {
            name: name.into(),
            size: size.into(),
            class: String::new(),
        }
    }

    fn errors(mounts: &[MountForm], probes: &ProbesForm, sidecars: &[SidecarForm]) -> Vec<String> {
        check(mounts, probes, sidecars, Some(8080), "orders")
            .into_iter()
            .map(|t| t.en)
            .collect()
    }

    #[test]
    fn paths_are_absolute_plain_and_apart() {
        assert!(is_mount_path("/data"));
        assert!(is_mount_path("/etc/orders/conf.d"));
        for bad in ["data", "/", "/a/../b", "/a//b", "/a/", "/a b", "/a;b"] {
            assert!(!is_mount_path(bad), "{bad}");
        }
        assert!(paths_overlap("/data", "/data"));
        assert!(paths_overlap("/data", "/data/logs"));
        assert!(!paths_overlap("/data", "/database"));
    }

    #[test]
    fn a_good_set_passes() {
        let m = [
            mount(claim("orders-data", "1Gi"), "/data"),
            mount(
                MountSource::ConfigMap {
                    name: "orders-config".into(),
                },
                "/app/config",
            ),
            mount(
                MountSource::SecretEnv {
                    name: "orders-db".into(),
                },
                "",
            ),
        ];
        let probes = ProbesForm {
            readiness: Some(ProbeForm::http("/healthz")),
            ..Default::default()
        };
        assert!(errors(&m, &probes, &[]).is_empty());
    }

    #[test]
    fn each_mistake_is_named() {
        let m = [
            mount(claim("data", "1GB"), "/data"),
            mount(MountSource::ConfigMap { name: "cfg".into() }, "/data/conf"),
            mount(MountSource::Secret { name: "s".into() }, "/etc"),
            mount(MountSource::Claim { name: "Bad".into() }, "x"),
        ];
        let e = errors(&m, &ProbesForm::default(), &[]);
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e[0].contains("'1GB' is not a storage size"));
        assert!(e[1].contains("'/data' and '/data/conf' overlap"));
        assert!(e[2].contains("system files"));
        assert!(e[3].contains("'Bad'"));
        assert!(e[4].contains("mount path 'x'"));
    }

    #[test]
    fn a_probe_must_ask_the_port_the_container_exposes() {
        let mut p = ProbeForm::http("/ready");
        p.port = Some(9090);
        let probes = ProbesForm {
            readiness: Some(p),
            liveness: Some(ProbeForm {
                action: ProbeAction::Command {
                    command: " ".into(),
                },
                ..ProbeForm::http("/")
            }),
            startup: Some(ProbeForm {
                period_seconds: 0,
                ..ProbeForm::http("no-slash")
            }),
        };
        let e = errors(&[], &probes, &[]);
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[0].contains("port 9090 is not a port the container exposes"));
        assert!(e[1].contains("liveness check: the command is empty"));
        assert!(e[2].contains("must start with /"));
        assert!(e[3].contains("every 1 to 3600 seconds"));
        let none = check(
            &[],
            &ProbesForm {
                readiness: Some(ProbeForm::http("/")),
                ..Default::default()
            },
            &[],
            None,
            "x",
        );
        assert!(none[0].en.contains("no port to check"));
    }

    #[test]
    fn sidecars_need_their_own_names_and_images() {
        let s = |name: &str, image: &str, port| SidecarForm {
            name: name.into(),
            image: image.into(),
            command: String::new(),
            port,
            share_mounts: false,
        };
        let e = errors(
            &[],
            &ProbesForm::default(),
            &[
                s("orders", "busybox", None),
                s("log", "Bad Image", Some(8080)),
            ],
        );
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(e[0].contains("another container has that name"));
        assert!(e[1].starts_with("sidecar log:"));
        assert!(e[2].contains("port 8080"));
    }
}
