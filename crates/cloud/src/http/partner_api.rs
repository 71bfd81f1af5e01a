//! Intune partner services at the tenant's discovered base URLs (OData v3 keys,
//! `api-version` in the query string).

use super::{Path, Query};
use crate::http::Bytes;
use crate::intune::partner::PartnerState;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::Method;
use axum::http::request::Parts;
use serde::Deserialize;
use std::collections::HashMap;
use wire::partner::{HeartbeatRequest, HeartbeatResponse, PartnerTenantRequest, PartnerTenantResponse, UploadStatus, parse_guid_key};

use super::authenticate;
use crate::Shared;
use crate::entra::directory::Tenant;
use crate::entra::tokens::AccessClaims;
use crate::error::{CloudError, Result};
use crate::faults::Fault;
use crate::intune::preview::Candidate;
use crate::intune::{partner, policies, uploads};
use wire::MessageId;
use wire::TenantId;

#[derive(Deserialize)]
pub struct ApiVersion {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

const INTUNE_AUDIENCES: [&str; 2] = ["https://api.manage.microsoft.com/", wire::ids::INTUNE_APP_ID];

/// Splits `Entity(guid'…')` into the entity set and its key. One stray `}` after the key,
/// which a live partner client sends and the real service takes, is read past.
fn entity(resource: &str) -> Result<(&str, uuid::Uuid)> {
    let bad = || CloudError::bad_request(format!("Resource '{resource}' is not of the form Entity(guid'…')."));
    let (name, rest) = resource.split_once('(').ok_or_else(bad)?;
    let key = rest.strip_suffix('}').unwrap_or(rest).strip_suffix(')').ok_or_else(bad)?;
    Ok((name, parse_guid_key(key).ok_or_else(bad)?))
}

/// A partner calling the tenant's partner services: an Intune-audience token of the
/// tenant whose scale unit the path names (`{unit}`), within the app's throttling budget,
/// with `api-version` given. Rejections (in this order): 400 without `api-version`, an
/// injected fault (test mode), 401 for the token, 429 when throttled, 404 for a unit that
/// is not the token's tenant's (another tenant's host answers as if it did not exist).
pub(crate) struct PartnerCaller {
    pub tenant: Tenant,
    pub claims: AccessClaims,
}

impl FromRequestParts<Shared> for PartnerCaller {
    type Rejection = CloudError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let Query(q) = Query::<ApiVersion>::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let unit = params.get("unit").map(String::as_str).unwrap_or_default();
        if q.api_version.is_none() {
            return Err(CloudError::bad_request("The api-version query parameter is required."));
        }
        let write = !matches!(parts.method, Method::GET | Method::HEAD);
        inject_fault(state, if write { "PUT" } else { "GET" }, unit).await?;
        let claims = authenticate(state, &parts.headers, &INTUNE_AUDIENCES)?;
        super::throttle(state, &claims, write)?;
        let tenant = state
            .store
            .tenant_by_scale_unit(unit)
            .await?
            .ok_or_else(|| CloudError::not_found("No partner service is published at this address."))?;
        if tenant.id != claims.tid {
            // Another tenant's host: answer as if it did not exist.
            return Err(CloudError::not_found("No partner service is published at this address for this tenant."));
        }
        Ok(PartnerCaller { tenant, claims })
    }
}

/// A JSON object body, read as JSON Schema reads it (a whole float is an integer).
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    platform::http::json_object(body).map_err(CloudError::bad_request)
}

/// `PartnerTenants(guid'…')` (provision / deprovision) and `PartnerTenantHeartbeat(guid'…')`.
#[utoipa::path(put, path = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerTenantDataSyncService/{resource}", tag = "partner",
    summary = "Provision or deprovision the partner (PartnerTenants), or beat its heartbeat (PartnerTenantHeartbeat)",
    params(("unit" = String, Path, description = "The tenant's scale unit, as discovery publishes it."), ("resource" = String, Path, pattern = r"^(PartnerTenants|PartnerTenantHeartbeat)\(guid'[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}'\)\}?$", description = "`PartnerTenants(guid'<tenant>')` or `PartnerTenantHeartbeat(guid'<tenant>')`: the key is the caller's tenant."), ("api-version" = String, Query, description = "The service's API version (`1.0`, `1.6`).")),
    request_body(content = Object, description = "`PartnerTenants`: `{\"Provisioned\": 1 (provisioned) or 2 (deprovisioned), \"PartnerEnrollmentUrl\", \"PartnerRemediationUrl\"}`; `PartnerTenantHeartbeat`: `{\"Timestamp\"}`."),
    responses(super::openapi::PartnerRefusals, (status = 200, description = "The partner's state.", body = Object), (status = 400, description = "The api-version is missing, the key is not of the form Entity(guid'…') or the body is not valid.", body = wire::errors::ODataError), (status = 409, description = "A manual connection (single-tenant app) already serves another instance of this tenant.", body = wire::errors::ODataError), (status = 413, description = "The body is too large.", body = wire::errors::ODataError)),
    security(("intune_token" = [])))]
pub async fn tenant_data_sync(
    State(state): State<Shared>,
    Path((unit, resource)): Path<(String, String)>,
    PartnerCaller { tenant, claims }: PartnerCaller,
    body: Bytes,
) -> Result<Json<serde_json::Value>> {
    let (name, key) = entity(&resource)?;
    if key.to_string() != tenant.id {
        return Err(CloudError::forbidden("The key does not name the caller's tenant."));
    }
    let app_id = uploads::authorize_partner_allowing_terminated(&state.store, &tenant.id, &claims).await?;
    let now = state.clock.now_ms();
    let device_partner = state.store.partner(&tenant.id).await?.filter(|p| p.app_id.as_deref() == Some(app_id.as_str()));
    let Some(mut p) = device_partner else {
        return compliance_partner_sync(&state, &tenant, &app_id, name, &body, now).await;
    };
    match name {
        "PartnerTenants" => {
            let req: PartnerTenantRequest = json_body(&body)?;
            if req.provisioned == wire::partner::PROVISIONED {
                one_instance_for_manual(&state, &tenant.id, &app_id, &p, req.partner_enrollment_url.as_deref()).await?;
            }
            match req.provisioned {
                wire::partner::PROVISIONED => partner::provision(&mut p, req.partner_enrollment_url, req.partner_remediation_url, now),
                wire::partner::DEPROVISIONED => partner::terminate(&mut p, now),
                other => {
                    return Err(CloudError::bad_request(format!("Provisioned must be 1 or 2, not {other}.")));
                }
            }
            state.store.save_partner(&p).await?;
            Ok(Json(
                serde_json::to_value(PartnerTenantResponse {
                    key: tenant.id.to_string(),
                    context_id: tenant.id.to_string(),
                    provisioned: p.provisioned as i32,
                    http_status_code: 200,
                    error_detail: None,
                })
                .map_err(CloudError::internal)?,
            ))
        }
        "PartnerTenantHeartbeat" => {
            let req: HeartbeatRequest = json_body(&body)?;
            if p.partner_state == PartnerState::Terminated {
                return Err(uploads::terminated());
            }
            partner::heartbeat(&mut p, now);
            state.store.save_partner(&p).await?;
            let base = format!(
                "{}/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerTenantDataSyncService",
                state.base_url
            );
            Ok(Json(
                serde_json::to_value(HeartbeatResponse {
                    odata_metadata: format!("{base}/$metadata#PartnerTenantHeartbeat/@Element"),
                    odata_id: format!("{base}/PartnerTenantHeartbeat(guid'{}')", tenant.id),
                    key: tenant.id.to_string(),
                    tenant_id: tenant.id.clone(),
                    client_type: "Partner".into(),
                    timestamp: req.timestamp,
                    resync_timestamp: None,
                    http_status_code: 200,
                    error_detail: None,
                    message_errors: vec![],
                })
                .map_err(CloudError::internal)?,
            ))
        }
        other => Err(CloudError::not_found(format!("Entity set '{other}' does not exist on this service."))),
    }
}

/// A compliance partner confirms itself with the same calls as a device management
/// partner: provisioned (or a heartbeat) it is Active, deprovisioned it is Terminated
/// until it provisions again.
async fn compliance_partner_sync(
    state: &Shared,
    tenant: &Tenant,
    app_id: &str,
    name: &str,
    body: &[u8],
    now: i64,
) -> Result<Json<serde_json::Value>> {
    let current = crate::intune::compliance_partners::onboarded(&state.store, &tenant.id, app_id).await?;
    let Some(current) = current else { return Err(CloudError::forbidden("The application is not a partner of this tenant.")) };
    let new_state = match name {
        "PartnerTenants" => match json_body::<PartnerTenantRequest>(body)?.provisioned {
            wire::partner::PROVISIONED => PartnerState::Enabled,
            wire::partner::DEPROVISIONED => PartnerState::Terminated,
            other => return Err(CloudError::bad_request(format!("Provisioned must be 1 or 2, not {other}."))),
        },
        "PartnerTenantHeartbeat" if current.partner_state == PartnerState::Terminated => return Err(uploads::terminated()),
        "PartnerTenantHeartbeat" => PartnerState::Enabled,
        other => return Err(CloudError::not_found(format!("Entity set '{other}' does not exist on this service."))),
    };
    state.store.set_compliance_partner_state(&tenant.id, app_id, new_state, now).await?;
    let provisioned = if new_state == PartnerState::Terminated { wire::partner::DEPROVISIONED } else { wire::partner::PROVISIONED };
    Ok(Json(
        serde_json::json!({"Key": tenant.id, "ContextId": tenant.id, "Provisioned": provisioned, "HttpStatusCode": 200, "ErrorDetail": null}),
    ))
}

/// `PUT DataUploadMessages(guid'<message id>')`.
#[utoipa::path(put, path = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerDeviceDataSyncService/{resource}", tag = "partner",
    summary = "Upload a message of device items",
    description = "Taken at once and processed in the background: read its items with GET on the same key. The same body under the same ID is answered again; other content under an ID still being processed is 409.",
    params(("unit" = String, Path, description = "The tenant's scale unit, as discovery publishes it."), ("resource" = String, Path, pattern = r"^DataUploadMessages\(guid'[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}'\)\}?$", description = "`DataUploadMessages(guid'<message id>')`."), ("api-version" = String, Query, description = "The service's API version (`1.0`, `1.6`).")),
    request_body = wire::partner::UploadMessage,
    responses(super::openapi::PartnerRefusals, (status = 200, description = "Taken.", body = wire::partner::UploadAccepted), (status = 400, description = "The api-version is missing, the key is not of the form Entity(guid'…') or the body is not valid.", body = wire::errors::ODataError),
        (status = 409, description = "Another message with this ID is still being processed.", body = wire::errors::ODataError), (status = 413, description = "The body is larger than the service takes, or it has too many items.", body = wire::errors::ODataError)),
    security(("intune_token" = [])))]
pub async fn upload(
    State(state): State<Shared>,
    Path((_, resource)): Path<(String, String)>,
    PartnerCaller { tenant, claims }: PartnerCaller,
    body: Bytes,
) -> Result<Json<serde_json::Value>> {
    let (name, message_id) = entity(&resource)?;
    if name != "DataUploadMessages" {
        return Err(CloudError::not_found(format!("Entity set '{name}' does not exist on this service.")));
    }
    let accepted = uploads::accept(&state.store, &tenant.id, &claims, message_id, &body, state.clock.now_ms()).await?;
    state.metrics.uploads_total.increment(1);
    state.uploads_waiting.notify_one();
    Ok(Json(serde_json::to_value(accepted).map_err(CloudError::internal)?))
}

/// `GET DataUploadMessages(guid'<message id>')`: Pending until processed, then per-item results.
#[utoipa::path(get, path = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerDeviceDataSyncService/{resource}", tag = "partner",
    summary = "An upload message's state and per-item results",
    params(("unit" = String, Path, description = "The tenant's scale unit, as discovery publishes it."), ("resource" = String, Path, pattern = r"^DataUploadMessages\(guid'[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}'\)\}?$", description = "`DataUploadMessages(guid'<message id>')`."), ("api-version" = String, Query, description = "The service's API version (`1.0`, `1.6`).")),
    responses(super::openapi::PartnerRefusals, (status = 200, description = "`Pending` until processed, then each item's result.", body = wire::partner::UploadStatus), (status = 400, description = "The api-version is missing or the key is not of the form Entity(guid'…').", body = wire::errors::ODataError)),
    security(("intune_token" = [])))]
pub async fn upload_status(
    State(state): State<Shared>,
    Path((_, resource)): Path<(String, String)>,
    PartnerCaller { tenant, claims }: PartnerCaller,
) -> Result<Json<serde_json::Value>> {
    let (name, message_id) = entity(&resource)?;
    if name != "DataUploadMessages" {
        return Err(CloudError::not_found(format!("Entity set '{name}' does not exist on this service.")));
    }
    let row = state
        .store
        .upload(&tenant.id, &MessageId::from(message_id.to_string()))
        .await?
        .filter(|r| Some(&r.app_id) == claims.appid.as_ref())
        .ok_or_else(|| CloudError::not_found(format!("Message {message_id} does not exist.")))?;
    let status = UploadStatus {
        message_id: row.message_id,
        tenant_id: row.tenant_id,
        status: row.status,
        error_code: row.error_code as i32,
        error_detail: row.error_detail,
        item_results: row.item_results.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default(),
    };
    Ok(Json(serde_json::to_value(status).map_err(CloudError::internal)?))
}

fn partner_policy_json(p: &crate::store::PartnerPolicyRow) -> serde_json::Value {
    serde_json::json!({
        "Id": p.id, "DisplayName": p.display_name, "Description": p.description, "Platform": p.platform,
        "PartnerPolicyId": p.id, "PartnerManagedCompliance": true,
        "Assignments": serde_json::from_str::<serde_json::Value>(&p.assignments).unwrap_or_default(),
    })
}

/// `POST PartnerCompliancePolicies`: 201 with the policy, 409 if it exists already.
#[utoipa::path(post, path = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerTenantDataSyncService/{resource}", tag = "partner",
    summary = "Create a partner compliance policy (a compliance partner's policy the tenant can assign)",
    params(("unit" = String, Path, description = "The tenant's scale unit, as discovery publishes it."), ("resource" = super::openapi::PoliciesSet, Path, description = "`PartnerCompliancePolicies`."), ("api-version" = String, Query, description = "The service's API version (`1.0`, `1.6`).")),
    request_body = super::openapi::PartnerPolicyForm,
    responses(super::openapi::PartnerRefusals, (status = 201, description = "The policy, also as `value[0]` (live partner clients read it there).", body = Object), (status = 400, description = "The api-version is missing, the body is not a JSON object, DisplayName is blank, Platform is not one of macOS, iOS, android, windows, or Description is not text.", body = wire::errors::ODataError),
        (status = 409, description = "A policy with this name exists already.", body = wire::errors::ODataError), (status = 413, description = "The body is too large.", body = wire::errors::ODataError)),
    security(("intune_token" = [])))]
pub async fn create_partner_policy(
    State(state): State<Shared>,
    Path((_, resource)): Path<(String, String)>,
    PartnerCaller { tenant, claims }: PartnerCaller,
    body: Bytes,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>)> {
    if resource != "PartnerCompliancePolicies" {
        return Err(CloudError::not_found(format!("Entity set '{resource}' does not exist on this service.")));
    }
    let app_id = uploads::authorize_partner(&state.store, &tenant.id, &claims).await?;
    let req: serde_json::Value = json_body(&body)?;
    let text = |k: &str| req.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let (name, platform) = (text("DisplayName").trim().to_string(), text("Platform"));
    if !req.get("Description").is_none_or(|d| d.is_null() || d.is_string()) {
        return Err(CloudError::bad_request("Description must be text."));
    }
    if name.is_empty() || !["macOS", "iOS", "android", "windows"].contains(&platform.as_str()) {
        return Err(CloudError::bad_request("DisplayName is required and Platform must be macOS, iOS, android or windows."));
    }
    let row = crate::store::PartnerPolicyRow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        app_id,
        display_name: name.clone(),
        description: text("Description").trim().to_string(),
        platform,
        assignments: "[]".into(),
    };
    if !state.store.insert_partner_policy(&row, state.clock.now_ms()).await? {
        return Err(CloudError::conflict("Conflict", format!("A partner compliance policy named '{name}' exists already.")));
    }
    // The policy, also as the one item of `value`: live partner clients read the new
    // policy's `Id` from `value[0]`.
    let mut created = partner_policy_json(&row);
    created["value"] = serde_json::json!([partner_policy_json(&row)]);
    Ok((axum::http::StatusCode::CREATED, Json(created)))
}

/// `GET PartnerCompliancePolicies`.
#[utoipa::path(get, path = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerTenantDataSyncService/{resource}", tag = "partner",
    summary = "The partner's compliance policies",
    params(("unit" = String, Path, description = "The tenant's scale unit, as discovery publishes it."), ("resource" = super::openapi::PoliciesSet, Path, description = "`PartnerCompliancePolicies`."), ("api-version" = String, Query, description = "The service's API version (`1.0`, `1.6`).")),
    responses(super::openapi::PartnerRefusals, (status = 200, description = "The policies (`value`).", body = Object), (status = 400, description = "The api-version is missing.", body = wire::errors::ODataError)),
    security(("intune_token" = [])))]
pub async fn list_partner_policies(
    State(state): State<Shared>,
    Path((_, resource)): Path<(String, String)>,
    PartnerCaller { tenant, claims }: PartnerCaller,
) -> Result<Json<serde_json::Value>> {
    if resource != "PartnerCompliancePolicies" {
        return Err(CloudError::not_found(format!("Entity set '{resource}' does not exist on this service.")));
    }
    uploads::authorize_partner(&state.store, &tenant.id, &claims).await?;
    let items: Vec<_> = state.store.partner_policies(&tenant.id).await?.iter().map(partner_policy_json).collect();
    Ok(Json(serde_json::json!({ "value": items })))
}

/// `POST PartnerCompliancePolicies(guid'…')/Assign` with `{"assignments": ["<group id>", …]}`.
#[utoipa::path(post, path = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerTenantDataSyncService/{resource}/Assign", tag = "partner",
    summary = "Assign a partner compliance policy to user groups of the tenant",
    description = "Every group must be a user group of the tenant (400 otherwise); the assignments replace the policy's earlier ones.",
    params(("unit" = String, Path, description = "The tenant's scale unit, as discovery publishes it."), ("resource" = String, Path, pattern = r"^PartnerCompliancePolicies\(guid'[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}'\)\}?$", description = "`PartnerCompliancePolicies(guid'<policy id>')`."), ("api-version" = String, Query, description = "The service's API version (`1.0`, `1.6`).")),
    request_body = super::openapi::AssignForm,
    responses(super::openapi::PartnerRefusals, (status = 204, description = "Assigned."), (status = 400, description = "The api-version is missing, the key is malformed, assignments is not an array of strings, or a group is not a user group of the tenant.", body = wire::errors::ODataError), (status = 403, description = "The token lacks update_device_attributes, names another tenant, or the application is not the tenant's partner (or it is terminated).", body = wire::errors::ODataError),
        (status = 413, description = "The body is too large.", body = wire::errors::ODataError)),
    security(("intune_token" = [])))]
pub async fn assign_partner_policy(
    State(state): State<Shared>,
    Path((_, resource)): Path<(String, String)>,
    PartnerCaller { tenant, claims }: PartnerCaller,
    body: Bytes,
) -> Result<axum::http::StatusCode> {
    let (name, id) = entity(&resource)?;
    if name != "PartnerCompliancePolicies" {
        return Err(CloudError::not_found(format!("Entity set '{name}' does not exist on this service.")));
    }
    uploads::authorize_partner(&state.store, &tenant.id, &claims).await?;
    let req: serde_json::Value = json_body(&body)?;
    let groups: Vec<String> = req["assignments"]
        .as_array()
        .ok_or_else(|| CloudError::bad_request("assignments must be an array of group IDs."))?
        .iter()
        .map(|g| g.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| CloudError::bad_request("assignments must be an array of group IDs."))?;
    let known: Vec<String> = state.store.groups(&tenant.id).await?.into_iter().map(|(g, _)| g).collect();
    if let Some(unknown) = groups.iter().find(|g| !known.contains(g)) {
        return Err(CloudError::bad_request(format!("{unknown} is not a user group of this tenant.")));
    }
    if !state.store.set_partner_policy_assignments(&tenant.id, &id.to_string(), &serde_json::to_string(&groups).unwrap_or_default()).await?
    {
        return Err(CloudError::not_found(format!("Partner compliance policy {id} does not exist.")));
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Refuses another instance's provisioning while a manual connection is connected
/// (`partner::manual_connection_taken`).
async fn one_instance_for_manual(
    state: &Shared,
    tenant_id: &TenantId,
    app_id: &str,
    p: &crate::store::PartnerRow,
    enrollment_url: Option<&str>,
) -> Result<()> {
    let single_tenant =
        state.store.application(app_id).await?.is_some_and(|a| a.owner_tenant_id.as_deref() == Some(tenant_id) && !a.multi_tenant);
    match partner::manual_connection_taken(p, single_tenant, enrollment_url) {
        Some(why) => Err(CloudError::conflict("ManualConnectionInUse", why)),
        None => Ok(()),
    }
}

/// Test mode only: records the request and injects the next planned fault.
async fn inject_fault(state: &Shared, method: &str, unit: &str) -> Result<()> {
    if !state.clock.is_adjustable() {
        return Ok(());
    }
    match state.faults.on_request(method, unit, state.clock.now_ms()) {
        None => Ok(()),
        Some(Fault::Throttle { retry_after_s }) => Err(CloudError::Throttled { retry_after_s }),
        Some(Fault::Unavailable) => Err(CloudError::unavailable()),
        Some(Fault::RejectToken) => Err(CloudError::unauthorized("The access token is not valid yet.")),
        Some(Fault::Truncated) => Err(CloudError::Truncated),
        // Answers late (after the wait, the request carries on as usual).
        Some(Fault::Slow { seconds }) => {
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            Ok(())
        }
        Some(Fault::BadRequest) => Err(CloudError::bad_request("The request was refused (injected fault).")),
        // A panic ends the connection's task: the client sees the connection dropped.
        Some(Fault::Reset) => panic!("injected fault: connection dropped"),
    }
}

/// `POST CompliancePreview`: each device's verdict under the tenant's policies or drafts,
/// stored nowhere (`intune::preview`).
#[utoipa::path(post, path = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerDeviceDataSyncService/{resource}", tag = "partner",
    summary = "Preview compliance: what Intune would decide for devices (extension)",
    description = "`{resource}` is `CompliancePreview`. Evaluates 1 to 1,000 devices under the drafts given, or else every macOS compliance policy of the tenant, as a first upload would be evaluated; nothing is stored.",
    params(("unit" = String, Path, description = "The tenant's scale unit, as discovery publishes it."), ("resource" = String, Path, description = "`CompliancePreview`."), ("api-version" = String, Query, description = "The service's API version (`1.0`).")),
    request_body = wire::partner::PreviewRequest,
    responses(super::openapi::PartnerRefusals, (status = 200, description = "One verdict per device, in order.", body = wire::partner::PreviewResponse),
        (status = 400, description = "The api-version is missing, the body is not valid, a draft breaks a rule (named), there are no devices or more than 1,000, or the tenant has no policy to preview.", body = wire::errors::ODataError),
        (status = 404, description = "`{resource}` is not `CompliancePreview`.", body = wire::errors::ODataError)),
    security(("intune_token" = [])))]
pub async fn compliance_preview(
    State(state): State<Shared>,
    Path((_, resource)): Path<(String, String)>,
    PartnerCaller { tenant, .. }: PartnerCaller,
    body: Bytes,
) -> Result<Json<wire::partner::PreviewResponse>> {
    if resource != "CompliancePreview" {
        return Err(CloudError::not_found(format!("Action '{resource}' does not exist on this service.")));
    }
    let req: wire::partner::PreviewRequest =
        serde_json::from_slice(&body).map_err(|e| CloudError::bad_request(format!("The preview request is not valid: {e}")))?;
    if req.devices.is_empty() || req.devices.len() > wire::partner::MAX_PREVIEW_DEVICES {
        return Err(CloudError::bad_request(format!("Devices must hold 1 to {} items.", wire::partner::MAX_PREVIEW_DEVICES)));
    }
    // The keys an upload's items have: a GUID and an RFC 3339 date.
    for (n, d) in req.devices.iter().enumerate() {
        if uuid::Uuid::parse_str(&d.device_id).is_err() {
            return Err(CloudError::bad_request(format!("Devices[{n}].DeviceId must be a GUID.")));
        }
        if platform::clock::parse_rfc3339(&d.last_update_time).is_none() {
            return Err(CloudError::bad_request(format!("Devices[{n}].LastUpdateTime must be an RFC 3339 date.")));
        }
    }
    let candidates = match &req.policies {
        Some(drafts) => drafts
            .iter()
            .enumerate()
            .map(|(n, d)| {
                let (display_name, settings) = policies::parse(d).map_err(|e| match e {
                    CloudError::OData { message, .. } => CloudError::bad_request(format!("Policies[{n}]: {message}")),
                    other => other,
                })?;
                Ok(Candidate { id: format!("draft-{}", n + 1), display_name, settings })
            })
            .collect::<Result<Vec<_>>>()?,
        None => state
            .store
            .policies(&tenant.id)
            .await?
            .into_iter()
            .map(|p| Candidate { settings: serde_json::from_str(&p.settings).unwrap_or_default(), id: p.id, display_name: p.display_name })
            .collect(),
    };
    if candidates.is_empty() {
        return Err(CloudError::bad_request("There is no compliance policy to preview: send drafts, or create a policy first."));
    }
    Ok(Json(crate::intune::preview::preview(&candidates, &req.devices, state.clock.now_ms())))
}
