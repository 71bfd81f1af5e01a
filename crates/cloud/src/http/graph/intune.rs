//! Microsoft Graph, device management part: partner-managed devices (also per user) and
//! macOS compliance policies with their assignments. The partners are in [`super::partners`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::directory::missing;
use super::path::{Key, Route};
use super::{Ctx, Listing, collection, count, entity, list_memory, page, paged};
use crate::error::{CloudError, Result};
use crate::intune::enforcement::Enforcement;
use crate::intune::policies;
use crate::odata::resource::{COMPLIANCE_POLICIES, MANAGED_DEVICES};
use crate::store::{ManagedDeviceRow, PolicyRow};
use wire::partner::DeviceItem;

const DEVICES_READ: [&str; 2] = ["DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All"];
const CONFIG_READ: [&str; 2] = ["DeviceManagementConfiguration.Read.All", "DeviceManagementConfiguration.ReadWrite.All"];
const CONFIG_WRITE: [&str; 1] = ["DeviceManagementConfiguration.ReadWrite.All"];

pub(super) async fn get(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    match route {
        Route::ManagedDevices => managed_devices(ctx).await,
        Route::ManagedDevicesCount => {
            let tenant = ctx.caller(&DEVICES_READ).await?;
            let q = ctx.options(&MANAGED_DEVICES)?;
            let n = ctx.state.store.graph_managed_devices_count(&tenant.id, &super::condition(&MANAGED_DEVICES, &q)).await?;
            count(ctx, &MANAGED_DEVICES, n)
        }
        Route::ManagedDevice(key) => managed_device(ctx, key).await,
        Route::UserManagedDevices(key) => user_managed_devices(ctx, key).await,
        Route::Partners | Route::Partner(_) => super::partners::partners(ctx, route).await,
        Route::CompliancePartners | Route::CompliancePartner(_) => super::partners::compliance_partners(ctx, route).await,
        Route::Policies => {
            let tenant = ctx.caller(&CONFIG_READ).await?;
            let q = ctx.options(&COMPLIANCE_POLICIES)?;
            let items = ctx.state.store.policies(&tenant.id).await?.iter().map(policy_json).collect();
            Ok(collection(ctx, "deviceManagement/deviceCompliancePolicies", &q, list_memory(&COMPLIANCE_POLICIES, &q, items)?))
        }
        Route::Policy(key) => {
            let tenant = ctx.caller(&CONFIG_READ).await?;
            let q = ctx.options(&COMPLIANCE_POLICIES)?;
            let p = ctx.state.store.policy(&tenant.id, &key.text().to_ascii_lowercase()).await?.ok_or_else(|| missing(key.text()))?;
            Ok(entity(ctx, "deviceManagement/deviceCompliancePolicies", &q, policy_json(&p)))
        }
        Route::PolicyAssignments(key) => {
            let tenant = ctx.caller(&CONFIG_READ).await?;
            let id = key.text().to_ascii_lowercase();
            ctx.state.store.policy(&tenant.id, &id).await?.ok_or_else(|| missing(key.text()))?;
            let groups = ctx.state.store.policy_assignments(&id).await?;
            Ok(assignments(ctx, &id, &groups))
        }
        _ => Err(CloudError::bad_request("Resource not found for the request.")),
    }
}

// ---- managed devices ---------------------------------------------------------------

/// A partner-managed Mac as Graph's `managedDevice`: identity and state from the record,
/// hardware from the partner's last inventory item.
fn managed_json(m: &ManagedDeviceRow, upn: Option<&str>) -> Value {
    let grace = m.grace_expires_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "9999-12-31T23:59:59Z".into());
    let reported: DeviceItem = serde_json::from_str(&m.attributes).unwrap_or_default();
    json!({
        "@odata.type": "#microsoft.graph.managedDevice",
        "id": m.id, "userId": m.user_id, "userPrincipalName": upn, "emailAddress": upn, "deviceName": m.device_name,
        "operatingSystem": "macOS", "osVersion": m.os_version, "serialNumber": m.serial_number, "model": reported.model,
        "manufacturer": "Apple", "wiFiMacAddress": reported.mac_address, "azureADDeviceId": m.device_id, "azureADRegistered": true,
        "deviceRegistrationState": "registered", "complianceState": m.compliance_state,
        "complianceGracePeriodExpirationDateTime": grace, "managementAgent": "jamf",
        "enrolledDateTime": platform::clock::ms_to_rfc3339(m.enrolled_ms.unwrap_or(m.last_sync_ms)),
        "lastSyncDateTime": platform::clock::ms_to_rfc3339(m.last_sync_ms), "managedDeviceOwnerType": "company",
        "isEncrypted": reported.encrypted.unwrap_or(false), "isSupervised": false,
    })
}

async fn managed_devices(ctx: &Ctx<'_>) -> Result<Response> {
    let tenant = ctx.caller(&DEVICES_READ).await?;
    let q = ctx.options(&MANAGED_DEVICES)?;
    let page = page(&MANAGED_DEVICES, &q, "m.id")?;
    let rows = ctx.state.store.graph_managed_devices(&tenant.id, &page).await?;
    let (rows, next) = paged(rows, &q, &page, |m| m.id.clone());
    let total = if q.count { Some(ctx.state.store.graph_managed_devices_count(&tenant.id, &page.condition).await?) } else { None };
    let users: Vec<String> = rows.iter().map(|m| m.user_id.clone()).collect();
    let upns = ctx.state.store.upns_of(&users).await?;
    let items = rows.iter().map(|m| managed_json(m, upns.get(&m.user_id).map(String::as_str))).collect();
    Ok(collection(ctx, "deviceManagement/managedDevices", &q, Listing { items, count: total, next }))
}

async fn managed_device(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&DEVICES_READ).await?;
    let q = ctx.options(&MANAGED_DEVICES)?;
    let m = ctx.state.store.managed_device_by_id(&tenant.id, &key.text().to_ascii_lowercase()).await?.ok_or_else(|| missing(key.text()))?;
    let upn = ctx.state.store.upns_of(std::slice::from_ref(&m.user_id)).await?.remove(&m.user_id);
    Ok(entity(ctx, "deviceManagement/managedDevices", &q, managed_json(&m, upn.as_deref())))
}

/// `users/{id}/managedDevices`: the user's partner-managed Macs.
async fn user_managed_devices(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&DEVICES_READ).await?;
    let q = ctx.options(&MANAGED_DEVICES)?;
    let user = super::directory::find_user(ctx, &tenant, &key).await?;
    let items =
        ctx.state.store.managed_devices_of_user(&tenant.id, &user.id).await?.iter().map(|m| managed_json(m, Some(&user.upn))).collect();
    Ok(collection(ctx, &format!("users('{}')/managedDevices", user.id), &q, list_memory(&MANAGED_DEVICES, &q, items)?))
}

/// `DELETE managedDevices/{id}` (204): the Mac leaves Intune, as the admin center's
/// Delete does; its Entra device is no longer managed or compliant. The partner's next
/// inventory of it brings it back.
pub(super) async fn delete_managed_device(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&["DeviceManagementManagedDevices.ReadWrite.All"]).await?;
    let m = ctx.state.store.managed_device_by_id(&tenant.id, &key.text().to_ascii_lowercase()).await?.ok_or_else(|| missing(key.text()))?;
    let mut txn = ctx.state.store.begin().await?;
    crate::store::tx::withdraw_device(&mut txn, &m.device_id, ctx.state.clock.now_ms()).await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- compliance policies -----------------------------------------------------------

fn policy_json(p: &PolicyRow) -> Value {
    let mut v: Value = serde_json::from_str(&p.settings).unwrap_or_else(|_| json!({}));
    v["@odata.type"] = json!(policies::MACOS_POLICY_TYPE);
    v["id"] = json!(p.id);
    v["displayName"] = json!(p.display_name);
    v["version"] = json!(1);
    v
}

fn json_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| CloudError::bad_request(format!("The request body is not valid JSON: {e}")))
}

pub(super) async fn create_policy(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&CONFIG_WRITE).await?;
    let (name, settings) = policies::parse(&json_body(body)?)?;
    let row = policies::create(&ctx.state.store, &tenant.id, &name, &settings, ctx.state.clock.now_ms()).await?;
    let mut item = policy_json(&row);
    item["@odata.context"] =
        json!(format!("{}/graph/{}/$metadata#deviceManagement/deviceCompliancePolicies/$entity", ctx.state.base_url, ctx.version));
    Ok((StatusCode::CREATED, axum::Json(item)).into_response())
}

/// `PATCH deviceCompliancePolicies/{id}` (204): the settings given replace the stored
/// ones; `@odata.type` is required, as Intune requires it. The noncompliance actions change
/// only through `scheduleActionsForRules`. Devices are evaluated against the new settings
/// at their next report, as Intune does at the next check-in.
pub(super) async fn update_policy(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&CONFIG_WRITE).await?;
    let patch = json_body(body)?;
    if patch.get("@odata.type").and_then(Value::as_str).is_none() {
        return Err(CloudError::bad_request(format!(
            "@odata.type is required to update a compliance policy ({}).",
            policies::MACOS_POLICY_TYPE
        )));
    }
    if patch.get("scheduledActionsForRule").is_some() {
        return Err(CloudError::bad_request("scheduledActionsForRule is changed with the scheduleActionsForRules action, not PATCH."));
    }
    let stored = ctx.state.store.policy(&tenant.id, &key.text().to_ascii_lowercase()).await?.ok_or_else(|| missing(key.text()))?;
    let merged = crate::entra::administration::merged(policy_json(&stored), &patch)?;
    let (name, settings) = policies::parse(&merged)?;
    policies::update(&ctx.state.store, &stored, &name, &settings).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST deviceCompliancePolicies/{id}/scheduleActionsForRules` (204) with
/// `{"deviceComplianceScheduledActionForRules": [{"ruleName": …, "scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": N}]}]}`:
/// replaces the policy's noncompliance actions (its grace period is the `block` action's).
pub(super) async fn schedule_actions(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&CONFIG_WRITE).await?;
    let body = json_body(body)?;
    let rules = body
        .get("deviceComplianceScheduledActionForRules")
        .cloned()
        .ok_or_else(|| CloudError::bad_request("deviceComplianceScheduledActionForRules is required."))?;
    let stored = ctx.state.store.policy(&tenant.id, &key.text().to_ascii_lowercase()).await?.ok_or_else(|| missing(key.text()))?;
    let mut merged = policy_json(&stored);
    merged["scheduledActionsForRule"] = rules;
    let (name, settings) = policies::parse(&merged)?;
    policies::update(&ctx.state.store, &stored, &name, &settings).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE deviceCompliancePolicies/{id}` (204), with its assignments.
pub(super) async fn delete_policy(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&CONFIG_WRITE).await?;
    if !ctx.state.store.delete_policy(&tenant.id, &key.text().to_ascii_lowercase()).await? {
        return Err(missing(key.text()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/{id}/assign` with `{"assignments":[{"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"…"}}]}`.
/// Each assignment may also carry this service's graded enforcement (an extension Graph
/// does not have; `intune::enforcement`): `"enforcement"` (`block`, the default,
/// `warn` or `reportOnly`) and, for `warn`, `"warnUntilDateTime"` (RFC 3339, in the future).
pub(super) async fn assign(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&CONFIG_WRITE).await?;
    let body = json_body(body)?;
    let mut assigned = Vec::new();
    for a in body["assignments"].as_array().ok_or_else(|| CloudError::bad_request("assignments must be an array."))? {
        let target = &a["target"];
        match target["@odata.type"].as_str() {
            Some("#microsoft.graph.groupAssignmentTarget") => {}
            other => {
                return Err(CloudError::bad_request(format!(
                    "Compliance policies for partner-managed Macs are assigned to user groups (#microsoft.graph.groupAssignmentTarget), not {}.",
                    other.unwrap_or("an untyped target")
                )));
            }
        }
        let group = target["groupId"].as_str().ok_or_else(|| CloudError::bad_request("target.groupId is required."))?.to_string();
        assigned.push((group, a));
    }
    let id = key.text().to_ascii_lowercase();
    let stored = ctx.state.store.policy_assignments(&id).await?;
    let now = ctx.state.clock.now_ms();
    let assigned = assigned
        .into_iter()
        .map(|(group, a)| {
            let kept = stored.iter().find(|(g, _)| *g == group).map(|(_, e)| *e);
            Ok((group, enforcement_of(a, kept, now)?))
        })
        .collect::<Result<Vec<_>>>()?;
    policies::assign(&ctx.state.store, &tenant.id, &id, &assigned, ctx.state.config.no_policy_is_compliant, now).await?;
    Ok(assignments(ctx, &id, &assigned))
}

/// An assignment's `enforcement` and `warnUntilDateTime` (absent: block). A warning whose
/// deadline has passed is taken only as the group's stored one, sent back unchanged (a
/// client adding a group posts the whole set again).
fn enforcement_of(assignment: &Value, stored: Option<Enforcement>, now_ms: i64) -> Result<Enforcement> {
    let mode = match &assignment["enforcement"] {
        Value::Null => "block",
        Value::String(m) => m.as_str(),
        _ => return Err(CloudError::bad_request("enforcement must be a string: block, warn or reportOnly.")),
    };
    let until = match &assignment["warnUntilDateTime"] {
        Value::Null => None,
        Value::String(t) => Some(
            platform::clock::parse_rfc3339(t)
                .ok_or_else(|| CloudError::bad_request(format!("warnUntilDateTime '{t}' is not an RFC 3339 date and time.")))?
                .timestamp_millis(),
        ),
        _ => return Err(CloudError::bad_request("warnUntilDateTime must be an RFC 3339 date and time.")),
    };
    // Compared to the second: listings give the deadline in whole seconds.
    if let (Some(kept @ Enforcement::Warn { until_ms }), "warn", Some(u)) = (stored, mode, until)
        && until_ms.div_euclid(1000) == u.div_euclid(1000)
    {
        return Ok(kept);
    }
    Enforcement::parse(mode, until, now_ms).map_err(CloudError::bad_request)
}

fn assignments(ctx: &Ctx<'_>, id: &str, assigned: &[(String, Enforcement)]) -> Response {
    let items = assigned
        .iter()
        .map(|(g, e)| {
            let mut item =
                json!({"id": format!("{id}_{g}"), "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g}});
            // The extension shows only where it is used: a blocking assignment is Graph's own.
            if let (mode @ ("warn" | "reportOnly"), until) = e.columns() {
                item["enforcement"] = json!(mode);
                if let Some(until) = until {
                    item["warnUntilDateTime"] = json!(platform::clock::ms_to_rfc3339(until));
                }
            }
            item
        })
        .collect();
    let q = crate::odata::query::QueryOptions::default();
    collection(ctx, "deviceManagement/deviceCompliancePolicies/assignments", &q, Listing { items, count: None, next: None })
}
