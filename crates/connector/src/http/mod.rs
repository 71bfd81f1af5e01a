//! HTTP surface of the connector: the instance API (`/api/v1`), the browser-facing consent
//! callback and landing-page routing, and health endpoints.

mod api;
mod browser;
mod callers;
mod console;
mod openapi;
mod operator;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use platform::problem::Refuse;

use crate::Shared;
use crate::error::ConnectorError;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/v1/instances", post(api::register_instance))
        .route("/api/v1/links", post(api::start_link))
        .route("/api/v1/links/current", get(api::current_link))
        .route("/api/v1/links/{id}/confirm", post(api::confirm))
        .route("/api/v1/links/{id}/health-check", post(api::health_check))
        .route("/api/v1/links/{id}/disconnect", post(api::disconnect))
        .route("/api/v1/inventory", post(api::inventory))
        .route("/api/v1/outcomes", get(api::outcomes))
        .route("/api/v1/links/{id}/reconcile", post(operator::instance_reconcile))
        .route("/api/v1/dead-letters", get(operator::instance_dead_letters))
        .route("/api/v1/dead-letters/replay", post(operator::instance_replay))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/compliance-preview", post(api::compliance_preview))
        .route("/api/v1/devices/{device_id}", get(operator::instance_trace))
        .route("/api/v1/operator/links", get(operator::links))
        .route("/api/v1/operator/links/{id}/reconcile", post(operator::reconcile))
        .route("/api/v1/operator/links/{id}/health-check", post(operator::health_check))
        .route("/api/v1/operator/dead-letters", get(operator::dead_letters))
        .route("/api/v1/operator/dead-letters/replay", post(operator::replay_dead_letters))
        .route("/api/v1/operator/devices/{device_id}", get(operator::trace))
        .route("/metrics", get(api::metrics))
        .route(console::PAGE, get(console::links))
        .route("/operator/login", post(console::login))
        .route("/operator/logout", post(console::logout))
        .route("/operator/links/{id}/health-check", post(console::retest))
        .route("/operator/links/{id}/reconcile", post(console::reconcile))
        .route("/onboarding/callback", get(browser::consent_callback))
        .route("/route/{tenant}/{purpose}", get(browser::route))
        .route("/openapi.json", get(platform::openapi::document::<openapi::ApiDoc>))
        .route("/health/live", get(platform::openapi::live))
        .route("/health/ready", get(platform::openapi::ready::<Shared, crate::AppState>))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(BODY_LIMIT, platform::http::buffer_body::<ConnectorError>))
        .layer(axum::middleware::from_fn(in_request_span))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.metrics.http.clone(), platform::metrics::track))
        .with_state(state)
}

/// Every log line written while a request is handled names its method, path and (once
/// authenticated) the instance.
async fn in_request_span(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use tracing::Instrument;
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), instance = tracing::field::Empty);
    next.run(req).instrument(span).await
}

platform::service_extractors!(ConnectorError);

async fn not_found() -> ConnectorError {
    ConnectorError::not_found("No such endpoint.")
}

/// The largest request body the connector reads.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

impl platform::http::BodyRefusal for ConnectorError {
    fn too_large(why: String) -> Self {
        platform::problem::Refusal::TooLarge(why).into()
    }

    fn unreadable(why: String) -> Self {
        platform::problem::Refusal::Invalid(why).into()
    }
}
