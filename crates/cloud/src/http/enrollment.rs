//! The device registration service (`/EnrollmentServer/device/`), as the Company Portal
//! calls it for a Workplace Join.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::authenticate;
use crate::Shared;
use crate::entra::devices;
use crate::entra::directory::DRS_RESOURCE;
use crate::error::{CloudError, Result};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateRequest {
    #[serde(rename = "Type")]
    kind: String,
    data: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceRegistration {
    certificate_request: CertificateRequest,
    #[serde(default)]
    device_type: String,
    #[serde(rename = "OSVersion", default)]
    os_version: String,
    device_display_name: String,
    #[serde(default)]
    join_type: i32,
}

/// Workplace Join: the user's token proves who registers; the CSR carries the device key.
pub async fn register_device(State(state): State<Shared>, headers: HeaderMap, body: crate::http::Bytes) -> Result<Json<serde_json::Value>> {
    let claims = authenticate(&state, &headers, &[DRS_RESOURCE])?;
    let user = match claims.upn.as_deref() {
        Some(upn) => state.store.user_by_upn(upn).await?,
        None => None,
    }
    .ok_or_else(|| CloudError::forbidden("Device registration requires a user token."))?;
    let req: DeviceRegistration =
        serde_json::from_slice(&body).map_err(|e| CloudError::bad_request(format!("The registration request is not valid: {e}")))?;
    if !req.certificate_request.kind.eq_ignore_ascii_case("pkcs10") {
        return Err(CloudError::bad_request("CertificateRequest.Type must be pkcs10."));
    }
    if req.join_type != 4 && req.join_type != 0 {
        return Err(CloudError::bad_request("Only workplace join (JoinType 4) is supported for macOS."));
    }
    if !req.device_type.is_empty() && !req.device_type.eq_ignore_ascii_case("MacOS") && !req.device_type.eq_ignore_ascii_case("MacMDM") {
        return Err(CloudError::bad_request("DeviceType must be MacOS."));
    }
    if !platform::text::within_chars(&req.device_display_name, 256) {
        return Err(CloudError::bad_request("DeviceDisplayName must be 1 to 256 characters."));
    }
    let csr = STANDARD
        .decode(req.certificate_request.data.trim())
        .map_err(|_| CloudError::bad_request("CertificateRequest.Data must be base64."))?;
    let tenant = state.store.tenant(&user.tenant_id).await?.ok_or_else(|| CloudError::internal("tenant of user missing"))?;
    let reg =
        devices::register(&state.store, &tenant, &user, &csr, &req.device_display_name, &req.os_version, state.clock.now_ms()).await?;
    Ok(Json(json!({
        "Certificate": {"Thumbprint": reg.thumbprint, "RawBody": STANDARD.encode(&reg.certificate_der)},
        "User": {"Upn": user.upn},
        "DeviceId": reg.device_id,
        "MembershipChanges": [],
    })))
}
