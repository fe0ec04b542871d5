//! The Job that executes a run: one pod whose init containers are the source, build,
//! quality and image (kaniko, building into a tarball) stages in the designer's order and
//! whose main container pushes that tarball (`<image stage>-push`, crane: the only container
//! that mounts the registry's credentials, since kaniko runs the tenant's `RUN` lines), all
//! sharing an `emptyDir` at `/workspace`:
//!
//! ```text
//! /workspace/src              the checked-out repository (build context)
//! /workspace/.wharf/quality   the quality verdict, `passed` or `failed`
//! /workspace/.wharf/Dockerfile the Dockerfile built (user's + debug tools)
//! /workspace/.wharf/image.tar the image kaniko built, pushed by the push step
//! ```
//!
//! The image carries no run-specific label, so the same commit builds the same digest.
//! Each stage reports its result as its container's termination message (the commit, the
//! verdict, the image digest), which the controller reads from the pod's status. Every user
//! value reaches the scripts as an environment variable, never spliced into the script text,
//! and the scripts use paths relative to `/workspace` or `$PWD` (so the demo cluster, which
//! runs these containers as local processes, runs the very same Job).

use crate::pipelines::PipelineSettings;
use crds::pipeline::PipelineSpec;
use crds::pipeline::{PipelineRun, StageKind, LABEL_PIPELINE, LABEL_RUN};
use k8s_openapi::api::batch::v1::Job;
use kube::{Resource, ResourceExt};
use serde_json::{json, Value};
use wharf_api::pipelines::final_dockerfile;

pub const WORKSPACE: &str = "/workspace";

const SOURCE_SCRIPT: &str = r#"set -eu
mkdir -p .wharf
rm -rf src
echo "cloning $GIT_URL ($GIT_REF)"
case "$GIT_URL" in
  # A repository on the demo node's disk belongs to the node's user, not this sandboxed
  # container's, and git refuses a repository of another owner unless told otherwise.
  file://*) git config --global --add safe.directory '*' ;;
esac
if [ -n "${GIT_PASSWORD:-}" ]; then
  git -c credential.helper='!f() { echo "username=${GIT_USERNAME:-git}"; echo "password=$GIT_PASSWORD"; }; f' clone --depth 1 --branch "$GIT_REF" -- "$GIT_URL" src
else
  git clone --depth 1 --branch "$GIT_REF" -- "$GIT_URL" src
fi
cd src
git log -1 --format='commit %H%nAuthor: %an <%ae>%n%n    %s'
git rev-parse HEAD > /dev/termination-log
"#;

// NB: the file comes from the console (ARTIFACT_URL, a token for this file only) and is
// checked against the hash the pipeline names before anything is built from it. curl where
// the image has it (the demo node's host), else busybox wget (alpine/git).
const ARTIFACT_SCRIPT: &str = r#"set -eu
mkdir -p .wharf
rm -rf src .wharf/artifact
mkdir src
echo "fetching the uploaded $ARTIFACT_NAME (sha256 $ARTIFACT_SHA256)"
if command -v curl >/dev/null 2>&1; then
  curl -fsS -o .wharf/artifact "$ARTIFACT_URL"
else
  wget -q -O .wharf/artifact "$ARTIFACT_URL"
fi
got=$(sha256sum .wharf/artifact | cut -d ' ' -f 1)
if [ "$got" != "$ARTIFACT_SHA256" ]; then
  echo "the file fetched has sha256 $got, not $ARTIFACT_SHA256" >&2
  exit 1
fi
case "$ARTIFACT_NAME" in
  *.zip|*.ZIP|*.Zip)
    echo "unpacking $ARTIFACT_NAME"
    unzip -q .wharf/artifact -d src ;;
  *) cp .wharf/artifact "src/$ARTIFACT_NAME" ;;
esac
rm -f .wharf/artifact
printf 'sha256:%s' "$ARTIFACT_SHA256" > /dev/termination-log
"#;

const BUILD_SCRIPT: &str = r#"set -eu
cd src
echo "\$ $BUILD_COMMAND"
exec sh -c "$BUILD_COMMAND"
"#;

const QUALITY_SCRIPT: &str = r#"set -u
cd src
if sonar-scanner -Dsonar.host.url="$SONAR_HOST_URL" -Dsonar.projectKey="$SONAR_PROJECT_KEY" -Dsonar.projectBaseDir=. -Dsonar.qualitygate.wait=true; then
  verdict=passed
else
  verdict=failed
fi
echo "quality gate: $verdict"
echo "$verdict" > ../.wharf/quality
printf '%s' "$verdict" > /dev/termination-log
"#;

// NB: kaniko runs the Dockerfile's RUN lines in its own container, so that container never
// sees the registry's credentials: it builds into a tarball, and the push step (PUSH_SCRIPT,
// a fixed script in another image) is the only one that mounts them.
const IMAGE_SCRIPT: &str = r#"set -eu
mkdir -p .wharf
verdict=$(cat .wharf/quality 2>/dev/null || true)
tag="$IMAGE_TAG${verdict:+-$verdict}"
printf '%s' "$DOCKERFILE" > .wharf/Dockerfile
rm -f .wharf/image.tar
set -- --context="dir://$PWD/src" --dockerfile="$PWD/.wharf/Dockerfile" --destination="$IMAGE_REPO:$tag" --no-push --tar-path="$PWD/.wharf/image.tar"
if [ -n "$verdict" ]; then set -- "$@" --label="quality=$verdict"; fi
echo "building $IMAGE_REPO:$tag"
exec executor "$@"
"#;

const PUSH_SCRIPT: &str = r#"set -eu
verdict=$(cat .wharf/quality 2>/dev/null || true)
case "$verdict" in
  ""|passed|failed) ;;
  *) echo "the quality verdict is not passed or failed: $verdict" >&2; exit 1 ;;
esac
tag="$IMAGE_TAG${verdict:+-$verdict}"
echo "pushing $IMAGE_REPO:$tag"
crane push .wharf/image.tar "$IMAGE_REPO:$tag" --image-refs=.wharf/pushed
ref=$(head -n 1 .wharf/pushed)
echo "pushed $ref"
printf '%s' "${ref##*@}" > /dev/termination-log
"#;

/// The container that pushes the image stage's build: `<stage>-push`.
pub fn push_container(image_stage: &str) -> String {
    format!("{image_stage}-push")
}

/// Where the push step finds the registry's credentials (`config.json`).
const REGISTRY_AUTH_DIR: &str = "/wharf/registry-auth";

/// The tag a run's image gets before the quality suffix: `build-<number>`.
pub fn base_tag(run: &PipelineRun) -> String {
    format!("build-{}", run.spec.number)
}

/// `host/repository` of the run's image stage, if the registry is known.
pub fn image_repo(run: &PipelineRun, settings: &PipelineSettings) -> Option<String> {
    let image = run
        .spec
        .snapshot
        .stages
        .iter()
        .find_map(|s| s.image.as_ref())?;
    let registry = settings.registry(&image.registry)?;
    Some(format!("{}/{}", registry.host, image.repository))
}

fn env(name: &str, value: impl Into<String>) -> Value {
    json!({"name": name, "value": value.into()})
}

fn secret_env(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": true}}})
}

fn container(name: &str, image: &str, script: &str, env: Vec<Value>) -> Value {
    json!({
        "name": name,
        "image": image,
        "command": ["sh", "-c", script],
        "workingDir": WORKSPACE,
        "env": env,
        "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    })
}

/// Whether a stage of `kind` runs in a run of `spec`: an uploaded artifact is built already
/// and has no source to analyse, so build and quality stages are skipped (and say so).
pub fn runs(spec: &PipelineSpec, kind: StageKind) -> bool {
    !(spec.artifact().is_some() && matches!(kind, StageKind::Build | StageKind::Quality))
}

/// The Job for `run`, owned by it; `artifact_url` is where its source stage fetches an
/// uploaded artifact (see `artifacts::url_for_run`). `Err` names what makes the run impossible.
pub fn job_for(
    run: &PipelineRun,
    settings: &PipelineSettings,
    artifact_url: Option<&str>,
) -> Result<Job, String> {
    let spec = &run.spec.snapshot;
    let name = run.name_any();
    let namespace = run.namespace().unwrap_or_default();
    let mut init = Vec::new();
    let mut main = None;
    let mut volumes = vec![json!({"name": "workspace", "emptyDir": {}})];
    for stage in &spec.stages {
        match stage.kind() {
            Some(kind) if !runs(spec, kind) => {}
            Some(StageKind::Source) if spec.artifact().is_some() => {
                let a = spec.artifact().expect("checked");
                let url =
                    artifact_url.ok_or("the run has no address to fetch its artifact from")?;
                let vars = vec![
                    env("ARTIFACT_URL", url),
                    env("ARTIFACT_NAME", &a.file_name),
                    env("ARTIFACT_SHA256", &a.sha256),
                ];
                init.push(container(
                    &stage.name,
                    &settings.git_image,
                    ARTIFACT_SCRIPT,
                    vars,
                ));
            }
            Some(StageKind::Source) => {
                let s = stage.source.as_ref().expect("kind says source");
                let mut vars = vec![env("GIT_URL", &s.git_url), env("GIT_REF", &s.git_ref)];
                if let Some(secret) = s.credentials_secret.as_deref().filter(|s| !s.is_empty()) {
                    vars.push(secret_env("GIT_USERNAME", secret, "username"));
                    vars.push(secret_env("GIT_PASSWORD", secret, "password"));
                }
                init.push(container(
                    &stage.name,
                    &settings.git_image,
                    SOURCE_SCRIPT,
                    vars,
                ));
            }
            Some(StageKind::Build) => {
                let b = stage.build.as_ref().expect("kind says build");
                init.push(container(
                    &stage.name,
                    &b.image,
                    BUILD_SCRIPT,
                    vec![env("BUILD_COMMAND", &b.command)],
                ));
            }
            Some(StageKind::Quality) => {
                let q = stage.quality.as_ref().expect("kind says quality");
                let key = if q.project_key.is_empty() {
                    spec.app.clone()
                } else {
                    q.project_key.clone()
                };
                let mut vars = vec![
                    env("SONAR_HOST_URL", &q.server_url),
                    env("SONAR_PROJECT_KEY", key),
                ];
                if let Some(secret) = q.token_secret.as_deref().filter(|s| !s.is_empty()) {
                    vars.push(secret_env("SONAR_TOKEN", secret, "token"));
                }
                init.push(container(
                    &stage.name,
                    &settings.sonar_image,
                    QUALITY_SCRIPT,
                    vars,
                ));
            }
            Some(StageKind::Image) => {
                let i = stage.image.as_ref().expect("kind says image");
                let registry = settings
                    .registry(&i.registry)
                    .ok_or_else(|| format!("unknown registry '{}'", i.registry))?;
                let repo = format!("{}/{}", registry.host, i.repository);
                let dockerfile = final_dockerfile(spec, &settings.artifacts.base_images)
                    .ok_or("the artifact's base image is no longer on the console's list")?;
                let vars = vec![
                    env("IMAGE_REPO", repo),
                    env("IMAGE_TAG", base_tag(run)),
                    env("DOCKERFILE", dockerfile),
                ];
                init.push(container(
                    &stage.name,
                    &settings.kaniko_image,
                    IMAGE_SCRIPT,
                    vars.clone(),
                ));
                let mut push_vars = vars[..2].to_vec();
                if registry.push_secret.is_some() {
                    push_vars.push(env("DOCKER_CONFIG", REGISTRY_AUTH_DIR));
                }
                let mut c = container(
                    &push_container(&stage.name),
                    &settings.push_image,
                    PUSH_SCRIPT,
                    push_vars,
                );
                if let Some(secret) = &registry.push_secret {
                    volumes.push(json!({"name": "registry-auth", "secret": {"secretName": secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}}));
                    c["volumeMounts"].as_array_mut().expect("array").push(json!({"name": "registry-auth", "mountPath": REGISTRY_AUTH_DIR, "readOnly": true}));
                }
                main = Some(c);
            }
            Some(StageKind::Tools | StageKind::Deploy) => {}
            None => return Err(format!("stage '{}' is not exactly one kind", stage.name)),
        }
    }
    let main = main.ok_or("the pipeline has no image stage")?;
    let labels = json!({LABEL_PIPELINE: run.spec.pipeline, LABEL_RUN: name});
    let owner = run.controller_owner_ref(&()).ok_or("the run has no uid")?;
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": settings.timeout_secs,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "initContainers": init,
                    "containers": [main],
                    "volumes": volumes,
                }
            }
        }
    });
    serde_json::from_value(job).map_err(|e| format!("building the Job: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::pipeline::{PipelineRunSpec, PipelineSpec, Stage};

    fn run() -> PipelineRun {
        let mut source = Stage::new(StageKind::Source, "clone");
        source.source.as_mut().unwrap().git_url =
            "https://git.example.com/a/b.git; rm -rf /".into();
        source.source.as_mut().unwrap().credentials_secret = Some("git-creds".into());
        let mut image = Stage::new(StageKind::Image, "image");
        image.image.as_mut().unwrap().registry = "demo".into();
        image.image.as_mut().unwrap().repository = "alpha/shop".into();
        let stages = vec![
            source,
            Stage::new(StageKind::Build, "build"),
            Stage::new(StageKind::Tools, "tools"),
            Stage::new(StageKind::Quality, "sonar"),
            image,
            Stage::new(StageKind::Deploy, "ship"),
        ];
        let mut run = PipelineRun::new(
            "shop-7",
            PipelineRunSpec {
                pipeline: "shop".into(),
                number: 7,
                triggered_by: "alice".into(),
                reason: "manual".into(),
                snapshot: PipelineSpec {
                    app: "shop".into(),
                    stages,
                },
                cancelled_by: None,
            },
        );
        run.metadata.namespace = Some("alpha".into());
        run.metadata.uid = Some("uid-1".into());
        run
    }

    #[test]
    fn stages_become_containers_in_order() {
        let job = job_for(&run(), &PipelineSettings::demo(), None).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let init: Vec<&str> = pod
            .init_containers
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(init, ["clone", "build", "sonar", "image"]);
        assert_eq!(pod.containers.len(), 1);
        assert_eq!(pod.containers[0].name, "image-push");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let env = pod.init_containers.as_ref().unwrap()[3]
            .env
            .clone()
            .unwrap();
        let get = |n: &str| {
            env.iter()
                .find(|e| e.name == n)
                .and_then(|e| e.value.clone())
                .unwrap()
        };
        assert_eq!(get("IMAGE_REPO"), "registry.wharf.local:5000/alpha/shop");
        assert_eq!(get("IMAGE_TAG"), "build-7");
        assert!(get("DOCKERFILE").contains("apk add --no-cache curl netcat-openbsd"));
    }

    /// kaniko runs the tenant's RUN lines: the registry's credentials are mounted only in
    /// the push container, which runs a fixed script.
    #[test]
    fn only_the_push_step_sees_the_registry_credentials() {
        let mut settings = PipelineSettings::demo();
        settings.registries[0].push_secret = Some("demo-push".into());
        let job = job_for(&run(), &settings, None).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let mounts = |c: &k8s_openapi::api::core::v1::Container| -> Vec<String> {
            c.volume_mounts
                .iter()
                .flatten()
                .map(|m| m.name.clone())
                .collect()
        };
        for c in pod.init_containers.iter().flatten() {
            assert_eq!(mounts(c), ["workspace"], "{}", c.name);
            assert!(c.env.iter().flatten().all(|e| e.name != "DOCKER_CONFIG"));
        }
        let push = &pod.containers[0];
        assert_eq!(push.name, "image-push");
        assert_eq!(push.image.as_deref(), Some(settings.push_image.as_str()));
        assert_eq!(mounts(push), ["workspace", "registry-auth"]);
        let auth = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "registry-auth")
            .and_then(|v| v.secret.as_ref())
            .and_then(|s| s.secret_name.clone());
        assert_eq!(auth.as_deref(), Some("demo-push"));
        let kaniko = &pod.init_containers.as_ref().unwrap()[3];
        let script = kaniko.command.as_ref().unwrap().join(" ");
        assert!(
            script.contains("--no-push") && script.contains("--tar-path"),
            "{script}"
        );
    }

    #[test]
    fn user_values_stay_out_of_the_script() {
        let job = job_for(&run(), &PipelineSettings::demo(), None).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let clone = &pod.init_containers.unwrap()[0];
        let script = clone.command.as_ref().unwrap().join(" ");
        assert!(
            !script.contains("rm -rf /"),
            "the URL must reach git as an env var"
        );
        let url = clone
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == "GIT_URL")
            .unwrap();
        assert_eq!(
            url.value.as_deref(),
            Some("https://git.example.com/a/b.git; rm -rf /")
        );
        let password = clone
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == "GIT_PASSWORD")
            .unwrap();
        let key_ref = password
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (key_ref.name.as_str(), key_ref.key.as_str()),
            ("git-creds", "password")
        );
    }

    #[test]
    fn the_job_is_owned_by_its_run() {
        let job = job_for(&run(), &PipelineSettings::demo(), None).unwrap();
        let owner = &job.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("PipelineRun", "shop-7", Some(true))
        );
        assert_eq!(job.spec.unwrap().backoff_limit, Some(0));
    }

    /// `run()` with an uploaded jar as its source.
    fn artifact_run() -> PipelineRun {
        let mut run = run();
        let source = run.spec.snapshot.stages[0].source.as_mut().unwrap();
        source.git_url.clear();
        source.credentials_secret = None;
        source.artifact = Some(crds::pipeline::ArtifactSource {
            sha256: "ab".repeat(32),
            file_name: "orders-1.4.jar".into(),
            size: 10,
            base_image: "jre17".into(),
            start_command: String::new(),
            port: 8080,
        });
        run
    }

    #[test]
    fn an_artifact_is_fetched_checked_and_built_without_build_or_quality() {
        let url = "http://wharf.wharf-system.svc/pipelines/artifacts/T0K3N";
        let job = job_for(&artifact_run(), &PipelineSettings::demo(), Some(url)).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let init = pod.init_containers.unwrap();
        let names: Vec<&str> = init.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["clone", "image"], "build and quality are skipped");
        let get = |c: &k8s_openapi::api::core::v1::Container, n: &str| {
            c.env
                .iter()
                .flatten()
                .find(|e| e.name == n)
                .and_then(|e| e.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(get(&init[0], "ARTIFACT_URL"), url);
        assert_eq!(get(&init[0], "ARTIFACT_SHA256"), "ab".repeat(32));
        assert_eq!(get(&init[0], "ARTIFACT_NAME"), "orders-1.4.jar");
        let script = init[0].command.as_ref().unwrap().join(" ");
        assert!(
            script.contains("sha256sum") && script.contains("unzip"),
            "{script}"
        );
        assert!(!script.contains("git clone"));
        let dockerfile = get(&init[1], "DOCKERFILE");
        assert!(
            dockerfile.contains("FROM eclipse-temurin:17-jre\n"),
            "{dockerfile}"
        );
        assert!(dockerfile.contains("CMD [\"sh\",\"-c\",\"exec java -jar /app/orders-1.4.jar\"]"));
        // the tools stage still adds its lines
        assert!(dockerfile.contains("curl"), "{dockerfile}");
        // without an address the Job cannot be made
        assert!(job_for(&artifact_run(), &PipelineSettings::demo(), None).is_err());
    }

    #[test]
    fn an_unknown_registry_is_refused() {
        let err = job_for(&run(), &PipelineSettings::default(), None).unwrap_err();
        assert_eq!(err, "unknown registry 'demo'");
    }
}
