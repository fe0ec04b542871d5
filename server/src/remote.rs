//! Using a console from scripts: `wharf login`, `wharf call`, `wharf logout`.
//!
//! * `wharf login --server URL [--user NAME] [--password-stdin] [--read-only] [--days N]`
//!   signs in once with a password (asked without echo, or read from standard input), makes
//!   a personal API token with it (`create_api_token`, named after this machine) and keeps the
//!   token in the credentials file. The password and the session are never stored.
//! * `wharf call FUNCTION [JSON]` calls a server function of that console with the token
//!   (`Authorization: Bearer`) and prints its JSON answer: the same functions the pages call,
//!   with the same checks (`wharf call list_pods '{"tenant":"alpha"}'`).
//! * `wharf logout` forgets the token here; it goes on working until revoked on the tokens
//!   page or until it expires (a token cannot revoke tokens).
//!
//! The credentials file is `$WHARF_CREDENTIALS`, else `$XDG_CONFIG_HOME/wharf/credentials.json`,
//! else `~/.config/wharf/credentials.json`, written with mode 0600. It holds one token per
//! server and which server was logged in last.
//!
//! Errors are the console's own (`AppError`) in English; exit code 2 for the user's input or a
//! refusal, 1 for anything else.

use anyhow::{anyhow, Context};
use clap::Args;
use reqwest::{header, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use wharf_api::error::AppError;
use wharf_api::tokens::{NewToken, TokenForm, TokenScope};

/// `wharf login`'s flags.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The console's address, e.g. https://wharf.example.com.
    #[arg(long, env = "WHARF_SERVER")]
    pub server: String,
    /// The user name (asked when not given).
    #[arg(long)]
    pub user: Option<String>,
    /// Read the password from standard input (one line) instead of asking.
    #[arg(long)]
    pub password_stdin: bool,
    /// A read-only token: it can look at everything the user can, and change nothing.
    #[arg(long)]
    pub read_only: bool,
    /// Days until the token expires.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// The token's name on the tokens page (default: "wharf CLI on <host name>").
    #[arg(long)]
    pub name: Option<String>,
}

/// `wharf call`'s arguments.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// The server function, as the pages call it (e.g. `workloads`, `list_pods`).
    pub function: String,
    /// Its arguments as a JSON object (default `{}`).
    pub arguments: Option<String>,
    /// Which logged-in console (default: the last one logged in to).
    #[arg(long, env = "WHARF_SERVER")]
    pub server: Option<String>,
}

/// How a command failed: the user's input or a refusal (exit 2), or anything else (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// One server's stored token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub user: String,
    pub token: String,
    pub id: String,
    pub expires: String,
}

/// The credentials file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The server logged in to last.
    pub current: Option<String>,
    pub servers: BTreeMap<String, Stored>,
}

impl Credentials {
    pub fn path() -> anyhow::Result<PathBuf> {
        if let Some(p) = std::env::var_os("WHARF_CREDENTIALS") {
            return Ok(PathBuf::from(p));
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
            .ok_or_else(|| anyhow!("neither WHARF_CREDENTIALS, XDG_CONFIG_HOME nor HOME is set"))?;
        Ok(config.join("wharf").join("credentials.json"))
    }

    pub fn load(path: &Path) -> anyhow::Result<Credentials> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a credentials file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the file readable by its owner only (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// The server's address as the key it is stored under: no trailing slash.
fn normalize(server: &str) -> Result<String, RemoteError> {
    let url = reqwest::Url::parse(server.trim())
        .map_err(|e| RemoteError::Refused(format!("--server {server}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(RemoteError::Refused(format!(
            "--server {server}: an http:// or https:// address of the console"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(concat!("wharf-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Calls `/api/<function>` and reads the answer: the JSON on success, the console's
/// [`AppError`] as a refusal otherwise.
async fn call_raw(
    client: &reqwest::Client,
    server: &str,
    function: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> Result<serde_json::Value, RemoteError> {
    let mut req = client
        .post(format!("{server}/api/{function}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let answer = req
        .send()
        .await
        .with_context(|| format!("reaching {server}"))?;
    let status = answer.status();
    let text = answer.text().await.context("reading the answer")?;
    if status.is_success() {
        return serde_json::from_str(&text)
            .with_context(|| format!("{server} answered {function} with no JSON"))
            .map_err(RemoteError::Failed);
    }
    let why = match serde_json::from_str::<AppError>(&text) {
        Ok(e) => e.to_string(),
        Err(_) if status == StatusCode::NOT_FOUND => {
            format!("{server} has no server function '{function}'")
        }
        Err(_) => format!("{status}: {}", text.trim()),
    };
    Err(RemoteError::Refused(why))
}

/// One line of standard input, without its line ending.
fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    use std::io::Write;
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    read_line()
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".into())
}

/// `wharf login`: a password once, a token kept.
pub async fn login(args: LoginArgs) -> Result<(), RemoteError> {
    let server = normalize(&args.server)?;
    let user = match args.user {
        Some(u) => u,
        None => ask("User: ")?,
    };
    let password = if args.password_stdin {
        read_line().context("reading the password from standard input")?
    } else {
        rpassword::prompt_password("Password: ").context("reading the password")?
    };
    let form = TokenForm {
        name: args
            .name
            .unwrap_or_else(|| format!("wharf CLI on {}", host_name())),
        scope: if args.read_only {
            TokenScope::ReadOnly
        } else {
            TokenScope::Full
        },
        days: args.days,
    };
    // NB: the form's own checks first, so a bad --days costs no login attempt.
    wharf_api::tokens::check(&form).map_err(|t| RemoteError::Refused(t.en.to_string()))?;
    let client = http()?;
    let me = call_raw(
        &client,
        &server,
        "login",
        &serde_json::json!({"username": user, "password": password}),
        None,
    )
    .await?;
    if me["must_change_password"] == true {
        return Err(RemoteError::Refused(format!(
            "{user} must choose a new password first: log in at {server} once, then run wharf login again"
        )));
    }
    let made = call_raw(
        &client,
        &server,
        "create_api_token",
        &serde_json::json!({ "form": form }),
        None,
    )
    .await?;
    // NB: the session cookie stays in this process's memory and is never written anywhere.
    // It is not logged out: the console's logout ends every session of the user, and would
    // sign them out of their browser too.
    let made: NewToken = serde_json::from_value(made).context("reading the new token")?;
    let path = Credentials::path()?;
    let mut credentials = Credentials::load(&path)?;
    credentials.servers.insert(
        server.clone(),
        Stored {
            user: user.clone(),
            token: made.token,
            id: made.info.id.clone(),
            expires: made.info.expires.clone(),
        },
    );
    credentials.current = Some(server.clone());
    credentials.save(&path)?;
    eprintln!(
        "Logged in to {server} as {user}: token {} ({}) until {}, kept in {}",
        made.info.id,
        form.scope.label(),
        made.info.expires,
        path.display()
    );
    Ok(())
}

/// The stored token for `server` (or the last one logged in to).
fn stored(server: Option<&str>) -> Result<(String, Stored), RemoteError> {
    let path = Credentials::path()?;
    let credentials = Credentials::load(&path)?;
    let server = match server {
        Some(s) => normalize(s)?,
        None => credentials.current.clone().ok_or_else(|| {
            RemoteError::Refused("not logged in: run wharf login --server URL first".into())
        })?,
    };
    let found = credentials.servers.get(&server).cloned().ok_or_else(|| {
        RemoteError::Refused(format!(
            "not logged in to {server}: run wharf login --server {server}"
        ))
    })?;
    Ok((server, found))
}

/// `wharf call`: one server function with the stored token; its JSON answer on stdout.
pub async fn call(args: CallArgs) -> Result<(), RemoteError> {
    let (server, stored) = stored(args.server.as_deref())?;
    let body: serde_json::Value = match args.arguments.as_deref() {
        None => serde_json::json!({}),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| RemoteError::Refused(format!("the arguments are not JSON: {e}")))?,
    };
    if !body.is_object() {
        return Err(RemoteError::Refused(
            "the arguments are one JSON object, e.g. '{\"tenant\":\"alpha\"}'".into(),
        ));
    }
    let function = args.function.trim();
    if function.is_empty()
        || !function
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(RemoteError::Refused(format!(
            "'{function}' is not a server function's name"
        )));
    }
    let answer = call_raw(&http()?, &server, function, &body, Some(&stored.token)).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).context("printing the answer")?
    );
    Ok(())
}

/// `wharf logout`: forgets the stored token of `server` (or the current one).
pub async fn logout(server: Option<String>) -> Result<(), RemoteError> {
    let path = Credentials::path()?;
    let mut credentials = Credentials::load(&path)?;
    let (server, stored) = stored(server.as_deref())?;
    credentials.servers.remove(&server);
    if credentials.current.as_deref() == Some(server.as_str()) {
        credentials.current = credentials.servers.keys().next().cloned();
    }
    credentials.save(&path)?;
    eprintln!(
        "Forgot the token {} for {server}. It works until it expires ({}) unless you revoke it on the console's tokens page.",
        stored.id, stored.expires
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_stored_under_one_spelling() {
        assert_eq!(
            normalize("https://wharf.example.com/").unwrap(),
            "https://wharf.example.com"
        );
        assert_eq!(
            normalize(" http://127.0.0.1:8080 ").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize("wharf.example.com").is_err());
        assert!(normalize("ftp://wharf.example.com").is_err());
    }

    #[test]
    fn the_credentials_file_is_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/credentials.json");
        assert_eq!(Credentials::load(&path).unwrap(), Credentials::default());
        let mut c = Credentials {
            current: Some("https://a".into()),
            ..Default::default()
        };
        c.servers.insert(
            "https://a".into(),
            Stored {
                user: "alice".into(),
                token: "wharf_x_y".into(),
                id: "x".into(),
                expires: "2027-01-01T00:00:00Z".into(),
            },
        );
        c.save(&path).unwrap();
        assert_eq!(Credentials::load(&path).unwrap(), c);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
