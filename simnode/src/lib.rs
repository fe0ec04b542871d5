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
//! - `GET pods/NAME/log` options are implemented exactly ([`logs::LogOptions`]);
//! - exec and attach speak the `v4`/`v5.channel.k8s.io` WebSocket protocols, with a real
//!   pseudo-terminal for `tty=true` ([`exec`]);
//! - cAdvisor-style metrics in Prometheus text and for `metrics.k8s.io` ([`metrics`]).
//!
//! # Knobs in the pod spec
//! | container env | pod annotation | effect |
//! | --- | --- | --- |
//! | `WHARF_SIM_CRASH_AFTER=<s>` | `sim.wharf.dev/crash-after` | exit 1 after `s` seconds, then restart with back-off |
//! | `WHARF_SIM_EXIT=<code>` | `sim.wharf.dev/exit-code` | exit with `code` at once |
//! | `WHARF_SIM_LEAK=threads\|sockets\|fds` | `sim.wharf.dev/leak` | that count climbs steadily |
//! | `WHARF_SIM_CPU=<millicores>` | `sim.wharf.dev/cpu` | pin CPU usage |
//! | `WHARF_SIM_LOG_RATE=<lines/s>` | `sim.wharf.dev/log-rate` | override the log rate |
//!
//! Images tagged `:bad` or named `doesnotexist` fail to pull (ErrImagePull, ImagePullBackOff).

pub mod error;
pub mod exec;
pub mod http;
pub mod ip;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod plan;
pub mod process;
pub mod runtime;
pub mod state;

pub use error::{Error, Result};
pub use exec::{AttachRequest, ExecRequest, SUPPORTED_PROTOCOLS};
pub use ip::IpAllocator;
pub use logs::LogOptions;
pub use metrics::{ContainerUsage, PodUsage};
pub use runtime::{KubeletEvent, NodeConfig, NodeRuntime, PodEvent};
pub use state::{ContainerRuntimeState, ContainerState, PodPhase, PodRuntimeState, Terminated};
