//! Commands without a terminal (`tty=false`): stdin, stdout and stderr as separate pipes.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Input, Outcome, Output, Spawned};
use crate::process::{start_error_message, GroupKiller};
use crate::sandbox::Launch;

async fn pump(pipe: Option<impl AsyncRead + Unpin>, tx: mpsc::Sender<Output>, stderr: bool) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let data = Bytes::copy_from_slice(&buf[..n]);
                let msg = if stderr {
                    Output::Stderr(data)
                } else {
                    Output::Stdout(data)
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Starts `launch` with pipes. `Err` carries the runtime's message for a command that
/// cannot start.
pub fn spawn(
    launch: &Launch,
    cwd: &Path,
    env: &[(String, String)],
    stdin: bool,
) -> Result<Spawned, String> {
    let argv0 = &launch.argv0;
    let mut cmd = tokio::process::Command::new(&launch.program);
    if let Some((uid, gid)) = launch.run_as {
        cmd.uid(uid).gid(gid);
    }
    cmd.args(&launch.args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| start_error_message(argv0, &e))?;
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(64);
    let (output_tx, output_rx) = mpsc::channel::<Output>(64);
    let task = tokio::spawn(async move {
        let mut killer = GroupKiller::new(child.id());
        let mut child_stdin = child.stdin.take();
        let pumps = futures::future::join(
            pump(child.stdout.take(), output_tx.clone(), false),
            pump(child.stderr.take(), output_tx.clone(), true),
        );
        tokio::pin!(pumps);
        let mut pumps_done = false;
        let mut input_open = true;
        let status = loop {
            tokio::select! {
                _ = &mut pumps, if !pumps_done => pumps_done = true,
                input = input_rx.recv(), if input_open => match input {
                    Some(Input::Stdin(data)) => {
                        if let Some(w) = child_stdin.as_mut() {
                            if w.write_all(&data).await.is_err() {
                                child_stdin = None;
                            }
                        }
                    }
                    Some(Input::CloseStdin) => child_stdin = None,
                    Some(Input::Resize(_)) => {}
                    None => input_open = false,
                },
                status = child.wait() => break status,
            }
        };
        if !pumps_done {
            // NB: a background grandchild may hold the pipes; don't wait for it forever.
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut pumps).await;
        }
        let code = match status {
            Ok(s) => s.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + s.signal().unwrap_or(9)
            }),
            Err(_) => 128,
        };
        if code == 0 {
            killer.disarm();
        }
        let _ = output_tx.send(Output::Exit(Outcome::Exited(code))).await;
    });
    Ok(Spawned::new(input_tx, output_rx, task))
}
