//! The real `kubectl` against the sim's kubeconfig: apply, get, apply again
//! (a strategic merge), scale, set image, api-resources, describe, delete.
//! Uses `kubectl` from PATH, or `$WHARF_KUBECTL`.

use std::path::Path;

use serde_json::Value;

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
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
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
"#;

/// kubectl at `kubeconfig` with its own `cache` (see `crate::support::kubectl`), which must succeed.
async fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> String {
    let k = crate::support::kubectl::Kubectl {
        kubeconfig: kubeconfig.to_path_buf(),
        cache: cache.to_path_buf(),
    };
    k.run(args).await
}

use crate::support::kubectl::available as kubectl_available;

#[tokio::test]
async fn kubectl_apply_get_scale_set_image_describe_delete() {
    // NB: machines of this kind carry kubectl; a missing one fails the test rather than
    // letting it pass without checking anything.
    assert!(
        kubectl_available(),
        "kubectl not found on PATH (or $WHARF_KUBECTL)"
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let cache = dir.path().join("cache");
    let sim = sim::start(sim::SimConfig {
        kubeconfig_out: Some(kc.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = sim.store();
    let deployments = sim::ResourceId::new("apps", "deployments");
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    let app_s = app.to_str().unwrap();

    let out = kubectl(&kc, &cache, &["apply", "-f", app_s]).await;
    assert!(
        out.contains("deployment.apps/web created") && out.contains("service/web created"),
        "{out}"
    );

    // Server-side printing: kubectl asks for a Table.
    let out = kubectl(&kc, &cache, &["get", "deployments,services"]).await;
    assert!(
        out.contains("UP-TO-DATE")
            && out.contains("CLUSTER-IP")
            && out.contains("deployment.apps/web"),
        "{out}"
    );
    let out = kubectl(&kc, &cache, &["get", "nodes"]).await;
    assert!(out.contains("demo-node-1   Ready"), "{out}");
    let out = kubectl(&kc, &cache, &["get", "deploy", "web", "-o", "yaml"]).await;
    assert!(
        out.contains("kubectl.kubernetes.io/last-applied-configuration")
            && out.contains("image: nginx:1.27"),
        "{out}"
    );
    let out = kubectl(&kc, &cache, &["get", "nodes", "-o", "json"]).await;
    let nodes: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(nodes["items"].as_array().unwrap().len(), 3);

    // Apply a change: new image, an added env var, the port list untouched.
    let changed = APP.replace(
        "image: nginx:1.27",
        "image: nginx:1.28\n        env:\n        - {name: MODE, value: demo}",
    );
    std::fs::write(&app, changed).unwrap();
    let out = kubectl(&kc, &cache, &["apply", "-f", app_s]).await;
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let d = store.get(&deployments, "default", "web").unwrap();
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.28");
    assert_eq!(c["env"][0]["name"], "MODE");
    assert_eq!(c["ports"][0]["containerPort"], 80);
    assert_eq!(d["metadata"]["generation"], 2);

    let out = kubectl(&kc, &cache, &["scale", "deployment/web", "--replicas=4"]).await;
    assert!(out.contains("scaled"), "{out}");
    assert_eq!(
        store.get(&deployments, "default", "web").unwrap()["spec"]["replicas"],
        4
    );

    kubectl(
        &kc,
        &cache,
        &["set", "image", "deployment/web", "web=nginx:1.29"],
    )
    .await;
    assert_eq!(
        store.get(&deployments, "default", "web").unwrap()["spec"]["template"]["spec"]
            ["containers"][0]["image"],
        "nginx:1.29"
    );

    let out = kubectl(&kc, &cache, &["api-resources"]).await;
    for want in [
        "deployments",
        "deploy",
        "pods",
        "po",
        "customresourcedefinitions",
        "endpointslices",
    ] {
        assert!(
            out.split_whitespace().any(|w| w == want),
            "api-resources lacks {want}:\n{out}"
        );
    }
    let out = kubectl(&kc, &cache, &["describe", "deployment", "web"]).await;
    assert!(
        out.contains("nginx:1.29") && out.contains("RollingUpdate"),
        "{out}"
    );
    let out = kubectl(&kc, &cache, &["describe", "node", "demo-node-1"]).await;
    assert!(out.contains("demo-node-1"), "{out}");

    let out = kubectl(&kc, &cache, &["delete", "-f", app_s]).await;
    assert!(out.contains("deleted"), "{out}");
    assert!(store.get(&deployments, "default", "web").is_err());
    sim.shutdown().await;
}

/// kubectl's generator commands send protobuf bodies through client-go's typed clients.
#[tokio::test]
async fn kubectl_create_commands_send_protobuf() {
    // NB: machines of this kind carry kubectl; a missing one fails the test rather than
    // letting it pass without checking anything.
    assert!(
        kubectl_available(),
        "kubectl not found on PATH (or $WHARF_KUBECTL)"
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let cache = dir.path().join("cache");
    let sim = sim::start(sim::SimConfig {
        kubeconfig_out: Some(kc.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = sim.store();
    kubectl(&kc, &cache, &["create", "namespace", "team-a"]).await;
    kubectl(
        &kc,
        &cache,
        &[
            "create",
            "configmap",
            "cfg",
            "-n",
            "team-a",
            "--from-literal=k=v",
        ],
    )
    .await;
    kubectl(
        &kc,
        &cache,
        &[
            "create",
            "secret",
            "generic",
            "pw",
            "-n",
            "team-a",
            "--from-literal=p=hunter2",
        ],
    )
    .await;
    kubectl(
        &kc,
        &cache,
        &[
            "create",
            "deployment",
            "api",
            "-n",
            "team-a",
            "--image=nginx:1.27",
            "--port=80",
            "--replicas=2",
        ],
    )
    .await;
    kubectl(
        &kc,
        &cache,
        &[
            "create",
            "job",
            "once",
            "-n",
            "team-a",
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi",
        ],
    )
    .await;
    assert_eq!(
        kubectl(&kc, &cache, &["auth", "can-i", "create", "pods"])
            .await
            .trim(),
        "yes"
    );

    let cm = store
        .get(&sim::ResourceId::core("configmaps"), "team-a", "cfg")
        .unwrap();
    assert_eq!(cm["data"]["k"], "v");
    let secret = store
        .get(&sim::ResourceId::core("secrets"), "team-a", "pw")
        .unwrap();
    assert_eq!(secret["data"]["p"], "aHVudGVyMg==");
    let d = store
        .get(
            &sim::ResourceId::new("apps", "deployments"),
            "team-a",
            "api",
        )
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    assert!(
        d["metadata"].get("selfLink").is_none(),
        "empty proto strings are dropped"
    );
    let job = store
        .get(&sim::ResourceId::new("batch", "jobs"), "team-a", "once")
        .unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        serde_json::json!(["echo", "hi"])
    );
    // The namespace got its default ServiceAccount.
    store
        .get(
            &sim::ResourceId::core("serviceaccounts"),
            "team-a",
            "default",
        )
        .unwrap();
    sim.shutdown().await;
}

/// apply (twice: create, then a strategic merge), get and delete with each kubectl
/// 1.27–1.33 this machine carries (≤ 1.29 read the protobuf /openapi/v2).
#[tokio::test]
async fn kubectl_versions_1_27_to_1_33_apply() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let sim = sim::start(sim::SimConfig {
        kubeconfig_out: Some(kc.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    let app_s = app.to_str().unwrap();
    let mut ran = 0;
    for minor in 27..=33 {
        let bin = format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}");
        if !Path::new(&bin).exists() {
            continue;
        }
        ran += 1;
        let cache = dir.path().join(format!("cache-{minor}"));
        for args in [
            vec!["apply", "-f", app_s],
            vec!["apply", "-f", app_s],
            vec!["get", "deploy", "web", "-o", "name"],
            vec!["delete", "-f", app_s],
        ] {
            let out = tokio::process::Command::new(&bin)
                .arg("--kubeconfig")
                .arg(&kc)
                .arg("--cache-dir")
                .arg(&cache)
                .args(&args)
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{bin} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    eprintln!("ran {ran} kubectl versions");
    sim.shutdown().await;
}

const STS: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: postgres:16
        volumeMounts:
        - {name: data, mountPath: /var/lib/postgresql/data}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

/// `kubectl apply` of a StatefulSet, `rollout status` until both pods are ready, and
/// `get sts` printed from the server's Table (READY `2/2`; `-o wide` adds containers and images).
#[tokio::test]
async fn kubectl_rolls_out_and_gets_a_statefulset() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = crate::support::kubectl::Kubectl::with_cluster(dir.path()).await;
    let file = dir.path().join("sts.yaml");
    std::fs::write(&file, STS).unwrap();
    let out = kubectl(
        &k.kubeconfig,
        &k.cache,
        &["apply", "-f", file.to_str().unwrap()],
    )
    .await;
    assert!(out.contains("statefulset.apps/db created"), "{out}");
    let out = kubectl(
        &k.kubeconfig,
        &k.cache,
        &["rollout", "status", "sts/db", "--timeout=60s"],
    )
    .await;
    // NB: with the default `rollingUpdate` (partition 0), kubectl words it as partitioned.
    assert!(
        out.contains("partitioned roll out complete: 2 new pods have been updated"),
        "{out}"
    );
    let out = kubectl(&k.kubeconfig, &k.cache, &["get", "sts"]).await;
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "READY", "AGE"], "{out}");
    assert_eq!(lines[1][..2], ["db", "2/2"], "{out}");
    let out = kubectl(&k.kubeconfig, &k.cache, &["get", "sts", "-o", "wide"]).await;
    assert!(
        out.contains("CONTAINERS") && out.contains("postgres:16"),
        "{out}"
    );
    let out = kubectl(&k.kubeconfig, &k.cache, &["get", "pvc", "-o", "name"]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "persistentvolumeclaim/data-db-0",
            "persistentvolumeclaim/data-db-1"
        ]
    );
    sim.shutdown().await;
}
