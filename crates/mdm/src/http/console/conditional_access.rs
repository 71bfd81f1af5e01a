//! Settings › Global Management › Conditional Access: the macOS Intune Integration.
//! A read view (status, settings, the last test, sync health) with *Edit*, and *Test
//! connection* and *Confirm* whenever the connection can take them; the edit form with
//! Save and Connect (both consents); the Application ID page. Every form answers with a
//! redirect to a page (POST → redirect → GET), except a refused edit, which shows the
//! form again with what the admin typed and the reason, and turning the integration off,
//! which first asks to confirm.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use platform::flash;
use platform::html::{Markup, badge, html};
use platform::problem::Refusal;
use wire::connector_api::{Check, InstanceStatus, LinkView};

use super::super::Query;
use super::super::callers::ConsoleAdmin;
use super::{console_page, form, settings_crumb};
use crate::Shared;
use crate::domain::device_compliance;
use crate::domain::settings::{CaSettings, CaStatus, ComplianceModel, ConnectionType, LandingKind};
use crate::error::{MdmError, Result};
use crate::http::Bytes;
use crate::integration::{self, Saved};
use crate::store::CaRow;

/// The page's path under the instance.
pub(crate) const PATH: &str = "/settings/global-management/conditional-access";

fn page_url(slug: &str) -> String {
    format!("/i/{slug}{PATH}")
}

fn trail(last: Option<(&'static str, &str)>) -> Vec<(&'static str, String)> {
    let mut t = vec![settings_crumb(), ("Conditional Access", PATH.into())];
    if let Some((label, sub)) = last {
        t.push((label, format!("{PATH}{sub}")));
    }
    t
}

/// What each check of the connector tests, in the guide's words.
fn check_label(name: &str) -> &str {
    match name {
        "consent" => "Consent",
        "throttled" => "Throttling",
        "token" => "Token for the Cloud Connector app",
        "permissions_intune" => "Intune API permission (update_device_attributes)",
        "permissions_graph" => "Microsoft Graph permission (Directory.Read.All)",
        "service_discovery" => "Intune partner services",
        "provisioning" => "Partner tenant provisioning",
        "heartbeat" => "Heartbeat",
        "test_upload" => "Test upload",
        "health_retest" => "Re-test",
        other => other,
    }
}

/// "3 minutes ago" for a time `then_ms` before `now_ms`.
fn ago(now_ms: i64, then_ms: i64) -> String {
    let minutes = (now_ms - then_ms).max(0) / 60_000;
    match minutes {
        0 => "less than a minute ago".into(),
        1 => "1 minute ago".into(),
        m if m < 120 => format!("{m} minutes ago"),
        m if m < 48 * 60 => format!("{} hours ago", m / 60),
        m => format!("{} days ago", m / (24 * 60)),
    }
}

/// The last test, dated. Its results are marked stale when they no longer describe the
/// connection: in any state but Active and Failing (disabled, terminated, awaiting…),
/// and when Failing although every check passed (the failure came after the test).
fn last_test(status: CaStatus, checks: &[Check], tested_at: Option<&str>, now_ms: i64) -> Markup {
    let all_passed = checks.iter().all(|c| c.passed);
    let stale = !matches!(status, CaStatus::Active | CaStatus::Failing) || (status == CaStatus::Failing && all_passed);
    let when = tested_at.and_then(platform::clock::parse_rfc3339).map(|t| t.timestamp_millis());
    html! {
        h2 { "Last test" }
        @if checks.is_empty() { p class="muted" { "Not tested yet: Confirm tests the connection." } }
        @else {
            p id="last-tested" {
                @match (tested_at, when) {
                    (Some(t), Some(ms)) => { "Tested " time datetime=(t) { (t) } " (" (ago(now_ms, ms)) ")." }
                    _ => "Test time not recorded.",
                }
                @if stale { " " (badge("Stale", Some("last-test-stale"))) " These results are from before the connection became " (status.label()) "." }
            }
            table id="checks" class=[stale.then_some("stale")] {
                tr { th { "Check" } th { "Result" } th { "Details" } th { "Remedy" } }
                @for c in checks {
                    tr {
                        td { (check_label(&c.name)) }
                        td { (badge(if c.passed { "Passed" } else { "Failed" }, None)) }
                        td { (c.detail) }
                        td { (c.remedy.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// Sync health of the link: what the connector holds for this instance and when it last
/// reached Intune.
fn sync_health(status: Option<&InstanceStatus>) -> Markup {
    html! {
        h2 { "Sync health" }
        @match status {
            None => p class="muted" { "No delivery yet." },
            Some(s) => table class="facts" id="sync-health" {
                tr { th { "Last upload to Intune" } td id="last-upload" { (s.last_upload_at.as_deref().unwrap_or("never")) } }
                tr { th { "Backlog (updates not yet concluded)" } td id="backlog" { (s.backlog) } }
                tr { th { "Lag (oldest waiting update)" } td id="lag" { (s.lag_seconds) " s" } }
                tr { th { "Accepted / rejected / superseded" } td { (s.accepted_total) " / " (s.rejected_total) " / " (s.stale_total) } }
                tr { th { "Given up (dead letters)" } td id="dead-letters" { (s.dead_letters) } }
                tr { th { "Last error" } td id="last-error" { (s.last_error.as_deref().unwrap_or("none")) } }
            },
        }
    }
}

/// The stored settings as a table.
fn settings_table(s: &CaSettings) -> Markup {
    let landing = match s.landing_page {
        LandingKind::Registration => "The default registration page".to_string(),
        LandingKind::AccessDenied => "The Access Denied page".to_string(),
        LandingKind::Custom => format!("Custom URL: {}", s.custom_url.as_deref().unwrap_or("")),
    };
    html! {
        table class="facts" id="settings" {
            tr { th { "Enable Intune Integration for macOS" } td { (if s.enabled { "Yes" } else { "No" }) } }
            tr { th { "Connection Type" } td { (if s.connection_type == ConnectionType::Manual { "Manual" } else { "Cloud Connector" }) } }
            tr { th { "Sovereign Cloud" } td { (cloud_label(&s.sovereign_cloud)) } }
            tr { th { "Landing page for computers not recognized by Microsoft Azure" } td { (landing) } }
            tr { th { "Compliance" } td { (if s.compliance_model == ComplianceModel::DeviceCompliance { "Device Compliance (this instance decides)" } else { "Intune evaluates the inventory sent" }) } }
            @if s.connection_type == ConnectionType::Manual {
                tr { th { "Microsoft Entra tenant Name" } td { (s.manual_tenant.as_deref().unwrap_or("")) } }
                tr { th { "Application ID" } td { (s.manual_app_id.as_deref().unwrap_or("")) } }
            }
        }
    }
}

fn cloud_label(cloud: &str) -> String {
    wire::CloudProfile::builtin(cloud).map(|p| p.display_name).unwrap_or_else(|| "Local (bundled cloud)".into())
}

/// The read view: status, actions, settings, last test and sync health.
pub async fn ca_page(State(state): State<Shared>, me: ConsoleAdmin) -> Result<Response> {
    let (ca, view, unreachable) = match integration::refresh(&state, &me.instance).await {
        Ok((ca, view)) => (ca, view, None),
        Err(MdmError::Upstream(e)) => (state.store.ca(&me.instance.id).await?, None, Some(e)),
        Err(e) => return Err(e),
    };
    let health = match (&me.instance.connector_credential, &view) {
        (Some(c), Some(_)) => state.connector.status(c).await.ok(),
        _ => None,
    };
    let checks: Vec<Check> = serde_json::from_str(&ca.checks).unwrap_or_default();
    let url = page_url(&me.instance.slug);
    // Test connection re-tests an active link (or one a re-test found failing); Confirm
    // completes or repeats the setup. Neither means anything once the integration is off.
    let live = ca.link_id.is_some() && ca.settings.enabled;
    let can_test = live && matches!(ca.link_status, CaStatus::Active | CaStatus::Failing);
    let can_confirm = live && !matches!(ca.link_status, CaStatus::Disabled | CaStatus::NotConfigured | CaStatus::AwaitingConsent);
    Ok(console_page(
        &me,
        &trail(None),
        html! {
            h1 { "Conditional Access" }
            ul class="tabs" { li { a href=(url) aria-current="page" { "macOS Intune Integration" } } }
            @if let Some(e) = &unreachable { p class="message error" { "The Cloud Connector cannot be reached, so this status may be out of date: " (e) } }
            p { "Connection status: " (badge(ca.link_status.label(), Some("status"))) }
            div class="actions" {
                a class="button" id="edit" href={ (url) "/edit" } { "Edit" }
                @if can_test { form method="post" action={ (url) "/test" } { button class="secondary" { "Test connection" } } }
                @if can_confirm { form method="post" action={ (url) "/confirm" } { button class="secondary" { "Confirm" } } }
                @if ca.link_status == CaStatus::AwaitingConfirmation { a class="button secondary" href={ (url) "/application-id" } { "Application ID" } }
            }
            (settings_table(&ca.settings))
            (last_test(ca.link_status, &checks, view.as_ref().and_then(|v| v.last_tested_at.as_deref()), state.clock.now_ms()))
            (sync_health(health.as_ref()))
        },
    ))
}

/// The form's fields as stored, by field name: what Edit starts from.
fn stored_fields(ca: &CaRow) -> HashMap<String, String> {
    let s = &ca.settings;
    let mut f = HashMap::from([
        ("connection_type".to_string(), s.connection_type.as_ref().to_string()),
        ("sovereign_cloud".into(), s.sovereign_cloud.clone()),
        ("landing_page".into(), s.landing_page.as_ref().to_string()),
        ("custom_url".into(), s.custom_url.clone().unwrap_or_default()),
        ("compliance_model".into(), s.compliance_model.as_ref().to_string()),
        ("applicable_rule".into(), device_compliance::format_rule(&s.applicable_rule)),
        ("compliance_rule".into(), device_compliance::format_rule(&s.compliance_rule)),
        ("manual_tenant".into(), s.manual_tenant.clone().unwrap_or_default()),
        ("manual_app_id".into(), s.manual_app_id.clone().unwrap_or_default()),
    ]);
    if s.enabled {
        f.insert("enabled".into(), "true".into());
    }
    f
}

/// The edit form filled with `fields` (stored, or as posted when refused).
fn settings_form(state: &Shared, slug: &str, fields: &HashMap<String, String>, secret_stored: bool) -> Markup {
    let v = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let option = |key: &str, value: &str, label: &str| html! { option value=(value) selected[v(key) == value] { (label) } };
    let radio = |key: &str, value: &str, label: &str| {
        html! { label { input type="radio" name=(key) value=(value) checked[v(key) == value]; " " (label) } }
    };
    let enabled = matches!(v("enabled"), "true" | "on");
    html! {
        form class="stacked" method="post" action=(page_url(slug)) {
            label { input type="checkbox" name="enabled" value="true" checked[enabled]; " Enable Intune Integration for macOS" }
            label { "Connection Type " select name="connection_type" {
                (option("connection_type", ConnectionType::CloudConnector.as_ref(), "Cloud Connector"))
                (option("connection_type", ConnectionType::Manual.as_ref(), "Manual"))
            } }
            label { "Sovereign Cloud " select name="sovereign_cloud" {
                @for c in &state.clouds { (option("sovereign_cloud", c, &cloud_label(c))) }
            } }
            fieldset {
                legend { "Landing page for computers not recognized by Microsoft Azure" }
                (radio("landing_page", LandingKind::Registration.as_ref(), "The default registration page"))
                (radio("landing_page", LandingKind::AccessDenied.as_ref(), "The Access Denied page"))
                (radio("landing_page", LandingKind::Custom.as_ref(), "Custom URL"))
                label { "Custom URL " input name="custom_url" value=(v("custom_url")) size="50"; }
            }
            fieldset {
                legend { "Compliance" }
                (radio("compliance_model", "intune", "Intune evaluates the inventory sent"))
                (radio("compliance_model", "device_compliance", "Device Compliance: this instance decides and sends the verdict"))
                label { "Applicable rule (one criterion per line: field operator value)" br;
                    textarea name="applicable_rule" rows="3" cols="50" { (v("applicable_rule")) } }
                label { "Compliance rule" br; textarea name="compliance_rule" rows="3" cols="50" { (v("compliance_rule")) } }
                p { small { "Fields: " (device_compliance::FIELDS.join(", ")) ". Operators: " (device_compliance::OPERATORS.join(", ")) "." } }
            }
            fieldset {
                legend { "Manual connection" }
                label { "Microsoft Entra tenant Name " input name="manual_tenant" value=(v("manual_tenant")); }
                label { "Application ID " input name="manual_app_id" value=(v("manual_app_id")) size="40"; }
                // The secret is never shown back, only whether one is stored.
                label { "Client Secret " input name="manual_secret" type="password"
                    placeholder=(if secret_stored { "stored (enter a new one to replace it)" } else { "" }); }
            }
            div class="actions" {
                button name="action" value="save" { "Save" }
                button class="secondary" name="action" value="connect" { "Connect" }
                a class="button secondary" href=(page_url(slug)) { "Cancel" }
            }
        }
    }
}

/// The edit form, with the reason a submission was refused (422) when there is one.
async fn render_edit(state: &Shared, me: &ConsoleAdmin, fields: &HashMap<String, String>, error: Option<&str>) -> Result<Response> {
    let ca = state.store.ca(&me.instance.id).await?;
    let page = console_page(
        me,
        &trail(Some(("Edit", "/edit"))),
        html! {
            h1 { "Conditional Access › Edit" }
            @if let Some(e) = error { p id="error" class="message error" role="alert" { (e) } }
            (settings_form(state, &me.instance.slug, fields, ca.manual_secret.is_some()))
        },
    );
    Ok(if error.is_some() { (StatusCode::UNPROCESSABLE_ENTITY, page).into_response() } else { page })
}

/// *Edit*: the form filled with what is stored.
pub async fn ca_edit(State(state): State<Shared>, me: ConsoleAdmin) -> Result<Response> {
    let ca = state.store.ca(&me.instance.id).await?;
    render_edit(&state, &me, &stored_fields(&ca), None).await
}

/// A choice the admin posted (`key`), its default when absent; `refusal` when it names
/// none of the choices.
fn choice<T: std::str::FromStr + Default>(f: &HashMap<String, String>, key: &str, refusal: &str) -> std::result::Result<T, String> {
    f.get(key).map_or(Ok(T::default()), |v| v.parse().map_err(|_| refusal.to_string()))
}

/// The settings an admin posted; a choice or a rule that does not parse is the error to
/// show.
fn proposed(f: &HashMap<String, String>) -> std::result::Result<CaSettings, String> {
    let trimmed = |k: &str| f.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let rule = |k: &str| device_compliance::parse_rule(f.get(k).map(String::as_str).unwrap_or(""));
    Ok(CaSettings {
        enabled: f.get("enabled").is_some_and(|v| v == "true" || v == "on"),
        connection_type: choice(f, "connection_type", "Connection Type must be Manual or Cloud Connector.")?,
        sovereign_cloud: f.get("sovereign_cloud").cloned().unwrap_or_else(|| "local".into()),
        landing_page: choice(f, "landing_page", "Choose a landing page for computers not recognized by Microsoft Azure.")?,
        custom_url: trimmed("custom_url"),
        manual_tenant: trimmed("manual_tenant").map(|s| s.to_ascii_lowercase()),
        manual_app_id: trimmed("manual_app_id").map(|s| s.to_ascii_lowercase()),
        compliance_model: choice(f, "compliance_model", "The compliance model must be Intune or Device Compliance.")?,
        applicable_rule: rule("applicable_rule")?,
        compliance_rule: rule("compliance_rule")?,
    })
}

/// Turning the integration off disconnects the instance: asked once more, with what was
/// posted carried along.
fn confirm_turn_off(me: &ConsoleAdmin, f: &HashMap<String, String>) -> Response {
    console_page(
        me,
        &trail(Some(("Edit", "/edit"))),
        html! {
            h1 { "Turn off the Intune integration?" }
            p { "Saving with " i { "Enable Intune Integration for macOS" } " cleared disconnects this instance from Microsoft Intune: \
                 its computers stop sending inventory. A Cloud Connector connection also withdraws their devices when no other \
                 instance uses the tenant." }
            form method="post" action=(page_url(&me.instance.slug)) {
                // A new client secret is not carried into the page: turning off needs none.
                @for (k, v) in f { @if k != "confirm" && k != "manual_secret" { input type="hidden" name=(k) value=(v); } }
                input type="hidden" name="confirm" value="yes";
                div class="actions" {
                    button class="danger" { "Yes, turn off and disconnect" }
                    a class="button secondary" href=(page_url(&me.instance.slug)) { "Cancel" }
                }
            }
        },
    )
}

/// Save or Connect from the edit form.
pub async fn ca_save(State(state): State<Shared>, me: ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let proposed = match proposed(&f) {
        Ok(p) => p,
        Err(e) => return render_edit(&state, &me, &f, Some(&e)).await,
    };
    let stored = state.store.ca(&me.instance.id).await?;
    if !proposed.enabled && stored.settings.enabled && f.get("confirm").map(String::as_str) != Some("yes") {
        return Ok(confirm_turn_off(&me, &f));
    }
    let new_secret = f.get("manual_secret").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let connect = f.get("action").is_some_and(|a| a == "connect");
    match integration::save(&state, &me.instance, &me.admin, proposed, new_secret, connect).await {
        Ok(Saved::Redirect(url)) => Ok(Redirect::to(&url).into_response()),
        Ok(Saved::Done) => {
            // Saving an active connection tests it again, so a changed tenant shows now.
            let message = match integration::test_connection(&state, &me.instance, &me.admin).await {
                Ok((ca, _)) if ca.settings.enabled => format!("Saved. Connection tested: {}.", ca.link_status.label()),
                _ => "Saved.".to_string(),
            };
            Ok(flash::redirect(&page_url(&me.instance.slug), &message))
        }
        Err(e @ (MdmError::Refused(Refusal::Invalid(_) | Refusal::Forbidden(_) | Refusal::Conflict(_)) | MdmError::Upstream(_))) => {
            render_edit(&state, &me, &f, Some(&e.to_string())).await
        }
        Err(e) => Err(e),
    }
}

/// *Test connection*: the connector re-tests the link now.
pub async fn ca_test(State(state): State<Shared>, me: ConsoleAdmin) -> Result<Response> {
    let message = match integration::test_connection(&state, &me.instance, &me.admin).await {
        Ok((ca, _)) => format!("Connection tested: {}.", ca.link_status.label()),
        Err(e @ (MdmError::Refused(_) | MdmError::Upstream(_))) => e.to_string(),
        Err(e) => return Err(e),
    };
    Ok(flash::redirect(&page_url(&me.instance.slug), &message))
}

#[derive(serde::Deserialize)]
pub struct ConsentReturn {
    error: Option<String>,
    error_description: Option<String>,
}

/// After both consents: the Application ID to paste into Intune, and Confirm.
pub async fn application_id_page(State(state): State<Shared>, Query(q): Query<ConsentReturn>, me: ConsoleAdmin) -> Result<Response> {
    let url = page_url(&me.instance.slug);
    if let Some(error) = q.error {
        let detail = q.error_description.unwrap_or(error);
        return Ok(flash::redirect(&url, &format!("Consent was not granted: {detail}")));
    }
    let (_, view) = integration::refresh(&state, &me.instance).await?;
    let Some(view) = view else {
        return Ok(flash::redirect(&url, "There is no connection in progress: select Edit, then Connect."));
    };
    Ok(console_page(&me, &trail(Some(("Application ID", "/application-id"))), application_id(&url, &view)))
}

fn application_id(url: &str, view: &LinkView) -> Markup {
    html! {
        h1 { "Application ID" }
        ol {
            li { "Copy this Application ID: " code id="application-id" { (view.application_id) } }
            li { "In Intune, open Tenant administration › Connectors and tokens › Partner device management, paste it into "
                i { "Specify the Microsoft Entra App ID for Jamf" } " and select Save." }
            li { "Come back here and select Confirm." }
        }
        div class="actions" {
            @if let Some(page) = &view.intune_partner_page {
                a class="button secondary" id="copy-and-open-intune" href=(page) target="_blank" rel="noopener"
                    onclick="navigator.clipboard&&navigator.clipboard.writeText(document.getElementById('application-id').textContent)" { "Copy and Open Intune" }
            }
            form method="post" action={ (url) "/confirm" } { button { "Confirm" } }
            a class="button secondary" href=(url) { "Back to Conditional Access" }
        }
    }
}

/// *Confirm*: the connector completes and tests the configuration.
pub async fn ca_confirm(State(state): State<Shared>, me: ConsoleAdmin) -> Result<Response> {
    let message = match integration::confirm(&state, &me.instance, &me.admin).await {
        Ok((ca, _)) => format!("Confirmed: {}.", ca.link_status.label()),
        Err(e @ (MdmError::Refused(Refusal::Forbidden(_) | Refusal::Conflict(_) | Refusal::NotFound(_)) | MdmError::Upstream(_))) => {
            e.to_string()
        }
        Err(e) => return Err(e),
    };
    Ok(flash::redirect(&page_url(&me.instance.slug), &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_is_dated_and_marked_stale_when_it_no_longer_describes_the_connection() {
        let passed = vec![Check { name: "token".into(), passed: true, detail: "ok".into(), remedy: None }];
        let at = "2026-12-01T10:00:00Z";
        let now = platform::clock::parse_rfc3339(at).unwrap().timestamp_millis() + 3 * 60_000;
        let active = last_test(CaStatus::Active, &passed, Some(at), now).into_string();
        assert!(active.contains("(3 minutes ago)") && !active.contains("Stale"), "{active}");
        for status in [CaStatus::Disabled, CaStatus::Terminated, CaStatus::Failing] {
            let page = last_test(status, &passed, Some(at), now).into_string();
            assert!(page.contains("last-test-stale"), "{status:?}: {page}");
        }
        let failed = vec![Check { name: "permissions_intune".into(), passed: false, detail: "missing".into(), remedy: None }];
        assert!(!last_test(CaStatus::Failing, &failed, Some(at), now).into_string().contains("Stale"));
    }
}
