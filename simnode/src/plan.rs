//! What the pod spec asks the node to simulate.
//!
//! A [`PodPlan`] is read once from the `Pod` when it starts: which containers run for real
//! (Job pods' commands), which are simulated apps, which failures to inject (see the table
//! in the crate docs), ports to serve, resource limits for metrics. Everything later works
//! from the plan, never from the `Pod` again, so a spec change needs a new pod — as in
//! Kubernetes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, EphemeralContainer, Pod, ResourceRequirements,
};

use crate::probes::Probe;
use crate::programs::{MissingPrograms, ANN_MISSING_PROGRAMS};
use crate::volumes::FileVolume;
use crate::{shims, termination};
use crate::{Error, Result};

/// Pod annotation: seconds until each container exits with code 1.
pub const ANN_CRASH_AFTER: &str = "sim.wharf.dev/crash-after";
/// Pod annotation: exit code each container exits with at once.
pub const ANN_EXIT_CODE: &str = "sim.wharf.dev/exit-code";
/// Pod annotation: `threads`, `sockets` or `fds` — that count climbs steadily.
pub const ANN_LEAK: &str = "sim.wharf.dev/leak";
/// Pod annotation: CPU usage pinned at this many millicores.
pub const ANN_CPU: &str = "sim.wharf.dev/cpu";
/// Pod annotation: log lines per second, overriding the node's default.
pub const ANN_LOG_RATE: &str = "sim.wharf.dev/log-rate";
/// Pod annotation: the calls the app makes, for the trace metrics of [`crate::traces`]
/// (`payments, billing/invoices@900ms!5%, db:orders-db@1.2s`; see
/// [`crate::traces::parse_calls`]).
pub const ANN_CALLS: &str = "sim.wharf.dev/calls";

/// Container env twins of the annotations above (the env var wins).
pub const ENV_CRASH_AFTER: &str = "WHARF_SIM_CRASH_AFTER";
pub const ENV_EXIT: &str = "WHARF_SIM_EXIT";
pub const ENV_LEAK: &str = "WHARF_SIM_LEAK";
pub const ENV_CPU: &str = "WHARF_SIM_CPU";
pub const ENV_LOG_RATE: &str = "WHARF_SIM_LOG_RATE";

/// The pod's `spec.restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// Whether a container that exited with `exit_code` is started again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// Which kind of resource count leaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leak {
    Threads,
    Sockets,
    Fds,
}

/// The look of a simulated app's logs and metrics, guessed from its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Spring-Boot-like: threads, classes, stack traces.
    Java,
    /// nginx access and error log lines.
    Nginx,
    Generic,
}

impl Flavor {
    fn from_image(image: &str) -> Self {
        let i = image.to_ascii_lowercase();
        const JAVA: [&str; 10] = [
            "java", "jdk", "jre", "spring", "temurin", "corretto", "tomcat", "maven", "gradle",
            "quarkus",
        ];
        if i.contains("nginx") || i.contains("openresty") {
            Flavor::Nginx
        } else if JAVA.iter().any(|k| i.contains(k)) {
            Flavor::Java
        } else {
            Flavor::Generic
        }
    }
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    Regular,
    /// Added later through `pods/ephemeralcontainers` (`kubectl debug`); never restarted.
    Ephemeral,
}

impl ContainerKind {
    /// The field of the pod spec (`spec.initContainers{NAME}` in events).
    pub fn spec_field(self) -> &'static str {
        match self {
            ContainerKind::Init => "initContainers",
            ContainerKind::Regular => "containers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// What a container does once it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// A long-running simulated app: serves its ports, writes logs, never exits on its own.
    App,
    /// A Job's container: this argv runs for real as a local process. `$(VAR)` references
    /// are expanded when it starts, against its resolved environment.
    Command(Vec<String>),
    /// A container with `stdin` (an ephemeral debug container): this argv runs as a local
    /// process whose terminal (a pty with `tty`) attach sessions share.
    Interactive(Vec<String>),
    /// A container of a Job pod or an init container with nothing to run: a short
    /// simulated task that logs a few lines and exits 0.
    Task,
}

/// One container (or init container) of a [`PodPlan`].
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    pub name: String,
    pub image: String,
    pub kind: ContainerKind,
    /// TCP container ports to answer HTTP on.
    pub ports: Vec<u16>,
    /// `env` entries with a literal value, for the knobs (the environment a process gets
    /// is resolved from `env_vars` and `env_from` when it starts, see [`crate::env`]).
    pub env: Vec<(String, String)>,
    pub env_vars: Vec<EnvVar>,
    pub env_from: Vec<EnvFromSource>,
    pub resources: Option<ResourceRequirements>,
    /// `terminationMessagePath` (see [`crate::termination`]).
    pub termination_message_path: String,
    /// `terminationMessagePolicy: FallbackToLogsOnError`.
    pub termination_fallback_to_logs: bool,
    /// Programs the image lacks (see [`crate::programs`]).
    pub missing_programs: MissingPrograms,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    pub working_dir: Option<String>,
    /// `command` and `args` as the pod spec gives them (empty: unset), for a built image
    /// whose `ENTRYPOINT` and `CMD` they replace (see [`crate::image`]).
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// `volumeMounts`; volumes become shared directories of the pod.
    pub mounts: Vec<Mount>,
    /// Volumes this container mounts only `readOnly` (honoured for claims' folders).
    pub read_only_volumes: Vec<String>,
    pub workload: Workload,
    pub crash_after: Option<Duration>,
    pub exit_code: Option<i32>,
    pub image_pull_fails: bool,
    /// `livenessProbe`, `readinessProbe`, `startupProbe` (see [`crate::probes`]); only
    /// containers (not init or ephemeral ones) are probed.
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
    pub startup: Option<Probe>,
    pub leak: Option<Leak>,
    pub cpu_millicores: Option<f64>,
    pub log_rate: Option<f64>,
    pub flavor: Flavor,
    pub cpu_limit_millicores: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
}

impl ContainerPlan {
    pub fn is_init(&self) -> bool {
        self.kind == ContainerKind::Init
    }
}

/// Everything the node needs from a `Pod`, read once at start.
#[derive(Debug, Clone)]
pub struct PodPlan {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub restart_policy: RestartPolicy,
    /// For the downward API (`fieldRef`).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub node_name: String,
    pub service_account: String,
    pub init_containers: Vec<ContainerPlan>,
    pub containers: Vec<ContainerPlan>,
    /// Volumes that are PersistentVolumeClaims: volume name → the claim (the node asks its
    /// [`crate::ObjectSource`] for the claim's folder).
    pub claims: BTreeMap<String, ClaimVolume>,
    /// Volumes whose files the node writes: `configMap`, `secret`, `downwardAPI` and
    /// `projected` ones, by volume name (see [`crate::volumes`]).
    pub file_volumes: BTreeMap<String, FileVolume>,
}

/// One `volumeMounts` entry of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub volume: String,
    /// `mountPath`, absolute in the container.
    pub path: String,
    /// `subPath`: only this file or folder of the volume is mounted (a file volume's is a
    /// copy made when the container starts, never updated, as in Kubernetes).
    pub sub_path: Option<String>,
}

/// A `persistentVolumeClaim` volume of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimVolume {
    pub claim_name: String,
    /// `persistentVolumeClaim.readOnly`: every container sees it read-only.
    pub read_only: bool,
}

impl PodPlan {
    /// Reads the plan from a pod; fails when uid, name or spec are missing.
    pub fn from_pod(pod: &Pod) -> Result<Self> {
        let meta = &pod.metadata;
        let name = meta
            .name
            .clone()
            .ok_or_else(|| Error::InvalidPod("metadata.name is missing".into()))?;
        let uid = meta
            .uid
            .clone()
            .ok_or_else(|| Error::InvalidPod(format!("pod {name} has no metadata.uid")))?;
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        let spec = pod
            .spec
            .as_ref()
            .ok_or_else(|| Error::InvalidPod(format!("pod {name} has no spec")))?;
        if spec.containers.is_empty() {
            return Err(Error::InvalidPod(format!("pod {name} has no containers")));
        }
        let restart_policy = match spec.restart_policy.as_deref() {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        };
        let empty = BTreeMap::new();
        let annotations = meta.annotations.as_ref().unwrap_or(&empty);
        let plan = |c: &Container, kind| container_plan(c, kind, restart_policy, annotations);
        Ok(PodPlan {
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .map(|c| plan(c, ContainerKind::Init))
                .collect(),
            containers: spec
                .containers
                .iter()
                .map(|c| plan(c, ContainerKind::Regular))
                .collect(),
            namespace,
            name,
            uid,
            restart_policy,
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: annotations.clone(),
            node_name: spec.node_name.clone().unwrap_or_default(),
            service_account: spec
                .service_account_name
                .clone()
                .unwrap_or_else(|| "default".into()),
            claims: spec
                .volumes
                .iter()
                .flatten()
                .filter_map(|v| {
                    let c = v.persistent_volume_claim.as_ref()?;
                    Some((
                        v.name.clone(),
                        ClaimVolume {
                            claim_name: c.claim_name.clone(),
                            read_only: c.read_only == Some(true),
                        },
                    ))
                })
                .collect(),
            file_volumes: spec
                .volumes
                .iter()
                .flatten()
                .filter_map(|v| Some((v.name.clone(), FileVolume::of(v)?)))
                .collect(),
        })
    }

    /// The plan of an ephemeral container of this pod: it runs its command (or `sh`) as a
    /// process — interactively when it has `stdin` — lacks no program, and is never
    /// restarted.
    pub fn ephemeral(&self, ec: &EphemeralContainer) -> ContainerPlan {
        // NB: the fields an ephemeral container shares with a container have the same
        // names and shapes, and `targetContainerName` is ignored by `Container`.
        let c: Container = serde_json::to_value(ec)
            .and_then(serde_json::from_value)
            .unwrap_or_else(|_| Container {
                name: ec.name.clone(),
                image: ec.image.clone(),
                ..Default::default()
            });
        let mut plan = container_plan(
            &c,
            ContainerKind::Ephemeral,
            self.restart_policy,
            &BTreeMap::new(),
        );
        let mut argv: Vec<String> = c
            .command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .cloned()
            .collect();
        if argv.is_empty() {
            argv.push("sh".into());
        }
        plan.workload = if plan.stdin {
            Workload::Interactive(argv)
        } else {
            Workload::Command(argv)
        };
        plan.missing_programs = MissingPrograms::None;
        plan.ports.clear();
        (plan.liveness, plan.readiness, plan.startup) = (None, None, None);
        plan
    }

    /// Init containers then containers.
    pub fn all_containers(&self) -> impl Iterator<Item = &ContainerPlan> {
        self.init_containers.iter().chain(&self.containers)
    }
}

fn container_plan(
    c: &Container,
    kind: ContainerKind,
    policy: RestartPolicy,
    annotations: &BTreeMap<String, String>,
) -> ContainerPlan {
    let init = kind == ContainerKind::Init;
    let probed = kind == ContainerKind::Regular;
    let env: Vec<(String, String)> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    let knob = |env_name: &str, ann: &str| -> Option<String> {
        env.iter()
            .find(|(k, _)| k == env_name)
            .map(|(_, v)| v.clone())
            .or_else(|| annotations.get(ann).cloned())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let argv: Vec<String> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .cloned()
        .collect();
    let workload = if policy == RestartPolicy::Always && !init {
        Workload::App
    } else if policy != RestartPolicy::Always && !argv.is_empty() {
        Workload::Command(argv)
    } else if init && shims::is_agent_copy(&argv) {
        // NB: other init containers of a long-running pod are simulated tasks; the APM
        // switch's copy of a tracing agent runs for real, so the agent is where the app
        // container looks for it (see `crate::traces`).
        Workload::Command(argv)
    } else {
        Workload::Task
    };
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    let image = c.image.clone().unwrap_or_default();
    ContainerPlan {
        name: c.name.clone(),
        kind,
        env_vars: c.env.clone().unwrap_or_default(),
        env_from: c.env_from.clone().unwrap_or_default(),
        resources: c.resources.clone(),
        termination_message_path: c
            .termination_message_path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| termination::DEFAULT_PATH.into()),
        termination_fallback_to_logs: c.termination_message_policy.as_deref()
            == Some("FallbackToLogsOnError"),
        missing_programs: MissingPrograms::for_container(
            annotations.get(ANN_MISSING_PROGRAMS).map(String::as_str),
            &image,
        ),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        ports: c
            .ports
            .iter()
            .flatten()
            .filter(|p| {
                p.protocol
                    .as_deref()
                    .is_none_or(|p| p.eq_ignore_ascii_case("TCP"))
            })
            .filter_map(|p| u16::try_from(p.container_port).ok())
            .filter(|p| *p != 0)
            .collect(),
        working_dir: c.working_dir.clone(),
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        mounts: c
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| Mount {
                volume: m.name.clone(),
                path: m.mount_path.clone(),
                sub_path: m.sub_path.clone().filter(|p| !p.is_empty()),
            })
            .collect(),
        read_only_volumes: {
            let mounts = c.volume_mounts.iter().flatten();
            let (ro, rw): (Vec<_>, Vec<_>) = mounts.partition(|m| m.read_only == Some(true));
            ro.into_iter()
                .filter(|m| !rw.iter().any(|w| w.name == m.name))
                .map(|m| m.name.clone())
                .collect()
        },
        workload,
        crash_after: knob(ENV_CRASH_AFTER, ANN_CRASH_AFTER)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        exit_code: knob(ENV_EXIT, ANN_EXIT_CODE).and_then(|v| v.parse().ok()),
        image_pull_fails: image_pull_fails(&image),
        liveness: probed
            .then(|| Probe::of(c.liveness_probe.as_ref()?, c))
            .flatten(),
        readiness: probed
            .then(|| Probe::of(c.readiness_probe.as_ref()?, c))
            .flatten(),
        startup: probed
            .then(|| Probe::of(c.startup_probe.as_ref()?, c))
            .flatten(),
        leak: knob(ENV_LEAK, ANN_LEAK).and_then(|v| match v.to_ascii_lowercase().as_str() {
            "threads" | "thread" => Some(Leak::Threads),
            "sockets" | "socket" => Some(Leak::Sockets),
            "fds" | "fd" | "files" => Some(Leak::Fds),
            _ => None,
        }),
        cpu_millicores: knob(ENV_CPU, ANN_CPU)
            .and_then(|v| parse_cpu_millicores(&v))
            .map(|m| m as f64),
        log_rate: knob(ENV_LOG_RATE, ANN_LOG_RATE)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|r| r.is_finite() && *r >= 0.0),
        flavor: Flavor::from_image(&image),
        cpu_limit_millicores: limits
            .and_then(|l| l.get("cpu"))
            .and_then(|q| parse_cpu_millicores(&q.0)),
        memory_limit_bytes: limits
            .and_then(|l| l.get("memory"))
            .and_then(|q| parse_bytes(&q.0)),
        image,
        env,
    }
}

/// Images the simulated registry does not have: tag `bad`, or a name containing
/// `doesnotexist`.
pub fn image_pull_fails(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.rsplit_once(':').is_some_and(|(_, tag)| tag == "bad") || image.contains("doesnotexist")
}

/// Kubernetes' `$(VAR)` expansion in command and args: defined variables are replaced,
/// `$$` escapes a dollar, anything else stays as written.
pub fn expand_env_refs(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match env.iter().rev().find(|(k, _)| k == name) {
                        Some((_, v)) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `"500m"` → 500, `"2"` → 2000, `"0.25"` → 250.
pub fn parse_cpu_millicores(q: &str) -> Option<u64> {
    let q = q.trim();
    let v = if let Some(m) = q.strip_suffix('m') {
        m.parse::<f64>().ok()?
    } else {
        q.parse::<f64>().ok()? * 1000.0
    };
    (v.is_finite() && v >= 0.0).then_some(v.round() as u64)
}

/// Kubernetes memory quantities: `128Mi`, `1G`, `512k`, `1e6`, plain bytes.
pub fn parse_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    const SUFFIXES: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (num, mult) = SUFFIXES
        .iter()
        .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
        .unwrap_or((q, 1.0));
    let v = num.parse::<f64>().ok()? * mult;
    (v.is_finite() && v >= 0.0).then_some(v.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn claim_volumes_and_read_only_mounts_are_read() {
        let p = PodPlan::from_pod(&pod(serde_json::json!({
            "metadata": {"name": "p", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "seen", "mountPath": "/seen", "readOnly": true},
                    {"name": "both", "mountPath": "/a", "readOnly": true},
                    {"name": "both", "mountPath": "/b"}]}],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "db"}},
                    {"name": "seen", "persistentVolumeClaim": {"claimName": "ref", "readOnly": true}},
                    {"name": "both", "emptyDir": {}}]}
        })))
        .unwrap();
        let claim = |n: &str, ro| ClaimVolume {
            claim_name: n.into(),
            read_only: ro,
        };
        assert_eq!(
            p.claims,
            BTreeMap::from([
                ("data".to_string(), claim("db", false)),
                ("seen".to_string(), claim("ref", true)),
            ])
        );
        assert_eq!(p.containers[0].read_only_volumes, ["seen"]);
    }

    #[test]
    fn job_containers_run_commands_and_apps_do_not() {
        let job = pod(serde_json::json!({
            "metadata": {"name": "j", "uid": "u1"},
            "spec": {"restartPolicy": "Never",
                "initContainers": [{"name": "clone", "image": "alpine/git", "command": ["sh", "-c", "echo $(REPO)"],
                    "env": [{"name": "REPO", "value": "r.git"}]}],
                "containers": [{"name": "c", "image": "busybox"}]}
        }));
        let p = PodPlan::from_pod(&job).unwrap();
        assert_eq!(p.namespace, "default");
        assert_eq!(
            p.init_containers[0].workload,
            Workload::Command(vec!["sh".into(), "-c".into(), "echo $(REPO)".into()]),
            "expanded when it starts, against the resolved env"
        );
        assert_eq!(
            p.init_containers[0].termination_message_path,
            "/dev/termination-log"
        );
        assert_eq!(p.containers[0].workload, Workload::Task);

        let app = pod(serde_json::json!({
            "metadata": {"name": "a", "uid": "u2", "annotations": {"sim.wharf.dev/crash-after": "3", "sim.wharf.dev/leak": "threads"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "command": ["nginx"],
                "ports": [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}],
                "env": [{"name": "WHARF_SIM_CRASH_AFTER", "value": "1.5"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                "readinessProbe": {"initialDelaySeconds": 4}}]}
        }));
        let p = PodPlan::from_pod(&app).unwrap();
        let c = &p.containers[0];
        assert_eq!(c.workload, Workload::App);
        assert_eq!(c.ports, vec![8080]);
        assert_eq!(c.crash_after, Some(Duration::from_millis(1500)));
        assert_eq!(c.leak, Some(Leak::Threads));
        assert_eq!(c.flavor, Flavor::Nginx);
        assert_eq!(c.cpu_limit_millicores, Some(500));
        assert_eq!(c.memory_limit_bytes, Some(128 * 1024 * 1024));
        let readiness = c.readiness.as_ref().expect("a readiness probe");
        assert_eq!(readiness.initial_delay, Duration::from_secs(4));
        assert_eq!(
            readiness.period,
            Duration::from_secs(10),
            "the API's default"
        );
    }

    #[test]
    fn ephemeral_containers_run_a_shell_and_lack_nothing() {
        let app = pod(serde_json::json!({
            "metadata": {"name": "a", "uid": "u3", "annotations": {"sim.wharf.dev/missing-programs": "*"}},
            "spec": {"containers": [{"name": "app", "image": "gcr.io/distroless/java21"}]}
        }));
        let p = PodPlan::from_pod(&app).unwrap();
        assert_eq!(p.containers[0].missing_programs, MissingPrograms::All);
        let ec = |v: serde_json::Value| p.ephemeral(&serde_json::from_value(v).unwrap());
        let shell = ec(
            serde_json::json!({"name": "dbg", "image": "busybox", "stdin": true, "tty": true,
            "targetContainerName": "app"}),
        );
        assert_eq!(shell.kind, ContainerKind::Ephemeral);
        assert_eq!(shell.workload, Workload::Interactive(vec!["sh".into()]));
        assert_eq!(shell.missing_programs, MissingPrograms::None);
        assert!(shell.tty && shell.readiness.is_none());
        let once = ec(
            serde_json::json!({"name": "ls", "image": "busybox", "command": ["ls"], "args": ["/"]}),
        );
        assert_eq!(
            once.workload,
            Workload::Command(vec!["ls".into(), "/".into()])
        );
    }

    #[test]
    fn a_long_running_pod_runs_only_the_agent_copy_of_its_init_containers() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "a", "uid": "u4"},
            "spec": {"initContainers": [
                {"name": "wharf-apm-agent", "image": "otel-agent", "command": ["cp", "/javaagent.jar", "/wharf-apm/javaagent.jar"]},
                {"name": "pinpoint", "image": "pinpoint", "command": ["/bin/cp", "-R", "/pinpoint-agent/.", "/wharf-apm/pinpoint-agent"]},
                {"name": "migrate", "image": "flyway", "command": ["flyway", "migrate"]},
                {"name": "other-cp", "image": "busybox", "command": ["cp", "/etc/hosts", "/x"]}],
                "containers": [{"name": "app", "image": "eclipse-temurin:21"}]}
        }));
        let p = PodPlan::from_pod(&p).unwrap();
        let runs: Vec<bool> = p
            .init_containers
            .iter()
            .map(|c| matches!(c.workload, Workload::Command(_)))
            .collect();
        assert_eq!(runs, [true, true, false, false]);
    }

    #[test]
    fn bad_images() {
        assert!(image_pull_fails("nginx:bad"));
        assert!(image_pull_fails("registry.local:5000/team/app:bad"));
        assert!(image_pull_fails("doesnotexist"));
        assert!(!image_pull_fails("registry.local:5000/badger"));
        assert!(!image_pull_fails("nginx:1.27"));
    }

    #[test]
    fn env_expansion_follows_kubernetes() {
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand_env_refs("$(A)-$(B)-$$(A)-$", &env), "x-$(B)-$(A)-$");
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_cpu_millicores("250m"), Some(250));
        assert_eq!(parse_cpu_millicores("1.5"), Some(1500));
        assert_eq!(parse_bytes("1Gi"), Some(1 << 30));
        assert_eq!(parse_bytes("500M"), Some(500_000_000));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("x"), None);
    }
}
