//! The mdm's one error type, rendered in one place: problem+json for the APIs
//! (`platform::problem`), the OAuth shape for the token endpoint, an HTML page for the
//! console.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use platform::problem::{self, Refusal};
use wire::errors::Problem;

#[derive(Debug, thiserror::Error)]
pub enum MdmError {
    /// A refusal every service of ours answers the same way (401, 403, 404, 409, 413, 422).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The connector or the cloud could not be reached or refused: 502.
    #[error("{0}")]
    Upstream(String),
    /// The OAuth token endpoint's own error shape (`{"error", "error_description"}`).
    #[error("{error}: {description}")]
    OAuth { status: u16, error: &'static str, description: String },
    /// A console page error, shown as HTML: 400.
    #[error("{0}")]
    Page(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A failure of the mdm itself, keeping its cause.
    #[error("internal: {0}")]
    Internal(#[source] problem::Source),
}

pub type Result<T, E = MdmError> = std::result::Result<T, E>;

impl MdmError {
    /// A failure of the mdm itself; `e` (a message or an error) is kept as the source.
    pub fn internal(e: impl Into<problem::Source>) -> Self {
        MdmError::Internal(e.into())
    }
}

impl IntoResponse for MdmError {
    fn into_response(self) -> Response {
        match &self {
            MdmError::Refused(r) => problem::response(&r.problem()),
            MdmError::Upstream(d) => {
                problem::response(&Problem::new(502, "upstream", "The connector or the cloud did not answer as expected", d.clone()))
            }
            MdmError::OAuth { status, error, description } => {
                let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
                let body = serde_json::json!({"error": error, "error_description": description});
                (code, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
            }
            MdmError::Page(message) => {
                let body = platform::html::page("Error", platform::html::html! { h1 { "Error" } p { (message) } });
                (StatusCode::BAD_REQUEST, Html(body)).into_response()
            }
            MdmError::Db(_) | MdmError::Internal(_) => {
                problem::internal(&self, "The server could not complete the request; nothing was changed.")
            }
        }
    }
}
