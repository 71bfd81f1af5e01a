//! Pages a user's browser lands on when the cloud does not recognise the Mac, or finds it
//! noncompliant.

use super::Query;
use axum::extract::State;
use axum::response::Html;
use platform::html::{Markup, html, page};

use super::callers::Instance;
use crate::Shared;
use crate::error::Result;
use wire::DeviceId;

#[derive(serde::Deserialize)]
pub struct DeviceQuery {
    pub(super) device_id: Option<DeviceId>,
}

/// The Self Service policy an enrolled Mac runs to register with Microsoft Entra ID: the
/// landing page's *Register* action opens it on the Mac.
pub const REGISTER_ACTION: &str = "jamfselfservice://content?entity=policy&id=register-with-entra-id&action=execute";

pub async fn registration(State(state): State<Shared>, Query(q): Query<DeviceQuery>, Instance(instance): Instance) -> Result<Html<String>> {
    let name = &instance.name;
    let enroll = format!("{}/enroll", state.instance_url(&instance.slug));
    Ok(Html(page(
        "Device registration",
        html! {
            h1 { "Register your Mac with " (name) }
            (device(q.device_id.as_ref()))
            h2 { "My Mac is managed by " (name) }
            p { "Register it with Microsoft Entra ID. Self Service opens and runs the registration; sign in to the Company \
                 Portal when it asks, then sign in to your app again." }
            p { a id="register" class="button" href=(REGISTER_ACTION) { "Register" } }
            h2 { "My Mac is not managed yet" }
            p { "Enroll it first: " a id="enroll" href=(enroll) { "enroll this Mac with " (name) } ", then come back to this page." }
        },
    )))
}

/// The Entra device the cloud named, when it named one.
pub(super) fn device(device_id: Option<&DeviceId>) -> Markup {
    html! { @if let Some(d) = device_id { p { "Device: " code { (d) } } } }
}

/// User-initiated enrolment instructions.
pub async fn enroll(Instance(instance): Instance) -> Result<Html<String>> {
    Ok(Html(page(
        "Enroll your Mac",
        html! {
            h1 { "Enroll your Mac with " (instance.name) }
            p { "Install the management profile your IT department sent you (it carries the enrollment invitation), or ask \
                 them for one. After enrollment, open Self Service and run " b { "Register with Microsoft Entra ID" } "." }
        },
    )))
}

pub async fn access_denied(Instance(instance): Instance) -> Result<Html<String>> {
    Ok(Html(page(
        "Access denied",
        html! {
            h1 { "Access denied" }
            p { "This Mac is not recognized by your organization. Contact the administrators of " (instance.name) "." }
        },
    )))
}
