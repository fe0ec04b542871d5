//! What the browser and the server share, and nothing else: the types every page sends and
//! receives (one module per feature), [`error::AppError`], the messages of the live sockets,
//! the paths of every socket, download and upload ([`routes`]), and the validation both sides
//! run (so a form says what is wrong before it is sent, and the server refuses the same).
//!
//! Compiles to Wasm; never depends on Leptos, kube (except behind the `server` feature, for
//! error conversions) or anything that touches a cluster.

pub mod admin;
pub mod apm;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod identity;
pub mod logs;
pub mod monitoring;
pub mod names;
pub mod nginx;
pub mod pipelines;
pub mod routes;
pub mod storage;
pub mod terminal;
pub mod text;
pub mod time;
pub mod tokens;
pub mod workloads;

pub use error::AppError;
pub use text::Text;
