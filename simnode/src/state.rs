//! Container and pod states as a kubelet reports them, and their translation into the
//! `PodStatus` a controller writes back to the API server.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::plan::RestartPolicy;

/// A finished container instance (`state.terminated` / `lastState.terminated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    /// `Completed`, `Error`, `StartError`, `OOMKilled`, …
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub container_id: String,
}

/// The state of the current instance of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// `ContainerCreating`, `PodInitializing`, `CrashLoopBackOff`, `ErrImagePull`, `ImagePullBackOff`.
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: DateTime<Utc>,
    },
    Terminated(Terminated),
}

impl ContainerState {
    pub(crate) fn waiting(reason: &str, message: Option<String>) -> Self {
        ContainerState::Waiting {
            reason: reason.to_string(),
            message,
        }
    }

    /// The waiting reason, if waiting.
    pub fn waiting_reason(&self) -> Option<&str> {
        match self {
            ContainerState::Waiting { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running { .. })
    }

    /// The terminated state, if terminated.
    pub fn terminated(&self) -> Option<&Terminated> {
        match self {
            ContainerState::Terminated(t) => Some(t),
            _ => None,
        }
    }

    fn to_k8s(&self) -> core::ContainerState {
        match self {
            ContainerState::Waiting { reason, message } => core::ContainerState {
                waiting: Some(core::ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: message.clone(),
                }),
                ..Default::default()
            },
            ContainerState::Running { started_at } => core::ContainerState {
                running: Some(core::ContainerStateRunning {
                    started_at: Some(k8s_time(*started_at)),
                }),
                ..Default::default()
            },
            ContainerState::Terminated(t) => core::ContainerState {
                terminated: Some(t.to_k8s()),
                ..Default::default()
            },
        }
    }
}

impl Terminated {
    fn to_k8s(&self) -> core::ContainerStateTerminated {
        core::ContainerStateTerminated {
            container_id: Some(self.container_id.clone()),
            exit_code: self.exit_code,
            reason: Some(self.reason.clone()),
            message: self.message.clone(),
            started_at: self.started_at.map(k8s_time),
            finished_at: Some(k8s_time(self.finished_at)),
            signal: None,
        }
    }
}

/// One container's status, as in `status.containerStatuses[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRuntimeState {
    pub name: String,
    pub image: String,
    /// `docker.io/library/nginx@sha256:…` once pulled, empty before.
    pub image_id: String,
    /// `containerd://…` of the current instance, empty before the first start.
    pub container_id: String,
    pub state: ContainerState,
    pub last_state: Option<Terminated>,
    pub ready: bool,
    pub started: bool,
    pub restart_count: i32,
}

impl ContainerRuntimeState {
    pub(crate) fn new(name: &str, image: &str, reason: &str) -> Self {
        Self {
            name: name.to_string(),
            image: image.to_string(),
            image_id: String::new(),
            container_id: String::new(),
            state: ContainerState::waiting(reason, None),
            last_state: None,
            ready: false,
            started: false,
            restart_count: 0,
        }
    }

    /// The Kubernetes `ContainerStatus`.
    pub fn to_status(&self) -> core::ContainerStatus {
        core::ContainerStatus {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: self.image_id.clone(),
            container_id: (!self.container_id.is_empty()).then(|| self.container_id.clone()),
            ready: self.ready,
            started: Some(self.started),
            restart_count: self.restart_count,
            state: Some(self.state.to_k8s()),
            last_state: Some(
                self.last_state
                    .as_ref()
                    .map(|t| core::ContainerState {
                        terminated: Some(t.to_k8s()),
                        ..Default::default()
                    })
                    .unwrap_or_default(),
            ),
            ..Default::default()
        }
    }

    /// Whether this container will not run again (terminated and not restarting).
    fn finished(&self) -> bool {
        matches!(self.state, ContainerState::Terminated(_))
    }
}

/// The pod's phase, computed as the kubelet does from its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl PodPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
        }
    }
}

/// Everything the node knows about a pod's containers; see [`PodRuntimeState::apply_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRuntimeState {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub pod_ip: Ipv4Addr,
    pub start_time: DateTime<Utc>,
    pub restart_policy: RestartPolicy,
    pub init_containers: Vec<ContainerRuntimeState>,
    pub containers: Vec<ContainerRuntimeState>,
    /// Debug containers added while the pod runs; they do not count for phase or readiness.
    pub ephemeral_containers: Vec<ContainerRuntimeState>,
}

impl PodRuntimeState {
    /// A container, init container or ephemeral container by name.
    pub fn container(&self, name: &str) -> Option<&ContainerRuntimeState> {
        self.containers
            .iter()
            .chain(&self.init_containers)
            .chain(&self.ephemeral_containers)
            .find(|c| c.name == name)
    }

    pub(crate) fn container_mut(&mut self, name: &str) -> Option<&mut ContainerRuntimeState> {
        self.containers
            .iter_mut()
            .chain(self.init_containers.iter_mut())
            .chain(self.ephemeral_containers.iter_mut())
            .find(|c| c.name == name)
    }

    /// All init containers terminated with exit code 0.
    pub fn initialized(&self) -> bool {
        self.init_containers
            .iter()
            .all(|c| c.state.terminated().is_some_and(|t| t.exit_code == 0))
    }

    /// Every container is ready.
    pub fn ready(&self) -> bool {
        self.initialized() && self.containers.iter().all(|c| c.ready)
    }

    /// The phase, following the kubelet's `getPhase`.
    pub fn phase(&self) -> PodPhase {
        let policy = self.restart_policy;
        for c in &self.init_containers {
            match &c.state {
                ContainerState::Terminated(t) if t.exit_code == 0 => {}
                ContainerState::Terminated(_) if policy == RestartPolicy::Never => {
                    return PodPhase::Failed
                }
                _ => return PodPhase::Pending,
            }
        }
        let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for c in &self.containers {
            match &c.state {
                ContainerState::Running { .. } => running += 1,
                ContainerState::Terminated(t) => {
                    stopped += 1;
                    if t.exit_code == 0 {
                        succeeded += 1;
                    }
                }
                ContainerState::Waiting { .. } if c.last_state.is_some() => stopped += 1,
                ContainerState::Waiting { .. } => waiting += 1,
            }
        }
        if waiting > 0 {
            PodPhase::Pending
        } else if running > 0 {
            PodPhase::Running
        } else if stopped > 0 {
            if policy == RestartPolicy::Always || self.containers.iter().any(|c| !c.finished()) {
                PodPhase::Running
            } else if stopped == succeeded {
                PodPhase::Succeeded
            } else if policy == RestartPolicy::Never || self.containers.iter().all(|c| c.finished())
            {
                PodPhase::Failed
            } else {
                PodPhase::Running
            }
        } else {
            PodPhase::Pending
        }
    }

    /// Writes what the kubelet owns into `status`: phase, pod IP(s), start time, container,
    /// init container and ephemeral container statuses, and the `Initialized`,
    /// `ContainersReady`, `Ready` and `PodReadyToStartContainers` conditions (keeping
    /// `lastTransitionTime` when a condition did not change, and leaving others such as
    /// `PodScheduled` alone). `hostIP` is the scheduler's business and is not touched.
    pub fn apply_to(&self, status: &mut core::PodStatus) {
        status.phase = Some(self.phase().as_str().to_string());
        status.pod_ip = Some(self.pod_ip.to_string());
        status.pod_ips = Some(vec![core::PodIP {
            ip: self.pod_ip.to_string(),
        }]);
        status.start_time = Some(k8s_time(self.start_time));
        status.container_statuses = Some(self.containers.iter().map(|c| c.to_status()).collect());
        status.init_container_statuses = (!self.init_containers.is_empty())
            .then(|| self.init_containers.iter().map(|c| c.to_status()).collect());
        status.ephemeral_container_statuses = (!self.ephemeral_containers.is_empty()).then(|| {
            self.ephemeral_containers
                .iter()
                .map(|c| c.to_status())
                .collect()
        });

        let phase = self.phase();
        let done = matches!(phase, PodPhase::Succeeded | PodPhase::Failed);
        let containers_ready = self.initialized() && self.containers.iter().all(|c| c.ready);
        let (not_ready_reason, not_ready_message) = if containers_ready {
            (None, None)
        } else if done {
            (Some("PodCompleted".to_string()), None)
        } else if !self.initialized() {
            let pending: Vec<_> = self
                .init_containers
                .iter()
                .filter(|c| c.state.terminated().is_none_or(|t| t.exit_code != 0))
                .map(|c| c.name.as_str())
                .collect();
            (
                Some("ContainersNotInitialized".to_string()),
                Some(format!(
                    "containers with incomplete status: [{}]",
                    pending.join(" ")
                )),
            )
        } else {
            let unready: Vec<_> = self
                .containers
                .iter()
                .filter(|c| !c.ready)
                .map(|c| c.name.as_str())
                .collect();
            (
                Some("ContainersNotReady".to_string()),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            )
        };
        let init_done = self.initialized();
        let wanted = [
            ("PodReadyToStartContainers", !done, None, None),
            (
                "Initialized",
                init_done,
                (!init_done).then(|| "ContainersNotInitialized".to_string()),
                if init_done {
                    None
                } else {
                    not_ready_message.clone()
                },
            ),
            (
                "ContainersReady",
                containers_ready,
                not_ready_reason.clone(),
                not_ready_message.clone(),
            ),
            (
                "Ready",
                containers_ready,
                not_ready_reason,
                not_ready_message,
            ),
        ];
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let now = k8s_time(Utc::now());
        for (type_, ok, reason, message) in wanted {
            let status_str = if ok { "True" } else { "False" }.to_string();
            match conditions.iter_mut().find(|c| c.type_ == type_) {
                Some(c) => {
                    if c.status != status_str {
                        c.last_transition_time = Some(now.clone());
                    }
                    c.status = status_str;
                    c.reason = reason;
                    c.message = message;
                }
                None => conditions.push(core::PodCondition {
                    type_: type_.to_string(),
                    status: status_str,
                    reason,
                    message,
                    last_transition_time: Some(now.clone()),
                    ..Default::default()
                }),
            }
        }
    }
}

/// chrono → the API's `Time`.
pub fn k8s_time(t: DateTime<Utc>) -> Time {
    let ts = k8s_openapi::jiff::Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Time(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(state: ContainerState, last: bool, ready: bool) -> ContainerRuntimeState {
        let mut c = ContainerRuntimeState::new("c", "img", "ContainerCreating");
        c.state = state;
        c.ready = ready;
        if last {
            c.last_state = Some(term(1));
        }
        c
    }

    fn term(code: i32) -> Terminated {
        Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: None,
            finished_at: Utc::now(),
            container_id: "containerd://x".into(),
        }
    }

    fn pod(
        policy: RestartPolicy,
        init: Vec<ContainerRuntimeState>,
        cs: Vec<ContainerRuntimeState>,
    ) -> PodRuntimeState {
        PodRuntimeState {
            namespace: "ns".into(),
            name: "p".into(),
            uid: "u".into(),
            pod_ip: Ipv4Addr::new(127, 1, 0, 1),
            start_time: Utc::now(),
            restart_policy: policy,
            init_containers: init,
            containers: cs,
            ephemeral_containers: vec![],
        }
    }

    #[test]
    fn phases_follow_the_kubelet() {
        use ContainerState::*;
        let running = || Running {
            started_at: Utc::now(),
        };
        let creating = || ContainerState::waiting("ContainerCreating", None);
        let backoff = || ContainerState::waiting("CrashLoopBackOff", None);
        assert_eq!(
            pod(
                RestartPolicy::Always,
                vec![],
                vec![c(creating(), false, false)]
            )
            .phase(),
            PodPhase::Pending
        );
        assert_eq!(
            pod(
                RestartPolicy::Always,
                vec![],
                vec![c(running(), false, true)]
            )
            .phase(),
            PodPhase::Running
        );
        assert_eq!(
            pod(
                RestartPolicy::Always,
                vec![],
                vec![c(backoff(), true, false)]
            )
            .phase(),
            PodPhase::Running
        );
        assert_eq!(
            pod(
                RestartPolicy::Never,
                vec![],
                vec![c(Terminated(term(0)), false, false)]
            )
            .phase(),
            PodPhase::Succeeded
        );
        assert_eq!(
            pod(
                RestartPolicy::Never,
                vec![],
                vec![c(Terminated(term(3)), false, false)]
            )
            .phase(),
            PodPhase::Failed
        );
        assert_eq!(
            pod(
                RestartPolicy::Never,
                vec![c(running(), false, false)],
                vec![c(creating(), false, false)]
            )
            .phase(),
            PodPhase::Pending
        );
        assert_eq!(
            pod(
                RestartPolicy::Never,
                vec![c(Terminated(term(2)), false, false)],
                vec![c(creating(), false, false)]
            )
            .phase(),
            PodPhase::Failed
        );
    }

    #[test]
    fn apply_to_writes_statuses_and_conditions() {
        let p = pod(
            RestartPolicy::Always,
            vec![],
            vec![c(
                ContainerState::Running {
                    started_at: Utc::now(),
                },
                false,
                true,
            )],
        );
        let mut status = core::PodStatus {
            conditions: Some(vec![core::PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        p.apply_to(&mut status);
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.pod_ip.as_deref(), Some("127.1.0.1"));
        let conds = status.conditions.as_ref().unwrap();
        let get = |t: &str| {
            conds
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.clone())
        };
        assert_eq!(get("PodScheduled").as_deref(), Some("True"));
        assert_eq!(get("Ready").as_deref(), Some("True"));
        assert_eq!(get("Initialized").as_deref(), Some("True"));
        let cs = &status.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready);
        assert!(cs.state.as_ref().unwrap().running.is_some());
        assert!(status.init_container_statuses.is_none());
    }
}
