//! What a run did, read from its Job and the Job's pod: each stage's state from its
//! container's status, the commit, quality verdict and image digest from the termination
//! messages the stages write (see `job`), and the run's phase from the Job's conditions.
//! A pure function of its inputs, so the whole mapping is unit-tested without a cluster.

use super::job::{base_tag, image_repo};
use crate::pipelines::PipelineSettings;
use crate::workloads::to_chrono;
use chrono::{DateTime, Utc};
use crds::pipeline::{
    PipelineRun, PipelineRunStatus, PipelineSpec, RunPhase, StageKind, StagePhase, StageStatus,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// Waiting reasons that mean the stage cannot go on by itself.
const STUCK: [&str; 5] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
];

fn container_status<'a>(pod: Option<&'a Pod>, name: &str) -> Option<&'a ContainerStatus> {
    let status = pod?.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find(|c| c.name == name)
}

fn stage_status(name: &str, kind: Option<StageKind>, cs: Option<&ContainerStatus>) -> StageStatus {
    let mut out = StageStatus {
        name: name.into(),
        kind,
        ..Default::default()
    };
    let Some(state) = cs.and_then(|c| c.state.as_ref()) else {
        return out;
    };
    if let Some(t) = &state.terminated {
        out.phase = if t.exit_code == 0 {
            StagePhase::Succeeded
        } else {
            StagePhase::Failed
        };
        out.exit_code = Some(t.exit_code);
        out.started_at = t.started_at.as_ref().map(|t| to_chrono(&t.0));
        out.finished_at = t.finished_at.as_ref().map(|t| to_chrono(&t.0));
        out.message = t
            .message
            .clone()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .or_else(|| t.reason.clone().filter(|r| r != "Completed"));
    } else if let Some(r) = &state.running {
        out.phase = StagePhase::Running;
        out.started_at = r.started_at.as_ref().map(|t| to_chrono(&t.0));
    } else if let Some(w) = &state.waiting {
        out.message = match (&w.reason, &w.message) {
            (Some(r), Some(m)) => Some(format!("{r}: {m}")),
            (Some(r), None) if r != "PodInitializing" => Some(r.clone()),
            _ => None,
        };
    }
    out
}

fn terminated_message(cs: Option<&ContainerStatus>) -> Option<String> {
    let t = cs?.state.as_ref()?.terminated.as_ref()?;
    (t.exit_code == 0)
        .then(|| t.message.clone())
        .flatten()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
}

fn job_condition(job: Option<&Job>, kind: &str) -> Option<(Option<DateTime<Utc>>, String)> {
    let c = job?
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == kind && c.status == "True")?;
    let reason = [c.reason.clone(), c.message.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    Some((
        c.last_transition_time.as_ref().map(|t| to_chrono(&t.0)),
        reason,
    ))
}

/// What a skipped build or quality stage says when the source is an uploaded artifact.
pub const SKIPPED_FOR_ARTIFACT: &str =
    "skipped: the source is an uploaded artifact, built already, with no source to analyse";

/// Whether a failed (or missing) quality verdict keeps the run's image from being deployed:
/// a quality stage that blocks on failure and runs at all (see [`super::job::runs`]).
pub fn gate_blocks(spec: &PipelineSpec) -> bool {
    super::job::runs(spec, StageKind::Quality)
        && spec
            .stages
            .iter()
            .filter_map(|s| s.quality.as_ref())
            .any(|q| q.block_on_fail)
}

/// The run's status given its Job and pod as they are now. `previous` keeps what only the
/// console knows (who deployed) and the times of a finished run.
pub fn compute(
    run: &PipelineRun,
    job: Option<&Job>,
    pod: Option<&Pod>,
    settings: &PipelineSettings,
    now: DateTime<Utc>,
) -> PipelineRunStatus {
    let previous = run.status.clone().unwrap_or_default();
    let snapshot = &run.spec.snapshot;
    let image_stage = snapshot
        .stages
        .iter()
        .find(|s| s.image.is_some())
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let mut status = PipelineRunStatus {
        deployed: previous.deployed.clone(),
        ..Default::default()
    };

    for stage in &snapshot.stages {
        let kind = stage.kind();
        let cs = container_status(pod, &stage.name);
        let mut s = match kind {
            Some(k) if !super::job::runs(snapshot, k) => StageStatus {
                name: stage.name.clone(),
                kind,
                phase: StagePhase::Skipped,
                message: Some(SKIPPED_FOR_ARTIFACT.into()),
                ..Default::default()
            },
            Some(StageKind::Tools) => {
                // debug tools are lines of the image stage's Dockerfile: they share its fate
                let mut s = stage_status(&stage.name, kind, container_status(pod, &image_stage));
                s.message = None;
                s.exit_code = None;
                s
            }
            Some(StageKind::Deploy) => StageStatus {
                name: stage.name.clone(),
                kind,
                ..Default::default()
            },
            _ => stage_status(&stage.name, kind, cs),
        };
        match kind {
            Some(StageKind::Source) => {
                status.commit = terminated_message(cs)
                    .filter(|m| m.len() == 40 && m.bytes().all(|b| b.is_ascii_hexdigit()))
            }
            Some(StageKind::Quality) => {
                status.quality = terminated_message(cs).filter(|m| m == "passed" || m == "failed")
            }
            Some(StageKind::Image) => {
                // built by kaniko in `<stage>`, pushed by `<stage>-push`: one stage to the user
                let push = container_status(pod, &super::job::push_container(&stage.name));
                if s.phase == StagePhase::Succeeded {
                    let p = stage_status(&stage.name, kind, push);
                    s.phase = match p.phase {
                        StagePhase::Succeeded | StagePhase::Failed => p.phase,
                        _ => StagePhase::Running,
                    };
                    s.finished_at = p.finished_at;
                    s.exit_code = p.exit_code.or(s.exit_code);
                    s.message = p.message;
                }
                let digest =
                    terminated_message(push).filter(|m| m.starts_with("sha256:") && m.len() == 71);
                if let (Some(digest), Some(repo)) = (digest, image_repo(run, settings)) {
                    let tag = match &status.quality {
                        Some(q) => format!("{}-{q}", base_tag(run)),
                        None => base_tag(run),
                    };
                    status.image = Some(format!("{repo}:{tag}@{digest}"));
                }
                // the digest is the stage's result; the stage row shows the image instead
                if s.phase == StagePhase::Succeeded {
                    s.message = status.image.clone();
                }
            }
            _ => {}
        }
        status.stages.push(s);
    }

    status.started_at = previous
        .started_at
        .or_else(|| {
            pod.and_then(|p| p.status.as_ref()?.start_time.as_ref())
                .map(|t| to_chrono(&t.0))
        })
        .or(Some(now));
    let failed_stage = status
        .stages
        .iter()
        .find(|s| s.phase == StagePhase::Failed)
        .cloned();
    let stuck = status
        .stages
        .iter()
        .find(|s| {
            s.message
                .as_deref()
                .is_some_and(|m| STUCK.iter().any(|r| m.starts_with(r)))
        })
        .cloned();

    if previous.phase.is_finished() {
        // A finished run stays as it ended; only the deploy record may change.
        status.phase = previous.phase;
        status.finished_at = previous.finished_at;
        status.message = previous.message.clone();
        if job.is_none() && pod.is_none() {
            // the Job was cleaned up: keep the recorded stages
            status.stages = previous.stages.clone();
            status.commit = previous.commit.clone();
            status.quality = previous.quality.clone();
            status.image = previous.image.clone();
        }
    } else if let Some(by) = &run.spec.cancelled_by {
        status.phase = RunPhase::Cancelled;
        status.finished_at = Some(now);
        status.message = Some(format!("cancelled by {by}"));
    } else if let Some((at, _)) = job_condition(job, "Complete") {
        if status.image.is_some() {
            status.phase = RunPhase::Succeeded;
        } else {
            status.phase = RunPhase::Failed;
            status.message =
                Some("the image stage finished without reporting an image digest".into());
        }
        status.finished_at = at.or(Some(now));
    } else if let Some((at, reason)) = job_condition(job, "Failed") {
        status.phase = RunPhase::Failed;
        status.finished_at = at.or(Some(now));
        status.message = Some(match &failed_stage {
            Some(s) => format!(
                "stage '{}' failed with exit code {}",
                s.name,
                s.exit_code.unwrap_or(-1)
            ),
            None if !reason.is_empty() => reason,
            None => "the run's Job failed".into(),
        });
    } else if let Some(s) = &failed_stage {
        // the pod failed and the Job has not said so yet
        status.phase = RunPhase::Running;
        status.message = Some(format!(
            "stage '{}' failed with exit code {}",
            s.name,
            s.exit_code.unwrap_or(-1)
        ));
    } else if pod.is_some() {
        status.phase = RunPhase::Running;
        status.message = stuck.map(|s| {
            format!(
                "stage '{}' cannot start: {}",
                s.name,
                s.message.unwrap_or_default()
            )
        });
    } else {
        status.phase = RunPhase::Pending;
    }

    if status.phase.is_finished() {
        for s in &mut status.stages {
            let open = matches!(s.phase, StagePhase::Waiting | StagePhase::Running);
            let deploy_waits =
                s.kind == Some(StageKind::Deploy) && status.phase == RunPhase::Succeeded;
            if open && !deploy_waits {
                s.phase = StagePhase::Skipped;
            }
        }
    }
    if let Some(deploy) = status
        .stages
        .iter_mut()
        .find(|s| s.kind == Some(StageKind::Deploy))
    {
        if let Some(d) = &status.deployed {
            deploy.phase = StagePhase::Succeeded;
            deploy.finished_at = d.at;
            deploy.message = Some(format!("deployed by {}", d.by));
        } else if status.phase == RunPhase::Succeeded {
            let auto = snapshot
                .stages
                .iter()
                .filter_map(|s| s.deploy.as_ref())
                .any(|d| d.auto);
            let blocks = gate_blocks(snapshot) && status.quality.as_deref() != Some("passed");
            if blocks {
                deploy.phase = StagePhase::Skipped;
                deploy.message = Some("blocked: the quality gate failed".into());
            } else {
                deploy.message = Some(if auto {
                    "deploying…".into()
                } else {
                    "waiting for the deploy button".into()
                });
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::pipeline::{PipelineRunSpec, PipelineSpec, Stage};
    use serde_json::json;

    fn run(quality: bool) -> PipelineRun {
        let mut image = Stage::new(StageKind::Image, "image");
        image.image.as_mut().unwrap().registry = "demo".into();
        image.image.as_mut().unwrap().repository = "alpha/shop".into();
        let mut stages = vec![
            Stage::new(StageKind::Source, "clone"),
            Stage::new(StageKind::Build, "build"),
        ];
        if quality {
            stages.push(Stage::new(StageKind::Quality, "sonar"));
        }
        stages.extend([image, Stage::new(StageKind::Deploy, "ship")]);
        let mut run = PipelineRun::new(
            "shop-3",
            PipelineRunSpec {
                pipeline: "shop".into(),
                number: 3,
                triggered_by: "alice".into(),
                reason: "manual".into(),
                snapshot: PipelineSpec {
                    app: "shop".into(),
                    stages,
                },
                cancelled_by: None,
            },
        );
        run.metadata.namespace = Some("alpha".into());
        run
    }

    fn terminated(name: &str, code: i32, message: &str) -> serde_json::Value {
        json!({"name": name, "image": "x", "imageID": "", "ready": false, "restartCount": 0,
               "state": {"terminated": {"exitCode": code, "message": message, "startedAt": "2026-11-26T10:00:00Z", "finishedAt": "2026-11-26T10:00:05Z"}}})
    }

    fn pod(init: Vec<serde_json::Value>, main: Vec<serde_json::Value>) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "shop-3-abc"}, "status": {"phase": "Running", "startTime": "2026-11-26T10:00:00Z", "initContainerStatuses": init, "containerStatuses": main}})).unwrap()
    }

    fn job(condition: &str) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "shop-3"}, "status": {"conditions": [{"type": condition, "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": "2026-11-26T10:01:00Z"}]}})).unwrap()
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    /// An uploaded artifact's run: build and quality (blocking on failure) are skipped and
    /// say so; the run succeeds with its image and nothing blocks its deploy.
    #[test]
    fn a_run_from_an_artifact_skips_build_and_quality_and_deploys() {
        let mut run = run(true);
        let stages = &mut run.spec.snapshot.stages;
        stages[2].quality.as_mut().unwrap().block_on_fail = true;
        stages[0].source.as_mut().unwrap().artifact = Some(crds::pipeline::ArtifactSource {
            sha256: "ab".repeat(32),
            file_name: "site.zip".into(),
            start_command: "./start.sh".into(),
            port: 8080,
            ..Default::default()
        });
        let pod = pod(
            vec![
                terminated("clone", 0, &format!("sha256:{}", "ab".repeat(32))),
                terminated("image", 0, ""),
            ],
            vec![terminated("image-push", 0, DIGEST)],
        );
        let s = compute(
            &run,
            Some(&job("Complete")),
            Some(&pod),
            &PipelineSettings::demo(),
            Utc::now(),
        );
        assert_eq!(s.phase, RunPhase::Succeeded, "{s:?}");
        let phase = |n: &str| s.stages.iter().find(|x| x.name == n).unwrap().clone();
        for skipped in ["build", "sonar"] {
            assert_eq!(phase(skipped).phase, StagePhase::Skipped);
            assert_eq!(
                phase(skipped).message.as_deref(),
                Some(SKIPPED_FOR_ARTIFACT)
            );
        }
        assert_eq!(phase("clone").phase, StagePhase::Succeeded);
        assert_eq!(s.commit, None);
        assert!(s.image.is_some());
        assert_eq!(
            phase("ship").message.as_deref(),
            Some("waiting for the deploy button")
        );
        run.status = Some(s);
        assert_eq!(super::super::deploy_blocked(&run), None);
    }

    #[test]
    fn a_successful_run_reports_commit_verdict_and_image() {
        let pod = pod(
            vec![
                terminated("clone", 0, SHA),
                terminated("build", 0, ""),
                terminated("sonar", 0, "passed"),
                terminated("image", 0, ""),
            ],
            vec![terminated("image-push", 0, DIGEST)],
        );
        let s = compute(
            &run(true),
            Some(&job("Complete")),
            Some(&pod),
            &PipelineSettings::demo(),
            Utc::now(),
        );
        assert_eq!(s.phase, RunPhase::Succeeded);
        assert_eq!(s.commit.as_deref(), Some(SHA));
        assert_eq!(s.quality.as_deref(), Some("passed"));
        assert_eq!(
            s.image.as_deref(),
            Some(format!("registry.wharf.local:5000/alpha/shop:build-3-passed@{DIGEST}").as_str())
        );
        let phases: Vec<StagePhase> = s.stages.iter().map(|s| s.phase).collect();
        assert_eq!(
            phases,
            [
                StagePhase::Succeeded,
                StagePhase::Succeeded,
                StagePhase::Succeeded,
                StagePhase::Succeeded,
                StagePhase::Waiting
            ]
        );
        assert_eq!(
            s.stages[4].message.as_deref(),
            Some("waiting for the deploy button")
        );
    }

    /// The image stage is kaniko's container then the push container's: built but not
    /// pushed is still running, and a failed push fails the stage with the push's words.
    #[test]
    fn the_image_stage_ends_with_its_push() {
        let init = || {
            vec![
                terminated("clone", 0, SHA),
                terminated("build", 0, ""),
                terminated("image", 0, ""),
            ]
        };
        let running = json!({"name": "image-push", "image": "x", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-26T10:00:06Z"}}});
        let s = compute(
            &run(false),
            None,
            Some(&pod(init(), vec![running])),
            &PipelineSettings::demo(),
            Utc::now(),
        );
        assert_eq!(s.stages[2].phase, StagePhase::Running);
        assert_eq!(s.image, None);

        let denied = "UNAUTHORIZED: authentication required";
        let s = compute(
            &run(false),
            Some(&job("Failed")),
            Some(&pod(init(), vec![terminated("image-push", 1, denied)])),
            &PipelineSettings::demo(),
            Utc::now(),
        );
        assert_eq!(s.stages[2].phase, StagePhase::Failed);
        assert_eq!(s.stages[2].message.as_deref(), Some(denied));
        assert_eq!(
            s.message.as_deref(),
            Some("stage 'image' failed with exit code 1")
        );
    }

    #[test]
    fn a_failed_build_names_the_stage_and_skips_the_rest() {
        let waiting = json!({"name": "image-push", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}});
        let pod = pod(
            vec![
                terminated("clone", 0, SHA),
                terminated("build", 2, "mvn: compilation failure"),
            ],
            vec![waiting],
        );
        let s = compute(
            &run(false),
            Some(&job("Failed")),
            Some(&pod),
            &PipelineSettings::demo(),
            Utc::now(),
        );
        assert_eq!(s.phase, RunPhase::Failed);
        assert_eq!(
            s.message.as_deref(),
            Some("stage 'build' failed with exit code 2")
        );
        assert_eq!(
            s.stages[1].message.as_deref(),
            Some("mvn: compilation failure")
        );
        assert_eq!(s.stages[2].phase, StagePhase::Skipped);
        assert_eq!(s.stages[3].phase, StagePhase::Skipped);
        assert_eq!(s.image, None);
    }

    #[test]
    fn a_cancelled_run_is_cancelled_whatever_the_pod_says() {
        let mut r = run(false);
        r.spec.cancelled_by = Some("alice".into());
        let pod = pod(vec![terminated("clone", 0, SHA)], vec![]);
        let s = compute(&r, None, Some(&pod), &PipelineSettings::demo(), Utc::now());
        assert_eq!(s.phase, RunPhase::Cancelled);
        assert_eq!(s.message.as_deref(), Some("cancelled by alice"));
        assert_eq!(s.stages[1].phase, StagePhase::Skipped);
    }

    #[test]
    fn a_finished_run_keeps_its_record_when_the_job_is_gone() {
        let pod = pod(
            vec![
                terminated("clone", 0, SHA),
                terminated("build", 0, ""),
                terminated("image", 0, ""),
            ],
            vec![terminated("image-push", 0, DIGEST)],
        );
        let mut r = run(false);
        r.status = Some(compute(
            &r,
            Some(&job("Complete")),
            Some(&pod),
            &PipelineSettings::demo(),
            Utc::now(),
        ));
        let again = compute(&r, None, None, &PipelineSettings::demo(), Utc::now());
        assert_eq!(again, r.status.clone().unwrap());
    }

    #[test]
    fn an_image_that_cannot_be_pulled_is_said() {
        let waiting = json!({"name": "clone", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}}});
        let pod = pod(vec![waiting], vec![]);
        let s = compute(
            &run(false),
            None,
            Some(&pod),
            &PipelineSettings::demo(),
            Utc::now(),
        );
        assert_eq!(s.phase, RunPhase::Running);
        assert_eq!(
            s.message.as_deref(),
            Some("stage 'clone' cannot start: ErrImagePull: pull access denied")
        );
    }
}
