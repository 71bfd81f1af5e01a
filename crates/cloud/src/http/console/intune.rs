//! Intune admin center: Tenant administration › Connectors and tokens › Partner device
//! management.

use crate::http::Bytes;
use crate::intune::partner::PartnerState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use platform::flash;
use platform::html::{badge, html};

use super::{ConsoleAdmin, Here, render};
use crate::Shared;
use crate::entra::directory::User;
use crate::error::Result;
use crate::http::form;
use crate::intune::{compliance_partners, partner};
use wire::TenantId;

pub const PARTNER_PAGE: &str = "/console/intune/tenant-admin/connectors/partner-device-management";

const GROUPS_PAGE: &str = "/console/intune/tenant-admin/connectors/partner-device-management/groups";
const TERMINATE_PAGE: &str = "/console/intune/tenant-admin/connectors/partner-device-management/terminate";

pub fn router() -> Router<Shared> {
    Router::new()
        .route(PARTNER_PAGE, get(partner_page).post(save_partner))
        .route(TERMINATE_PAGE, get(confirm_terminate).post(terminate))
        .route(GROUPS_PAGE, axum::routing::post(save_groups))
}

/// The confirmation step of *Terminate*.
async fn confirm_terminate(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    if !state.store.partner(&user.tenant_id).await?.is_some_and(|p| partner::connected(&p)) {
        return Ok(flash::redirect(PARTNER_PAGE, "There is no connection to terminate."));
    }
    render(
        &here,
        "Terminate",
        html! {
            h1 { "Terminate the partner connection?" }
            p { "Devices of this partner will be marked noncompliant after 24 hours and removed from Intune after 90 days, \
                 unless a new connection is set up before the first date." }
            form method="post" action=(TERMINATE_PAGE) {
                input type="hidden" name="confirm" value="yes";
                div class="actions" { button class="danger" { "Yes, terminate" } a class="button secondary" href=(PARTNER_PAGE) { "Cancel" } }
            }
        },
    )
}

async fn terminate(State(state): State<Shared>, ConsoleAdmin(user, _): ConsoleAdmin, body: Bytes) -> Result<Response> {
    if form(&body).get("confirm").map(String::as_str) != Some("yes") {
        return Ok(flash::redirect(TERMINATE_PAGE, "Terminate needs confirmation."));
    }
    let now = state.clock.now_ms();
    let message = match state.store.partner(&user.tenant_id).await?.filter(partner::connected) {
        Some(mut p) => {
            partner::terminate(&mut p, now);
            state.store.save_partner(&p).await?;
            "The connection was terminated."
        }
        None => "There is no connection to terminate.",
    };
    Ok(flash::redirect(PARTNER_PAGE, message))
}

async fn partner_page(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    render_partner(&state, &user, &here, None).await
}

/// The page, with the App ID field holding `typed` and the reason it was refused (422)
/// when a submission was.
async fn render_partner(state: &Shared, user: &User, here: &Here, refused: Option<(&str, &str)>) -> Result<Response> {
    let p = state.store.partner(&user.tenant_id).await?;
    let (app_id, status, heartbeat, noncompliant, removal) = match &p {
        Some(p) => (
            p.app_id.clone().unwrap_or_default(),
            partner::display(p.partner_state),
            p.last_heartbeat_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "—".into()),
            p.noncompliant_at_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "—".into()),
            p.removal_at_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "—".into()),
        ),
        None => (String::new(), partner::display(PartnerState::Unavailable), "—".into(), "—".into(), "—".into()),
    };
    let all_groups = state.store.groups(&user.tenant_id).await?;
    let name_of = |id: &String| all_groups.iter().find(|(g, _)| g == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.clone());
    let (include, exclude) = p.as_ref().map(partner::groups).unwrap_or_default();
    let group_select = |name: &str| {
        html! { select name=(name) { option value="" { "—" } @for (id, n) in &all_groups { option value=(id) { (n) } } } }
    };
    let app_id = refused.map_or(app_id, |(typed, _)| typed.to_string());
    let page = render(
        here,
        "Partner device management",
        html! {
            h1 { "Partner device management" }
            @if let Some((_, e)) = refused { p id="error" class="message error" role="alert" { (e) } }
            table class="facts" {
                tr { th { "Connection status" } td { (badge(status, Some("status"))) } }
                tr { th { "Last heartbeat" } td { (heartbeat) } }
                tr { th { "Devices will be marked noncompliant" } td { (noncompliant) } }
                tr { th { "Devices will be removed" } td id="removal" { (removal) } }
            }
            form method="post" action=(PARTNER_PAGE) {
                label { "Specify the Microsoft Entra App ID for Jamf " input name="app_id" value=(app_id) size="40"; }
                " " button type="submit" { "Save" }
            }
            h2 { "Assignments" }
            p {
                "Included groups: " span id="included" { (include.iter().map(name_of).collect::<Vec<_>>().join(", ")) }
                " · Excluded groups: " span id="excluded" { (exclude.iter().map(name_of).collect::<Vec<_>>().join(", ")) }
            }
            form method="post" action=(GROUPS_PAGE) {
                label { "Include " (group_select("include")) } " "
                label { "Exclude " (group_select("exclude")) } " "
                button name="action" value="save" { "Save" } " " button name="action" value="evaluate" { "Evaluate" }
            }
            @if p.as_ref().is_some_and(partner::connected) { p { a id="terminate" class="button danger" href=(TERMINATE_PAGE) { "Terminate" } } }
        },
    )?;
    Ok(if refused.is_some() { (StatusCode::UNPROCESSABLE_ENTITY, page).into_response() } else { page })
}

async fn save_partner(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let typed = f.get("app_id").cloned().unwrap_or_default();
    let app_id = typed.trim().to_ascii_lowercase();
    if !app_id.is_empty() && uuid::Uuid::parse_str(&app_id).is_err() {
        let refusal = "The App ID must be a GUID, for example 00000000-0000-0000-0000-000000000000.";
        return render_partner(&state, &user, &here, Some((&typed, refusal))).await;
    }
    let now = state.clock.now_ms();
    let mut p = state.store.partner(&user.tenant_id).await?.unwrap_or_else(|| partner::new_partner(&user.tenant_id, now));
    // Clearing the App ID of a provisioned partner terminates it.
    let terminates = app_id.is_empty() && p.app_id.is_some() && p.partner_state != PartnerState::Terminated && p.provisioned != 0;
    if terminates && f.get("confirm").map(String::as_str) != Some("yes") {
        return confirm_clear(&here);
    }
    partner::set_app_id(&mut p, (!app_id.is_empty()).then_some(app_id), now);
    if terminates {
        partner::terminate(&mut p, now);
    }
    state.store.save_partner(&p).await?;
    Ok(flash::redirect(PARTNER_PAGE, "Saved."))
}

/// Clearing the App ID of a connected partner terminates the connection: asked once more.
fn confirm_clear(here: &Here) -> Result<Response> {
    render(
        here,
        "Clear the App ID",
        html! {
            h1 { "Clear the App ID and terminate?" }
            p { "Without an App ID the partner connection is terminated at once. Devices of this partner will be marked \
                 noncompliant after 24 hours and removed from Intune after 90 days, unless a new connection is set up first." }
            form method="post" action=(PARTNER_PAGE) {
                input type="hidden" name="app_id" value="";
                input type="hidden" name="confirm" value="yes";
                div class="actions" { button class="danger" { "Yes, clear and terminate" } a class="button secondary" href=(PARTNER_PAGE) { "Cancel" } }
            }
        },
    )
}

/// Include / exclude user groups (exclusion wins), and *Evaluate*: how many users are in scope.
async fn save_groups(State(state): State<Shared>, ConsoleAdmin(user, _): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let now = state.clock.now_ms();
    let mut p = state.store.partner(&user.tenant_id).await?.unwrap_or_else(|| partner::new_partner(&user.tenant_id, now));
    let (mut include, mut exclude) = partner::groups(&p);
    let known: Vec<String> = state.store.groups(&user.tenant_id).await?.into_iter().map(|(id, _)| id).collect();
    let pick = |k: &str| f.get(k).filter(|g| !g.is_empty()).cloned();
    if f.get("action").map(String::as_str) == Some("evaluate") {
        let n =
            partner::users_in_scope(&members(&state, &user.tenant_id, include).await?, &members(&state, &user.tenant_id, exclude).await?);
        return Ok(flash::redirect(PARTNER_PAGE, &format!("{n} users are in scope of partner device management.")));
    }
    for (list, key) in [(&mut include, "include"), (&mut exclude, "exclude")] {
        if let Some(g) = pick(key) {
            if !known.contains(&g) {
                return Ok(flash::redirect(PARTNER_PAGE, "Choose a user group of this tenant."));
            }
            if !list.contains(&g) {
                list.push(g);
            }
        }
    }
    p.include_groups = serde_json::to_string(&include).unwrap_or_default();
    p.exclude_groups = serde_json::to_string(&exclude).unwrap_or_default();
    p.updated_ms = now;
    state.store.save_partner(&p).await?;
    Ok(flash::redirect(PARTNER_PAGE, "Saved."))
}

/// The user IDs of each group.
async fn members(state: &Shared, tenant_id: &TenantId, groups: Vec<String>) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let ids = state.store.group_members(tenant_id, &g, "", 1_000_000).await?.into_iter().map(|u| u.id).collect();
        out.push((g, ids));
    }
    Ok(out)
}

pub const COMPLIANCE_PARTNERS: &str = "/console/intune/tenant-admin/connectors/partner-compliance-management";

pub fn compliance_router() -> Router<Shared> {
    Router::new().route(COMPLIANCE_PARTNERS, get(compliance_partners).post(add_compliance_partner))
}

/// Tenant administration › Connectors and tokens › Partner compliance management.
async fn compliance_partners(State(state): State<Shared>, ConsoleAdmin(user, here): ConsoleAdmin) -> Result<Response> {
    let groups = state.store.groups(&user.tenant_id).await?;
    let name_of = |id: &String| groups.iter().find(|(g, _)| g == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.clone());
    let partners = state.store.compliance_partners(&user.tenant_id).await?;
    let apps = compliance_partners::candidates(&state.store, &user.tenant_id).await?;
    let status = |c: &crate::store::CompliancePartnerRow| match (c.platform.is_some(), c.partner_state) {
        (false, _) => "Not onboarded",
        (true, PartnerState::Enabled) => "Active",
        (true, PartnerState::Terminated) => "Terminated",
        _ => "Pending activation",
    };
    render(
        &here,
        "Partner compliance management",
        html! {
            h1 { "Partner compliance management" }
            table id="compliance-partners" {
                tr { th { "Partner" } th { "Platform" } th { "Assigned to" } th { "Status" } }
                @for c in &partners {
                    tr {
                        td { (c.display_name) }
                        td { (c.platform.as_deref().unwrap_or("none")) }
                        td { (serde_json::from_str::<Vec<String>>(&c.mac_groups).unwrap_or_default().iter().map(name_of).collect::<Vec<_>>().join(", ")) }
                        td class="partner-status" { (status(c)) }
                    }
                }
            }
            h2 { "Add compliance partner" }
            form method="post" {
                label { "Partner " select name="app_id" { @for a in &apps { option value=(a.app_id) { (a.display_name) } } } } " "
                label { "Platform " select name="platform" { option { "macOS" } } } " "
                label { "Assign to " select name="group" { @for (id, n) in &groups { option value=(id) { (n) } } } } " "
                button { "Create" }
            }
        },
    )
}

async fn add_compliance_partner(State(state): State<Shared>, ConsoleAdmin(user, _): ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let (Some(app_id), Some(group)) = (f.get("app_id").filter(|v| !v.is_empty()), f.get("group").filter(|v| !v.is_empty())) else {
        return Ok(flash::redirect(COMPLIANCE_PARTNERS, "Choose a partner and a user group."));
    };
    let outcome =
        compliance_partners::onboard(&state.store, &user.tenant_id, app_id, std::slice::from_ref(group), state.clock.now_ms()).await?;
    Ok(flash::redirect(COMPLIANCE_PARTNERS, outcome.message()))
}
