//! What a browser reaches: the consent callback and the routing of users the cloud sends
//! to the tenant's enrollment and remediation URLs.

use super::{Path, Query};
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use platform::problem::Refuse;
use wire::connector_api::LandingPage;
use wire::errors::Problem;

use crate::error::{ConnectorError, Result};
use crate::{Shared, onboarding};
use wire::{DeviceId, TenantId};

#[utoipa::path(get, path = "/onboarding/callback", tag = "browser",
    summary = "Where the cloud's admin-consent page sends the admin's browser back",
    params(
        ("state" = String, Query, description = "The state this connector put in the consent URL."),
        ("tenant" = Option<String>, Query, description = "The tenant that consented (a GUID), with `admin_consent=True`."),
        ("admin_consent" = Option<String>, Query, description = "`True` when consent was granted."),
        ("error" = Option<String>, Query, description = "Set when consent was not granted."),
        ("error_description" = Option<String>, Query, description = "Why.")),
    responses(
        (status = 303, description = "On to the next consent, or back to the instance's `return_url`.", headers(("location" = String, description = "Where the browser goes next."))),
        (status = 400, description = "Not a consent response (no state, or no tenant).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The state matches no pending consent (unknown, used or expired).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is not valid.", body = Problem, content_type = "application/problem+json")))]
pub async fn consent_callback(State(state): State<Shared>, Query(r): Query<onboarding::ConsentResponse>) -> Result<Redirect> {
    Ok(Redirect::to(&onboarding::consent_callback(&state, r).await?))
}

#[derive(serde::Deserialize)]
pub struct RouteQuery {
    device_id: Option<DeviceId>,
    upn: Option<String>,
}

/// Sends a user to the landing page of the instance that manages the device.
#[utoipa::path(get, path = "/route/{tenant}/{purpose}", tag = "browser",
    summary = "Send a user to the landing page of the instance that manages the device",
    description = "The cloud publishes these as the tenant's enrollment (`enroll`) and remediation (`remediate`) URLs.",
    params(
        ("tenant" = String, Path, description = "The tenant ID."),
        ("purpose" = String, Path, pattern = "^(enroll|remediate)$", description = "`enroll` or `remediate` (anything else: 404)."),
        ("device_id" = Option<String>, Query, description = "The Entra device, when the cloud knows it."),
        ("upn" = Option<String>, Query, description = "The user, when the device is not known.")),
    responses(
        (status = 200, description = "The tenant has several instances and the device is unknown: where to register.", body = String, content_type = "text/html"),
        (status = 303, description = "To the instance's page.", headers(("location" = String, description = "The landing page."))),
        (status = 404, description = "No such route.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is not valid.", body = Problem, content_type = "application/problem+json")))]
pub async fn route(
    State(state): State<Shared>,
    Path((tenant, purpose)): Path<(TenantId, String)>,
    Query(q): Query<RouteQuery>,
) -> Result<Response> {
    if purpose != "enroll" && purpose != "remediate" {
        return Err(ConnectorError::not_found(format!("No route '{purpose}'.")));
    }
    let by_device = match (&q.device_id, &q.upn) {
        (Some(d), _) => state.store.route(&tenant, &d.to_lowercase()).await?,
        (None, Some(upn)) => state.store.route_by_upn(&tenant, upn).await?,
        (None, None) => None,
    };
    let links = state.store.active_links_of_tenant(&tenant).await?;
    let link = match by_device {
        Some(instance_id) => links.into_iter().find(|l| l.instance_id == instance_id),
        // An unknown device: only one instance can be meant if there is only one.
        None if links.len() == 1 => links.into_iter().next(),
        None => None,
    };
    let Some(link) = link else {
        return Ok(Html(platform::html::page(
            "Register your Mac",
            platform::html::html! {
                h1 { "Register your Mac" }
                p { "Your organization manages Macs with more than one device-management server. \
                     Open Self Service on your Mac and run the registration from there." }
            },
        ))
        .into_response());
    };
    let instance = state.store.instance(&link.instance_id).await?.ok_or_else(|| ConnectorError::not_found("instance"))?;
    let device = q
        .device_id
        .map(|d| format!("?device_id={}", url::form_urlencoded::byte_serialize(d.as_bytes()).collect::<String>()))
        .unwrap_or_default();
    let target = match (purpose.as_str(), serde_json::from_str::<LandingPage>(&link.landing_page).unwrap_or(LandingPage::Registration)) {
        ("remediate", _) => format!("{}/remediation{device}", instance.url),
        (_, LandingPage::Registration) => format!("{}/device-registration{device}", instance.url),
        (_, LandingPage::AccessDenied) => format!("{}/access-denied", instance.url),
        (_, LandingPage::Custom { url }) => url,
    };
    Ok(Redirect::to(&target).into_response())
}
