//! Pages a user's browser lands on when the cloud does not recognise the Mac, or finds it
//! noncompliant.

use super::Query;
use axum::extract::State;
use axum::response::Html;
use platform::html::{escape, page};

use super::callers::Instance;
use crate::Shared;
use crate::error::Result;

#[derive(serde::Deserialize)]
pub struct DeviceQuery {
    device_id: Option<String>,
}

/// The Self Service policy an enrolled Mac runs to register with Microsoft Entra ID: the
/// landing page's *Register* action opens it on the Mac.
pub const REGISTER_ACTION: &str = "jamfselfservice://content?entity=policy&id=register-with-entra-id&action=execute";

pub async fn registration(State(state): State<Shared>, Query(q): Query<DeviceQuery>, Instance(instance): Instance) -> Result<Html<String>> {
    let slug = &instance.slug;
    let device = q.device_id.map(|d| format!("<p>Device: <code>{}</code></p>", escape(&d))).unwrap_or_default();
    let name = escape(&instance.name);
    let enroll = format!("{}/enroll", state.instance_url(slug));
    Ok(Html(page(
        "Device registration",
        &format!(
            "<h1>Register your Mac with {name}</h1>{device}\
             <h2>My Mac is managed by {name}</h2>\
             <p>Register it with Microsoft Entra ID. Self Service opens and runs the registration; sign in to the Company \
             Portal when it asks, then sign in to your app again.</p>\
             <p><a id=\"register\" class=\"button\" href=\"{}\">Register</a></p>\
             <h2>My Mac is not managed yet</h2>\
             <p>Enroll it first: <a id=\"enroll\" href=\"{}\">enroll this Mac with {name}</a>, then come back to this page.</p>",
            escape(REGISTER_ACTION),
            escape(&enroll)
        ),
    )))
}

/// User-initiated enrolment instructions.
pub async fn enroll(Instance(instance): Instance) -> Result<Html<String>> {
    Ok(Html(page(
        "Enroll your Mac",
        &format!(
            "<h1>Enroll your Mac with {}</h1><p>Install the management profile your IT department sent you (it carries the \
             enrollment invitation), or ask them for one. After enrollment, open Self Service and run \
             <b>Register with Microsoft Entra ID</b>.</p>",
            escape(&instance.name)
        ),
    )))
}

pub async fn access_denied(Instance(instance): Instance) -> Result<Html<String>> {
    Ok(Html(page(
        "Access denied",
        &format!(
            "<h1>Access denied</h1><p>This Mac is not recognized by your organization. Contact the administrators of {}.</p>",
            escape(&instance.name)
        ),
    )))
}

pub async fn remediation(Query(q): Query<DeviceQuery>, Instance(instance): Instance) -> Result<Html<String>> {
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
