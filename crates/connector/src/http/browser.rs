//! What a browser reaches: the consent callback and the routing of users the cloud sends
//! to the tenant's enrollment and remediation URLs.

use super::{Path, Query};
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use wire::connector_api::LandingPage;

use crate::error::{ConnectorError, Result};
use crate::{Shared, onboarding};

pub async fn consent_callback(State(state): State<Shared>, Query(r): Query<onboarding::ConsentResponse>) -> Result<Redirect> {
    Ok(Redirect::to(&onboarding::consent_callback(&state, r).await?))
}

#[derive(serde::Deserialize)]
pub struct RouteQuery {
    device_id: Option<String>,
    upn: Option<String>,
}

/// Sends a user to the landing page of the instance that manages the device.
pub async fn route(
    State(state): State<Shared>,
    Path((tenant, purpose)): Path<(String, String)>,
    Query(q): Query<RouteQuery>,
) -> Result<Response> {
    if purpose != "enroll" && purpose != "remediate" {
        return Err(ConnectorError::NotFound(format!("No route '{purpose}'.")));
    }
    let by_device = match (&q.device_id, &q.upn) {
        (Some(d), _) => state.store.route(&tenant, &d.to_ascii_lowercase()).await?,
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
            "<h1>Register your Mac</h1><p>Your organization manages Macs with more than one device-management server. \
             Open Self Service on your Mac and run the registration from there.</p>",
        ))
        .into_response());
    };
    let instance = state.store.instance(&link.instance_id).await?.ok_or_else(|| ConnectorError::NotFound("instance".into()))?;
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
