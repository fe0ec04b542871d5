//! Cross-site requests: a page of another origin — another site, or a tenant's app on a
//! sibling host of the same site, whose requests carry the `SameSite=Strict` cookie — cannot
//! call a server function, open a socket, download or upload with a signed-in user's session.
//! (`end2end/tests/cross-site.spec.ts` does the same from a real page in Chromium.)

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use reqwest::StatusCode;
use serde_json::{json, Value};
use wharf_tests::{spawn_app, TestApp};

const EVIL: &str = "http://shop.alpha.demo:8080";

async fn replicas(app: &TestApp) -> Option<i32> {
    Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .get("orders")
        .await
        .unwrap()
        .spec?
        .replicas
}

#[tokio::test]
async fn server_functions_answer_only_the_consoles_own_pages() {
    let app = spawn_app().await.unwrap();
    let alice = app.login("alice").await.unwrap();
    alice.deploy("alpha", "orders", 1, 8080).await;
    let cookie = alice.cookie().unwrap().to_string();
    let before = replicas(&app).await;
    let scale = json!({"tenant": "alpha", "namespace": "alpha", "name": "orders", "replicas": 4});
    let post = |origin: Option<&str>, content_type: &str, sec_fetch_site: Option<&str>| {
        let mut req = alice
            .http
            .post(app.url("/api/scale_app"))
            .header("cookie", &cookie)
            .header("content-type", content_type)
            .body(scale.to_string());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = sec_fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    for (origin, content_type, site, want) in [
        (Some(EVIL), "application/json", None, StatusCode::FORBIDDEN),
        (
            Some("null"),
            "application/json",
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            None,
            "application/json",
            Some("same-site"),
            StatusCode::FORBIDDEN,
        ),
        (
            None,
            "application/json",
            Some("cross-site"),
            StatusCode::FORBIDDEN,
        ),
        // a simple request (no preflight) with the JSON in a text body
        (None, "text/plain", None, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            None,
            "application/x-www-form-urlencoded",
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let res = post(origin, content_type, site).await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        assert_eq!(status, want, "{origin:?} {content_type} {site:?}: {body}");
        assert!(body.to_string().len() > 10, "says why: {body}");
    }
    assert_eq!(replicas(&app).await, before, "nothing changed");
    // the console's own page (Origin = the console's address) is answered
    let own = format!("http://{}", app.addr);
    let res = post(Some(&own), "application/json", Some("same-origin"))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(replicas(&app).await, Some(4));
}

#[tokio::test]
async fn sockets_downloads_and_uploads_answer_only_the_consoles_own_pages() {
    use wharf_api::routes::{Kind, ALL};
    let app = spawn_app().await.unwrap();
    let alice = app.login("alice").await.unwrap();
    let own = format!("http://{}", app.addr);
    for route in ALL {
        let values: Vec<&str> = route
            .pattern
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(|s| if s == "{tenant}" { "alpha" } else { "x" })
            .collect();
        let path = route.path(&values);
        let status = |headers: Vec<(&'static str, String)>| {
            let (app, alice, path) = (&app, &alice, path.clone());
            async move {
                match route.kind {
                    Kind::Socket => {
                        let h: Vec<(&'static str, &str)> =
                            headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        let status = app
                            .open_socket_with(&path, Some(alice), &h)
                            .await
                            .map(|_| 101)
                            .unwrap_or_else(|s| s);
                        (status, String::new())
                    }
                    Kind::Download | Kind::Upload => {
                        let mut req = if route.kind == Kind::Upload {
                            alice.http.post(app.url(&path)).body("x")
                        } else {
                            alice.http.get(app.url(&path))
                        };
                        req = req.header("cookie", alice.cookie().unwrap());
                        for (k, v) in headers {
                            req = req.header(k, v);
                        }
                        let res = req.send().await.unwrap();
                        (res.status().as_u16(), res.text().await.unwrap_or_default())
                    }
                }
            }
        };
        const WHY: &str = "only its own pages";
        let (refused, why) = status(vec![("origin", EVIL.to_string())]).await;
        assert_eq!(refused, 403, "{} from {EVIL}", route.pattern);
        assert!(route.kind == Kind::Socket || why.contains(WHY), "{why}");
        let (refused, why) = status(vec![("sec-fetch-site", "same-site".to_string())]).await;
        assert_eq!(refused, 403, "{} same-site", route.pattern);
        assert!(route.kind == Kind::Socket || why.contains(WHY), "{why}");
        // from the console's own page the request goes on to the endpoint's own checks (which
        // may refuse a made-up name or a missing query, or a developer a tenant admin's
        // recordings, for their own reasons, but never sockets of her tenant with a 403)
        let (own_page, why) = status(vec![("origin", own.clone())]).await;
        assert!(
            !why.contains(WHY) && (route.kind != Kind::Socket || own_page != 403),
            "{} from the console's own page: {own_page} {why}",
            route.pattern
        );
    }
}
