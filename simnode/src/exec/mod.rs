//! Exec and attach: the Kubernetes remotecommand WebSocket protocols over real processes.
//!
//! [`protocol`] speaks `v4.channel.k8s.io` / `v5.channel.k8s.io` over any stream of binary
//! frames; [`pty`] runs a command under a pseudo-terminal, [`pipes`] with separate stdout
//! and stderr, [`attach`] streams a simulated app's live log. All three produce a
//! [`Spawned`]: a channel of [`Input`] towards the process and one of [`Output`] back,
//! ending with [`Output::Exit`]. Dropping a `Spawned` kills what it runs.

pub mod attach;
pub mod pipes;
pub mod protocol;
pub mod pty;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

pub use protocol::{Protocol, SUPPORTED_PROTOCOLS};

/// `POST/GET .../pods/NAME/exec` parameters (`command` repeats on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub namespace: String,
    pub pod: String,
    /// Required when the pod has more than one container.
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// `.../pods/NAME/attach` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachRequest {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// The resize message on channel 4: `{"Width":80,"Height":24}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// From the session to the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin(Bytes),
    /// The client closed stdin (v5's `[255, 0]`, or the socket went away).
    CloseStdin,
    Resize(TerminalSize),
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// It could not start (or attach failed): an internal error with this message.
    Failed(String),
}

/// From the process to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
    /// Always the last message.
    Exit(Outcome),
}

/// A running command (or attachment) as the protocol sees it.
pub struct Spawned {
    pub input: mpsc::Sender<Input>,
    pub output: mpsc::Receiver<Output>,
    task: tokio::task::JoinHandle<()>,
}

impl Spawned {
    pub(crate) fn new(
        input: mpsc::Sender<Input>,
        output: mpsc::Receiver<Output>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self {
            input,
            output,
            task,
        }
    }

    /// A "process" that only reports a failure, for errors found before anything ran.
    pub fn failed(message: String) -> Self {
        let (input, _) = mpsc::channel(1);
        let (tx, output) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let _ = tx.send(Output::Exit(Outcome::Failed(message))).await;
        });
        Self {
            input,
            output,
            task,
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // NB: the task owns the child (kill_on_drop) and its process group killer.
        self.task.abort();
    }
}
