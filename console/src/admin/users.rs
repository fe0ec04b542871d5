//! Users: created with a password (its argon2id hash in a Secret of `wharf-system`, never in
//! the `User`), listed, given a new password, disabled and enabled.

use super::{check_name, not_installed, AdminError};
use crate::auth::hash_password;
use chrono::{DateTime, SubsecRound, Utc};
use crds::{User, UserSpec, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;
use wharf_api::text;

pub use wharf_api::admin::MIN_PASSWORD;

/// A user to create.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub name: String,
    pub display_name: String,
    pub password: String,
    pub platform_admin: bool,
}

/// One row of [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub display_name: String,
    pub platform_admin: bool,
    pub disabled: bool,
    /// (tenant, role) pairs.
    pub memberships: Vec<(String, String)>,
}

/// A new password: 20 letters and digits, without look-alikes (0/O, 1/l/I).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    (0..20)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// The Secret holding a user's password hash.
pub fn password_secret(user: &str) -> String {
    format!("wharf-user-{user}")
}

pub fn check_password(password: &str) -> Result<(), AdminError> {
    wharf_api::admin::check_password(password).map_err(AdminError::Invalid)
}

async fn hashed(password: &str) -> Result<String, AdminError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AdminError::Hash(e.to_string()))?
        .map_err(|e| AdminError::Hash(e.to_string()))
}

fn hash_secret(user: &str, phc: String) -> Secret {
    system_secret(&password_secret(user), "passwordHash", phc.into_bytes())
}

/// A Secret of `wharf-system` made by the console, holding one key.
pub fn system_secret(name: &str, key: &str, value: Vec<u8>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(SYSTEM_NAMESPACE.into()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "wharf".to_string(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(key.to_string(), ByteString(value))])),
        ..Default::default()
    }
}

/// Creates the user and its password Secret. Refused if the user exists.
pub async fn create(client: &Client, new: &NewUser) -> Result<(), AdminError> {
    check_name(&text!("user", "用户"), &new.name)?;
    check_password(&new.password)?;
    let users: Api<User> = Api::all(client.clone());
    if users
        .get_opt(&new.name)
        .await
        .map_err(not_installed)?
        .is_some()
    {
        let name = &new.name;
        return Err(AdminError::Exists(text!("user '{name}'", "用户“{name}”")));
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let secret = hash_secret(&new.name, hashed(&new.password).await?);
    // NB: a Secret left by a user deleted earlier is replaced: the new password is the one.
    secrets
        .patch(
            &password_secret(&new.name),
            &PatchParams::apply("wharf").force(),
            &Patch::Apply(&secret),
        )
        .await?;
    let user = User::new(
        &new.name,
        UserSpec {
            display_name: new.display_name.clone(),
            platform_admin: new.platform_admin,
            memberships: Vec::new(),
            password_secret: password_secret(&new.name),
            disabled: false,
            ..Default::default()
        },
    );
    match users.create(&PostParams::default(), &user).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let name = &new.name;
            return Err(AdminError::Exists(text!("user '{name}'", "用户“{name}”")));
        }
        Err(e) => return Err(e.into()),
    }
    // NB: status is a subresource, so it is written after the create; a user left without it
    // (a crash in between) can log in with the password they were given, which is no worse.
    patch_status(
        client,
        &new.name,
        serde_json::json!({"mustChangePassword": true}),
    )
    .await
}

/// A directory user as their directory describes them now: made at their first login (no
/// Wharf password, never asked to choose one), their name, e-mail and groups brought up to
/// date at every login and directory sync. Refused when the name is a local user's or
/// another directory's.
pub async fn from_directory(
    client: &Client,
    name: &str,
    provider: &str,
    login: &str,
    found: &wharf_api::identity::DirectoryUser,
) -> Result<(), AdminError> {
    check_name(&text!("user", "用户"), name)?;
    let users: Api<User> = Api::all(client.clone());
    match users.get_opt(name).await.map_err(not_installed)? {
        Some(u) if u.spec.provider != provider => {
            return Err(AdminError::Exists(text!(
                "a user '{name}' who does not sign in through '{provider}'",
                "不通过“{provider}”登录的用户“{name}”"
            )));
        }
        Some(u) => {
            if u.spec.display_name != found.display_name
                || u.spec.email != found.email
                || u.spec.login != login
            {
                let spec = serde_json::json!({"spec": {
                    "displayName": found.display_name, "email": found.email, "login": login}});
                users
                    .patch(name, &PatchParams::default(), &Patch::Merge(&spec))
                    .await?;
            }
        }
        None => {
            let user = User::new(
                name,
                UserSpec {
                    display_name: found.display_name.clone(),
                    provider: provider.to_string(),
                    email: found.email.clone(),
                    login: login.to_string(),
                    ..Default::default()
                },
            );
            match users.create(&PostParams::default(), &user).await {
                // NB: two replicas (or two tabs) at the first login: either made it.
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    set_groups(client, name, &found.groups).await
}

/// Records a directory user's groups as just read.
pub async fn set_groups(client: &Client, name: &str, groups: &[String]) -> Result<(), AdminError> {
    patch_status(
        client,
        name,
        serde_json::json!({"groups": groups, "groupsRead": now()}),
    )
    .await
}

/// Merges `status` into the user's status.
async fn patch_status(
    client: &Client,
    name: &str,
    status: serde_json::Value,
) -> Result<(), AdminError> {
    Api::<User>::all(client.clone())
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await?;
    Ok(())
}

/// Now, to the millisecond (session stamps are compared in milliseconds).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Ends every session of the user begun until now, on every replica. Returns the stamp.
pub async fn end_sessions(client: &Client, name: &str) -> Result<DateTime<Utc>, AdminError> {
    let stamp = now();
    patch_status(
        client,
        name,
        serde_json::json!({ "sessionsValidAfter": stamp }),
    )
    .await?;
    Ok(stamp)
}

/// Notes a successful login (shown in the user list).
pub async fn record_login(client: &Client, name: &str) -> Result<(), AdminError> {
    patch_status(
        client,
        name,
        serde_json::json!({ "lastLogin": now(), "failedLogins": null }),
    )
    .await
}

/// A wrong password for user `name`: counted (since the last successful login) and stamped,
/// for the platform admins' Users page. Read and written with the resourceVersion read, so
/// failures at the same instant (on any replica) are each counted; after a few tries, the last
/// one without the check.
pub async fn record_failed_login(client: &Client, name: &str) -> Result<(), AdminError> {
    let api = Api::<User>::all(client.clone());
    for attempt in 1..=5 {
        let user = existing(client, name).await?;
        let failed = user
            .status
            .as_ref()
            .and_then(|s| s.failed_logins)
            .unwrap_or(0);
        let version = (attempt < 5).then(|| user.resource_version()).flatten();
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": version},
            "status": {"failedLogins": failed.saturating_add(1), "lastFailedLogin": now()},
        });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            other => {
                other?;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The user chose a new password themselves: it is stored, they need not change it again,
/// and their other sessions end.
pub async fn change_own_password(
    client: &Client,
    name: &str,
    password: &str,
) -> Result<DateTime<Utc>, AdminError> {
    store_password(client, name, password).await?;
    let stamp = now();
    patch_status(
        client,
        name,
        serde_json::json!({ "mustChangePassword": false, "sessionsValidAfter": stamp }),
    )
    .await?;
    Ok(stamp)
}

async fn existing(client: &Client, name: &str) -> Result<User, AdminError> {
    Api::<User>::all(client.clone())
        .get_opt(name)
        .await
        .map_err(not_installed)?
        .ok_or_else(|| AdminError::NotFound(text!("user '{name}'", "用户“{name}”")))
}

/// Gives the user a new password chosen by an admin: the user's sessions end and they must
/// choose their own at their next login.
pub async fn set_password(client: &Client, name: &str, password: &str) -> Result<(), AdminError> {
    store_password(client, name, password).await?;
    patch_status(
        client,
        name,
        serde_json::json!({ "mustChangePassword": true, "sessionsValidAfter": now() }),
    )
    .await
}

async fn store_password(client: &Client, name: &str, password: &str) -> Result<(), AdminError> {
    check_password(password)?;
    let user = existing(client, name).await?;
    if !user.spec.provider.is_empty() {
        let provider = &user.spec.provider;
        return Err(AdminError::Invalid(text!(
            "'{name}' signs in through the directory '{provider}': their password is kept there",
            "“{name}”通过目录“{provider}”登录:其密码由目录管理"
        )));
    }
    let mut secret = hash_secret(name, hashed(password).await?);
    secret.metadata.name = Some(user.spec.password_secret.clone());
    Api::<Secret>::namespaced(client.clone(), SYSTEM_NAMESPACE)
        .patch(
            &user.spec.password_secret,
            &PatchParams::apply("wharf").force(),
            &Patch::Apply(&secret),
        )
        .await?;
    Ok(())
}

/// Disables (or enables again) the user: a disabled user cannot log in, and their sessions end.
/// Returns the stamp that ended the sessions.
pub async fn set_disabled(
    client: &Client,
    name: &str,
    disabled: bool,
) -> Result<DateTime<Utc>, AdminError> {
    existing(client, name).await?;
    Api::<User>::all(client.clone())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"disabled": disabled}})),
        )
        .await?;
    end_sessions(client, name).await
}

/// Every user, by name.
pub async fn list(client: &Client) -> Result<Vec<UserRow>, AdminError> {
    let mut rows: Vec<UserRow> = Api::<User>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(not_installed)?
        .items
        .into_iter()
        .map(|u| UserRow {
            name: u.name_any(),
            display_name: u.spec.display_name.clone(),
            platform_admin: u.spec.platform_admin,
            disabled: u.spec.disabled,
            memberships: u
                .spec
                .memberships
                .iter()
                .map(|m| {
                    let role = serde_json::to_value(m.role)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    (m.tenant.clone(), role)
                })
                .collect(),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// Makes the user a platform admin or takes it away; their sessions end.
pub async fn set_platform_admin(
    client: &Client,
    name: &str,
    platform_admin: bool,
) -> Result<DateTime<Utc>, AdminError> {
    existing(client, name).await?;
    Api::<User>::all(client.clone())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"platformAdmin": platform_admin}})),
        )
        .await?;
    end_sessions(client, name).await
}

/// Deletes the user and their password Secret.
pub async fn delete(client: &Client, name: &str) -> Result<(), AdminError> {
    let user = existing(client, name).await?;
    Api::<User>::all(client.clone())
        .delete(name, &Default::default())
        .await?;
    // NB: the tokens are owned by the user, so the garbage collector would remove them too;
    // removed here so that none outlives the answer.
    crate::auth::tokens::remove_all(client, name).await?;
    match Api::<Secret>::namespaced(client.clone(), SYSTEM_NAMESPACE)
        .delete(&user.spec.password_secret, &Default::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The user as the platform admin's list shows them.
pub fn summary(u: &User) -> wharf_api::admin::UserSummary {
    let status = u.status.clone().unwrap_or_default();
    wharf_api::admin::UserSummary {
        name: u.name_any(),
        display_name: u.spec.display_name.clone(),
        platform_admin: u.spec.platform_admin,
        disabled: u.spec.disabled,
        must_change_password: status.must_change_password,
        last_login: status.last_login.map(|t| t.to_rfc3339()),
        failed_logins: status.failed_logins.unwrap_or(0),
        last_failed_login: status.last_failed_login.map(|t| t.to_rfc3339()),
        memberships: u
            .spec
            .memberships
            .iter()
            .map(|m| (m.tenant.clone(), crate::auth::role_of(m.role)))
            .collect(),
    }
}
