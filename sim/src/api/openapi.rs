//! A minimal OpenAPI v3 document: paths only, no schemas. kubectl reads it to
//! learn that the server validates fields itself (`fieldValidation` on PATCH
//! operations tagged with `x-kubernetes-group-version-kind`), so it skips
//! client-side schema validation; for strategic-merge metadata kubectl then
//! falls back to the types compiled into it. `/openapi/v2` is in `openapi_v2.rs`.

use axum::response::Response;
use serde_json::{json, Map, Value};

use super::discovery::json_response;
use super::AppState;
use crate::error::ApiError;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

pub fn root(app: &AppState) -> Response {
    let mut paths = Map::new();
    for (g, vs) in app.store.registry().groups() {
        for v in vs {
            let p = gv_path(&g, &v);
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", app.store.resource_version())}));
        }
    }
    json_response(&json!({"paths": paths}))
}

pub fn group_version(app: &AppState, gv: &str) -> Result<Response, ApiError> {
    let reg = app.store.registry();
    let mut paths = Map::new();
    let mut found = false;
    for r in reg.all() {
        if gv_path(&r.group, &r.version) != gv {
            continue;
        }
        found = true;
        let base = format!("/{gv}");
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        // NB: parameters sit on the operation, where kubectl's query-param verifier looks.
        // No requestBody: kubectl then computes strategic patches from its built-in types.
        let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .iter()
            .map(|n| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
            .collect();
        let op = |action: &str| {
            json!({"operationId": format!("{action}{}", r.kind), "x-kubernetes-action": action,
                   "x-kubernetes-group-version-kind": gvk, "parameters": params,
                   "responses": {"200": {"description": "OK"}}})
        };
        paths.insert(item, json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
    }
    if !found {
        return Err(ApiError::path_not_found());
    }
    Ok(json_response(&json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}}
    })))
}
