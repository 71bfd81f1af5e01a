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
use platform::html::{Frame, Layout, Markup, NavLink, badge, console, html, page};

mod entra;
mod entra_what_if;
mod intune;
mod intune_compliance;

pub use intune::PARTNER_PAGE;

use super::{form, session};
use crate::Shared;
use crate::entra::directory::User;
use crate::error::{CloudError, Result};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/console", get(home))
        .route(INTUNE_HOME, get(home))
        .route(ENTRA_HOME, get(home))
        .route("/console/login", get(login_form).post(login))
        .merge(intune::router())
        .merge(intune::compliance_router())
        .merge(entra::router())
        .merge(intune_compliance::router())
        .route(entra_what_if::WHAT_IF, get(entra_what_if::what_if_page))
}

/// The Microsoft Entra admin center's left navigation.
fn entra_nav() -> Vec<NavLink> {
    vec![
        NavLink::new(ENTRA_HOME, "Overview"),
        NavLink::new("/console/entra/users", "Users and groups"),
        NavLink::new("/console/entra/devices", "Devices"),
        NavLink::new("/console/entra/enterprise-applications", "Enterprise applications"),
        NavLink::new("/console/entra/app-registrations", "App registrations"),
        NavLink::new("/console/entra/conditional-access", "Conditional Access"),
        NavLink::new("/console/entra/sign-in-logs", "Sign-in logs"),
    ]
}

/// The Microsoft Intune admin center's left navigation.
fn intune_nav() -> Vec<NavLink> {
    vec![
        NavLink::new(INTUNE_HOME, "Home"),
        NavLink::new(intune_compliance::DASHBOARD, "Device compliance"),
        NavLink::new(intune_compliance::POLICIES, "Compliance policies"),
        NavLink::new(intune_compliance::SETTINGS, "Compliance policy settings"),
        NavLink::new(PARTNER_PAGE, "Partner device management"),
        NavLink::new(intune::COMPLIANCE_PARTNERS, "Partner compliance management"),
    ]
}

const ENTRA_HOME: &str = "/console/entra";
const INTUNE_HOME: &str = "/console/intune";

/// Where the signed-in administrator is: the page's path (which admin center, which
/// navigation link), the account, and the message the form posted before left
/// ([`platform::flash`]).
pub(crate) struct Here {
    path: String,
    upn: String,
    flash: Option<platform::flash::Flash>,
}

/// A console page in its admin center's frame: the Entra admin center for
/// `/console/entra…`, the Intune admin center otherwise, each with its own left
/// navigation; the tenant's domain and the account at the top right; the breadcrumb
/// trail from the admin center's home to `title`.
fn render(here: &Here, title: &str, content: Markup) -> Result<Response> {
    let entra = here.path.starts_with(ENTRA_HOME);
    let (product, home, nav) = if entra {
        ("Microsoft Entra admin center", ENTRA_HOME, entra_nav())
    } else {
        ("Microsoft Intune admin center", INTUNE_HOME, intune_nav())
    };
    let mut crumbs = vec![("Home".to_string(), Some(home.to_string()))];
    if here.path != home && here.path != "/console" {
        crumbs.push((title.to_string(), None));
    }
    let tenant = here.upn.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let frame = Frame {
        product: product.into(),
        home: home.into(),
        who: format!("{} · {tenant}", here.upn),
        layout: Layout::SideNav(nav),
        current: here.path.clone(),
        crumbs,
    };
    let body = html! {
        @if let Some(f) = &here.flash { p id="message" class="message" role="status" { (f.message) } }
        (content)
    };
    Ok(platform::flash::cleared(Html(console(title, &frame, body)).into_response(), here.flash.as_ref()))
}

/// A Global Administrator signed in to the consoles. Rejection: a redirect to the
/// sign-in page that comes back here (a page's own address; for a form's POST, the page
/// the form was on, from `Referer`), or 403 for a user who is not an administrator.
pub(crate) struct ConsoleAdmin(pub User, pub Here);

impl FromRequestParts<Shared> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let to_login = || {
            let here = return_address(parts);
            Redirect::to(&format!("/console/login?next={}", url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()))
                .into_response()
        };
        let internal = |e: CloudError| e.into_response();
        match session::user(state, &parts.headers).await.map_err(internal)? {
            Some(u) if u.global_admin != 0 => {
                let path = parts.uri.path().to_string();
                let here = Here { flash: platform::flash::take(&parts.headers, &path), path, upn: u.upn.clone() };
                Ok(ConsoleAdmin(u, here))
            }
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_sign_in_returns_only_to_a_console_page() {
        assert_eq!(super::safe_next(Some("/console/entra/devices?q=a".into())), "/console/entra/devices?q=a");
        for bad in
            ["//evil.example", "/\\evil.example", "/\t/evil.example", "/console/\n/x", "https://evil.example", "/other", "/console//x"]
        {
            assert_eq!(super::safe_next(Some(bad.into())), "/console", "{bad:?}");
        }
    }
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

fn safe_next(next: Option<String>) -> String {
    // Only the consoles' own pages: the sign-in must never send the browser elsewhere
    // (browsers read `/\host` as `//host` and drop tabs and newlines from an address, so
    // none of those either).
    next.filter(|n| {
        (n == "/console" || n.starts_with("/console/"))
            && !n.contains("//")
            && !n.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    })
    .unwrap_or_else(|| "/console".into())
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
    let cookie = session::start(&state, &user).await?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

/// The admin centers' home: what to do next, with links into both.
async fn home(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    let partner = state.store.partner(&user.tenant_id).await?;
    let policies = state.store.ca_policies(&user.tenant_id).await?;
    let connected = partner.as_ref().is_some_and(crate::intune::partner::connected);
    let compliance_policies = state.store.policies(&user.tenant_id).await?.len();
    render(
        &here,
        "Home",
        html! {
            h1 { "Admin centers" }
            div class="cards" {
                div class="card" {
                    h2 { "Microsoft Intune admin center" }
                    p { "Partner device management: "
                        (badge(partner.as_ref().map(|p| crate::intune::partner::display(p.partner_state)).unwrap_or("Not set up"), Some("partner-status"))) }
                    @if !connected { p { "Next: connect your device-management server, then paste its Application ID into " a href=(PARTNER_PAGE) { "Partner device management" } "." } }
                    p { (compliance_policies) " compliance policies · " a href=(intune_compliance::DASHBOARD) { "Device compliance" } }
                }
                div class="card" {
                    h2 { "Microsoft Entra admin center" }
                    p { (policies.len()) " Conditional Access policies · " a href="/console/entra/conditional-access" { "Review them" } }
                    p { a href="/console/entra/sign-in-logs" { "Sign-in logs" } " · " a href="/console/entra/devices" { "Devices" } }
                }
            }
        },
    )
}
