//! The mdm console, server-rendered from `maud` templates: sign-in, Settings › Global
//! Management › Conditional Access (`conditional_access`), Computers and their records
//! (`computers`), Change Management › Logs and API Roles and Clients.

mod computers;
mod conditional_access;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use platform::html::{Markup, html, page};

pub use computers::{computer, computers};
pub use conditional_access::{application_id_page, ca_confirm, ca_page, ca_save};

use super::Query;
use super::callers::{ConsoleAdmin, Instance, SESSION_COOKIE};
use crate::Shared;
use crate::error::Result;
use crate::http::Bytes;
use crate::store::InstanceRow;

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The instance's navigation, as Jamf Pro's top bar names its places.
fn nav(slug: &str) -> Markup {
    html! {
        nav {
            a href={ "/i/" (slug) } { "Dashboard" }
            a href={ "/i/" (slug) "/computers" } { "Computers" }
            a href={ "/i/" (slug) "/settings/global-management/conditional-access" } { "Settings › Global Management › Conditional Access" }
            a href={ "/i/" (slug) "/settings/system-settings/change-management/logs" } { "Settings › System Settings › Change Management › Logs" }
            a href={ "/i/" (slug) "/settings/system/api-roles-and-clients" } { "API Roles and Clients" }
        }
    }
}

/// A console page of the instance: its navigation, then `content`.
fn console_page(slug: &str, title: &str, content: Markup) -> Response {
    Html(page(title, html! { (nav(slug)) (content) })).into_response()
}

pub async fn server_home(State(state): State<Shared>) -> Result<Html<String>> {
    let instances = state.store.instances().await?;
    Ok(Html(page(
        "Instances",
        html! {
            h1 { "Instances on this server" }
            ul {
                @for i in &instances {
                    li { a href={ "/i/" (i.slug) } { (i.name) } " (version " (i.version) ")" }
                }
            }
        },
    )))
}

fn login_page(instance: &InstanceRow, error: Option<&str>) -> String {
    page(
        "Sign in",
        html! {
            h1 { (instance.name) }
            @if let Some(e) = error { p class="bad" { (e) } }
            form method="post" action={ "/i/" (instance.slug) "/login" } {
                label { "Username " input name="username" required; } br;
                label { "Password " input name="password" type="password" required; } br;
                button type="submit" { "Log in" }
            }
        },
    )
}

pub async fn login_form(Instance(instance): Instance) -> Result<Html<String>> {
    Ok(Html(login_page(&instance, None)))
}

pub async fn login(State(state): State<Shared>, Instance(instance): Instance, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let (username, password) = (f.get("username").cloned().unwrap_or_default(), f.get("password").cloned().unwrap_or_default());
    let admin = match state.store.admin_by_username(&instance.id, &username).await? {
        Some(a) if platform::secrets::verify_password(&password, &a.password_hash) => a,
        _ => {
            return Ok(Html(login_page(&instance, Some("Invalid username or password."))).into_response());
        }
    };
    let token = platform::secrets::random_token(32);
    state.store.insert_session(&platform::secrets::digest_hex(&token), &admin.id, state.clock.now_ms() + 8 * 3600 * 1000).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/i/{}; Secure; HttpOnly; SameSite=Lax", instance.slug);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&format!("/i/{}", instance.slug))).into_response())
}

pub async fn home(ConsoleAdmin { instance, admin }: ConsoleAdmin) -> Result<Response> {
    Ok(console_page(
        &instance.slug,
        &instance.name,
        html! {
            h1 { (instance.name) }
            p { "Signed in as " (admin.username) ". Version " (instance.version) "." }
            p { "Enrollment invitation: " code id="invitation" { (instance.invitation) } }
        },
    ))
}

#[derive(serde::Deserialize)]
pub struct LogFilter {
    object_type: Option<String>,
}

/// Settings › System Settings › Change Management › Logs.
pub async fn change_log(
    State(state): State<Shared>,
    Query(f): Query<LogFilter>,
    ConsoleAdmin { instance, admin: _ }: ConsoleAdmin,
) -> Result<Response> {
    let object_type = f.object_type.unwrap_or_default();
    let rows = state.store.change_log(&instance.id, &object_type).await?;
    Ok(console_page(
        &instance.slug,
        "Change Management Logs",
        html! {
            h1 { "Change Management › Logs" }
            form { label { "Object type " input name="object_type" value=(object_type); } " " button { "Search" } }
            table id="logs" {
                tr { th { "Date/Time" } th { "Username" } th { "Object Type" } th { "Object Name" } th { "Action" } th { "Details" } }
                @for r in &rows {
                    tr {
                        td { (platform::clock::ms_to_rfc3339(r.at_ms)) }
                        td { (r.username) } td { (r.object_type) } td { (r.object_name) } td { (r.action) }
                        td { details { summary { "Details" } (r.details) } }
                    }
                }
            }
        },
    ))
}

/// Settings › System › API Roles and Clients: clients for the read API (the secret is
/// shown once).
pub async fn api_clients(State(state): State<Shared>, ConsoleAdmin { instance, admin: _ }: ConsoleAdmin) -> Result<Response> {
    render_api_clients(&state, &instance, None).await
}

async fn render_api_clients(state: &Shared, instance: &InstanceRow, message: Option<String>) -> Result<Response> {
    let clients = state.store.api_clients(&instance.id).await?;
    Ok(console_page(
        &instance.slug,
        "API Roles and Clients",
        html! {
            h1 { "API Roles and Clients" }
            @if let Some(m) = &message { p id="message" { (m) } }
            table {
                tr { th { "Display name" } th { "Client ID" } }
                @for (id, name) in &clients { tr { td { (name) } td { (id) } } }
            }
            form method="post" { label { "Display name " input name="name" required; } " " button { "Create client" } }
        },
    ))
}

pub async fn create_api_client(
    State(state): State<Shared>,
    ConsoleAdmin { instance, admin: _ }: ConsoleAdmin,
    body: Bytes,
) -> Result<Response> {
    let name = form(&body).get("name").map(|n| n.trim().to_string()).filter(|n| platform::text::within_chars(n, 100));
    let Some(name) = name else {
        return render_api_clients(&state, &instance, Some("The display name must be 1 to 100 characters.".into())).await;
    };
    let (id, secret) = (uuid::Uuid::new_v4().to_string(), platform::secrets::random_token(32));
    state.store.insert_api_client(&instance.id, &id, &name, &platform::secrets::digest_hex(&secret), state.clock.now_ms()).await?;
    render_api_clients(&state, &instance, Some(format!("Client ID {id} · client secret (shown once): {secret}"))).await
}
