//! The auth server functions the pages call (their types come from `wharf_api::auth`); each body is one call
//! into `wharf_console::auth::endpoints`, which authorizes and does the work.

pub use wharf_api::auth::*;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Checks the password and sets the session cookie.
#[server(prefix = "/api", endpoint = "login", input = Json)]
pub async fn login(username: String, password: String) -> Result<Me, AppError> {
    wharf_console::auth::endpoints::login(expect_context(), username, password).await
}

/// Sets the signed-in user's own password; the current one is required.
#[server(prefix = "/api", endpoint = "change_password", input = Json)]
pub async fn change_password(current: String, new: String) -> Result<Me, AppError> {
    wharf_console::auth::endpoints::change_password(expect_context(), current, new).await
}

/// Clears the session cookie and ends the user's sessions. For someone who signed in through
/// an OpenID Connect provider that supports it, the answer is the provider's logout page, to
/// end their session there too.
#[server(prefix = "/api", endpoint = "logout", input = Json)]
pub async fn logout() -> Result<Option<String>, AppError> {
    wharf_console::auth::endpoints::logout(expect_context()).await
}

/// The identity providers the login page offers besides the password (needs no session).
#[server(prefix = "/api", endpoint = "sign_in_options", input = Json)]
pub async fn sign_in_options() -> Result<Vec<wharf_api::identity::SignInOption>, AppError> {
    wharf_console::auth::endpoints::sign_in_options(expect_context()).await
}

/// The signed-in user and the tenants they can open; `Unauthenticated` without a session.
#[server(prefix = "/api", endpoint = "whoami", input = Json)]
pub async fn whoami() -> Result<Me, AppError> {
    wharf_console::auth::endpoints::whoami(expect_context()).await
}

/// The signed-in user's API tokens, newest first.
#[server(prefix = "/api", endpoint = "api_tokens", input = Json)]
pub async fn api_tokens() -> Result<Vec<wharf_api::tokens::TokenInfo>, AppError> {
    wharf_console::auth::endpoints::api_tokens(expect_context()).await
}

/// Makes an API token; the answer is the only time the token is shown.
#[server(prefix = "/api", endpoint = "create_api_token", input = Json)]
pub async fn create_api_token(
    form: wharf_api::tokens::TokenForm,
) -> Result<wharf_api::tokens::NewToken, AppError> {
    wharf_console::auth::endpoints::create_api_token(expect_context(), form).await
}

/// Revokes one of the signed-in user's API tokens.
#[server(prefix = "/api", endpoint = "revoke_api_token", input = Json)]
pub async fn revoke_api_token(id: String) -> Result<(), AppError> {
    wharf_console::auth::endpoints::revoke_api_token(expect_context(), id).await
}
