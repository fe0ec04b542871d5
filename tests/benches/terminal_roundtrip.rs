//! Keystroke echo round trip of the web terminal: one character typed, until the tty echoes
//! it back. Measured two ways against the same pod of the same demo cluster, interleaved
//! keystroke by keystroke so both see the same machine load:
//! 1. through the console, as the browser does: a WebSocket client → `/ws/terminal/{tenant}`
//!    → the console's exec session with a tty → back as a binary frame;
//! 2. reference: a bare exec with a tty from kube-rs straight to the demo cluster.
//!
//! Both run `/bin/sh` (canonical mode: the tty's line discipline echoes each character).
//! The difference is what the console adds.
//!
//! `cargo bench -p wharf-tests --bench terminal_roundtrip` (WHARF_BENCH_KEYS to change the
//! count of measured keystrokes).

use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message};

const SHELL: &str = "/bin/sh";
const WARMUP: usize = 50;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

/// The n-th keystroke: letters in turn, so an echo is never mistaken for the previous one's.
fn key(n: usize) -> u8 {
    b'a' + (n % 26) as u8
}

/// Through the console: sends `k` as a binary frame, waits for a binary frame holding it
/// (and checks that it is the echo alone, not output that was pending).
async fn console_key(socket: &mut Socket, k: u8) -> anyhow::Result<Duration> {
    let t = Instant::now();
    socket.send(Message::Binary(vec![k].into())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(b))) if b.contains(&k) => {
                let took = t.elapsed();
                anyhow::ensure!(
                    b[..] == [k],
                    "expected the echo of {:?}, got {:?}",
                    k as char,
                    String::from_utf8_lossy(&b)
                );
                return Ok(took);
            }
            Some(Ok(Message::Text(t))) if !t.contains("idle") => {
                anyhow::bail!("terminal control message: {t}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the terminal socket closed"),
        }
    }
}

/// Bare exec: writes `k` to the tty's stdin, reads its output until `k` comes back.
async fn exec_key(
    stdin: &mut (impl AsyncWrite + Unpin),
    stdout: &mut (impl AsyncRead + Unpin),
    k: u8,
) -> anyhow::Result<Duration> {
    let mut buf = [0u8; 4096];
    let t = Instant::now();
    stdin.write_all(&[k]).await?;
    stdin.flush().await?;
    loop {
        let n = stdout.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "the exec's output ended");
        if buf[..n].contains(&k) {
            let took = t.elapsed();
            anyhow::ensure!(
                buf[..n] == [k],
                "expected the echo of {:?}, got {:?}",
                k as char,
                String::from_utf8_lossy(&buf[..n])
            );
            return Ok(took);
        }
    }
}

/// Drains whatever output is pending (the prompt) until `quiet` passes without any.
async fn settle_console(socket: &mut Socket, quiet: Duration) {
    while let Ok(Some(_)) = tokio::time::timeout(quiet, socket.next()).await {}
}

async fn settle_exec(stdout: &mut (impl AsyncRead + Unpin), quiet: Duration) {
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(quiet, stdout.read(&mut buf)).await {
        if n == 0 {
            break;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keys: usize = std::env::var("WHARF_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let app = wharf_tests::spawn_app().await?;

    // One running pod in tenant alpha.
    let pods: Api<Pod> = Api::namespaced(app.kube.clone(), "alpha");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bench-term", "namespace": "alpha", "labels": {"app": "bench-term"}},
        "spec": {"containers": [{"name": "shell", "image": "busybox:1.36"}]}
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let cache = app.state.cache.pods.clone();
    wharf_tests::eventually(
        Duration::from_secs(60),
        "the pod running in the console's cache",
        || {
            let cache = cache.clone();
            async move {
                cache
                    .state()
                    .iter()
                    .any(|p| {
                        p.metadata.name.as_deref() == Some("bench-term")
                            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    })
                    .then_some(())
            }
        },
    )
    .await?;

    // 1. The console's socket, with alice's session cookie, as the browser opens it.
    let alice = app.login("alice").await?;
    let mut req = format!(
        "ws://{}/ws/terminal/alpha?ns=alpha&pod=bench-term&container=shell&shell={SHELL}",
        app.addr
    )
    .into_client_request()?;
    req.headers_mut().insert(
        "cookie",
        HeaderValue::from_str(
            alice
                .cookie()
                .ok_or_else(|| anyhow::anyhow!("no session cookie"))?,
        )?,
    );
    // NB: Nagle off, as browsers have it.
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"started\"") => break,
            Some(Ok(Message::Text(t))) => anyhow::bail!("the terminal did not start: {t}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the terminal socket closed before starting"),
        }
    }
    settle_console(&mut socket, Duration::from_millis(300)).await;

    // 2. The reference: a bare exec with a tty, same pod, container and shell.
    let mut process = pods
        .exec(
            "bench-term",
            vec![SHELL],
            &AttachParams::interactive_tty().container("shell"),
        )
        .await?;
    let mut stdin = process
        .stdin()
        .ok_or_else(|| anyhow::anyhow!("exec without stdin"))?;
    let mut stdout = process
        .stdout()
        .ok_or_else(|| anyhow::anyhow!("exec without stdout"))?;
    settle_exec(&mut stdout, Duration::from_millis(300)).await;

    // Warm-up, then measure, alternating the two paths keystroke by keystroke.
    let mut console = Vec::with_capacity(keys);
    let mut bare = Vec::with_capacity(keys);
    for n in 0..WARMUP + keys {
        let k = key(n);
        let c = console_key(&mut socket, k).await?;
        let b = exec_key(&mut stdin, &mut stdout, k).await?;
        if n >= WARMUP {
            console.push(c);
            bare.push(b);
        }
        // NB: keeps the shells' input lines short (Ctrl-U erases the line; its echo is drained).
        if n % 64 == 63 {
            socket.send(Message::Binary(vec![0x15].into())).await?;
            stdin.write_all(&[0x15]).await?;
            stdin.flush().await?;
            settle_console(&mut socket, Duration::from_millis(50)).await;
            settle_exec(&mut stdout, Duration::from_millis(50)).await;
        }
    }
    let _ = socket.close(None).await;
    drop(stdin);

    let (c50, c99) = (
        percentile(&mut console, 0.5),
        percentile(&mut console, 0.99),
    );
    let (b50, b99) = (percentile(&mut bare, 0.5), percentile(&mut bare, 0.99));
    println!();
    println!("| keystroke echo round trip, {keys} keys after {WARMUP} warm-up | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    println!("| through the console (WebSocket → console → exec with a tty → back) | {c50:.2} | {c99:.2} |");
    println!("| reference: bare exec with a tty (kube-rs → demo cluster) | {b50:.2} | {b99:.2} |");
    println!(
        "| what the console adds | {:.2} | {:.2} |",
        c50 - b50,
        c99 - b99
    );
    Ok(())
}
