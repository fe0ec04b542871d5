//! Rolling a Deployment back as `kubectl rollout undo --to-revision` does — the old pod
//! template copied into the Deployment — behaves as on a real cluster: the old ReplicaSet
//! is scaled up again and takes the next revision, no new ReplicaSet is made, and the
//! Deployment's `kubernetes.io/change-cause` lands on the ReplicaSet of each revision.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

const CAUSE: &str = "kubernetes.io/change-cause";
const REVISION: &str = "deployment.kubernetes.io/revision";

use crate::support::spawn_with_node as spawn;

fn annotation(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> String {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .cloned()
        .unwrap_or_default()
}

/// Sets the image and the change cause in one patch, as the console's upgrade does.
async fn set_image(api: &Api<Deployment>, image: &str) {
    let patch = json!({
        "metadata": {"annotations": {CAUSE: format!("image set to {image}")}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}
    });
    api.patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
}

/// The ReplicaSets of `web` as (revision, image, cause, spec.replicas), by revision.
async fn revisions(client: &Client) -> Vec<(i64, String, String, i32)> {
    let api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let mut out: Vec<_> = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|rs| {
            let spec = rs.spec.unwrap();
            let image = spec.template.unwrap().spec.unwrap().containers[0]
                .image
                .clone()
                .unwrap_or_default();
            (
                annotation(&rs.metadata, REVISION).parse().unwrap_or(0),
                image,
                annotation(&rs.metadata, CAUSE),
                spec.replicas.unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

/// Waits until every pod of `web` runs `image` and the Deployment has rolled out.
async fn rolled_to(client: &Client, image: &str, replicas: usize) {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    crate::support::eventually(60, || async {
        let d = deployments.get("web").await.ok()?;
        let st = d.status?;
        let done = d.metadata.generation <= st.observed_generation
            && st.updated_replicas == Some(replicas as i32)
            && st.replicas == Some(replicas as i32)
            && st.available_replicas == Some(replicas as i32);
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items;
        let all_on = list.len() == replicas
            && list.iter().all(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some(image)
            });
        (done && all_on).then_some(())
    })
    .await;
}

#[tokio::test]
async fn rolling_back_reuses_the_old_replicaset_with_the_next_revision() {
    let (sim, client) = spawn().await;
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "annotations": {CAUSE: "first deploy"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
            }
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    rolled_to(&client, "nginx:1.25", 2).await;
    set_image(&api, "nginx:1.26").await;
    rolled_to(&client, "nginx:1.26", 2).await;
    set_image(&api, "nginx:1.27").await;
    rolled_to(&client, "nginx:1.27", 2).await;
    assert_eq!(
        revisions(&client).await,
        vec![
            (1, "nginx:1.25".into(), "first deploy".into(), 0),
            (2, "nginx:1.26".into(), "image set to nginx:1.26".into(), 0),
            (3, "nginx:1.27".into(), "image set to nginx:1.27".into(), 2),
        ]
    );

    // `kubectl rollout undo --to-revision=1`: revision 1's template, without its hash label
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let first = rss
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|rs| annotation(&rs.metadata, REVISION) == "1")
        .unwrap();
    let first_name = first.metadata.name.clone().unwrap();
    let mut template = first.spec.unwrap().template.unwrap();
    template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .remove("pod-template-hash");
    let patch = json!({"metadata": {"annotations": {CAUSE: "rolled back to revision 1"}}, "spec": {"template": template}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    rolled_to(&client, "nginx:1.25", 2).await;

    assert_eq!(
        revisions(&client).await,
        vec![
            (2, "nginx:1.26".into(), "image set to nginx:1.26".into(), 0),
            (3, "nginx:1.27".into(), "image set to nginx:1.27".into(), 0),
            (
                4,
                "nginx:1.25".into(),
                "rolled back to revision 1".into(),
                2
            ),
        ],
        "the old ReplicaSet is reused with the next revision, and no new one is made"
    );
    let reused = rss
        .get(&first_name)
        .await
        .expect("the first ReplicaSet is still there");
    assert_eq!(annotation(&reused.metadata, REVISION), "4");
    assert_eq!(
        annotation(
            &reused.metadata,
            "deployment.kubernetes.io/revision-history"
        ),
        "1"
    );
    crate::support::eventually(20, || async {
        let d = api.get("web").await.ok()?;
        (annotation(&d.metadata, REVISION) == "4").then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_change_cause_follows_the_deployment_onto_its_current_replicaset() {
    let (sim, client) = spawn().await;
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    rolled_to(&client, "nginx:1.25", 1).await;
    // `kubectl annotate deployment web kubernetes.io/change-cause=...` without a template change
    let patch = json!({"metadata": {"annotations": {CAUSE: "noted later"}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let rs = crate::support::eventually(20, || async {
        let list = rss
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items;
        list.into_iter()
            .find(|rs| annotation(&rs.metadata, CAUSE) == "noted later")
    })
    .await;
    assert_eq!(annotation(&rs.metadata, REVISION), "1");
    assert_eq!(
        annotation(
            &rs.metadata,
            "kubectl.kubernetes.io/last-applied-configuration"
        ),
        "",
        "kubectl's copy is not carried over"
    );
    sim.shutdown().await;
}
