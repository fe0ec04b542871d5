//! Wharf's nginx agent engine: everything below the Kubernetes watchers.
//!
//! A [`DesiredState`] (cluster settings, routes, upstream peers) is rendered
//! by [`render()`] into a deterministic config tree with a sha256; a
//! [`Converger`] makes one nginx server serve it (stage, `nginx -t`, atomic
//! swap, reload, confirm through `/wharf/config-sha`, roll back on failure);
//! an [`Agent`] runs a converger on a task and coalesces bursts into at most
//! one reload per window.
//!
//! Two modes ([`Mode`]): **dynamic**, where upstreams pick peers in
//! `balancer_by_lua` from a shared dict that the agent fills over a local
//! control endpoint, so endpoint-only changes need no reload; and **static**,
//! plain `upstream {}` blocks for an nginx without the lua module.
//!
//! Also: [`drift::compare`] (files on disk against the rendered tree, with a
//! unified diff), [`validate`] (`nginx -t` in a throw-away prefix, for the
//! console), and [`NginxProcess`] (a foreground master for tests and demos).
//!
//! Module map: `model` (the desired state), `directive` (what users may type),
//! `render/` (the tree and the Lua), `peers` (the dynamic table's wire
//! format), `layout` (releases and the swap), `tls` (certificate files on the
//! node, and checking one pair with nginx), `nginx` (running the binary),
//! `http` (loopback client), `converge`, `agent`, `drift`, `validate`,
//! `status`, `error`.

pub mod agent;
pub mod converge;
pub mod directive;
pub mod drift;
pub mod error;
pub mod http;
pub mod layout;
pub mod model;
pub mod nginx;
pub mod peers;
pub mod render;
pub mod status;
pub mod tls;
pub mod validate;

pub use agent::{Agent, AgentConfig};
pub use converge::{Action, Converger, ConvergerConfig, Outcome, Plan, CONTROL_TOKEN_HEADER};
pub use drift::Drift;
pub use error::{Error, NginxError, Result};
pub use layout::NginxPaths;
pub use model::{
    Certificate, ClusterSpec, Defaults, DesiredState, Listen, Peer, PrivateKey, Route, Target, Tls,
    Upstream,
};
pub use nginx::NginxProcess;
pub use peers::PeerTable;
pub use render::{
    render, tree_sha, CertificateFiles, LuaPaths, Mode, RenderOptions, RenderedConfig,
};
pub use status::{LastError, Status};
