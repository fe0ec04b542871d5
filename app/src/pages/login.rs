//! `/login`: user name and password; on success, back to the console.

use crate::auth::login;
use crate::i18n::t;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

#[component]
pub fn LoginPage() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get() {
            return;
        }
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match login(username.get_untracked(), password.get_untracked()).await {
                Ok(_) => navigate("/", Default::default()),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
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
                {move || error.get().map(|e| view! { <div class="banner error" data-testid="login-error">{e}</div> })}
                <button type="submit" class="primary" data-testid="login-submit" disabled=move || busy.get()>
                    {t("Log in", "登录")}
                </button>
            </form>
        </div>
    }
}
