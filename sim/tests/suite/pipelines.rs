//! CI pipeline Jobs on the demo cluster through kube-rs: termination messages, the
//! builder stand-ins (kaniko's executor, the Sonar scanner), and env from Secrets.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, Secret};
use kube::api::{Api, ListParams, LogParams, PostParams};
use kube::runtime::wait::Condition;
use kube::Client;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

use crate::support::spawn_with_node as spawn;

async fn wait_for<K, C>(api: &Api<K>, name: &str, cond: C) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    C: Condition<K>,
{
    wharf_testkit::wait_for_condition(api, name, WAIT, cond).await
}

/// A step in `/workspace`, the pod's shared volume.
fn step(name: &str, image: &str, script: &str) -> Value {
    json!({"name": name, "image": image, "command": ["sh", "-c", script],
           "workingDir": "/workspace", "volumeMounts": [{"name": "ws", "mountPath": "/workspace"}],
           "terminationMessagePolicy": "FallbackToLogsOnError"})
}

/// The lead's pipeline shape: clone (revision as the message) → image (kaniko, digest as
/// the message).
fn pipeline_job(name: &str, app: &str, dockerfile: &str) -> Job {
    let clone = step(
        "clone",
        "alpine/git:2.45.2",
        &format!(
            "mkdir -p /workspace/src && cd /workspace/src && printf '{dockerfile}' > Dockerfile && \
             echo '{app}' > app.txt && echo 4f2a9c1 > /dev/termination-log"
        ),
    );
    let image = step(
        "image",
        "gcr.io/kaniko-project/executor:v1.23.2-debug",
        "echo building; executor --context=dir:///workspace/src --dockerfile=Dockerfile \
         --destination=registry.local/team/app:4f2a9c1 --label quality=passed \
         --digest-file=/dev/termination-log",
    );
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "ws", "emptyDir": {}}],
            "initContainers": [clone],
            "containers": [image]}}}
    }))
    .unwrap()
}

fn job_done(j: Option<&Job>) -> bool {
    j.and_then(|j| j.status.as_ref()?.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True")
        })
}

/// Runs the Job to its end and returns its one pod.
async fn run_job(client: &Client, job: Job) -> Pod {
    let name = job.metadata.name.clone().unwrap();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    jobs.create(&PostParams::default(), &job).await.unwrap();
    wait_for(&jobs, &name, job_done).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut list = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 1);
    let pod = list.remove(0);
    // The Job's conditions come from the pod's final status: read it once more.
    wait_for(
        &pods,
        pod.metadata.name.as_deref().unwrap(),
        |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref()?.phase.as_deref())
                .is_some_and(|ph| matches!(ph, "Succeeded" | "Failed"))
        },
    )
    .await
}

fn status_of<'a>(pod: &'a Pod, container: &str) -> &'a ContainerStatus {
    let st = pod.status.as_ref().unwrap();
    st.container_statuses
        .iter()
        .flatten()
        .chain(st.init_container_statuses.iter().flatten())
        .find(|c| c.name == container)
        .unwrap_or_else(|| panic!("no status for {container}"))
}

fn terminated_message(pod: &Pod, container: &str) -> Option<String> {
    status_of(pod, container)
        .state
        .as_ref()?
        .terminated
        .as_ref()?
        .message
        .clone()
}

const DOCKERFILE: &str = "FROM alpine:3.19\\nCOPY app.txt /app.txt\\n";

#[tokio::test]
async fn pipeline_job_reports_revision_and_digest_as_termination_messages() {
    let (sim, client) = spawn().await;
    let pod = run_job(&client, pipeline_job("build-1", "v1", DOCKERFILE)).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let name = pod.metadata.name.clone().unwrap();
    let log = pods
        .logs(
            &name,
            &LogParams {
                container: Some("image".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded"),
        "{log}"
    );
    assert_eq!(
        terminated_message(&pod, "clone").as_deref(),
        Some("4f2a9c1\n")
    );
    let digest = terminated_message(&pod, "image").expect("digest");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest:?}"
    );
    assert!(log.starts_with("building\n"), "{log}");
    assert!(
        log.contains(&format!("Pushed registry.local/team/app@{digest}")),
        "{log}"
    );

    let same = run_job(&client, pipeline_job("build-2", "v1", DOCKERFILE)).await;
    assert_eq!(terminated_message(&same, "image"), Some(digest.clone()));
    let changed = run_job(&client, pipeline_job("build-3", "v2", DOCKERFILE)).await;
    let other = terminated_message(&changed, "image").unwrap();
    assert!(other.starts_with("sha256:") && other != digest, "{other}");
    sim.shutdown().await;
}

#[tokio::test]
async fn dockerfile_without_from_fails_the_job_with_kanikos_error() {
    let (sim, client) = spawn().await;
    let pod = run_job(&client, pipeline_job("nofrom", "v1", "RUN make\\n")).await;
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Failed")
    );
    let image = status_of(&pod, "image");
    let t = image.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(t.exit_code, 1);
    let msg = t.message.as_deref().unwrap_or_default();
    assert!(
        msg.contains(
            "Error: error building image: parsing dockerfile: no build stage in current context"
        ),
        "{msg}"
    );
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let j = jobs.get("nofrom").await.unwrap();
    assert_eq!(j.status.unwrap().failed, Some(1));
    sim.shutdown().await;
}

async fn scan(client: &Client, name: &str, source: &str) -> (Pod, String) {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "volumes": [{"name": "ws", "emptyDir": {}}],
            "initContainers": [step("clone", "alpine/git", &format!("mkdir -p src && printf '{source}' > src/Main.java"))],
            "containers": [step("quality", "sonarsource/sonar-scanner-cli:11",
                "sonar-scanner -Dsonar.host.url=http://sonarqube:9000 -Dsonar.projectKey=team-app -Dsonar.qualitygate.wait=true")]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    let done = wait_for(&pods, name, |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()?.phase.as_deref())
            .is_some_and(|ph| matches!(ph, "Succeeded" | "Failed"))
    })
    .await;
    let log = pods
        .logs(
            name,
            &LogParams {
                container: Some("quality".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    (done, log)
}

#[tokio::test]
async fn sonar_step_passes_and_fails_its_quality_gate() {
    let (sim, client) = spawn().await;
    let (ok, log) = scan(&client, "sonar-ok", "class Main {}\\n// TODO: docs\\n").await;
    assert_eq!(
        ok.status.unwrap().phase.as_deref(),
        Some("Succeeded"),
        "{log}"
    );
    assert!(log.contains("QUALITY GATE STATUS: PASSED"), "{log}");

    let (bad, log) = scan(
        &client,
        "sonar-bad",
        "class Main {}\\n// FIXME: null check\\n",
    )
    .await;
    assert_eq!(
        bad.status.as_ref().unwrap().phase.as_deref(),
        Some("Failed"),
        "{log}"
    );
    assert!(log.contains("BLOCKER    src/Main.java:2"), "{log}");
    let msg = terminated_message(&bad, "quality").unwrap();
    assert!(
        msg.contains("QUALITY GATE STATUS: FAILED"),
        "the log's tail is the message: {msg}"
    );
    sim.shutdown().await;
}

fn env_pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "push", "image": "alpine",
            "command": ["sh", "-c", "echo \"$REGISTRY_USER:$REGISTRY_PASSWORD@$POD_NAME.$POD_NAMESPACE\""],
            "env": [
                {"name": "REGISTRY_USER", "valueFrom": {"secretKeyRef": {"name": "registry", "key": "user"}}},
                {"name": "REGISTRY_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "registry", "key": "password"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
            ]}]}
    }))
    .unwrap()
}

fn phase_is(phase: &'static str) -> impl Condition<Pod> {
    move |p: Option<&Pod>| p.and_then(|p| p.status.as_ref()?.phase.as_deref()) == Some(phase)
}

#[tokio::test]
async fn secret_env_is_resolved_and_a_missing_secret_is_a_config_error_until_created() {
    let (sim, client) = spawn().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());

    pods.create(&PostParams::default(), &env_pod("pusher"))
        .await
        .unwrap();
    let waiting = wait_for(&pods, "pusher", |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()?.container_statuses.as_ref())
            .and_then(|cs| cs.first()?.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .is_some_and(|r| r == "CreateContainerConfigError")
    })
    .await;
    let w = status_of(&waiting, "push")
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(w.message.as_deref(), Some("secret \"registry\" not found"));
    assert_eq!(waiting.status.unwrap().phase.as_deref(), Some("Pending"));

    // Created the way `kubectl create secret generic` does: base64 data.
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "registry"},
        "data": {"user": "cm9ib3Q=", "password": "czNjcjN0"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    wait_for(&pods, "pusher", phase_is("Succeeded")).await;
    let log = pods.logs("pusher", &LogParams::default()).await.unwrap();
    assert_eq!(log, "robot:s3cr3t@pusher.default\n");
    sim.shutdown().await;
}
