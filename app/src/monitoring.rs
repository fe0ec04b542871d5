//! The monitoring server functions the pages call (their types come from `wharf_api::monitoring`); each body is one call
//! into `wharf_console::monitoring::endpoints`, which authorizes and does the work.

pub use wharf_api::monitoring::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// One panel of the tenant's, an app's or a pod's dashboard over the last `minutes`.
#[server(prefix = "/api", endpoint = "query_range", input = Json)]
pub async fn query_range(
    tenant: String,
    panel: Panel,
    target: Target,
    minutes: u32,
) -> Result<PanelData, AppError> {
    wharf_console::monitoring::endpoints::query_range(
        expect_context(),
        tenant,
        panel,
        target,
        minutes,
    )
    .await
}

/// A hand-written PromQL query over the last `minutes`, limited to the tenant's namespaces.
#[server(prefix = "/api", endpoint = "query_promql", input = Json)]
pub async fn query_promql(
    tenant: String,
    query: String,
    minutes: u32,
) -> Result<PanelData, AppError> {
    wharf_console::monitoring::endpoints::query_promql(expect_context(), tenant, query, minutes)
        .await
}

/// An app's alert thresholds (empty when it has none).
#[server(prefix = "/api", endpoint = "alert_rules", input = Json)]
pub async fn alert_rules(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<AlertThresholds, AppError> {
    wharf_console::monitoring::endpoints::alert_rules(expect_context(), tenant, namespace, name)
        .await
}

/// Sets an app's alert thresholds: the rule file is checked, swapped in, Prometheus reloaded,
/// and the rules confirmed loaded — or the previous rules stay and the error says why.
#[server(prefix = "/api", endpoint = "set_alert_rules", input = Json)]
pub async fn set_alert_rules(
    tenant: String,
    namespace: String,
    name: String,
    thresholds: AlertThresholds,
) -> Result<(), AppError> {
    wharf_console::monitoring::endpoints::set_alert_rules(
        expect_context(),
        tenant,
        namespace,
        name,
        thresholds,
    )
    .await
}

/// The tenant's alerts (firing first, then recently resolved); only one app's with `app`.
#[server(prefix = "/api", endpoint = "list_alerts", input = Json)]
pub async fn list_alerts(
    tenant: String,
    namespace: Option<String>,
    app: Option<String>,
) -> Result<Vec<AlertRow>, AppError> {
    wharf_console::monitoring::endpoints::list_alerts(expect_context(), tenant, namespace, app)
        .await
}

/// The tenant's own alert receivers (webhooks, e-mail addresses).
#[server(prefix = "/api", endpoint = "alert_receivers", input = Json)]
pub async fn alert_receivers(tenant: String) -> Result<ReceiversView, AppError> {
    wharf_console::monitoring::endpoints::alert_receivers(expect_context(), tenant).await
}

/// Adds a receiver to the tenant: Alertmanager's new configuration is checked with amtool,
/// swapped in, loaded and confirmed before the tenant keeps it — or nothing changes and the
/// error says why.
#[server(prefix = "/api", endpoint = "add_alert_receiver", input = Json)]
pub async fn add_alert_receiver(tenant: String, receiver: Receiver) -> Result<(), AppError> {
    wharf_console::monitoring::endpoints::add_alert_receiver(expect_context(), tenant, receiver)
        .await
}

/// Removes one of the tenant's receivers (the same transaction as adding).
#[server(prefix = "/api", endpoint = "remove_alert_receiver", input = Json)]
pub async fn remove_alert_receiver(tenant: String, name: String) -> Result<(), AppError> {
    wharf_console::monitoring::endpoints::remove_alert_receiver(expect_context(), tenant, name)
        .await
}

/// The tenant's silences: active and pending, then the recently expired.
#[server(prefix = "/api", endpoint = "list_silences", input = Json)]
pub async fn list_silences(tenant: String) -> Result<SilencesView, AppError> {
    wharf_console::monitoring::endpoints::list_silences(expect_context(), tenant).await
}

/// Silences alerts in one of the tenant's namespaces (the server adds that namespace as a
/// matcher, whatever else is asked); `createdBy` is the signed-in user. Returns its id.
#[server(prefix = "/api", endpoint = "create_silence", input = Json)]
pub async fn create_silence(tenant: String, silence: NewSilence) -> Result<String, AppError> {
    wharf_console::monitoring::endpoints::create_silence(expect_context(), tenant, silence).await
}

/// Expires one of the tenant's silences (another tenant's answers like a missing one).
#[server(prefix = "/api", endpoint = "expire_silence", input = Json)]
pub async fn expire_silence(tenant: String, id: String) -> Result<(), AppError> {
    wharf_console::monitoring::endpoints::expire_silence(expect_context(), tenant, id).await
}
