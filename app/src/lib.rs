//! Wharf's console in the browser: the Leptos single-page app and the server functions it
//! calls. Built with `csr` into Wasm by Trunk (see `frontend/`), and with `ssr` into the
//! `wharf` server, where each server function's body is one call into `wharf-console`.
//!
//! * `pages/` — one module per page a user names; `components/` — what pages share
//! * one file per feature (`auth`, `workloads`, `logs`, `terminal`, `monitoring`, `nginx`,
//!   `pipelines`) declaring its server functions; their types come from `wharf-api`
//!
//! Nothing here runs only on the server: the server side lives in `console/`.

pub mod admin;
pub mod apm;
pub mod audit;
pub mod auth;
pub mod components;
pub mod config;
pub use wharf_api::error;
pub mod i18n;
pub mod identity;
pub mod logs;
pub mod monitoring;
pub mod nginx;
pub mod pages;
pub mod pipelines;
pub mod storage;
pub mod terminal;
pub use wharf_api::time;
pub mod workloads;

use components::shell::Shell;
use i18n::{I18n, Lang};
use leptos::prelude::*;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

/// Light or dark; kept in local storage like the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

#[derive(Clone, Copy)]
pub struct ThemeCtx(pub RwSignal<Theme>);

/// The root component: language and theme, then the routes.
#[component]
pub fn App() -> impl IntoView {
    let lang = RwSignal::new(components::prefs::load_lang().unwrap_or(Lang::En));
    let theme = RwSignal::new(components::prefs::load_theme().unwrap_or(Theme::Light));
    provide_context(I18n(lang));
    provide_context(ThemeCtx(theme));
    Effect::new(move |_| components::prefs::apply(lang.get(), theme.get()));

    view! {
        <Router>
            <Routes fallback=|| view! { <pages::not_found::NotFound/> }>
                <Route path=path!("/login") view=pages::login::LoginPage/>
                // a benchmark's page, not a user's: the chart component timed in the browser (make bench)
                <Route path=path!("/_bench/chart") view=pages::monitoring::ChartBench/>
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("/") view=pages::home::Home/>
                    <Route path=path!("/password") view=pages::password::PasswordPage/>
                    <Route path=path!("/tokens") view=pages::tokens::TokensPage/>
                    <Route path=path!("/admin/tenants") view=pages::admin_tenants::AdminTenantsPage/>
                    <Route path=path!("/admin/nginx") view=pages::admin_nginx::AdminNginxPage/>
                    <Route path=path!("/admin/users") view=pages::admin_users::AdminUsersPage/>
                    <Route path=path!("/admin/identity") view=pages::admin_identity::AdminIdentityPage/>
                    <Route path=path!("/audit") view=pages::audit::AuditPage/>
                    <Route path=path!("/t/:tenant/tenant") view=pages::tenant::TenantPage/>
                    <Route path=path!("/t/:tenant") view=pages::workloads::WorkloadsPage/>
                    <Route path=path!("/t/:tenant/deploy") view=pages::deploy::DeployPage/>
                    <Route path=path!("/t/:tenant/apps/:ns/:name") view=pages::app_detail::AppPage/>
                    <Route path=path!("/t/:tenant/logs") view=pages::logs::LogsPage/>
                    <Route path=path!("/t/:tenant/terminal") view=pages::terminal::TerminalPage/>
                    <Route path=path!("/t/:tenant/monitoring") view=pages::monitoring::MonitoringPage/>
                    <Route path=path!("/t/:tenant/calls") view=pages::call_graph::CallGraphPage/>
                    <Route path=path!("/t/:tenant/alerts") view=pages::alerts::AlertsPage/>
                    <Route path=path!("/t/:tenant/nginx") view=pages::nginx::NginxPage/>
                    <Route path=path!("/t/:tenant/pipelines") view=pages::pipelines::PipelinesPage/>
                    <Route path=path!("/t/:tenant/storage") view=pages::storage::StoragePage/>
                    <Route path=path!("/t/:tenant/config") view=pages::config::ConfigPage/>
                    <Route path=path!("/t/:tenant/pipelines/new") view=pages::pipeline_designer::PipelineDesigner/>
                    <Route path=path!("/t/:tenant/pipelines/:ns/:name") view=pages::pipeline_designer::PipelineDesigner/>
                    <Route path=path!("/t/:tenant/pipelines/:ns/:name/runs/:run") view=pages::pipeline_run::PipelineRunPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
