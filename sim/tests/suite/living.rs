//! The living cluster through kube-rs: Deployments rolled out, scaled and updated,
//! Services' endpoints, logs, exec, Jobs, crash loops and metrics.

use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Endpoints, Event, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, AttachParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::Condition;
use kube::Client;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

use crate::support::spawn_with_node as spawn;

/// `kubectl rollout status`'s test for "successfully rolled out".
fn rolled_out() -> impl Condition<Deployment> {
    |d: Option<&Deployment>| {
        let Some(d) = d else { return false };
        let (Some(spec), Some(st)) = (&d.spec, &d.status) else {
            return false;
        };
        let want = spec.replicas.unwrap_or(1);
        d.metadata.generation <= st.observed_generation
            && st.updated_replicas.unwrap_or(0) == want
            && st.replicas.unwrap_or(0) == want
            && st.available_replicas.unwrap_or(0) == want
            && st.conditions.as_ref().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "Progressing"
                        && c.reason.as_deref() == Some("NewReplicaSetAvailable")
                }) && cs
                    .iter()
                    .any(|c| c.type_ == "Available" && c.status == "True")
            })
    }
}

async fn wait_for<K, C>(api: &Api<K>, name: &str, cond: C) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    C: Condition<K>,
{
    wharf_testkit::wait_for_condition(api, name, WAIT, cond).await
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}]}
            }
        }
    }))
    .unwrap()
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn app_pods(client: &Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

async fn scale(client: &Client, name: &str, replicas: i32) {
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    api.patch_scale(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn deployment_rolls_out_scales_and_changes_image() {
    let (sim, client) = spawn().await;
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &deployment("web", 1, "nginx:1.27"))
        .await
        .unwrap();
    wait_for(&api, "web", rolled_out()).await;
    let pods = app_pods(&client, "web").await;
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
    assert!(pod_ready(p));
    assert!(p.metadata.name.as_ref().unwrap().starts_with("web-"));
    assert!(p.spec.as_ref().unwrap().node_name.is_some(), "scheduled");
    assert!(p
        .status
        .as_ref()
        .unwrap()
        .pod_ip
        .as_ref()
        .is_some_and(|ip| ip.starts_with("127.")));

    for n in [3, 1] {
        scale(&client, "web", n).await;
        let d = wait_for(&api, "web", rolled_out()).await;
        assert_eq!(d.status.unwrap().ready_replicas, Some(n));
        crate::support::eventually(20, || async {
            (app_pods(&client, "web").await.len() == n as usize).then_some(())
        })
        .await;
    }

    api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}})))
        .await
        .unwrap();
    let d = wait_for(&api, "web", rolled_out()).await;
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    crate::support::eventually(20, || async {
        let pods = app_pods(&client, "web").await;
        (pods.len() == 1
            && pods.iter().all(|p| {
                p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("nginx:1.28")
            }))
        .then_some(())
    })
    .await;
    let rs: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let rss = rs
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(rss.len(), 2);
    for r in &rss {
        let rev = &r.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"];
        let hash = &r.metadata.labels.as_ref().unwrap()["pod-template-hash"];
        assert_eq!(
            r.metadata.name.as_deref(),
            Some(format!("web-{hash}").as_str())
        );
        let replicas = r.spec.as_ref().unwrap().replicas;
        if rev == "2" {
            assert_eq!(replicas, Some(1));
        } else {
            assert_eq!((rev.as_str(), replicas), ("1", Some(0)));
        }
    }
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let evs = events
        .list(&ListParams::default().fields("involvedObject.name=web,reason=ScalingReplicaSet"))
        .await
        .unwrap()
        .items;
    assert!(
        evs.iter().any(|e| e
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("Scaled up replica set web-"))),
        "{evs:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn recreate_strategy_replaces_all_pods() {
    let (sim, client) = spawn().await;
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let mut d = deployment("batchy", 2, "nginx:1.27");
    d.spec.as_mut().unwrap().strategy =
        Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    api.create(&PostParams::default(), &d).await.unwrap();
    wait_for(&api, "batchy", rolled_out()).await;
    api.patch("batchy", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}})))
        .await
        .unwrap();
    let d = wait_for(&api, "batchy", rolled_out()).await;
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    sim.shutdown().await;
}

/// A raw HTTP/1.0 GET, so the test needs no HTTP client.
async fn http_get(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.write_all(b"GET / HTTP/1.0\r\nHost: demo\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn service_endpoints_follow_pods() {
    let (sim, client) = spawn().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .create(&PostParams::default(), &deployment("shop", 2, "nginx:1.27"))
        .await
        .unwrap();
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "shop"},
        "spec": {"selector": {"app": "shop"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}
    }))
    .unwrap();
    svcs.create(&PostParams::default(), &svc).await.unwrap();
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
    let ready_ips = |n: usize| {
        move |e: Option<&Endpoints>| {
            e.and_then(|e| e.subsets.as_ref()).is_some_and(|ss| {
                ss.iter()
                    .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
                    .sum::<usize>()
                    == n
                    && ss
                        .iter()
                        .all(|s| s.not_ready_addresses.as_ref().is_none_or(Vec::is_empty))
            })
        }
    };
    let e = wait_for(&eps, "shop", ready_ips(2)).await;
    let subset = &e.subsets.unwrap()[0];
    assert_eq!(
        subset.ports.as_ref().unwrap()[0].port,
        8080,
        "named targetPort resolved"
    );
    let addr = &subset.addresses.as_ref().unwrap()[0];
    let page = http_get(&format!("{}:8080", addr.ip)).await;
    let pod_name = addr.target_ref.as_ref().unwrap().name.clone().unwrap();
    assert!(
        page.starts_with("HTTP/1.") && page.contains(&pod_name),
        "{page}"
    );

    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let list = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=shop"))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].endpoints.len(), 2);
    assert!(list[0]
        .endpoints
        .iter()
        .all(|e| e.conditions.as_ref().unwrap().ready == Some(true)));
    assert_eq!(list[0].ports.as_ref().unwrap()[0].port, Some(8080));

    scale(&client, "shop", 1).await;
    wait_for(&eps, "shop", ready_ips(1)).await;
    crate::support::eventually(20, || async {
        let l = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=shop"))
            .await
            .unwrap()
            .items;
        (l.len() == 1 && l[0].endpoints.len() == 1).then_some(())
    })
    .await;
    sim.shutdown().await;
}

async fn running_pod(client: &Client, name: &str, extra_env: serde_json::Value) -> Pod {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 8080}], "env": extra_env}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    wait_for(&pods, name, |p: Option<&Pod>| p.is_some_and(pod_ready)).await
}

#[tokio::test]
async fn logs_follow_and_since_time() {
    let (sim, client) = spawn().await;
    running_pod(&client, "talker", json!([])).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut lines = pods
        .log_stream(
            "talker",
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .lines();
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, async {
        while got.len() < 5 {
            got.push(lines.try_next().await.unwrap().expect("log line"));
        }
    })
    .await
    .expect("five lines while following");
    drop(lines);

    // kube-rs sends sinceTime rounded to the second.
    let since_j = k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap();
    let since = chrono::DateTime::parse_from_rfc3339(&since_j.to_string()).unwrap();
    // Lines are timestamped by the runtime; wait for some after `since`.
    let after = crate::support::eventually(20, || async {
        let lp = LogParams {
            since_time: Some(since_j),
            timestamps: true,
            ..Default::default()
        };
        let text = pods.logs("talker", &lp).await.unwrap();
        (text.lines().count() >= 2).then_some(text)
    })
    .await;
    for line in after.lines() {
        let ts = line.split(' ').next().unwrap();
        let ts = chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(ts >= since, "{line} is before {since}");
    }
    let all = pods.logs("talker", &LogParams::default()).await.unwrap();
    assert!(all.contains(got[0].as_str()) && all.lines().count() >= after.lines().count());
    sim.shutdown().await;
}

#[tokio::test]
async fn exec_returns_output_and_exit_code() {
    let (sim, client) = spawn().await;
    running_pod(&client, "shell", json!([])).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut proc = pods
        .exec(
            "shell",
            ["sh", "-c", "echo hi; exit 3"],
            &AttachParams::default().stdout(true).stderr(true),
        )
        .await
        .unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut proc.stdout().unwrap(), &mut out)
        .await
        .unwrap();
    let status = proc.take_status().unwrap().await.expect("status");
    assert_eq!(out.trim(), "hi");
    assert_eq!(status.status.as_deref(), Some("Failure"), "{status:?}");
    assert_eq!(
        status.reason.as_deref(),
        Some("NonZeroExitCode"),
        "{status:?}"
    );
    let causes = status.details.unwrap().causes.unwrap();
    assert!(
        causes
            .iter()
            .any(|c| c.reason.as_deref() == Some("ExitCode") && c.message.as_deref() == Some("3")),
        "{causes:?}"
    );

    // An unknown pod is a 404 Status before any upgrade.
    let err = pods
        .exec("nope", ["true"], &AttachParams::default())
        .await
        .err()
        .expect("fails");
    assert!(
        format!("{err:?}").contains("404") || format!("{err}").contains("not found"),
        "{err:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn job_runs_to_completion() {
    let (sim, client) = spawn().await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36", "command": ["echo", "done"]}]}}}
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let done = |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref()?.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Complete" && c.status == "True")
            })
    };
    let j = wait_for(&jobs, "once", done).await;
    let st = j.status.unwrap();
    assert_eq!(st.succeeded, Some(1));
    assert!(st.completion_time.is_some() && st.start_time.is_some());
    assert!(st
        .conditions
        .unwrap()
        .iter()
        .any(|c| c.type_ == "SuccessCriteriaMet"));
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let list = pods
        .list(&ListParams::default().labels("job-name=once"))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 1);
    let p = &list[0];
    assert_eq!(
        p.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    let log = pods
        .logs(p.metadata.name.as_ref().unwrap(), &LogParams::default())
        .await
        .unwrap();
    assert_eq!(log.trim(), "done");
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let evs = events
        .list(&ListParams::default().fields("involvedObject.name=once"))
        .await
        .unwrap()
        .items;
    assert!(
        evs.iter().any(|e| e.reason.as_deref() == Some("Completed")),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e.reason.as_deref() == Some("SuccessfulCreate")),
        "{evs:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn crash_looping_pod_shows_restarts() {
    let (sim, client) = spawn().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "crashy"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "env": [{"name": "WHARF_SIM_CRASH_AFTER", "value": "0.3"}]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    let restarted = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()?.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.restart_count >= 2))
    };
    let p = wait_for(&pods, "crashy", restarted).await;
    let c = &p.status.unwrap().container_statuses.unwrap()[0];
    assert!(
        c.last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 1),
        "{c:?}"
    );
    let events: Api<Event> = Api::default_namespaced(client.clone());
    crate::support::eventually(20, || async {
        let evs = events
            .list(&ListParams::default().fields("involvedObject.name=crashy"))
            .await
            .unwrap()
            .items;
        // Repeated events are aggregated into one with a count.
        evs.iter()
            .any(|e| e.reason.as_deref() == Some("Started") && e.count.unwrap_or(0) >= 2)
            .then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn metrics_for_running_pods() {
    let (sim, client) = spawn().await;
    running_pod(&client, "measured", json!([])).await;
    let text = crate::support::eventually(20, || async {
        let req = axum::http::Request::get("/metrics")
            .body(Vec::new())
            .unwrap();
        let text = client.request_text(req).await.unwrap();
        text.lines()
            .any(|l| l.starts_with("container_threads{") && l.contains("pod=\"measured\""))
            .then_some(text)
    })
    .await;
    assert!(text.contains("container_cpu_usage_seconds_total{"));

    let req =
        axum::http::Request::get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/measured")
            .body(Vec::new())
            .unwrap();
    let pm: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(pm["kind"], "PodMetrics");
    assert_eq!(pm["containers"][0]["name"], "app");
    let req = axum::http::Request::get("/apis/metrics.k8s.io/v1beta1/nodes")
        .body(Vec::new())
        .unwrap();
    let nm: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(nm["items"].as_array().unwrap().len(), 3);
    let req = axum::http::Request::get("/apis").body(Vec::new()).unwrap();
    let groups: serde_json::Value = client.request(req).await.unwrap();
    assert!(groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "metrics.k8s.io"));
    sim.shutdown().await;
}

#[tokio::test]
async fn pods_are_adopted_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || sim::SimConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let sim = sim::start_with_node(config(), sim::NodeConfig::fast(""))
        .await
        .unwrap();
    let client = sim::testing::client(&sim).await.unwrap();
    let ip = running_pod(&client, "keeper", json!([]))
        .await
        .status
        .unwrap()
        .pod_ip
        .unwrap();
    sim.shutdown().await;

    let sim = sim::start_with_node(config(), sim::NodeConfig::fast(""))
        .await
        .unwrap();
    let client = sim::testing::client(&sim).await.unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    // Running again, on the same address, and its port answers.
    crate::support::eventually(20, || async {
        let logs = pods.logs("keeper", &LogParams::default()).await.ok()?;
        (!logs.is_empty()).then_some(())
    })
    .await;
    let p = pods.get("keeper").await.unwrap();
    assert_eq!(p.status.unwrap().pod_ip.as_deref(), Some(ip.as_str()));
    assert!(http_get(&format!("{ip}:8080")).await.contains("keeper"));
    sim.shutdown().await;
}
