//! What an OpenTelemetry Collector's `servicegraph` and `spanmetrics` connectors would export
//! for the demo's apps whose OpenTelemetry Java agent is on.
//!
//! On a real cluster Wharf's APM switch puts the OpenTelemetry Java agent into an app's pods;
//! the agent sends spans to a collector whose `servicegraph` connector (dimension
//! `k8s.namespace.name`) and `spanmetrics` connector (`namespace: traces.span.metrics`,
//! `histogram.unit: s`, dimension `k8s.namespace.name`) turn them into the Prometheus series
//! the console draws its call graph and latency alerts from. The demo's apps are no JVMs and
//! send no spans, so the demo node writes those series itself, from the pod specs, into the
//! text it serves at `/metrics` ([`crate::NodeRuntime::metrics_text`]). It simulates the
//! collector's output, not the agent, the spans or the collector.
//!
//! # Which pods are traced
//! A pod is traced while one of its (regular) containers is running and that container:
//! - has `-javaagent:<path>` in `JAVA_TOOL_OPTIONS` and `OTEL_SERVICE_NAME` set, both as
//!   literal `env` values (the APM switch writes them so and refuses `valueFrom` for
//!   `JAVA_TOOL_OPTIONS`; a service name from a ConfigMap is not seen);
//! - and `<path>` is a file in a volume the container mounts, as it sees it: the mount is
//!   followed to the pod's volume folder on the node, where the APM switch's init
//!   container really copied the agent (see [`crate::shims`]). A path outside the
//!   container's mounts counts as missing: the demo's images hold no files.
//!
//! Pinpoint's and SkyWalking's agents (`-javaagent:` without `OTEL_SERVICE_NAME`) report to
//! their own backends, not to an OpenTelemetry Collector: such pods produce nothing here.
//!
//! The service is `OTEL_SERVICE_NAME`; its namespace is the pod's real namespace, as the
//! collector's `k8sattributes` processor sets it from the pod's IP — never the
//! `k8s.namespace.name` of `OTEL_RESOURCE_ATTRIBUTES`, which a tenant can type. An app
//! (namespace + name) is its traced pods' service name, or the `app` label of untraced
//! pods; it counts as traced while at least one of its running pods is.
//!
//! # Which calls exist
//! The pod annotation `sim.wharf.dev/calls` ([`crate::plan::ANN_CALLS`]) lists the calls
//! an app makes (the union over its running pods); see [`parse_calls`] for the grammar.
//! A call to an app with no running pod produces nothing.
//!
//! # What is emitted
//! - An app→app call gives a servicegraph edge while at least one end is traced (the real
//!   connector would name an untraced end from peer attributes or as a virtual node; the
//!   demo names both ends by their apps); a database call gives an edge
//!   (`connection_type="database"`, no `server_k8s_namespace_name`) while the caller is
//!   traced. A call whose ends are both untraced gives nothing at all.
//! - A traced app has `SPAN_KIND_SERVER` spanmetrics for the calls it receives (from
//!   traced and untraced callers alike) plus its own seeded traffic "from users"
//!   (1–5 req/s, which has no servicegraph edge), and `SPAN_KIND_CLIENT` spanmetrics for
//!   each call it makes.
//!
//! # Numbers
//! Deterministic, seeded per edge and service (see [`Flow`]): a call's rate is 2–12 req/s
//! with a slow ±20% sinusoid, and counters are exact integrals of it since the emitter
//! first saw the edge ([`Emitter`] keeps the instant; an edge that disappears is forgotten
//! and starts again from 0, like a restarted collector). Latency is log-normal with the
//! call's p95 (median = p95 / 2.5); a call's default p95 is the callee's server p95, which
//! is its own seeded 10–60 ms plus the p95s of the calls it makes (so a slow database makes
//! its callers slow); a database call's default is 2–10 ms; the default error rate is
//! 0.2–2 %.
//!
//! # What it does not simulate
//! Spans, trace ids, exemplars, the connectors' flush and expiry timing, the `user`
//! virtual node, peer-attribute naming of uninstrumented ends, network time (a call's
//! client and server durations follow one distribution), per-pod or per-operation detail
//! (one span name per callee), and failed connections to apps that are not running.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::logs::generator::seed_of;
use crate::metrics::{escape, fmt_value, unit};
use crate::paths::PathMap;
use crate::plan::{ContainerPlan, ANN_CALLS};
use crate::process;
use crate::runtime::PodShared;

/// Upper bounds (seconds) of the histograms' buckets, the connectors' default; `+Inf` follows.
pub const BUCKETS: [f64; 16] = [
    0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0,
];
/// At most this many calls per app; further entries are skipped.
pub const MAX_CALLS: usize = 32;
/// The longest latency an entry may give (`@60s`).
pub const MAX_P95_SECONDS: f64 = 60.0;

/// `p95 / median` of every latency distribution.
const P95_OVER_MEDIAN: f64 = 2.5;
/// The standard normal's 95th percentile.
const Z95: f64 = 1.644_853_626_951_472_2;
/// Amplitude of the rates' sinusoid.
const WOBBLE: f64 = 0.2;

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Callee {
    /// An app by its service name (or `app` label); `namespace: None` is the caller's.
    App {
        namespace: Option<String>,
        name: String,
    },
    /// A database: a virtual node of the graph.
    Database(String),
}

/// One entry of `sim.wharf.dev/calls`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub callee: Callee,
    /// The call's p95 latency in seconds (`@…`), `None`: the default.
    pub p95: Option<f64>,
    /// The call's error percent (`!…%`), `None`: the seeded default.
    pub error_percent: Option<f64>,
}

/// An entry [`parse_calls`] skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    pub entry: String,
    pub reason: &'static str,
}

/// Reads `sim.wharf.dev/calls`: entries separated by commas, blanks around them ignored,
/// empty ones too:
///
/// ```text
/// entry    = callee [ "@" duration ] [ "!" percent "%" ]   (the two suffixes in either order, each once)
/// callee   = name                 an app in the caller's namespace
///          | namespace "/" name   an app in another namespace
///          | "db:" database       a database (connection_type="database")
/// name, namespace = a DNS label: 1–63 of a-z 0-9 "-", starting and ending alphanumeric
/// database = 1–63 of A-Z a-z 0-9 "-" "_" ".", starting alphanumeric
/// duration = number ( "ms" | "s" ), above 0 and at most 60s       e.g. 900ms, 1.2s
/// percent  = number from 0 to 100                                 e.g. 5, 0.5
/// number   = digits [ "." digits ]   (no sign, exponent, inf or NaN)
/// ```
///
/// Malformed entries are returned beside the good ones, as are repeats of a callee (the
/// first one counts) and entries past [`MAX_CALLS`].
pub fn parse_calls(s: &str) -> (Vec<Call>, Vec<BadEntry>) {
    let mut calls: Vec<Call> = Vec::new();
    let mut bad = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let reject = |reason| BadEntry {
            entry: entry.to_string(),
            reason,
        };
        match parse_entry(entry) {
            Err(reason) => bad.push(reject(reason)),
            Ok(c) if calls.iter().any(|k| k.callee == c.callee) => {
                bad.push(reject("the callee is listed already"))
            }
            Ok(_) if calls.len() >= MAX_CALLS => bad.push(reject("too many calls")),
            Ok(c) => calls.push(c),
        }
    }
    (calls, bad)
}

fn parse_entry(entry: &str) -> Result<Call, &'static str> {
    let cut = entry.find(['@', '!']).unwrap_or(entry.len());
    let (target, mut rest) = entry.split_at(cut);
    let callee = parse_callee(target.trim())?;
    let (mut p95, mut error_percent) = (None, None);
    while let Some(kind) = rest.chars().next() {
        let end = rest[1..].find(['@', '!']).map_or(rest.len(), |i| i + 1);
        let body = rest[1..end].trim();
        match kind {
            '@' if p95.is_none() => {
                p95 = Some(parse_duration(body).ok_or(
                    "a latency is a number of ms or s above 0 and at most 60s (900ms, 1.2s)",
                )?)
            }
            '!' if error_percent.is_none() => {
                error_percent = Some(
                    parse_percent(body).ok_or("an error rate is a percent from 0 to 100 (5%)")?,
                )
            }
            _ => return Err("a latency or an error rate is given twice"),
        }
        rest = &rest[end..];
    }
    Ok(Call {
        callee,
        p95,
        error_percent,
    })
}

fn parse_callee(t: &str) -> Result<Callee, &'static str> {
    if let Some(db) = t.strip_prefix("db:") {
        let ok = (1..=63).contains(&db.len())
            && db.starts_with(|c: char| c.is_ascii_alphanumeric())
            && db
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        return if ok {
            Ok(Callee::Database(db.to_string()))
        } else {
            Err("a database name is 1-63 letters, digits, '-', '_' or '.'")
        };
    }
    let (namespace, name) = match t.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, t),
    };
    if !namespace.is_none_or(is_dns_label) || !is_dns_label(name) {
        return Err("an app and its namespace are DNS labels (a-z, 0-9, '-')");
    }
    Ok(Callee::App {
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
    })
}

fn is_dns_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&s.len())
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || c == '-')
}

/// A plain decimal: digits with at most one point, no sign, exponent, `inf` or `NaN`.
fn parse_number(s: &str) -> Option<f64> {
    let plain = !s.is_empty()
        && s.len() <= 12
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().filter(|c| *c == '.').count() <= 1
        && s.chars().any(|c| c.is_ascii_digit());
    plain.then(|| s.parse().ok()).flatten()
}

fn parse_duration(s: &str) -> Option<f64> {
    let seconds = match s.strip_suffix("ms") {
        Some(ms) => parse_number(ms)? / 1000.0,
        None => parse_number(s.strip_suffix('s')?)?,
    };
    (seconds > 0.0 && seconds <= MAX_P95_SECONDS).then_some(seconds)
}

fn parse_percent(s: &str) -> Option<f64> {
    let p = parse_number(s.strip_suffix('%')?.trim_end())?;
    (p <= 100.0).then_some(p)
}

/// The OpenTelemetry service `container` reports as: its `OTEL_SERVICE_NAME`, when it also
/// has a `-javaagent:<path>` in `JAVA_TOOL_OPTIONS` whose file exists in one of its volume
/// mounts (`root` is the container's folder on the node, see [`crate::paths`]).
pub fn otel_service(container: &ContainerPlan, root: &Path) -> Option<String> {
    // NB: Kubernetes gives a variable defined twice its last value.
    let var = |name: &str| {
        container
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    let service = var("OTEL_SERVICE_NAME").filter(|s| !s.is_empty())?;
    let options = var("JAVA_TOOL_OPTIONS")?;
    let mut mounts = PathMap::default();
    for m in &container.mounts {
        mounts.add(&m.path, &root.join(m.path.trim_start_matches('/')));
    }
    let has_agent = options
        .split_whitespace()
        .filter_map(|o| o.strip_prefix("-javaagent:"))
        .map(|jar| jar.split('=').next().unwrap_or(jar))
        .any(|path| {
            path.starts_with('/')
                && !path.split('/').any(|p| p == "..")
                && mounts.host_path(path).is_some_and(|host| host.is_file())
        });
    has_agent.then(|| service.to_string())
}

/// What the emitter needs of one running pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInput {
    pub uid: String,
    pub namespace: String,
    /// The `app` label.
    pub app: Option<String>,
    /// The service its OpenTelemetry agent reports as ([`otel_service`]); `None`: untraced.
    pub service: Option<String>,
    /// The `sim.wharf.dev/calls` annotation, unparsed.
    pub calls: Option<String>,
}

/// The input of a pod with a running container; `None` for the others.
pub(crate) fn pod_input(pod: &PodShared) -> Option<PodInput> {
    let state = pod.state();
    let running: Vec<&ContainerPlan> = pod
        .plan
        .containers
        .iter()
        .filter(|c| {
            state
                .container(&c.name)
                .is_some_and(|s| s.state.is_running())
        })
        .collect();
    if running.is_empty() {
        return None;
    }
    let service = running
        .iter()
        .find_map(|c| otel_service(c, &process::container_dir(&pod.dir, &c.name)));
    Some(PodInput {
        uid: pod.plan.uid.clone(),
        namespace: pod.plan.namespace.clone(),
        app: pod.plan.labels.get("app").cloned(),
        service,
        calls: pod.plan.annotations.get(ANN_CALLS).cloned(),
    })
}

/// A steady stream of calls: counters and histograms are its exact integrals.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Identifies it across scrapes (its start instant is kept under this key).
    pub key: String,
    /// Mean calls per second.
    pub rate: f64,
    /// Angular speed (rad/s) and phase of the rate's ±20% sinusoid.
    pub omega: f64,
    pub phase: f64,
    /// Share of failed calls, 0..=1.
    pub error_ratio: f64,
    /// p95 latency, seconds.
    pub p95: f64,
}

/// Calls of a [`Flow`] so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub failed: u64,
}

impl Counts {
    pub fn total(self) -> u64 {
        self.ok + self.failed
    }
}

impl Flow {
    /// A flow seeded by `key`: rate in `rates` (req/s), the given p95 and error percent (or
    /// a seeded 0.2–2 %).
    pub fn new(key: String, rates: (f64, f64), p95: f64, error_percent: Option<f64>) -> Self {
        let seed = seed_of(&["wharf-sim-traces", &key]);
        let between = |k, lo: f64, hi: f64| lo + (hi - lo) * unit(seed, k);
        Flow {
            rate: between(1, rates.0, rates.1),
            // A period of 6 to 25 minutes.
            omega: 1.0 / between(2, 60.0, 240.0),
            phase: between(3, 0.0, std::f64::consts::TAU),
            error_ratio: (error_percent.unwrap_or_else(|| between(4, 0.2, 2.0)) / 100.0)
                .clamp(0.0, 1.0),
            p95,
            key,
        }
    }

    /// Calls `elapsed` seconds after the flow was first seen. Both parts are floors of
    /// integrals of positive rates, so each only grows.
    pub fn counts(&self, elapsed: f64) -> Counts {
        let t = elapsed.max(0.0);
        let (w, p) = (self.omega, self.phase);
        // rate(t) = r·(1 + a·sin(w·t + p)); n(t) is its integral from 0.
        let n = (self.rate * (t - WOBBLE / w * ((w * t + p).cos() - p.cos()))).max(0.0);
        // NB: ok and failed are each floored (not total − failed), so neither ever drops.
        Counts {
            ok: (n * (1.0 - self.error_ratio)).floor() as u64,
            failed: (n * self.error_ratio).floor() as u64,
        }
    }
}

/// A cumulative histogram over [`BUCKETS`] (`+Inf` is `count`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    /// `count` calls whose latency is log-normal with this p95: each bucket is
    /// `⌊count · CDF(le)⌋` (so buckets never decrease, across buckets nor as `count`
    /// grows), `sum` is `count` times the distribution's mean.
    pub fn log_normal(count: u64, p95: f64) -> Self {
        let median = p95 / P95_OVER_MEDIAN;
        let sigma = P95_OVER_MEDIAN.ln() / Z95;
        let mut h = Histogram {
            count,
            sum: count as f64 * median * (sigma * sigma / 2.0).exp(),
            ..Histogram::default()
        };
        let mut below = 0;
        for (b, le) in h.buckets.iter_mut().zip(BUCKETS) {
            let cdf = 0.5 * erfc(-(le / median).ln() / (sigma * std::f64::consts::SQRT_2));
            // NB: rounded, not floored: a floor leaves one call above the last finite bucket
            // for good (count × 0.9999999 floors to count − 1), which a young series' few
            // calls turn into a p95 of "more than 15 s"
            below = ((count as f64 * cdf).round() as u64).clamp(below, count);
            *b = below;
        }
        h
    }

    fn add(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
    }
}

/// The complementary error function (Numerical Recipes' `erfcc`, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// `(namespace, name)` of an app.
type AppKey = (String, String);

#[derive(Debug, Default)]
struct App {
    traced: bool,
    calls: Vec<Call>,
}

/// One servicegraph edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub client: AppKey,
    /// `(namespace, app)`, or `(None, database)` for a database.
    pub server: (Option<String>, String),
    pub flow: Flow,
}

impl Edge {
    pub fn is_database(&self) -> bool {
        self.server.0.is_none()
    }
}

/// `SPAN_KIND_SERVER` or `SPAN_KIND_CLIENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpanKind {
    Server,
    Client,
}

impl SpanKind {
    fn label(self) -> &'static str {
        match self {
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
        }
    }
}

/// `(namespace, service, kind, span name)` of a spanmetrics series.
type SpanKey = (String, String, SpanKind, String);

/// What the collector would export at one moment, before time is applied.
#[derive(Debug, Default)]
pub struct Model {
    pub edges: Vec<Edge>,
    /// The flows behind each spanmetrics series.
    pub spans: BTreeMap<SpanKey, Vec<Flow>>,
}

/// The span name of a call to `callee` (the span a server records for it, too).
fn span_name(callee: &(Option<String>, String)) -> String {
    match callee {
        (Some(_), app) => format!("GET /api/{app}"),
        (None, db) => format!("SELECT {db}"),
    }
}

impl Model {
    /// The model of these running pods, and the malformed `sim.wharf.dev/calls` entries
    /// of each pod that has some.
    pub fn build(pods: &[PodInput]) -> (Model, Vec<(String, Vec<BadEntry>)>) {
        let mut sorted: Vec<&PodInput> = pods.iter().collect();
        sorted.sort_by(|a, b| a.uid.cmp(&b.uid));
        let mut apps: BTreeMap<AppKey, App> = BTreeMap::new();
        let mut bad = Vec::new();
        for pod in sorted {
            let Some(name) = pod.service.clone().or_else(|| pod.app.clone()) else {
                continue;
            };
            let app = apps.entry((pod.namespace.clone(), name)).or_default();
            app.traced |= pod.service.is_some();
            let (calls, skipped) = parse_calls(pod.calls.as_deref().unwrap_or(""));
            if !skipped.is_empty() {
                bad.push((pod.uid.clone(), skipped));
            }
            for call in calls {
                if app.calls.len() < MAX_CALLS && !app.calls.iter().any(|c| c.callee == call.callee)
                {
                    app.calls.push(call);
                }
            }
        }
        let mut p95s = Latencies {
            apps: &apps,
            memo: HashMap::new(),
            visiting: Vec::new(),
        };
        let mut model = Model::default();
        for (key, app) in &apps {
            for call in &app.calls {
                let Some(server) = resolve(key, &call.callee, &apps) else {
                    continue;
                };
                let server_traced = server.0.as_ref().is_some_and(|ns| {
                    apps.get(&(ns.clone(), server.1.clone()))
                        .is_some_and(|a| a.traced)
                });
                let emitted = if server.0.is_some() {
                    app.traced || server_traced
                } else {
                    app.traced
                };
                if !emitted {
                    continue;
                }
                let flow_key = format!(
                    "edge\0{}\0{}\0{}\0{}",
                    key.0,
                    key.1,
                    server.0.as_deref().unwrap_or("\0db"),
                    server.1
                );
                let p95 = p95s.call(key, call);
                let flow = Flow::new(flow_key, (2.0, 12.0), p95, call.error_percent);
                let name = span_name(&server);
                if app.traced {
                    model
                        .spans
                        .entry((key.0.clone(), key.1.clone(), SpanKind::Client, name.clone()))
                        .or_default()
                        .push(flow.clone());
                }
                if let (Some(ns), true) = (&server.0, server_traced) {
                    model
                        .spans
                        .entry((ns.clone(), server.1.clone(), SpanKind::Server, name))
                        .or_default()
                        .push(flow.clone());
                }
                model.edges.push(Edge {
                    client: key.clone(),
                    server,
                    flow,
                });
            }
        }
        for (key, _) in apps.iter().filter(|(_, a)| a.traced) {
            let users = Flow::new(
                format!("users\0{}\0{}", key.0, key.1),
                (1.0, 5.0),
                p95s.server(key),
                None,
            );
            let name = span_name(&(Some(key.0.clone()), key.1.clone()));
            model
                .spans
                .entry((key.0.clone(), key.1.clone(), SpanKind::Server, name))
                .or_default()
                .push(users);
        }
        (model, bad)
    }

    /// The keys of every flow, for their start instants.
    pub fn flow_keys(&self) -> HashSet<String> {
        let edges = self.edges.iter().map(|e| &e.flow);
        edges
            .chain(self.spans.values().flatten())
            .map(|f| f.key.clone())
            .collect()
    }

    /// The server-span histogram of a service (every status), `elapsed` giving each flow's
    /// age in seconds.
    pub fn server_histogram(
        &self,
        namespace: &str,
        service: &str,
        elapsed: impl Fn(&str) -> f64,
    ) -> Option<Histogram> {
        let (_, flows) = self
            .spans
            .iter()
            .find(|((ns, s, k, _), _)| ns == namespace && s == service && *k == SpanKind::Server)?;
        let mut h = Histogram::default();
        for f in flows {
            h.add(&Histogram::log_normal(
                f.counts(elapsed(&f.key)).total(),
                f.p95,
            ));
        }
        Some(h)
    }

    /// The Prometheus text of the model, `elapsed` giving each flow's age in seconds.
    /// Families without series are left out.
    pub fn render(&self, elapsed: impl Fn(&str) -> f64) -> String {
        let mut out = String::new();
        if !self.edges.is_empty() {
            let edges: Vec<(String, Counts, f64)> = self
                .edges
                .iter()
                .map(|e| {
                    let mut labels = vec![
                        ("client", e.client.1.as_str()),
                        ("client_k8s_namespace_name", e.client.0.as_str()),
                        (
                            "connection_type",
                            if e.is_database() { "database" } else { "" },
                        ),
                        ("server", e.server.1.as_str()),
                    ];
                    if let Some(ns) = &e.server.0 {
                        labels.push(("server_k8s_namespace_name", ns));
                    }
                    (
                        label_set(&labels),
                        e.flow.counts(elapsed(&e.flow.key)),
                        e.flow.p95,
                    )
                })
                .collect();
            let sg = "traces_service_graph_request";
            header(
                &mut out,
                &format!("{sg}_total"),
                "counter",
                "Total count of requests between two nodes",
            );
            for (labels, c, _) in &edges {
                let _ = writeln!(out, "{sg}_total{{{labels}}} {}", c.total());
            }
            header(
                &mut out,
                &format!("{sg}_failed_total"),
                "counter",
                "Total count of failed requests between two nodes",
            );
            for (labels, c, _) in &edges {
                let _ = writeln!(out, "{sg}_failed_total{{{labels}}} {}", c.failed);
            }
            for side in ["server", "client"] {
                let name = format!("{sg}_{side}_seconds");
                header(
                    &mut out,
                    &name,
                    "histogram",
                    &format!("Time for a request between two nodes as seen from the {side}"),
                );
                for (labels, c, p95) in &edges {
                    histogram(
                        &mut out,
                        &name,
                        labels,
                        &Histogram::log_normal(c.total(), *p95),
                    );
                }
            }
        }
        if !self.spans.is_empty() {
            // (labels, calls, histogram) per series, ok then error.
            let mut series: Vec<(String, u64, Histogram)> = Vec::new();
            for ((ns, service, kind, span), flows) in &self.spans {
                for error in [false, true] {
                    let status = if error {
                        "STATUS_CODE_ERROR"
                    } else {
                        "STATUS_CODE_UNSET"
                    };
                    let labels = label_set(&[
                        ("k8s_namespace_name", ns),
                        ("service_name", service),
                        ("span_kind", kind.label()),
                        ("span_name", span),
                        ("status_code", status),
                    ]);
                    let mut h = Histogram::default();
                    for f in flows {
                        let c = f.counts(elapsed(&f.key));
                        let n = if error { c.failed } else { c.ok };
                        h.add(&Histogram::log_normal(n, f.p95));
                    }
                    series.push((labels, h.count, h));
                }
            }
            let calls = "traces_span_metrics_calls_total";
            header(&mut out, calls, "counter", "Number of spans");
            for (labels, n, _) in &series {
                let _ = writeln!(out, "{calls}{{{labels}}} {n}");
            }
            let duration = "traces_span_metrics_duration_seconds";
            header(&mut out, duration, "histogram", "Duration of spans");
            for (labels, _, h) in &series {
                histogram(&mut out, duration, labels, h);
            }
        }
        out
    }
}

/// The callee of `call` made by `caller`, if it is running (apps) — databases always are.
fn resolve(
    caller: &AppKey,
    callee: &Callee,
    apps: &BTreeMap<AppKey, App>,
) -> Option<(Option<String>, String)> {
    match callee {
        Callee::Database(db) => Some((None, db.clone())),
        Callee::App { namespace, name } => {
            let ns = namespace.clone().unwrap_or_else(|| caller.0.clone());
            let key = (ns, name.clone());
            apps.contains_key(&key).then_some((Some(key.0), key.1))
        }
    }
}

/// Default latencies, computed through the call graph.
struct Latencies<'a> {
    apps: &'a BTreeMap<AppKey, App>,
    memo: HashMap<AppKey, f64>,
    /// The apps whose server p95 is being computed (a call back to one ends a cycle).
    visiting: Vec<AppKey>,
}

impl Latencies<'_> {
    /// An app's own share of its server time: seeded 10–60 ms.
    fn own(key: &AppKey) -> f64 {
        0.010 + 0.050 * unit(seed_of(&["wharf-sim-service", &key.0, &key.1]), 1)
    }

    /// An app's server p95: its own time plus the p95 of every call it makes. In a cycle,
    /// the app called back counts with its own time only.
    fn server(&mut self, key: &AppKey) -> f64 {
        if let Some(v) = self.memo.get(key) {
            return *v;
        }
        let Some(app) = self.apps.get(key) else {
            return Self::own(key);
        };
        if self.visiting.contains(key) {
            return Self::own(key);
        }
        self.visiting.push(key.clone());
        let mut total = Self::own(key);
        for call in &app.calls {
            if resolve(key, &call.callee, self.apps).is_some() {
                total += self.call(key, call);
            }
        }
        self.visiting.pop();
        self.memo.insert(key.clone(), total);
        total
    }

    /// A call's p95: as given, else the callee's server p95 (an app) or a seeded 2–10 ms
    /// (a database).
    fn call(&mut self, caller: &AppKey, call: &Call) -> f64 {
        if let Some(p95) = call.p95 {
            return p95;
        }
        match resolve(caller, &call.callee, self.apps) {
            Some((Some(ns), name)) => self.server(&(ns, name)),
            Some((None, db)) => {
                0.002 + 0.008 * unit(seed_of(&["wharf-sim-db", &caller.0, &caller.1, &db]), 1)
            }
            None => 0.0,
        }
    }
}

fn label_set(labels: &[(&str, &str)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (le, n) in BUCKETS.iter().zip(h.buckets) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", fmt_value(h.sum));
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

/// The emitter of one runtime: the start instant of every flow it has seen, and the pods it
/// has warned about.
#[derive(Debug, Default)]
pub struct Emitter {
    started: HashMap<String, Instant>,
    warned: HashSet<String>,
}

impl Emitter {
    /// The servicegraph and spanmetrics text for these running pods at `now`. Flows seen for
    /// the first time start at `now`; flows no longer there are forgotten. A pod's malformed
    /// `sim.wharf.dev/calls` entries are logged once.
    pub fn render(&mut self, pods: &[PodInput], now: Instant) -> String {
        let (model, bad) = Model::build(pods);
        for (uid, entries) in bad {
            if self.warned.insert(uid.clone()) {
                for e in entries {
                    let shown: String = e.entry.chars().take(80).collect();
                    tracing::warn!(pod_uid = %uid, entry = ?shown, "{ANN_CALLS}: entry skipped: {}", e.reason);
                }
            }
        }
        self.warned.retain(|uid| pods.iter().any(|p| &p.uid == uid));
        let keys = model.flow_keys();
        self.started.retain(|k, _| keys.contains(k));
        for k in keys {
            self.started.entry(k).or_insert(now);
        }
        model.render(|key| {
            self.started
                .get(key)
                .map_or(0.0, |s| now.saturating_duration_since(*s).as_secs_f64())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(namespace: &str, name: &str, traced: bool, calls: &str) -> PodInput {
        PodInput {
            uid: format!("uid-{namespace}-{name}"),
            namespace: namespace.into(),
            app: Some(name.into()),
            service: traced.then(|| name.to_string()),
            calls: Some(calls.into()),
        }
    }

    /// Prometheus' `histogram_quantile`: linear interpolation within the bucket.
    fn quantile(q: f64, h: &Histogram) -> f64 {
        let rank = q * h.count as f64;
        let mut below = (0.0, 0u64);
        for (le, n) in BUCKETS.iter().zip(h.buckets) {
            if n as f64 >= rank {
                let (lo, lo_n) = below;
                return lo + (le - lo) * (rank - lo_n as f64) / (n - lo_n) as f64;
            }
            below = (*le, n);
        }
        f64::INFINITY
    }

    #[test]
    fn the_grammar_reads_every_form() {
        let (calls, bad) = parse_calls(
            " payments , billing/invoices@900ms!5%, db:orders-db@1.2s ,orders!0.5%@40ms,",
        );
        assert!(bad.is_empty(), "{bad:?}");
        let app = |ns: Option<&str>, n: &str| Callee::App {
            namespace: ns.map(str::to_string),
            name: n.into(),
        };
        assert_eq!(
            calls,
            vec![
                Call {
                    callee: app(None, "payments"),
                    p95: None,
                    error_percent: None
                },
                Call {
                    callee: app(Some("billing"), "invoices"),
                    p95: Some(0.9),
                    error_percent: Some(5.0)
                },
                Call {
                    callee: Callee::Database("orders-db".into()),
                    p95: Some(1.2),
                    error_percent: None
                },
                Call {
                    callee: app(None, "orders"),
                    p95: Some(0.04),
                    error_percent: Some(0.5)
                },
            ]
        );
    }

    #[test]
    fn hostile_and_malformed_entries_are_skipped_alone() {
        let hostile = [
            "Orders",
            "a/b/c",
            "-x",
            "x-",
            "/x",
            "ns/",
            "db:",
            "db:-x",
            "db:a b",
            "x@",
            "x@0ms",
            "x@-1s",
            "x@1e3ms",
            "x@infs",
            "x@NaNs",
            "x@61s",
            "x@1.2",
            "x@1..2s",
            "x!5",
            "x!101%",
            "x!-1%",
            "x@1s@2s",
            "x!1%!2%",
            "x\"}\n{evil",
            "名前",
            "x@1s garbage",
        ];
        for h in hostile {
            let (calls, bad) = parse_calls(&format!("good,{h},db:pg"));
            assert_eq!(calls.len(), 2, "{h:?} was skipped and only it: {calls:?}");
            assert_eq!(bad.len(), 1, "{h:?}");
            assert_eq!(bad[0].entry, h.trim());
        }
        let long = "a".repeat(64);
        assert_eq!(parse_calls(&long).1.len(), 1);
        let many: Vec<String> = (0..100).map(|i| format!("app{i}")).collect();
        let (calls, bad) = parse_calls(&many.join(","));
        assert_eq!((calls.len(), bad.len()), (MAX_CALLS, 100 - MAX_CALLS));
        let (calls, bad) = parse_calls("x@1s,x@2s");
        assert_eq!(
            (calls[0].p95, bad.len()),
            (Some(1.0), 1),
            "the first counts"
        );
        assert_eq!(parse_calls(""), (vec![], vec![]));
        assert_eq!(parse_calls(" , ,"), (vec![], vec![]));
    }

    #[test]
    fn histograms_are_cumulative_and_agree_with_their_count() {
        for count in [0u64, 1, 7, 100, 12_345, 10_000_000] {
            for p95 in [0.001, 0.03, 0.4, 0.9, 3.0, 60.0] {
                let h = Histogram::log_normal(count, p95);
                assert!(h.buckets.windows(2).all(|w| w[0] <= w[1]), "{h:?}");
                assert!(h.buckets.iter().all(|b| *b <= count));
                assert_eq!(h.count, count);
                let mean = p95 / 2.5 * ((2.5f64.ln() / Z95).powi(2) / 2.0).exp();
                assert!((h.sum - count as f64 * mean).abs() <= 1e-6 * h.sum.max(1.0));
            }
        }
        // More calls never lower a bucket.
        let mut last = Histogram::log_normal(0, 0.2);
        for count in 1..2000 {
            let h = Histogram::log_normal(count, 0.2);
            assert!(h.buckets.iter().zip(last.buckets).all(|(a, b)| *a >= b));
            last = h;
        }
    }

    #[test]
    fn the_p95_read_from_buckets_is_the_configured_one() {
        for p95 in [0.15, 0.4, 0.9, 1.2] {
            let got = quantile(0.95, &Histogram::log_normal(100_000, p95));
            assert!(
                (got - p95).abs() / p95 < 0.25,
                "p95 {p95}: read {got} from the buckets"
            );
        }
    }

    #[test]
    fn counters_only_grow_and_failures_stay_below_the_total() {
        let f = Flow::new("edge\0a\0b".into(), (2.0, 12.0), 0.1, Some(30.0));
        assert!((2.0..12.0).contains(&f.rate));
        assert_eq!(f.counts(0.0).total(), 0);
        let mut last = f.counts(0.0);
        for ms in (0..3_600_000).step_by(137) {
            let c = f.counts(ms as f64 / 1000.0);
            assert!(
                c.ok >= last.ok && c.failed >= last.failed,
                "{last:?} → {c:?}"
            );
            assert!(c.failed <= c.total());
            last = c;
        }
        let per_sec = last.total() as f64 / 3600.0;
        assert!(
            (per_sec - f.rate).abs() / f.rate < 0.1,
            "{per_sec} vs {}",
            f.rate
        );
        let share = last.failed as f64 / last.total() as f64;
        assert!((share - 0.3).abs() < 0.01, "{share}");
        assert_eq!(
            f,
            Flow::new("edge\0a\0b".into(), (2.0, 12.0), 0.1, Some(30.0)),
            "seeded"
        );
        let d = Flow::new("edge\0c\0d".into(), (2.0, 12.0), 0.1, None);
        assert!((0.002..=0.02).contains(&d.error_ratio));
    }

    #[test]
    fn edges_follow_the_emission_rule() {
        let pods = [
            app(
                "shop",
                "orders",
                true,
                "payments,billing/invoices,db:orders-db",
            ),
            app("shop", "payments", false, "db:payments-db,ledger"),
            app("shop", "ledger", false, ""),
            app("billing", "invoices", false, "shop/orders,gone"),
        ];
        let (m, bad) = Model::build(&pods);
        assert!(bad.is_empty());
        let mut edges: Vec<String> = m
            .edges
            .iter()
            .map(|e| {
                format!(
                    "{}/{}>{}/{}",
                    e.client.0,
                    e.client.1,
                    e.server.0.as_deref().unwrap_or("db"),
                    e.server.1
                )
            })
            .collect();
        edges.sort();
        assert_eq!(
            edges,
            [
                "billing/invoices>shop/orders",
                "shop/orders>billing/invoices",
                "shop/orders>db/orders-db",
                "shop/orders>shop/payments",
            ]
        );
        let kinds: Vec<_> = m
            .spans
            .keys()
            .map(|(ns, s, k, n)| format!("{ns}/{s} {k:?} {n}"))
            .collect();
        assert_eq!(
            kinds,
            [
                "shop/orders Server GET /api/orders",
                "shop/orders Client GET /api/invoices",
                "shop/orders Client GET /api/payments",
                "shop/orders Client SELECT orders-db",
            ]
        );
        let server = &m.spans[&(
            "shop".to_string(),
            "orders".to_string(),
            SpanKind::Server,
            "GET /api/orders".to_string(),
        )];
        assert_eq!(server.len(), 2, "from invoices and from users");
        let text = m.render(|_| 100.0);
        assert!(text.contains("traces_service_graph_request_total{client=\"orders\",client_k8s_namespace_name=\"shop\",connection_type=\"database\",server=\"orders-db\"} "));
        assert!(text.contains("traces_service_graph_request_total{client=\"orders\",client_k8s_namespace_name=\"shop\",connection_type=\"\",server=\"invoices\",server_k8s_namespace_name=\"billing\"} "));
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = l.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
            assert!(series.ends_with('}') && series.contains('{'), "{l}");
        }

        let (m, _) = Model::build(&[app("a", "x", false, "y,db:z"), app("a", "y", false, "x")]);
        assert!(m.edges.is_empty() && m.spans.is_empty());
        assert_eq!(m.render(|_| 100.0), "", "nothing at all");
    }

    #[test]
    fn a_slow_database_makes_its_callers_slow() {
        const SLOW: f64 = 0.5;
        let p95_of = |pods: &[PodInput], ns: &str, s: &str| {
            let (m, _) = Model::build(pods);
            quantile(0.95, &m.server_histogram(ns, s, |_| 3600.0).unwrap())
        };
        let fast = [
            app("shop", "web", true, "orders"),
            app("shop", "orders", false, "db:pg"),
        ];
        let slow = [
            app("shop", "web", true, "orders"),
            app("shop", "orders", true, "db:pg@1.2s"),
        ];
        assert!(p95_of(&fast, "shop", "web") < SLOW);
        assert!(p95_of(&slow, "shop", "orders") > SLOW);
        assert!(p95_of(&slow, "shop", "web") > SLOW, "through orders");
        // A cycle ends.
        let cycle = [app("a", "x", true, "y"), app("a", "y", true, "x")];
        assert!(p95_of(&cycle, "a", "x") < SLOW);
    }

    #[test]
    fn the_namespace_is_the_pods_and_names_come_from_the_service() {
        let mut traced = app("shop", "orders", true, "db:pg");
        traced.service = Some("orders-svc".into());
        let (m, _) = Model::build(&[traced]);
        assert_eq!(m.edges[0].client, ("shop".into(), "orders-svc".into()));
        let nameless = PodInput {
            app: None,
            ..app("shop", "x", false, "db:pg")
        };
        assert!(Model::build(&[nameless]).0.edges.is_empty());
    }

    #[test]
    fn only_a_present_opentelemetry_agent_counts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        let volume = dir.path().join("volumes/wharf-apm");
        std::fs::create_dir_all(&volume).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(&volume, root.join("wharf-apm")).unwrap();
        std::fs::write(volume.join("javaagent.jar"), "x").unwrap();
        std::fs::create_dir_all(volume.join("pinpoint-agent")).unwrap();
        std::fs::write(volume.join("pinpoint-agent/pinpoint-bootstrap.jar"), "x").unwrap();
        let plan = |env: &[(&str, &str)], mounted: bool| {
            let env: Vec<_> = env
                .iter()
                .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                .collect();
            let mounts = if mounted {
                serde_json::json!([{"name": "wharf-apm", "mountPath": "/wharf-apm"}])
            } else {
                serde_json::json!([])
            };
            let pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p", "uid": "u"},
                "spec": {"containers": [{"name": "app", "image": "x", "env": env, "volumeMounts": mounts}]}
            }))
            .unwrap();
            crate::plan::PodPlan::from_pod(&pod)
                .unwrap()
                .containers
                .remove(0)
        };
        let otel = [
            (
                "JAVA_TOOL_OPTIONS",
                "-Xmx1g -javaagent:/wharf-apm/javaagent.jar",
            ),
            ("OTEL_SERVICE_NAME", "orders"),
            ("OTEL_RESOURCE_ATTRIBUTES", "k8s.namespace.name=other"),
        ];
        assert_eq!(
            otel_service(&plan(&otel, true), &root),
            Some("orders".into())
        );
        assert_eq!(
            otel_service(&plan(&otel, false), &root),
            None,
            "not mounted"
        );
        let with = |jto: &str| {
            let env = [("JAVA_TOOL_OPTIONS", jto), ("OTEL_SERVICE_NAME", "orders")];
            otel_service(&plan(&env, true), &root)
        };
        assert_eq!(with("-javaagent:/wharf-apm/missing.jar"), None);
        assert_eq!(
            with("-javaagent:/wharf-apm/javaagent.jar=debug"),
            Some("orders".into())
        );
        assert_eq!(
            with("-javaagent:/wharf-apm/../wharf-apm/javaagent.jar"),
            None
        );
        assert_eq!(
            with("-javaagent:/javaagent.jar"),
            None,
            "images hold no files"
        );
        assert_eq!(with("-javaagent:wharf-apm/javaagent.jar"), None);
        assert_eq!(with("-Xmx1g"), None);
        let pinpoint = [(
            "JAVA_TOOL_OPTIONS",
            "-javaagent:/wharf-apm/pinpoint-agent/pinpoint-bootstrap.jar -Dpinpoint.applicationName=orders",
        )];
        assert_eq!(
            otel_service(&plan(&pinpoint, true), &root),
            None,
            "Pinpoint"
        );
    }

    #[test]
    fn no_call_is_left_above_the_last_bucket_by_rounding() {
        // 900 ms p95: practically nothing takes 15 s, so the 15 s bucket holds every call
        for count in [1, 17, 18, 1_000_003] {
            let h = Histogram::log_normal(count, 0.9);
            assert_eq!(h.buckets[BUCKETS.len() - 1], count, "{count}: {h:?}");
        }
    }

    #[test]
    fn the_emitter_restarts_counters_of_edges_that_come_back() {
        let mut e = Emitter::default();
        let t0 = Instant::now();
        let pods = [app("shop", "orders", true, "db:pg")];
        let value = |text: &str| -> u64 {
            let line = text
                .lines()
                .find(|l| l.starts_with("traces_service_graph_request_total{"))
                .unwrap();
            line.rsplit_once(' ').unwrap().1.parse().unwrap()
        };
        assert_eq!(value(&e.render(&pods, t0)), 0);
        let later = value(&e.render(&pods, t0 + std::time::Duration::from_secs(60)));
        assert!(later >= 60, "{later}");
        assert_eq!(e.render(&[], t0 + std::time::Duration::from_secs(61)), "");
        assert_eq!(
            value(&e.render(&pods, t0 + std::time::Duration::from_secs(62))),
            0,
            "forgotten, counted again from 0"
        );
    }
}
