//! WATCH over HTTP: a chunked stream of newline-delimited `WatchEvent` JSON.
//! Honors `resourceVersion` (resume, or current state as ADDED when unset/"0"),
//! `allowWatchBookmarks` (a BOOKMARK every second of quiet), `timeoutSeconds`,
//! `sendInitialEvents` (a BOOKMARK annotated `k8s.io/initial-events-end` after
//! the initial ADDED events), and answers a too-old version with an ERROR
//! event carrying a 410 `Expired` Status, as the real API server does.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::objects::{list_params, Params};
use super::table::{Include, Printer};
use super::AppState;
use crate::error::ApiError;
use crate::resources::ResourceInfo;
use crate::store::WatchParams;

const BOOKMARK_EVERY: Duration = Duration::from_secs(1);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

fn line(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn error_line(e: &ApiError) -> Bytes {
    line(
        "ERROR",
        &serde_json::to_vec(&e.status()).unwrap_or_default(),
    )
}

/// Serves a watch; with `table`, each event's object is a one-row Table (headers in the first).
pub fn serve(
    app: &AppState,
    info: &ResourceInfo,
    namespace: Option<String>,
    q: &Params,
    table: Option<(Printer, Include)>,
) -> Result<Response, ApiError> {
    let lp = list_params(q)?;
    let rv = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let initial_events = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let params = WatchParams {
        namespace,
        labels: lp.labels,
        fields: lp.fields,
        resource_version: if initial_events { None } else { rv },
    };
    let (kind, api_version) = (info.kind.clone(), info.api_version());
    let bookmark = move |rv: u64, initial_end: bool| {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &serde_json::to_vec(&json!({"kind": kind, "apiVersion": api_version, "metadata": md}))
                .unwrap_or_default(),
        )
    };
    let stream = match app.store.watch(&info.id(), params) {
        Err(e) if e.code == 410 => {
            let once = futures::stream::once(async move { Ok::<_, Infallible>(error_line(&e)) });
            return Ok(stream_response(Body::from_stream(once)));
        }
        Err(e) => return Err(e),
        Ok(mut w) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
            let start_rv = w.progress();
            let mut headers_sent = false;
            let mut render = move |ev: &crate::store::Event| -> Bytes {
                match &table {
                    None => line(ev.kind.as_str(), &ev.object),
                    Some((printer, include)) => {
                        let t = printer.table(&[ev.value()], *include, None, None, !headers_sent);
                        headers_sent = true;
                        line(
                            ev.kind.as_str(),
                            &serde_json::to_vec(&t).unwrap_or_default(),
                        )
                    }
                }
            };
            tokio::spawn(async move {
                let deadline = tokio::time::sleep(timeout);
                tokio::pin!(deadline);
                let mut tick = tokio::time::interval(BOOKMARK_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.reset();
                let mut pending_initial = initial_events;
                if pending_initial {
                    // The initial ADDED events are all in the backlog; drain them first.
                    loop {
                        match tokio::time::timeout(Duration::ZERO, w.recv()).await {
                            Ok(Some(Ok(ev))) if ev.rv <= start_rv => {
                                if tx.send(render(&ev)).await.is_err() {
                                    return;
                                }
                            }
                            Ok(Some(Ok(ev))) => {
                                if tx.send(bookmark(start_rv, true)).await.is_err() {
                                    return;
                                }
                                pending_initial = false;
                                if tx.send(render(&ev)).await.is_err() {
                                    return;
                                }
                                break;
                            }
                            _ => break,
                        }
                    }
                    if pending_initial && tx.send(bookmark(start_rv, true)).await.is_err() {
                        return;
                    }
                }
                loop {
                    tokio::select! {
                        _ = &mut deadline => return,
                        _ = tx.closed() => return,
                        _ = tick.tick(), if bookmarks => {
                            if tx.send(bookmark(w.progress(), false)).await.is_err() { return; }
                        }
                        ev = w.recv() => match ev {
                            Some(Ok(ev)) => {
                                if tx.send(render(&ev)).await.is_err() { return; }
                                tick.reset();
                            }
                            Some(Err(e)) => { let _ = tx.send(error_line(&e)).await; return; }
                            None => return,
                        }
                    }
                }
            });
            let s = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
            });
            Body::from_stream(s)
        }
    };
    Ok(stream_response(stream))
}

fn stream_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        body,
    )
        .into_response()
}
