//! The HTTP side of the demo cluster: an axum router with bearer-token auth (the
//! cluster's own token or a ServiceAccount's, see `auth.rs`) in front of discovery,
//! OpenAPI stubs and the resource endpoints. Paths are parsed by hand (`path.rs`)
//! because the Kubernetes URL scheme (optional namespace, optional name, optional
//! subresource) does not fit a route table.
//!
//! Other modules (logs, exec, attach, metrics) plug in by passing their own
//! `axum::Router` to [`crate::start_with_routes`]: its routes win over the
//! generic handler and sit behind the same authentication.

mod auth;
mod body;
mod discovery;
mod objects;
mod openapi;
mod openapi_v2;
pub mod patch;
mod path;
pub mod protobuf;
mod table;
mod watch;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::ApiError;
use crate::store::Store;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The cluster's own bearer token (the kubeconfig's).
    pub token: Arc<str>,
    /// Where ServiceAccount tokens were last found (see `auth.rs`).
    pub(crate) sa_tokens: Arc<auth::TokenCache>,
    /// `https://host:port`, for `/api`'s serverAddressByClientCIDRs.
    pub server_address: Arc<str>,
}

/// The full router: `extra` routes, then the generic Kubernetes API, all behind auth.
pub fn router(state: AppState, extra: Option<Router>) -> Router {
    let api = Router::new().fallback(dispatch).with_state(state.clone());
    let app = match extra {
        Some(extra) => extra.merge(api),
        None => api,
    };
    app.layer(axum::middleware::from_fn_with_state(
        state,
        auth::require_token,
    ))
}

async fn dispatch(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match route(&app, &method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn accepts(headers: &HeaderMap, what: &str) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(what))
}

async fn route(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = uri.path().trim_end_matches('/');
    match p {
        "/healthz" | "/readyz" | "/livez" => return Ok("ok".into_response()),
        "/version" => return Ok(discovery::version()),
        "/api" => return Ok(discovery::core_versions(app)),
        "/apis" => return Ok(discovery::groups(app)),
        // kubectl ≤ 1.29 asks for protobuf here; JSON clients get 404 (no schemas to give).
        "/openapi/v2" | "/swagger-2.0.0.pb-v1" if accepts(headers, "protobuf") => {
            return Ok(openapi_v2::response(app))
        }
        "/openapi/v2" => return Err(ApiError::path_not_found()),
        "/openapi/v3" => return Ok(openapi::root(app)),
        _ => {}
    }
    if let Some(gv) = p.strip_prefix("/openapi/v3/") {
        return openapi::group_version(app, gv);
    }
    let parsed = path::parse(p).ok_or_else(ApiError::path_not_found)?;
    match parsed {
        path::ApiPath::GroupVersion { group, version } => {
            discovery::resources(app, &group, &version)
        }
        path::ApiPath::Group { group } => discovery::group(app, &group),
        path::ApiPath::Resource(r) => objects::handle(app, method, uri, headers, body, r).await,
    }
}
