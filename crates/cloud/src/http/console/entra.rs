//! Entra admin center: Enterprise applications (with their permissions, editable and
//! deletable), App registrations, Users and groups, Devices, Conditional Access, Sign-in
//! logs.

use crate::http::Bytes;
use axum::Router;
use axum::extract::State;
use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::clock::ms_to_rfc3339;
use platform::flash;
use platform::html::{Markup, badge, html, pager, search_box};

use super::{ConsoleAdmin, Here, render};
use crate::Shared;
use crate::entra::conditional_access::PolicyState;
use crate::entra::directory::{FIRST_PARTY, Permission, PermissionKind};
use crate::entra::registrations;
use crate::error::{CloudError, Result};
use crate::http::{Path, Query, form};
use wire::{DeviceId, TenantId};

const APPS: &str = "/console/entra/enterprise-applications";
const CONDITIONAL_ACCESS: &str = "/console/entra/conditional-access";

pub fn router() -> Router<Shared> {
    Router::new()
        .route(APPS, get(enterprise_applications))
        .route("/console/entra/enterprise-applications/{sp}", get(enterprise_application))
        .route("/console/entra/enterprise-applications/{sp}/permissions", post(edit_permissions))
        .route("/console/entra/enterprise-applications/{sp}/delete", post(delete_application))
        .route(REGISTRATIONS, get(app_registrations).post(register))
        .route("/console/entra/app-registrations/{app}/secrets", post(new_secret))
        .route("/console/entra/app-registrations/{app}/permissions", post(add_permission))
        .route("/console/entra/app-registrations/{app}/consent", post(grant_consent))
        .route("/console/entra/users", get(users_and_groups))
        .route("/console/entra/devices", get(devices))
        .route("/console/entra/conditional-access", get(conditional_access).post(set_policy_state))
        .route("/console/entra/sign-in-logs", get(sign_in_logs))
}

fn resource_name(app_id: &str) -> &str {
    FIRST_PARTY.iter().find(|fp| fp.app_id == app_id).map(|fp| fp.display_name).unwrap_or(app_id)
}

async fn enterprise_applications(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    let mut rows = Vec::new();
    for sp in state.store.service_principals(&user.tenant_id).await? {
        let grants: Vec<String> = state.store.grants(&sp.id).await?.iter().map(|g| format!("{} ({})", g.value, g.kind)).collect();
        rows.push(html! {
            tr { td { a href={ (APPS) "/" (sp.id) } { (sp.display_name) } } td { (sp.app_id) } td { (grants.join(", ")) } }
        });
    }
    render(
        &here,
        "Enterprise applications",
        html! {
            h1 { "Enterprise applications" }
            table id="applications" { tr { th { "Name" } th { "Application ID" } th { "Permissions" } } @for r in rows { (r) } }
        },
    )
}

/// The APIs a permission can be granted on, as options.
fn resource_options() -> Markup {
    html! { @for fp in FIRST_PARTY { option value=(fp.app_id) { (fp.display_name) } } }
}

fn kind_options() -> Markup {
    html! { option { (PermissionKind::Application) } option { (PermissionKind::Delegated) } }
}

async fn enterprise_application(
    State(state): State<Shared>,
    Path(sp_id): Path<String>,
    ConsoleAdmin(user, here): ConsoleAdmin,
) -> Result<Response> {
    let sp = state
        .store
        .service_principals(&user.tenant_id)
        .await?
        .into_iter()
        .find(|s| s.id == sp_id)
        .ok_or_else(|| CloudError::Page(format!("No enterprise application {sp_id} in this tenant.")))?;
    let grants = state.store.grants(&sp.id).await?;
    let permissions_url = format!("{APPS}/{}/permissions", sp.id);
    render(
        &here,
        &sp.display_name,
        html! {
            h1 { (sp.display_name) }
            p { "Application ID " code { (sp.app_id) } " · Object ID " code { (sp.id) } }
            h2 { "Permissions" }
            table id="permissions" {
                tr { th { "API" } th { "Permission" } th { "Type" } th {} }
                @for g in &grants {
                    tr {
                        td { (resource_name(&g.resource_app_id)) } td { (g.value) } td { (g.kind) }
                        td { form method="post" action=(permissions_url) {
                            input type="hidden" name="action" value="remove";
                            input type="hidden" name="resource" value=(g.resource_app_id);
                            input type="hidden" name="kind" value=(g.kind);
                            input type="hidden" name="value" value=(g.value);
                            button class="secondary" aria-label={ "Remove " (g.value) } { "Remove" }
                        } }
                    }
                }
            }
            h3 { "Grant a permission" }
            form method="post" action=(permissions_url) {
                input type="hidden" name="action" value="add";
                select name="resource" aria-label="API" { (resource_options()) } " "
                select name="kind" aria-label="Type" { (kind_options()) } " "
                input name="value" placeholder="Permission, e.g. User.Read.All" required aria-label="Permission"; " "
                button { "Grant admin consent" }
            }
            h2 { "Delete" }
            form method="post" action={ (APPS) "/" (sp.id) "/delete" } {
                label { input type="checkbox" name="confirm" value="yes"; " Yes, delete this application from the tenant" } " "
                button { "Delete" }
            }
        },
    )
}

/// Adds or removes a granted permission: what an admin does to reproduce S8.
async fn edit_permissions(
    State(state): State<Shared>,
    Path(sp_id): Path<String>,
    ConsoleAdmin(user, here): ConsoleAdmin,
    body: Bytes,
) -> Result<Response> {
    if !state.store.service_principals(&user.tenant_id).await?.iter().any(|s| s.id == sp_id) {
        return Err(CloudError::Page(format!("No enterprise application {sp_id} in this tenant.")));
    }
    let f = form(&body);
    let field = |k: &str| f.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (Some(resource), Some(kind), Some(value)) = (field("resource"), field("kind"), field("value")) else {
        return Err(CloudError::Page("Choose an API, a type and a permission.".into()));
    };
    let permission = Permission::requested(&resource, &kind, &value).map_err(CloudError::Page)?;
    let back = format!("{APPS}/{sp_id}");
    let message = match field("action").as_deref() {
        Some("add") => {
            state.store.grant(&user.tenant_id, &sp_id, &permission, state.clock.now_ms()).await?;
            format!("Granted {value} ({kind}) on {}.", resource_name(&resource))
        }
        Some("remove") if field("confirm").as_deref() != Some("yes") => return confirm_removal(&here, &back, &resource, &kind, &value),
        Some("remove") => {
            state.store.revoke(&sp_id, &permission).await?;
            format!("Removed {value} ({kind}) on {}.", resource_name(&resource))
        }
        _ => return Err(CloudError::Page("Unknown action.".into())),
    };
    Ok(flash::redirect(&back, &message))
}

/// Removing a granted permission can stop the application working: asked once more.
fn confirm_removal(here: &Here, back: &str, resource: &str, kind: &str, value: &str) -> Result<Response> {
    render(
        here,
        "Remove permission",
        html! {
            h1 { "Remove " (value) "?" }
            p { "The application loses the " (kind) " permission " b { (value) } " on " (resource_name(resource)) " for the whole organization. \
                 Anything it does with that permission fails from its next token on." }
            form method="post" action={ (back) "/permissions" } {
                input type="hidden" name="action" value="remove";
                input type="hidden" name="resource" value=(resource);
                input type="hidden" name="kind" value=(kind);
                input type="hidden" name="value" value=(value);
                input type="hidden" name="confirm" value="yes";
                div class="actions" { button class="danger" { "Yes, remove" } a class="button secondary" href=(back) { "Cancel" } }
            }
        },
    )
}

async fn delete_application(
    State(state): State<Shared>,
    Path(sp_id): Path<String>,
    ConsoleAdmin(user, _): ConsoleAdmin,
    body: Bytes,
) -> Result<Response> {
    if form(&body).get("confirm").map(String::as_str) != Some("yes") {
        return Err(CloudError::Page("Confirm the deletion by ticking the box.".into()));
    }
    let sp = state
        .store
        .service_principals(&user.tenant_id)
        .await?
        .into_iter()
        .find(|s| s.id == sp_id)
        .ok_or_else(|| CloudError::Page(format!("No enterprise application {sp_id} in this tenant.")))?;
    if FIRST_PARTY.iter().any(|fp| fp.app_id == sp.app_id) || sp.app_id == wire::ids::COMPANY_PORTAL_APP_ID {
        return Err(CloudError::Page(format!("{} is a Microsoft application and cannot be deleted.", sp.display_name)));
    }
    state.store.delete_service_principal(&user.tenant_id, &sp_id).await?;
    Ok(flash::redirect(APPS, &format!("Deleted {}.", sp.display_name)))
}

const REGISTRATIONS: &str = "/console/entra/app-registrations";

async fn app_registrations(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    render_registrations(&state, &user.tenant_id, &here, &HashMap::new(), None).await
}

/// The tenant's registrations and the form for a new one, filled with `fields` (as
/// posted, when the registration was refused with `error`: 422).
async fn render_registrations(
    state: &Shared,
    tenant_id: &TenantId,
    here: &Here,
    fields: &HashMap<String, String>,
    error: Option<&str>,
) -> Result<Response> {
    let v = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let mut rows = Vec::new();
    for a in state.store.applications_of(tenant_id).await? {
        let secrets: Vec<String> = state
            .store
            .secret_hints(&a.app_id)
            .await?
            .into_iter()
            .map(|(_, hint, expires)| format!("{hint}… until {}", ms_to_rfc3339(expires)))
            .collect();
        let certificates: Vec<String> = state
            .store
            .certificates(&a.app_id)
            .await?
            .into_iter()
            .map(|c| {
                format!(
                    "{} until {}",
                    c.thumbprint_sha1.iter().map(|b| format!("{b:02X}")).collect::<String>(),
                    ms_to_rfc3339(c.expires_ms)
                )
            })
            .collect();
        let permissions: Vec<String> =
            a.required_permissions.iter().map(|p| format!("{} {} ({})", resource_name(&p.resource_app_id), p.value, p.kind)).collect();
        let base = format!("{REGISTRATIONS}/{}", a.app_id);
        rows.push(html! {
            tr {
                td { (a.display_name) } td { (a.app_id) }
                td { (if a.multi_tenant { "Multiple organizations" } else { "This organization" }) }
                td { (a.redirect_uris.join(" ")) } td { (secrets.join("; ")) } td { (certificates.join("; ")) } td { (permissions.join("; ")) }
                td {
                    form method="post" action={ (base) "/secrets" } {
                        select name="months" aria-label={ "Months the new secret of " (a.display_name) " lasts" } { option { "6" } option { "12" } option { "24" } }
                        " " button { "New client secret" }
                    }
                    form method="post" action={ (base) "/permissions" } {
                        select name="resource" aria-label="API" { (resource_options()) } " " select name="kind" aria-label="Type" { (kind_options()) } " "
                        input name="value" size="18" required aria-label="Permission"; " " button { "Add a permission" }
                    }
                    form method="post" action={ (base) "/consent" } { button { "Grant admin consent" } }
                }
            }
        });
    }
    let page = render(
        here,
        "App registrations",
        html! {
            h1 { "App registrations" }
            table id="registrations" {
                tr { th { "Name" } th { "Application (client) ID" } th { "Accounts" } th { "Redirect URIs" }
                     th { "Client secrets" } th { "Certificates" } th { "API permissions" } th {} }
                @for r in rows { (r) }
            }
            h2 id="new" { "New registration" }
            @if let Some(e) = error { p id="error" class="message error" role="alert" { (e) } }
            form class="stacked" method="post" action=(REGISTRATIONS) {
                label { "Name " input name="name" value=(v("name")) required; }
                label { "Supported account types " select name="accounts" {
                    option value="single" { "This organization only" } option value="multi" selected[v("accounts") == "multi"] { "Multiple organizations" }
                } }
                label { "Redirect URI " input name="redirect_uri" value=(v("redirect_uri")); }
                button { "Register" }
            }
        },
    )?;
    Ok(if error.is_some() { (StatusCode::UNPROCESSABLE_ENTITY, page).into_response() } else { page })
}

async fn register(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let result = registrations::create(
        &state.store,
        &user.tenant_id,
        f.get("name").map(String::as_str).unwrap_or(""),
        f.get("accounts").map(String::as_str) == Some("multi"),
        f.get("redirect_uri").map(String::as_str),
        state.clock.now_ms(),
    )
    .await;
    match result {
        Ok(app) => {
            Ok(flash::redirect(REGISTRATIONS, &format!("Registered {} with Application (client) ID {}.", app.display_name, app.app_id)))
        }
        Err(e) => render_registrations(&state, &user.tenant_id, &here, &f, Some(&e.to_string())).await,
    }
}

async fn new_secret(
    State(state): State<Shared>,
    Path(app_id): Path<String>,
    ConsoleAdmin(user, _): ConsoleAdmin,
    body: Bytes,
) -> Result<Response> {
    let months = form(&body).get("months").and_then(|m| m.parse().ok()).unwrap_or(6);
    let app = registrations::owned(&state.store, &user.tenant_id, &app_id).await.map_err(|e| CloudError::Page(e.to_string()))?;
    let message = match registrations::add_secret(&state.store, &app, months, state.clock.now_ms()).await {
        // Shown once: only a digest is stored.
        Ok(secret) => format!("New client secret for {} (copy it now, it is not shown again): {secret}", app.display_name),
        Err(e) => e.to_string(),
    };
    Ok(flash::redirect(REGISTRATIONS, &message))
}

async fn add_permission(
    State(state): State<Shared>,
    Path(app_id): Path<String>,
    ConsoleAdmin(user, _): ConsoleAdmin,
    body: Bytes,
) -> Result<Response> {
    let f = form(&body);
    let field = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let app = registrations::owned(&state.store, &user.tenant_id, &app_id).await.map_err(|e| CloudError::Page(e.to_string()))?;
    let message = match registrations::require_permission(&state.store, &app, &field("resource"), &field("kind"), &field("value")).await {
        Ok(()) => format!("{} added; grant admin consent to apply it.", field("value")),
        Err(e) => e.to_string(),
    };
    Ok(flash::redirect(REGISTRATIONS, &message))
}

async fn grant_consent(State(state): State<Shared>, Path(app_id): Path<String>, ConsoleAdmin(user, _): ConsoleAdmin) -> Result<Response> {
    let app = registrations::owned(&state.store, &user.tenant_id, &app_id).await.map_err(|e| CloudError::Page(e.to_string()))?;
    crate::entra::consent::grant_admin_consent(&state.store, &user.tenant_id, &app, state.clock.now_ms()).await?;
    Ok(flash::redirect(REGISTRATIONS, &format!("Admin consent granted for {}.", app.display_name)))
}

/// A console list's search and page: `?q=` and the key to start after.
#[derive(serde::Deserialize)]
struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

/// Rows on a page of a console list.
const PAGE: i64 = 50;

async fn users_and_groups(
    State(state): State<Shared>,
    Query(l): Query<ListQuery>,
    ConsoleAdmin(user, here): ConsoleAdmin,
) -> Result<Response> {
    let q = l.q.unwrap_or_default();
    let mut users = state.store.search_users(&user.tenant_id, &q, l.after.as_deref().unwrap_or(""), PAGE + 1).await?;
    let next = (users.len() as i64 > PAGE).then(|| users.get(PAGE as usize - 1).map(|u| u.id.clone())).flatten();
    users.truncate(PAGE as usize);
    let mut groups = Vec::new();
    for (id, name) in state.store.groups(&user.tenant_id).await? {
        let members = state.store.group_members(&user.tenant_id, &id, "", 10_000).await?.len();
        groups.push((id, name, members));
    }
    render(
        &here,
        "Users and groups",
        html! {
            h1 { "Users" }
            (search_box("Search by name or user principal name", &q))
            table id="users" {
                tr { th { "Display name" } th { "User principal name" } th { "Role" } th { "Account" } }
                @for u in &users {
                    tr {
                        td { (u.display_name) } td { (u.upn) } td { (if u.global_admin != 0 { "Global Administrator" } else { "" }) }
                        td { (badge(if u.account_enabled != 0 { "Enabled" } else { "Disabled" }, None)) }
                    }
                }
            }
            (pager(&q, l.after.is_some(), next.as_deref(), users.len()))
            h2 { "Groups" }
            table id="groups" {
                tr { th { "Name" } th { "Members" } }
                @for (_, name, members) in &groups { tr { td { (name) } td { (members) } } }
            }
        },
    )
}

async fn devices(State(state): State<Shared>, Query(l): Query<ListQuery>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    let q = l.q.unwrap_or_default();
    let mut devices = state.store.search_devices(&user.tenant_id, &q, l.after.as_deref().unwrap_or(""), PAGE + 1).await?;
    let next = (devices.len() as i64 > PAGE).then(|| devices.get(PAGE as usize - 1).map(|d| d.device_id.to_string())).flatten();
    devices.truncate(PAGE as usize);
    render(
        &here,
        "Devices",
        html! {
            h1 { "Devices" }
            (search_box("Search by name or device ID", &q))
            table id="devices" {
                tr { th { "Name" } th { "Device ID" } th { "OS version" } th { "Compliant" } th { "Managed" } th { "Registered" } }
                @for d in &devices {
                    tr {
                        td { (d.display_name) } td { (d.device_id) } td { (d.os_version) }
                        td { (match d.is_compliant { Some(1) => badge("Compliant", None), Some(_) => badge("Noncompliant", None), None => badge("N/A", None) }) }
                        td { (if d.is_managed != 0 { "Yes" } else { "No" }) }
                        td { (ms_to_rfc3339(d.registered_ms)) }
                    }
                }
            }
            (pager(&q, l.after.is_some(), next.as_deref(), devices.len()))
        },
    )
}

async fn conditional_access(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    let policies = state.store.ca_policies(&user.tenant_id).await?;
    let groups: HashMap<String, String> = state.store.groups(&user.tenant_id).await?.into_iter().collect();
    let apps: HashMap<String, String> =
        state.store.service_principals(&user.tenant_id).await?.into_iter().map(|sp| (sp.app_id, sp.display_name)).collect();
    // Conditional Access names groups and apps by ID, and "All" for every one.
    let names = |ids: &[String], known: &HashMap<String, String>| -> String {
        ids.iter()
            .map(|id| match id.as_str() {
                "All" => "All".to_string(),
                id => known.get(id).cloned().unwrap_or_else(|| resource_name(id).to_string()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    render(
        &here,
        "Conditional Access",
        html! {
            h1 { "Conditional Access › Policies" }
            p { a class="button secondary" href=(super::entra_what_if::WHAT_IF) { "What If" } }
            table id="ca-policies" {
                tr { th { "Policy" } th { "Groups" } th { "Applications" } th { "Grant" } th { "State" } }
                @for p in &policies {
                    tr {
                        td { (p.display_name) }
                        td { (names(&p.conditions.include_groups, &groups)) }
                        td { (names(&p.conditions.include_applications, &apps)) }
                        td { (p.grant) }
                        td { form method="post" {
                            input type="hidden" name="id" value=(p.id);
                            select name="state" aria-label={ "State of " (p.display_name) } { @for (v, l) in PolicyState::LABELLED { option value=(v) selected[p.state == v] { (l) } } }
                            " " button { "Save" }
                        } }
                    }
                }
            }
        },
    )
}

async fn set_policy_state(State(state): State<Shared>, ConsoleAdmin(user, _): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let (Some(id), Some(new_state)) = (f.get("id"), f.get("state")) else {
        return Err(CloudError::Page("Choose a policy and a state.".into()));
    };
    let Ok(new_state) = new_state.parse::<PolicyState>() else {
        return Err(CloudError::Page("The state must be On, Report-only or Off.".into()));
    };
    if !state.store.set_ca_policy_state(&user.tenant_id, id, new_state).await? {
        return Err(CloudError::Page(format!("No policy {id} in this tenant.")));
    }
    Ok(flash::redirect(CONDITIONAL_ACCESS, "Saved."))
}

async fn sign_in_logs(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    let sign_ins = state.store.sign_ins(&user.tenant_id, 200).await?;
    // Devices by name, as the sign-in logs show them.
    let mut device_names: HashMap<DeviceId, String> = HashMap::new();
    for id in sign_ins.iter().filter_map(|s| s.device_id.clone()) {
        if !device_names.contains_key(&id) {
            let name = state.store.devices(&user.tenant_id, Some(&id), "", 1).await?.pop().map(|d| d.display_name);
            device_names.insert(id.clone(), name.unwrap_or_else(|| id.to_string()));
        }
    }
    render(
        &here,
        "Sign-in logs",
        html! {
            h1 { "Sign-in logs" }
            p class="muted" { "The 200 most recent sign-ins." }
            table id="sign-ins" {
                tr { th { "Date" } th { "User" } th { "Application" } th { "Device" } th { "Status" } th { "Conditional Access" } th { "Failure reason" } th { "Additional details" } }
                @for s in &sign_ins {
                    tr {
                        td { (ms_to_rfc3339(s.at_ms)) } td { (s.upn) } td { (s.app_name) } td { (s.device_id.as_ref().and_then(|d| device_names.get(d)).map(String::as_str).unwrap_or("")) }
                        td { @if s.error_code == 0 { (badge("Success", None)) } @else { (badge("Failure", None)) " AADSTS" (s.error_code) } }
                        td { (s.ca_status) } td { (s.failure_reason.as_deref().unwrap_or("")) }
                        td { (s.additional_details.as_deref().unwrap_or("")) }
                    }
                }
            }
        },
    )
}
