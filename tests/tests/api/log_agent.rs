//! `wharf logs agent` on a node: the kubelet's CRI files of the node's pods reach the shared
//! bucket (a real SeaweedFS) tagged with the pods' labels from a pod watch limited to the
//! node, queryable from the bucket by anyone; an agent killed mid-way resumes with no line
//! lost and none twice. On the demo cluster and on a real kube-apiserver, where the agent
//! runs with the account and role of `deploy/log-agent/` (its DaemonSet applied too).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::Api;
use logship::{BlockCache, Bucket, BucketDirectory, BucketSettings};
use logstore::{LabelSelector, Query, Store, StreamSelector};
use server::logs::agent::{self, AgentArgs};
use server::logs::bucket::BucketArgs;
use wharf_testkit::eventually;
use wharf_testkit::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use wharf_tests::{on_both_clusters, real::Clients, Session, DEMO_PASSWORD};

on_both_clusters!(clients: a_node_agent_ships_its_pods_logs_with_their_labels_and_resumes_after_a_kill);

const NODE: &str = "node-logs-a";

async fn pod_on_the_node(admin: &kube::Client, name: &str) {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app": "catalog", "tier": "web"}},
        "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "registry.local/catalog:1"}]}
    }))
    .unwrap();
    Api::<Pod>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .expect("the pod is created");
}

/// Appends `lines` to a container's live CRI file, as containerd writes them.
fn write_cri(file: &Path, from: usize, n: usize) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    for i in from..from + n {
        let stream = if i % 5 == 0 { "stderr" } else { "stdout" };
        writeln!(
            f,
            "2026-12-05T10:{:02}:{:02}.{:09}Z {stream} F GET /items/{i} 200",
            i / 60 % 60,
            i % 60,
            i
        )
        .unwrap();
    }
}

fn args(s3: &S3Server, pods: &Path, data: &Path) -> AgentArgs {
    AgentArgs {
        node: NODE.into(),
        pods_dir: pods.to_owned(),
        data: data.to_owned(),
        ship_seconds: 1,
        keep_days: 0, // the lines are dated 2026-12-05: kept whatever the day the test runs
        bucket: BucketArgs {
            url: Some("s3://logs/cluster-1".into()),
            endpoint: Some(s3.endpoint.clone()),
            region: None,
            keys: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        },
        kubeconfig: None,
    }
}

/// A client of the bucket the agents ship to.
fn bucket_of(s3: &S3Server) -> Bucket {
    Bucket::connect(&BucketSettings {
        url: "s3://logs/cluster-1".into(),
        endpoint: Some(s3.endpoint.clone()),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        ..Default::default()
    })
    .unwrap()
}

/// The `app=catalog` lines of the node's store as read from the bucket.
async fn from_bucket(bucket: &Bucket) -> Option<Vec<String>> {
    let bucket = bucket.clone();
    tokio::task::spawn_blocking(move || {
        let dir = BucketDirectory::new(&bucket, NODE, BlockCache::new(0));
        let store = Store::open_read_only(Arc::new(dir), logstore::Config::default()).ok()?;
        let selector = StreamSelector::namespaces(["default".to_string()])
            .with_labels(LabelSelector::equals([("app", "catalog")]));
        let page = store.query(&Query::new(selector)).ok()?;
        Some(
            page.lines
                .iter()
                .map(|l| format!("{} {}", l.stream.as_str(), l.text_lossy()))
                .collect(),
        )
    })
    .await
    .unwrap()
}

fn expected(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let stream = if i % 5 == 0 { "stderr" } else { "stdout" };
            format!("{stream} GET /items/{i} 200")
        })
        .collect()
}

async fn a_node_agent_ships_its_pods_logs_with_their_labels_and_resumes_after_a_kill(c: Clients) {
    let s3 = S3Server::start().await;
    s3.create_bucket("logs").await;
    pod_on_the_node(&c.admin, "catalog-0").await;
    let agent_client = wharf_tests::real::log_agent_client(&c).await.unwrap();
    let (pods, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let live: PathBuf = pods.path().join("default_catalog-0_6f1c/app/0.log");
    write_cri(&live, 0, 100);
    let reader = bucket_of(&s3);

    // 1. the lines reach the bucket, labelled from the pod watch
    let first = tokio::spawn(agent::run(
        agent_client.clone(),
        args(&s3, pods.path(), data.path()),
        std::future::pending(),
    ));
    eventually(
        Duration::from_secs(60),
        "the node's lines in the bucket, labelled",
        || async { from_bucket(&reader).await.filter(|l| *l == expected(100)) },
    )
    .await
    .unwrap();
    assert_eq!(reader.store_names().unwrap(), vec![NODE.to_string()]);

    // 2. killed (no last flush, no last shipment) while the container goes on writing
    first.abort();
    let _ = first.await;
    write_cri(&live, 100, 50);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(agent::run(
        agent_client.clone(),
        args(&s3, pods.path(), data.path()),
        async move {
            let _ = stopped.await;
        },
    ));
    eventually(
        Duration::from_secs(60),
        "every line once after the restart",
        || async { from_bucket(&reader).await.filter(|l| *l == expected(150)) },
    )
    .await
    .unwrap();

    // 3. a graceful stop ships what came last
    write_cri(&live, 150, 3);
    stop.send(()).unwrap();
    second.await.unwrap().expect("the agent stops cleanly");
    let last = from_bucket(&reader).await.unwrap();
    assert!(
        last == expected(153),
        "{} lines, the last {:?}",
        last.len(),
        last.last()
    );
}

#[tokio::test]
async fn an_agent_refuses_a_missing_bucket_or_folder_before_doing_anything() {
    let c = wharf_tests::real::demo_clients().await.unwrap();
    let (pods, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = AgentArgs {
        node: NODE.into(),
        pods_dir: pods.path().join("missing"),
        data: data.path().to_owned(),
        ship_seconds: 1,
        keep_days: 0, // the lines are dated 2026-12-05: kept whatever the day the test runs
        bucket: BucketArgs::default(),
        kubeconfig: None,
    };
    let err = agent::run(c.admin.clone(), a.clone(), std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err:#}");
    a.pods_dir = pods.path().to_owned();
    let err = agent::run(c.admin.clone(), a.clone(), std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("--log-bucket is required"),
        "{err:#}"
    );
    a.node = "Node_1".into();
    let err = agent::run(c.admin.clone(), a, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a node name"), "{err:#}");
    assert!(
        std::fs::read_dir(data.path()).unwrap().next().is_none(),
        "nothing was written"
    );
}

on_both_clusters!(clients: two_console_replicas_read_the_same_logs_and_audit_records_from_the_bucket);

/// A console replica with the log bucket: it collects nothing, reads the bucket, ships its
/// own records as `name`.
async fn replica(
    c: &Clients,
    s3: &S3Server,
    name: &str,
    dir: &Path,
    site: &Path,
) -> std::net::SocketAddr {
    let bucket = bucket_of(s3);
    let launch = server::application::Launch {
        listen: "127.0.0.1:0".parse().unwrap(),
        site_dir: site.to_owned(),
        logs: Store::open_path(dir, logstore::Config::default()).unwrap(),
        shared_logs: Some((
            server::logs::shared::SharedLogs {
                bucket,
                name: name.into(),
                cache_bytes: 16 << 20,
                stale: Duration::ZERO,
            },
            dir.to_owned(),
        )),
        retention: None,
    };
    let mut app =
        server::application::Application::build(c.console.clone(), Default::default(), launch)
            .await
            .unwrap();
    assert!(
        app.take_collector().is_none(),
        "with a bucket the agents collect"
    );
    let addr = app.addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    addr
}

async fn two_console_replicas_read_the_same_logs_and_audit_records_from_the_bucket(c: Clients) {
    let s3 = S3Server::start().await;
    s3.create_bucket("logs").await;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = replica(&c, &s3, "console-a", dirs[0].path(), dirs[2].path()).await;
    let b = replica(&c, &s3, "console-b", dirs[1].path(), dirs[2].path()).await;

    // alpha's app `catalog` logs on a node whose agent ships to the bucket
    let pods: Api<Pod> = Api::namespaced(c.admin.clone(), "alpha");
    eventually(Duration::from_secs(60), "alpha's namespace", || async {
        pods.list(&Default::default()).await.ok()
    })
    .await
    .unwrap();
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "catalog-0", "labels": {"app": "catalog"}},
        "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "registry.local/catalog:1"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    write_cri(
        &dirs[3].path().join("alpha_catalog-0_7a2d/app/0.log"),
        0,
        40,
    );
    let data = tempfile::tempdir().unwrap();
    tokio::spawn(agent::run(
        wharf_tests::real::log_agent_client(&c).await.unwrap(),
        args(&s3, dirs[3].path(), data.path()),
        std::future::pending(),
    ));

    // the same page from either replica, whichever a load balancer picks
    let query = serde_json::json!({"tenant": "alpha", "query": {
        "selection": {"namespace": "alpha", "app": "catalog", "pod": null, "container": null},
        "from": "2026-12-05T10:00:00Z", "to": "2026-12-05T11:00:00Z",
        "search": {"text": "", "regex": false}, "limit": 1000, "backward": false, "cursor": null}});
    let texts = |page: &serde_json::Value| -> Vec<String> {
        page["lines"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|l| l["text"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let alice_a = Session::login_at(a, "alice", DEMO_PASSWORD).await.unwrap();
    let alice_b = Session::login_at(b, "alice", DEMO_PASSWORD).await.unwrap();
    for alice in [&alice_a, &alice_b] {
        let page = eventually(Duration::from_secs(60), "catalog's 40 lines", || async {
            let (status, page) = alice.call("query_logs", query.clone()).await.ok()?;
            (status == 200 && texts(&page).len() == 40).then_some(page)
        })
        .await
        .unwrap();
        assert_eq!(texts(&page)[7], "GET /items/7 200");
    }
    // bob (beta) sees none of it, from either replica
    for addr in [a, b] {
        let bob = Session::login_at(addr, "bob", DEMO_PASSWORD).await.unwrap();
        let (status, _) = bob.call("query_logs", query.clone()).await.unwrap();
        assert_eq!(status, 403);
    }

    // a refused login at replica A is in the audit log replica B shows (B never saw one)
    assert!(Session::login_at(a, "alice", "not her password")
        .await
        .is_err());
    let admin = Session::login_at(b, "admin", DEMO_PASSWORD).await.unwrap();
    let filter = serde_json::json!({"filter": {"user": "alice", "tenant": "", "action": "login", "outcome": "refused", "from": "", "to": "", "limit": 100}});
    eventually(
        Duration::from_secs(60),
        "replica A's record through replica B",
        || async {
            let (status, records) = admin.call("audit_records", filter.clone()).await.ok()?;
            (status == 200 && records.as_array()?.len() == 1).then_some(())
        },
    )
    .await
    .unwrap();
}
