//! `/t/:tenant/pipelines/:ns/:name/runs/:run`: one run — its stages with status and duration,
//! the chosen stage's log streaming live (from the log store, like any container's), and
//! cancel, retry and quick deploy.

use super::param;
use super::pipelines::{kind_label, phase_class, stage_phase_class, use_pipelines};
use crate::components::badges::Ago;
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::live::{follow, Link, LinkDot, Live};
use crate::components::log_view::LogView;
use crate::components::shell::use_tenant_access;
use crate::error::AppError;
use crate::i18n::{t, tr};
use crate::logs::{LogLine, LogLink, LogMessage, LogSearch, LogSelection};
use crate::pipelines::{
    cancel_run, deploy_run, retry_run, RunRow, StageKind, StagePhase, StageStatus,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use wharf_api::routes;
use wharf_api::{text, Text};

fn duration(s: &StageStatus) -> String {
    match (s.started_at, s.finished_at) {
        // NB: Kubernetes keeps container times to the second
        (Some(a), Some(b)) if b <= a => "<1s".into(),
        (Some(a), Some(b)) => format!("{}s", (b - a).num_seconds()),
        (Some(a), None) if s.phase == StagePhase::Running => {
            format!("{}s…", (chrono::Utc::now() - a).num_seconds().max(0))
        }
        _ => String::new(),
    }
}

const LOG_LINES: usize = 5_000;

/// What the run's buttons ask for.
#[derive(Clone, Copy, Debug)]
enum RunAction {
    Cancel,
    Retry,
    Deploy,
}

/// How one went: a sentence to show, or a page to open (the retried run's).
#[derive(Clone, Debug)]
enum RunDone {
    Say(Text),
    Open(String),
}

#[component]
pub fn PipelineRunPage() -> impl IntoView {
    let tenant = param("tenant");
    let ns = param("ns");
    let pipeline = param("name");
    let run_name = param("run");
    let Live {
        data,
        error: live_error,
        link,
    } = use_pipelines(tenant);
    let can_change = use_tenant_access(tenant).can_change;
    let run = Memo::new(move |_| -> Option<RunRow> {
        data.with(|d| {
            d.as_ref()?
                .pipelines
                .iter()
                .find(|p| p.namespace == ns.get() && p.name == pipeline.get())?
                .runs
                .iter()
                .find(|r| r.name == run_name.get())
                .cloned()
        })
    });
    // The stage whose log is shown: the one the user picked, else the running or failed one.
    let picked = RwSignal::new(None::<String>);
    let shown_stage = Memo::new(move |_| {
        picked.get().or_else(|| {
            run.with(|r| {
                let r = r.as_ref()?;
                let with_log = |s: &&StageStatus| s.kind.is_some_and(StageKind::has_container);
                let st = &r.status.stages;
                st.iter()
                    .filter(with_log)
                    .find(|s| matches!(s.phase, StagePhase::Running | StagePhase::Failed))
                    .or_else(|| {
                        st.iter()
                            .filter(with_log)
                            .rfind(|s| s.phase == StagePhase::Succeeded)
                    })
                    .or_else(|| st.iter().find(with_log))
                    .map(|s| s.name.clone())
            })
        })
    });
    let pod = Memo::new(move |_| run.with(|r| r.as_ref().and_then(|r| r.pod.clone())));
    let lines = RwSignal::new(Vec::<LogLine>::new());
    let log_link = RwSignal::new(Link::Connecting);
    let log_error = RwSignal::new(None::<AppError>);
    Effect::new(move |_| {
        let (Some(pod), Some(stage)) = (pod.get(), shown_stage.get()) else {
            return;
        };
        lines.set(Vec::new());
        log_error.set(None);
        let selection = LogSelection {
            namespace: ns.get(),
            app: None,
            pod: Some(pod),
            container: Some(stage),
        };
        let mut l = LogLink::new(&selection, &LogSearch::default());
        l.last = Some(LOG_LINES);
        // NB: `try_`: a message may be handled after the page went (see `follow`).
        follow::<LogMessage, _>(
            routes::WS_LOGS.with_query(&[&tenant.get()], &l.to_query()),
            log_link,
            move |m| match m {
                LogMessage::Reset => {
                    lines.try_set(Vec::new());
                }
                LogMessage::Lines(new) => {
                    lines.try_update(|all| {
                        all.extend(new);
                        if all.len() > LOG_LINES {
                            all.drain(..all.len() - LOG_LINES);
                        }
                    });
                }
                LogMessage::Error(e) => {
                    log_error.try_set(Some(e));
                }
            },
        );
    });

    // Cancel, retry (opens the new run) and quick deploy: one action, its outcome in one banner.
    let navigate = use_navigate();
    let act = Action::new(move |what: &RunAction| {
        let (tn, n, r, p, what) = (
            tenant.get_untracked(),
            ns.get_untracked(),
            run_name.get_untracked(),
            pipeline.get_untracked(),
            *what,
        );
        async move {
            match what {
                RunAction::Cancel => cancel_run(tn, n, r)
                    .await
                    .map(|_| RunDone::Say(text!("Cancelling…", "正在取消…"))),
                RunAction::Retry => retry_run(tn.clone(), n.clone(), r)
                    .await
                    .map(|new| RunDone::Open(format!("/t/{tn}/pipelines/{n}/{p}/runs/{new}"))),
                RunAction::Deploy => deploy_run(tn, n, r)
                    .await
                    .map(|image| RunDone::Say(text!("Deploying {image}", "正在部署 {image}"))),
            }
        }
    });
    let (busy, answer) = (act.pending(), act.value());
    let notice = RwSignal::new(None::<Result<Text, AppError>>);
    Effect::new(move |_| match answer.get() {
        Some(Ok(RunDone::Open(href))) => navigate(&href, Default::default()),
        Some(Ok(RunDone::Say(m))) => notice.set(Some(Ok(m))),
        Some(Err(e)) => notice.set(Some(Err(e))),
        None => {}
    });
    let act = move |what: RunAction| {
        notice.set(None);
        act.dispatch(what);
    };
    let act_cancel = act;
    let act_retry = act;

    view! {
        <div class="page">
            <div class="page-head">
                <h1>
                    <A href=move || format!("/t/{}/pipelines/{}/{}", tenant.get(), ns.get(), pipeline.get())>{move || pipeline.get()}</A>
                    " / "
                    <span data-testid="run-title">{move || run.get().map(|r| format!("#{}", r.number)).unwrap_or_else(|| run_name.get())}</span>
                    " " {move || run.get().map(|r| view! { <span class=phase_class(r.status.phase) data-testid="run-phase">{r.status.phase.label()}</span> })}
                    " " <LinkDot link/>
                </h1>
                <div class="spacer"></div>
                <Show when=move || can_change.get() && run.with(|r| r.as_ref().is_some_and(|r| !r.status.phase.is_finished()))>
                    <button class="danger" data-testid="cancel-run" disabled=move || busy.get() on:click=move |_| act_cancel(RunAction::Cancel)>{t("Cancel", "取消")}</button>
                </Show>
                <Show when=move || can_change.get() && run.with(|r| r.as_ref().is_some_and(|r| r.status.phase.is_finished()))>
                    <button data-testid="retry-run" disabled=move || busy.get() on:click=move |_| act_retry(RunAction::Retry)>{t("Retry", "重试")}</button>
                </Show>
                // the target app does not exist yet: the deploy form, prefilled with the image
                <Show when=move || can_change.get() && run.with(|r| r.as_ref().is_some_and(|r| r.status.image.is_some() && !r.app_exists && !r.app.is_empty() && r.deploy_blocked.is_none()))>
                    {move || run.get().map(|r| {
                        // an uploaded artifact says the port its app listens on
                        let port = r
                            .stages
                            .iter()
                            .find_map(|s| s.source.as_ref()?.artifact.as_ref())
                            .map(|a| format!("&port={}", a.port))
                            .unwrap_or_default();
                        let href = format!(
                            "/t/{}/deploy?ns={}&name={}&image={}&run={}{port}",
                            tenant.get(),
                            r.namespace,
                            r.app,
                            query_value(r.status.image.as_deref().unwrap_or_default()),
                            r.name
                        );
                        view! { <A href=href attr:class="button primary" attr:data-testid="quick-deploy-new">{t("Deploy as a new app…", "作为新应用部署…")}</A> }
                    })}
                </Show>
                <Show when=move || can_change.get() && run.with(|r| r.as_ref().is_some_and(|r| r.status.image.is_some() && (r.app_exists || r.app.is_empty())))>
                    <button class="primary" data-testid="quick-deploy"
                        disabled=move || busy.get() || run.with(|r| r.as_ref().is_none_or(|r| r.deploy_blocked.is_some()))
                        title=move || run.with(|r| r.as_ref().and_then(|r| r.deploy_blocked.as_ref().map(tr))).unwrap_or_default()
                        on:click=move |_| act(RunAction::Deploy)>{t("Deploy this image", "部署此镜像")}</button>
                </Show>
            </div>
            <ErrorBanner error=live_error/>
            <Outcome outcome=notice/>
            {move || match run.get() {
                None if data.with(Option::is_some) => view! { <div class="empty" data-testid="run-gone">{t("This run does not exist (any more).", "该运行不存在(或已删除)。")}</div> }.into_any(),
                None => view! { <p class="loading">"…"</p> }.into_any(),
                Some(r) => view! {
                    <dl class="kv run-facts">
                        <dt>{t("Started by", "触发者")}</dt><dd>{r.triggered_by.clone()} <span class="muted">" · " {r.reason.clone()}</span> " " <Ago at=r.created/></dd>
                        <dt>{t("Commit", "提交")}</dt><dd class="mono" data-testid="run-commit">{r.status.commit.clone().unwrap_or_default()}</dd>
                        <dt>{t("Quality", "质量")}</dt><dd data-testid="run-quality">{r.status.quality.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>{t("Image", "镜像")}</dt><dd class="mono" data-testid="run-image">{r.status.image.clone().unwrap_or_else(|| "—".into())}</dd>
                        {r.status.deployed.clone().map(|d| view! { <dt>{t("Deployed", "已部署")}</dt><dd data-testid="run-deployed">{d.by} " " <Ago at=d.at/></dd> })}
                        {r.status.message.clone().map(|m| view! { <dt>{t("Note", "说明")}</dt><dd data-testid="run-message">{m}</dd> })}
                        {r.deploy_blocked.clone().filter(|_| r.status.image.is_some()).map(|m| view! { <dt>{t("Deploy", "部署")}</dt><dd class="warn" data-testid="deploy-blocked">{move || tr(&m)}</dd> })}
                    </dl>
                }.into_any(),
            }}
            <div class="run-layout">
                <ol class="stage-list" data-testid="run-stages">
                    {move || run.get().map(|r| r.status.stages.into_iter().map(|s| {
                        let has_log = s.kind.is_some_and(StageKind::has_container);
                        let name = s.name.clone();
                        let selected = { let name = name.clone(); move || shown_stage.get().as_deref() == Some(name.as_str()) };
                        view! {
                            <li class="stage" class:selected=selected data-testid="run-stage" data-stage=s.name.clone() data-phase=format!("{:?}", s.phase)
                                on:click=move |_| if has_log { picked.set(Some(name.clone())) }>
                                <span class=stage_phase_class(s.phase)>{format!("{:?}", s.phase)}</span>
                                " " <strong>{s.name.clone()}</strong> " " <span class="muted">{kind_label(s.kind)}</span>
                                " " <span class="muted">{duration(&s)}</span>
                                {s.message.clone().map(|m| view! { <div class="stage-message mono small" data-testid="stage-message">{m}</div> })}
                            </li>
                        }
                    }).collect_view())}
                </ol>
                <div class="stage-log">
                    <div class="row">
                        <strong data-testid="log-stage">{move || shown_stage.get().unwrap_or_default()}</strong>
                        " " <LinkDot link=log_link/>
                        <div class="spacer"></div>
                        {move || pod.get().map(|p| view! {
                            <A href=format!("/t/{}/logs?ns={}&app={}&pod={}&container={}", tenant.get(), crate::logs::encode(&ns.get()), crate::logs::encode(&format!("pipeline:{}", pipeline.get())), crate::logs::encode(&p), crate::logs::encode(&shown_stage.get().unwrap_or_default())) attr:class="button small" attr:data-testid="open-in-logs">
                                {t("Open in the log viewer", "在日志查看器中打开")}
                            </A>
                        })}
                    </div>
                    <ErrorBanner error=log_error testid="log-error"/>
                    <LogView lines pattern=Signal::derive(|| None) show_pod=Signal::derive(|| false) stick_to_end=Signal::derive(|| true) on_near_end=Callback::new(|_| {})/>
                </div>
            </div>
        </div>
    }
}

/// A value for a URL's query: the characters that would end or change it escaped (an image
/// reference holds none of them, but a run's status is not ours to trust).
fn query_value(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            '%' | '&' | '#' | '+' | '=' | '?' | ' ' | '"' | '<' | '>' => {
                format!("%{:02X}", c as u32)
            }
            c => c.to_string(),
        })
        .collect()
}
