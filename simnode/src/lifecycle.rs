//! Containers' lives, as a kubelet drives them.
//!
//! A pod runs its init containers one after another, each to a successful end (a failed
//! one restarts with back-off unless `restartPolicy: Never`, which fails the pod), then all
//! its containers at once. A container pulls its image (ContainerCreating for a short,
//! reproducible delay; images that fail to pull stay in ErrImagePull / ImagePullBackOff),
//! runs (Running; Ready at once or as its probes say, see [`crate::probes`], which may
//! also kill it for a failed liveness or startup probe),
//! and when it exits is restarted per the pod's `restartPolicy` after a CrashLoopBackOff
//! delay of `base·2ⁿ` capped at `max` (reset after it ran for `2·max`), counting
//! `restartCount` and keeping `lastState.terminated`. Each instance has its own log
//! buffer; the one before the last restart is kept for `previous=true`.
//!
//! Before each instance the container's environment is resolved (see [`crate::env`]); a
//! missing Secret or ConfigMap keeps it waiting in `CreateContainerConfigError`, tried
//! again every back-off base, so it starts once the object appears. When a process
//! exits, its termination message is read (see [`crate::termination`]).
//!
//! Ephemeral containers ([`run_ephemeral`]) are pulled and started the same way once, run
//! their command — interactively, shared with attach sessions, when they have `stdin` (see
//! [`crate::console`]) — and are never restarted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::{BoxFuture, FutureExt};
use sha2::{Digest, Sha256};

use crate::console::Console;
use crate::exec::Outcome;
use crate::http::{self, PageInfo};
use crate::logs::generator::{seed_of, LineGenerator};
use crate::logs::{LogBuffer, LogStream};
use crate::metrics::{instance_seed, MetricsModel};
use crate::paths::PathMap;
use crate::plan::{expand_env_refs, ContainerKind, ContainerPlan, Flavor, RestartPolicy, Workload};
use crate::runtime::PodShared;
use crate::state::{ContainerState, Terminated};
use crate::{env, exec, image, probes, process, termination, volumes};

/// Runs a whole pod until it is stopped (the future is dropped) or all its containers are
/// done for good.
pub(crate) async fn run_pod(pod: Arc<PodShared>) {
    // The kubelet mounts a pod's volumes before any of its containers starts.
    volumes::mount_all(&pod).await;
    let containers = async {
        for plan in &pod.plan.init_containers {
            let code = run_container(&pod, plan).await;
            if code != 0 {
                // Only reached with restartPolicy Never: the pod has failed.
                return;
            }
        }
        let all = pod
            .plan
            .containers
            .iter()
            .map(|plan| run_container(&pod, plan));
        futures::future::join_all(all).await;
    };
    tokio::select! {
        () = containers => {}
        () = volumes::keep_synced(&pod) => {}
    }
}

/// Runs one ephemeral container until it exits (it is never restarted).
pub(crate) async fn run_ephemeral(pod: Arc<PodShared>, plan: ContainerPlan) {
    run_container(&pod, &plan).await;
}

fn hex_digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// `docker.io/library/nginx@sha256:…` for `nginx:1.27`.
fn image_id(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let repo = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    let full = match repo.split_once('/') {
        None => format!("docker.io/library/{repo}"),
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            repo.to_string()
        }
        Some(_) => format!("docker.io/{repo}"),
    };
    match image::digest_of(image) {
        Some(hex) => format!("{full}@sha256:{}", hex.to_ascii_lowercase()),
        None => format!("{full}@sha256:{}", hex_digest(&[image])),
    }
}

fn between(seed: u64, min: Duration, max: Duration) -> Duration {
    let span = max.saturating_sub(min).as_millis() as u64;
    min + Duration::from_millis(if span == 0 { 0 } else { seed % (span + 1) })
}

fn backoff(pod: &PodShared, failures: u32) -> Duration {
    let cfg = &pod.cfg;
    let factor = 2u32.saturating_pow(failures.min(20));
    cfg.backoff_base.saturating_mul(factor).min(cfg.backoff_max)
}

/// Runs one container until it is done for good; returns its last exit code. Never
/// returns while it waits for an image that does not exist or while it keeps restarting.
async fn run_container(pod: &PodShared, plan: &ContainerPlan) -> i32 {
    let cfg = pod.cfg.clone();
    pod.update(&plan.name, |c| {
        c.state = ContainerState::waiting(
            if plan.is_init() {
                "PodInitializing"
            } else {
                "ContainerCreating"
            },
            None,
        )
    });
    pod.event(
        plan,
        "Normal",
        "Pulling",
        format!("Pulling image \"{}\"", plan.image),
    );
    let seed = seed_of(&[&pod.plan.uid, &plan.name]);
    let pull = between(seed, cfg.start_delay_min, cfg.start_delay_max);
    tokio::time::sleep(pull).await;
    if plan.image_pull_fails {
        image_pull_backoff(pod, plan).await;
    }
    pod.update(&plan.name, |c| c.image_id = image_id(&plan.image));
    pod.event(
        plan,
        "Normal",
        "Pulled",
        format!(
            "Successfully pulled image \"{}\" in {:.3}s. Image size: {} bytes.",
            plan.image,
            pull.as_secs_f64(),
            20_000_000 + seed % 200_000_000
        ),
    );
    let policy = pod.plan.restart_policy;
    let mut failures = 0u32;
    loop {
        let env = container_config(pod, plan).await;
        let started = Instant::now();
        let terminated = run_instance(pod, plan, env).await;
        let code = terminated.exit_code;
        let restarts = match plan.kind {
            ContainerKind::Init => policy != RestartPolicy::Never && code != 0,
            ContainerKind::Regular => policy.restarts(code),
            ContainerKind::Ephemeral => false,
        };
        pod.update(&plan.name, |c| {
            c.state = ContainerState::Terminated(terminated.clone());
            c.ready = false;
            c.started = false;
        });
        if !restarts {
            return code;
        }
        if started.elapsed() > cfg.backoff_max.saturating_mul(2) {
            failures = 0;
        }
        let delay = backoff(pod, failures);
        failures += 1;
        let message = format!(
            "back-off {} restarting failed container={} pod={}",
            human(delay),
            plan.name,
            pod.full_name()
        );
        pod.update(&plan.name, |c| {
            c.last_state = Some(terminated.clone());
            c.state = ContainerState::waiting("CrashLoopBackOff", Some(message));
        });
        pod.event(
            plan,
            "Warning",
            "BackOff",
            format!(
                "Back-off restarting failed container {} in pod {}",
                plan.name,
                pod.full_name()
            ),
        );
        tokio::time::sleep(delay).await;
        pod.update(&plan.name, |c| c.restart_count += 1);
    }
}

/// The container's environment; while it cannot be made (a Secret or ConfigMap is
/// missing) the container waits in `CreateContainerConfigError`, as with a kubelet.
async fn container_config(pod: &PodShared, plan: &ContainerPlan) -> Vec<(String, String)> {
    loop {
        let source = pod.object_source();
        match env::resolve(&pod.plan, pod.ip, plan, source.as_deref()) {
            Ok(env) => return env,
            Err(msg) => {
                pod.update(&plan.name, |c| {
                    c.state =
                        ContainerState::waiting("CreateContainerConfigError", Some(msg.clone()))
                });
                pod.event(plan, "Warning", "Failed", format!("Error: {msg}"));
                tokio::time::sleep(pod.cfg.backoff_base).await;
            }
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else if s > 0 {
        format!("{s}s")
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// ErrImagePull, then ImagePullBackOff with growing delays, forever.
async fn image_pull_backoff(pod: &PodShared, plan: &ContainerPlan) -> ! {
    let id = image_id(&plan.image);
    let reference = id.split('@').next().unwrap_or(&id).to_string();
    let tag = plan
        .image
        .rsplit_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.contains('/'))
        .unwrap_or("latest");
    let err = format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{reference}:{tag}\": failed to resolve reference \"{reference}:{tag}\": {reference}:{tag}: not found"
    );
    let mut failures = 0;
    loop {
        pod.update(&plan.name, |c| {
            c.state = ContainerState::waiting("ErrImagePull", Some(err.clone()))
        });
        pod.event(
            plan,
            "Warning",
            "Failed",
            format!("Failed to pull image \"{}\": {err}", plan.image),
        );
        pod.event(plan, "Warning", "Failed", "Error: ErrImagePull".into());
        tokio::time::sleep(pod.cfg.start_delay_max).await;
        let message = format!("Back-off pulling image \"{}\"", plan.image);
        pod.update(&plan.name, |c| {
            c.state = ContainerState::waiting("ImagePullBackOff", Some(message.clone()))
        });
        pod.event(plan, "Normal", "BackOff", message);
        pod.event(plan, "Warning", "Failed", "Error: ImagePullBackOff".into());
        tokio::time::sleep(backoff(pod, failures)).await;
        failures += 1;
        pod.event(
            plan,
            "Normal",
            "Pulling",
            format!("Pulling image \"{}\"", plan.image),
        );
    }
}

/// Closes the instance's log and drops its metrics and console however the instance ends
/// (including the pod being stopped mid-run).
struct InstanceGuard<'a> {
    pod: &'a PodShared,
    container: &'a str,
    log: Arc<LogBuffer>,
}

impl Drop for InstanceGuard<'_> {
    fn drop(&mut self) {
        self.log.close();
        self.pod.set_metrics(self.container, None);
        self.pod.set_console(self.container, None);
    }
}

/// One instance of a container, from creation to exit; `resolved` is its environment.
async fn run_instance(
    pod: &PodShared,
    plan: &ContainerPlan,
    resolved: Vec<(String, String)>,
) -> Terminated {
    let restart_count = pod
        .container_state(&plan.name)
        .map_or(0, |c| c.restart_count);
    let container_id = format!(
        "containerd://{}",
        hex_digest(&[&pod.plan.uid, &plan.name, &restart_count.to_string()])
    );
    let log = pod.new_log_instance(&plan.name, u32::try_from(restart_count).unwrap_or(0));
    let _guard = InstanceGuard {
        pod,
        container: &plan.name,
        log: log.clone(),
    };
    let terminated =
        |exit_code: i32, reason: &str, message: Option<String>, started_at| Terminated {
            exit_code,
            reason: reason.to_string(),
            message,
            started_at,
            finished_at: Utc::now(),
            container_id: container_id.clone(),
        };
    if let Err(msg) = pod.claim_folders() {
        pod.event(plan, "Warning", "FailedMount", msg.clone());
        return terminated(128, "StartError", Some(msg), None);
    }
    let sources = pod.mount_sources();
    let cwd = match process::prepare_dirs(&pod.dir, plan, &pod.cfg.sandbox, &sources).await {
        Ok(cwd) => cwd,
        Err(e) => return terminated(128, "StartError", Some(e.to_string()), None),
    };
    let root = process::container_dir(&pod.dir, &plan.name);
    // A long-running container of an image the executor stand-in built runs it for real.
    let stored = (plan.workload == Workload::App)
        .then(|| image::stored(&pod.cfg.images_dir(), &plan.image))
        .flatten();
    let built = match stored {
        None => None,
        Some(stored) => match prepare_image(pod, plan, &stored, &root, &cwd).await {
            Ok(b) => Some(b),
            Err(msg) => {
                log.push_to(LogStream::Stderr, format!("Error: {msg}"));
                pod.event(plan, "Warning", "Failed", format!("Error: {msg}"));
                return terminated(128, "StartError", Some(msg), None);
            }
        },
    };
    let unconfined = pod.cfg.sandbox.unavailable().is_some();
    pod.set_binds(
        &plan.name,
        match &built {
            Some(b) if !unconfined => b.rootfs.top_level(),
            _ => Vec::new(),
        },
    );
    let runs_process = built.is_some()
        || matches!(
            plan.workload,
            Workload::Command(_) | Workload::Interactive(_)
        );
    let message_file: Option<PathBuf> = runs_process.then(|| termination::file_of(&root));
    if let Some(file) = &message_file {
        let prepared = termination::prepare(file).await.and_then(|()| {
            pod.cfg
                .sandbox
                .give(file)
                .map_err(|e| crate::Error::io(format!("hand {} to the sandbox", file.display()), e))
        });
        if let Err(e) = prepared {
            return terminated(128, "StartError", Some(e.to_string()), None);
        }
    }
    let mut paths = PathMap::for_container(&root, plan, Some(&pod.bin_dir));
    // A built image's env: its ENV, then POD_IP, then the pod's (which wins).
    let mut env_in = Vec::new();
    if let Some(b) = &built {
        if unconfined {
            // NB: no sandbox to show the image's files at their paths: rewrite the paths.
            for p in &b.rootfs.paths {
                paths.add(p, &b.rootfs.host_path(p));
            }
        }
        env_in.extend(b.config.env.iter().cloned());
        env_in.push(("POD_IP".to_string(), pod.ip.to_string()));
    }
    env_in.extend(resolved.iter().cloned());
    let images = pod.cfg.images_dir();
    let mut env = process::container_env(
        &env_in,
        &pod.plan.name,
        &cwd,
        &root,
        Some(&pod.bin_dir),
        Some(&images),
    );
    for (_, v) in env.iter_mut() {
        *v = paths.rewrite(v);
    }
    if plan.tty {
        env.retain(|(k, _)| k != "TERM");
        env.push(("TERM".into(), "xterm".into()));
    }
    pod.set_env(&plan.name, env.clone());
    let argv_of = |argv: &[String]| -> Vec<String> {
        argv.iter()
            .map(|a| paths.rewrite(&expand_env_refs(a, &resolved)))
            .collect()
    };
    let message = |code: i32, started: bool, runtime_message: Option<String>| {
        termination::message(
            message_file.as_deref(),
            plan.termination_fallback_to_logs,
            code,
            started,
            &log,
            runtime_message,
        )
    };
    pod.event(
        plan,
        "Normal",
        "Created",
        format!("Created container: {}", plan.name),
    );

    // Ports are bound before the container counts as started, as a real server would (a
    // built image's process binds its own).
    let listeners = if plan.workload == Workload::App && built.is_none() {
        match http::bind_all(pod.ip, &plan.ports).await {
            Ok(l) => l,
            Err(msg) => {
                log.push_to(LogStream::Stderr, format!("Error: {msg}"));
                let now = Utc::now();
                return terminated(1, "Error", Some(msg), Some(now));
            }
        }
    } else {
        Vec::new()
    };

    // An interactive process starts, with its console, before the container counts as
    // running: an attach that follows the Running status must find the console (else it
    // would get a read-only view of the log and its keystrokes would go nowhere).
    let console_pump = match &plan.workload {
        Workload::Interactive(argv) => {
            match start_interactive(pod, plan, &argv_of(argv), &cwd, &env, &log) {
                Ok(pump) => Some(pump),
                Err(exit) => {
                    let message = message(exit.code, false, exit.message);
                    return terminated(exit.code, exit.reason, message, None);
                }
            }
        }
        _ => None,
    };

    let started_at = Utc::now();
    pod.update(&plan.name, |c| {
        c.container_id = container_id.clone();
        c.state = ContainerState::Running { started_at };
        c.started = plan.startup.is_none() || plan.kind != ContainerKind::Regular;
        c.ready = probes::ready_at_start(plan, built.is_some());
    });
    pod.event(
        plan,
        "Normal",
        "Started",
        format!("Started container {}", plan.name),
    );
    pod.set_metrics(
        &plan.name,
        Some(MetricsModel::new(
            plan,
            instance_seed(&pod.plan.uid, &plan.name, restart_count),
            pod.cfg.leak_per_minute,
        )),
    );

    let workload = async {
        match &plan.workload {
            _ if built.is_some() => {
                let b = built.as_ref().expect("checked");
                // `$(VAR)` is Kubernetes' syntax: only the pod's command and args have it.
                let expand = |v: &[String]| -> Vec<String> {
                    v.iter().map(|a| expand_env_refs(a, &resolved)).collect()
                };
                let argv = b
                    .config
                    .argv(&expand(&plan.command), &expand(&plan.args))
                    .map(|a| a.iter().map(|x| paths.rewrite(x)).collect());
                run_built(pod, plan, b, argv, unconfined, &env, &log).await
            }
            Workload::Command(argv) => {
                let argv = argv_of(argv);
                let launch = pod.launch(plan, &argv, false, &cwd, &env);
                process::run_to_log(launch, &cwd, &env, log.clone()).await
            }
            Workload::Interactive(_) => match console_pump {
                Some(pump) => pump_interactive(pump).await,
                None => unreachable!("an interactive workload's process was started above"),
            },
            Workload::Task => exited(run_task(pod, plan, &log).await),
            Workload::App => exited(run_app(pod, plan, &log, listeners, restart_count).await),
        }
    };
    // NB: a liveness or startup probe that fails for good ends the instance: the workload
    // is dropped, which kills its processes and closes its ports.
    let exit = tokio::select! {
        exit = workload => exit,
        killed = probes::run(pod, plan, built.is_some()) => killed,
    };
    let started = exit.reason != "StartError";
    let message = message(exit.code, started, exit.message);
    terminated(exit.code, exit.reason, message, Some(started_at))
}

/// Reads a stored image and lays out its files for this instance (see [`crate::image`]),
/// handed to the sandbox's user. `Err` is the message the container fails with.
async fn prepare_image(
    pod: &PodShared,
    plan: &ContainerPlan,
    stored: &std::path::Path,
    root: &std::path::Path,
    home: &std::path::Path,
) -> Result<image::Prepared, String> {
    // The "base image's" variables the Dockerfile's substitutions see: the node's defaults.
    let base = process::container_env(&[], &pod.plan.name, home, root, None, None);
    let (stored, rootfs) = (stored.to_path_buf(), root.join("rootfs"));
    let working_dir = plan.working_dir.clone();
    let sandbox = pod.cfg.sandbox.clone();
    let image = plan.image.clone();
    tokio::task::spawn_blocking(move || {
        let prepared = image::prepare(&stored, &rootfs, working_dir.as_deref(), &base)
            .map_err(|e| format!("image {image}: {e}"))?;
        image::give_tree(&prepared.rootfs.host, &|p| sandbox.give(p))
            .map_err(|e| format!("hand {} to the sandbox: {e}", rootfs.display()))?;
        Ok(prepared)
    })
    .await
    .map_err(|e| format!("preparing the image: {e}"))?
}

/// Runs a built image's process (`argv`, or why there is none) in its working directory
/// (its readiness is the probes' business, see [`crate::probes`]).
async fn run_built(
    pod: &PodShared,
    plan: &ContainerPlan,
    built: &image::Prepared,
    argv: Result<Vec<String>, String>,
    unconfined: bool,
    env: &[(String, String)],
    log: &Arc<LogBuffer>,
) -> process::Exit {
    let argv = match argv {
        Ok(a) => a,
        Err(msg) => return process::start_error(&msg, log),
    };
    let host_cwd = built.rootfs.host_path(&built.workdir);
    // Under bubblewrap the process starts at the image's path, outside at its host copy.
    let inside_cwd = if unconfined {
        host_cwd.clone()
    } else {
        PathBuf::from(&built.workdir)
    };
    let launch = pod.launch(plan, &argv, false, &inside_cwd, env);
    process::run_to_log(launch, &host_cwd, env, log.clone()).await
}

fn exited(code: i32) -> process::Exit {
    process::Exit {
        code,
        reason: if code == 0 { "Completed" } else { "Error" },
        message: None,
    }
}

/// Starts an interactive main process — on a pty with `tty` — and makes it the
/// container's console for attach sessions. The future pumps it until it exits.
fn start_interactive(
    pod: &PodShared,
    plan: &ContainerPlan,
    argv: &[String],
    cwd: &std::path::Path,
    env: &[(String, String)],
    log: &Arc<LogBuffer>,
) -> Result<BoxFuture<'static, Outcome>, process::Exit> {
    let launch = pod
        .launch(plan, argv, plan.tty, cwd, env)
        .map_err(|msg| process::start_error(&msg, log))?;
    let spawned = if plan.tty {
        exec::pty::spawn(&launch, cwd, env)
    } else {
        exec::pipes::spawn(&launch, cwd, env, true)
    };
    let spawned = spawned.map_err(|msg| process::start_error(&msg, log))?;
    let (console, pump) = Console::new(spawned, log.clone(), plan.stdin_once);
    pod.set_console(&plan.name, Some(console));
    Ok(pump.boxed())
}

/// Runs an interactive process started by [`start_interactive`] to its end.
async fn pump_interactive(pump: BoxFuture<'static, Outcome>) -> process::Exit {
    match pump.await {
        Outcome::Exited(code) => exited(code),
        Outcome::Failed(msg) => process::Exit {
            code: 128,
            reason: "Error",
            message: Some(msg),
        },
    }
}

/// A simulated finite task: a few log lines, then exit (0 unless told otherwise).
async fn run_task(pod: &PodShared, plan: &ContainerPlan, log: &LogBuffer) -> i32 {
    log.push(format!("{} starting ({})", plan.name, plan.image));
    if let Some(code) = plan.exit_code {
        log.push(format!("{} failed with exit code {code}", plan.name));
        return code;
    }
    let wait = plan.crash_after.unwrap_or(pod.cfg.task_duration);
    tokio::time::sleep(wait / 2).await;
    log.push(format!("{}: working…", plan.name));
    tokio::time::sleep(wait / 2).await;
    if plan.crash_after.is_some() {
        log.push(format!("{}: error: task failed", plan.name));
        return 1;
    }
    log.push(format!("{}: done", plan.name));
    0
}

/// A simulated long-running app: serves its ports, writes logs, and exits only when told
/// to by the pod spec (or killed for a failed liveness probe, see [`crate::probes`]).
async fn run_app(
    pod: &PodShared,
    plan: &ContainerPlan,
    log: &Arc<LogBuffer>,
    listeners: Vec<tokio::net::TcpListener>,
    restart_count: i32,
) -> i32 {
    let info = Arc::new(PageInfo {
        namespace: pod.plan.namespace.clone(),
        pod: pod.plan.name.clone(),
        container: plan.name.clone(),
        image: plan.image.clone(),
        ip: pod.ip,
        access_log: (plan.flavor == Flavor::Nginx).then(|| log.clone()),
    });
    let serving =
        futures::future::join_all(listeners.into_iter().map(|l| http::serve(l, info.clone())));
    let seed = instance_seed(&pod.plan.uid, &plan.name, restart_count);
    let mut gen = LineGenerator::new(plan.flavor, seed, &plan.name, plan.ports.first().copied());
    for (stream, line) in gen.startup(Utc::now()) {
        log.push_to(stream, line);
    }
    let rate = plan.log_rate.unwrap_or(pod.cfg.log_lines_per_sec);
    let leak = plan.leak;
    let writing = async {
        if rate <= 0.0 {
            return std::future::pending::<()>().await;
        }
        let mut n: u64 = 0;
        loop {
            n += 1;
            // Irregular but reproducible gaps around the mean rate.
            let jitter =
                0.5 + (seed_of(&[&seed.to_string(), &n.to_string()]) % 1000) as f64 / 1000.0;
            tokio::time::sleep(Duration::from_secs_f64(jitter / rate)).await;
            for (stream, line) in gen.next_event(Utc::now()) {
                log.push_to(stream, line);
            }
            if let Some(leak) = leak {
                if n.is_multiple_of(25) {
                    let what = match leak {
                        crate::plan::Leak::Threads => "threads",
                        crate::plan::Leak::Sockets => "open sockets",
                        crate::plan::Leak::Fds => "open files",
                    };
                    let (stream, line) = gen.leak_warning(Utc::now(), what, n);
                    log.push_to(stream, line);
                }
            }
        }
    };
    let fate = async {
        if let Some(code) = plan.exit_code {
            code
        } else if let Some(after) = plan.crash_after {
            tokio::time::sleep(after).await;
            1
        } else {
            std::future::pending().await
        }
    };
    // NB: joined, not raced: a pod without ports has nothing to serve, and that must not
    // stop its logs.
    let background = futures::future::join(serving, writing);
    tokio::pin!(fate);
    let code = tokio::select! {
        code = &mut fate => code,
        _ = background => fate.await,
    };
    if code != 0 {
        for (stream, line) in gen.crash(Utc::now(), code) {
            log.push_to(stream, line);
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_look_like_containerd_ones() {
        assert!(image_id("nginx:1.27").starts_with("docker.io/library/nginx@sha256:"));
        assert!(image_id("bitnami/redis").starts_with("docker.io/bitnami/redis@sha256:"));
        assert!(image_id("registry.local:5000/team/app:v1")
            .starts_with("registry.local:5000/team/app@sha256:"));
        let hex = "0f".repeat(32);
        assert_eq!(
            image_id(&format!("registry.local:5000/team/app:v1@sha256:{hex}")),
            format!("registry.local:5000/team/app@sha256:{hex}"),
            "a pinned digest is the image's id"
        );
    }

    #[test]
    fn delays_stay_in_range() {
        let (a, b) = (Duration::from_millis(1000), Duration::from_millis(2000));
        for s in 0..100 {
            let d = between(seed_of(&[&s.to_string()]), a, b);
            assert!(d >= a && d <= b);
        }
        assert_eq!(human(Duration::from_secs(80)), "1m20s");
    }
}
