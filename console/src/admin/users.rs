//! Users: created with a password (its argon2id hash in a Secret of `wharf-system`, never in
//! the `User`), listed, given a new password, disabled and enabled.

use super::{check_name, not_installed, AdminError};
use crate::auth::hash_password;
use crds::{User, UserSpec, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

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
    if password.chars().count() < MIN_PASSWORD {
        return Err(AdminError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD} characters"
        )));
    }
    Ok(())
}

async fn hashed(password: &str) -> Result<String, AdminError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AdminError::Hash(e.to_string()))?
        .map_err(|e| AdminError::Hash(e.to_string()))
}

fn hash_secret(user: &str, phc: String) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(password_secret(user)),
            namespace: Some(SYSTEM_NAMESPACE.into()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "wharf".to_string(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "passwordHash".to_string(),
            ByteString(phc.into_bytes()),
        )])),
        ..Default::default()
    }
}

/// Creates the user and its password Secret. Refused if the user exists.
pub async fn create(client: &Client, new: &NewUser) -> Result<(), AdminError> {
    check_name("user", &new.name)?;
    check_password(&new.password)?;
    let users: Api<User> = Api::all(client.clone());
    if users
        .get_opt(&new.name)
        .await
        .map_err(not_installed)?
        .is_some()
    {
        return Err(AdminError::Exists(format!("user '{}'", new.name)));
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
        },
    );
    match users.create(&PostParams::default(), &user).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            Err(AdminError::Exists(format!("user '{}'", new.name)))
        }
        Err(e) => Err(e.into()),
    }
}

async fn existing(client: &Client, name: &str) -> Result<User, AdminError> {
    Api::<User>::all(client.clone())
        .get_opt(name)
        .await
        .map_err(not_installed)?
        .ok_or_else(|| AdminError::NotFound(format!("user '{name}'")))
}

/// Gives the user a new password.
pub async fn set_password(client: &Client, name: &str, password: &str) -> Result<(), AdminError> {
    check_password(password)?;
    let user = existing(client, name).await?;
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

/// Disables (or enables again) the user: a disabled user cannot log in.
pub async fn set_disabled(client: &Client, name: &str, disabled: bool) -> Result<(), AdminError> {
    existing(client, name).await?;
    Api::<User>::all(client.clone())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"disabled": disabled}})),
        )
        .await?;
    Ok(())
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
