//! The terminal bridge: one `select!` pumping socket → stdin, stdout → socket, resize →
//! terminal size, with keep-alive pings and the idle timeout. It is written over `Stream`/
//! `Sink` of [`Incoming`]/[`Outgoing`] and `AsyncRead`/`AsyncWrite`, so a unit test drives it
//! with channels and in-memory pipes; `socket.rs` plugs in the axum WebSocket and kube-rs's
//! `AttachedProcess`.

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use wharf_api::terminal::{ClientControl, ServerControl};

/// From the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    Stdin(Bytes),
    Control(ClientControl),
}

/// To the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    Output(Bytes),
    Control(ServerControl),
    Ping,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub ping_every: Duration,
    /// No input for this long closes the session.
    pub idle_timeout: Duration,
    /// The warning comes this long before the close.
    pub idle_warning: Duration,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The shell exited (code from the exec status; `None` if none came).
    Exit(Option<i32>),
    /// No input for the idle timeout.
    Idle,
    /// The browser went away (or the socket broke).
    Closed,
}

impl Ended {
    pub fn outcome(&self) -> &'static str {
        match self {
            Ended::Exit(_) => "exit",
            Ended::Idle => "idle",
            Ended::Closed => "closed",
        }
    }
}

/// The exit code in an exec status: 0 for `Success`, the `ExitCode` cause for
/// `NonZeroExitCode`, `None` for anything else (the command did not run).
pub fn exit_code(status: &Status) -> Option<i32> {
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        return status
            .details
            .as_ref()?
            .causes
            .as_ref()?
            .iter()
            .find(|c| c.reason.as_deref() == Some("ExitCode"))?
            .message
            .as_ref()?
            .parse()
            .ok();
    }
    None
}

/// Relays until the shell exits, the browser goes, or the session idles out; tells the
/// browser the exit code or the idle close on the way out, and `notice` (e.g. the recording
/// stopped) when it comes.
#[allow(clippy::too_many_arguments)]
pub async fn run<S, W, R, Z>(
    mut socket: S,
    mut stdin: W,
    mut stdout: R,
    mut resize: Z,
    status: impl Future<Output = Option<Status>>,
    first_output: Option<Bytes>,
    timing: Timing,
    notice: impl Future<Output = Option<ServerControl>>,
) -> Ended
where
    S: Stream<Item = Incoming> + Sink<Outgoing> + Unpin,
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
    Z: Sink<kube::api::TerminalSize> + Unpin,
{
    if let Some(b) = first_output {
        if socket.send(Outgoing::Output(b)).await.is_err() {
            return Ended::Closed;
        }
    }
    let mut ping = tokio::time::interval_at(Instant::now() + timing.ping_every, timing.ping_every);
    let mut last_input = Instant::now();
    let mut warned = false;
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdout_open = true;
    let mut exited: Option<Option<i32>> = None;
    let status = futures::FutureExt::fuse(status);
    tokio::pin!(status);
    let notice = futures::FutureExt::fuse(notice);
    tokio::pin!(notice);
    // Once the status is in, the rest of the output gets a moment, then the session ends.
    let drain = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(drain);

    let ended = loop {
        if !stdout_open {
            if let Some(code) = exited {
                break Ended::Exit(code);
            }
        }
        let idle_at = last_input + timing.idle_timeout;
        let warn_at = idle_at.checked_sub(timing.idle_warning).unwrap_or(idle_at);
        let next_idle = if warned { idle_at } else { warn_at };
        tokio::select! {
            msg = socket.next() => match msg {
                None => break Ended::Closed,
                Some(Incoming::Stdin(data)) => {
                    last_input = Instant::now();
                    warned = false;
                    if stdin.write_all(&data).await.is_err() || stdin.flush().await.is_err() {
                        // The process side is gone; its status (or EOF) follows.
                        continue;
                    }
                }
                Some(Incoming::Control(ClientControl::Resize { cols, rows })) => {
                    let _ = resize.send(kube::api::TerminalSize { width: cols, height: rows }).await;
                }
            },
            n = stdout.read(&mut buf), if stdout_open => match n {
                Ok(0) | Err(_) => stdout_open = false,
                Ok(n) => {
                    if socket.send(Outgoing::Output(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break Ended::Closed;
                    }
                }
            },
            s = &mut status, if exited.is_none() => {
                exited = Some(s.as_ref().and_then(exit_code));
                drain.as_mut().reset(Instant::now() + Duration::from_millis(500));
            }
            _ = &mut drain, if exited.is_some() => stdout_open = false,
            Some(msg) = &mut notice => {
                if socket.send(Outgoing::Control(msg)).await.is_err() {
                    break Ended::Closed;
                }
            }
            _ = ping.tick() => {
                if socket.send(Outgoing::Ping).await.is_err() {
                    break Ended::Closed;
                }
            }
            _ = tokio::time::sleep_until(next_idle) => {
                if warned || warn_at >= idle_at {
                    break Ended::Idle;
                }
                warned = true;
                let closes_in_secs = idle_at.saturating_duration_since(Instant::now()).as_secs_f64().ceil() as u64;
                if socket.send(Outgoing::Control(ServerControl::IdleWarning { closes_in_secs })).await.is_err() {
                    break Ended::Closed;
                }
            }
        }
    };
    let last = match &ended {
        Ended::Exit(Some(code)) => Some(ServerControl::Exit { code: *code }),
        Ended::Exit(None) => Some(ServerControl::Error {
            message: wharf_api::text!(
                "the shell ended without an exit status",
                "shell 已结束,但没有退出状态"
            ),
        }),
        Ended::Idle => Some(ServerControl::IdleClosed {
            idle_secs: timing.idle_timeout.as_secs(),
        }),
        Ended::Closed => None,
    };
    if let Some(msg) = last {
        let _ = socket.send(Outgoing::Control(msg)).await;
    }
    let _ = socket.close().await;
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::mpsc;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    /// The browser's end of a socket: what the bridge sent, and a way to type.
    struct Browser {
        to_bridge: mpsc::UnboundedSender<Incoming>,
        from_bridge: mpsc::UnboundedReceiver<Outgoing>,
    }

    /// A socket made of two channels (Stream of Incoming + Sink of Outgoing).
    fn socket() -> (
        impl Stream<Item = Incoming> + Sink<Outgoing> + Unpin,
        Browser,
    ) {
        let (to_bridge, rx) = mpsc::unbounded();
        let (tx, from_bridge) = mpsc::unbounded();
        (
            SinkStream {
                sink: tx,
                stream: Box::pin(rx),
            },
            Browser {
                to_bridge,
                from_bridge,
            },
        )
    }

    struct SinkStream {
        sink: mpsc::UnboundedSender<Outgoing>,
        stream: std::pin::Pin<Box<dyn Stream<Item = Incoming> + Send>>,
    }
    impl Stream for SinkStream {
        type Item = Incoming;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Incoming>> {
            self.stream.as_mut().poll_next(cx)
        }
    }
    impl Sink<Outgoing> for SinkStream {
        type Error = mpsc::SendError;
        fn poll_ready(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::pin::Pin::new(&mut self.sink).poll_ready(cx)
        }
        fn start_send(
            mut self: std::pin::Pin<&mut Self>,
            item: Outgoing,
        ) -> Result<(), Self::Error> {
            std::pin::Pin::new(&mut self.sink).start_send(item)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::pin::Pin::new(&mut self.sink).poll_flush(cx)
        }
        fn poll_close(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::pin::Pin::new(&mut self.sink).poll_close(cx)
        }
    }

    fn exit_status(code: i32) -> Status {
        Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some(code.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const TIMING: Timing = Timing {
        ping_every: Duration::from_secs(25),
        idle_timeout: Duration::from_secs(600),
        idle_warning: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn keys_go_in_output_comes_out_resizes_pass_and_the_exit_code_is_told() {
        let (sock, mut browser) = socket();
        // The "process": a pipe for stdin, one for stdout, a channel for sizes, a status.
        let (stdin, mut proc_in) = tokio::io::duplex(1024);
        let (mut proc_out, stdout) = tokio::io::duplex(1024);
        let (size_tx, mut size_rx) = mpsc::unbounded();
        let (status_tx, status_rx) = tokio::sync::oneshot::channel::<Status>();
        let bridge = tokio::spawn(run(
            sock,
            stdin,
            stdout,
            size_tx,
            async move { status_rx.await.ok() },
            Some(Bytes::from_static(b"$ ")),
            TIMING,
            futures::future::pending(),
        ));

        assert_eq!(
            browser.from_bridge.next().await,
            Some(Outgoing::Output(Bytes::from_static(b"$ ")))
        );
        browser
            .to_bridge
            .unbounded_send(Incoming::Stdin(Bytes::from_static(b"echo hi\r")))
            .unwrap();
        let mut typed = [0u8; 8];
        proc_in.read_exact(&mut typed).await.unwrap();
        assert_eq!(&typed, b"echo hi\r");

        browser
            .to_bridge
            .unbounded_send(Incoming::Control(ClientControl::Resize {
                cols: 100,
                rows: 30,
            }))
            .unwrap();
        let size = size_rx.next().await.unwrap();
        assert_eq!((size.width, size.height), (100, 30));

        proc_out.write_all(b"hi\r\n").await.unwrap();
        assert_eq!(
            browser.from_bridge.next().await,
            Some(Outgoing::Output(Bytes::from_static(b"hi\r\n")))
        );

        status_tx.send(exit_status(3)).unwrap();
        drop(proc_out);
        assert_eq!(bridge.await.unwrap(), Ended::Exit(Some(3)));
        assert_eq!(
            browser.from_bridge.next().await,
            Some(Outgoing::Control(ServerControl::Exit { code: 3 }))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pings_keep_it_alive_and_an_idle_session_is_warned_then_closed() {
        let (sock, mut browser) = socket();
        let (stdin, _proc_in) = tokio::io::duplex(1024);
        let (_proc_out, stdout) = tokio::io::duplex(1024);
        let (size_tx, _size_rx) = mpsc::unbounded();
        let timing = Timing {
            ping_every: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            idle_warning: Duration::from_secs(20),
        };
        let bridge = tokio::spawn(run(
            sock,
            stdin,
            stdout,
            size_tx,
            futures::future::pending(),
            None,
            timing,
            futures::future::pending(),
        ));
        assert_eq!(browser.from_bridge.next().await, Some(Outgoing::Ping)); // t=25
        assert_eq!(
            browser.from_bridge.next().await,
            Some(Outgoing::Control(ServerControl::IdleWarning {
                closes_in_secs: 20
            }))
        ); // t=40
        assert_eq!(browser.from_bridge.next().await, Some(Outgoing::Ping)); // t=50
        assert_eq!(
            browser.from_bridge.next().await,
            Some(Outgoing::Control(ServerControl::IdleClosed {
                idle_secs: 60
            }))
        );
        assert_eq!(bridge.await.unwrap(), Ended::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_resets_the_idle_clock() {
        let (sock, mut browser) = socket();
        let (stdin, _proc_in) = tokio::io::duplex(1024);
        let (_proc_out, stdout) = tokio::io::duplex(1024);
        let (size_tx, _size_rx) = mpsc::unbounded();
        let timing = Timing {
            ping_every: Duration::from_secs(1000),
            idle_timeout: Duration::from_secs(60),
            idle_warning: Duration::from_secs(20),
        };
        let _bridge = tokio::spawn(run(
            sock,
            stdin,
            stdout,
            size_tx,
            futures::future::pending(),
            None,
            timing,
            futures::future::pending(),
        ));
        tokio::time::sleep(Duration::from_secs(30)).await;
        browser
            .to_bridge
            .unbounded_send(Incoming::Stdin(Bytes::from_static(b"x")))
            .unwrap();
        let start = Instant::now();
        assert_eq!(
            browser.from_bridge.next().await,
            Some(Outgoing::Control(ServerControl::IdleWarning {
                closes_in_secs: 20
            }))
        );
        assert_eq!(
            start.elapsed().as_secs(),
            40,
            "the warning counts from the last key"
        );
    }

    #[tokio::test]
    async fn a_browser_that_goes_away_ends_the_session() {
        let (sock, browser) = socket();
        let (stdin, _proc_in) = tokio::io::duplex(1024);
        let (_proc_out, stdout) = tokio::io::duplex(1024);
        let (size_tx, _size_rx) = mpsc::unbounded();
        let bridge = tokio::spawn(run(
            sock,
            stdin,
            stdout,
            size_tx,
            futures::future::pending(),
            None,
            TIMING,
            futures::future::pending(),
        ));
        drop(browser.to_bridge);
        assert_eq!(bridge.await.unwrap(), Ended::Closed);
    }

    #[test]
    fn exit_codes_come_from_the_status() {
        assert_eq!(
            exit_code(&Status {
                status: Some("Success".into()),
                ..Default::default()
            }),
            Some(0)
        );
        assert_eq!(exit_code(&exit_status(42)), Some(42));
        assert_eq!(
            exit_code(&Status {
                status: Some("Failure".into()),
                reason: Some("InternalError".into()),
                ..Default::default()
            }),
            None
        );
    }
}
