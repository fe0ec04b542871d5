//! The Pod Security Standards as the built-in **PodSecurity** admission plugin of a
//! Kubernetes 1.33 API server evaluates them (the demo cluster reports 1.33): a namespace's
//! `pod-security.kubernetes.io/enforce` label (`privileged`, `baseline`, `restricted`) and
//! `enforce-version` pick the checks a pod must pass, and [`violations`] lists what a pod
//! breaks in upstream's order and words, for the 403 that [`forbidden_message`] builds.
//!
//! Followed: `k8s.io/pod-security-admission` at tag `kubernetes-1.33.0` (commit
//! `086d64dbe017dc62ceeb0440c7d0ed2a450658d0`): `policy/check_*.go` (each check's reason and
//! detail), `policy/registry.go` (order: baseline checks by ID, then restricted ones by ID,
//! restricted checks replacing the baseline ones they override), `policy/checks.go`
//! (`reason (detail), …`), `api/helpers.go` (label parsing) and `admission/admission.go`
//! (`violates PodSecurity "restricted:latest": …`, which updates count).
//!
//! Every version label is evaluated with 1.33's checks: `latest` on a 1.33 server is that,
//! and Wharf writes nothing else; a namespace pinned to an older `v1.x` gets 1.33's checks
//! too (upstream would use that version's, which differ only in details such as the
//! allowed sysctls). The user-namespace relaxation (`hostUsers: false`) is off, as it is by
//! default in 1.33 (feature gate `UserNamespacesPodSecurityStandards`).

use std::collections::BTreeSet;

use serde_json::Value;

pub const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
const LABELS: [&str; 6] = [
    ENFORCE,
    ENFORCE_VERSION,
    "pod-security.kubernetes.io/audit",
    "pod-security.kubernetes.io/audit-version",
    "pod-security.kubernetes.io/warn",
    "pod-security.kubernetes.io/warn-version",
];

/// A Pod Security Standard, least strict first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    /// The level a namespace label names.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }
    /// The label value of this level.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// `latest` or `v1.<minor>`, as `api.ParseVersion` takes them.
fn valid_version(v: &str) -> bool {
    if v == "latest" {
        return true;
    }
    let Some(minor) = v.strip_prefix("v1.") else {
        return false;
    };
    !minor.is_empty()
        && minor.bytes().all(|b| b.is_ascii_digit())
        && (minor == "0" || !minor.starts_with('0'))
        && minor.parse::<u32>().is_ok()
}

/// The enforce level and version of a namespace with these labels (`api.PolicyToEvaluate`
/// with the default policy, privileged:latest): a level that is no level enforces
/// `restricted`, a version that is no version means `latest`.
pub fn enforce_policy(labels: &Value) -> (Level, String) {
    let level = match labels[ENFORCE].as_str() {
        None => Level::Privileged,
        Some(l) => Level::parse(l).unwrap_or(Level::Restricted),
    };
    let version = match labels[ENFORCE_VERSION].as_str() {
        Some(v) if valid_version(v) => v.to_string(),
        _ => "latest".to_string(),
    };
    (level, version)
}

/// The field errors of a namespace's Pod Security labels (the plugin's `ValidateNamespace`):
/// the field path and the API server's detail for each.
pub fn label_errors(labels: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for label in LABELS {
        let Some(value) = labels[label].as_str() else {
            continue;
        };
        let problem = if label.ends_with("-version") {
            (!valid_version(value)).then_some(r#"must be "latest" or "v1.x""#)
        } else {
            Level::parse(value)
                .is_none()
                .then_some("must be one of privileged, baseline, restricted")
        };
        if let Some(p) = problem {
            out.push((
                format!("metadata.labels[{label}]"),
                format!("Invalid value: {}: {p}", go_quote(value)),
            ));
        }
    }
    out
}

/// The forbidden reason and detail of one failed check.
pub type Violation = (String, String);

/// Each check of the Pod Security Standards, as `policy/check_*.go` names them; the
/// order is `registry.go`'s (IDs sorted bytewise, baseline before restricted).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    // baseline
    AppArmorProfile,
    CapabilitiesBaseline,
    HostNamespaces,
    HostPathVolumes,
    HostPorts,
    Privileged,
    ProcMount,
    SeLinuxOptions,
    SeccompProfileBaseline,
    Sysctls,
    WindowsHostProcess,
    // restricted
    AllowPrivilegeEscalation,
    CapabilitiesRestricted,
    RestrictedVolumes,
    RunAsNonRoot,
    RunAsUser,
    SeccompProfileRestricted,
}

const BASELINE: &[Check] = &[
    Check::AppArmorProfile,
    Check::CapabilitiesBaseline,
    Check::HostNamespaces,
    Check::HostPathVolumes,
    Check::HostPorts,
    Check::Privileged,
    Check::ProcMount,
    Check::SeLinuxOptions,
    Check::SeccompProfileBaseline,
    Check::Sysctls,
    Check::WindowsHostProcess,
];

/// Restricted: the baseline checks the restricted ones do not override, then those.
const RESTRICTED: &[Check] = &[
    Check::AppArmorProfile,
    Check::HostNamespaces,
    Check::HostPorts,
    Check::Privileged,
    Check::ProcMount,
    Check::SeLinuxOptions,
    Check::Sysctls,
    Check::WindowsHostProcess,
    Check::AllowPrivilegeEscalation,
    Check::CapabilitiesRestricted,
    Check::RestrictedVolumes,
    Check::RunAsNonRoot,
    Check::RunAsUser,
    Check::SeccompProfileRestricted,
];

/// What a pod (its `metadata` and `spec`) breaks at `level`, in upstream's order.
pub fn violations(level: Level, meta: &Value, spec: &Value) -> Vec<Violation> {
    let checks = match level {
        Level::Privileged => return Vec::new(),
        Level::Baseline => BASELINE,
        Level::Restricted => RESTRICTED,
    };
    checks.iter().filter_map(|c| run(*c, meta, spec)).collect()
}

/// The plugin's refusal after `pods "x" is forbidden: `.
pub fn forbidden_message(level: Level, version: &str, violations: &[Violation]) -> String {
    let detail: Vec<String> = violations
        .iter()
        .map(|(reason, detail)| {
            if detail.is_empty() {
                reason.clone()
            } else {
                format!("{reason} ({detail})")
            }
        })
        .collect();
    format!(
        "violates PodSecurity \"{}:{version}\": {}",
        level.as_str(),
        detail.join(", ")
    )
}

/// `isSignificantPodUpdate`: only a change of containers (their number, an image, an
/// ephemeral container added or changed) is evaluated on update.
pub fn significant_update(old: &Value, new: &Value) -> bool {
    let list = |pod: &Value, l: &str| pod["spec"][l].as_array().cloned().unwrap_or_default();
    for l in ["containers", "initContainers"] {
        let (a, b) = (list(new, l), list(old, l));
        if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| x["image"] != y["image"]) {
            return true;
        }
    }
    let old_ephemeral = list(old, "ephemeralContainers");
    list(new, "ephemeralContainers").iter().any(|c| {
        match old_ephemeral.iter().find(|o| o["name"] == c["name"]) {
            None => true,
            Some(o) => o["image"] != c["image"],
        }
    })
}

fn run(check: Check, meta: &Value, spec: &Value) -> Option<Violation> {
    match check {
        Check::AppArmorProfile => app_armor(meta, spec),
        Check::CapabilitiesBaseline => capabilities_baseline(spec),
        Check::HostNamespaces => host_namespaces(spec),
        Check::HostPathVolumes => host_path_volumes(spec),
        Check::HostPorts => host_ports(spec),
        Check::Privileged => privileged(spec),
        Check::ProcMount => proc_mount(spec),
        Check::SeLinuxOptions => se_linux(spec),
        Check::SeccompProfileBaseline => seccomp(spec, false),
        Check::Sysctls => sysctls(spec),
        Check::WindowsHostProcess => windows_host_process(spec),
        Check::AllowPrivilegeEscalation => unless_windows(spec, allow_privilege_escalation),
        Check::CapabilitiesRestricted => unless_windows(spec, capabilities_restricted),
        Check::RestrictedVolumes => restricted_volumes(spec),
        Check::RunAsNonRoot => run_as_non_root(spec),
        Check::RunAsUser => run_as_user(spec),
        Check::SeccompProfileRestricted => unless_windows(spec, |s| seccomp(s, true)),
    }
}

/// The 1.25 versions of three restricted checks admit Windows pods unchecked.
fn unless_windows(spec: &Value, check: impl Fn(&Value) -> Option<Violation>) -> Option<Violation> {
    if spec["os"]["name"] == "windows" {
        return None;
    }
    check(spec)
}

/// `visitContainers`: init containers, containers, ephemeral containers.
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |l| spec[l].as_array().into_iter().flatten())
}

fn name(c: &Value) -> String {
    c["name"].as_str().unwrap_or_default().to_string()
}

fn pluralize<'a>(singular: &'a str, plural: &'a str, n: usize) -> &'a str {
    if n == 1 {
        singular
    } else {
        plural
    }
}

/// `joinQuote`: `"a", "b"`.
fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `container "a"` / `containers "a", "b"`.
fn containers_named(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// Go's `%q` for the plain strings labels and annotations hold.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The names of the containers for which `bad` holds.
fn bad_containers(spec: &Value, bad: impl Fn(&Value) -> bool) -> Vec<String> {
    containers(spec).filter(|c| bad(c)).map(name).collect()
}

fn app_armor(meta: &Value, spec: &Value) -> Option<Violation> {
    let allowed = |t: &Value| matches!(t.as_str(), Some("RuntimeDefault" | "Localhost"));
    let mut setters: Vec<String> = Vec::new();
    let mut bad_values: BTreeSet<String> = BTreeSet::new();
    let pod_profile = &spec["securityContext"]["appArmorProfile"];
    if pod_profile.is_object() && !allowed(&pod_profile["type"]) {
        setters.push("pod".into());
        bad_values.insert(pod_profile["type"].as_str().unwrap_or_default().into());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        let p = &c["securityContext"]["appArmorProfile"];
        if p.is_object() && !allowed(&p["type"]) {
            bad.push(name(c));
            bad_values.insert(p["type"].as_str().unwrap_or_default().into());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    let mut values: Vec<String> = bad_values.into_iter().collect();
    let mut annotations: Vec<String> = meta["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let ok = v.is_empty() || v == "runtime/default" || v.starts_with("localhost/");
            (k.starts_with("container.apparmor.security.beta.kubernetes.io/") && !ok)
                .then(|| format!("{k}={}", go_quote(v)))
        })
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).into());
        values.extend(annotations);
    }
    if setters.is_empty() {
        return None;
    }
    Some((
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        )
        .into(),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
    ))
}

const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn added(c: &Value) -> impl Iterator<Item = &str> {
    c["securityContext"]["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap_or_default())
}

fn capabilities_baseline(spec: &Value) -> Option<Violation> {
    let mut caps: BTreeSet<&str> = BTreeSet::new();
    let mut bad = Vec::new();
    for c in containers(spec) {
        let extra: Vec<&str> = added(c)
            .filter(|cap| !BASELINE_CAPABILITIES.contains(cap))
            .collect();
        if !extra.is_empty() {
            bad.push(name(c));
            caps.extend(extra);
        }
    }
    (!bad.is_empty()).then(|| {
        (
            "non-default capabilities".into(),
            format!(
                "{} must not include {} in securityContext.capabilities.add",
                containers_named(&bad),
                join_quote(caps)
            ),
        )
    })
}

fn host_namespaces(spec: &Value) -> Option<Violation> {
    let on: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|f| spec[f] == true)
        .map(|f| format!("{f}=true"))
        .collect();
    (!on.is_empty()).then(|| ("host namespaces".into(), on.join(", ")))
}

fn volumes(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["volumes"].as_array().into_iter().flatten()
}

fn host_path_volumes(spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = volumes(spec)
        .filter(|v| v["hostPath"].is_object())
        .map(name)
        .collect();
    (!bad.is_empty()).then(|| {
        (
            "hostPath volumes".into(),
            format!(
                "{} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad)
            ),
        )
    })
}

fn host_ports(spec: &Value) -> Option<Violation> {
    // NB: a set of strings, so sorted as strings ("8080" before "90"), as upstream's.
    let mut ports: BTreeSet<String> = BTreeSet::new();
    let mut bad = Vec::new();
    for c in containers(spec) {
        let used: Vec<i64> = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["hostPort"].as_i64())
            .filter(|p| *p != 0)
            .collect();
        if !used.is_empty() {
            bad.push(name(c));
            ports.extend(used.iter().map(i64::to_string));
        }
    }
    (!bad.is_empty()).then(|| {
        (
            "hostPort".into(),
            format!(
                "{} {} {} {}",
                containers_named(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("hostPort", "hostPorts", ports.len()),
                ports.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

fn privileged(spec: &Value) -> Option<Violation> {
    let bad = bad_containers(spec, |c| c["securityContext"]["privileged"] == true);
    (!bad.is_empty()).then(|| {
        (
            "privileged".into(),
            format!(
                "{} must not set securityContext.privileged=true",
                containers_named(&bad)
            ),
        )
    })
}

fn proc_mount(spec: &Value) -> Option<Violation> {
    let mut types: BTreeSet<&str> = BTreeSet::new();
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(t) = c["securityContext"]["procMount"].as_str() {
            if t != "Default" {
                bad.push(name(c));
                types.insert(t);
            }
        }
    }
    (!bad.is_empty()).then(|| {
        (
            "procMount".into(),
            format!(
                "{} must not set securityContext.procMount to {}",
                containers_named(&bad),
                join_quote(types)
            ),
        )
    })
}

fn se_linux(spec: &Value) -> Option<Violation> {
    // 1.31's list (`container_engine_t` added).
    const TYPES: &[&str] = &[
        "",
        "container_t",
        "container_init_t",
        "container_kvm_t",
        "container_engine_t",
    ];
    let mut bad_types: BTreeSet<String> = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |opts: &Value| {
        let mut ok = true;
        let t = opts["type"].as_str().unwrap_or_default();
        if !TYPES.contains(&t) {
            ok = false;
            bad_types.insert(t.to_string());
        }
        if !opts["user"].as_str().unwrap_or_default().is_empty() {
            ok = false;
            set_user = true;
        }
        if !opts["role"].as_str().unwrap_or_default().is_empty() {
            ok = false;
            set_role = true;
        }
        ok
    };
    let mut setters: Vec<String> = Vec::new();
    let pod = &spec["securityContext"]["seLinuxOptions"];
    if pod.is_object() && !valid(pod) {
        setters.push("pod".into());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        let o = &c["securityContext"]["seLinuxOptions"];
        if o.is_object() && !valid(o) {
            bad.push(name(c));
        }
    }
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !bad_types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", bad_types.len()),
            join_quote(&bad_types)
        ));
    }
    if set_user {
        data.push("user may not be set".to_string());
    }
    if set_role {
        data.push("role may not be set".to_string());
    }
    Some((
        "seLinuxOptions".into(),
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    ))
}

/// `seccompProfile_baseline` (1.19: a set profile must be RuntimeDefault or Localhost) or,
/// with `required`, `seccompProfile_restricted` (and the pod or each container must set one).
fn seccomp(spec: &Value, required: bool) -> Option<Violation> {
    let valid = |t: &Value| matches!(t.as_str(), Some("RuntimeDefault" | "Localhost"));
    let mut setters: Vec<String> = Vec::new();
    let mut bad_values: BTreeSet<String> = BTreeSet::new();
    let mut pod_set = false;
    let pod = &spec["securityContext"]["seccompProfile"];
    if pod.is_object() {
        if valid(&pod["type"]) {
            pod_set = true;
        } else {
            setters.push("pod".into());
            bad_values.insert(pod["type"].as_str().unwrap_or_default().into());
        }
    }
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        let p = &c["securityContext"]["seccompProfile"];
        if p.is_object() {
            if !valid(&p["type"]) {
                explicit.push(name(c));
                bad_values.insert(p["type"].as_str().unwrap_or_default().into());
            }
        } else if !pod_set {
            implicit.push(name(c));
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_named(&explicit));
    }
    if !setters.is_empty() {
        return Some((
            "seccompProfile".into(),
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&bad_values)
            ),
        ));
    }
    if required && !implicit.is_empty() {
        return Some((
            "seccompProfile".into(),
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_named(&implicit)
            ),
        ));
    }
    None
}

fn sysctls(spec: &Value) -> Option<Violation> {
    // 1.32's list.
    const SAFE: &[&str] = &[
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    ];
    let bad: Vec<&str> = spec["securityContext"]["sysctls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .filter(|n| !SAFE.contains(n))
        .collect();
    (!bad.is_empty()).then(|| ("forbidden sysctls".into(), bad.join(", ")))
}

fn windows_host_process(spec: &Value) -> Option<Violation> {
    let host_process = |sc: &Value| sc["windowsOptions"]["hostProcess"] == true;
    let bad = bad_containers(spec, |c| host_process(&c["securityContext"]));
    let mut setters: Vec<String> = Vec::new();
    if host_process(&spec["securityContext"]) {
        setters.push("pod".into());
    }
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    (!setters.is_empty()).then(|| {
        (
            "hostProcess".into(),
            format!(
                "{} must not set securityContext.windowsOptions.hostProcess=true",
                setters.join(" and ")
            ),
        )
    })
}

fn allow_privilege_escalation(spec: &Value) -> Option<Violation> {
    let bad = bad_containers(spec, |c| {
        c["securityContext"]["allowPrivilegeEscalation"] != false
    });
    (!bad.is_empty()).then(|| {
        (
            "allowPrivilegeEscalation != false".into(),
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                containers_named(&bad)
            ),
        )
    })
}

fn capabilities_restricted(spec: &Value) -> Option<Violation> {
    let (mut missing_drop, mut adding) = (Vec::new(), Vec::new());
    let mut caps: BTreeSet<&str> = BTreeSet::new();
    for c in containers(spec) {
        let capabilities = &c["securityContext"]["capabilities"];
        if !capabilities.is_object() {
            missing_drop.push(name(c));
            continue;
        }
        let drops_all = capabilities["drop"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d == "ALL");
        if !drops_all {
            missing_drop.push(name(c));
        }
        let extra: Vec<&str> = added(c).filter(|a| *a != "NET_BIND_SERVICE").collect();
        if !extra.is_empty() {
            adding.push(name(c));
            caps.extend(extra);
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_named(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_named(&adding),
            join_quote(caps)
        ));
    }
    (!details.is_empty()).then(|| ("unrestricted capabilities".into(), details.join("; ")))
}

fn restricted_volumes(spec: &Value) -> Option<Violation> {
    const ALLOWED: &[&str] = &[
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    // In the order of upstream's switch, which names the first one set.
    const RESTRICTED: &[&str] = &[
        "hostPath",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "nfs",
        "iscsi",
        "glusterfs",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "fc",
        "azureFile",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "portworxVolume",
        "scaleIO",
        "storageos",
    ];
    let set = |v: &Value, k: &str| !v[k].is_null();
    let mut bad = Vec::new();
    let mut types: BTreeSet<&str> = BTreeSet::new();
    for v in volumes(spec) {
        if ALLOWED.iter().any(|k| set(v, k)) {
            continue;
        }
        let has_source = v
            .as_object()
            .is_some_and(|m| m.iter().any(|(k, v)| k != "name" && !v.is_null()));
        if !has_source {
            // NB: the real server defaults a volume without a source to `emptyDir`.
            continue;
        }
        bad.push(name(v));
        types.insert(
            RESTRICTED
                .iter()
                .find(|k| set(v, k))
                .copied()
                .unwrap_or("unknown"),
        );
    }
    (!bad.is_empty()).then(|| {
        (
            "restricted volume types".into(),
            format!(
                "{} {} {} {} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize(
                    "restricted volume type",
                    "restricted volume types",
                    types.len()
                ),
                join_quote(types)
            ),
        )
    })
}

fn run_as_non_root(spec: &Value) -> Option<Violation> {
    let mut setters: Vec<String> = Vec::new();
    let mut pod_non_root = false;
    match spec["securityContext"]["runAsNonRoot"].as_bool() {
        Some(false) => setters.push("pod".into()),
        Some(true) => pod_non_root = true,
        None => {}
    }
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        match c["securityContext"]["runAsNonRoot"].as_bool() {
            Some(false) => explicit.push(name(c)),
            Some(true) => {}
            None if !pod_non_root => implicit.push(name(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_named(&explicit));
    }
    const REASON: &str = "runAsNonRoot != true";
    if !setters.is_empty() {
        return Some((
            REASON.into(),
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        ));
    }
    (!implicit.is_empty()).then(|| {
        (
            REASON.into(),
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_named(&implicit)
            ),
        )
    })
}

fn run_as_user(spec: &Value) -> Option<Violation> {
    let root = |sc: &Value| sc["runAsUser"].as_i64() == Some(0);
    let mut setters: Vec<String> = Vec::new();
    if root(&spec["securityContext"]) {
        setters.push("pod".into());
    }
    let bad = bad_containers(spec, |c| root(&c["securityContext"]));
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    (!setters.is_empty()).then(|| {
        (
            "runAsUser=0".into(),
            format!("{} must not set runAsUser=0", setters.join(" and ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(level: Level, spec: Value) -> String {
        forbidden_message(level, "latest", &violations(level, &json!({}), &spec))
    }

    fn restricted_container(name: &str) -> Value {
        json!({"name": name, "image": "nginx", "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        }})
    }

    /// A pod that passes `restricted`: the pod sets non-root and seccomp for all.
    fn compliant() -> Value {
        json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [restricted_container("app")],
        })
    }

    #[test]
    fn a_bare_pod_breaks_four_restricted_checks_in_order() {
        let spec = json!({"containers": [{"name": "app", "image": "nginx"}]});
        assert_eq!(
            check(Level::Restricted, spec.clone()),
            "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
        assert!(violations(Level::Baseline, &json!({}), &spec).is_empty());
        assert!(violations(Level::Privileged, &json!({}), &spec).is_empty());
    }

    #[test]
    fn a_compliant_pod_passes_restricted() {
        assert!(violations(Level::Restricted, &json!({}), &compliant()).is_empty());
        // Per container instead of per pod is as good.
        let mut spec = json!({"containers": [restricted_container("app")]});
        spec["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
        spec["containers"][0]["securityContext"]["seccompProfile"] = json!({"type": "Localhost"});
        spec["containers"][0]["securityContext"]["capabilities"]["add"] =
            json!(["NET_BIND_SERVICE"]);
        assert!(violations(Level::Restricted, &json!({}), &spec).is_empty());
    }

    #[test]
    fn containers_are_listed_init_first_and_pluralized() {
        let spec = json!({
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"allowPrivilegeEscalation": true}},
                {"name": "d", "securityContext": {"allowPrivilegeEscalation": false}}],
            "initContainers": [{"name": "init"}],
        });
        assert_eq!(
            allow_privilege_escalation(&spec).unwrap().1,
            "containers \"init\", \"a\", \"b\" must set securityContext.allowPrivilegeEscalation=false"
        );
    }

    #[test]
    fn baseline_privileged_and_host_path() {
        let spec = json!({
            "containers": [{"name": "a", "securityContext": {"privileged": true}},
                {"name": "b", "securityContext": {"privileged": true}}],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}, {"name": "tmp", "emptyDir": {}}],
        });
        assert_eq!(
            check(Level::Baseline, spec.clone()),
            "violates PodSecurity \"baseline:latest\": hostPath volumes (volume \"root\"), privileged (containers \"a\", \"b\" must not set securityContext.privileged=true)"
        );
        // Restricted replaces hostPath volumes with restricted volume types, after the
        // baseline checks it keeps.
        let msg = check(Level::Restricted, spec);
        assert!(msg.starts_with("violates PodSecurity \"restricted:latest\": privileged (containers \"a\", \"b\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false"), "{msg}");
        assert!(msg.contains("restricted volume types (volume \"root\" uses restricted volume type \"hostPath\")"), "{msg}");
        assert!(!msg.contains("hostPath volumes"), "{msg}");
    }

    #[test]
    fn every_baseline_check_in_order() {
        let spec = json!({
            "hostNetwork": true, "hostPID": true, "hostIPC": true,
            "securityContext": {
                "appArmorProfile": {"type": "Unconfined"},
                "seLinuxOptions": {"type": "spc_t"},
                "seccompProfile": {"type": "Unconfined"},
                "sysctls": [{"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.tcp_syncookies", "value": "1"}, {"name": "vm.swappiness", "value": "1"}],
                "windowsOptions": {"hostProcess": true},
            },
            "containers": [{"name": "app",
                "ports": [{"containerPort": 80, "hostPort": 90}, {"containerPort": 81, "hostPort": 8080}],
                "securityContext": {
                    "capabilities": {"add": ["SYS_ADMIN", "CHOWN", "NET_RAW"]},
                    "privileged": true,
                    "procMount": "Unmasked",
                    "seLinuxOptions": {"user": "root", "role": "sysadm_r"},
                }}],
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        });
        let meta = json!({"annotations": {
            "container.apparmor.security.beta.kubernetes.io/app": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/ok": "localhost/x",
        }});
        let got: Vec<Violation> = violations(Level::Baseline, &meta, &spec);
        let expected: Vec<(&str, &str)> = vec![
            ("forbidden AppArmor profiles", "pod and annotation must not set AppArmor profile type to \"Unconfined\", \"container.apparmor.security.beta.kubernetes.io/app=\"unconfined\"\""),
            ("non-default capabilities", "container \"app\" must not include \"NET_RAW\", \"SYS_ADMIN\" in securityContext.capabilities.add"),
            ("host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true"),
            ("hostPath volumes", "volume \"h\""),
            ("hostPort", "container \"app\" uses hostPorts 8080, 90"),
            ("privileged", "container \"app\" must not set securityContext.privileged=true"),
            ("procMount", "container \"app\" must not set securityContext.procMount to \"Unmasked\""),
            ("seLinuxOptions", "pod and container \"app\" set forbidden securityContext.seLinuxOptions: type \"spc_t\"; user may not be set; role may not be set"),
            ("seccompProfile", "pod must not set securityContext.seccompProfile.type to \"Unconfined\""),
            ("forbidden sysctls", "kernel.msgmax, vm.swappiness"),
            ("hostProcess", "pod must not set securityContext.windowsOptions.hostProcess=true"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(r, d)| (r.as_str(), d.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn restricted_checks_one_by_one() {
        // Capabilities: missing drop and forbidden adds, both named.
        let spec = json!({"containers": [
            {"name": "a", "securityContext": {"capabilities": {"add": ["FOO", "BAR"]}}},
            {"name": "b", "securityContext": {"capabilities": {"add": ["BAR", "BAZ"]}}},
            {"name": "c", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["ALL", "FOO"]}}},
        ]});
        assert_eq!(
            capabilities_restricted(&spec).unwrap(),
            ("unrestricted capabilities".to_string(), "containers \"a\", \"b\" must set securityContext.capabilities.drop=[\"ALL\"]; containers \"a\", \"b\", \"c\" must not include \"BAR\", \"BAZ\", \"CHOWN\", \"FOO\" in securityContext.capabilities.add".to_string())
        );
        // runAsNonRoot: an explicit false wins over the implicit ones.
        let spec = json!({"securityContext": {"runAsNonRoot": false},
            "containers": [{"name": "a", "securityContext": {"runAsNonRoot": false}}, {"name": "b"}]});
        assert_eq!(
            run_as_non_root(&spec).unwrap().1,
            "pod and container \"a\" must not set securityContext.runAsNonRoot=false"
        );
        // runAsUser.
        let spec = json!({"securityContext": {"runAsUser": 0},
            "containers": [{"name": "a", "securityContext": {"runAsUser": 0}}, {"name": "b", "securityContext": {"runAsUser": 1000}}]});
        assert_eq!(
            run_as_user(&spec).unwrap(),
            (
                "runAsUser=0".to_string(),
                "pod and container \"a\" must not set runAsUser=0".to_string()
            )
        );
        // Volume types.
        let spec = json!({"volumes": [
            {"name": "a", "nfs": {"server": "x", "path": "/"}},
            {"name": "b", "gitRepo": {"repository": "x"}},
            {"name": "c", "configMap": {"name": "x"}},
            {"name": "d", "persistentVolumeClaim": {"claimName": "x"}},
        ]});
        assert_eq!(
            restricted_volumes(&spec).unwrap().1,
            "volumes \"a\", \"b\" use restricted volume types \"gitRepo\", \"nfs\""
        );
        // Seccomp: a bad explicit profile is named before missing ones.
        let spec = json!({"containers": [
            {"name": "a", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            {"name": "b"},
        ]});
        assert_eq!(
            seccomp(&spec, true).unwrap().1,
            "container \"a\" must not set securityContext.seccompProfile.type to \"Unconfined\""
        );
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            seccomp(&spec, true).unwrap().1,
            "pod or containers \"a\", \"b\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\""
        );
        assert_eq!(seccomp(&spec, false), None);
    }

    #[test]
    fn windows_pods_skip_three_restricted_checks() {
        let spec = json!({"os": {"name": "windows"}, "containers": [{"name": "app"}]});
        assert_eq!(
            check(Level::Restricted, spec),
            "violates PodSecurity \"restricted:latest\": runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true)"
        );
    }

    #[test]
    fn ephemeral_containers_are_checked_and_updates_only_when_significant() {
        let mut spec = compliant();
        spec["ephemeralContainers"] = json!([{"name": "debugger", "image": "busybox"}]);
        let msg = check(Level::Restricted, spec.clone());
        assert!(
            msg.contains(
                "container \"debugger\" must set securityContext.allowPrivilegeEscalation=false"
            ),
            "{msg}"
        );
        let old = json!({"metadata": {"labels": {"a": "b"}}, "spec": compliant()});
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"]["a"] = json!("c");
        assert!(!significant_update(&old, &relabelled));
        let mut new_image = old.clone();
        new_image["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(significant_update(&old, &new_image));
        let debugged = json!({"spec": spec});
        assert!(significant_update(&old, &debugged));
        assert!(!significant_update(&debugged, &debugged));
    }

    #[test]
    fn labels_pick_the_level_and_bad_ones_are_field_errors() {
        assert_eq!(
            enforce_policy(&json!({})),
            (Level::Privileged, "latest".to_string())
        );
        assert_eq!(
            enforce_policy(&json!({ENFORCE: "baseline", ENFORCE_VERSION: "v1.25"})),
            (Level::Baseline, "v1.25".to_string())
        );
        // Upstream fails closed on a bad level, and takes latest for a bad version.
        assert_eq!(
            enforce_policy(&json!({ENFORCE: "strict", ENFORCE_VERSION: "1.25"})),
            (Level::Restricted, "latest".to_string())
        );
        let errors = label_errors(&json!({
            ENFORCE: "strict", ENFORCE_VERSION: "v1.05", "pod-security.kubernetes.io/warn": "baseline",
        }));
        assert_eq!(
            errors,
            vec![
                (
                    "metadata.labels[pod-security.kubernetes.io/enforce]".to_string(),
                    "Invalid value: \"strict\": must be one of privileged, baseline, restricted"
                        .to_string()
                ),
                (
                    "metadata.labels[pod-security.kubernetes.io/enforce-version]".to_string(),
                    "Invalid value: \"v1.05\": must be \"latest\" or \"v1.x\"".to_string()
                ),
            ]
        );
    }
}
