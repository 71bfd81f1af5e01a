//! The operator API (`/api/v1/operator/…`): every link's health, reconcile and health
//! re-test on demand, dead letters and their replay, and the trace of one device. Bearer
//! `operator_token` of the configuration; without one the API is off. The instance API
//! offers the same for an instance's own link and letters.

use super::{Path, Query};
use crate::http::Bytes;
use axum::Json;
use axum::extract::State;
use platform::problem::Refuse;
use wire::connector_api::{
    DeadLetters, DeviceTrace, LinkEvent, LinkHealth, LinkView, LinksHealth, Reconciled, Replay, Replayed, TracedUpdate,
};
use wire::errors::Problem;

use super::callers::{CallingInstance, Operator};
use crate::error::{ConnectorError, Result};
use crate::store::LinkRow;
use crate::{Shared, maintenance, onboarding};
use wire::{DeviceId, InstanceId, LinkId};

async fn link(state: &Shared, id: &LinkId) -> Result<LinkRow> {
    state.store.link(id).await?.ok_or_else(|| ConnectorError::not_found(format!("Link {id} does not exist.")))
}

pub async fn health_of(state: &Shared, link: &LinkRow) -> Result<LinkHealth> {
    let now = state.clock.now_ms();
    let instance = state.store.instance(&link.instance_id).await?;
    let (accepted, rejected, stale) = state.store.outcome_counts(&link.instance_id).await?;
    let (last_upload, last_error) = match &link.tenant_id {
        Some(t) => (state.store.last_message_ms(t).await?, state.store.last_error(t).await?),
        None => (None, None),
    };
    let oldest = state.store.oldest_pending_ms(&link.instance_id).await?;
    Ok(LinkHealth {
        link: onboarding::view(state, link),
        instance_id: link.instance_id.clone(),
        instance_name: instance.map(|i| i.name).unwrap_or_default(),
        backlog: state.store.backlog(&link.instance_id).await?,
        lag_seconds: oldest.map(|o| (now - o).max(0) / 1000).unwrap_or(0),
        dead_letters: state.store.dead_letter_count(&link.instance_id).await?,
        accepted_total: accepted,
        rejected_total: rejected,
        stale_total: stale,
        last_upload_at: last_upload.map(platform::clock::ms_to_rfc3339),
        last_error,
        last_reconciled_at: state.store.reconciled_ms(&link.id).await?.map(platform::clock::ms_to_rfc3339),
        history: state
            .store
            .link_history(&link.id)
            .await?
            .into_iter()
            .map(|(at, status, detail)| LinkEvent { at: platform::clock::ms_to_rfc3339(at), status, detail })
            .collect(),
    })
}

/// `GET /api/v1/operator/links`
#[utoipa::path(get, path = "/api/v1/operator/links", tag = "operator",
    summary = "Every link with its health",
    responses((status = 200, description = "Links.", body = LinksHealth), (status = 401, description = "The operator token is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The operator API is off.", body = Problem, content_type = "application/problem+json")),
    security(("operator_token" = [])))]
pub async fn links(State(state): State<Shared>, _: Operator) -> Result<Json<LinksHealth>> {
    let mut links = Vec::new();
    for l in state.store.all_links().await? {
        links.push(health_of(&state, &l).await?);
    }
    Ok(Json(LinksHealth { links }))
}

async fn reconcile_link(state: &Shared, link: &LinkRow) -> Result<Json<Reconciled>> {
    if link.status != wire::connector_api::LinkStatus::Active {
        return Err(ConnectorError::conflict(format!("Only an active link is reconciled; this one is {}.", link.status)));
    }
    let queued = maintenance::reconcile(state, link).await?;
    Ok(Json(Reconciled { link_id: link.id.clone(), queued }))
}

/// `POST /api/v1/operator/links/{id}/reconcile`
#[utoipa::path(post, path = "/api/v1/operator/links/{id}/reconcile", tag = "operator",
    summary = "Queue the current state of every computer of an active link again",
    params(("id" = String, Path, description = "The link's ID.")),
    responses((status = 200, description = "Queued.", body = Reconciled), (status = 401, description = "The operator token is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such link, or the operator API is off (no `operator_token` configured).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The link is not active.", body = Problem, content_type = "application/problem+json")),
    security(("operator_token" = [])))]
pub async fn reconcile(State(state): State<Shared>, Path(id): Path<LinkId>, _: Operator) -> Result<Json<Reconciled>> {
    reconcile_link(&state, &link(&state, &id).await?).await
}

/// `POST /api/v1/links/{id}/reconcile`: an instance reconciles its own link.
#[utoipa::path(post, path = "/api/v1/links/{id}/reconcile", tag = "instance",
    summary = "Queue the current state of every computer of the instance's active link again",
    params(("id" = String, Path, description = "The link's ID.")),
    responses((status = 200, description = "Queued.", body = Reconciled), (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such link of this instance.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The link is not active.", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn instance_reconcile(
    State(state): State<Shared>,
    Path(id): Path<LinkId>,
    CallingInstance(instance): CallingInstance,
) -> Result<Json<Reconciled>> {
    let link = link(&state, &id).await?;
    if link.instance_id != instance.id {
        return Err(ConnectorError::not_found(format!("Link {id} does not exist for this instance.")));
    }
    reconcile_link(&state, &link).await
}

/// `POST /api/v1/operator/links/{id}/health-check`
#[utoipa::path(post, path = "/api/v1/operator/links/{id}/health-check", tag = "operator",
    summary = "Re-test an active (or re-test-failed) link now",
    params(("id" = String, Path, description = "The link's ID.")),
    responses((status = 200, description = "Re-tested.", body = LinkView), (status = 401, description = "The operator token is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such link, or the operator API is off (no `operator_token` configured).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The link is re-tested by Confirm only, or the cloud asked to wait.", body = Problem, content_type = "application/problem+json")),
    security(("operator_token" = [])))]
pub async fn health_check(State(state): State<Shared>, Path(id): Path<LinkId>, _: Operator) -> Result<Json<LinkView>> {
    Ok(Json(onboarding::health_check(&state, link(&state, &id).await?).await?))
}

#[derive(serde::Deserialize)]
pub struct LetterQuery {
    instance_id: Option<InstanceId>,
    limit: Option<i64>,
}

/// `GET /api/v1/operator/dead-letters?instance_id=&limit=`
#[utoipa::path(get, path = "/api/v1/operator/dead-letters", tag = "operator",
    summary = "Updates given up on, kept until replayed",
    params(
        ("instance_id" = Option<String>, Query, description = "Only this instance's."),
        ("limit" = Option<i64>, Query, description = "At most this many (1 to 10,000; other values are brought into that range; default 1,000).")),
    responses((status = 200, description = "Dead letters.", body = DeadLetters), (status = 401, description = "The operator token is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The operator API is off.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("operator_token" = [])))]
pub async fn dead_letters(State(state): State<Shared>, Query(q): Query<LetterQuery>, _: Operator) -> Result<Json<DeadLetters>> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    Ok(Json(DeadLetters { dead_letters: state.store.dead_letters(q.instance_id.as_ref(), limit).await? }))
}

/// `GET /api/v1/dead-letters`: an instance's own.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "instance",
    summary = "The instance's updates given up on",
    params(
        ("instance_id" = Option<String>, Query, description = "Ignored: an instance sees its own."),
        ("limit" = Option<i64>, Query, description = "At most this many (1 to 10,000; other values are brought into that range; default 1,000).")),
    responses((status = 200, description = "Dead letters.", body = DeadLetters), (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn instance_dead_letters(
    State(state): State<Shared>,
    Query(q): Query<LetterQuery>,
    CallingInstance(instance): CallingInstance,
) -> Result<Json<DeadLetters>> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    Ok(Json(DeadLetters { dead_letters: state.store.dead_letters(Some(&instance.id), limit).await? }))
}

/// `{"ids": [..]}`, or an empty body or `null`: every letter in scope.
fn replay_request(body: &[u8]) -> Result<Replay> {
    if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        return Ok(Replay::default());
    }
    super::api::json(body)
}

async fn replay(state: &Shared, instance_id: Option<&InstanceId>, req: Replay) -> Result<Json<Replayed>> {
    let (replayed, superseded) = state.store.replay_dead_letters(instance_id, req.ids.as_deref(), state.clock.now_ms()).await?;
    state.metrics.replayed_updates_total.increment(replayed);
    tracing::info!(instance = instance_id.map_or("all", |i| i.as_str()), replayed, superseded, "dead letters replayed");
    state.work.notify_one();
    Ok(Json(Replayed { replayed, superseded }))
}

/// `POST /api/v1/operator/dead-letters/replay` with `{"ids": [..]}` or nothing (all).
#[utoipa::path(post, path = "/api/v1/operator/dead-letters/replay", tag = "operator",
    summary = "Queue dead letters again",
    description = "The given `ids`, or every dead letter when the body is empty or has no `ids`; a letter with a newer update of its computer is closed instead.",
    request_body(content = Option<Replay>, description = "A JSON object, or no body."),
    responses((status = 200, description = "Replayed.", body = Replayed), (status = 401, description = "The operator token is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The operator API is off.", body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 16 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("operator_token" = [])))]
pub async fn replay_dead_letters(State(state): State<Shared>, _: Operator, body: Bytes) -> Result<Json<Replayed>> {
    replay(&state, None, replay_request(&body)?).await
}

/// `POST /api/v1/dead-letters/replay`: an instance's own.
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", tag = "instance",
    summary = "Queue the instance's dead letters again",
    request_body(content = Option<Replay>, description = "A JSON object, or no body."),
    responses((status = 200, description = "Replayed.", body = Replayed), (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 16 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body or a parameter breaks a rule of this document (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn instance_replay(
    State(state): State<Shared>,
    CallingInstance(instance): CallingInstance,
    body: Bytes,
) -> Result<Json<Replayed>> {
    replay(&state, Some(&instance.id), replay_request(&body)?).await
}

/// `GET /api/v1/operator/devices/{device_id}`: every update of the device, its message,
/// and the outcomes reported back.
#[utoipa::path(get, path = "/api/v1/operator/devices/{device_id}", tag = "operator",
    summary = "Everything the connector did with one Entra device",
    params(("device_id" = String, Path, format = Uuid, description = "The Entra device ID.")),
    responses((status = 200, description = "The device's updates.", body = DeviceTrace), (status = 401, description = "The operator token is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The device ID is not a GUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The device is unknown, or the operator API is off.", body = Problem, content_type = "application/problem+json")),
    security(("operator_token" = [])))]
pub async fn trace(State(state): State<Shared>, Path(device_id): Path<String>, _: Operator) -> Result<Json<DeviceTrace>> {
    Ok(Json(device_trace(&state, &device_id, None).await?))
}

/// `GET /api/v1/devices/{device_id}`: the instance's own updates of the device.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}", tag = "instance",
    summary = "Everything the connector did with one Entra device of the instance",
    description = "What the computer record's *Why is this Mac blocked?* shows: each update the instance sent for the device, its upload message and the outcomes reported back.",
    params(("device_id" = String, Path, format = Uuid, description = "The Entra device ID.")),
    responses((status = 200, description = "The device's updates from this instance.", body = DeviceTrace), (status = 401, description = "The credential is missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The device ID is not a GUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The connector holds no update of the device from this instance.", body = Problem, content_type = "application/problem+json")),
    security(("instance_credential" = [])))]
pub async fn instance_trace(
    State(state): State<Shared>,
    Path(device_id): Path<String>,
    CallingInstance(instance): CallingInstance,
) -> Result<Json<DeviceTrace>> {
    Ok(Json(device_trace(&state, &device_id, Some(&instance.id)).await?))
}

/// The device's updates (only `instance`'s when given), each with its message and outcomes.
async fn device_trace(state: &Shared, device_id: &str, instance: Option<&InstanceId>) -> Result<DeviceTrace> {
    if uuid::Uuid::parse_str(device_id).is_err() {
        return Err(ConnectorError::invalid("The device ID must be an Entra device ID (GUID)."));
    }
    let device_id = DeviceId::from(device_id.to_string());
    let rows: Vec<_> = state.store.trace(&device_id).await?.into_iter().filter(|r| instance.is_none_or(|i| &r.instance_id == i)).collect();
    if rows.is_empty() {
        return Err(ConnectorError::not_found(format!("The connector holds no update of device {device_id}.")));
    }
    let mut updates = Vec::with_capacity(rows.len());
    for r in rows {
        let message = match &r.message_id {
            Some(m) => state.store.message_status(m).await?.map(|(status, attempts, error)| {
                format!("{status}, {attempts} attempt(s){}", error.map(|e| format!(", last error: {e}")).unwrap_or_default())
            }),
            None => None,
        };
        let outcomes = state
            .store
            .outcomes_of(&r.instance_id, &r.computer_id, r.sequence)
            .await?
            .into_iter()
            .map(|(status, detail, at)| {
                format!("{status} {}{}", platform::clock::ms_to_rfc3339(at), detail.map(|d| format!(": {d}")).unwrap_or_default())
            })
            .collect();
        updates.push(TracedUpdate {
            item: serde_json::from_str(&r.item).map_err(ConnectorError::internal)?,
            instance_id: r.instance_id,
            tenant_id: r.tenant_id,
            computer_id: r.computer_id,
            sequence: r.sequence,
            status: r.status,
            received_at: platform::clock::ms_to_rfc3339(r.received_ms),
            message_id: r.message_id,
            message,
            dead_reason: r.dead_reason,
            outcomes,
        });
    }
    Ok(DeviceTrace { device_id: device_id.to_lowercase(), updates })
}
