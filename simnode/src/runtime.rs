//! [`NodeRuntime`]: the one entry point the demo cluster's controllers and API server use.
//!
//! The runtime hosts every simulated node's pods (nodes are only a scheduling notion here).
//! A pod is started by uid with the IP the cluster gave it; its containers then live on
//! their own (see [`crate::lifecycle`]) and every state change is announced on
//! [`NodeRuntime::subscribe`], so a controller can write `pod.status` with
//! [`PodRuntimeState::apply_to`]. Ephemeral containers added to a running pod start with
//! [`NodeRuntime::start_ephemeral_containers`]. Stopping a pod aborts its tasks, kills its
//! processes and closes its listeners before `stop_pod` returns.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use futures::stream::BoxStream;
use futures::{Sink, Stream};
use k8s_openapi::api::core::v1::{EphemeralContainer, Pod};
use tokio::sync::{broadcast, OnceCell};
use tokio::task::JoinSet;

use crate::console::Console;
use crate::env::ObjectSource;
use crate::exec::protocol::{self, Protocol, Streams};
use crate::exec::{self, AttachRequest, ExecRequest, Spawned};
use crate::logs::cri::PodLogs;
use crate::logs::{self, LogBuffer, LogLine, LogOptions};
use crate::metrics::{self, ContainerRow, ContainerUsage, MetricsModel, PodUsage};
use crate::paths::PathMap;
use crate::plan::{ContainerPlan, PodPlan};
use crate::state::{ContainerRuntimeState, PodPhase, PodRuntimeState};
use crate::{process, shims, traces};
use crate::{Error, Result};

/// How the node behaves; [`NodeConfig::new`] gives realistic defaults,
/// [`NodeConfig::fast`] quick ones for tests.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where pods' scratch directories go (`<scratch>/<ns>_<pod>/<container>/`).
    pub scratch_dir: PathBuf,
    /// Where the executor stand-in keeps the images it builds and where the node finds
    /// them to run (see [`crate::image`]); it outlives pods. `None`: `<scratch_dir>/images`.
    /// Read it with [`NodeConfig::images_dir`].
    pub images_dir: Option<PathBuf>,
    /// Default log rate of simulated apps (a pod annotation may override it).
    pub log_lines_per_sec: f64,
    /// Whether exec and attach are allowed (the API server answers 403 otherwise).
    pub allow_exec: bool,
    /// ContainerCreating lasts between these two (picked per container, reproducibly).
    pub start_delay_min: Duration,
    pub start_delay_max: Duration,
    /// CrashLoopBackOff: `base`, `2·base`, `4·base`, … capped at `max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How containers' processes are confined (bubblewrap where the host has it).
    pub sandbox: crate::sandbox::Sandbox,
    /// How long a simulated task (a Job container with no command) runs.
    pub task_duration: Duration,
    /// Per container instance log buffer bounds.
    pub log_buffer_lines: usize,
    pub log_buffer_bytes: usize,
    /// How fast a leaking count climbs.
    pub leak_per_minute: f64,
    /// Keep pods' scratch directories after they stop (default: remove them).
    pub keep_scratch_dirs: bool,
    /// The node's `/var/log/pods`, where containers' logs are written as CRI files (see
    /// [`crate::logs::cri`]); `None`: `<scratch_dir>/pods`. Read it with
    /// [`NodeConfig::pod_logs_dir`] or [`NodeRuntime::pod_logs_dir`].
    pub pod_logs_dir: Option<PathBuf>,
    /// One `/var/log/pods` per node: a pod's log folder goes in
    /// `<pods dir>/<spec.nodeName>/` (`<pods dir>/_unscheduled/` for a pod without a node
    /// name, or with one that is not a valid node name), so that one node log agent per
    /// node reads [`NodeRuntime::pod_logs_dir_of`] its node. Default `false`: every pod's
    /// folder right in the pods dir, whatever its node. See [`crate::logs::cri`].
    pub pod_logs_by_node: bool,
    /// The kubelet's `containerLogMaxSize`: a live log file this big is rotated.
    pub container_log_max_size: u64,
    /// The kubelet's `containerLogMaxFiles`: files kept per container instance, live
    /// one included (at least 2).
    pub container_log_max_files: usize,
    /// How often lines are written out to the log files (capped at one second).
    pub log_flush_interval: Duration,
    /// How long a deleted pod's log folder (and a dead instance's files but the last)
    /// stays before it is removed, as the kubelet removes them at its next clean-up.
    pub pod_logs_linger: Duration,
    /// How often a running pod's ConfigMap, Secret, downward API and projected volumes
    /// are rendered again and rewritten when they changed (see [`crate::volumes`]).
    pub volume_sync_period: Duration,
    /// How long the bytes used in a claim's folder are kept before the folder is walked
    /// again for `kubelet_volume_stats_*` (see [`crate::metrics`]).
    pub volume_stats_ttl: Duration,
}

impl NodeConfig {
    /// Realistic defaults: 1–2 s to start, 10 s back-off base capped at 5 min, one log
    /// line per second, exec allowed.
    pub fn new(scratch_dir: impl Into<PathBuf>) -> Self {
        Self {
            scratch_dir: scratch_dir.into(),
            images_dir: None,
            log_lines_per_sec: 1.0,
            allow_exec: true,
            start_delay_min: Duration::from_millis(1000),
            start_delay_max: Duration::from_millis(2000),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            task_duration: Duration::from_secs(3),
            log_buffer_lines: 10_000,
            log_buffer_bytes: 4 << 20,
            leak_per_minute: 6.0,
            keep_scratch_dirs: false,
            sandbox: crate::sandbox::Sandbox::detect(),
            pod_logs_dir: None,
            pod_logs_by_node: false,
            container_log_max_size: logs::cri::DEFAULT_MAX_SIZE,
            container_log_max_files: logs::cri::DEFAULT_MAX_FILES,
            log_flush_interval: Duration::from_millis(250),
            pod_logs_linger: Duration::from_secs(30),
            volume_sync_period: Duration::from_secs(2),
            volume_stats_ttl: Duration::from_secs(5),
        }
    }

    /// Quick timings for tests: 50–100 ms to start, 200 ms back-off base.
    pub fn fast(scratch_dir: impl Into<PathBuf>) -> Self {
        Self {
            start_delay_min: Duration::from_millis(50),
            start_delay_max: Duration::from_millis(100),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            task_duration: Duration::from_millis(200),
            log_lines_per_sec: 20.0,
            log_flush_interval: Duration::from_millis(100),
            pod_logs_linger: Duration::from_secs(2),
            volume_sync_period: Duration::from_millis(200),
            volume_stats_ttl: Duration::from_millis(200),
            ..Self::new(scratch_dir)
        }
    }

    /// The images folder: [`images_dir`](Self::images_dir) if set, else
    /// `<scratch_dir>/images`. Every process container gets it as `WHARF_SIM_IMAGES`.
    pub fn images_dir(&self) -> PathBuf {
        self.images_dir
            .clone()
            .unwrap_or_else(|| self.scratch_dir.join("images"))
    }

    /// Where containers' CRI log files go: [`pod_logs_dir`](Self::pod_logs_dir) if set,
    /// else `<scratch_dir>/pods` — the folder to give a node log agent.
    pub fn pod_logs_dir(&self) -> PathBuf {
        self.pod_logs_dir
            .clone()
            .unwrap_or_else(|| logs::cri::default_dir(&self.scratch_dir))
    }
}

/// A kubelet-style event worth recording as a Kubernetes `Event` (involvedObject = the
/// pod; `fieldPath` = `spec.containers{NAME}`, `spec.initContainers{NAME}` or
/// `spec.ephemeralContainers{NAME}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// `Pulling`, `Pulled`, `Created`, `Started`, `BackOff`, `Failed`, `Killing`.
    pub reason: &'static str,
    pub message: String,
    pub field_path: Option<String>,
}

/// Something happened to a pod: its state changed (`event: None`; read
/// [`NodeRuntime::pod_state`], which is `None` once the pod is stopped) or the kubelet
/// would record an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub event: Option<KubeletEvent>,
}

/// A container's log instances: the current one and the one before the last restart.
#[derive(Debug, Default)]
pub(crate) struct LogInstances {
    pub current: Option<Arc<LogBuffer>>,
    pub previous: Option<Arc<LogBuffer>>,
}

/// Per container data beside its state.
#[derive(Debug, Default)]
pub(crate) struct ContainerSlot {
    pub logs: Mutex<LogInstances>,
    pub metrics: Mutex<Option<MetricsModel>>,
    /// The environment the current instance's processes got (exec sessions get it too).
    pub env: Mutex<Option<Vec<(String, String)>>>,
    /// The current instance's interactive main process, for attach.
    pub console: Mutex<Option<Arc<Console>>>,
    /// A built image's files, `(host, inside)`, bound in the sandbox for every process of
    /// the current instance (see [`crate::image`]).
    pub binds: Mutex<Vec<(PathBuf, PathBuf)>>,
}

/// Where Secrets and ConfigMaps come from, shared by the runtime and its pods.
type ObjectsCell = Arc<RwLock<Option<Arc<dyn ObjectSource>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // NB: state behind these locks is always left consistent between statements, so a
    // panic elsewhere does not make it unusable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything about one running pod that its tasks and the runtime share.
pub(crate) struct PodShared {
    pub plan: PodPlan,
    /// Ephemeral containers started so far, in order (the plan holds the others).
    ephemeral: Mutex<Vec<ContainerPlan>>,
    pub ip: Ipv4Addr,
    pub dir: PathBuf,
    pub cfg: Arc<NodeConfig>,
    /// The builder stand-ins' directory.
    pub bin_dir: PathBuf,
    /// The node's CRI log files.
    pod_logs: PodLogs,
    objects: ObjectsCell,
    state: Mutex<PodRuntimeState>,
    slots: Mutex<HashMap<String, Arc<ContainerSlot>>>,
    events: broadcast::Sender<PodEvent>,
}

impl std::fmt::Debug for PodShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodShared")
            .field("plan", &self.plan)
            .field("ip", &self.ip)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl PodShared {
    pub fn state(&self) -> PodRuntimeState {
        lock(&self.state).clone()
    }

    /// How to start `argv` in `container` (see [`process::launch`]): confined to its own
    /// folder, its pod's volumes and the stand-ins.
    pub fn launch(
        &self,
        container: &ContainerPlan,
        argv: &[String],
        tty: bool,
        cwd: &std::path::Path,
        env: &[(String, String)],
    ) -> std::result::Result<crate::sandbox::Launch, String> {
        let dir = process::container_dir(&self.dir, &container.name);
        let root = dir.clone();
        let binds = self
            .slot(&container.name)
            .map(|s| lock(&s.binds).clone())
            .unwrap_or_default();
        let mut view = crate::sandbox::View {
            hostname: self.plan.name.clone(),
            tmp: Some(dir.join("tmp")),
            // NB: the images folder is writable: the executor stand-in stores images there.
            writable: vec![dir, self.dir.join("volumes"), self.cfg.images_dir()],
            // The kubelet mounts ConfigMaps, Secrets and their subPath copies read-only.
            read_only: vec![
                self.bin_dir.clone(),
                crate::volumes::root_of(&self.dir),
                process::sub_paths_dir(&self.dir),
            ],
            binds,
            ..Default::default()
        };
        // Claims' folders, at their own paths (the container's mount links point there).
        let folders = self.claim_folders().unwrap_or_default();
        for (volume, folder) in folders {
            if !container.mounts.iter().any(|m| m.volume == volume) {
                continue;
            }
            let ro = container.read_only_volumes.contains(&volume)
                || self.plan.claims.get(&volume).is_some_and(|c| c.read_only);
            if ro {
                view.read_only.push(folder);
            } else {
                view.writable.push(folder);
            }
        }
        // Every mount at its path too: where its link in the container's folder points
        // (see [`process::prepare_dirs`]).
        for m in &container.mounts {
            let link = root.join(m.path.trim_start_matches('/'));
            if let Ok(target) = std::fs::read_link(&link) {
                let ro = self.plan.file_volumes.contains_key(&m.volume)
                    || container.read_only_volumes.contains(&m.volume)
                    || self.plan.claims.get(&m.volume).is_some_and(|c| c.read_only);
                view.mounts.push((target, PathBuf::from(&m.path), ro));
            }
        }
        process::launch(
            argv,
            tty,
            &container.missing_programs,
            &self.cfg.sandbox,
            cwd,
            &view,
            env,
        )
    }

    /// The folders of the pod's PersistentVolumeClaim volumes, by volume name; `Err` is the
    /// kubelet's `FailedMount` message for the claims the node cannot find bound.
    pub fn claim_folders(&self) -> std::result::Result<BTreeMap<String, PathBuf>, String> {
        if self.plan.claims.is_empty() {
            return Ok(BTreeMap::new());
        }
        let source = self.object_source();
        let ns = &self.plan.namespace;
        let mut folders = BTreeMap::new();
        let (mut unmounted, mut errors) = (Vec::new(), Vec::new());
        for (volume, c) in &self.plan.claims {
            match source
                .as_ref()
                .and_then(|s| s.claim_folder(ns, &c.claim_name))
            {
                Some(f) => {
                    folders.insert(volume.clone(), f);
                }
                None => {
                    let why = source.as_ref().map_or_else(
                        || "PVC is not bound".to_string(),
                        |s| s.claim_error(ns, &c.claim_name),
                    );
                    unmounted.push(volume.as_str());
                    errors.push(format!("error processing PVC {ns}/{}: {why}", c.claim_name));
                }
            }
        }
        if errors.is_empty() {
            return Ok(folders);
        }
        // NB: Kubernetes 1.20's `WaitForAttachAndMount` and its populator's errors, joined.
        let unmounted = unmounted.join(" ");
        Err(format!(
            "Unable to attach or mount volumes: unmounted volumes=[{unmounted}], unattached volumes=[{unmounted}]: {}",
            errors.join("; ")
        ))
    }

    /// Every folder a container's mounts may link to, by volume: claims' folders (those
    /// the node finds bound) and file volumes' folders (see [`crate::volumes`]).
    pub fn mount_sources(&self) -> process::MountSources {
        process::MountSources {
            claims: self.claim_folders().unwrap_or_default(),
            files: self
                .plan
                .file_volumes
                .keys()
                .map(|v| (v.clone(), crate::volumes::dir_of(&self.dir, v)))
                .collect(),
        }
    }

    /// What an exec of `command` in `plan`'s container starts from, as `kubectl exec`
    /// does (exec probes too): its working directory, the environment of its current
    /// instance, and `command` with the container's paths rewritten (see [`PathMap`]).
    pub async fn exec_setup(
        &self,
        plan: &ContainerPlan,
        command: &[String],
    ) -> Result<(PathBuf, Vec<(String, String)>, Vec<String>)> {
        let sources = self.mount_sources();
        let cwd = process::prepare_dirs(&self.dir, plan, &self.cfg.sandbox, &sources).await?;
        let root = process::container_dir(&self.dir, &plan.name);
        let env = self.env_of(&plan.name).unwrap_or_else(|| {
            process::container_env(
                &plan.env,
                &self.plan.name,
                &cwd,
                &root,
                Some(&self.bin_dir),
                Some(&self.cfg.images_dir()),
            )
        });
        let map = PathMap::for_container(&root, plan, Some(&self.bin_dir));
        let command = command.iter().map(|a| map.rewrite(a)).collect();
        Ok((cwd, env, command))
    }

    /// Records a kubelet event about the pod itself (`FailedMount`).
    pub fn pod_event(&self, type_: &'static str, reason: &'static str, message: String) {
        self.announce(Some(KubeletEvent {
            type_,
            reason,
            message,
            field_path: None,
        }));
    }

    /// Changes one container's state and announces it.
    pub fn update(&self, container: &str, f: impl FnOnce(&mut ContainerRuntimeState)) {
        {
            let mut s = lock(&self.state);
            if let Some(c) = s.container_mut(container) {
                f(c);
            }
        }
        self.announce(None);
    }

    pub fn container_state(&self, container: &str) -> Option<ContainerRuntimeState> {
        lock(&self.state).container(container).cloned()
    }

    /// Records a kubelet event about `container`.
    pub fn event(
        &self,
        plan: &ContainerPlan,
        type_: &'static str,
        reason: &'static str,
        message: String,
    ) {
        self.announce(Some(KubeletEvent {
            type_,
            reason,
            message,
            field_path: Some(format!("spec.{}{{{}}}", plan.kind.spec_field(), plan.name)),
        }));
    }

    fn announce(&self, event: Option<KubeletEvent>) {
        let _ = self.events.send(PodEvent {
            uid: self.plan.uid.clone(),
            namespace: self.plan.namespace.clone(),
            name: self.plan.name.clone(),
            event,
        });
    }

    fn slot(&self, container: &str) -> Option<Arc<ContainerSlot>> {
        lock(&self.slots).get(container).cloned()
    }

    /// Any container's plan by name, ephemeral ones included.
    pub fn container_plan(&self, name: &str) -> Option<ContainerPlan> {
        self.plan
            .all_containers()
            .find(|c| c.name == name)
            .cloned()
            .or_else(|| {
                lock(&self.ephemeral)
                    .iter()
                    .find(|c| c.name == name)
                    .cloned()
            })
    }

    /// Where Secrets and ConfigMaps come from, if anywhere.
    pub fn object_source(&self) -> Option<Arc<dyn ObjectSource>> {
        self.objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the built image's files `(host, inside)` of `container`'s current instance.
    pub fn set_binds(&self, container: &str, binds: Vec<(PathBuf, PathBuf)>) {
        if let Some(slot) = self.slot(container) {
            *lock(&slot.binds) = binds;
        }
    }

    /// Records the environment of `container`'s current instance.
    pub fn set_env(&self, container: &str, env: Vec<(String, String)>) {
        if let Some(slot) = self.slot(container) {
            *lock(&slot.env) = Some(env);
        }
    }

    fn env_of(&self, container: &str) -> Option<Vec<(String, String)>> {
        self.slot(container).and_then(|s| lock(&s.env).clone())
    }

    /// Sets (or clears) the interactive main process of `container`.
    pub fn set_console(&self, container: &str, console: Option<Arc<Console>>) {
        if let Some(slot) = self.slot(container) {
            *lock(&slot.console) = console;
        }
    }

    /// Starts a new log instance for `container` (its `restart`-th, written to
    /// `<restart>.log` too), keeping the last one as `previous`.
    pub fn new_log_instance(&self, container: &str, restart: u32) -> Arc<LogBuffer> {
        let plan = &self.plan;
        let file = self.pod_logs.open(
            &plan.node_name,
            &plan.namespace,
            &plan.name,
            &plan.uid,
            container,
            restart,
        );
        let buf = LogBuffer::with_file(self.cfg.log_buffer_lines, self.cfg.log_buffer_bytes, file);
        if let Some(slot) = self.slot(container) {
            let mut logs = lock(&slot.logs);
            let old = logs.current.replace(buf.clone());
            if old.is_some() {
                logs.previous = old;
            }
        }
        buf
    }

    pub fn set_metrics(&self, container: &str, model: Option<MetricsModel>) {
        if let Some(slot) = self.slot(container) {
            *lock(&slot.metrics) = model;
        }
    }

    /// `pod_name_namespace(uid)` as the kubelet writes it in messages.
    pub fn full_name(&self) -> String {
        format!(
            "{}_{}({})",
            self.plan.name, self.plan.namespace, self.plan.uid
        )
    }
}

struct PodEntry {
    shared: Arc<PodShared>,
    tasks: JoinSet<()>,
}

#[derive(Default)]
struct Pods {
    by_uid: HashMap<String, PodEntry>,
    by_name: HashMap<(String, String), String>,
}

struct Inner {
    cfg: Arc<NodeConfig>,
    pods: Mutex<Pods>,
    events: broadcast::Sender<PodEvent>,
    objects: ObjectsCell,
    /// The stand-ins' directory, once written.
    shims: OnceCell<PathBuf>,
    pod_logs: PodLogs,
    /// The trace metrics' start instants (see [`crate::traces`]).
    traces: Mutex<traces::Emitter>,
    /// Claims' folders → when their bytes were counted, and how many.
    volume_bytes: Mutex<HashMap<PathBuf, (Instant, u64)>>,
}

/// The node side of the demo cluster. Cheap to clone; one per demo cluster.
#[derive(Clone)]
pub struct NodeRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NodeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRuntime")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

impl NodeRuntime {
    pub fn new(mut cfg: NodeConfig) -> Self {
        // NB: processes run in their own working directories, so a relative scratch path
        // (`wharf demo --data .wharf/demo`) would point somewhere else for them.
        if let Ok(abs) = std::path::absolute(&cfg.scratch_dir) {
            cfg.scratch_dir = abs;
        }
        cfg.sandbox = cfg.sandbox.reaching(&cfg.scratch_dir);
        if let Some(reason) = cfg.sandbox.unavailable() {
            tracing::warn!("containers run unconfined: {reason}");
        }
        let mut logs_dir = cfg.pod_logs_dir();
        if let Ok(abs) = std::path::absolute(&logs_dir) {
            logs_dir = abs;
        }
        cfg.pod_logs_dir = Some(logs_dir.clone());
        let mut images = cfg.images_dir();
        if let Ok(abs) = std::path::absolute(&images) {
            images = abs;
        }
        cfg.images_dir = Some(images);
        let pod_logs = PodLogs::new(logs::cri::Settings {
            dir: logs_dir,
            by_node: cfg.pod_logs_by_node,
            max_size: cfg.container_log_max_size,
            max_files: cfg.container_log_max_files,
            flush_interval: cfg.log_flush_interval,
            linger: cfg.pod_logs_linger,
        });
        let (events, _) = broadcast::channel(4096);
        Self {
            inner: Arc::new(Inner {
                cfg: Arc::new(cfg),
                pods: Mutex::new(Pods::default()),
                events,
                objects: Arc::default(),
                shims: OnceCell::new(),
                pod_logs,
                traces: Mutex::default(),
                volume_bytes: Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.cfg
    }

    /// The node's `/var/log/pods`: containers' logs as CRI files, for a node log agent
    /// (see [`crate::logs::cri`]). Absolute. With [`NodeConfig::pod_logs_by_node`] it holds
    /// one folder per node instead: see [`pod_logs_dir_of`](Self::pod_logs_dir_of).
    pub fn pod_logs_dir(&self) -> &std::path::Path {
        self.inner.pod_logs.dir()
    }

    /// The `/var/log/pods` of node `node`, the folder to give that node's log agent
    /// (`wharf logs agent --node NODE --pods-dir DIR`). Absolute. With
    /// [`NodeConfig::pod_logs_by_node`] it is `<pods dir>/<node>`, created here if
    /// missing so an agent can start before the node runs a pod (`<pods dir>/_unscheduled`,
    /// [`crate::logs::cri::UNSCHEDULED`], when `node` is empty or not a valid node name);
    /// without it every node shares [`pod_logs_dir`](Self::pod_logs_dir).
    pub fn pod_logs_dir_of(&self, node: &str) -> PathBuf {
        let dir = self.inner.pod_logs.node_dir(node);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), "cannot create a node's pod log folder: {e}");
        }
        dir
    }

    /// Where containers' `secretKeyRef`, `configMapKeyRef` and `envFrom` read Secrets and
    /// ConfigMaps (the kubelet's API server). Without one, such references are "not found".
    pub fn set_object_source(&self, source: Arc<dyn ObjectSource>) {
        *self
            .inner
            .objects
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Starts everything a pod scheduled on this node runs: init containers in order, then
    /// its containers with their ports, logs and metrics. Idempotent per pod uid (a second
    /// call for a running uid does nothing). Fails only for a pod without uid, name or
    /// containers, or when its scratch directory cannot be made.
    pub async fn start_pod(&self, pod: &Pod, ip: Ipv4Addr) -> Result<()> {
        let plan = PodPlan::from_pod(pod)?;
        if lock(&self.inner.pods).by_uid.contains_key(&plan.uid) {
            return Ok(());
        }
        let scratch = &self.inner.cfg.scratch_dir;
        let bin_dir = self
            .inner
            .shims
            .get_or_try_init(|| shims::install(scratch))
            .await?
            .clone();
        let images = self.inner.cfg.images_dir();
        tokio::fs::create_dir_all(&images)
            .await
            .map_err(|e| Error::io(format!("create {}", images.display()), e))?;
        self.inner
            .cfg
            .sandbox
            .give(&images)
            .map_err(|e| Error::io(format!("hand {} to the sandbox", images.display()), e))?;
        let dir = process::pod_dir(scratch, &plan.namespace, &plan.name);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let first_reason = if plan.init_containers.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        let state = PodRuntimeState {
            namespace: plan.namespace.clone(),
            name: plan.name.clone(),
            uid: plan.uid.clone(),
            pod_ip: ip,
            start_time: Utc::now(),
            restart_policy: plan.restart_policy,
            init_containers: plan
                .init_containers
                .iter()
                .map(|c| ContainerRuntimeState::new(&c.name, &c.image, "PodInitializing"))
                .collect(),
            containers: plan
                .containers
                .iter()
                .map(|c| ContainerRuntimeState::new(&c.name, &c.image, first_reason))
                .collect(),
            ephemeral_containers: Vec::new(),
        };
        let shared = Arc::new(PodShared {
            slots: Mutex::new(
                plan.all_containers()
                    .map(|c| (c.name.clone(), Arc::default()))
                    .collect(),
            ),
            plan,
            ephemeral: Mutex::default(),
            ip,
            dir,
            cfg: self.inner.cfg.clone(),
            bin_dir,
            pod_logs: self.inner.pod_logs.clone(),
            objects: self.inner.objects.clone(),
            state: Mutex::new(state),
            events: self.inner.events.clone(),
        });
        let mut pods = lock(&self.inner.pods);
        if pods.by_uid.contains_key(&shared.plan.uid) {
            return Ok(());
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::lifecycle::run_pod(shared.clone()));
        let key = (shared.plan.namespace.clone(), shared.plan.name.clone());
        pods.by_name.insert(key, shared.plan.uid.clone());
        pods.by_uid.insert(
            shared.plan.uid.clone(),
            PodEntry {
                shared: shared.clone(),
                tasks,
            },
        );
        drop(pods);
        shared.announce(None);
        Ok(())
    }

    /// Starts the ephemeral containers of a running pod that are not started yet (those
    /// `kubectl debug` appends through `pods/ephemeralcontainers`); they are never
    /// restarted, and the ones already known are left alone. An unknown uid, or a pod
    /// that has finished, is ignored.
    pub fn start_ephemeral_containers(&self, uid: &str, containers: &[EphemeralContainer]) {
        let mut pods = lock(&self.inner.pods);
        let Some(entry) = pods.by_uid.get_mut(uid) else {
            return;
        };
        let shared = entry.shared.clone();
        if matches!(
            shared.state().phase(),
            PodPhase::Succeeded | PodPhase::Failed
        ) {
            return;
        }
        let mut started = false;
        for ec in containers {
            let known = lock(&shared.slots).contains_key(&ec.name);
            if known {
                continue;
            }
            let plan = shared.plan.ephemeral(ec);
            lock(&shared.slots).insert(plan.name.clone(), Arc::default());
            lock(&shared.state)
                .ephemeral_containers
                .push(ContainerRuntimeState::new(
                    &plan.name,
                    &plan.image,
                    "ContainerCreating",
                ));
            lock(&shared.ephemeral).push(plan.clone());
            entry
                .tasks
                .spawn(crate::lifecycle::run_ephemeral(shared.clone(), plan));
            started = true;
        }
        drop(pods);
        if started {
            shared.announce(None);
        }
    }

    /// Stops a pod that is gone (deleted or unbound): kills its processes, closes its
    /// ports, ends log followers, forgets its state and removes its scratch directory
    /// (unless configured to keep it); its log folder goes after
    /// [`NodeConfig::pod_logs_linger`]. Returns once all of that is done; an unknown uid
    /// is ignored.
    pub async fn stop_pod(&self, uid: &str) {
        self.stop(uid, true).await;
    }

    async fn stop(&self, uid: &str, gone: bool) {
        let entry = {
            let mut pods = lock(&self.inner.pods);
            let Some(entry) = pods.by_uid.remove(uid) else {
                return;
            };
            let key = (
                entry.shared.plan.namespace.clone(),
                entry.shared.plan.name.clone(),
            );
            if pods.by_name.get(&key).is_some_and(|u| u == uid) {
                pods.by_name.remove(&key);
            }
            entry
        };
        let PodEntry { shared, mut tasks } = entry;
        tasks.shutdown().await;
        let slots: Vec<Arc<ContainerSlot>> = lock(&shared.slots).values().cloned().collect();
        for slot in slots {
            if let Some(current) = &lock(&slot.logs).current {
                current.close();
            }
            *lock(&slot.metrics) = None;
            *lock(&slot.console) = None;
        }
        if !self.inner.cfg.keep_scratch_dirs {
            let _ = tokio::fs::remove_dir_all(&shared.dir).await;
        }
        if gone {
            let plan = &shared.plan;
            self.inner.pod_logs.remove_pod_later(
                &plan.node_name,
                &plan.namespace,
                &plan.name,
                &plan.uid,
            );
        }
        shared.announce(None);
    }

    /// Stops every pod as a node that shuts down: their log files are written out and
    /// kept (the pods are not gone), and log folders of pods deleted before are removed.
    pub async fn stop_all(&self) {
        for uid in self.pod_uids() {
            self.stop(&uid, false).await;
        }
        let pod_logs = self.inner.pod_logs.clone();
        let _ = tokio::task::spawn_blocking(move || pod_logs.flush_and_remove_all()).await;
    }

    /// Writes every container's queued log lines to its file now (the node does so every
    /// [`NodeConfig::log_flush_interval`] anyway). Blocking: call it off async code.
    pub fn flush_pod_logs(&self) {
        self.inner.pod_logs.flush();
    }

    /// Uids of the pods this runtime runs.
    pub fn pod_uids(&self) -> Vec<String> {
        lock(&self.inner.pods).by_uid.keys().cloned().collect()
    }

    /// The uid of the running pod with that namespace and name.
    pub fn pod_uid(&self, namespace: &str, name: &str) -> Option<String> {
        lock(&self.inner.pods)
            .by_name
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// The pod's container states as the kubelet would report them; `None` if not running
    /// here. Write it into the pod with [`PodRuntimeState::apply_to`].
    pub fn pod_state(&self, uid: &str) -> Option<PodRuntimeState> {
        self.shared(uid).map(|s| s.state())
    }

    /// Announces every state change and kubelet event of every pod. A lagging receiver
    /// (`RecvError::Lagged`) should re-read all pods' states.
    pub fn subscribe(&self) -> broadcast::Receiver<PodEvent> {
        self.inner.events.subscribe()
    }

    fn shared(&self, uid: &str) -> Option<Arc<PodShared>> {
        lock(&self.inner.pods)
            .by_uid
            .get(uid)
            .map(|e| e.shared.clone())
    }

    fn shared_by_name(&self, namespace: &str, pod: &str) -> Result<Arc<PodShared>> {
        let pods = lock(&self.inner.pods);
        pods.by_name
            .get(&(namespace.to_string(), pod.to_string()))
            .and_then(|uid| pods.by_uid.get(uid))
            .map(|e| e.shared.clone())
            .ok_or_else(|| Error::PodNotFound {
                namespace: namespace.into(),
                name: pod.into(),
            })
    }

    /// Which container a request means: the named one (containers and init containers),
    /// or the only container. Errors as the API server words them.
    pub fn resolve_container(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Result<String> {
        let shared = self.shared_by_name(namespace, pod)?;
        resolve(&shared, container).map(|c| c.name)
    }

    /// `GET pods/NAME/log`: the container's log with the kubelet's options (see
    /// [`LogOptions`]). With `follow` the stream ends when the container instance stops.
    pub fn logs(
        &self,
        namespace: &str,
        pod: &str,
        opts: &LogOptions,
    ) -> Result<BoxStream<'static, Bytes>> {
        let buf = self.log_buffer(namespace, pod, opts)?;
        Ok(logs::read(buf, opts))
    }

    /// The buffer `opts.container` and `opts.previous` choose.
    fn log_buffer(&self, namespace: &str, pod: &str, opts: &LogOptions) -> Result<Arc<LogBuffer>> {
        let shared = self.shared_by_name(namespace, pod)?;
        let plan = resolve(&shared, opts.container.as_deref())?;
        let slot = shared
            .slot(&plan.name)
            .ok_or_else(|| Error::ContainerNotFound {
                pod: pod.into(),
                container: plan.name.clone(),
            })?;
        let instances = lock(&slot.logs);
        let buf = if opts.previous {
            instances
                .previous
                .clone()
                .ok_or_else(|| Error::PreviousNotFound {
                    pod: pod.into(),
                    container: plan.name.clone(),
                })?
        } else {
            match instances.current.clone() {
                Some(b) => b,
                None => {
                    let reason = shared
                        .container_state(&plan.name)
                        .and_then(|c| c.state.waiting_reason().map(str::to_string))
                        .unwrap_or_else(|| "ContainerCreating".into());
                    return Err(Error::ContainerWaiting {
                        pod: pod.into(),
                        container: plan.name.clone(),
                        reason,
                    });
                }
            }
        };
        Ok(buf)
    }

    /// The lines a container instance's log holds now, with their times and streams —
    /// what `GET log` answers from (`previous` as there).
    pub fn log_lines(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<Vec<LogLine>> {
        let opts = LogOptions {
            container: container.map(str::to_string),
            previous,
            ..Default::default()
        };
        Ok(self.log_buffer(namespace, pod, &opts)?.snapshot().lines)
    }

    /// Whether exec and attach are allowed (the API server answers 403 when not).
    pub fn exec_allowed(&self) -> bool {
        self.inner.cfg.allow_exec
    }

    /// Runs `req.command` in the container (a real process in its scratch directory, under
    /// a pty when `tty`) and speaks the remotecommand protocol over an upgraded axum
    /// socket whose negotiated subprotocol is `protocol` (one of [`crate::SUPPORTED_PROTOCOLS`];
    /// anything else is treated as v4). Errors are reported on the error channel.
    pub async fn exec(
        &self,
        socket: axum::extract::ws::WebSocket,
        protocol: &str,
        req: ExecRequest,
    ) {
        let proto = Protocol::parse(protocol).unwrap_or(Protocol::V4);
        let streams = Streams {
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            tty: req.tty,
        };
        let spawned = self
            .spawn_exec(&req)
            .await
            .unwrap_or_else(|e| Spawned::failed(e.to_string()));
        protocol::serve_websocket(socket, proto, streams, &req.command, spawned).await;
    }

    /// [`exec`](Self::exec) over any frame stream and sink (for tests and other transports).
    pub async fn exec_over<I, O>(
        &self,
        incoming: I,
        outgoing: O,
        protocol: Protocol,
        req: ExecRequest,
    ) where
        I: Stream<Item = Bytes> + Unpin,
        O: Sink<Bytes> + Unpin,
    {
        let streams = Streams {
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            tty: req.tty,
        };
        let spawned = self
            .spawn_exec(&req)
            .await
            .unwrap_or_else(|e| Spawned::failed(e.to_string()));
        protocol::run_session(incoming, outgoing, protocol, streams, &req.command, spawned).await;
    }

    /// Attaches to a running container: its live log as stdout, stdin echoed back.
    pub async fn attach(
        &self,
        socket: axum::extract::ws::WebSocket,
        protocol: &str,
        req: AttachRequest,
    ) {
        let proto = Protocol::parse(protocol).unwrap_or(Protocol::V4);
        let streams = Streams {
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            tty: req.tty,
        };
        let spawned = self
            .spawn_attach(&req)
            .unwrap_or_else(|e| Spawned::failed(e.to_string()));
        protocol::serve_websocket(socket, proto, streams, &[], spawned).await;
    }

    /// [`attach`](Self::attach) over any frame stream and sink.
    pub async fn attach_over<I, O>(
        &self,
        incoming: I,
        outgoing: O,
        protocol: Protocol,
        req: AttachRequest,
    ) where
        I: Stream<Item = Bytes> + Unpin,
        O: Sink<Bytes> + Unpin,
    {
        let streams = Streams {
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            tty: req.tty,
        };
        let spawned = self
            .spawn_attach(&req)
            .unwrap_or_else(|e| Spawned::failed(e.to_string()));
        protocol::run_session(incoming, outgoing, protocol, streams, &[], spawned).await;
    }

    fn running_container(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Result<(Arc<PodShared>, ContainerPlan)> {
        if !self.exec_allowed() {
            return Err(Error::ExecForbidden);
        }
        let shared = self.shared_by_name(namespace, pod)?;
        let plan = resolve(&shared, container)?;
        let running = shared
            .container_state(&plan.name)
            .is_some_and(|c| c.state.is_running());
        if !running {
            return Err(Error::ContainerNotRunning {
                container: plan.name,
            });
        }
        Ok((shared, plan))
    }

    async fn spawn_exec(&self, req: &ExecRequest) -> Result<Spawned> {
        let (shared, plan) =
            self.running_container(&req.namespace, &req.pod, req.container.as_deref())?;
        let Some(argv0) = req.command.first() else {
            return Err(Error::BadRequest(
                "you must specify at least one command for the container".into(),
            ));
        };
        let fail = |msg: String| {
            use rand::Rng;
            let id: [u8; 32] = rand::rng().random();
            Spawned::failed(format!(
                "error executing command in container: failed to exec in container: failed to start exec \"{}\": OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown",
                hex::encode(id)
            ))
        };
        if let Err(msg) = plan.missing_programs.check(argv0) {
            return Ok(fail(msg));
        }
        let (cwd, mut env, command) = shared.exec_setup(&plan, &req.command).await?;
        Ok(if req.tty {
            env.retain(|(k, _)| k != "TERM" && k != "PS1");
            env.push(("TERM".into(), "xterm".into()));
            // The prompt names the pod, not this host: `sh` reads PS1 from the environment,
            // bash from ~/.bashrc (HOME is the container's directory), after the host's
            // /etc/bash.bashrc has set its own.
            let pod = &shared.plan.name;
            env.push(("PS1".into(), format!("${{USER:-root}}@{pod}:$PWD# ")));
            let bashrc = cwd.join(".bashrc");
            if !bashrc.exists()
                && std::fs::write(&bashrc, format!("PS1='\\u@{pod}:\\w\\$ '\n")).is_ok()
            {
                let _ = shared.cfg.sandbox.give(&bashrc);
            }
            match shared.launch(&plan, &command, true, &cwd, &env) {
                Ok(launch) => exec::pty::spawn(&launch, &cwd, &env).unwrap_or_else(fail),
                Err(msg) => fail(msg),
            }
        } else {
            match shared.launch(&plan, &command, false, &cwd, &env) {
                Ok(launch) => {
                    exec::pipes::spawn(&launch, &cwd, &env, req.stdin).unwrap_or_else(fail)
                }
                Err(msg) => fail(msg),
            }
        })
    }

    fn spawn_attach(&self, req: &AttachRequest) -> Result<Spawned> {
        let (shared, plan) =
            self.running_container(&req.namespace, &req.pod, req.container.as_deref())?;
        let slot = shared.slot(&plan.name);
        if let Some(console) = slot.as_ref().and_then(|s| lock(&s.console).clone()) {
            return Ok(console.attach());
        }
        let log =
            slot.and_then(|s| lock(&s.logs).current.clone())
                .ok_or(Error::ContainerNotRunning {
                    container: plan.name.clone(),
                })?;
        Ok(exec::attach::spawn(log))
    }

    /// Prometheus text exposition of every container of every pod (cAdvisor's names), the
    /// kubelet's `kubelet_volume_stats_*` of every claim a running pod mounts, followed by the OpenTelemetry Collector's servicegraph and spanmetrics series of the
    /// traced apps ([`crate::traces`]; the runtime hosts every node's pods, so both ends of
    /// a call are seen here).
    pub fn metrics_text(&self) -> String {
        let mut rows = Vec::new();
        let all = self.all_shared();
        for shared in &all {
            let state = shared.state();
            for plan in shared.plan.all_containers() {
                let Some(c) = state.container(&plan.name) else {
                    continue;
                };
                let sample = shared.slot(&plan.name).and_then(|s| {
                    lock(&s.metrics)
                        .as_ref()
                        .map(|m| (m.sample(), m.started_wall))
                });
                rows.push(ContainerRow {
                    namespace: shared.plan.namespace.clone(),
                    pod: shared.plan.name.clone(),
                    pod_uid: shared.plan.uid.clone(),
                    container: plan.name.clone(),
                    image: plan.image.clone(),
                    container_id: c.container_id.clone(),
                    restart_count: c.restart_count,
                    cpu_limit_millicores: plan.cpu_limit_millicores,
                    memory_limit_bytes: plan.memory_limit_bytes,
                    sample,
                });
            }
        }
        rows.sort_by(|a, b| {
            (&a.namespace, &a.pod, &a.container).cmp(&(&b.namespace, &b.pod, &b.container))
        });
        let mut text = metrics::render(&rows);
        text.push_str(&metrics::render_volume_stats(&self.volume_rows(&all)));
        let pods: Vec<traces::PodInput> = all.iter().filter_map(|s| traces::pod_input(s)).collect();
        text.push_str(&lock(&self.inner.traces).render(&pods, Instant::now()));
        text
    }

    /// Volume stats of every claim a running pod mounts, each claim once; the bytes
    /// used are walked at most once per [`NodeConfig::volume_stats_ttl`] per folder.
    fn volume_rows(&self, pods: &[Arc<PodShared>]) -> Vec<metrics::VolumeRow> {
        let Some(source) = self
            .inner
            .objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return Vec::new();
        };
        let mut claims: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
        for shared in pods {
            let running = shared
                .state()
                .containers
                .iter()
                .any(|c| c.state.is_running());
            if !running {
                continue;
            }
            let ns = &shared.plan.namespace;
            for c in shared.plan.claims.values() {
                if let Some(folder) = source.claim_folder(ns, &c.claim_name) {
                    claims.insert((ns.clone(), c.claim_name.clone()), folder);
                }
            }
        }
        let ttl = self.inner.cfg.volume_stats_ttl;
        let mut cache = lock(&self.inner.volume_bytes);
        let now = Instant::now();
        cache.retain(|_, (at, _)| now.duration_since(*at) < ttl);
        claims
            .into_iter()
            .map(|((namespace, claim), folder)| {
                let used_bytes = cache
                    .entry(folder.clone())
                    .or_insert_with(|| (now, metrics::dir_bytes(&folder)))
                    .1;
                metrics::VolumeRow {
                    capacity_bytes: source.claim_capacity(&namespace, &claim),
                    namespace,
                    claim,
                    used_bytes,
                }
            })
            .collect()
    }

    /// Usage of every pod with a running container, for `metrics.k8s.io` `PodMetrics`.
    pub fn pod_metrics(&self) -> Vec<PodUsage> {
        let mut out: Vec<PodUsage> = self
            .all_shared()
            .into_iter()
            .filter_map(|shared| {
                let containers: Vec<ContainerUsage> = shared
                    .plan
                    .containers
                    .iter()
                    .filter_map(|plan| {
                        let slot = shared.slot(&plan.name)?;
                        let m = lock(&slot.metrics);
                        let s = m.as_ref()?.sample();
                        Some(ContainerUsage {
                            name: plan.name.clone(),
                            cpu_nanocores: (s.cpu_cores * 1e9).round() as u64,
                            memory_bytes: s.memory_working_set_bytes as u64,
                        })
                    })
                    .collect();
                (!containers.is_empty()).then(|| PodUsage {
                    namespace: shared.plan.namespace.clone(),
                    name: shared.plan.name.clone(),
                    timestamp: Utc::now(),
                    window: Duration::from_secs(15),
                    containers,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out
    }

    fn all_shared(&self) -> Vec<Arc<PodShared>> {
        lock(&self.inner.pods)
            .by_uid
            .values()
            .map(|e| e.shared.clone())
            .collect()
    }
}

fn resolve(shared: &PodShared, container: Option<&str>) -> Result<ContainerPlan> {
    let plan = &shared.plan;
    match container.filter(|c| !c.is_empty()) {
        Some(name) => shared
            .container_plan(name)
            .ok_or_else(|| Error::ContainerNotFound {
                pod: plan.name.clone(),
                container: name.into(),
            }),
        None if plan.containers.len() == 1 => Ok(plan.containers[0].clone()),
        None => Err(Error::ContainerRequired {
            pod: plan.name.clone(),
            choices: plan.containers.iter().map(|c| c.name.clone()).collect(),
        }),
    }
}
