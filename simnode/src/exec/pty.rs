//! Commands under a pseudo-terminal (`tty=true`): one output stream, terminal echo and
//! line editing from the kernel's line discipline, window size from resize messages.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Input, Outcome, Output, Spawned};
use crate::process::{start_error_message, GroupKiller};
use crate::sandbox::Launch;

/// Starts `launch` with the terminal `pts` as stdin, stdout and stderr without taking
/// the terminal: the program inside does (see [`Launch::takes_terminal`]).
fn spawn_own_session(
    launch: &Launch,
    cwd: &Path,
    env: &[(String, String)],
    pts: &pty_process::Pts,
) -> std::io::Result<tokio::process::Child> {
    use std::os::fd::AsFd;
    let fd = || {
        pts.as_fd()
            .try_clone_to_owned()
            .map(std::process::Stdio::from)
    };
    let mut cmd = tokio::process::Command::new(&launch.program);
    cmd.args(&launch.args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(fd()?)
        .stdout(fd()?)
        .stderr(fd()?)
        .kill_on_drop(true);
    if let Some((uid, gid)) = launch.run_as {
        cmd.uid(uid).gid(gid);
    }
    // Its own process group, for the group kill; the session is the program's to make.
    cmd.process_group(0);
    cmd.spawn()
}

/// Starts `launch` on a new pty (80×24 until resized). `Err` carries the runtime's message
/// for a command that cannot start, e.g. `executable file not found in $PATH`.
pub fn spawn(launch: &Launch, cwd: &Path, env: &[(String, String)]) -> Result<Spawned, String> {
    let argv0 = &launch.argv0;
    let (pty, pts) = pty_process::open().map_err(|e| format!("open pty: {e}"))?;
    pty.resize(pty_process::Size::new(24, 80))
        .map_err(|e| format!("resize pty: {e}"))?;
    let mut child = if launch.takes_terminal {
        spawn_own_session(launch, cwd, env, &pts).map_err(|e| start_error_message(argv0, &e))?
    } else {
        let mut cmd = pty_process::Command::new(&launch.program)
            .args(&launch.args)
            .current_dir(cwd)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        if let Some((uid, gid)) = launch.run_as {
            cmd = cmd.uid(uid).gid(gid);
        }
        cmd.spawn(pts).map_err(|e| match e {
            pty_process::Error::Io(io) => start_error_message(argv0, &io),
            other => format!("exec: \"{argv0}\": {other}"),
        })?
    };
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(64);
    let (output_tx, output_rx) = mpsc::channel::<Output>(64);
    let task = tokio::spawn(async move {
        // The child leads its own session or process group: its pid is the group.
        let mut killer = GroupKiller::new(child.id());
        let (mut reader, mut writer) = pty.into_split();
        let mut buf = vec![0u8; 8192];
        let mut exited: Option<i32> = None;
        let mut reader_open = true;
        let mut input_open = true;
        let drain_deadline = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(drain_deadline);
        loop {
            if exited.is_some() && !reader_open {
                break;
            }
            tokio::select! {
                n = reader.read(&mut buf), if reader_open => match n {
                    // NB: Linux answers EIO once the last slave fd is closed: that is EOF here.
                    Ok(0) | Err(_) => reader_open = false,
                    Ok(n) => {
                        if output_tx.send(Output::Stdout(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                            return;
                        }
                    }
                },
                input = input_rx.recv(), if input_open => match input {
                    Some(Input::Stdin(data)) => {
                        let _ = writer.write_all(&data).await;
                    }
                    Some(Input::Resize(size)) => {
                        let _ = writer.resize(pty_process::Size::new(size.height, size.width));
                    }
                    // ^D: end of input for a program reading the terminal in canonical mode.
                    Some(Input::CloseStdin) => {
                        let _ = writer.write_all(&[4]).await;
                    }
                    None => input_open = false,
                },
                status = child.wait(), if exited.is_none() => {
                    exited = Some(match status {
                        Ok(s) => s.code().unwrap_or_else(|| {
                            use std::os::unix::process::ExitStatusExt;
                            128 + s.signal().unwrap_or(9)
                        }),
                        Err(_) => 128,
                    });
                    // A background job may keep the terminal open: give output a moment, no more.
                    drain_deadline.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(500));
                }
                _ = &mut drain_deadline, if exited.is_some() => reader_open = false,
            }
        }
        if exited == Some(0) {
            killer.disarm();
        }
        let _ = output_tx
            .send(Output::Exit(Outcome::Exited(exited.unwrap_or(128))))
            .await;
    });
    Ok(Spawned::new(input_tx, output_rx, task))
}
