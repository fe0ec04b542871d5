//! Property tests of [`podsecurity::violations`] over generated pods: it never panics on any
//! JSON shape, the levels nest (what `restricted` allows `baseline` allows, and so on), and one
//! hostile field added to a pod `baseline` allows makes both `baseline` and `restricted`
//! refuse it, wherever it is put.

use podsecurity::{violations, Level};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Words the checks look at, so arbitrary JSON lands on them often.
const KEYS: &[&str] = &[
    "containers",
    "initContainers",
    "ephemeralContainers",
    "securityContext",
    "privileged",
    "capabilities",
    "add",
    "drop",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "volumes",
    "hostPath",
    "ports",
    "hostPort",
    "name",
    "type",
    "seccompProfile",
    "appArmorProfile",
    "seLinuxOptions",
    "runAsNonRoot",
    "runAsUser",
    "sysctls",
    "procMount",
    "windowsOptions",
    "hostProcess",
    "allowPrivilegeEscalation",
    "os",
    "annotations",
];

const WORDS: &[&str] = &[
    "ALL",
    "NET_BIND_SERVICE",
    "SYS_ADMIN",
    "CHOWN",
    "RuntimeDefault",
    "Localhost",
    "Unconfined",
    "windows",
    "linux",
    "Default",
    "Unmasked",
    "",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![3 => prop::sample::select(KEYS).prop_map(String::from), 1 => ".{0,4}"],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A pod spec of plausible shape: the fields the checks read, set to values that pass or
/// fail them.
fn container() -> impl Strategy<Value = Value> {
    (
        "[a-z]{1,4}",
        prop::option::of(any::<bool>()),
        prop::option::of((
            any::<bool>(),
            prop::collection::vec(
                prop::sample::select(&["NET_BIND_SERVICE", "CHOWN", "KILL", "SYS_ADMIN"][..]),
                0..2,
            ),
        )),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(&[0i64, 1000][..])),
        prop::option::of(prop::sample::select(
            &["RuntimeDefault", "Localhost", "Unconfined"][..],
        )),
        prop::option::of(prop::sample::select(&[0i64, 8080][..])),
    )
        .prop_map(|(name, ape, caps, non_root, user, seccomp, host_port)| {
            let mut sc = Map::new();
            if let Some(b) = ape {
                sc.insert("allowPrivilegeEscalation".into(), b.into());
            }
            if let Some((drop_all, add)) = caps {
                let mut c = json!({ "add": add });
                if drop_all {
                    c["drop"] = json!(["ALL"]);
                }
                sc.insert("capabilities".into(), c);
            }
            if let Some(b) = non_root {
                sc.insert("runAsNonRoot".into(), b.into());
            }
            if let Some(u) = user {
                sc.insert("runAsUser".into(), u.into());
            }
            if let Some(t) = seccomp {
                sc.insert("seccompProfile".into(), json!({ "type": t }));
            }
            let mut c = json!({ "name": name, "image": "nginx", "securityContext": sc });
            if let Some(p) = host_port {
                c["ports"] = json!([{ "containerPort": 80, "hostPort": p }]);
            }
            c
        })
}

fn pod_spec() -> impl Strategy<Value = Value> {
    (
        [
            prop::collection::vec(container(), 0..3),
            prop::collection::vec(container(), 0..2),
            prop::collection::vec(container(), 0..2),
        ],
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(&["RuntimeDefault", "Unconfined"][..])),
        prop::collection::vec(
            prop::sample::select(&["emptyDir", "configMap", "secret", "nfs"][..]),
            0..3,
        ),
        prop::sample::select(&[None, Some("linux"), Some("windows")][..]),
        (
            prop::option::of(prop::sample::select(
                &["kernel.shm_rmid_forced", "kernel.msgmax"][..],
            )),
            prop::option::of(prop::sample::select(&["container_t", "spc_t"][..])),
            prop::option::of(prop::sample::select(&["RuntimeDefault", "Unconfined"][..])),
        ),
    )
        .prop_map(
            |(lists, non_root, seccomp, volumes, os, (sysctl, selinux, apparmor))| {
                let mut spec = Map::new();
                for (l, cs) in LISTS.iter().zip(lists) {
                    if !cs.is_empty() {
                        spec.insert(l.to_string(), Value::Array(cs));
                    }
                }
                let mut sc = Map::new();
                if let Some(b) = non_root {
                    sc.insert("runAsNonRoot".into(), b.into());
                }
                if let Some(t) = seccomp {
                    sc.insert("seccompProfile".into(), json!({ "type": t }));
                }
                if let Some(n) = sysctl {
                    sc.insert("sysctls".into(), json!([{ "name": n, "value": "1" }]));
                }
                if let Some(t) = selinux {
                    sc.insert("seLinuxOptions".into(), json!({ "type": t }));
                }
                if let Some(t) = apparmor {
                    sc.insert("appArmorProfile".into(), json!({ "type": t }));
                }
                spec.insert("securityContext".into(), Value::Object(sc));
                let volumes: Vec<Value> = volumes
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| json!({ "name": format!("v{i}"), *kind: {} }))
                    .collect();
                spec.insert("volumes".into(), volumes.into());
                if let Some(os) = os {
                    spec.insert("os".into(), json!({ "name": os }));
                }
                Value::Object(spec)
            },
        )
}

/// What the API server's validation refuses before admission sees the pod, where the levels
/// may disagree, as upstream's do: a Windows pod setting seccomp or capabilities (the
/// restricted checks skip Windows pods because validation already refuses those, while the
/// baseline ones still look), and a volume with two sources (restricted passes it on an allowed
/// source, baseline refuses its `hostPath`).
fn refused_by_validation(spec: &Value) -> bool {
    let containers = || {
        LISTS
            .iter()
            .flat_map(|l| spec[*l].as_array().into_iter().flatten())
    };
    let linux_only = |sc: &Value| !sc["seccompProfile"].is_null() || !sc["capabilities"].is_null();
    let windows = spec["os"]["name"] == "windows"
        && (linux_only(&spec["securityContext"])
            || containers().any(|c| linux_only(&c["securityContext"])));
    let two_sources = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .any(|v| {
            v.iter()
                .filter(|(k, v)| *k != "name" && !v.is_null())
                .count()
                > 1
        });
    windows || two_sources
}

fn allowed(level: Level, spec: &Value) -> bool {
    violations(level, &json!({}), spec).is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn never_panics_on_any_json(meta in any_json(), spec in any_json()) {
        for level in [Level::Privileged, Level::Baseline, Level::Restricted] {
            let _ = violations(level, &meta, &spec);
        }
    }

    /// Arbitrary JSON where the checks look: in place of a container list, a container, a
    /// security context, the volumes.
    #[test]
    fn never_panics_on_odd_fields(
        mut spec in pod_spec(),
        junk in any_json(),
        at in 0..6usize,
        meta in any_json(),
    ) {
        match at {
            0..=2 => spec[LISTS[at]] = junk,
            3 => spec["containers"] = json!([junk]),
            4 => spec["securityContext"] = junk,
            _ => spec["volumes"] = junk,
        }
        for level in [Level::Privileged, Level::Baseline, Level::Restricted] {
            let _ = violations(level, &meta, &spec);
        }
    }

    #[test]
    fn the_levels_nest(spec in prop_oneof![pod_spec(), any_json()]) {
        prop_assert!(allowed(Level::Privileged, &spec));
        if allowed(Level::Restricted, &spec) && !refused_by_validation(&spec) {
            prop_assert!(
                allowed(Level::Baseline, &spec),
                "restricted allows, baseline refuses {}: {:?}",
                spec,
                violations(Level::Baseline, &json!({}), &spec)
            );
        }
    }
}

/// The capabilities `baseline` lets a container add (upstream's default set).
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

/// One field that breaks `baseline` (and so `restricted`).
#[derive(Debug, Clone)]
enum Hostile {
    Privileged,
    HostNamespace(&'static str),
    HostPathVolume,
    Capability(String),
    HostPort(i64),
}

impl Hostile {
    /// The reasons `baseline` and `restricted` give for it.
    fn reasons(&self) -> (&'static str, &'static str) {
        match self {
            Hostile::Privileged => ("privileged", "privileged"),
            Hostile::HostNamespace(_) => ("host namespaces", "host namespaces"),
            Hostile::HostPathVolume => ("hostPath volumes", "restricted volume types"),
            Hostile::Capability(_) => ("non-default capabilities", "unrestricted capabilities"),
            Hostile::HostPort(_) => ("hostPort", "hostPort"),
        }
    }
}

fn capability_outside(set: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "SYS_ADMIN",
                "NET_RAW",
                "SYS_PTRACE",
                "ALL",
                "BPF",
                "net_bind_service"
            ][..]
        )
        .prop_map(String::from),
        "[A-Z_]{0,14}",
    ]
    .prop_filter("an allowed capability", move |c| !set.contains(&c.as_str()))
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        Just(Hostile::Privileged),
        prop::sample::select(&["hostNetwork", "hostPID", "hostIPC"][..])
            .prop_map(Hostile::HostNamespace),
        Just(Hostile::HostPathVolume),
        capability_outside(BASELINE_CAPABILITIES).prop_map(Hostile::Capability),
        (1i64..=65535).prop_map(Hostile::HostPort),
    ]
}

/// Puts `h` into `spec`: pod fields on the pod, container fields into the container `at` of the
/// list `list` (a new one when the list is empty). Returns the container's name, if any.
fn add(spec: &mut Value, h: &Hostile, list: usize, at: prop::sample::Index) -> Option<String> {
    fn container(spec: &mut Value, list: usize, at: prop::sample::Index) -> (String, &mut Value) {
        let l = &mut spec[LISTS[list]];
        if l.as_array().is_none_or(|a| a.is_empty()) {
            *l = json!([{ "name": "added" }]);
        }
        let a = l.as_array_mut().expect("a list");
        let i = at.index(a.len());
        let c = &mut a[i];
        (c["name"].as_str().unwrap_or_default().to_string(), c)
    }
    match h {
        Hostile::HostNamespace(f) => {
            spec[*f] = true.into();
            None
        }
        Hostile::HostPathVolume => {
            let v = json!({ "name": "host", "hostPath": { "path": "/" } });
            match spec["volumes"].as_array_mut() {
                Some(a) => a.push(v),
                None => spec["volumes"] = json!([v]),
            }
            None
        }
        Hostile::Privileged => {
            let (name, c) = container(spec, list, at);
            c["securityContext"]["privileged"] = true.into();
            Some(name)
        }
        Hostile::Capability(cap) => {
            let (name, c) = container(spec, list, at);
            let add = &mut c["securityContext"]["capabilities"]["add"];
            match add.as_array_mut() {
                Some(a) => a.push(cap.as_str().into()),
                None => *add = json!([cap]),
            }
            Some(name)
        }
        Hostile::HostPort(p) => {
            let (name, c) = container(spec, list, at);
            let port = json!({ "containerPort": 80, "hostPort": p });
            match c["ports"].as_array_mut() {
                Some(a) => a.push(port),
                None => c["ports"] = json!([port]),
            }
            Some(name)
        }
    }
}

fn reasons(level: Level, spec: &Value) -> Vec<String> {
    violations(level, &json!({}), spec)
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

proptest! {
    // NB: about a quarter of generated pods pass baseline; the rest are rejected.
    #![proptest_config(ProptestConfig { cases: 500, max_global_rejects: 20_000, ..ProptestConfig::default() })]

    /// One hostile field added to a pod `baseline` allows, in any container of any list: both
    /// `baseline` and `restricted` refuse it, for that reason, naming that container.
    #[test]
    fn one_hostile_field_is_refused_wherever_it_is(
        spec in pod_spec(),
        h in hostile(),
        list in 0..3usize,
        at in any::<prop::sample::Index>(),
    ) {
        prop_assume!(allowed(Level::Baseline, &spec));
        let mut spec = spec;
        let name = add(&mut spec, &h, list, at);
        prop_assume!(!refused_by_validation(&spec));
        let (baseline, restricted) = h.reasons();
        for (level, reason) in [(Level::Baseline, baseline), (Level::Restricted, restricted)] {
            let got = violations(level, &json!({}), &spec);
            let found = got.iter().find(|(r, _)| r == reason);
            prop_assert!(found.is_some(), "{:?} at {:?} not refused for {:?}: {:?}\n{}", h, level, reason, got, spec);
            if let (Some(name), Some((_, detail))) = (&name, found) {
                prop_assert!(detail.contains(&format!("\"{name}\"")), "{:?}: {} does not name {:?}", level, detail, name);
            }
        }
        prop_assert!(allowed(Level::Privileged, &spec));
    }

    /// A capability in `baseline`'s default set other than NET_BIND_SERVICE: `baseline` lets a
    /// container add it, `restricted` does not.
    #[test]
    fn restricted_allows_adding_only_net_bind_service(
        spec in pod_spec(),
        cap in prop::sample::select(BASELINE_CAPABILITIES),
        list in 0..3usize,
        at in any::<prop::sample::Index>(),
    ) {
        prop_assume!(allowed(Level::Baseline, &spec));
        let mut spec = spec;
        add(&mut spec, &Hostile::Capability(cap.into()), list, at);
        prop_assume!(!refused_by_validation(&spec));
        prop_assert!(allowed(Level::Baseline, &spec), "{}", spec);
        let restricted = reasons(Level::Restricted, &spec);
        if cap != "NET_BIND_SERVICE" {
            let details = violations(Level::Restricted, &json!({}), &spec);
            prop_assert!(
                details.iter().any(|(r, d)| r == "unrestricted capabilities" && d.contains(&format!("\"{cap}\""))),
                "{} not refused: {:?}", cap, restricted
            );
        }
    }
}

/// The generators are not vacuous: a fair share of generated pods pass each level.
#[test]
fn generated_pods_pass_each_level_often_enough() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut baseline, mut restricted) = (0, 0);
    for _ in 0..1000 {
        let spec = pod_spec().new_tree(&mut runner).unwrap().current();
        baseline += usize::from(allowed(Level::Baseline, &spec));
        restricted += usize::from(allowed(Level::Restricted, &spec));
    }
    assert!(
        baseline > 100 && restricted > 10,
        "baseline {baseline}, restricted {restricted} of 1000"
    );
}
