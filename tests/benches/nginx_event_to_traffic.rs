//! Event to traffic through `wharf ng-agent` and real nginx: from creating a Service (with
//! ready pods) and its route to the first request through nginx that reaches a pod, over
//! 100 changes; p50 and p99. `cargo bench -p wharf-tests --bench nginx_event_to_traffic`.

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::Duration;
use wharf_tests::nginx::*;
use wharf_tests::{eventually, spawn_app};

#[tokio::main]
async fn main() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 2, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "the pods answer", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s == 200).map(|_| ()) }).await.unwrap();
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");
    let reloads = node.reloads();
    let mut took = Vec::new();
    for i in 0..100 {
        let name = format!("svc-{i}");
        let host = format!("h{i}.alpha.test");
        let s: Service = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "alpha"},
            "spec": {"selector": {"app": "shop"}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}))
        .unwrap();
        let start = std::time::Instant::now();
        services.create(&PostParams::default(), &s).await.unwrap();
        route(&app, &name, &host, 80, vec![]).await;
        loop {
            if let Some((200, _)) = node.hit(&host).await {
                break;
            }
            assert!(start.elapsed() < WITHIN, "{host} never answered");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(start.elapsed());
    }
    took.sort();
    let pct = |p: f64| took[((took.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "event to traffic ({:?} mode, new Service + route, {} changes): p50 {:?}, p99 {:?}, max {:?}; reloads {}",
        node.opts.mode,
        took.len(),
        pct(0.50),
        pct(0.99),
        took.last().unwrap(),
        node.reloads() - reloads
    );
}
