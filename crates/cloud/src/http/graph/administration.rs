//! Microsoft Graph writes that administer a tenant's directory: users (`POST`, `PATCH`,
//! `DELETE`, `assignLicense`), security groups and their `members/$ref`, Entra devices
//! (`accountEnabled`, `DELETE`) and Conditional Access policies. The rules are in
//! [`crate::entra::administration`]; here the caller is checked and the answer shaped.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Ctx;
use super::directory::{find_user, missing, normal, user_json};
use super::path::Key;
use crate::entra::administration as admin;
use crate::entra::directory::User;
use crate::entra::tokens::AccessClaims;
use crate::error::{CloudError, Result};
use wire::DeviceId;

const USER_WRITE: [&str; 2] = ["User.ReadWrite.All", "Directory.ReadWrite.All"];
/// Deleting needs the object's own permission: `Directory.ReadWrite.All` does not delete
/// users or groups.
const USER_DELETE: [&str; 1] = ["User.ReadWrite.All"];
const GROUP_DELETE: [&str; 1] = ["Group.ReadWrite.All"];
const LICENCE_WRITE: [&str; 3] = ["LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"];
const GROUP_WRITE: [&str; 2] = ["Group.ReadWrite.All", "Directory.ReadWrite.All"];
const MEMBER_WRITE: [&str; 3] = ["GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"];
const DEVICE_WRITE: [&str; 2] = ["Device.ReadWrite.All", "Directory.ReadWrite.All"];
const CA_WRITE: [&str; 1] = ["Policy.ReadWrite.ConditionalAccess"];

pub(super) fn json_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| CloudError::invalid("Request_BadRequest", format!("The request body is not valid JSON: {e}")))
}

fn created(ctx: &Ctx<'_>, context: &str, mut item: Value) -> Response {
    item["@odata.context"] = json!(format!("{}/graph/{}/$metadata#{context}/$entity", ctx.state.base_url, ctx.version));
    (StatusCode::CREATED, axum::Json(item)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

// ---- users ---------------------------------------------------------------------------

/// `POST /users` (201 with the user). A principal name already taken anywhere is refused
/// as Entra refuses it.
pub(super) async fn create_user(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&USER_WRITE).await?;
    let new = admin::new_user(&json_body(body)?, &tenant)?;
    if ctx.state.store.user_by_upn(&new.upn).await?.is_some() {
        return Err(CloudError::invalid(
            "Request_BadRequest",
            "Another object with the same value for property userPrincipalName already exists.",
        ));
    }
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        upn: new.upn,
        display_name: new.display_name,
        password_hash: platform::secrets::hash_password(&new.password),
        global_admin: 0,
        account_enabled: i64::from(new.account_enabled),
        mail_nickname: Some(new.mail_nickname),
    };
    ctx.state.store.insert_user(&user, ctx.state.clock.now_ms()).await?;
    let licences = ctx.state.store.user_licences(&user.id).await?;
    Ok(created(ctx, "users", user_json(&user, &licences)))
}

/// Entra's rule for sensitive actions (Microsoft Learn, "Who can perform sensitive
/// actions"): an application alone may not set a password, and only a signed-in Global
/// Administrator may reset the password of, disable or delete a Global Administrator.
async fn may_act_on(ctx: &Ctx<'_>, claims: &AccessClaims, target: &User, sets_password: bool, sensitive: bool) -> Result<()> {
    let denied = || CloudError::forbidden("Insufficient privileges to complete the operation.");
    let signed_in = match claims.upn {
        Some(_) => ctx.state.store.user(&claims.oid).await?,
        None => None,
    };
    if sets_password && signed_in.is_none() {
        return Err(denied());
    }
    if sensitive && target.global_admin != 0 && signed_in.is_none_or(|u| u.global_admin == 0) {
        return Err(denied());
    }
    Ok(())
}

/// `PATCH /users/{id}` (204): name, password, `accountEnabled`. Disabling a user or
/// changing their password ends their console sessions.
pub(super) async fn update_user(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let (tenant, claims) = ctx.caller_with_claims(&USER_WRITE).await?;
    let user = find_user(ctx, &tenant, &key).await?;
    let change = admin::user_change(&json_body(body)?)?;
    let sensitive = change.password.is_some() || change.account_enabled.is_some();
    may_act_on(ctx, &claims, &user, change.password.is_some(), sensitive).await?;
    let hash = change.password.as_deref().map(platform::secrets::hash_password);
    ctx.state.store.update_user(&user.id, change.display_name.as_deref(), hash.as_deref(), change.account_enabled).await?;
    Ok(no_content())
}

/// `DELETE /users/{id}` (204).
pub(super) async fn delete_user(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let (tenant, claims) = ctx.caller_with_claims(&USER_DELETE).await?;
    let user = find_user(ctx, &tenant, &key).await?;
    may_act_on(ctx, &claims, &user, false, true).await?;
    ctx.state.store.delete_user(&user.id).await?;
    Ok(no_content())
}

/// `POST /users/{id}/assignLicense` (200 with the user and its licences).
pub(super) async fn assign_licence(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&LICENCE_WRITE).await?;
    let user = find_user(ctx, &tenant, &key).await?;
    let change = admin::licence_change(&json_body(body)?, &tenant)?;
    ctx.state.store.change_licences(&user.id, &change.add, &change.remove).await?;
    let licences = ctx.state.store.user_licences(&user.id).await?;
    let mut item = user_json(&user, &licences);
    item["@odata.context"] = json!(format!("{}/graph/{}/$metadata#users/$entity", ctx.state.base_url, ctx.version));
    Ok(axum::Json(item).into_response())
}

// ---- groups and members --------------------------------------------------------------

/// `POST /groups` (201 with the group).
pub(super) async fn create_group(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&GROUP_WRITE).await?;
    let (name, nickname) = admin::new_group(&json_body(body)?)?;
    let id = uuid::Uuid::new_v4().to_string();
    ctx.state.store.insert_group(&id, &tenant.id, &name, &nickname).await?;
    Ok(created(ctx, "groups", super::directory::group_json(&id, &name, Some(&nickname))))
}

/// A group of the caller's tenant, by id.
async fn group_id(ctx: &Ctx<'_>, tenant: &crate::entra::directory::Tenant, key: &Key) -> Result<String> {
    let id = normal(key.text());
    let known = ctx.state.store.groups(&tenant.id).await?.into_iter().any(|(g, _)| g == id);
    known.then_some(id).ok_or_else(|| missing(key.text()))
}

/// `PATCH /groups/{id}` (204): its name.
pub(super) async fn update_group(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&GROUP_WRITE).await?;
    let name = admin::group_change(&json_body(body)?)?;
    if !ctx.state.store.rename_group(&tenant.id, &normal(key.text()), &name).await? {
        return Err(missing(key.text()));
    }
    Ok(no_content())
}

/// `DELETE /groups/{id}` (204).
pub(super) async fn delete_group(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&GROUP_DELETE).await?;
    if !ctx.state.store.delete_group(&tenant.id, &normal(key.text())).await? {
        return Err(missing(key.text()));
    }
    Ok(no_content())
}

/// `POST /groups/{id}/members/$ref` (204); a user already a member is refused as Graph
/// refuses it.
pub(super) async fn add_member(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&MEMBER_WRITE).await?;
    let group = group_id(ctx, &tenant, &key).await?;
    let member = admin::member_ref(&json_body(body)?)?;
    let user = find_user(ctx, &tenant, &Key::Id(member)).await?;
    if !ctx.state.store.add_group_member(&group, &user.id).await? {
        return Err(CloudError::invalid(
            "Request_BadRequest",
            "One or more added object references already exist for the following modified properties: 'members'.",
        ));
    }
    Ok(no_content())
}

/// `DELETE /groups/{id}/members/{member}/$ref` (204).
pub(super) async fn remove_member(ctx: &Ctx<'_>, key: Key, member: Key) -> Result<Response> {
    let tenant = ctx.caller(&MEMBER_WRITE).await?;
    let group = group_id(ctx, &tenant, &key).await?;
    if !ctx.state.store.remove_group_member(&group, &normal(member.text())).await? {
        return Err(missing(member.text()));
    }
    Ok(no_content())
}

// ---- devices -------------------------------------------------------------------------

async fn find_device(ctx: &Ctx<'_>, tenant: &crate::entra::directory::Tenant, key: &Key) -> Result<crate::store::DeviceRow> {
    let row = match key {
        Key::Alt("deviceId", d) => ctx.state.store.device(&tenant.id, &DeviceId::from(normal(d))).await?,
        Key::Id(id) => ctx.state.store.device_by_object_id(&tenant.id, &normal(id)).await?,
        Key::Alt(..) => None,
    };
    row.ok_or_else(|| missing(key.text()))
}

/// `PATCH /devices/{id}` (204): `accountEnabled` only. A disabled device cannot be used
/// to sign in (AADSTS135011).
pub(super) async fn update_device(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&DEVICE_WRITE).await?;
    let device = find_device(ctx, &tenant, &key).await?;
    let body = json_body(body)?;
    let map = body.as_object().ok_or_else(|| CloudError::invalid("Request_BadRequest", "The request body must be a JSON object."))?;
    if let Some(k) = map.keys().find(|k| !k.starts_with('@') && k.as_str() != "accountEnabled") {
        return Err(CloudError::invalid(
            "Request_BadRequest",
            format!("Property '{k}' of resource 'Device' cannot be changed here; accountEnabled can."),
        ));
    }
    let enabled = map.get("accountEnabled").and_then(Value::as_bool).ok_or_else(|| {
        CloudError::invalid("Request_BadRequest", "Invalid value specified for property 'accountEnabled' of resource 'Device'.")
    })?;
    ctx.state.store.set_device_enabled(&tenant.id, &device.id, enabled).await?;
    Ok(no_content())
}

/// `DELETE /devices/{id}` (204): the Entra device and its Intune record.
pub(super) async fn delete_device(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&DEVICE_WRITE).await?;
    let device = find_device(ctx, &tenant, &key).await?;
    ctx.state.store.delete_device(&tenant.id, &device.device_id).await?;
    Ok(no_content())
}

// ---- Conditional Access --------------------------------------------------------------

const CA_CONTEXT: &str = "identity/conditionalAccess/policies";

/// `POST /identity/conditionalAccess/policies` (201 with the policy).
pub(super) async fn create_ca_policy(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&CA_WRITE).await?;
    let policy = admin::policy(&json_body(body)?, uuid::Uuid::new_v4().to_string())?;
    ctx.state.store.insert_ca_policy(&tenant.id, &policy, ctx.state.clock.now_ms()).await?;
    Ok(created(ctx, CA_CONTEXT, admin::policy_json(&policy)))
}

/// `PATCH /identity/conditionalAccess/policies/{id}` (204): the properties given replace
/// the stored ones; the result must still be a valid policy.
pub(super) async fn update_ca_policy(ctx: &Ctx<'_>, key: Key, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&CA_WRITE).await?;
    let id = normal(key.text());
    let stored = ctx.state.store.ca_policies(&tenant.id).await?.into_iter().find(|p| p.id == id).ok_or_else(|| missing(key.text()))?;
    let policy = admin::policy(&admin::merged(admin::policy_json(&stored), &json_body(body)?)?, id)?;
    ctx.state.store.update_ca_policy(&tenant.id, &policy).await?;
    Ok(no_content())
}

/// `DELETE /identity/conditionalAccess/policies/{id}` (204).
pub(super) async fn delete_ca_policy(ctx: &Ctx<'_>, key: Key) -> Result<Response> {
    let tenant = ctx.caller(&CA_WRITE).await?;
    if !ctx.state.store.delete_ca_policy(&tenant.id, &normal(key.text())).await? {
        return Err(missing(key.text()));
    }
    Ok(no_content())
}
