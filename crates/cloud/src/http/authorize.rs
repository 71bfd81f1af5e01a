//! Interactive sign-in (authorization code flow, with PKCE when the client uses it),
//! evaluated by Conditional Access; and the v1 `prompt=admin_consent` entry to consent.

use std::collections::HashMap;

use crate::http::Bytes;
use aws_lc_rs::digest;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::html::{html, page};

use super::admin_consent::{sign_in_page, with_params};
use super::{Path, Query, form};
use crate::Shared;
use crate::entra::conditional_access::Outcome;
use crate::entra::devices::DEVICE_CREDENTIAL_HEADER;
use crate::entra::sign_in::{Credentials, MULTI_TENANT_SEGMENTS};
use crate::entra::{consent, sign_in};
use crate::error::{CloudError, Result};
use crate::store::{AuthorizeRequest, CodeRow, SignInWrites, Written};

const USED_REQUEST: &str = "This sign-in request has expired or was already used. Start again from the application.";

const REQUEST_TTL_MS: i64 = 15 * 60 * 1000;
const CODE_TTL_MS: i64 = 10 * 60 * 1000;

fn page_error(code: u32, message: impl std::fmt::Display) -> CloudError {
    CloudError::Page(format!("AADSTS{code}: {message}"))
}

pub async fn authorize_v2(
    State(state): State<Shared>,
    Path(segment): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    authorize(state, segment, q).await
}

/// v1 form: `prompt=admin_consent` leads to the admin consent flow, anything else signs in.
pub async fn authorize_v1(
    State(state): State<Shared>,
    Path(segment): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    if q.get("prompt").map(String::as_str) == Some("admin_consent") {
        let mut params: Vec<(&str, &str)> = vec![];
        for key in ["client_id", "redirect_uri", "state"] {
            if let Some(v) = q.get(key) {
                params.push((key, v));
            }
        }
        return Ok(Redirect::to(&with_params(&format!("/{segment}/adminconsent"), &params)).into_response());
    }
    authorize(state, segment, q).await
}

async fn authorize(state: Shared, segment: String, q: HashMap<String, String>) -> Result<Response> {
    let client_id = q.get("client_id").ok_or_else(|| page_error(900144, "The request must contain the parameter 'client_id'."))?;
    let redirect_uri = q.get("redirect_uri").ok_or_else(|| page_error(900144, "The request must contain the parameter 'redirect_uri'."))?;
    if !MULTI_TENANT_SEGMENTS.contains(&segment.as_str()) && state.store.tenant(&segment).await?.is_none() {
        return Err(page_error(90002, format!("Tenant '{segment}' not found.")));
    }
    let app = state
        .store
        .application(client_id)
        .await?
        .ok_or_else(|| page_error(700016, format!("Application with identifier '{client_id}' was not found.")))?;
    if !consent::redirect_uri_registered(&app, redirect_uri) {
        return Err(page_error(
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
            ),
        ));
    }
    // From here on errors go back to the client, as the protocol says.
    let fail = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(s) = q.get("state") {
            params.push(("state", s));
        }
        Ok(Redirect::to(&with_params(redirect_uri, &params)).into_response())
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fail("unsupported_response_type", "AADSTS700054: response_type 'code' is the only one enabled for this application.");
    }
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method").map(String::as_str)) {
        (Some(c), Some("S256")) => Some(c.clone()),
        (Some(_), _) => return fail("invalid_request", "AADSTS501491: code_challenge_method must be S256."),
        (None, _) => None,
    };
    let request = AuthorizeRequest {
        id: platform::secrets::random_token(24),
        tenant_hint: segment,
        client_id: app.app_id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope: q.get("scope").cloned().unwrap_or_else(|| "openid profile".into()),
        state: q.get("state").cloned(),
        code_challenge: challenge,
        expires_ms: state.clock.now_ms() + REQUEST_TTL_MS,
    };
    state.store.insert_authorize_request(&request).await?;
    Ok(Html(sign_in_page(&format!("/authorize/{}/signin", request.id), &app.display_name, None)).into_response())
}

/// Sign-in: credentials, the device's proof (if any), Conditional Access, then a code or
/// the refusal page pointing at the partner's remediation or enrollment page. The answer
/// carries `Server-Timing` (W3C Server Timing): `decision` (the device's proof checked,
/// the user's groups and the policies read, the decision made: reads only) and `total`
/// (with the sign-in's writes, group-committed by [`crate::store::SignInJournal`]), in
/// milliseconds; the decision's time is also the histogram
/// `cloudconnector_sign_in_decision_seconds`.
pub async fn sign_in(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let started = std::time::Instant::now();
    let (mut resp, decision) = sign_in_steps(&state, &id, &headers, &body).await?;
    let mut timing = format!("total;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
    if let Some(seconds) = decision {
        state.metrics.decision_seconds.record(seconds);
        timing = format!("decision;dur={:.3}, {timing}", seconds * 1000.0);
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(&timing) {
        resp.headers_mut().insert("server-timing", v);
    }
    Ok(resp)
}

/// The steps of [`sign_in`]; with the decision's time in seconds when one was made.
async fn sign_in_steps(state: &Shared, id: &str, headers: &HeaderMap, body: &[u8]) -> Result<(Response, Option<f64>)> {
    let now = state.clock.now_ms();
    let request = state.store.authorize_request(id, now).await?.ok_or_else(|| page_error(50058, USED_REQUEST))?;
    let app = state.store.application(&request.client_id).await?.ok_or_else(|| page_error(700016, "The application no longer exists."))?;
    let f = form(body);
    let (login, password) = (f.get("login").cloned().unwrap_or_default(), f.get("passwd").cloned().unwrap_or_default());
    let user = match sign_in::check_credentials(&state.store, &login, &password, &request.tenant_hint).await? {
        Credentials::Valid(u) => u,
        Credentials::Wrong => {
            let page = sign_in_page(&format!("/authorize/{id}/signin"), &app.display_name, Some("Your account or password is incorrect."));
            return Ok((Html(page).into_response(), None));
        }
        Credentials::Disabled => return Err(page_error(50057, "The user account is disabled.")),
        Credentials::OtherTenant(_) => {
            return Err(page_error(50020, format!("User account '{login}' does not exist in tenant '{}'.", request.tenant_hint)));
        }
    };
    let proof = headers.get(DEVICE_CREDENTIAL_HEADER).and_then(|v| v.to_str().ok());
    let deciding = std::time::Instant::now();
    let decision = sign_in::decide(&state.store, &user, &app, proof, now).await?;
    let decided = Some(deciding.elapsed().as_secs_f64());
    state.metrics.decided(decision.outcome);
    // Written before the answer, with the other sign-ins of the moment (one commit).
    let mut writes = SignInWrites { request_used: id.to_string(), device: decision.device_id.clone(), log: decision.log, code: None };
    if decision.outcome != Outcome::Granted {
        write_once(state, writes).await?;
        let refusal = Html(page(
            "You can't get there from here",
            html! {
                h1 { "You can't get there from here" }
                p id="error-code" { "AADSTS" (decision.outcome.aadsts()) }
                p { (decision.outcome.message()) }
                @if let Some(n) = &decision.notice { p id="warning" { (n.sentence()) } }
                @if let Some(u) = &decision.partner_url { p { a id="partner-link" href=(u) { "Continue" } " to get your device ready." } }
                p { small { "User: " (user.upn) @if let Some(d) = &decision.device_id { " · Device: " (d) } } }
            },
        ));
        return Ok((refusal.into_response(), decided));
    }
    let code = platform::secrets::random_token(32);
    let row = CodeRow {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        user_id: user.id.clone(),
        scope: request.scope.clone(),
        device_id: decision.device_id.clone(),
        code_challenge: request.code_challenge.clone(),
        expires_ms: now + CODE_TTL_MS,
    };
    writes.code = Some((platform::secrets::digest_hex(&code), row));
    write_once(state, writes).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    let back_to_app = with_params(&request.redirect_uri, &params);
    // A warned device: the user is in, but first sees what to fix and by when.
    if let Some(notice) = &decision.notice {
        let warning = Html(page(
            "Your device needs attention",
            html! {
                h1 { "Your device needs attention" }
                p id="warning" { (notice.sentence()) }
                @if let Some(u) = &decision.partner_url { p { a id="partner-link" href=(u) class="button" { "Fix it now" } } }
                p { a id="continue" href=(back_to_app) { "Continue to " (app.display_name) } }
                p { small { "User: " (user.upn) @if let Some(d) = &decision.device_id { " · Device: " (d) } } }
            },
        ));
        // It carries the authorization code: never kept by a cache.
        let mut warning = warning.into_response();
        warning.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
        return Ok((warning, decided));
    }
    Ok((Redirect::to(&back_to_app).into_response(), decided))
}

/// Writes a sign-in (with the others of the moment); AADSTS50058 when its request was
/// used up meanwhile by another sign-in.
async fn write_once(state: &Shared, writes: SignInWrites) -> Result<()> {
    match state.sign_ins.write(writes).await? {
        Written::Committed => Ok(()),
        Written::RequestAlreadyUsed => Err(page_error(50058, USED_REQUEST)),
    }
}

/// Redeems an authorization code: the user and the scope it was issued for. Confidential
/// clients must also authenticate (checked by the caller); PKCE is verified here.
pub async fn redeem(state: &Shared, form: &HashMap<String, String>) -> Result<CodeRow> {
    let invalid = |d: &str| CloudError::login("invalid_grant", 70008, d.to_string());
    let code = form
        .get("code")
        .ok_or_else(|| CloudError::login("invalid_request", 900144, "The request body must contain the following parameter: 'code'."))?;
    let row = state
        .store
        .take_code(&platform::secrets::digest_hex(code))
        .await?
        .ok_or_else(|| invalid("The provided authorization code or refresh token has expired or was already redeemed."))?;
    if row.expires_ms <= state.clock.now_ms() {
        return Err(invalid("The provided authorization code has expired."));
    }
    if form.get("client_id") != Some(&row.client_id) || form.get("redirect_uri") != Some(&row.redirect_uri) {
        return Err(CloudError::login("invalid_grant", 50148, "The client or the redirect_uri differ from those the code was issued to."));
    }
    if let Some(challenge) = &row.code_challenge {
        let verifier =
            form.get("code_verifier").ok_or_else(|| CloudError::login("invalid_grant", 501481, "The code_verifier is missing."))?;
        let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        if &computed != challenge {
            return Err(CloudError::login(
                "invalid_grant",
                501481,
                "The code_verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    Ok(row)
}
