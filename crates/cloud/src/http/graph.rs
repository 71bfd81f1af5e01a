//! Microsoft Graph (the parts this system reads and writes), with OData conventions:
//! `value`, `@odata.context`, `@odata.nextLink` paging, `$filter` (`eq`), `$top`.

use super::{Path, Query};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{authenticate, graph_directory, graph_intune};
use crate::Shared;
use crate::entra::directory::Tenant;
use crate::error::{CloudError, Result};
use crate::intune::partner;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/{version}/identity/conditionalAccess/policies", get(graph_directory::conditional_access_policies))
        .route("/{version}/auditLogs/signIns", get(graph_directory::sign_ins))
        .route("/{version}/users", get(graph_directory::users))
        .route("/{version}/users/{key}", get(graph_directory::user))
        .route("/{version}/groups", get(graph_directory::groups))
        .route("/{version}/groups/{id}/members", get(graph_directory::group_members))
        .route("/{version}/applications", get(graph_directory::applications))
        .route("/{version}/oauth2PermissionGrants", get(graph_directory::oauth2_permission_grants))
        .route("/{version}/servicePrincipals/{key}/appRoleAssignments", get(graph_directory::app_role_assignments))
        .route("/{version}/servicePrincipals", get(service_principals))
        .route("/{version}/servicePrincipals/{key}", get(service_principal))
        .route("/{version}/servicePrincipals/{key}/endpoints", get(service_principal_endpoints))
        .route("/{version}/devices", get(devices))
        .route("/{version}/deviceManagement/deviceManagementPartners", get(device_management_partners))
        .route("/{version}/deviceManagement/managedDevices", get(managed_devices))
        .route("/{version}/deviceManagement/complianceManagementPartners", get(graph_intune::compliance_partners))
        .route("/{version}/deviceManagement/deviceCompliancePolicies", get(graph_intune::list).post(graph_intune::create))
        .route("/{version}/deviceManagement/deviceCompliancePolicies/{id}", get(graph_intune::get_one))
        .route("/{version}/deviceManagement/deviceCompliancePolicies/{id}/assign", axum::routing::post(graph_intune::assign))
        .route("/{version}/deviceManagement/deviceCompliancePolicies/{id}/assignments", get(graph_intune::assignments))
        .route("/{version}/deviceManagement/deviceManagementPartners/{id}/terminate", axum::routing::post(terminate_partner))
}

#[derive(Deserialize, Default)]
pub struct ODataQuery {
    #[serde(rename = "$filter")]
    pub filter: Option<String>,
    #[serde(rename = "$top")]
    pub top: Option<String>,
    #[serde(rename = "$skiptoken")]
    pub skiptoken: Option<String>,
    #[serde(rename = "$select")]
    pub select: Option<String>,
}

/// The query string of the next page: the same options, continued after `token`.
pub(crate) fn next_query(q: &ODataQuery, token: String) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("$filter", &q.filter), ("$top", &q.top), ("$select", &q.select)] {
        if let Some(v) = v {
            ser.append_pair(k, v);
        }
    }
    ser.append_pair("$skiptoken", &token);
    ser.finish()
}

/// `$select=a,b`: keeps only those properties (and the `@odata.type`) of each item.
pub fn select(items: Vec<Value>, q: &ODataQuery) -> Result<Vec<Value>> {
    let Some(sel) = q.select.as_deref() else { return Ok(items) };
    let fields: Vec<&str> = sel.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
    if fields.is_empty() {
        return Err(CloudError::bad_request("$select names no property."));
    }
    Ok(items
        .into_iter()
        .map(|item| {
            let mut out = serde_json::Map::new();
            if let Value::Object(map) = item {
                for (k, v) in map {
                    if k.starts_with('@') || fields.contains(&k.as_str()) {
                        out.insert(k, v);
                    }
                }
            }
            Value::Object(out)
        })
        .collect())
}

const GRAPH_AUDIENCES: [&str; 2] = ["https://graph.microsoft.com", wire::ids::GRAPH_APP_ID];

/// The caller's tenant, after checking the token and one of the permissions `any_of`.
pub(crate) async fn caller(state: &Shared, headers: &HeaderMap, version: &str, any_of: &[&str]) -> Result<Tenant> {
    if version != "v1.0" && version != "beta" {
        return Err(CloudError::bad_request(format!("Invalid version: {version}")));
    }
    let claims = authenticate(state, headers, &GRAPH_AUDIENCES)?;
    super::throttle(state, &claims, false)?;
    if !claims.has_role(any_of) && !claims.has_scope(any_of) {
        return Err(CloudError::forbidden("Insufficient privileges to complete the operation."));
    }
    state.store.tenant(&claims.tid).await?.ok_or_else(|| CloudError::unauthorized("Unknown tenant."))
}

/// `prop eq 'value'`: the only filter form the resources here support.
pub(crate) fn eq_filter<'a>(filter: &'a str, allowed: &[&str]) -> Result<(&'a str, String)> {
    let invalid = || CloudError::bad_request(format!("Invalid filter clause: {filter}"));
    let mut parts = filter.splitn(3, ' ');
    let (Some(prop), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if !op.eq_ignore_ascii_case("eq") || !allowed.contains(&prop) {
        return Err(CloudError::bad_request(format!("Unsupported filter: {filter}. Supported: {} eq '…'", allowed.join(", "))));
    }
    let value = value.trim().strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).ok_or_else(invalid)?;
    Ok((prop, value.replace("''", "'")))
}

pub(crate) fn top(q: &ODataQuery) -> Result<i64> {
    match &q.top {
        None => Ok(100),
        Some(t) => t
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=999).contains(n))
            .ok_or_else(|| CloudError::bad_request("$top must be a number from 1 to 999.")),
    }
}

pub(crate) fn collection(
    state: &Shared,
    version: &str,
    entity_set: &str,
    path: &str,
    items: Vec<Value>,
    next: Option<String>,
) -> Json<Value> {
    let mut body = json!({
        "@odata.context": format!("{}/graph/{version}/$metadata#{entity_set}", state.base_url),
        "value": items,
    });
    if let Some(query) = next {
        body["@odata.nextLink"] = json!(format!("{}/graph/{version}/{path}?{query}", state.base_url));
    }
    Json(body)
}

fn sp_json(sp: &crate::entra::directory::ServicePrincipal) -> Value {
    json!({"id": sp.id, "appId": sp.app_id, "displayName": sp.display_name, "servicePrincipalType": "Application",
           "accountEnabled": true, "appOwnerOrganizationId": null})
}

const APP_READ: [&str; 2] = ["Application.Read.All", "Directory.Read.All"];

async fn service_principals(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &APP_READ).await?;
    let all = state.store.service_principals(&tenant.id).await?;
    let items: Vec<Value> = match &q.filter {
        Some(f) => {
            let (_, app_id) = eq_filter(f, &["appId"])?;
            all.iter().filter(|sp| sp.app_id.eq_ignore_ascii_case(&app_id)).map(sp_json).collect()
        }
        None => all.iter().map(sp_json).collect(),
    };
    Ok(collection(&state, &version, "servicePrincipals", "servicePrincipals", select(items, &q)?, None))
}

pub(crate) async fn find_sp(state: &Shared, tenant: &Tenant, key: &str) -> Result<crate::entra::directory::ServicePrincipal> {
    let by_app = key.strip_prefix("appId=").map(|k| k.trim_matches('\'').to_string());
    let all = state.store.service_principals(&tenant.id).await?;
    all.into_iter()
        .find(|sp| match &by_app {
            Some(app_id) => sp.app_id.eq_ignore_ascii_case(app_id),
            None => sp.id == key,
        })
        .ok_or_else(|| {
            CloudError::not_found(format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ))
        })
}

async fn service_principal(
    State(state): State<Shared>,
    Path((version, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &APP_READ).await?;
    let sp = find_sp(&state, &tenant, &key).await?;
    let mut body = sp_json(&sp);
    body["@odata.context"] = json!(format!("{}/graph/{version}/$metadata#servicePrincipals/$entity", state.base_url));
    Ok(Json(body))
}

/// The partner service base URLs of a tenant, published on the Intune application.
/// Each tenant has its own host segment, so clients must discover rather than guess.
pub fn partner_endpoints(state: &Shared, tenant: &Tenant, app_id: &str) -> Vec<(String, String)> {
    if !app_id.eq_ignore_ascii_case(wire::ids::INTUNE_APP_ID) || tenant.intune_licence == 0 {
        return vec![];
    }
    let base = format!("{}/fef/{}/TrafficGateway/TrafficRoutingService/PartnerAPI", state.base_url, tenant.scale_unit);
    vec![
        (wire::ids::SERVICE_PARTNER_TENANT_DATA_SYNC.into(), format!("{base}/StatelessPartnerTenantDataSyncService")),
        (wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC.into(), format!("{base}/StatelessPartnerDeviceDataSyncService")),
    ]
}

async fn service_principal_endpoints(
    State(state): State<Shared>,
    Path((version, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &APP_READ).await?;
    let sp = find_sp(&state, &tenant, &key).await?;
    let items = partner_endpoints(&state, &tenant, &sp.app_id)
        .into_iter()
        .map(|(name, uri)| {
            json!({"id": uuid::Uuid::new_v4(), "deletedDateTime": null, "capability": name,
            "providerId": sp.app_id, "providerName": name, "uri": uri, "providerResourceId": sp.app_id})
        })
        .collect();
    Ok(collection(&state, &version, &format!("servicePrincipals('{}')/endpoints", sp.id), "servicePrincipals/endpoints", items, None))
}

async fn devices(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &["Device.Read.All", "Directory.Read.All"]).await?;
    let only = match &q.filter {
        Some(f) => Some(eq_filter(f, &["deviceId"])?.1),
        None => None,
    };
    let limit = top(&q)?;
    let after = q.skiptoken.clone().unwrap_or_default();
    let rows = state.store.devices(&tenant.id, only.as_deref(), &after, limit + 1).await?;
    let next = (rows.len() as i64 > limit).then(|| next_query(&q, rows[limit as usize - 1].device_id.clone()));
    let items = rows
        .iter()
        .take(limit as usize)
        .map(|d| {
            json!({
                "id": d.id, "deviceId": d.device_id, "displayName": d.display_name, "operatingSystem": d.operating_system,
                "operatingSystemVersion": d.os_version, "trustType": "Workplace", "profileType": "RegisteredDevice",
                "isCompliant": d.is_compliant.map(|c| c != 0), "isManaged": d.is_managed != 0, "mdmAppId": d.mdm_app_id,
                "accountEnabled": true, "registrationDateTime": platform::clock::ms_to_rfc3339(d.registered_ms),
                "complianceExpirationDateTime": null,
                "approximateLastSignInDateTime": null,
            })
        })
        .collect();
    Ok(collection(&state, &version, "devices", "devices", select(items, &q)?, next))
}

async fn device_management_partners(State(state): State<Shared>, Path(version): Path<String>, headers: HeaderMap) -> Result<Json<Value>> {
    let tenant =
        caller(&state, &headers, &version, &["DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All"])
            .await?;
    let items = match state.store.partner(&tenant.id).await? {
        None => vec![],
        Some(p) => {
            let single = match &p.app_id {
                Some(a) => state
                    .store
                    .application(a)
                    .await?
                    .is_some_and(|a| a.owner_tenant_id.as_deref() == Some(tenant.id.as_str()) && !a.multi_tenant),
                None => false,
            };
            let app_type = if single { "singleTenantApp" } else { "multiTenantApp" };
            vec![json!({
                "@odata.type": "#microsoft.graph.deviceManagementPartner",
                "id": p.tenant_id,
                "lastHeartbeatDateTime": p.last_heartbeat_ms.map(platform::clock::ms_to_rfc3339),
                "partnerState": p.partner_state,
                "partnerAppType": app_type,
                "singleTenantAppId": p.app_id,
                "displayName": "Jamf",
                "isConfigured": p.app_id.is_some(),
                "whenPartnerDevicesWillBeRemovedDateTime": p.removal_at_ms.map(platform::clock::ms_to_rfc3339),
                "whenPartnerDevicesWillBeMarkedAsNonCompliantDateTime": p.noncompliant_at_ms.map(platform::clock::ms_to_rfc3339),
                "groupsRequiringPartnerEnrollment": partner_assignments(&p),
                "displayState": partner::display(&p.partner_state),
            })]
        }
    };
    Ok(collection(&state, &version, "deviceManagement/deviceManagementPartners", "deviceManagement/deviceManagementPartners", items, None))
}

async fn managed_devices(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant =
        caller(&state, &headers, &version, &["DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All"])
            .await?;
    if let Some(f) = &q.filter {
        let (_, agent) = eq_filter(f, &["managementAgent"])?;
        if agent != "jamf" {
            return Ok(collection(&state, &version, "deviceManagement/managedDevices", "deviceManagement/managedDevices", vec![], None));
        }
    }
    let limit = top(&q)?;
    let after = q.skiptoken.clone().unwrap_or_default();
    let rows = state.store.managed_devices(&tenant.id, &after, limit + 1).await?;
    let next = (rows.len() as i64 > limit).then(|| next_query(&q, rows[limit as usize - 1].id.clone()));
    let items = rows
        .iter()
        .take(limit as usize)
        .map(|m| {
            json!({
                "id": m.id, "userId": m.user_id, "deviceName": m.device_name, "operatingSystem": "macOS", "osVersion": m.os_version,
                "serialNumber": m.serial_number, "azureADDeviceId": m.device_id, "azureADRegistered": true,
                "deviceRegistrationState": "registered", "complianceState": m.compliance_state,
                "complianceGracePeriodExpirationDateTime": m.grace_expires_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "9999-12-31T23:59:59Z".into()), "managementAgent": "jamf",
                "lastSyncDateTime": platform::clock::ms_to_rfc3339(m.last_sync_ms), "managedDeviceOwnerType": "company",
                "manufacturer": "Apple",
            })
        })
        .collect();
    Ok(collection(&state, &version, "deviceManagement/managedDevices", "deviceManagement/managedDevices", items, next))
}

/// `POST deviceManagementPartners/{id}/terminate`: ends the partner connection (204).
async fn terminate_partner(
    State(state): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<axum::http::StatusCode> {
    let tenant = caller(&state, &headers, &version, &["DeviceManagementServiceConfig.ReadWrite.All"]).await?;
    let mut p = state
        .store
        .partner(&tenant.id)
        .await?
        .filter(|p| p.tenant_id == id)
        .ok_or_else(|| CloudError::not_found(format!("Resource '{id}' does not exist.")))?;
    if !partner::connected(&p) {
        return Err(CloudError::bad_request("There is no partner connection to terminate."));
    }
    partner::terminate(&mut p, state.clock.now_ms());
    state.store.save_partner(&p).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `groupsRequiringPartnerEnrollment`: include and exclude targets.
fn partner_assignments(p: &crate::store::PartnerRow) -> Vec<Value> {
    let (include, exclude) = partner::groups(p);
    include
        .iter()
        .map(|g| json!({"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g}}))
        .chain(exclude.iter().map(|g| json!({"target": {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": g}})))
        .collect()
}
