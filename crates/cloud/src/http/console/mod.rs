//! The admin consoles: the Intune admin center and the Entra admin center, server-rendered,
//! behind a sign-in. Pages follow the administrator's guide's navigation.

use super::Query;
use crate::http::Bytes;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use platform::html::{Markup, html, page};

mod entra;
mod intune;
mod intune_compliance;

pub use intune::PARTNER_PAGE;

use super::{cookie, form};
use crate::Shared;
use crate::entra::directory::User;
use crate::error::{CloudError, Result};

const SESSION_COOKIE: &str = "cloud_console";

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_form).post(login))
        .merge(intune::router())
        .merge(intune::compliance_router())
        .merge(entra::router())
        .merge(intune_compliance::router())
}

/// The admin centers' navigation.
fn nav() -> Markup {
    let links = [
        ("/console", "Home"),
        ("/console/entra/enterprise-applications", "Entra › Enterprise applications"),
        ("/console/entra/app-registrations", "App registrations"),
        ("/console/entra/users", "Users and groups"),
        ("/console/entra/devices", "Devices"),
        ("/console/entra/conditional-access", "Conditional Access"),
        ("/console/entra/sign-in-logs", "Sign-in logs"),
        (PARTNER_PAGE, "Intune › Tenant administration › Connectors and tokens › Partner device management"),
        (intune::COMPLIANCE_PARTNERS, "Partner compliance management"),
        (intune_compliance::POLICIES, "Compliance policies"),
        (intune_compliance::DASHBOARD, "Compliance"),
        (intune_compliance::SETTINGS, "Compliance policy settings"),
    ];
    html! { nav { @for (href, label) in links { a href=(href) { (label) } } } }
}

/// A console page: the navigation, then `content`.
fn render(title: &str, content: Markup) -> Result<Response> {
    Ok(Html(page(title, html! { (nav()) (content) })).into_response())
}

/// A Global Administrator signed in to the consoles. Rejection: a redirect to the
/// sign-in page that comes back here (a page's own address; for a form's POST, the page
/// the form was on, from `Referer`), or 403 for a user who is not an administrator.
pub(crate) struct ConsoleAdmin(pub User);

impl FromRequestParts<Shared> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let to_login = || {
            let here = return_address(parts);
            Redirect::to(&format!("/console/login?next={}", url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()))
                .into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let digest = platform::secrets::digest_hex(&token);
        let internal = |e: CloudError| e.into_response();
        let Some(user_id) = state.store.console_session_user(&digest, state.clock.now_ms()).await.map_err(internal)? else {
            return Err(to_login());
        };
        match state.store.user(&user_id).await.map_err(internal)? {
            Some(u) if u.global_admin != 0 && u.account_enabled != 0 => Ok(ConsoleAdmin(u)),
            Some(_) => Err((
                StatusCode::FORBIDDEN,
                Html(page(
                    "Access denied",
                    html! { h1 { "Access denied" } p { "Only administrators of the tenant may use the admin centers." } },
                )),
            )
                .into_response()),
            None => Err(to_login()),
        }
    }
}

/// Where the sign-in returns to: this page for a GET; for a form's POST, the console page
/// the form was on (`Referer`), else the console's home.
fn return_address(parts: &Parts) -> String {
    if parts.method == axum::http::Method::GET {
        return parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/console".into());
    }
    parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
        .filter(|p| p.starts_with("/console"))
        .unwrap_or_else(|| "/console".into())
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

fn safe_next(next: Option<String>) -> String {
    // Only local paths: the sign-in must never redirect elsewhere (browsers read `/\host`
    // as `//host`, so no backslash either).
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).unwrap_or_else(|| "/console".into())
}

async fn login_form(Query(q): Query<Next>) -> Html<String> {
    Html(login_page(&safe_next(q.next), None))
}

fn login_page(next: &str, error: Option<&str>) -> String {
    page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { p class="bad" { (e) } }
            form method="post" action="/console/login" {
                input type="hidden" name="next" value=(next);
                label { "Email " input name="username" type="email" required; } br;
                label { "Password " input name="password" type="password" required; } br;
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn login(State(state): State<Shared>, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let next = safe_next(f.get("next").cloned());
    let (username, password) = (f.get("username").cloned().unwrap_or_default(), f.get("password").cloned().unwrap_or_default());
    let user = match state.store.user_by_upn(&username).await? {
        Some(u) if u.account_enabled != 0 && platform::secrets::verify_password(&password, &u.password_hash) => u,
        _ => {
            return Ok(Html(login_page(&next, Some("Your account or password is incorrect."))).into_response());
        }
    };
    let token = platform::secrets::random_token(32);
    let expires = state.clock.now_ms() + 8 * 3600 * 1000;
    state.store.insert_console_session(&platform::secrets::digest_hex(&token), &user.id, expires).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

async fn home(ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    render("Admin centers", html! { h1 { "Admin centers" } p { "Signed in as " (user.upn) } })
}
