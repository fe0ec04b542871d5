//! nginx end to end: a node agent (in-process, as `wharf ng-agent` runs it) in front of a
//! real nginx master on loopback ports, following the demo cluster; real HTTP through nginx
//! to the demo cluster's pods. And the console's NgFront functions over HTTP.

use crds::nginx::{NginxCluster, NginxRoute};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use ngx::Mode;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use wharf_tests::nginx::*;
use wharf_tests::{eventually, spawn_app};

#[tokio::test]
async fn a_new_service_becomes_routable_scaling_needs_no_reload_and_deletion_removes_it() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    let mut node = Node::new();
    node.start(&app).await;
    assert_eq!(node.hit("shop.alpha.test").await.map(|r| r.0), Some(404), "nothing routed yet");

    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    eventually(WITHIN, "the new service answers through nginx", || async { (pods_answering(&node, "shop.alpha.test", 1).await.len() == 1).then_some(()) }).await.unwrap();

    let reloads = node.reloads();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    deployments.patch("shop", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}}))).await.unwrap();
    eventually(WITHIN, "three pods answer through nginx", || async { (pods_answering(&node, "shop.alpha.test", 12).await.len() == 3).then_some(()) }).await.unwrap();
    if node.opts.mode == Mode::Dynamic {
        assert_eq!(node.reloads(), reloads, "endpoint-only changes must not reload nginx in the dynamic mode");
        assert!(node.engine().status().peer_push_count >= 1);
    }

    Api::<Service>::namespaced(app.kube.clone(), "alpha").delete("shop", &DeleteParams::default()).await.unwrap();
    eventually(WITHIN, "a deleted service stops answering", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s != 200).map(|_| ()) }).await.unwrap();
    Api::<NginxRoute>::namespaced(app.kube.clone(), "alpha").delete("shop", &DeleteParams::default()).await.unwrap();
    eventually(WITHIN, "a deleted route falls to the default server", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s == 404).map(|_| ()) }).await.unwrap();
}

#[tokio::test]
async fn an_invalid_directive_is_rejected_and_the_old_config_keeps_serving() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec!["client_max_body_size 20m".into()]).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "the route answers", || async { node.hit("shop.alpha.test").await.filter(|(s, _)| *s == 200).map(|_| ()) }).await.unwrap();

    // The console refuses it: validation shows nginx's message and line; apply stores nothing.
    let alice = app.login("alice").await.unwrap();
    let change = json!({"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": ["proxy_buffers 8"]});
    let (status, v) = alice.call("validate_nginx_change", json!({"tenant": "alpha", "change": change})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["nginx"]["message"].as_str().unwrap_or_default().contains("proxy_buffers"), "{v}");
    assert!(v["nginx"]["line"].as_u64().is_some(), "{v}");
    let (status, body) = alice.call("apply_nginx_change", json!({"tenant": "alpha", "change": change})).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let routes: Api<NginxRoute> = Api::namespaced(app.kube.clone(), "alpha");
    assert_eq!(routes.get("shop").await.unwrap().spec.directives, vec!["client_max_body_size 20m".to_string()]);

    // Written behind the console's back, the agent rejects it and nginx keeps the old config.
    let sha_before = node.engine().status().rendered_sha.clone();
    routes.patch("shop", &PatchParams::default(), &Patch::Merge(json!({"spec": {"directives": ["proxy_buffers 8"]}}))).await.unwrap();
    let clusters: Api<NginxCluster> = Api::all(app.kube.clone());
    let err = eventually(WITHIN, "the node reports nginx's message", || async {
        let c = clusters.get("edge").await.ok()?;
        c.status?.nodes.get("n1")?.last_error.clone()
    })
    .await
    .unwrap();
    assert!(err.nginx_message.as_deref().unwrap_or_default().contains("proxy_buffers"), "{err:?}");
    assert!(err.line.is_some(), "{err:?}");
    assert_eq!(node.engine().status().rendered_sha, sha_before);
    assert_eq!(node.hit("shop.alpha.test").await.map(|r| r.0), Some(200), "the old config keeps serving");
    let (_, views) = alice.call("nginx_clusters", json!({"tenant": "alpha"})).await.unwrap();
    assert_eq!(views[0]["nodes"][0]["state"], "Failing", "{views}");

    // A valid change through the console clears it.
    let good = json!({"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": ["client_max_body_size 30m"]});
    let (status, body) = alice.call("apply_nginx_change", json!({"tenant": "alpha", "change": good})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(WITHIN, "the node applies the valid change", || async {
        let live = std::fs::read_to_string(node.paths.current_link().join("servers/shop.alpha.test.conf")).ok()?;
        (live.contains("client_max_body_size 30m") && node.engine().status().last_error.is_none()).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_hand_edit_shows_as_drift_in_the_console() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    let admin = app.login("admin").await.unwrap();
    eventually(WITHIN, "the node is in sync", || async {
        let (_, v) = admin.call("nginx_clusters", json!({"tenant": "alpha"})).await.ok()?;
        (v[0]["nodes"][0]["state"] == "InSync").then_some(())
    })
    .await
    .unwrap();

    let file = node.paths.current_link().join("servers/shop.alpha.test.conf");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# edited by hand on the node\n");
    std::fs::write(&file, text).unwrap();
    eventually(WITHIN, "the console shows drift", || async {
        let (_, v) = admin.call("nginx_clusters", json!({"tenant": "alpha"})).await.ok()?;
        (v[0]["nodes"][0]["state"] == "Drifted").then_some(())
    })
    .await
    .unwrap();
    let diff = eventually(WITHIN, "the drift diff names the edit", || async {
        let (_, d) = admin.call("nginx_drift", json!({"tenant": "alpha", "cluster": "edge", "node": "n1"})).await.ok()?;
        let diff = d["diff"].as_str()?.to_string();
        diff.contains("+# edited by hand on the node").then_some(diff)
    })
    .await
    .unwrap();
    assert!(diff.contains("--- a/servers/shop.alpha.test.conf"), "{diff}");
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
    assert!(res.text().await.unwrap().contains("# edited by hand on the node"));
    let alice = app.login("alice").await.unwrap();
    assert_eq!(get(alice.cookie().map(String::from)).await.status(), StatusCode::OK);
    let bob = app.login("bob").await.unwrap();
    assert_eq!(get(bob.cookie().map(String::from)).await.status(), StatusCode::FORBIDDEN);
    let (_, beta) = bob.call("nginx_clusters", json!({"tenant": "beta"})).await.unwrap();
    assert_eq!(beta, json!([]), "bob sees no cluster of alpha");
    drop(node.dir);
}

#[tokio::test]
async fn a_restarted_agent_converges_without_a_reload() {
    let app = spawn_app().await.unwrap();
    cluster(&app).await;
    deploy(&app, "shop", 2, 80).await;
    route(&app, "shop", "shop.alpha.test", 80, vec![]).await;
    let mut node = Node::new();
    node.start(&app).await;
    eventually(WITHIN, "both pods answer", || async { (pods_answering(&node, "shop.alpha.test", 8).await.len() == 2).then_some(()) }).await.unwrap();
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
    assert_eq!(node.hit("shop.alpha.test").await.map(|r| r.0), Some(200));
}
