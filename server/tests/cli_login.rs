//! `wharf login`, `wharf call` and `wharf logout` as a script uses them, against a console and
//! an empty demo cluster started as processes: a password once, a token kept (owner-only
//! file), the same server functions with the same checks, nothing kept after a wrong
//! password, a read-only token that changes nothing, a revoked token refused, and the
//! user's browser session untouched by the CLI's login.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use support::{folders, serve, sim, Client, WHARF};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// What one `wharf …` run printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `wharf args…` with `credentials` as its credentials file and `stdin` as its input.
async fn wharf(credentials: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(WHARF)
        .args(args)
        .env("WHARF_CREDENTIALS", credentials)
        .env_remove("WHARF_SERVER")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting wharf");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `wharf login` as the admin, the password read from standard input.
fn login_args<'a>(server: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "login",
        "--server",
        server,
        "--user",
        "admin",
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    args
}

fn stored(credentials: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(credentials).unwrap()).unwrap()
}

#[tokio::test]
async fn a_script_logs_in_once_and_calls_with_a_token_until_it_is_revoked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, logs, site) = folders(dir.path());
    let _sim = sim(&kubeconfig).await;
    let console = serve(&kubeconfig, &logs, &site).await;
    let first = console.password.clone().expect("a first admin");
    let browser = Client::new(&console.addr);
    let (status, _) = browser
        .call("login", json!({"username": "admin", "password": first}))
        .await;
    assert_eq!(status, 200);
    let server = format!("http://{}", console.addr);
    let creds = dir.path().join("credentials.json");
    let args = login_args(&server, &[]);

    // a user who must choose a password first gets no token
    let run = wharf(&creds, &args, &format!("{first}\n")).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("must choose a new password"),
        "{}",
        run.stderr
    );
    assert!(!creds.exists(), "nothing kept");
    let (status, body) = browser
        .call(
            "change_password",
            json!({"current": first, "new": "the admin's own password"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // a wrong password: refused, nothing kept
    let run = wharf(&creds, &args, "not the password\n").await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("Wrong user name or password"),
        "{}",
        run.stderr
    );
    assert!(!creds.exists(), "nothing kept");

    // the right one: a token kept where only its owner reads it
    let run = wharf(&creds, &args, "the admin's own password\n").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let kept = stored(&creds);
    assert_eq!(kept["current"], server.as_str());
    let token = kept["servers"][&server]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("wharf_"), "{kept}");
    assert!(
        !std::fs::read_to_string(&creds)
            .unwrap()
            .contains("the admin's own password"),
        "the password is never kept"
    );

    // the browser's session goes on
    let (status, _) = browser.call("whoami", json!({})).await;
    assert_eq!(status, 200, "the CLI's login ends no session");

    // calls as its user
    let run = wharf(&creds, &["call", "whoami"], "").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["name"], "admin");
    let run = wharf(
        &creds,
        &[
            "call",
            "create_user",
            r#"{"form": {"name": "dave", "display_name": "", "password": "one-time pass", "platform_admin": false}}"#,
        ],
        "",
    )
    .await;
    assert_eq!(
        run.code, 0,
        "a full token changes what its user may: {}",
        run.stderr
    );
    let run = wharf(&creds, &["call", "users"], "").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let users = run.json();
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "dave"),
        "{users}"
    );

    // but it cannot make itself another token
    let run = wharf(
        &creds,
        &[
            "call",
            "create_api_token",
            r#"{"form": {"name": "longer", "scope": "Full", "days": 366}}"#,
        ],
        "",
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("API token cannot"), "{}", run.stderr);

    // arguments that are not one JSON object are refused here
    for bad in ["[1]", "{not json"] {
        let run = wharf(&creds, &["call", "whoami", bad], "").await;
        assert_eq!(run.code, 2, "{bad}: {}", run.stdout);
    }
    let run = wharf(&creds, &["call", "../login", "{}"], "").await;
    assert_eq!(run.code, 2, "{}", run.stdout);

    // a read-only token reads and changes nothing
    let ro = dir.path().join("read-only.json");
    let run = wharf(
        &ro,
        &login_args(&server, &["--read-only"]),
        "the admin's own password\n",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = wharf(&ro, &["call", "users"], "").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = wharf(
        &ro,
        &[
            "call",
            "create_user",
            r#"{"form": {"name": "erin", "display_name": "", "password": "one-time pass", "platform_admin": false}}"#,
        ],
        "",
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("read-only API token"), "{}", run.stderr);

    // revoked from the browser: refused at once
    let id = stored(&creds)["servers"][&server]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = browser.call("revoke_api_token", json!({"id": id})).await;
    assert_eq!(status, 200, "{body}");
    let run = wharf(&creds, &["call", "whoami"], "").await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("Please log in"), "{}", run.stderr);

    // logout forgets it here
    let run = wharf(&creds, &["logout"], "").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&id), "{}", run.stderr);
    assert_eq!(stored(&creds)["servers"], json!({}));
    let run = wharf(&creds, &["call", "whoami"], "").await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not logged in"), "{}", run.stderr);
}
