//! Attach to a simulated app: its live log is the stdout, and stdin is echoed back (a
//! simulated app reads nothing, but a person typing should see something happen).
//! The session ends when the container instance stops.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{Input, Outcome, Output, Spawned};
use crate::logs::{self, LogBuffer, LogOptions};

/// Attaches to `log`, the current instance's buffer.
pub fn spawn(log: Arc<LogBuffer>) -> Spawned {
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(64);
    let (output_tx, output_rx) = mpsc::channel::<Output>(64);
    let task = tokio::spawn(async move {
        let mut lines = logs::read(
            log,
            &LogOptions {
                follow: true,
                tail_lines: Some(0),
                ..Default::default()
            },
        );
        let mut input_open = true;
        loop {
            tokio::select! {
                line = lines.next() => match line {
                    Some(line) => {
                        if output_tx.send(Output::Stdout(line)).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
                input = input_rx.recv(), if input_open => match input {
                    Some(Input::Stdin(data)) => {
                        let _ = output_tx.send(Output::Stdout(Bytes::from(data.to_vec()))).await;
                    }
                    Some(_) => {}
                    None => input_open = false,
                },
            }
        }
        let _ = output_tx.send(Output::Exit(Outcome::Exited(0))).await;
    });
    Spawned::new(input_tx, output_rx, task)
}
