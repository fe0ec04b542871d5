//! The pipeline controller: a `kube_runtime::Controller` over `PipelineRun`s, woken by their
//! Jobs (owned) and the Jobs' pods (by label). For each run it
//!
//! 1. stops the Job of a cancelled run;
//! 2. creates the run's Job when it has none (see `job`);
//! 3. writes the run's status from the Job and its pod (see `status`);
//! 4. deploys the image when the run succeeded and its deploy stage is automatic;
//! 5. keeps the pipeline's badge (last run, result, image) current.
//!
//! Every step is idempotent: a reconcile may run any number of times for the same state.

use super::{job::job_for, status::compute};
use crate::auth::SessionKey;
use crate::leader::Leadership;
use crate::pipelines::{deploy_blocked, deploy_image, PipelineSettings};
use crds::pipeline::{Pipeline, PipelineRun, RunPhase, LABEL_RUN};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use wharf_api::error::AppError;

struct Context {
    client: kube::Client,
    settings: PipelineSettings,
    /// Seals the tokens build pods fetch uploaded artifacts with (see `artifacts`).
    key: SessionKey,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    App(#[from] AppError),
}

/// The Lease (in `wharf-system`) that decides which console replica runs the controller.
pub const LEASE: &str = "wharf-pipelines";

/// Starts the controller; it runs until the console stops, and only while this console
/// replica leads (see [`crate::leader`]): with several replicas, exactly one creates Jobs
/// and writes runs' status; when it stops or loses the Lease, another takes over.
pub fn spawn(
    client: kube::Client,
    settings: PipelineSettings,
    key: SessionKey,
    mut leadership: Leadership,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // NB: ends with the election (else a stopped election would restart it in a loop).
        while leadership.acquired().await {
            tracing::info!(
                identity = leadership.identity(),
                "pipeline controller starts (this replica leads)"
            );
            let mut lost = leadership.clone();
            run(client.clone(), settings.clone(), key.clone(), async move {
                lost.lost().await
            })
            .await;
            tracing::info!(
                identity = leadership.identity(),
                "pipeline controller stopped (leadership lost)"
            );
        }
    })
}

/// Runs the controller until `stop` resolves (reconciles in flight are finished first).
async fn run(
    client: kube::Client,
    settings: PipelineSettings,
    key: SessionKey,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let runs: Api<PipelineRun> = Api::all(client.clone());
    let jobs: Api<Job> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    let labelled = watcher::Config::default().labels(LABEL_RUN);
    let ctx = Arc::new(Context {
        client,
        settings,
        key,
    });
    Controller::new(runs, watcher::Config::default())
        .owns(jobs, labelled.clone())
        .watches(pods, labelled, |pod: Pod| {
            let run = pod.labels().get(LABEL_RUN)?.clone();
            Some(ObjectRef::<PipelineRun>::new(&run).within(&pod.namespace()?))
        })
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "pipeline reconcile");
            }
        })
        .await;
}

fn error_policy(run: Arc<PipelineRun>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(run = %run.name_any(), %error, "pipeline run reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

#[tracing::instrument(skip_all, fields(run = %run.name_any()))]
async fn reconcile(run: Arc<PipelineRun>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let runs: Api<PipelineRun> = Api::namespaced(ctx.client.clone(), &namespace);
    let finished = run.status.as_ref().is_some_and(|s| s.phase.is_finished());

    let mut job = jobs.get_opt(&name).await?;
    if run.spec.cancelled_by.is_some() && !finished {
        if job.is_some() {
            match jobs.delete(&name, &DeleteParams::background()).await {
                Ok(_) => tracing::info!("cancelled: job deleted"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        job = None;
    } else if job.is_none() && !finished {
        let artifact_url = super::artifacts::url_for_run(
            &ctx.settings.artifacts,
            &ctx.key,
            &run,
            ctx.settings.timeout_secs,
            chrono::Utc::now().timestamp(),
        );
        match artifact_url.and_then(|url| job_for(&run, &ctx.settings, url.as_deref())) {
            Ok(new) => match jobs.create(&PostParams::default(), &new).await {
                Ok(created) => job = Some(created),
                Err(kube::Error::Api(s)) if s.code == 409 => job = jobs.get_opt(&name).await?,
                Err(kube::Error::Api(s)) => {
                    return fail(
                        &runs,
                        &run,
                        format!("the cluster refused the run's Job: {}", s.message),
                    )
                    .await
                }
                Err(e) => return Err(e.into()),
            },
            Err(why) => return fail(&runs, &run, why).await,
        }
    }

    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let pod = if job.is_some() {
        let list = pods
            .list(&ListParams::default().labels(&format!("{LABEL_RUN}={name}")))
            .await?;
        list.items
            .into_iter()
            .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
    } else {
        None
    };
    let status = compute(
        &run,
        job.as_ref(),
        pod.as_ref(),
        &ctx.settings,
        chrono::Utc::now(),
    );
    let mut current = (*run).clone();
    if run.status.as_ref() != Some(&status) {
        runs.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await?;
        if status.phase != run.status.clone().unwrap_or_default().phase {
            tracing::info!(phase = status.phase.label(), "pipeline run");
        }
    }
    current.status = Some(status.clone());

    let auto = run
        .spec
        .snapshot
        .stages
        .iter()
        .filter_map(|s| s.deploy.as_ref())
        .any(|d| d.auto);
    if status.phase == RunPhase::Succeeded && status.deployed.is_none() && auto {
        match deploy_blocked(&current) {
            None => {
                deploy_image(&ctx.client, &ctx.settings, &current, "pipeline (automatic)").await?;
            }
            Some(why) => tracing::info!(%why, "automatic deploy skipped"),
        }
    }

    update_badge(&ctx.client, &current).await?;
    Ok(if status.phase.is_finished() {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(30))
    })
}

/// Marks a run Failed before it had a Job (an impossible design, a refused Job).
async fn fail(runs: &Api<PipelineRun>, run: &PipelineRun, why: String) -> Result<Action, Error> {
    tracing::warn!(%why, "pipeline run cannot start");
    let mut status = run.status.clone().unwrap_or_default();
    status.phase = RunPhase::Failed;
    status.message = Some(why);
    status.finished_at = Some(chrono::Utc::now());
    status.started_at = status.started_at.or(status.finished_at);
    runs.patch_status(
        &run.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    Ok(Action::await_change())
}

/// The pipeline's badge follows its newest run.
async fn update_badge(client: &kube::Client, run: &PipelineRun) -> Result<(), Error> {
    let pipelines: Api<Pipeline> =
        Api::namespaced(client.clone(), &run.namespace().unwrap_or_default());
    let Some(pipeline) = pipelines.get_opt(&run.spec.pipeline).await? else {
        return Ok(());
    };
    let badge = pipeline.status.clone().unwrap_or_default();
    if badge.last_run.is_some_and(|n| n > run.spec.number) {
        return Ok(());
    }
    let status = run.status.clone().unwrap_or_default();
    let last_image = if status.phase == RunPhase::Succeeded {
        status.image.clone()
    } else {
        badge.last_image.clone()
    };
    if badge.last_run == Some(run.spec.number)
        && badge.last_phase == Some(status.phase)
        && badge.last_image == last_image
    {
        return Ok(());
    }
    let patch = json!({"status": {"lastRun": run.spec.number, "lastPhase": status.phase, "lastImage": last_image}});
    pipelines
        .patch_status(
            &pipeline.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    Ok(())
}
