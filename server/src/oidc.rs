//! The two legs of a sign-in through an OpenID Connect provider (see
//! `wharf_console::identity::oidc_login`): `start` sends the browser to the provider,
//! `callback` takes it back, with a session or to the login page saying why not.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::net::SocketAddr;
use wharf_console::identity::oidc_login::{self, Answer};
use wharf_console::{AppState, Call};

/// `GET /auth/oidc/{provider}/start`
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let call = Call::new(state, headers).with_peer(peer.map(|p| p.0 .0.ip()));
    let to = match oidc_login::start(&call, &provider).await {
        Ok(url) => url,
        Err(f) => {
            tracing::warn!(%provider, code = f.code, detail = %f.detail, "OpenID Connect sign-in not started");
            f.login_page()
        }
    };
    redirect(&call, &to)
}

/// `GET /auth/oidc/{provider}/callback?code=…&state=…`
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(answer): Query<Answer>,
) -> Response {
    let call = Call::new(state, headers).with_peer(peer.map(|p| p.0 .0.ip()));
    let to = oidc_login::finish(&call, &provider, &answer)
        .await
        .unwrap_or_else(|f| f.login_page());
    redirect(&call, &to)
}

/// 303 to `to`, with the cookies the call set; never cached.
fn redirect(call: &Call, to: &str) -> Response {
    let mut res = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, to.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response();
    for cookie in call.take_reply().set_cookies {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    res
}
