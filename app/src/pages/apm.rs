//! The APM switch on an app's page: whether a tracing agent is attached to the app's pods,
//! which one, and (developers) one button to turn it on or off — a rollout, like an upgrade.
//! An app that does not look like Java asks the user to say it is first; a console without a
//! collector says so; the trace UI's page of the app is linked when configured.

use crate::apm::{apm_state, set_apm, ApmView};
use crate::components::banner::{ErrorBanner, Outcome};
use crate::error::AppError;
use crate::i18n::t;
use leptos::prelude::*;
use wharf_api::{text, Text};

#[component]
pub fn AppApm(
    tenant: Memo<String>,
    ns: Memo<String>,
    name: Memo<String>,
    can_change: Memo<bool>,
) -> impl IntoView {
    let switched = RwSignal::new(0u32);
    // NB: read again every 10 s, so an agent that cannot start in the new pods shows up
    let tick = crate::components::ticker::ticker(
        std::time::Duration::from_millis(crate::pages::monitoring::REFRESH_MS),
        None,
    );
    let state = Resource::new(
        move || {
            (
                tenant.get(),
                ns.get(),
                name.get(),
                switched.get(),
                tick.get(),
            )
        },
        |(t, n, a, _, _)| apm_state(t, n, a),
    );
    let java = RwSignal::new(false);
    let set = Action::new(move |on: &bool| {
        let (t, n, a, on, j) = (
            tenant.get_untracked(),
            ns.get_untracked(),
            name.get_untracked(),
            *on,
            java.get_untracked(),
        );
        async move { set_apm(t, n, a, on, j).await }
    });
    let outcome = RwSignal::new(None::<Result<Text, AppError>>);
    let done = set.value();
    Effect::new(move |_| {
        if let Some(v) = done.get() {
            outcome.set(Some(v.map(|v: ApmView| {
                if v.on {
                    text!(
                        "APM is on: the pods roll with the agent.",
                        "APM 已开启:容器组正带着探针滚动更新。"
                    )
                } else {
                    text!(
                        "APM is off: the pods roll back to the template they had.",
                        "APM 已关闭:容器组正滚动恢复原模板。"
                    )
                }
            })));
            switched.update(|n| *n += 1);
        }
    });
    let flip = move |on: bool| {
        outcome.set(None);
        set.dispatch(on);
    };
    view! {
        <h2>"APM"</h2>
        <Outcome outcome ok_testid="apm-notice" error_testid="apm-error"/>
        <Transition fallback=|| view! { <p class="loading">"…"</p> }>
            {move || state.get().map(|r| match r {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="apm-error"/> }.into_any(),
                Ok(v) => {
                    let on = v.on;
                    let languages = v.languages.join(", ");
                    let mode = if v.operator {
                        format!("{} (OpenTelemetry Operator)", v.agent)
                    } else {
                        v.agent.clone()
                    };
                    view! {
                        <div class="card wide" data-testid="apm-card" data-on=on.to_string()>
                            <p>
                                {if on {
                                    view! { <span class="badge ok" data-testid="apm-state">{t("on", "已开启")}</span> }.into_any()
                                } else {
                                    view! { <span class="badge" data-testid="apm-state">{t("off", "未开启")}</span> }.into_any()
                                }}
                                " " <span class="muted" data-testid="apm-agent">{mode}</span>
                            </p>
                            {v.agent_problem.clone().map(|why| view! {
                                <p class="banner error" data-testid="apm-agent-problem">
                                    {t(
                                        "The agent cannot start in a new pod, so the rollout waits and the pods from before keep serving: ",
                                        "探针无法在新 Pod 中启动,滚动更新暂停,原有 Pod 继续提供服务:",
                                    )}
                                    <code>{why}</code>
                                    {t(
                                        " Turn APM off to go back, or ask a platform admin to check the agent image (--apm-agent-image).",
                                        " 可关闭 APM 恢复原状,或请平台管理员检查探针镜像(--apm-agent-image)。",
                                    )}
                                </p>
                            })}
                            {(!v.configured).then(|| view! {
                                <p class="muted" data-testid="apm-unconfigured">{t(
                                    "APM is not configured on this console: a platform admin sets the agents' collector (--apm-collector).",
                                    "本控制台未配置 APM:需由平台管理员设置探针的采集端(--apm-collector)。",
                                )}</p>
                            })}
                            <Show when=move || v.configured && can_change.get()>
                                {(!on && !v.java_likely).then(|| view! {
                                    <label class="check"><input type="checkbox" data-testid="apm-java" bind:checked=java/>
                                        {t("This is a Java app", "这是 Java 应用")} " (" {languages.clone()} ")"
                                    </label>
                                })}
                                <button data-testid="apm-toggle" disabled=move || set.pending().get() on:click=move |_| flip(!on)>
                                    {if on { t("Turn APM off", "关闭 APM") } else { t("Turn APM on", "开启 APM") }}
                                </button>
                            </Show>
                            {v.trace_link.clone().map(|href| view! {
                                <p><a href=href target="_blank" rel="noopener" data-testid="apm-traces">{t("Traces", "调用链")}</a></p>
                            })}
                        </div>
                    }.into_any()
                }
            })}
        </Transition>
    }
}
