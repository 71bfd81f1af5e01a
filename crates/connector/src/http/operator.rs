//! The operator API (`/api/v1/operator/…`): every link's health, reconcile and health
//! re-test on demand, dead letters and their replay, and the trace of one device. Bearer
//! `operator_token` of the configuration; without one the API is off. The instance API
//! offers the same for an instance's own link and letters.

use super::{Path, Query};
use crate::http::Bytes;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use wire::connector_api::{
    DeadLetter, DeadLetters, DeviceTrace, LinkEvent, LinkHealth, LinkView, LinksHealth, Reconciled, Replay, Replayed, TracedUpdate,
};

use super::{bearer, instance};
use crate::error::{ConnectorError, Result};
use crate::metrics::Metrics;
use crate::store::LinkRow;
use crate::{Shared, maintenance, onboarding};

fn operator(state: &Shared, headers: &HeaderMap) -> Result<()> {
    let Some(expected) = state.config.operator_token.as_deref() else {
        return Err(ConnectorError::NotFound("The operator API is off: no operator_token is configured.".into()));
    };
    match bearer(headers) {
        Some(t) if platform::secrets::digest_hex(t) == platform::secrets::digest_hex(expected) => Ok(()),
        _ => Err(ConnectorError::Unauthorized("The operator token is missing or not valid.".into())),
    }
}

async fn link(state: &Shared, id: &str) -> Result<LinkRow> {
    state.store.link(id).await?.ok_or_else(|| ConnectorError::NotFound(format!("Link {id} does not exist.")))
}

pub async fn health_of(state: &Shared, link: &LinkRow) -> Result<LinkHealth> {
    let now = state.clock.now_ms();
    let instance = state.store.instance(&link.instance_id).await?;
    let (accepted, rejected, stale) = state.store.outcome_counts(&link.instance_id).await?;
    let (last_upload, last_error) = match link.tenant_id.as_deref() {
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
pub async fn links(State(state): State<Shared>, headers: HeaderMap) -> Result<Json<LinksHealth>> {
    operator(&state, &headers)?;
    let mut links = Vec::new();
    for l in state.store.all_links().await? {
        links.push(health_of(&state, &l).await?);
    }
    Ok(Json(LinksHealth { links }))
}

async fn reconcile_link(state: &Shared, link: &LinkRow) -> Result<Json<Reconciled>> {
    if link.status != wire::connector_api::link_status::ACTIVE {
        return Err(ConnectorError::Conflict(format!("Only an active link is reconciled; this one is {}.", link.status)));
    }
    let queued = maintenance::reconcile(state, link).await?;
    Ok(Json(Reconciled { link_id: link.id.clone(), queued }))
}

/// `POST /api/v1/operator/links/{id}/reconcile`
pub async fn reconcile(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Reconciled>> {
    operator(&state, &headers)?;
    reconcile_link(&state, &link(&state, &id).await?).await
}

/// `POST /api/v1/links/{id}/reconcile`: an instance reconciles its own link.
pub async fn instance_reconcile(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Reconciled>> {
    let instance = instance(&state, &headers).await?;
    let link = link(&state, &id).await?;
    if link.instance_id != instance.id {
        return Err(ConnectorError::NotFound(format!("Link {id} does not exist for this instance.")));
    }
    reconcile_link(&state, &link).await
}

/// `POST /api/v1/operator/links/{id}/health-check`
pub async fn health_check(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<LinkView>> {
    operator(&state, &headers)?;
    Ok(Json(onboarding::health_check(&state, link(&state, &id).await?).await?))
}

#[derive(serde::Deserialize)]
pub struct LetterQuery {
    instance_id: Option<String>,
    limit: Option<i64>,
}

fn letters(rows: Vec<crate::store::DeadLetter>) -> DeadLetters {
    DeadLetters {
        dead_letters: rows
            .into_iter()
            .map(|d| DeadLetter {
                id: d.id,
                instance_id: d.instance_id,
                tenant_id: d.tenant_id,
                computer_id: d.computer_id,
                sequence: d.sequence,
                device_id: d.device_id,
                reason: d.reason,
                at: d.dead_ms.map(platform::clock::ms_to_rfc3339),
            })
            .collect(),
    }
}

/// `GET /api/v1/operator/dead-letters?instance_id=&limit=`
pub async fn dead_letters(State(state): State<Shared>, Query(q): Query<LetterQuery>, headers: HeaderMap) -> Result<Json<DeadLetters>> {
    operator(&state, &headers)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    Ok(Json(letters(state.store.dead_letters(q.instance_id.as_deref(), limit).await?)))
}

/// `GET /api/v1/dead-letters`: an instance's own.
pub async fn instance_dead_letters(
    State(state): State<Shared>,
    Query(q): Query<LetterQuery>,
    headers: HeaderMap,
) -> Result<Json<DeadLetters>> {
    let instance = instance(&state, &headers).await?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    Ok(Json(letters(state.store.dead_letters(Some(&instance.id), limit).await?)))
}

fn replay_request(body: &[u8]) -> Result<Replay> {
    if body.is_empty() {
        return Ok(Replay::default());
    }
    serde_json::from_slice(body).map_err(|e| ConnectorError::Invalid(format!("The body must be {{\"ids\": [..]}} or empty: {e}")))
}

async fn replay(state: &Shared, instance_id: Option<&str>, req: Replay) -> Result<Json<Replayed>> {
    let (replayed, superseded) = state.store.replay_dead_letters(instance_id, req.ids.as_deref(), state.clock.now_ms()).await?;
    Metrics::add(&state.metrics.replayed_updates_total, replayed);
    tracing::info!(instance = instance_id.unwrap_or("all"), replayed, superseded, "dead letters replayed");
    state.work.notify_one();
    Ok(Json(Replayed { replayed, superseded }))
}

/// `POST /api/v1/operator/dead-letters/replay` with `{"ids": [..]}` or nothing (all).
pub async fn replay_dead_letters(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Json<Replayed>> {
    operator(&state, &headers)?;
    replay(&state, None, replay_request(&body)?).await
}

/// `POST /api/v1/dead-letters/replay`: an instance's own.
pub async fn instance_replay(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Json<Replayed>> {
    let instance = instance(&state, &headers).await?;
    replay(&state, Some(&instance.id), replay_request(&body)?).await
}

/// `GET /api/v1/operator/devices/{device_id}`: every update of the device, its message,
/// and the outcomes reported back.
pub async fn trace(State(state): State<Shared>, Path(device_id): Path<String>, headers: HeaderMap) -> Result<Json<DeviceTrace>> {
    operator(&state, &headers)?;
    if uuid::Uuid::parse_str(&device_id).is_err() {
        return Err(ConnectorError::Invalid("The device ID must be an Entra device ID (GUID).".into()));
    }
    let rows = state.store.trace(&device_id).await?;
    if rows.is_empty() {
        return Err(ConnectorError::NotFound(format!("The connector holds no update of device {device_id}.")));
    }
    let mut updates = Vec::with_capacity(rows.len());
    for r in rows {
        let message = match r.message_id.as_deref() {
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
    Ok(Json(DeviceTrace { device_id: device_id.to_ascii_lowercase(), updates }))
}
