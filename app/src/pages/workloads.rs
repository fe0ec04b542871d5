//! `/t/:tenant`: the tenant's apps, pods and services, kept live over a WebSocket.

use super::param;
use crate::components::badges::{health_class, health_text, Ago};
use crate::components::banner::ErrorBanner;
use crate::components::live::{use_live, LinkDot, Live, LiveFeed};
use crate::components::pod_table::PodTable;
use crate::components::shell::use_tenant_access;
use crate::error::AppError;
use crate::i18n::t;
use crate::workloads::{workloads, LiveMessage, WorkloadView};
use leptos::prelude::*;
use leptos_router::components::A;
use wharf_api::routes;

impl LiveFeed for LiveMessage {
    type Value = WorkloadView;
    fn into_value(self) -> Result<WorkloadView, AppError> {
        match self {
            LiveMessage::Snapshot(v) => Ok(v),
            // NB: the socket sends a sentence, not the typed error (see `crate::workloads`).
            LiveMessage::Error(e) => Err(e),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Apps,
    Pods,
    Services,
}

#[component]
pub fn WorkloadsPage() -> impl IntoView {
    let tenant = param("tenant");
    let tab = RwSignal::new(Tab::Apps);
    let filter = RwSignal::new(String::new());
    // First paint from a server function, then the live feed keeps it current.
    let Live { data, error, link } = use_live::<LiveMessage, _>(
        move || workloads(tenant.get()),
        move || routes::WS_WORKLOADS.path(&[&tenant.get()]),
    );
    let loaded = Memo::new(move |_| data.with(Option::is_some));
    let version = Signal::derive(move || data.with(|d| d.as_ref().map(|d| d.version).unwrap_or(0)));

    let can_change = use_tenant_access(tenant).can_change;
    let matches = move |name: &str| {
        let f = filter.get();
        f.is_empty() || name.contains(f.trim())
    };

    view! {
        <div class="page">
            <div class="page-head">
                <h1>{t("Workloads", "工作负载")} <LinkDot link/></h1>
                <div class="spacer"></div>
                <input class="filter" placeholder=move || t("Filter by name", "按名称筛选")() data-testid="filter" bind:value=filter/>
                <Show when=move || can_change.get()>
                    <A href=move || format!("/t/{}/deploy", tenant.get()) attr:class="button primary" attr:data-testid="deploy-button">
                        {t("Deploy app", "部署应用")}
                    </A>
                </Show>
            </div>
            <ErrorBanner error/>
            <div class="tabs">
                <button class:active=move || tab.get() == Tab::Apps data-testid="tab-apps" on:click=move |_| tab.set(Tab::Apps)>
                    {t("Apps", "应用")} " " {move || data.with(|d| d.as_ref().map(|d| d.apps.len()).unwrap_or(0))}
                </button>
                <button class:active=move || tab.get() == Tab::Pods data-testid="tab-pods" on:click=move |_| tab.set(Tab::Pods)>
                    {t("Pods", "容器组")} " " {move || data.with(|d| d.as_ref().map(|d| d.pod_total).unwrap_or(0))}
                </button>
                <button class:active=move || tab.get() == Tab::Services data-testid="tab-services" on:click=move |_| tab.set(Tab::Services)>
                    {t("Services", "服务")} " " {move || data.with(|d| d.as_ref().map(|d| d.services.len()).unwrap_or(0))}
                </button>
            </div>
            // NB: the pod table is not drawn again with every snapshot (it would lose its
            // scroll position and its page); it asks for its rows when `version` moves.
            {move || (tab.get() == Tab::Pods && loaded.get()).then(|| view! { <PodTable tenant filter=filter version/> })}
            {move || match data.get() {
                None if error.get().is_none() => view! { <p class="loading">{t("Loading…", "加载中…")}</p> }.into_any(),
                None => ().into_any(),
                Some(v) => match tab.get() {
                    Tab::Apps if v.apps.is_empty() => view! {
                        <div class="empty" data-testid="empty-apps">{t("No apps yet. Deploy one to get started.", "还没有应用,先部署一个吧。")}</div>
                    }.into_any(),
                    Tab::Apps => view! {
                        <table class="grid" data-testid="apps-table">
                            <thead><tr>
                                <th>{t("Name", "名称")}</th><th>{t("Namespace", "命名空间")}</th><th>{t("Status", "状态")}</th>
                                <th>{t("Ready", "就绪")}</th><th>{t("Image", "镜像")}</th><th>{t("Age", "创建")}</th>
                            </tr></thead>
                            <tbody>
                                {v.apps.into_iter().filter(|a| matches(&a.name)).map(|a| {
                                    let href = format!("/t/{}/apps/{}/{}", tenant.get_untracked(), a.namespace, a.name);
                                    let label = a.name.clone();
                                    view! {
                                        <tr data-testid="app-row" data-name=a.name.clone() data-kind=format!("{:?}", a.kind)>
                                            <td><A href=href>{label}</A>
                                                {(a.kind == crate::workloads::AppKind::StatefulSet).then(|| view! { " " <span class="badge" title="StatefulSet">"sts"</span> })}</td>
                                            <td>{a.namespace.clone()}</td>
                                            <td><span class=health_class(a.health) data-testid="app-health">{health_text(a.health)}</span>
                                                {a.problem.clone().map(|p| view! { <div class="problem small" data-testid="app-problem">{p}</div> })}</td>
                                            <td data-testid="app-ready">{format!("{}/{}", a.ready, a.replicas)}</td>
                                            <td class="mono">{a.image.clone()}</td>
                                            <td><Ago at=a.created/></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Tab::Pods => ().into_any(),
                    Tab::Services => view! {
                        <table class="grid" data-testid="services-table">
                            <thead><tr>
                                <th>{t("Name", "名称")}</th><th>{t("Type", "类型")}</th><th>"Cluster IP"</th>
                                <th>{t("Ports", "端口")}</th><th>{t("Age", "创建")}</th>
                            </tr></thead>
                            <tbody>
                                {v.services.into_iter().filter(|s| matches(&s.name)).map(|s| view! {
                                    <tr data-testid="service-row" data-name=s.name.clone()>
                                        <td>{s.name.clone()}</td>
                                        <td>{s.kind.clone()}</td>
                                        <td class="mono">{s.cluster_ip.clone()}</td>
                                        <td>{s.ports.clone()}</td>
                                        <td><Ago at=s.created/></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                },
            }}
        </div>
    }
}
