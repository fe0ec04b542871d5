//! The serviceaccount-token controller, as kube-controller-manager 1.20's
//! `TokensController` runs it for Secrets of type `kubernetes.io/service-account-token`:
//!
//! - a Secret whose ServiceAccount (annotation `kubernetes.io/service-account.name`)
//!   exists gets what is missing of `data.token`, `data["ca.crt"]` (the cluster CA, the
//!   demo's own from `tls.rs`) and `data.namespace`, and the annotation
//!   `kubernetes.io/service-account.uid` set to the ServiceAccount's uid, in one update;
//! - a Secret whose ServiceAccount does not exist, or exists with another uid than the
//!   Secret's uid annotation (deleted and created again), is deleted (with a uid
//!   precondition, so a Secret made again meanwhile stays), as `syncSecret` deletes it;
//! - deleting a ServiceAccount therefore deletes its token Secrets: its change queues them.
//!
//! The token then authenticates requests as `system:serviceaccount:<ns>:<sa>` while the
//! Secret and the ServiceAccount exist (see `api/auth.rs`, which checks the store on every
//! request, so a deleted Secret's token is refused at once).
//!
//! Not done: 1.20 also creates a `<sa>-token-xxxxx` Secret for every ServiceAccount that
//! has none and lists it in the ServiceAccount's `secrets` (removed in 1.24); the demo
//! cluster fills only the Secrets someone creates.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::{str_at, Action, Key, Queue, Reconciler};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, EventType, FieldSelector, ListParams, Store, WriteOptions};

const MANAGER: &str = "kube-controller-manager";

/// The Secret type this controller fills.
pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// The annotation naming the ServiceAccount.
pub const SA_NAME: &str = "kubernetes.io/service-account.name";
/// The annotation the controller sets to the ServiceAccount's uid.
pub const SA_UID: &str = "kubernetes.io/service-account.uid";

/// The ServiceAccount a token Secret belongs to: its name annotation, and its uid
/// annotation ("" until the controller has filled the Secret).
pub(crate) fn service_account_of(secret: &Value) -> (&str, &str) {
    let ann = &secret["metadata"]["annotations"];
    (
        ann[SA_NAME].as_str().unwrap_or_default(),
        ann[SA_UID].as_str().unwrap_or_default(),
    )
}

/// List parameters for the token Secrets only (`type` is a field the store indexes, so
/// other Secrets are skipped without being parsed).
pub(crate) fn token_secrets() -> ListParams {
    ListParams {
        // NB: a constant, well-formed selector.
        fields: FieldSelector::parse(&format!("type={TOKEN_TYPE}")).unwrap_or_default(),
        ..Default::default()
    }
}

pub struct TokenController {
    store: Store,
    /// `data["ca.crt"]` as stored (base64 of the CA's PEM).
    ca_crt: String,
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store, ca_pem: &str) {
    let queue = Queue::new();
    let secrets = ResourceId::core("secrets");
    let q = queue.clone();
    super::spawn_watch(tasks, store, secrets.clone(), move |ev| {
        let token = ev
            .meta
            .fields
            .iter()
            .any(|(k, v)| *k == "type" && v == TOKEN_TYPE);
        if token && ev.kind != EventType::Deleted {
            q.add((ev.namespace.clone(), ev.name.clone()));
        }
    });
    // A ServiceAccount changed (created, deleted, made again): its token Secrets are
    // looked at again.
    let q = queue.clone();
    let st = store.clone();
    super::spawn_watch(
        tasks,
        store,
        ResourceId::core("serviceaccounts"),
        move |ev| {
            if let Ok(list) = st.list(&secrets, Some(&ev.namespace), &token_secrets()) {
                for s in list.values() {
                    if service_account_of(&s).0 == ev.name {
                        q.add(super::key_of(&s));
                    }
                }
            }
        },
    );
    super::spawn_resync(
        tasks,
        store,
        ResourceId::core("secrets"),
        Duration::from_secs(30),
        queue.clone(),
    );
    let c = Arc::new(TokenController {
        store: store.clone(),
        ca_crt: base64::engine::general_purpose::STANDARD.encode(ca_pem),
    });
    tasks.spawn(super::run_worker(c, queue));
}

/// A new token.
// NB: kube-controller-manager signs a JWT (the ServiceAccount's claims, checked by the API
// server with its public key). The demo cluster does not sign: it looks the token up among
// the token Secrets on every request, as the 1.20 authenticator also does after checking
// the signature (`lookup: true`), so 256 random bits, url-safe, are as good here.
fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Reconciler for TokenController {
    const NAME: &'static str = "serviceaccount-token";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let secrets = ResourceId::core("secrets");
        let secret = match self.store.get(&secrets, ns, name) {
            Ok(s) => s,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        if str_at(&secret, &["type"]) != TOKEN_TYPE {
            return Ok(Action::Done);
        }
        let secret_uid = str_at(&secret, &["metadata", "uid"]).to_string();
        let (sa_name, sa_uid) = service_account_of(&secret);
        let sa = match self
            .store
            .get(&ResourceId::core("serviceaccounts"), ns, sa_name)
        {
            Ok(sa) if sa_uid.is_empty() || str_at(&sa, &["metadata", "uid"]) == sa_uid => Some(sa),
            Ok(_) => None,
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        let Some(sa) = sa else {
            let opts = DeleteOptions {
                precondition_uid: Some(secret_uid),
                ..Default::default()
            };
            return match self.store.delete(&secrets, ns, name, &opts) {
                Ok(_)
                | Err(ApiError {
                    code: 404 | 409, ..
                }) => Ok(Action::Done),
                Err(e) => Err(e),
            };
        };
        let data = &secret["data"];
        let needs_ca = data["ca.crt"].as_str() != Some(self.ca_crt.as_str());
        let needs_ns = data["namespace"].as_str().unwrap_or_default().is_empty();
        let needs_token = data["token"].as_str().unwrap_or_default().is_empty();
        if !needs_ca && !needs_ns && !needs_token {
            return Ok(Action::Done);
        }
        let sa_name = str_at(&sa, &["metadata", "name"]).to_string();
        let sa_uid = str_at(&sa, &["metadata", "uid"]).to_string();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let token = new_token();
        let result = self.store.modify(
            &secrets,
            ns,
            name,
            None,
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != secret_uid {
                    return Err(ApiError::not_found("secrets", name));
                }
                if !cur["data"].is_object() {
                    cur["data"] = json!({});
                }
                let d = &mut cur["data"];
                d["ca.crt"] = json!(self.ca_crt);
                if d["namespace"].as_str().unwrap_or_default().is_empty() {
                    d["namespace"] = json!(b64(ns));
                }
                if d["token"].as_str().unwrap_or_default().is_empty() {
                    d["token"] = json!(b64(&token));
                }
                if !cur["metadata"]["annotations"].is_object() {
                    cur["metadata"]["annotations"] = json!({});
                }
                let ann = &mut cur["metadata"]["annotations"];
                ann[SA_NAME] = json!(sa_name);
                ann[SA_UID] = json!(sa_uid);
                Ok(cur)
            },
        );
        match result {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}
