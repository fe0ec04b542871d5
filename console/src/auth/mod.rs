//! Authentication and authorization.
//!
//! * Sessions are stateless signed cookies (`user|expiry|hmac`), keyed by a Secret in
//!   `wharf-system`, so several console replicas accept each other's sessions and a restart
//!   logs nobody out. The user is re-read from the `User` resource on every request, so a
//!   disabled user or a changed membership takes effect at once.
//! * [`authorize`] is the only way to obtain a [`TenantScope`], and every query of tenant
//!   data takes a `TenantScope`: the unguarded path does not type-check.

pub mod endpoints;
pub mod throttle;
pub mod tokens;

use crate::call::Call;
use crate::state::AppState;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderValue};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sha2::Sha256;
use wharf_api::auth::{Me, Role, TenantAccess};
use wharf_api::error::AppError;
use wharf_api::{text, Text};

pub const COOKIE: &str = "wharf_session";

/// The key that signs session cookies. Its bytes never print.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

/// What an authentic, unexpired session cookie says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    /// When the session began (Unix milliseconds): a session issued at or before the user's
    /// `status.sessionsValidAfter` is over.
    pub issued_ms: i64,
}

impl SessionKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        SessionKey(bytes)
    }
    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
    /// `user|issued|expiry` signed: the cookie's value.
    pub fn sign(&self, user: &str, issued_ms: i64, expires_unix: i64) -> String {
        let payload = format!("{user}|{issued_ms}|{expires_unix}");
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let sig = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(sig))
    }
    /// The session a cookie value holds, if it is authentic and not expired.
    pub fn verify(&self, value: &str, now_unix: i64) -> Option<Session> {
        let (payload, sig) = value.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&sig).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let (rest, expires) = payload.rsplit_once('|')?;
        let (user, issued) = rest.rsplit_once('|')?;
        let expires: i64 = expires.parse().ok()?;
        let issued_ms: i64 = issued.parse().ok()?;
        (expires > now_unix).then(|| Session {
            user: user.to_string(),
            issued_ms,
        })
    }
}

impl SessionKey {
    /// `payload` sealed for `purpose` until `expires_unix` (a login in progress, kept in a
    /// cookie while the user is at their identity provider). The purpose is signed too, so a
    /// value sealed for one use is never taken for another, nor for a session.
    pub fn seal(&self, purpose: &str, payload: &str, expires_unix: i64) -> String {
        let body = format!("{expires_unix}|{payload}");
        let mut mac = self.mac();
        mac.update(b"\x01");
        mac.update(purpose.as_bytes());
        mac.update(b"\x01");
        mac.update(body.as_bytes());
        let sig = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(body), B64.encode(sig))
    }

    /// What [`SessionKey::seal`] sealed for `purpose`, if authentic and not expired.
    pub fn open(&self, purpose: &str, value: &str, now_unix: i64) -> Option<String> {
        let (body, sig) = value.split_once('.')?;
        let body = B64.decode(body).ok()?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(b"\x01");
        mac.update(purpose.as_bytes());
        mac.update(b"\x01");
        mac.update(&body);
        mac.verify_slice(&sig).ok()?;
        let body = String::from_utf8(body).ok()?;
        let (expires, payload) = body.split_once('|')?;
        (expires.parse::<i64>().ok()? > now_unix).then(|| payload.to_string())
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// A hash in PHC format (argon2id, default cost).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let failed = |e: &dyn std::fmt::Display| {
        AppError::Internal(text!("hashing failed: {e}", "计算密码哈希失败:{e}"))
    };
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes)
        .map_err(|e| AppError::Internal(text!("salt: {e}", "生成盐值失败:{e}")))?;
    let params = Params::default();
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    memory::with_blocks(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(password.as_bytes(), &bytes, &mut out, blocks)
    })
    .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` is the one `phc` (an argon2 hash in PHC format) was made from.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    let done = memory::with_blocks(blocks, |memory| {
        hasher.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
    });
    // `Output`'s equality is constant-time.
    done.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
}

/// argon2's working memory (19 MiB a check at the default cost), kept for the process's life.
///
/// Allocated and freed per check, the blocks are large enough that glibc maps and unmaps them
/// at first, then raises its mmap threshold past them and keeps each freed block in the
/// arena of whichever thread freed it: a flood of bad logins spread over the blocking pool's
/// threads left the console holding more than a GiB it never gave back. The checks are
/// bounded (one per core, see `throttle`), so a pool of as many blocks as checks at once
/// serves them all, and what the console holds stays put.
mod memory {
    use argon2::Block;
    use std::sync::Mutex;

    /// Blocks kept for reuse: one per core and one for hashing a new password.
    pub fn kept() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
    }

    static POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

    /// Runs `f` with at least `count` blocks of working memory, taken from the pool and put
    /// back afterwards.
    pub fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let taken = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut blocks = taken.unwrap_or_default();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        let result = f(&mut blocks[..count]);
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < kept() {
            pool.push(blocks);
        }
        result
    }

    #[cfg(test)]
    pub fn pooled() -> usize {
        POOL.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The signed-in person, as read from their `User` resource for this request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub name: String,
    pub display_name: String,
    pub platform_admin: bool,
    pub memberships: Vec<(String, Role)>,
    /// Someone else chose the password; nothing but choosing one's own is allowed.
    pub must_change_password: bool,
    /// The API token the request came with (its id), if not a session.
    pub token: Option<String>,
    /// A read-only token: it reads what its user may, and changes nothing (no server function
    /// that changes something, nothing that needs a developer).
    pub read_only: bool,
}

/// Proof that a principal may act in a tenant with at least some role. Only [`authorize`]
/// builds one; every tenant query takes one.
#[derive(Clone, Debug)]
pub struct TenantScope {
    tenant: String,
    namespaces: Vec<String>,
    role: Role,
    user: String,
    platform_admin: bool,
    /// The API token the caller came with (its id), if any.
    token: Option<String>,
    /// A read-only API token: nothing may be changed through this scope.
    read_only: bool,
}

impl TenantScope {
    /// May the caller change things in the tenant (a developer or admin, not through a
    /// read-only token)?
    pub fn can_change(&self) -> bool {
        self.role.can_change() && !self.read_only
    }
    /// Did the caller come with a read-only API token?
    pub fn read_only(&self) -> bool {
        self.read_only
    }
    /// The API token the caller came with (its id), if not a session.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
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
    /// Whether the person is a platform admin (whose role in every tenant is admin).
    pub fn platform_admin(&self) -> bool {
        self.platform_admin
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
            platform_admin: false,
            token: None,
            read_only: false,
        }
    }

    /// The namespace if it belongs to this tenant, else `Forbidden` (and a 403).
    pub fn namespace<'a>(&self, namespace: &'a str) -> Result<&'a str, AppError> {
        if self.contains(namespace) {
            Ok(namespace)
        } else {
            let tenant = &self.tenant;
            Err(forbidden(text!(
                "namespace '{namespace}' does not belong to tenant '{tenant}'",
                "命名空间“{namespace}”不属于租户“{tenant}”"
            )))
        }
    }
}

/// The wire role of a stored one.
pub fn role_of(crd: crds::Role) -> Role {
    match crd {
        crds::Role::Viewer => Role::Viewer,
        crds::Role::Developer => Role::Developer,
        crds::Role::Admin => Role::Admin,
    }
}

/// The stored role of a wire one.
pub fn crd_role(role: Role) -> crds::Role {
    match role {
        Role::Viewer => crds::Role::Viewer,
        Role::Developer => crds::Role::Developer,
        Role::Admin => crds::Role::Admin,
    }
}

/// The refusal of a tenant one may not see (or that does not exist: the two answer alike).
fn no_access(tenant: &str) -> AppError {
    forbidden(text!(
        "no access to tenant '{tenant}'",
        "无权访问租户“{tenant}”"
    ))
}

/// A refusal (answered 403 by every entry point: see `AppError::status`).
pub fn forbidden(message: Text) -> AppError {
    AppError::Forbidden(message)
}

/// The principal a `User` resource describes.
/// The principal of `user` as the caches say now: their memberships added by hand and those
/// their directory groups give (see `crate::identity`).
fn principal_of(state: &AppState, user: &crds::User) -> Principal {
    Principal {
        name: user.metadata.name.clone().unwrap_or_default(),
        display_name: user.spec.display_name.clone(),
        platform_admin: user.spec.platform_admin,
        memberships: crate::identity::memberships(user, &state.cache.tenants())
            .into_iter()
            .map(|(tenant, role)| (tenant, role_of(role)))
            .collect(),
        must_change_password: user.status.as_ref().is_some_and(|s| s.must_change_password),
        token: None,
        read_only: false,
    }
}

/// The caller, by their API token (`Authorization: Bearer`) or else their session cookie,
/// even one who must set a new password first: only for "who am I" and the audit record.
/// Everything else uses [`principal_from_headers`].
pub fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Principal, AppError> {
    let now = chrono::Utc::now();
    if let Some(token) = tokens::bearer(headers) {
        let holder = tokens::holder(state, token, now)?;
        let found = state
            .cache
            .user(&holder.user)
            .filter(|u| !u.spec.disabled && crate::identity::provider_allows(state, u))
            .ok_or(AppError::Unauthenticated)?;
        tokens::note_use(state, &holder.id);
        return Ok(Principal {
            token: Some(holder.id),
            read_only: holder.scope == wharf_api::tokens::TokenScope::ReadOnly,
            ..principal_of(state, &found)
        });
    }
    session_user(state, headers)
}

/// The user of the session cookie, refusing API tokens: for what a token must not do (log
/// out, set a password, manage tokens).
pub fn session_user(state: &AppState, headers: &HeaderMap) -> Result<Principal, AppError> {
    if tokens::bearer(headers).is_some() {
        return Err(forbidden(text!(
            "an API token cannot do this; sign in to the console",
            "API 令牌不能执行此操作,请登录控制台"
        )));
    }
    let session = cookie_value(headers, COOKIE)
        .and_then(|v| state.session_key.verify(&v, now_unix()))
        .ok_or(AppError::Unauthenticated)?;
    let found = state
        .cache
        .user(&session.user)
        .ok_or(AppError::Unauthenticated)?;
    if found.spec.disabled
        || ended(&found, session.issued_ms)
        || !crate::identity::provider_allows(state, &found)
    {
        return Err(AppError::Unauthenticated);
    }
    Ok(principal_of(state, &found))
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Has the user's "sessions valid after" stamp ended a session issued at `issued_ms`?
fn ended(user: &crds::User, issued_ms: i64) -> bool {
    user.status
        .as_ref()
        .and_then(|s| s.sessions_valid_after)
        .is_some_and(|after| issued_ms <= after.timestamp_millis())
}

/// Reads the principal from request headers (used by WebSockets and downloads directly,
/// and by server functions through [`crate::call::Call::principal`]). A user who must set a
/// new password is refused until they have.
pub fn principal_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, AppError> {
    let who = signed_in(state, headers)?;
    if who.must_change_password {
        return Err(AppError::PasswordChangeRequired);
    }
    Ok(who)
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
        return Err(no_access(tenant));
    };
    let role = role_in(who, tenant).ok_or_else(|| no_access(tenant))?;
    // NB: what needs a developer changes the tenant's workloads or opens a shell; what needs
    // an admin and is not a server function only reads (recordings). Server functions that
    // change something are refused to read-only tokens before they run (`refuse_read_only`).
    if who.read_only && need == Role::Developer {
        return Err(read_only_refusal());
    }
    if role < need {
        let (role, need) = (role.words(), need.words());
        return Err(forbidden(text!(
            "a {role} of '{tenant}' cannot do this; it needs a {need}",
            "租户“{tenant}”的{role}无权执行此操作,需要{need}权限"
        )));
    }
    Ok(TenantScope {
        tenant: tenant.to_string(),
        namespaces: found.spec.namespaces.clone(),
        role,
        user: who.name.clone(),
        platform_admin: who.platform_admin && !who.read_only,
        token: who.token.clone(),
        read_only: who.read_only,
    })
}

fn read_only_refusal() -> AppError {
    forbidden(text!(
        "a read-only API token cannot do this",
        "只读 API 令牌不能执行此操作"
    ))
}

/// Refuses a read-only API token's call of a server function that changes something
/// (`audited`: everything not in [`crate::audit::READ_ONLY`]): one check for all of them,
/// made by the HTTP layer before the function runs.
pub fn refuse_read_only(who: &Principal, audited: bool) -> Result<(), AppError> {
    if who.read_only && audited {
        return Err(read_only_refusal());
    }
    Ok(())
}

/// The principal's role in `tenant`, if any: a platform admin's is admin.
fn role_in(who: &Principal, tenant: &str) -> Option<Role> {
    if who.platform_admin {
        return Some(Role::Admin);
    }
    who.memberships
        .iter()
        .find(|(t, _)| t == tenant)
        .map(|(_, r)| *r)
}

pub fn me_of(state: &AppState, who: &Principal) -> Me {
    let mut tenants: Vec<TenantAccess> = state
        .cache
        .tenants()
        .into_iter()
        .filter_map(|t| {
            let name = t.metadata.name.clone()?;
            let role = role_in(who, &name)?;
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
        must_change_password: who.must_change_password,
        tenants,
    }
}

pub async fn login(call: &Call, username: String, password: String) -> Result<Me, AppError> {
    let state = &call.state;
    let username = username.trim().to_string();
    // NB: counted before anything is checked, so attempts sent at once are counted at once
    let attempt = state.login_throttle.attempt(call.client(), &username)?;
    let signed_in = match directory_user(state, &username) {
        // a directory's user: their directory decides
        Some(provider) => {
            crate::identity::sign_in(state, Some(&provider), &username, &password).await?
        }
        None => match local_user(state, &username, password.clone()).await? {
            Some(user) => Some(user),
            // nobody local by that name: the directories, if any
            None if state.cache.user(&username).is_none() => {
                crate::identity::sign_in(state, None, &username, &password).await?
            }
            None => None,
        },
    };
    // NB: the audit record says how they signed in (or tried to)
    let how = |user: Option<&crds::User>| match user.map(|u| u.spec.provider.as_str()) {
        Some(p) if !p.is_empty() => format!("directory {p}"),
        _ => "password".to_string(),
    };
    let Some(user) = signed_in.filter(|u| !u.spec.disabled) else {
        let tried = known_name(state, &username).and_then(|n| state.cache.user(&n));
        call.audit_target(how(tried.as_deref()));
        if let Some(name) = known_name(state, &username) {
            let _one_at_a_time = state.login_throttle.counting.lock().await;
            if let Err(e) = crate::admin::users::record_failed_login(&state.client, &name).await {
                tracing::warn!(user = %name, error = %e, "could not count the failed login");
            }
        }
        return Err(AppError::BadCredentials);
    };
    attempt.succeeded();
    call.audit_target(how(Some(&user)));
    start_session(call, &user, None, state.settings.session_ttl_secs);
    let name = kube::ResourceExt::name_any(user.as_ref());
    if let Err(e) = crate::admin::users::record_login(&state.client, &name).await {
        tracing::warn!(user = %name, error = %e, "could not record the login time");
    }
    Ok(me_of(state, &principal_of(state, &user)))
}

/// The Wharf user a login names, if any: as typed (a local user), or as a directory name
/// becomes one (`Dora.Smith` → `dora-smith`).
fn known_name(state: &AppState, typed: &str) -> Option<String> {
    [Some(typed.to_string()), crate::identity::wharf_name(typed)]
        .into_iter()
        .flatten()
        .find(|n| state.cache.user(n).is_some())
}

/// The identity provider of the directory user a login names, if it names one.
fn directory_user(state: &AppState, typed: &str) -> Option<String> {
    let user = state.cache.user(&known_name(state, typed)?)?;
    (!user.spec.provider.is_empty()).then(|| user.spec.provider.clone())
}

/// A local user signed in with their Wharf password; `None` for a wrong password or no such
/// local user.
async fn local_user(
    state: &AppState,
    username: &str,
    password: String,
) -> Result<Option<std::sync::Arc<crds::User>>, AppError> {
    let user = state
        .cache
        .user(username)
        .filter(|u| u.spec.provider.is_empty());
    // NB: the hash is verified even for an unknown user, against a dummy, so the answer
    // takes as long either way and does not reveal which names exist.
    let phc = match &user {
        Some(u) => read_password_hash(state, &u.spec.password_secret).await?,
        None => None,
    };
    let ok = check_password_against(state, password, phc.clone()).await?;
    Ok(user.filter(|_| ok && phc.is_some()))
}

/// Verifies `password` against `phc`, or against the dummy hash when there is none.
async fn check_password_against(
    state: &AppState,
    password: String,
    phc: Option<String>,
) -> Result<bool, AppError> {
    let phc = phc.unwrap_or_else(|| state.dummy_hash.clone());
    state
        .login_throttle
        .hash(move || verify_password(&password, &phc))
        .await
}

/// Sets a new session cookie lasting `ttl_secs`, issued strictly after the user's "sessions
/// valid after" stamp and after `ended_at` (a stamp just written that the cache may not show
/// yet).
pub(crate) fn start_session(
    call: &Call,
    user: &crds::User,
    ended_at: Option<chrono::DateTime<chrono::Utc>>,
    ttl_secs: i64,
) {
    let state = &call.state;
    let now = chrono::Utc::now();
    let after = user
        .status
        .as_ref()
        .and_then(|s| s.sessions_valid_after)
        .max(ended_at)
        .map_or(i64::MIN, |t| t.timestamp_millis());
    let issued = now.timestamp_millis().max(after.saturating_add(1));
    let expires = now.timestamp() + ttl_secs;
    let value = state.session_key.sign(
        &user.metadata.name.clone().unwrap_or_default(),
        issued,
        expires,
    );
    call.set_cookie(session_cookie(state, &value, ttl_secs));
}

/// The answer's cookie that ends the browser's session.
pub(crate) fn cleared_session_cookie(state: &AppState) -> HeaderValue {
    session_cookie(state, "", 0)
}

/// The signed-in user sets a new password: the current one is checked, the new one must be
/// long enough and differ from it. Every other session of the user ends; this one goes on
/// with a new cookie.
pub async fn change_password(call: &Call, current: String, new: String) -> Result<Me, AppError> {
    let state = &call.state;
    let who = session_user(state, &call.headers())?;
    let user = state
        .cache
        .user(&who.name)
        .ok_or(AppError::Unauthenticated)?;
    if !user.spec.provider.is_empty() {
        let provider = &user.spec.provider;
        return Err(AppError::Invalid(text!(
            "your password is your company directory's ('{provider}'): change it there",
            "您的密码由公司目录(“{provider}”)管理:请在那里修改"
        )));
    }
    let phc = read_password_hash(state, &user.spec.password_secret).await?;
    if !check_password_against(state, current.clone(), phc.clone()).await? || phc.is_none() {
        return Err(AppError::Invalid(text!(
            "The current password is not right.",
            "当前密码不正确。"
        )));
    }
    if new == current {
        return Err(AppError::Invalid(text!(
            "The new password must differ from the current one.",
            "新密码不能与当前密码相同。"
        )));
    }
    let stamp = crate::admin::users::change_own_password(&state.client, &who.name, &new).await?;
    // The new cookie must be issued after the stamp that ends the other sessions: wait until
    // this replica has seen it (a user who did not have to change their password already
    // reads `mustChangePassword: false`, so that alone says nothing).
    let stamped = state
        .cache
        .wait_for_user(&who.name, |u| {
            ended(u, stamp.timestamp_millis())
                && u.status.as_ref().is_some_and(|s| !s.must_change_password)
        })
        .await;
    let user = stamped.unwrap_or(user);
    // NB: someone who signed in through OpenID Connect has no password here: always the full time
    start_session(call, &user, Some(stamp), state.settings.session_ttl_secs);
    Ok(me_of(state, &principal_of(state, &user)))
}

async fn read_password_hash(state: &AppState, secret: &str) -> Result<Option<String>, AppError> {
    let api: Api<Secret> = Api::namespaced(state.client.clone(), crds::SYSTEM_NAMESPACE);
    let found = api.get_opt(secret).await?;
    Ok(found
        .and_then(|s| s.data)
        .and_then(|d| d.get("passwordHash").cloned())
        .and_then(|b| String::from_utf8(b.0).ok()))
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    // NB: the value is base64url and '.', the rest fixed ASCII: always a valid header.
    HeaderValue::from_str(&cookie).expect("a session cookie is ASCII")
}

/// Ends the session: the answer clears the cookie and, for a signed-in user, every session of
/// theirs ends on every replica (their "sessions valid after" stamp moves to now). For someone
/// who signed in through an OpenID Connect provider: the provider's logout page, where the
/// browser goes next to end the session there too.
pub async fn logout(call: &Call) -> Result<Option<String>, AppError> {
    call.set_cookie(cleared_session_cookie(&call.state));
    let Ok(who) = session_user(&call.state, &call.headers()) else {
        return Ok(None);
    };
    let stamp = crate::admin::users::end_sessions(&call.state.client, &who.name).await?;
    call.state
        .cache
        .wait_for_user(&who.name, |u| ended(u, stamp.timestamp_millis()))
        .await;
    let Some(user) = call.state.cache.user(&who.name) else {
        return Ok(None);
    };
    Ok(crate::identity::oidc_login::logout_url(call, &user).await)
}

pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
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
    fn a_sealed_value_opens_only_for_its_purpose_key_and_time() {
        let key = SessionKey::new(b"k1".to_vec());
        let sealed = key.seal("oidc", "{\"state\":\"s\"}", 100);
        assert_eq!(
            key.open("oidc", &sealed, 99).as_deref(),
            Some("{\"state\":\"s\"}")
        );
        assert_eq!(key.open("oidc", &sealed, 100), None, "expired");
        assert_eq!(key.open("other", &sealed, 99), None, "another purpose");
        assert_eq!(
            SessionKey::new(b"k2".to_vec()).open("oidc", &sealed, 99),
            None
        );
        assert_eq!(key.verify(&sealed, 99), None, "never a session");
        let session = key.sign("alice", 1, 100);
        assert_eq!(
            key.open("oidc", &session, 99),
            None,
            "a session is not a sealed value"
        );
    }

    #[test]
    fn a_signed_session_verifies_until_it_expires() {
        let key = SessionKey::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let v = key.sign("alice", 42, 1_000);
        let session = key.verify(&v, 999).expect("valid before expiry");
        assert_eq!((session.user.as_str(), session.issued_ms), ("alice", 42));
        assert_eq!(key.verify(&v, 1_000), None, "expired at its expiry second");
    }

    #[test]
    fn a_tampered_or_foreign_session_is_refused() {
        let key = SessionKey::new(b"k1k1k1k1k1k1k1k1".to_vec());
        let other = SessionKey::new(b"k2k2k2k2k2k2k2k2".to_vec());
        let v = key.sign("alice", 0, i64::MAX);
        assert_eq!(other.verify(&v, 0), None);
        let (_, sig) = v.split_once('.').unwrap();
        let forged = format!("{}.{sig}", B64.encode("admin|0|9999999999"));
        assert_eq!(key.verify(&forged, 0), None);
        assert_eq!(key.verify("garbage", 0), None);
    }

    #[test]
    fn a_stamp_ends_the_sessions_issued_until_it() {
        let mut user = crds::User::new("alice", Default::default());
        assert!(!ended(&user, 0), "no stamp: no session ended");
        user.status = Some(crds::UserStatus {
            sessions_valid_after: chrono::DateTime::from_timestamp_millis(1_000),
            ..Default::default()
        });
        assert!(ended(&user, 999));
        assert!(ended(&user, 1_000), "issued in the stamp's millisecond");
        assert!(!ended(&user, 1_001));
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("S3cret", &h));
        assert!(!verify_password("s3cret", "not a phc string"));
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Users' hashes stored by earlier versions (the crate's own hasher) still verify,
        // whatever cost they name, and ours verify with the crate's verifier.
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 2, 1, None).unwrap(),
        );
        let theirs = cheap.hash_password(b"s3cret", &salt).unwrap().to_string();
        let default = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .unwrap()
            .to_string();
        for phc in [&theirs, &default] {
            assert!(verify_password("s3cret", phc), "{phc}");
            assert!(!verify_password("s3cret!", phc), "{phc}");
        }
        let ours = hash_password("s3cret").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"s3cre", &parsed)
            .is_err());
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
    }

    #[test]
    fn the_working_memory_is_kept_not_grown() {
        let phc = hash_password("s3cret").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let phc = phc.clone();
                std::thread::spawn(move || (0..3).all(|_| verify_password("s3cret", &phc)))
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
        let kept = memory::pooled();
        assert!(
            (1..=memory::kept()).contains(&kept),
            "{kept} blocks kept, at most {} expected",
            memory::kept()
        );
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
