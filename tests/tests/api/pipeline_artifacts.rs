//! Pipelines from an uploaded artifact (a jar, war or zip instead of a git repository): the
//! upload and what it refuses, the run's Job fetching the file with its token, and on the demo
//! cluster the whole way from a zip to an app that answers on its port.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use wharf_tests::{eventually, spawn_app_with, Session, TestApp};

const WAIT: Duration = Duration::from_secs(120);

/// A zip made with Python's zipfile (python3 is installed by scripts/setup.sh) of `files`.
fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let out = dir.path().join("out.zip");
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let status = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-c"])
        .arg(&out)
        .args(&names)
        .current_dir(dir.path())
        .status()
        .expect("python3 is installed (scripts/setup.sh)");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// POSTs `body` as artifact `name` into `ns`; the status and the answer.
async fn upload(app: &TestApp, who: &Session, ns: &str, name: &str, body: Vec<u8>) -> (u16, Value) {
    let path = wharf_api::routes::UPLOAD_ARTIFACT.with_query(
        &["alpha"],
        &format!("ns={ns}&name={}", wharf_api::logs::encode(name)),
    );
    let res = reqwest::Client::new()
        .post(app.url(&path))
        .header("cookie", who.cookie().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A pipeline of `app` whose source is the uploaded `artifact`.
fn spec(app: &str, artifact: Value) -> Value {
    json!({"app": app, "stages": [
        {"name": "upload", "source": {"artifact": artifact}},
        {"name": "build", "build": {"image": "maven:3.9-eclipse-temurin-17", "command": "mvn -B package"}},
        {"name": "sonar", "quality": {"serverUrl": "http://sonar.example.com", "blockOnFail": true}},
        {"name": "image", "image": {"dockerfile": "", "registry": "demo", "repository": format!("alpha/{app}")}},
        {"name": "deploy", "deploy": {"auto": false}},
    ]})
}

async fn save(who: &Session, name: &str, spec: Value) -> (StatusCode, Value) {
    who.call(
        "save_pipeline",
        json!({"tenant": "alpha", "namespace": "alpha", "name": name, "spec": spec, "create": true}),
    )
    .await
    .unwrap()
}

fn settings(real: bool) -> wharf_console::state::Settings {
    let mut pipelines = wharf_console::pipelines::PipelineSettings::demo();
    pipelines.local_git = !real;
    pipelines.artifacts.max_bytes = 1 << 20;
    if real {
        pipelines.artifacts.url_for_builds = Some("http://wharf.wharf-system.svc".into());
    }
    wharf_console::state::Settings {
        pipelines,
        ..Default::default()
    }
}

wharf_tests::on_both_clusters!(
    settings = settings:
    uploads_are_checked_kept_per_namespace_and_fetched_with_the_runs_token
);

/// On either cluster: what an upload refuses (each in both languages, nothing kept), who may
/// upload where, what a pipeline may name, and the run's Job fetching exactly its file.
async fn uploads_are_checked_kept_per_namespace_and_fetched_with_the_runs_token(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let zip = zip_of(&[("index.html", "hello from the zip\n")]);
    let kept = app.state.settings.pipelines.artifacts.clone();

    // refused, each saying why in both languages, and nothing kept
    let not_zip = b"#!/bin/sh\necho not a jar\n".to_vec();
    let mut too_big = zip.clone();
    too_big.resize((1 << 20) + 1, 0);
    for (name, body, want, says) in [
        ("app.jar", not_zip.clone(), 422, "not a jar, war or zip"),
        ("app.jar", too_big, 413, "limited to 1 MB"),
        ("app.tar.gz", zip.clone(), 400, "not a .jar, .war or .zip"),
        ("../app.jar", zip.clone(), 400, "may use letters"),
        ("app.jar", b"PK\x03".to_vec(), 422, "not a jar, war or zip"),
    ] {
        let (status, answer) = upload(&app, &alice, "alpha", name, body.clone()).await;
        assert_eq!(status, want, "{name}: {answer}");
        assert!(
            answer["en"].as_str().unwrap_or_default().contains(says),
            "{answer}"
        );
        assert!(
            !answer["zh"].as_str().unwrap_or_default().is_empty(),
            "{answer}"
        );
        assert!(!kept.holds("alpha", &sha256(&body)).await.unwrap());
    }
    let incoming = std::fs::read_dir(kept.incoming())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(incoming, 0, "no staged file left behind");

    // a viewer may not upload, nor alice into another tenant's namespace
    let vera = app.login("vera").await.unwrap();
    assert_eq!(
        upload(&app, &vera, "alpha", "site.zip", zip.clone())
            .await
            .0,
        403
    );
    assert_eq!(
        upload(&app, &alice, "beta", "site.zip", zip.clone())
            .await
            .0,
        403
    );
    assert!(!kept.holds("beta", &sha256(&zip)).await.unwrap());

    // a good upload: its hash, name and size
    let (status, up) = upload(&app, &alice, "alpha", "site.zip", zip.clone()).await;
    assert_eq!(status, 200, "{up}");
    assert_eq!(
        up,
        json!({"sha256": sha256(&zip), "file_name": "site.zip", "size": zip.len()})
    );
    assert!(kept.holds("alpha", &sha256(&zip)).await.unwrap());
    assert!(!kept.holds("alpha-dev", &sha256(&zip)).await.unwrap());

    let artifact = json!({"sha256": sha256(&zip), "fileName": "site.zip", "size": zip.len(),
        "baseImage": "python3", "startCommand": "exec python3 -m http.server 8080", "port": 8080});
    // what a pipeline may not name: an unlisted base image, a file never uploaded to the
    // namespace, a zip without a start command
    for (change, says) in [
        (
            json!({"baseImage": "jre99"}),
            "base image 'jre99' is not one the platform admin lists",
        ),
        (
            json!({"sha256": "0".repeat(64)}),
            "is not among the files uploaded to namespace 'alpha'",
        ),
        (json!({"startCommand": ""}), "a zip needs a start command"),
    ] {
        let mut bad = artifact.clone();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let (status, body) = save(&alice, "site", spec("site", bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains(says), "{says}: {body}");
        assert!(
            !body["Invalid"]["zh"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{body}"
        );
    }
    let pipelines: kube::Api<crds::Pipeline> = kube::Api::namespaced(app.kube.clone(), "alpha");
    assert!(
        pipelines.get_opt("site").await.unwrap().is_none(),
        "nothing stored"
    );

    // saved and run: the Job fetches the file with a token of its own
    let (status, body) = save(&alice, "site", spec("site", artifact)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, run) = alice
        .call(
            "start_run",
            json!({"tenant": "alpha", "namespace": "alpha", "pipeline": "site"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{run}");
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let job = eventually(WAIT, "the run's Job", || async {
        jobs.get_opt(run.as_str().unwrap()).await.ok()?
    })
    .await
    .unwrap();
    let pod = job.spec.unwrap().template.spec.unwrap();
    let init = pod.init_containers.unwrap();
    let names: Vec<&str> = init.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["upload", "image"], "build and quality skipped");
    let url = init[0]
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "ARTIFACT_URL")
        .and_then(|e| e.value.clone())
        .unwrap();
    let base = kept.url_for_builds.clone().unwrap();
    let path = url.strip_prefix(&base).expect("the URL for builds");
    let http = reqwest::Client::new();
    let got = http.get(app.url(path)).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(
        got.bytes().await.unwrap().to_vec(),
        zip,
        "exactly the upload"
    );
    // a changed token is worth nothing
    let mut forged = path.to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        http.get(app.url(&forged)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // a token sealed for another namespace does not reach alpha's file
    let other = wharf_console::pipelines::artifacts::token(
        &app.state.session_key,
        "beta",
        &sha256(&zip),
        chrono::Utc::now().timestamp() + 60,
    );
    let other_path = wharf_api::routes::ARTIFACT_FOR_BUILD.replace("{token}", &other);
    assert_eq!(
        http.get(app.url(&other_path))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// The demo cluster end to end: a zip uploaded, built into an image (build and quality
/// skipped, and saying so), deployed as a new app whose pods run the zip's start command and
/// answer on its port with the zip's page; a retry builds the same digest from the kept file.
#[tokio::test]
async fn a_zip_becomes_an_image_that_deploys_and_answers_on_its_port() {
    let app = spawn_app_with(settings(false), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let alice = app.login("alice").await.unwrap();
    let page = format!("served from the uploaded zip {}\n", std::process::id());
    let zip = zip_of(&[("index.html", &page)]);
    let (status, up) = upload(&app, &alice, "alpha", "site.zip", zip.clone()).await;
    assert_eq!(status, 200, "{up}");
    let artifact = json!({"sha256": sha256(&zip), "fileName": "site.zip", "size": zip.len(),
        "baseImage": "python3",
        "startCommand": "exec python3 -m http.server 8080 --bind \"${POD_IP:-0.0.0.0}\"",
        "port": 8080});
    let (status, body) = save(&alice, "site", spec("site", artifact)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let start = json!({"tenant": "alpha", "namespace": "alpha", "pipeline": "site"});
    let (status, run) = alice.call("start_run", start).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{run}");
    let run = run.as_str().unwrap().to_string();
    let done = run_when(&alice, &run).await;
    assert_eq!(done["status"]["phase"], "Succeeded", "{done:#}");
    let stage = |n: &str| {
        done["status"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .cloned()
            .unwrap()
    };
    for skipped in ["build", "sonar"] {
        assert_eq!(stage(skipped)["phase"], "Skipped", "{done:#}");
        assert!(stage(skipped)["message"]
            .as_str()
            .unwrap()
            .contains("uploaded artifact"));
    }
    assert_eq!(
        stage("upload")["message"],
        format!("sha256:{}", sha256(&zip)).as_str()
    );
    assert_eq!(
        done["deploy_blocked"],
        Value::Null,
        "no quality verdict needed"
    );
    let image = done["status"]["image"].as_str().unwrap().to_string();

    // a retry fetches the kept file again: the same digest
    let (status, retry) = alice
        .call(
            "retry_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": run}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{retry}");
    let again = run_when(&alice, retry.as_str().unwrap()).await;
    let digest = |i: &str| i.rsplit_once('@').unwrap().1.to_string();
    assert_eq!(
        digest(again["status"]["image"].as_str().unwrap()),
        digest(&image)
    );

    // deployed as a new app from the form with the run's image: it answers with the zip's page
    let form = json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "site", "image": image,
        "replicas": 1, "port": 8080, "env": [], "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""}});
    let (status, body) = alice.call("deploy_app", form).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let http = reqwest::Client::new();
    let answered = eventually(
        WAIT,
        "the app's pod answering with the zip's page",
        || async {
            let list = pods
                .list(&kube::api::ListParams::default().labels("app=site"))
                .await
                .ok()?;
            let ip = list.items.iter().find_map(|p| {
                let s = p.status.as_ref()?;
                let ready = s
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                ready.then(|| s.pod_ip.clone()).flatten()
            })?;
            let res = http
                .get(format!("http://{ip}:8080/index.html"))
                .send()
                .await
                .ok()?;
            res.text().await.ok()
        },
    )
    .await
    .unwrap();
    assert_eq!(answered, page);
}

/// The run as the console shows it, once it has ended.
async fn run_when(who: &Session, run: &str) -> Value {
    eventually(WAIT, "the run to end", || async {
        let (_, view) = who
            .call("pipelines", json!({"tenant": "alpha"}))
            .await
            .ok()?;
        view["pipelines"]
            .as_array()?
            .iter()
            .flat_map(|p| p["runs"].as_array().cloned().unwrap_or_default())
            .find(|r| r["name"] == run)
            .filter(|r| {
                ["Succeeded", "Failed", "Cancelled"]
                    .contains(&r["status"]["phase"].as_str().unwrap_or_default())
            })
    })
    .await
    .unwrap()
}
