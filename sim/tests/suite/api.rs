//! CRUD, optimistic concurrency, the three patch types, deletion with
//! propagation, status and scale subresources, auth and bad input — all
//! through a real kube-rs client over HTTPS.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, PersistentVolumeClaim, Pod, Service};
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
    let (sim, client) = crate::support::spawn().await;
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
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(nodes.items.len(), 3);
    let ready = nodes.items[0]
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    assert!(ready);
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "kube-system");
    sa.get("default").await.unwrap();
    let svc = Api::<Service>::namespaced(client, "default")
        .get("kubernetes")
        .await
        .unwrap();
    assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn create_get_update_conflict_delete() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &cm("one"))
        .await
        .unwrap();
    let md = &created.metadata;
    assert!(md.uid.is_some() && md.creation_timestamp.is_some() && md.resource_version.is_some());
    assert_eq!(md.namespace.as_deref(), Some("default"));

    let (code, reason) = api_code(
        api.create(&PostParams::default(), &cm("one"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed
        .data
        .as_mut()
        .unwrap()
        .insert("k".into(), "v2".into());
    let updated = api
        .replace("one", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(updated.data.unwrap()["k"], "v2");

    // Writing with the old resourceVersion again is a conflict.
    let (code, reason) = api_code(
        api.replace("one", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    // generateName
    let mut gen = cm("");
    gen.metadata.name = None;
    gen.metadata.generate_name = Some("gen-".into());
    let g = api.create(&PostParams::default(), &gen).await.unwrap();
    assert!(g.metadata.name.unwrap().starts_with("gen-"));

    // dryRun stores nothing.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &cm("dry")).await.unwrap();
    assert_eq!(api_code(api.get("dry").await.unwrap_err()).0, 404);

    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        api_code(api.get("one").await.unwrap_err()),
        (404, "NotFound".into())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn defaults_and_generation() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = api
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
    let pod_spec = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        pod_spec.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );
    assert_eq!(d.metadata.generation, Some(1));

    // A label change keeps the generation; a spec change bumps it.
    let d2 = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d2.metadata.generation, Some(1));
    let d3 = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(d3.metadata.generation, Some(2));

    let svc: Service = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .unwrap();
    let svc = Api::<Service>::namespaced(client, "default")
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let ip = svc.spec.unwrap().cluster_ip.unwrap();
    assert!(ip.starts_with("10.96.") && ip != "10.96.0.1", "{ip}");
    sim.shutdown().await;
}

#[tokio::test]
async fn json_merge_and_strategic_patches() {
    let (sim, client) = crate::support::spawn().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();

    // Strategic: add a container by name; the existing one stays.
    let add = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.36"}]}}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(add))
        .await
        .unwrap();
    let names: Vec<String> = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["web", "sidecar"]);

    // Strategic: `$patch: delete` removes it again.
    let del = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(del))
        .await
        .unwrap();
    let names: Vec<String> = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["web"]);

    // Merge patch replaces the list wholesale.
    let merge = json!({"spec": {"template": {"spec": {"containers": [{"name": "other", "image": "busybox:1.36"}]}}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Merge(merge))
        .await
        .unwrap();
    let names: Vec<String> = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["other"]);

    // JSON patch.
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}
    ]))
    .unwrap();
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(4));
    assert_eq!(d.metadata.annotations.unwrap()["a"], "b");

    // A failing JSON patch test op changes nothing.
    let before = api.get("web").await.unwrap().spec;
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}]))
            .unwrap();
    assert_eq!(
        api_code(
            api.patch("web", &PatchParams::default(), &Patch::Json::<()>(bad))
                .await
                .unwrap_err()
        )
        .0,
        422
    );
    assert_eq!(api.get("web").await.unwrap().spec, before);
    sim.shutdown().await;
}

// NB: the living cluster's controllers write Deployment and ReplicaSet status, so
// status semantics are checked on a PersistentVolumeClaim of no class, which nothing else writes.
#[tokio::test]
async fn status_and_scale_subresources() {
    let (sim, client) = crate::support::spawn().await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": ""},
        "status": {"phase": "Bound"}
    }))
    .unwrap();
    let created = pvcs.create(&PostParams::default(), &pvc).await.unwrap();
    assert_eq!(
        created.status.unwrap().phase.as_deref(),
        Some("Pending"),
        "create ignores status"
    );

    let patch = json!({"status": {"phase": "Bound"}, "spec": {"volumeName": "pv-1"}});
    let s = pvcs
        .patch_status("data", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    assert_eq!(s.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
    assert!(
        s.spec.as_ref().unwrap().volume_name.is_none(),
        "status patch ignores spec"
    );

    // A main-resource update ignores status.
    let mut cur = pvcs.get("data").await.unwrap();
    cur.status.as_mut().unwrap().phase = Some("Lost".into());
    cur.metadata.labels = Some([("tier".to_string(), "db".to_string())].into());
    let r = pvcs
        .replace("data", &PostParams::default(), &cur)
        .await
        .unwrap();
    assert_eq!(r.status.unwrap().phase.as_deref(), Some("Bound"));
    assert_eq!(r.metadata.labels.unwrap()["tier"], "db");

    // Scale: GET, PATCH and PUT on deployments/scale change spec.replicas.
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let scaled = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(3));
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );
    let mut sc = api.get_scale("web").await.unwrap();
    sc.spec.as_mut().unwrap().replicas = Some(5);
    api.replace_scale("web", &PostParams::default(), &sc)
        .await
        .unwrap();
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );
    sim.shutdown().await;
}

/// A ConfigMap owned by `owner` (kind, name, uid). NB: ConfigMaps and Secrets have
/// no controllers in the living cluster, so only the garbage collector acts here.
fn owned_cm(name: &str, kind: &str, owner_name: &str, owner_uid: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": [{"apiVersion": "v1", "kind": kind,
            "name": owner_name, "uid": owner_uid, "controller": true, "blockOwnerDeletion": true}]},
    }))
    .unwrap()
}

fn uid<K: kube::Resource>(k: &K) -> String {
    k.meta().uid.clone().unwrap()
}

#[tokio::test]
async fn delete_cascades_to_owned_objects() {
    let (sim, client) = crate::support::spawn().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let gone = |name: &'static str| {
        let cms = cms.clone();
        async move { cms.get_opt(name).await.unwrap().is_none().then_some(()) }
    };

    // Background (default): root → child → grandchild all go.
    let root = cms.create(&pp, &cm("root")).await.unwrap();
    let child = cms
        .create(&pp, &owned_cm("child", "ConfigMap", "root", &uid(&root)))
        .await
        .unwrap();
    cms.create(
        &pp,
        &owned_cm("grandchild", "ConfigMap", "child", &uid(&child)),
    )
    .await
    .unwrap();
    cms.delete("root", &DeleteParams::default()).await.unwrap();
    crate::support::eventually(5, || gone("grandchild")).await;
    assert!(cms.get_opt("child").await.unwrap().is_none());

    // Orphan: the dependent stays, without the owner reference.
    let root = cms.create(&pp, &cm("root")).await.unwrap();
    cms.create(&pp, &owned_cm("orphan", "ConfigMap", "root", &uid(&root)))
        .await
        .unwrap();
    cms.delete("root", &DeleteParams::orphan()).await.unwrap();
    let kept = cms.get("orphan").await.unwrap();
    assert!(kept
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());

    // Foreground.
    let root = cms.create(&pp, &cm("root")).await.unwrap();
    cms.create(&pp, &owned_cm("fg", "ConfigMap", "root", &uid(&root)))
        .await
        .unwrap();
    cms.delete("root", &DeleteParams::foreground())
        .await
        .unwrap();
    crate::support::eventually(5, || gone("fg")).await;

    // Across kinds: a Pod owned by a ConfigMap goes with it.
    let owner = cms.create(&pp, &cm("pod-owner")).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "owned-pod", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
            "name": "pod-owner", "uid": uid(&owner)}]},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})).unwrap();
    pods.create(&pp, &pod).await.unwrap();
    cms.delete("pod-owner", &DeleteParams::default())
        .await
        .unwrap();
    crate::support::eventually(5, || async {
        pods.get_opt("owned-pod")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // Collection delete with a label selector.
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut c = cm(n);
        c.metadata.labels = Some([("group".to_string(), l.to_string())].into());
        cms.create(&pp, &c).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("group=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default().labels("group"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);

    // Deleting a namespace deletes what is in it.
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap(),
    )
    .await
    .unwrap();
    let scratch: Api<ConfigMap> = Api::namespaced(client.clone(), "scratch");
    scratch.create(&pp, &cm("inside")).await.unwrap();
    nss.delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
    crate::support::eventually(5, || async {
        nss.get_opt("scratch")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(scratch.get_opt("inside").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn pod_ephemeral_containers_subresource() {
    let (sim, client) = crate::support::spawn().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}),
    )
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    let patch = json!({"spec": {"ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36", "stdin": true, "tty": true}]}});
    pods.patch_ephemeral_containers("p", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let p = pods.get("p").await.unwrap();
    assert_eq!(
        p.spec.unwrap().ephemeral_containers.unwrap()[0].name,
        "debugger"
    );
    sim.shutdown().await;
}
