//! nginx end to end: a node agent (in-process, as `wharf ng-agent` runs it) in front of a
//! real nginx master on loopback ports, following the demo cluster; real HTTP through nginx
//! to the demo cluster's pods, and real HTTPS with routes' TLS secrets. And the console's
//! NgFront over HTTP: its functions, its live socket, the repair of a drifted node.

use crds::nginx::{NginxCluster, NginxRoute};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::ResourceExt;
use ngx::Mode;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use wharf_tests::nginx::*;
use wharf_tests::{eventually, on_both_clusters, spawn_app, TestApp};

#[tokio::test]
async fn a_new_service_becomes_routable_scaling_needs_no_reload_and_deletion_removes_it() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let mut node = Node::new();
    node.start(&app).await;
    assert_eq!(
        node.hit("shop.alpha.demo").await.map(|r| r.0),
        Some(404),
        "nothing routed yet"
    );

    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    eventually(WITHIN, "the new service answers through nginx", || async {
        (pods_answering(&node, "shop.alpha.demo", 1).await.len() == 1).then_some(())
    })
    .await
    .unwrap();

    let reloads = node.reloads();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    deployments
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    eventually(WITHIN, "three pods answer through nginx", || async {
        (pods_answering(&node, "shop.alpha.demo", 12).await.len() == 3).then_some(())
    })
    .await
    .unwrap();
    if node.opts.mode == Mode::Dynamic {
        assert_eq!(
            node.reloads(),
            reloads,
            "endpoint-only changes must not reload nginx in the dynamic mode"
        );
        assert!(node.engine().status().peer_push_count >= 1);
    }

    Api::<Service>::namespaced(app.kube.clone(), "alpha")
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap();
    eventually(WITHIN, "a deleted service stops answering", || async {
        node.hit("shop.alpha.demo")
            .await
            .filter(|(s, _)| *s != 200)
            .map(|_| ())
    })
    .await
    .unwrap();
    Api::<NginxRoute>::namespaced(app.kube.clone(), "alpha")
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        WITHIN,
        "a deleted route falls to the default server",
        || async {
            node.hit("shop.alpha.demo")
                .await
                .filter(|(s, _)| *s == 404)
                .map(|_| ())
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_tenant_routes_only_its_own_host_names() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let alice = app.login("alice").await.unwrap();
    let external = |host: &str| {
        json!({"tenant": "alpha", "change": {"kind": "AddExternal", "cluster": "edge", "namespace": "alpha",
            "name": "legacy", "host": host, "path": "/", "servers": ["10.0.0.5:8080"], "directives": []}})
    };
    for host in [
        "billing.beta.demo",
        "alpha.demo",
        "shop.alpha.demo.evil.com",
    ] {
        for endpoint in ["validate_nginx_change", "apply_nginx_change"] {
            let (status, body) = alice.call(endpoint, external(host)).await.unwrap();
            assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint} {host}: {body}");
            assert!(
                body.to_string().contains("*.alpha.demo"),
                "names the tenant's own patterns: {body}"
            );
        }
    }
    let routes: kube::Api<crds::NginxRoute> = kube::Api::namespaced(app.kube.clone(), "alpha");
    assert!(routes.get_opt("legacy").await.unwrap().is_none());
    let (status, body) = alice
        .call("apply_nginx_change", external("legacy.alpha.demo"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        routes.get("legacy").await.unwrap().spec.host,
        "legacy.alpha.demo"
    );

    // A route written to the cluster directly (kubectl, GitOps) is held to the same names: the
    // agent leaves beta's host out of alpha's routes, upper case or not, and says why.
    deploy(&app, "shop", 1, 80).await;
    deploy(&app, "squat", 1, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    route(&app, "squat", "Billing.Beta.demo", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    node.wait_ok("shop.alpha.demo", "alpha's own route answers")
        .await;
    let refused = eventually(WITHIN, "the squatting route reported", || async {
        route_errors(&app)
            .await
            .into_iter()
            .find(|(r, _)| r == "alpha/squat")
    })
    .await
    .unwrap();
    assert!(
        refused.1.contains("billing.beta.demo") && refused.1.contains("*.alpha.demo"),
        "{refused:?}"
    );
    assert_eq!(
        node.hit("billing.beta.demo").await.map(|r| r.0),
        Some(404),
        "beta's host is not served by alpha's route"
    );
    let live = node.live_config().to_ascii_lowercase();
    assert!(live.contains("shop.alpha.demo") && !live.contains("billing.beta.demo"));
}

/// A host belongs to the tenant that routed it first: even where a platform admin gave two
/// tenants overlapping host names (before the Tenants page refused that), the second tenant
/// cannot route the host, in another case or under another path (it would be served inside the
/// first tenant's server block, with its certificate).
#[tokio::test]
async fn a_host_routed_by_one_tenant_is_not_routed_by_another() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let clusters: kube::Api<crds::NginxCluster> = kube::Api::all(app.kube.clone());
    clusters
        .patch(
            "edge",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"tenants": ["alpha", "beta"]}})),
        )
        .await
        .unwrap();
    let tenants: kube::Api<crds::Tenant> = kube::Api::all(app.kube.clone());
    tenants
        .patch(
            "beta",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"hosts": ["*.beta.demo", "*.alpha.demo"]}})),
        )
        .await
        .unwrap();
    let (alice, bob) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
    );
    let external = |tenant: &str, host: &str, path: &str| {
        json!({"tenant": tenant, "change": {"kind": "AddExternal", "cluster": "edge", "namespace": tenant,
            "name": "legacy", "host": host, "path": path, "servers": ["10.0.0.5:8080"], "directives": []}})
    };
    let (status, body) = alice
        .call(
            "apply_nginx_change",
            external("alpha", "legacy.alpha.demo", "/"),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    // bob's view of the cluster must have caught up with the patches above
    let caught_up = eventually(
        WITHIN,
        "the console to see beta's new host names",
        || async {
            let (status, _) = bob
                .call(
                    "validate_nginx_change",
                    external("beta", "other.alpha.demo", "/"),
                )
                .await
                .ok()?;
            (status == StatusCode::OK).then_some(())
        },
    )
    .await;
    assert!(caught_up.is_ok());
    for (host, path) in [("legacy.alpha.demo", "/admin"), ("LEGACY.Alpha.demo", "/")] {
        for endpoint in ["validate_nginx_change", "apply_nginx_change"] {
            let (status, body) = bob
                .call(endpoint, external("beta", host, path))
                .await
                .unwrap();
            assert_eq!(
                status,
                StatusCode::CONFLICT,
                "{endpoint} {host}{path}: {body}"
            );
            assert!(
                body.to_string()
                    .contains("is served for tenant alpha (route alpha/legacy)"),
                "{body}"
            );
        }
    }
    let routes: kube::Api<crds::NginxRoute> = kube::Api::namespaced(app.kube.clone(), "beta");
    assert!(routes.get_opt("legacy").await.unwrap().is_none());
    // and alice may still change her own route (it keeps its age, so it stays the owner)
    let (status, body) = alice
        .call(
            "apply_nginx_change",
            external("alpha", "legacy.alpha.demo", "/v2"),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// External upstreams lead only where the egress policy allows: the console refuses loopback
/// (the nodes' control endpoints, Prometheus…), link-local (the cloud's metadata) and the
/// unspecified address with the reason, and a node leaves such servers out of an upstream
/// written to the cluster directly, saying so, while serving the rest.
#[tokio::test]
async fn external_upstreams_reach_only_allowed_addresses() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let alice = app.login("alice").await.unwrap();
    let external = |servers: Vec<&str>| {
        json!({"tenant": "alpha", "change": {"kind": "AddExternal", "cluster": "edge", "namespace": "alpha",
            "name": "legacy", "host": "legacy.alpha.demo", "path": "/", "servers": servers, "directives": []}})
    };
    for (server, says) in [
        ("127.0.0.1:18080", "loopback"),
        ("[::1]:9090", "loopback"),
        ("169.254.169.254:80", "link-local"),
        ("0.0.0.0:80", "unspecified"),
    ] {
        for endpoint in ["validate_nginx_change", "apply_nginx_change"] {
            let (status, body) = alice
                .call(endpoint, external(vec!["10.0.0.5:8080", server]))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint} {server}: {body}");
            assert!(body.to_string().contains(says), "{server}: {body}");
        }
    }
    let upstreams: Api<crds::nginx::NginxUpstream> = Api::namespaced(app.kube.clone(), "alpha");
    assert!(upstreams.get_opt("legacy").await.unwrap().is_none());

    // written with kubectl: the node serves the allowed server and reports the other
    let up: crds::nginx::NginxUpstream = serde_json::from_value(json!({
        "apiVersion": "wharf.dev/v1alpha1", "kind": "NginxUpstream",
        "metadata": {"name": "legacy", "namespace": "alpha"},
        "spec": {"cluster": "edge", "servers": ["10.0.0.5:8080", "127.0.0.1:18080"]}}))
    .unwrap();
    upstreams.create(&Default::default(), &up).await.unwrap();
    let route: NginxRoute = serde_json::from_value(json!({
        "apiVersion": "wharf.dev/v1alpha1", "kind": "NginxRoute",
        "metadata": {"name": "legacy", "namespace": "alpha"},
        "spec": {"cluster": "edge", "host": "legacy.alpha.demo", "path": "/", "upstream": "legacy"}}))
    .unwrap();
    Api::<NginxRoute>::namespaced(app.kube.clone(), "alpha")
        .create(&Default::default(), &route)
        .await
        .unwrap();
    let mut node = Node::new();
    node.start(&app).await;
    let (_, why) = eventually(WITHIN, "the loopback server reported", || async {
        route_errors(&app)
            .await
            .into_iter()
            .find(|(r, _)| r == "alpha/legacy")
    })
    .await
    .unwrap();
    assert!(
        why.contains("127.0.0.1:18080") && why.contains("loopback") && !why.contains("10.0.0.5"),
        "{why}"
    );
    // what nginx has: the files (static mode) and the peer table pushed (dynamic mode)
    node.engine().settle().await;
    let served =
        node.live_config() + &std::fs::read_to_string(node.paths.peers_file()).unwrap_or_default();
    assert!(
        // (files write `10.0.0.5:8080`, the peer table `10.0.0.5,8080`)
        served.contains("10.0.0.5")
            && !served.contains("127.0.0.1:18080")
            && !served.contains("127.0.0.1,18080"),
        "{served}"
    );
}

#[tokio::test]
async fn an_invalid_directive_is_rejected_and_the_old_config_keeps_serving() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    route(
        &app,
        "shop",
        "shop.alpha.demo",
        80,
        vec!["client_max_body_size 20m".into()],
    )
    .await;
    let mut node = Node::new();
    node.start(&app).await;
    node.wait_ok("shop.alpha.demo", "the route answers").await;

    // The console refuses it: validation shows nginx's message and line; apply stores nothing.
    let alice = app.login("alice").await.unwrap();
    let change = json!({"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": ["proxy_buffers 8"]});
    let (status, v) = alice
        .call(
            "validate_nginx_change",
            json!({"tenant": "alpha", "change": change}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["nginx"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("proxy_buffers"),
        "{v}"
    );
    assert!(v["nginx"]["line"].as_u64().is_some(), "{v}");
    let (status, body) = alice
        .call(
            "apply_nginx_change",
            json!({"tenant": "alpha", "change": change}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let routes: Api<NginxRoute> = Api::namespaced(app.kube.clone(), "alpha");
    assert_eq!(
        routes.get("shop").await.unwrap().spec.directives,
        vec!["client_max_body_size 20m".to_string()]
    );

    // Written behind the console's back, the agent rejects it and nginx keeps the old config.
    let sha_before = node.engine().status().rendered_sha.clone();
    routes
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"directives": ["proxy_buffers 8"]}})),
        )
        .await
        .unwrap();
    let clusters: Api<NginxCluster> = Api::all(app.kube.clone());
    let err = eventually(WITHIN, "the node reports nginx's message", || async {
        let c = clusters.get("edge").await.ok()?;
        c.status?.nodes.get("n1")?.last_error.clone()
    })
    .await
    .unwrap();
    assert!(
        err.nginx_message
            .as_deref()
            .unwrap_or_default()
            .contains("proxy_buffers"),
        "{err:?}"
    );
    assert!(err.line.is_some(), "{err:?}");
    assert_eq!(node.engine().status().rendered_sha, sha_before);
    assert_eq!(
        node.hit("shop.alpha.demo").await.map(|r| r.0),
        Some(200),
        "the old config keeps serving"
    );
    let (_, views) = alice
        .call("nginx_clusters", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(views[0]["nodes"][0]["state"], "Failing", "{views}");

    // A valid change through the console clears it.
    let good = json!({"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": ["client_max_body_size 30m"]});
    let (status, body) = alice
        .call(
            "apply_nginx_change",
            json!({"tenant": "alpha", "change": good}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(WITHIN, "the node applies the valid change", || async {
        let live = std::fs::read_to_string(
            node.paths
                .current_link()
                .join("servers/shop.alpha.demo.conf"),
        )
        .ok()?;
        (live.contains("client_max_body_size 30m") && node.engine().status().last_error.is_none())
            .then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_hand_edit_shows_as_drift_in_the_console() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    let admin = app.login("admin").await.unwrap();
    eventually(WITHIN, "the node is in sync", || async {
        let (_, v) = admin
            .call("nginx_clusters", json!({"tenant": "alpha"}))
            .await
            .ok()?;
        (v[0]["nodes"][0]["state"] == "InSync").then_some(())
    })
    .await
    .unwrap();

    let file = node
        .paths
        .current_link()
        .join("servers/shop.alpha.demo.conf");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# edited by hand on the node\n");
    std::fs::write(&file, text).unwrap();
    eventually(WITHIN, "the console shows drift", || async {
        let (_, v) = admin
            .call("nginx_clusters", json!({"tenant": "alpha"}))
            .await
            .ok()?;
        (v[0]["nodes"][0]["state"] == "Drifted").then_some(())
    })
    .await
    .unwrap();
    let diff = eventually(WITHIN, "the drift diff names the edit", || async {
        let (_, d) = admin
            .call(
                "nginx_drift",
                json!({"tenant": "alpha", "cluster": "edge", "node": "n1"}),
            )
            .await
            .ok()?;
        let diff = d["diff"].as_str()?.to_string();
        diff.contains("+# edited by hand on the node")
            .then_some(diff)
    })
    .await
    .unwrap();
    assert!(
        diff.contains("--- a/servers/shop.alpha.demo.conf"),
        "{diff}"
    );
    // The download is the node's files, hand edit included; a tenant of an alpha-only
    // cluster may read it too, another tenant may not.
    let get = |cookie: Option<String>| {
        let mut req = reqwest::Client::new().get(app.url("/download/nginx/alpha/edge/n1"));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap() }
    };
    let res = get(admin.cookie().map(String::from)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("# edited by hand on the node"));
    let alice = app.login("alice").await.unwrap();
    assert_eq!(
        get(alice.cookie().map(String::from)).await.status(),
        StatusCode::OK
    );
    let bob = app.login("bob").await.unwrap();
    assert_eq!(
        get(bob.cookie().map(String::from)).await.status(),
        StatusCode::FORBIDDEN
    );
    let (_, beta) = bob
        .call("nginx_clusters", json!({"tenant": "beta"}))
        .await
        .unwrap();
    assert_eq!(beta, json!([]), "bob sees no cluster of alpha");
    drop(node.dir);
}

#[tokio::test]
async fn a_restarted_agent_converges_without_a_reload() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 2, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "both pods answer", || async {
        (pods_answering(&node, "shop.alpha.demo", 8).await.len() == 2).then_some(())
    })
    .await
    .unwrap();
    let sha = node.engine().status().rendered_sha.clone();
    let reloads = node.reloads();
    node.agent = None; // the agent dies; nginx keeps serving
    node.start_agent(&app).await;
    let st = node.engine().status();
    assert_eq!(st.rendered_sha, sha);
    assert!(st.in_sync(), "{st:?}");
    assert_eq!(st.reload_count, 0, "the restarted agent reloaded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node.reloads(), reloads, "nginx saw a reload");
    assert_eq!(node.hit("shop.alpha.demo").await.map(|r| r.0), Some(200));
}

/// The routes' errors this node reports, by route.
async fn route_errors(app: &wharf_tests::TestApp) -> Vec<(String, String)> {
    let c = Api::<NginxCluster>::all(app.kube.clone())
        .get("edge")
        .await
        .unwrap();
    c.status
        .and_then(|s| s.nodes.get("n1").cloned())
        .map(|n| {
            n.route_errors
                .into_iter()
                .map(|e| (e.route, e.message))
                .collect()
        })
        .unwrap_or_default()
}

/// The apps shop and cart, each with its route: shop's TLS secret `shop-tls` holds a pair
/// issued by `ca` (its key is returned), cart asks for `cart-tls`, which does not exist (yet).
async fn shop_and_cart_asking_for_tls(app: &wharf_tests::TestApp, ca: &TestCa) -> String {
    deploy(app, "shop", 1, 80).await;
    deploy(app, "cart", 1, 80).await;
    let (cert, key) = ca.issue("shop.alpha.demo");
    tls_secret(app, "shop-tls", &cert, &key).await;
    route_with_tls(app, "shop", "shop.alpha.demo", 80, vec![], Some("shop-tls")).await;
    route_with_tls(app, "cart", "cart.alpha.demo", 80, vec![], Some("cart-tls")).await;
    key
}

#[tokio::test]
async fn a_tls_secret_is_served_followed_when_rotated_and_a_bad_one_only_costs_its_own_route() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let (ca1, ca2) = (
        TestCa::new("wharf test CA 1"),
        TestCa::new("wharf test CA 2"),
    );
    shop_and_cart_asking_for_tls(&app, &ca1).await;
    let mut node = Node::new();
    node.start(&app).await;
    let (trusts_ca1, trusts_ca2) = (&ca1, &ca2);

    let (_, body) = eventually(
        WITHIN,
        "shop answers over HTTPS with CA 1's certificate",
        || async {
            https_get(trusts_ca1, &node, "shop.alpha.demo")
                .await
                .ok()
                .filter(|(s, _)| *s == 200)
        },
    )
    .await
    .unwrap();
    assert!(body.contains("shop-"), "{body}");
    assert!(
        https_get(trusts_ca2, &node, "shop.alpha.demo")
            .await
            .is_err(),
        "a client trusting only CA 2 must refuse CA 1's certificate"
    );

    // The files on the node: private, outside the release the console shows.
    let tls_dir = node.paths.tls_dir();
    let files: Vec<_> = std::fs::read_dir(&tls_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.display()
        );
    }
    let live = wharf_server_live_text(&node);
    assert!(
        live.contains("ssl_certificate ") && !live.contains("PRIVATE KEY"),
        "{live}"
    );

    // The missing secret: cart is reported, served on HTTP, and nothing else suffers.
    let errors = eventually(WITHIN, "the node reports cart's missing secret", || async {
        Some(route_errors(&app).await).filter(|e| !e.is_empty())
    })
    .await
    .unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "alpha/cart");
    assert!(
        errors[0].1.contains("alpha/cart-tls")
            && errors[0].1.contains("no kubernetes.io/tls Secret"),
        "{errors:?}"
    );
    node.wait_ok("cart.alpha.demo", "cart answers on HTTP")
        .await;
    assert!(
        node.engine().status().last_error.is_none(),
        "{:?}",
        node.engine().status()
    );
    let alice = app.login("alice").await.unwrap();
    let (_, views) = alice
        .call("nginx_clusters", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    let cart = views[0]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cart")
        .unwrap()
        .clone();
    assert_eq!(cart["tls_secret"], "cart-tls", "{cart}");
    assert!(
        cart["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cart-tls"),
        "{cart}"
    );

    // Rotation: CA 2's certificate replaces CA 1's without anyone touching the route.
    let reloads = node.reloads();
    let (cert2, key2) = ca2.issue("shop.alpha.demo");
    tls_secret(&app, "shop-tls", &cert2, &key2).await;
    eventually(
        WITHIN,
        "shop is served with the rotated certificate",
        || async {
            https_get(trusts_ca2, &node, "shop.alpha.demo")
                .await
                .ok()
                .filter(|(s, _)| *s == 200)
        },
    )
    .await
    .unwrap();
    // NB: a reload is graceful: an old worker may accept one more connection before it quits
    eventually(
        WITHIN,
        "the old certificate to be no longer served",
        || async {
            https_get(trusts_ca1, &node, "shop.alpha.demo")
                .await
                .is_err()
                .then_some(())
        },
    )
    .await
    .unwrap();
    assert!(
        node.reloads() > reloads,
        "a rotation is applied by a reload"
    );

    // A secret nginx refuses (the key is not the certificate's): reported with nginx's words,
    // cart stays on HTTP, shop keeps its HTTPS.
    let (cart_cert, _) = ca2.issue("cart.alpha.demo");
    let (_, other_key) = ca2.issue("cart.alpha.demo");
    tls_secret(&app, "cart-tls", &cart_cert, &other_key).await;
    eventually(
        WITHIN,
        "the node reports nginx's refusal of cart-tls",
        || async {
            route_errors(&app)
                .await
                .into_iter()
                .find(|(r, m)| r == "alpha/cart" && m.contains("mismatch"))
                .map(|_| ())
        },
    )
    .await
    .unwrap();
    assert_eq!(
        https_get(trusts_ca2, &node, "shop.alpha.demo")
            .await
            .map(|r| r.0),
        Ok(200)
    );
    assert!(
        https_get(trusts_ca2, &node, "cart.alpha.demo")
            .await
            .is_err(),
        "cart must not be served with a refused pair"
    );
    assert_eq!(node.hit("cart.alpha.demo").await.map(|r| r.0), Some(200));
    assert!(node.engine().status().last_error.is_none());

    // Fixed: cart gets its HTTPS and the error goes away.
    let (cart_cert, cart_key) = ca2.issue("cart.alpha.demo");
    tls_secret(&app, "cart-tls", &cart_cert, &cart_key).await;
    eventually(WITHIN, "cart answers over HTTPS", || async {
        https_get(trusts_ca2, &node, "cart.alpha.demo")
            .await
            .ok()
            .filter(|(s, _)| *s == 200)
    })
    .await
    .unwrap();
    eventually(WITHIN, "no route errors are reported", || async {
        route_errors(&app).await.is_empty().then_some(())
    })
    .await
    .unwrap();
}

/// An alpha-only cluster `edge` with an HTTPS port (8443; the test node serves it on its own).
async fn tls_cluster(app: &wharf_tests::TestApp) {
    use crds::nginx::{NginxClusterSpec, NginxListen};
    let c = NginxCluster::new(
        "edge",
        NginxClusterSpec {
            display_name: "Edge".into(),
            tenants: vec!["alpha".into()],
            namespaces: vec![],
            listen: NginxListen {
                http: 8081,
                https: Some(8443),
            },
            defaults: Default::default(),
            ..Default::default()
        },
    );
    Api::<NginxCluster>::all(app.kube.clone())
        .create(&kube::api::PostParams::default(), &c)
        .await
        .unwrap();
}

/// A node's live file as the console renders it: the cluster's own ports instead of the
/// node's, and the config view's certificate folder instead of the node's.
fn as_the_console_shows(node: &Node, text: &str) -> String {
    text.replace(&format!("127.0.0.1:{}", node.http.port()), "8081")
        .replace(&format!("127.0.0.1:{}", node.https.port()), "8443")
        .replace(
            &node.paths.tls_dir().display().to_string(),
            wharf_console::nginx::CONFIG_VIEW_TLS_DIR,
        )
}

/// The console's generated config of edge, as alice sees it: (path → text, the whole answer).
async fn console_config(
    alice: &wharf_tests::Session,
) -> (
    std::collections::BTreeMap<String, String>,
    serde_json::Value,
) {
    let (status, view) = alice
        .call(
            "nginx_config",
            json!({"tenant": "alpha", "cluster": "edge"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    let files = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (files, view)
}

#[tokio::test]
async fn the_console_renders_validates_and_diffs_tls_routes_as_the_node_serves_them() {
    let app = spawn_app().await.unwrap();
    tls_cluster(&app).await;
    let ca = TestCa::new("wharf test CA");
    let key = shop_and_cart_asking_for_tls(&app, &ca).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "shop answers over HTTPS", || async {
        https_get(&ca, &node, "shop.alpha.demo")
            .await
            .ok()
            .filter(|(s, _)| *s == 200)
    })
    .await
    .unwrap();
    let node_errors = eventually(WITHIN, "the node reports cart's missing secret", || async {
        Some(route_errors(&app).await).filter(|e| !e.is_empty())
    })
    .await
    .unwrap();
    let alice = app.login("alice").await.unwrap();

    // The config view: shop's HTTPS server block, cart on HTTP with the node's reason, and
    // the same server files as the node's but for the node's own ports and folder.
    let (files, view) = console_config(&alice).await;
    let shop = &files["servers/shop.alpha.demo.conf"];
    assert!(shop.contains("    listen 8443 ssl;\n"), "{shop}");
    assert!(
        shop.contains(&format!(
            "    ssl_certificate {}/alpha_shop-tls-",
            wharf_console::nginx::CONFIG_VIEW_TLS_DIR
        )),
        "{shop}"
    );
    let live = |file: &str| std::fs::read_to_string(node.paths.current_link().join(file)).unwrap();
    for file in [
        "servers/shop.alpha.demo.conf",
        "servers/cart.alpha.demo.conf",
    ] {
        assert_eq!(
            files[file],
            as_the_console_shows(&node, &live(file)),
            "{file}: the console renders what the node serves"
        );
    }
    assert!(
        !files["servers/cart.alpha.demo.conf"].contains("ssl"),
        "cart stays on HTTP in the console as on the node"
    );
    assert_eq!(
        view["route_errors"],
        json!([{"route": "alpha/cart", "message": node_errors[0].1}]),
        "{view}"
    );
    assert_eq!(node_errors.len(), 1, "{node_errors:?}");
    // No key material: the config names files.
    let key_line = key.lines().nth(1).unwrap();
    assert!(
        !view.to_string().contains("PRIVATE KEY") && !view.to_string().contains(key_line),
        "{view}"
    );

    // The node, TLS and all, is in sync: no drift.
    eventually(WITHIN, "the node is in sync", || async {
        let (_, v) = alice
            .call("nginx_clusters", json!({"tenant": "alpha"}))
            .await
            .ok()?;
        (v[0]["nodes"][0]["state"] == "InSync").then_some(())
    })
    .await
    .unwrap();
    let (status, drift) = alice
        .call(
            "nginx_drift",
            json!({"tenant": "alpha", "cluster": "edge", "node": "n1"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{drift}");
    assert_eq!(drift["diff"], "", "{drift}");
    assert_eq!(drift["rendered_sha"], drift["on_disk_sha"], "{drift}");

    // Validation includes the HTTPS listener: a valid change passes and is applied...
    let set = |directives: &[&str]| json!({"tenant": "alpha", "change": {"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": directives}});
    let (status, v) = alice
        .call("validate_nginx_change", set(&["client_max_body_size 30m"]))
        .await
        .unwrap();
    assert_eq!((status, &v["ok"]), (StatusCode::OK, &json!(true)), "{v}");
    let (status, v) = alice
        .call("apply_nginx_change", set(&["client_max_body_size 20m"]))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    // ...and nginx's complaint about a bad one points at the line the HTTPS-listening file
    // has it on (without the three TLS lines it would be three lines higher).
    let (files, _) = eventually(
        WITHIN,
        "the console's view has the applied directive",
        || async {
            let (files, view) = console_config(&alice).await;
            files["servers/shop.alpha.demo.conf"]
                .contains("client_max_body_size 20m;")
                .then_some((files, view))
        },
    )
    .await
    .unwrap();
    let shop = &files["servers/shop.alpha.demo.conf"];
    let line = shop
        .lines()
        .position(|l| l.contains("client_max_body_size 20m;"))
        .unwrap()
        + 1;
    let (status, v) = alice
        .call("validate_nginx_change", set(&["proxy_buffers 8"]))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["nginx"]["file"], "servers/shop.alpha.demo.conf", "{v}");
    assert_eq!(v["nginx"]["line"], line, "{v}\n{shop}");

    // The node follows; in sync again, the same files; a hand edit shows as exactly that.
    eventually(
        WITHIN,
        "the node serves the applied directive and is in sync",
        || async {
            let (_, v) = alice
                .call("nginx_clusters", json!({"tenant": "alpha"}))
                .await
                .ok()?;
            (live("servers/shop.alpha.demo.conf").contains("client_max_body_size 20m;")
                && v[0]["nodes"][0]["state"] == "InSync")
                .then_some(())
        },
    )
    .await
    .unwrap();
    assert_eq!(
        files["servers/shop.alpha.demo.conf"],
        as_the_console_shows(&node, &live("servers/shop.alpha.demo.conf"))
    );
    let (_, drift) = alice
        .call(
            "nginx_drift",
            json!({"tenant": "alpha", "cluster": "edge", "node": "n1"}),
        )
        .await
        .unwrap();
    assert_eq!(drift["diff"], "", "{drift}");
    let file = node
        .paths
        .current_link()
        .join("servers/shop.alpha.demo.conf");
    std::fs::write(
        &file,
        live("servers/shop.alpha.demo.conf") + "# edited by hand on the node\n",
    )
    .unwrap();
    let diff = eventually(WITHIN, "the drift diff names the edit", || async {
        let (_, d) = alice
            .call(
                "nginx_drift",
                json!({"tenant": "alpha", "cluster": "edge", "node": "n1"}),
            )
            .await
            .ok()?;
        let diff = d["diff"].as_str()?.to_string();
        diff.contains("+# edited by hand on the node")
            .then_some(diff)
    })
    .await
    .unwrap();
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed, vec!["+# edited by hand on the node"], "{diff}");

    // The download is the node's files: the certificate's paths, never the key.
    let res = reqwest::Client::new()
        .get(app.url("/download/nginx/alpha/edge/n1"))
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("ssl_certificate_key ")
            && !text.contains("PRIVATE KEY")
            && !text.contains(key_line),
        "{text}"
    );
}

/// The node's live release as the console's download shows it.
fn wharf_server_live_text(node: &Node) -> String {
    wharf_console::nginx::agent::live_files_text(&node.paths)
}

/// Reads pushed snapshots until node n1 of edge satisfies `want`; returns that node.
async fn pushed_until(
    socket: &mut wharf_tests::Socket,
    what: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    use futures::StreamExt;
    let read = async {
        while let Some(msg) = socket.next().await {
            let Ok(tokio_tungstenite::tungstenite::Message::Text(text)) = msg else {
                continue;
            };
            let clusters: serde_json::Value = serde_json::from_str(&text).expect("a JSON snapshot");
            let node = clusters
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == "edge"))
                .and_then(|c| {
                    c["nodes"]
                        .as_array()?
                        .iter()
                        .find(|n| n["name"] == "n1")
                        .cloned()
                });
            if let Some(n) = node.filter(|n| want(n)) {
                return n;
            }
        }
        panic!("the socket closed while waiting for {what}");
    };
    tokio::time::timeout(WITHIN, read)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn the_live_socket_shows_a_hand_edit_and_the_repair_button_puts_the_rendered_config_back() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    node.wait_ok("shop.alpha.demo", "the route answers").await;
    let (alice, bob, vera) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );

    // Checked before the upgrade.
    assert_eq!(
        app.open_socket("/ws/nginx/alpha", None).await.err(),
        Some(401)
    );
    assert_eq!(
        app.open_socket("/ws/nginx/alpha", Some(&bob)).await.err(),
        Some(403)
    );
    let mut bobs = app
        .open_socket("/ws/nginx/beta", Some(&bob))
        .await
        .expect("bob may follow beta");
    {
        use futures::StreamExt;
        let first = bobs.next().await.unwrap().unwrap().into_text().unwrap();
        assert_eq!(first.as_str(), "[]", "beta sees none of alpha's clusters");
    }
    assert!(
        app.open_socket("/ws/nginx/alpha", Some(&vera))
            .await
            .is_ok(),
        "a viewer may watch"
    );

    let mut socket = app
        .open_socket("/ws/nginx/alpha", Some(&alice))
        .await
        .expect("alice may follow alpha");
    let n = pushed_until(&mut socket, "n1 in sync", |n| n["state"] == "InSync").await;
    assert!(
        n["heartbeat"]
            .as_str()
            .is_some_and(|h| chrono::DateTime::parse_from_rfc3339(h).is_ok()),
        "{n}"
    );
    assert_eq!(n["repair_pending"], false);

    // A hand edit arrives on the socket as drift, without asking.
    let file = node
        .paths
        .current_link()
        .join("servers/shop.alpha.demo.conf");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# edited by hand on the node\n");
    std::fs::write(&file, &text).unwrap();
    pushed_until(&mut socket, "n1 drifted", |n| n["state"] == "Drifted").await;

    // Repair: a viewer may not; a developer of the only tenant served may.
    let args = json!({"tenant": "alpha", "cluster": "edge", "node": "n1"});
    let (status, _) = vera.call("repair_nginx_node", args.clone()).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob
        .call(
            "repair_nginx_node",
            json!({"tenant": "beta", "cluster": "edge", "node": "n1"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "beta does not see edge");
    let (status, _) = alice
        .call(
            "repair_nginx_node",
            json!({"tenant": "alpha", "cluster": "edge", "node": "n9"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let reloads = node.reloads();
    let (status, body) = alice.call("repair_nginx_node", args.clone()).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    pushed_until(&mut socket, "n1 repaired and in sync", |n| {
        n["state"] == "InSync" && n["repair_pending"] == false
    })
    .await;
    let live = std::fs::read_to_string(&file).unwrap();
    assert!(!live.contains("edited by hand"), "{live}");
    assert_eq!(node.reloads(), reloads + 1, "a repair is one reload");
    let request = Api::<NginxCluster>::all(app.kube.clone())
        .get("edge")
        .await
        .unwrap()
        .annotations()
        .get(&crds::nginx::repair_annotation("n1"))
        .cloned();
    let reported = eventually(
        WITHIN,
        "the node reports the request carried out",
        || async {
            let c = Api::<NginxCluster>::all(app.kube.clone())
                .get("edge")
                .await
                .ok()?;
            c.status?.nodes.get("n1")?.repaired.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(Some(reported), request);
    assert_eq!(node.hit("shop.alpha.demo").await.map(|r| r.0), Some(200));
}

on_both_clusters!(an_agent_follows_a_services_endpoints_with_its_own_account);

/// The Service's endpoints as the cluster's controllers publish them (Endpoints exist on every
/// version), once there are `want` ready ones.
async fn endpoint_ips(app: &TestApp, name: &str, want: usize) -> Vec<String> {
    let api: Api<k8s_openapi::api::core::v1::Endpoints> =
        Api::namespaced(app.kube.clone(), "alpha");
    eventually(
        WITHIN,
        &format!("{want} ready endpoints of {name}"),
        || async {
            let e = api.get_opt(name).await.ok()??;
            let ips: Vec<String> = e
                .subsets
                .iter()
                .flatten()
                .flat_map(|s| s.addresses.iter().flatten().map(|a| a.ip.clone()))
                .collect();
            (ips.len() == want).then_some(ips)
        },
    )
    .await
    .unwrap()
}

/// The agent as installed (its ServiceAccount on a real cluster; EndpointSlices or, before
/// 1.21, Endpoints): a Service's ready pods become the route's upstream servers, scaling
/// down removes one, and the node's status reaches the NginxCluster.
async fn an_agent_follows_a_services_endpoints_with_its_own_account(app: TestApp) {
    cluster(&app).await;
    deploy(&app, "shop", 2, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    let ips = endpoint_ips(&app, "shop", 2).await;

    let mut node = Node::with_mode(Some(Mode::Static));
    node.start_agent_with(wharf_tests::real::agent_client(&app).await)
        .await;
    eventually(WITHIN, "both pods as upstream servers", || async {
        let conf = node.live_config();
        ips.iter()
            .all(|ip| conf.contains(&format!("{ip}:80")))
            .then_some(())
    })
    .await
    .unwrap();

    Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    let left = endpoint_ips(&app, "shop", 1).await;
    eventually(WITHIN, "one pod left upstream", || async {
        let conf = node.live_config();
        let served: Vec<&String> = ips
            .iter()
            .filter(|ip| conf.contains(&format!("{ip}:80")))
            .collect();
        (served == vec![&left[0]]).then_some(())
    })
    .await
    .unwrap();

    let clusters: Api<NginxCluster> = Api::all(app.kube.clone());
    eventually(WITHIN, "the node's status in the NginxCluster", || async {
        let c = clusters.get("edge").await.ok()?;
        c.status?.nodes.contains_key("n1").then_some(())
    })
    .await
    .unwrap();
}

/// "Expose through nginx" from the console: a route to a Service port of the tenant's app,
/// refused with the reason for a host outside the tenant's names, a port the Service does not
/// have, a path nginx would misread, a TLS Secret that is missing or not a TLS one; a TLS pair
/// uploaded from the page (checked with `nginx -t`, never replacing a Secret) then serves the
/// host over HTTPS; removing the route takes it out of nginx. Nothing is stored on a refusal.
#[tokio::test]
async fn an_app_is_exposed_from_the_console_with_an_uploaded_certificate() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    let mut node = Node::new();
    node.start(&app).await;
    let (alice, bob) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
    );
    let set = |host: &str, port: u16, path: &str, tls: Option<&str>| {
        json!({"tenant": "alpha", "change": {"kind": "SetRoute", "cluster": "edge", "namespace": "alpha",
            "name": "shop", "host": host, "path": path, "service": "shop", "port": port,
            "tls_secret": tls, "directives": []}})
    };
    let routes: Api<NginxRoute> = Api::namespaced(app.kube.clone(), "alpha");
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(app.kube.clone(), "alpha")
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "plain"}, "type": "Opaque", "stringData": {"a": "b"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    for (change, status, says) in [
        (
            set("billing.beta.demo", 80, "/", None),
            StatusCode::FORBIDDEN,
            "*.alpha.demo",
        ),
        (
            set("shop.alpha.demo", 81, "/", None),
            StatusCode::BAD_REQUEST,
            "(it has: 80)",
        ),
        (
            set("shop.alpha.demo", 80, "/a b", None),
            StatusCode::BAD_REQUEST,
            "must start with /",
        ),
        (
            set("shop.alpha.demo", 80, "/;}", None),
            StatusCode::BAD_REQUEST,
            "must start with /",
        ),
        (
            set("shop.alpha.demo", 80, "/", Some("nope")),
            StatusCode::BAD_REQUEST,
            "there is none in namespace",
        ),
        (
            set("shop.alpha.demo", 80, "/", Some("plain")),
            StatusCode::BAD_REQUEST,
            "not kubernetes.io/tls",
        ),
        (
            set("shop.alpha.demo", 80, "/", Some("beta/x")),
            StatusCode::BAD_REQUEST,
            "TLS",
        ),
    ] {
        let (s, body) = alice
            .call("apply_nginx_change", change.clone())
            .await
            .unwrap();
        assert_eq!(s, status, "{change}: {body}");
        assert!(body.to_string().contains(says), "{says} in {body}");
        assert!(
            routes.get_opt("shop").await.unwrap().is_none(),
            "nothing stored: {change}"
        );
    }
    let (s, body) = bob
        .call("apply_nginx_change", set("shop.alpha.demo", 80, "/", None))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");

    let (s, body) = alice
        .call("apply_nginx_change", set("shop.alpha.demo", 80, "/", None))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    node.wait_ok("shop.alpha.demo", "the exposed app answers through nginx")
        .await;

    // the certificate from the page
    let (ca, other) = (
        TestCa::new("wharf upload CA"),
        TestCa::new("wharf other CA"),
    );
    let (cert, key) = ca.issue("shop.alpha.demo");
    let (_, other_key) = other.issue("shop.alpha.demo");
    let upload = |name: &str, cert: &str, key: &str| json!({"tenant": "alpha", "namespace": "alpha", "name": name, "cert_pem": cert, "key_pem": key});
    for (args, says) in [
        (
            upload("shop-tls", "not a pem", &key),
            "holds no PEM certificate",
        ),
        (upload("shop-tls", &cert, &other_key), "refused"),
        (upload("Bad Name", &cert, &key), "name"),
    ] {
        let (s, body) = alice.call("add_tls_secret", args).await.unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains(says), "{says} in {body}");
        assert!(
            body.to_string().contains("证书") || body.to_string().contains("名称"),
            "{body}"
        );
    }
    let (s, body) = alice
        .call("add_tls_secret", upload("shop-tls", &cert, &key))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = alice
        .call("add_tls_secret", upload("shop-tls", &cert, &key))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::CONFLICT, "never replaced: {body}");
    let (_, listed) = alice
        .call("tls_secrets", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(
        listed,
        json!([["alpha", "shop-tls"]]),
        "TLS Secrets only, by name"
    );
    let (_, theirs) = bob
        .call("tls_secrets", json!({"tenant": "beta"}))
        .await
        .unwrap();
    assert!(!theirs.to_string().contains("shop-tls"), "{theirs}");

    let (s, body) = alice
        .call(
            "apply_nginx_change",
            set("shop.alpha.demo", 80, "/", Some("shop-tls")),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    eventually(
        WITHIN,
        "shop over HTTPS with the uploaded certificate",
        || async {
            https_get(&ca, &node, "shop.alpha.demo")
                .await
                .ok()
                .filter(|(s, _)| *s == 200)
        },
    )
    .await
    .unwrap();

    let remove = json!({"tenant": "alpha", "change": {"kind": "RemoveRoute", "namespace": "alpha", "name": "shop"}});
    let (s, body) = bob.call("apply_nginx_change", json!({"tenant": "beta", "change": {"kind": "RemoveRoute", "namespace": "alpha", "name": "shop"}})).await.unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) = alice.call("apply_nginx_change", remove).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(routes.get_opt("shop").await.unwrap().is_none());
    eventually(
        WITHIN,
        "the removed route falls to the default server",
        || async {
            node.hit("shop.alpha.demo")
                .await
                .filter(|(s, _)| *s == 404)
                .map(|_| ())
        },
    )
    .await
    .unwrap();
}

/// The deploy form's "expose through nginx": the route is checked before anything is created
/// (a host of another tenant leaves no Deployment, Service or route behind), and a good one
/// makes the new app answer through nginx with no second step.
#[tokio::test]
async fn an_app_deployed_with_expose_answers_through_nginx_at_once() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let mut node = Node::new();
    node.start(&app).await;
    let alice = app.login("alice").await.unwrap();
    let form = |host: &str| {
        json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "catalog", "image": "nginx:1.25",
            "replicas": 1, "port": 80, "env": [], "cpu_request": "", "cpu_limit": "", "memory_request": "",
            "memory_limit": "", "expose": {"cluster": "edge", "host": host, "path": "/"}}})
    };
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");
    let routes: Api<NginxRoute> = Api::namespaced(app.kube.clone(), "alpha");
    let (s, body) = alice
        .call("deploy_app", form("billing.beta.demo"))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("*.alpha.demo"), "{body}");
    assert!(
        deployments.get_opt("catalog").await.unwrap().is_none(),
        "nothing half-created"
    );
    assert!(services.get_opt("catalog").await.unwrap().is_none());
    assert!(routes.get_opt("catalog").await.unwrap().is_none());
    let mut no_port = form("catalog.alpha.demo");
    no_port["form"]["port"] = json!(null);
    let (s, body) = alice.call("deploy_app", no_port).await.unwrap();
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("容器端口"), "{body}");
    assert!(deployments.get_opt("catalog").await.unwrap().is_none());

    let (s, body) = alice
        .call("deploy_app", form("catalog.alpha.demo"))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    let route = routes.get("catalog").await.unwrap();
    assert_eq!(route.spec.host, "catalog.alpha.demo");
    assert_eq!(route.spec.service.unwrap().port, 80);
    node.wait_ok("catalog.alpha.demo", "the new app answers through nginx")
        .await;
}
