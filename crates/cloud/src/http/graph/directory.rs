//! Microsoft Graph, directory part: users, groups and members, applications, service
//! principals (their endpoints and app-role assignments), delegated permission grants,
//! Entra devices, Conditional Access policies and sign-in logs.

use axum::response::Response;
use serde_json::{Value, json};

use super::path::{Key, Route};
use super::{Ctx, Listing, collection, count, entity, list_memory, page, paged};
use crate::entra::directory::{Application, FIRST_PARTY, PermissionKind, ServicePrincipal, Tenant, User, permission_id};
use crate::error::{CloudError, Result};
use crate::odata::resource::{
    APP_ROLE_ASSIGNMENTS, APPLICATIONS, CA_POLICIES, DEVICES, ENDPOINTS, GROUPS, OAUTH2_GRANTS, SERVICE_PRINCIPALS, SIGN_INS, USERS,
};
use crate::store::DeviceRow;
use wire::DeviceId;
use wire::TenantId;

const USER_READ: [&str; 3] = ["User.Read.All", "Directory.Read.All", "User.ReadWrite.All"];
const GROUP_READ: [&str; 3] = ["Group.Read.All", "Directory.Read.All", "GroupMember.Read.All"];
const APP_READ: [&str; 2] = ["Application.Read.All", "Directory.Read.All"];
const DEVICE_READ: [&str; 2] = ["Device.Read.All", "Directory.Read.All"];

/// Graph's answer for a key that names nothing the caller may see (another tenant's
/// object is answered exactly like a missing one).
pub(crate) fn missing(key: &str) -> CloudError {
    CloudError::not_found(format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."))
}

/// A key as stored: GUIDs lower case.
pub(super) fn normal(key: &str) -> String {
    match uuid::Uuid::parse_str(key) {
        Ok(g) => g.to_string(),
        Err(_) => key.to_string(),
    }
}

pub(super) async fn get(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    match route {
        Route::Users => users(ctx).await,
        Route::UsersCount => {
            let tenant = ctx.caller(&USER_READ).await?;
            let q = ctx.options(&USERS)?;
            let n = ctx.state.store.graph_users_count(&tenant.id, &super::condition(&USERS, &q)).await?;
            count(ctx, &USERS, n)
        }
        Route::User(key) => user(ctx, key).await,
        Route::Groups | Route::GroupsCount | Route::Group(_) => groups(ctx, route).await,
        Route::GroupMembers(key) => group_members(ctx, key).await,
        Route::Applications | Route::Application(_) => applications(ctx, route).await,
        Route::ServicePrincipals | Route::ServicePrincipal(_) => service_principals(ctx, route).await,
        Route::ServicePrincipalEndpoints(key) => endpoints(ctx, key).await,
        Route::ServicePrincipalAppRoleAssignments(key) => app_role_assignments(ctx, key).await,
        Route::OAuth2PermissionGrants => oauth2_permission_grants(ctx).await,
        Route::Devices => devices(ctx).await,
        Route::DevicesCount => {
            let tenant = ctx.caller(&DEVICE_READ).await?;
            let q = ctx.options(&DEVICES)?;
            let n = ctx.state.store.graph_devices_count(&tenant.id, &super::condition(&DEVICES, &q)).await?;
            count(ctx, &DEVICES, n)
        }
        Route::Device(key) => device(ctx, key).await,
        Route::ConditionalAccessPolicies | Route::ConditionalAccessPolicy(_) => ca_policies(ctx, route).await,
        Route::SignIns => sign_ins(ctx).await,
        _ => Err(CloudError::bad_request("Resource not found for the request.")),
    }
}

// ---- users -------------------------------------------------------------------------

pub(super) fn user_json(u: &User, licences: &[String]) -> Value {
    json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
           "mail": u.upn, "mailNickname": u.mail_nickname, "accountEnabled": u.account_enabled != 0, "userType": "Member",
           "assignedLicenses": licences.iter().map(|s| json!({"skuId": s, "disabledPlans": []})).collect::<Vec<_>>()})
}

async fn users(ctx: &Ctx<'_>) -> Result<Response> {
    let tenant = ctx.caller(&USER_READ).await?;
    let q = ctx.options(&USERS)?;
    let page = page(&USERS, &q, "u.id")?;
    let rows = ctx.state.store.graph_users(&tenant.id, &page).await?;
    let (rows, next) = paged(rows, &q, &page, |u| u.id.clone());
    let total = if q.count { Some(ctx.state.store.graph_users_count(&tenant.id, &page.condition).await?) } else { None };
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let licences = ctx.state.store.licences_of(&ids).await?;
    let items = rows.iter().map(|u| user_json(u, licences.get(&u.id).map(Vec::as_slice).unwrap_or_default())).collect();
    Ok(collection(ctx, "users", &q, Listing { items, count: total, next }))
}

/// A user by object ID or principal name (`users/{id|upn}`, `users('{upn}')`,
/// `users(userPrincipalName='{upn}')`).
pub(super) async fn find_user(ctx: &Ctx<'_>, tenant: &Tenant, key: &Key) -> Result<User> {
    let user = match key {
        Key::Id(k) => match ctx.state.store.user(&normal(k)).await? {
            Some(u) => Some(u),
            None => ctx.state.store.user_by_upn(k).await?,
        },
        Key::Alt("userPrincipalName", upn) => ctx.state.store.user_by_upn(upn).await?,
        Key::Alt(..) => None,
    };
    let k = key.text();
    user.filter(|u| u.tenant_id == tenant.id).ok_or_else(|| missing(k))
}

async fn user(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&USER_READ).await?;
    let q = ctx.options(&USERS)?;
    let u = find_user(ctx, &tenant, &key).await?;
    let licences = ctx.state.store.user_licences(&u.id).await?;
    Ok(entity(ctx, "users", &q, user_json(&u, &licences)))
}

// ---- groups ------------------------------------------------------------------------

async fn groups(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    let tenant = ctx.caller(&GROUP_READ).await?;
    let q = ctx.options(&GROUPS)?;
    let items: Vec<Value> = ctx
        .state
        .store
        .graph_groups(&tenant.id)
        .await?
        .into_iter()
        .map(|(id, name, nickname)| group_json(&id, &name, nickname.as_deref()))
        .collect();
    match route {
        Route::Group(key) => {
            let id = normal(key.text());
            let item = items.into_iter().find(|g| g["id"] == id.as_str()).ok_or_else(|| missing(key.text()))?;
            Ok(entity(ctx, "groups", &q, item))
        }
        Route::GroupsCount => {
            let listing = list_memory(&GROUPS, &q, items)?;
            count(ctx, &GROUPS, listing.count.unwrap_or_default())
        }
        _ => Ok(collection(ctx, "groups", &q, list_memory(&GROUPS, &q, items)?)),
    }
}

/// A security group as Graph shows it.
pub(super) fn group_json(id: &str, name: &str, nickname: Option<&str>) -> Value {
    json!({"@odata.type": "#microsoft.graph.group", "id": id, "displayName": name, "mailNickname": nickname,
           "securityEnabled": true, "mailEnabled": false, "groupTypes": []})
}

async fn group_members(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&GROUP_READ).await?;
    let q = ctx.options(&USERS)?;
    let group = normal(key.text());
    if !ctx.state.store.groups(&tenant.id).await?.iter().any(|(id, _)| *id == group) {
        return Err(missing(key.text()));
    }
    let context = "directoryObjects";
    let plain = q.filter.is_none() && q.search.is_none() && q.order_by.is_empty() && !q.count && q.skip == 0;
    if !plain {
        // Filtered, searched, sorted or counted: over every member, as Graph answers it.
        let rows = ctx.state.store.group_members(&tenant.id, &group, "", i64::MAX).await?;
        let items = members_json(ctx, &rows).await?;
        return Ok(collection(ctx, context, &q, list_memory(&USERS, &q, items)?));
    }
    // Otherwise the database pages the members.
    let after = q.skiptoken.as_deref().and_then(|t| t.strip_prefix("k.")).unwrap_or("");
    let rows = ctx.state.store.group_members(&tenant.id, &group, after, q.top + 1).await?;
    let more = rows.len() as i64 > q.top;
    let rows: Vec<User> = rows.into_iter().take(q.top as usize).collect();
    let next = more.then(|| rows.last().map(|u| format!("k.{}", u.id))).flatten();
    let items = members_json(ctx, &rows).await?;
    Ok(collection(ctx, context, &q, Listing { items, count: None, next }))
}

/// Users as Graph shows them, with their licences.
async fn members_json(ctx: &Ctx<'_>, rows: &[User]) -> Result<Vec<Value>> {
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let licences = ctx.state.store.licences_of(&ids).await?;
    Ok(rows.iter().map(|u| user_json(u, licences.get(&u.id).map(Vec::as_slice).unwrap_or_default())).collect())
}

// ---- applications and service principals ---------------------------------------------

async fn application_json(ctx: &Ctx<'_>, a: &Application) -> Result<Value> {
    let mut by_resource: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for p in &a.required_permissions {
        by_resource.entry(p.resource_app_id.as_str()).or_default().push(json!({
            "id": permission_id(p), "type": if p.kind == PermissionKind::Application { "Role" } else { "Scope" },
        }));
    }
    let secrets: Vec<Value> = ctx
        .state
        .store
        .secret_hints(&a.app_id)
        .await?
        .into_iter()
        .map(|(id, hint, expires)| json!({"keyId": id, "hint": hint, "endDateTime": platform::clock::ms_to_rfc3339(expires), "displayName": null}))
        .collect();
    let certificates: Vec<Value> = ctx
        .state
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
        "@odata.type": "#microsoft.graph.application",
        "id": a.object_id, "appId": a.app_id, "displayName": a.display_name,
        "signInAudience": if a.multi_tenant { "AzureADMultipleOrgs" } else { "AzureADMyOrg" },
        "isFallbackPublicClient": a.public_client,
        "web": {"redirectUris": a.redirect_uris},
        "requiredResourceAccess": by_resource.into_iter().map(|(r, access)| json!({"resourceAppId": r, "resourceAccess": access})).collect::<Vec<_>>(),
        "passwordCredentials": secrets,
        "keyCredentials": certificates,
    }))
}

async fn applications(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    let tenant = ctx.caller(&APP_READ).await?;
    let q = ctx.options(&APPLICATIONS)?;
    let mut items = Vec::new();
    for a in ctx.state.store.applications_of(&tenant.id).await? {
        items.push(application_json(ctx, &a).await?);
    }
    match route {
        Route::Application(key) => {
            let item = items.into_iter().find(|a| matches_key(a, &key, "id", "appId")).ok_or_else(|| missing(key.text()))?;
            Ok(entity(ctx, "applications", &q, item))
        }
        _ => Ok(collection(ctx, "applications", &q, list_memory(&APPLICATIONS, &q, items)?)),
    }
}

/// Whether an item is the one a key names: its `id`, or the alternate key property.
fn matches_key(item: &Value, key: &Key, id: &str, alternate: &str) -> bool {
    let eq = |field: &str, v: &str| item[field].as_str().is_some_and(|s| s.eq_ignore_ascii_case(v));
    match key {
        Key::Id(k) => eq(id, k),
        Key::Alt(prop, v) => prop.eq_ignore_ascii_case(alternate) && eq(alternate, v),
    }
}

fn sp_json(sp: &ServicePrincipal) -> Value {
    json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": sp.id, "appId": sp.app_id, "displayName": sp.display_name,
           "servicePrincipalType": "Application", "accountEnabled": true, "appOwnerOrganizationId": null})
}

pub(crate) async fn find_sp(ctx: &Ctx<'_>, tenant: &Tenant, key: &Key) -> Result<ServicePrincipal> {
    ctx.state
        .store
        .service_principals(&tenant.id)
        .await?
        .into_iter()
        .find(|sp| matches_key(&sp_json(sp), key, "id", "appId"))
        .ok_or_else(|| missing(key.text()))
}

async fn service_principals(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    let tenant = ctx.caller(&APP_READ).await?;
    let q = ctx.options(&SERVICE_PRINCIPALS)?;
    if let Route::ServicePrincipal(key) = route {
        return Ok(entity(ctx, "servicePrincipals", &q, sp_json(&find_sp(ctx, &tenant, &key).await?)));
    }
    let items = ctx.state.store.service_principals(&tenant.id).await?.iter().map(sp_json).collect();
    Ok(collection(ctx, "servicePrincipals", &q, list_memory(&SERVICE_PRINCIPALS, &q, items)?))
}

/// The partner service base URLs of a tenant, published on the Intune application.
/// Each tenant has its own host segment, so clients must discover rather than guess.
pub fn partner_endpoints(state: &crate::Shared, tenant: &Tenant, app_id: &str) -> Vec<(String, String)> {
    if !app_id.eq_ignore_ascii_case(wire::ids::INTUNE_APP_ID) || tenant.intune_licence == 0 {
        return vec![];
    }
    let base = format!("{}/fef/{}/TrafficGateway/TrafficRoutingService/PartnerAPI", state.base_url, tenant.scale_unit);
    let tenant_sync = format!("{base}/StatelessPartnerTenantDataSyncService");
    let device_sync = format!("{base}/StatelessPartnerDeviceDataSyncService");
    // Each service has a `…Backup` twin; `Region` and `ASUName` are values, not URLs.
    vec![
        (wire::ids::SERVICE_PARTNER_TENANT_DATA_SYNC.into(), tenant_sync.clone()),
        (format!("{}Backup", wire::ids::SERVICE_PARTNER_TENANT_DATA_SYNC), tenant_sync),
        (wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC.into(), device_sync.clone()),
        (format!("{}Backup", wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC), device_sync),
        ("Region".into(), "NA".into()),
        ("ASUName".into(), tenant.scale_unit.to_ascii_uppercase()),
    ]
}

async fn endpoints(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&APP_READ).await?;
    let q = ctx.options(&ENDPOINTS)?;
    let sp = find_sp(ctx, &tenant, &key).await?;
    let items = partner_endpoints(ctx.state, &tenant, &sp.app_id)
        .into_iter()
        .map(|(name, uri)| {
            // A stable id per service, as the real endpoints have.
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, uri.as_bytes());
            json!({"@odata.type": "#microsoft.graph.endpoint", "id": id, "deletedDateTime": null, "capability": name,
                   "providerId": sp.app_id, "providerName": name, "uri": uri, "providerResourceId": sp.app_id})
        })
        .collect();
    Ok(collection(ctx, &format!("servicePrincipals('{}')/endpoints", sp.id), &q, list_memory(&ENDPOINTS, &q, items)?))
}

/// The resource service principal of a first-party API in the tenant.
async fn resource_sp(ctx: &Ctx<'_>, tenant_id: &TenantId, resource_app_id: &str) -> Result<Option<(String, String)>> {
    Ok(ctx.state.store.service_principal(tenant_id, resource_app_id).await?.map(|sp| (sp.id, sp.display_name)))
}

async fn app_role_assignments(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&APP_READ).await?;
    let q = ctx.options(&APP_ROLE_ASSIGNMENTS)?;
    let sp = find_sp(ctx, &tenant, &key).await?;
    let mut items = Vec::new();
    for p in ctx.state.store.grants(&sp.id).await?.into_iter().filter(|p| p.kind == PermissionKind::Application) {
        let (resource_id, resource_name) = resource_sp(ctx, &tenant.id, &p.resource_app_id).await?.unwrap_or_default();
        items.push(json!({
            "@odata.type": "#microsoft.graph.appRoleAssignment",
            "id": permission_id(&p), "appRoleId": permission_id(&p), "principalId": sp.id, "principalType": "ServicePrincipal",
            "principalDisplayName": sp.display_name, "resourceId": resource_id, "resourceDisplayName": resource_name,
            "appRoleValue": p.value,
        }));
    }
    let context = format!("servicePrincipals('{}')/appRoleAssignments", sp.id);
    Ok(collection(ctx, &context, &q, list_memory(&APP_ROLE_ASSIGNMENTS, &q, items)?))
}

/// `oauth2PermissionGrants`: every service principal's delegated grants.
async fn oauth2_permission_grants(ctx: &Ctx<'_>) -> Result<Response> {
    let tenant = ctx.caller(&APP_READ).await?;
    let q = ctx.options(&OAUTH2_GRANTS)?;
    let mut items = Vec::new();
    for sp in ctx.state.store.service_principals(&tenant.id).await? {
        let grants = ctx.state.store.grants(&sp.id).await?;
        for fp in FIRST_PARTY {
            let scopes: Vec<String> = grants
                .iter()
                .filter(|g| g.kind == PermissionKind::Delegated && g.resource_app_id == fp.app_id)
                .map(|g| g.value.clone())
                .collect();
            if scopes.is_empty() {
                continue;
            }
            let (resource_id, _) = resource_sp(ctx, &tenant.id, fp.app_id).await?.unwrap_or_default();
            items.push(json!({"@odata.type": "#microsoft.graph.oAuth2PermissionGrant",
                "id": format!("{}-{}", sp.id, resource_id), "clientId": sp.id, "consentType": "AllPrincipals",
                "principalId": null, "resourceId": resource_id, "scope": scopes.join(" ")}));
        }
    }
    Ok(collection(ctx, "oauth2PermissionGrants", &q, list_memory(&OAUTH2_GRANTS, &q, items)?))
}

// ---- devices -----------------------------------------------------------------------

/// An Entra device. `complianceExpirationDateTime`: when a compliant device stops being
/// deemed compliant without a new report (`valid_until_ms` of its Intune record: the
/// partner's date plus the tenant's compliance status validity period).
fn device_json(d: &DeviceRow, valid_until_ms: Option<i64>) -> Value {
    let expires = valid_until_ms.filter(|_| d.is_compliant == Some(1)).map(platform::clock::ms_to_rfc3339);
    json!({
        "@odata.type": "#microsoft.graph.device",
        "id": d.id, "deviceId": d.device_id, "displayName": d.display_name, "operatingSystem": d.operating_system,
        "operatingSystemVersion": d.os_version, "trustType": "Workplace", "profileType": "RegisteredDevice",
        "isCompliant": d.is_compliant.map(|c| c != 0), "isManaged": d.is_managed != 0, "mdmAppId": d.mdm_app_id,
        "accountEnabled": d.account_enabled != 0, "registrationDateTime": platform::clock::ms_to_rfc3339(d.registered_ms),
        "complianceExpirationDateTime": expires,
        "approximateLastSignInDateTime": d.last_sign_in_ms.map(platform::clock::ms_to_rfc3339),
    })
}

/// When each of `devices` lapses without a new report, by device ID.
async fn valid_until(ctx: &Ctx<'_>, devices: &[DeviceRow]) -> Result<std::collections::HashMap<DeviceId, i64>> {
    let ids: Vec<DeviceId> = devices.iter().map(|d| d.device_id.clone()).collect();
    let managed = ctx.state.store.managed_devices_by_ids(&ids).await?;
    Ok(managed.into_iter().filter_map(|(id, m)| Some((id, m.valid_until_ms?))).collect())
}

async fn devices(ctx: &Ctx<'_>) -> Result<Response> {
    let tenant = ctx.caller(&DEVICE_READ).await?;
    let q = ctx.options(&DEVICES)?;
    let page = page(&DEVICES, &q, "d.id")?;
    let rows = ctx.state.store.graph_devices(&tenant.id, &page).await?;
    let (rows, next) = paged(rows, &q, &page, |d| d.id.clone());
    let total = if q.count { Some(ctx.state.store.graph_devices_count(&tenant.id, &page.condition).await?) } else { None };
    let until = valid_until(ctx, &rows).await?;
    let items = rows.iter().map(|d| device_json(d, until.get(&d.device_id).copied())).collect();
    Ok(collection(ctx, "devices", &q, Listing { items, count: total, next }))
}

/// A device by object ID (`devices/{id}`) or by its device ID (`devices(deviceId='…')`).
async fn device(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&DEVICE_READ).await?;
    let q = ctx.options(&DEVICES)?;
    let row = match &key {
        Key::Alt("deviceId", d) => ctx.state.store.device(&tenant.id, &DeviceId::from(normal(d))).await?,
        Key::Id(id) => ctx.state.store.device_by_object_id(&tenant.id, &normal(id)).await?,
        Key::Alt(..) => None,
    };
    let row = row.ok_or_else(|| missing(key.text()))?;
    let until = valid_until(ctx, std::slice::from_ref(&row)).await?;
    Ok(entity(ctx, "devices", &q, device_json(&row, until.get(&row.device_id).copied())))
}

// ---- Conditional Access and sign-ins -------------------------------------------------

async fn ca_policies(ctx: &Ctx<'_>, route: Route) -> Result<Response> {
    let tenant = ctx.caller(&["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"]).await?;
    let q = ctx.options(&CA_POLICIES)?;
    let items: Vec<Value> = ctx.state.store.ca_policies(&tenant.id).await?.iter().map(crate::entra::administration::policy_json).collect();
    let context = "identity/conditionalAccess/policies";
    match route {
        Route::ConditionalAccessPolicy(key) => {
            let item = items.into_iter().find(|p| matches_key(p, &key, "id", "id")).ok_or_else(|| missing(key.text()))?;
            Ok(entity(ctx, context, &q, item))
        }
        _ => Ok(collection(ctx, context, &q, list_memory(&CA_POLICIES, &q, items)?)),
    }
}

/// `auditLogs/signIns`, newest first.
async fn sign_ins(ctx: &Ctx<'_>) -> Result<Response> {
    let tenant = ctx.caller(&["AuditLog.Read.All"]).await?;
    let q = ctx.options(&SIGN_INS)?;
    let items = ctx
        .state
        .store
        .sign_ins(&tenant.id, 5000)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "@odata.type": "#microsoft.graph.signIn",
                "id": s.id, "createdDateTime": platform::clock::ms_to_rfc3339(s.at_ms), "userId": s.user_id, "userPrincipalName": s.upn,
                "appId": s.app_id, "appDisplayName": s.app_name, "conditionalAccessStatus": s.ca_status,
                "status": {"errorCode": s.error_code, "failureReason": s.failure_reason, "additionalDetails": s.additional_details},
                "deviceDetail": {"deviceId": s.device_id.unwrap_or_default(), "operatingSystem": "MacOS"},
                "appliedConditionalAccessPolicies": serde_json::from_str::<Value>(&s.policies).unwrap_or(json!([])),
            })
        })
        .collect();
    Ok(collection(ctx, "auditLogs/signIns", &q, list_memory(&SIGN_INS, &q, items)?))
}
