//! Entra admin center › Conditional Access › What If: choose a user, an application and a
//! device (a registered one, or a device in a state) and see what the sign-in would get —
//! the decision, every policy with whether it applies and why not, what its grant
//! control decides, and for a registered device each compliance setting it fails with
//! the value it reported. A GET form: it changes nothing, so its address can be shared.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use platform::html::{Markup, badge, html};

use super::{ConsoleAdmin, render};
use crate::Shared;
use crate::entra::conditional_access::{Outcome, PolicyState};
use crate::entra::what_if::{self, DeviceChoice, Refused, Report};
use crate::error::Result;
use crate::http::Query;
use crate::intune::policy_settings;
use wire::DeviceId;

/// Where the page is.
pub const WHAT_IF: &str = "/console/entra/conditional-access/what-if";

#[derive(serde::Deserialize, Default)]
pub struct WhatIfQuery {
    user: Option<String>,
    app: Option<String>,
    /// `none`, `compliant`, `noncompliant`, `unknown` or a registered device's ID.
    device: Option<String>,
}

fn device_choice(value: &str) -> Option<DeviceChoice> {
    match value {
        "none" => Some(DeviceChoice::None),
        "compliant" => Some(DeviceChoice::InState(Some(true))),
        "noncompliant" => Some(DeviceChoice::InState(Some(false))),
        "unknown" => Some(DeviceChoice::InState(None)),
        id if uuid::Uuid::parse_str(id).is_ok() => Some(DeviceChoice::Registered(DeviceId::from(id.to_lowercase()))),
        _ => None,
    }
}

/// What a decision means to the user signing in.
fn decision(o: Outcome) -> String {
    match o {
        Outcome::Granted => "Granted".into(),
        o => format!("Refused: AADSTS{} — {}", o.aadsts(), o.message()),
    }
}

pub(super) async fn what_if_page(
    State(state): State<Shared>,
    Query(q): Query<WhatIfQuery>,
    ConsoleAdmin(admin, here): ConsoleAdmin,
) -> Result<Response> {
    let users = state.store.search_users(&admin.tenant_id, "", "", 500).await?;
    let apps: Vec<(String, String)> =
        state.store.service_principals(&admin.tenant_id).await?.into_iter().map(|sp| (sp.app_id, sp.display_name)).collect();
    let devices = state.store.search_devices(&admin.tenant_id, "", "", 500).await?;
    let (user, app, device) = (q.user.clone().unwrap_or_default(), q.app.clone().unwrap_or_default(), q.device.clone().unwrap_or_default());
    // Any user of the tenant, not only those the list offers.
    let chosen = match state.store.user(&user).await? {
        Some(u) if u.tenant_id == admin.tenant_id => Some(u),
        _ => None,
    };
    let result = match (chosen, apps.iter().any(|(a, _)| *a == app), device_choice(&device)) {
        (Some(u), true, Some(d)) => Some(what_if::run(&state.store, &u, &app, &d).await?),
        _ => None,
    };
    let app_names: HashMap<&str, &str> = apps.iter().map(|(a, n)| (a.as_str(), n.as_str())).collect();
    let option = |value: &str, label: &str, current: &str| html! { option value=(value) selected[value == current] { (label) } };
    render(
        &here,
        "What If",
        html! {
            h1 { "Conditional Access › What If" }
            form class="stacked" method="get" action=(WHAT_IF) {
                label { "User " select name="user" { @for u in &users { (option(&u.id, &format!("{} ({})", u.display_name, u.upn), &user)) } } }
                label { "Cloud app " select name="app" { @for (a, n) in &apps { (option(a, n, &app)) } } }
                label { "Device " select name="device" {
                    (option("none", "No registered device", &device))
                    (option("compliant", "A compliant device", &device))
                    (option("noncompliant", "A noncompliant device", &device))
                    (option("unknown", "A device Intune has not evaluated", &device))
                    @for d in &devices { (option(d.device_id.as_str(), &format!("{} ({})", d.display_name, d.device_id), &device)) }
                } }
                button { "What If" }
            }
            @match &result {
                Some(Ok(report)) => (report_view(report, &app_names)),
                Some(Err(Refused::UnknownDevice(id))) => p class="message error" { "Device " (id) " is not registered in this tenant." },
                None => @if q.user.is_some() { p class="message error" { "Choose a user, a cloud app and a device of this tenant." } },
            }
        },
    )
}

fn report_view(r: &Report, app_names: &HashMap<&str, &str>) -> Markup {
    let state_label = |s: PolicyState| PolicyState::LABELLED.iter().find(|(v, _)| *v == s).map(|(_, l)| *l).unwrap_or("");
    let names = |ids: &[String]| ids.iter().map(|id| app_names.get(id.as_str()).copied().unwrap_or(id)).collect::<Vec<_>>().join(", ");
    html! {
        h2 { "Result" }
        p id="what-if-decision" { (badge(if r.outcome == Outcome::Granted { "Granted" } else { "Blocked" }, None)) " " (decision(r.outcome)) }
        @if r.user_disabled { p class="message error" { "This account is disabled: its sign-in fails before Conditional Access (AADSTS50057)." } }
        @if let Some(name) = &r.device_name {
            p { "Device " b { (name) } ": isCompliant " (r.compliant.map_or("not set".to_string(), |c| c.to_string())) "." }
        }
        table id="what-if-policies" {
            tr { th { "Policy" } th { "State" } th { "Applies" } th { "Applications" } th { "Grant control" } th { "Result" } }
            @for w in &r.policies {
                tr {
                    td { (w.policy.display_name) }
                    td { (state_label(w.policy.state)) }
                    td { @match w.not_applying { None => "Yes", Some(reason) => { "No (" (reason) ")" } } }
                    td { (names(&w.policy.conditions.include_applications)) }
                    td { (w.policy.grant) }
                    td class="what-if-result" { @if let Some(o) = w.outcome {
                        (badge(if o == Outcome::Granted { "Passed" } else { "Failed" }, None))
                        @if w.policy.state == PolicyState::EnabledForReportingButNotEnforced { " (report-only: not enforced)" }
                    } }
                }
            }
        }
        @if !r.failing_settings.is_empty() {
            h2 { "Why the device is not compliant" }
            table id="what-if-settings" {
                tr { th { "Setting" } th { "Required" } th { "Reported" } }
                @for s in &r.failing_settings {
                    tr { td { (policy_settings::label(&s.setting)) } td { (s.expected) } td { (s.actual.as_deref().unwrap_or("not reported")) } }
                }
            }
        }
    }
}
