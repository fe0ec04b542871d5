//! The logs server functions the pages call (their types come from `wharf_api::logs`); each body is one call
//! into `wharf_console::logs::endpoints`, which authorizes and does the work.

pub use wharf_api::logs::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The apps (with their pods and containers) whose logs the tenant may read.
#[server(prefix = "/api", endpoint = "log_sources", input = Json)]
pub async fn log_sources(tenant: String) -> Result<Vec<LogSource>, AppError> {
    wharf_console::logs::endpoints::log_sources(expect_context(), tenant).await
}

/// One page of a time range of an app's, a pod's or a container's logs, merged in time order.
#[server(prefix = "/api", endpoint = "query_logs", input = Json)]
pub async fn query_logs(tenant: String, query: LogQuery) -> Result<LogPage, AppError> {
    wharf_console::logs::endpoints::query_logs(expect_context(), tenant, query).await
}
