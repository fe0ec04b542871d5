//! The config editor's server functions on the demo cluster and a real kube-apiserver:
//! ConfigMaps and Secrets created and changed with their history (who, a diff for ConfigMaps,
//! only keys for Secrets, a change made outside Wharf noticed), a stale version refused, bad
//! input refused in both languages with nothing created, Secret values never in a viewer's
//! answer, "apply" rolling the app that uses the object, deletion typed and never while used.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_tests::{eventually, Session, TestApp};

const WAIT: Duration = Duration::from_secs(60);

wharf_tests::on_both_clusters!(config_is_edited_with_history_applied_and_deleted);

fn form(kind: &str, name: &str, entries: Value, version: Option<&str>) -> Value {
    json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": name, "kind": kind,
        "entries": entries, "resource_version": version}})
}

async fn ok(who: &Session, f: &str, args: Value) -> Value {
    let (status, body) = who.call(f, args).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{f}: {body}");
    body
}

async fn detail(who: &Session, kind: &str, name: &str) -> Value {
    ok(
        who,
        "config_object",
        json!({"tenant": "alpha", "namespace": "alpha", "kind": kind, "name": name}),
    )
    .await
}

fn row<'a>(list: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|r| r["name"] == name && r["kind"] == kind)
}

async fn config_is_edited_with_history_applied_and_deleted(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(app.kube.clone(), "alpha");

    // bad input: each refused in both languages, nothing created
    let big = "x".repeat(1024 * 1024);
    for (args, says) in [
        (
            form("ConfigMap", "Bad_Name", json!([["k", "v"]]), None),
            "name 'Bad_Name'",
        ),
        (
            form("ConfigMap", "bad-key", json!([["a/b", "v"]]), None),
            "key 'a/b'",
        ),
        (
            form("ConfigMap", "twice", json!([["k", "1"], ["k", "2"]]), None),
            "appears twice",
        ),
        (
            form("Secret", "too-big", json!([["blob", big]]), None),
            "at most 1024 KiB",
        ),
        (
            form("ConfigMap", "empty", json!([]), None),
            "at least one key",
        ),
    ] {
        let (status, en, zh) = alice.refused("save_config", args).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{says}: {en}");
        assert!(en.contains(says), "{says}: {en}");
        assert!(!zh.is_empty() && zh != en, "{zh}");
    }
    for name in ["bad-key", "twice", "empty"] {
        assert!(config_maps.get_opt(name).await.unwrap().is_none(), "{name}");
    }
    assert!(secrets.get_opt("too-big").await.unwrap().is_none());

    // created, then an app that reads both
    ok(
        &alice,
        "save_config",
        form(
            "ConfigMap",
            "orders-config",
            json!([["app.properties", "server.port=8080\nlevel=info\n"]]),
            None,
        ),
    )
    .await;
    ok(
        &alice,
        "save_config",
        form(
            "Secret",
            "orders-db",
            json!([["password", "s3cret-one"]]),
            None,
        ),
    )
    .await;
    let (status, en, _) = alice
        .refused(
            "save_config",
            form("ConfigMap", "orders-config", json!([["k", "v"]]), None),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("already exists"), "{en}");
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let orders = serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "orders", "namespace": "alpha"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "orders"}},
            "template": {"metadata": {"labels": {"app": "orders"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                    "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "password"}}}],
                    "volumeMounts": [{"name": "cfg", "mountPath": "/etc/config"}]}],
                    "volumes": [{"name": "cfg", "configMap": {"name": "orders-config"}}]}}}}))
    .unwrap();
    deployments
        .create(&Default::default(), &orders)
        .await
        .unwrap();
    let list = eventually(WAIT, "orders in the config list", || async {
        let list = ok(&alice, "config_objects", json!({"tenant": "alpha"})).await;
        (row(&list, "ConfigMap", "orders-config")?["used_by"] == json!(["orders"])).then_some(list)
    })
    .await
    .unwrap();
    let secret_row = row(&list, "Secret", "orders-db").unwrap();
    assert_eq!(secret_row["keys"], json!(["password"]));
    assert_eq!(secret_row["used_by"], json!(["orders"]));
    assert!(!list.to_string().contains("s3cret"), "{list}");
    // history ConfigMaps are not in the list
    assert!(!list.to_string().contains("wharf-history"), "{list}");

    // a change with the version opened; a stale version refused
    let opened = detail(&alice, "ConfigMap", "orders-config").await;
    let version = opened["resource_version"].as_str().unwrap().to_string();
    ok(
        &alice,
        "save_config",
        form(
            "ConfigMap",
            "orders-config",
            json!([["app.properties", "server.port=8080\nlevel=debug\n"]]),
            Some(&version),
        ),
    )
    .await;
    let (status, en, zh) = alice
        .refused(
            "save_config",
            form(
                "ConfigMap",
                "orders-config",
                json!([["app.properties", "lost"]]),
                Some(&version),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{en}");
    assert!(
        en.contains("changed after you opened it") && !zh.is_empty(),
        "{en}"
    );
    let now = config_maps.get("orders-config").await.unwrap();
    assert_eq!(
        now.data.unwrap()["app.properties"],
        "server.port=8080\nlevel=debug\n"
    );
    let d = detail(&alice, "ConfigMap", "orders-config").await;
    let history = d["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{d}");
    assert_eq!(history[0]["action"], "changed");
    assert_eq!(history[0]["by"], "alice");
    let diff: Vec<String> = history[0]["changes"][0]["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}{}",
                l["sign"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(diff, [" server.port=8080", "-level=info", "+level=debug"]);
    assert_eq!(history[1]["action"], "created");

    // a Secret: its value is kept when not sent, changed when sent; the history names keys only
    let s = detail(&alice, "Secret", "orders-db").await;
    assert!(s["entries"][0]["value"].is_null(), "{s}");
    let sv = s["resource_version"].as_str().unwrap().to_string();
    ok(
        &alice,
        "save_config",
        form(
            "Secret",
            "orders-db",
            json!([["password", null], ["user", "orders"]]),
            Some(&sv),
        ),
    )
    .await;
    let stored = secrets.get("orders-db").await.unwrap().data.unwrap();
    assert_eq!(stored["password"].0, b"s3cret-one");
    assert_eq!(stored["user"].0, b"orders");
    let revealed = ok(
        &alice,
        "reveal_secret",
        json!({"tenant": "alpha", "namespace": "alpha", "name": "orders-db"}),
    )
    .await;
    assert!(revealed.to_string().contains("s3cret-one"), "{revealed}");
    let s = detail(&alice, "Secret", "orders-db").await;
    assert_eq!(
        s["history"][0]["changes"],
        json!([{"key": "user", "what": "added", "diff": []}])
    );
    assert!(!s.to_string().contains("s3cret"), "{s}");

    // a viewer reads, never sees values, changes nothing; another tenant gets nothing
    let vera = app.login("vera").await.unwrap();
    let seen = ok(&vera, "config_objects", json!({"tenant": "alpha"})).await;
    assert!(row(&seen, "Secret", "orders-db").is_some());
    let seen = detail(&vera, "Secret", "orders-db").await;
    assert!(!seen.to_string().contains("s3cret"), "{seen}");
    let reveal = json!({"tenant": "alpha", "namespace": "alpha", "name": "orders-db"});
    assert_eq!(
        vera.refused("reveal_secret", reveal.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let bob = app.login("bob").await.unwrap();
    assert_eq!(
        bob.refused("reveal_secret", reveal).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        bob.refused("config_objects", json!({"tenant": "alpha"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // a change made outside Wharf shows in the history, by no one known
    config_maps
        .patch(
            "orders-config",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"data": {"extra.txt": "from kubectl"}})),
        )
        .await
        .unwrap();
    let d = detail(&alice, "ConfigMap", "orders-config").await;
    assert_eq!(d["history"][0]["action"], "outside", "{d}");
    assert_eq!(d["history"][0]["by"], "");
    assert_eq!(d["history"][0]["changes"][0]["key"], "extra.txt");

    // apply rolls the app that uses it
    let rolled = ok(
        &alice,
        "apply_config",
        json!({"tenant": "alpha", "namespace": "alpha", "kind": "ConfigMap", "name": "orders-config"}),
    )
    .await;
    assert_eq!(rolled, json!(["orders"]));
    let d = deployments.get("orders").await.unwrap();
    let annotations = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert!(
        annotations["wharf.dev/config-applied"].starts_with("ConfigMap/orders-config@"),
        "{annotations:?}"
    );
    let d = detail(&alice, "ConfigMap", "orders-config").await;
    assert_eq!(d["history"][0]["action"], "applied");
    assert_eq!(d["history"][0]["by"], "alice");
    assert_eq!(d["history"][0]["apps"], json!(["orders"]));
    // the outside change is kept in its place, before the apply
    assert_eq!(d["history"][1]["action"], "outside", "{d}");
    assert_eq!(
        d["history"][1]["changes"][0]["diff"],
        json!([{"sign": "+", "text": "from kubectl"}])
    );
    assert_eq!(d["history"].as_array().unwrap().len(), 4, "{d}");
    let uses = ok(
        &alice,
        "app_config",
        json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"}),
    )
    .await;
    let uses = uses.as_array().unwrap();
    assert_eq!(uses.len(), 2, "{uses:?}");
    assert_eq!(uses[0]["name"], "orders-config");
    assert_eq!(uses[0]["how"][0]["en"], "files at /etc/config");
    assert_eq!(uses[1]["how"][0]["en"], "env DB_PASSWORD");

    // deletion: never while used, only typed
    let delete = |name: &str, confirm: &str| json!({"tenant": "alpha", "namespace": "alpha", "kind": "ConfigMap", "name": name, "confirm": confirm});
    let (status, en, zh) = alice
        .refused("delete_config", delete("orders-config", "orders-config"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{en}");
    assert!(
        en.contains("used by orders") && zh.contains("orders"),
        "{en}"
    );
    deployments
        .delete("orders", &Default::default())
        .await
        .unwrap();
    eventually(WAIT, "orders gone from the console's cache", || async {
        let list = ok(&alice, "config_objects", json!({"tenant": "alpha"})).await;
        row(&list, "ConfigMap", "orders-config")?["used_by"]
            .as_array()?
            .is_empty()
            .then_some(())
    })
    .await
    .unwrap();
    let (status, en, _) = alice
        .refused("delete_config", delete("orders-config", "orders"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("type the name"), "{en}");
    ok(
        &alice,
        "delete_config",
        delete("orders-config", "orders-config"),
    )
    .await;
    assert!(config_maps
        .get_opt("orders-config")
        .await
        .unwrap()
        .is_none());
    assert!(config_maps
        .get_opt("wharf-history-configmap-orders-config")
        .await
        .unwrap()
        .is_none());
}
