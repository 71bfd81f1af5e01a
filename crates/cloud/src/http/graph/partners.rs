//! Microsoft Graph, partners: `deviceManagement/deviceManagementPartners` (the tenant's
//! one device management partner: list, get, create, update, delete, terminate) and
//! `deviceManagement/complianceManagementPartners` (compliance partners for macOS: list,
//! get, create, update, delete). Shapes follow the Graph v1.0 Intune reference pages
//! "deviceManagementPartner resource type" and "complianceManagementPartner resource type".

use crate::intune::partner::PartnerState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::directory::missing;
use super::path::{Key, Route};
use super::{Ctx, collection, entity, list_memory};
use crate::entra::directory::Tenant;
use crate::error::{CloudError, Result};
use crate::intune::compliance_partners::{self, Onboarding};
use crate::intune::partner;
use crate::odata::resource::{COMPLIANCE_PARTNERS, PARTNERS};
use crate::store::{CompliancePartnerRow, PartnerRow};

const SERVICE_READ: [&str; 2] = ["DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All"];
/// Creating, updating, deleting and terminating partners (the reference pages list both).
const SERVICE_WRITE: [&str; 2] = ["DeviceManagementServiceConfig.ReadWrite.All", "DeviceManagementConfiguration.ReadWrite.All"];
const PARTNERS_CONTEXT: &str = "deviceManagement/deviceManagementPartners";
const COMPLIANCE_CONTEXT: &str = "deviceManagement/complianceManagementPartners";

const INCLUDE: &str = "#microsoft.graph.groupAssignmentTarget";
const EXCLUDE: &str = "#microsoft.graph.exclusionGroupAssignmentTarget";

fn json_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| CloudError::bad_request(format!("The request body is not valid JSON: {e}")))
}

/// Graph's answer when an object was written: the object, with its `@odata.context`.
fn written(ctx: &Ctx<'_>, status: StatusCode, context: &str, item: Value) -> Response {
    let q = crate::odata::query::QueryOptions::default();
    let mut resp = entity(ctx, context, &q, item);
    *resp.status_mut() = status;
    resp
}

// ---- device management partner ------------------------------------------------------

async fn partner_json(ctx: &Ctx<'_>, tenant: &Tenant, p: &PartnerRow) -> Result<Value> {
    let single = match &p.app_id {
        Some(a) => ctx
            .state
            .store
            .application(a)
            .await?
            .is_some_and(|a| a.owner_tenant_id.as_deref() == Some(tenant.id.as_str()) && !a.multi_tenant),
        None => false,
    };
    let (include, exclude) = partner::groups(p);
    let targets = include
        .iter()
        .map(|g| json!({"target": {"@odata.type": INCLUDE, "groupId": g}}))
        .chain(exclude.iter().map(|g| json!({"target": {"@odata.type": EXCLUDE, "groupId": g}})))
        .collect::<Vec<_>>();
    Ok(json!({
        "@odata.type": "#microsoft.graph.deviceManagementPartner",
        "id": p.tenant_id,
        "lastHeartbeatDateTime": p.last_heartbeat_ms.map(platform::clock::ms_to_rfc3339),
        "partnerState": p.partner_state,
        "partnerAppType": if single { "singleTenantApp" } else { "multiTenantApp" },
        "singleTenantAppId": p.app_id,
        "displayName": "Jamf",
        "isConfigured": p.app_id.is_some(),
        "whenPartnerDevicesWillBeRemovedDateTime": p.removal_at_ms.map(platform::clock::ms_to_rfc3339),
        "whenPartnerDevicesWillBeMarkedAsNonCompliantDateTime": p.noncompliant_at_ms.map(platform::clock::ms_to_rfc3339),
        "groupsRequiringPartnerEnrollment": targets,
        "displayState": partner::display(p.partner_state),
    }))
}

pub(super) async fn partners(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_READ).await?;
    let q = ctx.options(&PARTNERS)?;
    let mut items = Vec::new();
    if let Some(p) = ctx.state.store.partner(&tenant.id).await? {
        items.push(partner_json(ctx, &tenant, &p).await?);
    }
    match route {
        Route::Partner(key) => {
            let item = items.into_iter().find(|p| p["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(key.text())));
            Ok(entity(ctx, PARTNERS_CONTEXT, &q, item.ok_or_else(|| missing(key.text()))?))
        }
        _ => Ok(collection(ctx, PARTNERS_CONTEXT, &q, list_memory(&PARTNERS, &q, items)?)),
    }
}

/// The tenant's partner, addressed by its ID (the tenant's).
async fn addressed_partner(ctx: &Ctx<'_>, tenant: &Tenant, key: &Key) -> Result<PartnerRow> {
    ctx.state.store.partner(&tenant.id).await?.filter(|p| p.tenant_id.eq_ignore_ascii_case(key.text())).ok_or_else(|| missing(key.text()))
}

/// Applies the writable properties of a create or update body: `singleTenantAppId` (a
/// GUID, or null to clear it) and `groupsRequiringPartnerEnrollment` (include and
/// exclusion group targets of the tenant's groups).
async fn apply_partner_body(ctx: &Ctx<'_>, tenant: &Tenant, p: &mut PartnerRow, body: &Value, now: i64) -> Result<()> {
    if let Some(app) = body.get("singleTenantAppId") {
        let app_id = match app {
            Value::Null => None,
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => Some(s.to_ascii_lowercase()),
            other => return Err(CloudError::bad_request(format!("singleTenantAppId must be a GUID or null, not {other}."))),
        };
        let cleared = app_id.is_none() && p.app_id.is_some();
        partner::set_app_id(p, app_id, now);
        // Clearing the App ID ends a live connection, as in the admin center.
        if cleared && partner::connected(p) {
            partner::terminate(p, now);
        }
    }
    if let Some(targets) = body.get("groupsRequiringPartnerEnrollment") {
        let targets = targets.as_array().ok_or_else(|| CloudError::bad_request("groupsRequiringPartnerEnrollment must be an array."))?;
        let (mut include, mut exclude) = (Vec::new(), Vec::new());
        for t in targets {
            let group = t["target"]["groupId"].as_str().ok_or_else(|| CloudError::bad_request("target.groupId is required."))?;
            match t["target"]["@odata.type"].as_str() {
                Some(INCLUDE) => include.push(group.to_ascii_lowercase()),
                Some(EXCLUDE) => exclude.push(group.to_ascii_lowercase()),
                other => {
                    return Err(CloudError::bad_request(format!(
                        "Partner enrollment targets are {INCLUDE} or {EXCLUDE}, not {}.",
                        other.unwrap_or("an untyped target")
                    )));
                }
            }
        }
        let all: Vec<String> = include.iter().chain(&exclude).cloned().collect();
        if !all.is_empty() && !compliance_partners::groups_of_tenant(&ctx.state.store, &tenant.id, &all).await? {
            return Err(CloudError::bad_request("Every target must be a group of this tenant."));
        }
        p.include_groups = serde_json::to_string(&include).unwrap_or_default();
        p.exclude_groups = serde_json::to_string(&exclude).unwrap_or_default();
        p.updated_ms = now;
    }
    Ok(())
}

/// `POST deviceManagementPartners`: the tenant's partner record (one per tenant).
pub(super) async fn create_partner(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_WRITE).await?;
    let body = json_body(body)?;
    let now = ctx.state.clock.now_ms();
    let mut p = partner::new_partner(&tenant.id, now);
    apply_partner_body(ctx, &tenant, &mut p, &body, now).await?;
    if !ctx.state.store.create_partner(&p).await? {
        return Err(CloudError::conflict("Conflict", "This tenant has a device management partner already; update it."));
    }
    let item = partner_json(ctx, &tenant, &p).await?;
    Ok(written(ctx, StatusCode::CREATED, PARTNERS_CONTEXT, item))
}

/// `PATCH deviceManagementPartners/{id}`: 200 with the updated partner.
pub(super) async fn update_partner(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_WRITE).await?;
    let body = json_body(body)?;
    let mut p = addressed_partner(ctx, &tenant, &key).await?;
    let now = ctx.state.clock.now_ms();
    apply_partner_body(ctx, &tenant, &mut p, &body, now).await?;
    ctx.state.store.save_partner(&p).await?;
    let item = partner_json(ctx, &tenant, &p).await?;
    Ok(written(ctx, StatusCode::OK, PARTNERS_CONTEXT, item))
}

/// `DELETE deviceManagementPartners/{id}` (204): only once the partner is not connected
/// and none of its devices are waiting to be removed, so no device is left behind.
pub(super) async fn delete_partner(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_WRITE).await?;
    let p = addressed_partner(ctx, &tenant, &key).await?;
    if partner::connected(&p) {
        return Err(CloudError::bad_request("The partner is connected; terminate the connection before deleting it."));
    }
    if let Some(at) = p.removal_at_ms.filter(|_| p.devices_removed == 0) {
        return Err(CloudError::bad_request(format!(
            "The partner's devices stay in Intune until {}; delete the partner after that.",
            platform::clock::ms_to_rfc3339(at)
        )));
    }
    if !ctx.state.store.delete_partner(&tenant.id, p.updated_ms).await? {
        return Err(CloudError::conflict("Conflict", "The partner changed meanwhile; read it again."));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST deviceManagementPartners/{id}/terminate`: ends the partner connection (204).
pub(super) async fn terminate(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_WRITE).await?;
    let mut p = addressed_partner(ctx, &tenant, &key).await?;
    if !partner::connected(&p) {
        return Err(CloudError::bad_request("There is no partner connection to terminate."));
    }
    partner::terminate(&mut p, ctx.state.clock.now_ms());
    ctx.state.store.save_partner(&p).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- compliance management partners -------------------------------------------------

fn compliance_json(c: &CompliancePartnerRow) -> Value {
    let groups: Vec<String> = serde_json::from_str(&c.mac_groups).unwrap_or_default();
    let targets: Vec<Value> = groups.iter().map(|g| json!({"target": {"@odata.type": INCLUDE, "groupId": g}})).collect();
    json!({
        "@odata.type": "#microsoft.graph.complianceManagementPartner",
        "id": c.id, "displayName": c.display_name, "partnerState": c.partner_state,
        "lastHeartbeatDateTime": c.last_heartbeat_ms.map(platform::clock::ms_to_rfc3339),
        "macOsOnboarded": c.platform.is_some(), "androidOnboarded": false, "iosOnboarded": false,
        "macOsEnrollmentAssignments": targets, "androidEnrollmentAssignments": [], "iosEnrollmentAssignments": [],
    })
}

pub(super) async fn compliance_partners(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_READ).await?;
    let q = ctx.options(&COMPLIANCE_PARTNERS)?;
    let items: Vec<Value> = ctx.state.store.compliance_partners(&tenant.id).await?.iter().map(compliance_json).collect();
    match route {
        Route::CompliancePartner(key) => {
            let item = items.into_iter().find(|p| p["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(key.text())));
            Ok(entity(ctx, COMPLIANCE_CONTEXT, &q, item.ok_or_else(|| missing(key.text()))?))
        }
        _ => Ok(collection(ctx, COMPLIANCE_CONTEXT, &q, list_memory(&COMPLIANCE_PARTNERS, &q, items)?)),
    }
}

/// The group IDs of `macOsEnrollmentAssignments` (user group targets).
fn mac_groups(body: &Value) -> Result<Option<Vec<String>>> {
    let Some(targets) = body.get("macOsEnrollmentAssignments") else { return Ok(None) };
    let targets = targets.as_array().ok_or_else(|| CloudError::bad_request("macOsEnrollmentAssignments must be an array."))?;
    let groups = targets
        .iter()
        .map(|t| t["target"]["groupId"].as_str().map(str::to_ascii_lowercase))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| CloudError::bad_request("Each assignment needs target.groupId (a user group)."))?;
    Ok(Some(groups))
}

fn refused(outcome: &Onboarding) -> CloudError {
    if matches!(outcome, Onboarding::AlreadyOnboarded | Onboarding::PlatformTaken) {
        CloudError::conflict("Conflict", outcome.message())
    } else {
        CloudError::bad_request(outcome.message())
    }
}

/// `POST complianceManagementPartners` (201): the partner named by `displayName` (a
/// multi-tenant application consented in the tenant, as the admin center's picker lists
/// them), onboarded for macOS when `macOsOnboarded` is true.
pub(super) async fn create_compliance_partner(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_WRITE).await?;
    let body = json_body(body)?;
    if body.get("androidOnboarded").and_then(Value::as_bool) == Some(true)
        || body.get("iosOnboarded").and_then(Value::as_bool) == Some(true)
    {
        return Err(CloudError::bad_request("Compliance partners are onboarded for macOS only here."));
    }
    let name = body["displayName"].as_str().ok_or_else(|| CloudError::bad_request("displayName names the partner."))?;
    let candidates = compliance_partners::candidates(&ctx.state.store, &tenant.id).await?;
    let app = candidates.iter().find(|a| a.display_name.eq_ignore_ascii_case(name)).ok_or_else(|| refused(&Onboarding::NotAPartnerApp))?;
    let groups = mac_groups(&body)?.unwrap_or_default();
    let now = ctx.state.clock.now_ms();
    if body.get("macOsOnboarded").and_then(Value::as_bool) == Some(true) {
        return match compliance_partners::onboard(&ctx.state.store, &tenant.id, &app.app_id, &groups, now).await? {
            Onboarding::Created(row) => Ok(written(ctx, StatusCode::CREATED, COMPLIANCE_CONTEXT, compliance_json(&row))),
            other => Err(refused(&other)),
        };
    }
    // A partner onboarded for no platform yet.
    if !compliance_partners::groups_of_tenant(&ctx.state.store, &tenant.id, &groups).await? {
        return Err(refused(&Onboarding::UnknownGroup));
    }
    let row = CompliancePartnerRow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        display_name: app.display_name.clone(),
        app_id: app.app_id.clone(),
        mac_groups: serde_json::to_string(&groups).unwrap_or_default(),
        partner_state: PartnerState::Unknown,
        last_heartbeat_ms: None,
        platform: None,
    };
    if !ctx.state.store.insert_compliance_partner(&row, now).await? {
        return Err(refused(&Onboarding::AlreadyOnboarded));
    }
    Ok(written(ctx, StatusCode::CREATED, COMPLIANCE_CONTEXT, compliance_json(&row)))
}

async fn addressed_compliance_partner(ctx: &Ctx<'_>, tenant: &Tenant, key: &Key) -> Result<CompliancePartnerRow> {
    let all = ctx.state.store.compliance_partners(&tenant.id).await?;
    all.into_iter().find(|c| c.id.eq_ignore_ascii_case(key.text())).ok_or_else(|| missing(key.text()))
}

/// `PATCH complianceManagementPartners/{id}` (200 with the partner): new
/// `macOsEnrollmentAssignments`; `macOsOnboarded` onboards it for macOS (409 when another
/// partner holds it) or for no platform.
pub(super) async fn update_compliance_partner(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_WRITE).await?;
    let body = json_body(body)?;
    let mut c = addressed_compliance_partner(ctx, &tenant, &key).await?;
    if let Some(groups) = mac_groups(&body)? {
        if !compliance_partners::groups_of_tenant(&ctx.state.store, &tenant.id, &groups).await? {
            return Err(refused(&Onboarding::UnknownGroup));
        }
        c.mac_groups = serde_json::to_string(&groups).unwrap_or_default();
        ctx.state.store.set_compliance_partner_groups(&tenant.id, &c.id, &c.mac_groups).await?;
    }
    if let Some(onboarded) = body.get("macOsOnboarded").and_then(Value::as_bool) {
        let platform = onboarded.then_some(compliance_partners::MACOS);
        if !ctx.state.store.set_compliance_partner_platform(&tenant.id, &c.id, platform).await? {
            return Err(refused(&Onboarding::PlatformTaken));
        }
        c.platform = platform.map(str::to_string);
    }
    Ok(written(ctx, StatusCode::OK, COMPLIANCE_CONTEXT, compliance_json(&c)))
}

/// `DELETE complianceManagementPartners/{id}` (204): the partner is removed.
pub(super) async fn delete_compliance_partner(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&SERVICE_WRITE).await?;
    let c = addressed_compliance_partner(ctx, &tenant, &key).await?;
    ctx.state.store.delete_compliance_partner(&tenant.id, &c.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
