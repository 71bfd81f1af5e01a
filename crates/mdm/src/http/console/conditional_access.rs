//! Settings › Global Management › Conditional Access: the macOS Intune Integration
//! settings, Connect (both consents), the Application ID page and Confirm.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use platform::html::{Markup, html};
use platform::problem::Refusal;
use wire::connector_api::Check;

use super::super::Query;
use super::super::callers::ConsoleAdmin;
use super::{console_page, form};
use crate::Shared;
use crate::domain::device_compliance;
use crate::domain::settings::{CaSettings, ComplianceModel, ConnectionType, LandingKind};
use crate::error::{MdmError, Result};
use crate::http::Bytes;
use crate::integration::{self, Saved};
use crate::store::{CaRow, InstanceRow};

fn page_url(slug: &str) -> String {
    format!("/i/{slug}/settings/global-management/conditional-access")
}

fn checks_table(checks: &[Check]) -> Markup {
    html! {
        @if !checks.is_empty() {
            h2 { "Last test" }
            table id="checks" {
                tr { th { "Check" } th { "Result" } th { "Details" } th { "Remedy" } }
                @for c in checks {
                    tr {
                        td { (c.name) }
                        td class=(if c.passed { "ok" } else { "bad" }) { (if c.passed { "Passed" } else { "Failed" }) }
                        td { (c.detail) }
                        td { (c.remedy.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The settings form, filled with what is stored.
fn settings_form(state: &Shared, slug: &str, ca: &CaRow) -> Markup {
    let s = &ca.settings;
    let option = |value: &str, label: &str, current: &str| html! { option value=(value) selected[value == current] { (label) } };
    let radio = |value: LandingKind, label: &str| {
        html! { label { input type="radio" name="landing_page" value=(value.as_ref()) checked[s.landing_page == value]; " " (label) } br; }
    };
    let device_compliance = s.compliance_model == ComplianceModel::DeviceCompliance;
    html! {
        form method="post" action=(page_url(slug)) {
            label { input type="checkbox" name="enabled" value="true" checked[s.enabled]; " Enable Intune Integration for macOS" } br;
            label { "Connection Type " select name="connection_type" {
                (option(ConnectionType::CloudConnector.as_ref(), "Cloud Connector", s.connection_type.as_ref()))
                (option(ConnectionType::Manual.as_ref(), "Manual", s.connection_type.as_ref()))
            } } br;
            label { "Sovereign Cloud " select name="sovereign_cloud" {
                @for c in &state.clouds {
                    (option(c, &wire::CloudProfile::builtin(c).map(|p| p.display_name).unwrap_or_else(|| "Local (bundled cloud)".into()), &s.sovereign_cloud))
                }
            } } br;
            fieldset {
                legend { "Landing page for computers not recognized by Microsoft Azure" }
                (radio(LandingKind::Registration, "The default registration page"))
                (radio(LandingKind::AccessDenied, "The Access Denied page"))
                (radio(LandingKind::Custom, "Custom URL"))
                label { "Custom URL " input name="custom_url" value=(s.custom_url.as_deref().unwrap_or("")) size="50"; }
            }
            fieldset {
                legend { "Compliance" }
                label { input type="radio" name="compliance_model" value="intune" checked[!device_compliance]; " Intune evaluates the inventory sent" } br;
                label { input type="radio" name="compliance_model" value="device_compliance" checked[device_compliance]; " Device Compliance: this instance decides and sends the verdict" } br;
                label { "Applicable rule (one criterion per line: field operator value)" br;
                    textarea name="applicable_rule" rows="3" cols="50" { (device_compliance::format_rule(&s.applicable_rule)) } } br;
                label { "Compliance rule" br; textarea name="compliance_rule" rows="3" cols="50" { (device_compliance::format_rule(&s.compliance_rule)) } }
                p { small { "Fields: " (device_compliance::FIELDS.join(", ")) ". Operators: " (device_compliance::OPERATORS.join(", ")) "." } }
            }
            fieldset {
                legend { "Manual connection" }
                label { "Microsoft Entra tenant Name " input name="manual_tenant" value=(s.manual_tenant.as_deref().unwrap_or("")); } br;
                label { "Application ID " input name="manual_app_id" value=(s.manual_app_id.as_deref().unwrap_or("")) size="40"; } br;
                // The secret is never shown back, only whether one is stored.
                label { "Client Secret " input name="manual_secret" type="password"
                    placeholder=(if ca.manual_secret.is_some() { "stored (enter a new one to replace it)" } else { "" }); }
            }
            button name="action" value="save" { "Save" } " " button name="action" value="connect" { "Connect" }
        }
    }
}

async fn render_ca(state: &Shared, instance: &InstanceRow, message: Option<&str>) -> Result<Response> {
    let (ca, _) = integration::refresh(state, instance).await?;
    let checks: Vec<Check> = serde_json::from_str(&ca.checks).unwrap_or_default();
    Ok(console_page(
        &instance.slug,
        "Conditional Access",
        html! {
            h1 { "Conditional Access › macOS Intune Integration" }
            @if let Some(m) = message { p id="message" class="bad" { (m) } }
            p { "Connection status: " b id="status" { (ca.link_status.label()) } }
            (checks_table(&checks))
            (settings_form(state, &instance.slug, &ca))
        },
    ))
}

pub async fn ca_page(State(state): State<Shared>, ConsoleAdmin { instance, admin: _ }: ConsoleAdmin) -> Result<Response> {
    render_ca(&state, &instance, None).await
}

/// A choice the admin posted (`key`), its default when absent; `refusal` when it names
/// none of the choices.
fn choice<T: std::str::FromStr + Default>(
    f: &std::collections::HashMap<String, String>,
    key: &str,
    refusal: &str,
) -> std::result::Result<T, String> {
    f.get(key).map_or(Ok(T::default()), |v| v.parse().map_err(|_| refusal.to_string()))
}

/// The settings an admin posted; a choice or a rule that does not parse is the error to
/// show.
fn proposed(f: &std::collections::HashMap<String, String>) -> std::result::Result<CaSettings, String> {
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

pub async fn ca_save(State(state): State<Shared>, ConsoleAdmin { instance, admin }: ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let proposed = match proposed(&f) {
        Ok(p) => p,
        Err(e) => return render_ca(&state, &instance, Some(&e)).await,
    };
    let new_secret = f.get("manual_secret").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let connect = f.get("action").is_some_and(|a| a == "connect");
    match integration::save(&state, &instance, &admin, proposed, new_secret, connect).await {
        Ok(Saved::Redirect(url)) => Ok(Redirect::to(&url).into_response()),
        Ok(Saved::Done) => Ok(Redirect::to(&page_url(&instance.slug)).into_response()),
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
    if let Some(error) = q.error {
        let detail = q.error_description.unwrap_or(error);
        return render_ca(&state, &instance, Some(&format!("Consent was not granted: {detail}"))).await;
    }
    let (_, view) = integration::refresh(&state, &instance).await?;
    let view = view.ok_or_else(|| MdmError::Page("There is no connection in progress; use Connect first.".into()))?;
    Ok(console_page(
        &instance.slug,
        "Application ID",
        html! {
            h1 { "Application ID" }
            p { "Paste this Application ID into Intune › Tenant administration › Connectors and tokens › Partner device management › "
                i { "Specify the Microsoft Entra App ID for Jamf" } ", and Save." }
            p { code id="application-id" { (view.application_id) } }
            p { a id="copy-and-open-intune" href=(view.intune_partner_page.as_deref().unwrap_or("")) target="_blank"
                onclick="navigator.clipboard.writeText(document.getElementById('application-id').textContent)" { "Copy and Open Intune" } }
            form method="post" action={ (page_url(&instance.slug)) "/confirm" } { button { "Confirm" } }
        },
    ))
}

pub async fn ca_confirm(State(state): State<Shared>, ConsoleAdmin { instance, admin }: ConsoleAdmin) -> Result<Response> {
    match integration::confirm(&state, &instance, &admin).await {
        Ok(_) => Ok(Redirect::to(&page_url(&instance.slug)).into_response()),
        Err(e @ (MdmError::Refused(Refusal::Forbidden(_) | Refusal::Conflict(_) | Refusal::NotFound(_)) | MdmError::Upstream(_))) => {
            render_ca(&state, &instance, Some(&e.to_string())).await
        }
        Err(e) => Err(e),
    }
}
