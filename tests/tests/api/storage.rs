//! The storage page's server functions on the demo cluster and a real kube-apiserver: classes
//! read with what they give, claims created (bad input refused in both languages, nothing
//! created), expansion refused where it cannot be done, deletion only typed and never while a
//! pod mounts the claim. On the demo cluster (whose node runs pods), a claim's files are
//! listed through a pod that mounts it, and downloaded through the terminal's route.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_tests::{eventually, Session, TestApp};

const WAIT: Duration = Duration::from_secs(60);

wharf_tests::on_both_clusters!(claims_are_created_expanded_and_deleted_with_their_checks);

async fn view(alice: &Session) -> Value {
    let (status, body) = alice
        .call("storage", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn claim<'a>(view: &'a Value, name: &str) -> Option<&'a Value> {
    view["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

async fn claims_are_created_expanded_and_deleted_with_their_checks(app: TestApp) {
    // two classes of the test's own, so both clusters have the same (a real one has none)
    let classes: kube::Api<k8s_openapi::api::storage::v1::StorageClass> =
        kube::Api::all(app.kube.clone());
    for (name, provisioner, expand) in [
        ("test-shared", "rook-ceph.cephfs.csi.ceph.com", true),
        ("test-fixed", "rancher.io/local-path", false),
    ] {
        let class = serde_json::from_value(
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name}, "provisioner": provisioner, "allowVolumeExpansion": expand,
            "volumeBindingMode": "WaitForFirstConsumer"}),
        )
        .unwrap();
        classes.create(&Default::default(), &class).await.unwrap();
    }
    let alice = app.login("alice").await.unwrap();
    let v = view(&alice).await;
    let class = |n: &str| {
        v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n}: {v}"))
    };
    assert_eq!(class("test-shared")["kind"], "CephFs");
    assert_eq!(class("test-shared")["allow_expansion"], true);
    assert_eq!(class("test-fixed")["kind"], "Local");
    assert_eq!(class("test-fixed")["binding_mode"], "WaitForFirstConsumer");

    let form = |name: &str, class: &str, size: &str| {
        json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": name, "class": class,
            "size": size, "access_mode": "ReadWriteMany"}})
    };
    // bad input: each refused with its reason in both languages, nothing created
    for (args, says) in [
        (
            form("data", "test-shared", "1GB"),
            "'1GB' is not a storage size",
        ),
        (
            form("data", "no-such-class", "1Gi"),
            "'no-such-class' is not a storage class",
        ),
        (form("Data_1", "test-shared", "1Gi"), "name"),
    ] {
        let (status, en, zh) = alice.refused("create_claim", args).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{en}");
        assert!(en.contains(says), "{says}: {en}");
        assert!(!zh.is_empty());
    }
    let pvcs: kube::Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    assert!(pvcs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    // another tenant's namespace
    let mut beta = form("data", "test-shared", "1Gi");
    beta["form"]["namespace"] = json!("beta");
    assert_eq!(
        alice.refused("create_claim", beta).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, body) = alice
        .call("create_claim", form("data", "test-shared", "1Gi"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, en, zh) = alice
        .refused("create_claim", form("data", "test-shared", "1Gi"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{en}");
    assert!(en.contains("already exists") && !zh.is_empty(), "{en}");
    let v = view(&alice).await;
    let row = claim(&v, "data").unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (
            row["class"].clone(),
            row["requested"].clone(),
            row["access_modes"].clone()
        ),
        (json!("test-shared"), json!("1Gi"), json!(["ReadWriteMany"]))
    );
    // waits for its first consumer: pending on both clusters
    assert_eq!(row["phase"], "Pending", "{row}");

    // expansion: never smaller, only where the class allows it, only once bound
    let expand = |name: &str, size: &str| json!({"tenant": "alpha", "namespace": "alpha", "name": name, "size": size});
    for (args, says) in [
        (expand("data", "512Mi"), "a claim only grows"),
        (expand("data", "lots"), "not a storage size"),
        (expand("data", "2Gi"), "only a bound claim can be expanded"),
    ] {
        let (status, en, zh) = alice.refused("expand_claim", args).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{en}");
        assert!(en.contains(says), "{says}: {en}");
        assert!(!zh.is_empty());
    }
    let (status, body) = alice
        .call("create_claim", form("fixed", "test-fixed", "1Gi"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, en, _) = alice.refused("expand_claim", expand("fixed", "2Gi")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("does not allow expanding"), "{en}");

    // deletion: typed, and never while a pod mounts the claim
    let delete = |name: &str, confirm: &str| json!({"tenant": "alpha", "namespace": "alpha", "name": name, "confirm": confirm});
    let (status, en, _) = alice.refused("delete_claim", delete("data", "dat")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("type the claim's name"), "{en}");
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "uses-data", "namespace": "alpha"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}))
    .unwrap();
    pods.create(&Default::default(), &pod).await.unwrap();
    let users = eventually(WAIT, "the claim's user in the view", || async {
        let v = view(&alice).await;
        let users = claim(&v, "data")?["used_by"].clone();
        (users == json!(["uses-data"])).then_some(users)
    })
    .await;
    assert!(users.is_ok());
    let (status, en, zh) = alice.refused("delete_claim", delete("data", "data")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{en}");
    assert!(
        en.contains("mounted by uses-data") && zh.contains("uses-data"),
        "{en}"
    );
    assert!(pvcs.get_opt("data").await.unwrap().is_some());

    pods.delete(
        "uses-data",
        &kube::api::DeleteParams::default().grace_period(0),
    )
    .await
    .unwrap();
    eventually(WAIT, "the pod gone from the console's view", || async {
        let v = view(&alice).await;
        claim(&v, "data")?["used_by"]
            .as_array()?
            .is_empty()
            .then_some(())
    })
    .await
    .unwrap();
    let (status, body) = alice
        .call("delete_claim", delete("data", "data"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(WAIT, "the claim gone", || async {
        pvcs.get_opt("data").await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap();
    // a viewer sees the claims and changes nothing
    let vera = app.login("vera").await.unwrap();
    assert!(claim(&view(&vera).await, "fixed").is_some());
    let (status, _, _) = vera.refused("delete_claim", delete("fixed", "fixed")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for name in ["test-shared", "test-fixed"] {
        classes.delete(name, &Default::default()).await.unwrap();
    }
}

/// The folder `path` of claim `claim` in alpha, as alice lists it.
async fn files(alice: &Session, claim: &str, path: &str) -> (StatusCode, Value) {
    alice
        .call(
            "volume_files",
            json!({"tenant": "alpha", "namespace": "alpha", "claim": claim, "path": path}),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_claims_files_are_listed_through_a_pod_that_mounts_it() {
    let app = wharf_tests::spawn_app().await.unwrap();
    let alice = app.login("alice").await.unwrap();
    // a claim no pod mounts: said plainly
    let (status, body) = alice
        .call(
            "create_claim",
            json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "idle", "class": "",
                "size": "1Gi", "access_mode": "ReadWriteOnce"}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, en, zh) = alice
        .refused(
            "volume_files",
            json!({"tenant": "alpha", "namespace": "alpha", "claim": "idle", "path": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(en.contains("no running pod mounts claim 'idle'"), "{en}");
    assert!(zh.contains("idle"), "{zh}");

    // an app with a claim at /data, and files written on it in its pod
    let (status, body) = alice
        .call(
            "deploy_app",
            json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "files", "image": "nginx:1.25",
                "replicas": 1, "port": 8080, "env": [], "cpu_request": "", "cpu_limit": "", "memory_request": "",
                "memory_limit": "", "mounts": [{"source": {"NewClaim": {"name": "files-data", "size": "1Gi", "class": ""}}, "path": "/data"}]}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let cache = app.state.cache.pods.clone();
    let pod = eventually(WAIT, "a running pod of files", || {
        let cache = cache.clone();
        async move {
            cache.state().iter().find_map(|p| {
                let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                let of_app = p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .map(String::as_str)
                    == Some("files");
                (running && of_app).then(|| p.metadata.name.clone().unwrap())
            })
        }
    })
    .await
    .unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let mut write = pods
        .exec(
            &pod,
            [
                "sh",
                "-c",
                "mkdir -p /data/docs && printf hello > /data/docs/note.txt && touch /data/.hidden",
            ],
            &kube::api::AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let status = write.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");

    // the root: folders first; the pod and mount it was read through
    let (status, root) = files(&alice, "files-data", "").await;
    assert_eq!(status, StatusCode::OK, "{root}");
    assert_eq!(
        (&root["pod"], &root["mount_path"]),
        (&json!(pod), &json!("/data"))
    );
    let names: Vec<(&str, bool)> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["dir"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("docs", true), (".hidden", false)], "{root}");
    let (status, docs) = files(&alice, "files-data", "/docs/").await;
    assert_eq!(status, StatusCode::OK, "{docs}");
    assert_eq!(docs["path"], "docs");
    assert_eq!(docs["entries"][0]["name"], "note.txt");
    assert_eq!(docs["entries"][0]["size"], 5);
    assert!(docs["entries"][0]["modified"].is_string(), "{docs}");

    // out of the volume, or not there: refused, in both languages
    let (status, en, zh) = alice
        .refused(
            "volume_files",
            json!({"tenant": "alpha", "namespace": "alpha", "claim": "files-data", "path": "docs/../../etc"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("without '.' or '..'"), "{en}");
    assert!(zh.contains("不能包含"), "{zh}");
    let (status, _) = files(&alice, "files-data", "missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // the file comes down through the terminal's route with what the listing said
    let url = app.url(&format!(
        "/download/terminal/alpha?ns=alpha&pod={pod}&container={}&path={}",
        root["container"].as_str().unwrap(),
        wharf_api::logs::encode("/data/docs/note.txt")
    ));
    let res = reqwest::Client::new()
        .get(url)
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "hello");
}

wharf_tests::on_both_clusters!(a_files_pod_reaches_a_claim_no_pod_mounts);

/// A claim no pod mounts gets a files pod on request: the terminal's tools image, the claim at
/// /data, stopped by Kubernetes after an hour; asked again, the same pod; the browser says
/// what it waits on, then (where pods run) lists through it; stopped on request, and with the
/// claim. Only the tenant's developers start or stop one.
async fn a_files_pod_reaches_a_claim_no_pod_mounts(app: TestApp) {
    // a real cluster has no class (nor provisioner): one of the test's own; the demo's default
    let class = if app.cluster.is_real() {
        let classes: kube::Api<k8s_openapi::api::storage::v1::StorageClass> =
            kube::Api::all(app.kube.clone());
        let class = serde_json::from_value(
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "test-files"}, "provisioner": "rook-ceph.rbd.csi.ceph.com",
            "volumeBindingMode": "WaitForFirstConsumer"}),
        )
        .unwrap();
        classes.create(&Default::default(), &class).await.unwrap();
        "test-files"
    } else {
        ""
    };
    let alice = app.login("alice").await.unwrap();
    let (status, body) = alice
        .call(
            "create_claim",
            json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "archive", "class": class,
                "size": "1Gi", "access_mode": "ReadWriteOnce"}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let which = json!({"tenant": "alpha", "namespace": "alpha", "claim": "archive"});

    // only alpha's developers; a claim that is not there is said so
    for who in ["vera", "bob"] {
        let s = app.login(who).await.unwrap();
        let (status, _) = s.call("open_volume_files", which.clone()).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }
    let (status, en, zh) = alice
        .refused(
            "open_volume_files",
            json!({"tenant": "alpha", "namespace": "alpha", "claim": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(en.contains("claim 'nope'") && zh.contains("nope"), "{en}");
    let (status, _) = alice
        .call(
            "open_volume_files",
            json!({"tenant": "alpha", "namespace": "beta", "claim": "archive"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "another tenant's namespace");
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let files_pods = || async {
        pods.list(&kube::api::ListParams::default().labels("wharf.dev/files-pod=true"))
            .await
            .unwrap()
            .items
    };
    assert!(
        files_pods().await.is_empty(),
        "nothing made by refused calls"
    );

    let (status, name) = alice
        .call("open_volume_files", which.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{name}");
    let name = name.as_str().unwrap().to_string();
    assert!(name.starts_with("files-archive-"), "{name}");
    let made = pods.get(&name).await.unwrap();
    let pod = serde_json::to_value(&made).unwrap();
    let spec = &pod["spec"];
    assert_eq!(spec["activeDeadlineSeconds"], 3600);
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(
        spec["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "archive"
    );
    let c = &spec["containers"][0];
    assert_eq!(c["image"], app.state.settings.terminal.debug_image.as_str());
    assert_eq!(c["command"], json!(["sleep", "3600"]));
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/data");
    assert_eq!(
        pod["metadata"]["annotations"]["wharf.dev/opened-by"],
        "alice"
    );
    // asked again while it starts: the same pod
    let (status, again) = alice
        .call("open_volume_files", which.clone())
        .await
        .unwrap();
    assert_eq!(
        (status, again.as_str()),
        (StatusCode::OK, Some(name.as_str()))
    );
    assert_eq!(files_pods().await.len(), 1);

    let list = json!({"tenant": "alpha", "namespace": "alpha", "claim": "archive", "path": ""});
    if app.cluster.is_real() {
        // no node runs it: the browser says what it waits on
        let en = eventually(WAIT, "the files pod named while it waits", || {
            let alice = &alice;
            let list = list.clone();
            async move {
                let (status, en, _) = alice.refused("volume_files", list).await;
                (status == StatusCode::CONFLICT && en.contains("the files pod")).then_some(en)
            }
        })
        .await
        .unwrap();
        assert!(en.contains(&name) && en.contains("Pending"), "{en}");
    } else {
        // the demo node runs it: listed through it, as a files pod
        let listing = eventually(WAIT, "the claim listed through its files pod", || {
            let alice = &alice;
            let list = list.clone();
            async move {
                let (status, body) = alice.call("volume_files", list).await.unwrap();
                (status == StatusCode::OK).then_some(body)
            }
        })
        .await
        .unwrap();
        assert_eq!(listing["pod"], name.as_str(), "{listing}");
        assert_eq!(listing["files_pod"], true);
        assert_eq!(listing["mount_path"], "/data");
    }

    // stopped: gone, and the browser says no pod mounts the claim
    let vera = app.login("vera").await.unwrap();
    let (status, _) = vera
        .call("close_volume_files", which.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers stop nothing");
    let (status, body) = alice
        .call("close_volume_files", which.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(WAIT, "the files pod gone", || async {
        files_pods().await.is_empty().then_some(())
    })
    .await
    .unwrap();
    eventually(WAIT, "no pod reaches the claim", || {
        let alice = &alice;
        let list = list.clone();
        async move {
            let (status, en, _) = alice.refused("volume_files", list).await;
            (status == StatusCode::CONFLICT && en.contains("no running pod mounts")).then_some(())
        }
    })
    .await
    .unwrap();

    // a files pod goes with its claim: deleting the claim is not refused for it
    let (status, _) = alice
        .call("open_volume_files", which.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    eventually(WAIT, "the console sees the files pod", || {
        let cache = app.state.cache.pods.clone();
        async move {
            cache
                .state()
                .iter()
                .any(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("files-archive-"))
                })
                .then_some(())
        }
    })
    .await
    .unwrap();
    let (status, body) = alice
        .call(
            "delete_claim",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "archive", "confirm": "archive"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(WAIT, "the files pod deleted with the claim", || async {
        files_pods().await.is_empty().then_some(())
    })
    .await
    .unwrap();
}
