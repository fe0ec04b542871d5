//! Directory users' groups re-read on a timer (every `Settings::directory_sync`, on the replica
//! holding the pipelines' Lease), so a change in the directory reaches sessions already open
//! within that time: new groups give roles, lost groups take them, and a user the directory
//! no longer has is disabled (every session ends).

use super::{ldap, providers};
use crate::leader::Leadership;
use crate::state::AppState;
use kube::ResourceExt;

/// What one pass changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Users whose name, e-mail or groups changed.
    pub updated: Vec<String>,
    /// Users the directory no longer has: groups emptied, the user disabled (which ends
    /// their sessions).
    pub gone: Vec<String>,
    /// Providers that did not answer (their users are left as they were).
    pub unavailable: Vec<String>,
}

/// One pass over every directory user of every enabled provider.
pub async fn once(state: &AppState) -> Pass {
    let mut pass = Pass::default();
    let users = state.cache.users.state();
    for p in providers::directories(state) {
        let (name, Some(spec)) = (p.name_any(), p.spec.ldap.as_ref()) else {
            continue;
        };
        let bind = match providers::bind_password(state, spec).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(provider = %name, error = %e, "directory sync skipped");
                pass.unavailable.push(name);
                continue;
            }
        };
        for user in users.iter().filter(|u| u.spec.provider == name) {
            let wharf = user.name_any();
            // NB: looked up by the name they sign in with (`John.Smith`), which their Wharf
            // name (`john-smith`) may not match; users made before it was kept: the Wharf name.
            let login = if user.spec.login.is_empty() {
                wharf.clone()
            } else {
                user.spec.login.clone()
            };
            match ldap::lookup(spec, &bind, &login).await {
                Ok(Some(found)) => {
                    let now = user.status.as_ref().map(|s| s.groups.clone());
                    let same = now.as_deref() == Some(found.groups.as_slice())
                        && user.spec.display_name == found.display_name
                        && user.spec.email == found.email;
                    if same {
                        continue;
                    }
                    match crate::admin::users::from_directory(
                        &state.client,
                        &wharf,
                        &name,
                        &login,
                        &found,
                    )
                    .await
                    {
                        Ok(()) => pass.updated.push(wharf),
                        Err(e) => tracing::warn!(user = %wharf, error = %e, "directory sync"),
                    }
                }
                Ok(None) if user.spec.disabled => {}
                Ok(None) => {
                    // NB: disabled, not deleted: the platform admins see who went, and enable
                    // them again if the directory brings them back.
                    let result = async {
                        crate::admin::users::set_groups(&state.client, &wharf, &[]).await?;
                        crate::admin::users::set_disabled(&state.client, &wharf, true).await
                    }
                    .await;
                    match result {
                        Ok(_) => pass.gone.push(wharf),
                        Err(e) => tracing::warn!(user = %wharf, error = %e, "directory sync"),
                    }
                }
                Err(ldap::Refusal::BadCredentials) => {}
                Err(ldap::Refusal::Unavailable(why)) => {
                    tracing::warn!(provider = %name, %why, "directory sync stopped for this provider");
                    pass.unavailable.push(name.clone());
                    break;
                }
            }
        }
    }
    pass.updated.sort();
    pass.gone.sort();
    pass
}

/// Runs [`once`] every `Settings::directory_sync` while this replica leads.
pub async fn run(state: AppState, leadership: Leadership) {
    let mut every = tokio::time::interval(state.settings.directory_sync);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if !leadership.is_leader() {
            continue;
        }
        let pass = once(&state).await;
        if pass != Pass::default() {
            tracing::info!(?pass, "directory users brought up to date");
        }
    }
}
