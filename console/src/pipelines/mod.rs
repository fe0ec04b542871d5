//! Server side of pipelines: the view built from the watcher cache, and the changes —
//! save, delete, start, cancel, retry, quick deploy — made through `kube::Api` in the
//! namespaces of a [`TenantScope`]. Runs are created here (and by the git webhook); the
//! server's pipeline controller turns each into a Job and reports back into its status.

pub mod artifacts;
pub mod controller;
pub mod endpoints;
pub mod job;
pub mod status;

use crate::auth::TenantScope;
use crate::state::{AppState, Cache};
use crate::workloads::to_chrono;
use crds::pipeline::{
    Deployed, Pipeline, PipelineRun, PipelineRunSpec, PipelineSpec, RunPhase, LABEL_PIPELINE,
};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::collections::hash_map::{Entry, HashMap};
use std::collections::BTreeMap;
use wharf_api::error::AppError;
use wharf_api::pipelines::{
    validate, DesignerOptions, PipelineRow, PipelinesView, RegistryOption, RunRow, WebhookInfo,
    RUNS_SHOWN,
};
use wharf_api::{text, Text};

/// Where builds push, and with which credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    pub name: String,
    pub host: String,
    /// A `kubernetes.io/dockerconfigjson` Secret, expected in each pipeline's namespace,
    /// mounted for the image builder.
    pub push_secret: Option<String>,
    /// A `kubernetes.io/dockerconfigjson` Secret, expected in the apps' namespaces, that apps
    /// need to pull from this registry: a deploy of one of its images attaches it to the app
    /// (`imagePullSecrets`).
    pub pull_secret: Option<String>,
}

impl std::str::FromStr for Registry {
    type Err = String;
    /// `name=host`, `name=host@push-secret`, and either with `+pull-secret` at the end.
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = || format!("registry '{s}': expected name=host[@push-secret][+pull-secret]");
        let (name, rest) = s.split_once('=').ok_or_else(expected)?;
        let (rest, pull) = match rest.split_once('+') {
            Some((r, p)) if !p.is_empty() => (r, Some(p.to_string())),
            Some(_) => return Err(expected()),
            None => (rest, None),
        };
        let (host, secret) = match rest.split_once('@') {
            Some((h, sec)) if !sec.is_empty() => (h, Some(sec.to_string())),
            Some(_) => return Err(expected()),
            None => (rest, None),
        };
        if name.is_empty() || host.is_empty() {
            return Err(expected());
        }
        for secret in [&secret, &pull].into_iter().flatten() {
            if !wharf_api::names::is_dns_label(secret) {
                return Err(format!("registry '{s}': '{secret}' is not a Secret name"));
            }
        }
        Ok(Registry {
            name: name.into(),
            host: host.into(),
            push_secret: secret,
            pull_secret: pull,
        })
    }
}

/// The registry host of an image reference (`registry.example.com:5000/team/app:1` →
/// `registry.example.com:5000`), when it names one (a first part with `.` or `:`, or
/// `localhost`); Docker Hub's short names have none.
pub fn registry_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// The images the stages run in. The builder images users pick; these are the console's.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    pub registries: Vec<Registry>,
    /// Allow `file://` git URLs (the demo cluster, whose Job containers run on this host).
    pub local_git: bool,
    pub git_image: String,
    /// A kaniko executor *debug* image (it has a shell, which the image stage's script needs).
    pub kaniko_image: String,
    /// A crane *debug* image (with a shell): pushes what kaniko built, in a container of its
    /// own, the only one that sees the registry's credentials.
    pub push_image: String,
    pub sonar_image: String,
    /// A run's Job is stopped after this long.
    pub timeout_secs: i64,
    /// Uploaded artifacts (jar, war, zip) as sources.
    pub artifacts: artifacts::ArtifactSettings,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            registries: Vec::new(),
            local_git: false,
            git_image: "alpine/git:2.45.2".into(),
            kaniko_image: "gcr.io/kaniko-project/executor:v1.23.2-debug".into(),
            push_image: "gcr.io/go-containerregistry/crane:debug".into(),
            sonar_image: "sonarsource/sonar-scanner-cli:11".into(),
            timeout_secs: 3600,
            artifacts: Default::default(),
        }
    }
}

impl PipelineSettings {
    /// The demo cluster's: one stand-in registry, local repositories allowed.
    pub fn demo() -> Self {
        PipelineSettings {
            registries: vec![Registry {
                name: "demo".into(),
                host: "registry.wharf.local:5000".into(),
                push_secret: None,
                pull_secret: None,
            }],
            local_git: true,
            ..PipelineSettings::default()
        }
    }

    /// The pull Secret an app running `image` needs, if its registry is one of these and has
    /// one.
    pub fn pull_secret_for(&self, image: &str) -> Option<&str> {
        let host = registry_host(image)?;
        self.registries
            .iter()
            .find(|r| r.host == host)
            .and_then(|r| r.pull_secret.as_deref())
    }

    pub fn options(&self) -> DesignerOptions {
        DesignerOptions {
            registries: self
                .registries
                .iter()
                .map(|r| RegistryOption {
                    name: r.name.clone(),
                    host: r.host.clone(),
                })
                .collect(),
            local_git: self.local_git,
            base_images: self.artifacts.base_images.clone(),
            artifact_max_bytes: self.artifacts.max_bytes,
            artifacts_unavailable: self
                .artifacts
                .url_for_builds
                .is_none()
                .then(artifacts::not_configured),
        }
    }

    pub fn registry(&self, name: &str) -> Option<&Registry> {
        self.registries.iter().find(|r| r.name == name)
    }
}

/// The name of a pipeline's run number `n`.
pub fn run_name(pipeline: &str, n: u32) -> String {
    format!("{pipeline}-{n}")
}

/// The Secret holding a pipeline's webhook secret (key `webhook-secret`).
pub fn webhook_secret_name(pipeline: &str) -> String {
    format!("wharf-pipeline-{pipeline}")
}

/// The pods of runs' Jobs in the cache, by `(namespace, run)`: the newest, should a run
/// have several. One pass over the pods for a whole view.
fn run_pods(
    cache: &Cache,
    in_scope: impl Fn(&str) -> bool,
) -> HashMap<(String, String), std::sync::Arc<Pod>> {
    let mut out: HashMap<(String, String), std::sync::Arc<Pod>> = HashMap::new();
    for pod in cache.pods.state() {
        let (Some(ns), Some(run)) = (
            pod.metadata.namespace.clone(),
            pod.labels().get(crds::pipeline::LABEL_RUN).cloned(),
        ) else {
            continue;
        };
        if !in_scope(&ns) {
            continue;
        }
        let newer = |old: &Pod| {
            pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
                > old.metadata.creation_timestamp.as_ref().map(|t| t.0)
        };
        match out.entry((ns, run)) {
            Entry::Occupied(mut e) if newer(e.get()) => {
                e.insert(pod);
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(e) => {
                e.insert(pod);
            }
        }
    }
    out
}

/// Why a run may not be deployed, if it may not.
pub fn deploy_blocked(run: &PipelineRun) -> Option<Text> {
    let status = run.status.clone().unwrap_or_default();
    let number = run.spec.number;
    if status.phase != RunPhase::Succeeded {
        let phase = status.phase.label();
        return Some(text!(
            "run #{number} has not succeeded ({phase})",
            "运行 #{number} 未成功({phase})"
        ));
    }
    if status.image.is_none() {
        return Some(text!(
            "run #{number} recorded no image",
            "运行 #{number} 没有记录镜像"
        ));
    }
    if status::gate_blocks(&run.spec.snapshot) && status.quality.as_deref() != Some("passed") {
        return Some(text!(
            "the quality gate of run #{number} failed, and this pipeline blocks deploying failed builds",
            "运行 #{number} 未通过质量门禁,而该流水线禁止部署未通过的构建"
        ));
    }
    None
}

/// A run as lists show it; `pod` is its Job's pod, if there is one; `app_exists`: its
/// target app is deployed.
pub fn run_row(run: &PipelineRun, pod: Option<String>, app_exists: bool) -> RunRow {
    let namespace = run.namespace().unwrap_or_default();
    let name = run.name_any();
    RunRow {
        pod,
        deploy_blocked: deploy_blocked(run),
        app: run.spec.snapshot.app.clone(),
        app_exists,
        namespace,
        name,
        pipeline: run.spec.pipeline.clone(),
        number: run.spec.number,
        triggered_by: run.spec.triggered_by.clone(),
        reason: run.spec.reason.clone(),
        created: run
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| to_chrono(&t.0)),
        status: run.status.clone().unwrap_or_default(),
        stages: run.spec.snapshot.stages.clone(),
    }
}

/// The tenant's pipelines, each with its newest runs first.
pub fn view(cache: &Cache, scope: &TenantScope) -> PipelinesView {
    let in_scope = |ns: Option<&str>| ns.is_some_and(|ns| scope.contains(ns));
    let pods = run_pods(cache, |ns| scope.contains(ns));
    let pod_of = |run: &PipelineRun| {
        pods.get(&(run.namespace().unwrap_or_default(), run.name_any()))
            .map(|p| p.name_any())
    };
    let mut runs: BTreeMap<(String, String), Vec<std::sync::Arc<PipelineRun>>> = BTreeMap::new();
    for run in cache.pipeline_runs.state() {
        if in_scope(run.metadata.namespace.as_deref()) {
            runs.entry((
                run.namespace().unwrap_or_default(),
                run.spec.pipeline.clone(),
            ))
            .or_default()
            .push(run);
        }
    }
    let mut pipelines: Vec<PipelineRow> = cache
        .pipelines
        .state()
        .iter()
        .filter(|p| in_scope(p.metadata.namespace.as_deref()))
        .map(|p| {
            let key = (p.namespace().unwrap_or_default(), p.name_any());
            let mut mine = runs.remove(&key).unwrap_or_default();
            mine.sort_by_key(|r| std::cmp::Reverse(r.spec.number));
            PipelineRow {
                runs: mine
                    .iter()
                    .take(RUNS_SHOWN)
                    .map(|r| {
                        let app = kube::runtime::reflector::ObjectRef::new(&r.spec.snapshot.app)
                            .within(&r.namespace().unwrap_or_default());
                        run_row(r, pod_of(r), cache.deployments.get(&app).is_some())
                    })
                    .collect(),
                namespace: key.0,
                name: key.1,
                spec: p.spec.clone(),
            }
        })
        .collect();
    pipelines.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    PipelinesView { pipelines }
}

fn pipelines_api(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
) -> Result<Api<Pipeline>, AppError> {
    Ok(Api::namespaced(
        state.client.clone(),
        scope.namespace(namespace)?,
    ))
}

fn runs_api(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
) -> Result<Api<PipelineRun>, AppError> {
    Ok(Api::namespaced(
        state.client.clone(),
        scope.namespace(namespace)?,
    ))
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a run of `spec` in `namespace` may reach, checked when a pipeline is saved and again
/// when any run starts: its image goes only under the tenant's prefix ([`check_push`]), and
/// its git servers are where the egress policy allows ([`check_sources`]).
pub async fn check_reach(
    state: &AppState,
    namespace: &str,
    spec: &PipelineSpec,
) -> Result<(), AppError> {
    check_push(state, namespace, spec)?;
    check_sources(state, spec).await?;
    check_artifact(state, namespace, spec).await
}

/// An uploaded artifact the pipeline names must be kept for its namespace (an upload to
/// another tenant's namespace is not this one's, whatever its hash).
pub async fn check_artifact(
    state: &AppState,
    namespace: &str,
    spec: &PipelineSpec,
) -> Result<(), AppError> {
    let Some(artifact) = spec.artifact() else {
        return Ok(());
    };
    let held = state
        .settings
        .pipelines
        .artifacts
        .holds(namespace, &artifact.sha256)
        .await
        .map_err(|e| {
            AppError::internal(
                text!("looking for the uploaded artifact", "查找上传的制品失败"),
                std::io::Error::other(e),
            )
        })?;
    if held {
        return Ok(());
    }
    let (file, sha) = (&artifact.file_name, &artifact.sha256);
    Err(AppError::Invalid(text!(
        "artifact: '{file}' (sha256 {sha}) is not among the files uploaded to namespace '{namespace}'; upload it again",
        "制品:“{file}”(sha256 {sha})不在命名空间“{namespace}”已上传的文件中;请重新上传"
    )))
}

/// Every remote git URL of `spec` must lead where the egress policy allows (see
/// `crate::egress`): the clone runs inside the cluster, so `git://127.0.0.1/…` or
/// `https://169.254.169.254/…` would reach the platform's services or the cloud's metadata.
/// Local `file://` repositories (the demo cluster only) are not network addresses.
pub async fn check_sources(state: &AppState, spec: &PipelineSpec) -> Result<(), AppError> {
    for source in spec.stages.iter().filter_map(|s| s.source.as_ref()) {
        let Some((host, port)) = validate::git_host_port(&source.git_url) else {
            continue;
        };
        if let Err(refused) = crate::egress::reachable(state, &host, port).await {
            let why = refused.text();
            return Err(AppError::Forbidden(text!(
                "source: git URL: {why}",
                "源码:Git 地址:{why}"
            )));
        }
    }
    Ok(())
}

/// A pipeline pushes its image only under its tenant's image prefix (set by a platform admin
/// on the Tenants page); without one it may not push at all. Checked when a pipeline is saved
/// and again when any run starts (manual, retry, webhook), since the prefix may have changed.
pub fn check_push(state: &AppState, namespace: &str, spec: &PipelineSpec) -> Result<(), AppError> {
    let Some(image) = spec.stages.iter().find_map(|s| s.image.as_ref()) else {
        return Ok(());
    };
    let host = state
        .settings
        .pipelines
        .registries
        .iter()
        .find(|r| r.name == image.registry)
        .map(|r| r.host.clone())
        .unwrap_or_default();
    let target = format!("{host}/{}", image.repository);
    let tenant = state
        .cache
        .tenants()
        .into_iter()
        .find(|t| t.spec.namespaces.iter().any(|n| n == namespace));
    let prefix = tenant
        .as_ref()
        .map(|t| t.spec.image_prefix.clone())
        .unwrap_or_default();
    if !prefix.is_empty() && wharf_api::admin::image_under(&prefix, &target) {
        return Ok(());
    }
    let name = tenant.map(|t| t.name_any()).unwrap_or_default();
    Err(AppError::Forbidden(if prefix.is_empty() {
        text!(
            "image: tenant '{name}' has no image prefix, so its pipelines may not push; a platform admin sets one on the Tenants page",
            "镜像:租户“{name}”没有镜像前缀,其流水线不能推送镜像;平台管理员可在“租户”页面设置"
        )
    } else {
        text!(
            "image: '{target}' is not under tenant '{name}''s image prefix '{prefix}'",
            "镜像:“{target}”不在租户“{name}”的镜像前缀“{prefix}”之下"
        )
    }))
}

pub async fn save(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
    spec: PipelineSpec,
    create: bool,
) -> Result<(), AppError> {
    let api = pipelines_api(state, scope, namespace)?;
    let mut errors: Vec<Text> = validate::pipeline_name(name).err().into_iter().collect();
    errors.extend(validate::pipeline(
        &spec,
        &state.settings.pipelines.options(),
    ));
    AppError::invalid_if_any(errors)?;
    check_reach(state, namespace, &spec).await?;
    if create {
        create_pipeline(&state.client, namespace, name, spec).await?;
        tracing::info!(
            user = scope.user(),
            tenant = scope.tenant(),
            ns = namespace,
            pipeline = name,
            "pipeline created"
        );
    } else {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await?;
        tracing::info!(
            user = scope.user(),
            tenant = scope.tenant(),
            ns = namespace,
            pipeline = name,
            "pipeline saved"
        );
    }
    Ok(())
}

/// Creates a pipeline and its webhook secret (owned by it, so they go together). No tenant
/// check here: [`save`] holds a scope for `namespace`; the demo's seed acts as the platform.
pub async fn create_pipeline(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    spec: PipelineSpec,
) -> Result<(), AppError> {
    let api: Api<Pipeline> = Api::namespaced(client.clone(), namespace);
    let mut pipeline = Pipeline::new(name, spec);
    pipeline.metadata.namespace = Some(namespace.into());
    pipeline.metadata.labels = Some(
        [(
            crate::workloads::MANAGED_BY.0.to_string(),
            crate::workloads::MANAGED_BY.1.to_string(),
        )]
        .into(),
    );
    let created = match api.create(&PostParams::default(), &pipeline).await {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            return Err(AppError::Conflict(text!(
                "a pipeline named '{name}' already exists in '{namespace}'",
                "命名空间“{namespace}”中已有名为“{name}”的流水线"
            )))
        }
        other => other?,
    };
    let owner = created.controller_owner_ref(&()).ok_or_else(|| {
        AppError::Internal(text!("the new pipeline has no uid", "新建的流水线没有 uid"))
    })?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(webhook_secret_name(name)),
            namespace: Some(namespace.into()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(
            [(
                "webhook-secret".to_string(),
                ByteString(random_token().into_bytes()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if let Err(e) = secrets.create(&PostParams::default(), &secret).await {
        let _ = api.delete(name, &DeleteParams::background()).await;
        return Err(e.into());
    }
    Ok(())
}

pub async fn delete(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<(), AppError> {
    pipelines_api(state, scope, namespace)?
        .delete(name, &DeleteParams::background())
        .await?;
    tracing::info!(
        user = scope.user(),
        tenant = scope.tenant(),
        ns = namespace,
        pipeline = name,
        "pipeline deleted"
    );
    Ok(())
}

/// The label a run started by a git server's delivery carries: the delivery's digest (see
/// `server::pipelines::webhook`), so the same delivery is accepted once.
pub const LABEL_DELIVERY: &str = "wharf.dev/delivery";

/// Creates the next run of `pipeline` with `snapshot`. Numbers come from the runs that
/// exist; two runs created at once both try the same number and the loser takes the next.
pub async fn create_run(
    client: &kube::Client,
    pipeline: &Pipeline,
    triggered_by: &str,
    reason: &str,
    snapshot: PipelineSpec,
) -> Result<PipelineRun, AppError> {
    create_run_labelled(client, pipeline, triggered_by, reason, snapshot, None).await
}

/// [`create_run`] for a git server's delivery: refused (`Conflict`) when a run of this
/// pipeline already carries `delivery` (a replay, or a redelivery of a push already built).
pub async fn create_run_for_delivery(
    client: &kube::Client,
    pipeline: &Pipeline,
    reason: &str,
    delivery: &str,
) -> Result<PipelineRun, AppError> {
    let namespace = pipeline.namespace().unwrap_or_default();
    let name = pipeline.name_any();
    let runs: Api<PipelineRun> = Api::namespaced(client.clone(), &namespace);
    let seen = runs
        .list(&ListParams::default().labels(&format!(
            "{LABEL_PIPELINE}={name},{LABEL_DELIVERY}={delivery}"
        )))
        .await?;
    if let Some(run) = seen.items.first() {
        let number = run.spec.number;
        return Err(AppError::Conflict(text!(
            "this delivery was accepted already (run #{number}): a replayed delivery starts nothing; start a run from the console to build again",
            "该推送通知已被接受过(运行 #{number}):重放的通知不会启动运行;如需重新构建,请在控制台启动运行"
        )));
    }
    create_run_labelled(
        client,
        pipeline,
        "webhook",
        reason,
        pipeline.spec.clone(),
        Some(delivery),
    )
    .await
}

async fn create_run_labelled(
    client: &kube::Client,
    pipeline: &Pipeline,
    triggered_by: &str,
    reason: &str,
    snapshot: PipelineSpec,
    delivery: Option<&str>,
) -> Result<PipelineRun, AppError> {
    let namespace = pipeline.namespace().unwrap_or_default();
    let name = pipeline.name_any();
    let runs: Api<PipelineRun> = Api::namespaced(client.clone(), &namespace);
    let existing = runs
        .list(&ListParams::default().labels(&format!("{LABEL_PIPELINE}={name}")))
        .await?;
    let mut number = existing
        .items
        .iter()
        .map(|r| r.spec.number)
        .max()
        .unwrap_or(0)
        + 1;
    let owner = pipeline
        .controller_owner_ref(&())
        .ok_or_else(|| AppError::Internal(text!("the pipeline has no uid", "该流水线没有 uid")))?;
    for _ in 0..5 {
        let mut run = PipelineRun::new(
            &run_name(&name, number),
            PipelineRunSpec {
                pipeline: name.clone(),
                number,
                triggered_by: triggered_by.into(),
                reason: reason.into(),
                snapshot: snapshot.clone(),
                cancelled_by: None,
            },
        );
        run.metadata.namespace = Some(namespace.clone());
        let mut labels: BTreeMap<String, String> =
            [(LABEL_PIPELINE.to_string(), name.clone())].into();
        if let Some(d) = delivery {
            labels.insert(LABEL_DELIVERY.to_string(), d.to_string());
        }
        run.metadata.labels = Some(labels);
        run.metadata.owner_references = Some(vec![owner.clone()]);
        match runs.create(&PostParams::default(), &run).await {
            Ok(created) => {
                tracing::info!(ns = %namespace, pipeline = %name, number, by = triggered_by, reason, "pipeline run created");
                return Ok(created);
            }
            Err(kube::Error::Api(s)) if s.code == 409 => number += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict(text!(
        "could not number a new run of '{name}'; try again",
        "无法为“{name}”的新运行分配编号,请重试"
    )))
}

pub async fn start(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    pipeline: &str,
) -> Result<String, AppError> {
    let found = pipelines_api(state, scope, namespace)?
        .get(pipeline)
        .await?;
    // NB: a pipeline saved before a setting changed (a registry removed) is caught here, not in the Job
    AppError::invalid_if_any(validate::pipeline(
        &found.spec,
        &state.settings.pipelines.options(),
    ))?;
    check_reach(state, namespace, &found.spec).await?;
    let run = create_run(
        &state.client,
        &found,
        scope.user(),
        "manual",
        found.spec.clone(),
    )
    .await?;
    Ok(run.name_any())
}

pub async fn cancel(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    run: &str,
) -> Result<(), AppError> {
    let api = runs_api(state, scope, namespace)?;
    let found = api.get(run).await?;
    if found.status.as_ref().is_some_and(|s| s.phase.is_finished()) {
        let number = found.spec.number;
        return Err(AppError::Invalid(text!(
            "run #{number} has already finished",
            "运行 #{number} 已经结束"
        )));
    }
    api.patch(
        run,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cancelledBy": scope.user()}})),
    )
    .await?;
    tracing::info!(
        user = scope.user(),
        tenant = scope.tenant(),
        ns = namespace,
        run,
        "pipeline run cancelled"
    );
    Ok(())
}

pub async fn retry(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    run: &str,
) -> Result<String, AppError> {
    let found = runs_api(state, scope, namespace)?.get(run).await?;
    if !found.status.as_ref().is_some_and(|s| s.phase.is_finished()) {
        let number = found.spec.number;
        return Err(AppError::Invalid(text!(
            "run #{number} is still going; cancel it first or wait",
            "运行 #{number} 仍在进行,请先取消或等待其结束"
        )));
    }
    let pipeline = pipelines_api(state, scope, namespace)?
        .get(&found.spec.pipeline)
        .await?;
    AppError::invalid_if_any(validate::pipeline(
        &found.spec.snapshot,
        &state.settings.pipelines.options(),
    ))?;
    check_reach(state, namespace, &found.spec.snapshot).await?;
    let reason = format!("retry of #{}", found.spec.number);
    let new = create_run(
        &state.client,
        &pipeline,
        scope.user(),
        &reason,
        found.spec.snapshot.clone(),
    )
    .await?;
    Ok(new.name_any())
}

/// Sets the app's first container to the run's image and records who deployed it. Used by
/// the button and by the controller's automatic deploy.
pub async fn deploy_image(
    client: &kube::Client,
    settings: &PipelineSettings,
    run: &PipelineRun,
    by: &str,
) -> Result<String, AppError> {
    if let Some(why) = deploy_blocked(run) {
        return Err(AppError::Invalid(why));
    }
    let namespace = run.namespace().unwrap_or_default();
    let image = run
        .status
        .as_ref()
        .and_then(|s| s.image.clone())
        .unwrap_or_default();
    let app = &run.spec.snapshot.app;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &namespace);
    if deployments.get_opt(app).await?.is_none() {
        return Err(AppError::NotFound(text!(
            "app '{app}' does not exist in '{namespace}' yet: deploy it as a new app (the run page's button opens the deploy form with this image)",
            "命名空间“{namespace}”中还没有应用“{app}”:请作为新应用部署(运行页面的按钮会打开已填好此镜像的部署表单)"
        )));
    }
    crate::workloads::set_app_image(
        client,
        &namespace,
        app,
        &image,
        settings.pull_secret_for(&image),
    )
    .await?;
    let runs: Api<PipelineRun> = Api::namespaced(client.clone(), &namespace);
    let deployed = Deployed {
        by: by.into(),
        at: Some(chrono::Utc::now()),
    };
    runs.patch_status(
        &run.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"deployed": deployed}})),
    )
    .await?;
    tracing::info!(ns = %namespace, app = %app, %image, by, "pipeline image deployed");
    Ok(image)
}

pub async fn quick_deploy(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    run: &str,
) -> Result<String, AppError> {
    let found = runs_api(state, scope, namespace)?.get(run).await?;
    deploy_image(
        &state.client,
        &state.settings.pipelines,
        &found,
        scope.user(),
    )
    .await
}

pub async fn webhook_info(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<WebhookInfo, AppError> {
    pipelines_api(state, scope, namespace)?.get(name).await?;
    let secrets: Api<Secret> = Api::namespaced(state.client.clone(), namespace);
    let secret = secrets.get(&webhook_secret_name(name)).await?;
    let value = secret
        .data
        .and_then(|d| d.get("webhook-secret").cloned())
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default();
    Ok(WebhookInfo {
        path: format!("/hooks/pipelines/{namespace}/{name}"),
        secret: value,
    })
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn registries_read_their_secrets() {
        let r: Registry = "corp=harbor.example.com@push-creds+pull-creds"
            .parse()
            .unwrap();
        assert_eq!(
            (
                r.host.as_str(),
                r.push_secret.as_deref(),
                r.pull_secret.as_deref()
            ),
            ("harbor.example.com", Some("push-creds"), Some("pull-creds"))
        );
        let r: Registry = "corp=harbor.example.com+pull-creds".parse().unwrap();
        assert_eq!(
            (r.push_secret, r.pull_secret.as_deref()),
            (None, Some("pull-creds"))
        );
        for bad in [
            "corp=h@",
            "corp=h+",
            "corp=h+Bad_Name",
            "corp=h@a b",
            "=h",
            "corp",
        ] {
            assert!(bad.parse::<Registry>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_image_gets_its_registrys_pull_secret() {
        let settings = PipelineSettings {
            registries: vec![
                "corp=harbor.example.com:5000+pull-creds".parse().unwrap(),
                "open=registry.example.com".parse().unwrap(),
            ],
            ..PipelineSettings::default()
        };
        let of = |i: &str| settings.pull_secret_for(i);
        assert_eq!(
            of("harbor.example.com:5000/alpha/shop:1@sha256:ab"),
            Some("pull-creds")
        );
        assert_eq!(of("registry.example.com/alpha/shop:1"), None);
        assert_eq!(
            of("harbor.example.com/alpha/shop:1"),
            None,
            "another port is another host"
        );
        assert_eq!(of("nginx:1.25"), None);
        assert_eq!(of("library/nginx"), None);
        assert_eq!(registry_host("localhost/x"), Some("localhost"));
    }
}
