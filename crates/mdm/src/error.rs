//! The mdm's one error type, rendered in one place: problem+json for the APIs, an HTML
//! page for the console.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use wire::errors::Problem;

#[derive(Debug, thiserror::Error)]
pub enum MdmError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The connector or the cloud could not be reached or refused.
    #[error("{0}")]
    Upstream(String),
    /// The OAuth token endpoint's own error shape (`{"error", "error_description"}`).
    #[error("{error}: {description}")]
    OAuth { status: u16, error: &'static str, description: String },
    /// A console page error, shown as HTML.
    #[error("{0}")]
    Page(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = MdmError> = std::result::Result<T, E>;

impl MdmError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        MdmError::Internal(e.to_string())
    }
}

impl IntoResponse for MdmError {
    fn into_response(self) -> Response {
        let (status, slug, title) = match &self {
            MdmError::Unauthorized(_) => (401, "unauthorized", "Authentication required"),
            MdmError::Forbidden(_) => (403, "forbidden", "Not allowed"),
            MdmError::NotFound(_) => (404, "not-found", "Not found"),
            MdmError::Invalid(_) => (422, "invalid-request", "The request is not valid"),
            MdmError::Conflict(_) => (409, "conflict", "The request conflicts with the stored state"),
            MdmError::TooLarge(_) => (413, "too-large", "The request body is too large"),
            MdmError::Upstream(_) => (502, "upstream", "The connector or the cloud did not answer as expected"),
            MdmError::Page(_) => (400, "page", "Error"),
            MdmError::OAuth { status, .. } => (*status, "oauth", "OAuth error"),
            MdmError::Db(_) | MdmError::Internal(_) => (500, "internal", "Internal error"),
        };
        let detail = match &self {
            MdmError::Db(_) | MdmError::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                "The server could not complete the request; nothing was changed.".to_string()
            }
            other => other.to_string(),
        };
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let MdmError::OAuth { error, description, .. } = &self {
            let body = serde_json::json!({"error": error, "error_description": description});
            return (code, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
        }
        if let MdmError::Page(message) = &self {
            let body = platform::html::page("Error", &format!("<h1>Error</h1><p>{}</p>", platform::html::escape(message)));
            return (code, Html(body)).into_response();
        }
        let body = serde_json::to_string(&Problem::new(status, slug, title, detail)).unwrap_or_default();
        (code, [(header::CONTENT_TYPE, Problem::CONTENT_TYPE)], body).into_response()
    }
}
