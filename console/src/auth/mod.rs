//! Authentication and authorization.
//!
//! * Sessions are stateless signed cookies (`user|expiry|hmac`), keyed by a Secret in
//!   `wharf-system`, so several console replicas accept each other's sessions and a restart
//!   logs nobody out. The user is re-read from the `User` resource on every request, so a
//!   disabled user or a changed membership takes effect at once.
//! * [`authorize`] is the only way to obtain a [`TenantScope`], and every query of tenant
//!   data takes a `TenantScope`: the unguarded path does not type-check.

pub mod endpoints;

use crate::call::Call;
use crate::state::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderValue};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sha2::Sha256;
use wharf_api::auth::{Me, Role, TenantAccess};
use wharf_api::error::AppError;

pub const COOKIE: &str = "wharf_session";

/// The key that signs session cookies. Its bytes never print.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

impl SessionKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        SessionKey(bytes)
    }
    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
    /// `user|expiry` signed: the cookie's value.
    pub fn sign(&self, user: &str, expires_unix: i64) -> String {
        let payload = format!("{user}|{expires_unix}");
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let sig = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(sig))
    }
    /// The user named by a cookie value, if it is authentic and not expired.
    pub fn verify(&self, value: &str, now_unix: i64) -> Option<String> {
        let (payload, sig) = value.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&sig).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let (user, expires) = payload.rsplit_once('|')?;
        let expires: i64 = expires.parse().ok()?;
        (expires > now_unix).then(|| user.to_string())
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// A hash in PHC format (argon2id, default cost).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt =
        SaltString::encode_b64(&bytes).map_err(|e| AppError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing failed: {e}")))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The signed-in person, as read from their `User` resource for this request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub name: String,
    pub display_name: String,
    pub platform_admin: bool,
    pub memberships: Vec<(String, Role)>,
}

/// Proof that a principal may act in a tenant with at least some role. Only [`authorize`]
/// builds one; every tenant query takes one.
#[derive(Clone, Debug)]
pub struct TenantScope {
    tenant: String,
    namespaces: Vec<String>,
    role: Role,
    user: String,
}

impl TenantScope {
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn user(&self) -> &str {
        &self.user
    }
    pub fn contains(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|n| n == namespace)
    }
    /// A scope for unit tests of code that takes one; not reachable outside tests.
    #[cfg(test)]
    pub fn for_tests(tenant: &str, namespaces: &[&str]) -> TenantScope {
        TenantScope {
            tenant: tenant.into(),
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            role: Role::Admin,
            user: "test".into(),
        }
    }

    /// The namespace if it belongs to this tenant, else `Forbidden` (and a 403).
    pub fn namespace<'a>(&self, namespace: &'a str) -> Result<&'a str, AppError> {
        if self.contains(namespace) {
            Ok(namespace)
        } else {
            Err(forbidden(format!(
                "namespace '{namespace}' does not belong to tenant '{}'",
                self.tenant
            )))
        }
    }
}

fn role_of(crd: crds::Role) -> Role {
    match crd {
        crds::Role::Viewer => Role::Viewer,
        crds::Role::Developer => Role::Developer,
        crds::Role::Admin => Role::Admin,
    }
}

/// A refusal (answered 403 by every entry point: see `AppError::status`).
pub fn forbidden(message: String) -> AppError {
    AppError::Forbidden(message)
}

/// Reads the principal from request headers (used by WebSockets and downloads directly,
/// and by server functions through [`principal`]).
pub fn principal_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, AppError> {
    let now = chrono::Utc::now().timestamp();
    let user = cookie_value(headers, COOKIE)
        .and_then(|v| state.session_key.verify(&v, now))
        .ok_or(AppError::Unauthenticated)?;
    let found = state.cache.user(&user).ok_or(AppError::Unauthenticated)?;
    if found.spec.disabled {
        return Err(AppError::Unauthenticated);
    }
    Ok(Principal {
        name: user,
        display_name: found.spec.display_name.clone(),
        platform_admin: found.spec.platform_admin,
        memberships: found
            .spec
            .memberships
            .iter()
            .map(|m| (m.tenant.clone(), role_of(m.role)))
            .collect(),
    })
}

/// THE check. A platform admin may do anything in any tenant; others need a membership in
/// `tenant` with at least `need`. Denials are 403 and name what was missing.
pub fn authorize(
    state: &AppState,
    who: &Principal,
    tenant: &str,
    need: Role,
) -> Result<TenantScope, AppError> {
    let Some(found) = state.cache.tenant(tenant) else {
        // NB: an unknown tenant and a tenant one may not see answer alike, so the answer
        // does not reveal which tenants exist.
        return Err(forbidden(format!("no access to tenant '{tenant}'")));
    };
    let role = if who.platform_admin {
        Role::Admin
    } else {
        who.memberships
            .iter()
            .find(|(t, _)| t == tenant)
            .map(|(_, r)| *r)
            .ok_or_else(|| forbidden(format!("no access to tenant '{tenant}'")))?
    };
    if role < need {
        return Err(forbidden(format!(
            "a {} of '{tenant}' cannot do this; it needs a {}",
            role.label(),
            need.label()
        )));
    }
    Ok(TenantScope {
        tenant: tenant.to_string(),
        namespaces: found.spec.namespaces.clone(),
        role,
        user: who.name.clone(),
    })
}

pub fn me_of(state: &AppState, who: &Principal) -> Me {
    let mut tenants: Vec<TenantAccess> = state
        .cache
        .tenants()
        .into_iter()
        .filter_map(|t| {
            let name = t.metadata.name.clone()?;
            let role = if who.platform_admin {
                Some(Role::Admin)
            } else {
                who.memberships
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, r)| *r)
            }?;
            Some(TenantAccess {
                display_name: if t.spec.display_name.is_empty() {
                    name.clone()
                } else {
                    t.spec.display_name.clone()
                },
                name,
                namespaces: t.spec.namespaces.clone(),
                role,
            })
        })
        .collect();
    tenants.sort_by(|a, b| a.name.cmp(&b.name));
    Me {
        name: who.name.clone(),
        display_name: if who.display_name.is_empty() {
            who.name.clone()
        } else {
            who.display_name.clone()
        },
        platform_admin: who.platform_admin,
        tenants,
    }
}

pub async fn login(call: &Call, username: String, password: String) -> Result<Me, AppError> {
    let state = &call.state;
    let username = username.trim().to_string();
    let user = state.cache.user(&username).filter(|u| !u.spec.disabled);
    // NB: the hash is verified even for an unknown user, against a dummy, so the answer
    // takes as long either way and does not reveal which names exist.
    let phc = match &user {
        Some(u) => read_password_hash(state, &u.spec.password_secret).await?,
        None => None,
    };
    let phc_for_check = phc.clone().unwrap_or_else(|| state.dummy_hash.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc_for_check))
        .await
        .map_err(|e| AppError::internal("checking the password", e))?;
    if !(ok && user.is_some() && phc.is_some()) {
        return Err(AppError::BadCredentials);
    }
    let expires = chrono::Utc::now().timestamp() + state.settings.session_ttl_secs;
    let value = state.session_key.sign(&username, expires);
    call.set_cookie(session_cookie(
        state,
        &value,
        state.settings.session_ttl_secs,
    )?);
    let who = principal_from_cookie_user(state, &username)?;
    Ok(me_of(state, &who))
}

fn principal_from_cookie_user(state: &AppState, user: &str) -> Result<Principal, AppError> {
    let mut headers = HeaderMap::new();
    let value = state
        .session_key
        .sign(user, chrono::Utc::now().timestamp() + 60);
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&format!("{COOKIE}={value}"))
            .map_err(|e| AppError::internal("session cookie", e))?,
    );
    principal_from_headers(state, &headers)
}

async fn read_password_hash(state: &AppState, secret: &str) -> Result<Option<String>, AppError> {
    let api: Api<Secret> = Api::namespaced(state.client.clone(), crds::SYSTEM_NAMESPACE);
    let found = api.get_opt(secret).await?;
    Ok(found
        .and_then(|s| s.data)
        .and_then(|d| d.get("passwordHash").cloned())
        .and_then(|b| String::from_utf8(b.0).ok()))
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, AppError> {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).map_err(|e| AppError::internal("session cookie", e))
}

/// Ends the session: the answer clears the cookie.
pub fn logout(call: &Call) -> Result<(), AppError> {
    call.set_cookie(session_cookie(&call.state, "", 0)?);
    Ok(())
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_session_verifies_until_it_expires() {
        let key = SessionKey::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let v = key.sign("alice", 1_000);
        assert_eq!(key.verify(&v, 999).as_deref(), Some("alice"));
        assert_eq!(key.verify(&v, 1_000), None, "expired at its expiry second");
    }

    #[test]
    fn a_tampered_or_foreign_session_is_refused() {
        let key = SessionKey::new(b"k1k1k1k1k1k1k1k1".to_vec());
        let other = SessionKey::new(b"k2k2k2k2k2k2k2k2".to_vec());
        let v = key.sign("alice", i64::MAX);
        assert_eq!(other.verify(&v, 0), None);
        let (_, sig) = v.split_once('.').unwrap();
        let forged = format!("{}.{sig}", B64.encode("admin|9999999999"));
        assert_eq!(key.verify(&forged, 0), None);
        assert_eq!(key.verify("garbage", 0), None);
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("S3cret", &h));
        assert!(!verify_password("s3cret", "not a phc string"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; wharf_session=xyz.abc; b=2"),
        );
        assert_eq!(cookie_value(&h, COOKIE).as_deref(), Some("xyz.abc"));
    }
}
