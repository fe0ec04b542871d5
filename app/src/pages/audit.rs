//! `/audit`: who changed what through the console, newest first, with filters (user, tenant,
//! action, outcome, time range). Platform admins see every tenant's records; a tenant's admins
//! pick one of their tenants; nobody else gets any.

use crate::audit::{audit_records, AuditFilter, AuditRecord, Outcome};
use crate::auth::Role;
use crate::components::banner::ErrorBanner;
use crate::components::shell::use_me;
use crate::error::AppError;
use crate::i18n::t;
use leptos::prelude::*;

fn outcome_view(o: &Outcome) -> AnyView {
    match o {
        Outcome::Ok => view! { <span class="badge ok" data-testid="audit-outcome" data-outcome="ok">"ok"</span> }.into_any(),
        Outcome::Refused(why) => view! {
            <span class="badge warn" data-testid="audit-outcome" data-outcome="refused">{t("refused", "被拒绝")}</span>
            " "<span class="muted">{why.clone()}</span>
        }.into_any(),
        Outcome::Failed(err) => view! {
            <span class="badge error" data-testid="audit-outcome" data-outcome="failed">{t("failed", "失败")}</span>
            " "<span class="muted">{err.clone()}</span>
        }.into_any(),
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let me = use_me();
    let platform = Memo::new(move |_| me.with(|m| m.as_ref().is_some_and(|m| m.platform_admin)));
    let admin_of: Memo<Vec<String>> = Memo::new(move |_| {
        me.with(|m| {
            m.as_ref()
                .map(|m| {
                    m.tenants
                        .iter()
                        .filter(|t| t.role == Role::Admin)
                        .map(|t| t.name.clone())
                        .collect()
                })
                .unwrap_or_default()
        })
    });
    let user = RwSignal::new(String::new());
    let tenant = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let outcome = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    // a tenant admin reads one tenant: the first of theirs until they pick another
    Effect::new(move |_| {
        if !platform.get() && tenant.get_untracked().is_empty() {
            if let Some(first) = admin_of.get().first() {
                tenant.set(first.clone());
            }
        }
    });
    let applied = RwSignal::new(None::<Result<AuditFilter, AppError>>);
    let apply = move || {
        let time = |field: wharf_api::Text, v: String| -> Result<String, AppError> {
            if v.trim().is_empty() {
                Ok(String::new())
            } else {
                crate::time::local_to_rfc3339(&field, &v).map_err(AppError::Invalid)
            }
        };
        let filter = (|| {
            Ok(AuditFilter {
                user: user.get_untracked().trim().to_string(),
                tenant: tenant.get_untracked(),
                action: action.get_untracked().trim().to_string(),
                outcome: outcome.get_untracked(),
                from: time(wharf_api::text!("from", "开始时间"), from.get_untracked())?,
                to: time(wharf_api::text!("to", "结束时间"), to.get_untracked())?,
                limit: 500,
            })
        })();
        applied.set(Some(filter));
    };
    Effect::new(move |_| {
        if me.with(Option::is_some) && applied.with_untracked(Option::is_none) {
            apply();
        }
    });
    let records = Resource::new(
        move || applied.get(),
        |f| async move {
            match f {
                None => Ok(Vec::new()),
                Some(Err(e)) => Err(e),
                Some(Ok(f)) => audit_records(f).await,
            }
        },
    );
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        apply();
    };
    view! {
        <div class="page audit">
            <h1>{t("Audit log", "审计日志")}</h1>
            <Show when=move || platform.get() || !admin_of.get().is_empty()
                fallback=|| view! { <div class="banner" data-testid="audit-none">{t(
                    "The audit log is for platform admins and tenant admins.", "审计日志仅供平台管理员和租户管理员查看。")}</div> }>
                <form class="form row" data-testid="audit-filters" on:submit=submit novalidate=true>
                    <label>{t("User", "用户")}<input data-testid="audit-user" bind:value=user/></label>
                    <label>{t("Tenant", "租户")}
                        <select data-testid="audit-tenant" on:change=move |ev| tenant.set(event_target_value(&ev))>
                            <Show when=move || platform.get()>
                                <option value="" selected=move || tenant.get().is_empty()>{t("all", "全部")}</option>
                            </Show>
                            {move || {
                                let names: Vec<String> = if platform.get() {
                                    me.with(|m| m.as_ref().map(|m| m.tenants.iter().map(|t| t.name.clone()).collect()).unwrap_or_default())
                                } else {
                                    admin_of.get()
                                };
                                names.into_iter().map(|n| {
                                    let (v, label) = (n.clone(), n.clone());
                                    view! { <option value=n selected=move || tenant.get() == v>{label}</option> }
                                }).collect_view()
                            }}
                        </select>
                    </label>
                    <label>{t("Action", "操作")}<input class="mono" data-testid="audit-action" placeholder="deploy_app" bind:value=action/></label>
                    <label>{t("Outcome", "结果")}
                        <select data-testid="audit-outcome-filter" on:change=move |ev| outcome.set(event_target_value(&ev))>
                            <option value="">{t("any", "任意")}</option>
                            <option value="ok">"ok"</option>
                            <option value="refused">{t("refused", "被拒绝")}</option>
                            <option value="failed">{t("failed", "失败")}</option>
                        </select>
                    </label>
                    <label>{t("From", "从")}<input type="datetime-local" data-testid="audit-from" bind:value=from/></label>
                    <label>{t("To", "到")}<input type="datetime-local" data-testid="audit-to" bind:value=to/></label>
                    <button type="submit" data-testid="audit-apply">{t("Show", "查询")}</button>
                </form>
                <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                    {move || records.get().map(|r| match r {
                        Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="audit-error"/> }.into_any(),
                        Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="audit-empty">{t("No records match.", "没有匹配的记录。")}</p> }.into_any(),
                        Ok(rows) => view! {
                            <table class="table" data-testid="audit-table">
                                <thead><tr>
                                    <th>{t("Time", "时间")}</th><th>{t("User", "用户")}</th><th>{t("Tenant", "租户")}</th>
                                    <th>{t("Action", "操作")}</th><th>{t("Target", "对象")}</th><th>{t("Outcome", "结果")}</th><th>{t("Client", "客户端")}</th>
                                </tr></thead>
                                <tbody>{rows.into_iter().map(|r: AuditRecord| view! {
                                    <tr data-testid="audit-row" data-action=r.action.clone() data-user=r.user.clone()>
                                        <td class="mono" title=r.at.clone()>{crate::time::exact_rfc3339(&r.at)}</td>
                                        <td>{r.user.clone()}
                                            {(!r.token.is_empty()).then(|| view! {
                                                <span class="muted" data-testid="audit-token">{format!(" (token {})", r.token)}</span>
                                            })}
                                        </td>
                                        <td>{r.tenant.clone()}</td>
                                        <td class="mono">{r.action.clone()}</td>
                                        <td class="mono small">{r.target.clone()}</td>
                                        <td>{outcome_view(&r.outcome)}</td>
                                        <td class="mono small">{r.client.clone()}</td>
                                    </tr>
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                    })}
                </Transition>
            </Show>
        </div>
    }
}
