//! Server side of the log viewer: pickers from the watcher cache, and queries, tails and
//! downloads of the log store, always narrowed to a namespace of the caller's [`TenantScope`].

pub mod endpoints;

use crate::auth::TenantScope;
use crate::state::{AppState, Cache};
use crate::workloads::pod_status;
use kube::ResourceExt;
use logstore::{
    Direction, Filter, LabelSelector, LogEntry, Query, StreamSelector, TailRequest, TailStart,
    Timestamp,
};
use wharf_api::error::AppError;
use wharf_api::logs::{
    LogLine, LogLink, LogPage, LogPartial, LogQuery, LogSearch, LogSelection, LogSource, SourcePod,
    MAX_PAGE, MAX_TAIL,
};
use wharf_api::{text, Text};

/// The tenant's apps, each with the pods that carry its `app` label, then its pipelines (as
/// `pipeline:<name>`, with their runs' pods), sorted by name.
pub fn sources(cache: &Cache, scope: &TenantScope) -> Vec<LogSource> {
    // One pass over the pods: the tenant's, grouped by (namespace, source name), where a pod
    // of an app goes under the app and a pod of a pipeline run under `pipeline:<name>`.
    let mut grouped: std::collections::HashMap<(String, String), Vec<SourcePod>> =
        std::collections::HashMap::new();
    for p in cache.pods.state() {
        let Some(ns) = p.namespace().filter(|ns| scope.contains(ns)) else {
            continue;
        };
        let labels = p.labels();
        let keys = [
            labels.get("app").cloned(),
            labels
                .get(crds::pipeline::LABEL_PIPELINE)
                .map(|name| format!("{PIPELINE_PREFIX}{name}")),
        ];
        for key in keys.into_iter().flatten() {
            grouped
                .entry((ns.clone(), key))
                .or_default()
                .push(SourcePod {
                    name: p.name_any(),
                    status: pod_status(&p),
                    containers: p
                        .spec
                        .iter()
                        .flat_map(|s| {
                            s.init_containers
                                .iter()
                                .flatten()
                                .chain(&s.containers)
                                .map(|c| c.name.clone())
                        })
                        .collect(),
                });
        }
    }
    let mine = |ns: Option<String>| ns.filter(|ns| scope.contains(ns));
    let apps = cache
        .deployments
        .state()
        .into_iter()
        .filter_map(|d| Some((mine(d.namespace())?, d.name_any())));
    let pipelines = cache.pipelines.state().into_iter().filter_map(|p| {
        Some((
            mine(p.namespace())?,
            format!("{PIPELINE_PREFIX}{}", p.name_any()),
        ))
    });
    let mut out: Vec<LogSource> = apps
        .chain(pipelines)
        .map(|(namespace, app)| {
            let mut pods = grouped
                .remove(&(namespace.clone(), app.clone()))
                .unwrap_or_default();
            pods.sort_by(|a, b| a.name.cmp(&b.name));
            LogSource {
                namespace,
                app,
                pods,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.app).cmp(&(&b.namespace, &b.app)));
    out
}

/// The "app" of a pipeline's runs in the log viewer: `pipeline:<name>` (a colon is never in
/// an app's name, so the two cannot collide).
pub const PIPELINE_PREFIX: &str = "pipeline:";

/// The streams a selection picks. The namespace must be the tenant's (403 otherwise); the
/// selector always names it, so no query ever reaches another tenant's streams.
pub fn selector(scope: &TenantScope, sel: &LogSelection) -> Result<StreamSelector, AppError> {
    if sel.namespace.is_empty() {
        return Err(AppError::Invalid(text!(
            "ns: pick a namespace",
            "命名空间:请选择一个命名空间"
        )));
    }
    let mut s = StreamSelector::namespaces([scope.namespace(&sel.namespace)?]);
    if let Some(app) = sel.app.as_deref().filter(|a| !a.is_empty()) {
        s = match app.strip_prefix(PIPELINE_PREFIX) {
            Some(pipeline) => s.with_labels(LabelSelector::equals([(
                crds::pipeline::LABEL_PIPELINE,
                pipeline,
            )])),
            None => s.with_labels(LabelSelector::equals([("app", app)])),
        };
    }
    if let Some(pod) = sel.pod.as_deref().filter(|p| !p.is_empty()) {
        s = s.with_pod(pod);
    }
    if let Some(c) = sel.container.as_deref().filter(|c| !c.is_empty()) {
        s = s.with_container(c);
    }
    Ok(s)
}

/// The store's filter for a search, checked first so a bad regex gets a clear sentence (400).
pub fn filter(search: &LogSearch) -> Result<Option<Filter>, AppError> {
    search.compile().map_err(AppError::Invalid)?;
    Ok(match (search.text.is_empty(), search.regex) {
        (true, _) => None,
        (false, true) => Some(Filter::Regex(search.text.clone())),
        (false, false) => Some(Filter::Keyword(search.text.clone())),
    })
}

/// An RFC 3339 time from a field (empty: no bound).
pub fn time(field: &Text, value: &str) -> Result<Option<Timestamp>, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    Timestamp::parse_rfc3339(value).map(Some).map_err(|e| {
        let e = store_words(&e);
        AppError::Invalid(text!("{field}: {e}", "{field}:{e}"))
    })
}

/// The range `[from, to)`; `from` after `to` is refused.
pub fn range(from: &str, to: &str) -> Result<(Option<Timestamp>, Option<Timestamp>), AppError> {
    let (f, t) = (
        time(&text!("from", "开始时间"), from)?,
        time(&text!("to", "结束时间"), to)?,
    );
    if let (Some(f), Some(t)) = (f, t) {
        if f > t {
            return Err(AppError::Invalid(text!(
                "the time range is backwards: from ({f}) is after to ({t})",
                "时间范围颠倒了:开始时间({f})晚于结束时间({t})"
            )));
        }
    }
    Ok((f, t))
}

/// A store error as the user should see it: their input's fault (400) or ours (500, logged).
pub fn store_error(err: logstore::Error) -> AppError {
    use logstore::Error as E;
    match err {
        E::InvalidRange { .. }
        | E::BadTime { .. }
        | E::InvalidRegex { .. }
        | E::InvalidCursor(_)
        | E::InvalidSelector { .. }
        | E::InvalidKey(_) => AppError::Invalid(store_words(&err)),
        other => {
            tracing::error!(error = %other, "log store");
            AppError::Internal(text!("reading the log store failed", "读取日志存储失败"))
        }
    }
}

/// The log store's refusal of what was typed: its English, and a Chinese sentence of the
/// same meaning with the values as they came.
fn store_words(err: &logstore::Error) -> Text {
    use logstore::Error as E;
    let zh = match err {
        E::InvalidRange { from, to } => format!("时间范围无效:开始时间({from})晚于结束时间({to})"),
        E::BadTime { input } => {
            format!("无法解析时间 {input:?}:应为 RFC 3339 格式,例如 2024-05-01T10:02:00Z")
        }
        E::InvalidRegex { pattern, source } => format!("无效的正则表达式 {pattern:?}:{source}"),
        E::InvalidCursor(c) => format!("无效的游标 {c:?}"),
        E::InvalidSelector { selector, reason } => {
            format!("无效的标签选择器 {selector:?}:{reason}")
        }
        E::InvalidKey(k) => format!("无效的日志流 {k}"),
        other => return Text::verbatim(other.to_string()),
    };
    Text::new(err.to_string(), zh)
}

pub fn line_of(e: &LogEntry) -> LogLine {
    LogLine {
        ts: e.position.ts.0,
        time: e.position.ts.to_string(),
        pod: e.key.pod.clone(),
        container: e.key.container.clone(),
        stderr: e.stream == logstore::LogStream::Stderr,
        truncated: e.truncated,
        text: e.text_lossy().into_owned(),
    }
}

/// What one log search may cost (`Settings::log_search`): past either budget it answers with
/// what it found, marked partial, and a cursor to search further; a user runs at most
/// `per_user` searches at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchLimits {
    pub budget: logstore::Budget,
    pub per_user: usize,
}

impl Default for SearchLimits {
    /// 5 s and 4 GiB of log text per search (a never-matching regex over a day of a busy
    /// tenant's logs fits; over a year it stops), 2 searches at once per user.
    fn default() -> Self {
        SearchLimits {
            budget: logstore::Budget {
                time: Some(std::time::Duration::from_secs(5)),
                bytes: Some(4 << 30),
            },
            per_user: 2,
        }
    }
}

/// The searches running now, per user (in `AppState`).
#[derive(Default)]
pub struct Searches {
    running: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// One running search (or download); dropping it ends it.
pub struct Running {
    searches: std::sync::Arc<Searches>,
    user: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.searches.lock();
        if let Some(n) = running.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.user);
            }
        }
    }
}

impl Searches {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, usize>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a search for `user`, unless they already run `limit`.
    pub fn start(
        self: &std::sync::Arc<Self>,
        user: &str,
        limit: usize,
    ) -> Result<Running, AppError> {
        let mut running = self.lock();
        let n = running.entry(user.to_string()).or_default();
        if *n >= limit.max(1) {
            let now = *n;
            return Err(AppError::Unavailable(text!(
                "you already have {now} log searches running; wait for one to finish",
                "你已有 {now} 个日志搜索在运行,请等其中一个结束"
            )));
        }
        *n += 1;
        Ok(Running {
            searches: self.clone(),
            user: user.to_string(),
        })
    }
}

/// The store query behind a [`LogQuery`], checked against the scope.
pub fn store_query(scope: &TenantScope, q: &LogQuery) -> Result<Query, AppError> {
    let (from, to) = range(&q.from, &q.to)?;
    let mut query = Query::new(selector(scope, &q.selection)?)
        .limit(q.limit.clamp(1, MAX_PAGE))
        .direction(if q.backward {
            Direction::Backward
        } else {
            Direction::Forward
        });
    query.from = from;
    query.to = to;
    query.filter = filter(&q.search)?;
    query.cursor = q.cursor.clone().filter(|c| !c.is_empty());
    Ok(query)
}

/// The page's mark when its search stopped at the budget.
pub fn partial_of(p: &logstore::Partial) -> LogPartial {
    LogPartial {
        reached: p.reached.to_string(),
        by_time: p.exhausted == logstore::Exhausted::Time,
        scanned_bytes: p.scanned,
    }
}

#[tracing::instrument(skip_all, fields(user = scope.user(), tenant = scope.tenant(), ns = %q.selection.namespace))]
pub async fn query(
    state: &AppState,
    scope: &TenantScope,
    q: LogQuery,
) -> Result<LogPage, AppError> {
    let limits = state.settings.log_search;
    let query = store_query(scope, &q)?.budget(limits.budget);
    let _running = state.log_searches.start(scope.user(), limits.per_user)?;
    let store = state.log_reader.clone();
    // NB: segment reads are blocking file (or bucket) I/O.
    let page = tokio::task::spawn_blocking(move || store.query(&query))
        .await
        .map_err(|e| AppError::internal(text!("reading the log store", "读取日志存储失败"), e))?
        .map_err(store_error)?;
    Ok(LogPage {
        lines: page.lines.iter().map(line_of).collect(),
        next_cursor: page.next_cursor,
        partial: page.partial.as_ref().map(partial_of),
    })
}

/// The live tail a follow socket asks for: the last `link.last` lines, then new ones.
pub fn tail_request(scope: &TenantScope, link: &LogLink) -> Result<TailRequest, AppError> {
    Ok(TailRequest {
        selector: selector(scope, &link.selection())?,
        filter: filter(&link.search())?,
        start: TailStart::Last(link.last.unwrap_or(1_000).min(MAX_TAIL)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_runs_at_most_their_searches_at_once() {
        let searches = std::sync::Arc::new(Searches::default());
        let a = searches.start("alice", 2).unwrap();
        let b = searches.start("alice", 2).unwrap();
        match searches.start("alice", 2) {
            Err(AppError::Unavailable(t)) => {
                assert!(t.en.contains("2 log searches running"), "{t:?}");
                assert!(!t.zh.is_empty());
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        // others are not held up by alice's
        drop(searches.start("bob", 2).unwrap());
        drop(a);
        let c = searches.start("alice", 2).unwrap();
        drop((b, c));
        assert!(searches.lock().is_empty(), "ended searches are forgotten");
    }

    #[test]
    fn a_selection_outside_the_tenant_is_refused_and_inside_always_names_the_namespace() {
        let scope = TenantScope::for_tests("alpha", &["alpha"]);
        let other = LogSelection {
            namespace: "beta".into(),
            ..Default::default()
        };
        assert!(matches!(
            selector(&scope, &other),
            Err(AppError::Forbidden(_))
        ));
        let mine = LogSelection {
            namespace: "alpha".into(),
            app: Some("shop".into()),
            ..Default::default()
        };
        let s = selector(&scope, &mine).unwrap();
        assert_eq!(s.namespaces, Some(vec!["alpha".to_string()]));
        let labels = logstore::Labels::from([("app".to_string(), "shop".to_string())]);
        assert!(s.matches(&logstore::StreamKey::new("alpha", "shop-1", "c"), &labels));
        assert!(!s.matches(
            &logstore::StreamKey::new("alpha", "other-1", "c"),
            &Default::default()
        ));
    }

    #[test]
    fn bad_input_gets_a_sentence() {
        assert!(
            matches!(range("2024-05-01T10:05:00Z", "2024-05-01T10:00:00Z"), Err(AppError::Invalid(m)) if m.en.contains("backwards") && m.zh.contains("颠倒"))
        );
        assert!(
            matches!(range("yesterday", ""), Err(AppError::Invalid(m)) if m.en.starts_with("from: unparsable time") && m.zh.starts_with("开始时间:无法解析"))
        );
        assert!(
            matches!(filter(&LogSearch { text: "(".into(), regex: true }), Err(AppError::Invalid(m)) if m.en.contains("invalid regular expression"))
        );
        assert_eq!(
            filter(&LogSearch {
                text: "(".into(),
                regex: false
            })
            .unwrap(),
            Some(Filter::Keyword("(".into()))
        );
    }
}
