//! The browser's sign-in session with the cloud: one cookie for the consent pages and
//! both admin centers, so an administrator who signed in once (to consent, or to the
//! Intune or Entra admin center) is not asked again for eight hours, as Entra's single
//! sign-on behaves. Only a digest of the token is stored.

use axum::http::HeaderMap;
use axum::http::HeaderValue;

use crate::Shared;
use crate::entra::directory::User;
use crate::error::Result;

/// The session cookie (`HttpOnly`, `Secure`, `SameSite=Lax`, path `/`).
pub(crate) const COOKIE: &str = "cloud_session";

/// How long a sign-in lasts, in ms.
const LIFETIME_MS: i64 = 8 * 3600 * 1000;

/// Starts a session for `user`; the answer is the `Set-Cookie` header to send.
pub(crate) async fn start(state: &Shared, user: &User) -> Result<HeaderValue> {
    let token = platform::secrets::random_token(32);
    let expires = state.clock.now_ms() + LIFETIME_MS;
    state.store.insert_console_session(&platform::secrets::digest_hex(&token), &user.id, expires).await?;
    let cookie = format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax");
    Ok(HeaderValue::from_str(&cookie).expect("a token is ASCII"))
}

/// The user this browser is signed in as: a session that has not expired, of an account
/// still enabled.
pub(crate) async fn user(state: &Shared, headers: &HeaderMap) -> Result<Option<User>> {
    let Some(token) = platform::http::cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let digest = platform::secrets::digest_hex(&token);
    let Some(user_id) = state.store.console_session_user(&digest, state.clock.now_ms()).await? else {
        return Ok(None);
    };
    Ok(state.store.user(&user_id).await?.filter(|u| u.account_enabled != 0))
}
