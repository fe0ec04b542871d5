//! Exec and attach over the remotecommand protocol, driven without a network, plus one
//! run over a real WebSocket with the subprotocol kube-rs and kubectl use.

use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use simnode::exec::Protocol;
use simnode::{ExecRequest, NodeRuntime};

struct Outcome {
    stdout: String,
    stderr: String,
    status: serde_json::Value,
    first: Vec<u8>,
}

/// Runs an exec session, sending `frames` as the client, and collects what comes back.
async fn exec(
    rt: &NodeRuntime,
    pod: &str,
    command: &[&str],
    tty: bool,
    frames: Vec<Vec<u8>>,
) -> Outcome {
    let req = ExecRequest {
        namespace: "demo".into(),
        pod: pod.into(),
        container: None,
        command: command.iter().map(|s| s.to_string()).collect(),
        stdin: !frames.is_empty(),
        stdout: true,
        stderr: !tty,
        tty,
    };
    let (mut client_tx, server_rx) = mpsc::unbounded::<Bytes>();
    let (server_tx, mut client_rx) = mpsc::unbounded::<Bytes>();
    for f in frames {
        client_tx.send(Bytes::from(f)).await.unwrap();
    }
    let session = rt.exec_over(server_rx, server_tx, Protocol::V5, req);
    let collect = async {
        let mut out = Outcome {
            stdout: String::new(),
            stderr: String::new(),
            status: json!(null),
            first: vec![],
        };
        let mut first = true;
        while let Some(frame) = client_rx.next().await {
            if first {
                out.first = frame.to_vec();
                first = false;
                continue;
            }
            match frame[0] {
                1 => out.stdout.push_str(&String::from_utf8_lossy(&frame[1..])),
                2 => out.stderr.push_str(&String::from_utf8_lossy(&frame[1..])),
                3 => out.status = serde_json::from_slice(&frame[1..]).unwrap(),
                c => panic!("unexpected channel {c}"),
            }
        }
        out
    };
    let (_, out) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(session, collect)
    })
    .await
    .expect("exec finished");
    drop(client_tx);
    out
}

fn stdin(s: &str) -> Vec<u8> {
    [&[0u8][..], s.as_bytes()].concat()
}

async fn running_app(n: &Node, name: &str, uid: &str, ip: std::net::Ipv4Addr) {
    n.rt.start_pod(
        &app_pod(name, uid, json!({"name": "app", "image": "busybox"})),
        ip,
    )
    .await
    .unwrap();
    wait_running(&n.rt, uid).await;
}

#[tokio::test]
async fn tty_exec_computes_and_reports_success() {
    let n = node();
    running_app(&n, "sh-1", "uid-exec-1", ip(4, 1)).await;
    let out = exec(&n.rt, "sh-1", &["sh", "-c", "echo $((6*7))"], true, vec![]).await;
    assert_eq!(
        out.first,
        vec![1],
        "an empty frame on stdout opens the session"
    );
    assert!(out.stdout.contains("42"), "{:?}", out.stdout);
    assert_eq!(out.status, json!({"metadata": {}, "status": "Success"}));
}

#[tokio::test]
async fn exit_codes_are_propagated_as_kubernetes_status() {
    let n = node();
    running_app(&n, "sh-2", "uid-exec-2", ip(4, 2)).await;
    let out = exec(&n.rt, "sh-2", &["sh", "-c", "exit 7"], false, vec![]).await;
    assert_eq!(out.status["status"], "Failure");
    assert_eq!(out.status["reason"], "NonZeroExitCode");
    assert_eq!(
        out.status["details"]["causes"][0],
        json!({"reason": "ExitCode", "message": "7"})
    );
    assert_eq!(
        out.status["message"],
        "command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7"
    );
}

#[tokio::test]
async fn resize_changes_the_terminal_size_of_an_interactive_shell() {
    let n = node();
    running_app(&n, "sh-3", "uid-exec-3", ip(4, 3)).await;
    let resize = [&[4u8][..], br#"{"Width":100,"Height":30}"#].concat();
    let out = exec(
        &n.rt,
        "sh-3",
        &["sh"],
        true,
        vec![resize, stdin("stty size; pwd; exit 0\n")],
    )
    .await;
    assert!(out.stdout.contains("30 100"), "{:?}", out.stdout);
    assert!(
        out.stdout.contains("demo_sh-3/app"),
        "runs in the container's scratch dir: {:?}",
        out.stdout
    );
    assert_eq!(
        out.status["status"], "Success",
        "{:?} {:?}",
        out.stdout, out.status
    );
}

#[tokio::test]
async fn without_tty_stdout_and_stderr_are_separate_and_stdin_closes() {
    let n = node();
    running_app(&n, "sh-4", "uid-exec-4", ip(4, 4)).await;
    let out = exec(
        &n.rt,
        "sh-4",
        &["sh", "-c", "echo out; echo err >&2; cat"],
        false,
        vec![stdin("piped\n"), vec![255, 0]],
    )
    .await;
    assert_eq!(out.stdout, "out\npiped\n");
    assert_eq!(out.stderr, "err\n");
    assert_eq!(out.status["status"], "Success");
}

#[tokio::test]
async fn missing_command_and_refusals_go_to_the_error_channel() {
    let n = node();
    running_app(&n, "sh-5", "uid-exec-5", ip(4, 5)).await;
    let out = exec(&n.rt, "sh-5", &["no-such-binary-here"], true, vec![]).await;
    assert_eq!(out.status["status"], "Failure");
    let msg = out.status["message"].as_str().unwrap();
    assert!(
        msg.contains("exec: \"no-such-binary-here\": executable file not found in $PATH"),
        "{msg}"
    );

    let out = exec(&n.rt, "nope", &["ls"], false, vec![]).await;
    assert!(out.status["message"]
        .as_str()
        .unwrap()
        .contains("pods \"nope\" not found"));

    let off = node_with(|c| c.allow_exec = false);
    running_app(&off, "sh-6", "uid-exec-6", ip(4, 6)).await;
    assert!(!off.rt.exec_allowed());
    let out = exec(&off.rt, "sh-6", &["ls"], false, vec![]).await;
    assert!(out.status["message"]
        .as_str()
        .unwrap()
        .contains("not allowed"));
}

#[tokio::test]
async fn attach_streams_the_live_log() {
    let n = node_with(|c| c.log_lines_per_sec = 50.0);
    running_app(&n, "att", "uid-exec-7", ip(4, 7)).await;
    let req = simnode::AttachRequest {
        namespace: "demo".into(),
        pod: "att".into(),
        stdout: true,
        stdin: true,
        ..Default::default()
    };
    let (mut client_tx, server_rx) = mpsc::unbounded::<Bytes>();
    let (server_tx, mut client_rx) = mpsc::unbounded::<Bytes>();
    client_tx.send(Bytes::from(stdin("hello\n"))).await.unwrap();
    let rt = n.rt.clone();
    let session = tokio::spawn(async move {
        rt.attach_over(server_rx, server_tx, Protocol::V5, req)
            .await
    });
    let mut seen = String::new();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(f) = client_rx.next().await {
            if f.len() > 1 && f[0] == 1 {
                seen.push_str(&String::from_utf8_lossy(&f[1..]));
            }
            if seen.contains("hello\n") && seen.contains("msg") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(got, Ok(true)), "{seen}");
    session.abort();
}

#[tokio::test]
async fn over_a_real_websocket_with_the_v5_subprotocol() {
    use axum::extract::ws::WebSocketUpgrade;
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

    let n = node();
    running_app(&n, "ws", "uid-exec-8", ip(4, 8)).await;
    let rt = n.rt.clone();
    let app = axum::Router::new().route(
        "/exec",
        axum::routing::get(move |ws: WebSocketUpgrade| {
            let rt = rt.clone();
            async move {
                ws.protocols(simnode::SUPPORTED_PROTOCOLS)
                    .on_upgrade(move |socket| async move {
                        let proto = socket
                            .protocol()
                            .and_then(|p| p.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let req = ExecRequest {
                            namespace: "demo".into(),
                            pod: "ws".into(),
                            command: vec![
                                "sh".into(),
                                "-c".into(),
                                "echo via-websocket; exit 3".into(),
                            ],
                            stdout: true,
                            stderr: true,
                            ..Default::default()
                        };
                        rt.exec(socket, &proto, req).await;
                    })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut request = format!("ws://{addr}/exec").into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v5.channel.k8s.io".parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "v5.channel.k8s.io"
    );
    let mut stdout = String::new();
    let mut status = json!(null);
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Binary(b) = msg {
                match b.first() {
                    Some(1) => stdout.push_str(&String::from_utf8_lossy(&b[1..])),
                    Some(3) if b.len() > 1 => status = serde_json::from_slice(&b[1..]).unwrap(),
                    _ => {}
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(stdout, "via-websocket\n");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    server.abort();
}

#[tokio::test]
async fn an_interactive_shell_prompt_names_the_pod_not_the_host() {
    let n = node();
    running_app(&n, "sh-9", "uid-exec-9", ip(4, 9)).await;
    let out = exec(&n.rt, "sh-9", &["sh", "-i"], true, vec![stdin("exit 0\n")]).await;
    assert!(out.stdout.contains("@sh-9:"), "sh: {:?}", out.stdout);
    if std::path::Path::new("/bin/bash").exists() {
        let out = exec(
            &n.rt,
            "sh-9",
            &["bash", "-i"],
            true,
            vec![stdin("exit 0\n")],
        )
        .await;
        assert!(out.stdout.contains("@sh-9:"), "bash: {:?}", out.stdout);
    }
}

/// The node's user sees the folders of the node; the sandbox shows a container only its own.
#[tokio::test]
async fn a_shell_sees_and_writes_only_its_own_container() {
    let sandbox = simnode::sandbox::Sandbox::detect();
    assert_eq!(
        sandbox.unavailable(),
        None,
        "the demo node needs bubblewrap (scripts/setup.sh installs it)"
    );
    let n = node();
    running_app(&n, "sb-1", "uid-sb-1", ip(4, 21)).await;
    // What the demo keeps beside its nodes' folders: its kubeconfig, keys.
    let secret = n.dir.path().join("kubeconfig");
    std::fs::write(&secret, "token: do-not-read\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let script = format!(
        "cat {secret}; echo x > {elsewhere}/planted; echo y > /planted; echo mine > mine.txt; \
         echo t > /tmp/t.txt; ls /proc | grep -c '^[0-9]'; cat /etc/shadow",
        secret = secret.display(),
        elsewhere = elsewhere.path().display()
    );
    let out = exec(&n.rt, "sb-1", &["sh", "-c", &script], false, vec![]).await;
    assert!(!out.stdout.contains("do-not-read"), "{}", out.stdout);
    assert!(
        out.stderr.contains("No such file or directory"),
        "{}",
        out.stderr
    );
    assert!(!elsewhere.path().join("planted").exists());
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("/etc/shadow: Permission denied"),
        "{}",
        out.stderr
    );
    // Its own processes only: the shell, the sandbox's init and `ls`/`grep`, not the host's.
    let pids: usize = out
        .stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(usize::MAX);
    assert!(pids < 10, "sees {pids} processes: {}", out.stdout);

    // What it wrote is in its container's folder (its /tmp too), owned by nobody when the
    // node is root.
    let container = n.dir.path().join("demo_sb-1").join("app");
    let mine = container.join("mine.txt");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine\n");
    assert_eq!(
        std::fs::read_to_string(container.join("tmp/t.txt")).unwrap(),
        "t\n"
    );
    if rustix::process::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(&mine).unwrap().uid(),
            simnode::sandbox::NOBODY
        );
    }
}

/// The same commands unconfined do reach the host, so the test above is not vacuous.
#[tokio::test]
async fn without_the_sandbox_a_shell_reaches_the_host() {
    let n = node_with(|c| c.sandbox = simnode::sandbox::Sandbox::off("test"));
    running_app(&n, "sb-2", "uid-sb-2", ip(4, 22)).await;
    let secret = n.dir.path().join("kubeconfig");
    std::fs::write(&secret, "token: do-not-read\n").unwrap();
    let cmd = format!("cat {}", secret.display());
    let out = exec(&n.rt, "sb-2", &["sh", "-c", &cmd], false, vec![]).await;
    assert!(out.stdout.contains("do-not-read"), "{}", out.stdout);
}
