//! The workloads server functions against the demo cluster and a real kube-apiserver: what
//! they change, and that bad input is refused with a clear message and changes nothing.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_tests::{eventually, on_both_clusters, TestApp};

on_both_clusters!(
    deploy_scale_upgrade_restart_delete,
    bad_input_is_explained_and_changes_nothing,
    yaml_edits_show_the_api_servers_refusal_and_change_nothing,
    yaml_edits_are_held_to_the_forms_rules_and_the_tenants_pod_security,
    revisions_are_listed_and_an_old_one_is_rolled_back_to,
);

fn form(name: &str, image: &str, replicas: i64) -> Value {
    json!({"namespace": "alpha", "name": name, "image": image, "replicas": replicas, "port": 8080,
        "env": [["MODE", "test"]], "cpu_request": "100m", "cpu_limit": "1", "memory_request": "64Mi", "memory_limit": "256Mi"})
}

async fn deploy_scale_upgrade_restart_delete(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");

    let (status, body) = alice
        .call(
            "deploy_app",
            json!({"tenant": "alpha", "form": form("web", "nginx:1.25", 2)}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(2));
    assert!(
        services.get_opt("web").await.unwrap().is_some(),
        "the form's port makes a Service"
    );

    // the live view (from the watcher cache) catches up with the new app
    eventually(
        Duration::from_secs(10),
        "the app in the workloads view",
        || async {
            let (_, v) = alice
                .call("workloads", json!({"tenant": "alpha"}))
                .await
                .ok()?;
            v["apps"]
                .as_array()?
                .iter()
                .any(|a| a["name"] == "web")
                .then_some(())
        },
    )
    .await
    .unwrap();

    let (status, _) = alice
        .call(
            "scale_app",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "web", "replicas": 3}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );

    let (status, _) = alice
        .call(
            "set_image",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "web", "image": "nginx:1.27"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let d = deployments.get("web").await.unwrap();
    assert_eq!(
        d.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("nginx:1.27")
    );

    let (status, _) = alice
        .call(
            "restart_app",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "web"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let d = deployments.get("web").await.unwrap();
    let annotations = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap_or_default();
    assert!(annotations.contains_key("kubectl.kubernetes.io/restartedAt"));

    let (status, _) = alice
        .call(
            "delete_app",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "web"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    eventually(
        Duration::from_secs(10),
        "the Deployment and Service to go",
        || async {
            (deployments.get_opt("web").await.ok()?.is_none()
                && services.get_opt("web").await.ok()?.is_none())
            .then_some(())
        },
    )
    .await
    .unwrap();
}

async fn bad_input_is_explained_and_changes_nothing(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    let before = deployments
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .len();

    for (form, expected) in [
        (form("", "nginx", 1), "name: required"),
        (form("Bad_Name", "nginx", 1), "name: 'Bad_Name'"),
        (form("ok", "Not An Image", 1), "image:"),
        (form("ok", "nginx", -1), "replicas: between 0"),
    ] {
        let (status, body) = alice
            .call("deploy_app", json!({"tenant": "alpha", "form": form}))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body.to_string().contains(expected),
            "expected {expected:?} in {body}"
        );
    }
    let (status, body) = alice
        .call(
            "scale_app",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "x", "replicas": -3}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // an oversized request is refused before any work
    let huge = "x".repeat(3 * 1024 * 1024);
    let (status, _) = alice
        .call(
            "deploy_app",
            json!({"tenant": "alpha", "form": form("big", &huge, 1)}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(
        deployments
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        before,
        "bad input created something"
    );
}

async fn yaml_edits_show_the_api_servers_refusal_and_change_nothing(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let (status, _) = alice
        .call(
            "deploy_app",
            json!({"tenant": "alpha", "form": form("cfg", "nginx:1.25", 1)}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let args = |yaml: &str| json!({"tenant": "alpha", "namespace": "alpha", "kind": "Deployment", "name": "cfg", "yaml": yaml});

    let (status, body) = alice
        .call(
            "get_yaml",
            json!({"tenant": "alpha", "namespace": "alpha", "kind": "Deployment", "name": "cfg"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let yaml = body.as_str().unwrap().to_string();
    assert!(
        yaml.contains("kind: Deployment") && !yaml.contains("managedFields"),
        "{yaml}"
    );

    let (status, body) = alice
        .call("put_yaml", args("metadata: [unclosed"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("YAML"), "{body}");

    let (status, body) = alice
        .call(
            "put_yaml",
            args(&yaml.replace("namespace: alpha", "namespace: beta")),
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "moving an object to another namespace: {body}"
    );

    let (status, body) = alice
        .call(
            "put_yaml",
            args(&yaml.replace("replicas: 1", "replicas: lots")),
        )
        .await
        .unwrap();
    assert!(status.is_client_error(), "{status} {body}");

    // the API server's own validation, in its words (the same on the demo cluster)
    let (status, body) = alice
        .call(
            "put_yaml",
            args(&yaml.replace("replicas: 1", "replicas: -1")),
        )
        .await
        .unwrap();
    assert!(status.is_client_error(), "{status} {body}");
    assert!(
        body.to_string()
            .contains("spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        "{body}"
    );

    let (status, body) = alice
        .call(
            "put_yaml",
            args(&yaml.replace("replicas: 1", "replicas: 4")),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    assert_eq!(
        deployments.get("cfg").await.unwrap().spec.unwrap().replicas,
        Some(4)
    );

    // an edit started before someone else changed the spec is refused, saying so, and does
    // not overwrite their change (the replicas: 4 above bumped the generation)
    let (status, body) = alice
        .call(
            "put_yaml",
            args(&yaml.replace("image: nginx:1.25", "image: nginx:1.27")),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("since you opened it"), "{body}");
    let d = deployments.get("cfg").await.unwrap().spec.unwrap();
    assert_eq!(d.replicas, Some(4));
    assert_eq!(
        d.template.spec.unwrap().containers[0].image.as_deref(),
        Some("nginx:1.25")
    );
}

/// The YAML editor is no way around the forms: what the deploy form would refuse, what the
/// tenant's Pod Security level (alpha: baseline) forbids, and Services that reach outside the
/// cluster are refused with the reason, and nothing is written — on a real API server too,
/// whose own PodSecurity admission is not what stops them here.
async fn yaml_edits_are_held_to_the_forms_rules_and_the_tenants_pod_security(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let (status, body) = alice
        .call(
            "deploy_app",
            json!({"tenant": "alpha", "form": form("pol", "nginx:1.25", 1)}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let read = |kind: &'static str| {
        let alice = &alice;
        async move {
            let (status, body) = alice
                .call(
                    "get_yaml",
                    json!({"tenant": "alpha", "namespace": "alpha", "kind": kind, "name": "pol"}),
                )
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            serde_yaml::from_str::<Value>(body.as_str().unwrap()).unwrap()
        }
    };
    let deployment = read("Deployment").await;
    let service = read("Service").await;
    let edited = |base: &Value, edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        serde_yaml::to_string(&v).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "Deployment",
            edited(&deployment, &|d| {
                d["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
                    json!({"privileged": true})
            }),
            "privileged (container \"pol\" must not set securityContext.privileged=true)",
        ),
        (
            "Deployment",
            edited(&deployment, &|d| {
                d["spec"]["template"]["spec"]["volumes"] =
                    json!([{"name": "root", "hostPath": {"path": "/"}}])
            }),
            "hostPath volumes (volume \"root\")",
        ),
        (
            "Deployment",
            edited(&deployment, &|d| d["spec"]["replicas"] = json!(600)),
            "spec.replicas: at most 500 (got 600)",
        ),
        (
            "Service",
            edited(&service, &|s| {
                s["spec"]["externalIPs"] = json!(["10.0.0.1"])
            }),
            "spec.externalIPs: not allowed",
        ),
        (
            "Service",
            edited(&service, &|s| s["spec"]["type"] = json!("NodePort")),
            "spec.type: NodePort is not allowed in this tenant",
        ),
    ];
    for (kind, yaml, reason) in cases {
        let (status, body) = alice
            .call(
                "put_yaml",
                json!({"tenant": "alpha", "namespace": "alpha", "kind": kind, "name": "pol", "yaml": yaml}),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}: {body}");
        let said = body["Invalid"]["en"].as_str().unwrap_or_default();
        assert!(said.contains(reason), "{reason}: {body}");
    }
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    let d = deployments.get("pol").await.unwrap().spec.unwrap();
    assert_eq!(d.replicas, Some(1));
    let pod = d.template.spec.unwrap();
    assert!(pod.volumes.is_none(), "{:?}", pod.volumes);
    assert!(pod.containers[0]
        .security_context
        .as_ref()
        .and_then(|s| s.privileged)
        .is_none());
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");
    let s = services.get("pol").await.unwrap().spec.unwrap();
    assert_eq!(s.type_.as_deref(), Some("ClusterIP"));
    assert!(s.external_ips.is_none());

    // what the form wrote passes, and a permitted edit is saved
    let (status, body) = alice
        .call(
            "put_yaml",
            json!({"tenant": "alpha", "namespace": "alpha", "kind": "Deployment", "name": "pol",
                "yaml": edited(&deployment, &|d| d["spec"]["replicas"] = json!(2))}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The pods of `app` in alpha, when every one of them is ready and runs `image` and there
/// are `n` of them.
async fn pods_on(app: &wharf_tests::TestApp, name: &str, image: &str, n: usize) -> Option<()> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: Api<Pod> = Api::namespaced(app.kube.clone(), "alpha");
    let list = pods
        .list(&kube::api::ListParams::default().labels(&format!("app={name}")))
        .await
        .ok()?
        .items;
    let ready = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    (list.len() == n
        && list.iter().all(|p| {
            p.metadata.deletion_timestamp.is_none()
                && ready(p)
                && p.spec
                    .as_ref()
                    .and_then(|s| s.containers[0].image.as_deref())
                    == Some(image)
        }))
    .then_some(())
}

/// The ReplicaSets of `name` in alpha as (name, revision annotation), sorted by name.
async fn replica_sets(app: &wharf_tests::TestApp, name: &str) -> Vec<(String, String)> {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let api: Api<ReplicaSet> = Api::namespaced(app.kube.clone(), "alpha");
    let mut out: Vec<_> = api
        .list(&kube::api::ListParams::default().labels(&format!("app={name}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|rs| {
            let rev = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                .cloned()
                .unwrap_or_default();
            (rs.metadata.name.unwrap_or_default(), rev)
        })
        .collect();
    out.sort();
    out
}

async fn revisions_are_listed_and_an_old_one_is_rolled_back_to(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "alpha");
    let at = |extra: Value| {
        let mut v = json!({"tenant": "alpha", "namespace": "alpha", "name": "shop"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let image_of = |d: &Deployment| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap()
    };
    let within = Duration::from_secs(30);

    let (status, body) = alice
        .call(
            "deploy_app",
            json!({"tenant": "alpha", "form": form("shop", "nginx:1.25", 2)}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(within, "shop on nginx:1.25", || {
        pods_on(&app, "shop", "nginx:1.25", 2)
    })
    .await
    .unwrap();
    for image in ["nginx:1.26", "nginx:1.27"] {
        let (status, body) = alice
            .call("set_image", at(json!({"image": image})))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        eventually(within, &format!("shop on {image}"), || {
            pods_on(&app, "shop", image, 2)
        })
        .await
        .unwrap();
    }

    // revisions 3, 2, 1 with their images and causes; 3 is current
    let revisions = eventually(
        within,
        "three revisions, the newest current with its pods ready",
        || async {
            let (status, v) = alice.call("app_revisions", at(json!({}))).await.ok()?;
            assert_eq!(status, StatusCode::OK, "{v}");
            let rows = v.as_array()?.clone();
            (rows.len() == 3 && rows[0]["ready"] == 2).then_some(rows)
        },
    )
    .await
    .unwrap();
    let summary: Vec<(i64, &str, &str, bool)> = revisions
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["images"][0][1].as_str().unwrap(),
                r["cause"].as_str().unwrap_or(""),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (3, "nginx:1.27", "image set to nginx:1.27 by alice", true),
            (2, "nginx:1.26", "image set to nginx:1.26 by alice", false),
            (1, "nginx:1.25", "deployed nginx:1.25 by alice", false),
        ]
    );
    assert_eq!(
        revisions[0]["images"][0][0], "shop",
        "images are per container"
    );
    let first_rs = revisions[2]["replica_set"].as_str().unwrap().to_string();
    let sets_before = replica_sets(&app, "shop").await;
    assert_eq!(sets_before.len(), 3);

    // refused, changing nothing: the current revision, an unknown one; beta; a viewer
    let unchanged = |what: &'static str| {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("shop").await.unwrap();
            assert_eq!(image_of(&d), "nginx:1.27", "{what} changed the app");
        }
    };
    let (status, body) = alice
        .call("rollback_app", at(json!({"revision": 3})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string()
            .contains("revision 3 is what 'shop' runs now"),
        "{body}"
    );
    unchanged("rolling back to the current revision").await;
    let (status, body) = alice
        .call("rollback_app", at(json!({"revision": 9})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.to_string()
            .contains("no revision 9 (its revisions: 1, 2, 3)"),
        "{body}"
    );
    unchanged("an unknown revision").await;
    let bob = app.login("bob").await.unwrap();
    for endpoint in ["app_revisions", "rollback_app"] {
        let (status, body) = bob
            .call(endpoint, at(json!({"revision": 1})))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint}: {body}");
        let (status, body) = bob
            .call(
                endpoint,
                json!({"tenant": "beta", "namespace": "alpha", "name": "shop", "revision": 1}),
            )
            .await
            .unwrap();
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{endpoint} through beta: {body}"
        );
    }
    unchanged("beta").await;
    let vera = app.login("vera").await.unwrap();
    let (status, body) = vera.call("app_revisions", at(json!({}))).await.unwrap();
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (StatusCode::OK, Some(3)),
        "a viewer reads the revisions"
    );
    let (status, body) = vera
        .call("rollback_app", at(json!({"revision": 1})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    unchanged("a viewer").await;
    assert_eq!(replica_sets(&app, "shop").await, sets_before);

    // the rollback's patch carries the resourceVersion read: a change made since is not overwritten
    let stale = deployments.get("shop").await.unwrap();
    let first: k8s_openapi::api::apps::v1::ReplicaSet = Api::namespaced(app.kube.clone(), "alpha")
        .get(&first_rs)
        .await
        .unwrap();
    let patch =
        wharf_console::workloads::rollback_patch(&stale, &first, "a stale rollback").unwrap();
    let noted = json!({"metadata": {"annotations": {"note": "changed meanwhile"}}});
    deployments
        .patch(
            "shop",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(noted),
        )
        .await
        .unwrap();
    match deployments
        .patch(
            "shop",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(patch),
        )
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        other => panic!("a rollback prepared before a change went through: {other:?}"),
    }
    unchanged("a stale rollback").await;

    // roll back to 1: the first image again, its ReplicaSet reused as revision 4
    let (status, body) = alice
        .call("rollback_app", at(json!({"revision": 1})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = deployments.get("shop").await.unwrap();
    assert_eq!(image_of(&d), "nginx:1.25");
    assert_eq!(
        d.metadata.annotations.unwrap()["kubernetes.io/change-cause"],
        "rolled back to revision 1 by alice"
    );
    let labels = d.spec.unwrap().template.metadata.unwrap().labels.unwrap();
    assert!(
        !labels.contains_key("pod-template-hash"),
        "the hash label is not copied: {labels:?}"
    );
    eventually(within, "shop back on nginx:1.25", || {
        pods_on(&app, "shop", "nginx:1.25", 2)
    })
    .await
    .unwrap();
    let sets_after = replica_sets(&app, "shop").await;
    assert_eq!(
        sets_after.len(),
        3,
        "no new ReplicaSet for an identical template: {sets_after:?}"
    );
    assert!(
        sets_after.contains(&(first_rs.clone(), "4".into())),
        "{first_rs} reused as revision 4: {sets_after:?}"
    );
    let (_, v) = alice.call("app_revisions", at(json!({}))).await.unwrap();
    let newest = &v[0];
    assert_eq!(
        (
            newest["revision"].as_i64(),
            newest["replica_set"].as_str(),
            newest["current"].as_bool()
        ),
        (Some(4), Some(first_rs.as_str()), Some(true)),
        "{v}"
    );
    assert_eq!(newest["cause"], "rolled back to revision 1 by alice");
    assert_eq!(
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["revision"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![4, 3, 2]
    );
}
