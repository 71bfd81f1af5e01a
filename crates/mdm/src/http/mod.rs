//! HTTP surface of the mdm server: per instance (`/i/<slug>`), the agent API, the
//! console, the landing pages and a read API.

mod agent_api;
mod answers;
mod callers;
mod console;
mod landing;
mod openapi;
mod read_api;
mod remediation;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use platform::problem::Refuse;

use crate::Shared;
use crate::error::{MdmError, Result};

/// The largest Jamf Pro inventory page taken in one request (2,000 records with every
/// section come to about 8 MB).
pub const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

pub fn router(state: Shared) -> Router {
    let ca = "/i/{slug}/settings/global-management/conditional-access";
    let http_metrics = state.metrics.http.clone();
    Router::new()
        .route("/", get(console::server_home))
        .route("/openapi.json", get(platform::openapi::document::<openapi::ApiDoc>))
        .route("/health/live", get(platform::openapi::live))
        .route("/health/ready", get(platform::openapi::ready::<Shared, crate::AppState>))
        .route("/metrics", get(platform::metrics::serve::<Shared, crate::AppState>))
        .route("/i/{slug}/api/agent/v1/enrollments", post(agent_api::enroll))
        .route("/i/{slug}/api/agent/v1/inventory", put(agent_api::inventory).patch(agent_api::partial_inventory))
        .route("/i/{slug}/api/agent/v1/aad-registrations", post(agent_api::aad_registration))
        .route("/i/{slug}/api/agent/v1/checkins", post(agent_api::checkin))
        .route("/i/{slug}/api/agent/v1/conditional-access", get(agent_api::ca_view))
        .route("/i/{slug}/api/agent/v1/commands", get(agent_api::commands))
        .route("/i/{slug}/api/v1/conditional-access", get(read_api::conditional_access))
        .route("/i/{slug}/api/v1/conditional-access/summary", get(read_api::summary))
        .route("/i/{slug}/api/v1/computers/{id}/conditional-access", get(read_api::computer_ca))
        .route("/i/{slug}/api/v1/change-management/logs", get(read_api::change_log))
        .route("/i/{slug}/api/oauth/token", post(read_api::oauth_token))
        .route("/i/{slug}/api/v1/computers-inventory", get(read_api::computers_inventory))
        .route("/i/{slug}/api/v1/compliance-preview", post(read_api::compliance_preview))
        .route("/i/{slug}/api/v1/computers-inventory/{id}/history", get(read_api::inventory_history))
        .route("/i/{slug}/api/v1/computers-inventory/import", post(read_api::import_jamf).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)))
        .route("/i/{slug}/settings/system/api-roles-and-clients", get(console::api_clients).post(console::create_api_client))
        .route("/i/{slug}", get(console::home))
        .route("/i/{slug}/login", get(console::login_form).post(console::login))
        .route(ca, get(console::ca_page).post(console::ca_save))
        .route(&format!("{ca}/application-id"), get(console::application_id_page))
        .route(&format!("{ca}/confirm"), post(console::ca_confirm))
        .route(&format!("{ca}/edit"), get(console::ca_edit))
        .route(&format!("{ca}/test"), post(console::ca_test))
        .route("/i/{slug}/settings", get(console::settings))
        .route("/i/{slug}/computers", get(console::computers))
        .route("/i/{slug}/computers/compliance-preview", get(console::preview_page).post(console::preview_run))
        .route("/i/{slug}/computers/{id}", get(console::computer))
        .route("/i/{slug}/settings/system-settings/change-management/logs", get(console::change_log))
        .route("/i/{slug}/device-registration", get(landing::registration))
        .route("/i/{slug}/enroll", get(landing::enroll))
        .route("/i/{slug}/access-denied", get(landing::access_denied))
        .route("/i/{slug}/remediation", get(remediation::page_for_device))
        .route("/i/{slug}/remediation/recheck", post(remediation::recheck))
        .layer(DefaultBodyLimit::max(4 * 1024 * 1024))
        // The import's limit is the largest; other routes keep their own below it.
        .layer(axum::middleware::from_fn_with_state(IMPORT_BODY_LIMIT, platform::http::buffer_body::<MdmError>))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(http_metrics, platform::metrics::track))
        .with_state(state)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    platform::http::json_object(body).map_err(MdmError::invalid)
}

platform::service_extractors!(MdmError);

async fn not_found() -> MdmError {
    MdmError::not_found("No such page or endpoint.")
}

impl platform::http::BodyRefusal for MdmError {
    fn too_large(why: String) -> Self {
        platform::problem::Refusal::TooLarge(why).into()
    }

    fn unreadable(why: String) -> Self {
        platform::problem::Refusal::Invalid(why).into()
    }
}
