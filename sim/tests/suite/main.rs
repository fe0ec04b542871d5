//! The demo cluster's integration tests, one module per area, in one test binary (one link
//! instead of fifteen). `support` starts a cluster on port 0 and points kube-rs or the real
//! `kubectl` at it.

mod support;

mod api;
mod bad_input;
mod crd;
mod debug;
mod exec_guard;
mod failed_mount;
mod kubectl;
mod kubectl_debug;
mod kubectl_living;
mod kubectl_rollback;
mod living;
mod parity;
mod parity_apply;
mod parity_crd;
mod parity_delete;
mod parity_describe;
mod parity_kubectl;
mod parity_quota;
mod parity_rbac;
mod parity_service_account_tokens;
mod parity_statefulsets;
mod parity_storage;
mod persistence;
mod pipelines;
mod pod_security;
mod probes_and_config;
mod rollback;
mod service_account_tokens;
mod statefulsets;
mod storage;
mod watch;
