//! The bodies of the auth server functions (declared in `wharf_app::auth`): login, logout,
//! and who the caller is.

use crate::call::Call;
use wharf_api::auth::*;
use wharf_api::error::AppError;

/// Checks the password and sets the session cookie.
pub async fn login(call: Call, username: String, password: String) -> Result<Me, AppError> {
    super::login(&call, username, password).await
}

/// Clears the session cookie and ends the user's sessions; for an OpenID Connect user, the
/// provider's logout page to go to next.
pub async fn logout(call: Call) -> Result<Option<String>, AppError> {
    super::logout(&call).await
}

/// The identity providers the login page offers besides the password (no session needed: it
/// tells only their names, which the login page shows to anyone).
pub async fn sign_in_options(
    call: Call,
) -> Result<Vec<wharf_api::identity::SignInOption>, AppError> {
    Ok(crate::identity::providers::sign_in_options(&call.state))
}

/// The signed-in user sets their own password (the current one is required).
pub async fn change_password(call: Call, current: String, new: String) -> Result<Me, AppError> {
    super::change_password(&call, current, new).await
}

/// The signed-in user and the tenants they can open; `Unauthenticated` without a session.
pub async fn whoami(call: Call) -> Result<Me, AppError> {
    let principal = super::signed_in(&call.state, &call.headers())?;
    Ok(super::me_of(&call.state, &principal))
}

/// The signed-in user's API tokens (a session only: a token cannot list tokens).
pub async fn api_tokens(call: Call) -> Result<Vec<wharf_api::tokens::TokenInfo>, AppError> {
    let who = super::session_user(&call.state, &call.headers())?;
    Ok(super::tokens::list(&call.state, &who.name))
}

/// Makes an API token for the signed-in user; the answer is the only time it is shown.
pub async fn create_api_token(
    call: Call,
    form: wharf_api::tokens::TokenForm,
) -> Result<wharf_api::tokens::NewToken, AppError> {
    let who = super::session_user(&call.state, &call.headers())?;
    if who.must_change_password {
        return Err(AppError::PasswordChangeRequired);
    }
    super::tokens::create(&call.state, &who, form).await
}

/// Revokes one of the signed-in user's API tokens.
pub async fn revoke_api_token(call: Call, id: String) -> Result<(), AppError> {
    let who = super::session_user(&call.state, &call.headers())?;
    super::tokens::revoke(&call.state, &who.name, &id).await
}
