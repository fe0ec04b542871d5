//! A minimal HTTP/1.0 client for loopback: the agent's calls to nginx's
//! control server, and the probes of tests and benchmarks.
//!
//! HTTP/1.0 with `Connection: close` keeps it trivial: nginx then sends no
//! chunked encoding and closes after the body, so the body is "read to EOF".
//! Not a general client; nothing here leaves 127.0.0.1 in practice.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Status and body of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One request; `host` sets the Host header (the virtual host to hit).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    body: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<Response> {
    request_with(addr, method, path, host, &[], body, timeout).await
}

/// [`request`] with extra headers (the control endpoint's token).
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<Response> {
    tokio::time::timeout(timeout, async {
        let mut s = TcpStream::connect(addr).await?;
        let host = host.map(str::to_string).unwrap_or_else(|| addr.to_string());
        let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n");
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Length: {}\r\nContent-Type: text/plain\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        s.write_all(&bytes).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        parse(&buf)
    })
    .await
    .map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{method} {addr}{path} timed out"),
        )
    })?
}

/// GET with a Host header.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<Response> {
    request(addr, "GET", path, Some(host), None, Duration::from_secs(5)).await
}

fn parse(buf: &[u8]) -> std::io::Result<Response> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&buf[..split]).map_err(|_| bad())?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&buf[split + 4..]).into_owned(),
    })
}
