//! Images built by the executor stand-in run for real when deployed: the Dockerfile's
//! command with the build context's files, serving on the pod IP, restarted when it
//! exits, stopped with its pod. Other images stay simulated apps.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::common::*;
use serde_json::json;
use simnode::{NodeRuntime, PodPhase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DOCKERFILE: &str = "FROM python:3.11-slim\nLABEL dev.wharf.artifact.sha256=test\nWORKDIR /app\nCOPY . /app/\nEXPOSE 8080\n\
    CMD [\"sh\",\"-c\",\"exec python3 -m http.server 8080 --bind \\\"${POD_IP:-0.0.0.0}\\\"\"]\n";

/// Runs the executor stand-in on a context with `index.html` holding `text` and returns
/// the digest it wrote (`sha256:…`), the image stored in `images`.
fn build_site(images: &Path, text: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("index.html"), text).unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::create_dir_all(ctx.path().join(".git")).unwrap();
    std::fs::write(ctx.path().join(".git/HEAD"), "ref").unwrap();
    let digest_file = ctx.path().join("digest");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("shims/executor.sh");
    let out = std::process::Command::new("sh")
        .arg(script)
        .arg(format!("--context=dir://{}", ctx.path().display()))
        .arg("--destination=registry.wharf.local:5000/alpha/site:build-1")
        .arg(format!("--digest-file={}", digest_file.display()))
        .env("WHARF_SIM_IMAGES", images)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let digest = std::fs::read_to_string(digest_file).unwrap();
    let stored = images.join(digest.replace(':', "-"));
    assert_eq!(
        std::fs::read_to_string(stored.join("context/index.html")).unwrap(),
        text
    );
    assert_eq!(
        std::fs::read_to_string(stored.join("Dockerfile")).unwrap(),
        DOCKERFILE
    );
    assert!(!stored.join("context/.git").exists(), ".git is skipped");
    digest
}

fn site_pod(name: &str, uid: &str, image: &str) -> k8s_openapi::api::core::v1::Pod {
    app_pod(
        name,
        uid,
        json!({"name": "web", "image": image, "ports": [{"containerPort": 8080}]}),
    )
}

/// `GET path` over HTTP/1.0: the whole response, or `None` when nothing answers.
async fn get(ip: Ipv4Addr, port: u16, path: &str) -> Option<String> {
    let mut conn = TcpStream::connect((ip, port)).await.ok()?;
    conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: site\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = Vec::new();
    conn.read_to_end(&mut out).await.ok()?;
    Some(String::from_utf8_lossy(&out).to_string())
}

/// Pids of processes whose command line has all of `words`.
fn pids_with(words: &[&str]) -> Vec<String> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if words.iter().all(|w| cmdline.contains(w)) && !cmdline.contains("bwrap") {
            pids.push(name);
        }
    }
    pids
}

fn require_python() {
    let ok = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need python3 on the host (the image's base is the host's)"
    );
}

async fn built_site_runs(n: Node, ip: Ipv4Addr, tag: &str) {
    require_python();
    let rt: &NodeRuntime = &n.rt;
    let text = format!("<h1>built site {tag} {}</h1>", std::process::id());
    let digest = build_site(&rt.config().images_dir(), &text);
    let image = format!("registry.wharf.local:5000/alpha/site:build-1@{digest}");
    let uid = format!("uid-img-{tag}");
    let name = format!("site-{tag}");
    rt.start_pod(&site_pod(&name, &uid, &image), ip)
        .await
        .unwrap();
    let s = wait_state(rt, &uid, "the built image ready", |s| s.containers[0].ready).await;
    let c = &s.containers[0];
    assert!(c.state.is_running(), "{c:?}");
    assert_eq!(
        c.image_id,
        format!("registry.wharf.local:5000/alpha/site@{digest}")
    );

    let page = get(ip, 8080, "/index.html")
        .await
        .expect("port 8080 answers");
    assert!(page.starts_with("HTTP/1.0 200"), "{page}");
    assert!(page.contains(&text), "{page}");
    wait_for(10, "python's request line in the log", || async {
        let log = container_log(rt, "demo", &name, "web").await;
        log.contains("\"GET /index.html HTTP/1.0\" 200")
            .then_some(())
    })
    .await;

    // The process dies: the container restarts and serves again.
    let ip_text = ip.to_string();
    let pids = pids_with(&["http.server", &ip_text]);
    assert_eq!(pids.len(), 1, "one python process: {pids:?}");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pids[0]])
        .status()
        .unwrap();
    assert!(killed.success());
    let s = wait_state(rt, &uid, "restarted and ready again", |s| {
        s.containers[0].restart_count == 1 && s.containers[0].ready
    })
    .await;
    let last = s.containers[0].last_state.clone().expect("lastState");
    assert_eq!(last.exit_code, 137, "{last:?}");
    let page = get(ip, 8080, "/index.html")
        .await
        .expect("answers after the restart");
    assert!(page.contains(&text), "{page}");

    // Deleting the pod kills the process and frees the port.
    rt.stop_pod(&uid).await;
    wait_for(10, "port 8080 closed", || async {
        TcpStream::connect((ip, 8080)).await.is_err().then_some(())
    })
    .await;
    assert!(pids_with(&["http.server", &ip_text]).is_empty());
}

#[tokio::test]
async fn built_image_runs_its_dockerfile_command_with_its_files() {
    assert_eq!(
        simnode::sandbox::Sandbox::detect().unavailable(),
        None,
        "the demo node needs bubblewrap (scripts/setup.sh installs it)"
    );
    built_site_runs(node(), ip(40, 1), "default").await;
}

/// In the sandbox, the image's files are at their image paths, also for exec sessions.
#[tokio::test]
async fn in_the_sandbox_the_image_files_are_at_their_paths() {
    assert_eq!(simnode::sandbox::Sandbox::detect().unavailable(), None);
    require_python();
    let n = node();
    let digest = build_site(&n.rt.config().images_dir(), "<p>at /app</p>");
    let image = format!("registry.wharf.local:5000/alpha/site:build-1@{digest}");
    n.rt.start_pod(&site_pod("paths", "uid-img-paths", &image), ip(40, 7))
        .await
        .unwrap();
    wait_state(&n.rt, "uid-img-paths", "ready", |s| s.containers[0].ready).await;
    let req = simnode::ExecRequest {
        namespace: "demo".into(),
        pod: "paths".into(),
        container: None,
        command: ["sh", "-c", "cat /app/index.html; echo; echo POD_IP=$POD_IP"]
            .map(String::from)
            .to_vec(),
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
    };
    let out = exec_session(&n.rt, req, Vec::new()).await;
    assert!(out.stdout.contains("<p>at /app</p>"), "{out:?}");
    assert!(out.stdout.contains("POD_IP=127.77.40.7"), "{out:?}");
}

#[tokio::test]
async fn built_image_runs_unconfined_too() {
    let n = node_with(|c| c.sandbox = simnode::sandbox::Sandbox::off("test"));
    built_site_runs(n, ip(40, 2), "unconfined").await;
}

#[tokio::test]
async fn an_unknown_digest_stays_a_simulated_app() {
    let n = node();
    let image = format!(
        "registry.wharf.local:5000/alpha/site:build-1@sha256:{}",
        "0".repeat(64)
    );
    let ip = ip(40, 3);
    n.rt.start_pod(&site_pod("sim-site", "uid-img-sim", &image), ip)
        .await
        .unwrap();
    wait_state(&n.rt, "uid-img-sim", "ready", |s| s.containers[0].ready).await;
    let page = get(ip, 8080, "/index.html").await.expect("answers");
    assert!(
        page.contains("sim-site") && page.contains(&image),
        "the simulated page: {page}"
    );
}

/// An image built from git (no artifact label): the demo's builds make up their outputs, so
/// it stays a simulated app even though its digest is stored.
#[tokio::test]
async fn an_image_built_from_git_stays_a_simulated_app() {
    let n = node();
    let hex = "cd".repeat(32);
    let stored = n.rt.config().images_dir().join(format!("sha256-{hex}"));
    std::fs::create_dir_all(stored.join("context")).unwrap();
    std::fs::write(stored.join("context/index.html"), "CONTEXT-OF-A-GIT-BUILD").unwrap();
    std::fs::write(
        stored.join("Dockerfile"),
        DOCKERFILE.replace("LABEL dev.wharf.artifact.sha256=test\n", ""),
    )
    .unwrap();
    let image = format!("registry.wharf.local:5000/alpha/site:build-1@sha256:{hex}");
    let ip = ip(40, 8);
    n.rt.start_pod(&site_pod("git-site", "uid-img-git", &image), ip)
        .await
        .unwrap();
    wait_state(&n.rt, "uid-img-git", "ready", |s| s.containers[0].ready).await;
    let page = get(ip, 8080, "/index.html").await.expect("answers");
    assert!(
        page.contains("git-site") && !page.contains("CONTEXT-OF-A-GIT-BUILD"),
        "the simulated page: {page}"
    );
}

#[tokio::test]
async fn a_dockerfile_copying_from_another_stage_fails_to_start_with_that_reason() {
    let n = node();
    let hex = "ab".repeat(32);
    let stored = n.rt.config().images_dir().join(format!("sha256-{hex}"));
    std::fs::create_dir_all(stored.join("context")).unwrap();
    std::fs::write(
        stored.join("Dockerfile"),
        "FROM golang AS build\nRUN go build -o /out/app\nFROM alpine\nLABEL dev.wharf.artifact.sha256=test\nCOPY --from=build /out/app /app\nCMD [\"/app\"]\n",
    )
    .unwrap();
    let image = format!("registry.wharf.local:5000/alpha/go:1@sha256:{hex}");
    n.rt.start_pod(&site_pod("go", "uid-img-from", &image), ip(40, 4))
        .await
        .unwrap();
    let s = wait_state(&n.rt, "uid-img-from", "crash loop", |s| {
        s.containers[0].state.waiting_reason() == Some("CrashLoopBackOff")
    })
    .await;
    let last = s.containers[0].last_state.clone().unwrap();
    assert_eq!((last.exit_code, last.reason.as_str()), (128, "StartError"));
    let message = last.message.unwrap_or_default();
    assert!(
        message.contains("Dockerfile line 5: COPY: --from=build: copying from another stage"),
        "{message}"
    );
}

/// A pipeline Job's executor stores the image (the node gives it the images folder, also
/// in the sandbox), and a Deployment of it runs the Dockerfile's command.
#[tokio::test]
async fn an_image_built_by_a_job_runs_when_deployed() {
    let n = node();
    let script = "mkdir -p src && cd src && \
        printf 'FROM alpine:3.19\\nLABEL dev.wharf.artifact.sha256=test\\nCOPY app.txt /app.txt\\nCMD [\"cat\", \"/app.txt\"]\\n' > Dockerfile && \
        echo built-by-a-job > app.txt && \
        executor --context=dir:///workspace/src --destination=registry.local/team/app:1 \
        --digest-file=/dev/termination-log";
    let job = pod(json!({
        "metadata": {"name": "build", "namespace": "ci", "uid": "uid-img-job"},
        "spec": {"restartPolicy": "Never", "volumes": [{"name": "ws", "emptyDir": {}}],
                 "containers": [{"name": "image", "image": "gcr.io/kaniko-project/executor",
                    "command": ["sh", "-c", script], "workingDir": "/workspace",
                    "volumeMounts": [{"name": "ws", "mountPath": "/workspace"}]}]}
    }));
    n.rt.start_pod(&job, ip(40, 5)).await.unwrap();
    let s = wait_state(&n.rt, "uid-img-job", "job finished", |s| {
        matches!(s.phase(), PodPhase::Succeeded | PodPhase::Failed)
    })
    .await;
    let log = container_log(&n.rt, "ci", "build", "image").await;
    assert_eq!(s.phase(), PodPhase::Succeeded, "{log}");
    let digest = s.containers[0]
        .state
        .terminated()
        .and_then(|t| t.message.clone())
        .unwrap();
    assert!(log.contains("Stored image"), "{log}");

    let image = format!("registry.local/team/app:1@{digest}");
    let app = app_pod("app", "uid-img-app", json!({"name": "app", "image": image}));
    n.rt.start_pod(&app, ip(40, 6)).await.unwrap();
    wait_for(20, "the image's CMD output in the log", || async {
        let log =
            n.rt.log_lines("demo", "app", None, false)
                .ok()?
                .iter()
                .map(|l| String::from_utf8_lossy(&l.text).to_string())
                .collect::<String>();
        log.contains("built-by-a-job").then_some(())
    })
    .await;
}
