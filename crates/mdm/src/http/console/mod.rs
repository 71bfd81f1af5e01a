//! The mdm console, server-rendered from `maud` templates: sign-in, Settings › Global
//! Management › Conditional Access (`conditional_access`), Computers and their records
//! (`computers`), Change Management › Logs and API Roles and Clients.

mod computers;
mod conditional_access;
mod preview;
mod trace;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use platform::html::{Frame, Layout, Markup, NavLink, badge, console, html, page};

pub use computers::{computer, computers};
pub use conditional_access::{application_id_page, ca_confirm, ca_edit, ca_page, ca_save, ca_test};
pub use preview::{page as preview_page, run as preview_run};

use super::Query;
use super::callers::{ConsoleAdmin, Instance, SESSION_COOKIE};
use crate::Shared;
use crate::domain::settings::CaStatus;
use crate::error::Result;
use crate::http::Bytes;
use crate::store::InstanceRow;

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The instance's top bar, as Jamf Pro places Dashboard, Computers and Settings.
fn nav(slug: &str) -> Vec<NavLink> {
    vec![
        NavLink::new(format!("/i/{slug}"), "Dashboard"),
        NavLink::new(format!("/i/{slug}/computers"), "Computers"),
        NavLink::new(format!("/i/{slug}/settings"), "Settings"),
    ]
}

/// A console page of the instance. `trail` is the breadcrumb trail, each `(label, path
/// under the instance)`; its last entry is this page, which names the title and the
/// current place. A message left by the form posted before is shown once above `content`.
fn console_page(me: &ConsoleAdmin, trail: &[(&str, String)], content: Markup) -> Response {
    let slug = &me.instance.slug;
    let base = format!("/i/{slug}");
    let (title, here) = trail.last().map(|(l, p)| (*l, format!("{base}{p}"))).unwrap_or(("Dashboard", base.clone()));
    let frame = Frame {
        product: me.instance.name.clone(),
        home: base.clone(),
        who: format!("{} · version {}", me.admin.username, me.instance.version),
        layout: Layout::TopBar(nav(slug)),
        current: here,
        crumbs: trail.iter().enumerate().map(|(n, (l, p))| (l.to_string(), (n + 1 < trail.len()).then(|| format!("{base}{p}")))).collect(),
    };
    let body = html! {
        @if let Some(f) = &me.flash { p id="message" class="message" role="status" { (f.message) } }
        (content)
    };
    platform::flash::cleared(Html(console(title, &frame, body)).into_response(), me.flash.as_ref())
}

/// The trail's first step, Settings.
fn settings_crumb() -> (&'static str, String) {
    ("Settings", "/settings".into())
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

fn login_page(instance: &InstanceRow, next: &str, username: &str, error: Option<&str>) -> String {
    page(
        "Sign in",
        html! {
            h1 { (instance.name) }
            @if let Some(e) = error { p class="message error" role="alert" { (e) } }
            form class="stacked" method="post" action={ "/i/" (instance.slug) "/login" } {
                input type="hidden" name="next" value=(next);
                label { "Username " input name="username" value=(username) required autocomplete="username"; }
                label { "Password " input name="password" type="password" required autocomplete="current-password"; }
                button type="submit" { "Log in" }
            }
        },
    )
}

#[derive(serde::Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Where the sign-in leads: `next` when it is a page of this instance, else its dashboard.
fn page_after_login(instance: &InstanceRow, next: Option<&str>) -> String {
    let home = format!("/i/{}", instance.slug);
    // Browsers drop tabs and newlines from an address, and a control character makes no
    // valid `Location`: neither is taken.
    let valid = |n: &&str| {
        n.starts_with(&format!("{home}/")) && !n.contains("//") && !n.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    };
    next.filter(valid).map_or(home, str::to_string)
}

pub async fn login_form(Instance(instance): Instance, Query(q): Query<Next>) -> Result<Html<String>> {
    Ok(Html(login_page(&instance, &page_after_login(&instance, q.next.as_deref()), "", None)))
}

pub async fn login(State(state): State<Shared>, Instance(instance): Instance, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let (username, password) = (f.get("username").cloned().unwrap_or_default(), f.get("password").cloned().unwrap_or_default());
    let next = page_after_login(&instance, f.get("next").map(String::as_str));
    let admin = match state.store.admin_by_username(&instance.id, &username).await? {
        Some(a) if platform::secrets::verify_password(&password, &a.password_hash) => a,
        _ => {
            let page = login_page(&instance, &next, &username, Some("Invalid username or password."));
            return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
        }
    };
    let token = platform::secrets::random_token(32);
    state.store.insert_session(&platform::secrets::digest_hex(&token), &admin.id, state.clock.now_ms() + 8 * 3600 * 1000).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/i/{}; Secure; HttpOnly; SameSite=Lax", instance.slug);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

/// The dashboard: the connection to Intune, the computers, and what to do next.
pub async fn home(State(state): State<Shared>, me: ConsoleAdmin) -> Result<Response> {
    let ca = state.store.ca(&me.instance.id).await?;
    let (computers, registered, delivered, rejected) = state.store.delivery_summary(&me.instance.id).await?;
    let slug = &me.instance.slug;
    let ca_href = format!("/i/{slug}{}", conditional_access::PATH);
    let next = match ca.link_status {
        CaStatus::Active => None,
        CaStatus::NotConfigured | CaStatus::Disabled => {
            Some("Connect this instance to Microsoft Intune: select Edit, choose Cloud Connector, then Connect.")
        }
        CaStatus::AwaitingConsent => Some("Finish Connect: grant both consents as a Global Administrator."),
        CaStatus::AwaitingConfirmation => Some("Paste the Application ID into Intune's Partner device management, then select Confirm."),
        CaStatus::Failing => Some("The connection is failing: open Conditional Access to see which check failed and how to fix it."),
        CaStatus::Terminated => Some("Intune terminated the connection: connect again to resume sending inventory."),
    };
    Ok(console_page(
        &me,
        &[("Dashboard", String::new())],
        html! {
            h1 { "Dashboard" }
            @if let Some(n) = next { p class="message" id="next-step" { (n) " " a href=(ca_href) { "Open Conditional Access" } } }
            div class="cards" {
                div class="card" {
                    h2 { "Microsoft Intune" }
                    p { "Connection status: " (badge(ca.link_status.label(), Some("status"))) }
                    p { a href=(ca_href) { "Conditional Access settings" } }
                }
                div class="card" {
                    h2 { "Computers" }
                    p { b id="computers" { (computers) } " computers, " (registered) " registered with Microsoft Entra ID" }
                    p { (delivered) " with inventory accepted by Intune, " (rejected) " rejected" }
                    p { a href={ "/i/" (slug) "/computers" } { "Search computers" } }
                }
                div class="card" {
                    h2 { "Enrollment" }
                    p { "Enrollment invitation: " code id="invitation" { (me.instance.invitation) } }
                }
            }
        },
    ))
}

/// Settings: the categories, as Jamf Pro groups them.
pub async fn settings(me: ConsoleAdmin) -> Result<Response> {
    let slug = &me.instance.slug;
    let link = |path: &str, label: &str| html! { li { a href={ "/i/" (slug) (path) } { (label) } } };
    Ok(console_page(
        &me,
        &[settings_crumb()],
        html! {
            h1 { "Settings" }
            div class="cards" {
                div class="card" { h2 { "Global" } ul { (link(conditional_access::PATH, "Conditional Access")) } }
                div class="card" {
                    h2 { "System" }
                    ul {
                        (link(API_CLIENTS, "API Roles and Clients"))
                        (link(CHANGE_LOG, "Change Management"))
                    }
                }
            }
        },
    ))
}

/// Settings › System › Change Management › Logs, under the instance.
pub(crate) const CHANGE_LOG: &str = "/settings/system-settings/change-management/logs";
/// Settings › System › API Roles and Clients, under the instance.
pub(crate) const API_CLIENTS: &str = "/settings/system/api-roles-and-clients";

#[derive(serde::Deserialize)]
pub struct LogFilter {
    object_type: Option<String>,
}

/// Settings › System Settings › Change Management › Logs.
pub async fn change_log(State(state): State<Shared>, Query(f): Query<LogFilter>, me: ConsoleAdmin) -> Result<Response> {
    let object_type = f.object_type.unwrap_or_default();
    let rows = state.store.change_log(&me.instance.id, &object_type).await?;
    Ok(console_page(
        &me,
        &[settings_crumb(), ("Change Management Logs", CHANGE_LOG.into())],
        html! {
            h1 { "Change Management Logs" }
            form role="search" { label { "Object type " input type="search" name="object_type" value=(object_type); } " " button { "Search" } }
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

/// Settings › System › API Roles and Clients: clients for the read API. A new client's
/// secret is shown once, on the page the creation leads to.
pub async fn api_clients(State(state): State<Shared>, me: ConsoleAdmin) -> Result<Response> {
    render_api_clients(&state, &me, None).await
}

/// The clients and the form for a new one; a refused name comes back as typed, with the
/// reason (422).
async fn render_api_clients(state: &Shared, me: &ConsoleAdmin, refused: Option<(&str, &str)>) -> Result<Response> {
    let clients = state.store.api_clients(&me.instance.id).await?;
    let page = console_page(
        me,
        &[settings_crumb(), ("API Roles and Clients", API_CLIENTS.into())],
        html! {
            h1 { "API Roles and Clients" }
            table {
                tr { th { "Display name" } th { "Client ID" } }
                @for (id, name) in &clients { tr { td { (name) } td { (id) } } }
            }
            @if let Some((_, e)) = refused { p id="error" class="message error" role="alert" { (e) } }
            form method="post" {
                label { "Display name " input name="name" value=(refused.map_or("", |(typed, _)| typed)) required maxlength="100"; }
                " " button { "Create client" }
            }
        },
    );
    Ok(if refused.is_some() { (StatusCode::UNPROCESSABLE_ENTITY, page).into_response() } else { page })
}

pub async fn create_api_client(State(state): State<Shared>, me: ConsoleAdmin, body: Bytes) -> Result<Response> {
    let typed = form(&body).get("name").cloned().unwrap_or_default();
    let name = Some(typed.trim().to_string()).filter(|n| platform::text::within_chars(n, 100));
    let Some(name) = name else {
        return render_api_clients(&state, &me, Some((&typed, "The display name must be 1 to 100 characters."))).await;
    };
    let (id, secret) = (uuid::Uuid::new_v4().to_string(), platform::secrets::random_token(32));
    state.store.insert_api_client(&me.instance.id, &id, &name, &platform::secrets::digest_hex(&secret), state.clock.now_ms()).await?;
    let here = format!("/i/{}{API_CLIENTS}", me.instance.slug);
    Ok(platform::flash::redirect(&here, &format!("Client ID {id} · client secret (shown once): {secret}")))
}
