//! Login attempts are limited per client and per user name, counted before any password is
//! checked, and failed ones are counted on the user for the platform admins.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_console::auth::throttle::{Limits, Rate};
use wharf_tests::TestApp;

/// Limits that do not refill while the test runs, and loopback as a trusted proxy, so each
/// request says which client it is for.
async fn spawn() -> TestApp {
    let hour = Duration::from_secs(3600);
    let settings = wharf_console::state::Settings {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        login_limits: Limits {
            per_client: Rate {
                burst: 30,
                every: hour,
            },
            per_user: Rate {
                burst: 10,
                every: hour,
            },
            ..Limits::default()
        },
        ..Default::default()
    };
    wharf_tests::spawn_app_with(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// One login from `client`: the status, `Retry-After` and the body.
async fn login(
    http: &reqwest::Client,
    app: &TestApp,
    client: &str,
    user: &str,
    password: &str,
) -> (StatusCode, Option<u64>, Value) {
    let res = http
        .post(app.url("/api/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = res.json().await.unwrap_or_default();
    (status, retry, body)
}

#[tokio::test]
async fn wrong_passwords_sent_at_once_are_counted_at_once_and_refused_with_429() {
    let app = spawn().await;
    let http = reqwest::Client::new();

    // 400 at once at one user from one client: the user's 10 are checked, the rest refused
    // before any password is looked at, saying when to come back
    let answers = futures::future::join_all(
        (0..400).map(|_| login(&http, &app, "198.51.100.1", "alice", "guess")),
    )
    .await;
    let checked = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 10, "{:?}", &answers[..3]);
    for (status, retry, body) in answers
        .iter()
        .filter(|(s, _, _)| *s != StatusCode::UNAUTHORIZED)
    {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let secs = body["TooManyAttempts"].as_u64().expect("TooManyAttempts");
        assert!((1..=3600).contains(&secs), "{body}");
        assert_eq!(*retry, Some(secs));
    }

    // the user name stays shut, from anywhere, even with the right password...
    let (status, _, _) = login(
        &http,
        &app,
        "198.51.100.2",
        "alice",
        wharf_tests::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ... while the client may still sign in others (10 of its 30 used)
    let (status, _, body) = login(
        &http,
        &app,
        "198.51.100.1",
        "bob",
        wharf_tests::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // one client trying many names gets its 30, then waits
    let mut statuses = Vec::new();
    for n in 0..31 {
        let (s, _, _) = login(&http, &app, "198.51.100.3", &format!("nobody-{n}"), "guess").await;
        statuses.push(s);
    }
    assert!(
        statuses[..30]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[30], StatusCode::TOO_MANY_REQUESTS);

    // the platform admins see alice's failures counted, one by one; bob's success left none
    let admin = app.login("admin").await.unwrap();
    let (_, users) = admin.call("users", json!({})).await.unwrap();
    let row = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("alice")["failed_logins"], 10, "{users}");
    assert!(row("alice")["last_failed_login"].is_string(), "{users}");
    assert_eq!(row("bob")["failed_logins"], 0, "{users}");
}

/// A successful login clears the user's count of failures.
#[tokio::test]
async fn a_successful_login_clears_the_count() {
    let app = spawn().await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let (s, _, _) = login(&http, &app, "198.51.100.9", "vera", "guess").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let admin = app.login("admin").await.unwrap();
    let failed = |users: &Value| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "vera")
            .map(|u| u["failed_logins"].clone())
    };
    let (_, users) = admin.call("users", json!({})).await.unwrap();
    assert_eq!(failed(&users), Some(json!(3)), "{users}");
    app.login("vera").await.unwrap();
    let (_, users) = admin.call("users", json!({})).await.unwrap();
    assert_eq!(failed(&users), Some(json!(0)), "{users}");
}
