//! StatefulSets on the demo cluster, through kube-rs: pods made one by one in ordinal order,
//! each with its own claim whose data outlives the pod (written through exec, found in the
//! folder of its PV on this host),
//! scale-down from the highest ordinal keeping the claims, rolling updates from the highest
//! ordinal down with a partition, revisions and a rollback, `Parallel` and `OnDelete`, and
//! the garbage collection of pods (not claims) with the set.

use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{
    Api, AttachParams, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::support::{eventually, spawn_with_node};

/// One pod watch event as the tests look at it.
#[derive(Debug, Clone)]
struct Seen {
    kind: &'static str,
    name: String,
    ready: bool,
    deleting: bool,
    revision: String,
}

fn ready(p: &Pod) -> bool {
    let st = p.status.as_ref();
    st.and_then(|s| s.phase.as_deref()) == Some("Running")
        && st
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn label<'a>(p: &'a Pod, k: &str) -> &'a str {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(k))
        .map_or("", String::as_str)
}

/// Records every event of the pods labelled `app=<app>` from now on, in order.
async fn record_pods(client: &kube::Client, app: &str) -> Arc<Mutex<Vec<Seen>>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let selector = format!("app={app}");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let stream = pods
        .watch(&WatchParams::default().labels(&selector).timeout(290), &rv)
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Ok(Some(ev)) = stream.try_next().await {
            let (kind, p) = match ev {
                WatchEvent::Added(p) => ("ADDED", p),
                WatchEvent::Modified(p) => ("MODIFIED", p),
                WatchEvent::Deleted(p) => ("DELETED", p),
                _ => continue,
            };
            out.lock().unwrap().push(Seen {
                kind,
                name: p.metadata.name.clone().unwrap_or_default(),
                ready: ready(&p),
                deleting: p.metadata.deletion_timestamp.is_some(),
                revision: label(&p, "controller-revision-hash").to_string(),
            });
        }
    });
    seen
}

/// Runs `command` in `pod` (a real process in its container, claims mounted); (stdout,
/// the status on the error channel).
async fn exec(pods: &Api<Pod>, pod: &str, command: &[&str]) -> (String, Status) {
    let ap = AttachParams::default().stdout(true).stderr(false);
    let mut proc = pods.exec(pod, command.to_vec(), &ap).await.unwrap();
    let mut out = String::new();
    proc.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = proc.take_status().unwrap().await.expect("a status");
    (out, status)
}

/// The index of the first recorded event that satisfies `f`.
fn first(seen: &[Seen], f: impl Fn(&Seen) -> bool) -> Option<usize> {
    seen.iter().position(f)
}

/// A set `name` of `replicas` pods labelled `app=<name>`; `claim` adds the claim template
/// `data`, mounted at `/data`.
fn set(name: &str, replicas: i32, claim: bool) -> StatefulSet {
    let mut container = json!({"name": "app", "image": "nginx:1.25"});
    let mut spec = json!({"replicas": replicas, "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": []}}});
    if claim {
        container["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
        spec["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
    }
    spec["template"]["spec"]["containers"] = json!([container]);
    serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

/// Waits until the set's status satisfies `f` for its current generation.
async fn settled(sets: &Api<StatefulSet>, name: &str, f: impl Fn(&Value) -> bool) -> Value {
    eventually(60, || async {
        let s = serde_json::to_value(sets.get(name).await.ok()?).ok()?;
        let current = s["status"]["observedGeneration"] == s["metadata"]["generation"];
        (current && f(&s["status"])).then_some(s)
    })
    .await
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

async fn gone(pods: &Api<Pod>, name: &str) -> bool {
    matches!(pods.get(name).await, Err(kube::Error::Api(s)) if s.code == 404)
}

#[tokio::test]
async fn pods_come_in_order_with_claims_whose_data_outlives_them() {
    let (sim, client) = spawn_with_node().await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let seen = record_pods(&client, "web").await;
    sets.create(&PostParams::default(), &set("web", 3, true))
        .await
        .unwrap();
    let s = settled(&sets, "web", |st| {
        int(&st["readyReplicas"]) == 3
            && int(&st["currentReplicas"]) == 3
            && st["currentRevision"] == st["updateRevision"]
    })
    .await;
    let revision = s["status"]["updateRevision"].as_str().unwrap().to_string();
    assert!(revision.starts_with("web-"), "{revision}");
    assert_eq!(s["status"]["collisionCount"], 0);

    // OrderedReady: web-i is made only once web-(i-1) is Running and Ready.
    {
        let seen = seen.lock().unwrap();
        for i in 1..3 {
            let made = first(&seen, |e| e.kind == "ADDED" && e.name == format!("web-{i}"))
                .expect("the pod was made");
            let before_ready = first(&seen, |e| e.name == format!("web-{}", i - 1) && e.ready)
                .expect("its predecessor became ready");
            assert!(
                before_ready < made,
                "web-{i} made before web-{} was ready: {seen:#?}",
                i - 1
            );
        }
        let added = seen.iter().filter(|e| e.kind == "ADDED").count();
        assert_eq!(added, 3, "each pod made once: {seen:#?}");
    }

    for i in 0..3 {
        let p = pods.get(&format!("web-{i}")).await.unwrap();
        let name = format!("web-{i}");
        assert_eq!(label(&p, "app"), "web");
        assert_eq!(label(&p, "statefulset.kubernetes.io/pod-name"), name);
        assert_eq!(label(&p, "controller-revision-hash"), revision);
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("StatefulSet", "web")
        );
        assert_eq!(owner.controller, Some(true));
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(name.as_str()));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let vol = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(vol.name, "data");
        let claim_name = format!("data-web-{i}");
        assert_eq!(
            vol.persistent_volume_claim.as_ref().unwrap().claim_name,
            claim_name
        );
        let c = claims.get(&claim_name).await.unwrap();
        assert_eq!(c.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
        assert_eq!(c.metadata.labels.as_ref().unwrap()["app"], "web");
        assert!(c.metadata.owner_references.is_none(), "{c:?}");
    }

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    let said: Vec<(String, String)> = list
        .items
        .iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("StatefulSet"))
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default(),
            )
        })
        .collect();
    for want in [
        "create Claim data-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
        "create Pod web-2 in StatefulSet web successful",
    ] {
        assert!(
            said.iter()
                .any(|(r, m)| r == "SuccessfulCreate" && m == want),
            "{want}: {said:?}"
        );
    }
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let revs = revisions.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0].metadata.name.as_deref(), Some(revision.as_str()));
    assert_eq!(revs[0].revision, 1);

    // What web-0 writes to its claim is in its PV's folder on this host, and still there for
    // the web-0 made again after a delete: the same claim, the same volume.
    let c = claims.get("data-web-0").await.unwrap();
    let pv_name = c.spec.as_ref().unwrap().volume_name.clone().unwrap();
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = pvs.get(&pv_name).await.unwrap();
    let folder = std::path::PathBuf::from(&pv.spec.unwrap().host_path.unwrap().path);
    let (out, status) = exec(
        &pods,
        "web-0",
        &["sh", "-c", "echo kept > /data/f && cat /data/f"],
    )
    .await;
    assert_eq!(
        (out.as_str(), status.status.as_deref()),
        ("kept\n", Some("Success"))
    );
    assert_eq!(std::fs::read_to_string(folder.join("f")).unwrap(), "kept\n");
    let old_uid = pods.get("web-0").await.unwrap().metadata.uid.unwrap();
    pods.delete("web-0", &DeleteParams::default())
        .await
        .unwrap();
    let again = eventually(60, || async {
        let p = pods.get("web-0").await.ok()?;
        (p.metadata.uid.as_deref() != Some(old_uid.as_str()) && ready(&p)).then_some(p)
    })
    .await;
    let vol = &again.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
    assert_eq!(
        vol.persistent_volume_claim.as_ref().unwrap().claim_name,
        "data-web-0"
    );
    let c = claims.get("data-web-0").await.unwrap();
    assert_eq!(
        c.spec.unwrap().volume_name.as_deref(),
        Some(pv_name.as_str())
    );
    let (out, _) = exec(&pods, "web-0", &["cat", "/data/f"]).await;
    assert_eq!(out, "kept\n");

    // Scale down to 1: web-2 goes first, and web-1 only once web-2 is gone; claims stay.
    sets.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    settled(&sets, "web", |st| int(&st["replicas"]) == 1).await;
    eventually(30, || async {
        (gone(&pods, "web-1").await && gone(&pods, "web-2").await).then_some(())
    })
    .await;
    {
        let seen = seen.lock().unwrap();
        let web2_gone = first(&seen, |e| e.kind == "DELETED" && e.name == "web-2").unwrap();
        let web1_goes = first(&seen, |e| {
            e.name == "web-1" && (e.deleting || e.kind == "DELETED")
        })
        .unwrap();
        assert!(web2_gone < web1_goes, "{seen:#?}");
    }
    for i in 0..3 {
        let c = claims.get(&format!("data-web-{i}")).await.unwrap();
        assert_eq!(c.status.unwrap().phase.as_deref(), Some("Bound"));
    }

    // Deleting the set: its pods and revisions are collected, its claims are not.
    sets.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(30, || async {
        let left = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        left.items.is_empty().then_some(())
    })
    .await;
    assert!(revisions
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let left = claims
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(left.items.len(), 3);
    sim.shutdown().await;
}

/// The pods' revision labels, by ordinal.
async fn revisions_of(pods: &Api<Pod>, app: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let p = pods.get(&format!("{app}-{i}")).await.unwrap();
        out.push(label(&p, "controller-revision-hash").to_string());
    }
    out
}

fn image(image: &str) -> Patch<Value> {
    Patch::Strategic(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}),
    )
}

#[tokio::test]
async fn rolling_updates_go_from_the_highest_ordinal_down_within_the_partition() {
    let (sim, client) = spawn_with_node().await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PatchParams::default();
    sets.create(&PostParams::default(), &set("db", 3, false))
        .await
        .unwrap();
    let s = settled(&sets, "db", |st| int(&st["readyReplicas"]) == 3).await;
    let rev1 = s["status"]["currentRevision"].as_str().unwrap().to_string();

    let seen = record_pods(&client, "db").await;
    sets.patch("db", &pp, &image("nginx:1.26")).await.unwrap();
    let s = settled(&sets, "db", |st| {
        int(&st["updatedReplicas"]) == 3
            && int(&st["readyReplicas"]) == 3
            && st["currentRevision"] == st["updateRevision"]
    })
    .await;
    let rev2 = s["status"]["updateRevision"].as_str().unwrap().to_string();
    assert_ne!(rev1, rev2);
    assert_eq!(
        revisions_of(&pods, "db", 3).await,
        [rev2.as_str(), rev2.as_str(), rev2.as_str()]
    );
    {
        let seen = seen.lock().unwrap();
        let goes = |n: usize| {
            first(&seen, |e| {
                e.name == format!("db-{n}") && (e.deleting || e.kind == "DELETED")
            })
            .unwrap()
        };
        let back_ready = |n: usize| {
            first(&seen, |e| {
                e.name == format!("db-{n}") && e.revision == rev2 && e.ready
            })
            .unwrap()
        };
        assert!(
            goes(2) < back_ready(2) && back_ready(2) < goes(1),
            "{seen:#?}"
        );
        assert!(
            goes(1) < back_ready(1) && back_ready(1) < goes(0),
            "{seen:#?}"
        );
    }
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let numbers = |list: Vec<ControllerRevision>| -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = list
            .into_iter()
            .map(|r| (r.metadata.name.unwrap_or_default(), r.revision))
            .collect();
        v.sort_by_key(|r| r.1);
        v
    };
    let list = revisions.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(numbers(list), [(rev1.clone(), 1), (rev2.clone(), 2)]);

    // A partition of 2: only db-2 is updated, the current revision stays.
    sets.patch(
        "db",
        &pp,
        &Patch::Merge(
            json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}},
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}),
        ),
    )
    .await
    .unwrap();
    let s = settled(&sets, "db", |st| {
        int(&st["updatedReplicas"]) == 1 && int(&st["readyReplicas"]) == 3
    })
    .await;
    let rev3 = s["status"]["updateRevision"].as_str().unwrap().to_string();
    assert_eq!(s["status"]["currentRevision"], rev2.as_str());
    assert_eq!(int(&s["status"]["currentReplicas"]), 2);
    assert_eq!(
        revisions_of(&pods, "db", 3).await,
        [rev2.as_str(), rev2.as_str(), rev3.as_str()]
    );

    // The partition lowered: the rest follow, and the rollout completes.
    sets.patch(
        "db",
        &pp,
        &Patch::Merge(json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})),
    )
    .await
    .unwrap();
    settled(&sets, "db", |st| {
        st["currentRevision"] == rev3.as_str() && int(&st["updatedReplicas"]) == 3
    })
    .await;
    assert_eq!(
        revisions_of(&pods, "db", 3).await,
        [rev3.as_str(), rev3.as_str(), rev3.as_str()]
    );

    // Back to an older template: its revision is used again, with the next number.
    sets.patch("db", &pp, &image("nginx:1.26")).await.unwrap();
    settled(&sets, "db", |st| {
        st["currentRevision"] == rev2.as_str() && int(&st["updatedReplicas"]) == 3
    })
    .await;
    let list = revisions.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(numbers(list), [(rev1, 1), (rev3, 3), (rev2.clone(), 4)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn parallel_sets_start_at_once_and_on_delete_waits_for_deletes() {
    let (sim, client) = spawn_with_node().await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let seen = record_pods(&client, "cache").await;
    let mut s = set("cache", 3, false);
    let spec = s.spec.as_mut().unwrap();
    spec.pod_management_policy = Some("Parallel".into());
    spec.update_strategy = Some(serde_json::from_value(json!({"type": "OnDelete"})).unwrap());
    sets.create(&PostParams::default(), &s).await.unwrap();
    let st = settled(&sets, "cache", |st| int(&st["readyReplicas"]) == 3).await;
    let rev1 = st["status"]["updateRevision"].as_str().unwrap().to_string();
    {
        // Parallel: every pod is made before any is ready.
        let seen = seen.lock().unwrap();
        let last_made = (0..3)
            .map(|i| {
                first(&seen, |e| {
                    e.kind == "ADDED" && e.name == format!("cache-{i}")
                })
                .unwrap()
            })
            .max()
            .unwrap();
        let first_ready = first(&seen, |e| e.ready).unwrap();
        assert!(last_made < first_ready, "{seen:#?}");
    }

    // OnDelete: a new template moves updateRevision only.
    sets.patch("cache", &PatchParams::default(), &image("nginx:1.26"))
        .await
        .unwrap();
    let st = settled(&sets, "cache", |st| st["updateRevision"] != rev1.as_str()).await;
    let rev2 = st["status"]["updateRevision"].as_str().unwrap().to_string();
    assert_eq!(st["status"]["currentRevision"], rev1.as_str());
    assert_eq!(
        revisions_of(&pods, "cache", 3).await,
        [rev1.as_str(), rev1.as_str(), rev1.as_str()]
    );
    // A pod deleted by hand comes back at the update revision.
    pods.delete("cache-1", &DeleteParams::default())
        .await
        .unwrap();
    settled(&sets, "cache", |st| {
        int(&st["updatedReplicas"]) == 1 && int(&st["readyReplicas"]) == 3
    })
    .await;
    assert_eq!(
        revisions_of(&pods, "cache", 3).await,
        [rev1.as_str(), rev2.as_str(), rev1.as_str()]
    );
    sim.shutdown().await;
}
