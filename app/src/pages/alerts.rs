//! `/t/:tenant/alerts`: the tenant's alerts as Alertmanager reported them — firing first,
//! then resolved — refreshed every few seconds. An app's page shows its own with [`AlertList`].

use super::param;
use crate::i18n::t;
use crate::monitoring::{list_alerts, AlertRow};
use leptos::prelude::*;

/// How often the list is asked for again.
pub const REFRESH_MS: u64 = 3_000;

#[component]
pub fn AlertsPage() -> impl IntoView {
    let tenant = param("tenant");
    view! {
        <div class="page">
            <h1>{t("Alerts", "告警")}</h1>
            {move || view! { <AlertList tenant=tenant.get() namespace=None app=None/> }}
        </div>
    }
}

/// Alerts of a tenant, or of one app; polls while shown.
#[component]
pub fn AlertList(tenant: String, namespace: Option<String>, app: Option<String>) -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let rows = Resource::new(
        move || tick.get(),
        move |_| {
            let (tn, ns, app) = (tenant.clone(), namespace.clone(), app.clone());
            async move { list_alerts(tn, ns, app).await }
        },
    );
    let handle = set_interval_with_handle(move || tick.update(|n| *n += 1), std::time::Duration::from_millis(REFRESH_MS)).ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    let row_view = |r: AlertRow| {
        let class = format!("alert-row {}", r.status);
        view! {
            <tr class=class data-testid="alert-row" data-status=r.status.clone() data-app=r.app.clone()>
                <td><span class=format!("badge {}", if r.status == "firing" { "bad" } else { "ok" })>{r.status.clone()}</span></td>
                <td>{r.name.clone()}</td>
                <td>{format!("{}/{}", r.namespace, r.app)}</td>
                <td>{r.pod.clone()}</td>
                <td>{r.summary.clone()}</td>
                <td class="muted">{r.starts_at.get(..19).unwrap_or(&r.starts_at).replace('T', " ")}</td>
            </tr>
        }
    };
    view! {
        <Transition fallback=|| view! { <p class="loading">"…"</p> }>
            {move || rows.get().map(|r| match r {
                Err(e) => view! { <div class="banner error">{e.to_string()}</div> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-alerts">{t("No alerts.", "没有告警。")}</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table alerts" data-testid="alerts-table">
                        <thead><tr>
                            <th>{t("State", "状态")}</th><th>{t("Alert", "告警")}</th><th>{t("App", "应用")}</th>
                            <th>{t("Pod", "Pod")}</th><th>{t("Summary", "摘要")}</th><th>{t("Since", "开始")}</th>
                        </tr></thead>
                        <tbody>{list.into_iter().map(row_view).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// An app's corner of monitoring on its page: its threads and sockets over the last hour with
/// the threshold lines, its alert thresholds (editable by developers), and its own alerts.
#[component]
pub fn AppMonitoring(tenant: Memo<String>, ns: Memo<String>, name: Memo<String>, can_change: Memo<bool>) -> impl IntoView {
    use crate::monitoring::{alert_rules, set_alert_rules, AlertThresholds, Panel, Target};
    use crate::pages::monitoring::PanelChart;
    let target = Signal::derive(move || Target::App { namespace: ns.get(), name: name.get() });
    let tick = RwSignal::new(0u64);
    let form = RwSignal::new(AlertThresholds::default());
    let loaded = Resource::new(move || (tenant.get(), ns.get(), name.get()), |(t, n, a)| alert_rules(t, n, a));
    Effect::new(move |_| {
        if let Some(Ok(v)) = loaded.get() {
            form.set(v);
        }
    });
    let message = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let field = |get: fn(&AlertThresholds) -> String, set: fn(&mut AlertThresholds, String)| {
        (move || form.with(|f| get(f)), move |ev: leptos::ev::Event| form.update(|f| set(f, event_target_value(&ev))))
    };
    let (cpu, on_cpu) = field(|f| f.cpu_percent.clone(), |f, v| f.cpu_percent = v);
    let (mem, on_mem) = field(|f| f.memory_percent.clone(), |f, v| f.memory_percent = v);
    let (thr, on_thr) = field(|f| f.threads.clone(), |f, v| f.threads = v);
    let (sock, on_sock) = field(|f| f.sockets.clone(), |f, v| f.sockets = v);
    let (dur, on_dur) = field(|f| f.duration.clone(), |f, v| f.duration = v);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let thresholds = form.get();
        if let Err(errs) = thresholds.parse() {
            message.set(Some(Err(errs.join("; "))));
            return;
        }
        busy.set(true);
        message.set(None);
        let (tn, n, a) = (tenant.get(), ns.get(), name.get());
        leptos::task::spawn_local(async move {
            match set_alert_rules(tn, n, a, thresholds).await {
                Ok(()) => {
                    message.set(Some(Ok(crate::i18n::t_now("Alert rules loaded by Prometheus.", "告警规则已被 Prometheus 加载。").to_string())));
                    tick.update(|n| *n += 1);
                }
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
            busy.set(false);
        });
    };
    view! {
        <h2>{t("Monitoring and alerts", "监控与告警")}</h2>
        <div class="chart-grid two">
            <PanelChart tenant target minutes=Signal::stored(60u32) tick panel=Panel::Threads/>
            <PanelChart tenant target minutes=Signal::stored(60u32) tick panel=Panel::Sockets/>
        </div>
        <form class="form thresholds" data-testid="thresholds-form" on:submit=save novalidate=true>
            <div class="row">
                <label>{t("CPU % of limit", "CPU 占上限 %")}<input data-testid="threshold-cpu" prop:value=cpu on:input=on_cpu disabled=move || !can_change.get()/></label>
                <label>{t("Memory % of limit", "内存占上限 %")}<input data-testid="threshold-memory" prop:value=mem on:input=on_mem disabled=move || !can_change.get()/></label>
                <label>{t("Threads", "线程数")}<input data-testid="threshold-threads" prop:value=thr on:input=on_thr disabled=move || !can_change.get()/></label>
                <label>{t("Sockets", "套接字数")}<input data-testid="threshold-sockets" prop:value=sock on:input=on_sock disabled=move || !can_change.get()/></label>
                <label>{t("For", "持续")}<input data-testid="threshold-duration" placeholder="1m" prop:value=dur on:input=on_dur disabled=move || !can_change.get()/></label>
            </div>
            <Show when=move || can_change.get()>
                <button type="submit" data-testid="thresholds-save" disabled=move || busy.get()>{t("Save alert thresholds", "保存告警阈值")}</button>
            </Show>
            {move || message.get().map(|m| match m {
                Ok(s) => view! { <div class="banner ok" data-testid="thresholds-ok">{s}</div> }.into_any(),
                Err(e) => view! { <div class="banner error" data-testid="thresholds-error">{e}</div> }.into_any(),
            })}
        </form>
        {move || view! { <AlertList tenant=tenant.get() namespace=Some(ns.get()) app=Some(name.get())/> }}
    }
}
