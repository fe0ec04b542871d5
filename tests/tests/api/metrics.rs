//! The console's own metrics at `/metrics`: requests counted by route (a server function by its
//! name, an unknown one not), latencies, open live sockets, and the caches' sizes.

use wharf_tests::spawn_app;

async fn metrics(app: &wharf_tests::TestApp) -> String {
    let res = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test]
async fn requests_sockets_and_caches_are_counted() {
    let app = spawn_app().await.unwrap();
    let alice = app.login("alice").await.unwrap();
    let (status, _) = alice
        .call("workloads", serde_json::json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    // a made-up server function is answered, and counted without its name
    let made_up = reqwest::Client::new()
        .post(app.url("/api/no_such_function_4711"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(!made_up.status().is_success());
    let socket = app
        .open_socket("/ws/workloads/alpha", Some(&alice))
        .await
        .expect("alice may follow alpha");

    let text = metrics(&app).await;
    assert!(
        text.contains(
            r#"wharf_http_requests_total{route="/api/workloads",method="POST",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"wharf_http_request_duration_seconds_count{route="/api/login"}"#),
        "{text}"
    );
    assert!(
        !text.contains("no_such_function_4711"),
        "an unknown path is not a label: {text}"
    );
    assert!(text.contains(r#"route="/api/{unknown}""#), "{text}");
    assert!(
        text.contains(r#"wharf_live_sockets{route="/ws/workloads/{tenant}"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"wharf_cached_objects{kind="Tenant"} 2"#),
        "{text}"
    );

    drop(socket);
    wharf_tests::eventually(
        std::time::Duration::from_secs(10),
        "the closed socket uncounted",
        || async {
            metrics(&app)
                .await
                .contains(r#"wharf_live_sockets{route="/ws/workloads/{tenant}"} 0"#)
                .then_some(())
        },
    )
    .await
    .unwrap();
}
