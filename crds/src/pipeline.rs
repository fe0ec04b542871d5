//! Pipelines: `Pipeline` (namespaced: one app's build path, its stages in the order the
//! designer page shows them) and `PipelineRun` (namespaced: one run of a pipeline, with a
//! snapshot of the stages it ran; executed as a Kubernetes Job of the same name).
//!
//! A stage is one of six kinds, written the way Kubernetes writes volume sources: a `name`
//! and exactly one of `source`, `build`, `quality`, `image`, `tools`, `deploy` set. (An
//! enum with a tag would give a `oneOf` schema, which the API server refuses as not
//! structural.) These types carry no Kubernetes client, so the browser's designer uses them
//! as they are; the `kube` feature adds the custom resources around them.
//!
//! The console's pipeline controller is the only writer of both statuses.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "kube", derive(kube::CustomResource))]
#[cfg_attr(
    feature = "kube",
    kube(
        group = "wharf.dev",
        version = "v1alpha1",
        kind = "Pipeline",
        namespaced,
        shortname = "pl",
        status = "PipelineStatus"
    ),
    kube(printcolumn = r#"{"name":"App","type":"string","jsonPath":".spec.app"}"#),
    kube(printcolumn = r#"{"name":"Last run","type":"integer","jsonPath":".status.lastRun"}"#),
    kube(printcolumn = r#"{"name":"Result","type":"string","jsonPath":".status.lastPhase"}"#)
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    /// The app (Deployment of the same namespace) this pipeline builds and deploys.
    pub app: String,
    /// In order: `source` first, `image` after every build and quality stage, `deploy` last.
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// What the controller reports on the pipeline itself: the badge of its last run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_phase: Option<RunPhase>,
    /// The image of the last successful run, `registry/repo:tag@sha256:…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_image: Option<String>,
}

/// One card of the designer. Exactly one of the kind fields is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Unique in the pipeline, a DNS label: it names the stage's container in the run's Job.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolsStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployStage>,
}

/// The kinds of stage, in the order a pipeline normally has them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum StageKind {
    Source,
    Build,
    Quality,
    Tools,
    Image,
    Deploy,
}

impl StageKind {
    pub const ALL: [StageKind; 6] = [
        StageKind::Source,
        StageKind::Build,
        StageKind::Quality,
        StageKind::Tools,
        StageKind::Image,
        StageKind::Deploy,
    ];

    pub fn label(self) -> &'static str {
        match self {
            StageKind::Source => "source",
            StageKind::Build => "build",
            StageKind::Quality => "quality",
            StageKind::Tools => "debug tools",
            StageKind::Image => "image",
            StageKind::Deploy => "deploy",
        }
    }

    /// Whether the stage runs as a container of the run's Job (`tools` only adds lines to
    /// the Dockerfile; `deploy` is done by the console after the Job succeeded).
    pub fn has_container(self) -> bool {
        !matches!(self, StageKind::Tools | StageKind::Deploy)
    }
}

impl Stage {
    /// The stage's kind; `None` when no kind or more than one is set.
    pub fn kind(&self) -> Option<StageKind> {
        let set = [
            (self.source.is_some(), StageKind::Source),
            (self.build.is_some(), StageKind::Build),
            (self.quality.is_some(), StageKind::Quality),
            (self.tools.is_some(), StageKind::Tools),
            (self.image.is_some(), StageKind::Image),
            (self.deploy.is_some(), StageKind::Deploy),
        ];
        let mut kinds = set.iter().filter(|(on, _)| *on).map(|(_, k)| *k);
        match (kinds.next(), kinds.next()) {
            (Some(k), None) => Some(k),
            _ => None,
        }
    }

    /// A new stage of `kind` with the designer's starting values.
    pub fn new(kind: StageKind, name: impl Into<String>) -> Stage {
        let mut stage = Stage {
            name: name.into(),
            ..Stage::default()
        };
        match kind {
            StageKind::Source => {
                stage.source = Some(SourceStage {
                    git_ref: "main".into(),
                    ..Default::default()
                })
            }
            StageKind::Build => {
                stage.build = Some(BuildStage {
                    image: "maven:3.9-eclipse-temurin-17".into(),
                    command: "mvn -B package -DskipTests".into(),
                })
            }
            StageKind::Quality => stage.quality = Some(QualityStage::default()),
            StageKind::Tools => {
                stage.tools = Some(ToolsStage {
                    tools: vec!["curl".into(), "netcat".into()],
                })
            }
            StageKind::Image => {
                stage.image = Some(ImageStage {
                    dockerfile: DOCKERFILE_TEMPLATE.into(),
                    ..Default::default()
                })
            }
            StageKind::Deploy => stage.deploy = Some(DeployStage { auto: false }),
        }
        stage
    }
}

/// The Dockerfile a new image stage starts from: a jar built by Maven, run on a JRE.
pub const DOCKERFILE_TEMPLATE: &str = "FROM eclipse-temurin:17-jre\nWORKDIR /app\nCOPY target/*.jar app.jar\nEXPOSE 8080\nCMD [\"java\", \"-jar\", \"/app/app.jar\"]\n";

/// Where the build starts from: a git repository (`gitUrl`, `gitRef`) or a file uploaded
/// through the console (`artifact`), never both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStage {
    /// `https://…`, `ssh://…`, `git@host:path`, or (where the console allows it) `file:///…`.
    /// Empty when the source is an uploaded artifact.
    // NB: omitted when empty, as `gitRef`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub git_url: String,
    /// Branch or tag to build.
    // NB: omitted when empty: kube-apiserver 1.20 built with Go >= 1.19 reads "" as null and
    // refuses it (see `schema`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub git_ref: String,
    /// A Secret in the pipeline's namespace with `username` and `password` (or a token as
    /// password) for HTTPS clones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// A jar, war or zip uploaded through the console instead of a repository: the image is
    /// built from it on a base image the platform admin lists (no build or quality stage runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactSource>,
}

/// An uploaded file, and how the image around it starts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSource {
    /// The file's SHA-256 (64 hex digits): the console keeps each upload per namespace under
    /// it, so a run (and its retries) builds exactly the file that was chosen.
    pub sha256: String,
    /// The name it was uploaded with (`orders-1.4.jar`, `site.zip`); its kind follows from it.
    pub file_name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The name of one of the base images the platform admin lists (`jre17`).
    pub base_image: String,
    /// The shell command the image starts with (in `/app`, where a jar or war is kept and a
    /// zip is unpacked); for a jar or war `java -jar /app/<file>` when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub start_command: String,
    /// The port the app listens on (the image's `EXPOSE`).
    pub port: u16,
}

/// What an artifact is, from its file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Jar,
    War,
    Zip,
}

impl ArtifactKind {
    /// `.jar`, `.war` or `.zip` at the end of `file_name` (any case).
    pub fn of(file_name: &str) -> Option<ArtifactKind> {
        let lower = file_name.to_ascii_lowercase();
        [
            (".jar", ArtifactKind::Jar),
            (".war", ArtifactKind::War),
            (".zip", ArtifactKind::Zip),
        ]
        .into_iter()
        .find(|(ext, _)| lower.ends_with(ext) && lower.len() > ext.len())
        .map(|(_, k)| k)
    }
}

impl ArtifactSource {
    /// The command the image starts with: the one given, else `java -jar` of a jar or war.
    /// `None` for a zip without one (it has no obvious entry point).
    pub fn command(&self) -> Option<String> {
        let given = self.start_command.trim();
        if !given.is_empty() {
            return Some(given.to_string());
        }
        match ArtifactKind::of(&self.file_name)? {
            ArtifactKind::Jar | ArtifactKind::War => {
                Some(format!("exec java -jar /app/{}", self.file_name))
            }
            ArtifactKind::Zip => None,
        }
    }
}

impl PipelineSpec {
    /// The uploaded artifact the pipeline builds from, if its source is one.
    pub fn artifact(&self) -> Option<&ArtifactSource> {
        self.stages
            .iter()
            .find_map(|s| s.source.as_ref()?.artifact.as_ref())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildStage {
    /// The builder image, e.g. `maven:3.9-eclipse-temurin-17`.
    pub image: String,
    /// A shell command run in the checked-out source, e.g. `mvn -B package -DskipTests`.
    pub command: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualityStage {
    /// The Sonar server, e.g. `https://sonar.example.com`.
    pub server_url: String,
    /// A Secret in the pipeline's namespace whose `token` key is the Sonar token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<String>,
    /// Sonar project key; the app's name when empty.
    // NB: omitted when empty: kube-apiserver 1.20 built with Go >= 1.19 reads "" as null and
    // refuses it (see `schema`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_key: String,
    /// A failed quality gate stops the deploy (automatic and quick deploy).
    #[serde(default)]
    pub block_on_fail: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageStage {
    /// The Dockerfile, edited in the page; the build context is the checked-out source.
    /// Empty (and unused) when the source is an uploaded artifact: Wharf writes that one.
    // NB: omitted when empty, as `gitRef`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile: String,
    /// The name of one of the registries the console is configured with.
    pub registry: String,
    /// Repository inside the registry, e.g. `alpha/shop-web`.
    pub repository: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolsStage {
    /// Names from the console's tool list (`curl`, `netcat`, `mysql-client`, …).
    #[serde(default)]
    pub tools: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeployStage {
    /// Set the app's image as soon as the run succeeds; otherwise wait for the button.
    #[serde(default)]
    pub auto: bool,
}

#[cfg_attr(feature = "kube", derive(kube::CustomResource))]
#[cfg_attr(
    feature = "kube",
    kube(
        group = "wharf.dev",
        version = "v1alpha1",
        kind = "PipelineRun",
        namespaced,
        shortname = "plr",
        status = "PipelineRunStatus"
    ),
    kube(printcolumn = r#"{"name":"Pipeline","type":"string","jsonPath":".spec.pipeline"}"#),
    kube(printcolumn = r#"{"name":"Run","type":"integer","jsonPath":".spec.number"}"#),
    kube(printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#)
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunSpec {
    pub pipeline: String,
    /// 1, 2, 3… per pipeline; the run is named `<pipeline>-<number>`.
    pub number: u32,
    /// The console user who started it, or `webhook`.
    pub triggered_by: String,
    /// Why: `manual`, `webhook push <sha>`, `retry of #3`.
    // NB: omitted when empty: kube-apiserver 1.20 built with Go >= 1.19 reads "" as null and
    // refuses it (see `schema`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The pipeline's spec when the run started; a retry runs it again unchanged.
    pub snapshot: PipelineSpec,
    /// Who pressed cancel; once set, the controller stops the Job and marks the run Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunPhase {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunPhase::Succeeded | RunPhase::Failed | RunPhase::Cancelled
        )
    }
    pub fn label(self) -> &'static str {
        match self {
            RunPhase::Pending => "Pending",
            RunPhase::Running => "Running",
            RunPhase::Succeeded => "Succeeded",
            RunPhase::Failed => "Failed",
            RunPhase::Cancelled => "Cancelled",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunStatus {
    #[serde(default)]
    pub phase: RunPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The commit the source stage checked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `passed` or `failed`, from the quality stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// The built image, `registry/repo:tag@sha256:…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub stages: Vec<StageStatus>,
    /// Why it failed or was cancelled, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Set once the run's image was deployed to the app (automatically or by the button).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Deployed>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    pub name: String,
    pub kind: Option<StageKind>,
    #[serde(default)]
    pub phase: StagePhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The container's waiting reason or its termination message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StagePhase {
    #[default]
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// Not reached: an earlier stage failed or the run was cancelled.
    Skipped,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    pub by: String,
    pub at: Option<DateTime<Utc>>,
}

/// Label on a run, its Job and pod: the pipeline's name.
pub const LABEL_PIPELINE: &str = "wharf.dev/pipeline";
/// Label on a run's Job and pod: the run's name.
pub const LABEL_RUN: &str = "wharf.dev/pipeline-run";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_has_exactly_one_kind() {
        for kind in StageKind::ALL {
            assert_eq!(Stage::new(kind, "x").kind(), Some(kind));
        }
        assert_eq!(
            Stage {
                name: "none".into(),
                ..Default::default()
            }
            .kind(),
            None
        );
        let mut two = Stage::new(StageKind::Build, "two");
        two.deploy = Some(DeployStage::default());
        assert_eq!(two.kind(), None);
    }

    #[test]
    fn stages_serialize_like_volume_sources() {
        let json = serde_json::to_value(Stage::new(StageKind::Deploy, "ship")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "ship", "deploy": {"auto": false}})
        );
    }
}
