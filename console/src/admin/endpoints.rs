//! The bodies of the administration server functions (declared in `wharf_app::admin`).
//! Tenants and users are a platform admin's; a tenant's members are its admins' (and a
//! platform admin's). Each body authorizes first, then does the work through the modules
//! beside this one, and waits until this replica's cache shows the change, so the next
//! request (a login, a page) sees it.

use super::{members, tenants, users};
use crate::auth::{crd_role, forbidden, Principal};
use crate::call::Call;
use crds::Tenant;
use kube::api::{Api, ListParams};
use kube::ResourceExt;
use wharf_api::admin::*;
use wharf_api::auth::Role;
use wharf_api::error::AppError;
use wharf_api::{text, Text};

/// The caller, if a platform admin.
/// `doing` is what was asked, in both languages ("list tenants").
pub(crate) fn platform_admin(call: &Call, doing: Text) -> Result<Principal, AppError> {
    let who = call.principal()?;
    if !who.platform_admin {
        return Err(forbidden(text!(
            "only a platform admin can {doing}",
            "只有平台管理员可以{doing}"
        )));
    }
    Ok(who)
}

/// Refuses a platform admin's change to their own account that would lock them out.
fn not_self(who: &Principal, user: &str, doing: Text) -> Result<(), AppError> {
    if who.name == user {
        return Err(AppError::Invalid(text!(
            "you cannot {doing} your own account; ask another platform admin",
            "不能{doing}自己的账号,请让其他平台管理员操作"
        )));
    }
    Ok(())
}

/// Every user, read once per answer (a list of tenants shows each one's members).
async fn all_users(call: &Call) -> Result<Vec<crds::User>, AppError> {
    Ok(Api::<crds::User>::all(call.state.client.clone())
        .list(&ListParams::default())
        .await?
        .items)
}

async fn summary(call: &Call, t: &Tenant, users: &[crds::User]) -> Result<TenantSummary, AppError> {
    let name = t.name_any();
    let members = members::of_tenant(users, &name);
    Ok(TenantSummary {
        form: tenants::form_of(t),
        admins: members
            .iter()
            .filter(|m| m.role == Role::Admin)
            .map(|m| m.user.clone())
            .collect(),
        members: members.len(),
        usage: tenants::usage(&call.state.client, t).await?,
    })
}

/// Every tenant with its settings, members and quota use.
pub async fn tenants(call: Call) -> Result<Vec<TenantSummary>, AppError> {
    platform_admin(&call, text!("list tenants", "查看租户列表"))?;
    let mut all = Api::<Tenant>::all(call.state.client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    all.sort_by_key(|t| t.name_any());
    let users = all_users(&call).await?;
    let mut out = Vec::with_capacity(all.len());
    for t in &all {
        out.push(summary(&call, t, &users).await?);
    }
    Ok(out)
}

/// One tenant's settings and quota use, for anyone in it.
pub async fn tenant_overview(call: Call, tenant: String) -> Result<TenantSummary, AppError> {
    let (state, scope) = call.scope(&tenant, Role::Viewer)?;
    // NB: as this replica sees it (the cache), like every check made on the tenant's behalf
    let t = state
        .cache
        .tenant(scope.tenant())
        .ok_or_else(|| AppError::NotFound(text!("tenant '{tenant}'", "租户“{tenant}”")))?;
    summary(&call, &t, &all_users(&call).await?).await
}

pub async fn create_tenant(call: Call, form: TenantForm) -> Result<(), AppError> {
    platform_admin(&call, text!("create tenants", "创建租户"))?;
    tenants::create(&call.state.client, &form).await?;
    call.state
        .cache
        .wait_for_tenant(&form.name, |t| t.is_some())
        .await;
    Ok(())
}

pub async fn update_tenant(call: Call, form: TenantForm) -> Result<(), AppError> {
    platform_admin(&call, text!("change tenants", "修改租户"))?;
    let saved = tenants::update(&call.state.client, &form).await?;
    let version = saved.resource_version();
    call.state
        .cache
        .wait_for_tenant(&form.name, |t| {
            t.and_then(|t| t.resource_version()) == version
        })
        .await;
    Ok(())
}

pub async fn tenant_deletion_plan(call: Call, tenant: String) -> Result<DeletionPlan, AppError> {
    platform_admin(&call, text!("delete tenants", "删除租户"))?;
    Ok(tenants::deletion_plan(&call.state.client, &tenant).await?)
}

pub async fn delete_tenant(
    call: Call,
    tenant: String,
    confirm: String,
) -> Result<DeletionPlan, AppError> {
    platform_admin(&call, text!("delete tenants", "删除租户"))?;
    let plan = tenants::delete(&call.state.client, &tenant, &confirm).await?;
    call.state
        .cache
        .wait_for_tenant(&tenant, |t| t.is_none())
        .await;
    Ok(plan)
}

/// Every user, by name.
pub async fn users(call: Call) -> Result<Vec<UserSummary>, AppError> {
    platform_admin(&call, text!("list users", "查看用户列表"))?;
    let mut all: Vec<UserSummary> = all_users(&call).await?.iter().map(users::summary).collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// Creates a user with a one-time password (they choose their own at first login).
pub async fn create_user(call: Call, form: NewUserForm) -> Result<(), AppError> {
    platform_admin(&call, text!("create users", "创建用户"))?;
    let new = users::NewUser {
        name: form.name.trim().to_string(),
        display_name: form.display_name.trim().to_string(),
        password: form.password,
        platform_admin: form.platform_admin,
    };
    users::create(&call.state.client, &new).await?;
    call.state
        .cache
        .wait_for_user(&new.name, |u| {
            u.status.as_ref().is_some_and(|s| s.must_change_password)
        })
        .await;
    Ok(())
}

/// Gives a user a new one-time password; their sessions end.
pub async fn reset_password(call: Call, user: String, password: String) -> Result<(), AppError> {
    platform_admin(&call, text!("reset passwords", "重置密码"))?;
    users::set_password(&call.state.client, &user, &password).await?;
    call.state
        .cache
        .wait_for_user(&user, |u| {
            u.status.as_ref().is_some_and(|s| s.must_change_password)
        })
        .await;
    Ok(())
}

pub async fn set_user_disabled(call: Call, user: String, disabled: bool) -> Result<(), AppError> {
    let who = platform_admin(&call, text!("disable users", "禁用用户"))?;
    not_self(&who, &user, text!("disable", "禁用"))?;
    let ended = users::set_disabled(&call.state.client, &user, disabled).await?;
    call.state
        .cache
        .wait_for_user(&user, |u| {
            u.spec.disabled == disabled && sessions_ended(u, Some(ended))
        })
        .await;
    Ok(())
}

pub async fn set_platform_admin(
    call: Call,
    user: String,
    platform_admin: bool,
) -> Result<(), AppError> {
    let who = self::platform_admin(&call, text!("make platform admins", "设置平台管理员"))?;
    not_self(
        &who,
        &user,
        text!("change the platform-admin right of", "更改平台管理员权限:"),
    )?;
    let ended = users::set_platform_admin(&call.state.client, &user, platform_admin).await?;
    call.state
        .cache
        .wait_for_user(&user, |u| {
            u.spec.platform_admin == platform_admin && sessions_ended(u, Some(ended))
        })
        .await;
    Ok(())
}

pub async fn delete_user(call: Call, user: String) -> Result<(), AppError> {
    let who = platform_admin(&call, text!("delete users", "删除用户"))?;
    not_self(&who, &user, text!("delete", "删除"))?;
    users::delete(&call.state.client, &user).await?;
    Ok(())
}

/// The tenant's members, for its admins.
pub async fn members(call: Call, tenant: String) -> Result<Vec<Member>, AppError> {
    let (_, scope) = call.scope(&tenant, Role::Admin)?;
    Ok(members::of_tenant(&all_users(&call).await?, scope.tenant()))
}

/// Does the cached user show their sessions ended at `stamp` (or later)? Trivially so without
/// a stamp.
fn sessions_ended(user: &crds::User, stamp: Option<chrono::DateTime<chrono::Utc>>) -> bool {
    let valid_after = user.status.as_ref().and_then(|s| s.sessions_valid_after);
    stamp.is_none_or(|stamp| valid_after >= Some(stamp))
}

/// Waits until the cache shows `user`'s role in `tenant` as `role` and, when the change ended
/// their sessions at `ended`, that too: the two are separate writes, and a request between
/// them would meet a session still open with the membership already gone.
async fn settled(
    call: &Call,
    tenant: &str,
    user: &str,
    role: Option<Role>,
    ended: Option<chrono::DateTime<chrono::Utc>>,
) {
    let want = role.map(crd_role);
    call.state
        .cache
        .wait_for_user(user, |u| {
            let role = u
                .spec
                .memberships
                .iter()
                .find(|m| m.tenant == tenant)
                .map(|m| m.role);
            role == want && sessions_ended(u, ended)
        })
        .await;
}

pub async fn add_member(
    call: Call,
    tenant: String,
    user: String,
    role: Role,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Admin)?;
    members::add(&state.client, scope.tenant(), user.trim(), crd_role(role)).await?;
    settled(&call, scope.tenant(), user.trim(), Some(role), None).await;
    Ok(())
}

pub async fn set_member_role(
    call: Call,
    tenant: String,
    user: String,
    role: Role,
) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Admin)?;
    let ended = members::set_role(&state.client, scope.tenant(), &user, crd_role(role)).await?;
    settled(&call, scope.tenant(), &user, Some(role), ended).await;
    Ok(())
}

pub async fn remove_member(call: Call, tenant: String, user: String) -> Result<(), AppError> {
    let (state, scope) = call.scope(&tenant, Role::Admin)?;
    let ended = members::remove(&state.client, scope.tenant(), &user).await?;
    settled(&call, scope.tenant(), &user, None, ended).await;
    Ok(())
}
