//! HTTP handlers of the cloud, one module per surface; they translate requests into calls
//! of the `entra` and `intune` modules and never hold business rules themselves.

mod aad_graph;
mod admin_consent;
mod authorize;
mod console;
mod discovery;

pub use console::PARTNER_PAGE;
mod enrollment;
mod graph;
mod login;
mod openapi;
mod partner_api;
mod session;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};

use crate::Shared;
use crate::entra::tokens::{AccessClaims, TokenError};
use crate::error::{CloudError, Result};

/// Path prefix of a tenant's partner services (like `fef.<unit>.manage.microsoft.com/…`).
pub const PARTNER_PREFIX: &str = "/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI";

pub fn router(state: Shared) -> Router {
    // The token endpoints answer with the caller's `client-request-id` as correlation.
    let tokens = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(login::token_v2))
        .route("/{tenant}/oauth2/token", post(login::token_v1))
        .layer(axum::middleware::from_fn(correlation));
    let mut router = Router::new()
        .merge(tokens)
        // Identity platform.
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery::openid_configuration_v2))
        .route("/{tenant}/.well-known/openid-configuration", get(discovery::openid_configuration_v1))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::jwks_v2))
        .route("/{tenant}/discovery/keys", get(discovery::jwks_v1))
        .route("/{tenant}/adminconsent", get(admin_consent::admin_consent))
        .route("/{tenant}/v2.0/adminconsent", get(admin_consent::admin_consent))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize_v2))
        .route("/{tenant}/oauth2/authorize", get(authorize::authorize_v1))
        .route("/authorize/{request}/signin", post(authorize::sign_in))
        .route("/consent/{request}/signin", post(admin_consent::consent_sign_in))
        .route("/consent/{request}/decide", post(admin_consent::consent_decide))
        // Device registration service (Workplace Join).
        .route("/EnrollmentServer/device/", post(enrollment::register_device))
        // Microsoft Graph and the legacy Azure AD Graph.
        .nest("/graph", graph::router())
        .route("/aadgraph/{tenant}/servicePrincipalsByAppId/{app_id}/serviceEndpoints", get(aad_graph::service_endpoints))
        // Intune partner services, per tenant.
        .route(
            &format!("{PARTNER_PREFIX}/StatelessPartnerTenantDataSyncService/{{resource}}"),
            put(partner_api::tenant_data_sync).post(partner_api::create_partner_policy).get(partner_api::list_partner_policies),
        )
        .route(
            &format!("{PARTNER_PREFIX}/StatelessPartnerTenantDataSyncService/{{resource}}/Assign"),
            post(partner_api::assign_partner_policy),
        )
        .route(
            &format!("{PARTNER_PREFIX}/StatelessPartnerDeviceDataSyncService/{{resource}}"),
            put(partner_api::upload).get(partner_api::upload_status).post(partner_api::compliance_preview),
        )
        // Admin consoles (Entra admin center, Intune admin center).
        .merge(console::router())
        .route("/openapi.json", get(platform::openapi::document::<openapi::ApiDoc>))
        .route("/health/live", get(platform::openapi::live))
        .route("/health/ready", get(platform::openapi::ready::<Shared, crate::AppState>))
        .route("/metrics", get(platform::metrics::serve::<Shared, crate::AppState>));
    if state.clock.is_adjustable() {
        router = router.route("/_test/clock/advance", post(advance_clock)).route("/_test/faults", post(plan_faults).get(fault_arrivals));
    }
    const BODY_LIMIT: usize = crate::intune::uploads::MAX_BODY_BYTES + 1024;
    let http_metrics = state.metrics.http.clone();
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(BODY_LIMIT, platform::http::buffer_body::<CloudError>))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(http_metrics, platform::metrics::track))
        .with_state(state)
}

/// The identity platform names a request by the caller's `client-request-id` when it
/// sent one: echoed as a header and, on an error, as its `correlation_id`.
async fn correlation(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::header::HeaderValue;
    let client = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok())
        .map(str::to_string);
    let resp = next.run(req).await;
    let Some(client) = client else { return resp };
    let (mut parts, body) = resp.into_parts();
    let body = if parts.status.is_success() {
        body
    } else {
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(mut error) if error.get("correlation_id").is_some() => {
                let old = error["correlation_id"].as_str().unwrap_or_default().to_string();
                if let Some(d) = error["error_description"].as_str() {
                    error["error_description"] = serde_json::json!(d.replace(&old, &client));
                }
                error["correlation_id"] = serde_json::json!(client);
                parts.headers.remove(axum::http::header::CONTENT_LENGTH);
                axum::body::Body::from(serde_json::to_vec(&error).unwrap_or_default())
            }
            _ => axum::body::Body::from(bytes),
        }
    };
    if let Ok(v) = HeaderValue::from_str(&client) {
        parts.headers.insert("client-request-id", v);
    }
    axum::response::Response::from_parts(parts, body)
}

#[derive(serde::Deserialize)]
struct Advance {
    seconds: i64,
}

/// Moves a test clock forward; absent from the router of a production start.
async fn advance_clock(State(state): State<Shared>, Json(a): Json<Advance>) -> Json<serde_json::Value> {
    let moved = state.clock.advance(chrono::Duration::seconds(a.seconds));
    state.uploads_waiting.notify_one();
    Json(serde_json::json!({"moved": moved, "now": platform::clock::rfc3339(state.clock.now())}))
}

/// Test mode: faults for the next partner-service requests.
async fn plan_faults(State(state): State<Shared>, Json(faults): Json<Vec<crate::faults::Fault>>) -> Json<serde_json::Value> {
    let n = faults.len();
    state.faults.plan(faults);
    Json(serde_json::json!({"planned": n}))
}

/// Test mode: every partner-service request seen, with its time and injected fault.
async fn fault_arrivals(State(state): State<Shared>) -> Json<Vec<crate::faults::Arrival>> {
    Json(state.faults.arrivals())
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Verifies the bearer token for a resource accepting `audiences`.
pub(crate) fn authenticate(state: &Shared, headers: &HeaderMap, audiences: &[&str]) -> Result<AccessClaims> {
    let token = bearer(headers).ok_or_else(|| CloudError::unauthorized("Access token is empty."))?;
    state.keys.verify(token, audiences, state.clock.now().timestamp()).map_err(|e| match e {
        TokenError::Expired => CloudError::unauthorized("Lifetime validation failed, the token is expired."),
        TokenError::WrongAudience(aud) => CloudError::unauthorized(format!("Invalid audience {aud}.")),
        other => CloudError::unauthorized(other.to_string()),
    })
}

/// Counts a call against the app's budget in its tenant (429 with `Retry-After` beyond it).
pub(crate) fn throttle(state: &Shared, claims: &AccessClaims, write: bool) -> Result<()> {
    let app = claims.appid.as_deref().unwrap_or(&claims.oid);
    state.throttle.check(&claims.tid, app, write, state.clock.now_ms()).map_err(|retry_after_s| CloudError::Throttled { retry_after_s })
}

/// Parses an `application/x-www-form-urlencoded` body; the last value of a key wins.
pub(crate) fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

platform::service_extractors!(CloudError);

async fn not_found() -> CloudError {
    CloudError::not_found("The requested resource does not exist.")
}

impl platform::http::BodyRefusal for CloudError {
    fn too_large(why: String) -> Self {
        CloudError::too_large("RequestEntityTooLarge", why)
    }

    fn unreadable(why: String) -> Self {
        CloudError::bad_request(why)
    }
}
