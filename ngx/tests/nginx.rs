//! Integration tests against Debian's real nginx: each test starts its own
//! master on its own prefix and loopback ports, with tiny backends on
//! 127.0.0.x answering their own name.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use ngx::{Agent, Error, Mode, Outcome};
use support::*;

const T: Duration = Duration::from_secs(10);

/// Bodies seen over `n` requests to host/path.
async fn bodies(node: &Node, host: &str, path: &str, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        if let Some((200, body)) = node.hit(host, path).await {
            seen.insert(body);
        }
    }
    seen
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Installs `state` on a fresh node, starts nginx, returns the agent.
async fn boot(node: &mut Node, routes: Vec<ngx::Route>, upstreams: Vec<ngx::Upstream>) -> Agent {
    let state = node.state(routes, upstreams);
    let agent = Agent::start(node.agent_config()).unwrap();
    let out = agent.apply(state).await.unwrap();
    assert!(matches!(out, Outcome::Installed { .. }), "{out:?}");
    node.start_nginx().await;
    agent
}

async fn new_service_becomes_routable_and_scaling_spreads_traffic(mode: Mode) {
    let (a, b) = (backend(2, "a").await, backend(3, "b").await);
    let mut node = Node::new(mode);
    let agent = boot(
        &mut node,
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    )
    .await;
    eventually("route serves a", T, || async {
        (node.hit("shop.test", "/").await == Some((200, "a".into()))).then_some(())
    })
    .await;
    assert_eq!(node.hit("other.test", "/").await.map(|r| r.0), Some(404));

    // Scale up: b joins.
    let out = agent
        .apply(node.state(
            vec![route("shop/web", "shop.test", "/", "web")],
            vec![service("web", vec![a.peer(), b.peer()])],
        ))
        .await
        .unwrap();
    match mode {
        Mode::Dynamic => assert_eq!(out, Outcome::PeersPushed { upstreams: 1 }),
        Mode::Static => assert!(matches!(out, Outcome::Reloaded { .. }), "{out:?}"),
    }
    // Applied means confirmed: traffic reaches both right away.
    assert_eq!(bodies(&node, "shop.test", "/", 8).await, set(&["a", "b"]));

    // Scale down to b only.
    agent
        .apply(node.state(
            vec![route("shop/web", "shop.test", "/", "web")],
            vec![service("web", vec![b.peer()])],
        ))
        .await
        .unwrap();
    assert_eq!(bodies(&node, "shop.test", "/", 6).await, set(&["b"]));

    let st = agent.status();
    match mode {
        Mode::Dynamic => {
            assert_eq!(
                st.reload_count, 0,
                "endpoint changes must not reload in the dynamic mode"
            );
            assert_eq!(node.reloads_logged(), 0);
            assert_eq!(st.peer_push_count, 2);
        }
        Mode::Static => assert_eq!(st.reload_count, 2),
    }
    assert!(st.in_sync(), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_new_service_routable_and_endpoint_changes_without_reload() {
    new_service_becomes_routable_and_scaling_spreads_traffic(Mode::Dynamic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_new_service_routable_and_endpoint_changes_reload() {
    new_service_becomes_routable_and_scaling_spreads_traffic(Mode::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_new_route_reloads_then_routes() {
    let (a, b) = (backend(4, "a").await, backend(5, "b").await);
    let mut node = Node::new(Mode::Dynamic);
    let agent = boot(
        &mut node,
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    )
    .await;
    let out = agent
        .apply(node.state(
            vec![
                route("shop/web", "shop.test", "/", "web"),
                route("shop/api", "api.test", "/", "api"),
            ],
            vec![
                service("web", vec![a.peer()]),
                service("api", vec![b.peer()]),
            ],
        ))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Reloaded { .. }), "{out:?}");
    assert_eq!(node.hit("api.test", "/").await, Some((200, "b".into())));
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_burst_of_twenty_changes_is_at_most_two_reloads() {
    let backs = [
        backend(6, "p0").await,
        backend(6, "p1").await,
        backend(6, "p2").await,
        backend(6, "p3").await,
    ];
    let mut node = Node::new(Mode::Static);
    let r = || vec![route("shop/web", "shop.test", "/", "web")];
    let agent = boot(&mut node, r(), vec![service("web", vec![backs[0].peer()])]).await;
    let mut last = 0;
    for i in 0..20 {
        let peers = vec![backs[i % 4].peer(), backs[(i + 1) % 4].peer()];
        last = agent.submit(node.state(r(), vec![service("web", peers)]));
    }
    agent.wait(last).await.unwrap();
    let st = agent.status();
    assert!(
        st.reload_count <= 2,
        "20 changes gave {} reloads",
        st.reload_count
    );
    assert!(node.reloads_logged() <= 2);
    // The final state (i = 19: p3 and p0) is what serves.
    assert_eq!(bodies(&node, "shop.test", "/", 8).await, set(&["p3", "p0"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_route_makes_it_404() {
    let a = backend(7, "a").await;
    let mut node = Node::new(Mode::Dynamic);
    let both = vec![
        route("shop/web", "shop.test", "/", "web"),
        route("shop/admin", "shop.test", "/admin", "web"),
    ];
    let agent = boot(&mut node, both, vec![service("web", vec![a.peer()])]).await;
    assert_eq!(
        node.hit("shop.test", "/admin/x").await,
        Some((200, "a".into()))
    );
    agent
        .apply(node.state(
            vec![route("shop/admin", "shop.test", "/admin", "web")],
            vec![service("web", vec![a.peer()])],
        ))
        .await
        .unwrap();
    assert_eq!(node.hit("shop.test", "/").await.map(|r| r.0), Some(404));
    assert_eq!(
        node.hit("shop.test", "/admin").await,
        Some((200, "a".into()))
    );
    agent
        .apply(node.state(vec![], vec![service("web", vec![a.peer()])]))
        .await
        .unwrap();
    assert_eq!(
        node.hit("shop.test", "/admin").await.map(|r| r.0),
        Some(404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_directive_is_rejected_with_nginx_message_and_old_config_serves() {
    let a = backend(8, "a").await;
    let mut node = Node::new(Mode::Dynamic);
    let good = node.state(
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    );
    let agent = boot(&mut node, good.routes.clone(), good.upstreams.clone()).await;
    let before = std::fs::read_link(node.paths.current_link()).unwrap();

    let mut bad = good.clone();
    bad.routes[0].directives = vec!["proxy_buffers banana".into()];
    let err = agent.apply(bad).await.unwrap_err();
    let Error::Nginx(e) = &err else {
        panic!("expected nginx's verdict, got {err:?}")
    };
    assert!(e.message.contains("proxy_buffers"), "{e:?}");
    assert_eq!(
        e.file.as_deref(),
        Some(std::path::Path::new("servers/shop.test.conf"))
    );
    assert!(e.line.is_some());

    assert_eq!(
        std::fs::read_link(node.paths.current_link()).unwrap(),
        before,
        "live files must stay"
    );
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
    let st = agent.status();
    assert_eq!(
        st.last_error
            .as_ref()
            .and_then(|l| l.nginx.clone())
            .as_ref(),
        Some(e)
    );
    assert_eq!(st.reload_count, 0);
    assert_eq!(node.releases(), 1, "no staging left behind");

    // The next good apply clears the error.
    agent.apply(good).await.unwrap();
    assert!(agent.status().last_error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_is_rejected_before_nginx() {
    let a = backend(9, "a").await;
    let mut node = Node::new(Mode::Static);
    let good = node.state(
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    );
    let agent = boot(&mut node, good.routes.clone(), good.upstreams.clone()).await;
    for d in [
        "client_max_body_size 1m; include /etc/passwd",
        "add_header X y } server { listen 9",
        "include /etc/nginx/nginx.conf",
        "add_header X \"open",
    ] {
        let mut bad = good.clone();
        bad.routes[0].directives = vec![d.into()];
        let err = agent.apply(bad).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{d}: {err:?}");
    }
    assert_eq!(node.releases(), 1);
    assert_eq!(node.reloads_logged(), 0);
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edit_is_reported_as_drift_with_a_diff() {
    let a = backend(10, "a").await;
    let mut node = Node::new(Mode::Dynamic);
    let state = node.state(
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    );
    let agent = boot(&mut node, state.routes.clone(), state.upstreams.clone()).await;
    assert!(agent.drift().await.unwrap().is_none());
    assert!(agent.status().in_sync());

    let file = node.live_file("servers/shop.test.conf");
    let edited = std::fs::read_to_string(&file).unwrap().replace(
        "server_name shop.test;",
        "server_name shop.test;\n    client_max_body_size 500m;",
    );
    std::fs::write(&file, edited).unwrap();

    let d = agent.drift().await.unwrap().expect("drift");
    assert_ne!(d.expected_sha, d.actual_sha);
    assert_eq!(d.files.len(), 1);
    assert!(
        d.diff.contains("+++ b/servers/shop.test.conf"),
        "{}",
        d.diff
    );
    assert!(
        d.diff.contains("+    client_max_body_size 500m;"),
        "{}",
        d.diff
    );
    let st = agent.status();
    assert_eq!(st.on_disk_sha.as_deref(), Some(d.actual_sha.as_str()));
    assert!(!st.in_sync());

    // Repair puts the rendered files back.
    agent.repair(&state).await.unwrap();
    assert!(agent.drift().await.unwrap().is_none());
}

async fn restarted_agent_converges_without_reload(mode: Mode) {
    let a = backend(11, "a").await;
    let mut node = Node::new(mode);
    let state = node.state(
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    );
    let agent = boot(&mut node, state.routes.clone(), state.upstreams.clone()).await;
    agent.shutdown().await;

    let agent = Agent::start(node.agent_config()).unwrap();
    assert_eq!(
        agent.apply(state.clone()).await.unwrap(),
        Outcome::Unchanged
    );
    assert_eq!(node.reloads_logged(), 0);
    let st = agent.status();
    assert_eq!(st.reload_count, 0);
    assert!(st.in_sync(), "{st:?}");
    assert!(agent.drift().await.unwrap().is_none());
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_restarted_agent_does_not_reload() {
    restarted_agent_converges_without_reload(Mode::Dynamic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_restarted_agent_does_not_reload() {
    restarted_agent_converges_without_reload(Mode::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reload_rolls_back_the_files() {
    let a = backend(12, "a").await;
    let mut node = Node::new(Mode::Static);
    let state = node.state(
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    );
    let agent = boot(&mut node, state.routes.clone(), state.upstreams.clone()).await;
    let before = std::fs::read_link(node.paths.current_link()).unwrap();

    // Passes `nginx -t` (which binds nothing) but the reload cannot bind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut moved = state.clone();
    moved.cluster.listen.http = taken.local_addr().unwrap().port();
    let err = agent.apply(moved).await.unwrap_err();
    assert!(matches!(err, Error::Reload(_)), "{err:?}");
    assert!(err.to_string().contains("bind"), "{err}");
    assert_eq!(
        std::fs::read_link(node.paths.current_link()).unwrap(),
        before
    );
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_restart_without_agent_keeps_dynamic_peers() {
    let a = backend(13, "a").await;
    let b = backend(13, "b").await;
    let mut node = Node::new(Mode::Dynamic);
    let r = || vec![route("shop/web", "shop.test", "/", "web")];
    let agent = boot(&mut node, r(), vec![service("web", vec![a.peer()])]).await;
    agent
        .apply(node.state(r(), vec![service("web", vec![b.peer()])]))
        .await
        .unwrap();
    // The seed is written after the push, off the agent's path.
    agent.settle().await;
    // nginx restarts on its own: the shared dict is empty, the seed file is not.
    node.nginx.take().unwrap().stop().await.unwrap();
    node.start_nginx().await;
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "b".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nginx_restarted_with_old_peers_gets_them_pushed_again() {
    let a = backend(14, "a").await;
    let b = backend(14, "b").await;
    let mut node = Node::new(Mode::Dynamic);
    let r = || vec![route("shop/web", "shop.test", "/", "web")];
    let agent = boot(&mut node, r(), vec![service("web", vec![a.peer()])]).await;
    let old_seed = std::fs::read_to_string(node.paths.peers_file()).unwrap();
    agent
        .apply(node.state(r(), vec![service("web", vec![b.peer()])]))
        .await
        .unwrap();
    agent.settle().await;
    // nginx restarts before the new seed reached the disk: it comes back with a.
    std::fs::write(node.paths.peers_file(), old_seed).unwrap();
    node.nginx.take().unwrap().stop().await.unwrap();
    node.start_nginx().await;
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
    let pushes = agent.status().peer_push_count;
    // The heartbeat's check notices and the agent pushes b again, without a reload.
    agent.drift().await.unwrap();
    eventually("b is served again", T, || async {
        (node.hit("shop.test", "/").await == Some((200, "b".into()))).then_some(())
    })
    .await;
    assert_eq!(agent.status().peer_push_count, pushes + 1);
    assert_eq!(agent.status().reload_count, 0);
}

/// An upstream whose last peer went away answers 502, in both modes, and serves again as
/// soon as a peer is back.
async fn no_ready_peer_is_a_502(mode: Mode) {
    let a = backend(8, "a").await;
    let mut node = Node::new(mode);
    let agent = boot(
        &mut node,
        vec![route("shop/web", "shop.test", "/", "web")],
        vec![service("web", vec![a.peer()])],
    )
    .await;
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
    agent
        .apply(node.state(
            vec![route("shop/web", "shop.test", "/", "web")],
            vec![service("web", vec![])],
        ))
        .await
        .unwrap();
    assert_eq!(node.hit("shop.test", "/").await.map(|r| r.0), Some(502));
    agent
        .apply(node.state(
            vec![route("shop/web", "shop.test", "/", "web")],
            vec![service("web", vec![a.peer()])],
        ))
        .await
        .unwrap();
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_no_ready_peer_is_a_502() {
    no_ready_peer_is_a_502(Mode::Dynamic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_no_ready_peer_is_a_502() {
    no_ready_peer_is_a_502(Mode::Static).await;
}

/// The control endpoint answers only the agent: without its token (or with another) nothing
/// can read or change the peer table, and with it the table's size and weights are bounded
/// by nginx itself, whatever the agent sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_control_endpoint_needs_the_agents_token_and_bounds_its_input() {
    let a = backend(15, "a").await;
    let mut node = Node::new(Mode::Dynamic);
    let r = || vec![route("shop/web", "shop.test", "/", "web")];
    let agent = boot(&mut node, r(), vec![service("web", vec![a.peer()])]).await;
    eventually("route serves a", T, || async {
        (node.hit("shop.test", "/").await == Some((200, "a".into()))).then_some(())
    })
    .await;
    let token = node.paths.control_token().unwrap();
    assert_eq!(token.len(), 64);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(node.paths.control_token_file())
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let control = |method: &'static str, token: Option<String>, body: Option<String>| {
        let addr = node.control();
        async move {
            let headers: Vec<(&str, &str)> = token
                .as_deref()
                .map(|t| vec![(ngx::CONTROL_TOKEN_HEADER, t)])
                .unwrap_or_default();
            ngx::http::request_with(
                addr,
                method,
                "/wharf/upstreams",
                None,
                &headers,
                body.as_deref().map(str::as_bytes),
                T,
            )
            .await
            .unwrap()
        }
    };
    let held = control("GET", Some(token.clone()), None).await;
    assert_eq!(held.status, 200);
    assert!(
        held.body.contains(&a.peer().addr.port().to_string()),
        "{}",
        held.body
    );

    // strangers: 403 for reading and for writing, and the table is what it was
    let hijack = "web 127.0.0.99,9,1,p\n".to_string();
    for t in [None, Some("0".repeat(64)), Some(token[..63].to_string())] {
        assert_eq!(control("GET", t.clone(), None).await.status, 403, "{t:?}");
        assert_eq!(
            control("POST", t.clone(), Some(hijack.clone()))
                .await
                .status,
            403,
            "{t:?}"
        );
    }
    assert_eq!(
        control("GET", Some(token.clone()), None).await.body,
        held.body
    );
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));

    // the agent's token, out-of-bounds input: refused with the reason, table unchanged
    let many: String = (0..5001)
        .map(|i| format!("127.0.0.2,{},1,p ", 1000 + i))
        .collect();
    for (doc, says) in [
        (
            "web 127.0.0.2,80,1000000,p\n".to_string(),
            "weight outside 1..100",
        ),
        (
            "web 127.0.0.2,80,0,p\n".to_string(),
            "weight outside 1..100",
        ),
        ("web 127.0.0.2,0,1,p\n".to_string(), "bad port"),
        ("web 127.0.0.2,70000,1,p\n".to_string(), "bad port"),
        (format!("web {many}\n"), "more than 5000 peers"),
        (
            "web 127.0.0.2,80,1,p\nweb 127.0.0.3,80,1,p\n".to_string(),
            "upstream twice",
        ),
    ] {
        let r = control("POST", Some(token.clone()), Some(doc)).await;
        assert_eq!(r.status, 400, "{says}: {}", r.body);
        assert!(r.body.contains(says), "{says}: {}", r.body);
    }
    assert_eq!(
        control("GET", Some(token.clone()), None).await.body,
        held.body
    );
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));
    // and the agent itself still pushes
    let b = backend(15, "b").await;
    agent
        .apply(node.state(r(), vec![service("web", vec![b.peer()])]))
        .await
        .unwrap();
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "b".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_version_is_read_once_at_start() {
    let v = ngx::nginx::version(std::path::Path::new(NGINX))
        .await
        .unwrap();
    let mut parts = v.split('.');
    assert!(
        (0..3).all(|_| parts
            .next()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))),
        "{v}"
    );

    // the agent reports it before anything is applied
    let node = Node::new(Mode::Static);
    let agent = Agent::start(node.agent_config()).unwrap();
    let mut status = agent.watch_status();
    let seen = status
        .wait_for(|s| s.nginx_version.is_some())
        .await
        .unwrap()
        .nginx_version
        .clone();
    assert_eq!(seen.as_deref(), Some(v.as_str()));
    // and in the status the console gets
    assert!(serde_json::to_string(&agent.status())
        .unwrap()
        .contains(&format!("\"nginxVersion\":\"{v}\"")));

    // a binary that is not there: no version, and no failure because of it
    let err = ngx::nginx::version(std::path::Path::new("/nonexistent/nginx"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err}");
    let mut cfg = node.converger_config();
    cfg.paths.nginx_bin = "/nonexistent/nginx".into();
    let mut conv = ngx::Converger::new(cfg).unwrap();
    conv.read_nginx_version().await;
    assert_eq!(conv.status().nginx_version, None);
    let out = conv
        .apply(&node.state(vec![route("shop/web", "shop.test", "/", "web")], vec![]))
        .await;
    // (nginx -t cannot run either; the version is not what fails)
    assert!(matches!(out, Err(Error::Spawn { .. })), "{out:?}");
}
