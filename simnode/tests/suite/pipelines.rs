//! What a CI pipeline Job needs from the node: termination messages, and the builder
//! stand-ins (`executor`, `sonar-scanner`) on PATH with the container paths they are
//! given mapped to the pod's volume.

use crate::common::*;
use serde_json::{json, Value};
use simnode::{NodeRuntime, PodPhase, PodRuntimeState};

/// A step of a pipeline pod: `sh -c script` in `/workspace`, the shared volume.
fn step(name: &str, script: &str) -> Value {
    json!({"name": name, "image": "alpine", "command": ["sh", "-c", script],
           "workingDir": "/workspace", "volumeMounts": [{"name": "ws", "mountPath": "/workspace"}]})
}

fn pipeline(
    name: &str,
    uid: &str,
    init: Vec<Value>,
    main: Value,
) -> k8s_openapi::api::core::v1::Pod {
    pod(json!({
        "metadata": {"name": name, "namespace": "ci", "uid": uid},
        "spec": {"restartPolicy": "Never", "volumes": [{"name": "ws", "emptyDir": {}}],
                 "initContainers": init, "containers": [main]}
    }))
}

async fn finished(rt: &NodeRuntime, uid: &str) -> PodRuntimeState {
    wait_state(rt, uid, "pod finished", |s| {
        matches!(s.phase(), PodPhase::Succeeded | PodPhase::Failed)
    })
    .await
}

fn message(s: &PodRuntimeState, container: &str) -> Option<String> {
    s.container(container)?.state.terminated()?.message.clone()
}

/// Writes a tiny build context whose `app.txt` holds `content`.
fn clone_step(content: &str) -> Value {
    step(
        "clone",
        &format!(
            "mkdir -p /workspace/src && cd /workspace/src && \
             printf 'FROM alpine:3.19\\nCOPY app.txt /app.txt\\nCMD [\"cat\", \"/app.txt\"]\\n' > Dockerfile && \
             echo '{content}' > app.txt && mkdir -p .git && date > .git/HEAD && \
             echo 4f2a9c1 > /dev/termination-log"
        ),
    )
}

const IMAGE: &str = "executor --context=dir:///workspace/src --dockerfile=Dockerfile \
    --destination=registry.local/team/app:4f2a9c1 --label quality=passed \
    --digest-file=/dev/termination-log";

/// Runs a clone → image pipeline and returns (its state, the image step's log).
async fn build(
    n: &Node,
    name: &str,
    uid: &str,
    ip: std::net::Ipv4Addr,
    content: &str,
) -> (PodRuntimeState, String) {
    let p = pipeline(name, uid, vec![clone_step(content)], step("image", IMAGE));
    n.rt.start_pod(&p, ip).await.unwrap();
    let s = finished(&n.rt, uid).await;
    let log = container_log(&n.rt, "ci", name, "image").await;
    (s, log)
}

#[tokio::test]
async fn termination_messages_carry_the_revision_and_the_image_digest() {
    let n = node();
    let (s, log) = build(&n, "build-1", "uid-pl-1", ip(20, 1), "v1").await;
    assert_eq!(s.phase(), PodPhase::Succeeded, "{log}");
    assert_eq!(message(&s, "clone").as_deref(), Some("4f2a9c1\n"));
    let digest = message(&s, "image").expect("digest as the message");
    assert!(
        digest.len() == 71
            && digest.starts_with("sha256:")
            && digest[7..].chars().all(|c| c.is_ascii_hexdigit()),
        "{digest:?}"
    );
    assert!(
        log.contains(&format!("Pushed registry.local/team/app@{digest}")),
        "{log}"
    );
    assert!(
        log.contains("INFO[") && log.contains("COPY app.txt /app.txt"),
        "{log}"
    );

    // Same sources (a different .git), same digest; a changed file, another one.
    let (again, _) = build(&n, "build-2", "uid-pl-2", ip(20, 2), "v1").await;
    assert_eq!(message(&again, "image"), Some(digest.clone()));
    let (changed, _) = build(&n, "build-3", "uid-pl-3", ip(20, 3), "v2").await;
    let other = message(&changed, "image").unwrap();
    assert!(
        other.starts_with("sha256:") && other != digest,
        "{other} vs {digest}"
    );
}

#[tokio::test]
async fn dockerfile_without_from_fails_with_kaniko_words_in_the_message() {
    let n = node();
    let mut image = step("image", "executor --context=/workspace --no-push");
    image["terminationMessagePolicy"] = json!("FallbackToLogsOnError");
    let p = pipeline(
        "nofrom",
        "uid-pl-4",
        vec![step(
            "clone",
            "printf '# no base\\nRUN make\\n' > Dockerfile",
        )],
        image,
    );
    n.rt.start_pod(&p, ip(20, 4)).await.unwrap();
    let s = finished(&n.rt, "uid-pl-4").await;
    assert_eq!(s.phase(), PodPhase::Failed);
    let t = s
        .container("image")
        .unwrap()
        .state
        .terminated()
        .unwrap()
        .clone();
    assert_eq!(t.exit_code, 1);
    assert_eq!(
        t.message.as_deref(),
        Some(
            "Error: error building image: parsing dockerfile: no build stage in current context\n"
        )
    );

    // Without a Dockerfile at all: kaniko's words for that.
    let mut image = step("image", "executor --context=/workspace --no-push");
    image["terminationMessagePolicy"] = json!("FallbackToLogsOnError");
    let p = pipeline("nodockerfile", "uid-pl-5", vec![], image);
    n.rt.start_pod(&p, ip(20, 5)).await.unwrap();
    let s = finished(&n.rt, "uid-pl-5").await;
    assert!(message(&s, "image")
        .unwrap()
        .contains("error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context"));
}

#[tokio::test]
async fn kaniko_path_runs_the_stand_in_as_command_and_inside_scripts() {
    let n = node();
    let mut direct = step("direct", "");
    direct["command"] = json!([
        "/kaniko/executor",
        "--context",
        "dir:///workspace",
        "--no-push",
        "--digest-file",
        "/dev/termination-log"
    ]);
    let p = pipeline(
        "kaniko-paths",
        "uid-pl-6",
        vec![step("clone", "echo 'FROM scratch' > Dockerfile"), direct],
        step(
            "scripted",
            "/kaniko/executor --no-push --digest-file=/dev/termination-log",
        ),
    );
    n.rt.start_pod(&p, ip(20, 6)).await.unwrap();
    let s = finished(&n.rt, "uid-pl-6").await;
    assert_eq!(s.phase(), PodPhase::Succeeded);
    let direct = message(&s, "direct").unwrap();
    assert!(direct.starts_with("sha256:"), "{direct}");
    // The default context is /workspace/, the mounted volume: the same digest.
    assert_eq!(message(&s, "scripted"), Some(direct));
}

#[tokio::test]
async fn sonar_quality_gate_passes_on_todos_and_fails_on_fixmes() {
    let n = node();
    let scan = "sonar-scanner -Dsonar.host.url=http://sonar.local:9000 -Dsonar.token=t \
                -Dsonar.projectKey=team-app -Dsonar.qualitygate.wait=true";
    let source = |text: &str| {
        step(
            "clone",
            &format!(
                "mkdir -p src .git && printf '{text}' > src/main.go && echo FIXME > .git/notes"
            ),
        )
    };

    let p = pipeline(
        "sonar-ok",
        "uid-pl-7",
        vec![source("package main\\n// TODO: tidy\\n")],
        step("quality", scan),
    );
    n.rt.start_pod(&p, ip(20, 7)).await.unwrap();
    let s = finished(&n.rt, "uid-pl-7").await;
    let log = container_log(&n.rt, "ci", "sonar-ok", "quality").await;
    assert_eq!(s.phase(), PodPhase::Succeeded, "{log}");
    assert!(log.contains("CODE SMELL src/main.go:2"), "{log}");
    assert!(log.contains("0 blocker issue(s), 1 code smell(s)"), "{log}");
    assert!(
        log.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("QUALITY GATE STATUS: PASSED"),
        "{log}"
    );

    let p = pipeline(
        "sonar-bad",
        "uid-pl-8",
        vec![source("package main\\n\\n// FIXME: leaks\\n")],
        step("quality", scan),
    );
    n.rt.start_pod(&p, ip(20, 8)).await.unwrap();
    let s = finished(&n.rt, "uid-pl-8").await;
    let log = container_log(&n.rt, "ci", "sonar-bad", "quality").await;
    assert_eq!(s.phase(), PodPhase::Failed, "{log}");
    assert_eq!(
        s.container("quality")
            .unwrap()
            .state
            .terminated()
            .unwrap()
            .exit_code,
        1
    );
    assert!(log.contains("BLOCKER    src/main.go:3"), "{log}");
    assert!(!log.contains(".git"), "{log}");
    assert!(
        log.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("QUALITY GATE STATUS: FAILED"),
        "{log}"
    );

    let p = pipeline(
        "sonar-nohost",
        "uid-pl-9",
        vec![],
        step("quality", "sonar-scanner -Dsonar.projectKey=x"),
    );
    n.rt.start_pod(&p, ip(20, 9)).await.unwrap();
    let s = finished(&n.rt, "uid-pl-9").await;
    assert_eq!(
        s.container("quality")
            .unwrap()
            .state
            .terminated()
            .unwrap()
            .exit_code,
        2
    );
}

#[tokio::test]
async fn each_instance_gets_an_empty_message_file_and_the_last_message_moves_to_last_state() {
    let n = node();
    let script = "if [ -f /workspace/once ]; then exit 0; fi; \
                  touch /workspace/once; echo first > /dev/termination-log; exit 3";
    let p = pod(json!({
        "metadata": {"name": "retry", "namespace": "ci", "uid": "uid-pl-10"},
        "spec": {"restartPolicy": "OnFailure", "volumes": [{"name": "ws", "emptyDir": {}}],
                 "containers": [step("main", script)]}
    }));
    n.rt.start_pod(&p, ip(20, 10)).await.unwrap();
    let s = finished(&n.rt, "uid-pl-10").await;
    assert_eq!(s.phase(), PodPhase::Succeeded);
    let c = s.container("main").unwrap();
    assert_eq!(c.restart_count, 1);
    assert_eq!(
        c.last_state.as_ref().unwrap().message.as_deref(),
        Some("first\n")
    );
    assert_eq!(c.state.terminated().unwrap().message, None);
}
