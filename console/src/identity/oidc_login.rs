//! Signing in through an OpenID Connect provider, as the browser goes: [`start`] sends it to
//! the provider, which sends it back to [`finish`]; at logout, [`logout_url`] is the
//! provider's own logout page (RP-initiated logout). The HTTP routes are `server/src/oidc.rs`.
//!
//! What a login in progress needs (state, nonce, PKCE verifier) travels in a cookie sealed
//! with the session key for ten minutes, so the provider may send the user back to any
//! replica. The cookie is spent at the callback whatever happens, and a code is exchanged only
//! with the verifier of the login that asked for it, so a callback URL replayed (or sent to
//! someone else) signs nobody in.
//!
//! The user: the provider's `username_claim` becomes the Wharf name as a directory name does
//! (`Olga.Smith` → `olga-smith`). A Wharf user of that name who is local or signs in through
//! another provider is never taken over: the login is refused ("taken"). Groups come from the
//! `groups_claim` at each login; as the console cannot ask the provider between logins, a
//! session begun this way lasts at most `Settings::oidc_session`, after which the login page
//! sends the user through the provider again (at once when their provider session is alive),
//! and their groups are read anew.

use super::oidc::{self, ClaimNames, Pending, Trouble};
use super::providers;
use crate::call::Call;
use crate::state::AppState;
use http::{header, HeaderMap, HeaderValue};
use wharf_api::audit::{AuditRecord, Outcome};
use wharf_api::identity::{DirectoryUser, DEFAULT_SCOPES};
use wharf_api::{text, Text};

/// The cookie holding a login in progress (sent only to the callback).
pub const PENDING_COOKIE: &str = "wharf_oidc";
/// The cookie holding the ID token of the session, for the provider's logout (sent only to
/// the logout server function).
pub const ID_TOKEN_COOKIE: &str = "wharf_oidc_id";
const PURPOSE: &str = "oidc-login";

/// Why a sign-in came back without a session: `code` for the login page (see
/// `wharf_api::identity::oidc_failure`), the details for the audit log.
#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub detail: Text,
}

impl Failure {
    fn new(code: &'static str, detail: Text) -> Failure {
        Failure { code, detail }
    }
    /// Where the browser goes: the login page, saying why.
    pub fn login_page(&self) -> String {
        format!("/login?oidc={}", self.code)
    }
}

impl From<Trouble> for Failure {
    fn from(t: Trouble) -> Failure {
        let code = match t {
            Trouble::Unavailable(_) => "unavailable",
            Trouble::Refused(_) => "refused",
            Trouble::Invalid(_) => "invalid",
        };
        Failure::new(code, t.text().clone())
    }
}

/// The console's own URL: `--public-url` when set, else what this request was sent to (a
/// forged `Host` only makes a redirect URI the provider does not know).
pub fn console_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.settings.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.settings.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

fn cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    // NB: Lax, not Strict: the provider's redirect back is a navigation from its site, and a
    // Strict cookie would stay behind.
    let same_site = if name == PENDING_COOKIE {
        "Lax"
    } else {
        "Strict"
    };
    let cookie = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    );
    // NB: the values are base64url, JWTs and '.', the rest fixed ASCII
    HeaderValue::from_str(&cookie).expect("an OIDC cookie is ASCII")
}

fn pending_path(provider: &str) -> String {
    let callback = wharf_api::routes::oidc_callback("", provider);
    callback.trim_end_matches("/callback").to_string()
}

/// Begins a login through `provider`: the URL of the provider's sign-in page, with the login
/// in progress sealed into a cookie.
pub async fn start(call: &Call, provider: &str) -> Result<String, Failure> {
    let state = &call.state;
    let (_, spec) = providers::enabled_oidc(state, provider).ok_or_else(|| {
        Failure::new(
            "refused",
            text!(
                "there is no enabled OpenID Connect provider '{provider}'",
                "没有已启用的 OpenID Connect 身份源“{provider}”"
            ),
        )
    })?;
    let d = state.oidc.discovery(&spec.issuer).await?;
    let redirect_uri =
        wharf_api::routes::oidc_callback(&console_url(state, &call.headers()), provider);
    let pending = Pending::new(provider, &redirect_uri);
    let scopes = if spec.scopes.is_empty() {
        DEFAULT_SCOPES
    } else {
        &spec.scopes
    };
    let url = oidc::authorize_url(&d, &spec.client_id, scopes, &pending)?;
    let sealed = state.session_key.seal(
        PURPOSE,
        &serde_json::to_string(&pending).expect("a login in progress serializes"),
        chrono::Utc::now().timestamp() + oidc::PENDING_SECS,
    );
    call.set_cookie(cookie(
        state,
        PENDING_COOKIE,
        &sealed,
        &pending_path(provider),
        oidc::PENDING_SECS,
    ));
    Ok(url)
}

/// What the provider sends back to the callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Answer {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub state: String,
    /// RFC 9207: the issuer that answers (checked when present).
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Ends a login through `provider`: checks the answer, signs the user in (session cookie set)
/// and writes the audit record either way. `Ok`: where the browser goes now.
pub async fn finish(call: &Call, provider: &str, answer: &Answer) -> Result<String, Failure> {
    let result = sign_in(call, provider, answer).await;
    let (user, outcome) = match &result {
        Ok(user) => (user.clone(), Outcome::Ok),
        Err((user, f)) if f.code == "unavailable" => {
            (user.clone(), Outcome::Failed(f.detail.to_string()))
        }
        Err((user, f)) => (user.clone(), Outcome::Refused(f.detail.to_string())),
    };
    if let Err((_, f)) = &result {
        tracing::warn!(provider, code = f.code, detail = %f.detail, "OpenID Connect sign-in failed");
    }
    let record = AuditRecord {
        at: crate::audit::now(),
        user,
        token: String::new(),
        tenant: String::new(),
        action: "login".into(),
        target: format!("oidc {provider}"),
        outcome,
        client: call.client().map(|ip| ip.to_string()).unwrap_or_default(),
    };
    if let Err(e) = crate::audit::write(&call.state, record).await {
        // NB: as for every audited call: no session for a login that could not be recorded
        call.set_cookie(crate::auth::cleared_session_cookie(&call.state));
        return Err(Failure::new("unavailable", e.text()));
    }
    result.map(|_| "/".to_string()).map_err(|(_, f)| f)
}

/// The login itself: the Wharf user's name, or the failure (with the user's name when known).
async fn sign_in(
    call: &Call,
    provider: &str,
    answer: &Answer,
) -> Result<String, (String, Failure)> {
    let state = &call.state;
    let anonymous = |f: Failure| (String::new(), f);
    // the login in progress is spent now, whatever happens
    call.set_cookie(cookie(
        state,
        PENDING_COOKIE,
        "",
        &pending_path(provider),
        0,
    ));
    let expired = |why: Text| Failure::new("expired", why);
    let pending: Pending = crate::auth::cookie_value(&call.headers(), PENDING_COOKIE)
        .and_then(|v| {
            state
                .session_key
                .open(PURPOSE, &v, chrono::Utc::now().timestamp())
        })
        .and_then(|p| serde_json::from_str(&p).ok())
        .ok_or_else(|| {
            anonymous(expired(text!(
                "no login in progress in this browser (or older than ten minutes)",
                "此浏览器中没有进行中的登录(或已超过十分钟)"
            )))
        })?;
    // NB: the state ties the answer to the login this browser began (no login forced on
    // someone through a link carrying another's code)
    if pending.provider != provider || !same(&pending.state, &answer.state) {
        return Err(anonymous(expired(text!(
            "the answer is for another login (state does not match)",
            "应答属于另一次登录(state 不符)"
        ))));
    }
    if let Some(error) = &answer.error {
        let said = answer.error_description.clone().unwrap_or_default();
        return Err(anonymous(Failure::new(
            "refused",
            text!(
                "the provider answered {error}: {said}",
                "身份提供方答复 {error}:{said}"
            ),
        )));
    }
    let (_, spec) = providers::enabled_oidc(state, provider).ok_or_else(|| {
        anonymous(Failure::new(
            "refused",
            text!(
                "provider '{provider}' was disabled or deleted during the login",
                "登录过程中身份源“{provider}”被停用或删除"
            ),
        ))
    })?;
    let d = state
        .oidc
        .discovery(&spec.issuer)
        .await
        .map_err(|t| anonymous(t.into()))?;
    if let Some(iss) = &answer.iss {
        let want = &d.issuer;
        if iss.trim_end_matches('/') != want.trim_end_matches('/') {
            return Err(anonymous(Failure::new(
                "invalid",
                text!(
                    "the answer comes from issuer {iss}, not {want}",
                    "应答来自 issuer {iss},而不是 {want}"
                ),
            )));
        }
    }
    let secret = providers::client_secret(state, &spec)
        .await
        .map_err(|e| anonymous(Failure::new("unavailable", e.text())))?;
    let id_token = oidc::exchange(
        &state.oidc.http,
        &d,
        &spec.client_id,
        &secret,
        &answer.code,
        &pending,
    )
    .await
    .map_err(|t| anonymous(t.into()))?;
    let names = ClaimNames {
        username: or(&spec.username_claim, "preferred_username"),
        groups: or(&spec.groups_claim, "groups"),
    };
    let verified = oidc::verify(
        &state.oidc.http,
        &state.oidc.keys,
        &d,
        &spec.client_id,
        &id_token,
        &pending.nonce,
        &names,
    )
    .await
    .map_err(|t| anonymous(Trouble::Invalid(t).into()))?;
    let claim = names.username;
    let login = verified.username.trim().to_string();
    let name = super::wharf_name(&login).ok_or_else(|| {
        anonymous(Failure::new(
            "invalid",
            text!(
                "the ID token's {claim} '{login}' is not a user name Wharf can use",
                "ID 令牌的 {claim}“{login}”不是 Wharf 可用的用户名"
            ),
        ))
    })?;
    let named = |f: Failure| (name.clone(), f);
    let found = DirectoryUser {
        dn: verified.subject.clone(),
        display_name: verified.display_name.clone(),
        email: verified.email.clone(),
        groups: verified.groups.clone(),
    };
    let user = match super::adopt(state, &name, provider, &login, &found).await {
        Ok(user) => user,
        Err(crate::admin::AdminError::Exists(why)) => {
            return Err(named(Failure::new("taken", why)))
        }
        Err(e) => {
            let e: wharf_api::error::AppError = e.into();
            return Err(named(Failure::new("unavailable", e.text())));
        }
    };
    let user = user.ok_or_else(|| {
        named(Failure::new(
            "unavailable",
            text!("the user was not seen in time", "未能及时读到该用户"),
        ))
    })?;
    if user.spec.disabled {
        return Err(named(Failure::new(
            "disabled",
            text!("the user is disabled", "该用户已被禁用"),
        )));
    }
    let ttl = state
        .settings
        .session_ttl_secs
        .min(state.settings.oidc_session.as_secs() as i64);
    crate::auth::start_session(call, &user, None, ttl);
    call.set_cookie(cookie(state, ID_TOKEN_COOKIE, &id_token, LOGOUT_PATH, ttl));
    if let Err(e) = crate::admin::users::record_login(&state.client, &name).await {
        tracing::warn!(user = %name, error = %e, "could not record the login time");
    }
    Ok(name)
}

/// The path of the logout server function, the only one the ID token cookie goes to.
const LOGOUT_PATH: &str = "/api/logout";

fn or<'a>(set: &'a str, default: &'a str) -> &'a str {
    if set.is_empty() {
        default
    } else {
        set
    }
}

/// Compares two secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// At logout of `user`: the provider's logout page to send the browser to, when they signed in
/// through an OpenID Connect provider that has one; it sends them back to the login page. The
/// ID token cookie is cleared.
pub async fn logout_url(call: &Call, user: &crds::User) -> Option<String> {
    let state = &call.state;
    let id_token = crate::auth::cookie_value(&call.headers(), ID_TOKEN_COOKIE);
    if id_token.is_some() {
        call.set_cookie(cookie(state, ID_TOKEN_COOKIE, "", LOGOUT_PATH, 0));
    }
    let (_, spec) = providers::enabled_oidc(state, &user.spec.provider)?;
    let d = state.oidc.discovery(&spec.issuer).await.ok()?;
    let mut url = reqwest::Url::parse(d.end_session_endpoint.as_deref()?).ok()?;
    let back = format!("{}/login", console_url(state, &call.headers()));
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &spec.client_id)
            .append_pair("post_logout_redirect_uri", &back);
        if let Some(hint) = &id_token {
            q.append_pair("id_token_hint", hint);
        }
    }
    Some(url.into())
}
