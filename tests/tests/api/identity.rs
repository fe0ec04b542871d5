//! Signing in through a company directory (a real OpenLDAP, `wharf_tests::ldap`): a platform
//! admin saves and tries the settings, directory people sign in with their directory password
//! and get their tenant roles from their groups through each tenant's mappings, group changes
//! reach open sessions at the next directory sync, a directory that is down leaves local
//! accounts working — on the demo cluster and on a real kube-apiserver. (Every identity
//! function's refusals are in `authorization.rs`.)

use reqwest::StatusCode;
use serde_json::{json, Value};
use wharf_tests::ldap::Directory;
use wharf_tests::{on_both_clusters, role_in, Session, TestApp};

on_both_clusters!(
    directory_people_sign_in_and_get_their_roles_from_groups,
    group_changes_reach_open_sessions_at_the_next_sync,
    a_directory_that_is_down_leaves_local_accounts_working,
    bad_directory_settings_are_refused_and_a_trial_says_which_step_fails,
);

async fn sign_in(app: &TestApp, user: &str, password: &str) -> (StatusCode, Value) {
    app.anonymous()
        .call("login", json!({"username": user, "password": password}))
        .await
        .unwrap()
}

async fn save(admin: &Session, form: &wharf_api::identity::LdapForm) {
    let (status, body) = admin
        .call("save_ldap_provider", json!({ "form": form }))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Alpha's admin maps corp's `alpha-devs` to developer and `alpha-viewers` to viewer.
async fn map_alpha(app: &TestApp) {
    let ada = app.login("ada").await.unwrap();
    let (status, body) = ada
        .call(
            "set_group_roles",
            json!({"tenant": "alpha", "rows": [
                {"provider": "corp", "group": "alpha-devs", "role": "Developer"},
                {"provider": "corp", "group": "alpha-viewers", "role": "Viewer"}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn pods(tenant: &str) -> Value {
    json!({"tenant": tenant, "query": {"app": null, "namespace": tenant, "filter": "", "offset": 0, "limit": 5}})
}

async fn directory_people_sign_in_and_get_their_roles_from_groups(app: TestApp) {
    let directory = Directory::start().await;
    let admin = app.login("admin").await.unwrap();
    save(&admin, &directory.form("corp")).await;
    let (status, listed) = admin.call("identity_providers", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["name"], "corp");
    assert_eq!(
        listed[0]["form"]["bind_password"], "",
        "the bind password is never sent back"
    );
    map_alpha(&app).await;

    // dora: in alpha-devs → a developer of alpha, nothing in beta
    let (status, me) = sign_in(&app, "dora", "dora-pass-1").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["display_name"], "Dora Directory");
    assert_eq!(role_in(&me, "alpha").as_deref(), Some("Developer"), "{me}");
    assert_eq!(role_in(&me, "beta"), None, "{me}");
    let dora = app.login_with("Dora", "dora-pass-1").await.unwrap();
    let (status, _) = dora.call("list_pods", pods("alpha")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, _) = dora.call("list_pods", pods("beta")).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    // fay: in alpha-viewers → a viewer
    let (status, me) = sign_in(&app, "fay", "fay-pass-1").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(role_in(&me, "alpha").as_deref(), Some("Viewer"), "{me}");

    // the wrong password, an unknown name, an empty password, a filter injection
    for (user, password) in [
        ("dora", "not-hers"),
        ("zed", "zed-pass-1"),
        ("dora", ""),
        ("*", "dora-pass-1"),
        ("dora)(uid=*", "dora-pass-1"),
    ] {
        let (status, body) = sign_in(&app, user, password).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{user}/{password}: {body}"
        );
    }

    // the Wharf user the directory made: no password, the directory's name and e-mail
    let users: kube::Api<crds::User> = kube::Api::all(app.kube.clone());
    let stored = users.get("dora").await.unwrap();
    assert_eq!(stored.spec.provider, "corp");
    assert_eq!(stored.spec.email, "dora@example.com");
    assert!(stored.spec.password_secret.is_empty());
    assert!(
        stored.spec.memberships.is_empty(),
        "the role is the mapping's, not stored"
    );
    let (status, body) = dora
        .call(
            "change_password",
            json!({"current": "dora-pass-1", "new": "a new long one"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("directory"), "{body}");

    // the tenant's admin sees who has a role through which group
    let ada = app.login("ada").await.unwrap();
    let (status, groups) = ada
        .call("group_roles", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{groups}");
    let mapped: Vec<(&str, &str)> = groups["mapped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(mapped, [("dora", "Developer"), ("fay", "Viewer")]);
    assert_eq!(groups["providers"], json!(["corp"]));

    // local accounts go on as before
    app.login("alice").await.unwrap();
    // the audit log says how each signed in
    let (status, records) = admin
        .call(
            "audit_records",
            json!({"filter": {"user": "", "tenant": "", "action": "login", "outcome": "ok", "from": "", "to": "", "limit": 50}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{records}");
    let how = |user: &str| {
        records
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user"] == user)
            .map(|r| r["target"].clone())
    };
    assert_eq!(how("dora"), Some(json!("directory corp")), "{records}");
    assert_eq!(how("alice"), Some(json!("password")), "{records}");
}

async fn group_changes_reach_open_sessions_at_the_next_sync(app: TestApp) {
    let directory = Directory::start().await;
    let admin = app.login("admin").await.unwrap();
    save(&admin, &directory.form("corp")).await;
    map_alpha(&app).await;
    let dora = app.login_with("dora", "dora-pass-1").await.unwrap();
    let fay = app.login_with("fay", "fay-pass-1").await.unwrap();
    // a directory name that is no Wharf name as it is: signed in as gil-dot
    let (status, body) = sign_in(&app, "Gil.Dot", "gil.dot-pass-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gil = app.login_with("Gil.Dot", "gil.dot-pass-1").await.unwrap();
    let (_, me) = gil.call("whoami", json!({})).await.unwrap();
    assert_eq!(me["name"], "gil-dot");
    assert_eq!(role_in(&me, "alpha").as_deref(), Some("Viewer"), "{me}");
    let (status, _) = dora.call("list_pods", pods("alpha")).await.unwrap();
    assert_eq!(status, StatusCode::OK);

    // nothing changed in the directory: the sync changes nothing
    let pass = wharf_console::identity::sync::once(&app.state).await;
    assert_eq!(pass, Default::default());

    // dora leaves alpha-devs; fay leaves the company
    directory
        .modify(&format!(
            "dn: cn=alpha-devs,ou=groups,{base}\nchangetype: modify\ndelete: member\nmember: uid=dora,ou=people,{base}\n",
            base = wharf_tests::ldap::BASE
        ))
        .await;
    directory
        .modify(&format!(
            "dn: uid=fay,ou=people,{}\nchangetype: delete\n",
            wharf_tests::ldap::BASE
        ))
        .await;
    directory
        .modify(&format!(
            "dn: cn=alpha-viewers,ou=groups,{base}\nchangetype: modify\ndelete: member\nmember: uid=gil.dot,ou=people,{base}\n",
            base = wharf_tests::ldap::BASE
        ))
        .await;
    let pass = wharf_console::identity::sync::once(&app.state).await;
    assert_eq!(
        pass.updated,
        ["dora", "gil-dot"],
        "found by the name they sign in with"
    );
    assert_eq!(pass.gone, ["fay"]);
    // the console's cache follows its own writes: wait for it, not for time
    wharf_testkit::eventually(
        std::time::Duration::from_secs(10),
        "dora's session loses alpha",
        || async {
            let (status, _) = dora.call("list_pods", pods("alpha")).await.unwrap();
            (status == StatusCode::FORBIDDEN).then_some(())
        },
    )
    .await
    .unwrap();
    let (status, me) = dora.call("whoami", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "dora is still signed in");
    assert_eq!(role_in(&me, "alpha"), None, "{me}");
    wharf_testkit::eventually(
        std::time::Duration::from_secs(10),
        "fay's session ends",
        || async {
            let (status, _) = fay.call("whoami", json!({})).await.unwrap();
            (status == StatusCode::UNAUTHORIZED).then_some(())
        },
    )
    .await
    .unwrap();
    let (status, _) = sign_in(&app, "fay", "fay-pass-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let users: kube::Api<crds::User> = kube::Api::all(app.kube.clone());
    assert!(
        users.get("fay").await.unwrap().spec.disabled,
        "fay is disabled, not deleted"
    );
}

async fn a_directory_that_is_down_leaves_local_accounts_working(app: TestApp) {
    let mut directory = Directory::start().await;
    let admin = app.login("admin").await.unwrap();
    let mut form = directory.form("corp");
    // StartTLS this time
    form.url = directory.ldap.clone();
    form.start_tls = true;
    save(&admin, &form).await;
    let (status, me) = sign_in(&app, "dora", "dora-pass-1").await;
    assert_eq!(status, StatusCode::OK, "StartTLS: {me}");
    let dora = app.login_with("dora", "dora-pass-1").await.unwrap();
    directory.stop().await;
    app.login("admin").await.expect("the platform admin");
    app.login("alice").await.expect("a local user");
    let (status, body) = sign_in(&app, "dora", "dora-pass-1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body.to_string().contains(&directory.ldap),
        "names the directory: {body}"
    );
    let (status, _) = sign_in(&app, "zed", "zed-pass-1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // a disabled provider signs nobody in, and its people's sessions end
    let mut disabled = form.clone();
    disabled.disabled = true;
    disabled.bind_password.clear();
    save(&admin, &disabled).await;
    let (status, _) = sign_in(&app, "dora", "dora-pass-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = dora.call("whoami", json!({})).await.unwrap();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "her open session ends too"
    );
}

async fn bad_directory_settings_are_refused_and_a_trial_says_which_step_fails(app: TestApp) {
    let directory = Directory::start().await;
    let admin = app.login("admin").await.unwrap();
    let good = directory.form("corp");
    for (what, bad) in [
        ("plain LDAP", {
            let mut f = good.clone();
            f.url = directory.ldap.clone();
            f
        }),
        ("no placeholder", {
            let mut f = good.clone();
            f.user_filter = "(uid=dora)".into();
            f
        }),
        ("no password", {
            let mut f = good.clone();
            f.bind_password.clear();
            f
        }),
        ("a bad name", {
            let mut f = good.clone();
            f.name = "Corp".into();
            f
        }),
    ] {
        let (status, body) = admin
            .call("save_ldap_provider", json!({ "form": bad }))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert!(
            body.to_string().contains("zh"),
            "{what}: both languages: {body}"
        );
    }
    let (_, listed) = admin.call("identity_providers", json!({})).await.unwrap();
    assert_eq!(listed, json!([]), "nothing saved");

    let trial = |form: &wharf_api::identity::LdapForm, user: &str, password: &str| json!({"trial": {"form": form, "username": user, "password": password}});
    let steps = |report: &Value| -> Vec<bool> {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["ok"].as_bool().unwrap())
            .collect()
    };
    let mut wrong = good.clone();
    wrong.bind_password = "not the bind password".into();
    let (status, report) = admin
        .call("try_ldap_provider", trial(&wrong, "dora", ""))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(steps(&report), [false], "{report}");
    assert!(
        report["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("bind"),
        "{report}"
    );
    let mut untrusted = good.clone();
    untrusted.ca_pem.clear();
    let (_, report) = admin
        .call("try_ldap_provider", trial(&untrusted, "", ""))
        .await
        .unwrap();
    assert_eq!(
        steps(&report),
        [false],
        "a certificate nobody vouches for: {report}"
    );
    let (_, report) = admin
        .call("try_ldap_provider", trial(&good, "dora", "dora-pass-1"))
        .await
        .unwrap();
    assert_eq!(steps(&report), [true, true, true], "{report}");
    assert_eq!(
        report["user"]["groups"],
        json!(["alpha-devs", "platform-ops"]),
        "{report}"
    );
    let (_, report) = admin
        .call("try_ldap_provider", trial(&good, "dora", "wrong"))
        .await
        .unwrap();
    assert_eq!(steps(&report), [true, true, false], "{report}");
    let (_, listed) = admin.call("identity_providers", json!({})).await.unwrap();
    assert_eq!(listed, json!([]), "a trial saves nothing");
    // a mapping must name a provider that exists
    let ada = app.login("ada").await.unwrap();
    let (status, body) = ada
        .call(
            "set_group_roles",
            json!({"tenant": "alpha", "rows": [{"provider": "nope", "group": "g", "role": "Admin"}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
