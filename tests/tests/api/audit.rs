//! The audit log through the console: changes recorded in order with their user, tenant,
//! target and outcome (a refusal as refused, with its reason), reads not recorded, and the
//! records shown to platform admins (all) and a tenant's admins (theirs) only.

use reqwest::StatusCode;
use serde_json::{json, Value};
use wharf_tests::{on_both_clusters, TestApp};

on_both_clusters!(
    changes_are_recorded_in_order_with_their_outcome,
    only_admins_read_the_audit_log_and_tenant_admins_only_theirs,
);

fn filter(extra: Value) -> Value {
    let mut f = json!({"user": "", "tenant": "", "action": "", "outcome": "", "from": "", "to": "", "limit": 100});
    f.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({ "filter": f })
}

/// (action, user, tenant, outcome label) of each record, newest first.
fn rows(records: &Value) -> Vec<(String, String, String, String)> {
    records
        .as_array()
        .unwrap_or_else(|| panic!("records: {records}"))
        .iter()
        .map(|r| {
            let outcome = match &r["outcome"] {
                Value::String(s) => s.to_lowercase(),
                Value::Object(o) => o.keys().next().unwrap().to_lowercase(),
                other => panic!("outcome {other}"),
            };
            (
                r["action"].as_str().unwrap().to_string(),
                r["user"].as_str().unwrap().to_string(),
                r["tenant"].as_str().unwrap().to_string(),
                outcome,
            )
        })
        .collect()
}

async fn changes_are_recorded_in_order_with_their_outcome(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    alice.deploy("alpha", "audited", 1, 80).await;
    // a read is not recorded
    alice
        .call("workloads", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    // a refusal is
    let bob = app.login("bob").await.unwrap();
    let (status, _) = bob
        .call(
            "scale_app",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "audited", "replicas": 5}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    // and so is a failed login
    assert!(app.login_with("alice", "wrong password").await.is_err());

    let admin = app.login("admin").await.unwrap();
    let (status, records) = admin
        .call("audit_records", filter(json!({"tenant": "alpha"})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{records}");
    let got = rows(&records);
    let want = [
        ("scale_app", "bob", "alpha", "refused"),
        ("deploy_app", "alice", "alpha", "ok"),
    ];
    let got_short: Vec<(&str, &str, &str, &str)> = got
        .iter()
        .map(|(a, u, t, o)| (a.as_str(), u.as_str(), t.as_str(), o.as_str()))
        .collect();
    assert_eq!(got_short, want, "{records}");
    let refused = &records[0];
    assert!(
        refused["outcome"]["Refused"]
            .as_str()
            .is_some_and(|r| r.contains("no access to tenant 'alpha'")),
        "{refused}"
    );
    assert_eq!(
        records[1]["target"],
        "namespace=alpha name=audited replicas=1 image=nginx:1.25"
    );
    assert!(!records[1]["client"].as_str().unwrap().is_empty());
    // the failed login is a platform record (no tenant), refused
    let (_, logins) = admin
        .call(
            "audit_records",
            filter(json!({"action": "login", "outcome": "refused"})),
        )
        .await
        .unwrap();
    assert_eq!(logins[0]["target"], "password", "how they tried: {logins}");
    let logins = rows(&logins);
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0].1, "alice");
    // filters by user
    let (_, mine) = admin
        .call("audit_records", filter(json!({"user": "bob"})))
        .await
        .unwrap();
    assert!(rows(&mine).iter().all(|r| r.1 == "bob"));
    assert!(rows(&mine).iter().any(|r| r.0 == "scale_app"));
}

async fn only_admins_read_the_audit_log_and_tenant_admins_only_theirs(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    alice
        .call(
            "restart_app",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "nothing-here"}),
        )
        .await
        .unwrap();
    let bob = app.login("bob").await.unwrap();
    bob.call(
        "restart_app",
        json!({"tenant": "beta", "namespace": "beta", "name": "nothing-here"}),
    )
    .await
    .unwrap();
    let ada = app.login("ada").await.unwrap();
    let (status, records) = ada
        .call("audit_records", filter(json!({"tenant": "alpha"})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{records}");
    let got = rows(&records);
    assert!(got.iter().any(|r| r.0 == "restart_app" && r.1 == "alice"));
    assert!(got.iter().all(|r| r.2 == "alpha"), "{got:?}");
    for args in [filter(json!({"tenant": "beta"})), filter(json!({}))] {
        let (status, body) = ada.call("audit_records", args).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    for user in ["alice", "vera", "bob"] {
        let s = app.login(user).await.unwrap();
        let (status, _) = s
            .call("audit_records", filter(json!({"tenant": "alpha"})))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
    }
}
