//! Bearer-token authentication: every request but the health probes must carry
//! `Authorization: Bearer <token>`; otherwise 401 with a `Status` body. Two kinds of
//! token are accepted:
//!
//! - the cluster's own (the one in its kubeconfig, `AppState::token`), checked first;
//! - a ServiceAccount token: the `data.token` of a Secret of type
//!   `kubernetes.io/service-account-token` that the token controller filled
//!   (`controllers/serviceaccount_token.rs`). It authenticates as
//!   `system:serviceaccount:<ns>:<sa>` while the Secret exists (not being deleted) and the
//!   ServiceAccount exists with the uid the Secret names, as 1.20's legacy token
//!   authenticator checks (`lookup: true`). Deleting the Secret revokes the token at
//!   once: every request checks the store.
//!
//! NB: the demo cluster has no RBAC, so a ServiceAccount token may do everything the
//! cluster's own token may; only who is asking differs, not what they may do.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;

use super::AppState;
use crate::controllers::serviceaccount_token::{service_account_of, token_secrets, TOKEN_TYPE};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::Store;

pub async fn require_token(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/livez") {
        return next.run(req).await;
    }
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let ok = token.is_some_and(|t| {
        constant_time_eq(t.as_bytes(), app.token.as_bytes())
            || app.sa_tokens.authenticate(&app.store, t).is_some()
    });
    if ok {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Where the token Secrets of recently presented tokens are, so that a ServiceAccount's
/// requests do not search the token Secrets every time. A hint only: every request
/// checks the Secret and the ServiceAccount in the store again.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    found: Mutex<HashMap<String, (String, String)>>,
}

/// Entries kept at most (the cache starts over when full).
const CACHE_LIMIT: usize = 1024;

impl TokenCache {
    /// The user `token` authenticates as (`system:serviceaccount:<ns>:<sa>`), if it is a
    /// live ServiceAccount token.
    pub(crate) fn authenticate(&self, store: &Store, token: &str) -> Option<String> {
        let secrets = ResourceId::core("secrets");
        let hint = self.lock().get(token).cloned();
        if let Some((ns, name)) = hint {
            let user = store
                .get(&secrets, &ns, &name)
                .ok()
                .and_then(|s| check(store, &s, token));
            if user.is_some() {
                return user;
            }
            self.lock().remove(token);
        }
        // NB: a scan of the token Secrets only: the store indexes `type`, so other Secrets
        // are skipped unparsed. Only tokens that are not the cluster's own get here.
        let list = store.list(&secrets, None, &token_secrets()).ok()?;
        for bytes in &list.items {
            let Ok(secret) = serde_json::from_slice::<Value>(bytes) else {
                continue;
            };
            if let Some(user) = check(store, &secret, token) {
                let mut found = self.lock();
                if found.len() >= CACHE_LIMIT {
                    found.clear();
                }
                found.insert(token.to_string(), crate::controllers::key_of(&secret));
                return Some(user);
            }
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        self.found.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The user `token` authenticates as through `secret`: the Secret is a token Secret not
/// being deleted, holding `token`, and its ServiceAccount exists (not being deleted) with
/// the uid the Secret names.
fn check(store: &Store, secret: &Value, token: &str) -> Option<String> {
    let md = &secret["metadata"];
    if secret["type"] != TOKEN_TYPE || md["deletionTimestamp"].is_string() {
        return None;
    }
    let stored = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["token"].as_str()?)
        .ok()?;
    if stored.is_empty() || !constant_time_eq(&stored, token.as_bytes()) {
        return None;
    }
    let ns = md["namespace"].as_str()?;
    let (sa_name, sa_uid) = service_account_of(secret);
    let sa = store
        .get(&ResourceId::core("serviceaccounts"), ns, sa_name)
        .ok()?;
    let sa_md = &sa["metadata"];
    if sa_uid.is_empty() || sa_md["uid"] != sa_uid || sa_md["deletionTimestamp"].is_string() {
        return None;
    }
    Some(format!("system:serviceaccount:{ns}:{sa_name}"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{DeleteOptions, WriteOptions};

    fn create(store: &Store, res: &str, obj: Value) -> Value {
        store
            .create(
                &ResourceId::core(res),
                "default",
                obj,
                &WriteOptions::default(),
            )
            .unwrap()
    }

    fn namespace(store: &Store) {
        store
            .create(
                &ResourceId::core("namespaces"),
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
                &WriteOptions::default(),
            )
            .unwrap();
    }

    fn secret(name: &str, sa_uid: &str, token: &str) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD.encode(token);
        json!({"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
            "metadata": {"name": name, "annotations": {
                "kubernetes.io/service-account.name": "robot",
                "kubernetes.io/service-account.uid": sa_uid}},
            "data": {"token": b64}})
    }

    #[test]
    fn a_token_secret_authenticates_its_service_account_while_both_exist() {
        let store = Store::in_memory();
        namespace(&store);
        let sa = create(
            &store,
            "serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        );
        let uid = sa["metadata"]["uid"].as_str().unwrap();
        create(&store, "secrets", secret("robot-token", uid, "t0k3n"));
        create(&store, "secrets", secret("stale", "another-uid", "stale"));
        let cache = TokenCache::default();
        let user = "system:serviceaccount:default:robot";
        assert_eq!(cache.authenticate(&store, "t0k3n").as_deref(), Some(user));
        // Found again through the cache.
        assert_eq!(cache.authenticate(&store, "t0k3n").as_deref(), Some(user));
        assert_eq!(cache.authenticate(&store, "t0k3"), None, "a prefix");
        assert_eq!(cache.authenticate(&store, "nope"), None);
        assert_eq!(
            cache.authenticate(&store, "stale"),
            None,
            "a Secret naming another uid of the ServiceAccount"
        );
        store
            .delete(
                &ResourceId::core("secrets"),
                "default",
                "robot-token",
                &DeleteOptions::default(),
            )
            .unwrap();
        assert_eq!(cache.authenticate(&store, "t0k3n"), None, "revoked");
    }
}
