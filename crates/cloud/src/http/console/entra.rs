//! Entra admin center: Enterprise applications (with their permissions, editable and
//! deletable), App registrations, Users and groups, Devices, Conditional Access, Sign-in
//! logs.

use crate::http::Bytes;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use platform::clock::ms_to_rfc3339;
use platform::html::{escape, page};

use super::{ConsoleAdmin, nav};
use crate::Shared;
use crate::entra::conditional_access::PolicyState;
use crate::entra::directory::{APPLICATION, DELEGATED, FIRST_PARTY, Permission};
use crate::entra::registrations;
use crate::error::{CloudError, Result};
use crate::http::{Path, form};

const APPS: &str = "/console/entra/enterprise-applications";

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

fn render(title: &str, body: String) -> Result<Response> {
    Ok(Html(page(title, &format!("{}{body}", nav()))).into_response())
}

fn resource_name(app_id: &str) -> &str {
    FIRST_PARTY.iter().find(|fp| fp.app_id == app_id).map(|fp| fp.display_name).unwrap_or(app_id)
}

async fn enterprise_applications(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let mut rows = String::new();
    for sp in state.store.service_principals(&user.tenant_id).await? {
        let grants: Vec<String> = state.store.grants(&sp.id).await?.iter().map(|g| format!("{} ({})", g.value, g.kind)).collect();
        rows.push_str(&format!(
            "<tr><td><a href=\"{APPS}/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            escape(&sp.id),
            escape(&sp.display_name),
            escape(&sp.app_id),
            escape(&grants.join(", "))
        ));
    }
    render(
        "Enterprise applications",
        format!(
            "<h1>Enterprise applications</h1><table id=\"applications\"><tr><th>Name</th><th>Application ID</th><th>Permissions</th></tr>{rows}</table>"
        ),
    )
}

async fn enterprise_application(
    State(state): State<Shared>,
    Path(sp_id): Path<String>,
    ConsoleAdmin(user): ConsoleAdmin,
) -> Result<Response> {
    let sp = state
        .store
        .service_principals(&user.tenant_id)
        .await?
        .into_iter()
        .find(|s| s.id == sp_id)
        .ok_or_else(|| CloudError::Page(format!("No enterprise application {sp_id} in this tenant.")))?;
    let mut rows = String::new();
    for g in state.store.grants(&sp.id).await? {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"{APPS}/{id}/permissions\">\
             <input type=\"hidden\" name=\"action\" value=\"remove\"><input type=\"hidden\" name=\"resource\" value=\"{}\">\
             <input type=\"hidden\" name=\"kind\" value=\"{}\"><input type=\"hidden\" name=\"value\" value=\"{}\">\
             <button>Remove</button></form></td></tr>",
            escape(resource_name(&g.resource_app_id)),
            escape(&g.value),
            escape(&g.kind),
            escape(&g.resource_app_id),
            escape(&g.kind),
            escape(&g.value),
            id = escape(&sp.id),
        ));
    }
    let resources: String =
        FIRST_PARTY.iter().map(|fp| format!("<option value=\"{}\">{}</option>", fp.app_id, escape(fp.display_name))).collect();
    render(
        &sp.display_name,
        format!(
            "<h1>{name}</h1><p>Application ID <code>{app}</code> · Object ID <code>{id}</code></p>\
         <h2>Permissions</h2><table id=\"permissions\"><tr><th>API</th><th>Permission</th><th>Type</th><th></th></tr>{rows}</table>\
         <h3>Grant a permission</h3><form method=\"post\" action=\"{APPS}/{id}/permissions\"><input type=\"hidden\" name=\"action\" value=\"add\">\
         <select name=\"resource\">{resources}</select> <select name=\"kind\"><option>{APPLICATION}</option><option>{DELEGATED}</option></select> \
         <input name=\"value\" placeholder=\"Permission, e.g. User.Read.All\" required> <button>Grant admin consent</button></form>\
         <h2>Delete</h2><form method=\"post\" action=\"{APPS}/{id}/delete\"><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\"> \
         Yes, delete this application from the tenant</label> <button>Delete</button></form>",
            name = escape(&sp.display_name),
            app = escape(&sp.app_id),
            id = escape(&sp.id),
        ),
    )
}

/// Adds or removes a granted permission: what an admin does to reproduce S8.
async fn edit_permissions(
    State(state): State<Shared>,
    Path(sp_id): Path<String>,
    ConsoleAdmin(user): ConsoleAdmin,
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
    let Some(fp) = FIRST_PARTY.iter().find(|fp| fp.app_id == resource) else {
        return Err(CloudError::Page(format!("Unknown API {resource}.")));
    };
    if kind != APPLICATION && kind != DELEGATED {
        return Err(CloudError::Page("The type must be Application or Delegated.".into()));
    }
    if kind == APPLICATION && !fp.app_roles.contains(&value.as_str()) {
        return Err(CloudError::Page(format!("{} has no application permission {value}.", fp.display_name)));
    }
    let permission = Permission::new(fp.app_id, &kind, &value);
    match field("action").as_deref() {
        Some("add") => state.store.grant(&user.tenant_id, &sp_id, &permission, state.clock.now_ms()).await?,
        Some("remove") => {
            state.store.revoke(&sp_id, &permission).await?;
        }
        _ => return Err(CloudError::Page("Unknown action.".into())),
    }
    Ok(Redirect::to(&format!("{APPS}/{sp_id}")).into_response())
}

async fn delete_application(
    State(state): State<Shared>,
    Path(sp_id): Path<String>,
    ConsoleAdmin(user): ConsoleAdmin,
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
    Ok(Redirect::to(APPS).into_response())
}

const REGISTRATIONS: &str = "/console/entra/app-registrations";

async fn app_registrations(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    render_registrations(&state, &user.tenant_id, None).await
}

async fn render_registrations(state: &Shared, tenant_id: &str, message: Option<String>) -> Result<Response> {
    let resources: String =
        FIRST_PARTY.iter().map(|fp| format!("<option value=\"{}\">{}</option>", fp.app_id, escape(fp.display_name))).collect();
    let mut rows = String::new();
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
        let id = escape(&a.app_id);
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"{REGISTRATIONS}/{id}/secrets\"><select name=\"months\"><option>6</option><option>12</option><option>24</option></select> <button>New client secret</button></form>\
             <form method=\"post\" action=\"{REGISTRATIONS}/{id}/permissions\"><select name=\"resource\">{resources}</select> \
             <select name=\"kind\"><option>{APPLICATION}</option><option>{DELEGATED}</option></select> <input name=\"value\" size=\"18\" required> <button>Add a permission</button></form>\
             <form method=\"post\" action=\"{REGISTRATIONS}/{id}/consent\"><button>Grant admin consent</button></form></td></tr>",
            escape(&a.display_name), if a.multi_tenant { "Multiple organizations" } else { "This organization" },
            escape(&a.redirect_uris.join(" ")), escape(&secrets.join("; ")), escape(&certificates.join("; ")), escape(&permissions.join("; ")),
        ));
    }
    let message = message.map(|m| format!("<p id=\"message\">{}</p>", escape(&m))).unwrap_or_default();
    render(
        "App registrations",
        format!(
            "<h1>App registrations</h1>{message}<table id=\"registrations\"><tr><th>Name</th><th>Application (client) ID</th><th>Accounts</th><th>Redirect URIs</th>\
         <th>Client secrets</th><th>Certificates</th><th>API permissions</th><th></th></tr>{rows}</table>\
         <h2>New registration</h2><form method=\"post\" action=\"{REGISTRATIONS}\"><label>Name <input name=\"name\" required></label> \
         <label>Supported account types <select name=\"accounts\"><option value=\"single\">This organization only</option>\
         <option value=\"multi\">Multiple organizations</option></select></label> <label>Redirect URI <input name=\"redirect_uri\"></label> \
         <button>Register</button></form>"
        ),
    )
}

async fn register(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin, body: Bytes) -> Result<Response> {
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
    let message = match result {
        Ok(app) => format!("Registered {} with Application (client) ID {}.", app.display_name, app.app_id),
        Err(e) => e.to_string(),
    };
    render_registrations(&state, &user.tenant_id, Some(message)).await
}

async fn new_secret(
    State(state): State<Shared>,
    Path(app_id): Path<String>,
    ConsoleAdmin(user): ConsoleAdmin,
    body: Bytes,
) -> Result<Response> {
    let months = form(&body).get("months").and_then(|m| m.parse().ok()).unwrap_or(6);
    let app = registrations::owned(&state.store, &user.tenant_id, &app_id).await.map_err(|e| CloudError::Page(e.to_string()))?;
    let message = match registrations::add_secret(&state.store, &app, months, state.clock.now_ms()).await {
        // Shown once: only a digest is stored.
        Ok(secret) => format!("New client secret for {} (copy it now, it is not shown again): {secret}", app.display_name),
        Err(e) => e.to_string(),
    };
    render_registrations(&state, &user.tenant_id, Some(message)).await
}

async fn add_permission(
    State(state): State<Shared>,
    Path(app_id): Path<String>,
    ConsoleAdmin(user): ConsoleAdmin,
    body: Bytes,
) -> Result<Response> {
    let f = form(&body);
    let field = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let app = registrations::owned(&state.store, &user.tenant_id, &app_id).await.map_err(|e| CloudError::Page(e.to_string()))?;
    let message = match registrations::require_permission(&state.store, &app, &field("resource"), &field("kind"), &field("value")).await {
        Ok(()) => format!("{} added; grant admin consent to apply it.", field("value")),
        Err(e) => e.to_string(),
    };
    render_registrations(&state, &user.tenant_id, Some(message)).await
}

async fn grant_consent(State(state): State<Shared>, Path(app_id): Path<String>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let app = registrations::owned(&state.store, &user.tenant_id, &app_id).await.map_err(|e| CloudError::Page(e.to_string()))?;
    crate::entra::consent::grant_admin_consent(&state.store, &user.tenant_id, &app, state.clock.now_ms()).await?;
    render_registrations(&state, &user.tenant_id, Some(format!("Admin consent granted for {}.", app.display_name))).await
}

async fn users_and_groups(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let users: String = state
        .store
        .users(&user.tenant_id, None, "", 500)
        .await?
        .iter()
        .map(|u| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&u.display_name),
                escape(&u.upn),
                if u.global_admin != 0 { "Global Administrator" } else { "" }
            )
        })
        .collect();
    let mut groups = String::new();
    for (id, name) in state.store.groups(&user.tenant_id).await? {
        let members = state.store.group_members(&user.tenant_id, &id, "", 10_000).await?.len();
        groups.push_str(&format!("<tr><td>{}</td><td>{}</td><td>{members}</td></tr>", escape(&name), escape(&id)));
    }
    render(
        "Users and groups",
        format!(
            "<h1>Users</h1><p>First 500.</p><table><tr><th>Name</th><th>User principal name</th><th>Role</th></tr>{users}</table>\
         <h1>Groups</h1><table><tr><th>Name</th><th>Object ID</th><th>Members</th></tr>{groups}</table>"
        ),
    )
}

async fn devices(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let rows: String = state
        .store
        .devices(&user.tenant_id, None, "", 500)
        .await?
        .iter()
        .map(|d| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&d.display_name),
                escape(&d.device_id),
                escape(&d.os_version),
                match d.is_compliant {
                    Some(1) => "Yes",
                    Some(_) => "No",
                    None => "N/A",
                },
                if d.is_managed != 0 { "Yes" } else { "No" },
                ms_to_rfc3339(d.registered_ms)
            )
        })
        .collect();
    render(
        "Devices",
        format!(
            "<h1>Devices</h1><p>First 500.</p><table id=\"devices\"><tr><th>Name</th><th>Device ID</th><th>OS version</th><th>Compliant</th>\
         <th>Managed</th><th>Registered</th></tr>{rows}</table>"
        ),
    )
}

async fn conditional_access(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let rows: String = state
        .store
        .ca_policies(&user.tenant_id)
        .await?
        .iter()
        .map(|p| {
            let options: String = PolicyState::LABELLED
                .iter()
                .map(|(v, l)| format!("<option value=\"{v}\"{}>{l}</option>", if p.state == *v { " selected" } else { "" }))
                .collect();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
             <select name=\"state\">{options}</select> <button>Save</button></form></td></tr>",
                escape(&p.display_name),
                escape(&p.conditions.include_groups.join(", ")),
                escape(&p.conditions.include_applications.join(", ")),
                escape(&p.grant),
                escape(&p.id)
            )
        })
        .collect();
    render(
        "Conditional Access",
        format!(
            "<h1>Conditional Access › Policies</h1><table><tr><th>Policy</th><th>Groups</th><th>Applications</th><th>Grant</th><th>State</th></tr>{rows}</table>"
        ),
    )
}

async fn set_policy_state(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin, body: Bytes) -> Result<Response> {
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
    Ok(Redirect::to("/console/entra/conditional-access").into_response())
}

async fn sign_in_logs(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let rows: String = state
        .store
        .sign_ins(&user.tenant_id, 200)
        .await?
        .iter()
        .map(|s| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                ms_to_rfc3339(s.at_ms),
                escape(&s.upn),
                escape(&s.app_name),
                escape(s.device_id.as_deref().unwrap_or("")),
                if s.error_code == 0 { "Success".to_string() } else { format!("Failure AADSTS{}", s.error_code) },
                escape(&s.ca_status),
                escape(s.failure_reason.as_deref().unwrap_or(""))
            )
        })
        .collect();
    render(
        "Sign-in logs",
        format!(
            "<h1>Sign-in logs</h1><table id=\"sign-ins\"><tr><th>Date</th><th>User</th><th>Application</th><th>Device</th><th>Status</th>\
         <th>Conditional Access</th><th>Failure reason</th></tr>{rows}</table>"
        ),
    )
}
