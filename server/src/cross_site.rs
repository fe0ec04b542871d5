//! Cross-site protection for every entry point that acts for a signed-in user: server
//! functions (`/api`), live sockets (`/ws`), uploads, downloads and recordings.
//!
//! The session cookie is `SameSite=Strict`, which keeps it off requests from other *sites*,
//! but not from other hosts of the same site: a tenant's app served by the nginx cluster at
//! `shop.alpha.example.com` is the same site as a console at `console.example.com`, and its
//! pages' requests would carry the cookie. So the console also checks where a request comes
//! from, as browsers tell it:
//! - `Origin` (sent on every POST and WebSocket upgrade) must be the console's own (the
//!   request's `Host`) or one named with `--allowed-origin` (a reverse proxy that rewrites
//!   `Host`);
//! - without `Origin` (a GET such as a download), `Sec-Fetch-Site` must be `same-origin` or
//!   `none` (typed or bookmarked) when the browser sends it;
//! - server functions take `Content-Type: application/json` only: a page of another origin
//!   cannot send that without a CORS preflight, which the console never grants.
//!
//! Requests with neither header (scripts, `curl`) carry no ambient browser cookies and pass.
//! Webhooks (`/hooks/…`) come from other servers with their own secret and are not checked.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use wharf_api::error::AppError;
use wharf_api::{text, Text};
use wharf_console::AppState;

/// The paths the check covers.
fn guarded(path: &str) -> bool {
    ["/api/", "/ws/", "/upload/", "/download/", "/recordings/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// Refuses a request from another origin (403) or a server-function call that is not JSON
/// (415), with the reason as an [`AppError`].
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !guarded(path) {
        return next.run(req).await;
    }
    // NB: HTTP/2 carries the host in the URI (`:authority`), not in a Host header.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_string();
    if let Err(why) = origin_allowed(req.headers(), &host, &state.settings.allowed_origins) {
        tracing::warn!(path, %why, "cross-site request refused");
        return (StatusCode::FORBIDDEN, Json(AppError::Forbidden(why))).into_response();
    }
    if path.starts_with("/api/") && !is_json(req.headers()) {
        let e = AppError::Invalid(text!(
            "server functions take Content-Type: application/json",
            "服务端函数只接受 Content-Type: application/json"
        ));
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Json(e)).into_response();
    }
    next.run(req).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// `Ok` when the browser says the request comes from the console's own pages at `host` (or
/// says nothing, as scripts do); `Err` says where it came from.
pub fn origin_allowed(headers: &HeaderMap, host: &str, allowed: &[String]) -> Result<(), Text> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        let own = origin
            .split_once("://")
            .is_some_and(|(_, authority)| !host.is_empty() && authority.eq_ignore_ascii_case(host));
        if own || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return Ok(());
        }
        return Err(text!(
            "a request from the page {origin}: the console answers only its own pages ({host}); \
             a reverse proxy's public address is named with --allowed-origin",
            "来自页面 {origin} 的请求:控制台只响应它自己的页面({host});\
             反向代理的公网地址请用 --allowed-origin 指定"
        ));
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    match site {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(site) => Err(text!(
            "a {site} request: the console answers only its own pages",
            "{site} 请求:控制台只响应它自己的页面"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin_allowed(h: &HeaderMap, allowed: &[String]) -> Result<(), Text> {
        let host = h
            .get("host")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default();
        super::origin_allowed(h, host, allowed)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_consoles_own_pages_and_scripts_pass() {
        let own = headers(&[
            ("host", "console.example.com"),
            ("origin", "https://console.example.com"),
        ]);
        assert!(origin_allowed(&own, &[]).is_ok());
        let script = headers(&[("host", "console.example.com")]);
        assert!(origin_allowed(&script, &[]).is_ok());
        let typed = headers(&[("host", "c"), ("sec-fetch-site", "none")]);
        assert!(origin_allowed(&typed, &[]).is_ok());
    }

    #[test]
    fn other_origins_and_sites_are_refused() {
        for h in [
            headers(&[
                ("host", "console.example.com"),
                ("origin", "https://shop.alpha.example.com"),
            ]),
            headers(&[
                ("host", "console.example.com"),
                ("origin", "https://console.example.com.evil.io"),
            ]),
            headers(&[
                ("host", "console.example.com:3000"),
                ("origin", "http://console.example.com:8080"),
            ]),
            headers(&[("host", "console.example.com"), ("origin", "null")]),
            headers(&[("origin", "https://console.example.com")]),
            headers(&[("host", "c"), ("sec-fetch-site", "same-site")]),
            headers(&[("host", "c"), ("sec-fetch-site", "cross-site")]),
        ] {
            assert!(origin_allowed(&h, &[]).is_err(), "{h:?}");
        }
    }

    #[test]
    fn a_proxys_public_origin_is_allowed_when_named() {
        let h = headers(&[
            ("host", "10.0.0.7:3000"),
            ("origin", "https://wharf.example.com"),
        ]);
        assert!(origin_allowed(&h, &[]).is_err());
        assert!(origin_allowed(&h, &["https://wharf.example.com".into()]).is_ok());
    }

    #[test]
    fn server_functions_take_json_only() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
