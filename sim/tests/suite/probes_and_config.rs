//! Probes and ConfigMap volumes on the living cluster through kube-rs: a readiness probe
//! that fails keeps a pod Running but out of its Service's ready endpoints until the probe
//! is fixed; a ConfigMap mounted at /etc/config is a file the container reads, and an edit
//! of the ConfigMap reaches it.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Event, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

use crate::support::{cat, eventually, spawn_with_node as spawn};

const SECS: u64 = 60;

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

fn pod_ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

/// The pods of app `app` that are not being deleted.
async fn pods_of(client: &Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// `(ready, not ready)` addresses of the Endpoints `name`.
async fn endpoint_ips(client: &Client, name: &str) -> (Vec<String>, Vec<String>) {
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
    let Ok(ep) = eps.get(name).await else {
        return (vec![], vec![]);
    };
    let ips = |a: Option<&Vec<k8s_openapi::api::core::v1::EndpointAddress>>| {
        a.into_iter()
            .flatten()
            .map(|a| a.ip.clone())
            .collect::<Vec<_>>()
    };
    let subsets = ep.subsets.unwrap_or_default();
    (
        subsets
            .iter()
            .flat_map(|s| ips(s.addresses.as_ref()))
            .collect(),
        subsets
            .iter()
            .flat_map(|s| ips(s.not_ready_addresses.as_ref()))
            .collect(),
    )
}

/// The `conditions.ready` of the EndpointSlice endpoint with address `ip`, if any.
async fn slice_ready(client: &Client, service: &str, ip: &str) -> Option<bool> {
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let list = slices
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .ok()?;
    list.items
        .iter()
        .flat_map(|s| &s.endpoints)
        .find(|e| e.addresses.iter().any(|a| a == ip))
        .map(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
}

#[tokio::test]
async fn a_failing_readiness_probe_keeps_a_pod_out_of_its_services_ready_endpoints() {
    let (_sim, client) = spawn().await;
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "shy"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "shy"}},
            "template": {"metadata": {"labels": {"app": "shy"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/status/503", "port": "http"},
                        "periodSeconds": 1, "failureThreshold": 1}}]}}}
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "shy"},
        "spec": {"selector": {"app": "shy"}, "ports": [{"port": 80, "targetPort": "http"}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();

    // The probe has failed (the kubelet's event says so) and the pod is Running, not Ready.
    let first = eventually(SECS, || {
        let client = client.clone();
        async move {
            let pod = pods_of(&client, "shy").await.into_iter().next()?;
            let name = pod.metadata.name.clone()?;
            let events: Api<Event> = Api::default_namespaced(client.clone());
            let unhealthy = events
                .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
                .await
                .ok()?
                .items
                .into_iter()
                .any(|e| {
                    e.reason.as_deref() == Some("Unhealthy")
                        && e.message.as_deref()
                            == Some(
                                "Readiness probe failed: HTTP probe failed with statuscode: 503",
                            )
                });
            (unhealthy && running(&pod)).then_some(pod)
        }
    })
    .await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let first = pods
        .get(first.metadata.name.as_deref().unwrap())
        .await
        .unwrap();
    assert!(running(&first) && !ready(&first), "Running, not Ready");
    let first_ip = pod_ip(&first);
    eventually(SECS, || {
        let (client, ip) = (client.clone(), first_ip.clone());
        async move {
            let (ready, not_ready) = endpoint_ips(&client, "shy").await;
            let sliced = slice_ready(&client, "shy", &ip).await;
            (ready.is_empty() && not_ready.contains(&ip) && sliced == Some(false)).then_some(())
        }
    })
    .await;

    // Fix the probe: the new pod is Ready and a ready endpoint; the old one is gone.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web",
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}}}]}}}});
    deployments
        .patch("shy", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let second = eventually(SECS, || {
        let client = client.clone();
        let old = first.metadata.name.clone();
        async move {
            let pods = pods_of(&client, "shy").await;
            let new = pods.iter().find(|p| p.metadata.name != old && ready(p))?;
            let ip = pod_ip(new);
            let (ready_ips, not_ready) = endpoint_ips(&client, "shy").await;
            let sliced = slice_ready(&client, "shy", &ip).await;
            (ready_ips == [ip.clone()] && not_ready.is_empty() && sliced == Some(true))
                .then(|| new.clone())
        }
    })
    .await;
    assert_ne!(second.metadata.name, first.metadata.name);
}

#[tokio::test]
async fn a_config_map_mounted_at_etc_config_is_a_file_that_follows_edits() {
    let (_sim, client) = spawn().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "app-config"},
        "data": {"app.properties": "greeting=hello\n"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "configured", "labels": {"app": "configured"}},
        "spec": {"containers": [{"name": "app", "image": "busybox",
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/config"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    eventually(SECS, || {
        let pods = pods.clone();
        async move { pods.get("configured").await.ok().filter(running) }
    })
    .await;
    assert_eq!(
        cat(&client, "configured", "/etc/config/app.properties").await,
        "greeting=hello\n"
    );

    let patch = json!({"data": {"app.properties": "greeting=bonjour\n"}});
    cms.patch("app-config", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(SECS, || {
        let client = client.clone();
        async move {
            let out = cat(&client, "configured", "/etc/config/app.properties").await;
            (out == "greeting=bonjour\n").then_some(())
        }
    })
    .await;
}
