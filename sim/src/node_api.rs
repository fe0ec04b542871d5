//! The API routes a real cluster proxies to its kubelets and metrics-server, served
//! here from the one [`NodeRuntime`]:
//!
//! - `GET  /api/v1/namespaces/{ns}/pods/{name}/log` (all of the kubelet's options);
//! - `GET|POST .../pods/{name}/exec` and `.../attach`: WebSocket upgrades speaking
//!   `v5.channel.k8s.io` / `v4.channel.k8s.io` (`command` repeats in the query). Exec
//!   and attach answer 403 unless the demo cluster listens on loopback, and 404/400
//!   with a `Status` for an unknown pod or container before upgrading;
//! - `GET /metrics`: cAdvisor-style Prometheus text for every container;
//! - `metrics.k8s.io/v1beta1` PodMetrics and NodeMetrics (get and list) with their
//!   discovery documents; [`with_metrics_discovery`] adds the group to `/apis`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use futures::StreamExt;
use serde_json::{json, Value};
use simnode::{AttachRequest, ExecRequest, LogOptions, NodeRuntime, PodUsage};

use crate::controllers::kubelet::Kubelet;
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{LabelSelector, ListParams, Store};

const METRICS_GROUP: &str = "metrics.k8s.io";
const METRICS_GV: &str = "metrics.k8s.io/v1beta1";

#[derive(Clone)]
struct NodeApi {
    store: Store,
    runtime: NodeRuntime,
    kubelet: Option<Arc<Kubelet>>,
}

/// The routes, to pass to [`crate::api::router`] as its extra routes.
pub fn router(store: Store, runtime: NodeRuntime, kubelet: Option<Arc<Kubelet>>) -> Router {
    let pod = "/api/v1/namespaces/{ns}/pods/{name}";
    let m = "/apis/metrics.k8s.io/v1beta1";
    Router::new()
        .route(&format!("{pod}/log"), get(logs))
        .route(&format!("{pod}/exec"), get(exec).post(exec))
        .route(&format!("{pod}/attach"), get(attach).post(attach))
        .route("/metrics", get(metrics))
        .route("/apis/metrics.k8s.io", get(metrics_group))
        .route(m, get(metrics_resources))
        .route(&format!("{m}/nodes"), get(node_metrics_list))
        .route(&format!("{m}/nodes/{{name}}"), get(node_metrics_get))
        .route(&format!("{m}/pods"), get(pod_metrics_all))
        .route(
            &format!("{m}/namespaces/{{ns}}/pods"),
            get(pod_metrics_list),
        )
        .route(
            &format!("{m}/namespaces/{{ns}}/pods/{{name}}"),
            get(pod_metrics_get),
        )
        .with_state(NodeApi {
            store,
            runtime,
            kubelet,
        })
}

/// Wraps the whole API so `/apis` also lists `metrics.k8s.io` (served by [`router`]).
pub fn with_metrics_discovery(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(list_metrics_group))
}

async fn list_metrics_group(req: Request, next: Next) -> Response {
    let is_apis = req.uri().path().trim_end_matches('/') == "/apis";
    let resp = next.run(req).await;
    if !is_apis || !resp.status().is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return ApiError::internal("reading the group list failed").into_response();
    };
    let mut v: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    if v["kind"] != "APIGroupList" {
        return Response::from_parts(parts, Body::from(bytes));
    }
    if let Some(groups) = v["groups"].as_array_mut() {
        if !groups.iter().any(|g| g["name"] == METRICS_GROUP) {
            groups.push(group_json());
        }
    }
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&v).unwrap_or_default()),
    )
}

fn json_response(v: &Value) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

fn node_error(e: simnode::Error) -> ApiError {
    ApiError::new(e.status_code(), e.status_reason(), e.to_string())
}

/// For a pod that exists but does not run (yet, or any more): the API server's 400.
fn not_running(pod: &Value, container: Option<&str>) -> ApiError {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let names: Vec<&str> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect();
    let main: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match container.filter(|c| !c.is_empty()) {
        Some(c) if !names.contains(&c) => {
            return ApiError::bad_request(format!("container {c} is not valid for pod {name}"))
        }
        Some(c) => c,
        None if main.len() == 1 => main[0],
        None => {
            return ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                main.join(" ")
            ))
        }
    };
    let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
    if matches!(phase, "Succeeded" | "Failed") {
        return ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is not available (the pod has finished)"
        ));
    }
    let reason = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container)
        .and_then(|c| c["state"]["waiting"]["reason"].as_str())
        .unwrap_or("ContainerCreating");
    ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
    ))
}

async fn logs(
    State(n): State<NodeApi>,
    Path((ns, name)): Path<(String, String)>,
    opts: Result<Query<LogOptions>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(opts) = opts.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let pod = n.store.get(&ResourceId::core("pods"), &ns, &name)?;
    let stream = match n.runtime.logs(&ns, &name, &opts) {
        Ok(s) => s,
        Err(simnode::Error::PodNotFound { .. }) => {
            return Err(not_running(&pod, opts.container.as_deref()))
        }
        Err(e) => return Err(node_error(e)),
    };
    let body = Body::from_stream(stream.map(Ok::<_, std::convert::Infallible>));
    Ok(([(CONTENT_TYPE, "text/plain")], body).into_response())
}

/// The query of an exec or attach request.
#[derive(Debug, Default)]
struct StreamQuery {
    container: Option<String>,
    command: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

fn stream_query(pairs: Vec<(String, String)>) -> StreamQuery {
    let mut q = StreamQuery::default();
    let truthy = |v: &str| matches!(v, "true" | "1" | "True");
    for (k, v) in pairs {
        match k.as_str() {
            "container" => q.container = Some(v).filter(|c| !c.is_empty()),
            "command" => q.command.push(v),
            "stdin" | "input" => q.stdin = truthy(&v),
            "stdout" | "output" => q.stdout = truthy(&v),
            "stderr" | "error" => q.stderr = truthy(&v),
            "tty" => q.tty = truthy(&v),
            _ => {}
        }
    }
    q
}

/// What exec and attach check before upgrading: allowed, pod, container, streams.
fn precheck(
    n: &NodeApi,
    ns: &str,
    name: &str,
    q: &StreamQuery,
    what: &str,
) -> Result<(), ApiError> {
    if !n.runtime.exec_allowed() {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!("pods \"{name}\" is forbidden: {what} is only allowed while the demo cluster listens on a loopback address"),
        ));
    }
    let pod = n.store.get(&ResourceId::core("pods"), ns, name)?;
    if matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) {
        let phase = pod["status"]["phase"].as_str().unwrap_or_default();
        return Err(ApiError::bad_request(format!(
            "cannot {what} into a container in a completed pod; current phase is {phase}"
        )));
    }
    match n
        .runtime
        .resolve_container(ns, name, q.container.as_deref())
    {
        Ok(_) => {}
        Err(simnode::Error::PodNotFound { .. }) => {
            return Err(not_running(&pod, q.container.as_deref()))
        }
        Err(e) => return Err(node_error(e)),
    }
    if !(q.stdin || q.stdout || q.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least one of stdin, stdout, stderr",
        ));
    }
    Ok(())
}

fn upgrade(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<(WebSocketUpgrade, String), ApiError> {
    let ws = ws.map_err(|_| {
        ApiError::bad_request("Upgrade request required: this demo cluster speaks the v5/v4.channel.k8s.io WebSocket protocols (no SPDY)")
    })?;
    let ws = ws.protocols(simnode::SUPPORTED_PROTOCOLS);
    let proto = ws
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .unwrap_or(simnode::SUPPORTED_PROTOCOLS[1])
        .to_string();
    Ok((ws, proto))
}

async fn exec(
    State(n): State<NodeApi>,
    Path((ns, name)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let q = stream_query(pairs);
    precheck(&n, &ns, &name, &q, "exec")?;
    if q.command.is_empty() {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    let (ws, proto) = upgrade(ws)?;
    let req = ExecRequest {
        namespace: ns,
        pod: name,
        container: q.container,
        command: q.command,
        stdin: q.stdin,
        stdout: q.stdout,
        stderr: q.stderr,
        tty: q.tty,
    };
    let runtime = n.runtime.clone();
    Ok(ws.on_upgrade(move |socket| async move { runtime.exec(socket, &proto, req).await }))
}

async fn attach(
    State(n): State<NodeApi>,
    Path((ns, name)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let q = stream_query(pairs);
    precheck(&n, &ns, &name, &q, "attach")?;
    let (ws, proto) = upgrade(ws)?;
    let req = AttachRequest {
        namespace: ns,
        pod: name,
        container: q.container,
        stdin: q.stdin,
        stdout: q.stdout,
        stderr: q.stderr,
        tty: q.tty,
    };
    let runtime = n.runtime.clone();
    Ok(ws.on_upgrade(move |socket| async move { runtime.attach(socket, &proto, req).await }))
}

async fn metrics(State(n): State<NodeApi>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        n.runtime.metrics_text(),
    )
        .into_response()
}

fn group_json() -> Value {
    let v = json!({"groupVersion": METRICS_GV, "version": "v1beta1"});
    json!({"name": METRICS_GROUP, "versions": [v], "preferredVersion": v})
}

async fn metrics_group() -> Response {
    let mut g = group_json();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    json_response(&g)
}

async fn metrics_resources() -> Response {
    json_response(&json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": METRICS_GV,
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ]
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct MetricsQuery {
    label_selector: Option<String>,
}

fn window(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs())
}

fn pod_metrics_json(u: &PodUsage, labels: &std::collections::BTreeMap<String, String>) -> Value {
    json!({
        "kind": "PodMetrics", "apiVersion": METRICS_GV,
        "metadata": {"name": u.name, "namespace": u.namespace, "creationTimestamp": crate::store::now(), "labels": labels},
        "timestamp": u.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "window": window(u.window),
        "containers": u.containers.iter().map(|c| json!({
            "name": c.name, "usage": {"cpu": c.cpu_quantity(), "memory": c.memory_quantity()}
        })).collect::<Vec<_>>(),
    })
}

fn list_json(kind: &str, items: Vec<Value>) -> Response {
    json_response(&json!({"kind": kind, "apiVersion": METRICS_GV, "metadata": {}, "items": items}))
}

fn pod_metrics(n: &NodeApi, ns: Option<&str>, q: &MetricsQuery) -> Result<Vec<Value>, ApiError> {
    let selector = LabelSelector::parse(q.label_selector.as_deref().unwrap_or_default())?;
    let pods = ResourceId::core("pods");
    Ok(n.runtime
        .pod_metrics()
        .iter()
        .filter(|u| ns.is_none_or(|ns| u.namespace == ns))
        .filter_map(|u| {
            let entry = n.store.get_entry(&pods, &u.namespace, &u.name).ok()?;
            selector
                .matches(&entry.meta.labels)
                .then(|| pod_metrics_json(u, &entry.meta.labels))
        })
        .collect())
}

async fn pod_metrics_all(
    State(n): State<NodeApi>,
    Query(q): Query<MetricsQuery>,
) -> Result<Response, ApiError> {
    Ok(list_json("PodMetricsList", pod_metrics(&n, None, &q)?))
}

async fn pod_metrics_list(
    State(n): State<NodeApi>,
    Path(ns): Path<String>,
    Query(q): Query<MetricsQuery>,
) -> Result<Response, ApiError> {
    Ok(list_json("PodMetricsList", pod_metrics(&n, Some(&ns), &q)?))
}

async fn pod_metrics_get(
    State(n): State<NodeApi>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let entry = n
        .store
        .get_entry(&ResourceId::core("pods"), &ns, &name)
        .map_err(|_| ApiError::not_found("pods.metrics.k8s.io", &name))?;
    let usage = n
        .runtime
        .pod_metrics()
        .into_iter()
        .find(|u| u.namespace == ns && u.name == name);
    match usage {
        Some(u) => Ok(json_response(&pod_metrics_json(&u, &entry.meta.labels))),
        None => Err(ApiError::not_found("pods.metrics.k8s.io", &name)),
    }
}

/// NodeMetrics: the node's own overhead plus the usage of the pods it runs.
fn node_metrics(n: &NodeApi, only: Option<&str>) -> Result<Vec<Value>, ApiError> {
    let nodes = n
        .store
        .list(&ResourceId::core("nodes"), None, &ListParams::default())?
        .values();
    let usage = n.runtime.pod_metrics();
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for node in nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        if only.is_some_and(|o| o != name) {
            continue;
        }
        // A few system daemons' worth of usage, as a real node never reads zero.
        let (mut cpu, mut mem): (u64, u64) = (120_000_000, 600 << 20);
        if let Some(k) = &n.kubelet {
            for u in usage
                .iter()
                .filter(|u| k.node_of(&u.namespace, &u.name).as_deref() == Some(name))
            {
                for c in &u.containers {
                    cpu += c.cpu_nanocores;
                    mem += c.memory_bytes;
                }
            }
        }
        out.push(json!({
            "kind": "NodeMetrics", "apiVersion": METRICS_GV,
            "metadata": {"name": name, "creationTimestamp": crate::store::now(), "labels": node["metadata"]["labels"]},
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "window": "20s",
            "usage": {"cpu": format!("{cpu}n"), "memory": format!("{}Ki", mem / 1024)},
        }));
    }
    Ok(out)
}

async fn node_metrics_list(State(n): State<NodeApi>) -> Result<Response, ApiError> {
    Ok(list_json("NodeMetricsList", node_metrics(&n, None)?))
}

async fn node_metrics_get(
    State(n): State<NodeApi>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    node_metrics(&n, Some(&name))?
        .into_iter()
        .next()
        .map(|v| json_response(&v))
        .ok_or_else(|| ApiError::not_found("nodes.metrics.k8s.io", &name))
}
