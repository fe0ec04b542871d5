//! `/password`: the signed-in user sets their own password. A user whose password someone
//! else chose (the first admin, a new user, a reset) is sent here and can do nothing else
//! until they have.

use crate::admin::MIN_PASSWORD;
use crate::auth::ChangePassword;
use crate::components::banner::ErrorBanner;
use crate::components::shell::use_me;
use crate::error::AppError;
use crate::i18n::t;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

#[component]
pub fn PasswordPage() -> impl IntoView {
    let me = use_me();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let refused = RwSignal::new(None::<AppError>);
    let change = ServerAction::<ChangePassword>::new();
    let (busy, answer) = (change.pending(), change.value());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(updated)) = answer.get() {
            me.set(Some(updated));
            navigate("/?password=changed", Default::default());
        }
    });
    let forced = move || me.with(|m| m.as_ref().is_some_and(|m| m.must_change_password));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        refused.set(None);
        change.clear();
        let (n, a) = (new.get_untracked(), again.get_untracked());
        if wharf_api::admin::check_password(&n).is_err() {
            refused.set(Some(AppError::Invalid(wharf_api::text!(
                "The new password needs at least 8 characters.",
                "新密码至少需要 8 个字符。"
            ))));
            return;
        }
        if n != a {
            refused.set(Some(AppError::Invalid(wharf_api::text!(
                "The two new passwords differ.",
                "两次输入的新密码不一致。"
            ))));
            return;
        }
        change.dispatch(ChangePassword {
            current: current.get_untracked(),
            new: n,
        });
    };
    let error =
        Signal::derive(move || refused.get().or_else(|| answer.get().and_then(Result::err)));
    view! {
        <form class="center-card" data-testid="password-form" on:submit=submit novalidate=true>
            <h1>{t("Set your password", "设置密码")}</h1>
            <Show when=forced>
                <div class="banner" data-testid="password-required">{t(
                    "Your password was chosen by someone else. Choose your own to go on.",
                    "您的密码由他人设置,请先设置自己的密码。")}</div>
            </Show>
            <label>{t("Current password", "当前密码")}
                <input type="password" data-testid="password-current" autocomplete="current-password" bind:value=current/>
            </label>
            <label>{t("New password", "新密码")}
                <input type="password" data-testid="password-new" autocomplete="new-password" minlength=MIN_PASSWORD bind:value=new/>
            </label>
            <label>{t("New password again", "再次输入新密码")}
                <input type="password" data-testid="password-again" autocomplete="new-password" bind:value=again/>
            </label>
            <p class="muted">{t(
                "At least 8 characters. Your other sessions end when it changes.",
                "至少 8 个字符。修改后,您在其他地方的登录会话将失效。")}</p>
            <ErrorBanner error testid="password-error"/>
            <button type="submit" class="primary" data-testid="password-submit" disabled=move || busy.get()>
                {t("Set password", "设置密码")}
            </button>
        </form>
    }
}
