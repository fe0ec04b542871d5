//! The console's server side: everything a server function, socket or background task does
//! once it is past HTTP, and nothing the browser runs. Never compiled to Wasm; no Leptos.
//!
//! * [`state`] — `AppState` (the kube client, the watcher caches, settings, the log store)
//! * [`call`] — one server-function call: state, headers, cookies to set
//! * [`auth`] — sessions, and `authorize`, the only way to a `TenantScope`
//! * [`watchers`] — the reflectors behind the caches; [`leader`] — election over a Lease
//!
//! Then one folder per feature, each with `endpoints.rs` (the bodies of the server functions
//! declared in `wharf_app`: authorize, then call the feature's logic) beside that logic:
//! [`workloads`], [`logs`], [`terminal`], [`monitoring`] (PromQL scoping, rule files,
//! Alertmanager's configuration, alerts, silences), [`nginx`] (desired state, TLS),
//! [`pipelines`].

pub mod admin;
pub mod apm;
pub mod audit;
pub mod auth;
pub mod call;
pub mod config;
pub mod discovery;
pub mod egress;
pub mod identity;
pub mod leader;
pub mod logs;
pub mod metrics;
pub mod monitoring;
pub mod nginx;
pub mod pipelines;
pub mod state;
pub mod storage;
pub mod terminal;
pub mod watchers;
pub mod workloads;

pub use call::Call;
pub use state::AppState;
