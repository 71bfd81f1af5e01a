//! Pages a user's browser lands on when the cloud does not recognise the Mac, or finds it
//! noncompliant.

use super::{Path, Query};
use axum::extract::State;
use axum::response::Html;
use platform::html::{escape, page};

use super::instance;
use crate::Shared;
use crate::error::Result;

#[derive(serde::Deserialize)]
pub struct DeviceQuery {
    device_id: Option<String>,
}

pub async fn registration(State(state): State<Shared>, Path(slug): Path<String>, Query(q): Query<DeviceQuery>) -> Result<Html<String>> {
    let instance = instance(&state, &slug).await?;
    let device = q.device_id.map(|d| format!("<p>Device: <code>{}</code></p>", escape(&d))).unwrap_or_default();
    Ok(Html(page(
        "Device registration",
        &format!(
            "<h1>Register your Mac with {}</h1>{device}\
         <p>If your Mac is not enrolled yet, enroll it with {} first. If it is enrolled, open Self Service and run \
         <b>Register with Microsoft Entra ID</b>; the Company Portal completes the registration.</p>",
            escape(&instance.name),
            escape(&instance.name)
        ),
    )))
}

pub async fn access_denied(State(state): State<Shared>, Path(slug): Path<String>) -> Result<Html<String>> {
    let instance = instance(&state, &slug).await?;
    Ok(Html(page(
        "Access denied",
        &format!(
            "<h1>Access denied</h1><p>This Mac is not recognized by your organization. Contact the administrators of {}.</p>",
            escape(&instance.name)
        ),
    )))
}

pub async fn remediation(State(state): State<Shared>, Path(slug): Path<String>, Query(q): Query<DeviceQuery>) -> Result<Html<String>> {
    let instance = instance(&state, &slug).await?;
    let device = q.device_id.map(|d| format!("<p>Device: <code>{}</code></p>", escape(&d))).unwrap_or_default();
    Ok(Html(page(
        "Make your Mac compliant",
        &format!(
            "<h1>Your Mac does not meet your organization's requirements</h1>{device}\
         <p>Open Self Service from {} to see what to change, then sign in again.</p>",
            escape(&instance.name)
        ),
    )))
}
