//! Intune admin center › Devices › Compliance: policies (create, assign), the tenant's
//! compliance policy settings, and the dashboard with each device's per-setting report.

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::clock::ms_to_rfc3339;
use platform::flash;
use platform::html::{Markup, html};

use super::{ConsoleAdmin, Here, render};
use crate::Shared;
use crate::entra::directory::User;
use crate::error::{CloudError, Result};
use crate::http::{Bytes, Path, form};
use crate::intune::combine::PolicyState;
use crate::intune::compliance::{
    ComplianceState, MacOsPolicySettings, ScheduledActionConfiguration, ScheduledActionsForRule, SettingResult, SettingState,
};
use crate::intune::enforcement::Enforcement;
use crate::intune::{policies, policy_settings};
use wire::DeviceId;

pub const POLICIES: &str = "/console/intune/devices/compliance-policies";
pub const SETTINGS: &str = "/console/intune/devices/compliance-policy-settings";
pub const DASHBOARD: &str = "/console/intune/devices/compliance";

pub fn router() -> Router<Shared> {
    Router::new()
        .route(POLICIES, get(list).post(create))
        .route("/console/intune/devices/compliance-policies/{id}/assign", post(assign))
        .route(SETTINGS, get(settings).post(save_settings))
        .route(DASHBOARD, get(dashboard))
        .route("/console/intune/devices/{device}/compliance", get(device_report))
}

async fn list(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    render_list(&state, &user, &here, &HashMap::new(), None).await
}

/// The policies, and the form to create one filled with `fields` (as posted, when a
/// submission was refused with `error`: 422).
async fn render_list(state: &Shared, user: &User, here: &Here, fields: &HashMap<String, String>, error: Option<&str>) -> Result<Response> {
    let groups = state.store.groups(&user.tenant_id).await?;
    let group_options = html! { @for (id, name) in &groups { option value=(id) { (name) } } };
    let mut rows = Vec::new();
    let now = state.clock.now_ms();
    for p in state.store.policies(&user.tenant_id).await? {
        let assigned: Vec<(String, Enforcement)> = state
            .store
            .policy_assignments(&p.id)
            .await?
            .into_iter()
            .map(|(g, e)| (groups.iter().find(|(id, _)| *id == g).map(|(_, n)| n.clone()).unwrap_or(g), e))
            .collect();
        let settings: serde_json::Value = serde_json::from_str(&p.settings).unwrap_or_default();
        let configured: Vec<String> = settings
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| !k.starts_with('@') && **v != serde_json::Value::Bool(false) && !v.is_null())
            .map(|(k, v)| format!("{}: {}", policy_settings::label(k), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect();
        rows.push(html! {
            tr {
                td { (p.display_name) } td { (configured.join(", ")) }
                td { ul class="assignments" { @for (group, e) in &assigned { li { (group) ": " (badge(*e, now)) } } } }
                td { form method="post" action={ (POLICIES) "/" (p.id) "/assign" } {
                    select name="group" aria-label={ "Group to assign " (p.display_name) " to" } { (group_options) } " "
                    (enforcement_fields(&HashMap::new())) " " button { "Assign" }
                } }
            }
        });
    }
    let page = render(
        here,
        "Compliance policies",
        html! {
            h1 { "Compliance policies (macOS)" }
            p class="muted" { "Roll a policy out in steps: " b { "Report only" } " shows who would fail it; " b { "Warn" }
                " lets users in but shows them what to fix and by when, then blocks after the deadline; " b { "Block" } " enforces it. Assigning a group again changes its step." }
            table id="policies" { tr { th { "Policy" } th { "Settings" } th { "Assigned to (enforcement)" } th {} } @for r in rows { (r) } }
            h2 id="create" { "Create policy" }
            @if let Some(e) = error { p id="error" class="message error" role="alert" { (e) } }
            (policy_form(&group_options, fields))
        },
    )?;
    Ok(if error.is_some() { (StatusCode::UNPROCESSABLE_ENTITY, page).into_response() } else { page })
}

/// A new macOS compliance policy's settings, labelled as the Intune admin center labels
/// them and named as Graph names them, filled with `fields`.
fn policy_form(group_options: &Markup, fields: &HashMap<String, String>) -> Markup {
    let v = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let check = |name: &str| html! { label { input type="checkbox" name=(name) value="true" checked[!v(name).is_empty()]; " " (policy_settings::label(name)) } };
    let text = |name: &str, size: &str, placeholder: &str| {
        html! { label { (policy_settings::label(name)) " " input name=(name) value=(v(name)) size=(size) placeholder=(placeholder); } }
    };
    let gatekeeper = [
        ("", "Not configured"),
        ("macAppStore", "Mac App Store"),
        ("macAppStoreAndIdentifiedDevelopers", "Mac App Store and identified developers"),
        ("anywhere", "Anywhere"),
    ];
    html! {
        form class="stacked" method="post" action=(POLICIES) {
            label { "Name " input name="displayName" value=(v("displayName")) required; }
            fieldset { legend { "System Security" } (check("storageRequireEncryption")) (check("firewallEnabled")) (check("passwordRequired")) (text("passwordMinimumLength", "3", "")) }
            fieldset { legend { "Device Health" } (check("systemIntegrityProtectionEnabled")) }
            fieldset {
                legend { "Device Properties" }
                (text("osMinimumVersion", "8", "14.5")) (text("osMaximumVersion", "8", ""))
                (text("osMinimumBuildVersion", "12", "23H124")) (text("osMaximumBuildVersion", "12", ""))
            }
            label { (policy_settings::label("gatekeeperAllowedAppSource")) " " select name="gatekeeperAllowedAppSource" {
                @for (value, label) in gatekeeper { option value=(value) selected[v("gatekeeperAllowedAppSource") == value] { (label) } }
            } }
            label { "Mark device noncompliant after (grace period, hours) " input name="gracePeriodHours" value=(if v("gracePeriodHours").is_empty() { "0" } else { v("gracePeriodHours") }) size="4"; }
            label { "Assign to " select name="group" { option value="" { "(later)" } (group_options) } }
            (enforcement_fields(fields))
            button { "Create" }
        }
    }
}

async fn create(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    match create_policy(&state, &user, &f).await {
        Ok(message) => Ok(flash::redirect(POLICIES, &message)),
        Err(CloudError::Page(e)) => render_list(&state, &user, &here, &f, Some(&e)).await,
        Err(e) => Err(e),
    }
}

/// The policy `f` describes, created (and assigned when a group is chosen); what to tell
/// the admin. Once the policy exists, a failed assignment is told, not refused: the form
/// sent again would create it twice.
async fn create_policy(state: &Shared, user: &User, f: &HashMap<String, String>) -> Result<String> {
    let text = |k: &str| f.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let number = |k: &str| -> Result<Option<i64>> {
        text(k).map(|v| v.parse::<i64>().map_err(|_| CloudError::Page(format!("{k} must be a whole number.")))).transpose()
    };
    let grace = number("gracePeriodHours")?.unwrap_or(0);
    let settings = MacOsPolicySettings {
        storage_require_encryption: text("storageRequireEncryption").is_some(),
        system_integrity_protection_enabled: text("systemIntegrityProtectionEnabled").is_some(),
        firewall_enabled: text("firewallEnabled").is_some(),
        password_required: text("passwordRequired").is_some(),
        password_minimum_length: number("passwordMinimumLength")?.map(|n| n as i32),
        os_minimum_version: text("osMinimumVersion"),
        os_maximum_version: text("osMaximumVersion"),
        os_minimum_build_version: text("osMinimumBuildVersion"),
        os_maximum_build_version: text("osMaximumBuildVersion"),
        gatekeeper_allowed_app_source: text("gatekeeperAllowedAppSource"),
        scheduled_actions_for_rule: vec![ScheduledActionsForRule {
            rule_name: None,
            scheduled_action_configurations: vec![ScheduledActionConfiguration { action_type: "block".into(), grace_period_hours: grace }],
        }],
        ..Default::default()
    };
    let name = text("displayName").ok_or_else(|| CloudError::Page("The policy needs a name.".into()))?;
    settings.validate().map_err(CloudError::Page)?;
    let enforcement = enforcement_from(f, state.clock.now_ms())?;
    let row = policies::create(&state.store, &user.tenant_id, &name, &settings, state.clock.now_ms()).await?;
    if let Some(group) = text("group")
        && let Err(e) = policies::assign(
            &state.store,
            &user.tenant_id,
            &row.id,
            &[(group, enforcement)],
            state.config.no_policy_is_compliant,
            state.clock.now_ms(),
        )
        .await
    {
        return Ok(format!("Created {name}; not assigned: {e}"));
    }
    Ok(format!("Created {name}."))
}

/// Assigns the policy to a group with the enforcement chosen; a group already assigned
/// moves to that enforcement.
async fn assign(State(state): State<Shared>, Path(id): Path<String>, ConsoleAdmin(user, _): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let Some(group) = f.get("group").cloned().filter(|g| !g.is_empty()) else {
        return Ok(flash::redirect(POLICIES, "Choose a group to assign the policy to."));
    };
    let now = state.clock.now_ms();
    let enforcement = match enforcement_from(&f, now) {
        Ok(e) => e,
        Err(e) => return Ok(flash::redirect(POLICIES, &e.to_string())),
    };
    let mut assigned = state.store.policy_assignments(&id).await?;
    match assigned.iter_mut().find(|(g, _)| *g == group) {
        Some((_, e)) => *e = enforcement,
        None => assigned.push((group, enforcement)),
    }
    let message = match policies::assign(&state.store, &user.tenant_id, &id, &assigned, state.config.no_policy_is_compliant, now).await {
        Ok(_) => format!("Assigned: {}.", enforcement.label(now)),
        Err(e) => e.to_string(),
    };
    Ok(flash::redirect(POLICIES, &message))
}

/// The enforcement choice of a form: `enforcement` and, for a warning, `warn_until`
/// (`YYYY-MM-DDTHH:MM`, UTC, as a `datetime-local` input sends it).
fn enforcement_from(f: &HashMap<String, String>, now_ms: i64) -> Result<Enforcement> {
    let mode = f.get("enforcement").map(String::as_str).unwrap_or("block");
    let until = match f.get("warn_until").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(v) => Some(
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
                .map_err(|_| CloudError::Page(format!("'{v}' is not a date and time (YYYY-MM-DDTHH:MM, UTC).")))?
                .and_utc()
                .timestamp_millis(),
        ),
        None => None,
    };
    Enforcement::parse(mode, until, now_ms).map_err(CloudError::Page)
}

/// The enforcement select and the warning's deadline, filled with `fields`.
fn enforcement_fields(fields: &HashMap<String, String>) -> Markup {
    let chosen = fields.get("enforcement").map(String::as_str).unwrap_or("block");
    let modes = [("block", "Block"), ("warn", "Warn until…"), ("reportOnly", "Report only")];
    html! {
        label { "Enforcement " select name="enforcement" { @for (v, l) in modes { option value=(v) selected[chosen == v] { (l) } } } }
        " "
        label { "Block from (UTC) " input type="datetime-local" name="warn_until" value=(fields.get("warn_until").map(String::as_str).unwrap_or("")); }
    }
}

/// An assignment's enforcement as a badge: grey report only, amber warning, red block.
fn badge(e: Enforcement, now_ms: i64) -> Markup {
    let class = match e {
        Enforcement::ReportOnly => "badge none",
        Enforcement::Warn { until_ms } if until_ms > now_ms => "badge wait",
        _ => "badge bad",
    };
    html! { span class=(class) { (e.label(now_ms)) } }
}

async fn settings(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    render_settings(&state, &user, &here, None).await
}

/// The tenant's compliance policy settings; a refused submission comes back as posted,
/// with the reason (422).
async fn render_settings(state: &Shared, user: &User, here: &Here, refused: Option<(&HashMap<String, String>, &str)>) -> Result<Response> {
    let (stored_no_policy, stored_days) = state.store.compliance_settings(&user.tenant_id, state.config.no_policy_is_compliant).await?;
    let (no_policy, days) = match refused {
        Some((f, _)) => {
            (f.get("no_policy").map(String::as_str) != Some("noncompliant"), f.get("validity_days").cloned().unwrap_or_default())
        }
        None => (stored_no_policy, stored_days.to_string()),
    };
    let page = render(
        here,
        "Compliance policy settings",
        html! {
            h1 { "Compliance policy settings" }
            @if let Some((_, e)) = refused { p id="error" class="message error" role="alert" { (e) } }
            form class="stacked" method="post" {
                label { "Mark devices with no compliance policy assigned as " select name="no_policy" {
                    option value="compliant" selected[no_policy] { "Compliant" }
                    option value="noncompliant" selected[!no_policy] { "Not compliant" }
                } }
                label { "Compliance status validity period (days, 1–120) " input name="validity_days" value=(days) size="4"; }
                button { "Save" }
            }
        },
    )?;
    Ok(if refused.is_some() { (StatusCode::UNPROCESSABLE_ENTITY, page).into_response() } else { page })
}

async fn save_settings(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let days: Option<i64> = f.get("validity_days").and_then(|d| d.trim().parse().ok()).filter(|d| (1..=120).contains(d));
    let Some(days) = days else {
        return render_settings(&state, &user, &here, Some((&f, "The validity period must be 1 to 120 days."))).await;
    };
    let no_policy = f.get("no_policy").map(String::as_str) != Some("noncompliant");
    state.store.save_compliance_settings(&user.tenant_id, no_policy, days).await?;
    Ok(flash::redirect(SETTINGS, "Saved."))
}

/// A stored state's label; a text that names no state is shown as stored.
fn state_label(s: &str) -> &str {
    s.parse::<ComplianceState>().map_or(s, |c| c.label())
}

async fn dashboard(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    let counts = state.store.compliance_counts(&user.tenant_id).await?;
    let devices = state.store.managed_devices(&user.tenant_id, "", 500).await?;
    render(
        &here,
        "Device compliance",
        html! {
            h1 { "Devices › Compliance" }
            table id="counts" {
                tr { th { "State" } th { "Devices" } }
                @for (s, n) in &counts { tr { td { (state_label(s)) } td id={ "count-" (s) } { (n) } } }
            }
            h2 { "Devices (first 500)" }
            table {
                tr { th { "Device" } th { "OS version" } th { "Compliance" } th { "Last check-in" } }
                @for m in &devices {
                    tr {
                        td { a href={ "/console/intune/devices/" (m.device_id) "/compliance" } { (m.device_name.as_deref().unwrap_or(&m.device_id)) } }
                        td { (m.os_version.as_deref().unwrap_or("")) }
                        td { (m.compliance_state.label()) }
                        td { (ms_to_rfc3339(m.last_sync_ms)) }
                    }
                }
            }
        },
    )
}

async fn device_report(
    State(state): State<Shared>,
    Path(device_id): Path<DeviceId>,
    ConsoleAdmin(user, here): ConsoleAdmin,
) -> Result<Response> {
    let m = state
        .store
        .managed_device(&device_id)
        .await?
        .filter(|m| m.tenant_id == user.tenant_id)
        .ok_or_else(|| CloudError::Page(format!("No partner device {device_id} in this tenant.")))?;
    let names: HashMap<String, String> = state.store.policies(&user.tenant_id).await?.into_iter().map(|p| (p.id, p.display_name)).collect();
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let now = state.clock.now_ms();
    let policies = serde_json::from_str::<Vec<PolicyState>>(&m.policy_states).unwrap_or_default();
    let results: Vec<SettingResult> = serde_json::from_str(&m.setting_results).unwrap_or_default();
    render(
        &here,
        "Device compliance",
        html! {
            h1 { (m.device_name.as_deref().unwrap_or(&m.device_id)) }
            p { "State: " b id="state" { (m.compliance_state.label()) }
                @if let Some(g) = m.grace_expires_ms { " · grace period ends " (ms_to_rfc3339(g)) } }
            h2 { "Policies" }
            table id="policies" {
                tr { th { "Policy" } th { "State" } th { "Grace period ends" } th { "Enforcement" } }
                @for p in &policies {
                    // A grace period that ended since the last report shows as what the device now is.
                    @let expired = p.state == ComplianceState::InGracePeriod && p.grace_expires_ms.is_some_and(|g| g <= now);
                    tr {
                        td { (name_of(&p.policy_id)) }
                        td class="policy-state" { (if expired { ComplianceState::Noncompliant } else { p.state }.label()) }
                        td { (p.grace_expires_ms.map(ms_to_rfc3339).unwrap_or_default()) }
                        td class="enforcement" { (badge(p.enforcement, now)) }
                    }
                }
            }
            h2 { "Settings" }
            table id="settings" {
                tr { th { "Policy" } th { "Setting" } th { "Required" } th { "Reported" } th { "Result" } }
                @for r in &results {
                    tr {
                        td { (name_of(&r.policy_id)) } td { (policy_settings::label(&r.setting)) } td { (r.expected) }
                        td { (r.actual.as_deref().unwrap_or("not reported")) }
                        td class=(if matches!(r.state, SettingState::Noncompliant | SettingState::Error) { "bad" } else { "ok" }) { (format!("{:?}", r.state)) }
                    }
                }
            }
        },
    )
}
