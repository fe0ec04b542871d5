//! The bodies of the auth server functions (declared in `wharf_app::auth`): login, logout,
//! and who the caller is.

use crate::call::Call;
use wharf_api::auth::*;
use wharf_api::error::AppError;

/// Checks the password and sets the session cookie.
pub async fn login(call: Call, username: String, password: String) -> Result<Me, AppError> {
    super::login(&call, username, password).await
}

/// Clears the session cookie.
pub async fn logout(call: Call) -> Result<(), AppError> {
    super::logout(&call)
}

/// The signed-in user and the tenants they can open; `Unauthenticated` without a session.
pub async fn whoami(call: Call) -> Result<Me, AppError> {
    let principal = call.principal()?;
    Ok(super::me_of(&call.state, &principal))
}
