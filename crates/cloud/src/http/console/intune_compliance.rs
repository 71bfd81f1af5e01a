//! Intune admin center › Devices › Compliance: policies (create, assign), the tenant's
//! compliance policy settings, and the dashboard with each device's per-setting report.

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use platform::clock::ms_to_rfc3339;
use platform::html::{Markup, html};

use super::{ConsoleAdmin, render};
use crate::Shared;
use crate::error::{CloudError, Result};
use crate::http::{Bytes, Path, form};
use crate::intune::combine::PolicyState;
use crate::intune::compliance::{
    ComplianceState, MacOsPolicySettings, ScheduledActionConfiguration, ScheduledActionsForRule, SettingResult, SettingState,
};
use crate::intune::policies;
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

async fn list(State(state): State<Shared>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
    let groups = state.store.groups(&user.tenant_id).await?;
    let group_options = html! { @for (id, name) in &groups { option value=(id) { (name) } } };
    let mut rows = Vec::new();
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
        rows.push(html! {
            tr {
                td { (p.display_name) } td { (configured.join(", ")) } td { (assigned.join(", ")) }
                td { form method="post" action={ (POLICIES) "/" (p.id) "/assign" } { select name="group" { (group_options) } " " button { "Assign" } } }
            }
        });
    }
    render(
        "Compliance policies",
        html! {
            h1 { "Devices › Compliance › Policies (macOS)" }
            table id="policies" { tr { th { "Policy" } th { "Settings" } th { "Assigned to" } th {} } @for r in rows { (r) } }
            h2 { "Create policy" }
            (policy_form(&group_options))
        },
    )
}

/// A new macOS compliance policy's settings, named as Graph names them.
fn policy_form(group_options: &Markup) -> Markup {
    let check = |name: &str, label: &str| html! { label { input type="checkbox" name=(name) value="true"; " " (label) } };
    html! {
        form method="post" action=(POLICIES) {
            label { "Name " input name="displayName" required; } br;
            (check("storageRequireEncryption", "Require encryption of data storage (FileVault)")) br;
            (check("systemIntegrityProtectionEnabled", "Require System Integrity Protection")) br;
            (check("firewallEnabled", "Firewall")) br;
            (check("passwordRequired", "Require a password"))
            label { "Minimum password length " input name="passwordMinimumLength" size="3"; } br;
            label { "Minimum OS version " input name="osMinimumVersion" size="8" placeholder="14.5"; } " "
            label { "Maximum OS version " input name="osMaximumVersion" size="8"; } br;
            label { "Minimum OS build version " input name="osMinimumBuildVersion" size="12" placeholder="23H124"; } " "
            label { "Maximum OS build version " input name="osMaximumBuildVersion" size="12"; } br;
            label { "Gatekeeper " select name="gatekeeperAllowedAppSource" {
                option value="" { "Not configured" }
                option value="macAppStore" { "Mac App Store" }
                option value="macAppStoreAndIdentifiedDevelopers" { "Mac App Store and identified developers" }
                option value="anywhere" { "Anywhere" }
            } } br;
            label { "Mark device noncompliant after (grace period, hours) " input name="gracePeriodHours" value="0" size="4"; } br;
            label { "Assign to " select name="group" { option value="" { "(later)" } (group_options) } } br;
            button { "Create" }
        }
    }
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
        html! {
            h1 { "Compliance policy settings" }
            form method="post" {
                label { "Mark devices with no compliance policy assigned as " select name="no_policy" {
                    option value="compliant" selected[no_policy] { "Compliant" }
                    option value="noncompliant" selected[!no_policy] { "Not compliant" }
                } } br;
                label { "Compliance status validity period (days, 1–120) " input name="validity_days" value=(days) size="4"; } br;
                button { "Save" }
            }
        },
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
    let counts = state.store.compliance_counts(&user.tenant_id).await?;
    let devices = state.store.managed_devices(&user.tenant_id, "", 500).await?;
    render(
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

async fn device_report(State(state): State<Shared>, Path(device_id): Path<DeviceId>, ConsoleAdmin(user): ConsoleAdmin) -> Result<Response> {
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
        "Device compliance",
        html! {
            h1 { (m.device_name.as_deref().unwrap_or(&m.device_id)) }
            p { "State: " b id="state" { (m.compliance_state.label()) }
                @if let Some(g) = m.grace_expires_ms { " · grace period ends " (ms_to_rfc3339(g)) } }
            h2 { "Policies" }
            table id="policies" {
                tr { th { "Policy" } th { "State" } th { "Grace period ends" } }
                @for p in &policies {
                    // A grace period that ended since the last report shows as what the device now is.
                    @let expired = p.state == ComplianceState::InGracePeriod && p.grace_expires_ms.is_some_and(|g| g <= now);
                    tr {
                        td { (name_of(&p.policy_id)) }
                        td class="policy-state" { (if expired { ComplianceState::Noncompliant } else { p.state }.label()) }
                        td { (p.grace_expires_ms.map(ms_to_rfc3339).unwrap_or_default()) }
                    }
                }
            }
            h2 { "Settings" }
            table id="settings" {
                tr { th { "Policy" } th { "Setting" } th { "Required" } th { "Reported" } th { "Result" } }
                @for r in &results {
                    tr {
                        td { (name_of(&r.policy_id)) } td { (r.setting) } td { (r.expected) }
                        td { (r.actual.as_deref().unwrap_or("not reported")) }
                        td class=(if matches!(r.state, SettingState::Noncompliant | SettingState::Error) { "bad" } else { "ok" }) { (format!("{:?}", r.state)) }
                    }
                }
            }
        },
    )
}
