//! Signing in through OpenID Connect (a real provider, `wharf_tests::oidc`: panva's
//! oidc-provider), walked as a browser does: people get their tenant roles from the ID token's
//! groups, group changes follow at the next login, logout ends the provider's session too, a
//! replayed or forged callback signs nobody in, key rotation is followed, and a provider that
//! lies about its issuer, does not answer, or is disabled signs nobody in while passwords keep
//! working — on the demo cluster and on a real kube-apiserver. (The ID token checks —
//! expired, unsigned, another audience or nonce — are unit tests in
//! `console/src/identity/oidc.rs`; the refusals of each server function in `authorization.rs`.)

use reqwest::StatusCode;
use serde_json::{json, Value};
use wharf_tests::oidc::{Browser, Provider};
use wharf_tests::{on_both_clusters, role_in, Session, TestApp};

on_both_clusters!(
    people_sign_in_through_an_oidc_provider_and_get_roles_from_its_groups,
    a_replayed_or_forged_callback_signs_nobody_in,
    a_wrong_missing_or_disabled_provider_signs_nobody_in,
);

async fn save(admin: &Session, form: &wharf_api::identity::OidcForm) {
    let (status, body) = admin
        .call("save_oidc_provider", json!({ "form": form }))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Alpha's admin maps sso's `alpha-devs` to developer and `alpha-viewers` to viewer.
async fn map_alpha(app: &TestApp) {
    let ada = app.login("ada").await.unwrap();
    let (status, body) = ada
        .call(
            "set_group_roles",
            json!({"tenant": "alpha", "rows": [
                {"provider": "sso", "group": "alpha-devs", "role": "Developer"},
                {"provider": "sso", "group": "alpha-viewers", "role": "Viewer"}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The browser's console session as a test client.
fn session_of(app: &TestApp, browser: &Browser) -> Session {
    let value = browser
        .cookie(&app.url("/api/whoami"), "wharf_session")
        .expect("a session cookie");
    let mut s = app.anonymous();
    s.renew(&format!("wharf_session={value}"));
    s
}

/// Where the console sent the browser after the callback.
async fn land(browser: &Browser, callback: &str) -> String {
    let hop = browser.get(callback).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{hop:?}");
    let to = hop.location.unwrap();
    to.split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or(to)
}

async fn audit_logins(admin: &Session, outcome: &str) -> Vec<Value> {
    let (status, records) = admin
        .call(
            "audit_records",
            json!({"filter": {"user": "", "tenant": "", "action": "login", "outcome": outcome,
                "from": "", "to": "", "limit": 200}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{records}");
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target"] == "oidc sso")
        .cloned()
        .collect()
}

async fn people_sign_in_through_an_oidc_provider_and_get_roles_from_its_groups(app: TestApp) {
    let console = app.url("");
    let provider = Provider::start(&console, &["sso"], None).await;
    let admin = app.login("admin").await.unwrap();
    save(&admin, &provider.form("sso")).await;
    let (status, listed) = admin.call("identity_providers", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["oidc"]["client_secret"], "", "never sent back");
    assert_eq!(listed[0]["oidc"]["issuer"], provider.issuer.as_str());
    assert_eq!(
        listed[0]["redirect_uri"],
        app.url("/auth/oidc/sso/callback"),
        "what to register at the provider"
    );
    // the trial: discovery, keys, the client's credentials (the stored secret)
    let mut form = provider.form("sso");
    form.client_secret.clear();
    let (status, report) = admin
        .call("try_oidc_provider", json!({ "form": form }))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{report}");
    assert!(steps.iter().all(|s| s["ok"] == true), "{report}");
    form.client_secret = "not-the-secret".into();
    let (_, report) = admin
        .call("try_oidc_provider", json!({ "form": form }))
        .await
        .unwrap();
    assert_eq!(report["steps"][2]["ok"], false, "{report}");
    // the login page offers it to anyone
    let (status, options) = app
        .anonymous()
        .call("sign_in_options", json!({}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        options,
        json!([{"name": "sso", "display_name": "Corp SSO"}])
    );
    map_alpha(&app).await;

    // olga: in alpha-devs → a developer of alpha
    let browser = Browser::new();
    let callback = browser
        .to_callback(&console, &provider, "sso", "olga", "olga-pass-1")
        .await;
    let hop = browser.get(&callback).await;
    assert_eq!(
        hop.location.as_deref(),
        Some(app.url("/").as_str()),
        "{hop:?}"
    );
    let cookie = hop.set_cookie("wharf_session").expect("a session");
    assert!(
        cookie.contains("Max-Age=3600;") || cookie.ends_with("Max-Age=3600"),
        "an OIDC session lasts at most the OIDC session time: {cookie}"
    );
    let olga = session_of(&app, &browser);
    let (status, me) = olga.call("whoami", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["name"], "olga");
    assert_eq!(me["display_name"], "Olga OIDC");
    assert_eq!(role_in(&me, "alpha").as_deref(), Some("Developer"), "{me}");
    assert_eq!(role_in(&me, "beta"), None, "{me}");
    let users: kube::Api<crds::User> = kube::Api::all(app.kube.clone());
    let stored = users.get("olga").await.unwrap();
    assert_eq!(stored.spec.provider, "sso");
    assert_eq!(stored.spec.email, "olga@example.com");
    assert!(stored.spec.password_secret.is_empty());
    assert_eq!(
        stored.status.unwrap().groups,
        ["alpha-devs", "platform-ops"]
    );
    assert_eq!(audit_logins(&admin, "ok").await.len(), 1);

    // the provider rotates its keys: the next login's token is signed by a key the console
    // has not seen, and it fetches the keys again
    let kid = provider.rotate_keys().await;
    let pete = Browser::new();
    let callback = pete
        .to_callback(&console, &provider, "sso", "pete", "pete-pass-1")
        .await;
    assert_eq!(land(&pete, &callback).await, "/", "signed with {kid}");
    let (_, me) = session_of(&app, &pete)
        .call("whoami", json!({}))
        .await
        .unwrap();
    assert_eq!(role_in(&me, "alpha").as_deref(), Some("Viewer"), "{me}");

    // olga leaves every group: at her next login she has no role left
    provider.set_groups("olga", &[]).await;
    let callback = browser
        .to_callback(&console, &provider, "sso", "olga", "olga-pass-1")
        .await;
    assert_eq!(land(&browser, &callback).await, "/");
    let (_, me) = session_of(&app, &browser)
        .call("whoami", json!({}))
        .await
        .unwrap();
    assert_eq!(role_in(&me, "alpha"), None, "{me}");

    // logout ends the console's session and sends the browser to the provider's logout,
    // which ends its session and comes back to the login page
    let before = session_of(&app, &browser);
    let hop = browser.call(&console, "logout", json!({})).await;
    assert_eq!(hop.status, StatusCode::OK, "{hop:?}");
    let end: String = serde_json::from_str(&hop.body).unwrap();
    assert!(
        end.starts_with(&provider.issuer) && end.contains("id_token_hint="),
        "{end}"
    );
    let (status, _) = before.call("whoami", json!({})).await.unwrap();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the console session ended"
    );
    let page = browser.follow(&end, &provider.issuer).await;
    let back = browser.confirm_logout(&provider, &page).await;
    assert_eq!(
        back.location.as_deref(),
        Some(app.url("/login").as_str()),
        "{back:?}"
    );
    // signing in again asks for the password: the provider's session ended too
    let start = browser
        .get(&app.url(&wharf_api::routes::oidc_start("sso")))
        .await;
    let page = browser
        .follow(start.location.as_deref().unwrap(), &provider.issuer)
        .await;
    assert!(
        page.location.is_none() && page.body.contains("name=\"password\""),
        "{page:?}"
    );
    // a local account's logout sends nobody anywhere
    let (status, body) = app
        .login("alice")
        .await
        .unwrap()
        .call("logout", json!({}))
        .await
        .unwrap();
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
}

async fn a_replayed_or_forged_callback_signs_nobody_in(app: TestApp) {
    let console = app.url("");
    let provider = Provider::start(&console, &["sso"], None).await;
    let admin = app.login("admin").await.unwrap();
    save(&admin, &provider.form("sso")).await;
    let browser = Browser::new();
    let callback = browser
        .to_callback(&console, &provider, "sso", "olga", "olga-pass-1")
        .await;
    let pending = browser
        .cookie(&callback, "wharf_oidc")
        .expect("the login in progress");
    // another browser holding a copy of this one's login in progress
    let copy = |url: &str| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url.to_string())
            .header("cookie", format!("wharf_oidc={pending}"))
    };
    let to = |res: reqwest::Response| {
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let session = res.headers().get_all("set-cookie").iter().any(|c| {
            c.to_str().unwrap().starts_with("wharf_session=")
                && !c.to_str().unwrap().starts_with("wharf_session=;")
        });
        (
            res.headers()["location"].to_str().unwrap().to_string(),
            session,
        )
    };
    // the answer of another login (its state): refused, the code is not even tried
    let forged = callback.replace("state=", "state=x");
    assert_eq!(
        to(copy(&forged).send().await.unwrap()),
        ("/login?oidc=expired".to_string(), false)
    );
    // the real one signs olga in
    assert_eq!(land(&browser, &callback).await, "/");
    // the same callback again, with the login in progress copied: the provider refuses the
    // used code
    assert_eq!(
        to(copy(&callback).send().await.unwrap()),
        ("/login?oidc=refused".to_string(), false)
    );
    // without it (someone else's browser, a link sent around): no login in progress here
    let stranger = Browser::new();
    let hop = stranger.get(&callback).await;
    assert_eq!(
        hop.location.as_deref(),
        Some(app.url("/login?oidc=expired").as_str())
    );
    assert!(hop
        .set_cookie("wharf_session")
        .is_none_or(|c| c.starts_with("wharf_session=;")));
    // the provider's "no" (the person cancelled) comes back as a refusal
    let cancelled = Browser::new();
    let start = cancelled
        .get(&app.url(&wharf_api::routes::oidc_start("sso")))
        .await;
    let authorize = start.location.unwrap();
    let state = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .unwrap();
    let denied = format!(
        "{console}/auth/oidc/sso/callback?error=access_denied&error_description=cancelled&state={state}"
    );
    assert_eq!(land(&cancelled, &denied).await, "/login?oidc=refused");
    // every refusal is in the audit log, with why
    let refused = audit_logins(&admin, "refused").await;
    assert!(refused.len() >= 4, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|r| r["outcome"].to_string().contains("state")),
        "{refused:?}"
    );
}

async fn a_wrong_missing_or_disabled_provider_signs_nobody_in(app: TestApp) {
    let console = app.url("");
    let admin = app.login("admin").await.unwrap();
    // a provider whose discovery document names another issuer
    let liar = Provider::start(&console, &["liar"], Some("http://localhost:9")).await;
    save(&admin, &liar.form("liar")).await;
    let browser = Browser::new();
    let hop = browser
        .get(&app.url(&wharf_api::routes::oidc_start("liar")))
        .await;
    assert_eq!(
        hop.location.as_deref(),
        Some(app.url("/login?oidc=invalid").as_str()),
        "{hop:?}"
    );
    // a provider that does not answer
    let mut gone = liar.form("gone");
    gone.issuer = "http://127.0.0.1:9".into();
    save(&admin, &gone).await;
    let hop = browser
        .get(&app.url(&wharf_api::routes::oidc_start("gone")))
        .await;
    assert_eq!(
        hop.location.as_deref(),
        Some(app.url("/login?oidc=unavailable").as_str())
    );
    app.login("alice").await.expect("passwords still work");

    // a name that belongs to a local user is not taken over
    let provider = Provider::start(&console, &["sso"], None).await;
    save(&admin, &provider.form("sso")).await;
    let (status, body) = admin
        .call(
            "create_user",
            json!({"form": {"name": "quinn", "display_name": "Local Quinn", "password": "one-time pass", "platform_admin": false}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let callback = browser
        .to_callback(&console, &provider, "sso", "quinn", "quinn-pass-1")
        .await;
    assert_eq!(land(&browser, &callback).await, "/login?oidc=taken");
    let users: kube::Api<crds::User> = kube::Api::all(app.kube.clone());
    assert_eq!(users.get("quinn").await.unwrap().spec.provider, "");

    // a disabled provider: not offered, signs nobody in, and its people's sessions end
    let olga = Browser::new();
    let callback = olga
        .to_callback(&console, &provider, "sso", "olga", "olga-pass-1")
        .await;
    assert_eq!(land(&olga, &callback).await, "/");
    let session = session_of(&app, &olga);
    let mut off = provider.form("sso");
    off.disabled = true;
    off.client_secret.clear();
    save(&admin, &off).await;
    let (status, _) = session.call("whoami", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, options) = app
        .anonymous()
        .call("sign_in_options", json!({}))
        .await
        .unwrap();
    assert!(
        options
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["name"] != "sso"),
        "{options}"
    );
    let hop = olga
        .get(&app.url(&wharf_api::routes::oidc_start("sso")))
        .await;
    assert_eq!(
        hop.location.as_deref(),
        Some(app.url("/login?oidc=refused").as_str())
    );
    // an LDAP form cannot take over an OpenID Connect provider's name
    let (status, body) = admin
        .call(
            "save_ldap_provider",
            json!({"form": {"name": "sso", "display_name": "", "disabled": false,
                "url": "ldaps://127.0.0.1:1", "start_tls": false, "ca_pem": "", "bind_dn": "cn=x",
                "bind_password": "x", "user_base": "ou=people", "user_filter": "(uid={username})",
                "group_base": "ou=groups", "group_filter": "(member={dn})",
                "display_name_attribute": "", "email_attribute": "", "group_name_attribute": ""}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
