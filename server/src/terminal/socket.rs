//! `GET /ws/terminal/{tenant}?ns=..&pod=..[&container=..][&shell=..]`: a shell in a
//! container. Checked before the upgrade (401 stranger; 403 other tenant, foreign namespace,
//! viewer; 404 unknown pod; 400 wrong container; 409 pod not running) — no socket otherwise.
//! Then: the audit record, exec with a tty (`/bin/bash`, else `/bin/sh`), and the [`bridge`].

use super::bridge::{self, Ended, Incoming, Outgoing, Timing};
use super::{audit, TerminalSettings};
use crate::live::{refuse, scope_for_socket};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use futures::future::{ready, BoxFuture};
use futures::{FutureExt, SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, AttachedProcess};
use std::time::Duration;
use tokio::io::{AsyncReadExt, ReadHalf, SimplexStream};
use wharf_app::auth::ssr::TenantScope;
use wharf_app::auth::Role;
use wharf_app::state::AppState;
use wharf_app::terminal::ssr::{target, Target};
use wharf_app::terminal::{ClientControl, ServerControl, TerminalLink};

const SHELLS: &[&str] = &["/bin/bash", "/bin/sh"];

pub async fn open(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Extension(settings): Extension<TerminalSettings>,
    Path(tenant): Path<String>,
    link: Result<Query<TerminalLink>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // NB: the check comes before anything else is looked at, so a stranger learns only 401.
    let scope = match scope_for_socket(&state, &headers, &tenant, Role::Developer) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let Ok(Query(link)) = link else {
        return (StatusCode::BAD_REQUEST, "expected ?ns=NAMESPACE&pod=POD[&container=..&shell=..]").into_response();
    };
    let target = match target(&state.cache, &scope, &link.ns, &link.pod, link.container.as_deref()) {
        Ok(t) => t,
        Err(e) => return refuse(e),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let shells: Vec<String> = match link.shell.filter(|s| !s.trim().is_empty()) {
        Some(s) => vec![s],
        None => SHELLS.iter().map(|s| s.to_string()).collect(),
    };
    ws.on_upgrade(move |socket| session(socket, state, settings, scope, target, shells))
}

fn message_of(out: Outgoing) -> Message {
    match out {
        Outgoing::Output(b) => Message::Binary(b),
        Outgoing::Control(c) => Message::Text(serde_json::to_string(&c).unwrap_or_default().into()),
        Outgoing::Ping => Message::Ping(Bytes::new()),
    }
}

fn incoming_of(msg: Message) -> Option<Incoming> {
    match msg {
        Message::Binary(b) => Some(Incoming::Stdin(b)),
        Message::Text(t) => match serde_json::from_str::<ClientControl>(t.as_str()) {
            Ok(c) => Some(Incoming::Control(c)),
            Err(e) => {
                tracing::debug!(error = %e, "terminal: an unknown control message ignored");
                None
            }
        },
        _ => None,
    }
}

#[tracing::instrument(skip_all, fields(user = scope.user(), ns = %target.namespace, pod = %target.pod, container = %target.container))]
async fn session(socket: WebSocket, state: AppState, settings: TerminalSettings, scope: TenantScope, target: Target, shells: Vec<String>) {
    // The axum socket as a Stream of Incoming + Sink of Outgoing, ending at a Close or an error.
    let mut sock = socket
        .with(|o: Outgoing| ready(Ok::<_, axum::Error>(message_of(o))))
        .take_while(|m| ready(matches!(m, Ok(msg) if !matches!(msg, Message::Close(_)))))
        .filter_map(|m| ready(m.ok().and_then(incoming_of)));

    let audit = match audit::start(&state.client, "session", &scope, &target, &shells.join(" or ")).await {
        Ok(a) => a,
        Err(e) => {
            let message = format!("The session could not be recorded in the audit trail, so it was not opened: {e}");
            let _ = sock.send(Outgoing::Control(ServerControl::Error { message })).await;
            return;
        }
    };
    let pods: Api<Pod> = Api::namespaced(state.client.clone(), &target.namespace);
    let running = match start_shell(&pods, &target, &shells).await {
        Ok(r) => r,
        Err(message) => {
            let _ = sock.send(Outgoing::Control(ServerControl::Error { message: message.clone() })).await;
            let _ = sock.close().await;
            audit.finish(None, None, &format!("error: {message}")).await;
            return;
        }
    };
    let Running { mut process, shell, stdout, first, status } = running;
    let started = ServerControl::Started { container: target.container.clone(), shell: shell.clone(), idle_timeout_secs: settings.idle_timeout.as_secs() };
    let (Some(stdin), Some(resize)) = (process.stdin(), process.terminal_size()) else {
        audit.finish(Some(&shell), None, "error: no stdin").await;
        return;
    };
    if sock.send(Outgoing::Control(started)).await.is_err() {
        process.abort();
        audit.finish(Some(&shell), None, "closed").await;
        return;
    }
    let timing = Timing { ping_every: settings.ping_every, idle_timeout: settings.idle_timeout, idle_warning: settings.idle_warning };
    let ended = bridge::run(sock, stdin, stdout, resize, status, first, timing).await;
    // The shell goes with the session (as when kubectl's connection drops: the tty hangs up).
    process.abort();
    let code = match ended {
        Ended::Exit(code) => code,
        _ => None,
    };
    audit.finish(Some(&shell), code, ended.outcome()).await;
}

struct Running {
    process: AttachedProcess,
    shell: String,
    stdout: ReadHalf<SimplexStream>,
    /// Output read while waiting to see whether the shell started.
    first: Option<Bytes>,
    status: BoxFuture<'static, Option<Status>>,
}

/// Did the exec fail because the program is not in the container?
pub fn not_found(status: &Status) -> bool {
    let m = status.message.as_deref().unwrap_or_default();
    bridge::exit_code(status).is_none() && (m.contains("executable file not found") || m.contains("no such file or directory"))
}

/// Starts the first shell that exists. A shell that is missing fails at once (a status
/// before any output); one that runs prints a prompt, or at least stays quiet for a moment.
async fn start_shell(pods: &Api<Pod>, target: &Target, shells: &[String]) -> Result<Running, String> {
    for shell in shells {
        let params = AttachParams::interactive_tty().container(target.container.as_str());
        let mut process = pods.exec(&target.pod, vec![shell.as_str()], &params).await.map_err(|e| format!("exec into {}/{} failed: {e}", target.pod, target.container))?;
        let (Some(mut status), Some(mut stdout)) = (process.take_status().map(FutureExt::boxed), process.stdout()) else {
            return Err("the exec session has no output".into());
        };
        let mut buf = vec![0u8; 8192];
        enum First {
            Exited(Option<Status>),
            Output(usize),
            Quiet,
        }
        let first = tokio::select! {
            s = &mut status => First::Exited(s),
            n = stdout.read(&mut buf) => First::Output(n.unwrap_or(0)),
            _ = tokio::time::sleep(Duration::from_secs(2)) => First::Quiet,
        };
        let (first, status): (Option<Bytes>, BoxFuture<'static, Option<Status>>) = match first {
            First::Exited(Some(s)) if not_found(&s) => {
                tracing::debug!(%shell, "no such shell, trying the next");
                continue;
            }
            First::Exited(Some(s)) if bridge::exit_code(&s).is_none() => {
                return Err(format!("{shell} could not start: {}", s.message.unwrap_or_default()));
            }
            First::Exited(s) => (None, ready(s).boxed()),
            First::Output(0) | First::Quiet => (None, status),
            First::Output(n) => (Some(Bytes::copy_from_slice(&buf[..n])), status),
        };
        return Ok(Running { process, shell: shell.clone(), stdout, first, status });
    }
    Err(format!(
        "This container has no shell (tried {}). Images without a shell (distroless) need a debug container, which the console does not offer yet.",
        shells.join(", ")
    ))
}
