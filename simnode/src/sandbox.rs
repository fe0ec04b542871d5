//! Containers' processes in a sandbox.
//!
//! A demo container runs as a process on this host, so without more every developer who
//! may exec into a pod, or whose pipeline runs a build step, would act as the demo's own
//! user (root under `make demo`): read its kubeconfig and session key, write anywhere.
//! With [`Sandbox::detect`] finding Debian's `bubblewrap`, every process of a container
//! (its command, exec and attach sessions, file transfer, Job steps, debug containers)
//! starts under `bwrap` instead:
//!
//! - in its own user namespace, as root inside but `nobody` (65534) outside when the node
//!   runs as root (else as the node's own unprivileged user), so it holds no capability
//!   over anything of the host's;
//! - in its own mount namespace that shows only the system's programs and libraries
//!   (`/usr`, `/etc` read-only; root-only files in `/etc` stay unreadable), fresh `/proc`
//!   and `/dev`, the container's own folder and its pod's volumes (read-write), the
//!   container's `tmp` folder as `/tmp`, the node's images folder (read-write: the
//!   executor stand-in stores images there), a built image's files at their image paths
//!   (read-write, [`View::binds`], see [`crate::image`]), and the builder stand-ins and
//!   the node's shared folder (read-only). Everything else is read-only and empty. The demo's data
//!   folder, its kubeconfig and keys, other pods' folders and the user's home are not there;
//! - in its own PID, IPC and UTS namespaces (it sees and signals only its own processes;
//!   its host name is the pod's), dying with the node.
//!
//! It shares the host's network, as pods on the demo node share loopback: a pod's app
//! answers on its pod IP. What a process can reach over the network is not confined here.
//!
//! Where bubblewrap or user namespaces are missing, [`Sandbox::detect`] says why
//! ([`Sandbox::unavailable`]) and processes run unconfined; the demo cluster marks its
//! node so and the console then refuses shells to everyone but platform admins.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The unprivileged user a sandboxed process maps to when the node runs as root.
pub const NOBODY: u32 = 65534;

/// How the node confines its containers' processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    mode: Mode,
    /// Folders every container may read (the node's shared folder).
    shared: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Under `bwrap`, started as this uid/gid when the node runs as root.
    Bwrap { run_as: Option<(u32, u32)> },
    /// Unconfined, for this reason.
    Off(String),
}

/// What one container sees of the host besides the system's files.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Its host name (the pod's name).
    pub hostname: String,
    /// Folders it may write: its own and its pod's volumes.
    pub writable: Vec<PathBuf>,
    /// Folders it may read: the builder stand-ins.
    pub read_only: Vec<PathBuf>,
    /// The folder that is its `/tmp` (else an empty one per process).
    pub tmp: Option<PathBuf>,
    /// `(host, inside)`: folders or files shown read-write at another path (a built
    /// image's files at their image paths, see [`crate::image`]).
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// `(host, mount path, read-only)`: the container's volume mounts, shown at their
    /// paths (a ConfigMap at `/etc/config` is there for an interactive shell too). A
    /// system folder holding one (`/etc`) is rebuilt from its entries around it.
    pub mounts: Vec<(PathBuf, PathBuf, bool)>,
}

impl View {
    /// Where `program` (a path inside, relative ones against `cwd`) is on the host, when
    /// it lies under one of [`View::binds`].
    fn bound_host_path(&self, program: &str, cwd: &Path) -> Option<PathBuf> {
        if !program.contains('/') {
            return None;
        }
        let inside = cwd.join(program);
        self.binds.iter().find_map(|(host, at)| {
            let rest = inside.strip_prefix(at).ok()?;
            Some(if rest.as_os_str().is_empty() {
                host.clone()
            } else {
                host.join(rest)
            })
        })
    }
}

/// A process to start: `program` with `args`, as `run_as` (uid, gid) if set. `argv0` is
/// the container's own first word, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub argv0: String,
    pub program: String,
    pub args: Vec<String>,
    pub run_as: Option<(u32, u32)>,
    /// On a terminal, the program makes it its controlling terminal itself (inside the
    /// sandbox's PID namespace, so a shell's job control finds its process groups);
    /// the starter must only start a new session, not take the terminal.
    pub takes_terminal: bool,
}

impl Launch {
    /// `argv` as it is, on the host.
    pub fn plain(argv: &[String]) -> Result<Launch, String> {
        let argv0 = argv.first().ok_or("no command specified")?;
        Ok(Launch {
            argv0: argv0.clone(),
            program: crate::process::resolve_program(argv0),
            args: argv[1..].to_vec(),
            run_as: None,
            takes_terminal: false,
        })
    }
}

/// The system folders a process needs to run programs: bound read-only, or re-created
/// as the symbolic links they are on merged-`/usr` systems.
const SYSTEM: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

impl Sandbox {
    /// Bubblewrap when this host can run it (checked once per process by starting
    /// `bwrap … true`), else unconfined with the reason.
    pub fn detect() -> Sandbox {
        static PROBE: OnceLock<Mode> = OnceLock::new();
        let mode = PROBE.get_or_init(probe).clone();
        Sandbox {
            mode,
            shared: Vec::new(),
        }
    }

    /// Unconfined on purpose (tests of the unconfined path), with `reason`.
    pub fn off(reason: impl Into<String>) -> Sandbox {
        Sandbox {
            mode: Mode::Off(reason.into()),
            shared: Vec::new(),
        }
    }

    /// Also shows `dir` read-only to every container.
    pub fn with_shared(mut self, dir: impl Into<PathBuf>) -> Sandbox {
        self.shared.push(dir.into());
        self
    }

    /// This sandbox, or unconfined with the reason when its user cannot reach `scratch`
    /// (the node's folder: a parent such as a home folder closed to others).
    pub fn reaching(self, scratch: &Path) -> Sandbox {
        use std::os::unix::fs::MetadataExt;
        let Some((uid, _)) = self.run_as() else {
            return self;
        };
        for dir in scratch.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            if meta.mode() & 0o001 == 0 && meta.uid() != uid {
                return Sandbox {
                    mode: Mode::Off(format!(
                        "the sandbox's user (uid {uid}) cannot reach the node's folder {}: {} is closed to others; choose a data folder elsewhere (--data)",
                        scratch.display(),
                        dir.display()
                    )),
                    shared: self.shared,
                };
            }
        }
        self
    }

    /// Why processes run unconfined, if they do.
    pub fn unavailable(&self) -> Option<&str> {
        match &self.mode {
            Mode::Off(reason) => Some(reason),
            Mode::Bwrap { .. } => None,
        }
    }

    /// The uid/gid sandboxed processes have on the host, when it differs from the node's.
    pub fn run_as(&self) -> Option<(u32, u32)> {
        match self.mode {
            Mode::Bwrap { run_as } => run_as,
            Mode::Off(_) => None,
        }
    }

    /// How to start `argv` in a container with `view`, in `cwd`, with `env` (whose `PATH`
    /// finds a bare program name), on a terminal when `tty`. `Err` is the runtime's
    /// message for a program that does not exist, as when starting it directly.
    pub fn launch(
        &self,
        argv: &[String],
        tty: bool,
        cwd: &Path,
        view: &View,
        env: &[(String, String)],
    ) -> Result<Launch, String> {
        let plain = Launch::plain(argv)?;
        let Mode::Bwrap { run_as } = self.mode else {
            return Ok(plain);
        };
        // bwrap reports a missing program only by its own exit: find it first, so the
        // container fails with the runtime's words as it would unconfined.
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or("/usr/local/bin:/usr/bin:/bin");
        let not_found = || {
            crate::process::start_error_message(
                &plain.argv0,
                &std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        };
        let program = match view.bound_host_path(&plain.argv0, cwd) {
            // NB: a program of a built image: it runs at its path inside, checked outside.
            Some(host) => find_program(&host.display().to_string(), path)
                .map(|_| plain.argv0.clone())
                .ok_or_else(not_found)?,
            None => find_program(&plain.program, path).ok_or_else(not_found)?,
        };
        let mut args: Vec<String> = [
            "--unshare-user",
            "--uid",
            "0",
            "--gid",
            "0",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--die-with-parent",
        ]
        .map(String::from)
        .to_vec();
        if !view.hostname.is_empty() {
            args.extend(["--hostname".into(), view.hostname.clone()]);
        }
        let mount_points: Vec<&Path> = view
            .mounts
            .iter()
            .map(|(_, inside, _)| inside.as_path())
            .filter(|p| mountable(p))
            .collect();
        for dir in SYSTEM {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        args.extend([
                            "--symlink".into(),
                            target.display().to_string(),
                            dir.to_string(),
                        ]);
                    }
                }
                Ok(m) if m.is_dir() => rebuild_around(path, &mount_points, &mut args),
                _ => {}
            }
        }
        args.extend(["--proc", "/proc", "--dev", "/dev"].map(String::from));
        match &view.tmp {
            Some(tmp) => args.extend(["--bind".into(), tmp.display().to_string(), "/tmp".into()]),
            None => args.extend(["--tmpfs".into(), "/tmp".into()]),
        }
        for dir in self.shared.iter().chain(&view.read_only) {
            args.extend(bind("--ro-bind-try", dir));
        }
        for dir in &view.writable {
            args.extend(bind("--bind-try", dir));
        }
        for (host, inside) in &view.binds {
            args.extend([
                "--bind".into(),
                host.display().to_string(),
                inside.display().to_string(),
            ]);
        }
        for (host, inside, read_only) in &view.mounts {
            if mountable(inside) {
                let flag = if *read_only {
                    "--ro-bind-try"
                } else {
                    "--bind-try"
                };
                args.extend([
                    flag.to_string(),
                    host.display().to_string(),
                    inside.display().to_string(),
                ]);
            }
        }
        // Anything else is read-only: a write outside the container fails loudly.
        args.extend(["--remount-ro".into(), "/".into()]);
        args.extend(["--chdir".into(), cwd.display().to_string(), "--".into()]);
        if tty {
            // util-linux's setsid: a new session inside, with the terminal as its own.
            args.extend(["setsid".into(), "--ctty".into()]);
        }
        args.push(program);
        args.extend(plain.args);
        Ok(Launch {
            argv0: plain.argv0,
            program: "bwrap".into(),
            args,
            run_as,
            takes_terminal: tty,
        })
    }

    /// Hands `path` (not following a link) to the sandbox's user, so a process of the
    /// container may write what the node prepared for it.
    pub fn give(&self, path: &Path) -> std::io::Result<()> {
        let Some((uid, gid)) = self.run_as() else {
            return Ok(());
        };
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
    }
}

/// Whether a volume may be mounted at `inside`: an absolute, plain path, not the root nor
/// in the sandbox's own `/proc` and `/dev`.
fn mountable(inside: &Path) -> bool {
    use std::path::Component;
    let mut parts = inside.components();
    parts.next() == Some(Component::RootDir)
        && inside.components().count() > 1
        && inside
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && !inside.starts_with("/proc")
        && !inside.starts_with("/dev")
}

/// Shows the host's `dir` read-only, leaving room for the mounts in it: bound whole when
/// none lies in it; otherwise an empty folder with each entry bound (or linked) in turn,
/// down the path to each mount, the mount points themselves left to the mounts.
fn rebuild_around(dir: &Path, mounts: &[&Path], args: &mut Vec<String>) {
    if mounts.contains(&dir) {
        return;
    }
    if !mounts.iter().any(|m| m.starts_with(dir)) {
        args.extend(bind("--ro-bind", dir));
        return;
    }
    args.extend(["--dir".to_string(), dir.display().to_string()]);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&path) {
                    args.extend([
                        "--symlink".into(),
                        target.display().to_string(),
                        path.display().to_string(),
                    ]);
                }
            }
            Ok(m) if m.is_dir() => rebuild_around(&path, mounts, args),
            Ok(_) if mounts.contains(&path.as_path()) => {}
            Ok(_) => args.extend(bind("--ro-bind-try", &path)),
            Err(_) => {}
        }
    }
}

fn bind(flag: &str, dir: &Path) -> [String; 3] {
    let d = dir.display().to_string();
    [flag.to_string(), d.clone(), d]
}

/// `program` if it is a path that exists, else the first executable of that name on `path`.
fn find_program(program: &str, path: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(Path::new(program)).then(|| program.to_string());
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| executable(p))
        .map(|p| p.display().to_string())
}

fn probe() -> Mode {
    let run_as = rustix::process::geteuid()
        .is_root()
        .then_some((NOBODY, NOBODY));
    let mut cmd = std::process::Command::new("bwrap");
    cmd.args([
        "--unshare-user",
        "--unshare-pid",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "true",
    ])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null());
    if let Some((uid, gid)) = run_as {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    match cmd.output() {
        Ok(out) if out.status.success() => Mode::Bwrap { run_as },
        Ok(out) => Mode::Off(format!(
            "bubblewrap cannot create a sandbox here ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Mode::Off("bubblewrap (bwrap) is not installed".into())
        }
        Err(e) => Mode::Off(format!("bubblewrap cannot start: {e}")),
    }
}
