//! The `IdentityProvider` resources and their bind Secrets: read at login from the cache (the
//! provider) and the API server (its Secret, read when needed, never cached), and written by
//! the identity page.

use crate::state::AppState;
use crds::{IdentityProvider, IdentityProviderSpec, LdapSpec, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::ResourceExt;
use std::sync::Arc;
use wharf_api::error::AppError;
use wharf_api::identity::{LdapForm, ProviderSummary};
use wharf_api::text;

/// The key of the bind Secret that holds the password.
const PASSWORD_KEY: &str = "password";

/// The Secret holding provider `name`'s bind password.
pub fn bind_secret(name: &str) -> String {
    format!("wharf-idp-{name}")
}

/// Does provider `p` sign people in now?
fn signs_in(p: &IdentityProvider) -> bool {
    !p.spec.disabled && p.spec.ldap.is_some()
}

/// The directories people may sign in with now (enabled, LDAP), by name.
pub fn directories(state: &AppState) -> Vec<Arc<IdentityProvider>> {
    let mut all: Vec<_> = state
        .cache
        .providers
        .state()
        .into_iter()
        .filter(|p| signs_in(p))
        .collect();
    all.sort_by_key(|p| p.name_any());
    all
}

/// Provider `name`, if it exists and signs people in (one cache lookup: this is asked on
/// every request of a directory user).
pub fn enabled(state: &AppState, name: &str) -> Option<Arc<IdentityProvider>> {
    state
        .cache
        .providers
        .get(&kube::runtime::reflector::ObjectRef::new(name))
        .filter(|p| signs_in(p))
}

/// Every provider's name, sorted (what a group mapping may name).
pub fn names(state: &AppState) -> Vec<String> {
    let mut all: Vec<String> = state
        .cache
        .providers
        .state()
        .iter()
        .map(|p| p.name_any())
        .collect();
    all.sort();
    all
}

/// The bind password of `spec`.
pub async fn bind_password(state: &AppState, spec: &LdapSpec) -> Result<String, AppError> {
    let secret = Api::<Secret>::namespaced(state.client.clone(), SYSTEM_NAMESPACE)
        .get_opt(&spec.bind_secret)
        .await?;
    secret
        .and_then(|s| s.data)
        .and_then(|d| d.get(PASSWORD_KEY).cloned())
        .and_then(|b| String::from_utf8(b.0).ok())
        .ok_or_else(|| {
            let name = &spec.bind_secret;
            AppError::Unavailable(text!(
                "the directory's bind password is missing (Secret {name} in wharf-system, key password)",
                "目录的绑定密码缺失(wharf-system 中的 Secret {name},键 password)"
            ))
        })
}

/// The form's settings as a resource spec (the password goes to the Secret).
pub fn spec_of(form: &LdapForm) -> IdentityProviderSpec {
    let t = |s: &str| s.trim().to_string();
    IdentityProviderSpec {
        display_name: t(&form.display_name),
        disabled: form.disabled,
        ldap: Some(LdapSpec {
            url: t(&form.url),
            start_tls: form.start_tls,
            ca_pem: t(&form.ca_pem),
            bind_dn: t(&form.bind_dn),
            bind_secret: bind_secret(&form.name),
            user_base: t(&form.user_base),
            user_filter: t(&form.user_filter),
            group_base: t(&form.group_base),
            group_filter: t(&form.group_filter),
            display_name_attribute: t(&form.display_name_attribute),
            email_attribute: t(&form.email_attribute),
            group_name_attribute: t(&form.group_name_attribute),
        }),
        oidc: None,
    }
}

/// The form showing a provider as it is (no password).
pub fn form_of(p: &IdentityProvider) -> LdapForm {
    let l = p.spec.ldap.clone().unwrap_or_default();
    LdapForm {
        name: p.name_any(),
        display_name: p.spec.display_name.clone(),
        disabled: p.spec.disabled,
        url: l.url,
        start_tls: l.start_tls,
        ca_pem: l.ca_pem,
        bind_dn: l.bind_dn,
        bind_password: String::new(),
        user_base: l.user_base,
        user_filter: l.user_filter,
        group_base: l.group_base,
        group_filter: l.group_filter,
        display_name_attribute: l.display_name_attribute,
        email_attribute: l.email_attribute,
        group_name_attribute: l.group_name_attribute,
    }
}

pub fn summaries(state: &AppState) -> Vec<ProviderSummary> {
    let users = state.cache.users.state();
    let mut all: Vec<ProviderSummary> = state
        .cache
        .providers
        .state()
        .iter()
        .map(|p| {
            let name = p.name_any();
            ProviderSummary {
                users: users.iter().filter(|u| u.spec.provider == name).count(),
                display_name: p.spec.display_name.clone(),
                disabled: p.spec.disabled,
                url: p
                    .spec
                    .ldap
                    .as_ref()
                    .map(|l| l.url.clone())
                    .unwrap_or_default(),
                form: form_of(p),
                name,
            }
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Creates or replaces provider `form.name`, and its bind password when one is given.
pub async fn save(state: &AppState, form: &LdapForm) -> Result<(), AppError> {
    let name = form.name.trim();
    if !form.bind_password.is_empty() {
        let secret = crate::admin::users::system_secret(
            &bind_secret(name),
            PASSWORD_KEY,
            form.bind_password.clone().into_bytes(),
        );
        Api::<Secret>::namespaced(state.client.clone(), SYSTEM_NAMESPACE)
            .patch(
                &bind_secret(name),
                &PatchParams::apply("wharf").force(),
                &Patch::Apply(&secret),
            )
            .await?;
    }
    let mut provider = IdentityProvider::new(name, spec_of(form));
    provider.metadata.managed_fields = None;
    Api::<IdentityProvider>::all(state.client.clone())
        .patch(
            name,
            &PatchParams::apply("wharf").force(),
            &Patch::Apply(&provider),
        )
        .await?;
    let want = spec_of(form);
    state
        .cache
        .wait_for_provider(name, |p| p.is_some_and(|p| p.spec == want))
        .await;
    Ok(())
}

/// Deletes provider `name` and its bind Secret; its users can no longer sign in (their
/// sessions end at their next request).
pub async fn delete(state: &AppState, name: &str) -> Result<(), AppError> {
    let found = Api::<IdentityProvider>::all(state.client.clone())
        .delete(name, &DeleteParams::default())
        .await;
    match found {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(AppError::NotFound(text!(
                "identity provider '{name}'",
                "身份源“{name}”"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    match Api::<Secret>::namespaced(state.client.clone(), SYSTEM_NAMESPACE)
        .delete(&bind_secret(name), &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    state.cache.wait_for_provider(name, |p| p.is_none()).await;
    Ok(())
}
