//! Nginx clusters as platform admins manage them from the console: created, changed (with
//! server- and http-level settings, `nginx -t` before saving, a stale edit refused) and
//! deleted only when nothing points at them; bad input refused in both languages with nothing
//! stored. A node joins with the console's command: the script it fetches carries a kubeconfig
//! of the node's own token, with which an agent (in front of a real nginx) serves the
//! cluster's routes and reports its nginx version; removing the node revokes the token. On the
//! demo cluster and a real kube-apiserver (the console with `deploy/wharf.yaml`'s account).

use crds::nginx::NginxCluster;
use kube::api::Api;
use reqwest::StatusCode;
use serde_json::{json, Value};
use wharf_tests::nginx::{deploy, route, Node, WITHIN};
use wharf_tests::{eventually, on_both_clusters, Session, TestApp};

on_both_clusters!(
    admins_create_change_and_delete_nginx_clusters,
    bad_cluster_settings_are_refused_and_nothing_is_stored,
    a_node_joins_with_the_printed_command_and_leaves_with_its_token,
);

fn form(name: &str, extra: Value) -> Value {
    let mut f = json!({"name": name, "display_name": "Edge", "http_port": 8081, "https_port": null,
        "tenants": ["alpha"], "client_max_body_size": "", "proxy_connect_timeout_secs": null,
        "proxy_read_timeout_secs": null, "proxy_send_timeout_secs": null, "upstream_keepalive": null,
        "access_log": false, "server_directives": [], "http_directives": [], "version": null});
    f.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    f
}

async fn listed(admin: &Session, name: &str) -> Option<Value> {
    let (status, body) = admin.call("admin_nginx_clusters", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .find(|c| c["form"]["name"] == name)
        .cloned()
}

/// Both languages of a refusal, and the status.
fn refusal(status: StatusCode, body: &Value) -> (StatusCode, String, String) {
    let inner = body
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    (
        status,
        inner["en"].as_str().unwrap_or_default().to_string(),
        inner["zh"].as_str().unwrap_or_default().to_string(),
    )
}

async fn admins_create_change_and_delete_nginx_clusters(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let create = form(
        "edge",
        json!({"display_name": "Edge for alpha", "https_port": 8443, "client_max_body_size": "20m",
            "proxy_read_timeout_secs": 120,
            "server_directives": ["add_header X-Edge alpha;", ""], "http_directives": ["gzip on"]}),
    );
    let (status, body) = admin
        .call("check_nginx_cluster", json!({"form": create}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    let (status, body) = admin
        .call("save_nginx_cluster", json!({"form": create}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = Api::<NginxCluster>::all(app.kube.clone())
        .get("edge")
        .await
        .unwrap();
    assert_eq!(stored.spec.server_directives, ["add_header X-Edge alpha"]);
    assert_eq!(stored.spec.http_directives, ["gzip on"]);
    assert_eq!(stored.spec.listen.https, Some(8443));
    assert_eq!(
        stored.spec.defaults.client_max_body_size.as_deref(),
        Some("20m")
    );
    assert_eq!(stored.spec.defaults.proxy_read_timeout_secs, Some(120));
    let shown = listed(&admin, "edge").await.expect("listed");
    assert_eq!(shown["form"]["display_name"], "Edge for alpha");
    let version = shown["form"]["version"].clone();
    assert!(version.is_string(), "{shown}");

    // the settings reach the config every node renders
    let (status, config) = admin
        .call(
            "nginx_config",
            json!({"tenant": "alpha", "cluster": "edge"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{config}");
    let files = config["files"].to_string();
    assert!(files.contains("gzip on;"), "{files}");
    assert!(files.contains("client_max_body_size 20m;"), "{files}");

    // creating it again is refused; so is an edit of a version someone else replaced
    let (status, body) = admin
        .call("save_nginx_cluster", json!({"form": create}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let edit = form(
        "edge",
        json!({"display_name": "Edge, changed", "version": version, "tenants": ["alpha", "beta"]}),
    );
    let (status, body) = admin
        .call("save_nginx_cluster", json!({"form": edit}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = admin
        .call(
            "save_nginx_cluster",
            json!({"form": form("edge", json!({"display_name": "stale", "version": version}))}),
        )
        .await
        .unwrap();
    let (status, en, zh) = refusal(status, &body);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(en.contains("changed by someone else"), "{en}");
    assert!(zh.contains("已被他人修改"), "{zh}");
    let stored = Api::<NginxCluster>::all(app.kube.clone())
        .get("edge")
        .await
        .unwrap();
    assert_eq!(stored.spec.display_name, "Edge, changed");
    assert_eq!(stored.spec.tenants, ["alpha", "beta"]);
    assert!(stored.spec.server_directives.is_empty());

    // not while a route points at it
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    eventually(WITHIN, "the console to see the route", || async {
        let c = listed(&admin, "edge").await?;
        (c["routes"].as_array()?.len() == 1).then_some(())
    })
    .await
    .unwrap();
    let (status, body) = admin
        .call("delete_nginx_cluster", json!({"cluster": "edge"}))
        .await
        .unwrap();
    let (status, en, zh) = refusal(status, &body);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("alpha/shop"), "{en}");
    assert!(zh.contains("alpha/shop"), "{zh}");
    assert!(Api::<NginxCluster>::all(app.kube.clone())
        .get_opt("edge")
        .await
        .unwrap()
        .is_some());
    Api::<crds::nginx::NginxRoute>::namespaced(app.kube.clone(), "alpha")
        .delete("shop", &Default::default())
        .await
        .unwrap();
    eventually(WITHIN, "the console to see the route gone", || async {
        let c = listed(&admin, "edge").await?;
        c["routes"].as_array()?.is_empty().then_some(())
    })
    .await
    .unwrap();
    let (status, body) = admin
        .call("delete_nginx_cluster", json!({"cluster": "edge"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(Api::<NginxCluster>::all(app.kube.clone())
        .get_opt("edge")
        .await
        .unwrap()
        .is_none());
    assert!(listed(&admin, "edge").await.is_none());
}

async fn bad_cluster_settings_are_refused_and_nothing_is_stored(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let cases = [
        (json!({"name": "Edge!"}), "cluster name", "集群名称"),
        (
            json!({"tenants": ["nobody"]}),
            "tenant 'nobody'",
            "租户“nobody”",
        ),
        (json!({"http_port": 0}), "ports", "端口"),
        (json!({"https_port": 8081}), "port 8081", "8081"),
        (
            json!({"client_max_body_size": "lots"}),
            "largest request body",
            "请求体上限",
        ),
        (
            json!({"proxy_read_timeout_secs": 0}),
            "read timeout",
            "读超时",
        ),
        (
            json!({"server_directives": ["include /etc/passwd"]}),
            "server-level settings",
            "server 级设置",
        ),
        (
            json!({"server_directives": ["add_header X-A b; proxy_pass http://10.0.0.1"]}),
            "server-level settings",
            "server 级设置",
        ),
        (
            json!({"http_directives": ["client_max_body_size 5m"]}),
            "http-level settings",
            "http 级设置",
        ),
        // allowed by name, refused by nginx -t, with nginx's own words
        (
            json!({"http_directives": ["gzip maybe"]}),
            "gzip",
            "nginx 拒绝了此修改",
        ),
    ];
    for (extra, en_has, zh_has) in cases {
        let f = form("edge-bad", extra.clone());
        let (status, body) = admin
            .call("save_nginx_cluster", json!({"form": f}))
            .await
            .unwrap();
        let (status, en, zh) = refusal(status, &body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
        assert!(en.contains(en_has), "{extra}: {en}");
        assert!(zh.contains(zh_has), "{extra}: {zh}");
        let stored = Api::<NginxCluster>::all(app.kube.clone())
            .list(&Default::default())
            .await
            .unwrap();
        assert!(stored.items.is_empty(), "{extra}: nothing stored");
    }
    // a check says the same without storing either
    let (status, body) = admin
        .call(
            "check_nginx_cluster",
            json!({"form": form("edge-bad", json!({"http_directives": ["gzip maybe"]}))}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], false);
    assert!(body["message"].as_str().unwrap().contains("gzip"), "{body}");
}

/// The kubeconfig the join script carries.
fn kubeconfig_in(script: &str) -> String {
    let (_, rest) = script
        .split_once("<<'KUBECONFIG'\n")
        .expect("the script carries a kubeconfig");
    let (yaml, _) = rest.split_once("\nKUBECONFIG\n").expect("its end");
    yaml.to_string()
}

async fn client_of(kubeconfig: &str) -> kube::Client {
    server::demo::client_from_kubeconfig_yaml(kubeconfig)
        .await
        .unwrap()
}

async fn a_node_joins_with_the_printed_command_and_leaves_with_its_token(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    if !app.cluster.is_real() {
        // `wharf demo` seeds the agents' account; deploy/wharf.yaml makes it on a real cluster
        let account: k8s_openapi::api::core::v1::ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": "wharf-ng-agent"}})).unwrap();
        Api::namespaced(app.kube.clone(), "wharf-system")
            .create(&Default::default(), &account)
            .await
            .unwrap();
    }
    let (status, body) = admin
        .call(
            "save_nginx_cluster",
            json!({"form": form("edge", json!({"server_directives": ["add_header X-Edge joined"]}))}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, cmd) = admin
        .call("join_nginx_node", json!({"cluster": "edge", "node": "n1"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{cmd}");
    let path = cmd["script_path"].as_str().unwrap().to_string();
    assert!(path.starts_with("/ng-agent/join/"), "{cmd}");

    // the script: no session needed, the code is the credential
    let http = reqwest::Client::new();
    let res = http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let script = res.text().await.unwrap();
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(script.contains("cluster='edge'\n"), "{script}");
    assert!(script.contains("node='n1'\n"), "{script}");
    assert!(
        script.contains(&format!("console='http://{}'\n", app.addr)),
        "{script}"
    );
    let check = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "sh -n: {check:?}");
    // the script carries the node's token: a code gives it once (a code copied from a shell
    // history later gets nothing); the downloads without a credential still work below
    let again = http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let again = again.text().await.unwrap();
    assert!(again.contains("already fetched"), "{again}");
    assert!(!again.contains("apiVersion"), "no kubeconfig: {again}");
    // what it downloads with the code: this console's own binary, install.sh, the unit
    let binary = http
        .get(app.url(&format!("{path}/wharf")))
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status(), StatusCode::OK);
    let len: u64 = binary.headers()[reqwest::header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        len,
        std::fs::metadata("/proc/self/exe").unwrap().len(),
        "the running binary"
    );
    drop(binary);
    for file in ["install.sh", "wharf-ng-agent.service"] {
        let res = http
            .get(app.url(&format!("{path}/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{file}");
    }
    // a new command for the node (its script fetched but not run, say): a new code, whose
    // script is served; the old code is gone
    let (status, cmd) = admin
        .call("join_nginx_node", json!({"cluster": "edge", "node": "n1"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{cmd}");
    let fresh = cmd["script_path"].as_str().unwrap().to_string();
    assert_ne!(fresh, path);
    let res = http.get(app.url(&fresh)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a new code's script");
    let res = http
        .get(app.url(&format!("{path}/install.sh")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the old code");
    for bad in [
        "/ng-agent/join/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
        "/ng-agent/join/short".to_string(),
        "/ng-agent/join/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/wharf".to_string(),
        format!("{path}/etc-passwd"),
    ] {
        let res = http.get(app.url(&bad)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{bad}");
    }

    // the node's own token: an agent with it serves the cluster's routes
    let kubeconfig = kubeconfig_in(&script);
    let token = client_of(&kubeconfig).await;
    deploy(&app, "shop", 1, 80).await;
    route(&app, "shop", "shop.alpha.demo", 80, vec![]).await;
    let mut node = Node::new();
    node.start_agent_with(token.clone()).await;
    eventually(
        WITHIN,
        "the route and the cluster's settings on the node",
        || async {
            let live = node.live_config();
            (live.contains("add_header X-Edge joined;") && live.contains("shop.alpha.demo"))
                .then_some(())
        },
    )
    .await
    .unwrap();
    let reported = eventually(WITHIN, "the node in the admins' list", || async {
        let c = listed(&admin, "edge").await?;
        let n = c["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["name"] == "n1")?
            .clone();
        n["nginx_version"].is_string().then_some(n)
    })
    .await
    .unwrap();
    let version = reported["nginx_version"].as_str().unwrap();
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{version}"
    );
    // a second join of a name that reports is refused
    let (status, body) = admin
        .call("join_nginx_node", json!({"cluster": "edge", "node": "n1"}))
        .await
        .unwrap();
    let (status, en, zh) = refusal(status, &body);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("already reports"), "{en}");
    assert!(zh.contains("已有名为"), "{zh}");

    // removed: the token no longer works, the entry is gone
    drop(node);
    let (status, body) = admin
        .call(
            "remove_nginx_node",
            json!({"cluster": "edge", "node": "n1"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(WITHIN, "the token to be refused", || async {
        match Api::<NginxCluster>::all(token.clone())
            .list(&Default::default())
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 401 => Some(()),
            _ => None,
        }
    })
    .await
    .unwrap();
    let c = listed(&admin, "edge").await.unwrap();
    assert!(c["nodes"].as_array().unwrap().is_empty(), "{c}");
    assert!(c["joined"].as_array().unwrap().is_empty(), "{c}");
    // and the code with it
    let res = http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
