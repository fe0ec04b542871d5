//! Simulated resource usage of running containers, exported as cAdvisor does.
//!
//! Each container instance gets a [`MetricsModel`]: a seeded profile (a Java app uses more
//! memory and threads than nginx) whose values are smooth functions of the time since the
//! instance started, plus a little deterministic per-second noise. Counters (CPU seconds,
//! network bytes) are integrals of positive rates, so they only grow; they start again from
//! zero when a container restarts, as cAdvisor's do for a new container. A leak
//! (`sim.wharf.dev/leak`) adds a steady climb to the chosen count.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::logs::generator::seed_of;
use crate::plan::{ContainerPlan, Flavor, Leak};

/// One moment of a container's usage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub cpu_seconds_total: f64,
    /// Current CPU rate in cores.
    pub cpu_cores: f64,
    pub memory_working_set_bytes: f64,
    pub threads: u64,
    pub sockets: u64,
    pub file_descriptors: u64,
    pub network_receive_bytes_total: f64,
    pub network_transmit_bytes_total: f64,
}

/// The usage model of one container instance.
#[derive(Debug, Clone)]
pub struct MetricsModel {
    seed: u64,
    started: Instant,
    pub(crate) started_wall: DateTime<Utc>,
    cpu_millicores: f64,
    cpu_wobble: f64,
    memory_bytes: f64,
    threads: f64,
    sockets: f64,
    fds: f64,
    rx_per_sec: f64,
    tx_per_sec: f64,
    leak: Option<Leak>,
    leak_per_sec: f64,
    phase: f64,
}

/// A seeded uniform number in `[0, 1)`: the `k`-th of `seed`'s sequence (splitmix64).
pub(crate) fn unit(seed: u64, k: u64) -> f64 {
    // splitmix64 → [0, 1)
    let mut z = seed.wrapping_add(k.wrapping_mul(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl MetricsModel {
    /// `leak_per_minute`: how fast a leaking count climbs.
    pub fn new(plan: &ContainerPlan, instance_seed: u64, leak_per_minute: f64) -> Self {
        let u = |k| unit(instance_seed, k);
        let between = |k, lo: f64, hi: f64| lo + (hi - lo) * u(k);
        let (cpu, mem_mib, threads, sockets) = match plan.flavor {
            Flavor::Java => (
                between(1, 40.0, 220.0),
                between(2, 280.0, 520.0),
                between(3, 28.0, 60.0),
                between(4, 8.0, 30.0),
            ),
            Flavor::Nginx => (
                between(1, 2.0, 25.0),
                between(2, 6.0, 22.0),
                between(3, 2.0, 5.0),
                between(4, 3.0, 20.0),
            ),
            Flavor::Generic => (
                between(1, 5.0, 90.0),
                between(2, 20.0, 140.0),
                between(3, 6.0, 18.0),
                between(4, 2.0, 14.0),
            ),
        };
        let pinned = plan.cpu_millicores;
        Self {
            seed: instance_seed,
            started: Instant::now(),
            started_wall: Utc::now(),
            cpu_millicores: pinned.unwrap_or(cpu),
            cpu_wobble: if pinned.is_some() { 0.04 } else { 0.3 },
            memory_bytes: mem_mib * 1024.0 * 1024.0,
            threads: threads.round(),
            sockets: sockets.round(),
            fds: (sockets + between(5, 12.0, 40.0)).round(),
            rx_per_sec: between(6, 2_000.0, 60_000.0),
            tx_per_sec: between(7, 4_000.0, 120_000.0),
            leak: plan.leak,
            leak_per_sec: leak_per_minute.max(0.0) / 60.0,
            phase: between(8, 0.0, std::f64::consts::TAU),
        }
    }

    /// Usage now.
    pub fn sample(&self) -> Sample {
        self.sample_at(self.started.elapsed())
    }

    /// Usage `elapsed` after the instance started (pure: same input, same output).
    pub fn sample_at(&self, elapsed: Duration) -> Sample {
        let t = elapsed.as_secs_f64();
        let (w1, w2, w3) = (1.0 / 37.0, 1.0 / 173.0, 1.0 / 53.0);
        let p = self.phase;
        // rate(t) = base·(1 + a·sin(w·t + p)), so the counter is its exact integral.
        let base = self.cpu_millicores / 1000.0;
        let a = self.cpu_wobble;
        let cpu_cores = base * (1.0 + a * (w1 * t + p).sin());
        let cpu_seconds_total = base * (t - a / w1 * ((w1 * t + p).cos() - p.cos()));
        let second = t.floor() as u64;
        let noise = |k: u64| unit(self.seed ^ k, second) * 2.0 - 1.0;
        let memory = self.memory_bytes * (1.0 + 0.06 * (w2 * t + p).sin() + 0.01 * noise(11))
            + if matches!(self.leak, Some(Leak::Threads)) {
                512.0 * 1024.0 * self.leaked(t)
            } else {
                0.0
            };
        let wiggle = |base: f64, k: u64| (base + (base * 0.1).max(1.0) * noise(k).round()).max(1.0);
        let mut threads = wiggle(self.threads, 12);
        let mut sockets = wiggle(self.sockets, 13);
        let mut fds = wiggle(self.fds, 14).max(sockets + 3.0);
        match self.leak {
            Some(Leak::Threads) => threads = self.threads + self.leaked(t),
            Some(Leak::Sockets) => {
                sockets = self.sockets + self.leaked(t);
                fds = self.fds + self.leaked(t);
            }
            Some(Leak::Fds) => fds = self.fds + self.leaked(t),
            None => {}
        }
        let traffic = |rate: f64| rate * (t - 0.4 / w3 * ((w3 * t + p).cos() - p.cos()));
        Sample {
            cpu_seconds_total,
            cpu_cores,
            memory_working_set_bytes: memory.round(),
            threads: threads as u64,
            sockets: sockets as u64,
            file_descriptors: fds as u64,
            network_receive_bytes_total: traffic(self.rx_per_sec).round(),
            network_transmit_bytes_total: traffic(self.tx_per_sec).round(),
        }
    }

    fn leaked(&self, t: f64) -> f64 {
        (t * self.leak_per_sec).floor()
    }
}

/// One container's row in the exposition.
#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub namespace: String,
    pub pod: String,
    pub pod_uid: String,
    pub container: String,
    pub image: String,
    pub container_id: String,
    pub restart_count: i32,
    pub cpu_limit_millicores: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    /// `None` while the container is not running (no cAdvisor series then).
    pub sample: Option<(Sample, DateTime<Utc>)>,
}

/// Usage of one container for `metrics.k8s.io` `PodMetrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUsage {
    pub name: String,
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

impl ContainerUsage {
    /// As a `Quantity` string, e.g. `"12345678n"`.
    pub fn cpu_quantity(&self) -> String {
        format!("{}n", self.cpu_nanocores)
    }

    /// As a `Quantity` string, e.g. `"20480Ki"`.
    pub fn memory_quantity(&self) -> String {
        format!("{}Ki", self.memory_bytes / 1024)
    }
}

/// Usage of one pod's running containers (`metrics.k8s.io/v1beta1` `PodMetrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub timestamp: DateTime<Utc>,
    /// The window the rates are averaged over (`window` in PodMetrics).
    pub window: Duration,
    pub containers: Vec<ContainerUsage>,
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const FAMILIES: [Family; 13] = [
    Family {
        name: "container_cpu_usage_seconds_total",
        kind: "counter",
        help: "Cumulative cpu time consumed in seconds.",
    },
    Family {
        name: "container_memory_working_set_bytes",
        kind: "gauge",
        help: "Current working set in bytes.",
    },
    Family {
        name: "container_threads",
        kind: "gauge",
        help: "Number of threads running inside the container",
    },
    Family {
        name: "container_sockets",
        kind: "gauge",
        help: "Number of open sockets for the container.",
    },
    Family {
        name: "container_file_descriptors",
        kind: "gauge",
        help: "Number of open file descriptors for the container.",
    },
    Family {
        name: "container_network_receive_bytes_total",
        kind: "counter",
        help: "Cumulative count of bytes received",
    },
    Family {
        name: "container_network_transmit_bytes_total",
        kind: "counter",
        help: "Cumulative count of bytes transmitted",
    },
    Family {
        name: "container_start_time_seconds",
        kind: "gauge",
        help: "Start time of the container since unix epoch in seconds.",
    },
    Family {
        name: "container_spec_cpu_period",
        kind: "gauge",
        help: "CPU period of the container.",
    },
    Family {
        name: "container_spec_cpu_quota",
        kind: "gauge",
        help: "CPU quota of the container.",
    },
    Family {
        name: "container_spec_memory_limit_bytes",
        kind: "gauge",
        help: "Memory limit for the container.",
    },
    Family {
        name: "kube_pod_container_status_restarts_total",
        kind: "counter",
        help: "The number of container restarts per container.",
    },
    Family {
        name: "kube_pod_container_status_running",
        kind: "gauge",
        help: "Describes whether the container is currently in running state.",
    },
];

/// A label value as the text format quotes it.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: integers without a fraction.
pub(crate) fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Renders rows in the Prometheus text exposition format (version 0.0.4), one HELP/TYPE
/// pair per family, with cAdvisor's labels (`container`, `id`, `image`, `name`,
/// `namespace`, `pod`) and kube-state-metrics' for the `kube_` families.
pub fn render(rows: &[ContainerRow]) -> String {
    let mut out = String::new();
    for f in &FAMILIES {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for r in rows {
            let cadvisor = format!(
                "container=\"{}\",id=\"{}\",image=\"{}\",name=\"{}\",namespace=\"{}\",pod=\"{}\"",
                escape(&r.container),
                escape(&format!(
                    "/kubepods/pod{}/{}",
                    r.pod_uid,
                    r.container_id.rsplit('/').next().unwrap_or("")
                )),
                escape(&r.image),
                escape(&format!(
                    "k8s_{}_{}_{}_{}_{}",
                    r.container, r.pod, r.namespace, r.pod_uid, r.restart_count
                )),
                escape(&r.namespace),
                escape(&r.pod),
            );
            let ksm = format!(
                "container=\"{}\",namespace=\"{}\",pod=\"{}\",uid=\"{}\"",
                escape(&r.container),
                escape(&r.namespace),
                escape(&r.pod),
                escape(&r.pod_uid)
            );
            let mut line = |labels: &str, v: f64| {
                let _ = writeln!(out, "{}{{{labels}}} {}", f.name, fmt_value(v));
            };
            match f.name {
                "kube_pod_container_status_restarts_total" => {
                    line(&ksm, f64::from(r.restart_count))
                }
                "kube_pod_container_status_running" => {
                    line(&ksm, if r.sample.is_some() { 1.0 } else { 0.0 })
                }
                _ => {}
            }
            let Some((s, started)) = &r.sample else {
                continue;
            };
            let net = format!("{cadvisor},interface=\"eth0\"");
            match f.name {
                "container_cpu_usage_seconds_total" => {
                    line(&format!("{cadvisor},cpu=\"total\""), s.cpu_seconds_total)
                }
                "container_memory_working_set_bytes" => line(&cadvisor, s.memory_working_set_bytes),
                "container_threads" => line(&cadvisor, s.threads as f64),
                "container_sockets" => line(&cadvisor, s.sockets as f64),
                "container_file_descriptors" => line(&cadvisor, s.file_descriptors as f64),
                "container_network_receive_bytes_total" => {
                    line(&net, s.network_receive_bytes_total)
                }
                "container_network_transmit_bytes_total" => {
                    line(&net, s.network_transmit_bytes_total)
                }
                "container_start_time_seconds" => line(&cadvisor, started.timestamp() as f64),
                "container_spec_cpu_period" => line(&cadvisor, 100_000.0),
                "container_spec_cpu_quota" => {
                    if let Some(m) = r.cpu_limit_millicores {
                        line(&cadvisor, (m * 100) as f64);
                    }
                }
                "container_spec_memory_limit_bytes" => {
                    line(&cadvisor, r.memory_limit_bytes.unwrap_or(0) as f64)
                }
                _ => {}
            }
        }
    }
    out
}

/// The kubelet's volume stats of one PersistentVolumeClaim a running pod mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRow {
    pub namespace: String,
    pub claim: String,
    /// Bytes of the files in the claim's folder.
    pub used_bytes: u64,
    /// The claim's (or its volume's) capacity, when known.
    pub capacity_bytes: Option<u64>,
}

/// The kubelet's `kubelet_volume_stats_{capacity,available,used}_bytes`, labelled
/// `namespace` and `persistentvolumeclaim` (available: capacity less used, never below
/// zero; capacity and available only when the capacity is known).
pub fn render_volume_stats(rows: &[VolumeRow]) -> String {
    let mut out = String::new();
    type Value = fn(&VolumeRow) -> Option<u64>;
    let families: [(&str, &str, Value); 3] = [
        (
            "kubelet_volume_stats_capacity_bytes",
            "[ALPHA] Capacity in bytes of the volume",
            |r| r.capacity_bytes,
        ),
        (
            "kubelet_volume_stats_available_bytes",
            "[ALPHA] Number of available bytes in the volume",
            |r| r.capacity_bytes.map(|c| c.saturating_sub(r.used_bytes)),
        ),
        (
            "kubelet_volume_stats_used_bytes",
            "[ALPHA] Number of used bytes in the volume",
            |r| Some(r.used_bytes),
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for r in rows {
            if let Some(v) = value(r) {
                let _ = writeln!(
                    out,
                    "{name}{{namespace=\"{}\",persistentvolumeclaim=\"{}\"}} {}",
                    escape(&r.namespace),
                    escape(&r.claim),
                    fmt_value(v as f64)
                );
            }
        }
    }
    out
}

/// Bytes of the files under `dir` (links are not followed), as `du --apparent-size`.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// Seed of a container instance's model.
pub fn instance_seed(uid: &str, container: &str, restart_count: i32) -> u64 {
    seed_of(&[uid, container, &restart_count.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Flavor, PodPlan, Workload};

    fn plan(leak: Option<Leak>, cpu: Option<f64>) -> ContainerPlan {
        let pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "c", "image": "eclipse-temurin:21",
                "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}]}
        }))
        .unwrap();
        let mut c = PodPlan::from_pod(&pod).unwrap().containers.remove(0);
        assert_eq!(
            (c.workload.clone(), c.flavor),
            (Workload::App, Flavor::Java)
        );
        c.leak = leak;
        c.cpu_millicores = cpu;
        c
    }

    #[test]
    fn counters_grow_and_gauges_move() {
        let m = MetricsModel::new(&plan(None, None), 42, 60.0);
        let mut last = m.sample_at(Duration::ZERO);
        assert_eq!(last.cpu_seconds_total, 0.0);
        let mut mems = std::collections::HashSet::new();
        for s in 1..600 {
            let now = m.sample_at(Duration::from_secs(s));
            assert!(now.cpu_seconds_total > last.cpu_seconds_total);
            assert!(now.network_receive_bytes_total >= last.network_receive_bytes_total);
            assert!(now.cpu_cores > 0.0);
            mems.insert(now.memory_working_set_bytes as u64);
            last = now;
        }
        assert!(mems.len() > 100, "memory moves");
        assert_eq!(
            m.sample_at(Duration::from_secs(77)),
            m.sample_at(Duration::from_secs(77)),
            "deterministic"
        );
    }

    #[test]
    fn leaks_climb_and_cpu_can_be_pinned() {
        let m = MetricsModel::new(&plan(Some(Leak::Threads), Some(900.0)), 1, 60.0);
        let a = m.sample_at(Duration::from_secs(10));
        let b = m.sample_at(Duration::from_secs(300));
        assert!(
            b.threads >= a.threads + 280,
            "{} → {}",
            a.threads,
            b.threads
        );
        assert!((b.cpu_cores - 0.9).abs() < 0.05);
    }

    #[test]
    fn volume_stats_are_the_kubelets() {
        let rows = [
            VolumeRow {
                namespace: "shop".into(),
                claim: "data".into(),
                used_bytes: 300,
                capacity_bytes: Some(1 << 30),
            },
            VolumeRow {
                namespace: "shop".into(),
                claim: "odd".into(),
                used_bytes: 7,
                capacity_bytes: None,
            },
        ];
        let text = render_volume_stats(&rows);
        let labels = "{namespace=\"shop\",persistentvolumeclaim=\"data\"}";
        assert!(text.contains(&format!(
            "kubelet_volume_stats_capacity_bytes{labels} 1073741824\n"
        )));
        assert!(text.contains(&format!(
            "kubelet_volume_stats_available_bytes{labels} 1073741524\n"
        )));
        assert!(text.contains(&format!("kubelet_volume_stats_used_bytes{labels} 300\n")));
        assert!(text.contains(
            "kubelet_volume_stats_used_bytes{namespace=\"shop\",persistentvolumeclaim=\"odd\"} 7\n"
        ));
        assert!(!text.contains("capacity_bytes{namespace=\"shop\",persistentvolumeclaim=\"odd\"}"));

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 23]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 123);
    }

    #[test]
    fn exposition_lines_parse() {
        let m = MetricsModel::new(&plan(None, None), 3, 0.0);
        let row = ContainerRow {
            namespace: "shop".into(),
            pod: "web-1".into(),
            pod_uid: "u-1".into(),
            container: "app".into(),
            image: "eclipse-temurin:21".into(),
            container_id: "containerd://abc".into(),
            restart_count: 2,
            cpu_limit_millicores: Some(500),
            memory_limit_bytes: Some(1 << 30),
            sample: Some((m.sample_at(Duration::from_secs(5)), m.started_wall)),
        };
        let text = render(&[row]);
        assert!(text.contains("container_spec_cpu_quota{"));
        assert!(text.contains("kube_pod_container_status_restarts_total{container=\"app\",namespace=\"shop\",pod=\"web-1\",uid=\"u-1\"} 2"));
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = l.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
            assert!(series.ends_with('}') && series.contains('{'), "{l}");
        }
    }
}
