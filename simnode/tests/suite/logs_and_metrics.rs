//! Logs of running containers through the runtime, and the metrics they export.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use simnode::LogOptions;

#[tokio::test]
async fn follow_receives_new_lines_and_ends_when_the_container_stops() {
    let n = node_with(|c| c.log_lines_per_sec = 40.0);
    let p = app_pod(
        "chatty",
        "uid-logs-1",
        json!({"name": "app", "image": "spring-shop:1",
        "env": [{"name": "WHARF_SIM_CRASH_AFTER", "value": "1"}]}),
    );
    n.rt.start_pod(&p, ip(5, 1)).await.unwrap();
    wait_running(&n.rt, "uid-logs-1").await;
    let opts = LogOptions {
        follow: true,
        timestamps: true,
        tail_lines: Some(1),
        ..Default::default()
    };
    let mut s = n.rt.logs("demo", "chatty", &opts).unwrap();
    let mut lines = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = s.next().await {
            lines.push(String::from_utf8_lossy(&chunk).to_string());
        }
    })
    .await;
    assert!(ended.is_ok(), "follow ends when the container stops");
    assert!(
        lines.len() > 5,
        "new lines arrived while following: {}",
        lines.len()
    );
    assert!(lines
        .iter()
        .all(|l| chrono::DateTime::parse_from_rfc3339(l.split(' ').next().unwrap()).is_ok()));
    assert!(lines.iter().any(|l| l.contains("Application run failed")));

    // After the restart the crashed instance is `previous`; limitBytes cuts exactly.
    wait_state(&n.rt, "uid-logs-1", "restarted", |s| {
        s.containers[0].restart_count >= 1
    })
    .await;
    let prev: Vec<Bytes> =
        n.rt.logs(
            "demo",
            "chatty",
            &LogOptions {
                previous: true,
                limit_bytes: Some(100),
                ..Default::default()
            },
        )
        .unwrap()
        .collect()
        .await;
    assert_eq!(prev.concat().len(), 100);
}

fn parse_metrics(text: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {l}"));
            let (name, labels) = series
                .split_once('{')
                .unwrap_or_else(|| panic!("no labels: {l}"));
            let labels = labels.strip_suffix('}').unwrap();
            let labels = labels
                .split("\",")
                .map(|kv| {
                    let (k, v) = kv
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label in {l}"));
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            (
                name.to_string(),
                labels,
                value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("bad value: {l}")),
            )
        })
        .collect()
}

fn value(text: &str, metric: &str, pod: &str) -> Option<f64> {
    parse_metrics(text)
        .into_iter()
        .find(|(n, l, _)| n == metric && l.get("pod").map(String::as_str) == Some(pod))
        .map(|(_, _, v)| v)
}

#[tokio::test]
async fn metrics_parse_and_a_leaking_container_grows_threads() {
    let n = node_with(|c| c.leak_per_minute = 600.0);
    let leaky = pod(json!({
        "metadata": {"name": "leaky", "namespace": "demo", "uid": "uid-met-1", "annotations": {"sim.wharf.dev/leak": "threads"}},
        "spec": {"containers": [{"name": "app", "image": "eclipse-temurin:21",
            "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}}]}
    }));
    let hot = app_pod(
        "hot",
        "uid-met-2",
        json!({"name": "app", "image": "busybox", "env": [{"name": "WHARF_SIM_CPU", "value": "900m"}]}),
    );
    n.rt.start_pod(&leaky, ip(6, 1)).await.unwrap();
    n.rt.start_pod(&hot, ip(6, 2)).await.unwrap();
    wait_running(&n.rt, "uid-met-1").await;
    wait_running(&n.rt, "uid-met-2").await;

    let text = n.rt.metrics_text();
    for family in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_threads",
        "container_sockets",
        "container_file_descriptors",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "container_spec_memory_limit_bytes",
        "kube_pod_container_status_restarts_total",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
    let samples = parse_metrics(&text);
    let (_, labels, _) = samples
        .iter()
        .find(|(n, _, _)| n == "container_threads")
        .unwrap();
    for l in ["namespace", "pod", "container", "image", "name"] {
        assert!(labels.contains_key(l), "{l}");
    }
    assert_eq!(
        value(&text, "container_spec_cpu_quota", "leaky"),
        Some(50_000.0)
    );
    assert_eq!(
        value(&text, "container_spec_memory_limit_bytes", "leaky"),
        Some(512.0 * 1024.0 * 1024.0)
    );

    let first = value(&text, "container_threads", "leaky").unwrap();
    let cpu_first = value(&text, "container_cpu_usage_seconds_total", "leaky").unwrap();
    let grown = wait_for(10, "threads to grow", || {
        let v =
            value(&n.rt.metrics_text(), "container_threads", "leaky").filter(|v| *v >= first + 5.0);
        async move { v }
    })
    .await;
    assert!(grown > first);
    assert!(
        value(
            &n.rt.metrics_text(),
            "container_cpu_usage_seconds_total",
            "leaky"
        )
        .unwrap()
            > cpu_first
    );

    let usage = n.rt.pod_metrics();
    let hot_usage = usage.iter().find(|u| u.name == "hot").unwrap();
    let cores = hot_usage.containers[0].cpu_nanocores as f64 / 1e9;
    assert!((cores - 0.9).abs() < 0.1, "pinned CPU: {cores}");
    assert!(hot_usage.containers[0].memory_bytes > 0);
    assert!(hot_usage.containers[0].cpu_quantity().ends_with('n'));
}
