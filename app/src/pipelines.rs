//! The pipelines server functions the pages call (their types come from `wharf_api::pipelines`); each body is one call
//! into `wharf_console::pipelines::endpoints`, which authorizes and does the work.

pub use wharf_api::pipelines::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The tenant's pipelines and their recent runs (also pushed live; this is the first paint).
#[server(prefix = "/api", endpoint = "pipelines", input = Json)]
pub async fn pipelines(tenant: String) -> Result<PipelinesView, AppError> {
    wharf_console::pipelines::endpoints::pipelines(expect_context(), tenant).await
}

/// Registries and whether local git URLs are allowed, for the designer.
#[server(prefix = "/api", endpoint = "pipeline_options", input = Json)]
pub async fn pipeline_options(tenant: String) -> Result<DesignerOptions, AppError> {
    wharf_console::pipelines::endpoints::pipeline_options(expect_context(), tenant).await
}

/// Creates (`create`) or updates a pipeline after validating it.
#[server(prefix = "/api", endpoint = "save_pipeline", input = Json)]
pub async fn save_pipeline(
    tenant: String,
    namespace: String,
    name: String,
    spec: PipelineSpec,
    create: bool,
) -> Result<(), AppError> {
    wharf_console::pipelines::endpoints::save_pipeline(
        expect_context(),
        tenant,
        namespace,
        name,
        spec,
        create,
    )
    .await
}

/// Deletes a pipeline with its runs and their Jobs.
#[server(prefix = "/api", endpoint = "delete_pipeline", input = Json)]
pub async fn delete_pipeline(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<(), AppError> {
    wharf_console::pipelines::endpoints::delete_pipeline(expect_context(), tenant, namespace, name)
        .await
}

/// Starts a run of the pipeline as it is now; returns the run's name.
#[server(prefix = "/api", endpoint = "start_run", input = Json)]
pub async fn start_run(
    tenant: String,
    namespace: String,
    pipeline: String,
) -> Result<String, AppError> {
    wharf_console::pipelines::endpoints::start_run(expect_context(), tenant, namespace, pipeline)
        .await
}

/// Stops a run: its Job is deleted and the run marked Cancelled.
#[server(prefix = "/api", endpoint = "cancel_run", input = Json)]
pub async fn cancel_run(tenant: String, namespace: String, run: String) -> Result<(), AppError> {
    wharf_console::pipelines::endpoints::cancel_run(expect_context(), tenant, namespace, run).await
}

/// Runs a finished run's stages again as a new run; returns the new run's name.
#[server(prefix = "/api", endpoint = "retry_run", input = Json)]
pub async fn retry_run(tenant: String, namespace: String, run: String) -> Result<String, AppError> {
    wharf_console::pipelines::endpoints::retry_run(expect_context(), tenant, namespace, run).await
}

/// Sets the app's image to the run's image (quick deploy).
#[server(prefix = "/api", endpoint = "deploy_run", input = Json)]
pub async fn deploy_run(
    tenant: String,
    namespace: String,
    run: String,
) -> Result<String, AppError> {
    wharf_console::pipelines::endpoints::deploy_run(expect_context(), tenant, namespace, run).await
}

/// The pipeline's webhook URL path and secret (developers only: the secret starts runs).
#[server(prefix = "/api", endpoint = "pipeline_webhook", input = Json)]
pub async fn pipeline_webhook(
    tenant: String,
    namespace: String,
    name: String,
) -> Result<WebhookInfo, AppError> {
    wharf_console::pipelines::endpoints::pipeline_webhook(expect_context(), tenant, namespace, name)
        .await
}
