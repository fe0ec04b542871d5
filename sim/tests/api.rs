//! CRUD, optimistic concurrency, the three patch types, deletion with
//! propagation, status and scale subresources, auth and bad input — all
//! through a real kube-rs client over HTTPS.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Error;
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}
            }
        }
    }))
    .unwrap()
}

fn api_code(e: Error) -> (u16, String) {
    match e {
        Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn seeded_cluster_has_namespaces_nodes_and_service_accounts() {
    let (sim, client) = support::spawn().await;
    let ns: Vec<String> = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for want in ["default", "kube-system", "kube-public"] {
        assert!(ns.contains(&want.to_string()), "{ns:?}");
    }
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.unwrap();
    assert_eq!(nodes.items.len(), 3);
    let ready = nodes.items[0].status.as_ref().unwrap().conditions.as_ref().unwrap().iter().any(|c| c.type_ == "Ready" && c.status == "True");
    assert!(ready);
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    sa.get("default").await.unwrap();
    let svc = Api::<Service>::namespaced(client, "default").get("kubernetes").await.unwrap();
    assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn create_get_update_conflict_delete() {
    let (sim, client) = support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api.create(&PostParams::default(), &cm("one")).await.unwrap();
    let md = &created.metadata;
    assert!(md.uid.is_some() && md.creation_timestamp.is_some() && md.resource_version.is_some());
    assert_eq!(md.namespace.as_deref(), Some("default"));

    let (code, reason) = api_code(api.create(&PostParams::default(), &cm("one")).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed.data.as_mut().unwrap().insert("k".into(), "v2".into());
    let updated = api.replace("one", &PostParams::default(), &changed).await.unwrap();
    assert_ne!(updated.metadata.resource_version, created.metadata.resource_version);
    assert_eq!(updated.data.unwrap()["k"], "v2");

    // Writing with the old resourceVersion again is a conflict.
    let (code, reason) = api_code(api.replace("one", &PostParams::default(), &changed).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    // generateName
    let mut gen = cm("");
    gen.metadata.name = None;
    gen.metadata.generate_name = Some("gen-".into());
    let g = api.create(&PostParams::default(), &gen).await.unwrap();
    assert!(g.metadata.name.unwrap().starts_with("gen-"));

    // dryRun stores nothing.
    let dry = PostParams { dry_run: true, ..Default::default() };
    api.create(&dry, &cm("dry")).await.unwrap();
    assert_eq!(api_code(api.get("dry").await.unwrap_err()).0, 404);

    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(api.get("one").await.unwrap_err()), (404, "NotFound".into()));
    sim.shutdown().await;
}

#[tokio::test]
async fn defaults_and_generation() {
    let (sim, client) = support::spawn().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = api.create(&PostParams::default(), &deployment("web")).await.unwrap();
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(spec.strategy.as_ref().unwrap().type_.as_deref(), Some("RollingUpdate"));
    let pod_spec = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod_spec.containers[0].image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(d.metadata.generation, Some(1));

    // A label change keeps the generation; a spec change bumps it.
    let d2 = api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}}))).await.unwrap();
    assert_eq!(d2.metadata.generation, Some(1));
    let d3 = api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    assert_eq!(d3.metadata.generation, Some(2));

    let svc: Service = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})).unwrap();
    let svc = Api::<Service>::namespaced(client, "default").create(&PostParams::default(), &svc).await.unwrap();
    let ip = svc.spec.unwrap().cluster_ip.unwrap();
    assert!(ip.starts_with("10.96.") && ip != "10.96.0.1", "{ip}");
    sim.shutdown().await;
}

#[tokio::test]
async fn json_merge_and_strategic_patches() {
    let (sim, client) = support::spawn().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web")).await.unwrap();

    // Strategic: add a container by name; the existing one stays.
    let add = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.36"}]}}}});
    let d = api.patch("web", &PatchParams::default(), &Patch::Strategic(add)).await.unwrap();
    let names: Vec<String> = d.spec.unwrap().template.spec.unwrap().containers.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["web", "sidecar"]);

    // Strategic: `$patch: delete` removes it again.
    let del = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}});
    let d = api.patch("web", &PatchParams::default(), &Patch::Strategic(del)).await.unwrap();
    let names: Vec<String> = d.spec.unwrap().template.spec.unwrap().containers.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["web"]);

    // Merge patch replaces the list wholesale.
    let merge = json!({"spec": {"template": {"spec": {"containers": [{"name": "other", "image": "busybox:1.36"}]}}}});
    let d = api.patch("web", &PatchParams::default(), &Patch::Merge(merge)).await.unwrap();
    let names: Vec<String> = d.spec.unwrap().template.spec.unwrap().containers.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["other"]);

    // JSON patch.
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}
    ]))
    .unwrap();
    let d = api.patch("web", &PatchParams::default(), &Patch::Json::<()>(ops)).await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(4));
    assert_eq!(d.metadata.annotations.unwrap()["a"], "b");

    // A failing JSON patch test op changes nothing.
    let rv = api.get("web").await.unwrap().metadata.resource_version;
    let bad: json_patch::Patch = serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}])).unwrap();
    assert_eq!(api_code(api.patch("web", &PatchParams::default(), &Patch::Json::<()>(bad)).await.unwrap_err()).0, 422);
    assert_eq!(api.get("web").await.unwrap().metadata.resource_version, rv);
    sim.shutdown().await;
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let (sim, client) = support::spawn().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut d = deployment("web");
    d.status = Some(serde_json::from_value(json!({"replicas": 7})).unwrap());
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert!(created.status.as_ref().and_then(|s| s.replicas).is_none(), "create ignores status");

    let s = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(json!({"status": {"replicas": 1, "readyReplicas": 1}, "spec": {"replicas": 9}})))
        .await
        .unwrap();
    assert_eq!(s.status.as_ref().unwrap().ready_replicas, Some(1));
    assert_eq!(s.spec.as_ref().unwrap().replicas, Some(1), "status patch ignores spec");

    // A main-resource update ignores status.
    let mut cur = api.get("web").await.unwrap();
    cur.status.as_mut().unwrap().ready_replicas = Some(5);
    let r = api.replace("web", &PostParams::default(), &cur).await.unwrap();
    assert_eq!(r.status.unwrap().ready_replicas, Some(1));

    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let scaled = api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}}))).await.unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(3));
    assert_eq!(api.get("web").await.unwrap().spec.unwrap().replicas, Some(3));
    let mut sc = api.get_scale("web").await.unwrap();
    sc.spec.as_mut().unwrap().replicas = Some(5);
    api.replace_scale("web", &PostParams::default(), &sc).await.unwrap();
    assert_eq!(api.get("web").await.unwrap().spec.unwrap().replicas, Some(5));
    sim.shutdown().await;
}

fn owned_rs(name: &str, owner: &Deployment) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
            "name": owner.metadata.name, "uid": owner.metadata.uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    }))
    .unwrap()
}

fn owned_pod(name: &str, rs: &ReplicaSet) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": rs.metadata.name, "uid": rs.metadata.uid, "controller": true}]},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn delete_cascades_to_owned_objects() {
    let (sim, client) = support::spawn().await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    // Background (default): deployment → replicaset → pod all go.
    let d = deps.create(&pp, &deployment("web")).await.unwrap();
    let rs = rss.create(&pp, &owned_rs("web-1", &d)).await.unwrap();
    pods.create(&pp, &owned_pod("web-1-a", &rs)).await.unwrap();
    deps.delete("web", &DeleteParams::default()).await.unwrap();
    support::eventually(5, || async { pods.get_opt("web-1-a").await.unwrap().is_none().then_some(()) }).await;
    assert!(rss.get_opt("web-1").await.unwrap().is_none());

    // Orphan: the replicaset stays, without the owner reference.
    let d = deps.create(&pp, &deployment("web")).await.unwrap();
    rss.create(&pp, &owned_rs("web-2", &d)).await.unwrap();
    deps.delete("web", &DeleteParams::orphan()).await.unwrap();
    let kept = rss.get("web-2").await.unwrap();
    assert!(kept.metadata.owner_references.unwrap_or_default().is_empty());

    // Foreground.
    let d = deps.create(&pp, &deployment("web")).await.unwrap();
    rss.create(&pp, &owned_rs("web-3", &d)).await.unwrap();
    deps.delete("web", &DeleteParams::foreground()).await.unwrap();
    support::eventually(5, || async { rss.get_opt("web-3").await.unwrap().is_none().then_some(()) }).await;

    // Collection delete with a label selector.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut c = cm(n);
        c.metadata.labels = Some([("group".to_string(), l.to_string())].into());
        cms.create(&pp, &c).await.unwrap();
    }
    cms.delete_collection(&DeleteParams::default(), &ListParams::default().labels("group=x")).await.unwrap();
    let left: Vec<String> = cms.list(&ListParams::default().labels("group")).await.unwrap().items.into_iter().filter_map(|c| c.metadata.name).collect();
    assert_eq!(left, ["c"]);

    // Deleting a namespace deletes what is in it.
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(&pp, &serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap()).await.unwrap();
    let scratch: Api<ConfigMap> = Api::namespaced(client.clone(), "scratch");
    scratch.create(&pp, &cm("inside")).await.unwrap();
    nss.delete("scratch", &DeleteParams::default()).await.unwrap();
    support::eventually(5, || async { nss.get_opt("scratch").await.unwrap().is_none().then_some(()) }).await;
    assert!(scratch.get_opt("inside").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn pod_ephemeral_containers_subresource() {
    let (sim, client) = support::spawn().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}})).unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    let patch = json!({"spec": {"ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36", "stdin": true, "tty": true}]}});
    pods.patch_ephemeral_containers("p", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    let p = pods.get("p").await.unwrap();
    assert_eq!(p.spec.unwrap().ephemeral_containers.unwrap()[0].name, "debugger");
    sim.shutdown().await;
}
