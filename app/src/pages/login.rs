//! `/login`: user name and password; on success, back to the console.

use crate::auth::Login;
use crate::components::banner::ErrorBanner;
use crate::i18n::t;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

#[component]
pub fn LoginPage() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let login = ServerAction::<Login>::new();
    let (busy, answer) = (login.pending(), login.value());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = answer.get() {
            navigate("/", Default::default());
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        login.clear();
        login.dispatch(Login {
            username: username.get_untracked(),
            password: password.get_untracked(),
        });
    };

    view! {
        <div class="login-page">
            <form class="center-card login" on:submit=submit data-testid="login-form">
                <h1>"⚓ Wharf"</h1>
                <p class="muted">{t("Container cloud console", "容器云控制台")}</p>
                <label>{t("User name", "用户名")}
                    <input name="username" data-testid="login-user" autocomplete="username" required=true
                        bind:value=username/>
                </label>
                <label>{t("Password", "密码")}
                    <input name="password" type="password" data-testid="login-password" autocomplete="current-password" required=true
                        bind:value=password/>
                </label>
                <ErrorBanner error=Signal::derive(move || answer.get().and_then(Result::err)) testid="login-error"/>
                <button type="submit" class="primary" data-testid="login-submit" disabled=move || busy.get()>
                    {t("Log in", "登录")}
                </button>
            </form>
        </div>
    }
}
