//! The agent API a Mac speaks.

use super::Path;
use crate::http::Bytes;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use wire::agent::{AadRegistration, ComputerCaView, Enroll, Enrolled};

use super::{bearer, instance, json_body};
use crate::error::Result;
use crate::{Shared, agent};

pub async fn enroll(State(state): State<Shared>, Path(slug): Path<String>, body: Bytes) -> Result<(StatusCode, Json<Enrolled>)> {
    let instance = instance(&state, &slug).await?;
    let req: Enroll = json_body(&body)?;
    Ok((StatusCode::CREATED, Json(agent::enroll(&state, &instance, req).await?)))
}

pub async fn inventory(
    State(state): State<Shared>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>> {
    let instance = instance(&state, &slug).await?;
    let computer = agent::computer(&state, &instance, bearer(&headers)).await?;
    let report: serde_json::Value = json_body(&body)?;
    let applied = agent::submit_inventory(&state, &instance, &computer, report).await?;
    Ok(Json(serde_json::json!({"computer_id": computer.id, "sequence": applied.sequence, "warnings": applied.warnings})))
}

/// `PATCH inventory`: a partial report (only the sections that changed).
pub async fn partial_inventory(
    State(state): State<Shared>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>> {
    let instance = instance(&state, &slug).await?;
    let computer = agent::computer(&state, &instance, bearer(&headers)).await?;
    let patch: serde_json::Value = json_body(&body)?;
    let applied = agent::submit_partial(&state, &instance, &computer, patch).await?;
    Ok(Json(serde_json::json!({"computer_id": computer.id, "sequence": applied.sequence, "warnings": applied.warnings})))
}

pub async fn aad_registration(
    State(state): State<Shared>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode> {
    let instance = instance(&state, &slug).await?;
    let computer = agent::computer(&state, &instance, bearer(&headers)).await?;
    let req: AadRegistration = json_body(&body)?;
    agent::register_aad(&state, &instance, &computer, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn checkin(State(state): State<Shared>, Path(slug): Path<String>, headers: HeaderMap) -> Result<StatusCode> {
    let instance = instance(&state, &slug).await?;
    let computer = agent::computer(&state, &instance, bearer(&headers)).await?;
    agent::checkin(&state, &instance, &computer).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn ca_view(State(state): State<Shared>, Path(slug): Path<String>, headers: HeaderMap) -> Result<Json<ComputerCaView>> {
    let instance = instance(&state, &slug).await?;
    let computer = agent::computer(&state, &instance, bearer(&headers)).await?;
    Ok(Json(agent::ca_view(&state, &computer).await?))
}
