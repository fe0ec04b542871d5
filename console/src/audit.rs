//! The audit log: one record for every change made through the console — server functions that
//! change something, terminal sessions and file transfers, logins — written (and flushed to
//! disk, so a `kill -9` right after cannot lose it) before the action's answer is sent.
//!
//! Records live in the log store under the namespace [`NAMESPACE`], one stream per tenant
//! (`_platform` for actions on no tenant), as JSON lines; no tenant can name that namespace (it
//! is reserved), so tenant log queries never reach it. Kept [`KEEP`] by default.

use crate::state::AppState;
use logstore::{Direction, LogStream, Query, StreamKey, StreamSelector, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use wharf_api::audit::{AuditFilter, AuditRecord, Outcome};
use wharf_api::error::AppError;
use wharf_api::{text, Text};

/// The log store namespace of audit records.
pub const NAMESPACE: &str = "wharf-audit";
/// The stream of actions aimed at no tenant.
pub const PLATFORM: &str = "_platform";
/// How long records are kept.
pub const KEEP: Duration = Duration::from_secs(90 * 24 * 3600);
/// Most records one query returns.
pub const MAX_LIMIT: usize = 1_000;

/// Server functions that change nothing: not audited. Every other one is (a new server
/// function is audited unless it is added here; the authorization test keeps this list equal
/// to the functions it calls read-only).
pub const READ_ONLY: &[&str] = &[
    "whoami",
    "api_tokens",
    "workloads",
    "list_pods",
    "app_events",
    "apm_state",
    "tenant_calls",
    "app_revisions",
    "get_yaml",
    "log_sources",
    "query_logs",
    "terminal_sessions",
    "terminal_check",
    "nginx_clusters",
    "tls_secrets",
    "nginx_config",
    "nginx_drift",
    "validate_nginx_change",
    "admin_nginx_clusters",
    "check_nginx_cluster",
    "query_range",
    "query_promql",
    "alert_rules",
    "list_alerts",
    "alert_receivers",
    "list_silences",
    "storage",
    "config_objects",
    "config_object",
    "app_config",
    "app_probes",
    "pipelines",
    "pipeline_options",
    "pipeline_webhook",
    "tenants",
    "tenant_overview",
    "tenant_deletion_plan",
    "users",
    "members",
    "audit_records",
    "identity_providers",
    "try_ldap_provider",
    "try_oidc_provider",
    "sign_in_options",
    "group_roles",
];

/// Does calling this server function change something (and so get a record)?
pub fn audited(endpoint: &str) -> bool {
    !READ_ONLY.contains(&endpoint)
}

/// The arguments that name what an action is aimed at, as `key=value` pairs. Passwords and
/// other free text are never among them.
pub fn target_of(args: &Value) -> String {
    const KEYS: &[&str] = &[
        "namespace",
        "ns",
        "name",
        "app",
        "kind",
        "pipeline",
        "run",
        "cluster",
        "node",
        "pod",
        "container",
        "user",
        "role",
        "replicas",
        "image",
        "revision",
        "id",
        "disabled",
        "platform_admin",
    ];
    let mut pairs = Vec::new();
    let mut collect = |obj: &serde_json::Map<String, Value>| {
        for key in KEYS {
            match obj.get(*key) {
                Some(Value::String(s)) if !s.is_empty() => pairs.push(format!("{key}={s}")),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => pairs.push(format!("{key}={v}")),
                _ => {}
            }
        }
    };
    if let Some(obj) = args.as_object() {
        collect(obj);
        for nested in ["form", "change", "receiver", "silence"] {
            if let Some(inner) = obj.get(nested).and_then(Value::as_object) {
                collect(inner);
            }
        }
    }
    pairs.join(" ")
}

/// The tenant an action is aimed at: its `tenant` argument, or a tenant form's name.
pub fn tenant_of(endpoint: &str, args: &Value) -> String {
    let direct = args.get("tenant").and_then(Value::as_str);
    let form = matches!(endpoint, "create_tenant" | "update_tenant")
        .then(|| args.pointer("/form/name").and_then(Value::as_str))
        .flatten();
    direct.or(form).unwrap_or_default().to_string()
}

/// The outcome an answer stands for.
pub fn outcome_of(result: Result<(), &AppError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok,
        Err(
            e @ (AppError::Unauthenticated
            | AppError::BadCredentials
            | AppError::PasswordChangeRequired
            | AppError::Forbidden(_)
            | AppError::Invalid(_)
            | AppError::NotFound(_)
            | AppError::Conflict(_)),
        ) => Outcome::Refused(e.to_string()),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Writes one record and flushes it to disk. An error here fails the action's answer: the
/// console does not answer for a change it could not record.
pub async fn write(state: &AppState, record: AuditRecord) -> Result<(), AppError> {
    let store = state.logs.clone();
    tokio::task::spawn_blocking(move || {
        let stream = if record.tenant.is_empty() {
            PLATFORM.to_string()
        } else {
            record.tenant.clone()
        };
        let key = StreamKey::new(NAMESPACE, stream, "audit");
        let labels = BTreeMap::from([("tenant".to_string(), record.tenant.clone())]);
        let line = serde_json::to_vec(&record).unwrap_or_default();
        let handle = store.stream(&key, &labels)?;
        handle.append(Timestamp::now(), LogStream::Stdout, &line)?;
        handle.flush()
    })
    .await
    .map_err(|e| AppError::internal(writing(), e))?
    .map_err(|e| AppError::internal(writing(), e))
}

fn writing() -> Text {
    text!("writing the audit record", "写入审计记录失败")
}

fn reading() -> Text {
    text!("reading the audit log", "读取审计日志失败")
}

/// Now, as records say it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Records matching `filter`, newest first, among the given tenants' streams (`None`: all).
pub async fn query(
    state: &AppState,
    tenants: Option<Vec<String>>,
    filter: AuditFilter,
) -> Result<Vec<AuditRecord>, AppError> {
    let store = state.log_reader.clone();
    let limit = filter.limit.clamp(1, MAX_LIMIT);
    let parse = |s: &str, what: Text| -> Result<Option<Timestamp>, AppError> {
        if s.is_empty() {
            return Ok(None);
        }
        Timestamp::parse_rfc3339(s).map(Some).map_err(|_| {
            AppError::Invalid(text!(
                "{what} '{s}' is not an RFC 3339 time",
                "{what}“{s}”不是 RFC 3339 格式的时间"
            ))
        })
    };
    let from = parse(&filter.from, text!("from", "开始时间"))?;
    let to = parse(&filter.to, text!("to", "结束时间"))?;
    tokio::task::spawn_blocking(move || {
        let selector = StreamSelector::namespaces([NAMESPACE.to_string()]);
        let mut out = Vec::new();
        let wanted: Option<Vec<String>> = match (&tenants, filter.tenant.is_empty()) {
            (_, false) => Some(vec![filter.tenant.clone()]),
            (Some(ts), true) => Some(ts.clone()),
            (None, true) => None,
        };
        if let Some(ts) = &wanted {
            if ts.is_empty() {
                return Ok(out);
            }
        }
        let mut cursor: Option<String> = None;
        loop {
            let mut q = Query::new(selector.clone())
                .direction(Direction::Backward)
                .limit(500);
            if let (Some(f), Some(t)) = (from, to) {
                q = q.range(f, t);
            } else if let Some(f) = from {
                q = q.range(f, Timestamp::now());
            } else if let Some(t) = to {
                q = q.range(Timestamp(0), t);
            }
            if let Some(c) = &cursor {
                q = q.cursor(c.clone());
            }
            let page = store.query(&q)?;
            for line in &page.lines {
                let Ok(record) = serde_json::from_slice::<AuditRecord>(&line.text) else {
                    continue;
                };
                let keep = wanted.as_ref().is_none_or(|ts| ts.contains(&record.tenant))
                    && (filter.user.is_empty() || record.user == filter.user)
                    && (filter.action.is_empty() || record.action == filter.action)
                    && (filter.outcome.is_empty() || record.outcome.label() == filter.outcome);
                if keep {
                    out.push(record);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    })
    .await
    .map_err(|e| AppError::internal(reading(), e))?
    .map_err(|e: logstore::Error| AppError::internal(reading(), e))
}

/// Drops records older than [`KEEP`], now and then daily; runs until the process ends.
pub async fn retention(state: AppState) {
    loop {
        let store = state.logs.clone();
        let rule = logstore::RetentionRule {
            namespaces: vec![NAMESPACE.to_string()],
            max_age: Some(KEEP),
            max_bytes: None,
        };
        match tokio::task::spawn_blocking(move || store.apply_retention(&[rule], Timestamp::now()))
            .await
        {
            Ok(Ok(report)) if report.lines_deleted > 0 => {
                tracing::info!(
                    lines = report.lines_deleted,
                    "audit records past 90 days dropped"
                )
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "audit retention failed"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    }
}

/// The body of the `audit_records` server function: a platform admin reads every record (or
/// one tenant's), a tenant's admin their tenant's, anyone else nothing.
pub async fn records(
    call: crate::call::Call,
    filter: AuditFilter,
) -> Result<Vec<AuditRecord>, AppError> {
    let who = call.principal()?;
    if who.platform_admin {
        return query(&call.state, None, filter).await;
    }
    if filter.tenant.is_empty() {
        return Err(crate::auth::forbidden(text!(
            "only a platform admin reads every tenant's audit log; choose your tenant",
            "只有平台管理员可以查看所有租户的审计日志,请选择你的租户"
        )));
    }
    let (state, scope) = call.scope(&filter.tenant, wharf_api::auth::Role::Admin)?;
    query(&state, Some(vec![scope.tenant().to_string()]), filter).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_name_the_object_and_never_a_password() {
        let args = json!({"tenant": "alpha", "namespace": "alpha", "name": "shop", "replicas": 3});
        assert_eq!(target_of(&args), "namespace=alpha name=shop replicas=3");
        let args = json!({"user": "carol", "password": "secret!"});
        assert_eq!(target_of(&args), "user=carol");
        let args = json!({"current": "a", "new": "b"});
        assert_eq!(target_of(&args), "");
        let args = json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "web", "image": "nginx:1"}});
        assert_eq!(target_of(&args), "namespace=alpha name=web image=nginx:1");
    }

    #[test]
    fn the_tenant_comes_from_the_arguments_or_the_tenant_form() {
        assert_eq!(tenant_of("scale_app", &json!({"tenant": "alpha"})), "alpha");
        assert_eq!(
            tenant_of("create_tenant", &json!({"form": {"name": "gamma"}})),
            "gamma"
        );
        assert_eq!(
            tenant_of("create_user", &json!({"form": {"name": "carol"}})),
            ""
        );
    }

    #[test]
    fn refusals_and_failures_are_told_apart() {
        assert_eq!(outcome_of(Ok(())), Outcome::Ok);
        assert!(matches!(
            outcome_of(Err(&AppError::Forbidden(Text::verbatim("x")))),
            Outcome::Refused(_)
        ));
        assert!(matches!(
            outcome_of(Err(&AppError::Invalid(Text::verbatim("x")))),
            Outcome::Refused(_)
        ));
        assert!(matches!(
            outcome_of(Err(&AppError::Cluster("x".into()))),
            Outcome::Failed(_)
        ));
    }
}
