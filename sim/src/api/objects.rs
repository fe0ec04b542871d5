//! The resource endpoints: get, list, watch, create, update, patch, delete,
//! deletecollection, and the status, scale and ephemeralcontainers subresources.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::body;
use super::discovery::json_response;
use super::patch::{self, PatchType};
use super::path::ResourcePath;
use super::table::{wants_table, Include, Printer};
use super::AppState;
use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;
use crate::store::{
    DeleteOptions, FieldSelector, LabelSelector, ListParams, Propagation, WriteOptions,
};

pub type Params = HashMap<String, String>;

pub async fn handle(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    rp: ResourcePath,
) -> Result<Response, ApiError> {
    let reg = app.store.registry();
    let info = reg
        .lookup(&rp.group, &rp.version, &rp.plural)
        .cloned()
        .ok_or_else(ApiError::path_not_found)?;
    drop(reg);
    if !info.namespaced && rp.namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    let q: Params = Query::<Params>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let ns = rp.namespace.clone().unwrap_or_default();
    let id = info.id();
    let store = &app.store;
    let wopts = WriteOptions {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
        field_manager: Some(field_manager(&q, headers)),
    };

    match (rp.name.as_deref(), rp.subresource.as_deref()) {
        (None, _) => match *method {
            Method::GET if is_true(q.get("watch")) => {
                let include = Include::from_param(q.get("includeObject").map(String::as_str));
                let table = wants_table(headers).then(|| (printer(app, &info), include));
                super::watch::serve(app, &info, rp.namespace, &q, table)
            }
            Method::GET => list(app, &info, rp.namespace.as_deref(), &q, headers),
            Method::POST => {
                let obj = body::decode(headers, &body)?;
                if info.plural == "selfsubjectaccessreviews" {
                    let mut obj = crate::kinds::check_body(&info, obj, wopts.strict)?;
                    obj["status"] =
                        json!({"allowed": true, "reason": "the demo cluster allows everything"});
                    return Ok(respond(StatusCode::CREATED, &obj));
                }
                let out = store.create(&id, &ns, obj, &wopts)?;
                Ok(respond(StatusCode::CREATED, &out))
            }
            Method::DELETE => {
                let (opts, _) = delete_options(&q, headers, &body)?;
                let deleted = store.delete_collection(
                    &id,
                    rp.namespace.as_deref(),
                    &list_params(&q)?,
                    &opts,
                )?;
                Ok(respond(
                    StatusCode::OK,
                    &list_json(&info, store.resource_version(), deleted, None),
                ))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), None) => match *method {
            Method::GET if wants_table(headers) => {
                let obj = store.get(&id, &ns, name)?;
                let include = Include::from_param(q.get("includeObject").map(String::as_str));
                let t = printer(app, &info).table(&[obj], include, None, None, true);
                Ok(respond(StatusCode::OK, &t))
            }
            Method::GET => Ok(raw_response(
                StatusCode::OK,
                store.get_entry(&id, &ns, name)?.bytes,
            )),
            Method::PUT => {
                let obj = body::decode(headers, &body)?;
                Ok(respond(
                    StatusCode::OK,
                    &store.update(&id, &ns, name, obj, &wopts)?,
                ))
            }
            Method::PATCH => patch_object(app, &info, &ns, name, None, &q, headers, &body, &wopts),
            Method::DELETE => {
                let (opts, orphan_false) = delete_options(&q, headers, &body)?;
                let out = store.delete(&id, &ns, name, &opts)?;
                Ok(deleted_response(&info, &out, orphan_false))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some(sub)) if sub == "status" && info.has_status() => match *method {
            Method::GET => Ok(raw_response(
                StatusCode::OK,
                store.get_entry(&id, &ns, name)?.bytes,
            )),
            Method::PUT => {
                let obj = body::decode(headers, &body)?;
                Ok(respond(
                    StatusCode::OK,
                    &store.update_status(&id, &ns, name, obj, &wopts)?,
                ))
            }
            Method::PATCH => patch_object(
                app,
                &info,
                &ns,
                name,
                Some("status"),
                &q,
                headers,
                &body,
                &wopts,
            ),
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some("ephemeralcontainers")) if info.plural == "pods" => match *method {
            Method::GET => Ok(raw_response(
                StatusCode::OK,
                store.get_entry(&id, &ns, name)?.bytes,
            )),
            Method::PUT => {
                let obj = body::decode(headers, &body)?;
                Ok(respond(
                    StatusCode::OK,
                    &store.update_ephemeral_containers(&ns, name, obj, &wopts)?,
                ))
            }
            Method::PATCH => patch_object(
                app,
                &info,
                &ns,
                name,
                Some("ephemeralcontainers"),
                &q,
                headers,
                &body,
                &wopts,
            ),
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some("scale")) if info.has_scale() => {
            scale(app, &info, &ns, name, method, headers, &body, &wopts)
        }
        // kube-apiserver answers a custom resource's unserved subresource (e.g. `status`
        // without `subresources.status`) as if the object were missing.
        (Some(name), Some(_)) if info.custom => Err(ApiError::not_found(&id.key(), name)),
        // log, exec, attach, portforward, proxy...: served by other modules' routes, if any.
        _ => Err(ApiError::path_not_found()),
    }
}

/// Who a write is recorded for: `?fieldManager=`, else the User-Agent up to its first
/// `/` (`kubectl`, `curl`...), else `unknown` (kube-rs sends no User-Agent).
fn field_manager(q: &Params, headers: &HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name: String = ua
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "true" || v == "1")
}

pub fn respond(code: StatusCode, v: &Value) -> Response {
    raw_response(code, Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
}

fn raw_response(code: StatusCode, bytes: Bytes) -> Response {
    (
        code,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

pub fn list_params(q: &Params) -> Result<ListParams, ApiError> {
    Ok(ListParams {
        labels: LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))?,
        fields: FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))?,
        limit: q.get("limit").and_then(|l| l.parse().ok()),
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

/// The Table printer for a resource (with its CRD's printer columns, if custom).
fn printer(app: &AppState, info: &ResourceInfo) -> Printer {
    let crd = info.custom.then(|| {
        let crds = crate::ResourceId::new("apiextensions.k8s.io", "customresourcedefinitions");
        app.store
            .get(&crds, "", &format!("{}.{}", info.plural, info.group))
            .ok()
    });
    Printer::new(info, crd.flatten().as_ref())
}

fn list(
    app: &AppState,
    info: &ResourceInfo,
    ns: Option<&str>,
    q: &Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let page = app.store.list(&info.id(), ns, &list_params(q)?)?;
    if wants_table(headers) {
        let include = Include::from_param(q.get("includeObject").map(String::as_str));
        let (rv, cont) = (Some(page.resource_version), page.continue_token.as_deref());
        let t = printer(app, info).table(&page.values(), include, rv, cont, true);
        return Ok(respond(StatusCode::OK, &t));
    }
    // NB: items are spliced in as stored bytes; nothing is re-serialized.
    let mut out = Vec::with_capacity(page.items.iter().map(|b| b.len() + 1).sum::<usize>() + 256);
    let mut md = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(c) = &page.continue_token {
        md["continue"] = json!(c);
    }
    let head = json!({"kind": format!("{}List", info.kind), "apiVersion": info.api_version(), "metadata": md});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    out.extend_from_slice(&head[..head.len() - 1]);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Ok(raw_response(StatusCode::OK, Bytes::from(out)))
}

fn list_json(info: &ResourceInfo, rv: u64, items: Vec<Value>, cont: Option<String>) -> Value {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        md["continue"] = json!(c);
    }
    json!({"kind": format!("{}List", info.kind), "apiVersion": info.api_version(), "metadata": md, "items": items})
}

/// The answer to a DELETE, as kube-apiserver gives it: the object while it is still
/// there (finalizers, a grace period) and for the kinds whose storage returns what it
/// deleted; otherwise a `Success` Status. 202 only when `orphanDependents: false` was
/// asked and the object is not gone yet.
fn deleted_response(info: &ResourceInfo, out: &Value, orphan_false: bool) -> Response {
    let md = &out["metadata"];
    let gone = md["finalizers"].as_array().is_none_or(Vec::is_empty)
        && md["deletionGracePeriodSeconds"].as_i64().unwrap_or(0) == 0;
    if !gone {
        let code = if orphan_false {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        return respond(code, out);
    }
    let returns_object = !info.custom
        && info.group.is_empty()
        && matches!(
            info.plural.as_str(),
            "pods" | "serviceaccounts" | "namespaces"
        );
    if returns_object {
        return respond(StatusCode::OK, out);
    }
    let mut details = json!({"name": md["name"], "kind": info.plural, "uid": md["uid"]});
    if !info.group.is_empty() {
        details["group"] = json!(info.group);
    }
    respond(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
    )
}

/// DeleteOptions from the body or the query, and whether `orphanDependents: false` was
/// asked (which changes the answer's code).
fn delete_options(
    q: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(DeleteOptions, bool), ApiError> {
    let b = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        super::body::decode(headers, body)?
    };
    let policy = b["propagationPolicy"]
        .as_str()
        .map(String::from)
        .or_else(|| q.get("propagationPolicy").cloned());
    let orphan = b["orphanDependents"]
        .as_bool()
        .or_else(|| q.get("orphanDependents").map(|v| v == "true"));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
        (Some("Background"), _) | (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "unknown propagationPolicy {other:?}"
            )))
        }
    };
    let dry_run = b["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "All"))
        || q.get("dryRun").is_some_and(|v| v == "All");
    let grace_period = b["gracePeriodSeconds"]
        .as_i64()
        .or_else(|| q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()));
    let opts = DeleteOptions {
        propagation,
        grace_period,
        dry_run,
        precondition_uid: b["preconditions"]["uid"].as_str().map(String::from),
        precondition_rv: b["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
    };
    Ok((opts, orphan == Some(false)))
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
    app: &AppState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    q: &Params,
    headers: &HeaderMap,
    body: &[u8],
    wopts: &WriteOptions,
) -> Result<Response, ApiError> {
    let kind = PatchType::from_content_type(&body::content_type(headers))?;
    if kind != PatchType::Apply && q.contains_key("force") {
        let why = "Forbidden: may not be specified for non-apply patch";
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![Cause::new("FieldValueForbidden", "force", why)],
        ));
    }
    let p = patch_body(kind, body)?;
    if kind == PatchType::Apply {
        let req = patch::apply::ApplyRequest {
            info,
            ns,
            name,
            subresource: sub,
            manager: q.get("fieldManager").map(String::as_str),
            force: is_true(q.get("force")),
        };
        let (out, created) = patch::apply::apply(&app.store, &req, p, wopts)?;
        let code = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return Ok(respond(code, &out));
    }
    let out = app
        .store
        .modify(&info.id(), ns, name, sub, wopts, |current| {
            patch::apply(kind, current, &p, info.custom)
        })?;
    Ok(respond(StatusCode::OK, &out))
}

/// A PATCH body: YAML (or JSON) for apply, JSON for the others.
fn patch_body(kind: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    if kind == PatchType::Apply {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/yaml"),
        );
        body::decode(&h, body)
    } else {
        serde_json::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
    }
}

fn scale_of(info: &ResourceInfo, obj: &Value) -> Value {
    let md = &obj["metadata"];
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md["name"], "namespace": md["namespace"], "uid": md["uid"],
            "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(if info.custom { 0 } else { 1 })},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

#[allow(clippy::too_many_arguments)]
fn scale(
    app: &AppState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    wopts: &WriteOptions,
) -> Result<Response, ApiError> {
    let id = info.id();
    let new_scale = match *method {
        Method::GET => {
            return Ok(json_response(&scale_of(
                info,
                &app.store.get(&id, ns, name)?,
            )))
        }
        Method::PUT => Some(body::decode(headers, body)?),
        Method::PATCH => None,
        _ => return Err(ApiError::method_not_allowed()),
    };
    let patch_body = match &new_scale {
        Some(_) => None,
        None => {
            let kind = PatchType::from_content_type(&body::content_type(headers))?;
            let p = patch_body(kind, body)?;
            // Scale has no merge-keyed lists: strategic behaves as merge here.
            Some((
                if kind == PatchType::Strategic {
                    PatchType::Merge
                } else {
                    kind
                },
                p,
            ))
        }
    };
    let out = app
        .store
        .modify(&id, ns, name, None, wopts, |mut current| {
            let scale = match (&new_scale, &patch_body) {
                (Some(s), _) => s.clone(),
                (None, Some((kind, p))) => patch::apply(*kind, scale_of(info, &current), p, false)?,
                (None, None) => return Err(ApiError::bad_request("no scale given")),
            };
            let replicas = scale["spec"]["replicas"]
                .as_i64()
                .filter(|r| *r >= 0)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Scale",
                        "autoscaling",
                        name,
                        vec![Cause::invalid(
                            "spec.replicas",
                            "Invalid value: must be greater than or equal to 0",
                        )],
                    )
                })?;
            if let Some(rv) = scale["metadata"]["resourceVersion"]
                .as_str()
                .filter(|rv| !rv.is_empty())
            {
                current["metadata"]["resourceVersion"] = json!(rv);
            } else if let Some(md) = current["metadata"].as_object_mut() {
                md.remove("resourceVersion");
            }
            current["spec"]["replicas"] = json!(replicas);
            Ok(current)
        })?;
    Ok(json_response(&scale_of(info, &out)))
}
