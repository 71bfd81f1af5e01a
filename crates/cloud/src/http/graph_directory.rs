//! Microsoft Graph, directory part: users, groups and members, applications, service
//! principals' app-role assignments and delegated permission grants.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::graph::{ODataQuery, caller, collection, eq_filter, next_query, select, top};
use super::{Path, Query};
use crate::Shared;
use crate::entra::directory::{APPLICATION, Application, DELEGATED, FIRST_PARTY, User, permission_id};
use crate::error::{CloudError, Result};

const USER_READ: [&str; 3] = ["User.Read.All", "Directory.Read.All", "User.ReadWrite.All"];
const GROUP_READ: [&str; 3] = ["Group.Read.All", "Directory.Read.All", "GroupMember.Read.All"];
const APP_READ: [&str; 2] = ["Application.Read.All", "Directory.Read.All"];

fn user_json(u: &User) -> Value {
    json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
           "mail": u.upn, "accountEnabled": true})
}

pub async fn users(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &USER_READ).await?;
    let upn = match &q.filter {
        Some(f) => Some(eq_filter(f, &["userPrincipalName"])?.1),
        None => None,
    };
    let limit = top(&q)?;
    let rows = state.store.users(&tenant.id, upn.as_deref(), q.skiptoken.as_deref().unwrap_or(""), limit + 1).await?;
    let next = (rows.len() as i64 > limit).then(|| next_query(&q, rows[limit as usize - 1].id.clone()));
    let items = rows.iter().take(limit as usize).map(user_json).collect();
    Ok(collection(&state, &version, "users", "users", select(items, &q)?, next))
}

pub async fn user(
    State(state): State<Shared>,
    Path((version, key)): Path<(String, String)>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &USER_READ).await?;
    let user = match state.store.user(&key).await? {
        Some(u) => Some(u),
        None => state.store.user_by_upn(&key).await?,
    }
    // Another tenant's object is answered exactly like a missing one.
    .filter(|u| u.tenant_id == tenant.id)
    .ok_or_else(|| {
        CloudError::not_found(format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."))
    })?;
    let mut item = select(vec![user_json(&user)], &q)?.remove(0);
    item["@odata.context"] = json!(format!("{}/graph/{version}/$metadata#users/$entity", state.base_url));
    Ok(Json(item))
}

pub async fn groups(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &GROUP_READ).await?;
    let filter = match &q.filter {
        Some(f) => Some(eq_filter(f, &["displayName"])?.1),
        None => None,
    };
    let items = state
        .store
        .groups(&tenant.id)
        .await?
        .into_iter()
        .filter(|(_, name)| filter.as_ref().is_none_or(|f| f == name))
        .map(|(id, name)| {
            json!({"@odata.type": "#microsoft.graph.group", "id": id, "displayName": name,
            "securityEnabled": true, "mailEnabled": false, "groupTypes": []})
        })
        .collect();
    Ok(collection(&state, &version, "groups", "groups", select(items, &q)?, None))
}

pub async fn group_members(
    State(state): State<Shared>,
    Path((version, group)): Path<(String, String)>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &GROUP_READ).await?;
    if !state.store.groups(&tenant.id).await?.iter().any(|(id, _)| *id == group) {
        return Err(CloudError::not_found(format!(
            "Resource '{group}' does not exist or one of its queried reference-property objects are not present."
        )));
    }
    let limit = top(&q)?;
    let rows = state.store.group_members(&tenant.id, &group, q.skiptoken.as_deref().unwrap_or(""), limit + 1).await?;
    let next = (rows.len() as i64 > limit).then(|| next_query(&q, rows[limit as usize - 1].id.clone()));
    let items = rows.iter().take(limit as usize).map(user_json).collect();
    Ok(collection(&state, &version, "directoryObjects", &format!("groups/{group}/members"), select(items, &q)?, next))
}

async fn application_json(state: &Shared, a: &Application) -> Result<Value> {
    let mut by_resource: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for p in &a.required_permissions {
        by_resource.entry(p.resource_app_id.as_str()).or_default().push(json!({
            "id": permission_id(p), "type": if p.kind == APPLICATION { "Role" } else { "Scope" },
        }));
    }
    let secrets: Vec<Value> = state
        .store
        .secret_hints(&a.app_id)
        .await?
        .into_iter()
        .map(|(id, hint, expires)| {
            json!({
                "keyId": id, "hint": hint, "endDateTime": platform::clock::ms_to_rfc3339(expires), "displayName": null,
            })
        })
        .collect();
    let certificates: Vec<Value> = state
        .store
        .certificates(&a.app_id)
        .await?
        .into_iter()
        .map(|c| {
            use base64::Engine;
            json!({"type": "AsymmetricX509Cert", "usage": "Verify",
            "customKeyIdentifier": c.thumbprint_sha1.iter().map(|b| format!("{b:02X}")).collect::<String>(),
            "endDateTime": platform::clock::ms_to_rfc3339(c.expires_ms),
            "key": base64::engine::general_purpose::STANDARD.encode(&c.der)})
        })
        .collect();
    Ok(json!({
        "id": a.object_id, "appId": a.app_id, "displayName": a.display_name,
        "signInAudience": if a.multi_tenant { "AzureADMultipleOrgs" } else { "AzureADMyOrg" },
        "isFallbackPublicClient": a.public_client,
        "web": {"redirectUris": a.redirect_uris},
        "requiredResourceAccess": by_resource.into_iter().map(|(r, access)| json!({"resourceAppId": r, "resourceAccess": access})).collect::<Vec<_>>(),
        "passwordCredentials": secrets,
        "keyCredentials": certificates,
    }))
}

pub async fn applications(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &APP_READ).await?;
    let filter = match &q.filter {
        Some(f) => Some(eq_filter(f, &["appId"])?.1),
        None => None,
    };
    let mut items = Vec::new();
    for a in state.store.applications_of(&tenant.id).await? {
        if filter.as_ref().is_none_or(|f| f.eq_ignore_ascii_case(&a.app_id)) {
            items.push(application_json(&state, &a).await?);
        }
    }
    Ok(collection(&state, &version, "applications", "applications", select(items, &q)?, None))
}

/// The resource service principal of a first-party API in the tenant.
async fn resource_sp(state: &Shared, tenant_id: &str, resource_app_id: &str) -> Result<Option<(String, String)>> {
    Ok(state.store.service_principal(tenant_id, resource_app_id).await?.map(|sp| (sp.id, sp.display_name)))
}

pub async fn app_role_assignments(
    State(state): State<Shared>,
    Path((version, key)): Path<(String, String)>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &APP_READ).await?;
    let sp = super::graph::find_sp(&state, &tenant, &key).await?;
    let mut items = Vec::new();
    for p in state.store.grants(&sp.id).await?.into_iter().filter(|p| p.kind == APPLICATION) {
        let (resource_id, resource_name) = resource_sp(&state, &tenant.id, &p.resource_app_id).await?.unwrap_or_default();
        items.push(json!({
            "id": permission_id(&p), "appRoleId": permission_id(&p), "principalId": sp.id, "principalType": "ServicePrincipal",
            "principalDisplayName": sp.display_name, "resourceId": resource_id, "resourceDisplayName": resource_name,
            "appRoleValue": p.value,
        }));
    }
    Ok(collection(
        &state,
        &version,
        &format!("servicePrincipals('{}')/appRoleAssignments", sp.id),
        "servicePrincipals/appRoleAssignments",
        select(items, &q)?,
        None,
    ))
}

/// `oauth2PermissionGrants?$filter=clientId eq '<service principal id>'`: delegated grants.
pub async fn oauth2_permission_grants(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &APP_READ).await?;
    let client = match &q.filter {
        Some(f) => eq_filter(f, &["clientId"])?.1,
        None => return Err(CloudError::bad_request("Filter by clientId: $filter=clientId eq '<service principal id>'.")),
    };
    let Some(sp) = state.store.service_principals(&tenant.id).await?.into_iter().find(|sp| sp.id == client) else {
        return Ok(collection(&state, &version, "oauth2PermissionGrants", "oauth2PermissionGrants", vec![], None));
    };
    let grants = state.store.grants(&sp.id).await?;
    let mut items = Vec::new();
    for fp in FIRST_PARTY {
        let scopes: Vec<String> =
            grants.iter().filter(|g| g.kind == DELEGATED && g.resource_app_id == fp.app_id).map(|g| g.value.clone()).collect();
        if scopes.is_empty() {
            continue;
        }
        let (resource_id, _) = resource_sp(&state, &tenant.id, fp.app_id).await?.unwrap_or_default();
        items.push(json!({"id": format!("{}-{}", sp.id, resource_id), "clientId": sp.id, "consentType": "AllPrincipals",
            "principalId": null, "resourceId": resource_id, "scope": scopes.join(" ")}));
    }
    Ok(collection(&state, &version, "oauth2PermissionGrants", "oauth2PermissionGrants", select(items, &q)?, None))
}

/// `identity/conditionalAccess/policies`.
pub async fn conditional_access_policies(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"]).await?;
    let items = state.store.ca_policies(&tenant.id).await?.into_iter().map(|p| json!({
        "id": p.id, "displayName": p.display_name, "state": p.state,
        "conditions": {
            "users": {"includeUsers": p.conditions.include_users, "excludeUsers": p.conditions.exclude_users,
                      "includeGroups": p.conditions.include_groups, "excludeGroups": p.conditions.exclude_groups},
            "applications": {"includeApplications": p.conditions.include_applications, "excludeApplications": p.conditions.exclude_applications},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": [p.grant]},
    })).collect();
    Ok(collection(&state, &version, "identity/conditionalAccess/policies", "identity/conditionalAccess/policies", select(items, &q)?, None))
}

/// `auditLogs/signIns`, newest first.
pub async fn sign_ins(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<ODataQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let tenant = caller(&state, &headers, &version, &["AuditLog.Read.All"]).await?;
    let limit = top(&q)?;
    let items = state
        .store
        .sign_ins(&tenant.id, limit)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id, "createdDateTime": platform::clock::ms_to_rfc3339(s.at_ms), "userId": s.user_id, "userPrincipalName": s.upn,
                "appId": s.app_id, "appDisplayName": s.app_name, "conditionalAccessStatus": s.ca_status,
                "status": {"errorCode": s.error_code, "failureReason": s.failure_reason},
                "deviceDetail": {"deviceId": s.device_id.unwrap_or_default(), "operatingSystem": "MacOS"},
                "appliedConditionalAccessPolicies": serde_json::from_str::<Value>(&s.policies).unwrap_or(json!([])),
            })
        })
        .collect();
    Ok(collection(&state, &version, "auditLogs/signIns", "auditLogs/signIns", select(items, &q)?, None))
}
