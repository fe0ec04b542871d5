//! A property test of the PromQL scoper against a real Prometheus (Debian's) scraping the demo
//! cluster: queries generated over PromQL's grammar — hostile namespace matchers, `or`,
//! `{__name__=…}`, keywords read as metric names, aggregations that drop `namespace`, vector
//! matching, `label_replace`, subqueries, offsets — once scoped to tenant alpha never return
//! a series of another tenant's namespaces or pods (nor name one in Prometheus' error, which
//! the console shows), while enough of their unscoped forms do (the data to leak was there).
//! The scoper never panics, refuses with a message, refuses valid PromQL only for the
//! namespaces or `__name__` matchers it names, and never turns valid PromQL into invalid.
//! The cases are generated from a fixed seed (reproducible); a failure shrinks to a small
//! leaking query and shows its scoped form and the series that leaked.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::Value;
use server::monitoring::{free_port, StackConfig};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wharf_console::monitoring::promql::{scope_query, ScopeError};
use wharf_tests::eventually;

/// The Prometheus the suite runs (Debian's package); its absence fails the test.
const PROMETHEUS: &str = "/usr/bin/prometheus";
const CASES: u32 = 256;

/// Where a generated query names the label that `label_replace`, `label_join` and
/// `count_values` write. The query sent is rendered with `namespace` there; its probe with
/// [`PROBE`].
///
/// NB: `label_replace(x{namespace="alpha"}, "namespace", "beta", "", "")` returns alpha's own
/// data labelled beta — no leak, yet indistinguishable by labels from one. Skipping such
/// queries would also skip the laundering a real leak would use
/// (`label_replace(<unscoped>, "namespace", "alpha", "", "")`). So every query is checked
/// twice: as written, no series may carry a pod of another tenant (the generator never
/// writes `pod`); and its probe — the same text but for that one string argument, so the
/// scoper reads the same selectors — may carry no `namespace` outside the tenant, since
/// nothing in it writes `namespace` but the data.
const DST: &str = "§";
const PROBE: &str = "wharf_probe";

/// The demo node's metric families (simnode/src/metrics.rs), Prometheus' own `up` (no
/// namespace) and a name with no data.
const METRICS: &[&str] = &[
    "container_cpu_usage_seconds_total",
    "container_threads",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "kube_pod_container_status_running",
    "kube_pod_container_status_restarts_total",
    "up",
    "wharf_no_such_metric",
];
/// Names that PromQL reads as metric names where an operand is expected, though they are
/// keywords or functions elsewhere — where the scoper's one bit of grammar could part from
/// Prometheus'. Recording rules copy `container_threads` under each (labels kept), so a
/// selector the scoper mistook for a keyword would show another tenant's data.
const KEYWORD_METRICS: &[&str] = &[
    "offset",
    "by",
    "without",
    "sum",
    "group",
    "and",
    "or",
    "unless",
    "start",
    "end",
    "infinity",
    "rate",
    "wharf:threads",
];
const COUNTERS: &[&str] = &[
    "container_cpu_usage_seconds_total",
    "container_network_receive_bytes_total",
    "kube_pod_container_status_restarts_total",
];
const MATCHERS: &[&str] = &[
    r#"namespace=~".+""#,
    r#"namespace!="alpha""#,
    r#"namespace=~"alpha|beta""#,
    r#"namespace="""#,
    r#"namespace!="""#,
    r#"namespace="alpha""#,
    r#"namespace="beta""#,
    r#"namespace!~"alpha""#,
    r#"namespace=~'alpha|beta'"#,
    r#"namespace=~`.*`"#,
    r#"__name__=~".+""#,
    r#"__name__="container_threads""#,
    r#"__name__!="up""#,
    r#"pod=~".*""#,
    r#"pod!="""#,
    r#"pod=~"billing.*""#,
    r#"pod=~"orders.*|billing.*""#,
    r#"container!="""#,
    r#"job="demo-cluster""#,
    r#"Namespace="beta""#,
];
const MODIFIERS: &[&str] = &[
    "",
    "",
    "",
    " offset 5s",
    " offset -5s",
    " @ end()",
    " offset 1m",
];
const RANGE_FNS: &[&str] = &[
    "rate",
    "increase",
    "max_over_time",
    "absent_over_time",
    "count_over_time",
    "last_over_time",
];
/// (operator, parameter written before the vector).
const AGGREGATIONS: &[(&str, &str)] = &[
    ("sum", ""),
    ("count", ""),
    ("max", ""),
    ("group", ""),
    ("topk", "2, "),
    ("count_values", "\"§\", "),
    ("quantile", "0.5, "),
];
const GROUPINGS: &[&str] = &[
    "",
    "by (namespace)",
    "without (namespace)",
    "by (pod, namespace)",
    "without (pod)",
    "by ()",
    "by (pod)",
];
const BINARY: &[&str] = &[
    "+", "-", "*", "/", ">", "<", "==", "!= bool", "> bool", "and", "or", "or", "unless", "atan2",
];
const MATCHING: &[&str] = &[
    "",
    "",
    "",
    "on(namespace)",
    "on(pod)",
    "ignoring(namespace)",
    "ignoring(pod, container)",
    "on(pod) group_left(namespace)",
    "ignoring(namespace) group_left",
    "on(namespace, pod, container) group_right",
];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    proptest::sample::select(items).prop_map(str::to_string)
}

/// A vector selector without modifiers, in each way PromQL spells one.
fn selector() -> BoxedStrategy<String> {
    let matchers = prop_oneof![
        5 => Just(Vec::new()),
        4 => proptest::collection::vec(pick(MATCHERS), 1..=1),
        2 => proptest::collection::vec(pick(MATCHERS), 2..=3),
    ];
    let name = prop_oneof![3 => pick(METRICS), 2 => pick(KEYWORD_METRICS)];
    (name, matchers, 0..6u8)
        .prop_map(|(name, ms, form)| {
            let ms = ms.join(", ");
            match form {
                0..=2 if ms.is_empty() => name,
                0..=2 => format!("{name}{{{ms}}}"),
                3 => format!("{name}{{{ms}}}"),
                4 if ms.is_empty() => format!("{{__name__=\"{name}\"}}"),
                4 => format!("{{__name__=\"{name}\", {ms}}}"),
                _ => format!("{{{ms}}}"),
            }
        })
        .boxed()
}

/// A range vector: a selector over a window, or a subquery of any expression.
fn range(inner: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let counter = (pick(COUNTERS), pick(MATCHERS), any::<bool>()).prop_map(|(c, m, plain)| {
        if plain {
            c
        } else {
            format!("{c}{{{m}}}")
        }
    });
    prop_oneof![
        3 => (prop_oneof![selector(), counter], pick(&["1m", "30s"]), pick(MODIFIERS))
            .prop_map(|(s, d, m)| format!("{s}[{d}]{m}")),
        1 => (inner, pick(&["1m:10s", "2m:", "5m:1m"]), any::<bool>())
            .prop_map(|(e, r, paren)| if paren { format!("({e})[{r}]") } else { format!("{e}[{r}]") }),
    ]
    .boxed()
}

/// A PromQL query (often an invalid one) whose `label_replace`/`label_join`/`count_values`
/// write the label [`DST`].
fn query() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        8 => (selector(), pick(MODIFIERS)).prop_map(|(s, m)| format!("{s}{m}")),
        1 => pick(&["1", "0.5", "-2", "Inf", "NaN", "0x10", "1e3", "vector(1)", "time()", "\"text\""]),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            4 => (pick(RANGE_FNS), range(inner.clone())).prop_map(|(f, r)| format!("{f}({r})")),
            1 => (pick(&["absent", "abs", "sort_desc", "-", ""]), inner.clone())
                .prop_map(|(f, e)| format!("{f}({e})")),
            4 => (proptest::sample::select(AGGREGATIONS), pick(GROUPINGS), any::<bool>(), inner.clone())
                .prop_map(|((op, param), by, before, e)| if before {
                    format!("{op} {by} ({param}{e})")
                } else {
                    format!("{op}({param}{e}) {by}")
                }),
            4 => (inner.clone(), pick(BINARY), pick(MATCHING), inner.clone())
                .prop_map(|(a, op, on, b)| format!("{a} {op} {on} {b}")),
            2 => (inner.clone(), 0..5u8).prop_map(|(e, how)| match how {
                0 => format!("label_replace({e}, \"{DST}\", \"beta\", \"\", \"\")"),
                1 => format!("label_replace({e}, \"{DST}\", \"$1\", \"pod\", \"(.*)\")"),
                2 => format!("label_replace({e}, \"{DST}\", \"beta\", \"namespace\", \"alpha.*\")"),
                3 => format!("label_join({e}, \"{DST}\", \"-\", \"namespace\", \"pod\")"),
                _ => format!("label_replace({e}, \"app\", \"$1\", \"pod\", \"([a-z]+)-.*\")"),
            }),
            1 => inner.clone().prop_map(|e| format!("({e}) # {{namespace=\"beta\"}}\n")),
            1 => inner.prop_map(|e| format!("vector(scalar({e}))")),
        ]
    })
    .boxed()
}

type Labels = BTreeMap<String, String>;

/// Prometheus' answer to an instant query: the series' labels (none for a scalar or a
/// string), or why it refused (`parse`: the query is not PromQL, as opposed to an error
/// while evaluating it).
enum Answer {
    Series(Vec<Labels>),
    Refused { parse: bool, why: String },
}

async fn instant(
    http: &reqwest::Client,
    base: &str,
    query: &str,
    time: f64,
) -> anyhow::Result<Answer> {
    let body: Value = http
        .post(format!("{base}/api/v1/query"))
        .form(&[("query", query), ("time", &format!("{time:.3}"))])
        .timeout(Duration::from_secs(20))
        .send()
        .await?
        .json()
        .await?;
    if body["status"] != "success" {
        return Ok(Answer::Refused {
            parse: body["errorType"] == "bad_data",
            why: body["error"].as_str().unwrap_or_default().to_string(),
        });
    }
    let series = match body["data"]["resultType"].as_str() {
        Some("vector" | "matrix") => body["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| serde_json::from_value(s["metric"].clone()))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(Answer::Series(series))
}

#[derive(Default, Debug)]
struct Counts {
    refused_by_scoper: u32,
    /// Of those, how many Prometheus would have run (all hostile: namespaces, `__name__`).
    refused_by_scoper_valid_promql: u32,
    refused_by_prometheus: u32,
    empty: u32,
    non_empty: u32,
    /// Non-empty, and the unscoped form returned another tenant's namespace or pod.
    unscoped_leaks: u32,
    /// Accepted, but the probe form was refused by Prometheus (its namespaces unchecked).
    probe_refused: u32,
}

/// What the property checks against: Prometheus at a fixed time, and what is whose.
struct Oracle<'a> {
    http: reqwest::Client,
    base: String,
    time: f64,
    handle: tokio::runtime::Handle,
    alpha: &'a [String],
    foreign_namespaces: BTreeSet<String>,
    foreign_pods: BTreeSet<String>,
    counts: RefCell<Counts>,
}

impl Oracle<'_> {
    /// Asks Prometheus (from the property's blocking thread).
    fn ask(&self, query: &str) -> Result<Answer, TestCaseError> {
        self.handle
            .block_on(instant(&self.http, &self.base, query, self.time))
            .map_err(|e| TestCaseError::fail(format!("asking Prometheus {query:?}: {e:#}")))
    }

    fn foreign_pod<'s>(&self, s: &'s Labels) -> Option<&'s String> {
        s.get("pod").filter(|p| self.foreign_pods.contains(*p))
    }

    fn foreign(&self, s: &Labels) -> bool {
        s.get("namespace").is_some_and(|n| !self.alpha.contains(n)) || self.foreign_pod(s).is_some()
    }

    /// Another tenant's pod (or, with `namespaces`, namespace) named in an error message —
    /// the console shows Prometheus' errors to the user.
    fn foreign_in_error(&self, why: &str, namespaces: bool) -> Option<String> {
        let pod = self.foreign_pods.iter().find(|p| why.contains(p.as_str()));
        let ns = namespaces
            .then(|| {
                self.foreign_namespaces
                    .iter()
                    .find(|n| why.contains(&format!("namespace=\"{n}\"")))
            })
            .flatten();
        pod.or(ns).cloned()
    }

    fn check(&self, template: &str) -> Result<(), TestCaseError> {
        let leak = |what: &str, query: &str, scoped: &str, evidence: &dyn std::fmt::Debug| {
            Err(TestCaseError::fail(format!(
                "LEAK: {what}\n  query:  {query}\n  scoped: {scoped}\n  shows:  {evidence:?}"
            )))
        };
        let q = template.replace(DST, "namespace");
        let probe = template.replace(DST, PROBE);
        let scoped = match scope_query(&q, self.alpha) {
            Ok(scoped) => scoped,
            Err(e) => {
                let (ScopeError::Invalid(m) | ScopeError::Forbidden(m)) = &e;
                prop_assert!(
                    !m.en.trim().is_empty() && !m.zh.trim().is_empty(),
                    "{q:?} refused without a message: {e:?}"
                );
                self.counts.borrow_mut().refused_by_scoper += 1;
                // never refused wrongly: valid PromQL is refused only for what it names
                if !matches!(self.ask(&q)?, Answer::Refused { parse: true, .. }) {
                    prop_assert!(
                        matches!(e, ScopeError::Forbidden(_))
                            || q.contains("__name__=~")
                            || q.contains("__name__!"),
                        "Prometheus runs {q:?}, but the scoper refused it: {e}"
                    );
                    self.counts.borrow_mut().refused_by_scoper_valid_promql += 1;
                }
                return Ok(());
            }
        };
        let scoped_probe = scope_query(&probe, self.alpha).map_err(|e| {
            TestCaseError::fail(format!(
                "{q:?} was accepted but its probe {probe:?} (another label name in a string) refused: {e}"
            ))
        })?;

        // As written: no pod of another tenant (the generator never writes `pod`).
        let series = match self.ask(&scoped)? {
            Answer::Series(s) => s,
            Answer::Refused { parse, why } => {
                if let Some(p) = self.foreign_in_error(&why, false) {
                    return leak("another tenant's pod in an error", &q, &scoped, &(p, why));
                }
                // the scoper's output is PromQL whenever its input is
                if parse {
                    prop_assert!(
                        matches!(self.ask(&q)?, Answer::Refused { parse: true, .. }),
                        "Prometheus runs {q:?} but not its scoped form {scoped:?}: {why}"
                    );
                }
                self.counts.borrow_mut().refused_by_prometheus += 1;
                return Ok(());
            }
        };
        if let Some(s) = series.iter().find(|s| self.foreign_pod(s).is_some()) {
            return leak("another tenant's pod", &q, &scoped, s);
        }
        // Its probe: no namespace of another tenant either (nothing in it writes `namespace`).
        match self.ask(&scoped_probe)? {
            Answer::Series(ps) => {
                if let Some(s) = ps.iter().find(|s| self.foreign(s)) {
                    return leak("another tenant's series", &probe, &scoped_probe, s);
                }
            }
            Answer::Refused { why, .. } => {
                if let Some(x) = self.foreign_in_error(&why, true) {
                    let what = "another tenant's series in an error";
                    return leak(what, &probe, &scoped_probe, &(x, why));
                }
                self.counts.borrow_mut().probe_refused += 1;
            }
        }
        if series.is_empty() {
            self.counts.borrow_mut().empty += 1;
            return Ok(());
        }
        self.counts.borrow_mut().non_empty += 1;
        // Unscoped, would it have shown another tenant's series?
        if let Answer::Series(unscoped) = self.ask(&probe)? {
            if unscoped.iter().any(|s| self.foreign(s)) {
                self.counts.borrow_mut().unscoped_leaks += 1;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_queries_never_return_another_tenants_series() {
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "Debian's Prometheus is missing at {PROMETHEUS} (scripts/setup.sh installs it)"
    );
    let (sim, kube) = wharf_tests::demo_cluster(2).await.unwrap();
    server::demo::seed::apps(&kube).await.unwrap();
    let tenants = kube::Api::<crds::Tenant>::all(kube.clone())
        .list(&Default::default())
        .await
        .unwrap();
    let alpha: Vec<String> = tenants
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some("alpha"))
        .expect("the demo seeds tenant alpha")
        .spec
        .namespaces
        .clone();
    let others: BTreeSet<String> = tenants
        .iter()
        .filter(|t| t.metadata.name.as_deref() != Some("alpha"))
        .flat_map(|t| t.spec.namespaces.iter().cloned())
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let cfg = StackConfig::local(dir.path(), &sim.kubeconfig_yaml(), free_port().unwrap()).unwrap();
    std::fs::create_dir_all(cfg.rules_dir()).unwrap();
    let records: String = KEYWORD_METRICS
        .iter()
        .map(|name| format!("      - record: \"{name}\"\n        expr: container_threads\n"))
        .collect();
    std::fs::write(
        cfg.rules_dir().join("keywords.rules.yml"),
        format!("groups:\n  - name: keywords\n    rules:\n{records}"),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let _prometheus = server::monitoring::prometheus::start(&cfg, &http)
        .await
        .unwrap();
    let base = format!("http://{}", cfg.prometheus_addr);
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };

    // Rates of alpha's pods and of another tenant's 10 s ago (so that offsets see data too),
    // and the keywords' records.
    eventually(
        Duration::from_secs(60),
        "rates of alpha's and another tenant's containers in Prometheus, and their records",
        || async {
            let q = "count by (namespace) (rate(container_cpu_usage_seconds_total[30s] offset 10s)) \
                     and on(namespace) count by (namespace) ({__name__=\"wharf:threads\"} offset 10s)";
            let Answer::Series(s) = instant(&http, &base, q, now()).await.ok()? else {
                return None;
            };
            let ns: BTreeSet<&String> = s.iter().filter_map(|l| l.get("namespace")).collect();
            (ns.iter().any(|n| alpha.contains(n)) && ns.iter().any(|n| others.contains(*n)))
                .then_some(())
        },
    )
    .await
    .unwrap();
    let time = now();

    // Every pod Prometheus knows, by namespace: the pods of everyone but alpha are foreign.
    let Answer::Series(pods) = instant(
        &http,
        &base,
        r#"group by (namespace, pod) ({pod!=""})"#,
        time,
    )
    .await
    .unwrap() else {
        panic!("Prometheus refused to list the pods");
    };
    let (mine, foreign): (Vec<&Labels>, Vec<&Labels>) = pods
        .iter()
        .partition(|l| l.get("namespace").is_some_and(|n| alpha.contains(n)));
    let mine: BTreeSet<&String> = mine.iter().filter_map(|l| l.get("pod")).collect();
    let foreign_pods: BTreeSet<String> = foreign
        .iter()
        .filter_map(|l| l.get("pod"))
        .cloned()
        .collect();
    assert!(
        !mine.is_empty() && !foreign_pods.is_empty(),
        "alpha's pods {mine:?}, others' {foreign_pods:?}"
    );
    assert!(
        mine.iter().all(|p| !foreign_pods.contains(*p)),
        "a pod name is both alpha's and another's, so pods cannot tell origin: {mine:?} / {foreign_pods:?}"
    );
    let foreign_namespaces = foreign
        .iter()
        .filter_map(|l| l.get("namespace"))
        .cloned()
        .collect();

    let oracle = Oracle {
        http,
        base,
        time,
        handle: tokio::runtime::Handle::current(),
        alpha: &alpha,
        foreign_namespaces,
        foreign_pods,
        counts: Default::default(),
    };
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 512,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let outcome =
        tokio::task::block_in_place(|| runner.run(&query(), |template| oracle.check(&template)));
    let counts = oracle.counts.into_inner();
    println!("{CASES} generated queries for tenant alpha ({alpha:?}): {counts:#?}");
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(why, template)) => panic!(
            "{why}\n(the smallest failing query found: {:?}; counts so far: {counts:?})",
            template.replace(DST, "namespace")
        ),
        Err(TestError::Abort(why)) => panic!("the property run aborted: {why}"),
    }

    // Not vacuous: a good share ran and returned data, and the data to leak was there.
    let total =
        counts.refused_by_scoper + counts.refused_by_prometheus + counts.empty + counts.non_empty;
    assert_eq!(total, CASES, "{counts:?}");
    assert!(
        counts.non_empty >= CASES / 5,
        "too few queries returned data: {counts:?}"
    );
    assert!(
        counts.unscoped_leaks >= CASES / 10,
        "too few unscoped forms returned another tenant's series: {counts:?}"
    );
    assert!(
        counts.refused_by_scoper_valid_promql >= 10,
        "too few hostile (valid PromQL) queries refused: {counts:?}"
    );
}
