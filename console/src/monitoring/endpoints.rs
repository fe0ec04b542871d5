//! The bodies of the monitoring server functions (declared in `wharf_app::monitoring`): each authorizes the
//! call for its tenant first, then does the work.

use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::monitoring::*;

/// One panel of the tenant's, an app's or a pod's dashboard over the last `minutes`.
pub async fn query_range(
    call: Call,
    tenant: String,
    panel: Panel,
    target: Target,
    minutes: u32,
) -> Result<PanelData, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::panel(&state, &scope, panel, &target, minutes).await
}

/// A hand-written PromQL query over the last `minutes`, limited to the tenant's namespaces.
pub async fn query_promql(
    call: Call,
    tenant: String,
    query: String,
    minutes: u32,
) -> Result<PanelData, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::promql(&state, &scope, &query, minutes).await
}

/// An app's alert thresholds (empty when it has none).
pub async fn alert_rules(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<AlertThresholds, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::thresholds_of(&state, &scope, &namespace, &name).await
}

/// Sets an app's alert thresholds: the rule file is checked, swapped in, Prometheus reloaded,
/// and the rules confirmed loaded — or the previous rules stay and the error says why.
pub async fn set_alert_rules(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    thresholds: AlertThresholds,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::set_thresholds(&state, &scope, &namespace, &name, &thresholds).await
}

/// The tenant's alerts (firing first, then recently resolved); only one app's with `app`.
pub async fn list_alerts(
    call: Call,
    tenant: String,
    namespace: Option<String>,
    app: Option<String>,
) -> Result<Vec<AlertRow>, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::alerts(&state, &scope, namespace.as_deref(), app.as_deref())
}

/// The tenant's own alert receivers (webhooks, e-mail addresses).
pub async fn alert_receivers(call: Call, tenant: String) -> Result<ReceiversView, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::receivers(&state, &scope)
}

/// Adds a receiver to the tenant: Alertmanager's new configuration is checked with amtool,
/// swapped in, loaded and confirmed before the tenant keeps it — or nothing changes and the
/// error says why.
pub async fn add_alert_receiver(
    call: Call,
    tenant: String,
    receiver: Receiver,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::change_receivers(&state, &scope, Ok(receiver)).await
}

/// Removes one of the tenant's receivers (the same transaction as adding).
pub async fn remove_alert_receiver(
    call: Call,
    tenant: String,
    name: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::change_receivers(&state, &scope, Err(name)).await
}

/// The tenant's silences: active and pending, then the recently expired.
pub async fn list_silences(call: Call, tenant: String) -> Result<SilencesView, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    super::silences::list(&state, &scope).await
}

/// Silences alerts in one of the tenant's namespaces (the server adds that namespace as a
/// matcher, whatever else is asked); `createdBy` is the signed-in user. Returns its id.
pub async fn create_silence(
    call: Call,
    tenant: String,
    silence: NewSilence,
) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::silences::create(&state, &scope, &silence).await
}

/// Expires one of the tenant's silences (another tenant's answers like a missing one).
pub async fn expire_silence(call: Call, tenant: String, id: String) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::silences::expire(&state, &scope, &id).await
}
