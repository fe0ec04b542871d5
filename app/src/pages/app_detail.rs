//! `/t/:tenant/apps/:ns/:name`: one app. Live status and pods, scale, upgrade the image
//! (with rollout progress), restart, delete with confirmation, revisions with one-click
//! rollback, events, and YAML editing.

use super::param;
use crate::components::badges::{health_class, health_text, Ago};
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::live::{use_live, LinkDot, Live};
use crate::components::pod_table::PodTable;
use crate::components::shell::use_tenant_access;
use crate::error::AppError;
use crate::i18n::{t, t_now};
use crate::workloads::{
    app_events, app_revisions, restart_app, rollback_app, scale_app, set_image, workloads,
    AppRevision, DeleteApp, GetYaml, LiveMessage, PutYaml,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use wharf_api::routes;
use wharf_api::{text, Text};

/// A change to the app the page makes for the user.
#[derive(Clone, Debug)]
enum Change {
    Scale(i32),
    Image(String),
    Restart,
    Rollback(i64),
}

impl Change {
    /// What the page says once the server took the change.
    fn done(&self) -> Text {
        match self {
            Change::Scale(_) => text!("Scaling…", "正在扩缩容…"),
            Change::Image(_) => text!("Rolling out the new image…", "正在滚动升级…"),
            Change::Restart => text!("Restarting…", "正在重启…"),
            Change::Rollback(r) => text!("Rolling back to revision {r}…", "正在回滚到版本 {r}…"),
        }
    }
}

#[component]
pub fn AppPage() -> impl IntoView {
    let tenant = param("tenant");
    let ns = param("ns");
    let name = param("name");
    let Live {
        data,
        error: live_error,
        link,
    } = use_live::<LiveMessage, _>(
        move || workloads(tenant.get()),
        move || routes::WS_WORKLOADS.path(&[&tenant.get()]),
    );
    let app = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref().and_then(|d| {
                d.apps
                    .iter()
                    .find(|a| a.namespace == ns.get() && a.name == name.get())
                    .cloned()
            })
        })
    });
    let can_change = use_tenant_access(tenant).can_change;

    // Scale, upgrade, restart and roll back: one action, its outcome in one banner.
    let change = Action::new(move |c: &Change| {
        let (tn, n, a, c) = (
            tenant.get_untracked(),
            ns.get_untracked(),
            name.get_untracked(),
            c.clone(),
        );
        let done = c.done();
        async move {
            match c {
                Change::Scale(replicas) => scale_app(tn, n, a, replicas).await,
                Change::Image(image) => set_image(tn, n, a, image).await,
                Change::Restart => restart_app(tn, n, a).await,
                Change::Rollback(revision) => rollback_app(tn, n, a, revision).await,
            }
            .map(|_| done)
        }
    });
    let outcome = RwSignal::new(None::<Result<Text, AppError>>);
    let changed = change.value();
    Effect::new(move |_| {
        if let Some(v) = changed.get() {
            outcome.set(Some(v));
        }
    });
    let run = move |c: Change| {
        outcome.set(None);
        change.dispatch(c);
    };

    let replicas_input = RwSignal::new(String::new());
    let image_input = RwSignal::new(String::new());
    Effect::new(move |prev: Option<bool>| {
        // fill the inputs once, when the app first appears
        if prev != Some(true) {
            if let Some(a) = app.get() {
                replicas_input.set(a.replicas.to_string());
                image_input.set(a.image.clone());
                return true;
            }
            return false;
        }
        true
    });

    let do_scale = move |_| match replicas_input.get().trim().parse::<i32>() {
        Ok(n) => run(Change::Scale(n)),
        Err(_) => {
            let got = replicas_input.get();
            outcome.set(Some(Err(AppError::Invalid(text!(
                "replicas: '{got}' is not a whole number",
                "副本数:“{got}”不是整数"
            )))))
        }
    };
    let do_image = move |_| run(Change::Image(image_input.get().trim().to_string()));
    let do_restart = move |_| run(Change::Restart);

    let confirm_open = RwSignal::new(false);
    let confirm_text = RwSignal::new(String::new());
    let delete = ServerAction::<DeleteApp>::new();
    let navigate = use_navigate();
    let deleted = delete.value();
    Effect::new(move |_| match deleted.get() {
        Some(Ok(())) => navigate(
            &format!("/t/{}", tenant.get_untracked()),
            Default::default(),
        ),
        Some(Err(e)) => outcome.set(Some(Err(e))),
        None => {}
    });
    let do_delete = move |_| {
        outcome.set(None);
        delete.dispatch(DeleteApp {
            tenant: tenant.get(),
            namespace: ns.get(),
            name: name.get(),
        });
    };

    view! {
        <div class="page">
            <div class="page-head">
                <h1><span class="muted">{move || ns.get()} " / "</span><span data-testid="app-name">{move || name.get()}</span> <LinkDot link/></h1>
                <div class="spacer"></div>
                <A href=move || format!("/t/{}/logs?ns={}&app={}", tenant.get(), crate::logs::encode(&ns.get()), crate::logs::encode(&name.get())) attr:class="button" attr:data-testid="app-logs">
                    {t("Logs", "日志")}
                </A>
                <A href=move || format!("/t/{}/monitoring?app={}/{}", tenant.get(), ns.get(), name.get()) attr:class="button" attr:data-testid="app-monitoring">
                    {t("Monitoring", "监控")}
                </A>
                <Show when=move || can_change.get()>
                    <A href=move || format!("/t/{}/terminal?ns={}&app={}", tenant.get(), crate::logs::encode(&ns.get()), crate::logs::encode(&name.get())) attr:class="button" attr:data-testid="app-terminal">
                        {t("Terminal", "终端")}
                    </A>
                </Show>
                {move || app.get().map(|a| view! { <span class=health_class(a.health) data-testid="app-health">{health_text(a.health)}</span> })}
                {move || app.get().and_then(|a| a.problem).map(|p| view! { <div class="banner error" data-testid="app-problem">{p}</div> })}
            </div>
            <ErrorBanner error=live_error/>
            <Outcome outcome/>
            <Show when=move || app.get().is_some() || data.get().is_none()
                fallback=|| view! { <div class="empty" data-testid="app-gone">{t("This app does not exist (any more).", "该应用不存在(或已删除)。")}</div> }>
                <section class="cards">
                    <div class="card">
                        <h3>{t("Replicas", "副本")}</h3>
                        <p class="big" data-testid="rollout">{move || app.get().map(|a| format!("{} / {}", a.ready, a.replicas))}</p>
                        <p class="muted">{t("updated", "已更新")} " " {move || app.get().map(|a| a.updated)}</p>
                        <Show when=move || can_change.get()>
                            <div class="inline">
                                <input class="small" data-testid="scale-input" bind:value=replicas_input/>
                                <button data-testid="scale-button" on:click=do_scale>{t("Scale", "扩缩容")}</button>
                            </div>
                        </Show>
                    </div>
                    <div class="card wide">
                        <h3>{t("Image", "镜像")}</h3>
                        <p class="mono" data-testid="app-image">{move || app.get().map(|a| a.image)}</p>
                        <Show when=move || can_change.get()>
                            <div class="inline">
                                <input class="mono" data-testid="image-input" bind:value=image_input/>
                                <button data-testid="image-button" on:click=do_image>{t("Upgrade", "升级")}</button>
                                <button data-testid="restart-button" on:click=do_restart>{t("Restart", "重启")}</button>
                                <button class="danger" data-testid="delete-button" on:click=move |_| confirm_open.set(true)>{t("Delete", "删除")}</button>
                            </div>
                        </Show>
                    </div>
                </section>
                <Show when=move || confirm_open.get()>
                    <div class="modal-backdrop">
                        <div class="modal" data-testid="delete-dialog">
                            <h3>{t("Delete this app?", "确认删除该应用?")}</h3>
                            <p>{t("Its pods and its Service go too. Type the app's name to confirm:", "其容器组和服务将一并删除。请输入应用名称确认:")}</p>
                            <input data-testid="delete-confirm-input" bind:value=confirm_text/>
                            <div class="inline">
                                <button on:click=move |_| confirm_open.set(false)>{t("Cancel", "取消")}</button>
                                <button class="danger" data-testid="delete-confirm" disabled=move || confirm_text.get() != name.get() on:click=do_delete>
                                    {t("Delete", "删除")}
                                </button>
                            </div>
                        </div>
                    </div>
                </Show>
                <Revisions tenant ns name can_change change
                    version=Signal::derive(move || data.with(|d| d.as_ref().map(|d| d.version).unwrap_or(0)))/>
                <crate::pages::pipelines::AppPipelines tenant ns name/>
                <h2>{t("Pods", "容器组")}</h2>
                <div data-testid="app-pods">
                    <PodTable tenant app=name namespace=ns filter=Signal::stored(String::new()) claims=true
                        version=Signal::derive(move || data.with(|d| d.as_ref().map(|d| d.version).unwrap_or(0)))/>
                </div>
                <crate::pages::config::AppConfig tenant ns name
                    version=Signal::derive(move || data.with(|d| d.as_ref().map(|d| d.version).unwrap_or(0)))/>
                <crate::pages::app_checks::AppChecks tenant ns name can_change/>
                <crate::pages::alerts::AppMonitoring tenant ns name can_change/>
                <crate::pages::apm::AppApm tenant ns name can_change/>
                <crate::pages::expose::AppRoutes tenant ns name can_change/>
                <Events tenant ns name/>
                <YamlEditor tenant ns name can_change
                    kind=Signal::derive(move || app.with(|a| a.as_ref().map(|a| a.kind).unwrap_or_default().as_str()))/>
            </Show>
        </div>
    }
}

/// The app's revisions (its ReplicaSets), newest first, refreshed as the live view moves;
/// developers roll back to an older one after confirming, and follow the rollout above.
#[component]
fn Revisions(
    tenant: Memo<String>,
    ns: Memo<String>,
    name: Memo<String>,
    can_change: Memo<bool>,
    /// The page's action: a rollback's outcome shows in the page's banner.
    change: Action<Change, Result<Text, AppError>>,
    version: Signal<u64>,
) -> impl IntoView {
    let revisions = Resource::new(
        move || (tenant.get(), ns.get(), name.get(), version.get()),
        |(t, n, a, _)| app_revisions(t, n, a),
    );
    let confirm = RwSignal::new(None::<AppRevision>);
    let images = |r: &AppRevision| {
        r.images
            .iter()
            .map(|(_, i)| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let do_rollback = move |_| {
        let Some(r) = confirm.get_untracked() else {
            return;
        };
        confirm.set(None);
        change.dispatch(Change::Rollback(r.revision));
    };
    view! {
        <h2>{t("Revisions", "版本历史")}</h2>
        <Transition fallback=|| view! { <p class="loading">"…"</p> }>
            {move || revisions.get().map(|r| match r {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="revisions-error"/> }.into_any(),
                Ok(rows) if rows.is_empty() => view! { <p class="empty">{t("No revisions yet.", "暂无版本。")}</p> }.into_any(),
                Ok(rows) => view! {
                    <table class="grid revisions" data-testid="revisions-table">
                        <thead><tr>
                            <th>{t("Revision", "版本")}</th><th>{t("Image", "镜像")}</th><th>{t("Created", "创建")}</th>
                            <th>{t("Cause", "变更原因")}</th><th>{t("Pods", "容器组")}</th><th></th>
                        </tr></thead>
                        <tbody>{rows.into_iter().map(|r| {
                            let row = r.clone();
                            let class = if r.current { "current" } else { "" };
                            view! {
                                <tr class=class data-testid="revision-row" data-revision=r.revision.to_string() data-current=r.current.to_string()>
                                    <td>
                                        {r.revision}
                                        {r.current.then(|| view! { " " <span class="badge ok" data-testid="revision-current">{t("current", "当前")}</span> })}
                                    </td>
                                    <td class="mono" data-testid="revision-image">{images(&r)}</td>
                                    <td><Ago at=r.created/></td>
                                    <td>{r.cause.clone().unwrap_or_else(|| "-".into())}</td>
                                    <td>{format!("{}/{}", r.ready, r.replicas)}</td>
                                    <td>
                                        <Show when=move || can_change.get() && !row.current>
                                            <button data-testid="rollback-button" on:click={
                                                let row = row.clone();
                                                move |_| confirm.set(Some(row.clone()))
                                            }>{t("Roll back", "回滚")}</button>
                                        </Show>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
        {move || confirm.get().map(|r| view! {
            <div class="modal-backdrop">
                <div class="modal" data-testid="rollback-dialog">
                    <h3>{t("Roll back to revision", "回滚到版本")} " " {r.revision} "?"</h3>
                    <p>{t("The app's pods are replaced, one by one, with this revision's:", "应用的容器组将逐个替换为该版本:")}</p>
                    <p class="mono">{images(&r)}</p>
                    <div class="inline">
                        <button on:click=move |_| confirm.set(None)>{t("Cancel", "取消")}</button>
                        <button class="danger" data-testid="rollback-confirm" on:click=do_rollback>{t("Roll back", "回滚")}</button>
                    </div>
                </div>
            </div>
        })}
    }
}

#[component]
fn Events(tenant: Memo<String>, ns: Memo<String>, name: Memo<String>) -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let events = Resource::new(
        move || (tenant.get(), ns.get(), name.get(), refresh.get()),
        |(t, n, a, _)| app_events(t, n, a),
    );
    view! {
        <h2>{t("Events", "事件")} " " <button class="link" data-testid="events-refresh" on:click=move |_| refresh.update(|r| *r += 1)>"↻"</button></h2>
        <Suspense fallback=|| view! { <p class="loading">"…"</p> }>
            {move || events.get().map(|r| match r {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="events-error"/> }.into_any(),
                Ok(rows) if rows.is_empty() => view! { <p class="empty">{t("No events.", "暂无事件。")}</p> }.into_any(),
                Ok(rows) => view! {
                    <table class="grid" data-testid="events-table">
                        <thead><tr><th>{t("Type", "类型")}</th><th>{t("Reason", "原因")}</th><th>{t("Object", "对象")}</th><th>{t("Message", "消息")}</th><th>{t("Count", "次数")}</th><th>{t("Last seen", "最近")}</th></tr></thead>
                        <tbody>{rows.into_iter().map(|e| { let class = if e.kind == "Warning" { "warn" } else { "" }; view! {
                            <tr class=class>
                                <td>{e.kind}</td><td>{e.reason}</td><td class="mono">{e.object}</td><td>{e.message}</td><td>{e.count}</td><td><Ago at=e.last_seen/></td>
                            </tr>
                        }}).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn YamlEditor(
    tenant: Memo<String>,
    ns: Memo<String>,
    name: Memo<String>,
    /// "Deployment" or "StatefulSet".
    #[prop(into)]
    kind: Signal<&'static str>,
    can_change: Memo<bool>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<AppError>);
    let saved = RwSignal::new(false);
    let get = ServerAction::<GetYaml>::new();
    let put = ServerAction::<PutYaml>::new();
    let (got, put_back) = (get.value(), put.value());
    Effect::new(move |_| match got.get() {
        Some(Ok(y)) => text.set(y),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    Effect::new(move |_| match put_back.get() {
        Some(Ok(y)) => {
            text.set(y);
            saved.set(true);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let load = move || {
        error.set(None);
        saved.set(false);
        get.dispatch(GetYaml {
            tenant: tenant.get_untracked(),
            namespace: ns.get_untracked(),
            kind: kind.get_untracked().into(),
            name: name.get_untracked(),
        });
    };
    let save = move |_| {
        error.set(None);
        saved.set(false);
        put.dispatch(PutYaml {
            tenant: tenant.get_untracked(),
            namespace: ns.get_untracked(),
            kind: kind.get_untracked().into(),
            name: name.get_untracked(),
            yaml: text.get_untracked(),
        });
    };
    view! {
        <h2>"YAML " <button class="link" data-testid="yaml-open" on:click=move |_| { open.update(|o| *o = !*o); if open.get_untracked() { load() } }>
            {move || if open.get() { t_now("hide", "收起") } else { t_now("view / edit", "查看 / 编辑") }}
        </button></h2>
        <Show when=move || open.get()>
            <div class="yaml-editor">
                <textarea class="mono" rows="24" spellcheck="false" data-testid="yaml-text" readonly=move || !can_change.get() bind:value=text></textarea>
                <div class="yaml-side">
                    <Show when=move || can_change.get()>
                        <button class="primary" data-testid="yaml-save" on:click=save>{t("Save", "保存")}</button>
                        <button data-testid="yaml-reload" on:click=move |_| load()>{t("Reload", "重新加载")}</button>
                    </Show>
                    <ErrorBanner error testid="yaml-error"/>
                    {move || saved.get().then(|| view! { <div class="banner ok" data-testid="yaml-saved">{t("Saved.", "已保存。")}</div> })}
                </div>
            </div>
        </Show>
    }
}
