//! Event to traffic through `wharf ng-agent` and real nginx, p50 and p99:
//!
//! 1. a new Service (with ready pods) and its route: from creating them to the first request
//!    through nginx that reaches a pod, over 100 changes (each new route needs a reload);
//! 2. an endpoint change: from rewriting an EndpointSlice (what the endpoints controller does
//!    when a pod becomes ready or goes away) to the first request through nginx reaching the
//!    pod it now names, over 100 changes, in the dynamic and the static mode. In the dynamic
//!    mode it is split at the moment the agent's peer push is confirmed: API server, watch and
//!    the agent before it; nginx after it.
//!
//! `cargo bench -p wharf-tests --bench nginx_event_to_traffic`.

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use ngx::Mode;
use serde_json::json;
use std::time::{Duration, Instant};
use wharf_tests::nginx::*;
use wharf_tests::{eventually, spawn_app, TestApp};

const CHANGES: usize = 100;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "p50 {}, p99 {}, max {}",
        ms(pct(&v, 0.50)),
        ms(pct(&v, 0.99)),
        ms(*v.last().unwrap())
    )
}

async fn new_services(app: &TestApp) {
    let mut node = Node::new();
    node.start(app).await;
    eventually(WITHIN, "the pods answer", || async {
        node.hit("shop.alpha.demo")
            .await
            .filter(|(s, _)| *s == 200)
            .map(|_| ())
    })
    .await
    .unwrap();
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");
    let reloads = node.reloads();
    let mut took = Vec::new();
    for i in 0..CHANGES {
        let name = format!("svc-{i}");
        let host = format!("h{i}.alpha.demo");
        let s: Service = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "alpha"},
            "spec": {"selector": {"app": "shop"}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}))
        .unwrap();
        let start = Instant::now();
        services.create(&PostParams::default(), &s).await.unwrap();
        route(app, &name, &host, 80, vec![]).await;
        loop {
            if let Some((200, _)) = node.hit(&host).await {
                break;
            }
            assert!(start.elapsed() < WITHIN, "{host} never answered");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(start.elapsed());
    }
    println!(
        "new Service + route -> first request ({:?} mode, {CHANGES} changes): {}; reloads {}",
        node.opts.mode,
        summary(took),
        node.reloads() - reloads
    );
}

async fn endpoint_changes(app: &TestApp, pods: &[PodEndpoint], mode: Mode) {
    set_endpoints(app, "moving", &pods[..1]).await;
    let mut node = Node::with_mode(Some(mode));
    node.start(app).await;
    eventually(WITHIN, "the first pod answers", || async {
        node.hit("moving.alpha.demo")
            .await
            .and_then(|(_, b)| pod_of(&b))
            .filter(|p| *p == pods[0].pod)
            .map(|_| ())
    })
    .await
    .unwrap();
    let reloads = node.reloads();
    let (mut total, mut to_push, mut after_push) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..=CHANGES {
        let target = &pods[i % pods.len()];
        let pushes = node.engine().status().peer_push_count;
        let start = Instant::now();
        set_endpoints(app, "moving", std::slice::from_ref(target)).await;
        let mut pushed = None;
        loop {
            if pushed.is_none() && node.engine().status().peer_push_count > pushes {
                pushed = Some(start.elapsed());
            }
            if node
                .hit("moving.alpha.demo")
                .await
                .and_then(|(_, b)| pod_of(&b))
                .as_ref()
                == Some(&target.pod)
            {
                break;
            }
            assert!(start.elapsed() < WITHIN, "change {i} never reached traffic");
            tokio::task::yield_now().await;
        }
        let t = start.elapsed();
        total.push(t);
        if let Some(p) = pushed {
            to_push.push(p);
            after_push.push(t.saturating_sub(p));
        }
    }
    println!(
        "endpoint change -> traffic ({mode:?} mode, {CHANGES} changes): {}; reloads {}",
        summary(total),
        node.reloads() - reloads
    );
    if mode == Mode::Dynamic && !to_push.is_empty() {
        println!(
            "  of which slice written -> peer push confirmed (API, watch, agent): {}",
            summary(to_push)
        );
        println!(
            "  and push confirmed -> first request on the new pod (nginx): {}",
            summary(after_push)
        );
    }
}

#[tokio::main]
async fn main() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 3, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    let pods = ready_endpoints(&app, "shop", 3).await;
    manual_service(&app, "moving", 80, &pods[..1]).await;
    route(&app, "moving", "moving.alpha.demo", 80, vec![]).await;
    endpoint_changes(&app, &pods, Mode::Dynamic).await;
    endpoint_changes(&app, &pods, Mode::Static).await;
    new_services(&app).await;
}
