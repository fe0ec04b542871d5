//! `kubectl rollout history` and `kubectl rollout undo --to-revision` against the demo
//! cluster: revisions with their change causes, and a rollback that reuses the old
//! ReplicaSet under the next revision. Uses `kubectl` from PATH, or `$WHARF_KUBECTL`;
//! fails when there is none.

use crate::support::kubectl::Kubectl;

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: first deploy
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"#;

impl Kubectl {
    async fn rolled_out(&self) {
        let out = self
            .run(&["rollout", "status", "deployment/web", "--timeout=60s"])
            .await;
        assert!(out.contains("successfully rolled out"), "{out}");
    }

    /// `kubectl rollout history` as (revision, change cause) rows.
    async fn history(&self) -> Vec<(String, String)> {
        let out = self.run(&["rollout", "history", "deployment/web"]).await;
        out.lines()
            .skip_while(|l| !l.starts_with("REVISION"))
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (rev, cause) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                (rev.to_string(), cause.trim().to_string())
            })
            .collect()
    }
}

#[tokio::test]
async fn kubectl_rollout_history_and_undo() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = Kubectl::with_cluster(dir.path()).await;
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();

    k.run(&["apply", "-f", app.to_str().unwrap()]).await;
    k.rolled_out().await;
    for image in ["nginx:1.26", "nginx:1.27"] {
        k.run(&["set", "image", "deployment/web", &format!("web={image}")])
            .await;
        k.run(&[
            "annotate",
            "--overwrite",
            "deployment/web",
            &format!("kubernetes.io/change-cause=image set to {image}"),
        ])
        .await;
        k.rolled_out().await;
    }
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        k.history().await,
        vec![
            s("1", "first deploy"),
            s("2", "image set to nginx:1.26"),
            s("3", "image set to nginx:1.27")
        ]
    );
    let out = k
        .run(&["rollout", "history", "deployment/web", "--revision=1"])
        .await;
    assert!(out.contains("nginx:1.25"), "{out}");

    let out = k
        .run(&["rollout", "undo", "deployment/web", "--to-revision=1"])
        .await;
    assert!(out.contains("rolled back"), "{out}");
    k.rolled_out().await;
    let image = k
        .run(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(image, "nginx:1.25");
    // the first ReplicaSet is revision 4 now; no fourth ReplicaSet was made
    let history = k.history().await;
    assert_eq!(
        history.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        vec!["2", "3", "4"],
        "{history:?}"
    );
    let sets = k
        .run(&["get", "replicasets", "-l", "app=web", "-o", "name"])
        .await;
    assert_eq!(sets.lines().count(), 3, "{sets}");
    let out = k
        .run(&["rollout", "undo", "deployment/web", "--to-revision=4"])
        .await;
    assert!(out.contains("skipped rollback"), "{out}");
    sim.shutdown().await;
}
