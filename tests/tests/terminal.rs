//! The web terminal against the demo cluster, over the console's real socket and HTTP:
//! a shell round trip (42), resize followed by `stty size`, the exit code, the audit record,
//! the refusals before the upgrade, and files in and out through tar.

use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Error, Message};
use wharf_tests::{eventually, spawn_app, TestApp};

/// A running pod `name` in alpha with containers `app` and `sidecar`.
async fn running_pod(app: &TestApp, name: &str) {
    let pods: Api<Pod> = Api::namespaced(app.kube.clone(), "alpha");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha", "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}, {"name": "sidecar", "image": "busybox:1.36"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let cache = app.state.cache.pods.clone();
    eventually(Duration::from_secs(60), "the pod running in the console's cache", || {
        let cache = cache.clone();
        async move {
            cache
                .state()
                .iter()
                .any(|p| p.metadata.name.as_deref() == Some(name) && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .then_some(())
        }
    })
    .await
    .unwrap();
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, tenant: &str, query: &str, cookie: Option<&str>) -> Result<Socket, u16> {
    let mut req = format!("ws://{}/ws/terminal/{tenant}?{query}", app.addr).into_client_request().unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", HeaderValue::from_str(c).unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((s, _)) => Ok(s),
        Err(Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("unexpected: {e}"),
    }
}

/// Reads until the terminal output contains `want`; returns the output seen.
async fn read_until(socket: &mut Socket, want: &str) -> String {
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(msg) = socket.next().await {
            match msg.expect("readable") {
                Message::Binary(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                Message::Text(t) => seen.push_str(&format!("\n<control {t}>\n")),
                _ => {}
            }
            if seen.contains(want) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} in the terminal; saw: {seen}"));
    seen
}

async fn type_in(socket: &mut Socket, text: &str) {
    socket.send(Message::Binary(text.as_bytes().to_vec().into())).await.unwrap();
}

#[tokio::test]
async fn a_shell_answers_follows_resizes_tells_its_exit_code_and_is_audited() {
    let app = spawn_app().await.unwrap();
    running_pod(&app, "term-a").await;
    let alice = app.login("alice").await.unwrap();
    let mut s = connect(&app, "alpha", "ns=alpha&pod=term-a&container=sidecar", alice.cookie()).await.expect("alice gets a shell");
    let started = read_until(&mut s, "\"type\":\"started\"").await;
    assert!(started.contains("\"container\":\"sidecar\""), "{started}");

    type_in(&mut s, "echo $((6*7))\r").await;
    read_until(&mut s, "42").await;

    s.send(Message::Text(r#"{"type":"resize","cols":123,"rows":45}"#.into())).await.unwrap();
    type_in(&mut s, "stty size\r").await;
    read_until(&mut s, "45 123").await;

    type_in(&mut s, "exit 3\r").await;
    read_until(&mut s, r#"{"type":"exit","code":3}"#).await;

    // The audit trail names alice, the pod and container, the duration and the exit code;
    // only admins may read it.
    let (status, _) = alice.call("terminal_sessions", json!({"tenant": "alpha"})).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = app.login("admin").await.unwrap();
    let row = eventually(Duration::from_secs(20), "the closed session in the audit trail", || async {
        let (status, rows) = admin.call("terminal_sessions", json!({"tenant": "alpha"})).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{rows}");
        rows.as_array().unwrap().iter().find(|r| r["kind"] == "session" && r["outcome"] == "exit").cloned()
    })
    .await
    .unwrap();
    assert_eq!((row["user"].as_str(), row["pod"].as_str(), row["container"].as_str()), (Some("alice"), Some("term-a"), Some("sidecar")));
    assert_eq!(row["exit_code"], 3);
    assert!(row["duration_secs"].as_f64().unwrap() > 0.0, "{row}");
    assert_eq!(row["detail"], "/bin/bash");
}

#[tokio::test]
async fn the_socket_refuses_before_upgrading() {
    let app = spawn_app().await.unwrap();
    running_pod(&app, "term-b").await;
    let (alice, bob, vera) = (app.login("alice").await.unwrap(), app.login("bob").await.unwrap(), app.login("vera").await.unwrap());
    let q = "ns=alpha&pod=term-b";
    assert_eq!(connect(&app, "alpha", q, None).await.err(), Some(401));
    assert_eq!(connect(&app, "alpha", q, bob.cookie()).await.err(), Some(403), "another tenant");
    assert_eq!(connect(&app, "beta", q, bob.cookie()).await.err(), Some(403), "alpha's namespace through beta");
    assert_eq!(connect(&app, "alpha", q, vera.cookie()).await.err(), Some(403), "viewers get no shell");
    assert_eq!(connect(&app, "alpha", "ns=alpha&pod=nope", alice.cookie()).await.err(), Some(404));
    assert_eq!(connect(&app, "alpha", "ns=alpha&pod=term-b&container=db", alice.cookie()).await.err(), Some(400));
    // The reason is a sentence (seen by scripts; browsers hide it).
    let res = reqwest::Client::new().get(app.url("/ws/terminal/alpha?ns=alpha&pod=term-b&container=db")).header("cookie", alice.cookie().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("container 'db' is not in pod 'term-b'; its containers: app, sidecar"));
}

fn transfer_url(app: &TestApp, what: &str, path: &str) -> String {
    app.url(&format!("/{what}/terminal/alpha?ns=alpha&pod=term-c&path={}", wharf_app::logs::encode(path)))
}

#[tokio::test]
async fn a_file_goes_in_and_comes_out_identical_and_bad_transfers_leave_nothing() {
    std::env::set_var("WHARF_TERMINAL_MAX_UPLOAD_MB", "1");
    let app = spawn_app().await.unwrap();
    running_pod(&app, "term-c").await;
    let alice = app.login("alice").await.unwrap();
    let http = reqwest::Client::new();
    // NB: the demo cluster runs exec on this machine, so a temporary folder stands for a folder in the container.
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/app.bin", dir.path().display());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();

    let res = http.post(transfer_url(&app, "upload", &path)).header("cookie", alice.cookie().unwrap()).body(data.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["bytes"], 300_000);

    let res = http.get(transfer_url(&app, "download", &path)).header("cookie", alice.cookie().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("app.bin"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), data, "downloaded bytes differ");

    // Missing file: 404 with tar's words. Viewers and other tenants: refused.
    let res = http.get(transfer_url(&app, "download", &format!("{}/nope", dir.path().display()))).header("cookie", alice.cookie().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    for user in ["vera", "bob"] {
        let s = app.login(user).await.unwrap();
        let res = http.get(transfer_url(&app, "download", &path)).header("cookie", s.cookie().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{user}");
        let res = http.post(transfer_url(&app, "upload", &path)).header("cookie", s.cookie().unwrap()).body("x").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{user}");
    }

    // Over the limit (1 MB here): 413, and the file is not touched.
    let big = vec![7u8; 2 * 1024 * 1024];
    let res = http.post(transfer_url(&app, "upload", &path)).header("cookie", alice.cookie().unwrap()).body(big).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("limited to 1 MB"));

    // A connection cut mid-upload: nothing half-written is left.
    let target = format!("{}/broken.bin", dir.path().display());
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /upload/terminal/alpha?ns=alpha&pod=term-c&path={} HTTP/1.1\r\nhost: x\r\ncookie: {}\r\ncontent-length: 500000\r\n\r\n",
        wharf_app::logs::encode(&target),
        alice.cookie().unwrap()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[1u8; 100_000]).await.unwrap();
    tcp.flush().await.unwrap();
    // Wait until the upload is under way (its temporary file appears), then cut the connection.
    let listing = |d: &std::path::Path| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect::<Vec<_>>();
    eventually(Duration::from_secs(20), "the upload's temporary file", || async { listing(dir.path()).iter().any(|n| n.starts_with(".wharf-upload-")).then_some(()) }).await.unwrap();
    drop(tcp);
    eventually(Duration::from_secs(20), "the temporary file removed", || async {
        let names = listing(dir.path());
        (names == vec!["app.bin".to_string()]).then_some(())
    })
    .await
    .unwrap();
}
