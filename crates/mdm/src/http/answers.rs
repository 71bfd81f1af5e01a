//! The read API's answers, typed so the OpenAPI document states their shapes. Field names
//! follow Jamf Pro's API where the real product has the same call (`totalCount`,
//! `results`), and this server's own snake_case elsewhere.

use serde::Serialize;
use serde_json::Value;

use crate::domain::settings::CaSettings;
use wire::{LinkId, TenantId};

/// `GET /api/v1/conditional-access`: the integration's settings and connection state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConditionalAccessState {
    pub instance: InstanceSummary,
    pub settings: CaSettings,
    pub status: crate::domain::settings::CaStatus,
    pub link_id: Option<LinkId>,
    pub tenant_id: Option<TenantId>,
    /// The Entra application the connection uses.
    pub application_id: Option<String>,
    /// The last Confirm or re-test, check by check.
    pub checks: Vec<wire::connector_api::Check>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstanceSummary {
    pub id: String,
    pub name: String,
    /// The server version the instance reports (`10.18.0` and later use the connector).
    pub version: String,
}

/// `GET /api/v1/conditional-access/summary`: counts of the instance's computers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliverySummary {
    pub computers: i64,
    /// Computers with at least one Entra-registered local user.
    pub registered: i64,
    /// Entra devices whose last update the cloud accepted.
    pub delivered: i64,
    /// Entra devices whose last update the cloud refused.
    pub rejected: i64,
}

/// `GET /api/v1/change-management/logs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeLog {
    /// Newest first.
    pub logs: Vec<ChangeLogEntry>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeLogEntry {
    pub id: i64,
    #[schema(format = DateTime)]
    pub date: String,
    pub username: String,
    pub object_type: String,
    pub object_name: String,
    pub action: String,
    pub details: String,
}

/// `POST /api/oauth/token`'s form body (client credentials of an API client).
/// Only its shape is used: the handler reads the form field by field, to answer each
/// missing or wrong one with its OAuth error.
#[derive(Debug, utoipa::ToSchema)]
#[expect(dead_code, reason = "the form's shape in the OpenAPI document")]
pub struct TokenRequest {
    #[schema(pattern = "^client_credentials$")]
    pub grant_type: String,
    pub client_id: String,
    pub client_secret: String,
}

/// `POST /api/oauth/token`'s answer, as Jamf Pro gives it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessToken {
    pub access_token: String,
    pub scope: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
}

/// The token endpoint's errors (RFC 6749 §5.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `unsupported_grant_type` or `invalid_client`.
    pub error: String,
    pub error_description: String,
}

/// `GET /api/v1/computers-inventory`: one page of computers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InventoryPage {
    /// Computers matching the filter, over all pages.
    #[serde(rename = "totalCount")]
    pub total_count: i64,
    /// Jamf Pro's computer record: `id`, `udid` and the sections asked for (`general`,
    /// `hardware`, `operatingSystem`, `security`, `diskEncryption`, `localUserAccounts`);
    /// sections not asked for are null (`localUserAccounts` empty).
    pub results: Vec<Value>,
}

/// `GET /api/v1/computers-inventory/{id}/history`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InventoryHistory {
    #[serde(rename = "totalCount")]
    pub total_count: i64,
    /// Newest first, at most 500.
    pub results: Vec<HistoryEntry>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// When the server received it.
    #[schema(format = DateTime)]
    pub date: String,
    /// When the Mac collected it.
    #[serde(rename = "collectedAt")]
    #[schema(format = DateTime)]
    pub collected_at: String,
    /// `full`, `partial`, `registration`, `reconcile` or `state`.
    pub kind: String,
    pub sequence: i64,
    /// Sections that changed, `all` for a first report, `none` when nothing did.
    #[serde(rename = "changedSections")]
    pub changed_sections: Vec<String>,
}

/// One value of the inventory read API's `section` parameter, for the OpenAPI document:
/// a section name of [`SECTIONS`](crate::domain::inventory_api::SECTIONS) or `ALL`, in
/// any ASCII case (as the server reads it).
pub struct SectionName;

impl utoipa::PartialSchema for SectionName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let any_case = |name: &str| -> String {
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() { format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()) } else { c.to_string() }
                })
                .collect()
        };
        let names: Vec<String> = crate::domain::inventory_api::SECTIONS.iter().chain(&["ALL"]).map(|n| any_case(n)).collect();
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(format!("^({})$", names.join("|"))))
            .into()
    }
}

impl utoipa::ToSchema for SectionName {}
