//! The audit trail: a session (or transfer) is recorded as an Event on the pod when it
//! starts and completed when it ends (format: `wharf_console::terminal`). The record names
//! the console user, not the console's service account that writes it.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::time::Instant;
use wharf_api::error::AppError;
use wharf_console::auth::TenantScope;
use wharf_console::terminal::{audit_end, audit_event, Recorded, Target};

/// An open audit record; [`Audit::finish`] completes it.
pub struct Audit {
    api: Api<Event>,
    name: String,
    started: Instant,
}

/// Writes the start record. NB: a session that cannot be audited does not start.
pub async fn start(
    client: &kube::Client,
    kind: &str,
    scope: &TenantScope,
    target: &Target,
    detail: &str,
) -> Result<Audit, AppError> {
    let api: Api<Event> = Api::namespaced(client.clone(), &target.namespace);
    let event = audit_event(kind, scope, target, detail, chrono::Utc::now());
    let created = api.create(&PostParams::default(), &event).await?;
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %target.namespace, pod = %target.pod, container = %target.container, kind, detail, "terminal audit: start");
    Ok(Audit {
        api,
        name: created.metadata.name.unwrap_or_default(),
        started: Instant::now(),
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
