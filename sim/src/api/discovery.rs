//! Legacy (non-aggregated) discovery: `/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/<group>`, `/apis/<group>/<version>`. Answered as `application/json`
//! even when the client asks for aggregated discovery first; clients fall back.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::AppState;
use crate::error::ApiError;

pub fn json_response(v: &Value) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

pub fn version() -> Response {
    json_response(&json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-wharf-demo",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    }))
}

pub fn core_versions(app: &AppState) -> Response {
    json_response(&json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": app.server_address.trim_start_matches("https://")}]
    }))
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn groups(app: &AppState) -> Response {
    let reg = app.store.registry();
    let groups: Vec<Value> = reg
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_json(&g, &vs))
        .collect();
    json_response(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

pub fn group(app: &AppState, group: &str) -> Result<Response, ApiError> {
    let reg = app.store.registry();
    let (g, vs) = reg
        .groups()
        .into_iter()
        .find(|(g, _)| g == group)
        .ok_or_else(ApiError::path_not_found)?;
    let mut v = group_json(&g, &vs);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Ok(json_response(&v))
}

pub fn resources(app: &AppState, group: &str, version: &str) -> Result<Response, ApiError> {
    let reg = app.store.registry();
    let list: Vec<Value> = reg
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(|r| r.discovery_entries())
        .collect();
    if list.is_empty() {
        return Err(ApiError::path_not_found());
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(json_response(
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    ))
}
