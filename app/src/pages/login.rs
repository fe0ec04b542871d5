//! `/login`: user name and password, and a button per OpenID Connect provider (a full-page
//! visit to the server, which sends the browser to the provider); on success, back to the
//! console. A sign-in through a provider that failed comes back as `?oidc=<reason>`.

use crate::auth::{sign_in_options, Login};
use crate::components::banner::ErrorBanner;
use crate::i18n::{t, tr};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use wharf_api::identity::oidc_failure;
use wharf_api::routes::oidc_start;
use wharf_api::text;

#[component]
pub fn LoginPage() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let login = ServerAction::<Login>::new();
    let (busy, answer) = (login.pending(), login.value());
    let providers = LocalResource::new(sign_in_options);
    let query = use_query_map();
    let failed = move || {
        query
            .with(|q| q.get("oidc"))
            .map(|code| oidc_failure(&code))
    };
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
                {move || failed().map(|why| view! {
                    <div class="banner error" role="alert" data-testid="oidc-error">{move || tr(&why)}</div>
                })}
                <button type="submit" class="primary" data-testid="login-submit" disabled=move || busy.get()>
                    {t("Log in", "登录")}
                </button>
                {move || providers.get().and_then(Result::ok).filter(|all| !all.is_empty()).map(|all| view! {
                    <div class="or">{t("or", "或")}</div>
                    {all.into_iter().map(|p| {
                        let shown = if p.display_name.is_empty() { p.name.clone() } else { p.display_name.clone() };
                        let label = text!("Sign in with {shown}", "使用 {shown} 登录");
                        view! {
                            // NB: rel=external: a visit to the server, not a route of this app
                            <a class="button oidc" rel="external" data-testid=format!("oidc-{}", p.name) href=oidc_start(&p.name)>
                                {move || tr(&label)}
                            </a>
                        }
                    }).collect_view()}
                })}
            </form>
        </div>
    }
}
