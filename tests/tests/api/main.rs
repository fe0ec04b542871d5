//! The console's integration tests, one module per feature, in one test binary (one link
//! instead of eight). Each test starts its own demo cluster and console (`wharf_tests::spawn_app`)
//! and talks to them over real HTTP and WebSockets.

mod accounts;
mod admin;
mod apm;
mod audit;
mod authorization;
mod config;
mod crds;
mod cross_site;
mod deploy_volumes;
mod identity;
mod leader;
mod log_agent;
mod login_limits;
mod logs;
mod metrics;
mod monitoring;
mod ng_agent_packaging;
mod nginx;
mod nginx_clusters;
mod oidc;
mod pipeline_artifacts;
mod pipelines;
mod prometheus_operator;
mod promql_property;
mod storage;
mod tenants;
mod terminal;
mod tokens;
mod workloads;
