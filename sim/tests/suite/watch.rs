//! LIST and WATCH semantics through kube-rs: selectors, pagination, resuming
//! from a resourceVersion, bookmarks, and 410 Gone for compacted history.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

fn cm(name: &str, tier: &str) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": "v"}}))
    .unwrap()
}

#[tokio::test]
async fn list_with_selectors_and_pages() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        api.create(
            &PostParams::default(),
            &cm(
                &format!("cm-{i}"),
                if i % 2 == 0 { "front" } else { "back" },
            ),
        )
        .await
        .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier=front"))
                .await
                .unwrap()
        )
        .len(),
        4
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier in (front,back),tier!=back"))
                .await
                .unwrap()
        )
        .len(),
        4
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap()
        )
        .len(),
        0
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=cm-3"))
                .await
                .unwrap()
        ),
        ["cm-3"]
    );

    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(3);
    loop {
        let page = api.list(&lp).await.unwrap();
        let cont = page.metadata.continue_.clone();
        seen.extend(names(page));
        match cont {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 7);

    // Field selectors on pods: status.phase and spec.nodeName.
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "demo-node-1", "containers": [{"name": "c", "image": "i"}]}})).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(
        pods.list(&ListParams::default().fields("status.phase=Pending,spec.nodeName=demo-node-1"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        pods.list(&ListParams::default().fields("status.phase=Running"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api
        .create(&PostParams::default(), &cm("a", "x"))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    api.create(&PostParams::default(), &cm("b", "x"))
        .await
        .unwrap();
    api.delete("a", &Default::default()).await.unwrap();

    // From `rv`: only what happened after it.
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let mut got = Vec::new();
    while got.len() < 2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(c) => got.push(format!("ADDED {}", c.metadata.name.unwrap())),
            WatchEvent::Deleted(c) => got.push(format!("DELETED {}", c.metadata.name.unwrap())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, ["ADDED b", "DELETED a"]);

    // Live events keep coming on the same stream.
    api.create(&PostParams::default(), &cm("c", "x"))
        .await
        .unwrap();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(c) => assert_eq!(c.metadata.name.as_deref(), Some("c")),
        other => panic!("{other:?}"),
    }

    // "0": current state as ADDED events.
    let mut from_zero = api
        .watch(&WatchParams::default().timeout(10), "0")
        .await
        .unwrap()
        .boxed();
    let mut names = Vec::new();
    while names.len() < 2 {
        if let WatchEvent::Added(c) = from_zero.try_next().await.unwrap().unwrap() {
            names.push(c.metadata.name.unwrap());
        }
    }
    names.sort();
    assert_eq!(names, ["b", "c"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn label_filtered_watch_sees_objects_enter_and_leave() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = api
        .create(&PostParams::default(), &cm("m", "back"))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut s = api
        .watch(
            &WatchParams::default().labels("tier=front").timeout(10),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let relabel = |t: &str| kube::api::Patch::Merge(json!({"metadata": {"labels": {"tier": t}}}));
    api.patch("m", &Default::default(), &relabel("front"))
        .await
        .unwrap();
    assert!(matches!(
        s.try_next().await.unwrap().unwrap(),
        WatchEvent::Added(_)
    ));
    api.patch("m", &Default::default(), &relabel("back"))
        .await
        .unwrap();
    assert!(matches!(
        s.try_next().await.unwrap().unwrap(),
        WatchEvent::Deleted(_)
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn bookmarks_when_asked() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = sim.store().resource_version().to_string();
    let mut s = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), s.try_next())
        .await
        .expect("a bookmark within 5s");
    match ev.unwrap().unwrap() {
        WatchEvent::Bookmark(b) => assert!(
            b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
        ),
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn too_old_resource_version_is_410_expired() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let old = api
        .create(&PostParams::default(), &cm("a", "x"))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &cm("b", "x"))
        .await
        .unwrap();
    sim.store().compact();
    let mut s = api
        .watch(&WatchParams::default().timeout(10), &old)
        .await
        .unwrap()
        .boxed();
    match s.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("{other:?}"),
    }
    // The current version still works.
    let now = sim.store().resource_version().to_string();
    let mut s = api
        .watch(&WatchParams::default().timeout(10), &now)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("c", "x"))
        .await
        .unwrap();
    assert!(matches!(
        s.try_next().await.unwrap().unwrap(),
        WatchEvent::Added(_)
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn kube_runtime_watcher_works() {
    use kube::runtime::{watcher, WatchStreamExt};
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut objects = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    api.create(&PostParams::default(), &cm("seen", "x"))
        .await
        .unwrap();
    loop {
        let c = tokio::time::timeout(std::time::Duration::from_secs(10), objects.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if c.metadata.name.as_deref() == Some("seen") {
            break;
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn metadata_lists_and_streaming_list_watches() {
    use kube::runtime::{watcher, WatchStreamExt};
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("meta", "x"))
        .await
        .unwrap();
    let metas = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(metas.items[0].metadata.name.as_deref(), Some("meta"));

    // sendInitialEvents=true: initial ADDED events, then the `initial-events-end` bookmark.
    let config = watcher::Config::default().streaming_lists();
    let mut objects = watcher(api.clone(), config).applied_objects().boxed();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), objects.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("meta"));
    api.create(&PostParams::default(), &cm("later", "x"))
        .await
        .unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), objects.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.metadata.name.as_deref(), Some("later"));
    sim.shutdown().await;
}

#[tokio::test]
async fn in_process_store_watch_for_controllers() {
    use sim::store::{EventType, WatchParams as StoreWatch};
    let (sim, client) = crate::support::spawn().await;
    let store = sim.store();
    let mut w = store
        .watch(
            &sim::ResourceId::of::<ConfigMap>(),
            StoreWatch {
                namespace: Some("default".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("from-http", "x"))
        .await
        .unwrap();
    let ev = loop {
        let ev = w.recv().await.unwrap().unwrap();
        if ev.name == "from-http" {
            break ev;
        }
    };
    assert_eq!(ev.kind, EventType::Added);
    let typed: ConfigMap = ev.object_as().unwrap();
    assert_eq!(typed.metadata.labels.unwrap()["tier"], "x");

    // Typed writes with the same semantics: a stale resourceVersion is a conflict.
    let mut stale = store
        .get_typed::<ConfigMap>("default", "from-http")
        .unwrap();
    let mut fresh = stale.clone();
    fresh.data = Some([("k".to_string(), "2".to_string())].into());
    store.update_typed(&fresh).unwrap();
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    assert_eq!(store.update_typed(&stale).unwrap_err().code, 409);
    sim.shutdown().await;
}
