//! How our own APIs (the connector's and the mdm's) refuse a request: RFC 9457 problem
//! details (`application/problem+json`, `wire::errors::Problem`), rendered in one place,
//! and the extractors whose rejections are answered in a service's own error shape.
//!
//! Each service's error type wraps a [`Refusal`] (`#[from]`) for the refusals it shares
//! with the others and keeps its own variants for the rest; the status codes of the shared
//! refusals are chosen here and nowhere else.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use wire::errors::Problem;

/// A request refused for a reason the caller can act on. The text is the problem's
/// `detail`: what was wrong and what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 401 `unauthorized`: no credential, or one that is not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`: a valid credential not allowed this.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not-found`.
    #[error("{0}")]
    NotFound(String),
    /// 422 `invalid-request`: the request is well formed but its content is not valid.
    #[error("{0}")]
    Invalid(String),
    /// 409 `conflict`: the request conflicts with the stored state.
    #[error("{0}")]
    Conflict(String),
    /// 413 `too-large`: the body is larger than the service reads.
    #[error("{0}")]
    TooLarge(String),
}

impl Refusal {
    /// The problem document of this refusal: status, `type` slug, title and detail.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = match self {
            Refusal::Unauthorized(_) => (401, "unauthorized", "Authentication required"),
            Refusal::Forbidden(_) => (403, "forbidden", "Not allowed"),
            Refusal::NotFound(_) => (404, "not-found", "Not found"),
            Refusal::Invalid(_) => (422, "invalid-request", "The request is not valid"),
            Refusal::Conflict(_) => (409, "conflict", "The request conflicts with the stored state"),
            Refusal::TooLarge(_) => (413, "too-large", "The request body is too large"),
        };
        Problem::new(status, slug, title, self.to_string())
    }
}

/// Builds a service's error from a [`Refusal`]: `MdmError::invalid("…")` reads as the
/// refusal it is. Implemented for every error type that wraps one.
pub trait Refuse: From<Refusal> {
    /// 401: no credential, or one that is not valid.
    fn unauthorized(detail: impl std::fmt::Display) -> Self {
        Refusal::Unauthorized(detail.to_string()).into()
    }
    /// 403: a valid credential not allowed this.
    fn forbidden(detail: impl std::fmt::Display) -> Self {
        Refusal::Forbidden(detail.to_string()).into()
    }
    /// 404.
    fn not_found(detail: impl std::fmt::Display) -> Self {
        Refusal::NotFound(detail.to_string()).into()
    }
    /// 422: well formed, but not valid.
    fn invalid(detail: impl std::fmt::Display) -> Self {
        Refusal::Invalid(detail.to_string()).into()
    }
    /// 409: conflicts with the stored state.
    fn conflict(detail: impl std::fmt::Display) -> Self {
        Refusal::Conflict(detail.to_string()).into()
    }
    /// 413: larger than the service reads.
    fn too_large(detail: impl std::fmt::Display) -> Self {
        Refusal::TooLarge(detail.to_string()).into()
    }
}

impl<T: From<Refusal>> Refuse for T {}

/// The `application/problem+json` response carrying `problem`, with its status.
pub fn response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(problem).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, Problem::CONTENT_TYPE)], body).into_response()
}

/// The answer to a failure of the service itself (database, a stored value that does not
/// open): logged with its whole source chain, answered with a 500 `internal` problem whose
/// detail says only that nothing was applied.
pub fn internal(error: &(dyn std::error::Error + 'static), detail: &str) -> Response {
    tracing::error!(error = %chain(error), "request failed");
    response(&Problem::new(500, "internal", "Internal error", detail))
}

/// An error with every source under it, `outer: inner: …`, for the log.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The error of a failure inside a service, keeping what caused it.
pub type Source = Box<dyn std::error::Error + Send + Sync>;

/// Declares `Path` and `Query` extractors for a service whose error type implements
/// [`crate::http::BodyRefusal`]: a path or query string that does not parse is answered
/// with the service's `unreadable` refusal instead of axum's plain-text 400. Also maps
/// axum's body rejections (413 stays 413).
#[macro_export]
macro_rules! service_extractors {
    ($error:ty) => {
        /// `Path` whose rejection is answered in this service's error shape.
        #[derive(axum::extract::FromRequestParts)]
        #[from_request(via(axum::extract::Path), rejection($error))]
        pub(crate) struct Path<T>(pub T);

        /// `Query` whose rejection is answered in this service's error shape.
        #[derive(axum::extract::FromRequestParts)]
        #[from_request(via(axum::extract::Query), rejection($error))]
        pub(crate) struct Query<T>(pub T);

        /// The request body; an oversized or unreadable one is answered in this service's
        /// shape.
        pub(crate) type Bytes = $crate::http::Body<$error>;

        impl From<axum::extract::rejection::PathRejection> for $error {
            fn from(r: axum::extract::rejection::PathRejection) -> Self {
                <$error as $crate::http::BodyRefusal>::unreadable(r.body_text())
            }
        }

        impl From<axum::extract::rejection::QueryRejection> for $error {
            fn from(r: axum::extract::rejection::QueryRejection) -> Self {
                <$error as $crate::http::BodyRefusal>::unreadable(r.body_text())
            }
        }

        impl From<axum::extract::rejection::BytesRejection> for $error {
            fn from(r: axum::extract::rejection::BytesRejection) -> Self {
                if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    <$error as $crate::http::BodyRefusal>::too_large(r.body_text())
                } else {
                    <$error as $crate::http::BodyRefusal>::unreadable(r.body_text())
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_slug() {
        let cases = [
            (Refusal::Unauthorized("a".into()), 401, "unauthorized"),
            (Refusal::Forbidden("a".into()), 403, "forbidden"),
            (Refusal::NotFound("a".into()), 404, "not-found"),
            (Refusal::Invalid("a".into()), 422, "invalid-request"),
            (Refusal::Conflict("a".into()), 409, "conflict"),
            (Refusal::TooLarge("a".into()), 413, "too-large"),
        ];
        for (refusal, status, slug) in cases {
            let p = refusal.problem();
            assert_eq!((p.status, p.slug(), p.detail.as_deref()), (status, slug, Some("a")));
        }
    }

    #[test]
    fn internal_answers_500_without_the_cause() {
        let cause = std::io::Error::other("disk full");
        let resp = internal(&cause, "Nothing was applied.");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], Problem::CONTENT_TYPE);
    }
}
