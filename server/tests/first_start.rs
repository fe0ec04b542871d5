//! The `wharf` binary as an installer meets it: on a cluster without users, `wharf serve` prints
//! the first admin's one-time password; the admin logs in with it, must choose their own, and
//! works; a `kill -9` of the console loses no audit record of an answered action.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WHARF: &str = env!("CARGO_BIN_EXE_wharf");

/// Waits for `path` to exist.
async fn file_appears(path: &Path) {
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
struct Started {
    child: Child,
    addr: String,
    password: Option<String>,
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// Starts `wharf serve` and reads its output until it listens.
async fn serve(kubeconfig: &Path, logs: &Path, site: &Path) -> Started {
    let mut child = Command::new(WHARF)
        .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--logs")
        .arg(logs)
        .arg("--site-dir")
        .arg(site)
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
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(addr: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
        }
    }
    async fn call(&self, endpoint: &str, args: Value) -> (u16, Value) {
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

#[tokio::test]
async fn the_first_admin_sets_a_password_and_a_crash_loses_no_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let (logs, site) = (dir.path().join("logs"), dir.path().join("site"));
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<html></html>").unwrap();
    let _sim = Command::new(WHARF)
        .args([
            "sim",
            "--ephemeral",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting wharf sim");
    file_appears(&kubeconfig).await;

    let mut first = serve(&kubeconfig, &logs, &site).await;
    let password = first
        .password
        .clone()
        .expect("the first start prints a password");
    let admin = Client::new(&first.addr);
    let (status, me) = admin
        .call("login", json!({"username": "admin", "password": password}))
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["must_change_password"], true);
    let (status, _) = admin.call("users", json!({})).await;
    assert_eq!(status, 403, "nothing before the password is chosen");
    let (status, body) = admin
        .call(
            "change_password",
            json!({"current": password, "new": "the admin's own password"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin
        .call(
            "create_user",
            json!({"form": {"name": "carol", "display_name": "", "password": "one-time pass", "platform_admin": false}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // both answers arrived: now the console dies without a chance to flush anything
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    let second = serve(&kubeconfig, &logs, &site).await;
    assert_eq!(second.password, None, "users exist: no new first admin");
    let admin = Client::new(&second.addr);
    let (status, _) = admin
        .call(
            "login",
            json!({"username": "admin", "password": "the admin's own password"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, records) = admin
        .call("audit_records", json!({"filter": {"user": "admin", "tenant": "", "action": "", "outcome": "", "from": "", "to": "", "limit": 50}}))
        .await;
    assert_eq!(status, 200, "{records}");
    let actions: Vec<(&str, &str)> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let outcome = if r["outcome"] == "Ok" { "ok" } else { "not ok" };
            (r["action"].as_str().unwrap(), outcome)
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("login", "ok"),
            ("create_user", "ok"),
            ("change_password", "ok"),
            ("login", "ok")
        ],
        "newest first: {records}"
    );
}
