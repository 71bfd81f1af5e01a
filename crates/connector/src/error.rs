//! The connector's one error type, rendered as RFC 9457 problem+json in one place
//! (`platform::problem`).

use axum::response::{IntoResponse, Response};
use platform::problem::{self, Refusal};
use wire::errors::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// A refusal every service of ours answers the same way (401, 403, 404, 409, 413, 422).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A consent callback that is not a consent response (no state, no tenant): 400.
    #[error("{0}")]
    BadState(String),
    /// A consent callback whose `state` matches no pending consent (unknown, used or
    /// expired): 404.
    #[error("{0}")]
    UnknownState(String),
    /// The cloud failed a call made for the caller (an outage, a throttle, a refusal of
    /// the connector's identity): 502, with what the cloud said.
    #[error("{0}")]
    Upstream(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A failure of the connector itself, keeping its cause.
    #[error("internal: {0}")]
    Internal(#[source] problem::Source),
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

impl ConnectorError {
    /// A failure of the connector itself; `e` (a message or an error) is kept as the source.
    pub fn internal(e: impl Into<problem::Source>) -> Self {
        ConnectorError::Internal(e.into())
    }
}

const NOT_APPLIED: &str = "The connector could not complete the request; it was not applied.";

impl IntoResponse for ConnectorError {
    fn into_response(self) -> Response {
        match &self {
            ConnectorError::Refused(r) => problem::response(&r.problem()),
            ConnectorError::BadState(d) => {
                problem::response(&Problem::new(400, "invalid-consent-state", "The consent response cannot be accepted", d.clone()))
            }
            ConnectorError::UnknownState(d) => {
                problem::response(&Problem::new(404, "unknown-consent-state", "The consent response matches no pending consent", d.clone()))
            }
            ConnectorError::Upstream(d) => {
                problem::response(&Problem::new(502, "cloud-failed", "The cloud failed the connector's request", d.clone()))
            }
            ConnectorError::Db(_) | ConnectorError::Internal(_) => problem::internal(&self, NOT_APPLIED),
        }
    }
}
