//! `/t/:tenant/alerts`: the tenant's alerts as Alertmanager reported them — firing first,
//! then resolved — refreshed every few seconds, and the tenant's own receivers (webhooks and
//! e-mail addresses Alertmanager also sends its alerts to): developers add and remove them,
//! viewers see them. An app's page shows its own alerts with [`AlertList`].

use super::param;
use crate::components::shell::use_me;
use crate::i18n::{t, I18n, Lang};
use crate::monitoring::{add_alert_receiver, alert_receivers, list_alerts, remove_alert_receiver, AlertRow, Receiver, ReceiverKind};
use leptos::prelude::*;

/// How often the list is asked for again.
pub const REFRESH_MS: u64 = 3_000;

#[component]
pub fn AlertsPage() -> impl IntoView {
    let tenant = param("tenant");
    let me = use_me();
    let can_change = Memo::new(move |_| me.with(|m| m.as_ref().and_then(|m| m.tenant(&tenant.get()).map(|t| t.role.can_change())).unwrap_or(false)));
    view! {
        <div class="page">
            <h1>{t("Alerts", "告警")}</h1>
            {move || view! { <AlertList tenant=tenant.get() namespace=None app=None/> }}
            <Receivers tenant can_change/>
        </div>
    }
}

/// The tenant's receivers: a table, and for developers a form to add one and a button to
/// remove each. Every change is confirmed loaded by Alertmanager before it is shown.
#[component]
fn Receivers(tenant: Memo<String>, can_change: Memo<bool>) -> impl IntoView {
    let lang = expect_context::<I18n>().0;
    let tick = RwSignal::new(0u64);
    let data = Resource::new(move || (tenant.get(), tick.get()), |(tn, _)| alert_receivers(tn));
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(ReceiverKind::Webhook);
    let to = RwSignal::new(String::new());
    let message = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let receiver = Receiver { name: name.get(), kind: kind.get(), to: to.get() };
        if let Err(e) = receiver.cleaned() {
            message.set(Some(Err(e)));
            return;
        }
        busy.set(true);
        message.set(None);
        let tn = tenant.get();
        leptos::task::spawn_local(async move {
            match add_alert_receiver(tn, receiver).await {
                Ok(()) => {
                    message.set(Some(Ok(crate::i18n::t_now("Receiver added; Alertmanager has loaded it.", "已添加接收者;Alertmanager 已加载。").to_string())));
                    name.set(String::new());
                    to.set(String::new());
                    tick.update(|n| *n += 1);
                }
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
            busy.set(false);
        });
    };
    let remove = move |receiver: String| {
        busy.set(true);
        message.set(None);
        let tn = tenant.get();
        leptos::task::spawn_local(async move {
            match remove_alert_receiver(tn, receiver).await {
                Ok(()) => {
                    message.set(Some(Ok(crate::i18n::t_now("Receiver removed; Alertmanager has loaded the change.", "已删除接收者;Alertmanager 已加载。").to_string())));
                    tick.update(|n| *n += 1);
                }
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
            busy.set(false);
        });
    };
    let kind_label = move |k: ReceiverKind| {
        let (en, zh) = k.label();
        if lang.get() == Lang::Zh { zh } else { en }
    };
    view! {
        <section class="receivers" data-testid="receivers">
            <h2>{t("Receivers", "接收者")}</h2>
            <p class="muted">{t(
                "Alertmanager sends this tenant's alerts here too (firing and resolved), and only this tenant's.",
                "Alertmanager 也会把本租户的告警(触发与恢复)发送到这里,且只发送本租户的。")}</p>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <div class="banner error">{e.to_string()}</div> }.into_any(),
                    Ok(v) => {
                        let managed = v.managed;
                        let email = v.email;
                        view! {
                            {(!managed).then(|| view! { <div class="banner" data-testid="receivers-unmanaged">{t(
                                "This console does not manage Alertmanager's configuration, so receivers cannot be added here.",
                                "此控制台不管理 Alertmanager 的配置,无法在此添加接收者。")}</div> })}
                            {if v.receivers.is_empty() {
                                view! { <p class="muted" data-testid="no-receivers">{t("No receivers of this tenant's own.", "本租户还没有自己的接收者。")}</p> }.into_any()
                            } else {
                                view! {
                                    <table class="table" data-testid="receivers-table">
                                        <thead><tr><th>{t("Name", "名称")}</th><th>{t("Kind", "类型")}</th><th>{t("Sends to", "发送到")}</th><th></th></tr></thead>
                                        <tbody>{v.receivers.into_iter().map(|r| {
                                            let n = r.name.clone();
                                            view! {
                                                <tr data-testid="receiver-row" data-name=r.name.clone()>
                                                    <td>{r.name.clone()}</td>
                                                    <td>{move || kind_label(r.kind)}</td>
                                                    <td class="mono">{r.to.clone()}</td>
                                                    <td><Show when=move || can_change.get()>
                                                        {
                                                            let n = n.clone();
                                                            view! { <button class="danger small" data-testid="receiver-remove" disabled=move || busy.get()
                                                                on:click=move |_| remove(n.clone())>{t("Remove", "删除")}</button> }
                                                        }
                                                    </Show></td>
                                                </tr>
                                            }
                                        }).collect_view()}</tbody>
                                    </table>
                                }.into_any()
                            }}
                            <Show when=move || can_change.get() && managed>
                                <form class="form row" data-testid="receiver-form" on:submit=add novalidate=true>
                                    <label>{t("Name", "名称")}<input data-testid="receiver-name" placeholder="ops" bind:value=name/></label>
                                    <label>{t("Kind", "类型")}
                                        <select data-testid="receiver-kind" on:change=move |ev| kind.set(if event_target_value(&ev) == "email" { ReceiverKind::Email } else { ReceiverKind::Webhook })>
                                            <option value="webhook" selected=move || kind.get() == ReceiverKind::Webhook>{move || kind_label(ReceiverKind::Webhook)}</option>
                                            <option value="email" disabled=!email selected=move || kind.get() == ReceiverKind::Email>{move || kind_label(ReceiverKind::Email)}</option>
                                        </select>
                                    </label>
                                    <label class="grow">{t("Webhook URL or e-mail address", "Webhook URL 或邮件地址")}
                                        <input class="mono" data-testid="receiver-to" placeholder="https://hooks.example.org/alerts" bind:value=to/></label>
                                    <button type="submit" data-testid="receiver-add" disabled=move || busy.get()>{t("Add receiver", "添加接收者")}</button>
                                </form>
                            </Show>
                        }.into_any()
                    }
                })}
            </Transition>
            {move || message.get().map(|m| match m {
                Ok(s) => view! { <div class="banner ok" data-testid="receivers-ok">{s}</div> }.into_any(),
                Err(e) => view! { <div class="banner error" data-testid="receivers-error">{e}</div> }.into_any(),
            })}
        </section>
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
        (move || form.with(get), move |ev: leptos::ev::Event| form.update(|f| set(f, event_target_value(&ev))))
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
