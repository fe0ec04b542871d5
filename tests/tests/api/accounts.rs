//! Accounts through the console: sessions that end on the server (logout, a password change,
//! a disable, a role change), the password a user must change before anything else, and who
//! may manage users and members — on the demo cluster and on a real kube-apiserver.

use reqwest::StatusCode;
use serde_json::json;
use wharf_tests::{on_both_clusters, TestApp};

on_both_clusters!(
    a_cookie_captured_before_logout_is_refused_after_it,
    a_password_change_ends_the_other_sessions_and_keeps_this_one,
    a_wrong_current_or_short_new_password_changes_nothing,
    disabling_a_user_or_changing_their_role_ends_their_sessions,
    a_new_user_must_choose_a_password_before_anything_else,
    a_tenant_admin_manages_their_own_members_only,
    a_platform_admin_cannot_lock_themselves_out,
);

async fn whoami(s: &wharf_tests::Session) -> StatusCode {
    s.call("whoami", json!({})).await.unwrap().0
}

async fn a_cookie_captured_before_logout_is_refused_after_it(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let captured = alice.copy();
    assert_eq!(whoami(&captured).await, StatusCode::OK);
    let (status, _) = alice.call("logout", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami(&captured).await, StatusCode::UNAUTHORIZED);
    let (status, _) = captured
        .call("workloads", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // a new login works again
    let again = app.login("alice").await.unwrap();
    assert_eq!(whoami(&again).await, StatusCode::OK);
}

async fn a_password_change_ends_the_other_sessions_and_keeps_this_one(app: TestApp) {
    let mut here = app.login("alice").await.unwrap();
    let elsewhere = app.login("alice").await.unwrap();
    let before = here.copy();
    let (status, me, cookie) = here
        .call_for_cookie(
            "change_password",
            json!({"current": wharf_tests::DEMO_PASSWORD, "new": "a much longer one"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["must_change_password"], false);
    here.renew(&cookie.expect("the change renews this session's cookie"));
    assert_eq!(whoami(&here).await, StatusCode::OK, "this session goes on");
    assert_eq!(whoami(&elsewhere).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&before).await, StatusCode::UNAUTHORIZED);
    assert!(app.login("alice").await.is_err(), "the old password");
    app.login_with("alice", "a much longer one").await.unwrap();
}

async fn a_wrong_current_or_short_new_password_changes_nothing(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    for (current, new) in [
        ("not the password", "a much longer one"),
        (wharf_tests::DEMO_PASSWORD, "short"),
        (wharf_tests::DEMO_PASSWORD, wharf_tests::DEMO_PASSWORD),
    ] {
        let (status, body) = alice
            .call("change_password", json!({"current": current, "new": new}))
            .await
            .unwrap();
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{current} -> {new}: {body}"
        );
        // the refusal comes in both languages, and the page picks the reader's
        let said = &body["Invalid"];
        let (en, zh) = (said["en"].as_str(), said["zh"].as_str());
        assert!(
            en.is_some_and(|en| !en.is_empty()) && zh.is_some_and(|zh| !zh.is_empty()) && en != zh,
            "{body}"
        );
    }
    assert_eq!(whoami(&alice).await, StatusCode::OK);
    app.login("alice").await.expect("the password is unchanged");
}

async fn disabling_a_user_or_changing_their_role_ends_their_sessions(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let alice = app.login("alice").await.unwrap();
    let vera = app.login("vera").await.unwrap();
    let (status, body) = admin
        .call(
            "set_user_disabled",
            json!({"user": "alice", "disabled": true}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(whoami(&alice).await, StatusCode::UNAUTHORIZED);
    assert!(
        app.login("alice").await.is_err(),
        "a disabled user cannot log in"
    );
    admin
        .call(
            "set_user_disabled",
            json!({"user": "alice", "disabled": false}),
        )
        .await
        .unwrap();
    app.login("alice").await.expect("enabled again");

    let ada = app.login("ada").await.unwrap();
    let (status, body) = ada
        .call(
            "set_member_role",
            json!({"tenant": "alpha", "user": "vera", "role": "Developer"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(whoami(&vera).await, StatusCode::UNAUTHORIZED);
    let vera = app.login("vera").await.unwrap();
    let (_, me) = vera.call("whoami", json!({})).await.unwrap();
    assert_eq!(me["tenants"][0]["role"], "Developer");
}

async fn a_new_user_must_choose_a_password_before_anything_else(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let (status, body) = admin
        .call(
            "create_user",
            json!({"form": {"name": "carol", "display_name": "Carol", "password": "one-time pass", "platform_admin": false}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = admin
        .call(
            "add_member",
            json!({"tenant": "alpha", "user": "carol", "role": "Developer"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let mut carol = app.login_with("carol", "one-time pass").await.unwrap();
    let (status, me) = carol.call("whoami", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["must_change_password"], true);
    let (status, body) = carol
        .call("workloads", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!("PasswordChangeRequired"));
    let (status, _, cookie) = carol
        .call_for_cookie(
            "change_password",
            json!({"current": "one-time pass", "new": "carol's own password"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    carol.renew(&cookie.unwrap());
    let (status, _) = carol
        .call("workloads", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    // the admin's list shows her, her membership and her login
    let (_, users) = admin.call("users", json!({})).await.unwrap();
    let row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "carol")
        .expect("carol listed")
        .clone();
    assert_eq!(row["must_change_password"], false);
    assert_eq!(row["memberships"], json!([["alpha", "Developer"]]));
    assert!(row["last_login"].is_string(), "{row}");
    // a reset makes her choose again, and ends her session
    let (status, _) = admin
        .call(
            "reset_password",
            json!({"user": "carol", "password": "another one-time"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami(&carol).await, StatusCode::UNAUTHORIZED);
    let carol = app.login_with("carol", "another one-time").await.unwrap();
    let (_, me) = carol.call("whoami", json!({})).await.unwrap();
    assert_eq!(me["must_change_password"], true);
}

async fn a_tenant_admin_manages_their_own_members_only(app: TestApp) {
    let ada = app.login("ada").await.unwrap();
    let (status, members) = ada
        .call("members", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada", "alice", "vera"]);
    // beta is not hers
    for (name, args) in [
        ("members", json!({"tenant": "beta"})),
        (
            "add_member",
            json!({"tenant": "beta", "user": "alice", "role": "Admin"}),
        ),
        ("remove_member", json!({"tenant": "beta", "user": "bob"})),
        (
            "set_member_role",
            json!({"tenant": "beta", "user": "bob", "role": "Viewer"}),
        ),
        (
            "set_platform_admin",
            json!({"user": "alice", "platform_admin": true}),
        ),
        (
            "update_tenant",
            json!({"form": {"name": "alpha", "display_name": "", "namespaces": ["alpha"], "adopt": [],
            "quota": {"cpu": "", "memory": "", "pods": "", "storage": ""}, "pod_security": "privileged", "hosts": [], "image_prefix": ""}}),
        ),
    ] {
        let (status, body) = ada.call(name, args).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
    }
    // in alpha: add bob as a viewer, then remove him
    let (status, body) = ada
        .call(
            "add_member",
            json!({"tenant": "alpha", "user": "bob", "role": "Viewer"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let bob = app.login("bob").await.unwrap();
    let (status, _) = bob
        .call("workloads", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "bob now sees alpha");
    let (status, _) = ada
        .call("remove_member", json!({"tenant": "alpha", "user": "bob"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bob
        .call("workloads", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "his session ended");
    // adding someone who does not exist, or twice, is refused with a sentence
    let (status, _) = ada
        .call(
            "add_member",
            json!({"tenant": "alpha", "user": "nobody", "role": "Viewer"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ada
        .call(
            "add_member",
            json!({"tenant": "alpha", "user": "alice", "role": "Viewer"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    // the last admin stays
    for (name, args) in [
        ("remove_member", json!({"tenant": "alpha", "user": "ada"})),
        (
            "set_member_role",
            json!({"tenant": "alpha", "user": "ada", "role": "Developer"}),
        ),
    ] {
        let (status, body) = ada.call(name, args).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert!(body.to_string().contains("last admin"), "{body}");
    }
    assert_eq!(whoami(&ada).await, StatusCode::OK);
}

async fn a_platform_admin_cannot_lock_themselves_out(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    for (name, args) in [
        (
            "set_user_disabled",
            json!({"user": "admin", "disabled": true}),
        ),
        (
            "set_platform_admin",
            json!({"user": "admin", "platform_admin": false}),
        ),
        ("delete_user", json!({"user": "admin"})),
    ] {
        let (status, body) = admin.call(name, args).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
    }
    assert_eq!(whoami(&admin).await, StatusCode::OK);
}
