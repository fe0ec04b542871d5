//! The per-app APM switch (issue 19): a team turns application performance monitoring on or
//! off for an app — a Deployment or a StatefulSet — without rebuilding its image. The core is
//! pure ([`template`]: edits of a `PodTemplateSpec`, no cluster access); [`set`] reads the
//! app, calls it and patches the template back (a changed template rolls the pods, in order
//! for a StatefulSet).
//!
//! **On** ([`template::attach`]) adds three things and changes a few variables:
//! * an `emptyDir` volume `wharf-apm`;
//! * an init container `wharf-apm-agent` running the agent's image (the admin's choice, or
//!   the kind's default) that copies the agent into the volume (`cp`, no shell, no privilege,
//!   small requests and limits);
//! * in every app container (never init or ephemeral ones) the volume at `/wharf-apm`, and
//!   `JAVA_TOOL_OPTIONS` with `-javaagent:/wharf-apm/…` *appended* to what the container had
//!   (the JVM reads that variable itself, so no command line is touched), plus the kind's
//!   own variables: the service name, the collector, the tenant and namespace.
//!
//! **Off** ([`template::detach`]) must give back the template exactly as it was, so `attach`
//! writes down, in the annotation `wharf.dev/apm` on the template, everything it did: the
//! agent and settings, the names it added, which optional lists it created (`None` and an
//! empty list are different templates), and for each container and variable the variable as
//! it was and as attach left it. Detach restores a variable only when it is still as attach
//! left it; one edited by hand since keeps the edit, minus Wharf's appended options if they
//! are still in it. A container added by hand since is left alone. Without the annotation
//! there is nothing Wharf knows it did, so the template comes back unchanged. A property test
//! checks `detach(attach(t)) == t` over generated templates.
//!
//! The annotation lives on the *pod template* (not the Deployment) so the pods carry it too,
//! and a template copied elsewhere carries its own undo. Its presence is the switch's state
//! ([`template::attached`]). Attaching with the same settings returns the template unchanged
//! (the switch is idempotent); with other settings it detaches first.
//!
//! **Refusals**: everything that would make the result unsafe or not undoable is an
//! [`template::ApmError`] (bilingual through `AppError`): a variable to append to that comes
//! from `valueFrom`, a variable defined twice, a name Wharf needs that the app already uses,
//! a template without containers, the OpenTelemetry Operator already injecting, and every
//! hostile input — the image must parse as an image reference, the collector as what its
//! agent expects, app/tenant/namespace as Kubernetes names (they end up inside
//! `JAVA_TOOL_OPTIONS`, where a space would start a new JVM option and `$(…)` would expand
//! another variable).
//!
//! **Operator mode** ([`template::annotate_for_operator`]): where the OpenTelemetry Operator
//! runs, the switch sets `instrumentation.opentelemetry.io/inject-java` instead and lets the
//! operator's webhook inject its agent; the previous value is recorded and put back.
//!
//! **Limitations**: Java only (all three agents are Java agents; [`template::java_likely`]
//! guesses which containers are Java, the user decides). A `JAVA_TOOL_OPTIONS` set through
//! `envFrom` is not seen (a pure function cannot read the ConfigMap) and is overridden by the
//! explicit one while APM is on. A JVM started with its own `-javaagent` gets a second agent.
//! Containers added by hand while APM is on get the agent only at the next off/on or change
//! of settings.

pub mod endpoints;
pub mod graph;
pub mod template;

use chrono::Utc;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::json;
use wharf_api::apm::ApmView;
use wharf_api::error::AppError;
use wharf_api::text;
use wharf_api::workloads::AppKind;

use crate::auth::TenantScope;
use crate::state::AppState;
use crate::workloads::conflict::retry_on_conflict;
use crate::workloads::CHANGE_CAUSE;

pub use template::{
    annotate_for_operator, attach, attached, detach, java_likely, unannotate_for_operator,
    AgentKind, AgentSettings, ApmError, Target,
};

/// The APM settings of the console (`--apm-*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApmSettings {
    /// The agent and collector; `None`: APM is not configured (the switch says so).
    pub agent: Option<AgentSettings>,
    /// The trace UI's page of an app: `{app}`, `{namespace}` and `{tenant}` are replaced, and
    /// `{start}`/`{end}` (unix milliseconds) or `{start_us}`/`{end_us}` (microseconds, as
    /// Jaeger wants them) by the range looked at
    /// (`https://jaeger.example.com/search?service={app}&start={start_us}&end={end_us}`).
    pub trace_url: Option<String>,
}

/// The OpenTelemetry Operator's kind: where it is served, the switch sets its annotation.
const INSTRUMENTATION: (&str, &str) = ("opentelemetry.io/v1alpha1", "instrumentations");

/// Whether the cluster runs the OpenTelemetry Operator.
async fn operator_runs(state: &AppState) -> Result<bool, AppError> {
    Ok(crate::discovery::serves(&state.client, INSTRUMENTATION.0, INSTRUMENTATION.1).await?)
}

/// An app (a Deployment or a StatefulSet) as read: its kind, its API, the object and its pod
/// template.
type AppRead = (AppKind, Api<DynamicObject>, DynamicObject, PodTemplateSpec);

/// The app `app` and its pod template.
async fn app_with_template(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
) -> Result<AppRead, AppError> {
    let (kind, api, obj) =
        crate::workloads::app_object(&state.client, scope.namespace(namespace)?, app).await?;
    let template = serde_json::from_value(obj.data["spec"]["template"].clone()).map_err(|e| {
        AppError::internal(
            text!(
                "reading the pod template of '{app}'",
                "读取“{app}”的 Pod 模板失败"
            ),
            e,
        )
    })?;
    Ok((kind, api, obj, template))
}

fn operator_on(t: &PodTemplateSpec) -> bool {
    t.metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(template::OPERATOR_INJECT))
        .is_some_and(|v| v != "false")
}

/// The switch of `app` as its page shows it.
pub async fn view(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
) -> Result<ApmView, AppError> {
    let (_, _, _, template) = app_with_template(state, scope, namespace, app).await?;
    let operator = state.settings.apm.agent.is_some() && operator_runs(state).await?;
    Ok(view_of(state, scope, namespace, app, &template, operator))
}

/// The trace UI's page of `app` from `start` to `end`, when the admin configured one. Every
/// replaced value is a Kubernetes name or a number, so nothing needs escaping.
pub fn trace_link(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
    start: chrono::DateTime<Utc>,
    end: chrono::DateTime<Utc>,
) -> Option<String> {
    let u = state.settings.apm.trace_url.as_ref()?;
    Some(
        u.replace("{app}", app)
            .replace("{namespace}", namespace)
            .replace("{tenant}", scope.tenant())
            .replace("{start_us}", &(start.timestamp_millis() * 1000).to_string())
            .replace("{end_us}", &(end.timestamp_millis() * 1000).to_string())
            .replace("{start}", &start.timestamp_millis().to_string())
            .replace("{end}", &end.timestamp_millis().to_string()),
    )
}

/// The switch of `app` whose pod template is `t`.
fn view_of(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
    t: &PodTemplateSpec,
    operator: bool,
) -> ApmView {
    let settings = &state.settings.apm;
    let kind = settings.agent.as_ref().map(|a| a.kind).unwrap_or_default();
    let java = t
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .is_some_and(java_likely);
    let end = Utc::now();
    let trace_link = trace_link(
        state,
        scope,
        namespace,
        app,
        end - chrono::Duration::hours(1),
        end,
    );
    ApmView {
        configured: settings.agent.is_some(),
        agent: kind.label().into(),
        languages: kind.languages().iter().map(|l| l.to_string()).collect(),
        operator,
        on: attached(t).is_some() || operator_on(t),
        java_likely: java,
        trace_link,
        agent_problem: agent_problem(state, namespace, app),
    }
}

/// Why the agent's init container is stuck in a pod of `app`, if it is: waiting on a pull
/// (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`) or failing (`CrashLoopBackOff`).
fn agent_problem(state: &AppState, namespace: &str, app: &str) -> Option<String> {
    state.cache.pods.state().iter().find_map(|p| {
        if p.metadata.namespace.as_deref() != Some(namespace)
            || p.labels().get("app").map(String::as_str) != Some(app)
        {
            return None;
        }
        let status = p.status.as_ref()?;
        let init = status
            .init_container_statuses
            .iter()
            .flatten()
            .find(|c| c.name == template::INIT_CONTAINER)?;
        let waiting = init.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.clone().unwrap_or_default();
        let stuck = [
            "ErrImagePull",
            "ImagePullBackOff",
            "InvalidImageName",
            "CrashLoopBackOff",
        ];
        stuck.contains(&reason.as_str()).then(|| {
            match waiting.message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => format!("{reason}: {m}"),
                None => reason,
            }
        })
    })
}

/// Turns APM on or off for `app`: its pod template patched (a rollout, recorded as the
/// change cause), or with the OpenTelemetry Operator its injection annotation. Switching
/// to what it is changes nothing. On is refused for an app that does not look like Java
/// unless `java` says it is.
pub async fn set(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
    on: bool,
    java: bool,
) -> Result<ApmView, AppError> {
    let Some(agent) = &state.settings.apm.agent else {
        return Err(AppError::Unavailable(text!(
            "APM is not configured on this console: a platform admin sets the agent's collector (--apm-collector)",
            "本控制台未配置 APM:需由平台管理员设置探针的采集端(--apm-collector)"
        )));
    };
    let operator = operator_runs(state).await?;
    // NB: the resourceVersion read goes with the patch; a 409 is tried again on a fresh read
    // while the app's generation is what was first read (see `workloads::conflict`)
    let read = || async {
        let (kind, api, obj, current) = app_with_template(state, scope, namespace, app).await?;
        let generation = obj.metadata.generation;
        Ok(((kind, api, obj, current), generation))
    };
    let write = |(kind, api, obj, current): AppRead| async move {
        let next = next_template(scope, namespace, app, agent, &current, on, java, operator)?;
        if next == current {
            // already so: nothing to write
            return Ok(Ok(current));
        }
        let level = crate::workloads::security::level_of(&state.cache, scope.tenant());
        let mut candidate = obj.data.clone();
        candidate["spec"]["template"] = serde_json::to_value(&next).unwrap_or_default();
        let errors = crate::workloads::security::policy_errors(kind.as_str(), &candidate, level);
        if !errors.is_empty() {
            return Err(AppError::Invalid(wharf_api::Text::join(&errors, "; ", ";")));
        }
        let what = match (on, operator) {
            (true, true) => "APM on (OpenTelemetry Operator)".to_string(),
            (true, false) => format!("APM on ({})", agent.kind.label()),
            (false, _) => "APM off".to_string(),
        };
        let cause = format!("{what} by {} at {}", scope.user(), Utc::now().to_rfc3339());
        let from = serde_json::to_value(&current).unwrap_or_default();
        let to = serde_json::to_value(&next).unwrap_or_default();
        let patch = json!({
            "metadata": {"resourceVersion": obj.resource_version(), "annotations": {CHANGE_CAUSE: cause}},
            "spec": {"template": crate::workloads::merge_patch_to(&from, &to)},
        });
        let answer = api
            .patch(app, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
        if answer.is_ok() {
            tracing::info!(
                user = scope.user(),
                tenant = scope.tenant(),
                namespace,
                app,
                on,
                operator,
                "APM switched"
            );
        }
        Ok(answer.map(|_| next))
    };
    match retry_on_conflict(read().await?, read, write).await? {
        Some(now) => Ok(view_of(state, scope, namespace, app, &now, operator)),
        None => Err(AppError::Conflict(text!(
            "'{app}' was changed by someone else meanwhile, so APM was not switched; look at it again and retry",
            "“{app}”同时被他人修改,因此未切换 APM;请重新查看后再试"
        ))),
    }
}

/// The pod template of an app being deployed with APM on (the deploy form's tick, which says
/// the app is Java): the agent attached, or the operator's annotation set. Nothing is created
/// yet, so there is no rollout; refused when APM is not configured.
pub async fn template_for_new_app(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    app: &str,
    template: &PodTemplateSpec,
) -> Result<PodTemplateSpec, AppError> {
    let Some(agent) = state.settings.apm.agent.clone() else {
        return Err(AppError::Invalid(text!(
            "APM: this console has no collector for the agents (--apm-collector), so the app cannot be deployed with APM on; untick it or ask a platform admin",
            "APM:本控制台未配置探针采集端(--apm-collector),无法在部署时开启 APM;请取消勾选或联系平台管理员"
        )));
    };
    let operator = operator_runs(state).await?;
    next_template(
        scope, namespace, app, &agent, template, true, true, operator,
    )
}

/// The template `current` becomes: the agent attached (or the operator's annotation set),
/// or both taken away.
#[allow(clippy::too_many_arguments)]
fn next_template(
    scope: &TenantScope,
    namespace: &str,
    app: &str,
    agent: &AgentSettings,
    current: &PodTemplateSpec,
    on: bool,
    java: bool,
    operator: bool,
) -> Result<PodTemplateSpec, AppError> {
    if !on {
        return Ok(unannotate_for_operator(&detach(current)));
    }
    let first = current.spec.as_ref().and_then(|s| s.containers.first());
    if !java && !first.is_some_and(java_likely) {
        let agent_name = agent.kind.label();
        let languages = agent.kind.languages().join(", ");
        return Err(AppError::Invalid(text!(
            "'{app}' does not look like a Java app, and the {agent_name} agent supports only {languages}; if it is one, say so and switch again",
            "“{app}”看起来不是 Java 应用,而 {agent_name} 探针仅支持 {languages};若确为 Java 应用,请确认后再打开"
        )));
    }
    if operator {
        return Ok(annotate_for_operator(current, None));
    }
    let target = Target {
        app: app.into(),
        tenant: scope.tenant().into(),
        namespace: namespace.into(),
    };
    Ok(attach(current, agent, &target)?)
}
