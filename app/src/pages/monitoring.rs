//! `/t/:tenant/monitoring`: the tenant's dashboards. Pick the whole tenant or one app
//! (`?app=<ns>/<name>` links straight to it), a time range from 15 minutes to 7 days, and
//! auto-refresh; every panel is one chart (see `components::chart`). Below, a PromQL box for
//! hand-written queries — the server limits them to the tenant's namespaces like the panels.

use super::param;
use crate::components::chart::Chart;
use crate::i18n::{t, I18n, Lang};
use crate::monitoring::{query_promql, query_range, Panel, PanelData, Target, RANGES};
use crate::workloads::workloads;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Auto-refresh period.
pub const REFRESH_MS: u64 = 10_000;

#[component]
pub fn MonitoringPage() -> impl IntoView {
    let tenant = param("tenant");
    let query = use_query_map();
    let chosen = RwSignal::new(query.with_untracked(|q| q.get("app").unwrap_or_default()));
    let minutes = RwSignal::new(60u32);
    let auto = RwSignal::new(true);
    let tick = RwSignal::new(0u64);
    let apps = Resource::new(move || tenant.get(), workloads);
    let handle = set_interval_with_handle(
        move || {
            if auto.get_untracked() {
                tick.update(|n| *n += 1)
            }
        },
        std::time::Duration::from_millis(REFRESH_MS),
    )
    .ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    let target = Memo::new(move |_| match chosen.get().split_once('/') {
        Some((ns, name)) => Target::App { namespace: ns.to_string(), name: name.to_string() },
        None => Target::Tenant,
    });

    view! {
        <div class="page monitoring">
            <h1>{t("Monitoring", "监控")}</h1>
            <div class="toolbar">
                <select data-testid="monitor-target" on:change=move |ev| chosen.set(event_target_value(&ev)) prop:value=move || chosen.get()>
                    <option value="">{t("All pods of the tenant", "租户的全部 Pod")}</option>
                    {move || apps.get().and_then(Result::ok).map(|v| v.apps.into_iter().map(|a| {
                        let key = format!("{}/{}", a.namespace, a.name);
                        view! { <option value=key.clone()>{key.clone()}</option> }
                    }).collect_view())}
                </select>
                <div class="segmented" data-testid="range-picker">
                    {RANGES.iter().map(|(m, label)| {
                        let m = *m;
                        view! { <button class:active=move || minutes.get() == m on:click=move |_| minutes.set(m) data-testid=format!("range-{label}")>{*label}</button> }
                    }).collect_view()}
                </div>
                <label class="inline"><input type="checkbox" data-testid="auto-refresh" prop:checked=move || auto.get() on:change=move |ev| auto.set(event_target_checked(&ev))/>
                    {t("Auto-refresh", "自动刷新")}</label>
                <button on:click=move |_| tick.update(|n| *n += 1) data-testid="refresh">{t("Refresh", "刷新")}</button>
            </div>
            <div class="chart-grid">
                {Panel::ALL.into_iter().map(|p| view! { <PanelChart tenant=tenant target=target minutes=minutes tick=tick panel=p/> }).collect_view()}
            </div>
            <PromqlBox tenant=tenant minutes=minutes/>
        </div>
    }
}

/// One panel, re-asked whenever the tenant, target, range or tick changes.
#[component]
pub fn PanelChart(tenant: Memo<String>, #[prop(into)] target: Signal<Target>, #[prop(into)] minutes: Signal<u32>, #[prop(into)] tick: Signal<u64>, panel: Panel) -> impl IntoView {
    let lang = expect_context::<I18n>().0;
    let data = Resource::new(move || (tenant.get(), target.get(), minutes.get(), tick.get()), move |(tn, tg, m, _)| query_range(tn, panel, tg, m));
    let title = move || {
        let (en, zh) = panel.title();
        if lang.get() == Lang::Zh { zh } else { en }
    };
    view! {
        <Transition fallback=move || view! { <figure class="chart loading">{title()}</figure> }>
            {move || data.get().map(|r| match r {
                Ok(d) => view! { <Chart title=title() data=d bytes=panel.bytes() testid=format!("chart-{}", panel.slug())/> }.into_any(),
                Err(e) => view! { <figure class="chart"><figcaption>{title()}</figcaption><div class="banner error">{e.to_string()}</div></figure> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn PromqlBox(tenant: Memo<String>, minutes: RwSignal<u32>) -> impl IntoView {
    let text = RwSignal::new(String::from("sum by (pod) (container_threads)"));
    let result = RwSignal::new(None::<Result<PanelData, String>>);
    let run = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (tn, q, m) = (tenant.get(), text.get(), minutes.get());
        leptos::task::spawn_local(async move {
            result.set(Some(query_promql(tn, q, m).await.map_err(|e| e.to_string())));
        });
    };
    view! {
        <section class="promql">
            <h2>{t("PromQL", "PromQL 查询")}</h2>
            <form class="row" on:submit=run>
                <input class="grow mono" data-testid="promql-input" bind:value=text/>
                <button type="submit" data-testid="promql-run">{t("Run", "执行")}</button>
            </form>
            {move || result.get().map(|r| match r {
                Ok(d) => view! { <Chart title="PromQL" data=d bytes=false testid="chart-promql"/> }.into_any(),
                Err(e) => view! { <div class="banner error" data-testid="promql-error">{e}</div> }.into_any(),
            })}
        </section>
    }
}
