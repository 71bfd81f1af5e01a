//! `POST /identity/conditionalAccess/evaluate` (Graph v1.0 and beta, "conditionalAccessRoot:
//! evaluate"): the What If tool's API. The body names the signing-in user
//! (`signInIdentity`, a `#microsoft.graph.userSignIn` with `userId`), the application
//! (`signInContext.includeApplications`, one app ID) and optionally the device
//! (`signInConditions.deviceInfo`: `deviceId` of a registered device, or `isCompliant`
//! for a device in that state); `appliedPoliciesOnly` keeps only the policies that apply.
//! The answer is a collection of `whatIfAnalysisResult`: each policy with `policyApplies`
//! and `analysisReasons` (`notSet` when it applies). Permission: Policy.Read.All or
//! Policy.ReadWrite.ConditionalAccess (Policy.Read.ConditionalAccess is accepted too,
//! though no app here can be granted it). A disabled device is evaluated as the sign-in
//! page would: refused before any policy, so none applies.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Ctx;
use super::administration::json_body;
use super::directory::find_user;
use super::path::Key;
use crate::entra::what_if::{self, DeviceChoice, Refused};
use crate::error::{CloudError, Result};
use wire::DeviceId;

fn bad(message: impl Into<String>) -> CloudError {
    CloudError::invalid("Request_BadRequest", message)
}

/// The device the body describes.
fn device_choice(conditions: &Value) -> Result<DeviceChoice> {
    let info = &conditions["deviceInfo"];
    if info.is_null() {
        return Ok(DeviceChoice::None);
    }
    if !info.is_object() {
        return Err(bad("signInConditions.deviceInfo must be an object."));
    }
    match (&info["deviceId"], &info["isCompliant"]) {
        (Value::String(_), c) if !c.is_null() => {
            Err(bad("Give deviceInfo.deviceId (a registered device, as Entra holds it) or deviceInfo.isCompliant, not both."))
        }
        (Value::String(id), _) if uuid::Uuid::parse_str(id).is_ok() => Ok(DeviceChoice::Registered(DeviceId::from(id.to_lowercase()))),
        (Value::String(id), _) => Err(bad(format!("deviceInfo.deviceId '{id}' is not a GUID."))),
        (Value::Null, Value::Bool(c)) => Ok(DeviceChoice::InState(Some(*c))),
        (Value::Null, Value::Null) => Ok(DeviceChoice::InState(None)),
        _ => Err(bad("deviceInfo.deviceId must be a string and deviceInfo.isCompliant a boolean.")),
    }
}

pub(super) async fn evaluate(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response> {
    let tenant = ctx.caller(&["Policy.Read.ConditionalAccess", "Policy.Read.All"]).await?;
    let b = json_body(body)?;
    let identity = &b["signInIdentity"];
    match identity["@odata.type"].as_str() {
        Some("#microsoft.graph.userSignIn") | None => {}
        Some(other) => return Err(bad(format!("signInIdentity of type {other} is not supported; use #microsoft.graph.userSignIn."))),
    }
    let user_id = identity["userId"].as_str().ok_or_else(|| bad("signInIdentity.userId is required."))?;
    match b["signInContext"]["@odata.type"].as_str() {
        Some("#microsoft.graph.applicationContext") | None => {}
        Some(other) => {
            return Err(bad(format!("signInContext of type {other} is not supported; use #microsoft.graph.applicationContext.")));
        }
    }
    let apps = b["signInContext"]["includeApplications"].as_array().ok_or_else(|| bad("signInContext.includeApplications is required."))?;
    let [Value::String(app_id)] = apps.as_slice() else {
        return Err(bad("signInContext.includeApplications must name exactly one application ID."));
    };
    let device = device_choice(&b["signInConditions"])?;
    // Every sign-in here is a browser's or a modern client's; policies for legacy
    // clients are evaluated as not applying, so another client type cannot be asked.
    match b["signInConditions"]["clientAppType"].as_str() {
        None | Some("all" | "browser" | "mobileAppsAndDesktopClients") => {}
        Some(other) => {
            return Err(bad(format!(
                "signInConditions.clientAppType '{other}' is not supported: use browser or mobileAppsAndDesktopClients."
            )));
        }
    }
    let only_applied = match &b["appliedPoliciesOnly"] {
        Value::Null => false,
        Value::Bool(v) => *v,
        _ => return Err(bad("appliedPoliciesOnly must be a boolean.")),
    };
    let user = find_user(ctx, &tenant, &Key::Id(user_id.to_string())).await?;
    let report = match what_if::run(&ctx.state.store, &user, &app_id.to_lowercase(), &device).await? {
        Ok(r) => r,
        Err(Refused::UnknownDevice(id)) => return Err(CloudError::not_found(format!("Device '{id}' is not registered in the tenant."))),
    };
    let value: Vec<Value> = report
        .policies
        .iter()
        .filter(|r| !only_applied || r.not_applying.is_none())
        .map(|r| {
            let mut p = crate::entra::administration::policy_json(&r.policy);
            p["@odata.type"] = json!("#microsoft.graph.whatIfAnalysisResult");
            p["policyApplies"] = json!(r.not_applying.is_none());
            p["analysisReasons"] = json!(r.not_applying.unwrap_or("notSet"));
            p
        })
        .collect();
    let context = format!("{}/graph/{}/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)", ctx.state.base_url, ctx.version);
    Ok(axum::Json(json!({ "@odata.context": context, "value": value })).into_response())
}
