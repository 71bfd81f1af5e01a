//! Microsoft Graph, device management part: macOS compliance policies and their
//! assignments.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::graph::{ODataQuery, caller, collection, select};
use super::{Bytes, Path, Query};
use crate::Shared;
use crate::error::{CloudError, Result};
use crate::intune::policies;
use crate::store::PolicyRow;

const READ: [&str; 2] = ["DeviceManagementConfiguration.Read.All", "DeviceManagementConfiguration.ReadWrite.All"];
const WRITE: [&str; 1] = ["DeviceManagementConfiguration.ReadWrite.All"];

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

pub async fn list(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &READ).await?;
    let items = state.store.policies(&tenant.id).await?.iter().map(policy_json).collect();
    Ok(collection(
        &state,
        &version,
        "deviceManagement/deviceCompliancePolicies",
        "deviceManagement/deviceCompliancePolicies",
        select(items, &q)?,
        None,
    ))
}

pub async fn get_one(State(state): State<Shared>, Path((version, id)): Path<(String, String)>, headers: HeaderMap) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &READ).await?;
    let p = state.store.policy(&tenant.id, &id).await?.ok_or_else(|| CloudError::not_found(format!("Resource '{id}' does not exist.")))?;
    Ok(Json(policy_json(&p)))
}

pub async fn create(
    State(state): State<Shared>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let tenant = caller(&state, &headers, &version, &WRITE).await?;
    let (name, settings) = policies::parse(&json_body(&body)?)?;
    let row = policies::create(&state.store, &tenant.id, &name, &settings, state.clock.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(policy_json(&row))))
}

/// `POST …/{id}/assign` with `{"assignments":[{"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"…"}}]}`.
pub async fn assign(
    State(state): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &WRITE).await?;
    let body = json_body(&body)?;
    let mut groups = Vec::new();
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
        groups.push(target["groupId"].as_str().ok_or_else(|| CloudError::bad_request("target.groupId is required."))?.to_string());
    }
    policies::assign(&state.store, &tenant.id, &id, &groups).await?;
    assignments_json(&state, &version, &id, &groups)
}

fn assignments_json(state: &Shared, version: &str, id: &str, groups: &[String]) -> Result<Json<Value>> {
    let items = groups
        .iter()
        .map(|g| {
            json!({
                "id": format!("{id}_{g}"),
                "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g},
            })
        })
        .collect();
    Ok(collection(
        state,
        version,
        "deviceManagement/deviceCompliancePolicies/assignments",
        "deviceManagement/deviceCompliancePolicies/assignments",
        items,
        None,
    ))
}

pub async fn assignments(
    State(state): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &READ).await?;
    state.store.policy(&tenant.id, &id).await?.ok_or_else(|| CloudError::not_found(format!("Resource '{id}' does not exist.")))?;
    let groups = state.store.policy_assignments(&id).await?;
    assignments_json(&state, &version, &id, &groups)
}

/// `deviceManagement/complianceManagementPartners`.
pub async fn compliance_partners(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant =
        caller(&state, &headers, &version, &["DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All"])
            .await?;
    let items = state.store.compliance_partners(&tenant.id).await?.into_iter().map(|c| {
        let groups: Vec<String> = serde_json::from_str(&c.mac_groups).unwrap_or_default();
        json!({
            "id": c.id, "displayName": c.display_name, "partnerState": c.partner_state,
            "lastHeartbeatDateTime": c.last_heartbeat_ms.map(platform::clock::ms_to_rfc3339),
            "macOsOnboarded": true, "androidOnboarded": false, "iosOnboarded": false,
            "macOsEnrollmentAssignments": groups.iter().map(|g| json!({"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g}})).collect::<Vec<_>>(),
            "androidEnrollmentAssignments": [], "iosEnrollmentAssignments": [],
        })
    }).collect();
    Ok(collection(
        &state,
        &version,
        "deviceManagement/complianceManagementPartners",
        "deviceManagement/complianceManagementPartners",
        select(items, &q)?,
        None,
    ))
}
