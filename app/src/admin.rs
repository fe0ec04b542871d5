//! The administration server functions (tenants and users for platform admins, members for
//! a tenant's admins); their types come from `wharf_api::admin`, their bodies are one call
//! each into `wharf_console::admin::endpoints`.

pub use wharf_api::admin::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use wharf_api::auth::Role;

#[server(prefix = "/api", endpoint = "tenants", input = Json)]
pub async fn tenants() -> Result<Vec<TenantSummary>, AppError> {
    wharf_console::admin::endpoints::tenants(expect_context()).await
}

#[server(prefix = "/api", endpoint = "tenant_overview", input = Json)]
pub async fn tenant_overview(tenant: String) -> Result<TenantSummary, AppError> {
    wharf_console::admin::endpoints::tenant_overview(expect_context(), tenant).await
}

#[server(prefix = "/api", endpoint = "create_tenant", input = Json)]
pub async fn create_tenant(form: TenantForm) -> Result<(), AppError> {
    wharf_console::admin::endpoints::create_tenant(expect_context(), form).await
}

#[server(prefix = "/api", endpoint = "update_tenant", input = Json)]
pub async fn update_tenant(form: TenantForm) -> Result<(), AppError> {
    wharf_console::admin::endpoints::update_tenant(expect_context(), form).await
}

#[server(prefix = "/api", endpoint = "tenant_deletion_plan", input = Json)]
pub async fn tenant_deletion_plan(tenant: String) -> Result<DeletionPlan, AppError> {
    wharf_console::admin::endpoints::tenant_deletion_plan(expect_context(), tenant).await
}

#[server(prefix = "/api", endpoint = "delete_tenant", input = Json)]
pub async fn delete_tenant(tenant: String, confirm: String) -> Result<DeletionPlan, AppError> {
    wharf_console::admin::endpoints::delete_tenant(expect_context(), tenant, confirm).await
}

#[server(prefix = "/api", endpoint = "users", input = Json)]
pub async fn users() -> Result<Vec<UserSummary>, AppError> {
    wharf_console::admin::endpoints::users(expect_context()).await
}

#[server(prefix = "/api", endpoint = "create_user", input = Json)]
pub async fn create_user(form: NewUserForm) -> Result<(), AppError> {
    wharf_console::admin::endpoints::create_user(expect_context(), form).await
}

#[server(prefix = "/api", endpoint = "reset_password", input = Json)]
pub async fn reset_password(user: String, password: String) -> Result<(), AppError> {
    wharf_console::admin::endpoints::reset_password(expect_context(), user, password).await
}

#[server(prefix = "/api", endpoint = "set_user_disabled", input = Json)]
pub async fn set_user_disabled(user: String, disabled: bool) -> Result<(), AppError> {
    wharf_console::admin::endpoints::set_user_disabled(expect_context(), user, disabled).await
}

#[server(prefix = "/api", endpoint = "set_platform_admin", input = Json)]
pub async fn set_platform_admin(user: String, platform_admin: bool) -> Result<(), AppError> {
    wharf_console::admin::endpoints::set_platform_admin(expect_context(), user, platform_admin)
        .await
}

#[server(prefix = "/api", endpoint = "delete_user", input = Json)]
pub async fn delete_user(user: String) -> Result<(), AppError> {
    wharf_console::admin::endpoints::delete_user(expect_context(), user).await
}

#[server(prefix = "/api", endpoint = "members", input = Json)]
pub async fn members(tenant: String) -> Result<Vec<Member>, AppError> {
    wharf_console::admin::endpoints::members(expect_context(), tenant).await
}

#[server(prefix = "/api", endpoint = "add_member", input = Json)]
pub async fn add_member(tenant: String, user: String, role: Role) -> Result<(), AppError> {
    wharf_console::admin::endpoints::add_member(expect_context(), tenant, user, role).await
}

#[server(prefix = "/api", endpoint = "set_member_role", input = Json)]
pub async fn set_member_role(tenant: String, user: String, role: Role) -> Result<(), AppError> {
    wharf_console::admin::endpoints::set_member_role(expect_context(), tenant, user, role).await
}

#[server(prefix = "/api", endpoint = "remove_member", input = Json)]
pub async fn remove_member(tenant: String, user: String) -> Result<(), AppError> {
    wharf_console::admin::endpoints::remove_member(expect_context(), tenant, user).await
}
