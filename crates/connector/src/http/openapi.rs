//! The connector's OpenAPI document, generated from its handlers' annotations and the
//! wire types (utoipa), served at `/openapi.json` and committed as
//! `docs/openapi/connector.json` (a test fails when they drift apart).

use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{api, browser, operator};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloud Connector",
        description = "The connector's API: the instance API spoken by device-management instances (bearer instance credential), \
            the operator API (bearer `operator_token`), the pages a browser reaches during consent and routing, and health. \
            Errors are RFC 9457 problem details (`application/problem+json`)."
    ),
    paths(
        api::register_instance, api::start_link, api::current_link, api::confirm, api::disconnect, api::inventory, api::outcomes,
        api::status, operator::instance_reconcile, operator::instance_dead_letters, operator::instance_replay,
        operator::links, operator::reconcile, operator::health_check, operator::dead_letters, operator::replay_dead_letters,
        operator::trace, browser::consent_callback, browser::route, api::metrics, live, api::ready, document
    ),
    modifiers(&BearerSchemes),
    tags(
        (name = "instance", description = "Calls of a registered instance."),
        (name = "operator", description = "Calls of the connector's operator."),
        (name = "browser", description = "Pages a browser is sent to."),
        (name = "health", description = "Liveness, readiness, metrics and this document.")
    )
)]
pub struct ApiDoc;

struct BearerSchemes;

impl utoipa::Modify for BearerSchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, description) in [
            ("registration_secret", "The registration secret the connector's operator shares with the mdm server."),
            ("instance_credential", "The credential `POST /api/v1/instances` issued to the instance."),
            ("operator_token", "The connector's `operator_token`."),
        ] {
            let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// The document as JSON (pretty, stable key order).
pub fn json() -> String {
    ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes")
}

#[utoipa::path(get, path = "/health/live", tag = "health",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "Alive.", body = String, content_type = "text/plain")))]
pub async fn live() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/openapi.json", tag = "health",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json")))]
pub async fn document() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json())
}

#[cfg(test)]
mod tests {
    /// The committed document is the one the code generates; `CLOUDCONNECTOR_WRITE_OPENAPI=1
    /// cargo test -p connector openapi` writes it.
    #[test]
    fn the_committed_openapi_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi/connector.json");
        let generated = super::json();
        if std::env::var("CLOUDCONNECTOR_WRITE_OPENAPI").is_ok() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi/connector.json differs from the code's document: run `CLOUDCONNECTOR_WRITE_OPENAPI=1 cargo test -p connector openapi` and commit it"
        );
    }
}
