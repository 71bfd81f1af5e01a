//! Error bodies as their real counterparts render them.

use serde::{Deserialize, Serialize};

/// The identity platform's error body (`/oauth2/v2.0/token` and friends).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AadstsError {
    pub error: String,
    pub error_description: String,
    pub error_codes: Vec<u32>,
    pub timestamp: String,
    pub trace_id: String,
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl AadstsError {
    /// The first AADSTS code, the one clients branch on.
    pub fn code(&self) -> Option<u32> {
        self.error_codes.first().copied()
    }
}

/// Microsoft Graph / OData error body: `{"error":{"code","message","innerError"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ODataError {
    pub error: ODataErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ODataErrorDetail {
    pub code: String,
    pub message: String,
    /// `date` and `request-id` of the failed request.
    #[serde(rename = "innerError", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub inner_error: Option<serde_json::Value>,
}

impl ODataError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ODataError { error: ODataErrorDetail { code: code.into(), message: message.into(), inner_error: None } }
    }
}

/// RFC 9457 problem details, the error body of our own APIs (connector, mdm agent API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    pub const CONTENT_TYPE: &'static str = "application/problem+json";

    /// `kind` is a short slug; it becomes `urn:cloudconnector:problem:<kind>`.
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem { kind: format!("urn:cloudconnector:problem:{kind}"), title: title.into(), status, detail: Some(detail.into()) }
    }

    pub fn slug(&self) -> &str {
        self.kind.rsplit(':').next().unwrap_or(&self.kind)
    }
}
