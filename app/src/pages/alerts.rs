//! `/t/:tenant/alerts`: the tenant's alerts as Alertmanager reported them — firing first,
//! then resolved — refreshed every few seconds, its silences (developers silence a firing
//! alert from its row, or any app of the tenant, and expire silences; viewers see them), and
//! the tenant's own receivers (webhooks and e-mail addresses Alertmanager also sends its
//! alerts to): developers add and remove them, viewers see them. An app's page shows its own
//! alerts with [`AlertList`].

use super::param;
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::components::shell::use_tenant_access;
use crate::i18n::t;
use crate::monitoring::{
    add_alert_receiver, alert_receivers, create_silence, expire_silence, list_alerts,
    list_silences, remove_alert_receiver, AlertRow, MatchValue, NewSilence, Receiver, ReceiverKind,
    SilenceRow, SilenceState,
};
use leptos::prelude::*;

/// How often the list is asked for again.
pub const REFRESH_MS: u64 = 3_000;

/// What the silences section changes.
#[derive(Clone, Debug)]
enum SilenceChange {
    Create(NewSilence),
    Expire(String),
}

/// What the receivers section changes.
#[derive(Clone, Debug)]
enum ReceiverChange {
    Add(Receiver),
    Remove(String),
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let tenant = param("tenant");
    let can_change = use_tenant_access(tenant).can_change;
    let namespaces = use_tenant_access(tenant).namespaces;
    // set by an alert's Silence button: the silence form takes it over
    let draft = RwSignal::new(None::<NewSilence>);
    let on_silence = Callback::new(move |r: AlertRow| draft.set(Some(NewSilence::for_alert(&r))));
    view! {
        <div class="page">
            <h1>{t("Alerts", "告警")}</h1>
            {move || view! { <AlertList tenant=tenant.get() namespace=None app=None on_silence=can_change.get().then_some(on_silence)/> }}
            <Silences tenant can_change namespaces draft/>
            <Receivers tenant can_change/>
        </div>
    }
}

/// The tenant's silences: a form to create one (developers; pre-filled by an alert's
/// Silence button), and a table of the active, pending and recently expired ones with an
/// Expire button each. The server bounds every silence to one of the tenant's namespaces.
#[component]
fn Silences(
    tenant: Memo<String>,
    can_change: Memo<bool>,
    namespaces: Memo<Vec<String>>,
    draft: RwSignal<Option<NewSilence>>,
) -> impl IntoView {
    let tick =
        crate::components::ticker::ticker(std::time::Duration::from_millis(REFRESH_MS), None);
    let data = Resource::new(
        move || (tenant.get(), tick.get()),
        |(tn, _)| list_silences(tn),
    );
    let ns = RwSignal::new(String::new());
    let app = RwSignal::new(String::new());
    let app_regex = RwSignal::new(false);
    let alertname = RwSignal::new(String::new());
    let alertname_regex = RwSignal::new(false);
    let pod = RwSignal::new(String::new());
    let pod_regex = RwSignal::new(false);
    let until_mode = RwSignal::new(false);
    let duration = RwSignal::new("2h".to_string());
    let until = RwSignal::new(String::new());
    let comment = RwSignal::new(String::new());
    let comment_ref = NodeRef::<leptos::html::Input>::new();
    // the first namespace until one is chosen
    Effect::new(move |_| {
        let list = namespaces.get();
        if !list.contains(&ns.get_untracked()) {
            ns.set(list.first().cloned().unwrap_or_default());
        }
    });
    Effect::new(move |_| {
        let Some(d) = draft.get() else { return };
        ns.set(d.namespace);
        app.set(d.app.value);
        app_regex.set(d.app.regex);
        alertname.set(d.alertname.value);
        alertname_regex.set(d.alertname.regex);
        pod.set(d.pod.value);
        pod_regex.set(d.pod.regex);
        until_mode.set(false);
        duration.set(d.duration);
        if let Some(input) = comment_ref.get_untracked() {
            let _ = input.focus();
        }
    });
    let changes = Changes::new(
        tick,
        move |change| {
            let tn = tenant.get_untracked();
            async move {
                match change {
                    SilenceChange::Create(silence) => create_silence(tn, silence).await.map(|_| ()),
                    SilenceChange::Expire(id) => expire_silence(tn, id).await,
                }
            }
        },
        |change| match change {
            SilenceChange::Create(_) => (
                "Silence created; Alertmanager mutes the matching alerts.",
                "已创建静默;Alertmanager 将屏蔽匹配的告警。",
            ),
            SilenceChange::Expire(_) => (
                "Silence expired; its alerts notify again.",
                "静默已失效;相关告警将恢复通知。",
            ),
        },
        move |change| {
            if let SilenceChange::Create(_) = change {
                comment.set(String::new());
                draft.set(None);
            }
        },
    );
    let Changes { message, busy, .. } = changes;
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // NB: left empty, the check below says what is missing
        let ends_at = if until_mode.get() && !until.get().trim().is_empty() {
            match crate::time::local_to_rfc3339(&wharf_api::text!("end", "结束时间"), &until.get())
            {
                Ok(t) => t,
                Err(e) => {
                    changes.refuse(e);
                    return;
                }
            }
        } else {
            String::new()
        };
        let silence = NewSilence {
            namespace: ns.get(),
            app: MatchValue {
                value: app.get(),
                regex: app_regex.get(),
            },
            alertname: MatchValue {
                value: alertname.get(),
                regex: alertname_regex.get(),
            },
            pod: MatchValue {
                value: pod.get(),
                regex: pod_regex.get(),
            },
            duration: if until_mode.get() {
                String::new()
            } else {
                duration.get()
            },
            ends_at,
            comment: comment.get(),
        };
        if let Err(e) = silence.check(chrono::Utc::now()) {
            changes.refuse(e);
            return;
        }
        changes.run(SilenceChange::Create(silence));
    };
    let expire = move |id: String| changes.run(SilenceChange::Expire(id));
    let state_label = |s: SilenceState| {
        let (en, zh) = s.label();
        crate::i18n::t_now(en, zh)
    };
    let row_view = move |s: SilenceRow| {
        let id = s.id.clone();
        let state = s.state;
        let badge = match state {
            SilenceState::Active => "badge busy",
            SilenceState::Pending => "badge idle",
            SilenceState::Expired => "badge ok",
        };
        let matchers = s
            .matchers
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let until_text = match state {
            SilenceState::Pending => format!(
                "{} → {}",
                crate::time::exact_rfc3339(&s.starts_at),
                crate::time::exact_rfc3339(&s.ends_at)
            ),
            _ => crate::time::exact_rfc3339(&s.ends_at),
        };
        view! {
            <tr data-testid="silence-row" data-id=s.id.clone() data-state=state.slug()>
                <td><span class=badge data-testid="silence-state">{move || state_label(state)}</span></td>
                <td class="mono" data-testid="silence-matchers">{matchers}</td>
                <td data-testid="silence-created-by">{s.created_by.clone()}</td>
                <td class="muted">{until_text}</td>
                <td>{s.comment.clone()}</td>
                <td><Show when=move || can_change.get() && state != SilenceState::Expired>
                    {
                        let id = id.clone();
                        view! { <button class="danger small" data-testid="silence-expire" disabled=move || busy.get()
                            on:click=move |_| expire(id.clone())>{t("Expire", "使失效")}</button> }
                    }
                </Show></td>
            </tr>
        }
    };
    let regex_box = |signal: RwSignal<bool>, testid: &'static str| {
        view! { <label class="check tight small" title=t("Match the field as a regular expression", "按正则表达式匹配")><input type="checkbox" data-testid=testid bind:checked=signal/>{t("regex", "正则")}</label> }
    };
    view! {
        <section class="silences" data-testid="silences">
            <h2>{t("Silences", "静默")}</h2>
            <p class="muted">{t(
                "A silence mutes the matching alerts of one namespace of this tenant for a while (maintenance): Alertmanager sends no notification for them, and they show as silenced.",
                "静默会在一段时间内(如维护期间)屏蔽本租户某个命名空间中匹配的告警:Alertmanager 不再为其发送通知,告警显示为已静默。")}</p>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="silences-load-error"/> }.into_any(),
                    Ok(v) if !v.configured => view! { <div class="banner" data-testid="silences-unconfigured">{t(
                        "This console has no Alertmanager configured, so there are no silences.",
                        "此控制台未配置 Alertmanager,因此没有静默。")}</div> }.into_any(),
                    Ok(v) if v.silences.is_empty() => view! { <p class="muted" data-testid="no-silences">{t("No silences.", "没有静默。")}</p> }.into_any(),
                    Ok(v) => view! {
                        <table class="table" data-testid="silences-table">
                            <thead><tr>
                                <th>{t("State", "状态")}</th><th>{t("Matchers", "匹配条件")}</th><th>{t("Created by", "创建者")}</th>
                                <th>{t("Until", "截止")}</th><th>{t("Comment", "说明")}</th><th></th>
                            </tr></thead>
                            <tbody>{v.silences.into_iter().map(row_view).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
            <Show when=move || can_change.get() && data.get().is_some_and(|r| r.is_ok_and(|v| v.configured))>
                <form class="form" data-testid="silence-form" on:submit=create novalidate=true>
                    <div class="row wrap">
                        <label>{t("Namespace", "命名空间")}
                            <select data-testid="silence-namespace" on:change=move |ev| ns.set(event_target_value(&ev))>
                                {move || namespaces.get().into_iter().map(|n| {
                                    let selected = n.clone();
                                    view! { <option value=n.clone() selected=move || ns.get() == selected>{n.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                        <label>{t("App", "应用")}<input data-testid="silence-app" placeholder="orders" bind:value=app/></label>
                        {regex_box(app_regex, "silence-app-regex")}
                        <label>{t("Alert (empty: any)", "告警(留空:全部)")}<input data-testid="silence-alertname" placeholder="WharfThreadsHigh" bind:value=alertname/></label>
                        {regex_box(alertname_regex, "silence-alertname-regex")}
                        <label>{t("Pod (empty: any)", "Pod(留空:全部)")}<input data-testid="silence-pod" bind:value=pod/></label>
                        {regex_box(pod_regex, "silence-pod-regex")}
                    </div>
                    <div class="row wrap">
                        <label>{t("How long", "时长")}
                            <select data-testid="silence-how" on:change=move |ev| until_mode.set(event_target_value(&ev) == "until")>
                                <option value="for" selected=move || !until_mode.get()>{t("For", "持续")}</option>
                                <option value="until" selected=move || until_mode.get()>{t("Until", "直到")}</option>
                            </select>
                        </label>
                        <Show when=move || !until_mode.get() fallback=move || view! {
                            <label>{t("End (your local time)", "结束(本地时间)")}<input type="datetime-local" data-testid="silence-until" bind:value=until/></label>
                        }>
                            <label>{t("Duration (e.g. 2h, 90m, 1d)", "时长(如 2h、90m、1d)")}<input class="small" data-testid="silence-duration" bind:value=duration/></label>
                        </Show>
                        <label class="grow">{t("Comment (why)", "说明(原因)")}<input data-testid="silence-comment" node_ref=comment_ref bind:value=comment/></label>
                        <button type="submit" data-testid="silence-create" disabled=move || busy.get()>{t("Create silence", "创建静默")}</button>
                    </div>
                </form>
            </Show>
            <Outcome outcome=message ok_testid="silences-ok" error_testid="silences-error"/>
        </section>
    }
}

/// The tenant's receivers: a table, and for developers a form to add one and a button to
/// remove each. Every change is confirmed loaded by Alertmanager before it is shown.
#[component]
fn Receivers(tenant: Memo<String>, can_change: Memo<bool>) -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let data = Resource::new(
        move || (tenant.get(), tick.get()),
        |(tn, _)| alert_receivers(tn),
    );
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(ReceiverKind::Webhook);
    let to = RwSignal::new(String::new());
    let changes = Changes::new(
        tick,
        move |change| {
            let tn = tenant.get_untracked();
            async move {
                match change {
                    ReceiverChange::Add(receiver) => add_alert_receiver(tn, receiver).await,
                    ReceiverChange::Remove(name) => remove_alert_receiver(tn, name).await,
                }
            }
        },
        |change| match change {
            ReceiverChange::Add(_) => (
                "Receiver added; Alertmanager has loaded it.",
                "已添加接收者;Alertmanager 已加载。",
            ),
            ReceiverChange::Remove(_) => (
                "Receiver removed; Alertmanager has loaded the change.",
                "已删除接收者;Alertmanager 已加载。",
            ),
        },
        move |change| {
            if let ReceiverChange::Add(_) = change {
                name.set(String::new());
                to.set(String::new());
            }
        },
    );
    let Changes { message, busy, .. } = changes;
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let receiver = Receiver {
            name: name.get(),
            kind: kind.get(),
            to: to.get(),
        };
        if let Err(e) = receiver.cleaned() {
            changes.refuse(e);
            return;
        }
        changes.run(ReceiverChange::Add(receiver));
    };
    let remove = move |receiver: String| changes.run(ReceiverChange::Remove(receiver));
    let kind_label = |k: ReceiverKind| {
        let (en, zh) = k.label();
        crate::i18n::t_now(en, zh)
    };
    view! {
        <section class="receivers" data-testid="receivers">
            <h2>{t("Receivers", "接收者")}</h2>
            <p class="muted">{t(
                "Alertmanager sends this tenant's alerts here too (firing and resolved), and only this tenant's.",
                "Alertmanager 也会把本租户的告警(触发与恢复)发送到这里,且只发送本租户的。")}</p>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="receivers-load-error"/> }.into_any(),
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
            <Outcome outcome=message ok_testid="receivers-ok" error_testid="receivers-error"/>
        </section>
    }
}

/// Alerts of a tenant, or of one app; polls while shown. With `on_silence`, a firing alert
/// has a Silence button that hands it over (the alerts page's silence form).
#[component]
pub fn AlertList(
    tenant: String,
    namespace: Option<String>,
    app: Option<String>,
    on_silence: Option<Callback<AlertRow>>,
) -> impl IntoView {
    let tick =
        crate::components::ticker::ticker(std::time::Duration::from_millis(REFRESH_MS), None);
    let rows = Resource::new(
        move || tick.get(),
        move |_| {
            let (tn, ns, app) = (tenant.clone(), namespace.clone(), app.clone());
            async move { list_alerts(tn, ns, app).await }
        },
    );
    let row_view = move |r: AlertRow| {
        let silenced = r.silenced();
        let class = format!(
            "alert-row {}{}",
            r.status,
            if silenced { " silenced" } else { "" }
        );
        let firing = r.status == "firing";
        let silenced_by = r.silenced_by.join(", ");
        let action = on_silence.filter(|_| firing).map(|cb| {
            let r = r.clone();
            view! { <button class="small" data-testid="alert-silence" on:click=move |_| cb.run(r.clone())>{t("Silence", "静默")}</button> }
        });
        view! {
            <tr class=class data-testid="alert-row" data-status=r.status.clone() data-app=r.app.clone() data-silenced=silenced.to_string()>
                <td>
                    <span class=format!("badge {}", if firing { "bad" } else { "ok" })>{r.status.clone()}</span>
                    {silenced.then(|| view! { " " <span class="badge idle silenced" data-testid="alert-silenced" title=silenced_by>{t("silenced", "已静默")}</span> })}
                </td>
                <td>{r.name.clone()}</td>
                <td>{format!("{}/{}", r.namespace, r.app)}</td>
                <td>{if r.pod.is_empty() { view! { <span class="muted" data-testid="alert-whole-app">{t("(whole app)", "(整个应用)")}</span> }.into_any() } else { r.pod.clone().into_any() }}</td>
                <td>{r.summary.clone()}</td>
                <td class="muted">{r.starts_at.get(..19).unwrap_or(&r.starts_at).replace('T', " ")}</td>
                {on_silence.is_some().then(|| view! { <td>{action}</td> })}
            </tr>
        }
    };
    view! {
        <Transition fallback=|| view! { <p class="loading">"…"</p> }>
            {move || rows.get().map(|r| match r {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="alerts-error"/> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-alerts">{t("No alerts.", "没有告警。")}</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table alerts" data-testid="alerts-table">
                        <thead><tr>
                            <th>{t("State", "状态")}</th><th>{t("Alert", "告警")}</th><th>{t("App", "应用")}</th>
                            <th>{t("Pod", "Pod")}</th><th>{t("Summary", "摘要")}</th><th>{t("Since", "开始")}</th>
                            {on_silence.is_some().then(|| view! { <th></th> })}
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
pub fn AppMonitoring(
    tenant: Memo<String>,
    ns: Memo<String>,
    name: Memo<String>,
    can_change: Memo<bool>,
) -> impl IntoView {
    use crate::monitoring::{
        alert_rules, set_alert_rules, AlertThresholds, Panel, Target, TRACED_THRESHOLDS_HINT,
    };
    use crate::pages::monitoring::PanelChart;
    let target = Signal::derive(move || Target::App {
        namespace: ns.get(),
        name: name.get(),
    });
    let tick = RwSignal::new(0u64);
    let form = RwSignal::new(AlertThresholds::default());
    let loaded = Resource::new(
        move || (tenant.get(), ns.get(), name.get()),
        |(t, n, a)| alert_rules(t, n, a),
    );
    Effect::new(move |_| {
        if let Some(Ok(v)) = loaded.get() {
            form.set(v);
        }
    });
    let changes = Changes::new(
        tick,
        move |thresholds: AlertThresholds| {
            set_alert_rules(
                tenant.get_untracked(),
                ns.get_untracked(),
                name.get_untracked(),
                thresholds,
            )
        },
        |_| {
            (
                "Alert rules loaded by Prometheus.",
                "告警规则已被 Prometheus 加载。",
            )
        },
        |_| (),
    );
    let Changes { message, busy, .. } = changes;
    let field = |get: fn(&AlertThresholds) -> String, set: fn(&mut AlertThresholds, String)| {
        (
            move || form.with(get),
            move |ev: leptos::ev::Event| form.update(|f| set(f, event_target_value(&ev))),
        )
    };
    let (cpu, on_cpu) = field(|f| f.cpu_percent.clone(), |f, v| f.cpu_percent = v);
    let (mem, on_mem) = field(|f| f.memory_percent.clone(), |f, v| f.memory_percent = v);
    let (thr, on_thr) = field(|f| f.threads.clone(), |f, v| f.threads = v);
    let (sock, on_sock) = field(|f| f.sockets.clone(), |f, v| f.sockets = v);
    let (errs, on_errs) = field(|f| f.error_percent.clone(), |f, v| f.error_percent = v);
    let (p95, on_p95) = field(|f| f.p95_ms.clone(), |f, v| f.p95_ms = v);
    let (dur, on_dur) = field(|f| f.duration.clone(), |f, v| f.duration = v);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let thresholds = form.get();
        if let Err(errs) = thresholds.parse() {
            changes.refuse(wharf_api::Text::join(&errs, "; ", ";"));
            return;
        }
        changes.run(thresholds);
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
            <div class="row">
                <label>{t("Failed calls %", "失败调用 %")}<input data-testid="threshold-errors" placeholder="5" prop:value=errs on:input=on_errs disabled=move || !can_change.get()/></label>
                <label>{t("p95 latency (ms)", "p95 延迟(毫秒)")}<input data-testid="threshold-p95" placeholder="500" prop:value=p95 on:input=on_p95 disabled=move || !can_change.get()/></label>
            </div>
            <p class="muted small" data-testid="threshold-apm-hint">{t(TRACED_THRESHOLDS_HINT.0, TRACED_THRESHOLDS_HINT.1)}</p>
            <Show when=move || can_change.get()>
                <button type="submit" data-testid="thresholds-save" disabled=move || busy.get()>{t("Save alert thresholds", "保存告警阈值")}</button>
            </Show>
            <Outcome outcome=message ok_testid="thresholds-ok" error_testid="thresholds-error"/>
        </form>
        {move || view! { <AlertList tenant=tenant.get() namespace=Some(ns.get()) app=Some(name.get()) on_silence=None/> }}
    }
}
