//! A tenant's members: users added with a role, given another role, removed. A tenant never
//! loses its last admin this way, and a member whose role changes or who is removed has
//! their sessions ended.

use super::{not_installed, users, AdminError};
use crate::auth::role_of;
use chrono::{DateTime, Utc};
use crds::{Membership, Role, User};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use wharf_api::admin::Member;
use wharf_api::text;

/// The tenant's members among `users`, by name.
pub fn of_tenant<'a>(users: impl IntoIterator<Item = &'a User>, tenant: &str) -> Vec<Member> {
    let mut members: Vec<Member> = users
        .into_iter()
        .filter_map(|u| {
            let m = u.spec.memberships.iter().find(|m| m.tenant == tenant)?;
            Some(Member {
                user: u.name_any(),
                display_name: u.spec.display_name.clone(),
                role: role_of(m.role),
            })
        })
        .collect();
    members.sort_by(|a, b| a.user.cmp(&b.user));
    members
}

/// Is `user` the only admin of `tenant` among `all`?
fn last_admin(all: &[User], tenant: &str, user: &str) -> bool {
    let admins: Vec<String> = all
        .iter()
        .filter(|u| {
            u.spec
                .memberships
                .iter()
                .any(|m| m.tenant == tenant && m.role == Role::Admin)
        })
        .map(|u| u.name_any())
        .collect();
    admins == [user]
}

/// Sets (`Some`) or removes (`None`) the user's membership in the tenant. Unless `adding`, the
/// user's sessions end; returns the stamp that ended them.
async fn change(
    client: &Client,
    tenant: &str,
    user: &str,
    role: Option<Role>,
    adding: bool,
) -> Result<Option<DateTime<Utc>>, AdminError> {
    let api: Api<User> = Api::all(client.clone());
    let all = api
        .list(&Default::default())
        .await
        .map_err(not_installed)?
        .items;
    let mut found = all
        .iter()
        .find(|u| u.name_any() == user)
        .cloned()
        .ok_or_else(|| AdminError::NotFound(text!("user '{user}'", "用户“{user}”")))?;
    let current = found
        .spec
        .memberships
        .iter()
        .find(|m| m.tenant == tenant)
        .map(|m| m.role);
    match (adding, current) {
        (true, Some(_)) => {
            return Err(AdminError::Exists(text!(
                "user '{user}' in tenant '{tenant}'",
                "租户“{tenant}”中的用户“{user}”"
            )))
        }
        (false, None) => {
            return Err(AdminError::NotFound(text!(
                "user '{user}' in tenant '{tenant}'",
                "租户“{tenant}”中的用户“{user}”"
            )))
        }
        _ => {}
    }
    if current == Some(Role::Admin) && role != Some(Role::Admin) && last_admin(&all, tenant, user) {
        return Err(AdminError::Invalid(text!(
            "'{user}' is the last admin of tenant '{tenant}': make someone else its admin first",
            "“{user}”是租户“{tenant}”的最后一位管理员:请先将其他成员设为管理员"
        )));
    }
    found.spec.memberships.retain(|m| m.tenant != tenant);
    if let Some(role) = role {
        found.spec.memberships.push(Membership {
            tenant: tenant.to_string(),
            role,
        });
        found
            .spec
            .memberships
            .sort_by(|a, b| a.tenant.cmp(&b.tenant));
    }
    api.replace(user, &PostParams::default(), &found).await?;
    if adding {
        return Ok(None);
    }
    Ok(Some(users::end_sessions(client, user).await?))
}

/// Adds an existing user to the tenant with a role.
pub async fn add(client: &Client, tenant: &str, user: &str, role: Role) -> Result<(), AdminError> {
    change(client, tenant, user, Some(role), true).await?;
    Ok(())
}

/// Gives a member another role; their sessions end (returns the stamp that ended them).
pub async fn set_role(
    client: &Client,
    tenant: &str,
    user: &str,
    role: Role,
) -> Result<Option<DateTime<Utc>>, AdminError> {
    change(client, tenant, user, Some(role), false).await
}

/// Removes a member from the tenant; their sessions end (returns the stamp that ended them).
pub async fn remove(
    client: &Client,
    tenant: &str,
    user: &str,
) -> Result<Option<DateTime<Utc>>, AdminError> {
    change(client, tenant, user, None, false).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::UserSpec;

    fn user(name: &str, memberships: &[(&str, Role)]) -> User {
        User::new(
            name,
            UserSpec {
                memberships: memberships
                    .iter()
                    .map(|(t, r)| Membership {
                        tenant: t.to_string(),
                        role: *r,
                    })
                    .collect(),
                password_secret: format!("wharf-user-{name}"),
                ..Default::default()
            },
        )
    }

    #[test]
    fn the_last_admin_is_the_only_one_with_the_admin_role() {
        let all = [
            user("ada", &[("alpha", Role::Admin)]),
            user(
                "alice",
                &[("alpha", Role::Developer), ("beta", Role::Admin)],
            ),
        ];
        assert!(last_admin(&all, "alpha", "ada"));
        assert!(!last_admin(&all, "alpha", "alice"));
        let two = [
            user("ada", &[("alpha", Role::Admin)]),
            user("al", &[("alpha", Role::Admin)]),
        ];
        assert!(!last_admin(&two, "alpha", "ada"));
    }

    #[test]
    fn members_are_listed_by_name_with_their_role_in_the_tenant() {
        let all = [
            user("vera", &[("alpha", Role::Viewer)]),
            user("bob", &[("beta", Role::Developer)]),
            user("ada", &[("alpha", Role::Admin)]),
        ];
        let members = of_tenant(&all, "alpha");
        let names: Vec<(&str, wharf_api::auth::Role)> =
            members.iter().map(|m| (m.user.as_str(), m.role)).collect();
        assert_eq!(
            names,
            [
                ("ada", wharf_api::auth::Role::Admin),
                ("vera", wharf_api::auth::Role::Viewer)
            ]
        );
    }
}
