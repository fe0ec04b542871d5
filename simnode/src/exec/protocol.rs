//! The remotecommand WebSocket protocols `v4.channel.k8s.io` and `v5.channel.k8s.io`.
//!
//! Every frame is binary and starts with a channel byte: 0 stdin, 1 stdout, 2 stderr,
//! 3 error (a `Status` JSON when the command ends), 4 resize (`{"Width":w,"Height":h}`).
//! v5 adds 255 to close a stream (`[255, 0]` closes stdin). As the kubelet does, the
//! server first sends an empty frame on the lowest channel it will write, streams output,
//! then writes the status and closes. kube-rs stops reading at the status frame, so all
//! output is sent before it.
//!
//! [`run_session`] is written over a `Stream` of incoming frames and a `Sink` of outgoing
//! ones, so tests drive it without a network; [`serve_websocket`] adapts an axum socket.

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Sink, SinkExt, Stream, StreamExt};

use super::{Input, Outcome, Output, Spawned, TerminalSize};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

/// Subprotocols offered during the WebSocket upgrade, preferred first.
pub const SUPPORTED_PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// A negotiated subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V4,
    V5,
}

impl Protocol {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "v4.channel.k8s.io" => Some(Protocol::V4),
            "v5.channel.k8s.io" => Some(Protocol::V5),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }
}

/// Which streams the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// `{"metadata":{},"status":"Success"}`
pub fn status_success() -> Bytes {
    Bytes::from_static(br#"{"metadata":{},"status":"Success"}"#)
}

/// The kubelet's status for a command that exited non-zero.
pub fn status_exit_code(command: &[String], code: i32) -> Bytes {
    let v = serde_json::json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    });
    Bytes::from(v.to_string())
}

/// An internal error, as the kubelet reports a command that could not run.
pub fn status_failure(message: &str) -> Bytes {
    let v = serde_json::json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500
    });
    Bytes::from(v.to_string())
}

fn frame(channel: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(data.len() + 1);
    b.put_u8(channel);
    b.put_slice(data);
    b.freeze()
}

/// Runs one exec/attach session: frames in, frames out, until the command ends (status
/// sent, sink closed) or the client is gone. `command` only goes into the exit message.
pub async fn run_session<I, O>(
    mut incoming: I,
    mut outgoing: O,
    protocol: Protocol,
    streams: Streams,
    command: &[String],
    mut spawned: Spawned,
) where
    I: Stream<Item = Bytes> + Unpin,
    O: Sink<Bytes> + Unpin,
{
    let first = if streams.stdout {
        STDOUT
    } else if streams.stderr {
        STDERR
    } else {
        ERROR
    };
    if outgoing.send(Bytes::from(vec![first])).await.is_err() {
        return;
    }
    let mut incoming_open = true;
    loop {
        tokio::select! {
            msg = incoming.next(), if incoming_open => match msg {
                None => {
                    // NB: v4 clients (and kube-rs without stream close) end the socket when
                    // stdin ends; keep pumping output until the command ends or sends fail.
                    incoming_open = false;
                    let _ = spawned.input.send(Input::CloseStdin).await;
                }
                Some(frame) => {
                    let Some((&channel, data)) = frame.split_first() else { continue };
                    match channel {
                        STDIN if streams.stdin && !data.is_empty() => {
                            let _ = spawned.input.send(Input::Stdin(Bytes::copy_from_slice(data))).await;
                        }
                        RESIZE if streams.tty => {
                            if let Ok(size) = serde_json::from_slice::<TerminalSize>(data) {
                                let _ = spawned.input.send(Input::Resize(size)).await;
                            }
                        }
                        CLOSE if protocol == Protocol::V5 && data.first() == Some(&STDIN) => {
                            let _ = spawned.input.send(Input::CloseStdin).await;
                        }
                        _ => {}
                    }
                }
            },
            out = spawned.output.recv() => {
                let (bytes, done) = match out {
                    Some(Output::Stdout(b)) if streams.stdout => (Some(frame(STDOUT, &b)), false),
                    Some(Output::Stderr(b)) if streams.stderr => (Some(frame(STDERR, &b)), false),
                    Some(Output::Stderr(b)) if streams.tty && streams.stdout => (Some(frame(STDOUT, &b)), false),
                    Some(Output::Stdout(_)) | Some(Output::Stderr(_)) => (None, false),
                    Some(Output::Exit(Outcome::Exited(0))) => (Some(frame(ERROR, &status_success())), true),
                    Some(Output::Exit(Outcome::Exited(code))) => (Some(frame(ERROR, &status_exit_code(command, code))), true),
                    Some(Output::Exit(Outcome::Failed(msg))) => (Some(frame(ERROR, &status_failure(&msg))), true),
                    None => (Some(frame(ERROR, &status_failure("the command's output ended without an exit status"))), true),
                };
                if let Some(bytes) = bytes {
                    if outgoing.send(bytes).await.is_err() {
                        return;
                    }
                }
                if done {
                    break;
                }
            }
        }
    }
    let _ = outgoing.close().await;
}

/// Runs a session over an axum WebSocket whose subprotocol was negotiated as `protocol`.
/// The session ends with a *normal* (1000) close frame: client-go (kubectl) reports a close
/// without a status code (1005) as an error even after the exit status arrived.
pub async fn serve_websocket(
    socket: axum::extract::ws::WebSocket,
    protocol: Protocol,
    streams: Streams,
    command: &[String],
    spawned: Spawned,
) {
    use axum::extract::ws::{close_code, CloseFrame, Message};
    let (mut sink, stream) = socket.split();
    let incoming = stream
        .take_while(|m| {
            futures::future::ready(matches!(m, Ok(m) if !matches!(m, Message::Close(_))))
        })
        .filter_map(|m| {
            futures::future::ready(match m {
                Ok(Message::Binary(b)) => Some(b),
                _ => None,
            })
        });
    // NB: frames go out through a channel so that, once the session closes its side,
    // the socket itself can still send the close frame with its code.
    let (tx, mut rx) = futures::channel::mpsc::channel::<Bytes>(16);
    let pump = tokio::spawn(async move {
        while let Some(b) = rx.next().await {
            if sink.send(Message::Binary(b)).await.is_err() {
                return;
            }
        }
        let normal = CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(normal))).await;
        let _ = sink.close().await;
    });
    run_session(Box::pin(incoming), tx, protocol, streams, command, spawned).await;
    let _ = pump.await;
}
