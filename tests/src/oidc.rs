//! A real OpenID Connect provider for tests: panva's certified `oidc-provider` (npm, pinned in
//! `scripts/oidc/package.json`, installed by `scripts/setup.sh`) run by `scripts/oidc/provider.mjs`
//! on a free loopback port, and a [`Browser`] that walks its sign-in pages as a person would.
//!
//! | user | password | groups |
//! |---|---|---|
//! | `olga` (Olga OIDC, olga@example.com) | `olga-pass-1` | `alpha-devs`, `platform-ops` |
//! | `pete` | `pete-pass-1` | `alpha-viewers` |
//! | `quinn` | `quinn-pass-1` | none |

use reqwest::cookie::{CookieStore, Jar};
use reqwest::StatusCode;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wharf_api::identity::OidcForm;

pub const CLIENT_ID: &str = "wharf";

/// A running provider.
pub struct Provider {
    _child: Child,
    /// `http://127.0.0.1:<port>`
    pub issuer: String,
    pub client_secret: String,
    _log: tempfile::NamedTempFile,
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("oidc")
}

impl Provider {
    /// Starts a provider that knows the console at `console` (`http://127.0.0.1:<port>`) as
    /// client `wharf`, with the callback of each of `providers` (the names the console gives
    /// it) and the console's login page after logout. With `issuer`, it names itself so
    /// instead of its own URL (a provider answering with a wrong issuer).
    pub async fn start(console: &str, providers: &[&str], issuer: Option<&str>) -> Provider {
        let script = scripts().join("provider.mjs");
        assert!(
            scripts().join("node_modules/oidc-provider").is_dir(),
            "scripts/oidc/node_modules is missing: run scripts/setup.sh (it runs npm ci --prefix scripts/oidc)"
        );
        let client_secret = format!("secret-{}", std::process::id());
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .args(["--port", "0", "--client-id", CLIENT_ID])
            .args(["--client-secret", &client_secret])
            .args(["--post-logout-redirect-uri", &format!("{console}/login")]);
        for p in providers {
            cmd.args([
                "--redirect-uri",
                &wharf_api::routes::oidc_callback(console, p),
            ]);
        }
        if let Some(issuer) = issuer {
            cmd.args(["--issuer", issuer]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node is missing ({e}): run scripts/setup.sh"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the OIDC provider did not start within 60 s: {}",
                    read(&log)
                )
            })
            .unwrap()
            .unwrap_or_else(|| panic!("the OIDC provider exited: {}", read(&log)));
        let url = ready
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the OIDC provider said {ready:?}"))
            .to_string();
        Provider {
            _child: child,
            issuer: url,
            client_secret,
            _log: log,
        }
    }

    /// The identity page's form for this provider, named `name`.
    pub fn form(&self, name: &str) -> OidcForm {
        OidcForm {
            name: name.into(),
            display_name: "Corp SSO".into(),
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: self.client_secret.clone(),
            ..OidcForm::usual()
        }
    }

    /// Signs with a new key from now on (the old one stays published).
    pub async fn rotate_keys(&self) -> String {
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/_test/rotate-keys", self.issuer))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["current"].as_str().unwrap().to_string()
    }

    /// Puts `user` in exactly `groups` (seen at their next login).
    pub async fn set_groups(&self, user: &str, groups: &[&str]) {
        reqwest::Client::new()
            .post(format!("{}/_test/groups", self.issuer))
            .json(&serde_json::json!({"user": user, "groups": groups}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
}

fn read(log: &tempfile::NamedTempFile) -> String {
    std::fs::read_to_string(log.path()).unwrap_or_default()
}

/// A browser: keeps cookies, follows no redirect by itself (each hop is the test's to see).
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
}

/// One answer: its status, where it sends the browser (absolute), the cookies it sets, its body.
#[derive(Debug)]
pub struct Hop {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Hop {
    /// The `Set-Cookie` of cookie `name`, if the answer sets it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Browser { http, jar }
    }

    async fn hop(&self, req: reqwest::RequestBuilder) -> Hop {
        let res = req.send().await.expect("the request is answered");
        let status = res.status();
        let base = res.url().clone();
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| base.join(l).expect("a Location URL").to_string());
        let set_cookies = res
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok().map(str::to_string))
            .collect();
        let body = res.text().await.unwrap_or_default();
        Hop {
            status,
            location,
            set_cookies,
            body,
        }
    }

    pub async fn get(&self, url: &str) -> Hop {
        self.hop(self.http.get(url)).await
    }

    /// Calls a server function of the console at `console` with this browser's cookies.
    pub async fn call(&self, console: &str, endpoint: &str, args: serde_json::Value) -> Hop {
        self.hop(
            self.http
                .post(format!("{console}/api/{endpoint}"))
                .json(&args),
        )
        .await
    }

    /// Follows redirects from `url` while they stay below `within`; the last answer (one that
    /// sends the browser elsewhere, or a page).
    pub async fn follow(&self, url: &str, within: &str) -> Hop {
        let mut hop = self.get(url).await;
        for _ in 0..10 {
            match &hop.location {
                Some(next) if next.starts_with(within) => {
                    let next = next.clone();
                    hop = self.get(&next).await;
                }
                _ => return hop,
            }
        }
        panic!("more than 10 redirects from {url}");
    }

    /// From the console's login button for `name` through the provider's sign-in page as
    /// `user` (skipped when the provider's own session is alive): the callback URL the
    /// provider sends the browser back to, not yet followed.
    pub async fn to_callback(
        &self,
        console: &str,
        provider: &Provider,
        name: &str,
        user: &str,
        password: &str,
    ) -> String {
        let start = format!("{console}{}", wharf_api::routes::oidc_start(name));
        let hop = self.get(&start).await;
        let to = hop
            .location
            .unwrap_or_else(|| panic!("start answered {} {}", hop.status, hop.body));
        assert!(
            to.starts_with(&provider.issuer),
            "start sent the browser to {to}"
        );
        let mut page = self.follow(&to, &provider.issuer).await;
        if page.location.is_none() {
            // the provider's sign-in page: its form posts to /interaction/<uid>/login
            let action = page
                .body
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no form on the sign-in page: {}", page.body))
                .to_string();
            let posted = self
                .hop(
                    self.http
                        .post(format!("{}{action}", provider.issuer))
                        .form(&[("username", user), ("password", password)]),
                )
                .await;
            let next = posted
                .location
                .unwrap_or_else(|| panic!("sign-in as {user} refused: {}", posted.body));
            page = self.follow(&next, &provider.issuer).await;
        }
        let back = page
            .location
            .unwrap_or_else(|| panic!("the provider did not send the browser back: {}", page.body));
        assert!(back.starts_with(console), "sent back to {back}");
        back
    }

    /// On the provider's "sign out?" page (which a real browser submits by script): presses
    /// "Sign out", and follows the provider's redirects; the last answer.
    pub async fn confirm_logout(&self, provider: &Provider, page: &Hop) -> Hop {
        let attr = |name: &str| {
            page.body
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no {name} on the logout page: {}", page.body))
                .to_string()
        };
        let (action, xsrf) = (attr("action"), attr("value"));
        let posted = self
            .hop(
                self.http
                    .post(&action)
                    .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")]),
            )
            .await;
        match &posted.location {
            Some(next) if next.starts_with(&provider.issuer) => {
                self.follow(next, &provider.issuer).await
            }
            _ => posted,
        }
    }

    /// The cookie `name` the browser holds for `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let header = self.jar.cookies(&url.parse().unwrap())?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}
