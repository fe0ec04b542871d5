//! The HTTP servers behind every declared container port.
//!
//! Each running instance of a container binds its TCP `containerPort`s on the pod's
//! loopback IP and answers HTTP/1.1 (keep-alive) and HTTP/1.0 with a small page naming the
//! namespace, pod, container, image and the request path, so an nginx in front of the demo
//! cluster routes real traffic and a person sees which pod answered. `/healthz` answers
//! 200 `ok`; `/status/<code>` answers with that status code, as httpbin does (100 to 599,
//! anything else is 400), so a probe (see [`crate::probes`]) or a client can be made to
//! fail on purpose — `httpGet: {path: /status/503, port: 8080}` keeps a pod unready;
//! every other path answers 200 with the page. nginx-flavoured containers write an
//! access log line per request. Dropping the future returned by [`serve`] closes the
//! listener and every open connection.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::logs::generator::access_line;
use crate::logs::LogBuffer;

/// What the page shows, and where access lines go.
#[derive(Debug, Clone)]
pub struct PageInfo {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub image: String,
    pub ip: Ipv4Addr,
    /// Access log of this container instance, if it writes one.
    pub access_log: Option<Arc<LogBuffer>>,
}

/// Binds every port, or says which one failed and why (the message a Go program would
/// print: `listen tcp 127.1.0.5:8080: bind: address already in use`).
pub async fn bind_all(ip: Ipv4Addr, ports: &[u16]) -> Result<Vec<TcpListener>, String> {
    let mut listeners = Vec::with_capacity(ports.len());
    for &port in ports {
        match TcpListener::bind(SocketAddr::from((ip, port))).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                let what = match e.kind() {
                    std::io::ErrorKind::AddrInUse => "address already in use".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    std::io::ErrorKind::AddrNotAvailable => {
                        "cannot assign requested address".to_string()
                    }
                    _ => e.to_string(),
                };
                return Err(format!("listen tcp {ip}:{port}: bind: {what}"));
            }
        }
    }
    Ok(listeners)
}

/// Serves `listener` until the returned future is dropped.
pub async fn serve(listener: TcpListener, info: Arc<PageInfo>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    // NB: connections live in this JoinSet, not in detached tasks, so dropping this future
    // (the container stopped) also closes keep-alive connections.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, remote)) = accepted else { continue };
                let info = info.clone();
                connections.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let info = info.clone();
                        async move { Ok::<_, Infallible>(respond(&info, port, remote, req)) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "pod http connection ended");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The status `/status/<code>` answers: `code` from 100 to 599, otherwise 400 (httpbin's
/// rule, as a mistyped path is the client's error).
pub fn status_of(code: &str) -> u16 {
    code.parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .unwrap_or(400)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn respond<B>(
    info: &PageInfo,
    port: u16,
    remote: SocketAddr,
    req: Request<B>,
) -> Response<Full<Bytes>> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let status_asked = req.uri().path().strip_prefix("/status/").map(status_of);
    let (status, content_type, body) = if req.uri().path() == "/healthz" {
        (200, "text/plain; charset=utf-8", "ok\n".to_string())
    } else if let Some(code) = status_asked {
        let reason = hyper::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let body = format!("{code} {reason}\n").replace(" \n", "\n");
        (code, "text/plain; charset=utf-8", body)
    } else {
        let page = format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{pod}</title></head>\n<body>\n\
             <h1>Hello from {pod}</h1>\n<dl>\n\
             <dt>namespace</dt><dd id=\"namespace\">{ns}</dd>\n\
             <dt>pod</dt><dd id=\"pod\">{pod}</dd>\n\
             <dt>container</dt><dd id=\"container\">{container}</dd>\n\
             <dt>image</dt><dd id=\"image\">{image}</dd>\n\
             <dt>address</dt><dd id=\"address\">{ip}:{port}</dd>\n\
             <dt>request</dt><dd id=\"request\">{method} {path}</dd>\n\
             </dl>\n<p>Served by a pod of Wharf's demo cluster.</p>\n</body></html>\n",
            pod = html_escape(&info.pod),
            ns = html_escape(&info.namespace),
            container = html_escape(&info.container),
            image = html_escape(&info.image),
            ip = info.ip,
            method = html_escape(req.method().as_str()),
            path = html_escape(&path),
        );
        (200, "text/html; charset=utf-8", page)
    };
    if let Some(log) = &info.access_log {
        if req.uri().path() != "/healthz" {
            let agent = req
                .headers()
                .get(hyper::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            let version = match req.version() {
                hyper::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            };
            log.push(access_line(
                Utc::now(),
                &remote.ip().to_string(),
                req.method().as_str(),
                &path,
                version,
                status,
                body.len() as u64,
                agent,
            ));
        }
    }
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .header(hyper::header::SERVER, "wharf-demo-pod")
        .header("x-pod-namespace", info.namespace.as_str())
        .header("x-pod-name", info.pod.as_str())
        .header("x-pod-container", info.container.as_str())
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"bad header value\n"))))
}
