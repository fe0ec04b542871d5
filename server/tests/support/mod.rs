//! What the binary's tests share: a demo cluster and a console started as processes, and a
//! cookie-keeping client.
#![allow(dead_code)] // each test file uses its own part

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const WHARF: &str = env!("CARGO_BIN_EXE_wharf");

/// Waits for `path` to exist.
pub async fn file_appears(path: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} did not appear within 60 s",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a starting console says: its address, and the bootstrap password if it made one.
pub struct Started {
    pub child: Child,
    pub addr: String,
    pub password: Option<String>,
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// Starts `wharf serve` and reads its output until it listens.
pub async fn serve(kubeconfig: &Path, logs: &Path, site: &Path) -> Started {
    serve_with(kubeconfig, logs, site, &[], &[]).await
}

/// [`serve`] with more flags and environment.
pub async fn serve_with(
    kubeconfig: &Path,
    logs: &Path,
    site: &Path,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Started {
    let mut child = Command::new(WHARF)
        .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--logs")
        .arg(logs)
        .arg("--site-dir")
        .arg(site)
        .args(flags)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting wharf serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut password = None;
    let addr = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.expect("reading its output") {
            let line = strip_ansi(&line);
            if let Some(rest) = after(&line, "password `") {
                password = rest.split('`').next().map(str::to_string);
            }
            if line.contains("console listening") {
                let addr = after(&line, "addr=")
                    .expect("the address")
                    .trim()
                    .to_string();
                return addr;
            }
        }
        panic!("wharf serve ended before listening");
    })
    .await
    .expect("wharf serve did not listen within 90 s");
    // keep draining its output so it never blocks on a full pipe
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Started {
        child,
        addr,
        password,
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A cookie-keeping client of one console.
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
        }
    }
    /// `GET <path>` (a download): its status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("calling the console");
        (res.status().as_u16(), res.text().await.unwrap())
    }

    pub async fn call(&self, endpoint: &str, args: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .json(&args)
            .send()
            .await
            .expect("calling the console");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// The kubeconfig, log store and site folders of a test under `dir` (a stand-in site).
pub fn folders(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (kubeconfig, logs, site) = (dir.join("kubeconfig"), dir.join("logs"), dir.join("site"));
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<html></html>").unwrap();
    (kubeconfig, logs, site)
}

/// Starts an empty demo cluster (`wharf sim --ephemeral`) writing its kubeconfig to `kubeconfig`.
pub async fn sim(kubeconfig: &Path) -> Child {
    let child = Command::new(WHARF)
        .args([
            "sim",
            "--ephemeral",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig-out",
        ])
        .arg(kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting wharf sim");
    file_appears(kubeconfig).await;
    child
}
