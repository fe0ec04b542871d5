//! Personal API tokens, for scripts and CI: `Authorization: Bearer wharf_<id>_<secret>` on any
//! server function, socket or download.
//!
//! * A token is a Secret in `wharf-system` named `wharf-token-<id>`, labelled with its user,
//!   owned by the `User` (the cluster's garbage collector removes it with them; deleting a
//!   user removes them too), holding only the SHA-256 of its secret. The secret is 32 random
//!   bytes, so a fast hash is enough: nobody guesses a preimage (passwords, chosen by people,
//!   get argon2).
//! * Every request with a token is checked against this replica's watch of those Secrets and
//!   re-reads the user, as a session does: a revoked token, a disabled or deleted user, a lost
//!   membership take effect at once. A token never gives more than its user has; a
//!   read-only one reads what its user may and changes nothing (`auth::refuse_read_only`).
//! * A token cannot manage tokens or change a password (a stolen token cannot make itself a
//!   longer-lived one); those take a signed-in session.
//! * Its last use is written to its Secret at most once a minute per replica, in the
//!   background, so a busy script does not become a stream of writes.

use crate::auth::Principal;
use crate::state::AppState;
use http::{header, HeaderMap};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wharf_api::error::AppError;
use wharf_api::text;
use wharf_api::tokens::{self as wire, NewToken, TokenForm, TokenInfo, TokenScope};

/// The label every token Secret carries; the console watches only these.
pub const SELECTOR: &str = "wharf.dev/api-token=true";
const KIND_LABEL: &str = "wharf.dev/api-token";
const USER_LABEL: &str = "wharf.dev/token-of";
const NAME: &str = "wharf.dev/token-name";
const SCOPE: &str = "wharf.dev/token-scope";
const EXPIRES: &str = "wharf.dev/token-expires";
const LAST_USED: &str = "wharf.dev/token-last-used";
const HASH_KEY: &str = "sha256";
/// How often one replica writes a token's last use.
const USE_EVERY: Duration = Duration::from_secs(60);

/// A token that checked out: whose it is and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub id: String,
    pub scope: TokenScope,
}

/// When this replica last wrote each token's use.
#[derive(Default)]
pub struct Uses(Mutex<HashMap<String, Instant>>);

impl Uses {
    /// Whether this use should be written (none written for this token in the last minute).
    fn due(&self, id: &str, now: Instant) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(id) {
            Some(at) if now.duration_since(*at) < USE_EVERY => false,
            _ => {
                seen.insert(id.to_string(), now);
                true
            }
        }
    }
}

/// The bearer token of a request, if it sends one (`Authorization: Bearer …`).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn secret_name(id: &str) -> String {
    format!("wharf-token-{id}")
}

fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn annotation<'a>(s: &'a Secret, key: &str) -> &'a str {
    s.annotations().get(key).map_or("", String::as_str)
}

fn expires(s: &Secret) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(annotation(s, EXPIRES))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Who holds `token` now, or `Unauthenticated`: malformed, unknown, revoked, expired, or not
/// matching its hash all answer alike.
pub fn holder(
    state: &AppState,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Holder, AppError> {
    let (id, secret) = wire::split(token).ok_or(AppError::Unauthenticated)?;
    let found = state
        .cache
        .tokens
        .get(&ObjectRef::new(&secret_name(id)).within(crds::SYSTEM_NAMESPACE))
        .ok_or(AppError::Unauthenticated)?;
    let stored = found
        .data
        .as_ref()
        .and_then(|d| d.get(HASH_KEY))
        .map(|b| b.0.as_slice())
        .unwrap_or_default();
    // NB: both sides are digests: comparing them in constant time costs nothing.
    let given = digest(secret);
    let same = stored.len() == given.len()
        && stored
            .iter()
            .zip(given.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same || expires(&found).is_none_or(|at| at <= now) {
        return Err(AppError::Unauthenticated);
    }
    let user = found
        .labels()
        .get(USER_LABEL)
        .cloned()
        .ok_or(AppError::Unauthenticated)?;
    let scope = TokenScope::parse(annotation(&found, SCOPE)).unwrap_or(TokenScope::ReadOnly);
    Ok(Holder {
        user,
        id: id.to_string(),
        scope,
    })
}

/// Notes a token's use: written to its Secret in the background, at most once a minute per
/// replica.
pub fn note_use(state: &AppState, id: &str) {
    if !state.token_uses.due(id, Instant::now()) {
        return;
    }
    let api: Api<Secret> = Api::namespaced(state.client.clone(), crds::SYSTEM_NAMESPACE);
    let (name, id) = (secret_name(id), id.to_string());
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tokio::spawn(async move {
        let patch = serde_json::json!({"metadata": {"annotations": {LAST_USED: now}}});
        if let Err(e) = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(token = %id, error = %e, "could not record the token's use");
        }
    });
}

fn info_of(s: &Secret) -> Option<TokenInfo> {
    let id = s.name_any().strip_prefix("wharf-token-")?.to_string();
    Some(TokenInfo {
        id,
        name: annotation(s, NAME).to_string(),
        scope: TokenScope::parse(annotation(s, SCOPE)).unwrap_or(TokenScope::ReadOnly),
        created: s
            .creation_timestamp()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
        expires: annotation(s, EXPIRES).to_string(),
        last_used: Some(annotation(s, LAST_USED).to_string()).filter(|t| !t.is_empty()),
    })
}

fn of_user(state: &AppState, user: &str) -> Vec<std::sync::Arc<Secret>> {
    state
        .cache
        .tokens
        .state()
        .into_iter()
        .filter(|s| s.labels().get(USER_LABEL).is_some_and(|u| u == user))
        .collect()
}

/// The user's tokens, newest first.
pub fn list(state: &AppState, user: &str) -> Vec<TokenInfo> {
    let mut tokens: Vec<TokenInfo> = of_user(state, user)
        .iter()
        .filter_map(|s| info_of(s))
        .collect();
    tokens.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    tokens
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes a token for `who` (signed in with a session, not a token): its only showing.
pub async fn create(
    state: &AppState,
    who: &Principal,
    form: TokenForm,
) -> Result<NewToken, AppError> {
    wire::check(&form).map_err(AppError::Invalid)?;
    if of_user(state, &who.name).len() >= wire::MAX_PER_USER {
        let max = wire::MAX_PER_USER;
        return Err(AppError::Invalid(text!(
            "You hold {max} tokens already; revoke one first.",
            "您已有 {max} 个令牌,请先吊销一个。"
        )));
    }
    let user = state
        .cache
        .user(&who.name)
        .ok_or(AppError::Unauthenticated)?;
    let owner = user
        .controller_owner_ref(&())
        .map(|mut o| {
            o.controller = None;
            o.block_owner_deletion = None;
            o
        })
        .ok_or(AppError::Unauthenticated)?;
    let (id, secret) = (random_hex(8), random_hex(32));
    let expires = chrono::Utc::now() + chrono::Duration::days(i64::from(form.days));
    let token = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&id)),
            namespace: Some(crds::SYSTEM_NAMESPACE.into()),
            labels: Some(BTreeMap::from([
                (KIND_LABEL.into(), "true".into()),
                (USER_LABEL.into(), who.name.clone()),
            ])),
            annotations: Some(BTreeMap::from([
                (NAME.into(), form.name.trim().to_string()),
                (SCOPE.into(), form.scope.label().into()),
                (
                    EXPIRES.into(),
                    expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            ])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        type_: Some("wharf.dev/api-token".into()),
        data: Some(BTreeMap::from([(
            HASH_KEY.into(),
            ByteString(digest(&secret).into_bytes()),
        )])),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(state.client.clone(), crds::SYSTEM_NAMESPACE);
    let created = api.create(&PostParams::default(), &token).await?;
    state.cache.wait_for_token(&secret_name(&id), true).await;
    let info = info_of(&created)
        .ok_or_else(|| AppError::Internal(text!("the new token has no id", "新令牌缺少标识")))?;
    Ok(NewToken {
        token: format!("{}{id}_{secret}", wire::PREFIX),
        info,
    })
}

/// Revokes one of `user`'s tokens. Someone else's token answers as a missing one does.
pub async fn revoke(state: &AppState, user: &str, id: &str) -> Result<(), AppError> {
    let name = secret_name(id);
    let theirs = state
        .cache
        .tokens
        .get(&ObjectRef::new(&name).within(crds::SYSTEM_NAMESPACE))
        .is_some_and(|s| s.labels().get(USER_LABEL).is_some_and(|u| u == user));
    if !theirs {
        return Err(AppError::NotFound(text!(
            "you have no token '{id}'",
            "您没有标识为“{id}”的令牌"
        )));
    }
    let api: Api<Secret> = Api::namespaced(state.client.clone(), crds::SYSTEM_NAMESPACE);
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    state.cache.wait_for_token(&name, false).await;
    Ok(())
}

/// Removes every token of `user` (their account is being deleted).
pub async fn remove_all(client: &kube::Client, user: &str) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), crds::SYSTEM_NAMESPACE);
    let selector = format!("{KIND_LABEL}=true,{USER_LABEL}={user}");
    // NB: one by one: the console's Role has no `deletecollection` on Secrets.
    for token in api.list(&ListParams::default().labels(&selector)).await? {
        match api
            .delete(&token.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_authorizations_name_a_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer  wharf_x ".parse().unwrap());
        assert_eq!(bearer(&h), Some("wharf_x"));
        h.insert(header::AUTHORIZATION, "bearer wharf_y".parse().unwrap());
        assert_eq!(bearer(&h), Some("wharf_y"));
        h.insert(header::AUTHORIZATION, "Basic d2hhcmY6eA==".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn a_use_is_written_once_a_minute() {
        let uses = Uses::default();
        let t = Instant::now();
        assert!(uses.due("a", t));
        assert!(!uses.due("a", t + Duration::from_secs(59)));
        assert!(uses.due("b", t + Duration::from_secs(59)), "per token");
        assert!(uses.due("a", t + USE_EVERY));
    }

    #[test]
    fn the_digest_is_sha256_in_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
