//! The instance API.

use super::{Path, Query};
use crate::http::Bytes;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use wire::connector_api::{
    InstanceRegistered, InventoryAccepted, InventoryBatch, LinkStarted, LinkView, Outcome, Outcomes, RegisterInstance, StartLink,
};

use super::{bearer, instance};
use crate::error::{ConnectorError, Result};
use crate::store::{InstanceRow, LinkRow};
use crate::{Shared, onboarding, pipeline};

fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| ConnectorError::Invalid(format!("The request body is not valid JSON for this call: {e}")))
}

pub async fn register_instance(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Json<InstanceRegistered>> {
    let secret = bearer(&headers).ok_or_else(|| ConnectorError::Unauthorized("The registration secret is required.".into()))?;
    if platform::secrets::digest_hex(secret) != platform::secrets::digest_hex(&state.config.registration_secret) {
        return Err(ConnectorError::Unauthorized("The registration secret is not valid.".into()));
    }
    let req: RegisterInstance = json(&body)?;
    let url = url::Url::parse(&req.url).map_err(|_| ConnectorError::Invalid("url must be an absolute https URL.".into()))?;
    if url.scheme() != "https" {
        return Err(ConnectorError::Invalid("url must be an absolute https URL.".into()));
    }
    for (field, value, max) in [("external_id", &req.external_id, 200), ("name", &req.name, 255), ("version", &req.version, 64)] {
        if !platform::text::within_chars(value, max) {
            return Err(ConnectorError::Invalid(format!("{field} must be 1 to {max} characters.")));
        }
    }
    let credential = platform::secrets::random_token(32);
    let row = InstanceRow {
        id: uuid::Uuid::new_v4().to_string(),
        external_id: req.external_id,
        name: req.name,
        url: req.url.trim_end_matches('/').to_string(),
        version: req.version,
    };
    let id = state.store.upsert_instance(&row, &platform::secrets::digest_hex(&credential), state.clock.now_ms()).await?;
    tracing::info!(instance = %id, name = %row.name, "instance registered");
    Ok(Json(InstanceRegistered { instance_id: id, credential }))
}

pub async fn start_link(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Json<LinkStarted>> {
    let instance = instance(&state, &headers).await?;
    let req: StartLink = json(&body)?;
    Ok(Json(onboarding::start_link(&state, &instance, req).await?))
}

async fn own_link(state: &Shared, headers: &HeaderMap, id: &str) -> Result<LinkRow> {
    let instance = instance(state, headers).await?;
    state
        .store
        .link(id)
        .await?
        .filter(|l| l.instance_id == instance.id)
        .ok_or_else(|| ConnectorError::NotFound(format!("Link {id} does not exist for this instance.")))
}

pub async fn current_link(State(state): State<Shared>, headers: HeaderMap) -> Result<Json<LinkView>> {
    let instance = instance(&state, &headers).await?;
    let link =
        state.store.current_link(&instance.id).await?.ok_or_else(|| ConnectorError::NotFound("This instance has no link yet.".into()))?;
    Ok(Json(onboarding::view(&state, &link)))
}

pub async fn confirm(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<LinkView>> {
    let link = own_link(&state, &headers, &id).await?;
    Ok(Json(onboarding::confirm(&state, link).await?))
}

pub async fn disconnect(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<LinkView>> {
    let link = own_link(&state, &headers, &id).await?;
    Ok(Json(onboarding::disconnect(&state, link).await?))
}

pub async fn inventory(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Json<InventoryAccepted>> {
    let instance = instance(&state, &headers).await?;
    let batch: InventoryBatch = json(&body)?;
    Ok(Json(pipeline::intake(&state, &instance, batch).await?))
}

#[derive(serde::Deserialize)]
pub struct After {
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn outcomes(State(state): State<Shared>, headers: HeaderMap, Query(q): Query<After>) -> Result<Json<Outcomes>> {
    let instance = instance(&state, &headers).await?;
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

pub async fn ready(State(state): State<Shared>) -> Result<&'static str> {
    sqlx::query("SELECT 1").execute(&state.store.db.pool).await?;
    Ok("ready")
}

/// `GET /api/v1/status`: the instance's current link and its delivery health.
pub async fn status(State(state): State<Shared>, headers: HeaderMap) -> Result<Json<serde_json::Value>> {
    let instance = instance(&state, &headers).await?;
    let now = state.clock.now_ms();
    let link = state.store.current_link(&instance.id).await?;
    let backlog = state.store.backlog(&instance.id).await?;
    let oldest = state.store.oldest_pending_ms(&instance.id).await?;
    let (accepted, rejected, stale) = state.store.outcome_counts(&instance.id).await?;
    let (last_upload, last_error) = match link.as_ref().and_then(|l| l.tenant_id.clone()) {
        Some(t) => (state.store.last_message_ms(&t).await?, state.store.last_error(&t).await?),
        None => (None, None),
    };
    Ok(Json(serde_json::json!({
        "instance_id": instance.id,
        "link": link.as_ref().map(|l| onboarding::view(&state, l)),
        "backlog": backlog,
        "lag_seconds": oldest.map(|o| (now - o).max(0) / 1000).unwrap_or(0),
        "last_upload_at": last_upload.map(platform::clock::ms_to_rfc3339),
        "accepted_total": accepted,
        "rejected_total": rejected,
        "stale_total": stale,
        "dead_letters": state.store.dead_letter_count(&instance.id).await?,
        "last_error": last_error,
    })))
}

/// `GET /metrics` (Prometheus text format).
pub async fn metrics(State(state): State<Shared>) -> Result<([(axum::http::HeaderName, &'static str); 1], String)> {
    let (backlog, rejected, links) = state.store.gauges().await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(backlog, rejected, links)))
}
