//! [`Call`]: one server-function call as the console's logic sees it — the console's state,
//! the request's headers, and what the answer carries besides its body (cookies). The
//! server's `/api` handler builds one per request and hands it to the server function through
//! Leptos context; the function's body passes it here, so nothing in this crate knows Leptos.

use crate::auth::{self, Principal, TenantScope};
use crate::state::AppState;
use http::{HeaderMap, HeaderValue};
use std::sync::{Arc, Mutex};
use wharf_api::auth::Role;
use wharf_api::error::AppError;

#[derive(Clone)]
pub struct Call {
    pub state: AppState,
    headers: HeaderMap,
    peer: Option<std::net::IpAddr>,
    reply: Arc<Mutex<Reply>>,
}

/// Headers the answer must carry, added by the handler once the function returned.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub set_cookies: Vec<HeaderValue>,
    /// What the audit record names as the call's target, when the function knows better than
    /// its arguments (a login: how the user signed in).
    pub audit_target: Option<String>,
}

impl Call {
    pub fn new(state: AppState, headers: HeaderMap) -> Call {
        Call {
            state,
            headers,
            peer: None,
            reply: Arc::default(),
        }
    }

    /// The address the request came from (the TCP peer).
    pub fn with_peer(mut self, peer: Option<std::net::IpAddr>) -> Call {
        self.peer = peer;
        self
    }

    /// The client's address: the peer's, or what a trusted proxy says it saw (see
    /// `Settings::trusted_proxies`).
    pub fn client(&self) -> Option<std::net::IpAddr> {
        auth::throttle::client_address(
            self.peer,
            &self.headers,
            &self.state.settings.trusted_proxies,
        )
    }

    /// The signed-in person; `Unauthenticated` (401) without a valid session.
    pub fn principal(&self) -> Result<Principal, AppError> {
        auth::principal_from_headers(&self.state, &self.headers)
    }

    /// The request's headers.
    pub fn headers(&self) -> HeaderMap {
        self.headers.clone()
    }

    /// THE check for server functions: the caller, authorized in `tenant` with at least
    /// `need` (see [`auth::authorize`]). Returns the state too, for the body's convenience.
    pub fn scope(&self, tenant: &str, need: Role) -> Result<(AppState, TenantScope), AppError> {
        let who = self.principal()?;
        let scope = auth::authorize(&self.state, &who, tenant, need)?;
        Ok((self.state.clone(), scope))
    }

    /// Adds a `Set-Cookie` header to the answer.
    pub fn set_cookie(&self, value: HeaderValue) {
        self.reply
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_cookies
            .push(value);
    }

    /// Names the audit record's target (see [`Reply::audit_target`]).
    pub fn audit_target(&self, target: String) {
        self.reply
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .audit_target = Some(target);
    }

    /// What the answer must carry (taken once, by the handler).
    pub fn take_reply(&self) -> Reply {
        std::mem::take(&mut *self.reply.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
