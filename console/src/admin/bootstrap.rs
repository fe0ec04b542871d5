//! The first platform admin. A console that starts on a cluster with no Wharf users creates
//! `admin` with a random password, keeps that password in the Secret
//! `wharf-system/wharf-bootstrap` and says it once in its log (as Argo CD and Rancher do).
//!
//! Replicas starting together create exactly one: the bootstrap Secret is created with a
//! plain create, so one replica wins; the others read the winner's password and only make
//! sure the user exists (a winner that died half-way is finished by the next start).

use super::users::{self, NewUser};
use super::{not_installed, AdminError};
use crds::{User, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::Client;
use std::collections::BTreeMap;

/// The Secret holding the first admin's one-time password (key `password`).
pub const SECRET: &str = "wharf-bootstrap";
/// The first admin's name.
pub const ADMIN: &str = "admin";

/// Creates the first admin when the cluster has no Wharf user. Returns the password when
/// this call made it (the caller says it once), `None` when there was nothing to do or
/// another replica made it.
pub async fn first_admin(client: &Client) -> Result<Option<String>, AdminError> {
    let users: Api<User> = Api::all(client.clone());
    let any = users
        .list(&ListParams::default().limit(1))
        .await
        .map_err(not_installed)?;
    if !any.items.is_empty() {
        return Ok(None);
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let candidate = users::random_password();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET.into()),
            namespace: Some(SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "password".to_string(),
            ByteString(candidate.clone().into_bytes()),
        )])),
        ..Default::default()
    };
    let (password, made_here) = match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => (candidate, true),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = secrets.get(SECRET).await?;
            let password = existing
                .data
                .and_then(|d| d.get("password").cloned())
                .and_then(|b| String::from_utf8(b.0).ok())
                .ok_or_else(|| {
                    AdminError::Invalid(wharf_api::text!(
                        "{SYSTEM_NAMESPACE}/{SECRET} has no `password`: delete it and start again",
                        "{SYSTEM_NAMESPACE}/{SECRET} 中没有 `password`:请删除它后重新启动"
                    ))
                })?;
            (password, false)
        }
        Err(e) => return Err(e.into()),
    };
    let admin = NewUser {
        name: ADMIN.into(),
        display_name: "Platform admin".into(),
        password: password.clone(),
        platform_admin: true,
    };
    match users::create(client, &admin).await {
        Ok(()) | Err(AdminError::Exists(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(made_here.then_some(password))
}
