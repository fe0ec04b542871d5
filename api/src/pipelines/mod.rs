//! Pipelines: an app's build path (git → build → quality → image → deploy), designed on one
//! page, stored as a `Pipeline` custom resource, and run as a Kubernetes Job per run
//! (`PipelineRun`). The server's pipeline controller (server/src/pipelines) creates the Jobs
//! and writes what they did into the runs' status; these server functions design, start,
//! cancel, retry and deploy. Lists are pushed live over `/ws/pipelines/{tenant}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crds::pipeline::{
    ArtifactKind, ArtifactSource, PipelineRunStatus, PipelineSpec, RunPhase, Stage, StageKind,
    StagePhase, StageStatus,
};

pub mod dockerfile;
pub mod validate;

/// A debug tool the tools stage can bundle, with its package name per package manager.
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub apk: &'static str,
    pub apt: &'static str,
    pub dnf: &'static str,
}

/// The tools the debug-tools stage offers.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "curl",
        description: "HTTP requests",
        apk: "curl",
        apt: "curl",
        dnf: "curl",
    },
    Tool {
        name: "netcat",
        description: "TCP/UDP connections (nc)",
        apk: "netcat-openbsd",
        apt: "netcat-openbsd",
        dnf: "nmap-ncat",
    },
    Tool {
        name: "mysql-client",
        description: "MySQL / MariaDB client",
        apk: "mariadb-client",
        apt: "default-mysql-client",
        dnf: "mariadb",
    },
    Tool {
        name: "redis-cli",
        description: "Redis client",
        apk: "redis",
        apt: "redis-tools",
        dnf: "redis",
    },
    Tool {
        name: "dig",
        description: "DNS lookups",
        apk: "bind-tools",
        apt: "dnsutils",
        dnf: "bind-utils",
    },
    Tool {
        name: "tcpdump",
        description: "packet capture",
        apk: "tcpdump",
        apt: "tcpdump",
        dnf: "tcpdump",
    },
    Tool {
        name: "procps",
        description: "ps, top, free",
        apk: "procps",
        apt: "procps",
        dnf: "procps-ng",
    },
];

/// A registry images may be pushed to, as the console is configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistryOption {
    pub name: String,
    /// `registry.example.com` or `host:port`.
    pub host: String,
}

/// A base image an uploaded artifact may be built on, as the platform admin lists them
/// (`--artifact-base-image jre17=eclipse-temurin:17-jre`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImageOption {
    /// What users pick (`jre17`).
    pub name: String,
    /// The image reference (`eclipse-temurin:17-jre`).
    pub image: String,
}

/// What the designer may choose from; the server validates against the same.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DesignerOptions {
    pub registries: Vec<RegistryOption>,
    /// `file://` git URLs are allowed (the demo cluster, whose builds run on this host).
    pub local_git: bool,
    /// The base images an uploaded artifact may be built on; empty: no uploads.
    #[serde(default)]
    pub base_images: Vec<BaseImageOption>,
    /// The largest artifact the console takes, in bytes.
    #[serde(default)]
    pub artifact_max_bytes: u64,
    /// Why uploaded artifacts cannot be built here, when they cannot (the console does not
    /// know the address its build pods reach it at).
    #[serde(default)]
    pub artifacts_unavailable: Option<crate::Text>,
}

impl DesignerOptions {
    pub fn base_image(&self, name: &str) -> Option<&BaseImageOption> {
        self.base_images.iter().find(|b| b.name == name)
    }
}

/// What an artifact upload answers: what the pipeline's source stage then names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedArtifact {
    pub sha256: String,
    pub file_name: String,
    pub size: u64,
}

/// The artifact upload's query string: `POST /upload/pipelines/{tenant}?ns=NAMESPACE&name=FILE`
/// (raw body, `Content-Length` required, at most `artifact_max_bytes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactLink {
    pub ns: String,
    pub name: String,
}

/// The largest file name an artifact keeps.
pub const MAX_ARTIFACT_NAME: usize = 100;

/// One run, as lists and the run page show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub namespace: String,
    /// `<pipeline>-<number>`.
    pub name: String,
    pub pipeline: String,
    pub number: u32,
    pub triggered_by: String,
    pub reason: String,
    pub created: Option<DateTime<Utc>>,
    pub status: PipelineRunStatus,
    /// The stages the run ran (its snapshot), for the run page.
    pub stages: Vec<Stage>,
    /// The Job's pod, whose containers are the stages (for their logs).
    pub pod: Option<String>,
    /// Why quick deploy is refused, if it is (not succeeded, quality gate failed…).
    pub deploy_blocked: Option<crate::Text>,
    /// The app the run deploys to (`deploy` stage), and whether it exists yet: when it does
    /// not, quick deploy opens the deploy form prefilled with the run's image.
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub app_exists: bool,
}

/// A pipeline with its recent runs, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineRow {
    pub namespace: String,
    pub name: String,
    pub spec: PipelineSpec,
    pub runs: Vec<RunRow>,
}

impl PipelineRow {
    pub fn last_run(&self) -> Option<&RunRow> {
        self.runs.first()
    }
}

/// Everything the pipeline pages show for a tenant; also what the live socket pushes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelinesView {
    pub pipelines: Vec<PipelineRow>,
}

/// How many runs per pipeline the view carries (older ones stay in the cluster).
pub const RUNS_SHOWN: usize = 30;

/// What a webhook sender needs: the URL path and the shared secret (developers only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookInfo {
    /// `/hooks/pipelines/<namespace>/<name>`; the page prefixes its own origin.
    pub path: String,
    pub secret: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PipelinesMessage {
    Snapshot(PipelinesView),
    /// Why the feed cannot go on (the page shows it in its error banner).
    Error(crate::error::AppError),
}

/// The Dockerfile the image stage will build, plus the debug tools: the user's, or for an
/// uploaded artifact the one Wharf writes ([`artifact_dockerfile`]). For the designer's
/// preview and the run's Job alike. `None` without an image stage, or for an artifact whose
/// base image is not listed.
pub fn final_dockerfile(spec: &PipelineSpec, base_images: &[BaseImageOption]) -> Option<String> {
    let image = spec.stages.iter().find_map(|s| s.image.as_ref())?;
    let tools: Vec<String> = spec
        .stages
        .iter()
        .filter_map(|s| s.tools.as_ref())
        .flat_map(|t| t.tools.clone())
        .collect();
    let dockerfile = match spec.artifact() {
        None => image.dockerfile.clone(),
        Some(artifact) => {
            let base = base_images.iter().find(|b| b.name == artifact.base_image)?;
            artifact_dockerfile(artifact, &base.image)
        }
    };
    Some(dockerfile::with_tools(&dockerfile, &tools))
}

/// The labels an image built from an uploaded artifact carries: which file it is.
pub const ARTIFACT_SHA256_LABEL: &str = "dev.wharf.artifact.sha256";
pub const ARTIFACT_NAME_LABEL: &str = "dev.wharf.artifact.name";

/// The Dockerfile around an uploaded artifact: the base image, labels naming the file, the
/// file (or the zip's contents, unpacked by the source stage) in `/app`, the port, the start
/// command run by `sh -c` (JSON-quoted, so any text is one argument).
pub fn artifact_dockerfile(artifact: &ArtifactSource, base_image: &str) -> String {
    let command = artifact.command().unwrap_or_default();
    let cmd = serde_json::to_string(&["sh", "-c", command.as_str()]).expect("strings serialize");
    let (file, sha, port) = (&artifact.file_name, &artifact.sha256, artifact.port);
    format!(
        "# written by Wharf for the uploaded {file}\nFROM {base_image}\nLABEL {ARTIFACT_SHA256_LABEL}=\"{sha}\" {ARTIFACT_NAME_LABEL}=\"{file}\"\nWORKDIR /app\nCOPY . /app/\nEXPOSE {port}\nCMD {cmd}\n"
    )
}
