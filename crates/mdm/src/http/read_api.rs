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

/// `POST /api/oauth/token`: client credentials of an API client of the instance.
pub async fn oauth_token(State(state): State<Shared>, Path(slug): Path<String>, body: crate::http::Bytes) -> Result<Json<Value>> {
    let instance = instance(&state, &slug).await?;
    let f: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if f.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(MdmError::OAuth {
            status: 400,
            error: "unsupported_grant_type",
            description: "grant_type must be client_credentials".into(),
        });
    }
    let (Some(id), Some(secret)) = (f.get("client_id"), f.get("client_secret")) else {
        return Err(MdmError::OAuth {
            status: 400,
            error: "invalid_request",
            description: "client_id and client_secret are required".into(),
        });
    };
    let stored = state.store.api_client_secret(&instance.id, id).await?;
    if stored.as_deref() != Some(platform::secrets::digest_hex(secret).as_str()) {
        return Err(MdmError::OAuth { status: 401, error: "invalid_client", description: "the client credentials are not valid".into() });
    }
    let token = platform::secrets::random_token(32);
    let lifetime_s = 1799;
    state
        .store
        .insert_api_token(&platform::secrets::digest_hex(&token), id, &instance.id, state.clock.now_ms() + lifetime_s * 1000)
        .await?;
    Ok(Json(json!({"access_token": token, "scope": "api-role:inventory-read", "token_type": "Bearer", "expires_in": lifetime_s})))
}

/// A reader of inventory: an API client's bearer token, or an admin's Basic credentials.
async fn api_reader(state: &Shared, instance: &crate::store::InstanceRow, headers: &HeaderMap) -> Result<()> {
    match super::bearer(headers) {
        Some(token) if state.store.api_token_valid(&platform::secrets::digest_hex(token), &instance.id, state.clock.now_ms()).await? => {
            Ok(())
        }
        Some(_) => Err(MdmError::Unauthorized("The access token is not valid or has expired.".into())),
        None => basic_admin(state, instance, headers).await.map(|_| ()),
    }
}

/// `GET /api/v1/computers-inventory/{id}/history`: the computer's inventory updates, newest first.
pub async fn inventory_history(
    State(state): State<Shared>,
    Path((slug, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let instance = instance(&state, &slug).await?;
    api_reader(&state, &instance, &headers).await?;
    let computer = state.store.computer(&instance.id, id).await?.ok_or_else(|| MdmError::NotFound(format!("No computer {id}.")))?;
    let rows = state.store.inventory_history(computer.id, 500).await?;
    let ms = platform::clock::ms_to_rfc3339;
    Ok(Json(json!({"totalCount": rows.len(), "results": rows.iter().map(|h| json!({
        "date": ms(h.received_ms), "collectedAt": ms(h.collected_ms), "kind": h.kind, "sequence": h.sequence,
        "changedSections": h.changed.split(',').collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})))
}

/// `GET /api/v1/computers-inventory`: an API client's bearer token (or an admin's Basic).
pub async fn computers_inventory(
    State(state): State<Shared>,
    Path(slug): Path<String>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let instance = instance(&state, &slug).await?;
    let now = state.clock.now_ms();
    api_reader(&state, &instance, &headers).await?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let (query, sections) = crate::domain::inventory_api::parse(&pairs).map_err(MdmError::Invalid)?;
    let (rows, total) = state.store.computers_page(&instance.id, &query).await?;
    let mut results = Vec::with_capacity(rows.len());
    for c in &rows {
        let users =
            if sections.iter().any(|s| s == "LOCAL_USER_ACCOUNTS" || s == "ALL") { state.store.local_users(c.id).await? } else { vec![] };
        results.push(crate::domain::inventory_api::computer_json(c, &users, &sections, now));
    }
    Ok(Json(json!({"totalCount": total, "results": results})))
}

/// `POST /api/v1/computers-inventory/import`: one page of a Jamf Pro server's
/// `GET /api/v1/computers-inventory` answer, taken in by an admin (HTTP Basic). Answers
/// what became of each record; records that cannot be read are refused one by one.
pub async fn import_jamf(
    State(state): State<Shared>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: crate::http::Bytes,
) -> Result<Json<Value>> {
    let instance = instance(&state, &slug).await?;
    let admin = basic_admin(&state, &instance, &headers).await?;
    let page: Value = super::json_body(&body)?;
    let summary = crate::import::page(&state, &instance, &page, &admin.username).await?;
    Ok(Json(serde_json::to_value(summary).map_err(MdmError::internal)?))
}
