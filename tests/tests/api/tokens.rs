//! API tokens for scripts and CI: made through a session and shown once, sent as
//! `Authorization: Bearer`, held to what their user may do at every call, revoked, expired,
//! forged — on the demo cluster and on a real kube-apiserver. (Every entry point's refusals
//! with a token are in `authorization.rs`.)

use crate::authorization::token_of;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use wharf_tests::{on_both_clusters, TestApp};

on_both_clusters!(
    a_token_calls_as_its_user_until_revoked,
    a_token_cannot_manage_tokens_or_passwords,
    a_token_never_outlives_its_users_access,
    an_expired_or_forged_token_is_refused,
    bad_token_forms_are_refused_and_change_nothing,
    a_token_s_calls_are_audited_as_the_token,
);

fn secrets(app: &TestApp) -> Api<Secret> {
    Api::namespaced(app.kube.clone(), "wharf-system")
}

async fn status_of(
    s: &wharf_tests::Session,
    endpoint: &str,
    args: serde_json::Value,
) -> StatusCode {
    s.call(endpoint, args).await.unwrap().0
}

fn pods_query() -> serde_json::Value {
    json!({"tenant": "alpha", "query": {"app": null, "namespace": "alpha", "filter": "", "offset": 0, "limit": 50}})
}

async fn a_token_calls_as_its_user_until_revoked(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let (status, made) = alice
        .call(
            "create_api_token",
            json!({"form": {"name": " ci deploy ", "scope": "Full", "days": 30}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["info"]["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("wharf_") && token.contains(&id));
    assert_eq!(made["info"]["name"], "ci deploy");
    // the cluster keeps the hash only
    let stored = secrets(&app)
        .get(&format!("wharf-token-{id}"))
        .await
        .unwrap();
    let secret = token.rsplit('_').next().unwrap();
    let serialized = serde_json::to_string(&stored).unwrap();
    assert!(!serialized.contains(secret), "the token's secret is stored");

    let script = app.with_token(&token);
    let (status, me) = script.call("whoami", json!({})).await.unwrap();
    assert_eq!(
        (status, me["name"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    assert_eq!(
        status_of(&script, "list_pods", pods_query()).await,
        StatusCode::OK
    );
    alice.deploy("alpha", "shop", 1, 80).await;
    let (status, body) = script
        .call(
            "scale_app",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "shop", "replicas": 2}),
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "a full token changes what its user may: {body}"
    );

    // the list shows it, with its use
    let listed =
        wharf_tests::eventually(Duration::from_secs(20), "the token's last use", || async {
            let (_, list) = alice.call("api_tokens", json!({})).await.unwrap();
            let row = list
                .as_array()?
                .iter()
                .find(|t| t["id"] == id.as_str())?
                .clone();
            row["last_used"].is_string().then_some(row)
        })
        .await
        .unwrap();
    assert_eq!(listed["scope"], "Full");

    let (status, _) = alice
        .call("revoke_api_token", json!({"id": id}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        status_of(&script, "whoami", json!({})).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&script, "list_pods", pods_query()).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = alice
        .call("revoke_api_token", json!({"id": id}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "revoked twice");
}

async fn a_token_cannot_manage_tokens_or_passwords(app: TestApp) {
    let token = token_of(&app, "alice", "Full").await;
    let script = app.with_token(&token);
    let id = wharf_api::tokens::split(&token).unwrap().0.to_string();
    for (endpoint, args) in [
        ("api_tokens", json!({})),
        (
            "create_api_token",
            json!({"form": {"name": "longer", "scope": "Full", "days": 366}}),
        ),
        ("revoke_api_token", json!({"id": id})),
        (
            "change_password",
            json!({"current": wharf_tests::DEMO_PASSWORD, "new": "taken over!"}),
        ),
    ] {
        let (status, body) = script.call(endpoint, args).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint}: {body}");
    }
    // someone else's token is not theirs to revoke, and looks like none
    let bob = app.login("bob").await.unwrap();
    let (status, _) = bob
        .call("revoke_api_token", json!({"id": id}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let alice = app.login("alice").await.unwrap();
    let (_, list) = alice.call("api_tokens", json!({})).await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        status_of(&script, "whoami", json!({})).await,
        StatusCode::OK
    );
    app.login_with("alice", wharf_tests::DEMO_PASSWORD)
        .await
        .unwrap();
}

async fn a_token_never_outlives_its_users_access(app: TestApp) {
    let token = token_of(&app, "alice", "Full").await;
    let script = app.with_token(&token);
    let admin = app.login("admin").await.unwrap();
    let ada = app.login("ada").await.unwrap();
    // out of the tenant: refused there at once
    let (status, body) = ada
        .call("remove_member", json!({"tenant": "alpha", "user": "alice"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        status_of(&script, "list_pods", pods_query()).await,
        StatusCode::FORBIDDEN
    );
    let (status, body) = ada
        .call(
            "add_member",
            json!({"tenant": "alpha", "user": "alice", "role": "Viewer"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        status_of(&script, "list_pods", pods_query()).await,
        StatusCode::OK
    );
    let scale = json!({"tenant": "alpha", "namespace": "alpha", "name": "shop", "replicas": 2});
    assert_eq!(
        status_of(&script, "scale_app", scale).await,
        StatusCode::FORBIDDEN,
        "a viewer now"
    );
    // disabled: nothing
    let (status, _) = admin
        .call(
            "set_user_disabled",
            json!({"user": "alice", "disabled": true}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        status_of(&script, "whoami", json!({})).await,
        StatusCode::UNAUTHORIZED
    );
    // deleted: the token goes with the user
    let (status, _) = admin
        .call("delete_user", json!({"user": "alice"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let left = secrets(&app)
        .list(&kube::api::ListParams::default().labels("wharf.dev/token-of=alice"))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "alice's tokens outlived her");
    assert_eq!(
        status_of(&script, "whoami", json!({})).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn an_expired_or_forged_token_is_refused(app: TestApp) {
    let token = token_of(&app, "alice", "Full").await;
    let (id, secret) = wharf_api::tokens::split(&token).unwrap();
    let script = app.with_token(&token);
    assert_eq!(
        status_of(&script, "whoami", json!({})).await,
        StatusCode::OK
    );
    // forged: the right id with another secret, a wrong prefix, garbage
    let flipped: String = secret
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    for forged in [
        format!("wharf_{id}_{flipped}"),
        token.replacen("wharf_", "wharg_", 1),
        format!("{token}0"),
        "wharf_".to_string(),
    ] {
        let s = app.with_token(&forged);
        assert_eq!(
            status_of(&s, "whoami", json!({})).await,
            StatusCode::UNAUTHORIZED,
            "{forged}"
        );
    }
    // expired: its expiry moved to the past (as time would)
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    secrets(&app)
        .patch(
            &format!("wharf-token-{id}"),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"wharf.dev/token-expires": past}}})),
        )
        .await
        .unwrap();
    wharf_tests::eventually(
        Duration::from_secs(20),
        "the expired token refused",
        || async {
            (status_of(&script, "whoami", json!({})).await == StatusCode::UNAUTHORIZED)
                .then_some(())
        },
    )
    .await
    .unwrap();
    // a session cookie beside a bad token: the token is what counts
    let both = app.login("alice").await.unwrap().with_bearer(&token);
    assert_eq!(
        status_of(&both, "whoami", json!({})).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn bad_token_forms_are_refused_and_change_nothing(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    for form in [
        json!({"name": "", "scope": "Full", "days": 30}),
        json!({"name": "x".repeat(65), "scope": "Full", "days": 30}),
        json!({"name": "bell\u{7}", "scope": "Full", "days": 30}),
        json!({"name": "ci", "scope": "Full", "days": 0}),
        json!({"name": "ci", "scope": "Full", "days": 367}),
    ] {
        let (status, body) = alice
            .call("create_api_token", json!({"form": form}))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}: {body}");
        assert!(
            body.to_string().contains('令'),
            "a reason in both languages: {body}"
        );
    }
    let (status, body) = alice
        .call(
            "create_api_token",
            json!({"form": {"name": "ci", "scope": "Admin", "days": 3}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown scope: {body}");
    assert!(body.to_string().contains("Admin"), "{body}");
    assert!(body.to_string().contains('符'), "in both languages: {body}");
    let (_, list) = alice.call("api_tokens", json!({})).await.unwrap();
    assert_eq!(list, json!([]));
    // at most 50 each
    for i in 0..wharf_api::tokens::MAX_PER_USER {
        let (status, body) = alice
            .call(
                "create_api_token",
                json!({"form": {"name": format!("t{i}"), "scope": "ReadOnly", "days": 1}}),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = alice
        .call(
            "create_api_token",
            json!({"form": {"name": "one more", "scope": "ReadOnly", "days": 1}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn a_token_s_calls_are_audited_as_the_token(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    alice.deploy("alpha", "shop", 1, 80).await;
    let token = token_of(&app, "alice", "Full").await;
    let id = wharf_api::tokens::split(&token).unwrap().0.to_string();
    let script = app.with_token(&token);
    let scale = json!({"tenant": "alpha", "namespace": "alpha", "name": "shop", "replicas": 2});
    assert_eq!(status_of(&script, "scale_app", scale).await, StatusCode::OK);
    let ada = app.login("ada").await.unwrap();
    let (status, records) = ada
        .call(
            "audit_records",
            json!({"filter": {"user": "alice", "tenant": "alpha", "action": "scale_app", "outcome": "", "from": "", "to": "", "limit": 10}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{records}");
    let rows = records.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{records}");
    assert_eq!(rows[0]["token"], id.as_str());
    // the token's making is audited too (by the session: no token field)
    let admin = app.login("admin").await.unwrap();
    let (_, made) = admin
        .call(
            "audit_records",
            json!({"filter": {"user": "alice", "tenant": "", "action": "create_api_token", "outcome": "", "from": "", "to": "", "limit": 10}}),
        )
        .await
        .unwrap();
    let made = made.as_array().unwrap();
    assert!(!made.is_empty(), "{made:?}");
    assert!(made.iter().all(|r| r.get("token").is_none()), "{made:?}");
}
