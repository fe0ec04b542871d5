//! The pod list: a virtualized table that fetches only the rows in view (plus some to either
//! side) from the server, so a tenant with tens of thousands of pods opens at once and
//! scrolls smoothly. Rows have a fixed height; spacer rows stand in for the rest.

use crate::components::badges::{Ago, PodStatus};
use crate::components::banner::ErrorBanner;
use crate::error::AppError;
use crate::i18n::t;
use crate::workloads::{list_pods, PodPage, PodQuery};
use leptos::prelude::*;

/// Must match `.vlist tbody tr { height }` in the stylesheet.
const ROW_PX: usize = 36;
/// Rows fetched on either side of the visible ones.
const OVERSCAN: usize = 60;
/// Fetch windows start on multiples of this, so small scrolls fetch nothing.
const STEP: usize = 40;
const WINDOW: usize = 200;

#[component]
pub fn PodTable(
    tenant: Memo<String>,
    /// Only this app's pods.
    #[prop(optional, into)]
    app: Option<Signal<String>>,
    #[prop(optional, into)] namespace: Option<Signal<String>>,
    #[prop(into)] filter: Signal<String>,
    /// Refetch when this moves (the live feed's version).
    #[prop(into)]
    version: Signal<u64>,
    /// Show the claims each pod mounts (an app's page: a StatefulSet's replicas each have
    /// their own).
    #[prop(optional)]
    claims: bool,
) -> impl IntoView {
    let scroll_top = RwSignal::new(0usize);
    let page = RwSignal::new(None::<PodPage>);
    let error = RwSignal::new(None::<AppError>);
    let offset = Memo::new(move |_| {
        let first = scroll_top.get() / ROW_PX;
        (first.saturating_sub(OVERSCAN) / STEP) * STEP
    });
    // NB: a resource, not a task of our own: it drops answers to requests a newer one replaced,
    // and an answer arriving after the table is gone touches nothing.
    let rows = LocalResource::new(move || {
        let query = PodQuery {
            app: app.map(|a| a.get()),
            namespace: namespace.map(|n| n.get()),
            filter: filter.get(),
            offset: offset.get(),
            limit: WINDOW,
        };
        let _ = version.get();
        list_pods(tenant.get(), query)
    });
    // The last page shown stays while the next one loads (no flicker while scrolling).
    Effect::new(move |_| match rows.get() {
        Some(Ok(p)) => {
            error.set(None);
            page.set(Some(p));
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let on_scroll = move |ev: leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        if let Some(el) = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        {
            scroll_top.set(el.scroll_top().max(0) as usize);
        }
    };

    view! {
        <ErrorBanner error/>
        <div class="vlist" on:scroll=on_scroll data-testid="pods-scroll">
            <table class="grid" data-testid="pods-table" data-total=move || page.with(|p| p.as_ref().map(|p| p.total).unwrap_or(0))>
                <thead><tr>
                    <th>{t("Name", "名称")}</th><th>{t("Status", "状态")}</th><th>{t("Ready", "就绪")}</th>
                    <th>{t("Restarts", "重启")}</th><th>{t("Image", "镜像")}</th><th>{t("Node", "节点")}</th><th>"IP"</th><th>{t("Age", "创建")}</th>
                    {claims.then(|| view! { <th>{t("Volume claims", "存储卷声明")}</th> })}
                </tr></thead>
                <tbody>
                    {move || page.get().map(|p| {
                        let above = p.offset * ROW_PX;
                        let below = p.total.saturating_sub(p.offset + p.rows.len()) * ROW_PX;
                        view! {
                            <tr class="spacer" style=format!("height:{above}px")></tr>
                            {p.rows.into_iter().map(|p| view! {
                                <tr data-testid="pod-row" data-name=p.name.clone() data-app=p.app.clone().unwrap_or_default()>
                                    <td class="mono">{p.name.clone()}
                                        {(p.updated == Some(false)).then(|| view! {
                                            " " <span class="badge" data-testid="pod-old-revision"
                                                title=t("Still runs the previous revision: the rolling update replaces it in turn", "仍运行上一版本:滚动更新将依次替换")>
                                                {t("old", "旧版")}
                                            </span>
                                        })}</td>
                                    <td><PodStatus status=p.status.clone()/></td>
                                    <td>{p.ready.clone()}</td>
                                    <td>{p.restarts}</td>
                                    <td class="mono" data-testid="pod-image">{p.image.clone()}</td>
                                    <td>{p.node.clone()}</td>
                                    <td class="mono">{p.ip.clone()}</td>
                                    <td><Ago at=p.created/></td>
                                    {claims.then(|| view! {
                                        <td class="mono small" data-testid="pod-claims">
                                            {if p.claims.is_empty() { "—".to_string() } else { p.claims.join(", ") }}
                                        </td>
                                    })}
                                </tr>
                            }).collect_view()}
                            <tr class="spacer" style=format!("height:{below}px")></tr>
                        }
                    })}
                </tbody>
            </table>
            <Show when=move || page.with(|p| p.as_ref().is_some_and(|p| p.total == 0))>
                <div class="empty">{t("No pods.", "没有容器组。")}</div>
            </Show>
        </div>
    }
}
