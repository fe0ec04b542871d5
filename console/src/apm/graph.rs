//! A tenant's call graph: its services as nodes and the calls between them as edges, with
//! request rate, error ratio and p95 latency, read from Prometheus.
//!
//! The numbers are the metric families of the OpenTelemetry Collector's `servicegraph`
//! connector (edges) and `spanmetrics` connector (services), configured with the dimension
//! `k8s.namespace.name` (labels `client_k8s_namespace_name`, `server_k8s_namespace_name` and
//! `k8s_namespace_name`); `deploy/otel-collector/` has such a configuration. Those labels,
//! not the scrape's `namespace` (the collector's own), say whose a series is, so these
//! queries are built here from the tenant's namespaces rather than scoped by
//! `monitoring::promql::scope_query`; nothing the user types reaches them but the range,
//! which is one of [`GRAPH_RANGES`].
//!
//! **Isolation**: an edge is read when either end is in one of the tenant's namespaces; the
//! other end, when it is not, becomes the one node "outside", never named (its name, its
//! namespace and how many services it is are all dropped before the graph leaves this
//! module). Several edges to or from outside are added up into one. A database (a
//! `connection_type="database"` edge, whose server end is a virtual node without namespace) is
//! the tenant's when its caller is.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use wharf_api::apm::{CallGraph, CallStats, GraphEdge, GraphNode, NodeKind, GRAPH_RANGES};
use wharf_api::error::AppError;
use wharf_api::text;

use crate::auth::TenantScope;
use crate::monitoring::promql::{alternation, quote};
use crate::state::AppState;

/// The id of the one node standing for everything outside the tenant.
pub const OUTSIDE: &str = "outside";

const GRAPH_BY: &str =
    "client, server, connection_type, client_k8s_namespace_name, server_k8s_namespace_name";

/// One series of an instant query: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// The five instant queries of a call graph over `window` (`5m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queries {
    pub edge_calls: String,
    pub edge_failed: String,
    pub edge_buckets: String,
    pub service_calls: String,
    pub service_buckets: String,
}

/// The queries for `namespaces` (the tenant's, never empty) over the last `minutes`.
pub fn queries(namespaces: &[String], minutes: u32) -> Queries {
    let ns = quote(&alternation(namespaces));
    let w = format!("{minutes}m");
    let either = |family: &str| {
        format!(
            "rate({family}{{client_k8s_namespace_name=~{ns}}}[{w}]) or rate({family}{{server_k8s_namespace_name=~{ns}}}[{w}])"
        )
    };
    let server = format!("span_kind=\"SPAN_KIND_SERVER\",k8s_namespace_name=~{ns}");
    Queries {
        edge_calls: format!(
            "sum by ({GRAPH_BY}) ({})",
            either("traces_service_graph_request_total")
        ),
        edge_failed: format!(
            "sum by ({GRAPH_BY}) ({})",
            either("traces_service_graph_request_failed_total")
        ),
        edge_buckets: format!(
            "sum by (le, {GRAPH_BY}) ({})",
            either("traces_service_graph_request_server_seconds_bucket")
        ),
        service_calls: format!(
            "sum by (service_name, k8s_namespace_name, status_code) (rate(traces_span_metrics_calls_total{{{server}}}[{w}]))"
        ),
        service_buckets: format!(
            "sum by (service_name, k8s_namespace_name, le) (rate(traces_span_metrics_duration_seconds_bucket{{{server}}}[{w}]))"
        ),
    }
}

/// What the five queries answered.
#[derive(Debug, Default, Clone)]
pub struct Answers {
    pub edge_calls: Vec<Sample>,
    pub edge_failed: Vec<Sample>,
    pub edge_buckets: Vec<Sample>,
    pub service_calls: Vec<Sample>,
    pub service_buckets: Vec<Sample>,
}

/// The `q` quantile of a histogram given as `(upper bound, cumulative count)` pairs, as
/// Prometheus' `histogram_quantile` computes it: linear within the bucket it falls in, the
/// upper bound of the last finite bucket when it falls in `+Inf`. `None` without counts.
pub fn quantile(q: f64, buckets: &BTreeMap<Le, f64>) -> Option<f64> {
    let total = *buckets.get(&Le::INF)?;
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, &count) in buckets {
        if count >= rank {
            if le.0.is_infinite() {
                return Some(lower);
            }
            if count == below {
                return Some(le.0);
            }
            return Some(lower + (le.0 - lower) * (rank - below) / (count - below));
        }
        lower = le.0;
        below = count;
    }
    Some(lower)
}

/// A bucket's upper bound, ordered (`+Inf` last).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Le(pub f64);

impl Le {
    pub const INF: Le = Le(f64::INFINITY);

    fn parse(s: &str) -> Option<Le> {
        match s {
            "+Inf" | "Inf" => Some(Le::INF),
            _ => s.parse::<f64>().ok().filter(|v| v.is_finite()).map(Le),
        }
    }
}

impl Eq for Le {}

impl PartialOrd for Le {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Le {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Default)]
struct Tally {
    calls: f64,
    failed: f64,
    buckets: BTreeMap<Le, f64>,
}

impl Tally {
    fn stats(&self) -> CallStats {
        CallStats {
            rate: self.calls,
            error_ratio: if self.calls > 0.0 {
                (self.failed / self.calls).clamp(0.0, 1.0)
            } else {
                0.0
            },
            p95_ms: quantile(0.95, &self.buckets).map(|s| s * 1000.0),
        }
    }

    fn add(&mut self, other: &Tally) {
        self.calls += other.calls;
        self.failed += other.failed;
        for (le, c) in &other.buckets {
            *self.buckets.entry(*le).or_default() += c;
        }
    }
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.0.get(name).map(String::as_str).unwrap_or_default()
}

fn value(s: &Sample) -> f64 {
    if s.1.is_finite() && s.1 > 0.0 {
        s.1
    } else {
        0.0
    }
}

/// Builds the graph the tenant owning `namespaces` may see from what Prometheus answered.
pub fn build(namespaces: &[String], minutes: u32, a: &Answers) -> CallGraph {
    let ours = |ns: &str| namespaces.iter().any(|n| n == ns);
    let mut nodes: BTreeMap<String, GraphNode> = BTreeMap::new();
    let mut put = |id: &str, kind: NodeKind, name: &str, namespace: &str| {
        nodes.entry(id.to_string()).or_insert_with(|| GraphNode {
            id: id.to_string(),
            kind,
            name: name.to_string(),
            namespace: namespace.to_string(),
            stats: None,
            trace_link: None,
        });
    };
    // an edge series → (from, to) ids, the nodes put; None when it is not the tenant's
    let mut ends = |s: &Sample| -> Option<(String, String)> {
        let (client, client_ns) = (label(s, "client"), label(s, "client_k8s_namespace_name"));
        let (server, server_ns) = (label(s, "server"), label(s, "server_k8s_namespace_name"));
        let from = if ours(client_ns) && !client.is_empty() {
            put(
                &format!("{client_ns}/{client}"),
                NodeKind::App,
                client,
                client_ns,
            );
            format!("{client_ns}/{client}")
        } else {
            OUTSIDE.to_string()
        };
        let to = if label(s, "connection_type") == "database" {
            if !ours(client_ns) || server.is_empty() {
                return None;
            }
            let id = format!("db:{client_ns}/{server}");
            put(&id, NodeKind::Database, server, client_ns);
            id
        } else if ours(server_ns) && !server.is_empty() {
            put(
                &format!("{server_ns}/{server}"),
                NodeKind::App,
                server,
                server_ns,
            );
            format!("{server_ns}/{server}")
        } else {
            OUTSIDE.to_string()
        };
        if from == OUTSIDE && to == OUTSIDE {
            return None;
        }
        if from == OUTSIDE || to == OUTSIDE {
            put(OUTSIDE, NodeKind::Outside, "", "");
        }
        Some((from, to))
    };
    let mut edges: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for s in &a.edge_calls {
        if let Some(k) = ends(s) {
            edges.entry(k).or_default().calls += value(s);
        }
    }
    for s in &a.edge_failed {
        if let Some(k) = ends(s) {
            edges.entry(k).or_default().failed += value(s);
        }
    }
    for s in &a.edge_buckets {
        if let (Some(k), Some(le)) = (ends(s), Le::parse(label(s, "le"))) {
            *edges.entry(k).or_default().buckets.entry(le).or_default() += value(s);
        }
    }
    edges.retain(|_, t| t.calls > 0.0);
    // services: their own server spans; a service without (no agent) gets what its callers saw
    let mut services: BTreeMap<String, Tally> = BTreeMap::new();
    let mut service = |s: &Sample| -> Option<String> {
        let (name, ns) = (label(s, "service_name"), label(s, "k8s_namespace_name"));
        if name.is_empty() || !ours(ns) {
            return None;
        }
        let id = format!("{ns}/{name}");
        put(&id, NodeKind::App, name, ns);
        Some(id)
    };
    for s in &a.service_calls {
        if let Some(id) = service(s) {
            let t = services.entry(id).or_default();
            t.calls += value(s);
            if label(s, "status_code") == "STATUS_CODE_ERROR" {
                t.failed += value(s);
            }
        }
    }
    for s in &a.service_buckets {
        if let (Some(id), Some(le)) = (service(s), Le::parse(label(s, "le"))) {
            *services
                .entry(id)
                .or_default()
                .buckets
                .entry(le)
                .or_default() += value(s);
        }
    }
    let untraced: BTreeSet<String> = edges
        .keys()
        .map(|(_, to)| to)
        .filter(|to| nodes.get(*to).is_some_and(|n| n.kind == NodeKind::App))
        .filter(|to| !services.contains_key(*to))
        .cloned()
        .collect();
    for to in untraced {
        let mut inbound = Tally::default();
        for (_, e) in edges.iter().filter(|((_, t), _)| *t == to) {
            inbound.add(e);
        }
        services.insert(to, inbound);
    }
    for (id, t) in &services {
        if let Some(n) = nodes.get_mut(id) {
            n.stats = Some(t.stats());
        }
    }
    // a node only seen through edges that had no calls in the range is left out
    let used: BTreeSet<&String> = edges
        .keys()
        .flat_map(|(f, t)| [f, t])
        .chain(
            services
                .iter()
                .filter(|(_, t)| t.calls > 0.0)
                .map(|(id, _)| id),
        )
        .collect();
    let nodes: Vec<GraphNode> = nodes
        .into_values()
        .filter(|n| used.contains(&n.id))
        .collect();
    CallGraph {
        minutes,
        nodes,
        edges: edges
            .into_iter()
            .map(|((from, to), t)| GraphEdge {
                from,
                to,
                stats: t.stats(),
            })
            .collect(),
        notice: None,
    }
}

fn range_ok(minutes: u32) -> Result<u32, AppError> {
    if GRAPH_RANGES.iter().any(|(m, _)| *m == minutes) {
        Ok(minutes)
    } else {
        let offered: Vec<&str> = GRAPH_RANGES.iter().map(|(_, l)| *l).collect();
        let offered = offered.join(", ");
        Err(AppError::Invalid(text!(
            "time range: {minutes} minutes is not one of {offered}",
            "时间范围:{minutes} 分钟不是 {offered} 之一"
        )))
    }
}

/// The call graph of the tenant in `scope` over the last `minutes`.
pub async fn call_graph(
    state: &AppState,
    scope: &TenantScope,
    minutes: u32,
) -> Result<CallGraph, AppError> {
    let minutes = range_ok(minutes)?;
    let namespaces = scope.namespaces();
    let Some(url) = state.settings.monitoring.prometheus_url.as_deref() else {
        return Ok(CallGraph {
            minutes,
            notice: Some(text!(
                "Monitoring is not configured: no Prometheus URL.",
                "未配置监控:没有 Prometheus 地址。"
            )),
            ..Default::default()
        });
    };
    if namespaces.is_empty() {
        return Ok(CallGraph {
            minutes,
            ..Default::default()
        });
    }
    let q = queries(namespaces, minutes);
    let ask = |query: String| crate::monitoring::instant(state, url, query);
    let (edge_calls, edge_failed, edge_buckets, service_calls, service_buckets) = tokio::try_join!(
        ask(q.edge_calls),
        ask(q.edge_failed),
        ask(q.edge_buckets),
        ask(q.service_calls),
        ask(q.service_buckets),
    )?;
    let answers = Answers {
        edge_calls,
        edge_failed,
        edge_buckets,
        service_calls,
        service_buckets,
    };
    let mut graph = build(namespaces, minutes, &answers);
    let end = Utc::now();
    let start = end - chrono::Duration::minutes(i64::from(minutes));
    for n in graph.nodes.iter_mut().filter(|n| n.kind == NodeKind::App) {
        n.trace_link = super::trace_link(state, scope, &n.namespace, &n.name, start, end);
    }
    if graph.nodes.is_empty() {
        graph.notice = Some(text!(
            "No traced calls in this range. Turn APM on for an app (its page has the switch); its calls show here within a minute.",
            "此时间范围内没有调用链数据。在应用页面打开 APM 开关后,一分钟内即可在此看到其调用。"
        ));
    }
    Ok(graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(labels: &[(&str, &str)], v: f64) -> Sample {
        (
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            v,
        )
    }

    fn edge(
        client: (&str, &str),
        server: (&str, &str),
        db: bool,
        extra: &[(&str, &str)],
    ) -> Vec<(&'static str, String)> {
        let mut l = vec![
            ("client", client.1.to_string()),
            ("client_k8s_namespace_name", client.0.to_string()),
            ("server", server.1.to_string()),
            (
                "connection_type",
                if db { "database".into() } else { String::new() },
            ),
        ];
        if !server.0.is_empty() {
            l.push(("server_k8s_namespace_name", server.0.to_string()));
        }
        for (k, v) in extra {
            l.push((if *k == "le" { "le" } else { "x" }, v.to_string()));
        }
        l
    }

    fn sample(l: Vec<(&'static str, String)>, v: f64) -> Sample {
        (l.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), v)
    }

    fn buckets(
        client: (&str, &str),
        server: (&str, &str),
        db: bool,
        ms: f64,
        rate: f64,
    ) -> Vec<Sample> {
        // every call takes about `ms`: all of them in the first bucket at or above it
        [0.01, 0.1, 0.4, 1.0, f64::INFINITY]
            .iter()
            .map(|le| {
                let name = if le.is_infinite() {
                    "+Inf".to_string()
                } else {
                    le.to_string()
                };
                let v = if *le * 1000.0 >= ms { rate } else { 0.0 };
                sample(edge(client, server, db, &[("le", &name)]), v)
            })
            .collect()
    }

    fn alpha() -> Vec<String> {
        vec!["alpha".into(), "alpha-dev".into()]
    }

    fn answers() -> Answers {
        let web_orders = (("alpha", "shop-web"), ("alpha", "orders"), false);
        let orders_db = (("alpha", "orders"), ("", "orders-db"), true);
        let orders_billing = (("alpha", "orders"), ("beta", "billing"), false);
        let spy_orders = (("beta", "spy"), ("alpha", "orders"), false);
        let mut a = Answers::default();
        for (c, sv, db, rate, failed, ms) in [
            (web_orders.0, web_orders.1, web_orders.2, 10.0, 0.1, 40.0),
            (orders_db.0, orders_db.1, orders_db.2, 6.0, 0.0, 900.0),
            (
                orders_billing.0,
                orders_billing.1,
                orders_billing.2,
                2.0,
                0.0,
                50.0,
            ),
            (spy_orders.0, spy_orders.1, spy_orders.2, 1.0, 0.5, 50.0),
        ] {
            a.edge_calls.push(sample(edge(c, sv, db, &[]), rate));
            a.edge_failed.push(sample(edge(c, sv, db, &[]), failed));
            a.edge_buckets.extend(buckets(c, sv, db, ms, rate));
        }
        a.service_calls = vec![
            s(
                &[
                    ("service_name", "orders"),
                    ("k8s_namespace_name", "alpha"),
                    ("status_code", "STATUS_CODE_UNSET"),
                ],
                10.0,
            ),
            s(
                &[
                    ("service_name", "orders"),
                    ("k8s_namespace_name", "alpha"),
                    ("status_code", "STATUS_CODE_ERROR"),
                ],
                1.0,
            ),
            // another tenant's service is never a node, even if the query let it through
            s(
                &[
                    ("service_name", "billing"),
                    ("k8s_namespace_name", "beta"),
                    ("status_code", "STATUS_CODE_UNSET"),
                ],
                3.0,
            ),
        ];
        a.service_buckets = [("1", 0.0), ("+Inf", 11.0)]
            .iter()
            .map(|(le, v)| {
                s(
                    &[
                        ("service_name", "orders"),
                        ("k8s_namespace_name", "alpha"),
                        ("le", le),
                    ],
                    *v,
                )
            })
            .collect();
        a
    }

    #[test]
    fn the_tenant_sees_its_services_and_outside_unnamed() {
        let g = build(&alpha(), 5, &answers());
        let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "alpha/orders",
                "alpha/shop-web",
                "db:alpha/orders-db",
                OUTSIDE
            ]
        );
        let edges: Vec<(&str, &str)> = g
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            edges,
            [
                ("alpha/orders", "db:alpha/orders-db"),
                ("alpha/orders", OUTSIDE),
                ("alpha/shop-web", "alpha/orders"),
                (OUTSIDE, "alpha/orders"),
            ]
        );
        let text = serde_json::to_string(&g).unwrap();
        for secret in ["beta", "billing", "spy"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let outside = g.nodes.iter().find(|n| n.id == OUTSIDE).unwrap();
        assert_eq!(
            (
                outside.name.as_str(),
                outside.namespace.as_str(),
                outside.stats.is_none()
            ),
            ("", "", true)
        );
    }

    #[test]
    fn numbers_on_edges_and_services() {
        let g = build(&alpha(), 5, &answers());
        let e = |f: &str, t: &str| {
            g.edges
                .iter()
                .find(|e| e.from == f && e.to == t)
                .unwrap()
                .stats
                .clone()
        };
        let web = e("alpha/shop-web", "alpha/orders");
        assert_eq!(web.rate, 10.0);
        assert!((web.error_ratio - 0.01).abs() < 1e-9);
        assert!(!web.slow());
        let db = e("alpha/orders", "db:alpha/orders-db");
        assert!(db.slow(), "{db:?}");
        let p = db.p95_ms.unwrap();
        assert!((400.0..=1000.0).contains(&p), "{p}");
        assert!(e(OUTSIDE, "alpha/orders").failing());
        let orders = g.nodes.iter().find(|n| n.id == "alpha/orders").unwrap();
        let st = orders.stats.clone().unwrap();
        assert_eq!(st.rate, 11.0);
        assert!((st.error_ratio - 1.0 / 11.0).abs() < 1e-9);
        // a service without its own spans shows what its callers measured: none here call web
        let web = g.nodes.iter().find(|n| n.id == "alpha/shop-web").unwrap();
        assert!(web.stats.is_none());
    }

    #[test]
    fn edges_to_outside_add_up_and_an_untraced_callee_gets_its_callers_numbers() {
        let mut a = Answers::default();
        for (other, rate) in [("b1", 2.0), ("b2", 3.0)] {
            let l = edge(("alpha", "orders"), ("beta", other), false, &[]);
            a.edge_calls.push(sample(l.clone(), rate));
            a.edge_failed.push(sample(l, 0.0));
        }
        let g = build(&alpha(), 15, &a);
        assert_eq!(g.edges.len(), 1);
        assert_eq!(g.edges[0].stats.rate, 5.0);
        let b = build(&["beta".to_string()], 15, &a);
        // beta sees orders only as outside; b1 and b2 get the numbers of their callers
        let ids: Vec<&str> = b.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["beta/b1", "beta/b2", OUTSIDE]);
        assert_eq!(b.nodes[1].stats.as_ref().unwrap().rate, 3.0);
        assert!(!serde_json::to_string(&b).unwrap().contains("orders"));
    }

    #[test]
    fn a_database_is_only_its_callers_tenants() {
        let mut a = Answers::default();
        a.edge_calls.push(sample(
            edge(("beta", "billing"), ("", "ledger"), true, &[]),
            4.0,
        ));
        let g = build(&alpha(), 5, &a);
        assert!(g.nodes.is_empty() && g.edges.is_empty(), "{g:?}");
    }

    #[test]
    fn edges_without_calls_in_the_range_are_left_out() {
        let mut a = Answers::default();
        a.edge_calls.push(sample(
            edge(("alpha", "a"), ("alpha", "b"), false, &[]),
            0.0,
        ));
        a.edge_calls.push(sample(
            edge(("alpha", "c"), ("alpha", "d"), false, &[]),
            f64::NAN,
        ));
        let g = build(&alpha(), 5, &a);
        assert!(g.nodes.is_empty() && g.edges.is_empty(), "{g:?}");
    }

    #[test]
    fn quantile_like_prometheus() {
        let b: BTreeMap<Le, f64> = [
            (Le(0.1), 50.0),
            (Le(0.2), 90.0),
            (Le(0.4), 100.0),
            (Le::INF, 100.0),
        ]
        .into_iter()
        .collect();
        // rank 95 falls in (0.2, 0.4]: 0.2 + 0.2 * 5/10
        assert!((quantile(0.95, &b).unwrap() - 0.3).abs() < 1e-9);
        // rank 25 in the first bucket: from 0
        assert!((quantile(0.25, &b).unwrap() - 0.05).abs() < 1e-9);
        let inf: BTreeMap<Le, f64> = [(Le(0.1), 1.0), (Le::INF, 10.0)].into_iter().collect();
        assert_eq!(quantile(0.95, &inf), Some(0.1));
        assert_eq!(quantile(0.95, &BTreeMap::new()), None);
        let zero: BTreeMap<Le, f64> = [(Le::INF, 0.0)].into_iter().collect();
        assert_eq!(quantile(0.95, &zero), None);
    }

    #[test]
    fn queries_hold_the_tenants_namespaces_on_both_ends() {
        let q = queries(&alpha(), 15);
        assert!(q.edge_calls.contains(r#"client_k8s_namespace_name=~"alpha|alpha\\-dev"}[15m]) or rate(traces_service_graph_request_total{server_k8s_namespace_name=~"alpha|alpha\\-dev"}[15m])"#), "{}", q.edge_calls);
        for x in [&q.service_calls, &q.service_buckets] {
            assert!(
                x.contains(
                    r#"span_kind="SPAN_KIND_SERVER",k8s_namespace_name=~"alpha|alpha\\-dev""#
                ),
                "{x}"
            );
        }
        assert!(range_ok(7).is_err() && range_ok(60).is_ok());
    }
}
