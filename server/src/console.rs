//! The console's HTTP side: server functions under `/api`, WebSockets under `/ws`, health
//! endpoints, and the single-page app (Trunk's `dist/`) for every other path.

use crate::live;
use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::provide_context;
use std::path::PathBuf;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::{ServeDir, ServeFile};
use wharf_api::error::AppError;
use wharf_api::routes;
use wharf_console::{AppState, Call};

/// Largest body a server function accepts; bigger requests get 413 before any work.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Runs a server function, handing it a [`Call`] (the state and this request's headers)
/// through Leptos context. A failed one answers with the status its `AppError` stands for
/// (400 bad input, 401, 403, 404, 409...), so scripts and proxies see what the user sees.
/// A function that changes something gets its audit record written before the answer leaves
/// (see `wharf_console::audit`).
async fn server_fn(State(state): State<AppState>, req: Request<Body>) -> Response {
    let endpoint = req.uri().path().trim_start_matches("/api/").to_string();
    let audited =
        wharf_console::audit::audited(&endpoint) && server_fn_known(&format!("/api/{endpoint}"));
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let call = Call::new(state.clone(), req.headers().clone()).with_peer(peer);
    // For an audited call: the client, the caller as they were before the call (a logout ends
    // the session it names) and the arguments (the function reads them from the same bytes).
    let mut audit = None;
    let req = if audited {
        let client = call.client().map(|ip| ip.to_string()).unwrap_or_default();
        let who = wharf_console::auth::signed_in(&state, &call.headers()).ok();
        let (parts, body) = req.into_parts();
        let Ok(args) = axum::body::to_bytes(body, MAX_BODY).await else {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        audit = Some((client, who, args.clone()));
        Request::from_parts(parts, Body::from(args))
    } else {
        req
    };
    let refused = audit
        .as_ref()
        .and_then(|(_, who, _)| who.as_ref())
        .and_then(|who| wharf_console::auth::refuse_read_only(who, audited).err());
    let for_fn = call.clone();
    let mut res = match refused {
        Some(e) => (StatusCode::FORBIDDEN, axum::Json(e)).into_response(),
        None => leptos_axum::handle_server_fns_with_context(
            move || provide_context(for_fn.clone()),
            req,
        )
        .await
        .into_response(),
    };
    let reply = call.take_reply();
    for cookie in reply.set_cookies {
        res.headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    if res.status().is_success() && audit.is_none() {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let error = (!parts.status.is_success())
        .then(|| serde_json::from_slice::<AppError>(&bytes).ok())
        .flatten();
    if let Some(err) = &error {
        parts.status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::TooManyAttempts(secs) = err {
            parts
                .headers
                .insert(axum::http::header::RETRY_AFTER, (*secs).into());
        }
    }
    if let Some((client, who, args)) = audit {
        let args: serde_json::Value = serde_json::from_slice(&args).unwrap_or_default();
        let token = who
            .as_ref()
            .and_then(|p| p.token.clone())
            .unwrap_or_default();
        let user = who.map(|p| p.name).unwrap_or_else(|| {
            // a login names its user in the arguments
            args.get("username")
                .and_then(|u| u.as_str())
                .map(|u| u.trim().chars().take(63).collect())
                .unwrap_or_default()
        });
        let outcome = match &error {
            Some(e) => wharf_console::audit::outcome_of(Err(e)),
            None if parts.status.is_success() => wharf_console::audit::outcome_of(Ok(())),
            None => wharf_api::audit::Outcome::Failed(format!("HTTP {}", parts.status)),
        };
        let record = wharf_api::audit::AuditRecord {
            at: wharf_console::audit::now(),
            user,
            token,
            tenant: wharf_console::audit::tenant_of(&endpoint, &args),
            action: endpoint,
            target: reply
                .audit_target
                .unwrap_or_else(|| wharf_console::audit::target_of(&args)),
            outcome,
            client,
        };
        if let Err(e) = wharf_console::audit::write(&state, record).await {
            // NB: no answer for a change that could not be recorded
            let body = serde_json::to_vec(&e).unwrap_or_default();
            return (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn healthz() -> &'static str {
    "ok"
}

/// `/metrics`: the console's own metrics (see `wharf_console::metrics`); the caches' sizes
/// are read now.
async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let c = &state.cache;
    for (kind, n) in [
        ("Tenant", c.tenants.state().len()),
        ("User", c.users.state().len()),
        ("Deployment", c.deployments.state().len()),
        ("Pod", c.pods.state().len()),
        ("Service", c.services.state().len()),
        ("NginxCluster", c.nginx_clusters.state().len()),
        ("NginxRoute", c.nginx_routes.state().len()),
        ("NginxUpstream", c.nginx_upstreams.state().len()),
        ("Pipeline", c.pipelines.state().len()),
        ("PipelineRun", c.pipeline_runs.state().len()),
    ] {
        let kind = wharf_console::metrics::KindLabels { kind: kind.into() };
        m.cached.get_or_create(&kind).set(n as i64);
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(axum::http::header::CONTENT_TYPE, content_type)],
        m.encode(),
    )
        .into_response()
}

/// Counts and times every request by its route's pattern (a server function by its own path;
/// paths that name no registered one are counted together, so strangers cannot grow the
/// registry).
async fn track(
    State(state): State<AppState>,
    matched: Option<axum::extract::MatchedPath>,
    req: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let route = match matched.as_ref().map(|m| m.as_str()) {
        Some(SERVER_FNS) if server_fn_known(req.uri().path()) => req.uri().path().to_string(),
        Some(SERVER_FNS) => "/api/{unknown}".to_string(),
        Some(pattern) => pattern.to_string(),
        None => "other".to_string(),
    };
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let m = &state.metrics;
    let labels = wharf_console::metrics::RequestLabels {
        route: route.clone(),
        method,
        status: res.status().as_u16(),
    };
    m.requests.get_or_create(&labels).inc();
    m.latency
        .get_or_create(&wharf_console::metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    res
}

const SERVER_FNS: &str = "/api/{*fn_name}";

fn server_fn_known(path: &str) -> bool {
    static KNOWN: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            server_fn::axum::server_fn_paths()
                .map(|(p, _)| p.to_string())
                .collect()
        })
        .contains(path)
}

pub fn router(state: AppState, site_dir: PathBuf) -> Router {
    let index = ServeFile::new(site_dir.join("index.html"));
    Router::new()
        // NB: server functions read the body themselves, past axum's DefaultBodyLimit; this
        // layer refuses an oversized body (413) before any of it is read.
        .route(
            SERVER_FNS,
            post(server_fn).layer(RequestBodyLimitLayer::new(MAX_BODY)),
        )
        .route(routes::WS_WORKLOADS.pattern, get(live::workloads))
        .route(routes::WS_LOGS.pattern, get(crate::logs::socket::follow))
        .route(
            routes::DOWNLOAD_LOGS.pattern,
            get(crate::logs::download::download),
        )
        .route(
            routes::DOWNLOAD_NGINX.pattern,
            get(crate::nginx::download::download),
        )
        .route(routes::WS_NGINX.pattern, get(crate::nginx::live::follow))
        .route("/ng-agent/join/{code}", get(crate::nginx::join::script))
        .route(
            "/ng-agent/join/{code}/{file}",
            get(crate::nginx::join::file),
        )
        .route(
            routes::WS_PIPELINES.pattern,
            get(crate::pipelines::socket::follow),
        )
        .route(
            "/hooks/pipelines/{namespace}/{name}",
            post(crate::pipelines::webhook::push).layer(RequestBodyLimitLayer::new(
                crate::pipelines::webhook::MAX_BODY,
            )),
        )
        .route(
            routes::ARTIFACT_FOR_BUILD,
            get(crate::pipelines::artifacts::for_build),
        )
        .route(
            "/hooks/alertmanager",
            post(crate::monitoring::webhook::alertmanager),
        )
        .route(routes::OIDC_START, get(crate::oidc::start))
        .route(routes::OIDC_CALLBACK, get(crate::oidc::callback))
        .route("/healthz", get(healthz))
        .route("/readyz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // NB: after the body limit: uploads stream their body and have their own (larger) limit.
        .merge(crate::terminal::routes())
        .route(
            routes::UPLOAD_ARTIFACT.pattern,
            post(crate::pipelines::artifacts::upload),
        )
        // requests from other origins refused (see `cross_site`); added before `track`, so
        // it runs inside it and refused requests are counted too
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cross_site::guard,
        ))
        // every matched route counted and timed; one span per request (server functions
        // included: their path names them)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .fallback_service(ServeDir::new(site_dir).fallback(index))
        .with_state(state)
}

/// Everything the console needs from a cluster: the CRDs and session key (created when
/// missing), the watcher cache (filled before this returns), the controllers, and their
/// running tasks for the caller to supervise (see `crate::application`).
pub async fn prepare_with_logs(
    client: kube::Client,
    settings: wharf_console::state::Settings,
    logs: logstore::Store,
    log_reader: logstore::Federation,
) -> Result<(
    AppState,
    Vec<tokio::task::JoinHandle<()>>,
    Vec<wharf_console::leader::Leadership>,
)> {
    let session_key = crate::bootstrap::run(&client).await?;
    let (cache, watchers) = wharf_console::watchers::cache(&client);
    let mut handles: Vec<_> = watchers.into_iter().map(tokio::spawn).collect();
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        wharf_console::watchers::ready(&cache),
    )
    .await
    .context("the cluster's objects were not listed within 60 s")?
    .context("a watcher stopped before its first list")?;
    let dummy_hash =
        tokio::task::spawn_blocking(|| wharf_console::auth::hash_password("not a password"))
            .await?
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let login_throttle = std::sync::Arc::new(wharf_console::auth::throttle::LoginThrottle::new(
        settings.login_limits,
    ));
    let state = AppState {
        client,
        cache,
        session_key,
        login_throttle,
        log_searches: Default::default(),
        token_uses: Default::default(),
        oidc: Default::default(),
        settings: std::sync::Arc::new(settings),
        dummy_hash,
        logs,
        log_reader,
        monitoring: Default::default(),
        tls_verdicts: Default::default(),
        metrics: Default::default(),
    };
    // every tenant's namespaces kept at its quota, pod security and isolation
    handles.push(tokio::spawn(wharf_console::admin::sync::run(state.clone())));
    // audit records past their 90 days dropped
    handles.push(tokio::spawn(wharf_console::audit::retention(state.clone())));
    // alert history watched, firing alerts and Alertmanager's configuration re-synced
    handles.extend(crate::monitoring::sync::spawn(&state));
    // pipeline runs become Jobs, and Jobs' progress becomes the runs' status
    // (by one console replica at a time: the one holding the pipelines' Lease)
    let (leadership, election) = wharf_console::leader::spawn(
        state.client.clone(),
        crds::SYSTEM_NAMESPACE,
        wharf_console::pipelines::controller::LEASE,
        wharf_console::leader::identity(),
        wharf_console::leader::LeaseTiming::default(),
    );
    handles.push(election);
    handles.push(wharf_console::pipelines::controller::spawn(
        state.client.clone(),
        state.settings.pipelines.clone(),
        state.session_key.clone(),
        leadership.clone(),
    ));
    // directory users' groups re-read, by the same replica
    handles.push(tokio::spawn(wharf_console::identity::sync::run(
        state.clone(),
        leadership.clone(),
    )));
    Ok((state, handles, vec![leadership]))
}
