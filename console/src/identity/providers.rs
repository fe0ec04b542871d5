//! The `IdentityProvider` resources and their Secrets (an LDAP bind password, an OpenID
//! Connect client secret): read at login from the cache (the provider) and the API server
//! (its Secret, read when needed, never cached), and written by the identity page.

use crate::state::AppState;
use crds::{IdentityProvider, IdentityProviderSpec, LdapSpec, OidcSpec, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::ResourceExt;
use std::sync::Arc;
use wharf_api::error::AppError;
use wharf_api::identity::{LdapForm, OidcForm, ProviderSummary, SignInOption};
use wharf_api::text;

/// The key of the bind Secret that holds the password.
const PASSWORD_KEY: &str = "password";
/// The key of an OpenID Connect provider's Secret that holds the client secret.
const CLIENT_SECRET_KEY: &str = "clientSecret";

/// The Secret holding provider `name`'s bind password or client secret.
pub fn bind_secret(name: &str) -> String {
    format!("wharf-idp-{name}")
}

/// Does provider `p` sign people in now?
fn signs_in(p: &IdentityProvider) -> bool {
    !p.spec.disabled && (p.spec.ldap.is_some() || p.spec.oidc.is_some())
}

fn enabled_where(
    state: &AppState,
    kind: impl Fn(&IdentityProvider) -> bool,
) -> Vec<Arc<IdentityProvider>> {
    let mut all: Vec<_> = state
        .cache
        .providers
        .state()
        .into_iter()
        .filter(|p| signs_in(p) && kind(p))
        .collect();
    all.sort_by_key(|p| p.name_any());
    all
}

/// The directories people may sign in with now (enabled, LDAP), by name.
pub fn directories(state: &AppState) -> Vec<Arc<IdentityProvider>> {
    enabled_where(state, |p| p.spec.ldap.is_some())
}

/// The OpenID Connect providers the login page offers now, by name.
pub fn sign_in_options(state: &AppState) -> Vec<SignInOption> {
    enabled_where(state, |p| p.spec.oidc.is_some())
        .iter()
        .map(|p| SignInOption {
            name: p.name_any(),
            display_name: p.spec.display_name.clone(),
        })
        .collect()
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

/// Key `key` of Secret `name` in `wharf-system`, as text.
async fn secret_value(state: &AppState, name: &str, key: &str) -> Result<String, AppError> {
    let secret = Api::<Secret>::namespaced(state.client.clone(), SYSTEM_NAMESPACE)
        .get_opt(name)
        .await?;
    secret
        .and_then(|s| s.data)
        .and_then(|d| d.get(key).cloned())
        .and_then(|b| String::from_utf8(b.0).ok())
        .ok_or_else(|| {
            AppError::Unavailable(text!(
                "the identity provider's secret is missing (Secret {name} in wharf-system, key {key})",
                "身份源的密钥缺失(wharf-system 中的 Secret {name},键 {key})"
            ))
        })
}

/// The bind password of `spec`.
pub async fn bind_password(state: &AppState, spec: &LdapSpec) -> Result<String, AppError> {
    secret_value(state, &spec.bind_secret, PASSWORD_KEY).await
}

/// The client secret of `spec`.
pub async fn client_secret(state: &AppState, spec: &OidcSpec) -> Result<String, AppError> {
    secret_value(state, &spec.client_secret, CLIENT_SECRET_KEY).await
}

/// The OpenID Connect provider `name`, if it exists and signs people in.
pub fn enabled_oidc(state: &AppState, name: &str) -> Option<(Arc<IdentityProvider>, OidcSpec)> {
    let p = enabled(state, name)?;
    let spec = p.spec.oidc.clone()?;
    Some((p, spec))
}

/// The form's settings as a resource spec (the secret goes to the Secret).
pub fn oidc_spec_of(form: &OidcForm) -> IdentityProviderSpec {
    let t = |s: &str| s.trim().to_string();
    IdentityProviderSpec {
        display_name: t(&form.display_name),
        disabled: form.disabled,
        ldap: None,
        oidc: Some(OidcSpec {
            issuer: t(&form.issuer),
            client_id: t(&form.client_id),
            client_secret: bind_secret(&form.name),
            scopes: t(&form.scopes),
            username_claim: t(&form.username_claim),
            groups_claim: t(&form.groups_claim),
        }),
    }
}

/// The form showing an OpenID Connect provider as it is (no secret).
pub fn oidc_form_of(p: &IdentityProvider) -> Option<OidcForm> {
    let o = p.spec.oidc.clone()?;
    Some(OidcForm {
        name: p.name_any(),
        display_name: p.spec.display_name.clone(),
        disabled: p.spec.disabled,
        issuer: o.issuer,
        client_id: o.client_id,
        client_secret: String::new(),
        scopes: o.scopes,
        username_claim: o.username_claim,
        groups_claim: o.groups_claim,
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

/// Every provider for the identity page; `console_url` makes OpenID Connect providers'
/// redirect URIs.
pub fn summaries(state: &AppState, console_url: &str) -> Vec<ProviderSummary> {
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
                url: match (&p.spec.ldap, &p.spec.oidc) {
                    (Some(l), _) => l.url.clone(),
                    (None, Some(o)) => o.issuer.clone(),
                    (None, None) => String::new(),
                },
                form: form_of(p),
                oidc: oidc_form_of(p),
                redirect_uri: p
                    .spec
                    .oidc
                    .as_ref()
                    .map(|_| wharf_api::routes::oidc_callback(console_url, &name)),
                name,
            }
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Creates or replaces the LDAP directory `form.name`, and its bind password when one is given.
pub async fn save(state: &AppState, form: &LdapForm) -> Result<(), AppError> {
    let secret = (!form.bind_password.is_empty()).then_some((PASSWORD_KEY, &form.bind_password));
    apply(state, form.name.trim(), spec_of(form), secret).await
}

/// Creates or replaces the OpenID Connect provider `form.name`, and its client secret when one
/// is given.
pub async fn save_oidc(state: &AppState, form: &OidcForm) -> Result<(), AppError> {
    let secret =
        (!form.client_secret.is_empty()).then_some((CLIENT_SECRET_KEY, &form.client_secret));
    apply(state, form.name.trim(), oidc_spec_of(form), secret).await
}

/// Writes provider `name` as `spec` (server-side apply: the whole spec is Wharf's), and its
/// Secret's `key` first when given.
async fn apply(
    state: &AppState,
    name: &str,
    spec: IdentityProviderSpec,
    secret: Option<(&str, &String)>,
) -> Result<(), AppError> {
    if let Some((key, value)) = secret {
        let secret =
            crate::admin::users::system_secret(&bind_secret(name), key, value.clone().into_bytes());
        Api::<Secret>::namespaced(state.client.clone(), SYSTEM_NAMESPACE)
            .patch(
                &bind_secret(name),
                &PatchParams::apply("wharf").force(),
                &Patch::Apply(&secret),
            )
            .await?;
    }
    let mut provider = IdentityProvider::new(name, spec.clone());
    provider.metadata.managed_fields = None;
    Api::<IdentityProvider>::all(state.client.clone())
        .patch(
            name,
            &PatchParams::apply("wharf").force(),
            &Patch::Apply(&provider),
        )
        .await?;
    state
        .cache
        .wait_for_provider(name, |p| p.is_some_and(|p| p.spec == spec))
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
