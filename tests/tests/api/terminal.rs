//! The web terminal against the demo cluster, over the console's real socket and HTTP:
//! a shell round trip (42), resize followed by `stty size`, the exit code, the audit record,
//! the refusals before the upgrade and the check that explains them, files in and out through
//! tar (and a clear refusal without tar), a debug container for a distroless pod,
//! session recordings only the tenant's admins replay, and their size limit and retention.

use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest, http::HeaderValue, Error, Message,
};
use wharf_tests::{eventually, spawn_app, TestApp};

/// A running pod `name` in alpha with containers `app` and `sidecar`.
async fn running_pod(app: &TestApp, name: &str) {
    let containers = json!([{"name": "app", "image": "nginx:1.25"}, {"name": "sidecar", "image": "busybox:1.36"}]);
    pod_in_alpha(app, name, containers, json!({}), "Running").await;
}

/// Pod `name` in alpha with these containers and annotations, once the console's cache sees
/// it in `phase`.
async fn pod_in_alpha(
    app: &TestApp,
    name: &str,
    containers: Value,
    annotations: Value,
    phase: &str,
) {
    let pods: Api<Pod> = Api::namespaced(app.kube.clone(), "alpha");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "alpha", "labels": {"app": name}, "annotations": annotations},
        "spec": {"containers": containers}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let cache = app.state.cache.pods.clone();
    eventually(
        Duration::from_secs(60),
        &format!("the pod {phase} in the console's cache"),
        || {
            let cache = cache.clone();
            async move {
                cache
                    .state()
                    .iter()
                    .any(|p| {
                        p.metadata.name.as_deref() == Some(name)
                            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase)
                    })
                    .then_some(())
            }
        },
    )
    .await
    .unwrap();
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    app: &TestApp,
    tenant: &str,
    query: &str,
    cookie: Option<&str>,
) -> Result<Socket, u16> {
    let mut req = format!("ws://{}/ws/terminal/{tenant}?{query}", app.addr)
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        req.headers_mut()
            .insert("cookie", HeaderValue::from_str(c).unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((s, _)) => Ok(s),
        Err(Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("unexpected: {e}"),
    }
}

/// Reads until the terminal output contains `want`; returns the output seen.
async fn read_until(socket: &mut Socket, want: &str) -> String {
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(msg) = socket.next().await {
            match msg.expect("readable") {
                Message::Binary(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                Message::Text(t) => seen.push_str(&format!("\n<control {t}>\n")),
                _ => {}
            }
            if seen.contains(want) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} in the terminal; saw: {seen}"));
    seen
}

async fn type_in(socket: &mut Socket, text: &str) {
    socket
        .send(Message::Binary(text.as_bytes().to_vec().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_shell_answers_follows_resizes_tells_its_exit_code_and_is_audited() {
    let app = spawn_app().await.unwrap();
    running_pod(&app, "term-a").await;
    let alice = app.login("alice").await.unwrap();
    let mut s = connect(
        &app,
        "alpha",
        "ns=alpha&pod=term-a&container=sidecar",
        alice.cookie(),
    )
    .await
    .expect("alice gets a shell");
    let started = read_until(&mut s, "\"type\":\"started\"").await;
    assert!(started.contains("\"container\":\"sidecar\""), "{started}");

    type_in(&mut s, "echo $((6*7))\r").await;
    read_until(&mut s, "42").await;

    s.send(Message::Text(
        r#"{"type":"resize","cols":123,"rows":45}"#.into(),
    ))
    .await
    .unwrap();
    type_in(&mut s, "stty size\r").await;
    read_until(&mut s, "45 123").await;

    type_in(&mut s, "exit 3\r").await;
    read_until(&mut s, r#"{"type":"exit","code":3}"#).await;

    // The audit trail names alice, the pod and container, the duration and the exit code;
    // only admins may read it.
    let (status, _) = alice
        .call("terminal_sessions", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = app.login("admin").await.unwrap();
    let row = eventually(
        Duration::from_secs(20),
        "the closed session in the audit trail",
        || async {
            let (status, rows) = admin
                .call("terminal_sessions", json!({"tenant": "alpha"}))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{rows}");
            rows.as_array()
                .unwrap()
                .iter()
                .find(|r| r["kind"] == "session" && r["outcome"] == "exit")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            row["user"].as_str(),
            row["pod"].as_str(),
            row["container"].as_str()
        ),
        (Some("alice"), Some("term-a"), Some("sidecar"))
    );
    assert_eq!(row["exit_code"], 3);
    assert!(row["duration_secs"].as_f64().unwrap() > 0.0, "{row}");
    assert_eq!(row["detail"], "/bin/bash");
    // and in the console's durable audit log: its start and its end
    let (status, records) = admin
        .call(
            "audit_records",
            json!({"filter": {"user": "alice", "tenant": "alpha", "action": "", "outcome": "", "from": "", "to": "", "limit": 10}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{records}");
    let actions: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["terminal.session.end", "terminal.session"],
        "{records}"
    );
    let end = &records[0];
    assert_eq!(end["outcome"], "Ok");
    assert!(
        end["target"]
            .as_str()
            .unwrap()
            .starts_with("namespace=alpha pod=term-a container=sidecar"),
        "{end}"
    );
    assert!(end["target"].as_str().unwrap().ends_with("exit=3"), "{end}");
}

#[tokio::test]
async fn the_socket_refuses_before_upgrading() {
    let app = spawn_app().await.unwrap();
    running_pod(&app, "term-b").await;
    let (alice, bob, vera) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );
    let q = "ns=alpha&pod=term-b";
    assert_eq!(connect(&app, "alpha", q, None).await.err(), Some(401));
    assert_eq!(
        connect(&app, "alpha", q, bob.cookie()).await.err(),
        Some(403),
        "another tenant"
    );
    assert_eq!(
        connect(&app, "beta", q, bob.cookie()).await.err(),
        Some(403),
        "alpha's namespace through beta"
    );
    assert_eq!(
        connect(&app, "alpha", q, vera.cookie()).await.err(),
        Some(403),
        "viewers get no shell"
    );
    assert_eq!(
        connect(&app, "alpha", "ns=alpha&pod=nope", alice.cookie())
            .await
            .err(),
        Some(404)
    );
    assert_eq!(
        connect(
            &app,
            "alpha",
            "ns=alpha&pod=term-b&container=db",
            alice.cookie()
        )
        .await
        .err(),
        Some(400)
    );
    // The reason is a sentence (seen by scripts; browsers hide it).
    let res = reqwest::Client::new()
        .get(app.url("/ws/terminal/alpha?ns=alpha&pod=term-b&container=db"))
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("container 'db' is not in pod 'term-b'; its containers: app, sidecar"));
}

fn transfer_url(app: &TestApp, what: &str, path: &str) -> String {
    app.url(&format!(
        "/{what}/terminal/alpha?ns=alpha&pod=term-c&path={}",
        wharf_api::logs::encode(path)
    ))
}

#[tokio::test]
async fn a_file_goes_in_and_comes_out_identical_and_bad_transfers_leave_nothing() {
    let terminal = wharf_console::terminal::TerminalOptions {
        max_upload: 1024 * 1024,
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(
        wharf_console::state::Settings {
            terminal,
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    running_pod(&app, "term-c").await;
    let alice = app.login("alice").await.unwrap();
    let http = reqwest::Client::new();
    // The container's /tmp is its own folder's `tmp` on the demo node.
    let tmp = app
        .cluster
        .sim()
        .container_dir("alpha", "term-c", "app")
        .join("tmp");
    let path = "/tmp/app.bin".to_string();
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    let res = http
        .post(transfer_url(&app, "upload", &path))
        .header("cookie", alice.cookie().unwrap())
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["bytes"], 300_000);

    let res = http
        .get(transfer_url(&app, "download", &path))
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("app.bin"));
    assert_eq!(
        res.bytes().await.unwrap().to_vec(),
        data,
        "downloaded bytes differ"
    );
    assert_eq!(
        std::fs::read(tmp.join("app.bin")).unwrap(),
        data,
        "the file is in the container's own folder"
    );

    // Missing file: 404 with tar's words. Viewers and other tenants: refused.
    let res = http
        .get(transfer_url(&app, "download", "/tmp/nope"))
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    for user in ["vera", "bob"] {
        let s = app.login(user).await.unwrap();
        let res = http
            .get(transfer_url(&app, "download", &path))
            .header("cookie", s.cookie().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{user}");
        let res = http
            .post(transfer_url(&app, "upload", &path))
            .header("cookie", s.cookie().unwrap())
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{user}");
    }

    // Over the limit (1 MB here): 413, and the file is not touched.
    let big = vec![7u8; 2 * 1024 * 1024];
    let res = http
        .post(transfer_url(&app, "upload", &path))
        .header("cookie", alice.cookie().unwrap())
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("limited to 1 MB"));

    // A connection cut mid-upload: nothing half-written is left.
    let target = "/tmp/broken.bin";
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /upload/terminal/alpha?ns=alpha&pod=term-c&path={} HTTP/1.1\r\nhost: x\r\ncookie: {}\r\ncontent-length: 500000\r\n\r\n",
        wharf_api::logs::encode(target),
        alice.cookie().unwrap()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[1u8; 100_000]).await.unwrap();
    tcp.flush().await.unwrap();
    // Wait until the upload is under way (its temporary file appears), then cut the connection.
    let listing = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    eventually(
        Duration::from_secs(20),
        "the upload's temporary file",
        || async {
            listing(&tmp)
                .iter()
                .any(|n| n.starts_with(".wharf-upload-"))
                .then_some(())
        },
    )
    .await
    .unwrap();
    drop(tcp);
    eventually(
        Duration::from_secs(20),
        "the temporary file removed",
        || async {
            let names = listing(&tmp);
            (names == vec!["app.bin".to_string()]).then_some(())
        },
    )
    .await
    .unwrap();
}

/// Waits for the socket to end (a close frame or the end of the stream).
async fn closed(socket: &mut Socket) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(msg) = socket.next().await {
            if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
                return;
            }
        }
    })
    .await
    .expect("the socket to close");
}

/// The pod's ephemeral containers as the cluster has them.
async fn ephemeral_containers(app: &TestApp, pod: &str) -> Vec<Value> {
    let p = Api::<Pod>::namespaced(app.kube.clone(), "alpha")
        .get(pod)
        .await
        .unwrap();
    let spec = serde_json::to_value(p.spec.unwrap()).unwrap();
    spec["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_check_explains_every_refusal_before_the_socket_is_tried() {
    let app = spawn_app().await.unwrap();
    running_pod(&app, "term-e").await;
    pod_in_alpha(
        &app,
        "term-pending",
        json!([{"name": "app", "image": "nginx:bad"}]),
        json!({}),
        "Pending",
    )
    .await;
    let (alice, bob, vera) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );
    let check = |tenant: &str, pod: &str, container: Option<&str>| json!({"tenant": tenant, "ns": "alpha", "pod": pod, "container": container});

    let (status, ok) = alice
        .call("terminal_check", check("alpha", "term-e", Some("sidecar")))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(
        (
            ok["container"].as_str(),
            ok["debug_image"].as_str(),
            ok["recording"].as_bool()
        ),
        (
            Some("sidecar"),
            Some("nicolaka/netshoot:v0.13"),
            Some(false)
        )
    );
    let (_, ok) = alice
        .call("terminal_check", check("alpha", "term-e", None))
        .await
        .unwrap();
    assert_eq!(ok["container"], "app", "the default container is named");

    // Each refusal: its status, and a sentence that says what is wrong.
    let cases: Vec<(&wharf_tests::Session, Value, StatusCode, &str)> = vec![
        (
            &vera,
            check("alpha", "term-e", None),
            StatusCode::FORBIDDEN,
            "a viewer of 'alpha' cannot open a shell",
        ),
        (
            &bob,
            check("alpha", "term-e", None),
            StatusCode::FORBIDDEN,
            "no access to tenant 'alpha'",
        ),
        (
            &bob,
            check("beta", "term-e", None),
            StatusCode::FORBIDDEN,
            "namespace 'alpha' does not belong to tenant 'beta'",
        ),
        (
            &alice,
            check("alpha", "nope", None),
            StatusCode::NOT_FOUND,
            "pod 'nope' in namespace 'alpha'",
        ),
        (
            &alice,
            check("alpha", "term-e", Some("db")),
            StatusCode::BAD_REQUEST,
            "container 'db' is not in pod 'term-e'; its containers: app, sidecar",
        ),
        (
            &alice,
            check("alpha", "term-pending", None),
            StatusCode::CONFLICT,
            "pod 'term-pending' is Pending; a shell needs a running container",
        ),
    ];
    for (who, args, want, says) in cases {
        let (status, body) = who.call("terminal_check", args.clone()).await.unwrap();
        assert_eq!(status, want, "{args}: {body}");
        assert!(
            body.to_string().contains(says),
            "{args}: {body} should say {says:?}"
        );
    }
    let (status, _) = app
        .anonymous()
        .call("terminal_check", check("alpha", "term-e", None))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // ...and the socket refuses the same ones before upgrading.
    assert_eq!(
        connect(&app, "alpha", "ns=alpha&pod=term-pending", alice.cookie())
            .await
            .err(),
        Some(409)
    );
}

#[tokio::test]
async fn a_distroless_container_gets_a_debug_container_instead_of_a_shell() {
    let app = spawn_app().await.unwrap();
    pod_in_alpha(
        &app,
        "term-d",
        json!([{"name": "app", "image": "gcr.io/distroless/java17"}]),
        json!({}),
        "Running",
    )
    .await;
    let alice = app.login("alice").await.unwrap();

    // The plain shell is refused with the reason and the offer.
    let mut s = connect(&app, "alpha", "ns=alpha&pod=term-d", alice.cookie())
        .await
        .expect("the socket opens");
    let said = read_until(&mut s, r#""type":"no_shell""#).await;
    assert!(
        said.contains(r#""tried":["/bin/bash","/bin/sh"]"#)
            && said.contains(r#""debug_image":"nicolaka/netshoot:v0.13""#),
        "{said}"
    );
    closed(&mut s).await;
    assert!(
        ephemeral_containers(&app, "term-d").await.is_empty(),
        "no debug container without asking"
    );

    // Viewers and other tenants cannot start one either.
    let (bob, vera) = (
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );
    assert_eq!(
        connect(
            &app,
            "alpha",
            "ns=alpha&pod=term-d&debug=true",
            vera.cookie()
        )
        .await
        .err(),
        Some(403)
    );
    assert_eq!(
        connect(
            &app,
            "alpha",
            "ns=alpha&pod=term-d&debug=true",
            bob.cookie()
        )
        .await
        .err(),
        Some(403)
    );
    assert_eq!(
        connect(&app, "beta", "ns=alpha&pod=term-d&debug=true", bob.cookie())
            .await
            .err(),
        Some(403)
    );
    assert!(
        ephemeral_containers(&app, "term-d").await.is_empty(),
        "a refused user added a debug container"
    );

    // The debug container: added aimed at `app`, started, attached; the shell answers.
    let mut s = connect(
        &app,
        "alpha",
        "ns=alpha&pod=term-d&debug=true&cols=100&rows=30",
        alice.cookie(),
    )
    .await
    .expect("alice gets a debug container");
    let started = read_until(&mut s, r#""type":"started""#).await;
    assert!(
        started.contains(r#""type":"preparing""#),
        "progress is told: {started}"
    );
    assert!(
        started.contains(r#""debug_image":"nicolaka/netshoot:v0.13""#)
            && started.contains(r#""container":"debug-"#),
        "{started}"
    );
    let ecs = ephemeral_containers(&app, "term-d").await;
    assert_eq!(ecs.len(), 1, "{ecs:?}");
    let ec = &ecs[0];
    assert_eq!(
        (ec["targetContainerName"].as_str(), ec["image"].as_str()),
        (Some("app"), Some("nicolaka/netshoot:v0.13"))
    );
    assert_eq!(
        (
            ec["stdin"].as_bool(),
            ec["tty"].as_bool(),
            ec["stdinOnce"].as_bool()
        ),
        (Some(true), Some(true), Some(true))
    );
    let debug_name = ec["name"].as_str().unwrap().to_string();
    assert!(
        started.contains(&format!(r#""container":"{debug_name}""#)),
        "{started}"
    );

    type_in(&mut s, "echo $((6*7))\r").await;
    read_until(&mut s, "42").await;
    type_in(&mut s, "stty size\r").await;
    read_until(&mut s, "30 100").await;
    // The exit code is the debug shell's (from the container's terminated state).
    type_in(&mut s, "exit 3\r").await;
    read_until(&mut s, r#"{"type":"exit","code":3}"#).await;

    // The audit trail has it as a debug session of alice's in term-d/app.
    let admin = app.login("admin").await.unwrap();
    let row = eventually(
        Duration::from_secs(20),
        "the debug session in the audit trail",
        || async {
            let (_, rows) = admin
                .call("terminal_sessions", json!({"tenant": "alpha"}))
                .await
                .unwrap();
            rows.as_array()?
                .iter()
                .find(|r| r["kind"] == "debug" && r["outcome"] == "exit")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            row["user"].as_str(),
            row["pod"].as_str(),
            row["container"].as_str()
        ),
        (Some("alice"), Some("term-d"), Some("app"))
    );
    assert_eq!(
        row["detail"],
        format!("debug container {debug_name} (nicolaka/netshoot:v0.13)")
    );
    assert_eq!(row["exit_code"], 3);
    let refused = eventually(
        Duration::from_secs(20),
        "the refused plain shell in the audit trail",
        || async {
            let (_, rows) = admin
                .call("terminal_sessions", json!({"tenant": "alpha"}))
                .await
                .unwrap();
            rows.as_array()?
                .iter()
                .find(|r| r["kind"] == "session" && r["pod"] == "term-d" && r["outcome"] != "")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(refused["outcome"], "error: no shell");
}

#[tokio::test]
async fn file_transfer_without_tar_says_so_and_writes_nothing() {
    let app = spawn_app().await.unwrap();
    pod_in_alpha(
        &app,
        "term-t",
        json!([{"name": "app", "image": "registry.local/alpha/app:1"}]),
        json!({"sim.wharf.dev/missing-programs": "tar"}),
        "Running",
    )
    .await;
    let alice = app.login("alice").await.unwrap();
    let http = reqwest::Client::new();
    // The container's /tmp is its own folder's `tmp` on the demo node.
    let tmp = app
        .cluster
        .sim()
        .container_dir("alpha", "term-t", "app")
        .join("tmp");
    let url = |what: &str, path: &str| {
        app.url(&format!(
            "/{what}/terminal/alpha?ns=alpha&pod=term-t&path={}",
            wharf_api::logs::encode(path)
        ))
    };
    let listing = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };

    let res = http
        .post(url("upload", "/tmp/app.jar"))
        .header("cookie", alice.cookie().unwrap())
        .body(vec![9u8; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("This container has no tar"));
    assert!(
        listing().is_empty(),
        "something was written: {:?}",
        listing()
    );

    std::fs::write(tmp.join("there.txt"), "x").unwrap();
    let res = http
        .get(url("download", "/tmp/there.txt"))
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("This container has no tar"));
    assert_eq!(listing(), vec!["there.txt".to_string()]);
}

/// A user who is an admin of `tenant` only (the demo has none), with the demo password.
async fn tenant_admin(app: &TestApp, name: &str, tenant: &str) -> wharf_tests::Session {
    use k8s_openapi::api::core::v1::Secret;
    let hash = wharf_console::auth::hash_password(wharf_tests::DEMO_PASSWORD).unwrap();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("wharf-user-{name}")),
            namespace: Some("wharf-system".into()),
            ..Default::default()
        },
        data: Some(
            [(
                "passwordHash".to_string(),
                k8s_openapi::ByteString(hash.into_bytes()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(app.kube.clone(), "wharf-system")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let user: crds::User = serde_json::from_value(json!({"apiVersion": "wharf.dev/v1alpha1", "kind": "User", "metadata": {"name": name},
        "spec": {"displayName": name, "memberships": [{"tenant": tenant, "role": "admin"}], "passwordSecret": format!("wharf-user-{name}")}}))
    .unwrap();
    Api::<crds::User>::all(app.kube.clone())
        .create(&PostParams::default(), &user)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(20),
        "the new admin able to log in",
        || async { app.login(name).await.ok() },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn sessions_are_recorded_and_only_the_tenants_admins_replay_them() {
    let recordings = tempfile::tempdir().unwrap();
    let terminal = wharf_console::terminal::TerminalOptions {
        recordings: Some(recordings.path().to_path_buf()),
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(
        wharf_console::state::Settings {
            terminal,
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    running_pod(&app, "term-r").await;
    let alice = app.login("alice").await.unwrap();
    let (status, ok) = alice
        .call(
            "terminal_check",
            json!({"tenant": "alpha", "ns": "alpha", "pod": "term-r", "container": null}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, ok["recording"].as_bool()),
        (StatusCode::OK, Some(true)),
        "the page can say so before the shell opens"
    );

    let mut s = connect(
        &app,
        "alpha",
        "ns=alpha&pod=term-r&cols=90&rows=20",
        alice.cookie(),
    )
    .await
    .unwrap();
    let started = read_until(&mut s, r#""type":"started""#).await;
    assert!(
        started.contains(r#""recording":true"#),
        "the user is told: {started}"
    );
    type_in(&mut s, "echo $((6*7))\r").await;
    read_until(&mut s, "42").await;
    s.send(Message::Text(
        r#"{"type":"resize","cols":100,"rows":30}"#.into(),
    ))
    .await
    .unwrap();
    type_in(&mut s, "stty size\r").await;
    read_until(&mut s, "30 100").await;
    type_in(&mut s, "exit\r").await;
    read_until(&mut s, r#"{"type":"exit","code":0}"#).await;

    let admin = app.login("admin").await.unwrap();
    let row = eventually(
        Duration::from_secs(20),
        "the recorded session in the audit trail",
        || async {
            let (_, rows) = admin
                .call("terminal_sessions", json!({"tenant": "alpha"}))
                .await
                .unwrap();
            rows.as_array()?
                .iter()
                .find(|r| r["pod"] == "term-r" && r["outcome"] == "exit")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(row["recording"], true, "{row}");
    let id = row["id"].as_str().unwrap().to_string();
    let get = |tenant: &str, ns: &str, cookie: Option<&str>, download: bool| {
        let mut req = reqwest::Client::new().get(app.url(&format!(
            "/recordings/terminal/{tenant}?ns={ns}&session={id}{}",
            if download { "&download=true" } else { "" }
        )));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };

    // The platform admin replays it: asciicast v2 with the session's size, title, output and resize.
    let res = get("alpha", "alpha", admin.cookie(), false).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-asciicast");
    let cast = wharf_api::terminal::cast::parse(&res.text().await.unwrap()).unwrap();
    assert_eq!(
        (cast.header.version, cast.header.width, cast.header.height),
        (2, 90, 20)
    );
    let title = cast.header.title.clone().unwrap();
    assert!(
        title.contains("alice") && title.contains("alpha/term-r"),
        "{title}"
    );
    use wharf_api::terminal::cast::EventKind;
    let output: String = cast
        .events
        .iter()
        .filter_map(|e| {
            if let EventKind::Output(t) = &e.kind {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    assert!(
        output.contains("42") && output.contains("30 100"),
        "{output}"
    );
    let resized = cast
        .events
        .iter()
        .position(|e| {
            e.kind
                == EventKind::Resize {
                    cols: 100,
                    rows: 30,
                }
        })
        .expect("the resize is recorded");
    let answered = cast
        .events
        .iter()
        .position(|e| matches!(&e.kind, EventKind::Output(t) if t.contains("30 100")))
        .unwrap();
    assert!(
        resized < answered,
        "the resize comes before what it changed"
    );
    assert!(cast.events.windows(2).all(|w| w[0].time <= w[1].time));
    let res = get("alpha", "alpha", admin.cookie(), true).await.unwrap();
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"{id}.cast\"").as_str()
    );

    // A tenant admin of alpha may; alpha's developer and viewer may not; beta's admin may not,
    // neither through alpha nor through beta; strangers are asked to log in.
    // ada is the demo's admin of alpha
    let ada = app.login("ada").await.unwrap();
    let tina = tenant_admin(&app, "tina", "beta").await;
    let vera = app.login("vera").await.unwrap();
    assert_eq!(
        get("alpha", "alpha", ada.cookie(), true)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for (who, tenant, cookie) in [
        ("alice", "alpha", alice.cookie()),
        ("vera", "alpha", vera.cookie()),
        ("tina", "alpha", tina.cookie()),
        ("tina", "beta", tina.cookie()),
    ] {
        for download in [false, true] {
            let res = get(tenant, "alpha", cookie, download).await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who} via {tenant}");
        }
    }
    assert_eq!(
        get("alpha", "alpha", None, false).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // the audit list itself is admins' only
    assert_eq!(
        alice
            .call("terminal_sessions", json!({"tenant": "alpha"}))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ada.call("terminal_sessions", json!({"tenant": "alpha"}))
            .await
            .unwrap()
            .0,
        StatusCode::OK
    );
    assert_eq!(
        tina.call("terminal_sessions", json!({"tenant": "alpha"}))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    // Unknown and malformed ids.
    let res = reqwest::Client::new()
        .get(app.url("/recordings/terminal/alpha?ns=alpha&session=wharf-session-nope"))
        .header("cookie", admin.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = reqwest::Client::new()
        .get(app.url("/recordings/terminal/alpha?ns=alpha&session=..%2F..%2Fetc"))
        .header("cookie", admin.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_recording_stops_at_its_size_limit_and_retention_deletes_it_but_never_one_being_written()
{
    use std::time::SystemTime;
    use wharf_api::terminal::cast::{event_line, parse, size_limit_marker, EventKind};
    let recordings = tempfile::tempdir().unwrap();
    // A few KB where the flag speaks of MB: the same recorder, a limit a test can reach.
    let limit = 4096;
    let terminal = wharf_console::terminal::TerminalOptions {
        recordings: Some(recordings.path().to_path_buf()),
        recording_max_bytes: Some(limit),
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(
        wharf_console::state::Settings {
            terminal,
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    running_pod(&app, "term-s").await;
    let alice = app.login("alice").await.unwrap();

    // About 19 KB of output: the recording stops at 4 KB, the session goes on whole.
    let mut s = connect(
        &app,
        "alpha",
        "ns=alpha&pod=term-s&container=sidecar",
        alice.cookie(),
    )
    .await
    .unwrap();
    read_until(&mut s, r#""type":"started""#).await;
    type_in(&mut s, "seq 1 4000; echo done-$((6*7))\r").await;
    let mut seen = read_until(&mut s, "done-42").await;
    assert!(seen.contains("\r\n3999\r\n"), "the user saw all the output");
    // ...and is told the recording stopped (the page swaps its REC badge for this).
    let stopped = r#"<control {"type":"recording_stopped","limit_bytes":4096}>"#;
    if !seen.contains(stopped) {
        seen.push_str(&read_until(&mut s, stopped).await);
    }
    assert_eq!(
        seen.matches(r#""type":"recording_stopped""#).count(),
        1,
        "told once"
    );
    type_in(&mut s, "echo after-$((7*7))\r").await;
    read_until(&mut s, "after-49").await;
    type_in(&mut s, "exit\r").await;
    read_until(&mut s, r#"{"type":"exit","code":0}"#).await;

    let admin = app.login("admin").await.unwrap();
    let sessions = || async {
        let (status, rows) = admin
            .call("terminal_sessions", json!({"tenant": "alpha"}))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{rows}");
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["pod"] == "term-s")
            .cloned()
            .collect::<Vec<Value>>()
    };
    let row = eventually(
        Duration::from_secs(20),
        "the truncated session in the audit trail",
        || async {
            sessions()
                .await
                .into_iter()
                .find(|r| r["outcome"] == "exit")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            row["recording"].as_bool(),
            row["recording_truncated"].as_bool(),
            row["recording_expired"].as_bool()
        ),
        (Some(true), Some(true), Some(false)),
        "{row}"
    );
    let id = row["id"].as_str().unwrap().to_string();
    let download = |id: &str| {
        reqwest::Client::new()
            .get(app.url(&format!(
                "/recordings/terminal/alpha?ns=alpha&session={id}&download=true"
            )))
            .header("cookie", admin.cookie().unwrap())
            .send()
    };

    // The download endpoint serves it: valid asciicast v2, the start of the session, then the marker.
    let res = download(&id).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"{id}.cast\"").as_str()
    );
    let text = res.text().await.unwrap();
    let cast = parse(&text).expect("a valid asciicast v2 file");
    let last = cast.events.last().unwrap();
    assert_eq!(
        last.kind,
        EventKind::Output(size_limit_marker(limit)),
        "it ends with the marker"
    );
    let marker_line = event_line(last.time, &last.kind).unwrap().len() as u64 + 1;
    assert!(
        text.len() as u64 <= limit + marker_line,
        "{} bytes for a limit of {limit}",
        text.len()
    );
    let output: String = cast
        .events
        .iter()
        .filter_map(|e| {
            if let EventKind::Output(t) = &e.kind {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    assert!(
        output.contains("\r\n100\r\n"),
        "the start of the output is there: {output}"
    );
    assert!(
        !output.contains("done-42") && !output.contains("after-49"),
        "nothing past the limit"
    );

    // A second session, still open while the sweep runs.
    let mut live = connect(
        &app,
        "alpha",
        "ns=alpha&pod=term-s&container=sidecar",
        alice.cookie(),
    )
    .await
    .unwrap();
    read_until(&mut live, r#""type":"started""#).await;
    type_in(&mut live, "echo live-$((8*8))\r").await;
    read_until(&mut live, "live-64").await;
    let open = eventually(
        Duration::from_secs(20),
        "the open session in the audit trail",
        || async {
            sessions()
                .await
                .into_iter()
                .find(|r| r["id"] != id.as_str())
        },
    )
    .await
    .unwrap();
    let live_id = open["id"].as_str().unwrap().to_string();
    let live_path = wharf_console::terminal::recording_path(recordings.path(), "alpha", &live_id);
    assert!(live_path.exists());

    // Sixty days on, with thirty days kept: the closed recording goes, the open one stays.
    let later = SystemTime::now() + Duration::from_secs(60 * 86_400);
    let report = server::terminal::retention::sweep(
        recordings.path(),
        later,
        Some(Duration::from_secs(30 * 86_400)),
        None,
    );
    let removed: Vec<_> = report.removed.iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        removed,
        vec![wharf_console::terminal::recording_path(
            recordings.path(),
            "alpha",
            &id
        )],
        "{report:?}"
    );
    assert_eq!(
        report.active,
        vec![live_path.clone()],
        "the open session's recording is protected"
    );
    assert!(live_path.exists());

    // The sessions list shows the swept one without a replay link, and the link would say 404.
    let row = sessions()
        .await
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(
        (
            row["recording"].as_bool(),
            row["recording_expired"].as_bool()
        ),
        (Some(true), Some(true)),
        "{row}"
    );
    assert_eq!(download(&id).await.unwrap().status(), StatusCode::NOT_FOUND);

    // The open session goes on recording, and once it has ended the next sweep may take it.
    type_in(&mut live, "echo still-$((9*9))\r").await;
    read_until(&mut live, "still-81").await;
    type_in(&mut live, "exit\r").await;
    read_until(&mut live, r#"{"type":"exit","code":0}"#).await;
    let row = eventually(
        Duration::from_secs(20),
        "the second session closed",
        || async {
            sessions()
                .await
                .into_iter()
                .find(|r| r["id"] == live_id.as_str() && r["outcome"] == "exit")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            row["recording"].as_bool(),
            row["recording_truncated"].as_bool(),
            row["recording_expired"].as_bool()
        ),
        (Some(true), Some(false), Some(false)),
        "{row}"
    );
    let res = download(&live_id).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text().await.unwrap().contains("still-81"),
        "written on through the sweep"
    );
    let report = server::terminal::retention::sweep(
        recordings.path(),
        later,
        Some(Duration::from_secs(30 * 86_400)),
        None,
    );
    assert_eq!(
        report
            .removed
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>(),
        vec![live_path],
        "{report:?}"
    );
    assert!(report.active.is_empty());
}

wharf_tests::on_both_clusters!(clients: a_debug_container_is_added_or_its_absence_is_said_plainly);

/// Debug containers go through the pod's `ephemeralcontainers` subresource: the demo cluster
/// serves it; kube-apiserver 1.20 does not (a feature gate, off by default, before 1.23),
/// and there the console says so in a sentence instead of "the server could not find the
/// requested resource".
async fn a_debug_container_is_added_or_its_absence_is_said_plainly(
    clients: wharf_tests::real::Clients,
) {
    use server::terminal::debug;
    let pods: Api<Pod> = Api::namespaced(clients.console.clone(), "alpha");
    let pod: Pod =
        serde_json::from_value(json!({"metadata": {"name": "quiet", "namespace": "alpha"},
        "spec": {"containers": [{"name": "app", "image": "distroless/app:1"}]}}))
        .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let target = wharf_console::terminal::Target {
        namespace: "alpha".into(),
        pod: "quiet".into(),
        container: "app".into(),
    };
    let added = debug::add(&pods, &target, "debug-abcde", "busybox:1.36").await;
    if clients.cluster.is_real() {
        assert_eq!(added, Err(debug::unsupported()));
    } else {
        assert_eq!(added, Ok(()));
        let pod = pods.get("quiet").await.unwrap();
        assert_eq!(
            pod.spec.unwrap().ephemeral_containers.unwrap()[0].name,
            "debug-abcde"
        );
    }
    if !clients.cluster.is_real() {
        // where the feature is served, a pod that does not exist is named as such
        let missing = wharf_console::terminal::Target {
            pod: "nowhere".into(),
            ..target
        };
        let err = debug::add(&pods, &missing, "debug-fghij", "busybox:1.36")
            .await
            .unwrap_err();
        assert!(err.en.contains("nowhere"), "{err}");
    }
}

/// Where the demo node cannot sandbox its containers, a shell would be this machine's user:
/// only platform admins get one; everyone else is told why, at every entry point.
#[tokio::test]
async fn without_the_demo_sandbox_only_platform_admins_get_shells() {
    let mut settings = wharf_console::state::Settings::default();
    settings.terminal.unconfined = Some("bubblewrap (bwrap) is not installed".into());
    let app = wharf_tests::spawn_app_with(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    running_pod(&app, "term-u").await;
    let (alice, admin) = (
        app.login("alice").await.unwrap(),
        app.login("admin").await.unwrap(),
    );
    let check = json!({"tenant": "alpha", "ns": "alpha", "pod": "term-u", "container": null});
    let (status, refused) = alice.call("terminal_check", check.clone()).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    for words in [
        "shells are turned off on this demo cluster",
        "bubblewrap (bwrap) is not installed",
        "此演示集群已关闭终端",
    ] {
        assert!(refused.to_string().contains(words), "{refused}");
    }
    assert_eq!(
        connect(&app, "alpha", "ns=alpha&pod=term-u", alice.cookie())
            .await
            .err(),
        Some(403)
    );
    let http = reqwest::Client::new();
    let url = |what: &str| {
        app.url(&format!(
            "/{what}/terminal/alpha?ns=alpha&pod=term-u&path=/tmp/x.bin"
        ))
    };
    let res = http
        .post(url("upload"))
        .header("cookie", alice.cookie().unwrap())
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = http
        .get(url("download"))
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The platform admin is the machine's owner anyway.
    let (status, ok) = admin.call("terminal_check", check).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{ok}");
    let mut s = connect(&app, "alpha", "ns=alpha&pod=term-u", admin.cookie())
        .await
        .expect("the platform admin gets a shell");
    read_until(&mut s, "\"type\":\"started\"").await;
}

/// A developer's shell in the demo sees its container, not the machine: not the demo's
/// kubeconfig beside the node's folders, not other pods' folders, nowhere to write outside.
#[tokio::test]
async fn a_developers_shell_in_the_demo_cannot_reach_the_machine() {
    let app = spawn_app().await.unwrap();
    running_pod(&app, "term-s").await;
    running_pod(&app, "term-o").await;
    let sim = app.cluster.sim();
    assert_eq!(
        sim.sandbox_unavailable(),
        None,
        "the demo node needs bubblewrap"
    );
    let node_dir = sim.shared_dir().parent().unwrap().to_path_buf();
    let kubeconfig = node_dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig_yaml()).unwrap();
    let other = sim.container_dir("alpha", "term-o", "app");
    let alice = app.login("alice").await.unwrap();
    let mut s = connect(&app, "alpha", "ns=alpha&pod=term-s", alice.cookie())
        .await
        .expect("alice gets a shell");
    read_until(&mut s, "\"type\":\"started\"").await;
    type_in(
        &mut s,
        &format!(
            "cat {k} || printf 'NO-%s\\n' KUBECONFIG; ls {o} || printf 'NO-%s\\n' OTHER-POD; echo x > {n}/planted || printf 'NO-%s\\n' WRITE\r",
            k = kubeconfig.display(),
            o = other.display(),
            n = node_dir.display()
        ),
    )
    .await;
    let seen = read_until(&mut s, "NO-WRITE").await;
    assert!(seen.contains("NO-KUBECONFIG"), "{seen}");
    assert!(
        !seen.contains("client-certificate") && !seen.contains("token:"),
        "{seen}"
    );
    assert!(seen.contains("NO-OTHER-POD"), "{seen}");
    assert!(!node_dir.join("planted").exists());
}
