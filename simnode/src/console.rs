//! The main process of an interactive container — an ephemeral debug container with
//! `stdin` (`kubectl debug -it`) — and the attach sessions that share it.
//!
//! The process runs on a pty with `tty`, else on pipes (see [`crate::exec`]). Its output
//! goes to the container's log, line by line, and to every attached session; what the
//! sessions type goes to its input, and a session's resize to its terminal. A session
//! that attaches later sees only what is printed from then on — as on a real node, hence
//! kubectl's "If you don't see a command prompt, try pressing enter." A session that
//! leaves closes the process's input only with `stdinOnce`. Sessions end when the
//! process exits.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

use crate::exec::{Input, Outcome, Output, Spawned};
use crate::logs::{LogBuffer, LogStream};

/// A running interactive process that attach sessions connect to.
#[derive(Debug)]
pub(crate) struct Console {
    input: mpsc::Sender<Input>,
    output: broadcast::Sender<Bytes>,
    ended: watch::Receiver<bool>,
    stdin_once: bool,
}

/// Splits one stream's output into log lines (a trailing `\r` of a terminal's `\r\n`
/// dropped).
struct LineSplitter {
    log: Arc<LogBuffer>,
    stream: LogStream,
    partial: Vec<u8>,
}

impl LineSplitter {
    fn feed(&mut self, data: &[u8]) {
        for &b in data {
            if b == b'\n' {
                self.flush();
            } else {
                self.partial.push(b);
            }
        }
    }

    fn flush(&mut self) {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop();
        }
        self.log.push_to(self.stream, &self.partial);
        self.partial.clear();
    }
}

impl Console {
    /// Takes over a started process. The returned future pumps it until it exits and
    /// gives its outcome; dropping the future kills the process and ends the sessions.
    pub fn new(
        spawned: Spawned,
        log: Arc<LogBuffer>,
        stdin_once: bool,
    ) -> (Arc<Console>, impl Future<Output = Outcome>) {
        let (input_tx, mut input_rx) = mpsc::channel::<Input>(64);
        let (output_tx, _) = broadcast::channel::<Bytes>(256);
        let (ended_tx, ended_rx) = watch::channel(false);
        let console = Arc::new(Console {
            input: input_tx,
            output: output_tx.clone(),
            ended: ended_rx,
            stdin_once,
        });
        let pump = async move {
            let mut spawned = spawned;
            // NB: on a pty everything comes as stdout, as containerd logs a tty container.
            let mut out_lines = LineSplitter {
                log: log.clone(),
                stream: LogStream::Stdout,
                partial: Vec::new(),
            };
            let mut err_lines = LineSplitter {
                log,
                stream: LogStream::Stderr,
                partial: Vec::new(),
            };
            let outcome = loop {
                tokio::select! {
                    out = spawned.output.recv() => match out {
                        Some(Output::Stdout(b)) => {
                            out_lines.feed(&b);
                            let _ = output_tx.send(b);
                        }
                        Some(Output::Stderr(b)) => {
                            err_lines.feed(&b);
                            let _ = output_tx.send(b);
                        }
                        Some(Output::Exit(outcome)) => break outcome,
                        None => break Outcome::Failed("the container's process vanished".into()),
                    },
                    Some(input) = input_rx.recv() => {
                        let _ = spawned.input.send(input).await;
                    }
                }
            };
            for lines in [&mut out_lines, &mut err_lines] {
                if !lines.partial.is_empty() {
                    lines.flush();
                }
            }
            let _ = ended_tx.send(true);
            outcome
        };
        (console, pump)
    }

    /// A new attach session: the process's output from now on, input and resizes to it.
    pub fn attach(&self) -> Spawned {
        let (input_tx, mut input_rx) = mpsc::channel::<Input>(64);
        let (output_tx, output_rx) = mpsc::channel::<Output>(64);
        let mut output = self.output.subscribe();
        let mut ended = self.ended.clone();
        let console = self.input.clone();
        let stdin_once = self.stdin_once;
        let task = tokio::spawn(async move {
            let mut input_open = true;
            loop {
                tokio::select! {
                    biased;
                    out = output.recv() => match out {
                        Ok(b) => {
                            if output_tx.send(Output::Stdout(b)).await.is_err() {
                                return;
                            }
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => break,
                    },
                    input = input_rx.recv(), if input_open => match input {
                        Some(Input::CloseStdin) | None => {
                            input_open = false;
                            if stdin_once {
                                let _ = console.send(Input::CloseStdin).await;
                            }
                        }
                        Some(input) => {
                            let _ = console.send(input).await;
                        }
                    },
                    // NB: the `Ref` wait_for gives is not `Send`; drop it at once.
                    _ = async { ended.wait_for(|e| *e).await.map(|_| ()) } => {
                        while let Ok(b) = output.try_recv() {
                            let _ = output_tx.send(Output::Stdout(b)).await;
                        }
                        break;
                    }
                }
            }
            let _ = output_tx.send(Output::Exit(Outcome::Exited(0))).await;
        });
        Spawned::new(input_tx, output_rx, task)
    }
}
