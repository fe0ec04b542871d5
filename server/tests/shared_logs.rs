//! Logs past one machine, as an operator runs them, every part a process: the demo cluster,
//! a real SeaweedFS, two node agents (`wharf logs agent`) and two console replicas
//! (`wharf serve --log-bucket`). During a burst of 100,000 lines one agent is killed with
//! `kill -9` and started again: every line reaches the bucket exactly once, and both replicas
//! answer the same window and the same search with the same lines. Then the replica that
//! leads is killed with `kill -9`: the other keeps serving, and the bucket's retention and
//! the pipeline controller move to it.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use logship::seaweedfs::SeaweedFs;
use logship::{Bucket, BucketSettings};
use serde_json::json;
use support::{folders, serve_with, sim, Client, WHARF};
use tokio::process::{Child, Command};

const KEY: &str = "wharf-test";
const SECRET: &str = "wharf-test-secret";
const URL: &str = "s3://logs/cluster-1";
/// Lines per node: 100,000 in all.
const PER_NODE: usize = 50_000;
const WAIT: Duration = Duration::from_secs(180);

/// Polls `check` every 200 ms until it gives a value, at most `within`.
async fn until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `wharf logs agent` for `node`, shipping into the test's bucket.
fn agent(node: &str, pods: &Path, data: &Path, kubeconfig: &Path, endpoint: &str) -> Child {
    Command::new(WHARF)
        .args(["logs", "agent", "--node", node, "--pods-dir"])
        .arg(pods)
        .arg("--data")
        .arg(data)
        .args([
            "--ship-seconds",
            "1",
            "--keep-days",
            "0",
            "--log-bucket",
            URL,
        ])
        .args(["--log-bucket-endpoint", endpoint, "--kubeconfig"])
        .arg(kubeconfig)
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting wharf logs agent")
}

/// Line `i` of `node`'s container, as containerd writes it: 1 ms apart from 10:00 on.
fn cri_line(node: &str, i: usize) -> String {
    let ms = i % 1000;
    let s = i / 1000;
    format!(
        "2026-12-05T10:{:02}:{:02}.{ms:03}000000Z stdout F burst {node} {i:06}\n",
        s / 60,
        s % 60
    )
}

/// Appends `node`'s lines `from..to` to its container's live file.
fn write_lines(file: &Path, node: &str, from: usize, to: usize) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    let chunk: String = (from..to).map(|i| cri_line(node, i)).collect();
    f.write_all(chunk.as_bytes()).unwrap();
}

/// Every line's text of alpha's `burst` app in a five-minute window (the burst's lines are
/// 1 ms apart from 10:00:00), through the console's download (`q`: a search), as alice sees
/// them.
async fn download(alice: &Client, q: &str) -> Option<Vec<String>> {
    let (status, body) = alice
        .get(&format!("/download/logs/alpha?ns=alpha&app=burst&from=2026-12-05T09:58:00Z&to=2026-12-05T10:03:00Z{q}"))
        .await;
    (status == 200).then(|| {
        body.lines()
            .map(|l| l.splitn(3, ' ').nth(2).unwrap_or_default().to_string())
            .collect()
    })
}

fn expected() -> Vec<String> {
    let mut all: Vec<String> = ["node-a", "node-b"]
        .iter()
        .flat_map(|node| (0..PER_NODE).map(move |i| format!("burst {node} {i:06}")))
        .collect();
    all.sort();
    all
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("wharf-pipelines")
        .await
        .ok()??
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_and_console_replicas_survive_kill_9_with_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _, site) = folders(dir.path());
    let _sim = sim(&kubeconfig).await;
    let kube = server::kube_client(Some(kubeconfig.clone())).await.unwrap();
    server::bootstrap::install_crds(&kube).await.unwrap();
    server::demo::seed::identities(&kube).await.unwrap();

    let weed = SeaweedFs::start(&dir.path().join("weed"), KEY, SECRET)
        .await
        .unwrap();
    weed.create_bucket("logs").await.unwrap();
    let bucket = Bucket::connect(&BucketSettings {
        url: URL.into(),
        endpoint: Some(weed.endpoint.clone()),
        access_key_id: Some(KEY.into()),
        secret_access_key: Some(SECRET.into()),
        ..Default::default()
    })
    .unwrap();

    // two console replicas; the first leads (it is alone when it starts)
    let recordings = |n: &str| dir.path().join(format!("recordings-{n}"));
    let flags = |n: &str| {
        vec![
            "--log-bucket".to_string(),
            URL.to_string(),
            "--log-bucket-endpoint".to_string(),
            weed.endpoint.clone(),
            "--recordings-dir".to_string(),
            recordings(n).display().to_string(),
            // about 2 KB: two recordings of 1.5 KB are one too many
            "--recordings-max-total-gb".to_string(),
            "0.000002".to_string(),
        ]
    };
    let replica = |n: &'static str| {
        let (kubeconfig, site, flags) = (kubeconfig.clone(), site.clone(), flags(n));
        let logs = dir.path().join(format!("logs-{n}"));
        async move {
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let pod = format!("console-{n}");
            let env = [
                ("AWS_ACCESS_KEY_ID", KEY),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
                ("POD_NAME", pod.as_str()),
            ];
            serve_with(&kubeconfig, &logs, &site, &flags, &env).await
        }
    };
    let leases: Api<Lease> = Api::namespaced(kube.clone(), crds::SYSTEM_NAMESPACE);
    let mut a = replica("a").await;
    let leader_a = until(WAIT, "replica A to lead", || holder(&leases)).await;
    let b = replica("b").await;

    // alpha's app `burst`: a pod on each of two nodes, each node with its agent
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    until(WAIT, "alpha's namespace", || async {
        namespaces.get_opt("alpha").await.ok()?
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "alpha");
    let mut files = Vec::new();
    let mut agents = Vec::new();
    for node in ["node-a", "node-b"] {
        let pod = format!("burst-{}", &node[5..]);
        let spec: Pod = serde_json::from_value(json!({
            "metadata": {"name": pod, "labels": {"app": "burst"}},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.local/burst:1"}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &spec).await.unwrap();
        let pods_dir = dir.path().join(format!("pods-{node}"));
        files.push(pods_dir.join(format!("alpha_{pod}_0b5e{}/app/0.log", &node[5..])));
        std::fs::create_dir_all(&pods_dir).unwrap();
        let data = dir.path().join(format!("agent-{node}"));
        agents.push((
            node,
            pods_dir.clone(),
            data.clone(),
            agent(node, &pods_dir, &data, &kubeconfig, &weed.endpoint),
        ));
    }

    // the burst: both nodes write their 50,000 lines in chunks; node-a's agent is killed
    // once the bucket shows some of them (the writers wait for the kill half-way, so it
    // falls in the middle of the burst whatever the machine's speed), then started again
    // while the rest is written
    let (killed, wait_for_kill) = std::sync::mpsc::channel::<()>();
    let writer = {
        let files = files.clone();
        tokio::task::spawn_blocking(move || {
            for from in (0..PER_NODE).step_by(500) {
                if from == PER_NODE / 2 {
                    wait_for_kill.recv().unwrap();
                }
                for (file, node) in files.iter().zip(["node-a", "node-b"]) {
                    write_lines(file, node, from, from + 500);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let alice_a = Client::new(&a.addr);
    let alice_b = Client::new(&b.addr);
    for alice in [&alice_a, &alice_b] {
        let (status, body) = alice
            .call(
                "login",
                json!({"username": "alice", "password": server::demo::seed::DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let seen = until(
        WAIT,
        "the first of node-a's lines in the bucket",
        || async {
            let lines = download(&alice_b, "&pod=burst-a").await?;
            (!lines.is_empty()).then_some(lines.len())
        },
    )
    .await;
    assert!(seen <= PER_NODE / 2, "{seen}");
    let (node, pods_dir, data, first) = &mut agents[0];
    first.kill().await.unwrap(); // SIGKILL
    killed.send(()).unwrap();
    *first = agent(node, pods_dir, data, &kubeconfig, &weed.endpoint);
    writer.await.unwrap();

    // every line exactly once, the same from both replicas
    let want = expected();
    let mut from_a = until(WAIT, "all 100,000 lines through replica A", || async {
        let lines = download(&alice_a, "").await?;
        (lines.len() >= want.len()).then_some(lines)
    })
    .await;
    let from_b = download(&alice_b, "").await.expect("replica B answers");
    assert_eq!(
        from_a, from_b,
        "both replicas give the same lines in the same order"
    );
    from_a.sort();
    assert_eq!(from_a.len(), want.len(), "no line twice");
    assert!(from_a == want, "every line, none lost");
    let search_a = download(&alice_a, "&q=node-b+04242").await.unwrap();
    let search_b = download(&alice_b, "&q=node-b+04242").await.unwrap();
    assert_eq!(search_a, search_b);
    assert_eq!(
        search_a,
        (0..10)
            .map(|d| format!("burst node-b 04242{d}"))
            .collect::<Vec<_>>()
    );

    // two finished recordings in the bucket, together over the cap; replica A, leading, swept
    // at its start and sweeps again only in an hour
    for (name, fill) in [
        ("wharf-session-a-older", b'o'),
        ("wharf-session-b-newer", b'n'),
    ] {
        let (bucket, rel) = (bucket.clone(), format!("recordings/alpha/{name}.cast"));
        tokio::task::spawn_blocking(move || bucket.put_file(&rel, vec![fill; 1500]))
            .await
            .unwrap()
            .unwrap();
    }
    // replica A dies: B takes the Lease once it is stale, sweeps, runs the pipelines
    a.child.kill().await.unwrap();
    let leader_b = until(WAIT, "replica B to take the Lease", || async {
        holder(&leases).await.filter(|h| *h != leader_a)
    })
    .await;
    assert_ne!(leader_b, leader_a);
    let left = until(WAIT, "the older recording swept by replica B", || async {
        let bucket = bucket.clone();
        let files = tokio::task::spawn_blocking(move || bucket.list_files("recordings"))
            .await
            .ok()?
            .ok()?;
        (files.len() == 1).then_some(files)
    })
    .await;
    assert_eq!(left[0].path, "recordings/alpha/wharf-session-b-newer.cast");
    let (status, body) = alice_b
        .get("/recordings/terminal/alpha?ns=alpha&session=wharf-session-b-newer")
        .await;
    assert_eq!(status, 403, "alice is no admin of alpha: {body}");

    let runs: Api<crds::PipelineRun> = Api::namespaced(kube.clone(), "alpha");
    let run: crds::PipelineRun = serde_json::from_value(json!({
        "apiVersion": "wharf.dev/v1alpha1", "kind": "PipelineRun",
        "metadata": {"name": "shop-1", "namespace": "alpha"},
        "spec": {"pipeline": "shop", "number": 1, "triggeredBy": "alice",
            "snapshot": {"app": "shop", "stages": [
                {"name": "build", "build": {"image": "maven:3.9-eclipse-temurin-17", "command": "true"}}]}}
    }))
    .unwrap();
    runs.create(&PostParams::default(), &run).await.unwrap();
    until(
        WAIT,
        "replica B's controller to take up the run",
        || async { runs.get_opt("shop-1").await.ok()??.status.map(|_| ()) },
    )
    .await;
    // and B still serves
    let again = download(&alice_b, "&q=node-a+00000").await.unwrap();
    assert_eq!(
        again,
        (0..10)
            .map(|d| format!("burst node-a 00000{d}"))
            .collect::<Vec<_>>()
    );
    drop(b);
}
