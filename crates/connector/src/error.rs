//! The connector's one error type, rendered as RFC 9457 problem+json in one place.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use wire::errors::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
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
    /// A consent callback that is not a consent response (no state, no tenant).
    #[error("{0}")]
    BadState(String),
    /// A consent callback whose `state` matches no pending consent (unknown, used or
    /// expired).
    #[error("{0}")]
    UnknownState(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

impl ConnectorError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ConnectorError::Internal(e.to_string())
    }

    fn problem(&self) -> Problem {
        let (status, slug, title) = match self {
            ConnectorError::Unauthorized(_) => (401, "unauthorized", "Authentication required"),
            ConnectorError::Forbidden(_) => (403, "forbidden", "Not allowed"),
            ConnectorError::NotFound(_) => (404, "not-found", "Not found"),
            ConnectorError::Invalid(_) => (422, "invalid-request", "The request is not valid"),
            ConnectorError::Conflict(_) => (409, "conflict", "The request conflicts with the current state"),
            ConnectorError::TooLarge(_) => (413, "too-large", "The request body is too large"),
            ConnectorError::BadState(_) => (400, "invalid-consent-state", "The consent response cannot be accepted"),
            ConnectorError::UnknownState(_) => (404, "unknown-consent-state", "The consent response matches no pending consent"),
            ConnectorError::Db(_) | ConnectorError::Internal(_) => (500, "internal", "Internal error"),
        };
        let detail = match self {
            ConnectorError::Db(_) | ConnectorError::Internal(_) => {
                "The connector could not complete the request; it was not applied.".to_string()
            }
            other => other.to_string(),
        };
        Problem::new(status, slug, title, detail)
    }
}

impl IntoResponse for ConnectorError {
    fn into_response(self) -> Response {
        if matches!(self, ConnectorError::Db(_) | ConnectorError::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        let problem = self.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&problem).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, Problem::CONTENT_TYPE)], body).into_response()
    }
}
