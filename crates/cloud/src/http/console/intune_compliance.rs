//! Intune admin center › Devices › Compliance: policies (create, assign), the tenant's
//! compliance policy settings, and the dashboard with each device's per-setting report.

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use platform::clock::ms_to_rfc3339;
use platform::html::{escape, page};

use super::{ConsoleAdmin, nav};
use crate::Shared;
use crate::error::{CloudError, Result};
use crate::http::{Bytes, Path, form};
use crate::intune::combine::PolicyState;
use crate::intune::compliance::{
    ComplianceState, MacOsPolicySettings, ScheduledActionConfiguration, ScheduledActionsForRule, SettingResult, SettingState,
};
use crate::intune::policies;

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

fn render(title: &str, body: String) -> Result<Response> {
    Ok(Html(page(title, &format!("{}{body}", nav()))).into_response())
}

async fn list(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let groups = state.store.groups(&user.tenant_id).await?;
    let group_options: String =
        groups.iter().map(|(id, name)| format!("<option value=\"{}\">{}</option>", escape(id), escape(name))).collect();
    let mut rows = String::new();
    for p in state.store.policies(&user.tenant_id).await? {
        let assigned: Vec<String> = state
            .store
            .policy_assignments(&p.id)
            .await?
            .iter()
            .map(|g| groups.iter().find(|(id, _)| id == g).map(|(_, n)| n.clone()).unwrap_or_else(|| g.clone()))
            .collect();
        let settings: serde_json::Value = serde_json::from_str(&p.settings).unwrap_or_default();
        let configured: Vec<String> = settings
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| !k.starts_with('@') && **v != serde_json::Value::Bool(false) && !v.is_null())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"{POLICIES}/{}/assign\">\
             <select name=\"group\">{group_options}</select> <button>Assign</button></form></td></tr>",
            escape(&p.display_name),
            escape(&configured.join(", ")),
            escape(&assigned.join(", ")),
            escape(&p.id)
        ));
    }
    render(
        "Compliance policies",
        format!(
            "<h1>Devices › Compliance › Policies (macOS)</h1><table id=\"policies\"><tr><th>Policy</th><th>Settings</th><th>Assigned to</th><th></th></tr>{rows}</table>\
         <h2>Create policy</h2><form method=\"post\" action=\"{POLICIES}\">\
         <label>Name <input name=\"displayName\" required></label><br>\
         <label><input type=\"checkbox\" name=\"storageRequireEncryption\" value=\"true\"> Require encryption of data storage (FileVault)</label><br>\
         <label><input type=\"checkbox\" name=\"systemIntegrityProtectionEnabled\" value=\"true\"> Require System Integrity Protection</label><br>\
         <label><input type=\"checkbox\" name=\"firewallEnabled\" value=\"true\"> Firewall</label><br>\
         <label><input type=\"checkbox\" name=\"passwordRequired\" value=\"true\"> Require a password</label>\
         <label>Minimum password length <input name=\"passwordMinimumLength\" size=\"3\"></label><br>\
         <label>Minimum OS version <input name=\"osMinimumVersion\" size=\"8\" placeholder=\"14.5\"></label> \
         <label>Maximum OS version <input name=\"osMaximumVersion\" size=\"8\"></label><br>\
         <label>Minimum OS build version <input name=\"osMinimumBuildVersion\" size=\"12\" placeholder=\"23H124\"></label> \
         <label>Maximum OS build version <input name=\"osMaximumBuildVersion\" size=\"12\"></label><br>\
         <label>Gatekeeper <select name=\"gatekeeperAllowedAppSource\"><option value=\"\">Not configured</option>\
         <option value=\"macAppStore\">Mac App Store</option><option value=\"macAppStoreAndIdentifiedDevelopers\">Mac App Store and identified developers</option>\
         <option value=\"anywhere\">Anywhere</option></select></label><br>\
         <label>Mark device noncompliant after (grace period, hours) <input name=\"gracePeriodHours\" value=\"0\" size=\"4\"></label><br>\
         <label>Assign to <select name=\"group\"><option value=\"\">(later)</option>{group_options}</select></label><br>\
         <button>Create</button></form>"
        ),
    )
}

async fn create(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
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
    let row = policies::create(&state.store, &user.tenant_id, &name, &settings, state.clock.now_ms()).await?;
    if let Some(group) = text("group") {
        policies::assign(&state.store, &user.tenant_id, &row.id, &[group]).await.map_err(|e| CloudError::Page(e.to_string()))?;
    }
    Ok(Redirect::to(POLICIES).into_response())
}

async fn assign(State(state): State<Shared>, Path(id): Path<String>, ConsoleAdmin(user): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let group = form(&body).get("group").cloned().filter(|g| !g.is_empty()).ok_or_else(|| CloudError::Page("Choose a group.".into()))?;
    let mut groups = state.store.policy_assignments(&id).await?;
    if !groups.contains(&group) {
        groups.push(group);
    }
    policies::assign(&state.store, &user.tenant_id, &id, &groups).await.map_err(|e| CloudError::Page(e.to_string()))?;
    Ok(Redirect::to(POLICIES).into_response())
}

async fn settings(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let (no_policy, days) = state.store.compliance_settings(&user.tenant_id, state.config.no_policy_is_compliant).await?;
    render(
        "Compliance policy settings",
        format!(
            "<h1>Compliance policy settings</h1><form method=\"post\">\
         <label>Mark devices with no compliance policy assigned as <select name=\"no_policy\">\
         <option value=\"compliant\"{}>Compliant</option><option value=\"noncompliant\"{}>Not compliant</option></select></label><br>\
         <label>Compliance status validity period (days, 1–120) <input name=\"validity_days\" value=\"{days}\" size=\"4\"></label><br>\
         <button>Save</button></form>",
            if no_policy { " selected" } else { "" },
            if no_policy { "" } else { " selected" }
        ),
    )
}

async fn save_settings(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let days: i64 = f
        .get("validity_days")
        .and_then(|d| d.trim().parse().ok())
        .filter(|d| (1..=120).contains(d))
        .ok_or_else(|| CloudError::Page("The validity period must be 1 to 120 days.".into()))?;
    let no_policy = f.get("no_policy").map(String::as_str) != Some("noncompliant");
    state.store.save_compliance_settings(&user.tenant_id, no_policy, days).await?;
    Ok(Redirect::to(SETTINGS).into_response())
}

/// A stored state's label; a text that names no state is shown as stored.
fn state_label(s: &str) -> &str {
    s.parse::<ComplianceState>().map_or(s, |c| c.label())
}

async fn dashboard(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let counts: String = state
        .store
        .compliance_counts(&user.tenant_id)
        .await?
        .iter()
        .map(|(s, n)| format!("<tr><td>{}</td><td id=\"count-{}\">{n}</td></tr>", state_label(s), escape(s)))
        .collect();
    let rows: String = state
        .store
        .managed_devices(&user.tenant_id, "", 500)
        .await?
        .iter()
        .map(|m| {
            format!(
                "<tr><td><a href=\"/console/intune/devices/{}/compliance\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&m.device_id),
                escape(m.device_name.as_deref().unwrap_or(&m.device_id)),
                escape(m.os_version.as_deref().unwrap_or("")),
                m.compliance_state.label(),
                ms_to_rfc3339(m.last_sync_ms)
            )
        })
        .collect();
    render(
        "Device compliance",
        format!(
            "<h1>Devices › Compliance</h1><table id=\"counts\"><tr><th>State</th><th>Devices</th></tr>{counts}</table>\
         <h2>Devices (first 500)</h2><table><tr><th>Device</th><th>OS version</th><th>Compliance</th><th>Last check-in</th></tr>{rows}</table>"
        ),
    )
}

async fn device_report(State(state): State<Shared>, Path(device_id): Path<String>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let m = state
        .store
        .managed_device(&device_id)
        .await?
        .filter(|m| m.tenant_id == user.tenant_id)
        .ok_or_else(|| CloudError::Page(format!("No partner device {device_id} in this tenant.")))?;
    let names: HashMap<String, String> = state.store.policies(&user.tenant_id).await?.into_iter().map(|p| (p.id, p.display_name)).collect();
    let name_of = |id: &str| escape(names.get(id).map(String::as_str).unwrap_or(id));
    let now = state.clock.now_ms();
    // Each assigned policy's own state; a grace period that ended since the last report
    // shows as what the device now is.
    let policy_rows: String = serde_json::from_str::<Vec<PolicyState>>(&m.policy_states)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let expired = p.state == ComplianceState::InGracePeriod && p.grace_expires_ms.is_some_and(|g| g <= now);
            format!(
                "<tr><td>{}</td><td class=\"policy-state\">{}</td><td>{}</td></tr>",
                name_of(&p.policy_id),
                if expired { ComplianceState::Noncompliant } else { p.state }.label(),
                p.grace_expires_ms.map(ms_to_rfc3339).unwrap_or_default()
            )
        })
        .collect();
    let results: Vec<SettingResult> = serde_json::from_str(&m.setting_results).unwrap_or_default();
    let rows: String = results
        .iter()
        .map(|r| {
            let bad = matches!(r.state, SettingState::Noncompliant | SettingState::Error);
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{:?}</td></tr>",
                name_of(&r.policy_id),
                escape(&r.setting),
                escape(&r.expected),
                escape(r.actual.as_deref().unwrap_or("not reported")),
                if bad { "bad" } else { "ok" },
                r.state
            )
        })
        .collect();
    render(
        "Device compliance",
        format!(
            "<h1>{}</h1><p>State: <b id=\"state\">{}</b>{}</p>\
             <h2>Policies</h2><table id=\"policies\"><tr><th>Policy</th><th>State</th><th>Grace period ends</th></tr>{policy_rows}</table>\
             <h2>Settings</h2><table id=\"settings\"><tr><th>Policy</th><th>Setting</th><th>Required</th><th>Reported</th><th>Result</th></tr>{rows}</table>",
            escape(m.device_name.as_deref().unwrap_or(&m.device_id)),
            m.compliance_state.label(),
            m.grace_expires_ms.map(|g| format!(" · grace period ends {}", ms_to_rfc3339(g))).unwrap_or_default()
        ),
    )
}
