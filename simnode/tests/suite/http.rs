//! Pods' container ports answer real HTTP on their loopback IPs.

use std::time::Duration;

use crate::common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Reads one HTTP/1.x response with a Content-Length body.
async fn read_response(r: &mut BufReader<TcpStream>) -> (String, String) {
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        head.push_str(&line);
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.unwrap();
    (head, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn container_port_answers_http_1_1_keep_alive_and_1_0() {
    let n = node();
    let ip = ip(1, 1);
    let p = app_pod(
        "web-7d9f",
        "uid-http-1",
        json!({"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 18080}]}),
    );
    n.rt.start_pod(&p, ip).await.unwrap();
    wait_running(&n.rt, "uid-http-1").await;

    // HTTP/1.1: two requests on one connection.
    let mut conn = BufReader::new(TcpStream::connect((ip, 18080)).await.unwrap());
    for path in ["/first", "/second?a=1&b=2"] {
        conn.get_mut()
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: web\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (head, body) = read_response(&mut conn).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            body.contains("web-7d9f") && body.contains("demo") && body.contains("nginx:1.27"),
            "{body}"
        );
        assert!(body.contains(&path.replace('&', "&amp;")), "{body}");
    }

    // HTTP/1.0 (nginx's default proxy version): answered, then closed.
    let mut c10 = TcpStream::connect((ip, 18080)).await.unwrap();
    c10.write_all(b"GET /old HTTP/1.0\r\n\r\n").await.unwrap();
    let mut all = String::new();
    tokio::time::timeout(Duration::from_secs(5), c10.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert!(all.starts_with("HTTP/1.0 200"), "{all}");
    assert!(all.contains("GET /old"));

    // /healthz and concurrent clients.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = BufReader::new(TcpStream::connect((ip, 18080)).await.unwrap());
                c.get_mut()
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                read_response(&mut c).await.1
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "ok\n");
    }

    // nginx-flavoured containers log what they served.
    let logs: Vec<bytes::Bytes> =
        futures::StreamExt::collect(n.rt.logs("demo", "web-7d9f", &Default::default()).unwrap())
            .await;
    let text = String::from_utf8_lossy(&logs.concat()).to_string();
    assert!(text.contains("\"GET /first HTTP/1.1\" 200"), "{text}");

    // Stopping the pod closes the port, keep-alive connections included.
    n.rt.stop_pod("uid-http-1").await;
    assert!(TcpStream::connect((ip, 18080)).await.is_err());
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "keep-alive connection closed"
    );
    assert!(n.rt.pod_state("uid-http-1").is_none());
}

#[tokio::test]
async fn port_collision_is_a_container_error_not_a_panic() {
    let n = node();
    let ip = ip(1, 2);
    let a = app_pod(
        "a",
        "uid-coll-a",
        json!({"name": "app", "image": "busybox", "ports": [{"containerPort": 18081}]}),
    );
    let b = app_pod(
        "b",
        "uid-coll-b",
        json!({"name": "app", "image": "busybox", "ports": [{"containerPort": 18081}]}),
    );
    n.rt.start_pod(&a, ip).await.unwrap();
    wait_running(&n.rt, "uid-coll-a").await;
    n.rt.start_pod(&b, ip).await.unwrap();
    let s = wait_state(&n.rt, "uid-coll-b", "bind failure", |s| {
        s.containers[0].last_state.is_some()
    })
    .await;
    let last = s.containers[0].last_state.clone().unwrap();
    assert_eq!(last.exit_code, 1);
    let msg = last.message.unwrap();
    assert!(
        msg.contains("address already in use") && msg.contains("18081"),
        "{msg}"
    );
    assert!(!s.containers[0].ready);
    // The first pod is unaffected.
    assert!(n.rt.pod_state("uid-coll-a").unwrap().containers[0]
        .state
        .is_running());
}
