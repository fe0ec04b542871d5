//! The frame around every signed-in page: brand, tenant picker, navigation, language and
//! theme switches, the user and logout. It loads "who am I" once and shares it.

use crate::auth::{whoami, Logout, Me};
use crate::components::banner::ErrorBanner;
use crate::error::AppError;
use crate::i18n::{t, I18n, Lang};
use crate::{Theme, ThemeCtx};
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::{use_location, use_navigate};

/// The signed-in user, for pages below the shell.
#[derive(Clone, Copy)]
pub struct MeCtx(pub RwSignal<Option<Me>>);

pub fn use_me() -> RwSignal<Option<Me>> {
    expect_context::<MeCtx>().0
}

/// What the signed-in user may do in `tenant`: change things (a developer or admin), and in
/// which namespaces. Nothing while the user is not known yet.
#[derive(Clone, Copy)]
pub struct TenantAccess {
    pub can_change: Memo<bool>,
    pub namespaces: Memo<Vec<String>>,
}

pub fn use_tenant_access(tenant: Memo<String>) -> TenantAccess {
    let me = use_me();
    TenantAccess {
        can_change: Memo::new(move |_| {
            me.with(|m| {
                m.as_ref()
                    .and_then(|m| m.tenant(&tenant.get()).map(|t| t.role.can_change()))
                    .unwrap_or(false)
            })
        }),
        namespaces: Memo::new(move |_| {
            me.with(|m| {
                m.as_ref()
                    .and_then(|m| m.tenant(&tenant.get()))
                    .map(|t| t.namespaces.clone())
                    .unwrap_or_default()
            })
        }),
    }
}

/// The tenant named in the current path (`/t/<tenant>/...`).
pub fn tenant_of_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/t/")?;
    Some(rest.split('/').next()?.to_string()).filter(|t| !t.is_empty())
}

#[component]
pub fn Shell() -> impl IntoView {
    let me_sig = RwSignal::new(None::<Me>);
    provide_context(MeCtx(me_sig));
    let navigate = use_navigate();
    let location = use_location();
    let loaded = Resource::new(|| (), |_| whoami());
    let error = RwSignal::new(None::<AppError>);
    {
        let navigate = navigate.clone();
        Effect::new(move |_| match loaded.get() {
            Some(Ok(m)) => me_sig.set(Some(m)),
            Some(Err(AppError::Unauthenticated)) => navigate("/login", Default::default()),
            Some(Err(e)) => error.set(Some(e)),
            None => {}
        });
    }
    // NB: a user who must choose a password sees nothing but the password page (the server
    // refuses everything else anyway).
    Effect::new(move |_| {
        let forced = me_sig.with(|m| m.as_ref().is_some_and(|m| m.must_change_password));
        if forced && location.pathname.get() != "/password" {
            navigate("/password", Default::default());
        }
    });

    view! {
        <div class="shell">
            <TopBar/>
            <main class="content">
                <ErrorBanner error testid="shell-error"/>
                <Show when=move || me_sig.with(Option::is_some) fallback=|| view! { <p class="loading">"…"</p> }>
                    <Outlet/>
                </Show>
            </main>
        </div>
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let me_sig = use_me();
    let lang = expect_context::<I18n>().0;
    let theme = expect_context::<ThemeCtx>().0;
    let location = use_location();
    let navigate = use_navigate();
    let current_tenant = Memo::new(move |_| tenant_of_path(&location.pathname.get()));

    let on_pick = {
        let navigate = navigate.clone();
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            if !value.is_empty() {
                navigate(&format!("/t/{value}"), Default::default());
            }
        }
    };
    // NB: back to the login page whatever the answer: without a session there is nothing to show.
    let logout = ServerAction::<Logout>::new();
    let answered = logout.value();
    Effect::new(move |_| match answered.get() {
        // signed in through an OpenID Connect provider: its logout page ends its session too,
        // and it sends the browser back to the login page
        Some(Ok(Some(url))) => {
            let _ = window().location().set_href(&url);
        }
        Some(_) => navigate("/login", Default::default()),
        None => {}
    });
    let do_logout = move |_| {
        logout.dispatch(Logout {});
    };

    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"⚓ Wharf"</A>
            <select class="tenant-picker" data-testid="tenant-picker" on:change=on_pick
                prop:value=move || current_tenant.get().unwrap_or_default()>
                <option value="" disabled=true>{t("Tenant…", "租户…")}</option>
                {move || me_sig.get().map(|m| m.tenants.into_iter().map(|tn| {
                    let label = format!("{} · {}", tn.display_name, tn.role.label());
                    view! { <option value=tn.name.clone()>{label}</option> }
                }).collect_view())}
            </select>
            <nav class="nav">
                {move || current_tenant.get().map(|tn| view! {
                    <A href=format!("/t/{tn}") exact=true>{t("Workloads", "工作负载")}</A>
                    <A href=format!("/t/{tn}/pipelines") attr:data-testid="nav-pipelines">{t("Pipelines", "流水线")}</A>
                    <A href=format!("/t/{tn}/storage") attr:data-testid="nav-storage">{t("Storage", "存储")}</A>
                    <A href=format!("/t/{tn}/config") attr:data-testid="nav-config">{t("Config", "配置")}</A>
                    <A href=format!("/t/{tn}/logs") attr:data-testid="nav-logs">{t("Logs", "日志")}</A>
                    <A href=format!("/t/{tn}/nginx") attr:data-testid="nav-nginx">{t("Nginx", "Nginx")}</A>
                    <A href=format!("/t/{tn}/monitoring") attr:data-testid="nav-monitoring">{t("Monitoring", "监控")}</A>
                    <A href=format!("/t/{tn}/calls") attr:data-testid="nav-calls">{t("Calls", "调用拓扑")}</A>
                    <A href=format!("/t/{tn}/alerts") attr:data-testid="nav-alerts">{t("Alerts", "告警")}</A>
                    <A href=format!("/t/{tn}/terminal") attr:data-testid="nav-terminal">{t("Terminal", "终端")}</A>
                    <A href=format!("/t/{tn}/tenant") attr:data-testid="nav-tenant">{t("Tenant", "租户")}</A>
                })}
                {move || me_sig.with(|m| m.as_ref().is_some_and(|m| m.platform_admin)).then(|| view! {
                    <span class="nav-sep"></span>
                    <A href="/admin/tenants" attr:data-testid="nav-admin-tenants">{t("Tenants", "租户管理")}</A>
                    <A href="/admin/users" attr:data-testid="nav-admin-users">{t("Users", "用户管理")}</A>
                    <A href="/admin/identity" attr:data-testid="nav-admin-identity">{t("Sign-in", "登录目录")}</A>
                    <A href="/admin/nginx" attr:data-testid="nav-admin-nginx">{t("Nginx clusters", "Nginx 集群")}</A>
                })}
                {move || me_sig.with(|m| m.as_ref().is_some_and(|m| m.platform_admin || m.tenants.iter().any(|t| t.role == crate::auth::Role::Admin))).then(|| view! {
                    <A href="/audit" attr:data-testid="nav-audit">{t("Audit", "审计")}</A>
                })}
            </nav>
            <div class="spacer"></div>
            <button class="link" data-testid="lang-toggle" on:click=move |_| lang.update(|l| *l = if *l == Lang::En { Lang::Zh } else { Lang::En })>
                {move || if lang.get() == Lang::En { "中文" } else { "English" }}
            </button>
            <button class="link" data-testid="theme-toggle" title=move || t("Light / dark", "浅色 / 深色")()
                on:click=move |_| theme.update(|th| *th = if *th == Theme::Light { Theme::Dark } else { Theme::Light })>
                {move || if theme.get() == Theme::Light { "☾" } else { "☀" }}
            </button>
            <A href="/tokens" attr:data-testid="nav-tokens" attr:title=move || t("API tokens for scripts and CI", "供脚本和 CI 使用的 API 令牌")()>{t("Tokens", "令牌")}</A>
            <A href="/password" attr:class="user" attr:data-testid="user-name" attr:title=move || t("Change your password", "修改密码")()>
                {move || me_sig.get().map(|m| m.display_name).unwrap_or_default()}
            </A>
            <button class="link" data-testid="logout" on:click=do_logout>{t("Log out", "退出")}</button>
        </header>
    }
}

#[cfg(test)]
mod tests {
    use super::tenant_of_path;

    #[test]
    fn the_tenant_comes_from_the_path() {
        assert_eq!(
            tenant_of_path("/t/alpha/apps/a/b").as_deref(),
            Some("alpha")
        );
        assert_eq!(tenant_of_path("/t/beta").as_deref(), Some("beta"));
        assert_eq!(tenant_of_path("/t/"), None);
        assert_eq!(tenant_of_path("/login"), None);
    }
}
