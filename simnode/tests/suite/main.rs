//! The demo node's integration tests, one module per area, in one test binary. `common`
//! builds pods and starts a node runtime.

mod common;

mod config;
mod debug;
mod exec;
mod http;
mod images;
mod jobs;
mod lifecycle;
mod logs_and_metrics;
mod pipelines;
mod pod_log_files;
mod probes;
mod traces;
mod volumes;
