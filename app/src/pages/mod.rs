//! One module per page a user would name.

pub mod admin_identity;
pub mod admin_identity_oidc;
pub mod admin_nginx;
pub mod admin_tenants;
pub mod admin_users;
pub mod alerts;
pub mod apm;
pub mod app_checks;
pub mod app_detail;
pub mod audit;
pub mod call_graph;
pub mod config;
pub mod deploy;
pub mod deploy_parts;
pub mod expose;
pub mod home;
pub mod login;
pub mod logs;
pub mod monitoring;
pub mod nginx;
pub mod not_found;
pub mod password;
pub mod pipeline_designer;
pub mod pipeline_run;
pub mod pipelines;
pub mod storage;
pub mod storage_files;
pub mod tenant;
pub mod terminal;
pub mod terminal_replay;
pub mod tokens;
pub mod workloads;

/// Reads a route parameter as a reactive string ("" when absent).
pub fn param(name: &'static str) -> leptos::prelude::Memo<String> {
    use leptos::prelude::*;
    let params = leptos_router::hooks::use_params_map();
    Memo::new(move |_| params.with(|p| p.get(name).unwrap_or_default()))
}
