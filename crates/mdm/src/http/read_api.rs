//! A read API for tools and tests (HTTP Basic with an admin account).

use super::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::{basic_admin, instance};
use crate::error::{MdmError, Result};
use crate::{Shared, agent, integration};

pub async fn conditional_access(State(state): State<Shared>, Path(slug): Path<String>, headers: HeaderMap) -> Result<Json<Value>> {
    let instance = instance(&state, &slug).await?;
    basic_admin(&state, &instance, &headers).await?;
    let (ca, view) = integration::refresh(&state, &instance).await?;
    Ok(Json(json!({
        "instance": {"id": instance.id, "name": instance.name, "version": instance.version},
        "settings": ca.settings,
        "status": ca.link_status,
        "link_id": ca.link_id,
        "tenant_id": view.as_ref().and_then(|v| v.tenant_id.clone()),
        "application_id": view.as_ref().map(|v| v.application_id.clone()),
        "checks": serde_json::from_str::<Value>(&ca.checks).unwrap_or(json!([])),
    })))
}

pub async fn summary(State(state): State<Shared>, Path(slug): Path<String>, headers: HeaderMap) -> Result<Json<Value>> {
    let instance = instance(&state, &slug).await?;
    basic_admin(&state, &instance, &headers).await?;
    let (computers, registered, accepted, rejected) = state.store.delivery_summary(&instance.id).await?;
    Ok(Json(json!({"computers": computers, "registered": registered, "delivered": accepted, "rejected": rejected})))
}

pub async fn computer_ca(
    State(state): State<Shared>,
    Path((slug, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Json<wire::agent::ComputerCaView>> {
    let instance = instance(&state, &slug).await?;
    basic_admin(&state, &instance, &headers).await?;
    let computer = state.store.computer(&instance.id, id).await?.ok_or_else(|| MdmError::NotFound(format!("No computer {id}.")))?;
    Ok(Json(agent::ca_view(&state, &computer).await?))
}

#[derive(serde::Deserialize)]
pub struct LogQuery {
    object_type: Option<String>,
}

pub async fn change_log(
    State(state): State<Shared>,
    Path(slug): Path<String>,
    Query(q): Query<LogQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let instance = instance(&state, &slug).await?;
    basic_admin(&state, &instance, &headers).await?;
    let rows = state.store.change_log(&instance.id, q.object_type.as_deref().unwrap_or("")).await?;
    Ok(Json(json!({"logs": rows.iter().map(|r| json!({
        "id": r.id, "date": platform::clock::ms_to_rfc3339(r.at_ms), "username": r.username, "object_type": r.object_type,
        "object_name": r.object_name, "action": r.action, "details": r.details,
    })).collect::<Vec<_>>()})))
}
