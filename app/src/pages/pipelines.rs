//! `/t/:tenant/pipelines`: the tenant's pipelines with the badge of their last run, kept live
//! over `/ws/pipelines/{tenant}`. The designer and the run page read the same feed
//! ([`use_pipelines`]).

use super::param;
use crate::components::badges::Ago;
use crate::components::banner::ErrorBanner;
use crate::components::live::{use_live, LinkDot, Live, LiveFeed};
use crate::components::shell::use_tenant_access;
use crate::error::AppError;
use crate::i18n::t;
use crate::pipelines::{
    pipelines, start_run, PipelinesMessage, PipelinesView, RunPhase, StageKind, StagePhase,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use wharf_api::routes;

impl LiveFeed for PipelinesMessage {
    type Value = PipelinesView;
    fn into_value(self) -> Result<PipelinesView, AppError> {
        match self {
            PipelinesMessage::Snapshot(v) => Ok(v),
            // NB: the socket sends a sentence, not the typed error (see `crate::pipelines`).
            PipelinesMessage::Error(e) => Err(e),
        }
    }
}

/// The tenant's pipelines: first paint from the server function, then the live feed.
pub fn use_pipelines(tenant: Memo<String>) -> Live<PipelinesView> {
    use_live::<PipelinesMessage, _>(
        move || pipelines(tenant.get()),
        move || routes::WS_PIPELINES.path(&[&tenant.get()]),
    )
}

/// Starts a run and opens its page; a refusal lands in the action's value.
pub fn use_start_run(tenant: Memo<String>) -> Action<(String, String), Result<String, AppError>> {
    let start = Action::new(move |(namespace, name): &(String, String)| {
        let (tn, namespace, name) = (tenant.get_untracked(), namespace.clone(), name.clone());
        async move {
            start_run(tn.clone(), namespace.clone(), name.clone())
                .await
                .map(|run| format!("/t/{tn}/pipelines/{namespace}/{name}/runs/{run}"))
        }
    });
    let navigate = use_navigate();
    let started = start.value();
    Effect::new(move |_| {
        if let Some(Ok(href)) = started.get() {
            navigate(&href, Default::default());
        }
    });
    start
}

pub fn phase_class(p: RunPhase) -> &'static str {
    match p {
        RunPhase::Succeeded => "badge ok",
        RunPhase::Failed => "badge bad",
        RunPhase::Running | RunPhase::Pending => "badge busy",
        RunPhase::Cancelled => "badge idle",
    }
}

pub fn stage_phase_class(p: StagePhase) -> &'static str {
    match p {
        StagePhase::Succeeded => "badge ok",
        StagePhase::Failed => "badge bad",
        StagePhase::Running => "badge busy",
        StagePhase::Waiting | StagePhase::Skipped => "badge idle",
    }
}

pub fn kind_label(k: Option<StageKind>) -> &'static str {
    k.map(StageKind::label).unwrap_or("?")
}

/// A run's result as a small badge: `#3 Succeeded`.
#[component]
pub fn RunBadge(number: u32, phase: RunPhase) -> impl IntoView {
    view! { <span class=phase_class(phase) data-testid="run-badge" data-phase=phase.label()>{format!("#{number} {}", phase.label())}</span> }
}

#[component]
pub fn PipelinesPage() -> impl IntoView {
    let tenant = param("tenant");
    let Live { data, error, link } = use_pipelines(tenant);
    let can_change = use_tenant_access(tenant).can_change;
    // Run straight from the list; the run's page follows it.
    let start = use_start_run(tenant);
    let started = start.value();
    let run_now = move |namespace: String, name: String| {
        start.dispatch((namespace, name));
    };

    view! {
        <div class="page">
            <div class="page-head">
                <h1>{t("Pipelines", "流水线")} <LinkDot link/></h1>
                <div class="spacer"></div>
                <Show when=move || can_change.get()>
                    <A href=move || format!("/t/{}/pipelines/new", tenant.get()) attr:class="button primary" attr:data-testid="new-pipeline">
                        {t("New pipeline", "新建流水线")}
                    </A>
                </Show>
            </div>
            <ErrorBanner error/>
            <ErrorBanner error=Signal::derive(move || started.get().and_then(Result::err)) testid="run-error"/>
            {move || match data.get() {
                None => view! { <p class="loading">"…"</p> }.into_any(),
                Some(v) if v.pipelines.is_empty() => view! {
                    <p class="empty" data-testid="no-pipelines">
                        {t("No pipelines yet. A pipeline turns a git repository into an image and deploys it.", "还没有流水线。流水线把 git 仓库构建成镜像并部署。")}
                    </p>
                }.into_any(),
                Some(v) => view! {
                    <table class="grid" data-testid="pipelines-table">
                        <thead><tr>
                            <th>{t("Pipeline", "流水线")}</th><th>{t("App", "应用")}</th><th>{t("Stages", "阶段")}</th>
                            <th>{t("Last run", "最近运行")}</th><th>{t("When", "时间")}</th><th></th>
                        </tr></thead>
                        <tbody>
                            {v.pipelines.into_iter().map(|p| {
                                let href = format!("/t/{}/pipelines/{}/{}", tenant.get_untracked(), p.namespace, p.name);
                                let last = p.last_run().map(|r| (r.number, r.status.phase, r.created));
                                let stages = p.spec.stages.iter().map(|s| kind_label(s.kind())).collect::<Vec<_>>().join(" → ");
                                let (namespace, name) = (p.namespace.clone(), p.name.clone());
                                let target = (p.namespace.clone(), p.name.clone());
                                view! {
                                    <tr data-testid="pipeline-row" data-name=p.name.clone()>
                                        <td><A href=href><span class="muted">{namespace} " / "</span>{name}</A></td>
                                        <td>{p.spec.app.clone()}</td>
                                        <td class="muted">{stages}</td>
                                        <td>{last.map(|(n, ph, _)| view! { <RunBadge number=n phase=ph/> })}</td>
                                        <td>{last.map(|(_, _, at)| view! { <Ago at/> })}</td>
                                        <td class="actions">
                                            <Show when=move || can_change.get()>
                                                {
                                                                        let target = target.clone();
                                                    view! {
                                                        <button data-testid="pipeline-run-now" on:click=move |_| run_now(target.0.clone(), target.1.clone())>
                                                            {t("Run", "运行")}
                                                        </button>
                                                    }
                                                }
                                            </Show>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </div>
    }
}

/// The app page's pipeline box: the app's pipelines with the badge of their last run.
#[component]
pub fn AppPipelines(tenant: Memo<String>, ns: Memo<String>, name: Memo<String>) -> impl IntoView {
    let data = use_pipelines(tenant).data;
    let mine = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .map(|d| {
                    d.pipelines
                        .iter()
                        .filter(|p| p.namespace == ns.get() && p.spec.app == name.get())
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    view! {
        <div class="app-pipelines" data-testid="app-pipelines">
            <span class="muted">{t("Pipelines:", "流水线:")}</span>
            {move || if mine.with(Vec::is_empty) {
                view! { <A href=format!("/t/{}/pipelines/new", tenant.get()) attr:data-testid="app-new-pipeline">{t("set one up", "新建一条")}</A> }.into_any()
            } else {
                mine.get().into_iter().map(|p| {
                    let href = format!("/t/{}/pipelines/{}/{}", tenant.get_untracked(), p.namespace, p.name);
                    let last = p.last_run().map(|r| (r.number, r.status.phase));
                    view! {
                        <span class="app-pipeline">
                            <A href=href>{p.name.clone()}</A> " "
                            {last.map(|(n, ph)| view! { <RunBadge number=n phase=ph/> })}
                        </span>
                    }
                }).collect_view().into_any()
            }}
        </div>
    }
}
