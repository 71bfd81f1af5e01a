//! Admin consent, as the identity platform runs it: the `adminconsent` link, the sign-in
//! (skipped when the browser already holds a sign-in session of a Global Administrator
//! of the tenant, as Entra's single sign-on does), the permissions page, and the answer
//! sent back to the application's redirect URI.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use platform::html::{html, page};

use super::login::tenant;
use super::session;
use super::{Path, Query, form};
use crate::Shared;
use crate::entra::consent;
use crate::entra::directory::{Application, User};
use crate::entra::sign_in::{self, Credentials, MULTI_TENANT_SEGMENTS};
use crate::error::{CloudError, Result};
use crate::http::Bytes;
use crate::store::ConsentRequest;

#[derive(serde::Deserialize)]
pub struct ConsentQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

/// How long an admin has between opening the consent link and deciding.
const CONSENT_WINDOW_MS: i64 = 15 * 60 * 1000;

pub async fn admin_consent(
    State(state): State<Shared>,
    Path(segment): Path<String>,
    Query(q): Query<ConsentQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    let page_error = |code: u32, msg: String| CloudError::Page(format!("AADSTS{code}: {msg}"));
    let client_id = q.client_id.ok_or_else(|| page_error(900144, "The request must contain the parameter 'client_id'.".into()))?;
    let redirect_uri = q.redirect_uri.ok_or_else(|| page_error(900144, "The request must contain the parameter 'redirect_uri'.".into()))?;
    if !MULTI_TENANT_SEGMENTS.contains(&segment.as_str()) && state.store.tenant(&segment).await?.is_none() {
        return Err(page_error(90002, format!("Tenant '{segment}' not found.")));
    }
    let app = state
        .store
        .application(&client_id)
        .await?
        .ok_or_else(|| page_error(700016, format!("Application with identifier '{client_id}' was not found.")))?;
    if !consent::admin_consent_redirect_allowed(&app, &redirect_uri) {
        return Err(page_error(
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
            ),
        ));
    }
    let request = ConsentRequest {
        id: platform::secrets::random_token(24),
        tenant_hint: segment,
        client_id,
        redirect_uri,
        state: q.state,
        user_id: None,
        expires_ms: state.clock.now_ms() + CONSENT_WINDOW_MS,
    };
    state.store.insert_consent_request(&request).await?;
    // Single sign-on: a Global Administrator already signed in goes straight to the
    // permissions; anyone else signs in.
    if let Some(user) = session::user(&state, &headers).await?
        && sign_in::in_tenant(&state.store, &user, &request.tenant_hint).await?
        && consent::may_grant_for_organization(&user)
    {
        state.store.set_consent_user(&request.id, &user.id).await?;
        return permissions_page(&state, &request.id, &app, &user).await;
    }
    Ok(Html(sign_in_page(&format!("/consent/{}/signin", request.id), &app.display_name, None)).into_response())
}

/// The identity platform's sign-in page; `action` receives `login` and `passwd`.
pub(crate) fn sign_in_page(action: &str, app_name: &str, error: Option<&str>) -> String {
    page(
        "Sign in to your account",
        html! {
            h1 { "Sign in" }
            p { "to continue to " b { (app_name) } }
            @if let Some(e) = error { p class="bad" id="error" { (e) } }
            form method="post" action=(action) {
                label { "Email, phone, or Skype " input name="login" type="email" required; } br;
                label { "Password " input name="passwd" type="password" required; } br;
                button type="submit" { "Sign in" }
            }
        },
    )
}

fn permission_label(value: &str) -> &str {
    match value {
        "User.Read" => "Sign in and read user profile",
        "Directory.Read.All" => "Read directory data",
        "update_device_attributes" => "Send device attributes to Microsoft Intune",
        other => other,
    }
}

pub(crate) fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

async fn open_request(state: &Shared, id: &str) -> Result<(ConsentRequest, Application)> {
    let request = state.store.consent_request(id, state.clock.now_ms()).await?.ok_or_else(|| {
        CloudError::Page("AADSTS50058: This sign-in request has expired or was already used. Start again from the application.".into())
    })?;
    let app = state
        .store
        .application(&request.client_id)
        .await?
        .ok_or_else(|| CloudError::Page("AADSTS700016: The application no longer exists.".into()))?;
    Ok((request, app))
}

fn refuse(request: &ConsentRequest, error: &str, description: &str) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    Redirect::to(&with_params(&request.redirect_uri, &params)).into_response()
}

pub async fn consent_sign_in(State(state): State<Shared>, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let (request, app) = open_request(&state, &id).await?;
    let f = form(&body);
    let (login, password) = (f.get("login").cloned().unwrap_or_default(), f.get("passwd").cloned().unwrap_or_default());
    let user = match sign_in::check_credentials(&state.store, &login, &password, &request.tenant_hint).await? {
        Credentials::Valid(u) => u,
        Credentials::Wrong => {
            let page = sign_in_page(&format!("/consent/{id}/signin"), &app.display_name, Some("Your account or password is incorrect."));
            return Ok(Html(page).into_response());
        }
        Credentials::Disabled => return Err(CloudError::Page("AADSTS50057: The user account is disabled.".into())),
        Credentials::OtherTenant(_) => {
            return Err(CloudError::Page(format!(
                "AADSTS50020: User account '{login}' does not exist in tenant '{}'.",
                request.tenant_hint
            )));
        }
    };
    if !consent::may_grant_for_organization(&user) {
        state.store.take_consent_request(&id).await?;
        return Ok(refuse(
            &request,
            "access_denied",
            "AADSTS90094: The grant requires admin permission. Only a Global Administrator of the tenant can grant consent for the organization.",
        ));
    }
    state.store.set_consent_user(&id, &user.id).await?;
    let cookie = session::start(&state, &user).await?;
    let mut response = permissions_page(&state, &id, &app, &user).await?;
    response.headers_mut().append(axum::http::header::SET_COOKIE, cookie);
    Ok(response)
}

/// What the app asks for, for the signed-in administrator to accept or cancel.
async fn permissions_page(state: &Shared, id: &str, app: &Application, user: &User) -> Result<Response> {
    let tenant = tenant(state, &user.tenant_id).await?;
    Ok(Html(page(
        "Permissions requested",
        html! {
            h1 { "Permissions requested" }
            p { b { (app.display_name) } " wants permission for " b { (tenant.display_name) } " (signed in as " (user.upn) "):" }
            ul id="permissions" {
                @for p in &app.required_permissions { li { (permission_label(&p.value)) " " small { "(" (p.value) ", " (p.kind) ")" } } }
            }
            p { "Accepting grants these permissions for every user of the organization." }
            form method="post" action={ "/consent/" (id) "/decide" } {
                div class="actions" { button name="decision" value="accept" { "Accept" } button class="secondary" name="decision" value="cancel" { "Cancel" } }
            }
        },
    ))
    .into_response())
}

pub async fn consent_decide(State(state): State<Shared>, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let (request, app) = open_request(&state, &id).await?;
    let Some(user_id) = request.user_id.clone() else {
        return Err(CloudError::Page("AADSTS50058: Sign in before deciding on consent.".into()));
    };
    // Single use: whoever removes the request decides; a replay finds nothing.
    if !state.store.take_consent_request(&id).await? {
        return Err(CloudError::Page("AADSTS50058: This consent request was already used.".into()));
    }
    if form(&body).get("decision").map(String::as_str) != Some("accept") {
        // The admin-consent endpoint's own answer to Cancel (Microsoft Learn, "Grant
        // tenant-wide admin consent": `error=permission_denied`).
        return Ok(refuse(&request, "permission_denied", "The admin canceled the request"));
    }
    let user = state.store.user(&user_id).await?.ok_or_else(|| CloudError::Page("The user no longer exists.".into()))?;
    consent::grant_admin_consent(&state.store, &user.tenant_id, &app, state.clock.now_ms()).await?;
    let mut params = vec![("admin_consent", "True"), ("tenant", user.tenant_id.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    Ok(Redirect::to(&with_params(&request.redirect_uri, &params)).into_response())
}
