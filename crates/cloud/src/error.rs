//! The cloud's one error type and the one place it becomes an HTTP response. Each
//! surface answers the way its real counterpart does: the identity platform with AADSTS
//! JSON, Graph and the partner services with OData errors, consoles with an HTML page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use wire::errors::{AadstsError, ODataError};

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// Identity platform (token, consent) error with its AADSTS code.
    #[error("AADSTS{code}: {description}")]
    Login { status: StatusCode, error: &'static str, code: u32, description: String },
    /// Microsoft Graph, Azure AD Graph or partner-service error in OData shape.
    #[error("{code}: {message}")]
    OData { status: StatusCode, code: &'static str, message: String },
    /// Throttled: 429 with `Retry-After` seconds.
    #[error("throttled for {retry_after_s}s")]
    Throttled { retry_after_s: u64 },
    /// Test mode only: a success status with a cut-off body (an injected fault).
    #[error("injected truncated response")]
    Truncated,
    /// A console or browser page error, shown as HTML.
    #[error("{0}")]
    Page(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A failure of the cloud itself, keeping its cause.
    #[error("internal: {0}")]
    Internal(#[source] platform::problem::Source),
}

pub type Result<T, E = CloudError> = std::result::Result<T, E>;

impl CloudError {
    pub fn login(error: &'static str, code: u32, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        CloudError::Login { status, error, code, description: description.into() }
    }

    fn odata(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        CloudError::OData { status, code, message: message.into() }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::odata(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::odata(StatusCode::FORBIDDEN, "Authorization_RequestDenied", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::odata(StatusCode::NOT_FOUND, "Request_ResourceNotFound", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::odata(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 400 with a code of its own (`Request_BadRequest`, `InvalidFilter`, …).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::odata(StatusCode::BAD_REQUEST, code, message)
    }

    /// 403 with a code of its own (`PartnerTerminated`, …).
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Self::odata(StatusCode::FORBIDDEN, code, message)
    }

    /// 409: the request conflicts with the stored state (`Conflict`, `MessageIdConflict`, …).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::odata(StatusCode::CONFLICT, code, message)
    }

    /// 413: more than the service takes (`RequestEntityTooLarge`, `TooManyItems`).
    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::odata(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    /// 405: Graph's answer to a method the resource does not have.
    pub fn method_not_allowed() -> Self {
        Self::odata(StatusCode::METHOD_NOT_ALLOWED, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
    }

    /// 503: the service is temporarily unavailable.
    pub fn unavailable() -> Self {
        Self::odata(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The service is temporarily unavailable.")
    }

    /// A failure of the cloud itself; `e` (a message or an error) is kept as the source.
    pub fn internal(e: impl Into<platform::problem::Source>) -> Self {
        CloudError::Internal(e.into())
    }
}

impl IntoResponse for CloudError {
    fn into_response(self) -> Response {
        match self {
            CloudError::Login { status, error, code, description } => {
                let now = chrono::Utc::now();
                let trace_id = uuid::Uuid::new_v4().to_string();
                let correlation_id = uuid::Uuid::new_v4().to_string();
                let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
                let body = AadstsError {
                    error: error.to_string(),
                    error_description: format!(
                        "AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
                    ),
                    error_codes: vec![code],
                    timestamp,
                    trace_id,
                    correlation_id,
                    error_uri: Some(format!("https://login.microsoftonline.com/error?code={code}")),
                };
                (status, axum::Json(body)).into_response()
            }
            CloudError::OData { status, code, message } => {
                let mut body = ODataError::new(code, message);
                body.error.inner_error = Some(serde_json::json!({
                    "date": platform::clock::rfc3339(chrono::Utc::now()),
                    "request-id": uuid::Uuid::new_v4().to_string(),
                }));
                (status, axum::Json(body)).into_response()
            }
            CloudError::Throttled { retry_after_s } => {
                let body = ODataError::new(
                    "TooManyRequests",
                    "Too many requests from this application for this tenant. Retry after the given delay.",
                );
                let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
                resp
            }
            CloudError::Truncated => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{\"Status\": \"Pend").into_response(),
            CloudError::Page(message) => (
                StatusCode::BAD_REQUEST,
                Html(platform::html::page(
                    "Sign in",
                    platform::html::html! { h1 { "Sorry, but we're having trouble signing you in." } p { (message) } },
                )),
            )
                .into_response(),
            e @ (CloudError::Db(_) | CloudError::Internal(_)) => {
                tracing::error!(error = %platform::problem::chain(&e), "request failed");
                let body = ODataError::new("InternalServerError", "The service encountered an internal error.");
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
            }
        }
    }
}
