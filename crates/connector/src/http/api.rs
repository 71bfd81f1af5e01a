//! The instance API.

use super::{Path, Query};
use crate::http::Bytes;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use platform::problem::Refuse;
use serde::de::DeserializeOwned;
use wire::connector_api::{
    InstanceRegistered, InstanceStatus, InventoryAccepted, InventoryBatch, LinkStarted, LinkView, Outcome, Outcomes, RegisterInstance,
    StartLink,
};
use wire::errors::Problem;

use super::callers::{CallingInstance, bearer};
use crate::error::{ConnectorError, Result};
use crate::store::{InstanceRow, LinkRow};
use crate::{Shared, onboarding, pipeline};
use wire::LinkId;

/// A request body: a JSON object of the call's shape (an array or any other JSON value
/// is refused, though serde would read an array as a struct), whole numbers written with
/// a fraction (`69.0`) read as the integers JSON Schema takes them for.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    platform::http::json_object(body).map_err(ConnectorError::invalid)
}

#[utoipa::path(post, path = "/api/v1/instances", tag = "instance",
    summary = "Register an instance",
    description = "An mdm instance registers once with the registration secret its server shares with the connector; registering the same `external_id` again returns its instance with a new credential (the old one stops working).",
    request_body = RegisterInstance,
    responses(
        (status = 200, description = "Registered; the credential is shown only now.", body = InstanceRegistered),
        (status = 401, description = "The registration secret is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than 16 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("registration_secret" = [])))]
pub async fn register_instance(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Json<InstanceRegistered>> {
    let secret = bearer(&headers).ok_or_else(|| ConnectorError::unauthorized("The registration secret is required."))?;
    if platform::secrets::digest_hex(secret) != platform::secrets::digest_hex(&state.config.registration_secret) {
        return Err(ConnectorError::unauthorized("The registration secret is not valid."));
    }
    let req: RegisterInstance = json(&body)?;
    let url = url::Url::parse(&req.url).map_err(|_| ConnectorError::invalid("url must be an absolute https URL."))?;
    if url.scheme() != "https" {
        return Err(ConnectorError::invalid("url must be an absolute https URL."));
    }
    for (field, value, max) in [("external_id", &req.external_id, 200), ("name", &req.name, 255), ("version", &req.version, 64)] {
        if !platform::text::within_chars(value, max) {
            return Err(ConnectorError::invalid(format!("{field} must be 1 to {max} characters.")));
        }
    }
    let credential = platform::secrets::random_token(32);
    let row = InstanceRow {
        id: uuid::Uuid::new_v4().to_string().into(),
        external_id: req.external_id,
        name: req.name,
        url: req.url.trim_end_matches('/').to_string(),
        version: req.version,
    };
    let id = state.store.upsert_instance(&row, &platform::secrets::digest_hex(&credential), state.clock.now_ms()).await?;
    tracing::info!(instance = %id, name = %row.name, "instance registered");
    Ok(Json(InstanceRegistered { instance_id: id, credential }))
}

#[utoipa::path(post, path = "/api/v1/links", tag = "instance",
    summary = "Start connecting to a tenant",
    description = "Starts a link and returns the consent URL the admin's browser opens (both consents, then back to `return_url`).",
    request_body = StartLink,
    responses(
        (status = 200, description = "Started.", body = LinkStarted),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`return_url` is not under this instance's URL.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This connector holds no app registration for that cloud.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than 16 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn start_link(State(state): State<Shared>, CallingInstance(instance): CallingInstance, body: Bytes) -> Result<Json<LinkStarted>> {
    let req: StartLink = json(&body)?;
    Ok(Json(onboarding::start_link(&state, &instance, req).await?))
}

async fn own_link(state: &Shared, instance: &InstanceRow, id: &LinkId) -> Result<LinkRow> {
    state
        .store
        .link(id)
        .await?
        .filter(|l| l.instance_id == instance.id)
        .ok_or_else(|| ConnectorError::not_found(format!("Link {id} does not exist for this instance.")))
}

#[utoipa::path(get, path = "/api/v1/links/current", tag = "instance",
    summary = "The instance's current link",
    responses(
        (status = 200, description = "The link, its status and its last checks.", body = LinkView),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The instance has no link yet.", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn current_link(State(state): State<Shared>, CallingInstance(instance): CallingInstance) -> Result<Json<LinkView>> {
    let link = state.store.current_link(&instance.id).await?.ok_or_else(|| ConnectorError::not_found("This instance has no link yet."))?;
    Ok(Json(onboarding::view(&state, &link)))
}

#[utoipa::path(post, path = "/api/v1/links/{id}/confirm", tag = "instance",
    summary = "Confirm: test the link",
    description = "Runs the checks of Confirm (token, exact permissions, discovery, provisioning, heartbeat); the link turns active or failing with them.",
    params(("id" = String, Path, description = "The link's ID.")),
    responses(
        (status = 200, description = "Tested; see `status` and `checks`.", body = LinkView),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such link of this instance.", body = Problem, content_type = "application/problem+json"), (status = 409, description = "The link is not in a state for this (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn confirm(
    State(state): State<Shared>,
    Path(id): Path<LinkId>,
    CallingInstance(instance): CallingInstance,
) -> Result<Json<LinkView>> {
    let link = own_link(&state, &instance, &id).await?;
    Ok(Json(onboarding::confirm(&state, link).await?))
}

#[utoipa::path(post, path = "/api/v1/links/{id}/health-check", tag = "instance",
    summary = "Test connection: re-test an active link now",
    description = "Runs the read-only checks of the scheduled re-test (token, exact permissions, discovery) at once; the link stays active or turns failing with them, and back to active when a failing re-test passes. A link that is not active (nor failing by a re-test) is tested by Confirm.",
    params(("id" = String, Path, description = "The link's ID.")),
    responses(
        (status = 200, description = "Tested; see `status`, `checks` and `last_tested_at`.", body = LinkView),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such link of this instance.", body = Problem, content_type = "application/problem+json"), (status = 409, description = "The link is tested by Confirm, or the cloud asked to wait (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn health_check(
    State(state): State<Shared>,
    Path(id): Path<LinkId>,
    CallingInstance(instance): CallingInstance,
) -> Result<Json<LinkView>> {
    let link = own_link(&state, &instance, &id).await?;
    Ok(Json(onboarding::health_check(&state, link).await?))
}

#[utoipa::path(post, path = "/api/v1/links/{id}/disconnect", tag = "instance",
    summary = "Disconnect the instance from its tenant",
    description = "The last instance of a tenant also deprovisions it; another one only withdraws its own devices.",
    params(("id" = String, Path, description = "The link's ID.")),
    responses(
        (status = 200, description = "Disconnected.", body = LinkView),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such link of this instance.", body = Problem, content_type = "application/problem+json"), (status = 409, description = "The link is not in a state for this (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn disconnect(
    State(state): State<Shared>,
    Path(id): Path<LinkId>,
    CallingInstance(instance): CallingInstance,
) -> Result<Json<LinkView>> {
    let link = own_link(&state, &instance, &id).await?;
    Ok(Json(onboarding::disconnect(&state, link).await?))
}

#[utoipa::path(post, path = "/api/v1/inventory", tag = "instance",
    summary = "Queue computer states for delivery",
    description = "Stored before the answer; idempotent (a retried batch queues nothing twice). Each update's `item.DeviceId` must be an Entra device ID (a GUID) and `item.LastUpdateTime` an RFC 3339 date; one invalid update refuses the batch.",
    request_body = InventoryBatch,
    responses(
        (status = 200, description = "Queued.", body = InventoryAccepted),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The instance has no active link; nothing was queued.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than 16 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn inventory(
    State(state): State<Shared>,
    CallingInstance(instance): CallingInstance,
    body: Bytes,
) -> Result<Json<InventoryAccepted>> {
    let batch: InventoryBatch = json(&body)?;
    Ok(Json(pipeline::intake(&state, &instance, batch).await?))
}

#[derive(serde::Deserialize)]
pub struct After {
    after: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/outcomes", tag = "instance",
    summary = "What became of delivered updates",
    params(
        ("after" = Option<i64>, Query, description = "The `cursor` of the previous answer (0: from the start)."),
        ("limit" = Option<i64>, Query, description = "At most this many (1 to 5,000; other values are brought into that range; default 1,000).")),
    responses(
        (status = 200, description = "The outcomes after `after`, in order.", body = Outcomes),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn outcomes(
    State(state): State<Shared>,
    Query(q): Query<After>,
    CallingInstance(instance): CallingInstance,
) -> Result<Json<Outcomes>> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).clamp(1, 5000);
    let rows = state.store.outcomes(&instance.id, after, limit).await?;
    let cursor = rows.last().map(|r| r.seq).unwrap_or(after);
    let outcomes = rows
        .into_iter()
        .map(|r| Outcome {
            computer_id: r.computer_id,
            sequence: r.sequence,
            status: r.status,
            detail: r.detail,
            at: platform::clock::ms_to_rfc3339(r.at_ms),
            compliance_state: r.compliance_state,
            compliance_reasons: r.compliance_reasons.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default(),
        })
        .collect();
    Ok(Json(Outcomes { outcomes, cursor }))
}

/// `GET /api/v1/status`: the instance's current link and its delivery health.
#[utoipa::path(get, path = "/api/v1/status", tag = "instance",
    summary = "The instance's link and delivery health",
    responses((status = 200, description = "Status.", body = InstanceStatus), (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn status(State(state): State<Shared>, CallingInstance(instance): CallingInstance) -> Result<Json<InstanceStatus>> {
    let now = state.clock.now_ms();
    let link = state.store.current_link(&instance.id).await?;
    let backlog = state.store.backlog(&instance.id).await?;
    let oldest = state.store.oldest_pending_ms(&instance.id).await?;
    let (accepted, rejected, stale) = state.store.outcome_counts(&instance.id).await?;
    let (last_upload, last_error) = match link.as_ref().and_then(|l| l.tenant_id.clone()) {
        Some(t) => (state.store.last_message_ms(&t).await?, state.store.last_error(&t).await?),
        None => (None, None),
    };
    Ok(Json(InstanceStatus {
        link: link.as_ref().map(|l| onboarding::view(&state, l)),
        backlog,
        lag_seconds: oldest.map(|o| (now - o).max(0) / 1000).unwrap_or(0),
        last_upload_at: last_upload.map(platform::clock::ms_to_rfc3339),
        accepted_total: accepted,
        rejected_total: rejected,
        stale_total: stale,
        dead_letters: state.store.dead_letter_count(&instance.id).await?,
        last_error,
        instance_id: instance.id,
    }))
}

/// `GET /metrics` (Prometheus text format).
#[utoipa::path(get, path = "/metrics", tag = "health",
    summary = "Counters and gauges (Prometheus text format)",
    responses((status = 200, description = "Metrics.", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<Shared>) -> Result<([(axum::http::HeaderName, &'static str); 1], String)> {
    let (backlog, rejected, links) = state.store.gauges().await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(backlog, rejected, links)))
}

#[utoipa::path(post, path = "/api/v1/compliance-preview", tag = "instance",
    summary = "Compliance preview: what Intune would decide for the instance's Macs",
    description = "Passes the devices (1 to 1,000 inventory items, any `DeviceId` the instance chooses) and the draft policies, if any, to the tenant's Intune (`CompliancePreview`); nothing is stored or sent as inventory. Needs an active connection.",
    request_body = wire::partner::PreviewRequest,
    responses(
        (status = 200, description = "One verdict per device.", body = wire::partner::PreviewResponse),
        (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The instance has no active connection.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Intune refused the request (a draft breaks a rule, no policy to preview, too many devices): `detail` says why.", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Intune failed the request: an outage, a throttle, or a refusal of the connector's identity (`detail` gives Intune's answer).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn compliance_preview(
    State(state): State<Shared>,
    CallingInstance(instance): CallingInstance,
    body: Bytes,
) -> Result<Json<wire::partner::PreviewResponse>> {
    let req: wire::partner::PreviewRequest = json(&body)?;
    let link = state
        .store
        .current_link(&instance.id)
        .await?
        .filter(|l| l.status == wire::connector_api::LinkStatus::Active)
        .ok_or_else(|| ConnectorError::conflict("This instance has no active connection to preview through."))?;
    let app = state.app(&link.cloud)?;
    let tenant = link.tenant_id.clone().unwrap_or_default();
    match state.cloud.compliance_preview(app, &tenant, &req).await {
        Ok(answer) => Ok(Json(answer)),
        Err(e) if e.status() == Some(400) => Err(ConnectorError::invalid(e.to_string())),
        Err(e) => Err(ConnectorError::Upstream(e.to_string())),
    }
}
