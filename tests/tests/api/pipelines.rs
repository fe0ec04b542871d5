//! Pipelines against the demo cluster: a real git repository made by the test, cloned and
//! built by the run's Job (whose containers the demo node runs as local processes), the
//! image digest from the build context, logs in the log store, quick deploy rolling the app,
//! failures, cancel, the git webhook, and tenant isolation of every entry point.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use wharf_tests::{eventually, spawn_app_with, Session, TestApp};

const WAIT: Duration = Duration::from_secs(90);

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A folder for a test's repository where the demo node's sandboxed containers can read it
/// (its shared folder), for `file://` clones; on a real cluster any folder (nothing clones it).
fn repo_dir(app: &TestApp) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = match app.cluster.is_real() {
        true => tempfile::tempdir(),
        false => tempfile::tempdir_in(app.cluster.sim().shared_dir()),
    }
    .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A tiny project whose build writes an artifact, committed on `main`; returns its HEAD.
fn make_repo(dir: &Path, build_sh: &str, extra: &[(&str, &str)]) -> String {
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("build.sh"), build_sh).unwrap();
    std::fs::write(
        dir.join("App.java"),
        "class App { public static void main(String[] a) { System.out.println(\"hello\"); } }\n",
    )
    .unwrap();
    for (name, content) in extra {
        std::fs::write(dir.join(name), content).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "first"]);
    git(dir, &["rev-parse", "HEAD"])
}

const GOOD_BUILD: &str = "echo compiling App.java\nmkdir -p target\necho 'PK fake jar' > target/app.jar\necho built target/app.jar\n";

async fn spawn() -> TestApp {
    let settings = wharf_console::state::Settings {
        pipelines: wharf_console::pipelines::PipelineSettings::demo(),
        ..Default::default()
    };
    spawn_app_with(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn spec(repo: &Path, build_command: &str, quality: Option<Value>, deploy_auto: bool) -> Value {
    let mut stages = vec![
        json!({"name": "clone", "source": {"gitUrl": format!("file://{}", repo.display()), "gitRef": "main"}}),
        json!({"name": "build", "build": {"image": "maven:3.9-eclipse-temurin-17", "command": build_command}}),
    ];
    if let Some(q) = quality {
        stages.push(json!({"name": "sonar", "quality": q}));
    }
    stages.push(json!({"name": "tools", "tools": {"tools": ["curl"]}}));
    stages.push(json!({"name": "image", "image": {"dockerfile": "FROM eclipse-temurin:17-jre\nCOPY target/app.jar /app.jar\nCMD [\"java\", \"-jar\", \"/app.jar\"]\n", "registry": "demo", "repository": "alpha/shop"}}));
    stages.push(json!({"name": "deploy", "deploy": {"auto": deploy_auto}}));
    json!({"app": "shop", "stages": stages})
}

async fn deploy_shop(alice: &Session) {
    alice.deploy("alpha", "shop", 2, 80).await;
}

async fn save(alice: &Session, name: &str, spec: Value) {
    let (status, body) = alice.call("save_pipeline", json!({"tenant": "alpha", "namespace": "alpha", "name": name, "spec": spec, "create": true})).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn start(alice: &Session, pipeline: &str) -> String {
    let (status, body) = alice
        .call(
            "start_run",
            json!({"tenant": "alpha", "namespace": "alpha", "pipeline": pipeline}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_str().expect("the run's name").to_string()
}

/// Starting `pipeline` is refused (403) saying `says`, and no run exists in alpha.
async fn start_refused(app: &TestApp, alice: &Session, pipeline: &str, says: &str) {
    let (status, body) = alice
        .call(
            "start_run",
            json!({"tenant": "alpha", "namespace": "alpha", "pipeline": pipeline}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains(says), "{says}: {body}");
    let runs: kube::Api<crds::PipelineRun> = kube::Api::namespaced(app.kube.clone(), "alpha");
    assert!(runs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

/// The run as the console shows it, once `done` says so.
async fn run_when(who: &Session, run: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(WAIT, what, || async {
        let (status, view) = who
            .call("pipelines", json!({"tenant": "alpha"}))
            .await
            .ok()?;
        assert_eq!(status, StatusCode::OK, "{view}");
        let found = view["pipelines"]
            .as_array()?
            .iter()
            .flat_map(|p| p["runs"].as_array().cloned().unwrap_or_default())
            .find(|r| r["name"] == run)?;
        done(&found).then_some(found)
    })
    .await
    .unwrap()
}

fn phase(run: &Value) -> &str {
    run["status"]["phase"].as_str().unwrap_or("")
}

fn stage<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["status"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {run}"))
}

async fn stage_log(who: &Session, pod: &str, container: &str) -> Vec<String> {
    let query = json!({"tenant": "alpha", "query": {"selection": {"namespace": "alpha", "app": null, "pod": pod, "container": container},
        "from": "", "to": "", "search": {"text": "", "regex": false}, "limit": 1000, "backward": false, "cursor": null}});
    let (status, page) = who.call("query_logs", query).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_run_clones_builds_checks_and_images_the_repository_then_quick_deploy_rolls_the_app() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    let head = make_repo(repo.path(), GOOD_BUILD, &[]);
    let alice = app.login("alice").await.unwrap();
    deploy_shop(&alice).await;
    save(
        &alice,
        "shop",
        spec(
            repo.path(),
            "sh build.sh",
            Some(json!({"serverUrl": "http://sonar.example.com", "blockOnFail": true})),
            false,
        ),
    )
    .await;
    let run = start(&alice, "shop").await;
    assert_eq!(run, "shop-1");

    let done = run_when(&alice, &run, "the run to finish", |r| {
        ["Succeeded", "Failed", "Cancelled"].contains(&phase(r))
    })
    .await;
    assert_eq!(phase(&done), "Succeeded", "{done:#}");
    assert_eq!(done["status"]["commit"], head.as_str());
    assert_eq!(done["status"]["quality"], "passed");
    let image = done["status"]["image"].as_str().unwrap().to_string();
    assert!(
        image.starts_with("registry.wharf.local:5000/alpha/shop:build-1-passed@sha256:"),
        "{image}"
    );
    for name in ["clone", "build", "sonar", "tools", "image"] {
        assert_eq!(stage(&done, name)["phase"], "Succeeded", "{name}: {done:#}");
    }
    assert_eq!(stage(&done, "deploy")["phase"], "Waiting");
    assert_eq!(done["deploy_blocked"], Value::Null);

    // the build's own output is in the log store, like any container's
    let pod = done["pod"].as_str().expect("the run's pod").to_string();
    let lines = eventually(WAIT, "the build log in the store", || async {
        let lines = stage_log(&alice, &pod, "build").await;
        lines
            .iter()
            .any(|l| l.contains("built target/app.jar"))
            .then_some(lines)
    })
    .await
    .unwrap();
    assert!(lines.iter().any(|l| l == "compiling App.java"), "{lines:?}");
    // the log viewer offers the run's pod under the pipeline, every stage a container (the
    // image stage's push step its own); the app's own pods stay under the app
    let (status, sources) = alice
        .call("log_sources", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{sources}");
    let source = |app: &str| {
        sources
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["app"] == app)
            .cloned()
            .unwrap_or_else(|| panic!("no source {app}: {sources}"))
    };
    let runs = source("pipeline:shop");
    let run_pod = runs["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == pod.as_str())
        .unwrap_or_else(|| panic!("{runs}"));
    assert_eq!(
        run_pod["containers"],
        json!(["clone", "build", "sonar", "image", "image-push"])
    );
    let shop = source("shop");
    assert!(
        shop["pods"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != pod.as_str()),
        "{shop}"
    );
    assert_eq!(shop["pods"].as_array().unwrap().len(), 2, "{shop}");

    // the same context builds the same digest; the retry is run #2
    let (status, body) = alice
        .call(
            "retry_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": run}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "shop-2");
    let again = run_when(&alice, "shop-2", "the retry to finish", |r| {
        ["Succeeded", "Failed"].contains(&phase(r))
    })
    .await;
    assert_eq!(phase(&again), "Succeeded", "{again:#}");
    let digest = |i: &str| i.rsplit_once('@').unwrap().1.to_string();
    assert_eq!(
        digest(again["status"]["image"].as_str().unwrap()),
        digest(&image)
    );
    assert_eq!(again["reason"], "retry of #1");

    // quick deploy: the app's pods roll to the run's image
    let (status, body) = alice
        .call(
            "deploy_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": run}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, image.as_str());
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    eventually(WAIT, "both shop pods running the built image", || async {
        let list = pods
            .list(&kube::api::ListParams::default().labels("app=shop"))
            .await
            .ok()?;
        let rolled = list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| {
                let s = p.status.as_ref();
                p.spec
                    .as_ref()
                    .is_some_and(|s| s.containers[0].image.as_deref() == Some(image.as_str()))
                    && s.and_then(|s| s.phase.as_deref()) == Some("Running")
            });
        (rolled.count() == 2).then_some(())
    })
    .await
    .unwrap();
    let deployed = run_when(&alice, &run, "the deploy to be recorded", |r| {
        !r["status"]["deployed"].is_null()
    })
    .await;
    assert_eq!(deployed["status"]["deployed"]["by"], "alice");
    assert_eq!(stage(&deployed, "deploy")["phase"], "Succeeded");
    // the pipeline's badge follows its newest run
    let pipelines: kube::Api<crds::Pipeline> = kube::Api::namespaced(app.kube.clone(), "alpha");
    let badge = eventually(WAIT, "the badge", || async {
        pipelines
            .get("shop")
            .await
            .ok()?
            .status
            .filter(|s| s.last_run == Some(2))
    })
    .await
    .unwrap();
    assert_eq!(badge.last_phase, Some(crds::pipeline::RunPhase::Succeeded));
}

#[tokio::test]
async fn a_failing_build_names_its_stage_keeps_its_log_and_skips_the_rest() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    make_repo(
        repo.path(),
        "echo 'App.java:3: error: cannot find symbol'\nexit 3\n",
        &[],
    );
    let alice = app.login("alice").await.unwrap();
    save(
        &alice,
        "broken",
        spec(repo.path(), "sh build.sh", None, true),
    )
    .await;
    let run = start(&alice, "broken").await;
    let done = run_when(&alice, &run, "the run to fail", |r| {
        ["Succeeded", "Failed"].contains(&phase(r))
    })
    .await;
    assert_eq!(phase(&done), "Failed", "{done:#}");
    assert_eq!(
        done["status"]["message"],
        "stage 'build' failed with exit code 3"
    );
    assert_eq!(stage(&done, "clone")["phase"], "Succeeded");
    assert_eq!(stage(&done, "build")["phase"], "Failed");
    assert_eq!(stage(&done, "build")["exitCode"], 3);
    for later in ["image", "tools", "deploy"] {
        assert_eq!(stage(&done, later)["phase"], "Skipped", "{later}");
    }
    assert_eq!(done["status"]["image"], Value::Null);
    let pod = done["pod"].as_str().unwrap().to_string();
    eventually(WAIT, "the failing line in the store", || async {
        stage_log(&alice, &pod, "build")
            .await
            .iter()
            .any(|l| l.contains("cannot find symbol"))
            .then_some(())
    })
    .await
    .unwrap();
    // nothing to deploy
    let (status, body) = alice
        .call(
            "deploy_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": run}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_failed_quality_gate_tags_the_image_and_blocks_the_automatic_deploy() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    make_repo(
        repo.path(),
        GOOD_BUILD,
        &[(
            "Dao.java",
            "class Dao { // FIXME: the connection is never closed\n}\n",
        )],
    );
    let alice = app.login("alice").await.unwrap();
    deploy_shop(&alice).await;
    save(
        &alice,
        "gated",
        spec(
            repo.path(),
            "sh build.sh",
            Some(json!({"serverUrl": "http://sonar.example.com", "blockOnFail": true})),
            true,
        ),
    )
    .await;
    let run = start(&alice, "gated").await;
    let done = run_when(&alice, &run, "the run to finish", |r| {
        ["Succeeded", "Failed"].contains(&phase(r))
    })
    .await;
    assert_eq!(phase(&done), "Succeeded", "{done:#}");
    assert_eq!(done["status"]["quality"], "failed");
    assert!(
        done["status"]["image"]
            .as_str()
            .unwrap()
            .contains(":build-1-failed@sha256:"),
        "{done:#}"
    );
    assert_eq!(stage(&done, "deploy")["phase"], "Skipped");
    assert!(
        done["deploy_blocked"]["en"]
            .as_str()
            .unwrap()
            .contains("quality gate"),
        "{done:#}"
    );
    let (status, body) = alice
        .call(
            "deploy_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": run}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let image = deployments
        .get("shop")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .image
        .clone();
    assert_eq!(
        image.as_deref(),
        Some("nginx:1.25"),
        "a blocked build was deployed"
    );
}

#[tokio::test]
async fn an_automatic_deploy_sets_the_apps_image() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    make_repo(repo.path(), GOOD_BUILD, &[]);
    let alice = app.login("alice").await.unwrap();
    deploy_shop(&alice).await;
    save(&alice, "auto", spec(repo.path(), "sh build.sh", None, true)).await;
    let run = start(&alice, "auto").await;
    let done = run_when(&alice, &run, "the automatic deploy", |r| {
        !r["status"]["deployed"].is_null() || phase(r) == "Failed"
    })
    .await;
    let image = done["status"]["image"]
        .as_str()
        .expect("an image")
        .to_string();
    assert_eq!(done["status"]["deployed"]["by"], "pipeline (automatic)");
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let set = deployments
        .get("shop")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .image
        .clone();
    assert_eq!(set, Some(image));
}

#[tokio::test]
async fn cancel_stops_the_job_and_marks_the_run() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    make_repo(
        repo.path(),
        "echo building for a long time\nsleep 600\n",
        &[],
    );
    let alice = app.login("alice").await.unwrap();
    save(
        &alice,
        "slow",
        spec(repo.path(), "sh build.sh", None, false),
    )
    .await;
    let run = start(&alice, "slow").await;
    run_when(&alice, &run, "the build stage to run", |r| {
        r["status"]["stages"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["name"] == "build" && s["phase"] == "Running")
        })
    })
    .await;
    let (status, body) = alice
        .call(
            "cancel_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": run}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = run_when(&alice, &run, "the run to be cancelled", |r| {
        phase(r) == "Cancelled"
    })
    .await;
    assert_eq!(done["status"]["message"], "cancelled by alice");
    assert_eq!(stage(&done, "build")["phase"], "Skipped");
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    eventually(WAIT, "the Job to be gone", || async {
        jobs.get_opt(&run).await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let selector = format!("wharf.dev/pipeline-run={run}");
    eventually(WAIT, "the run's pod to be gone", || async {
        pods.list(&kube::api::ListParams::default().labels(&selector))
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await
    .unwrap();
    // a finished run cannot be cancelled again, but can be retried
    let (status, _) = alice
        .call(
            "cancel_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": run}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_pipeline_pushes_only_under_its_tenants_image_prefix() {
    let app = spawn().await;
    let alice = app.login("alice").await.unwrap();
    let repo = repo_dir(&app);
    let mut other = spec(repo.path(), "make", None, false);
    other["stages"][3]["image"]["repository"] = json!("beta/billing");
    let (status, body) = alice.call("save_pipeline", json!({"tenant": "alpha", "namespace": "alpha", "name": "sneaky", "spec": other, "create": true})).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.to_string()
            .contains("not under tenant 'alpha''s image prefix 'registry.wharf.local:5000/alpha/'"),
        "{body}"
    );
    save(&alice, "fine", spec(repo.path(), "make", None, false)).await;
    // the prefix taken away: a run of the saved pipeline is refused before it starts
    let tenants: kube::Api<crds::Tenant> = kube::Api::all(app.kube.clone());
    tenants
        .patch(
            "alpha",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"imagePrefix": null}})),
        )
        .await
        .unwrap();
    wharf_tests::eventually(
        std::time::Duration::from_secs(20),
        "the console to see alpha without a prefix",
        || async {
            let (_, t) = alice
                .call("tenant_overview", json!({"tenant": "alpha"}))
                .await
                .unwrap();
            (t["form"]["image_prefix"] == "").then_some(())
        },
    )
    .await
    .unwrap();
    start_refused(&app, &alice, "fine", "has no image prefix").await;
}

#[tokio::test]
async fn bad_designs_are_refused_with_the_reason_and_nothing_is_stored() {
    let app = spawn().await;
    let alice = app.login("alice").await.unwrap();
    let repo = repo_dir(&app);
    let mut bad = spec(repo.path(), "  ", None, false);
    bad["stages"][0]["source"]["gitUrl"] = json!("github.com/team/app");
    bad["stages"][3]["image"]["dockerfile"] = json!("RUN make\n");
    bad["stages"][3]["image"]["registry"] = json!("dockerhub");
    let (status, body) = alice.call("save_pipeline", json!({"tenant": "alpha", "namespace": "alpha", "name": "bad", "spec": bad, "create": true})).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let text = body.to_string();
    for expected in [
        "git URL 'github.com/team/app'",
        "build command is empty",
        "RUN before FROM",
        "unknown registry 'dockerhub'",
    ] {
        assert!(text.contains(expected), "{expected} missing in {text}");
    }
    let pipelines: kube::Api<crds::Pipeline> = kube::Api::namespaced(app.kube.clone(), "alpha");
    assert!(pipelines.get_opt("bad").await.unwrap().is_none());
    // local repositories only where the console allows them (not on a real cluster)
    let strict = wharf_tests::spawn_app().await.unwrap();
    let alice2 = strict.login("alice").await.unwrap();
    let (status, body) = alice2.call("save_pipeline", json!({"tenant": "alpha", "namespace": "alpha", "name": "local", "spec": spec(repo.path(), "make", None, false), "create": true})).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string()
            .contains("allowed only on the demo cluster"),
        "{body}"
    );
}

/// A git URL leading into the platform is refused when the pipeline is saved, and a run of a
/// pipeline whose server became such an address (written with kubectl) is refused at start,
/// saying why; nothing is stored or run.
#[tokio::test]
async fn git_servers_lead_only_where_the_egress_policy_allows() {
    let app = spawn().await;
    let alice = app.login("alice").await.unwrap();
    let repo = repo_dir(&app);
    let pipelines: kube::Api<crds::Pipeline> = kube::Api::namespaced(app.kube.clone(), "alpha");
    for (url, says) in [
        ("https://127.0.0.1:6443/api.git", "loopback"),
        ("git://localhost/app", "loopback"),
        // 127.0.0.1 in the forms the C resolver also reads
        ("http://2130706433/app.git", "loopback"),
        ("http://0x7f.1/app.git", "loopback"),
        ("ssh://git@0.0.0.0/app.git", "unspecified"),
        ("git@169.254.169.254:team/app.git", "link-local"),
        (
            "https://no-such-host.invalid/team/app.git",
            "does not resolve",
        ),
    ] {
        let mut design = spec(repo.path(), "make", None, false);
        design["stages"][0]["source"]["gitUrl"] = json!(url);
        let (status, body) = alice
            .call("save_pipeline", json!({"tenant": "alpha", "namespace": "alpha", "name": "sneaky", "spec": design, "create": true}))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{url}: {body}");
        let said = &body["Forbidden"];
        assert!(
            said["en"].as_str().unwrap_or_default().contains(says),
            "{url}: {body}"
        );
        assert!(
            said["zh"].as_str().unwrap_or_default().contains("Git 地址"),
            "{url}: {body}"
        );
        assert!(
            pipelines.get_opt("sneaky").await.unwrap().is_none(),
            "{url}"
        );
    }

    // saved when allowed, then pointed at the metadata address behind the console's back
    make_repo(repo.path(), GOOD_BUILD, &[]);
    save(
        &alice,
        "moved",
        spec(repo.path(), "sh build.sh", None, false),
    )
    .await;
    let mut p = pipelines.get("moved").await.unwrap();
    p.metadata.managed_fields = None;
    p.spec.stages[0].source.as_mut().unwrap().git_url = "http://169.254.169.254/latest".into();
    pipelines
        .replace("moved", &Default::default(), &p)
        .await
        .unwrap();
    start_refused(&app, &alice, "moved", "link-local").await;
}

#[tokio::test]
async fn the_git_webhook_needs_the_secret_and_builds_only_its_branch() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    make_repo(repo.path(), GOOD_BUILD, &[]);
    let alice = app.login("alice").await.unwrap();
    save(
        &alice,
        "hooked",
        spec(repo.path(), "sh build.sh", None, false),
    )
    .await;
    let (status, info) = alice
        .call(
            "pipeline_webhook",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "hooked"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["path"], "/hooks/pipelines/alpha/hooked");
    let secret = info["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32);
    let http = reqwest::Client::new();
    let hook = |token: &str, body: Value| {
        http.post(app.url("/hooks/pipelines/alpha/hooked"))
            .header("x-gitlab-token", token)
            .json(&body)
            .send()
    };
    let push =
        json!({"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567"});
    assert_eq!(
        hook("wrong", push.clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = http
        .post(app.url("/hooks/pipelines/alpha/nope"))
        .header("x-gitlab-token", &secret)
        .json(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        StatusCode::UNAUTHORIZED,
        "an unknown pipeline answers like a wrong secret"
    );
    let other = hook(
        &secret,
        json!({"ref": "refs/heads/feature", "after": "abc"}),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    assert!(other
        .text()
        .await
        .unwrap()
        .contains("this pipeline builds main"));
    let runs: kube::Api<crds::PipelineRun> = kube::Api::namespaced(app.kube.clone(), "alpha");
    assert!(
        runs.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "a refused or ignored hook started a run"
    );
    let ok = hook(&secret, push).await.unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    let created: Value = ok.json().await.unwrap();
    assert_eq!(created["run"], "hooked-1");
    let run = runs.get("hooked-1").await.unwrap();
    assert_eq!(run.spec.triggered_by, "webhook");
    assert_eq!(run.spec.reason, "push 0123456789ab");

    // a captured delivery replayed (GitHub-signed, a new delivery id) starts nothing, saying so
    let signed = |body: &Value, delivery: &str| {
        use hmac::Mac;
        let bytes = serde_json::to_vec(body).unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&bytes);
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        http.post(app.url("/hooks/pipelines/alpha/hooked"))
            .header("x-hub-signature-256", sig)
            .header("x-github-event", "push")
            .header("x-github-delivery", delivery)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
    };
    let now = chrono::Utc::now().timestamp();
    let github = json!({"ref": "refs/heads/main", "after": "89abcdef0123456789abcdef0123456789abcdef",
        "repository": {"pushed_at": now}});
    let first = signed(&github, "d-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    for (body, delivery) in [(&github, "d-2"), (&github, "d-1")] {
        let again = signed(body, delivery).await.unwrap();
        assert_eq!(again.status(), StatusCode::CONFLICT, "{delivery}");
        assert!(again
            .text()
            .await
            .unwrap()
            .contains("accepted already (run #2)"));
    }
    let replayed_gitlab = hook(
        &secret,
        json!({"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567"}),
    )
    .await
    .unwrap();
    assert_eq!(replayed_gitlab.status(), StatusCode::CONFLICT);
    // and a push from two days ago is refused as a replay even the first time it is seen
    let old = json!({"ref": "refs/heads/main", "after": "fedcba9876543210fedcba9876543210fedcba98",
        "repository": {"pushed_at": now - 48 * 3600}});
    let stale = signed(&old, "d-3").await.unwrap();
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert!(stale.text().await.unwrap().contains("refused as replays"));
    assert_eq!(runs.list(&Default::default()).await.unwrap().items.len(), 2);
}

#[tokio::test]
async fn beta_cannot_see_or_run_alphas_pipelines_and_the_socket_checks_first() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    make_repo(repo.path(), GOOD_BUILD, &[]);
    let alice = app.login("alice").await.unwrap();
    save(
        &alice,
        "secret-sauce",
        spec(repo.path(), "sh build.sh", None, false),
    )
    .await;
    let bob = app.login("bob").await.unwrap();
    // through bob's own tenant, alpha's namespace is still out of reach
    for (endpoint, args) in [
        (
            "start_run",
            json!({"tenant": "beta", "namespace": "alpha", "pipeline": "secret-sauce"}),
        ),
        (
            "pipeline_webhook",
            json!({"tenant": "beta", "namespace": "alpha", "name": "secret-sauce"}),
        ),
        (
            "delete_pipeline",
            json!({"tenant": "beta", "namespace": "alpha", "name": "secret-sauce"}),
        ),
    ] {
        let (status, body) = bob.call(endpoint, args).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint}: {body}");
    }
    let (status, view) = bob
        .call("pipelines", json!({"tenant": "beta"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["pipelines"], json!([]), "beta sees alpha's pipelines");
    let runs: kube::Api<crds::PipelineRun> = kube::Api::namespaced(app.kube.clone(), "alpha");
    assert!(runs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());

    assert_eq!(
        app.open_socket("/ws/pipelines/alpha", None).await.err(),
        Some(401)
    );
    assert_eq!(
        app.open_socket("/ws/pipelines/alpha", Some(&bob))
            .await
            .err(),
        Some(403)
    );
    let mut socket = app
        .open_socket("/ws/pipelines/alpha", Some(&alice))
        .await
        .expect("alice may follow alpha's pipelines");
    use futures::StreamExt;
    let text = socket
        .next()
        .await
        .expect("a first message")
        .expect("readable")
        .into_text()
        .unwrap();
    assert!(
        text.starts_with("{\"Snapshot\"") && text.contains("secret-sauce"),
        "{text}"
    );
}

wharf_tests::on_both_clusters!(
    settings = settings_on:
    a_run_is_a_job_the_api_server_accepts_and_is_followed_to_its_end
);

/// The demo's pipeline settings; on a real cluster no local repositories (its Jobs do not run
/// on this host).
fn settings_on(real: bool) -> wharf_console::state::Settings {
    let mut pipelines = wharf_console::pipelines::PipelineSettings::demo();
    pipelines.local_git = !real;
    wharf_console::state::Settings {
        pipelines,
        ..Default::default()
    }
}

/// What the console asks of the cluster for a run, on the demo cluster and on a real
/// kube-apiserver (where it runs as the console's ServiceAccount): a Job the API server
/// accepts, owned by its PipelineRun, whose pod runs, and a run that follows the Job's stages
/// to its end. (The demo node runs the stages' commands; a real cluster's fake kubelet only
/// marks the containers done, so no image digest comes back there.)
async fn a_run_is_a_job_the_api_server_accepts_and_is_followed_to_its_end(app: TestApp) {
    let repo = repo_dir(&app);
    make_repo(repo.path(), GOOD_BUILD, &[]);
    let mut design = spec(repo.path(), "sh build.sh", None, false);
    if app.cluster.is_real() {
        // a private address, as a company's git server has (never cloned: the fake kubelet
        // runs nothing), that the egress policy allows
        design["stages"][0]["source"]["gitUrl"] = json!("https://10.20.30.40/alpha/shop.git");
    }
    let alice = app.login("alice").await.unwrap();
    deploy_shop(&alice).await;
    save(&alice, "shop", design).await;
    let run = start(&alice, "shop").await;
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let job = eventually(WAIT, "the run's Job", || async {
        jobs.get_opt(&run).await.ok()?
    })
    .await
    .unwrap();
    let owner = job
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .next()
        .expect("the Job has an owner");
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("PipelineRun", run.as_str())
    );
    let done = run_when(&alice, &run, "the run to end", |r| {
        ["Succeeded", "Failed"].contains(&phase(r))
    })
    .await;
    let job = jobs.get(&run).await.unwrap();
    assert_eq!(
        job.status.and_then(|s| s.succeeded),
        Some(1),
        "the Job completed"
    );
    for name in ["clone", "build", "tools", "image"] {
        assert_eq!(stage(&done, name)["phase"], "Succeeded", "{name}: {done}");
    }
    if app.cluster.is_real() {
        // the fake kubelet runs nothing, so no image was built: the console does not call
        // that a success
        assert_eq!(phase(&done), "Failed", "{done}");
        assert_eq!(
            done["status"]["message"],
            "the image stage finished without reporting an image digest"
        );
    } else {
        assert_eq!(phase(&done), "Succeeded", "{done}");
    }
}

/// Quick deploy that creates: a run whose app does not exist yet says so (its row and a 404
/// that names the way), and once the app is deployed from the form with the run's image, the
/// same call records the run as deployed without a second rollout.
#[tokio::test]
async fn quick_deploy_of_an_app_that_does_not_exist_yet_points_to_the_deploy_form() {
    let app = spawn().await;
    let repo = repo_dir(&app);
    make_repo(repo.path(), GOOD_BUILD, &[]);
    let alice = app.login("alice").await.unwrap();
    let mut fresh = spec(repo.path(), "sh build.sh", None, false);
    fresh["app"] = json!("fresh");
    save(&alice, "fresh", fresh).await;
    let run = start(&alice, "fresh").await;
    let done = run_when(&alice, &run, "the run to finish", |r| {
        ["Succeeded", "Failed", "Cancelled"].contains(&phase(r))
    })
    .await;
    assert_eq!(phase(&done), "Succeeded", "{done:#}");
    assert_eq!(
        (done["app"].clone(), done["app_exists"].clone()),
        (json!("fresh"), json!(false))
    );
    let image = done["status"]["image"].as_str().unwrap().to_string();
    let quick = json!({"tenant": "alpha", "namespace": "alpha", "run": run});
    let (status, body) = alice.call("deploy_run", quick.clone()).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.to_string().contains("deploy it as a new app"),
        "{body}"
    );
    assert!(body.to_string().contains("作为新应用部署"), "{body}");

    // what the prefilled form sends, then what it calls once the app exists
    let form = json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "fresh", "image": image,
        "replicas": 1, "port": 8080, "env": [], "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""}});
    let (status, body) = alice.call("deploy_app", form).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let generation = deployments.get("fresh").await.unwrap().metadata.generation;
    let (status, body) = alice.call("deploy_run", quick).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, image.as_str());
    assert_eq!(
        deployments.get("fresh").await.unwrap().metadata.generation,
        generation,
        "the same image: no second rollout"
    );
    let marked = run_when(&alice, &run, "the run marked deployed", |r| {
        r["status"]["deployed"]["by"] == "alice" && r["app_exists"] == true
    })
    .await;
    assert_eq!(marked["status"]["deployed"]["by"], "alice");
}

/// A registry whose images need a pull secret (`--registry name=host+pull-secret`): an app
/// deployed with one of its images gets the secret; an image from elsewhere does not; setting
/// such an image on an app adds the secret and keeps the app's other ones.
#[tokio::test]
async fn images_of_a_registry_with_a_pull_secret_carry_it_to_the_app() {
    let mut pipelines = wharf_console::pipelines::PipelineSettings::demo();
    pipelines.registries = vec!["corp=harbor.example.com:5000+corp-pull".parse().unwrap()];
    let settings = wharf_console::state::Settings {
        pipelines,
        ..Default::default()
    };
    let app = spawn_app_with(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let alice = app.login("alice").await.unwrap();
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let secrets = |name: &'static str| {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get(name).await.unwrap();
            d.spec
                .unwrap()
                .template
                .spec
                .unwrap()
                .image_pull_secrets
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        }
    };
    let form = |name: &str, image: &str| {
        json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": name, "image": image,
            "replicas": 1, "port": 8080, "env": [], "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""}})
    };
    let (s, body) = alice
        .call(
            "deploy_app",
            form("corp-app", "harbor.example.com:5000/alpha/shop:1"),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(secrets("corp-app").await, ["corp-pull"]);
    let (s, body) = alice
        .call("deploy_app", form("hub-app", "nginx:1.25"))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(secrets("hub-app").await.is_empty());

    // an app with its own pull secret, upgraded to the registry's image: both
    deployments
        .patch(
            "hub-app",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Strategic(
                json!({"spec": {"template": {"spec": {"imagePullSecrets": [{"name": "own"}]}}}}),
            ),
        )
        .await
        .unwrap();
    let (s, body) = alice
        .call(
            "set_image",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "hub-app", "image": "harbor.example.com:5000/alpha/shop:2"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut got = secrets("hub-app").await;
    got.sort();
    assert_eq!(got, ["corp-pull", "own"]);
}
