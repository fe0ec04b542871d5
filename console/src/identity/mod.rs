//! Company directories people sign in with, and the directory groups tenants map to roles.
//!
//! * `ldap`      — the LDAP client: bind, find a user, read their groups (OpenLDAP, Active
//!   Directory); a login through a directory and the settings trial of the identity page
//! * `providers` — the `IdentityProvider` resources and their bind Secrets
//! * `sync`      — re-reads directory users' groups on a timer, so memberships follow the
//!   directory within a bounded time for sessions already open
//! * `endpoints` — the identity page's and the group mappings' server functions
//!
//! A directory user is a Wharf `User` with `spec.provider` set, made at their first login and
//! holding no password; `status.groups` is what the directory said last. Their tenant roles
//! are the memberships added by hand plus what the tenants' `groupRoles` give those groups
//! ([`memberships`]), computed on every request from the caches, so a change of either takes
//! effect at once.

use crds::{Role, Tenant, User};
use std::sync::Arc;

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
