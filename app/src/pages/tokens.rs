//! `/tokens`: the signed-in user's API tokens, for scripts and CI. A new token is shown once,
//! with the `curl` line that uses it; the list shows each one's scope, expiry and last use,
//! and revokes it.

use crate::auth::{api_tokens, revoke_api_token, CreateApiToken};
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::error::AppError;
use crate::i18n::{t, t_now};
use leptos::prelude::*;
use wharf_api::tokens::{check, TokenForm, TokenScope, MAX_DAYS};

/// "2026-12-04T15:30:00Z" as "2026-12-04 15:30".
fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let list = Resource::new(move || tick.get(), |_| api_tokens());
    let name = RwSignal::new(String::new());
    let read_only = RwSignal::new(true);
    let days = RwSignal::new("30".to_string());
    let refused = RwSignal::new(None::<AppError>);
    let create = ServerAction::<CreateApiToken>::new();
    let created = create.value();
    Effect::new(move |_| {
        if let Some(Ok(_)) = created.get() {
            name.set(String::new());
            tick.update(|n| *n += 1);
        }
    });
    let revoke = Changes::new(
        tick,
        revoke_api_token,
        |_| ("Token revoked.", "已吊销令牌。"),
        |_| {},
    );
    let busy = Signal::derive(move || create.pending().get() || revoke.busy.get());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        refused.set(None);
        create.clear();
        let form = TokenForm {
            name: name.get_untracked().trim().to_string(),
            scope: if read_only.get_untracked() {
                TokenScope::ReadOnly
            } else {
                TokenScope::Full
            },
            days: days.get_untracked().trim().parse().unwrap_or(0),
        };
        if let Err(why) = check(&form) {
            refused.set(Some(AppError::Invalid(why)));
            return;
        }
        create.dispatch(CreateApiToken { form });
    };
    let ask_revoke = move |(id, label): (String, String)| {
        let question = format!("{} “{label}”?", t_now("Revoke token", "吊销令牌"));
        if window().confirm_with_message(&question).unwrap_or(false) {
            revoke.run(id);
        }
    };
    let error = Signal::derive(move || {
        refused
            .get()
            .or_else(|| created.get().and_then(Result::err))
    });
    let origin = window().location().origin().unwrap_or_default();
    view! {
        <div class="page tokens">
            <h1>{t("API tokens", "API 令牌")}</h1>
            <p class="muted">{t(
                "A token lets a script or a CI job call the console as you: send it as `Authorization: Bearer <token>`. It can do what you can (or only read), never more, and stops working when you lose access.",
                "令牌让脚本或 CI 任务以您的身份调用控制台:以 `Authorization: Bearer <令牌>` 发送。它能做的与您相同(或只读),绝不会更多;您失去权限时它也随之失效。")}</p>
            {move || created.get().and_then(Result::ok).map(|new| {
                let curl = format!(
                    "curl -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{{}}' {origin}/api/whoami",
                    new.token
                );
                view! {
                    <div class="banner ok card" data-testid="token-new">
                        <p>{t("Copy the token now: it is not shown again.", "请立即复制令牌:它不会再次显示。")}</p>
                        <pre class="mono" data-testid="token-value">{new.token.clone()}</pre>
                        <p class="muted">{t("For example:", "例如:")}</p>
                        <pre class="mono small">{curl}</pre>
                        <p class="muted">{t("Or from a terminal, without copying anything: ", "或在终端中直接:")}
                            <code>{format!("wharf login --server {origin}")}</code></p>
                    </div>
                }
            })}
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="tokens-load-error"/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <p class="muted" data-testid="tokens-empty">{t("You have no tokens.", "您还没有令牌。")}</p>
                    }.into_any(),
                    Ok(rows) => {
                        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                        view! {
                        <table class="table" data-testid="tokens-table">
                            <thead><tr>
                                <th>{t("Name", "名称")}</th><th>{t("Scope", "权限")}</th><th>{t("Created", "创建时间")}</th>
                                <th>{t("Expires", "过期时间")}</th><th>{t("Last used", "上次使用")}</th><th></th>
                            </tr></thead>
                            <tbody>{rows.into_iter().map(|tk| {
                                let expired = tk.expires.as_str() <= now.as_str();
                                let scope = tk.scope.words();
                                let target = (tk.id.clone(), tk.name.clone());
                                view! {
                                    <tr data-testid="token-row" data-id=tk.id.clone() data-name=tk.name.clone() class:muted=expired>
                                        <td>{tk.name.clone()}" "<span class="muted mono">{tk.id.clone()}</span></td>
                                        <td data-testid="token-scope">{move || crate::i18n::tr(&scope)}</td>
                                        <td>{short_time(&tk.created)}</td>
                                        <td>{short_time(&tk.expires)}
                                            {expired.then(|| view! { <span class="badge warn" data-testid="token-expired">{t("expired", "已过期")}</span> })}</td>
                                        <td data-testid="token-last-used">{tk.last_used.as_deref().map(short_time).unwrap_or_else(|| "—".into())}</td>
                                        <td class="actions">
                                            <button class="danger small" data-testid="token-revoke" disabled=move || busy.get()
                                                on:click=move |_| ask_revoke(target.clone())>{t("Revoke", "吊销")}</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any()},
                })}
            </Transition>
            <form class="form card" data-testid="token-form" on:submit=submit novalidate=true>
                <h2>{t("New token", "新建令牌")}</h2>
                <div class="row">
                    <label>{t("Name", "名称")}<input data-testid="token-name" placeholder="ci-deploy" bind:value=name/></label>
                    <label>{t("Expires in (days)", "有效期(天)")}
                        <input type="number" min="1" max=MAX_DAYS data-testid="token-days" bind:value=days/></label>
                    <label class="check"><input type="checkbox" data-testid="token-read-only" bind:checked=read_only/>{t("Read-only", "只读")}</label>
                </div>
                <ErrorBanner error testid="token-error"/>
                <button type="submit" class="primary" data-testid="token-create" disabled=move || busy.get()>{t("Create token", "创建令牌")}</button>
            </form>
            <Outcome outcome=revoke.message ok_testid="tokens-ok" error_testid="tokens-error"/>
        </div>
    }
}
