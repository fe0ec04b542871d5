//! What a node of Wharf's demo cluster runs.
//!
//! The demo cluster (crate `sim`) is a stand-in for a Kubernetes cluster in demos and
//! tests, not a replacement for one. This crate is its node side — the part a kubelet and
//! a container runtime would play — as a library with one entry point, [`NodeRuntime`]:
//!
//! - every declared TCP `containerPort` answers HTTP/1.x on the pod's loopback IP
//!   (`127.x.y.z`, see [`IpAllocator`]) with a small page naming the pod ([`http`]);
//! - containers go through the kubelet's states (ContainerCreating, Running, Ready,
//!   CrashLoopBackOff, ErrImagePull, Completed, …), driven by the pod spec ([`plan`],
//!   [`lifecycle`]); [`PodRuntimeState::apply_to`] writes them into a `PodStatus`;
//! - Job pods (restartPolicy `Never`/`OnFailure`) really run their containers' commands as
//!   local processes in a scratch directory; long-running containers are simulated apps
//!   that write realistic logs ([`process`], [`logs`]);
//! - except images a pipeline built on the demo cluster from an uploaded artifact: a
//!   long-running container whose image pins `@sha256:<digest>` of an image the executor
//!   stand-in stored in the node's images folder ([`NodeConfig::images_dir`]), labelled
//!   [`image::ARTIFACT_LABEL`] (images built from git stay simulated apps: the demo's
//!   builds compile nothing, so their outputs are made up), runs the Dockerfile's `ENTRYPOINT`/`CMD`
//!   (or the pod's `command`/`args`) as a local process with the build context's files at
//!   their image paths, the Dockerfile's `ENV` and `POD_IP`; the host's programs stand in
//!   for the base image's, `RUN` steps are not replayed. It must listen on its pod IP
//!   (`${POD_IP:-0.0.0.0}`); the node does not serve its ports, and without a readiness
//!   probe it is Ready once each declared TCP port accepts a connection. Its output is
//!   its log, an exit restarts it with back-off ([`image`]);
//! - liveness, readiness and startup probes (`httpGet`, `tcpSocket`, `exec`) run as the
//!   kubelet runs them, with its thresholds, `Unhealthy` events and restarts; a simulated
//!   app answers `/status/<code>` with that status, so a probe can fail on purpose
//!   ([`probes`], [`http`]);
//! - `configMap`, `secret`, `downwardAPI` and `projected` volumes are files the node
//!   writes (items, modes, `optional`) and keeps up to date while the pod runs, mounted
//!   read-only (`subPath` mounts are copies, never updated); a missing ConfigMap or
//!   Secret keeps the pod in ContainerCreating with a `FailedMount` event ([`volumes`]);
//! - containers' environment comes from `env`, `envFrom`, Secrets, ConfigMaps and the
//!   downward API, resolved when each container starts; a missing Secret keeps it in
//!   `CreateContainerConfigError` ([`env`]);
//! - a `persistentVolumeClaim` volume is the bound volume's folder on this host, which the
//!   [`ObjectSource`] names ([`ObjectSource::claim_folder`]): its files outlive the pod;
//!   read-only with `readOnly` (in the sandbox); a claim it cannot find bound keeps the
//!   pod in ContainerCreating with a `FailedMount` event until it is ([`volumes`],
//!   [`process`], [`sandbox`]);
//! - a process container's `terminationMessagePath` becomes a file whose content is
//!   `terminated.message`, with `FallbackToLogsOnError` ([`termination`], [`paths`]);
//! - CI builder tools have stand-ins first on PATH: `executor` for kaniko and
//!   `sonar-scanner` ([`shims`]) — the demo cluster's, not the real tools, which run on a
//!   real cluster;
//! - `GET pods/NAME/log` options are implemented exactly ([`logs::LogOptions`]), from a
//!   bounded buffer per container instance that knows each line's time and stream;
//! - the same lines are written as the kubelet's CRI log files, for a node log agent:
//!   `<pods dir>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`, records
//!   `<RFC3339Nano> <stdout|stderr> <F|P> <text>` with lines over 16 KiB cut into `P` parts
//!   as containerd does, rotated at `containerLogMaxSize` to `<n>.log.<stamp>` with older
//!   files gzip-compressed, at most `containerLogMaxFiles` kept, written out every
//!   `log_flush_interval` by a thread of the node (never by the simulated process), and a
//!   deleted pod's folder removed after `pod_logs_linger`. The pods dir is
//!   `<node folder>/pods` unless [`NodeConfig::pod_logs_dir`] says otherwise;
//!   [`NodeRuntime::pod_logs_dir`] tells an agent where it is ([`logs::cri`]). With
//!   [`NodeConfig::pod_logs_by_node`] (the demo cluster sets it) every node of the
//!   cluster gets its own `/var/log/pods`, `<pods dir>/<spec.nodeName>/<namespace>_<pod>_<uid>/…`
//!   (`_unscheduled` for a pod without a valid node name), for one agent per node:
//!   [`NodeRuntime::pod_logs_dir_of`] gives a node's folder;
//! - exec and attach speak the `v4`/`v5.channel.k8s.io` WebSocket protocols, with a real
//!   pseudo-terminal for `tty=true` ([`exec`]); an image can lack programs, which then
//!   fail to exec as runc says ([`programs`]);
//! - ephemeral containers (`kubectl debug`) run their command, or an interactive shell on
//!   a pty that attach connects to ([`NodeRuntime::start_ephemeral_containers`]);
//! - cAdvisor-style metrics in Prometheus text and for `metrics.k8s.io` ([`metrics`]),
//!   with the kubelet's `kubelet_volume_stats_*` of the claims running pods mount;
//! - for apps whose OpenTelemetry Java agent is on (the APM switch's), the series an
//!   OpenTelemetry Collector's `servicegraph` and `spanmetrics` connectors would export, in
//!   the same Prometheus text, from the calls the pods' annotations declare ([`traces`]).
//!
//! # Knobs in the pod spec
//! | container env | pod annotation | effect |
//! | --- | --- | --- |
//! | `WHARF_SIM_CRASH_AFTER=<s>` | `sim.wharf.dev/crash-after` | exit 1 after `s` seconds, then restart with back-off |
//! | `WHARF_SIM_EXIT=<code>` | `sim.wharf.dev/exit-code` | exit with `code` at once |
//! | `WHARF_SIM_LEAK=threads\|sockets\|fds` | `sim.wharf.dev/leak` | that count climbs steadily |
//! | `WHARF_SIM_CPU=<millicores>` | `sim.wharf.dev/cpu` | pin CPU usage |
//! | `WHARF_SIM_LOG_RATE=<lines/s>` | `sim.wharf.dev/log-rate` | override the log rate |
//! | | `sim.wharf.dev/missing-programs` | `tar,bash` or `*`: programs the images lack (images named `distroless` lack all) |
//! | | `sim.wharf.dev/calls` | `payments, billing/invoices@900ms!5%, db:orders-db@1.2s`: calls the app makes, for the trace metrics ([`traces::parse_calls`]) |
//!
//! Images tagged `:bad` or named `doesnotexist` fail to pull (ErrImagePull, ImagePullBackOff).
//! An image reference `…@sha256:<64 hex>` whose digest is in the images folder
//! (`<images>/sha256-<hex>/`, kept there by the executor stand-in, which every process
//! container finds as `WHARF_SIM_IMAGES`) and whose Dockerfile carries
//! [`image::ARTIFACT_LABEL`] runs as a built image ([`image`]); any other image of a
//! long-running container is a simulated app.

mod console;
pub mod env;
pub mod error;
pub mod exec;
pub mod http;
pub mod image;
pub mod ip;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod paths;
pub mod plan;
pub mod probes;
pub mod process;
pub mod programs;
pub mod runtime;
pub mod sandbox;
pub mod shims;
pub mod state;
pub mod termination;
pub mod traces;
pub mod volumes;

pub use env::ObjectSource;
pub use error::{Error, Result};
pub use exec::{AttachRequest, ExecRequest, SUPPORTED_PROTOCOLS};
pub use ip::IpAllocator;
pub use logs::LogOptions;
pub use metrics::{ContainerUsage, PodUsage};
pub use runtime::{KubeletEvent, NodeConfig, NodeRuntime, PodEvent};
pub use state::{ContainerRuntimeState, ContainerState, PodPhase, PodRuntimeState, Terminated};
