//! Company directories and OpenID Connect providers people sign in with, and the groups
//! tenants map to roles.
//!
//! * `ldap`      — the LDAP client: bind, find a user, read their groups (OpenLDAP, Active
//!   Directory); a login through a directory and the settings trial of the identity page
//! * `oidc`      — the OpenID Connect protocol: discovery, PKCE, code exchange, ID token checks
//! * `oidc_login` — signing in through an OpenID Connect provider (start, callback, logout)
//! * `providers` — the `IdentityProvider` resources and their Secrets
//! * `sync`      — re-reads directory users' groups on a timer, so memberships follow the
//!   directory within a bounded time for sessions already open
//! * `endpoints` — the identity page's and the group mappings' server functions
//!
//! A directory user is a Wharf `User` with `spec.provider` set, made at their first login and
//! holding no password; `status.groups` is what the directory (or the provider's ID token)
//! said last. Their tenant roles
//! are the memberships added by hand plus what the tenants' `groupRoles` give those groups
//! ([`memberships`]), computed on every request from the caches, so a change of either takes
//! effect at once.

pub mod endpoints;
pub mod ldap;
pub mod oidc;
pub mod oidc_login;
pub mod providers;
pub mod sync;

use crate::state::AppState;
use crds::{Role, Tenant, User};
use kube::ResourceExt;
use std::sync::Arc;
use wharf_api::error::AppError;

/// The Wharf user name of a name typed at a directory login: lower case, with `.`, `_` and
/// `@` as `-` (Active Directory's `John.Smith`, a UPN's `dora@corp`); `None` when that is
/// still not a user name.
pub fn wharf_name(typed: &str) -> Option<String> {
    let name: String = typed
        .trim()
        .chars()
        .map(|c| match c {
            '.' | '_' | '@' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    wharf_api::names::is_dns_label(&name).then_some(name)
}

/// Signs `typed` in through the directories (only `provider` when given, else each enabled one
/// in name order until one knows the user with this password): the Wharf user, made or
/// brought up to date and in this replica's cache. `Ok(None)`: no directory signs them in.
/// A directory that does not answer is an error only when no other one signed them in.
pub async fn sign_in(
    state: &AppState,
    provider: Option<&str>,
    typed: &str,
    password: &str,
) -> Result<Option<Arc<User>>, AppError> {
    let Some(name) = wharf_name(typed) else {
        return Ok(None);
    };
    let candidates: Vec<_> = providers::directories(state)
        .into_iter()
        .filter(|p| provider.is_none_or(|only| p.name_any() == only))
        .collect();
    let mut trouble = None;
    for p in candidates {
        let Some(spec) = p.spec.ldap.as_ref() else {
            continue;
        };
        let bind = providers::bind_password(state, spec).await?;
        match ldap::login(spec, &bind, typed.trim(), password).await {
            Ok(found) => {
                return Ok(adopt(state, &name, &p.name_any(), typed.trim(), &found).await?);
            }
            Err(ldap::Refusal::BadCredentials) => {}
            Err(ldap::Refusal::Unavailable(why)) => {
                tracing::warn!(provider = %p.name_any(), %why, "directory sign-in failed");
                trouble.get_or_insert(why);
            }
        }
    }
    match trouble {
        Some(why) => Err(AppError::Unavailable(why)),
        None => Ok(None),
    }
}

/// Makes or brings up to date the Wharf user `name` that `provider` signed in as `login`
/// (see `admin::users::from_directory`: a user of another provider or a local one is
/// refused with `AdminError::Exists`), and waits until this replica's cache shows it.
pub async fn adopt(
    state: &AppState,
    name: &str,
    provider: &str,
    login: &str,
    found: &wharf_api::identity::DirectoryUser,
) -> Result<Option<Arc<User>>, crate::admin::AdminError> {
    crate::admin::users::from_directory(&state.client, name, provider, login, found).await?;
    let user = state
        .cache
        .wait_for_user(name, |u| {
            u.spec.provider == provider
                && u.status.as_ref().is_some_and(|s| s.groups == found.groups)
        })
        .await;
    Ok(user.or_else(|| state.cache.user(name)))
}

/// May `user` sign in now as far as their identity provider goes (a local user always; a
/// directory user while their provider exists and is enabled)?
pub fn provider_allows(state: &AppState, user: &User) -> bool {
    user.spec.provider.is_empty() || providers::enabled(state, &user.spec.provider).is_some()
}

/// Does `group` (as the directory names it) match a mapping's group? Directory group names
/// compare without case, as LDAP's and Active Directory's `cn` do.
fn same_group(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// What `tenant`'s group mappings give `user`: the highest role and the groups that give it.
pub fn mapped(user: &User, tenant: &Tenant) -> Option<(Role, Vec<String>)> {
    if user.spec.provider.is_empty() {
        return None;
    }
    let groups = user
        .status
        .as_ref()
        .map(|s| s.groups.as_slice())
        .unwrap_or_default();
    let rows: Vec<_> = tenant
        .spec
        .group_roles
        .iter()
        .filter(|r| r.provider == user.spec.provider)
        .filter(|r| groups.iter().any(|g| same_group(g, &r.group)))
        .collect();
    let role = rows.iter().map(|r| r.role).max()?;
    Some((role, rows.iter().map(|r| r.group.clone()).collect()))
}

/// Every tenant role of `user`: added by hand, or given by their directory groups; the
/// highest where both.
pub fn memberships(user: &User, tenants: &[Arc<Tenant>]) -> Vec<(String, Role)> {
    let mut out: Vec<(String, Role)> = user
        .spec
        .memberships
        .iter()
        .map(|m| (m.tenant.clone(), m.role))
        .collect();
    for tenant in tenants {
        let Some((role, _)) = mapped(user, tenant) else {
            continue;
        };
        let name = tenant.metadata.name.clone().unwrap_or_default();
        match out.iter_mut().find(|(t, _)| *t == name) {
            Some((_, r)) => *r = (*r).max(role),
            None => out.push((name, role)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::{GroupRole, Membership, TenantSpec, UserSpec, UserStatus};

    fn user(provider: &str, groups: &[&str], by_hand: &[(&str, Role)]) -> User {
        let mut u = User::new(
            "dora",
            UserSpec {
                provider: provider.into(),
                memberships: by_hand
                    .iter()
                    .map(|(t, r)| Membership {
                        tenant: t.to_string(),
                        role: *r,
                    })
                    .collect(),
                ..Default::default()
            },
        );
        u.status = Some(UserStatus {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        });
        u
    }

    fn tenant(name: &str, rows: &[(&str, &str, Role)]) -> Arc<Tenant> {
        Arc::new(Tenant::new(
            name,
            TenantSpec {
                group_roles: rows
                    .iter()
                    .map(|(p, g, r)| GroupRole {
                        provider: p.to_string(),
                        group: g.to_string(),
                        role: *r,
                    })
                    .collect(),
                ..Default::default()
            },
        ))
    }

    #[test]
    fn groups_give_roles_and_the_highest_wins() {
        let tenants = [
            tenant(
                "alpha",
                &[
                    ("corp", "alpha-viewers", Role::Viewer),
                    ("corp", "Alpha-Devs", Role::Developer),
                ],
            ),
            tenant("beta", &[("other", "alpha-devs", Role::Admin)]),
            tenant("gamma", &[("corp", "gamma-admins", Role::Admin)]),
        ];
        let dora = user("corp", &["alpha-devs", "alpha-viewers"], &[]);
        assert_eq!(
            memberships(&dora, &tenants),
            vec![("alpha".to_string(), Role::Developer)],
            "case-blind, highest, only the user's own provider"
        );
        let (role, through) = mapped(&dora, &tenants[0]).unwrap();
        assert_eq!(role, Role::Developer);
        assert_eq!(through, ["alpha-viewers", "Alpha-Devs"]);
        let by_hand = user("corp", &["alpha-viewers"], &[("alpha", Role::Admin)]);
        assert_eq!(
            memberships(&by_hand, &tenants),
            vec![("alpha".to_string(), Role::Admin)],
            "a role added by hand stays when higher"
        );
        let gone = user("corp", &[], &[]);
        assert_eq!(memberships(&gone, &tenants), vec![], "no groups, no roles");
    }

    #[test]
    fn local_users_get_nothing_from_groups() {
        let tenants = [tenant("alpha", &[("", "alpha-devs", Role::Admin)])];
        let local = user("", &["alpha-devs"], &[]);
        assert_eq!(memberships(&local, &tenants), vec![]);
    }
}
