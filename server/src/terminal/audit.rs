//! The audit trail: a session (or transfer) is recorded as an Event on the pod when it
//! starts and completed when it ends (format: `wharf_console::terminal`), for `kubectl describe
//! pod`; and in the console's durable audit log (`wharf_console::audit`, kept 90 days, where
//! Events expire after an hour) as `terminal.<kind>` when it starts and `terminal.<kind>.end`
//! with its outcome. The records name the console user, not the console's service account.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::time::Instant;
use wharf_api::audit::{AuditRecord, Outcome};
use wharf_api::error::AppError;
use wharf_console::auth::TenantScope;
use wharf_console::terminal::{audit_end, audit_event, Recorded, Target};
use wharf_console::AppState;

/// An open audit record; [`Audit::finish`] completes it.
pub struct Audit {
    api: Api<Event>,
    name: String,
    started: Instant,
    state: AppState,
    /// The durable record written at the start, completed with the outcome at the end.
    record: AuditRecord,
}

/// Writes the start record. NB: a session that cannot be audited does not start.
pub async fn start(
    state: &AppState,
    kind: &str,
    scope: &TenantScope,
    target: &Target,
    detail: &str,
) -> Result<Audit, AppError> {
    let record = AuditRecord {
        at: wharf_console::audit::now(),
        user: scope.user().to_string(),
        token: scope.token().unwrap_or_default().to_string(),
        tenant: scope.tenant().to_string(),
        action: format!("terminal.{kind}"),
        target: format!(
            "namespace={} pod={} container={} {detail}",
            target.namespace, target.pod, target.container
        ),
        outcome: Outcome::Ok,
        client: String::new(),
    };
    wharf_console::audit::write(state, record.clone()).await?;
    let api: Api<Event> = Api::namespaced(state.client.clone(), &target.namespace);
    let event = audit_event(kind, scope, target, detail, chrono::Utc::now());
    let created = api.create(&PostParams::default(), &event).await?;
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %target.namespace, pod = %target.pod, container = %target.container, kind, detail, "terminal audit: start");
    Ok(Audit {
        api,
        name: created.metadata.name.unwrap_or_default(),
        started: Instant::now(),
        state: state.clone(),
        record,
    })
}

impl Audit {
    /// The record's id (the Event's name); a session's recording is named after it.
    pub fn id(&self) -> &str {
        &self.name
    }

    pub async fn finish(self, detail: Option<&str>, exit_code: Option<i32>, outcome: &str) {
        self.finish_recorded(detail, exit_code, outcome, Recorded::No)
            .await
    }

    /// [`Audit::finish`] for a session whose output may have been recorded (`recorded`: whether, and whole or truncated).
    pub async fn finish_recorded(
        self,
        detail: Option<&str>,
        exit_code: Option<i32>,
        outcome: &str,
        recorded: Recorded,
    ) {
        let secs = self.started.elapsed().as_secs_f64();
        // NB: the durable record first, so whoever sees the Event completed finds it too
        let mut end = self.record.clone();
        end.at = wharf_console::audit::now();
        end.action.push_str(".end");
        // NB: a shell that exited (whatever its code), went idle or was closed ended normally
        end.outcome = if outcome.starts_with("error") {
            Outcome::Failed(outcome.to_string())
        } else {
            Outcome::Ok
        };
        if let Some(code) = exit_code {
            end.target.push_str(&format!(" exit={code}"));
        }
        if let Err(e) = wharf_console::audit::write(&self.state, end).await {
            tracing::error!(error = %e, "terminal audit: the end could not be written to the audit log");
        }

        let patch = audit_end(detail, secs, exit_code, outcome, recorded);
        if let Err(e) = self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::error!(error = %e, event = %self.name, "terminal audit: the end of a session could not be recorded");
        }
        tracing::info!(event = %self.name, secs, ?exit_code, outcome, ?recorded, "terminal audit: end");
    }
}
