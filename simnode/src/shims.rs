//! Stand-ins for the builder tools of CI pipelines, so a pipeline Job written for a real
//! cluster also runs on the demo cluster.
//!
//! The node writes POSIX `sh` scripts into `<scratch>/.wharf-bin/` when it starts its
//! first pod and puts that directory first on `PATH` of every container that runs as a
//! process (and of exec sessions). They are the demo cluster's stand-ins, not the tools:
//!
//! - `executor` — kaniko's executor (`shims/executor.sh`): `--context` (a directory or
//!   `dir://`), `--dockerfile`, `--destination` (repeatable), `--digest-file`,
//!   `--image-name-with-digest-file`, `--image-name-tag-with-digest-file`, `--label k=v`,
//!   `--build-arg`, `--target`, `--no-push`, `--tar-path` (a tarball for `crane`); other kaniko flags are accepted and ignored.
//!   It builds and pushes nothing, but fails like kaniko on a missing Dockerfile, a
//!   Dockerfile without `FROM` first, an unknown instruction or a `COPY` source missing
//!   from the context, logs kaniko-like `INFO` lines and `Pushed REPO@sha256:…`, and writes
//!   a digest computed from the context's files, the Dockerfile, labels and build args
//!   (same sources, same digest). With `WHARF_SIM_IMAGES` naming a folder (the node sets
//!   it to [`crate::NodeConfig::images_dir`] for every process container) it keeps the
//!   image there, `sha256-<digest>/Dockerfile` and `sha256-<digest>/context/` (`.git`
//!   skipped), written to a temporary folder and moved into place, an existing one kept;
//!   a long-running container of `…@sha256:<digest>` then runs it ([`crate::image`]).
//! - `sonar-scanner` — the SonarScanner CLI (`shims/sonar-scanner.sh`): reads
//!   `-Dsonar.host.url` (required, exit 2 without), `-Dsonar.token` or `SONAR_TOKEN`,
//!   `-Dsonar.projectKey`, `-Dsonar.projectBaseDir`, `-Dsonar.sources`,
//!   `-Dsonar.qualitygate.wait`; reports lines with `FIXME` as blocker issues and `TODO` as
//!   code smells with `file:line`, and ends with `QUALITY GATE STATUS: PASSED` or `FAILED`
//!   (exit 1 when waiting for the gate).
//! - `crane` — go-containerregistry's crane (`shims/crane.sh`), `push TARBALL IMAGE
//!   [--image-refs FILE]` only: reads the tarball the executor stand-in wrote with
//!   `--tar-path` and prints `REPOSITORY@DIGEST` with the executor's digest; it uploads
//!   nothing.
//!
//! - the Java tracing agents Wharf's APM switch copies out of their images in an init
//!   container (`cp /javaagent.jar …`, `cp -R /pinpoint-agent/. …`): stand-in files at the
//!   paths the OpenTelemetry, Pinpoint and SkyWalking agent images keep them
//!   ([`AGENTS`]), so the copy succeeds; a JVM would load them, the demo's apps are no JVMs.
//!   Such a copy ([`is_agent_copy`]) runs for real also in a long-running pod, whose other
//!   init containers are simulated tasks, so the agent really lands in the pod's volume
//!   (what [`crate::traces`] checks before it counts a pod as traced).
//!
//! Kaniko's `/kaniko/executor` and the scanner image's `/opt/sonar-scanner/bin/sonar-scanner`
//! resolve to them too: as a command by the base-name fallback of
//! [`crate::process::resolve_program`], inside scripts by [`crate::paths`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// `(name, script)` of every stand-in.
pub const SHIMS: [(&str, &str); 3] = [
    ("executor", include_str!("../shims/executor.sh")),
    ("sonar-scanner", include_str!("../shims/sonar-scanner.sh")),
    ("crane", include_str!("../shims/crane.sh")),
];

/// Where real images keep the tools, mapped to the stand-ins in scripts.
pub const IMAGE_PATHS: [(&str, &str); 6] = [
    ("/kaniko/executor", "executor"),
    ("/opt/sonar-scanner/bin/sonar-scanner", "sonar-scanner"),
    ("/ko-app/crane", "crane"),
    ("/javaagent.jar", "agents/javaagent.jar"),
    ("/pinpoint-agent", "agents/pinpoint-agent"),
    ("/skywalking/agent", "agents/skywalking-agent"),
];

/// The tracing agents' stand-in files under the stand-ins' folder: `(path, content)`.
pub const AGENTS: [(&str, &str); 3] = [
    (
        "agents/javaagent.jar",
        "stand-in for the OpenTelemetry Java agent\n",
    ),
    (
        "agents/pinpoint-agent/pinpoint-bootstrap.jar",
        "stand-in for the Pinpoint Java agent\n",
    ),
    (
        "agents/skywalking-agent/skywalking-agent.jar",
        "stand-in for the SkyWalking Java agent\n",
    ),
];

/// Whether `argv` is a tracing agent's copy out of its image: `cp` (any path to it) with a
/// source at one of the agents' paths in [`IMAGE_PATHS`] (`/javaagent.jar`,
/// `/pinpoint-agent/.`, …).
pub fn is_agent_copy(argv: &[String]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let sources = IMAGE_PATHS
        .iter()
        .filter(|(_, to)| to.starts_with("agents/"))
        .map(|(from, _)| *from);
    program.rsplit('/').next() == Some("cp")
        && args.iter().any(|a| {
            let a = a.strip_suffix("/.").unwrap_or(a).trim_end_matches('/');
            sources.clone().any(|s| s == a)
        })
}

/// The directory the stand-ins live in.
pub fn bin_dir(scratch: &Path) -> PathBuf {
    scratch.join(".wharf-bin")
}

/// Writes the stand-ins into [`bin_dir`] (replacing older ones atomically, so a running
/// script is never cut short) and returns the directory.
pub async fn install(scratch: &Path) -> Result<PathBuf> {
    let dir = bin_dir(scratch);
    let io = |what: String| move |e| Error::io(what, e);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(io(format!("create {}", dir.display())))?;
    for (name, script) in SHIMS {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        tokio::fs::write(&tmp, script)
            .await
            .map_err(io(format!("write {}", tmp.display())))?;
        tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(io(format!("chmod {}", tmp.display())))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(io(format!("rename to {}", path.display())))?;
    }
    for (rel, content) in AGENTS {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(format!("create {}", parent.display())))?;
        }
        tokio::fs::write(&path, content)
            .await
            .map_err(io(format!("write {}", path.display())))?;
    }
    Ok(dir)
}
