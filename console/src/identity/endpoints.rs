//! The bodies of the identity server functions (declared in `wharf_app::identity`): the
//! identity providers are a platform admin's; a tenant's group mappings are its admins'.

use super::{ldap, oidc, oidc_login, providers};
use crate::admin::endpoints::platform_admin;
use crate::auth::{crd_role, role_of};
use crate::call::Call;
use crds::{GroupRole, Tenant};
use kube::api::{Api, Patch, PatchParams};
use kube::ResourceExt;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::identity::*;
use wharf_api::text;

/// Every identity provider, with how many users signed in through it.
pub async fn identity_providers(call: Call) -> Result<Vec<ProviderSummary>, AppError> {
    platform_admin(&call, text!("list identity providers", "查看身份源"))?;
    let url = oidc_login::console_url(&call.state, &call.headers());
    Ok(providers::summaries(&call.state, &url))
}

fn exists(call: &Call, name: &str) -> bool {
    call.state
        .cache
        .providers
        .get(&kube::runtime::reflector::ObjectRef::new(name))
        .is_some()
}

/// Whether provider `name` exists (editing it: an empty secret keeps the stored one); an
/// error when it exists as the other kind (its users sign in one way only).
fn editing(call: &Call, name: &str, oidc: bool) -> Result<bool, AppError> {
    let found = call
        .state
        .cache
        .providers
        .get(&kube::runtime::reflector::ObjectRef::new(name.trim()));
    match found {
        Some(p) if p.spec.oidc.is_some() != oidc => Err(AppError::Conflict(text!(
            "an identity provider '{name}' of the other kind exists: choose another name",
            "已有另一种类型的身份源“{name}”:请换一个名称"
        ))),
        found => Ok(found.is_some()),
    }
}

/// Creates or changes an LDAP directory (an empty bind password keeps the stored one).
pub async fn save_ldap_provider(call: Call, form: LdapForm) -> Result<(), AppError> {
    platform_admin(&call, text!("change identity providers", "修改身份源"))?;
    let editing = editing(&call, &form.name, false)?;
    check_ldap(&form, editing).map_err(AppError::Invalid)?;
    providers::save(&call.state, &form).await
}

/// Creates or changes an OpenID Connect provider (an empty client secret keeps the stored one).
pub async fn save_oidc_provider(call: Call, form: OidcForm) -> Result<(), AppError> {
    platform_admin(&call, text!("change identity providers", "修改身份源"))?;
    let editing = editing(&call, &form.name, true)?;
    check_oidc(&form, editing).map_err(AppError::Invalid)?;
    providers::save_oidc(&call.state, &form).await
}

/// Tries an OpenID Connect provider's settings (saved or not): discovery, keys, and the
/// client's credentials at the token endpoint. Nothing is kept.
pub async fn try_oidc_provider(call: Call, form: OidcForm) -> Result<TrialReport, AppError> {
    platform_admin(&call, text!("test identity providers", "测试身份源"))?;
    let editing = editing(&call, &form.name, true)?;
    check_oidc(&form, editing).map_err(AppError::Invalid)?;
    let secret = if form.client_secret.is_empty() {
        let spec = providers::oidc_spec_of(&form);
        let spec = spec.oidc.as_ref().expect("oidc_spec_of makes an OIDC spec");
        providers::client_secret(&call.state, spec).await?
    } else {
        form.client_secret.clone()
    };
    Ok(oidc::trial(
        &call.state.oidc,
        form.issuer.trim(),
        form.client_id.trim(),
        &secret,
    )
    .await)
}

/// Deletes an identity provider: its users can no longer sign in.
pub async fn delete_identity_provider(call: Call, name: String) -> Result<(), AppError> {
    platform_admin(&call, text!("delete identity providers", "删除身份源"))?;
    providers::delete(&call.state, &name).await
}

/// Tries the form's settings (saved or not) step by step; with a user name, finds them and
/// their groups; with their password too, signs them in (nothing is kept).
pub async fn try_ldap_provider(call: Call, trial: LdapTrial) -> Result<TrialReport, AppError> {
    platform_admin(&call, text!("test identity providers", "测试身份源"))?;
    let editing = editing(&call, &trial.form.name, false)?;
    check_ldap(&trial.form, editing).map_err(AppError::Invalid)?;
    let spec = providers::spec_of(&trial.form);
    let ldap = spec.ldap.as_ref().expect("spec_of makes an LDAP spec");
    let bind = if trial.form.bind_password.is_empty() {
        providers::bind_password(&call.state, ldap).await?
    } else {
        trial.form.bind_password.clone()
    };
    Ok(ldap::trial(ldap, &bind, &trial.username, &trial.password).await)
}

/// The tenant's group mappings, who has a role through them, and the providers to name.
pub async fn group_roles(call: Call, tenant: String) -> Result<TenantGroups, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Admin)?;
    let t = state
        .cache
        .tenant(scope.tenant())
        .ok_or_else(|| AppError::NotFound(text!("tenant '{tenant}'", "租户“{tenant}”")))?;
    let rows = t
        .spec
        .group_roles
        .iter()
        .map(|r| GroupRoleRow {
            provider: r.provider.clone(),
            group: r.group.clone(),
            role: role_of(r.role),
        })
        .collect();
    let mut mapped: Vec<MappedMember> = state
        .cache
        .users
        .state()
        .iter()
        .filter_map(|u| {
            let (role, through) = super::mapped(u, &t)?;
            Some(MappedMember {
                user: u.name_any(),
                display_name: u.spec.display_name.clone(),
                role: role_of(role),
                through,
            })
        })
        .collect();
    mapped.sort_by(|a, b| a.user.cmp(&b.user));
    let providers = providers::names(&state);
    Ok(TenantGroups {
        rows,
        mapped,
        providers,
    })
}

/// Replaces the tenant's group mappings; members' roles follow at once.
pub async fn set_group_roles(
    call: Call,
    tenant: String,
    rows: Vec<GroupRoleRow>,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Admin)?;
    check_group_roles(&rows).map_err(AppError::Invalid)?;
    for row in &rows {
        if !exists(&call, &row.provider) {
            let p = &row.provider;
            return Err(AppError::Invalid(text!(
                "there is no identity provider '{p}'",
                "没有身份源“{p}”"
            )));
        }
    }
    let stored: Vec<GroupRole> = rows
        .iter()
        .map(|r| GroupRole {
            provider: r.provider.clone(),
            group: r.group.trim().to_string(),
            role: crd_role(r.role),
        })
        .collect();
    let patch = serde_json::json!({"spec": {"groupRoles": stored}});
    Api::<Tenant>::all(state.client.clone())
        .patch(
            scope.tenant(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    state
        .cache
        .wait_for_tenant(scope.tenant(), |t| {
            t.is_some_and(|t| t.spec.group_roles == stored)
        })
        .await;
    Ok(())
}
