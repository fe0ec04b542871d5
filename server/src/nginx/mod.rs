//! nginx beside Kubernetes: `agent` is `wharf ng-agent` (watchers of the cluster's custom
//! resources, Services and EndpointSlices → `ngx::Agent`, status per node, repairs), `tls`
//! watches the routes' TLS secrets for it, `download` is the console's authorized
//! GET of a node's files, `join` what a new node's join command fetches, `live` the NgFront page's socket, `demo` starts the demo's nginx
//! nodes.

pub mod demo;
pub mod download;
pub mod join;
pub mod live;

use axum::http::HeaderMap;
use axum::response::Response;
use wharf_console::nginx::Access;
use wharf_console::state::AppState;

/// What the caller may see of `tenant`'s nginx clusters (a viewer's scope, and whether they
/// are a platform admin), or the refusal to answer with: the check the socket and the
/// download make first.
// NB: the refusal is the handler's whole answer, returned at once; boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub fn access_for(state: &AppState, headers: &HeaderMap, tenant: &str) -> Result<Access, Response> {
    use crate::live::refuse;
    use wharf_console::auth::{authorize, principal_from_headers};
    let who = principal_from_headers(state, headers).map_err(refuse)?;
    let scope = authorize(state, &who, tenant, wharf_api::auth::Role::Viewer).map_err(refuse)?;
    Ok(Access {
        scope,
        platform_admin: who.platform_admin,
    })
}
