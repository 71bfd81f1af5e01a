//! The mdm console, server-rendered: sign-in, Settings › Global Management › Conditional
//! Access, the Application ID page, Computers, and Change Management › Logs.

use super::{Path, Query};
use crate::http::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use platform::html::{escape, page};
use platform::problem::Refusal;
use wire::connector_api::Check;

use super::callers::{ConsoleAdmin, Instance, SESSION_COOKIE};
use crate::Shared;
use crate::domain::device_compliance;
use crate::domain::settings::{self, CaSettings};
use crate::error::{MdmError, Result};
use crate::integration::{self, Saved};
use crate::store::InstanceRow;

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn nav(slug: &str) -> String {
    let s = escape(slug);
    format!(
        "<nav><a href=\"/i/{s}\">Dashboard</a><a href=\"/i/{s}/computers\">Computers</a>\
             <a href=\"/i/{s}/settings/global-management/conditional-access\">Settings › Global Management › Conditional Access</a>\
             <a href=\"/i/{s}/settings/system-settings/change-management/logs\">Settings › System Settings › Change Management › Logs</a><a href=\"/i/{s}/settings/system/api-roles-and-clients\">API Roles and Clients</a></nav>"
    )
}

pub async fn server_home(State(state): State<Shared>) -> Result<Html<String>> {
    let items: String = state
        .store
        .instances()
        .await?
        .iter()
        .map(|i| format!("<li><a href=\"/i/{}\">{}</a> (version {})</li>", escape(&i.slug), escape(&i.name), escape(&i.version)))
        .collect();
    Ok(Html(page("Instances", &format!("<h1>Instances on this server</h1><ul>{items}</ul>"))))
}

fn login_page(instance: &InstanceRow, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"bad\">{}</p>", escape(e))).unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>{}</h1>{error}<form method=\"post\" action=\"/i/{}/login\">\
         <label>Username <input name=\"username\" required></label><br>\
         <label>Password <input name=\"password\" type=\"password\" required></label><br>\
         <button type=\"submit\">Log in</button></form>",
            escape(&instance.name),
            escape(&instance.slug)
        ),
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
    let slug = &instance.slug;
    Ok(Html(page(
        &instance.name,
        &format!(
            "{}<h1>{}</h1><p>Signed in as {}. Version {}.</p>\
        <p>Enrollment invitation: <code id=\"invitation\">{}</code></p>",
            nav(slug),
            escape(&instance.name),
            escape(&admin.username),
            escape(&instance.version),
            escape(&instance.invitation)
        ),
    ))
    .into_response())
}

fn checks_table(checks: &[Check]) -> String {
    if checks.is_empty() {
        return String::new();
    }
    let rows: String = checks
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&c.name),
                if c.passed { "ok" } else { "bad" },
                if c.passed { "Passed" } else { "Failed" },
                escape(&c.detail),
                escape(c.remedy.as_deref().unwrap_or(""))
            )
        })
        .collect();
    format!("<h2>Last test</h2><table id=\"checks\"><tr><th>Check</th><th>Result</th><th>Details</th><th>Remedy</th></tr>{rows}</table>")
}

async fn render_ca(state: &Shared, instance: &InstanceRow, message: Option<&str>) -> Result<Response> {
    let (ca, _) = integration::refresh(state, instance).await?;
    let s = &ca.settings;
    let checks: Vec<Check> = serde_json::from_str(&ca.checks).unwrap_or_default();
    let option = |value: &str, label: &str, current: &str| {
        format!("<option value=\"{}\"{}>{}</option>", escape(value), if value == current { " selected" } else { "" }, escape(label))
    };
    let clouds: String = state
        .clouds
        .iter()
        .map(|c| {
            let label = wire::CloudProfile::builtin(c).map(|p| p.display_name).unwrap_or_else(|| "Local (bundled cloud)".into());
            option(c, &label, &s.sovereign_cloud)
        })
        .collect();
    let radio = |value: &str, label: &str| {
        format!(
            "<label><input type=\"radio\" name=\"landing_page\" value=\"{value}\"{}> {label}</label><br>",
            if s.landing_page == value { " checked" } else { "" }
        )
    };
    let message = message.map(|m| format!("<p id=\"message\" class=\"bad\">{}</p>", escape(m))).unwrap_or_default();
    let slug = escape(&instance.slug);
    Ok(Html(page(
        "Conditional Access",
        &format!(
            "{}<h1>Conditional Access › macOS Intune Integration</h1>{message}\
         <p>Connection status: <b id=\"status\">{}</b></p>{}\
         <form method=\"post\" action=\"/i/{slug}/settings/global-management/conditional-access\">\
         <label><input type=\"checkbox\" name=\"enabled\" value=\"true\"{}> Enable Intune Integration for macOS</label><br>\
         <label>Connection Type <select name=\"connection_type\">{}{}</select></label><br>\
         <label>Sovereign Cloud <select name=\"sovereign_cloud\">{clouds}</select></label><br>\
         <fieldset><legend>Landing page for computers not recognized by Microsoft Azure</legend>{}{}{}\
         <label>Custom URL <input name=\"custom_url\" value=\"{}\" size=\"50\"></label></fieldset>\
         <fieldset><legend>Compliance</legend>\
         <label><input type=\"radio\" name=\"compliance_model\" value=\"intune\"{}> Intune evaluates the inventory sent</label><br>\
         <label><input type=\"radio\" name=\"compliance_model\" value=\"device_compliance\"{}> Device Compliance: this instance decides and sends the verdict</label><br>\
         <label>Applicable rule (one criterion per line: field operator value)<br><textarea name=\"applicable_rule\" rows=\"3\" cols=\"50\">{}</textarea></label><br>\
         <label>Compliance rule<br><textarea name=\"compliance_rule\" rows=\"3\" cols=\"50\">{}</textarea></label>\
         <p><small>Fields: {}. Operators: {}.</small></p></fieldset>\
         <fieldset><legend>Manual connection</legend>\
         <label>Microsoft Entra tenant Name <input name=\"manual_tenant\" value=\"{}\"></label><br>\
         <label>Application ID <input name=\"manual_app_id\" value=\"{}\" size=\"40\"></label><br>\
         <label>Client Secret <input name=\"manual_secret\" type=\"password\" placeholder=\"{}\"></label></fieldset>\
         <button name=\"action\" value=\"save\">Save</button> <button name=\"action\" value=\"connect\">Connect</button></form>",
            nav(&instance.slug),
            ca.link_status.label(),
            checks_table(&checks),
            if s.enabled { " checked" } else { "" },
            option(settings::CLOUD_CONNECTOR, "Cloud Connector", &s.connection_type),
            option(settings::MANUAL, "Manual", &s.connection_type),
            radio(settings::LANDING_REGISTRATION, "The default registration page"),
            radio(settings::LANDING_ACCESS_DENIED, "The Access Denied page"),
            radio(settings::LANDING_CUSTOM, "Custom URL"),
            escape(s.custom_url.as_deref().unwrap_or("")),
            if s.compliance_model == settings::MODEL_DEVICE_COMPLIANCE { "" } else { " checked" },
            if s.compliance_model == settings::MODEL_DEVICE_COMPLIANCE { " checked" } else { "" },
            escape(&device_compliance::format_rule(&s.applicable_rule)),
            escape(&device_compliance::format_rule(&s.compliance_rule)),
            device_compliance::FIELDS.join(", "),
            device_compliance::OPERATORS.join(", "),
            escape(s.manual_tenant.as_deref().unwrap_or("")),
            escape(s.manual_app_id.as_deref().unwrap_or("")),
            // The secret is never shown back, only whether one is stored.
            if ca.manual_secret.is_some() { "stored (enter a new one to replace it)" } else { "" },
        ),
    ))
    .into_response())
}

pub async fn ca_page(State(state): State<Shared>, ConsoleAdmin { instance, admin: _ }: ConsoleAdmin) -> Result<Response> {
    render_ca(&state, &instance, None).await
}

pub async fn ca_save(State(state): State<Shared>, ConsoleAdmin { instance, admin }: ConsoleAdmin, body: Bytes) -> Result<Response> {
    let slug = &instance.slug;
    let f = form(&body);
    let proposed = CaSettings {
        enabled: f.get("enabled").is_some_and(|v| v == "true" || v == "on"),
        connection_type: f.get("connection_type").cloned().unwrap_or_else(|| settings::CLOUD_CONNECTOR.into()),
        sovereign_cloud: f.get("sovereign_cloud").cloned().unwrap_or_else(|| "local".into()),
        landing_page: f.get("landing_page").cloned().unwrap_or_else(|| settings::LANDING_REGISTRATION.into()),
        custom_url: f.get("custom_url").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        manual_tenant: f.get("manual_tenant").map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()),
        manual_app_id: f.get("manual_app_id").map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()),
        compliance_model: f.get("compliance_model").cloned().unwrap_or_else(|| settings::MODEL_INTUNE.into()),
        applicable_rule: vec![],
        compliance_rule: vec![],
    };
    let mut proposed = proposed;
    for (key, rule) in [("applicable_rule", &mut proposed.applicable_rule), ("compliance_rule", &mut proposed.compliance_rule)] {
        match device_compliance::parse_rule(f.get(key).map(String::as_str).unwrap_or("")) {
            Ok(r) => *rule = r,
            Err(e) => return render_ca(&state, &instance, Some(&e)).await,
        }
    }
    let new_secret = f.get("manual_secret").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let connect = f.get("action").is_some_and(|a| a == "connect");
    match integration::save(&state, &instance, &admin, proposed, new_secret, connect).await {
        Ok(Saved::Redirect(url)) => Ok(Redirect::to(&url).into_response()),
        Ok(Saved::Done) => Ok(Redirect::to(&format!("/i/{slug}/settings/global-management/conditional-access")).into_response()),
        Err(e @ (MdmError::Refused(Refusal::Invalid(_) | Refusal::Forbidden(_) | Refusal::Conflict(_)) | MdmError::Upstream(_))) => {
            render_ca(&state, &instance, Some(&e.to_string())).await
        }
        Err(e) => Err(e),
    }
}

#[derive(serde::Deserialize)]
pub struct ConsentReturn {
    error: Option<String>,
    error_description: Option<String>,
}

/// After both consents: the Application ID to paste into Intune, and Confirm.
pub async fn application_id_page(
    State(state): State<Shared>,
    Query(q): Query<ConsentReturn>,
    ConsoleAdmin { instance, admin: _ }: ConsoleAdmin,
) -> Result<Response> {
    let slug = &instance.slug;
    if let Some(error) = q.error {
        let detail = q.error_description.unwrap_or(error);
        return render_ca(&state, &instance, Some(&format!("Consent was not granted: {detail}"))).await;
    }
    let (_, view) = integration::refresh(&state, &instance).await?;
    let view = view.ok_or_else(|| MdmError::Page("There is no connection in progress; use Connect first.".into()))?;
    let intune = view.intune_partner_page.clone().unwrap_or_default();
    Ok(Html(page(
        "Application ID",
        &format!(
            "{}<h1>Application ID</h1><p>Paste this Application ID into Intune › Tenant administration › Connectors and tokens › \
         Partner device management › <i>Specify the Microsoft Entra App ID for Jamf</i>, and Save.</p>\
         <p><code id=\"application-id\">{}</code></p>\
         <p><a id=\"copy-and-open-intune\" href=\"{}\" target=\"_blank\" \
         onclick=\"navigator.clipboard.writeText(document.getElementById('application-id').textContent)\">Copy and Open Intune</a></p>\
         <form method=\"post\" action=\"/i/{}/settings/global-management/conditional-access/confirm\"><button>Confirm</button></form>",
            nav(slug),
            escape(&view.application_id),
            escape(&intune),
            escape(slug)
        ),
    ))
    .into_response())
}

pub async fn ca_confirm(State(state): State<Shared>, ConsoleAdmin { instance, admin }: ConsoleAdmin) -> Result<Response> {
    let slug = &instance.slug;
    match integration::confirm(&state, &instance, &admin).await {
        Ok(_) => Ok(Redirect::to(&format!("/i/{slug}/settings/global-management/conditional-access")).into_response()),
        Err(e @ (MdmError::Refused(Refusal::Forbidden(_) | Refusal::Conflict(_) | Refusal::NotFound(_)) | MdmError::Upstream(_))) => {
            render_ca(&state, &instance, Some(&e.to_string())).await
        }
        Err(e) => Err(e),
    }
}

#[derive(serde::Deserialize)]
pub struct Search {
    q: Option<String>,
}

pub async fn computers(
    State(state): State<Shared>,
    Query(s): Query<Search>,
    ConsoleAdmin { instance, admin: _ }: ConsoleAdmin,
) -> Result<Response> {
    let slug = &instance.slug;
    let q = s.q.unwrap_or_default();
    let rows: String = state
        .store
        .computers(&instance.id, &q, 0, 500)
        .await?
        .iter()
        .map(|c| {
            format!(
                "<tr><td><a href=\"/i/{}/computers/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(slug),
                c.id,
                escape(&c.name),
                escape(&c.serial_number),
                escape(&c.model),
                c.last_checkin_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_default()
            )
        })
        .collect();
    Ok(Html(page(
        "Computers",
        &format!(
            "{}<h1>Computers</h1><form><input name=\"q\" value=\"{}\"> <button>Search</button></form>\
         <table><tr><th>Name</th><th>Serial number</th><th>Model</th><th>Last check-in</th></tr>{rows}</table>",
            nav(slug),
            escape(&q)
        ),
    ))
    .into_response())
}

pub async fn computer(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, i64)>,
    ConsoleAdmin { instance, admin: _ }: ConsoleAdmin,
) -> Result<Response> {
    let computer = state.store.computer(&instance.id, id).await?.ok_or_else(|| MdmError::Page(format!("No computer {id}.")))?;
    let view = crate::agent::ca_view(&state, &computer).await?;
    let users: String = view.users.iter().map(user_row).collect();
    let inventory: Option<wire::agent::InventoryReport> = computer.inventory.as_deref().and_then(|i| serde_json::from_str(i).ok());
    let ms = |t: Option<i64>| t.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "never".into());
    let mut general = [
        row("Serial number", escape(&computer.serial_number)),
        row("UDID", escape(&computer.udid)),
        row("Last inventory update", ms(computer.collected_ms)),
        row("Last check-in", ms(computer.last_checkin_ms)),
        row("Enrolled", ms(Some(computer.enrolled_ms))),
    ]
    .concat();
    let sections = match &inventory {
        Some(i) => {
            general.push_str(&row("Model", escape(&i.model)));
            inventory_sections(i)
        }
        None => String::new(),
    };
    let history: String = state.store.inventory_history(computer.id, 50).await?.iter().map(history_row).collect();
    Ok(Html(page(&computer.name, &format!(
        "{}<h1>{}</h1><h2>General</h2><table id=\"general\">{general}</table>{sections}\
         <h2>Local User Accounts</h2><table id=\"local-users\"><tr><th>Username</th><th>Computer Azure Active Directory ID</th>\
         <th>User Azure Active Directory ID</th><th>Conditional Access Inventory State</th><th>Last inventory sent</th>\
         <th>Intune compliance</th></tr>{users}</table>\
         <h2>History</h2><table id=\"history\"><tr><th>Received</th><th>Collected</th><th>Kind</th><th>Sequence</th><th>Changed</th></tr>{history}</table>",
        nav(&instance.slug), escape(&computer.name)))).into_response())
}

/// One row of a record's table: a label and its (escaped) value.
fn row(name: &str, value: String) -> String {
    format!("<tr><th>{name}</th><td>{value}</td></tr>")
}

/// An optional value, escaped, or a dash.
fn opt(v: Option<String>) -> String {
    escape(&v.unwrap_or_else(|| "—".into()))
}

/// A registered user of the Mac: its Entra IDs, delivery and Intune's verdict.
fn user_row(u: &wire::agent::LocalUserCa) -> String {
    let reasons: String = u.compliance_reasons.iter().map(|r| format!("<li>{}</li>", escape(r))).collect();
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"delivery\">{}</td><td class=\"compliance\">{}{}</td></tr>",
        escape(&u.username),
        escape(u.computer_azure_active_directory_id.as_deref().unwrap_or("")),
        escape(u.user_azure_active_directory_id.as_deref().unwrap_or("")),
        escape(&u.conditional_access_inventory_state),
        escape(&u.delivery_state),
        escape(u.compliance_state.as_deref().unwrap_or("")),
        if reasons.is_empty() { String::new() } else { format!("<ul>{reasons}</ul>") }
    )
}

fn history_row(h: &crate::store::HistoryRow) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        platform::clock::ms_to_rfc3339(h.received_ms),
        platform::clock::ms_to_rfc3339(h.collected_ms),
        escape(&h.kind),
        h.sequence,
        escape(&h.changed)
    )
}

/// The record's inventory categories as Jamf Pro names them: Hardware, Operating System,
/// Security, Disk Encryption and Password Policy.
fn inventory_sections(i: &wire::agent::InventoryReport) -> String {
    let h = &i.hardware;
    let hardware = [
        row("Model identifier", opt(h.model_identifier.clone())),
        row("Architecture", opt(h.processor_architecture.clone())),
        row("Processor", opt(h.processor_type.clone())),
        row("Cores", opt(h.core_count.map(|n| n.to_string()))),
        row("Total RAM (MB)", opt(h.total_ram_mb.map(|n| n.to_string()))),
        row("MAC address", opt(h.mac_address.clone())),
    ]
    .concat();
    let os = [row("Name", escape(&i.os_name)), row("Version", escape(&i.os_version)), row("Build", escape(&i.os_build))].concat();
    let sec = &i.security;
    let on = |b: bool| if b { "Enabled" } else { "Disabled" }.to_string();
    let security = [
        row("System Integrity Protection", sec.sip.partner_value().unwrap_or("Not collected").to_string()),
        row("Gatekeeper", sec.gatekeeper.partner_value().unwrap_or("Not collected").to_string()),
        row("Firewall", on(sec.firewall_enabled)),
        row("Block all incoming connections", on(sec.firewall_block_all_incoming)),
        row("Stealth mode", on(sec.firewall_stealth_mode)),
        row("Automatic login", if sec.prevent_auto_login { "Disabled" } else { "Allowed" }.to_string()),
    ]
    .concat();
    let volumes: String = i
        .volumes
        .iter()
        .map(|v| {
            format!("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", escape(&v.name), if v.boot { "yes" } else { "" }, v.filevault.as_str())
        })
        .collect();
    let p = &i.password_policy;
    let password = [
        row("Minimum length", opt(p.min_length.map(|n| n.to_string()))),
        row("Minimum complex characters", opt(p.min_complex_characters.map(|n| n.to_string()))),
        row("Require alphanumeric", opt(p.require_alphanumeric.map(|b| b.to_string()))),
        row("Maximum age (days)", opt(p.max_age_days.map(|n| n.to_string()))),
        row("Passwords remembered", opt(p.history_depth.map(|n| n.to_string()))),
    ]
    .concat();
    format!(
        "<h2>Hardware</h2><table id=\"hardware\">{hardware}</table>\
         <h2>Operating System</h2><table id=\"os\">{os}</table>\
         <h2>Security</h2><table id=\"security\">{security}</table>\
         <h2>Disk Encryption</h2><p>FileVault 2 status: <b id=\"filevault-status\">{}</b></p>\
         <table id=\"volumes\"><tr><th>Volume</th><th>Boot</th><th>FileVault 2 state</th></tr>{volumes}</table>\
         <h2>Password Policy</h2><table id=\"password-policy\">{password}</table>",
        i.filevault_status()
    )
}

#[derive(serde::Deserialize)]
pub struct LogFilter {
    object_type: Option<String>,
}

pub async fn change_log(
    State(state): State<Shared>,
    Query(f): Query<LogFilter>,
    ConsoleAdmin { instance, admin: _ }: ConsoleAdmin,
) -> Result<Response> {
    let slug = &instance.slug;
    let object_type = f.object_type.unwrap_or_default();
    let rows: String = state
        .store
        .change_log(&instance.id, &object_type)
        .await?
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><details><summary>Details</summary>{}</details></td></tr>",
                platform::clock::ms_to_rfc3339(r.at_ms),
                escape(&r.username),
                escape(&r.object_type),
                escape(&r.object_name),
                escape(&r.action),
                escape(&r.details)
            )
        })
        .collect();
    Ok(Html(page("Change Management Logs", &format!(
        "{}<h1>Change Management › Logs</h1><form><label>Object type <input name=\"object_type\" value=\"{}\"></label> <button>Search</button></form>\
         <table id=\"logs\"><tr><th>Date/Time</th><th>Username</th><th>Object Type</th><th>Object Name</th><th>Action</th><th>Details</th></tr>{rows}</table>",
        nav(slug), escape(&object_type)))).into_response())
}

/// Settings › System › API Roles and Clients: clients for the read API (the secret is
/// shown once).
pub async fn api_clients(State(state): State<Shared>, ConsoleAdmin { instance, admin: _ }: ConsoleAdmin) -> Result<Response> {
    render_api_clients(&state, &instance, None).await
}

async fn render_api_clients(state: &Shared, instance: &InstanceRow, message: Option<String>) -> Result<Response> {
    let rows: String = state
        .store
        .api_clients(&instance.id)
        .await?
        .iter()
        .map(|(id, name)| format!("<tr><td>{}</td><td>{}</td></tr>", escape(name), escape(id)))
        .collect();
    let message = message.map(|m| format!("<p id=\"message\">{}</p>", escape(&m))).unwrap_or_default();
    Ok(Html(page(
        "API Roles and Clients",
        &format!(
            "{}<h1>API Roles and Clients</h1>{message}<table><tr><th>Display name</th><th>Client ID</th></tr>{rows}</table>\
         <form method=\"post\"><label>Display name <input name=\"name\" required></label> <button>Create client</button></form>",
            nav(&instance.slug)
        ),
    ))
    .into_response())
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
