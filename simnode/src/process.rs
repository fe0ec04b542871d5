//! Job containers' commands, run for real as local processes.
//!
//! Each container gets a scratch directory `<scratch>/<namespace>_<pod>/<container>/` as
//! its working directory (or `workingDir` under it). Volumes are shared per pod: a
//! `volumeMount` at `/workspace` becomes `<container dir>/workspace`, a symlink to
//! `<pod dir>/volumes/<volume>/`, so init containers can hand files on (clone → build →
//! image), and a `workingDir: /workspace` lands there. A PersistentVolumeClaim volume links
//! to the claim's folder instead (outside the pod's, so its files outlive the pod). Other absolute paths in commands
//! are the host's: this is a stand-in for a container runtime, not an isolation boundary;
//! the paths the pod spec defines (mounts, the termination message path) are rewritten in
//! argv and env to their place under the container directory (see [`crate::paths`]).
//!
//! The environment is the container's resolved `env` and `envFrom` (see [`crate::env`])
//! plus `HOSTNAME`, `HOME`, `WHARF_SIM_ROOT` (the container directory),
//! `WHARF_SIM_IMAGES` (the node's images folder, see [`crate::image`]) and the host's
//! `PATH` with the builder stand-ins first (see [`crate::shims`]). A program given by a
//! path that does not exist on the host is looked up by its base name (so
//! `/usr/local/bin/mvn` finds `mvn`, `/kaniko/executor` the stand-in, `/bin/bash` falls
//! back to `/bin/sh`) — unless the image lacks it (see [`crate::programs`]). Each process
//! leads its own process group, and the whole group is killed when the container is
//! stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::logs::{LogBuffer, LogStream};
use crate::paths;
use crate::plan::ContainerPlan;
use crate::programs::MissingPrograms;
use crate::sandbox::{Launch, Sandbox};
use crate::{Error, Result};

const SHELLS: [&str; 6] = ["sh", "bash", "ash", "dash", "zsh", "ksh"];

/// The scratch directory of a pod.
pub fn pod_dir(scratch: &Path, namespace: &str, pod: &str) -> PathBuf {
    scratch.join(format!("{namespace}_{pod}"))
}

/// The node's shared folder: every container may read it (see [`crate::sandbox`]). The
/// demo keeps there what its pods read from "outside", such as the git repositories its
/// pipelines clone with `file://` URLs.
pub fn shared_dir(scratch: &Path) -> PathBuf {
    scratch.join(".shared")
}

/// The directory of one container of a pod (its "root", see [`crate::paths`]).
pub fn container_dir(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join(container)
}

/// Folders of a pod's volumes that are not the pod's own `volumes/<name>` (an `emptyDir`
/// or any other volume the node does not know).
#[derive(Debug, Clone, Default)]
pub struct MountSources {
    /// PersistentVolumeClaims' folders (see [`crate::ObjectSource::claim_folder`]).
    pub claims: BTreeMap<String, PathBuf>,
    /// Folders the node writes a `configMap`, `secret`, `downwardAPI` or `projected`
    /// volume's files in (see [`crate::volumes`]).
    pub files: BTreeMap<String, PathBuf>,
}

/// Where copies of file volumes' `subPath` mounts go, per container.
pub fn sub_paths_dir(pod_dir: &Path) -> PathBuf {
    pod_dir.join("subpaths")
}

/// Creates the container's directory, its volume links and working directory, hands
/// them to the sandbox's user, and returns the working directory. A volume in
/// `sources.claims` (a PersistentVolumeClaim's folder) is linked to that folder instead of
/// one of the pod's, so its files outlive the pod; one in `sources.files` to the folder
/// the node writes its files in. A `subPath` mount links to that file or folder of the
/// volume (made if missing, as the kubelet does), except in a file volume, where it links
/// to a copy made the first time: a `subPath` mount of a ConfigMap is never updated.
pub async fn prepare_dirs(
    pod_dir: &Path,
    plan: &ContainerPlan,
    sandbox: &Sandbox,
    sources: &MountSources,
) -> Result<PathBuf> {
    let dir = container_dir(pod_dir, &plan.name);
    let io = |what: String| move |e| Error::io(what, e);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(io(format!("create {}", dir.display())))?;
    // The container's own /tmp (see [`crate::sandbox`]), world-writable as /tmp is.
    let tmp = dir.join("tmp");
    tokio::fs::create_dir_all(&tmp)
        .await
        .map_err(io(format!("create {}", tmp.display())))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
            .await
            .map_err(io(format!("chmod {}", tmp.display())))?;
    }
    let mut made = vec![dir.clone(), tmp];
    for (index, mount) in plan.mounts.iter().enumerate() {
        let rel = mount.path.trim_start_matches('/');
        if rel.is_empty() || rel.split('/').any(|p| p == "..") {
            continue;
        }
        let link = dir.join(rel);
        if tokio::fs::symlink_metadata(&link).await.is_ok() {
            continue;
        }
        let volume = &mount.volume;
        let sub_path = mount
            .sub_path
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty() && !p.split('/').any(|p| p == ".."));
        let target = match (sources.claims.get(volume), sources.files.get(volume)) {
            (Some(folder), _) => {
                tokio::fs::create_dir_all(folder)
                    .await
                    .map_err(io(format!("create {}", folder.display())))?;
                sandbox
                    .give(folder)
                    .map_err(io(format!("hand {} to the sandbox", folder.display())))?;
                folder.clone()
            }
            (None, Some(folder)) => match sub_path {
                None => folder.clone(),
                Some(sub) => {
                    let copy = sub_paths_dir(pod_dir)
                        .join(&plan.name)
                        .join(index.to_string());
                    let from = folder.join(sub);
                    let (copy2, sandbox2) = (copy.clone(), sandbox.clone());
                    tokio::task::spawn_blocking(move || copy_tree(&from, &copy2, &sandbox2))
                        .await
                        .map_err(|e| Error::io(format!("copy {}", copy.display()), e.into()))?
                        .map_err(io(format!("copy {}", copy.display())))?;
                    copy
                }
            },
            (None, None) => {
                let target = pod_dir.join("volumes").join(volume);
                tokio::fs::create_dir_all(&target)
                    .await
                    .map_err(io(format!("create {}", target.display())))?;
                made.push(target.clone());
                target
            }
        };
        let target = match sub_path {
            Some(sub) if !sources.files.contains_key(volume) => {
                let inner = target.join(sub);
                if tokio::fs::symlink_metadata(&inner).await.is_err() {
                    tokio::fs::create_dir_all(&inner)
                        .await
                        .map_err(io(format!("create {}", inner.display())))?;
                    if !sources.claims.contains_key(volume) {
                        made.push(inner.clone());
                    } else {
                        sandbox
                            .give(&inner)
                            .map_err(io(format!("hand {} to the sandbox", inner.display())))?;
                    }
                }
                inner
            }
            _ => target,
        };
        if let Some(parent) = link.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(format!("create {}", parent.display())))?;
            made.push(parent.to_path_buf());
        }
        tokio::fs::symlink(&target, &link)
            .await
            .map_err(io(format!("link {}", link.display())))?;
    }
    let cwd = match plan
        .working_dir
        .as_deref()
        .map(|w| w.trim_start_matches('/'))
    {
        Some(w) if !w.is_empty() && !w.split('/').any(|p| p == "..") => dir.join(w),
        _ => dir.clone(),
    };
    tokio::fs::create_dir_all(&cwd)
        .await
        .map_err(io(format!("create {}", cwd.display())))?;
    made.push(cwd.clone());
    for path in &made {
        // Every folder from the pod's down to the one made, so the path is writable.
        let below = path.strip_prefix(pod_dir).unwrap_or(path);
        let mut p = pod_dir.to_path_buf();
        for part in below.components() {
            p.push(part);
            sandbox
                .give(&p)
                .map_err(io(format!("hand {} to the sandbox", p.display())))?;
        }
    }
    Ok(cwd)
}

/// The environment a container's processes get: `resolved` (its `env` and `envFrom`)
/// over `HOSTNAME`, `HOME` and the host's `PATH`, then `bin` (the stand-ins) put first on
/// `PATH`, [`paths::ENV_ROOT`] set to the container directory `root` and
/// [`crate::image::ENV_IMAGES`] to the node's images folder `images`.
pub fn container_env(
    resolved: &[(String, String)],
    pod: &str,
    home: &Path,
    root: &Path,
    bin: Option<&Path>,
    images: Option<&Path>,
) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        ("HOME".to_string(), home.display().to_string()),
        ("HOSTNAME".to_string(), pod.to_string()),
    ];
    for (k, v) in resolved {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    if let Some(bin) = bin {
        if let Some((_, path)) = env.iter_mut().find(|(k, _)| k == "PATH") {
            *path = format!("{}:{path}", bin.display());
        }
    }
    env.retain(|(k, _)| k != paths::ENV_ROOT);
    env.push((paths::ENV_ROOT.to_string(), root.display().to_string()));
    if let Some(images) = images {
        env.retain(|(k, _)| k != crate::image::ENV_IMAGES);
        env.push((
            crate::image::ENV_IMAGES.to_string(),
            images.display().to_string(),
        ));
    }
    env
}

/// Copies a file or folder (following links, as a bind mount of it would show it) to
/// `to`, read-only for the container: a file volume's `subPath` mount. Does nothing when
/// `to` exists already (the copy is made once per container) or `from` does not.
fn copy_tree(from: &Path, to: &Path, sandbox: &Sandbox) -> std::io::Result<()> {
    if std::fs::symlink_metadata(to).is_ok() {
        return Ok(());
    }
    let Ok(meta) = std::fs::metadata(from) else {
        return Ok(());
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if meta.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            // The kubelet's own bookkeeping (`..data`, the timestamped folder) is not data.
            if name.to_string_lossy().starts_with("..") {
                continue;
            }
            copy_tree(&entry.path(), &to.join(name), sandbox)?;
        }
    } else {
        std::fs::copy(from, to)?;
    }
    std::fs::set_permissions(to, meta.permissions())?;
    sandbox.give(to)
}

/// Where to find `argv0` on this host (see the module docs).
pub fn resolve_program(argv0: &str) -> String {
    let path = Path::new(argv0);
    if !argv0.contains('/') || path.exists() {
        return argv0.to_string();
    }
    let base = path.file_name().and_then(|b| b.to_str()).unwrap_or(argv0);
    if SHELLS.contains(&base) {
        let candidate = format!("/bin/{base}");
        if Path::new(&candidate).exists() {
            return candidate;
        }
        return "/bin/sh".to_string();
    }
    base.to_string()
}

/// The message a container runtime gives when a program cannot start.
pub fn start_error_message(argv0: &str, err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound {
        if argv0.contains('/') {
            format!("exec: \"{argv0}\": stat {argv0}: no such file or directory")
        } else {
            format!("exec: \"{argv0}\": executable file not found in $PATH")
        }
    } else {
        format!("exec: \"{argv0}\": {err}")
    }
}

/// Kills a process group when dropped (the container stopped or the exec session ended).
pub struct GroupKiller(Option<i32>);

impl GroupKiller {
    pub fn new(pid: Option<u32>) -> Self {
        Self(pid.and_then(|p| i32::try_from(p).ok()))
    }

    /// The process exited normally: leave its group alone.
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// How a process ended, as a container's terminated state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub reason: &'static str,
    pub message: Option<String>,
}

/// Copies a pipe into the log as `stream`, line by line.
async fn pump(pipe: Option<impl AsyncRead + Unpin>, log: Arc<LogBuffer>, stream: LogStream) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => log.push_to(stream, &line),
        }
    }
}

/// The terminated state of a container whose process could not start, with runc's words.
pub fn start_error(msg: &str, log: &LogBuffer) -> Exit {
    log.push(format!("failed to start container process: {msg}"));
    Exit {
        code: 128,
        reason: "StartError",
        message: Some(format!("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: {msg}: unknown")),
    }
}

/// How to start `argv` (on a terminal when `tty`) in a container whose image lacks
/// `missing`, confined by `sandbox` to `view`: `Err` is the runtime's message when it
/// cannot start.
pub fn launch(
    argv: &[String],
    tty: bool,
    missing: &MissingPrograms,
    sandbox: &Sandbox,
    cwd: &Path,
    view: &crate::sandbox::View,
    env: &[(String, String)],
) -> std::result::Result<Launch, String> {
    let argv0 = argv.first().ok_or("no command specified")?;
    missing.check(argv0)?;
    sandbox.launch(argv, tty, cwd, view, env)
}

/// Runs `launch` (see [`launch`]) in `cwd` with `env`, its stdout and stderr going to
/// `log` line by line, and returns its exit as a terminated state (a `StartError` when it
/// cannot start). Dropping the future kills the process group.
pub async fn run_to_log(
    launch: std::result::Result<Launch, String>,
    cwd: &Path,
    env: &[(String, String)],
    log: Arc<LogBuffer>,
) -> Exit {
    let launch = match launch {
        Ok(l) => l,
        Err(msg) => return start_error(&msg, &log),
    };
    let argv0 = &launch.argv0;
    let mut cmd = tokio::process::Command::new(&launch.program);
    if let Some((uid, gid)) = launch.run_as {
        cmd.uid(uid).gid(gid);
    }
    cmd.args(&launch.args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return start_error(&start_error_message(argv0, &e), &log),
    };
    let mut killer = GroupKiller::new(child.id());
    let pumps = futures::future::join(
        pump(child.stdout.take(), log.clone(), LogStream::Stdout),
        pump(child.stderr.take(), log, LogStream::Stderr),
    );
    tokio::pin!(pumps);
    let mut pumps_done = false;
    let status = loop {
        tokio::select! {
            _ = &mut pumps, if !pumps_done => pumps_done = true,
            status = child.wait() => break status,
        }
    };
    if !pumps_done {
        // NB: a background grandchild may hold the pipes open; don't wait for it forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut pumps).await;
    }
    killer.disarm();
    let code = match status {
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + s.signal().unwrap_or(9)
        }),
        Err(e) => {
            return Exit {
                code: 128,
                reason: "Error",
                message: Some(format!("wait: {e}")),
            };
        }
    };
    Exit {
        code,
        reason: if code == 0 { "Completed" } else { "Error" },
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_and_missing_paths_resolve_on_the_host() {
        assert_eq!(resolve_program("sh"), "sh");
        assert_eq!(resolve_program("/bin/sh"), "/bin/sh");
        assert_eq!(
            resolve_program("/opt/nowhere/bin/bash").as_str(),
            if Path::new("/bin/bash").exists() {
                "/bin/bash"
            } else {
                "/bin/sh"
            }
        );
        assert_eq!(resolve_program("/usr/local/nowhere/mvn"), "mvn");
    }

    /// Runs `argv` in `dir` in the node's sandbox, as a container would.
    async fn run(
        argv: &[String],
        dir: &Path,
        env: &[(String, String)],
        missing: &MissingPrograms,
        log: Arc<LogBuffer>,
    ) -> Exit {
        let view = crate::sandbox::View {
            writable: vec![dir.to_path_buf()],
            ..Default::default()
        };
        let sandbox = Sandbox::detect();
        let launch = launch(argv, false, missing, &sandbox, dir, &view, env);
        run_to_log(launch, dir, env, log).await
    }

    #[tokio::test]
    async fn output_goes_to_the_log_and_exit_code_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogBuffer::new(100, 1 << 20);
        let argv: Vec<String> = ["sh", "-c", "echo out; echo err >&2; printf partial; exit 3"]
            .map(String::from)
            .to_vec();
        let env = [("PATH".into(), std::env::var("PATH").unwrap())];
        let exit = run(&argv, dir.path(), &env, &MissingPrograms::None, log.clone()).await;
        assert_eq!(exit.code, 3);
        assert_eq!(exit.reason, "Error");
        let text: String = log
            .snapshot()
            .lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).to_string())
            .collect();
        assert!(
            text.contains("out\n") && text.contains("err\n") && text.contains("partial\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn missing_program_is_a_start_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogBuffer::new(100, 1 << 20);
        let argv = ["no-such-program-xyz".to_string()];
        let exit = run(&argv, dir.path(), &[], &MissingPrograms::None, log.clone()).await;
        assert_eq!(exit.code, 128);
        assert_eq!(exit.reason, "StartError");
        assert!(exit
            .message
            .unwrap()
            .contains("executable file not found in $PATH"));

        // A shell the image lacks does not fall back to the host's sh.
        let missing = MissingPrograms::parse("bash");
        let argv = ["/bin/bash".to_string(), "-c".into(), "true".into()];
        let exit = run(&argv, dir.path(), &[], &missing, log).await;
        assert_eq!(exit.reason, "StartError");
        assert!(exit
            .message
            .unwrap()
            .contains("exec: \"/bin/bash\": stat /bin/bash: no such file or directory"));
    }
}
