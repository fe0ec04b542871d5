//! The `wharf` binary as an installer meets it: on a cluster without users, `wharf serve` prints
//! the first admin's one-time password; the admin logs in with it, must choose their own, and
//! works; a `kill -9` of the console loses no audit record of an answered action.

mod support;

use serde_json::json;
use support::{folders, serve, sim, Client};

#[tokio::test]
async fn the_first_admin_sets_a_password_and_a_crash_loses_no_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, logs, site) = folders(dir.path());
    let _sim = sim(&kubeconfig).await;

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
