//! `GET /ws/terminal/{tenant}?ns=..&pod=..[&container=..][&shell=..][&debug=true][&cols=..&rows=..]`:
//! a shell in a container. Checked before the upgrade (401 stranger; 403 other tenant,
//! foreign namespace, viewer; 404 unknown pod; 400 wrong container; 409 pod not running) —
//! no socket otherwise. Then: the audit record, the recording (when the console records),
//! and either exec with a tty (`/bin/bash`, else `/bin/sh`; neither: [`ServerControl::NoShell`])
//! or, with `debug=true`, a [`debug`] container attached to; then the [`bridge`].

use super::bridge::{self, Ended, Incoming, Outgoing, Timing};
use super::recording::Recorder;
use super::{audit, debug};
use crate::live::{refuse, scope_for_socket};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{
    rejection::WebSocketUpgradeRejection, Message, WebSocket, WebSocketUpgrade,
};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::{ready, BoxFuture};
use futures::{FutureExt, Sink, SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, AttachedProcess, TerminalSize};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, SimplexStream};
use wharf_api::auth::Role;
use wharf_api::terminal::cast::Header;
use wharf_api::terminal::{ClientControl, ServerControl, TerminalLink};
use wharf_api::{text, Text};
use wharf_console::auth::TenantScope;
use wharf_console::state::AppState;
use wharf_console::terminal::{target, Recorded, Target};

const SHELLS: &[&str] = &["/bin/bash", "/bin/sh"];
/// How long a debug container may take to start (its image may need pulling).
const DEBUG_START: Duration = Duration::from_secs(180);

/// What the session runs.
enum Plan {
    /// The first of these shells the container has.
    Shell(Vec<String>),
    /// A new debug container `name` with `image`, attached to.
    Debug { name: String, image: String },
}

pub async fn open(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    link: Result<Query<TerminalLink>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // NB: the check comes before anything else is looked at, so a stranger learns only 401.
    let scope = match scope_for_socket(&state, &headers, &tenant, Role::Developer) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    if let Err(e) = wharf_console::terminal::confined(&state, &scope) {
        return refuse(e);
    }
    let Ok(Query(link)) = link else {
        return (
            StatusCode::BAD_REQUEST,
            "expected ?ns=NAMESPACE&pod=POD[&container=..&shell=..&debug=true&cols=..&rows=..]",
        )
            .into_response();
    };
    let target = match target(
        &state.cache,
        &scope,
        &link.ns,
        &link.pod,
        link.container.as_deref(),
    ) {
        Ok(t) => t,
        Err(e) => return refuse(e),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let plan = if link.debug {
        Plan::Debug {
            name: debug::new_name(),
            image: state.settings.terminal.debug_image.clone(),
        }
    } else {
        Plan::Shell(match link.shell.filter(|s| !s.trim().is_empty()) {
            Some(s) => vec![s],
            None => SHELLS.iter().map(|s| s.to_string()).collect(),
        })
    };
    let size = link.cols.zip(link.rows).filter(|&(c, r)| c > 0 && r > 0);
    ws.on_upgrade(move |socket| session(socket, state, scope, target, plan, size))
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

/// Tells the browser why the session did not open, on the raw socket.
async fn refuse_session(mut socket: WebSocket, message: Text) {
    let _ = socket
        .send(message_of(Outgoing::Control(ServerControl::Error {
            message,
        })))
        .await;
    let _ = socket.close().await;
}

async fn finish_recording(recorder: Option<Recorder>) -> Recorded {
    match recorder {
        Some(r) => r.finish().await,
        None => Recorded::No,
    }
}

#[tracing::instrument(skip_all, fields(user = scope.user(), ns = %target.namespace, pod = %target.pod, container = %target.container))]
async fn session(
    socket: WebSocket,
    state: AppState,
    scope: TenantScope,
    target: Target,
    plan: Plan,
    size: Option<(u16, u16)>,
) {
    let _open = state
        .metrics
        .socket_open(wharf_api::routes::WS_TERMINAL.pattern);
    let settings = state.settings.terminal.clone();
    let (kind, detail) = match &plan {
        Plan::Shell(shells) => ("session", shells.join(" or ")),
        Plan::Debug { name, image } => ("debug", format!("debug container {name} ({image})")),
    };
    let audit = match audit::start(&state, kind, &scope, &target, &detail).await {
        Ok(a) => a,
        Err(e) => {
            let e = e.text();
            return refuse_session(
                socket,
                text!(
                    "The session could not be recorded in the audit trail, so it was not opened: {e}",
                    "无法写入审计记录,因此未打开会话:{e}"
                ),
            )
            .await;
        }
    };
    let mut recorder = match state.settings.terminal.recordings.as_deref() {
        None => None,
        Some(dir) => {
            let (cols, rows) = size.unwrap_or((80, 24));
            let mut title = format!(
                "{} in {}/{} ({})",
                scope.user(),
                target.namespace,
                target.pod,
                target.container
            );
            if let Plan::Debug { .. } = &plan {
                title.push_str(&format!(" through {detail}"));
            }
            let header = Header::new(cols, rows, chrono::Utc::now().timestamp(), title);
            match Recorder::create(
                dir,
                &target.namespace,
                audit.id(),
                header,
                state.settings.terminal.recording_max_bytes,
            )
            .await
            {
                Ok(r) => Some(r.archived_to(
                    state.settings.terminal.archive.as_ref(),
                    &target.namespace,
                    audit.id(),
                )),
                Err(e) => {
                    // NB: where sessions are recorded, an unrecorded one does not open (as with the audit).
                    tracing::error!(error = %e, dir = %dir.display(), "a session recording could not be created");
                    audit
                        .finish(None, None, "error: could not be recorded")
                        .await;
                    return refuse_session(
                        socket,
                        text!(
                            "The session could not be recorded, so it was not opened: {e}",
                            "无法录制会话,因此未打开会话:{e}"
                        ),
                    )
                    .await;
                }
            }
        }
    };

    // The axum socket as a Stream of Incoming + Sink of Outgoing, ending at a Close or an
    // error; output and resizes are teed into the recording on the way.
    let (out_tap, in_tap) = (
        recorder.as_ref().map(Recorder::tap),
        recorder.as_ref().map(Recorder::tap),
    );
    let mut sock = socket
        .with(move |o: Outgoing| {
            if let (Some(tap), Outgoing::Output(data)) = (&out_tap, &o) {
                tap.output(data);
            }
            ready(Ok::<_, axum::Error>(message_of(o)))
        })
        .take_while(|m| ready(matches!(m, Ok(msg) if !matches!(msg, Message::Close(_)))))
        .filter_map(move |m| {
            let incoming = m.ok().and_then(incoming_of);
            if let (Some(tap), Some(Incoming::Control(ClientControl::Resize { cols, rows }))) =
                (&in_tap, &incoming)
            {
                tap.resize(*cols, *rows);
            }
            ready(incoming)
        });

    let pods: Api<Pod> = Api::namespaced(state.client.clone(), &target.namespace);
    let started = match &plan {
        Plan::Shell(shells) => start_shell(&pods, &target, shells).await,
        Plan::Debug { name, image } => {
            start_debug(&mut sock, &state, &pods, &target, name, image).await
        }
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => {
            let (control, outcome) = match e {
                StartError::NoShell(tried) => {
                    let debug_image = state.settings.terminal.debug_image.clone();
                    (
                        ServerControl::NoShell {
                            container: target.container.clone(),
                            tried,
                            debug_image,
                        },
                        "error: no shell".to_string(),
                    )
                }
                StartError::Failed(message) => (
                    ServerControl::Error {
                        message: message.clone(),
                    },
                    format!("error: {message}"),
                ),
            };
            let _ = sock.send(Outgoing::Control(control)).await;
            let _ = sock.close().await;
            let recorded = finish_recording(recorder).await;
            audit.finish_recorded(None, None, &outcome, recorded).await;
            return;
        }
    };
    let Running {
        mut process,
        container,
        shell,
        stdout,
        first,
        status,
        debug_image,
    } = running;
    let is_debug = debug_image.is_some();
    let started = ServerControl::Started {
        container,
        shell: shell.clone(),
        idle_timeout_secs: settings.idle_timeout.as_secs(),
        debug_image,
        recording: recorder.is_some(),
    };
    let (Some(mut stdin), Some(mut resize)) = (process.stdin(), process.terminal_size()) else {
        let recorded = finish_recording(recorder).await;
        audit
            .finish_recorded(Some(&shell), None, "error: no stdin", recorded)
            .await;
        return;
    };
    if let Some((cols, rows)) = size {
        let _ = resize
            .send(TerminalSize {
                width: cols,
                height: rows,
            })
            .await;
    }
    if sock.send(Outgoing::Control(started)).await.is_err() {
        process.abort();
        let recorded = finish_recording(recorder).await;
        audit
            .finish_recorded(Some(&shell), None, "closed", recorded)
            .await;
        return;
    }
    if is_debug {
        // NB: its shell printed its prompt before the attach, which only sees what comes
        // after (kubectl says "If you don't see a command prompt, try pressing enter"): press it.
        let _ = stdin.write_all(b"\r").await;
    }
    let timing = Timing {
        ping_every: settings.ping_every,
        idle_timeout: settings.idle_timeout,
        idle_warning: settings.idle_warning,
    };
    // The user hears it when their recording stops at its size limit (the session goes on).
    let stopped = recorder.as_mut().and_then(Recorder::take_stopped);
    let notice = async move {
        match stopped {
            Some(rx) => rx
                .await
                .ok()
                .map(|limit_bytes| ServerControl::RecordingStopped { limit_bytes }),
            None => futures::future::pending().await,
        }
    };
    let ended = bridge::run(sock, stdin, stdout, resize, status, first, timing, notice).await;
    // The shell goes with the session (as when kubectl's connection drops: the tty hangs up;
    // a debug container's stdin closes, `stdinOnce`, and its shell exits).
    process.abort();
    let code = match ended {
        Ended::Exit(code) => code,
        _ => None,
    };
    let recorded = finish_recording(recorder).await;
    audit
        .finish_recorded(Some(&shell), code, ended.outcome(), recorded)
        .await;
}

struct Running {
    process: AttachedProcess,
    /// The container the terminal is in (the debug container for a debug session).
    container: String,
    /// What runs, as the page shows it: the shell, or the debug container.
    shell: String,
    stdout: ReadHalf<SimplexStream>,
    /// Output read while waiting to see whether the shell started.
    first: Option<Bytes>,
    status: BoxFuture<'static, Option<Status>>,
    /// The debug container's image, for a debug session.
    debug_image: Option<String>,
}

enum StartError {
    /// None of these shells is in the container.
    NoShell(Vec<String>),
    /// The sentence for the user.
    Failed(Text),
}

/// Did the exec fail because the program is not in the container?
pub fn not_found(status: &Status) -> bool {
    let m = status.message.as_deref().unwrap_or_default();
    bridge::exit_code(status).is_none()
        && (m.contains("executable file not found") || m.contains("no such file or directory"))
}

/// Starts the first shell that exists. A shell that is missing fails at once (a status
/// before any output); one that runs prints a prompt, or at least stays quiet for a moment.
async fn start_shell(
    pods: &Api<Pod>,
    target: &Target,
    shells: &[String],
) -> Result<Running, StartError> {
    for shell in shells {
        let params = AttachParams::interactive_tty().container(target.container.as_str());
        let mut process = pods
            .exec(&target.pod, vec![shell.as_str()], &params)
            .await
            .map_err(|e| {
                let (pod, container) = (&target.pod, &target.container);
                StartError::Failed(text!(
                    "exec into {pod}/{container} failed: {e}",
                    "进入 {pod}/{container} 执行命令失败:{e}"
                ))
            })?;
        let (Some(mut status), Some(mut stdout)) = (
            process.take_status().map(FutureExt::boxed),
            process.stdout(),
        ) else {
            return Err(StartError::Failed(text!(
                "the exec session has no output",
                "exec 会话没有输出"
            )));
        };
        let mut buf = vec![0u8; 8192];
        // NB: one value, matched at once: boxing the status would buy nothing.
        #[allow(clippy::large_enum_variant)]
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
        let first = match first {
            // NB: a program that could not start ends its output and sends its status at
            // about the same time; the end of output may come first. The status decides.
            First::Output(0) => First::Exited(
                tokio::time::timeout(Duration::from_secs(10), &mut status)
                    .await
                    .ok()
                    .flatten(),
            ),
            other => other,
        };
        let (first, status): (Option<Bytes>, BoxFuture<'static, Option<Status>>) = match first {
            First::Exited(Some(s)) if not_found(&s) => {
                tracing::debug!(%shell, "no such shell, trying the next");
                continue;
            }
            First::Exited(Some(s)) if bridge::exit_code(&s).is_none() => {
                let said = s.message.unwrap_or_default();
                return Err(StartError::Failed(text!(
                    "{shell} could not start: {said}",
                    "{shell} 无法启动:{said}"
                )));
            }
            First::Exited(s) => (None, ready(s).boxed()),
            First::Quiet => (None, status),
            First::Output(n) => (Some(Bytes::copy_from_slice(&buf[..n])), status),
        };
        return Ok(Running {
            process,
            container: target.container.clone(),
            shell: shell.clone(),
            stdout,
            first,
            status,
            debug_image: None,
        });
    }
    Err(StartError::NoShell(shells.to_vec()))
}

/// Adds debug container `name` to the pod, tells the browser how it goes, waits until it
/// runs, and attaches to it.
async fn start_debug<S>(
    sock: &mut S,
    state: &AppState,
    pods: &Api<Pod>,
    target: &Target,
    name: &str,
    image: &str,
) -> Result<Running, StartError>
where
    S: Sink<Outgoing> + Unpin,
{
    let say = |message: Text| Outgoing::Control(ServerControl::Preparing { message });
    let container = &target.container;
    let _ = sock
        .send(say(text!(
            "Starting debug container {name} ({image}) next to {container}…",
            "正在 {container} 旁启动调试容器 {name}({image})…"
        )))
        .await;
    debug::add(pods, target, name, image)
        .await
        .map_err(StartError::Failed)?;
    let (tx, mut reasons) = tokio::sync::mpsc::unbounded_channel::<String>();
    let wait = debug::wait_running(&state.cache, target, name, DEBUG_START, move |reason| {
        let _ = tx.send(reason.to_string());
    });
    tokio::pin!(wait);
    let started = loop {
        tokio::select! {
            r = &mut wait => break r,
            Some(reason) = reasons.recv() => {
                let _ = sock.send(say(Text::verbatim(format!("{name}: {reason}…")))).await;
            }
        }
    };
    started.map_err(StartError::Failed)?;
    let mut process = debug::attach(pods, target, name)
        .await
        .map_err(StartError::Failed)?;
    let (Some(attach_status), Some(stdout)) = (process.take_status(), process.stdout()) else {
        return Err(StartError::Failed(text!(
            "the attach session has no output",
            "attach 会话没有输出"
        )));
    };
    let (cache, target, name_owned) = (state.cache.clone(), target.clone(), name.to_string());
    let status =
        async move { debug::exit_status(&cache, &target, &name_owned, attach_status.await).await }
            .boxed();
    Ok(Running {
        process,
        container: name.to_string(),
        shell: format!("debug container {name} ({image})"),
        stdout,
        first: None,
        status,
        debug_image: Some(image.to_string()),
    })
}
