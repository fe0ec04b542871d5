//! `kubectl describe` and `kubectl get pvc,pv,sts` of the same objects on the demo cluster
//! and a real 1.20 cluster with its controllers, scheduler and (fake) node, compared line by
//! line (issue 17: they show what a real cluster shows). The volumes are static, of a class
//! without provisioner, so the real PV controller binds them with nothing else running and
//! no name is generated on either side: a PV and a claim that it matches, a claim that
//! names its PV, a claim of no class left Pending, then a StatefulSet of one replica whose
//! claim template another PV matches.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::kubectl::Kubectl;
use crate::support::parity::{request, Pair};

const JSON: &str = "application/json";
const CLASSES: &str = "/apis/storage.k8s.io/v1/storageclasses";
const PVS: &str = "/api/v1/persistentvolumes";
const CLAIMS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
const STS: &str = "/apis/apps/v1/namespaces/default/statefulsets";
const PODS: &str = "/api/v1/namespaces/default/pods";
const EVENTS: &str = "/api/v1/namespaces/default/events";

/// A class nothing provisions for: only static PVs are bound to its claims.
fn class() -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "manual"},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"})
}

fn volume(name: &str, path: &Path) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"disk": name}},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual",
            "hostPath": {"path": path.display().to_string()}}})
}

fn claim(name: &str, class: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "resources": {"requests": {"storage": "1Gi"}}}})
}

fn statefulset() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
        "spec": {"serviceName": "web", "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                    "ports": [{"containerPort": 80}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                    "resources": {"requests": {"storage": "1Gi"}}}}]}})
}

/// Creates `body` on both clusters (201 from each).
async fn create(pair: &Pair, path: &str, body: &Value) {
    let (d, r) = pair.send("POST", path, JSON, body).await;
    assert_eq!(
        (d.status, r.status),
        (201, 201),
        "POST {path}\n{d:?}\n{r:?}"
    );
}

/// Waits until `path` on both clusters has `want` at the JSON `pointer`.
async fn wait_for(pair: &Pair, path: &str, pointer: &str, want: Value) {
    for (side, client) in [("demo", &pair.sim_client), ("real", &pair.real_client)] {
        let what = format!("{pointer} of {path} on the {side} cluster to be {want}");
        let last = std::sync::Mutex::new(Value::Null);
        wharf_testkit::eventually(Duration::from_secs(90), &what, || async {
            let a = request(client, "GET", path, JSON, Vec::new()).await;
            let found = a.body.pointer(pointer) == Some(&want);
            *last.lock().unwrap() = a.body;
            found.then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; last seen:\n{:#}", last.lock().unwrap()));
    }
}

/// Waits until both clusters list at least `n` events about the object named `name`.
async fn wait_for_events(pair: &Pair, name: &str, n: usize) {
    let path = format!("{EVENTS}?fieldSelector=involvedObject.name%3D{name}");
    for (side, client) in [("demo", &pair.sim_client), ("real", &pair.real_client)] {
        let what = format!("{n} events about {name} on the {side} cluster");
        wharf_testkit::eventually(Duration::from_secs(90), &what, || async {
            let a = request(client, "GET", &path, JSON, Vec::new()).await;
            (a.body["items"].as_array()?.len() >= n).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `describe` output without what differs between any two clusters: the creation time and
/// the events' ages (and repeat counts, `(x2 over 5s)`, in the same column). The events'
/// columns are re-joined without their padding (the age column's width varies) and sorted:
/// kubectl orders them by time, to the second, and ties fall either way.
fn scrub_describe(out: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut events = Vec::new();
    let mut in_events = false;
    for line in out.lines().map(str::trim_end) {
        if in_events && line.starts_with("  ") {
            // Type, Reason, Age, From, Message: at least two spaces apart (tabwriter's
            // padding), where a message or an age has single ones.
            let kept: Vec<&str> = line
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .enumerate()
                .filter(|(i, _)| *i != 2)
                .map(|(_, c)| c)
                .collect();
            events.push(format!("  {}", kept.join(" | ")));
            continue;
        }
        in_events = line.starts_with("Events:") && !line.contains("<none>");
        match line.split_once("CreationTimestamp:") {
            Some(("", rest)) => {
                let pad = rest.len() - rest.trim_start().len();
                lines.push(format!("CreationTimestamp:{}<time>", " ".repeat(pad)));
            }
            _ => lines.push(line.to_string()),
        }
    }
    // The header and its underline stay first.
    let mut rows = events.split_off(events.len().min(2));
    rows.sort();
    lines.extend(events);
    lines.extend(rows);
    lines
}

/// `get` tables without their AGE column (the last one of each table).
fn scrub_table(out: &str) -> Vec<String> {
    let mut age_at = None;
    out.lines()
        .map(|line| {
            if line.starts_with("NAME ") {
                age_at = line.find(" AGE").map(|i| i + 1);
            }
            match age_at {
                Some(i) if line.len() > i => line[..i].trim_end().to_string(),
                _ => line.trim_end().to_string(),
            }
        })
        .collect()
}

/// The two outputs as a line diff (longest common subsequence): common lines indented,
/// the demo's own marked `-`, the real one's `+`.
fn line_diff(demo: &[String], real: &[String]) -> String {
    let (n, m) = (demo.len(), real.len());
    // lcs[i][j]: the longest common subsequence of demo[i..] and real[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if demo[i] == real[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && demo[i] == real[j] {
            out.push_str(&format!("    {}\n", demo[i]));
            (i, j) = (i + 1, j + 1);
        } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("  - {}\n", demo[i]));
            i += 1;
        } else {
            out.push_str(&format!("  + {}\n", real[j]));
            j += 1;
        }
    }
    out
}

struct Both {
    bin: String,
    demo: Kubectl,
    real: Kubectl,
}

impl Both {
    async fn run(&self, k: &Kubectl, args: &[&str]) -> String {
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(90),
            tokio::process::Command::new(&self.bin)
                .args(k.args(args))
                .kill_on_drop(true)
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .unwrap_or_else(|e| panic!("running {}: {e}", self.bin));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs kubectl `args` on both and asserts the scrubbed outputs are the same; returns
    /// the real cluster's (scrubbed).
    async fn same(&self, args: &[&str], scrub: fn(&str) -> Vec<String>) -> Vec<String> {
        let d = scrub(&self.run(&self.demo, args).await);
        let r = scrub(&self.run(&self.real, args).await);
        assert!(
            d == r,
            "kubectl {args:?}: the demo cluster printed something else than the real one \
             (`-` demo, `+` real):\n{}",
            line_diff(&d, &r)
        );
        r
    }
}

fn has(lines: &[String], want: &str) -> bool {
    lines.iter().any(|l| l.contains(want))
}

#[tokio::test]
async fn describe_and_get_of_volumes_claims_and_statefulsets_as_on_the_real_one() {
    let bin = wharf_testkit::real_cluster::bin_dir().join("kubectl-1.20");
    assert!(bin.is_file(), "{} is missing", bin.display());
    let pair = Pair::start_with(wharf_testkit::Parts::ALL).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (demo_kc, real_kc) = pair.kubeconfigs(dir.path());
    let k = Both {
        bin: bin.display().to_string(),
        demo: Kubectl {
            kubeconfig: demo_kc,
            cache: dir.path().join("demo-cache"),
        },
        real: Kubectl {
            kubeconfig: real_kc,
            cache: dir.path().join("real-cache"),
        },
    };
    // Pods wait for the namespace's ServiceAccount (the real ServiceAccount plugin).
    pair.wait_until_served("/api/v1/namespaces/default/serviceaccounts/default")
        .await;
    // NB: the demo's node mounts only folders in its volumes folder; the real (fake) one
    // mounts nothing, so both PVs name the same path there.
    let disk = |name: &str| {
        let p = pair.demo_volumes_dir().join(name);
        std::fs::create_dir_all(&p).expect("a volume's folder");
        p
    };

    // 1. A static PV, Available, then a claim that the PV controller binds to it.
    create(&pair, CLASSES, &class()).await;
    create(&pair, PVS, &volume("static", &disk("static"))).await;
    wait_for(
        &pair,
        &format!("{PVS}/static"),
        "/status/phase",
        json!("Available"),
    )
    .await;
    create(&pair, CLAIMS, &claim("claim", "manual")).await;
    wait_for(
        &pair,
        &format!("{CLAIMS}/claim"),
        "/status/phase",
        json!("Bound"),
    )
    .await;
    wait_for(
        &pair,
        &format!("{PVS}/static"),
        "/status/phase",
        json!("Bound"),
    )
    .await;
    let pvc = k.same(&["describe", "pvc", "claim"], scrub_describe).await;
    assert!(has(&pvc, "Volume:        static"), "{pvc:#?}");
    assert!(
        has(&pvc, "pv.kubernetes.io/bind-completed: yes"),
        "{pvc:#?}"
    );
    let pv = k.same(&["describe", "pv", "static"], scrub_describe).await;
    assert!(has(&pv, "Claim:           default/claim"), "{pv:#?}");
    assert!(has(&pv, "[kubernetes.io/pv-protection]"), "{pv:#?}");

    // A claim that names its PV: the controller completes the PV's side, and only the PV
    // is marked as bound by it.
    create(&pair, PVS, &volume("named", &disk("named"))).await;
    wait_for(
        &pair,
        &format!("{PVS}/named"),
        "/status/phase",
        json!("Available"),
    )
    .await;
    let mut named = claim("named", "manual");
    named["spec"]["volumeName"] = json!("named");
    create(&pair, CLAIMS, &named).await;
    wait_for(
        &pair,
        &format!("{CLAIMS}/named"),
        "/status/phase",
        json!("Bound"),
    )
    .await;
    wait_for(
        &pair,
        &format!("{PVS}/named"),
        "/status/phase",
        json!("Bound"),
    )
    .await;
    let pvc = k.same(&["describe", "pvc", "named"], scrub_describe).await;
    assert!(!has(&pvc, "bound-by-controller"), "{pvc:#?}");
    let pv = k.same(&["describe", "pv", "named"], scrub_describe).await;
    assert!(has(&pv, "bound-by-controller: yes"), "{pv:#?}");

    // A claim of no class that no PV matches stays Pending, and says why.
    create(&pair, CLAIMS, &claim("lonely", "")).await;
    wait_for_events(&pair, "lonely", 1).await;
    let pvc = k.same(&["describe", "pvc", "lonely"], scrub_describe).await;
    assert!(has(&pvc, "Status:        Pending"), "{pvc:#?}");
    assert!(has(&pvc, "FailedBinding"), "{pvc:#?}");

    // 2. A StatefulSet whose one claim the second PV matches.
    create(&pair, PVS, &volume("for-web", &disk("for-web"))).await;
    wait_for(
        &pair,
        &format!("{PVS}/for-web"),
        "/status/phase",
        json!("Available"),
    )
    .await;
    create(&pair, STS, &statefulset()).await;
    wait_for(
        &pair,
        &format!("{CLAIMS}/data-web-0"),
        "/status/phase",
        json!("Bound"),
    )
    .await;
    wait_for(
        &pair,
        &format!("{PODS}/web-0"),
        "/status/phase",
        json!("Running"),
    )
    .await;
    wait_for(
        &pair,
        &format!("{STS}/web"),
        "/status/readyReplicas",
        json!(1),
    )
    .await;
    // The claim's and the pod's creation, recorded by the controller.
    wait_for_events(&pair, "web", 2).await;
    let sts = k.same(&["describe", "sts", "web"], scrub_describe).await;
    assert!(has(&sts, "1 Running / 0 Waiting"), "{sts:#?}");
    assert!(
        has(
            &sts,
            "create Claim data-web-0 Pod web-0 in StatefulSet web success"
        ),
        "{sts:#?}"
    );
    let pvc = k
        .same(&["describe", "pvc", "data-web-0"], scrub_describe)
        .await;
    assert!(has(&pvc, "Used By:       web-0"), "{pvc:#?}");
    let pv = k.same(&["describe", "pv", "for-web"], scrub_describe).await;
    assert!(has(&pv, "default/data-web-0"), "{pv:#?}");

    // 3. The default tables (no existing test compares them with a real cluster's).
    let table = k.same(&["get", "pvc,pv,sts"], scrub_table).await;
    assert!(
        has(&table, "persistentvolumeclaim/data-web-0   Bound"),
        "{table:#?}"
    );
    assert!(has(&table, "statefulset.apps/web"), "{table:#?}");
}
