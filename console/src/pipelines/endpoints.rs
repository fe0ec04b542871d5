//! The bodies of the pipelines server functions (declared in `wharf_app::pipelines`): each authorizes the
//! call for its tenant first, then does the work.

use crate::call::Call;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::pipelines::*;

/// The tenant's pipelines and their recent runs (also pushed live; this is the first paint).
pub async fn pipelines(call: Call, tenant: String) -> Result<PipelinesView, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    Ok(super::view(&state.cache, &scope))
}

/// Registries and whether local git URLs are allowed, for the designer.
pub async fn pipeline_options(call: Call, tenant: String) -> Result<DesignerOptions, AppError> {
    let (state, _scope) = call.scope(&tenant, Role::Viewer)?;
    Ok(state.settings.pipelines.options())
}

/// Creates (`create`) or updates a pipeline after validating it.
pub async fn save_pipeline(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
    spec: PipelineSpec,
    create: bool,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::save(&state, &scope, &namespace, &name, spec, create).await
}

/// Deletes a pipeline with its runs and their Jobs.
pub async fn delete_pipeline(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::delete(&state, &scope, &namespace, &name).await
}

/// Starts a run of the pipeline as it is now; returns the run's name.
pub async fn start_run(
    call: Call,
    tenant: String,
    namespace: String,
    pipeline: String,
) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::start(&state, &scope, &namespace, &pipeline).await
}

/// Stops a run: its Job is deleted and the run marked Cancelled.
pub async fn cancel_run(
    call: Call,
    tenant: String,
    namespace: String,
    run: String,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::cancel(&state, &scope, &namespace, &run).await
}

/// Runs a finished run's stages again as a new run; returns the new run's name.
pub async fn retry_run(
    call: Call,
    tenant: String,
    namespace: String,
    run: String,
) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::retry(&state, &scope, &namespace, &run).await
}

/// Sets the app's image to the run's image (quick deploy).
pub async fn deploy_run(
    call: Call,
    tenant: String,
    namespace: String,
    run: String,
) -> Result<String, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::quick_deploy(&state, &scope, &namespace, &run).await
}

/// The pipeline's webhook URL path and secret (developers only: the secret starts runs).
pub async fn pipeline_webhook(
    call: Call,
    tenant: String,
    namespace: String,
    name: String,
) -> Result<WebhookInfo, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Developer)?;
    super::webhook_info(&state, &scope, &namespace, &name).await
}
