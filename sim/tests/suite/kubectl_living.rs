//! The real `kubectl` against a living demo cluster: rollout status, scale, set image,
//! logs (tail and follow), exec, get -o wide, delete. Uses `kubectl` from PATH, or
//! `$WHARF_KUBECTL`; fails when there is none.

use crate::support::kubectl::Kubectl;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
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
        image: nginx:1.27
        ports:
        - containerPort: 8080
"#;

async fn first_pod(k: &Kubectl) -> String {
    k.run(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "--field-selector=status.phase=Running",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ])
    .await
}

#[tokio::test]
async fn kubectl_rollout_scale_set_image_logs_exec_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = Kubectl::with_cluster(dir.path()).await;
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    let app_s = app.to_str().unwrap();

    let out = k.run(&["apply", "-f", app_s]).await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = k
        .run(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");

    k.run(&["scale", "deployment/web", "--replicas=3"]).await;
    let out = k
        .run(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");

    k.run(&["set", "image", "deployment/web", "web=nginx:1.28"])
        .await;
    let out = k
        .run(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = k
        .run(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.status.updatedReplicas}",
        ])
        .await;
    assert_eq!(out, "nginx:1.28 3");

    let out = k.run(&["get", "pods", "-o", "wide"]).await;
    assert!(
        out.contains("Running") && out.contains("demo-node-") && out.contains(" 127."),
        "{out}"
    );

    let pod = first_pod(&k).await;
    assert!(pod.starts_with("web-"), "{pod}");
    let tail = k.run(&["logs", "--tail=5", &pod]).await;
    assert!((1..=5).contains(&tail.lines().count()), "{tail}");

    // logs -f: stop after the first lines arrive.
    let mut child = k
        .command(&["logs", "-f", &pod])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..3 {
            lines.next_line().await.unwrap().expect("a followed line");
        }
    })
    .await
    .expect("kubectl logs -f streams");
    child.kill().await.unwrap();

    let out = k.run(&["exec", &pod, "--", "echo", "hi"]).await;
    assert_eq!(out.trim(), "hi");

    // get -w: a watch shows the change made meanwhile by someone else.
    let mut watch = k
        .command(&[
            "get",
            "deployment",
            "web",
            "-w",
            "-o",
            "jsonpath={.spec.replicas}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), seen.next_line())
        .await
        .expect("get -w prints")
        .unwrap();
    assert!(first.is_some(), "get -w printed the current state");
    k.run(&["scale", "deployment/web", "--replicas=4"]).await;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = seen.next_line().await.unwrap() {
            if line.trim() == "4" {
                return;
            }
        }
        panic!("get -w ended before the change");
    })
    .await
    .expect("get -w shows the scale to 4");
    watch.kill().await.unwrap();

    let out = k.run(&["delete", "-f", app_s]).await;
    assert!(out.contains("deleted"), "{out}");
    let gone = k
        .run(&["get", "deployments,replicasets", "-o", "name"])
        .await;
    assert!(gone.trim().is_empty(), "{gone}");
    sim.shutdown().await;
}
