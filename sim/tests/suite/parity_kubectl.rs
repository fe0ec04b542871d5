//! `kubectl apply --server-side` (with and without `--force-conflicts`) and `kubectl diff`
//! run against the demo cluster and a real kube-apiserver 1.20 with the same manifests,
//! their outputs compared: both the kubectl that matches the real server and the one on
//! PATH (see `support::kubectl`).

use std::path::Path;

use serde_json::Value;

use crate::support::kubectl::Kubectl;
use crate::support::parity::{scrub, Pair};

const FIRST: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: demo}
data:
  key: one
  other: two
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
data:
  fast: "true"
"#;

/// What one kubectl run printed and how it ended.
#[derive(Debug, PartialEq)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(bin: &str, k: &Kubectl, args: &[&str]) -> Run {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        tokio::process::Command::new(bin)
            .args(k.args(args))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{bin} {args:?} timed out"))
    .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// A diff's changed lines, without its file names and what differs between any two
/// servers (times, versions, uids).
fn diff_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
        .filter(|l| {
            !["time:", "resourceVersion:", "uid:", "creationTimestamp:"]
                .iter()
                .any(|v| l.contains(v))
        })
        .map(String::from)
        .collect()
}

/// The same kubectl command against both clusters; `compare` makes the two runs
/// comparable. Returns the real cluster's run.
async fn same(
    bin: &str,
    demo: &Kubectl,
    real: &Kubectl,
    args: &[&str],
    compare: fn(Run) -> Run,
) -> Run {
    let d = compare(run(bin, demo, args).await);
    let r = compare(run(bin, real, args).await);
    assert_eq!(d, r, "{bin} {args:?}: (demo, real)");
    r
}

fn as_is(r: Run) -> Run {
    r
}

fn diffed(r: Run) -> Run {
    Run {
        stdout: diff_lines(&r.stdout).join("\n"),
        ..r
    }
}

/// `-o json` output, scrubbed as the API comparisons are.
fn scrubbed(r: Run) -> Run {
    let mut v: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    for item in v["items"].as_array_mut().into_iter().flatten() {
        scrub(item);
    }
    Run {
        stdout: serde_json::to_string_pretty(&v).unwrap_or_default(),
        ..r
    }
}

async fn scenario(bin: &str, pair: &Pair, dir: &Path) {
    let (demo_kc, real_kc) = pair.kubeconfigs(dir);
    let demo = Kubectl {
        kubeconfig: demo_kc,
        cache: dir.join("demo-cache"),
    };
    let real = Kubectl {
        kubeconfig: real_kc,
        cache: dir.join("real-cache"),
    };
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("manifest");
        p.display().to_string()
    };
    let first = file("first.yaml", FIRST);
    let second = file(
        "second.yaml",
        &FIRST
            .replace("key: one", "key: three")
            .replace("  other: two\n", ""),
    );
    let third = file("third.yaml", &FIRST.replace("key: one", "key: four"));
    let get = ["get", "configmaps", "settings", "flags", "-o", "json"];

    // Client-side apply first, then server-side: kubectl takes over its own fields.
    let r = same(bin, &demo, &real, &["apply", "-f", &first], as_is).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = same(
        bin,
        &demo,
        &real,
        &["diff", "--server-side", "-f", &second],
        diffed,
    )
    .await;
    assert_eq!(r.code, Some(1), "a diff to show: {r:?}");
    assert!(r.stdout.contains("+  key: three"), "{r:?}");
    same(bin, &demo, &real, &["diff", "-f", &second], diffed).await;
    let r = same(
        bin,
        &demo,
        &real,
        &["apply", "--server-side", "-f", &second],
        as_is,
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = same(bin, &demo, &real, &get, scrubbed).await;
    // kubectl's own annotation follows the server-side apply.
    assert!(
        r.stdout.contains(r#"\"data\":{\"key\":\"three\"}"#),
        "{r:?}"
    );

    // Another manager's change conflicts, until forced.
    same(
        bin,
        &demo,
        &real,
        &[
            "patch",
            "configmap",
            "settings",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"key":"patched"}}"#,
        ],
        as_is,
    )
    .await;
    let r = same(
        bin,
        &demo,
        &real,
        &["apply", "--server-side", "-f", &third],
        as_is,
    )
    .await;
    assert!(
        r.code != Some(0) && r.stderr.contains("Apply failed with 1 conflict"),
        "{r:?}"
    );
    let r = same(
        bin,
        &demo,
        &real,
        &["apply", "--server-side", "--force-conflicts", "-f", &third],
        as_is,
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = same(
        bin,
        &demo,
        &real,
        &["diff", "--server-side", "-f", &third],
        diffed,
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), ""),
        "nothing left to change"
    );
    same(bin, &demo, &real, &get, scrubbed).await;
}

#[tokio::test]
async fn kubectl_server_side_apply_and_diff_with_the_matching_kubectl() {
    let bin = wharf_testkit::real_cluster::bin_dir().join("kubectl-1.20");
    assert!(bin.is_file(), "{} is missing", bin.display());
    let pair = Pair::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    scenario(&bin.display().to_string(), &pair, dir.path()).await;
}

#[tokio::test]
async fn kubectl_server_side_apply_and_diff_with_the_kubectl_on_path() {
    assert!(
        crate::support::kubectl::available(),
        "kubectl not found on PATH (or $WHARF_KUBECTL)"
    );
    let pair = Pair::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    scenario(&crate::support::kubectl::bin(), &pair, dir.path()).await;
}
