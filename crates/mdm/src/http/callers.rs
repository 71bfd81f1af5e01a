//! Who is calling, as typed extractors, so a handler names what it needs in its
//! signature instead of repeating a preamble: the instance its path names
//! ([`Instance`]), that instance's signed-in console admin ([`ConsoleAdmin`]), an admin
//! by HTTP Basic ([`BasicAdmin`], the read API for tools), a reader of inventory
//! ([`InventoryReader`]: an API client's token or Basic) and an enrolled Mac by its
//! computer credential ([`EnrolledMac`], the agent API).

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use platform::http::cookie;
use platform::problem::Refuse;

use super::Path;
use crate::Shared;
use crate::error::{MdmError, Result};
use crate::store::{AdminRow, ComputerRow, InstanceRow};

/// The console's session cookie (`HttpOnly`, `Secure`, `SameSite=Lax`).
pub(crate) const SESSION_COOKIE: &str = "mdm_session";

/// The instance named by the path's `{slug}`. Rejection: 404 when no instance has it.
pub(crate) struct Instance(pub InstanceRow);

impl FromRequestParts<Shared> for Instance {
    type Rejection = MdmError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let slug = params.get("slug").map(String::as_str).unwrap_or_default();
        let instance = state.store.instance_by_slug(slug).await?;
        Ok(Instance(instance.ok_or_else(|| MdmError::not_found(format!("No instance '{slug}' on this server.")))?))
    }
}

/// An admin signed in to the console of the path's instance. Rejection: a redirect to
/// that instance's sign-in page (no session, an expired one, or another instance's).
pub(crate) struct ConsoleAdmin {
    pub instance: InstanceRow,
    pub admin: AdminRow,
    /// The outcome of the form posted just before ([`platform::flash`]), shown once.
    pub flash: Option<platform::flash::Flash>,
}

impl FromRequestParts<Shared> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let Instance(instance) = Instance::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        // A GET comes back to its page after the sign-in; a form's POST to the dashboard.
        let here = parts.uri.path_and_query().map(|p| p.as_str()).filter(|_| parts.method == axum::http::Method::GET).unwrap_or("");
        let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        let login = Redirect::to(&format!("/i/{}/login?next={next}", instance.slug)).into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(login);
        };
        let session = state.store.session_admin(&platform::secrets::digest_hex(&token), state.clock.now_ms()).await;
        match session.map_err(IntoResponse::into_response)? {
            Some(admin) if admin.instance_id == instance.id => {
                Ok(ConsoleAdmin { instance, admin, flash: platform::flash::take(&parts.headers, parts.uri.path()) })
            }
            _ => Err(login),
        }
    }
}

/// An admin of the path's instance by HTTP Basic (the read API, for tools). Rejection:
/// 401 for missing or wrong credentials.
pub(crate) struct BasicAdmin {
    pub instance: InstanceRow,
    pub admin: AdminRow,
}

impl FromRequestParts<Shared> for BasicAdmin {
    type Rejection = MdmError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let Instance(instance) = Instance::from_request_parts(parts, state).await?;
        let admin = basic_admin(state, &instance, &parts.headers).await?;
        Ok(BasicAdmin { instance, admin })
    }
}

/// A reader of the path's instance's inventory: an API client's bearer token (Jamf Pro's
/// API roles and clients), or an admin's Basic credentials. Rejection: 401.
pub(crate) struct InventoryReader(pub InstanceRow);

impl FromRequestParts<Shared> for InventoryReader {
    type Rejection = MdmError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let Instance(instance) = Instance::from_request_parts(parts, state).await?;
        match bearer(&parts.headers) {
            Some(token) => {
                let digest = platform::secrets::digest_hex(token);
                if !state.store.api_token_valid(&digest, &instance.id, state.clock.now_ms()).await? {
                    return Err(MdmError::unauthorized("The access token is not valid or has expired."));
                }
            }
            None => {
                basic_admin(state, &instance, &parts.headers).await?;
            }
        }
        Ok(InventoryReader(instance))
    }
}

/// A Mac enrolled in the path's instance, by the computer credential its enrolment
/// issued (bearer). Rejection: 401.
pub(crate) struct EnrolledMac {
    pub instance: InstanceRow,
    pub computer: ComputerRow,
}

impl FromRequestParts<Shared> for EnrolledMac {
    type Rejection = MdmError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let Instance(instance) = Instance::from_request_parts(parts, state).await?;
        let computer = crate::agent::computer(state, &instance, bearer(&parts.headers)).await?;
        Ok(EnrolledMac { instance, computer })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

async fn basic_admin(state: &Shared, instance: &InstanceRow, headers: &HeaderMap) -> Result<AdminRow> {
    let unauthorized = || MdmError::unauthorized("Valid admin credentials (HTTP Basic) are required.");
    let encoded = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(unauthorized)?;
    let decoded = STANDARD.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(unauthorized)?;
    // NUL names no admin (and PostgreSQL cannot compare it): refused like a wrong password.
    let (user, password) = decoded.split_once(':').filter(|_| !decoded.contains('\0')).ok_or_else(unauthorized)?;
    match state.store.admin_by_username(&instance.id, user).await? {
        Some(a) if platform::secrets::verify_password(password, &a.password_hash) => Ok(a),
        _ => Err(unauthorized()),
    }
}
