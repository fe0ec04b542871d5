//! Application performance monitoring: the per-app switch that attaches a tracing agent to an
//! app's pods without a rebuild (the server's `wharf_console::apm`).

use serde::{Deserialize, Serialize};

/// The switch of one app, as its page shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApmView {
    /// The console has an agent and a collector configured (`--apm-collector`); without one
    /// the switch is shown off and says why.
    pub configured: bool,
    /// The agent the platform admin chose: "OpenTelemetry", "Pinpoint" or "SkyWalking".
    pub agent: String,
    /// The languages that agent supports (each a Java agent: `["java"]`).
    pub languages: Vec<String>,
    /// The cluster runs the OpenTelemetry Operator (it serves `Instrumentation`): the switch
    /// sets the operator's injection annotation instead of adding the agent itself.
    pub operator: bool,
    /// APM is on for the app now.
    pub on: bool,
    /// The app's first container looks like a Java app (image or command); a guess the user
    /// may overrule when switching on.
    pub java_likely: bool,
    /// The trace UI's page for this app, when the admin configured one (`--apm-trace-url`).
    pub trace_link: Option<String>,
    /// The agent's init container cannot start in a pod of the app (its image does not pull,
    /// say): the reason and the kubelet's message. The rollout waits and the pods from before
    /// keep serving.
    #[serde(default)]
    pub agent_problem: Option<String>,
}

/// How far back the call graph looks, in minutes, and the picker's label.
pub const GRAPH_RANGES: &[(u32, &str)] = &[
    (5, "5m"),
    (15, "15m"),
    (60, "1h"),
    (360, "6h"),
    (1440, "24h"),
];

/// A call whose p95 latency is at least this many milliseconds is drawn as slow.
pub const SLOW_MS: f64 = 500.0;
/// A call failing at least this share of the time is drawn as failing.
pub const FAILING_RATIO: f64 = 0.05;

/// What a node of the call graph stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    /// A service of the tenant (normally one of its apps: the service name is the app's).
    App,
    /// A database the tenant's services call (a virtual node: it runs no agent).
    Database,
    /// Everything outside the tenant, never by name: calls from or to other tenants' apps.
    Outside,
}

/// Request rate, error ratio and p95 latency of calls over the chosen range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStats {
    /// Calls per second.
    pub rate: f64,
    /// Failed calls / calls, 0 to 1 (0 without calls).
    pub error_ratio: f64,
    /// p95 latency in milliseconds (`None` without calls).
    pub p95_ms: Option<f64>,
}

impl CallStats {
    pub fn slow(&self) -> bool {
        self.p95_ms.is_some_and(|p| p >= SLOW_MS)
    }

    pub fn failing(&self) -> bool {
        self.rate > 0.0 && self.error_ratio >= FAILING_RATIO
    }
}

/// One node: a service of the tenant, a database, or "outside".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    /// `namespace/name` for a service, `db:namespace/name` for a database, `outside`.
    pub id: String,
    pub kind: NodeKind,
    /// The service (app) or database name; empty for "outside".
    pub name: String,
    /// The namespace of a service, or of the services calling a database; empty for "outside".
    pub namespace: String,
    /// The calls the service received (its server spans); `None` for databases and "outside",
    /// whose numbers are on their edges.
    pub stats: Option<CallStats>,
    /// The trace UI's page for this service over the range, when configured.
    pub trace_link: Option<String>,
}

/// Calls from one node to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub stats: CallStats,
}

/// A tenant's call graph over a range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallGraph {
    pub minutes: u32,
    /// Sorted by id.
    pub nodes: Vec<GraphNode>,
    /// Sorted by (from, to).
    pub edges: Vec<GraphEdge>,
    /// Set when there is nothing to show and why (no Prometheus, no traced app yet).
    pub notice: Option<crate::Text>,
}

/// Where [`layout`] puts a node: its column (0 = callers that nobody in the graph calls) and
/// row within the column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub column: usize,
    pub row: usize,
}

/// Places the nodes in columns so calls go left to right: a node's column is the longest
/// chain of calls leading to it (a cycle is cut where it closes, so every graph has a
/// layout); rows follow the nodes' order. Returned in the order of `nodes`.
pub fn layout(nodes: &[GraphNode], edges: &[GraphEdge]) -> Vec<Place> {
    use std::collections::BTreeMap;
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut callers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for e in edges {
        if let (Some(&f), Some(&t)) = (index.get(e.from.as_str()), index.get(e.to.as_str())) {
            if f != t {
                callers[t].push(f);
            }
        }
    }
    // depth-first longest path; a node met again while on the stack closes a cycle: cut there
    fn depth(
        i: usize,
        callers: &[Vec<usize>],
        memo: &mut [Option<usize>],
        on: &mut [bool],
    ) -> usize {
        if let Some(d) = memo[i] {
            return d;
        }
        on[i] = true;
        let mut d = 0;
        for &c in &callers[i] {
            if !on[c] {
                d = d.max(depth(c, callers, memo, on) + 1);
            }
        }
        on[i] = false;
        memo[i] = Some(d);
        d
    }
    let mut memo = vec![None; nodes.len()];
    let mut on = vec![false; nodes.len()];
    let columns: Vec<usize> = (0..nodes.len())
        .map(|i| depth(i, &callers, &mut memo, &mut on))
        .collect();
    let mut next_row: BTreeMap<usize, usize> = BTreeMap::new();
    columns
        .into_iter()
        .map(|column| {
            let row = next_row.entry(column).or_default();
            *row += 1;
            Place {
                column,
                row: *row - 1,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> GraphNode {
        GraphNode {
            id: id.into(),
            kind: NodeKind::App,
            name: id.into(),
            namespace: "alpha".into(),
            stats: None,
            trace_link: None,
        }
    }

    fn edge(from: &str, to: &str) -> GraphEdge {
        GraphEdge {
            from: from.into(),
            to: to.into(),
            stats: CallStats::default(),
        }
    }

    #[test]
    fn calls_go_left_to_right() {
        let nodes = [node("db"), node("orders"), node("web"), node("lonely")];
        let edges = [
            edge("web", "orders"),
            edge("orders", "db"),
            edge("web", "db"),
        ];
        let p = layout(&nodes, &edges);
        let col = |i: usize| p[i].column;
        assert_eq!((col(2), col(1), col(0), col(3)), (0, 1, 2, 0));
        // two nodes in column 0 get rows 0 and 1
        assert_eq!((p[2].row, p[3].row), (0, 1));
    }

    #[test]
    fn cycles_and_unknown_ends_still_lay_out() {
        let nodes = [node("a"), node("b"), node("c")];
        let edges = [
            edge("a", "b"),
            edge("b", "c"),
            edge("c", "a"),
            edge("a", "a"),
            edge("ghost", "b"),
        ];
        let p = layout(&nodes, &edges);
        assert_eq!(p.len(), 3);
        let mut cols: Vec<usize> = p.iter().map(|p| p.column).collect();
        cols.sort();
        assert_eq!(cols, vec![0, 1, 2]);
    }

    #[test]
    fn slow_and_failing() {
        let s = CallStats {
            rate: 2.0,
            error_ratio: 0.06,
            p95_ms: Some(900.0),
        };
        assert!(s.slow() && s.failing());
        assert!(!CallStats::default().slow() && !CallStats::default().failing());
    }
}
