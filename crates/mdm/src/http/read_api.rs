//! A read API for tools and tests (HTTP Basic with an admin account).

use super::{Path, Query};
use axum::Json;
use axum::extract::State;
use platform::problem::Refuse;
use serde_json::Value;
use wire::errors::Problem;

use super::answers::{
    AccessToken, ChangeLog, ChangeLogEntry, ConditionalAccessState, DeliverySummary, HistoryEntry, InstanceSummary, InventoryHistory,
    InventoryPage, OAuthError, SectionName, TokenRequest,
};
use super::callers::{BasicAdmin, Instance, InventoryReader};
use crate::error::{MdmError, Result};
use crate::import::ImportSummary;
use crate::{Shared, agent, integration};

/// `GET /api/v1/conditional-access`
#[utoipa::path(get, path = "/i/{slug}/api/v1/conditional-access", tag = "read",
    summary = "The macOS Intune integration's settings and connection state",
    description = "Asks the connector for the link's current state first; when the connector cannot be reached, the stored state is given.",
    params(("slug" = String, Path, description = "The instance's path name.")),
    responses((status = 200, description = "The state.", body = ConditionalAccessState), (status = 401, description = "Admin credentials (HTTP Basic) are missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json")),
    security(("admin_basic" = [])))]
pub async fn conditional_access(
    State(state): State<Shared>,
    BasicAdmin { instance, admin: _ }: BasicAdmin,
) -> Result<Json<ConditionalAccessState>> {
    let (ca, view) = integration::refresh(&state, &instance).await?;
    Ok(Json(ConditionalAccessState {
        instance: InstanceSummary { id: instance.id.clone(), name: instance.name.clone(), version: instance.version.clone() },
        status: ca.link_status,
        link_id: ca.link_id,
        tenant_id: view.as_ref().and_then(|v| v.tenant_id.clone()),
        application_id: view.as_ref().map(|v| v.application_id.clone()),
        checks: serde_json::from_str(&ca.checks).unwrap_or_default(),
        settings: ca.settings,
    }))
}

/// `GET /api/v1/conditional-access/summary`
#[utoipa::path(get, path = "/i/{slug}/api/v1/conditional-access/summary", tag = "read",
    summary = "How many computers are registered and delivered",
    params(("slug" = String, Path, description = "The instance's path name.")),
    responses((status = 200, description = "The counts.", body = DeliverySummary), (status = 401, description = "Admin credentials (HTTP Basic) are missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json")),
    security(("admin_basic" = [])))]
pub async fn summary(State(state): State<Shared>, BasicAdmin { instance, admin: _ }: BasicAdmin) -> Result<Json<DeliverySummary>> {
    let (computers, registered, delivered, rejected) = state.store.delivery_summary(&instance.id).await?;
    Ok(Json(DeliverySummary { computers, registered, delivered, rejected }))
}

/// `GET /api/v1/computers/{id}/conditional-access`
#[utoipa::path(get, path = "/i/{slug}/api/v1/computers/{id}/conditional-access", tag = "read",
    summary = "A computer's Local User Accounts Conditional Access fields",
    params(("slug" = String, Path, description = "The instance's path name."), ("id" = i64, Path, description = "The computer's ID.")),
    responses((status = 200, description = "The computer's users.", body = wire::agent::ComputerCaView), (status = 401, description = "Admin credentials (HTTP Basic) are missing or not valid.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such instance or computer.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The ID is not a whole number.", body = Problem, content_type = "application/problem+json")),
    security(("admin_basic" = [])))]
pub async fn computer_ca(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, i64)>,
    BasicAdmin { instance, admin: _ }: BasicAdmin,
) -> Result<Json<wire::agent::ComputerCaView>> {
    let computer = state.store.computer(&instance.id, id).await?.ok_or_else(|| MdmError::not_found(format!("No computer {id}.")))?;
    Ok(Json(agent::ca_view(&state, &computer).await?))
}

/// An unknown parameter is refused (422) rather than ignored, so a misspelt one is seen.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    object_type: Option<String>,
}

/// `GET /api/v1/change-management/logs`
#[utoipa::path(get, path = "/i/{slug}/api/v1/change-management/logs", tag = "read",
    summary = "The change-management log, newest first",
    params(("slug" = String, Path, description = "The instance's path name."), ("object_type" = Option<String>, Query, description = "Only entries of this object type (`Conditional Access`, `Computers`, …).")),
    responses((status = 200, description = "The entries.", body = ChangeLog), (status = 401, description = "Admin credentials (HTTP Basic) are missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown query parameter.", body = Problem, content_type = "application/problem+json")),
    security(("admin_basic" = [])))]
pub async fn change_log(
    State(state): State<Shared>,
    Query(q): Query<LogQuery>,
    BasicAdmin { instance, admin: _ }: BasicAdmin,
) -> Result<Json<ChangeLog>> {
    let rows = state.store.change_log(&instance.id, q.object_type.as_deref().unwrap_or("")).await?;
    let logs = rows
        .into_iter()
        .map(|r| ChangeLogEntry {
            id: r.id,
            date: platform::clock::ms_to_rfc3339(r.at_ms),
            username: r.username,
            object_type: r.object_type,
            object_name: r.object_name,
            action: r.action,
            details: r.details,
        })
        .collect();
    Ok(Json(ChangeLog { logs }))
}

/// `POST /api/oauth/token`: client credentials of an API client of the instance.
#[utoipa::path(post, path = "/i/{slug}/api/oauth/token", tag = "read",
    summary = "An access token for an API client (client credentials)",
    description = "As Jamf Pro: an API client made under Settings › API roles and clients gets a bearer token for the inventory read API, valid 1,799 s.",
    params(("slug" = String, Path, description = "The instance's path name.")),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The token.", body = AccessToken),
        (status = 400, description = "A parameter is missing (`invalid_request`) or `grant_type` is not `client_credentials` (`unsupported_grant_type`).", body = OAuthError),
        (status = 401, description = "The client credentials are not valid (`invalid_client`).", body = OAuthError),
        (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json")))]
pub async fn oauth_token(State(state): State<Shared>, Instance(instance): Instance, body: crate::http::Bytes) -> Result<Json<AccessToken>> {
    let f: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let oauth = |status, error, description: &str| MdmError::OAuth { status, error, description: description.into() };
    let (Some(grant), Some(id), Some(secret)) = (f.get("grant_type"), f.get("client_id"), f.get("client_secret")) else {
        return Err(oauth(400, "invalid_request", "grant_type, client_id and client_secret are required"));
    };
    if grant != "client_credentials" {
        return Err(oauth(400, "unsupported_grant_type", "grant_type must be client_credentials"));
    }
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
    Ok(Json(AccessToken {
        access_token: token,
        scope: "api-role:inventory-read".into(),
        token_type: "Bearer".into(),
        expires_in: lifetime_s,
    }))
}

/// `GET /api/v1/computers-inventory/{id}/history`: the computer's inventory updates, newest first.
#[utoipa::path(get, path = "/i/{slug}/api/v1/computers-inventory/{id}/history", tag = "read",
    summary = "A computer's inventory updates, newest first",
    params(("slug" = String, Path, description = "The instance's path name."), ("id" = i64, Path, description = "The computer's ID.")),
    responses((status = 200, description = "The updates.", body = InventoryHistory), (status = 401, description = "Neither a valid API client token nor admin credentials (HTTP Basic).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such instance or computer.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The ID is not a whole number.", body = Problem, content_type = "application/problem+json")),
    security(("api_token" = []), ("admin_basic" = [])))]
pub async fn inventory_history(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, i64)>,
    InventoryReader(instance): InventoryReader,
) -> Result<Json<InventoryHistory>> {
    let computer = state.store.computer(&instance.id, id).await?.ok_or_else(|| MdmError::not_found(format!("No computer {id}.")))?;
    let rows = state.store.inventory_history(computer.id, 500).await?;
    let ms = platform::clock::ms_to_rfc3339;
    let results: Vec<HistoryEntry> = rows
        .into_iter()
        .map(|h| HistoryEntry {
            date: ms(h.received_ms),
            collected_at: ms(h.collected_ms),
            changed_sections: h.changed.split(',').map(str::to_string).collect(),
            kind: h.kind,
            sequence: h.sequence,
        })
        .collect();
    Ok(Json(InventoryHistory { total_count: results.len() as i64, results }))
}

/// `GET /api/v1/computers-inventory`: an API client's bearer token (or an admin's Basic).
#[utoipa::path(get, path = "/i/{slug}/api/v1/computers-inventory", tag = "read",
    summary = "Computers, a page at a time, as Jamf Pro's API gives them",
    params(("slug" = String, Path, description = "The instance's path name."),
        ("page" = Option<i64>, Query, minimum = 0, description = "Page number from 0; a page past the last is empty."),
        ("page-size" = Option<i64>, Query, minimum = 1, maximum = 2000, description = "Computers per page (default 100)."),
        ("sort" = Option<String>, Query, pattern = "^(id|general\\.name|hardware\\.serialNumber)(:(asc|desc))?$", description = "`field:asc|desc` on `id`, `general.name` or `hardware.serialNumber` (default `general.name:asc`)."),
        ("filter" = Option<String>, Query, max_length = 4096, pattern = r##"^[ \t\r\n]*((general\.name|hardware\.serialNumber|udid)==("([^"\\]|\\[\s\S])*"|'([^'\\]|\\[\s\S])*'|[^"'();,=!~<> \t\r\n]+)([ \t\r\n]*;[ \t\r\n]*(general\.name|hardware\.serialNumber|udid)==("([^"\\]|\\[\s\S])*"|'([^'\\]|\\[\s\S])*'|[^"'();,=!~<> \t\r\n]+))*)?[ \t\r\n]*$"##, description = "RSQL as Jamf Pro reads it: `==` comparisons on `general.name`, `hardware.serialNumber` or `udid`, joined by `;` (and); values bare or in quotes, matched exactly. Parentheses around such joins are read as well (`;(udid==X)`), though the pattern leaves them out."),
        ("section" = Option<Vec<SectionName>>, Query, explode = true, description = "Sections to fill, any of GENERAL, HARDWARE, OPERATING_SYSTEM, SECURITY, DISK_ENCRYPTION, LOCAL_USER_ACCOUNTS or ALL, in any case (default GENERAL).")),
    responses((status = 200, description = "One page.", body = InventoryPage), (status = 401, description = "Neither a valid API client token nor admin credentials (HTTP Basic).", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter breaks a rule above (see `detail`).", body = Problem, content_type = "application/problem+json")),
    security(("api_token" = []), ("admin_basic" = [])))]
pub async fn computers_inventory(
    State(state): State<Shared>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    InventoryReader(instance): InventoryReader,
) -> Result<Json<InventoryPage>> {
    let now = state.clock.now_ms();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let (query, sections) = crate::domain::inventory_api::parse(&pairs).map_err(MdmError::invalid)?;
    let (rows, total) = state.store.computers_page(&instance.id, &query).await?;
    let mut results = Vec::with_capacity(rows.len());
    for c in &rows {
        let users =
            if sections.iter().any(|s| s == "LOCAL_USER_ACCOUNTS" || s == "ALL") { state.store.local_users(c.id).await? } else { vec![] };
        results.push(crate::domain::inventory_api::computer_json(c, &users, &sections, now));
    }
    Ok(Json(InventoryPage { total_count: total, results }))
}

/// `POST /api/v1/computers-inventory/import`: one page of a Jamf Pro server's
/// `GET /api/v1/computers-inventory` answer, taken in by an admin (HTTP Basic). Answers
/// what became of each record; records that cannot be read are refused one by one.
#[utoipa::path(post, path = "/i/{slug}/api/v1/computers-inventory/import", tag = "read",
    summary = "Take in a page of a Jamf Pro server's computers inventory",
    description = "Each record (sections GENERAL, HARDWARE, OPERATING_SYSTEM, SECURITY, DISK_ENCRYPTION, LOCAL_USER_ACCOUNTS, USER_AND_LOCATION) is read like an agent's report; one that cannot be read is refused on its own and named in `refused`.",
    params(("slug" = String, Path, description = "The instance's path name.")),
    request_body = JamfPage,
    responses((status = 200, description = "What became of each record.", body = ImportSummary), (status = 401, description = "Admin credentials (HTTP Basic) are missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than 64 MiB.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a page (`results` array of at most 2,000 records).", body = Problem, content_type = "application/problem+json")),
    security(("admin_basic" = [])))]
pub async fn import_jamf(
    State(state): State<Shared>,
    BasicAdmin { instance, admin }: BasicAdmin,
    body: crate::http::Bytes,
) -> Result<Json<ImportSummary>> {
    let page: Value = super::json_body(&body)?;
    Ok(Json(crate::import::page(&state, &instance, &page, &admin.username).await?))
}

/// A page of Jamf Pro's `GET /api/v1/computers-inventory` answer.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "the page's shape in the OpenAPI document")]
struct JamfPage {
    /// Read as Jamf Pro gives it and otherwise unused (each record stands alone).
    #[schema(rename = "totalCount", minimum = 0)]
    total_count: Option<i64>,
    /// Jamf Pro computer records; each is read on its own.
    #[schema(max_items = 2000)]
    results: Vec<Value>,
}

/// The body of `POST /api/v1/compliance-preview`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct PreviewBody {
    /// Draft macOS compliance policies in Graph's shape (`displayName`, settings such as
    /// `osMinimumVersion`); absent: the tenant's policies.
    #[schema(value_type = Option<Vec<wire::partner::DraftPolicy>>, min_items = 1)]
    policies: Option<Vec<Value>>,
}

/// The answer format of the preview.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewFormat {
    /// `json` (default) or `csv` (one row per Mac).
    #[param(inline)]
    format: Option<PreviewFormatKind>,
}

/// The preview's answer format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PreviewFormatKind {
    Json,
    Csv,
}

/// `POST /api/v1/compliance-preview`: what Intune would decide for every Mac of the
/// instance, under the tenant's policies or drafts (`mdm::preview`).
#[utoipa::path(post, path = "/i/{slug}/api/v1/compliance-preview", tag = "read",
    summary = "Preview what Intune's compliance policies would decide for this fleet",
    description = "Every Mac with an inventory (an agent's or a Jamf Pro import's) is evaluated by Intune, through the connector, under the drafts given or else the tenant's macOS compliance policies. Nothing is stored or sent as inventory. An empty body previews the tenant's policies.",
    params(("slug" = String, Path, description = "The instance's path name."), PreviewFormat),
    request_body = Option<PreviewBody>,
    responses((status = 200, description = "The preview (JSON, or CSV with `format=csv`).",
            content((crate::preview::FleetPreview = "application/json"), (String = "text/csv"))),
        (status = 401, description = "Credentials are missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The instance has no active connection to Intune.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body or a draft is not valid, the format is unknown, or no Mac has an inventory (`detail` says which).", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The connector or Intune did not answer.", body = Problem, content_type = "application/problem+json")),
    security(("api_token" = []), ("admin_basic" = [])))]
pub async fn compliance_preview(
    State(state): State<Shared>,
    InventoryReader(instance): InventoryReader,
    Query(q): Query<PreviewFormat>,
    body: crate::http::Bytes,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let csv = q.format == Some(PreviewFormatKind::Csv);
    // No body, or JSON `null`: the tenant's policies.
    let body: PreviewBody = if body.is_empty() || body.trim_ascii() == b"null" { PreviewBody::default() } else { super::json_body(&body)? };
    let preview = crate::preview::run(&state, &instance, body.policies).await?;
    Ok(if csv {
        ([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], preview.to_csv()).into_response()
    } else {
        Json(preview).into_response()
    })
}
