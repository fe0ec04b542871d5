//! Liveness, readiness and startup probes, run as the kubelet's prober workers run them.
//!
//! A probe is `httpGet` (scheme HTTP; `path`, `port` by number or by the name of one of
//! the container's ports, `host` defaulting to the pod IP, `httpHeaders` over the
//! kubelet's `User-Agent: kube-probe/1.31` and `Accept: */*`; a status from 200 to 399
//! succeeds), `tcpSocket` (a connection is accepted) or `exec` (the command runs in the
//! container exactly as a `kubectl exec` without a terminal does in this demo — the same
//! sandbox, environment and path rewriting, see [`crate::NodeRuntime::exec`] — and exit
//! code 0 succeeds; its output is the failure message). `grpc` probes are not supported
//! and error. Scheme HTTPS fails as a Go client does against a plain HTTP server.
//!
//! Each probe of a running container is tried after `initialDelaySeconds`, then every
//! `periodSeconds` (default 10), each try bounded by `timeoutSeconds` (1). The result
//! changes only after `successThreshold` (1) consecutive successes or `failureThreshold`
//! (3) consecutive failures, as in the kubelet's `worker.go`:
//!
//! - readiness starts as failed: the container is `ready=false` until it succeeds (so the
//!   pod's `Ready` condition and the Services' endpoints follow), and again whenever it
//!   fails `failureThreshold` times in a row;
//! - liveness failing `failureThreshold` times kills the container (exit code 137) with the
//!   kubelet's `Killing` event `Container x failed liveness probe, will be restarted`, and
//!   the pod's `restartPolicy` restarts it (see [`crate::lifecycle`]);
//! - a startup probe holds the others back (and keeps `started=false`) until it succeeds;
//!   failing `failureThreshold` times kills the container as liveness does.
//!
//! Every failed try records the kubelet's `Unhealthy` event, e.g. `Readiness probe failed:
//! HTTP probe failed with statuscode: 503` or `Liveness probe failed: Get
//! "http://127.1.0.5:8080/x": dial tcp 127.1.0.5:8080: connect: connection refused`. A
//! probe that cannot be run (a port name the container does not declare, a program the
//! image lacks) records `… probe errored: …` and leaves the result as it was, as the
//! kubelet throws such a result away.
//!
//! Without a readiness probe a container is ready once started — for a built image's
//! process (see [`crate::image`]) once each declared TCP port accepts a connection.
//!
//! A simulated app answers `/status/<code>` with that status (see [`crate::http`]), so a
//! probe can be made to fail on purpose: `readinessProbe: {httpGet: {path: /status/503,
//! port: 8080}}`.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe as ProbeSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::logs::LogBuffer;
use crate::plan::ContainerPlan;
use crate::process;
use crate::runtime::PodShared;

/// The `User-Agent` the kubelet's HTTP probes send.
pub const USER_AGENT: &str = "kube-probe/1.31";

/// Exit code of a container the kubelet killed.
pub const KILLED_EXIT_CODE: i32 = 137;

/// One probe of a container, with the API's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub handler: Handler,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// `httpGet`; `port` is `Err` with the kubelet's words when it cannot be resolved.
    Http {
        scheme: String,
        host: Option<String>,
        port: Result<u16, String>,
        path: String,
        headers: Vec<(String, String)>,
    },
    /// `tcpSocket`.
    Tcp {
        host: Option<String>,
        port: Result<u16, String>,
    },
    /// `exec`: this argv runs in the container.
    Exec(Vec<String>),
    /// A handler the demo node cannot run (`grpc`): every try errors with this.
    Unsupported(String),
    /// No handler at all (the API would refuse it): every try succeeds.
    Nothing,
}

/// Which probe, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }
}

/// The result of one try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Failed, with the kubelet's output (`HTTP probe failed with statuscode: 503`).
    Failure(String),
    /// Could not be run; the result is thrown away.
    Errored(String),
}

/// The kubelet's `ResolveContainerPort`: a number, a port's name, or a number written as
/// a string.
fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    let n = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port)
            .or_else(|| name.parse().ok())
            .ok_or_else(|| format!("couldn't find port: {name} in {}", c.name))?,
    };
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {n}"))
}

fn seconds(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.and_then(|s| u64::try_from(s).ok()).unwrap_or(default))
}

fn count(v: Option<i32>, default: u32) -> u32 {
    v.and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

impl Probe {
    /// A container's probe, with the API's defaults (`periodSeconds` 10, `timeoutSeconds`
    /// 1, `successThreshold` 1, `failureThreshold` 3) and named ports resolved.
    pub fn of(p: &ProbeSpec, c: &Container) -> Option<Probe> {
        let handler = if let Some(h) = &p.http_get {
            let mut path = h.path.clone().unwrap_or_default();
            if !path.starts_with('/') {
                path.insert(0, '/');
            }
            Handler::Http {
                scheme: h.scheme.clone().unwrap_or_else(|| "HTTP".into()),
                host: h.host.clone().filter(|h| !h.is_empty()),
                port: resolve_port(&h.port, c),
                path,
                headers: h
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|x| (x.name.clone(), x.value.clone()))
                    .collect(),
            }
        } else if let Some(t) = &p.tcp_socket {
            Handler::Tcp {
                host: t.host.clone().filter(|h| !h.is_empty()),
                port: resolve_port(&t.port, c),
            }
        } else if let Some(e) = &p.exec {
            Handler::Exec(e.command.clone().unwrap_or_default())
        } else if p.grpc.is_some() {
            Handler::Unsupported("gRPC probes are not supported by the demo node".into())
        } else {
            Handler::Nothing
        };
        Some(Probe {
            handler,
            initial_delay: seconds(p.initial_delay_seconds, 0),
            period: seconds(p.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: seconds(p.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: count(p.success_threshold, 1),
            failure_threshold: count(p.failure_threshold, 3),
        })
    }
}

/// Go's words for a failed dial.
fn dial_error(host: &str, port: u16, e: &std::io::Error) -> String {
    let what = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        std::io::ErrorKind::HostUnreachable => "connect: no route to host".to_string(),
        _ => format!("connect: {e}"),
    };
    format!("dial tcp {host}:{port}: {what}")
}

/// One `tcpSocket` try.
pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(e)) => Outcome::Failure(dial_error(host, port, &e)),
        Err(_) => Outcome::Failure(format!("dial tcp {host}:{port}: i/o timeout")),
    }
}

/// One `httpGet` try: a status from 200 to 399 succeeds.
pub async fn http(
    scheme: &str,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Outcome {
    let scheme = scheme.to_ascii_lowercase();
    let url = format!("{scheme}://{host}:{port}{path}");
    let get = async {
        let mut stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| dial_error(host, port, &e))?;
        if scheme == "https" {
            return Err("http: server gave HTTP response to HTTPS client".to_string());
        }
        let mut fields: Vec<(String, String)> = vec![
            ("Host".into(), format!("{host}:{port}")),
            ("User-Agent".into(), USER_AGENT.into()),
            ("Accept".into(), "*/*".into()),
        ];
        for (k, v) in headers {
            fields.retain(|(f, _)| !f.eq_ignore_ascii_case(k));
            fields.push((k.clone(), v.clone()));
        }
        fields.push(("Connection".into(), "close".into()));
        let mut req = format!("GET {path} HTTP/1.1\r\n");
        for (k, v) in &fields {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("EOF".to_string());
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| "malformed HTTP response".to_string())
    };
    match tokio::time::timeout(timeout, get).await {
        Ok(Ok(code)) if (200..400).contains(&code) => Outcome::Success,
        Ok(Ok(code)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
        Ok(Err(e)) => Outcome::Failure(format!("Get \"{url}\": {e}")),
        Err(_) => Outcome::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

/// One `exec` try: `command` runs in the container as `kubectl exec` runs it.
async fn exec(
    pod: &PodShared,
    plan: &ContainerPlan,
    command: &[String],
    timeout: Duration,
) -> Outcome {
    let (cwd, env, argv) = match pod.exec_setup(plan, command).await {
        Ok(s) => s,
        Err(e) => return Outcome::Errored(e.to_string()),
    };
    let launch = pod.launch(plan, &argv, false, &cwd, &env);
    if let Err(msg) = &launch {
        return Outcome::Errored(format!(
            "rpc error: code = Unknown desc = failed to exec in container: OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown"
        ));
    }
    let output = LogBuffer::new(64, 10 << 10);
    let run = process::run_to_log(launch, &cwd, &env, output.clone());
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Outcome::Failure(format!("command {:?} timed out", command.join(" "))),
        Ok(exit) if exit.reason == "StartError" => {
            Outcome::Errored(exit.message.unwrap_or_else(|| "cannot start".into()))
        }
        Ok(exit) if exit.code == 0 => Outcome::Success,
        Ok(_) => Outcome::Failure(
            output
                .snapshot()
                .lines
                .iter()
                .map(|l| String::from_utf8_lossy(&l.text).into_owned())
                .collect(),
        ),
    }
}

/// One try of `probe` against `plan`'s container of `pod`.
pub(crate) async fn check(pod: &PodShared, plan: &ContainerPlan, probe: &Probe) -> Outcome {
    let pod_ip = |h: &Option<String>| h.clone().unwrap_or_else(|| pod.ip.to_string());
    match &probe.handler {
        Handler::Http {
            scheme,
            host,
            port,
            path,
            headers,
        } => match port {
            Ok(port) => http(scheme, &pod_ip(host), *port, path, headers, probe.timeout).await,
            Err(e) => Outcome::Errored(e.clone()),
        },
        Handler::Tcp { host, port } => match port {
            Ok(port) => tcp(&pod_ip(host), *port, probe.timeout).await,
            Err(e) => Outcome::Errored(e.clone()),
        },
        Handler::Exec(command) if command.is_empty() => {
            Outcome::Errored("no command specified".into())
        }
        Handler::Exec(command) => exec(pod, plan, command, probe.timeout).await,
        Handler::Unsupported(msg) => Outcome::Errored(msg.clone()),
        Handler::Nothing => Outcome::Success,
    }
}

/// One prober worker: tries `probe` from `start + initialDelaySeconds` every
/// `periodSeconds`. Readiness never returns (it sets `ready`); liveness returns `false`
/// when it fails for good; startup returns whether it succeeded.
async fn worker(
    pod: &PodShared,
    plan: &ContainerPlan,
    probe: &Probe,
    kind: Kind,
    start: Instant,
) -> bool {
    let mut next = start + probe.initial_delay;
    // The kubelet's initial results: not ready; alive and (not yet) started.
    let mut ready = false;
    let mut last: Option<bool> = None;
    let mut run = 0u32;
    loop {
        tokio::time::sleep_until(next).await;
        next = Instant::now() + probe.period;
        let ok = match check(pod, plan, probe).await {
            Outcome::Success => true,
            Outcome::Failure(output) => {
                pod.event(
                    plan,
                    "Warning",
                    "Unhealthy",
                    format!("{} probe failed: {output}", kind.name()),
                );
                false
            }
            Outcome::Errored(err) => {
                pod.event(
                    plan,
                    "Warning",
                    "Unhealthy",
                    format!("{} probe errored: {err}", kind.name()),
                );
                continue;
            }
        };
        if last == Some(ok) {
            run = run.saturating_add(1);
        } else {
            (last, run) = (Some(ok), 1);
        }
        let threshold = if ok {
            probe.success_threshold
        } else {
            probe.failure_threshold
        };
        if run < threshold {
            continue;
        }
        match kind {
            Kind::Startup => return ok,
            Kind::Liveness if !ok => return false,
            Kind::Liveness => {}
            Kind::Readiness if ok != ready => {
                ready = ok;
                pod.update(&plan.name, |c| c.ready = ok);
            }
            Kind::Readiness => {}
        }
    }
}

/// Whether `plan`'s container is ready as soon as it starts: a container (not an init or
/// ephemeral one) without readiness or startup probe, that need not wait for its ports.
pub(crate) fn ready_at_start(plan: &ContainerPlan, wait_for_ports: bool) -> bool {
    plan.kind == crate::plan::ContainerKind::Regular
        && plan.readiness.is_none()
        && plan.startup.is_none()
        && (!wait_for_ports || plan.ports.is_empty())
}

/// Probes a container instance that has just started, for as long as it runs; returns
/// only when a liveness or startup probe failed for good, having recorded the kubelet's
/// `Killing` event, with the state the killed container ends in. `wait_for_ports`: with no
/// readiness probe, ready only once each declared TCP port accepts a connection (a built
/// image's process binds its own).
pub(crate) async fn run(
    pod: &PodShared,
    plan: &ContainerPlan,
    wait_for_ports: bool,
) -> process::Exit {
    let start = Instant::now();
    let regular = plan.kind == crate::plan::ContainerKind::Regular;
    let killed = |kind: &str| {
        let restarts = pod.plan.restart_policy.restarts(KILLED_EXIT_CODE);
        pod.event(
            plan,
            "Normal",
            "Killing",
            format!(
                "Container {} failed {kind} probe{}",
                plan.name,
                if restarts { ", will be restarted" } else { "" }
            ),
        );
        process::Exit {
            code: KILLED_EXIT_CODE,
            reason: "Error",
            message: None,
        }
    };
    if let Some(p) = plan.startup.as_ref().filter(|_| regular) {
        if !worker(pod, plan, p, Kind::Startup, start).await {
            return killed("startup");
        }
        pod.update(&plan.name, |c| c.started = true);
    }
    let readiness = async {
        match plan.readiness.as_ref().filter(|_| regular) {
            Some(p) => {
                worker(pod, plan, p, Kind::Readiness, start).await;
            }
            None if regular && !ready_at_start(plan, wait_for_ports) => {
                if wait_for_ports {
                    for &port in &plan.ports {
                        while tokio::net::TcpStream::connect((pod.ip, port))
                            .await
                            .is_err()
                        {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                pod.update(&plan.name, |c| c.ready = true);
            }
            None => {}
        }
        std::future::pending::<()>().await
    };
    let liveness = async {
        match plan.liveness.as_ref().filter(|_| regular) {
            Some(p) => worker(pod, plan, p, Kind::Liveness, start).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = liveness => killed("liveness"),
        () = readiness => unreachable!("readiness never ends"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_and_named_ports() {
        let c = container(serde_json::json!({"name": "web", "image": "nginx",
            "ports": [{"name": "http", "containerPort": 8080}],
            "livenessProbe": {"httpGet": {"path": "healthz", "port": "http",
                "httpHeaders": [{"name": "X-Probe", "value": "1"}]}},
            "readinessProbe": {"tcpSocket": {"port": "metrics"}, "periodSeconds": 2,
                "failureThreshold": 5, "successThreshold": 2, "timeoutSeconds": 3,
                "initialDelaySeconds": 4}}));
        let live = Probe::of(c.liveness_probe.as_ref().unwrap(), &c).unwrap();
        assert_eq!(
            live,
            Probe {
                handler: Handler::Http {
                    scheme: "HTTP".into(),
                    host: None,
                    port: Ok(8080),
                    path: "/healthz".into(),
                    headers: vec![("X-Probe".into(), "1".into())],
                },
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
            }
        );
        let ready = Probe::of(c.readiness_probe.as_ref().unwrap(), &c).unwrap();
        assert_eq!(
            ready.handler,
            Handler::Tcp {
                host: None,
                port: Err("couldn't find port: metrics in web".into())
            }
        );
        assert_eq!(
            (
                ready.initial_delay,
                ready.period,
                ready.timeout,
                ready.success_threshold,
                ready.failure_threshold
            ),
            (
                Duration::from_secs(4),
                Duration::from_secs(2),
                Duration::from_secs(3),
                2,
                5
            )
        );
    }

    #[tokio::test]
    async fn refused_connections_are_worded_as_go_words_them() {
        // A port nothing listens on: bind one, learn it, close it.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let t = Duration::from_secs(1);
        assert_eq!(
            http("HTTP", "127.0.0.1", port, "/x", &[], t).await,
            Outcome::Failure(format!(
                "Get \"http://127.0.0.1:{port}/x\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
        assert_eq!(
            tcp("127.0.0.1", port, t).await,
            Outcome::Failure(format!(
                "dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }
}
