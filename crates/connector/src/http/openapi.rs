//! The connector's OpenAPI document, generated from its handlers' annotations and the
//! wire types (utoipa), served at `/openapi.json` and committed as
//! `docs/openapi/connector.json` (a test fails when they drift apart).

use utoipa::OpenApi;

use super::{api, browser, operator};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloud Connector",
        description = "The connector's API: the instance API spoken by device-management instances (bearer instance credential), \
            the operator API (bearer `operator_token`), the pages a browser reaches during consent and routing, and health. \
            No text may contain the NUL character (U+0000, `%00` in a URL or form): such a request is refused (422) before it is read. Errors are RFC 9457 problem details (`application/problem+json`)."
    ),
    paths(
        api::register_instance, api::start_link, api::current_link, api::confirm, api::health_check, api::disconnect, api::inventory, api::outcomes,
        api::status, api::compliance_preview, operator::instance_reconcile, operator::instance_dead_letters, operator::instance_replay,
        operator::links, operator::reconcile, operator::health_check, operator::dead_letters, operator::replay_dead_letters,
        operator::trace, operator::instance_trace, browser::consent_callback, browser::route, api::metrics, platform::openapi::live, platform::openapi::ready, platform::openapi::document
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

platform::security_schemes!(BearerSchemes:
    ("registration_secret", Bearer, "The registration secret the connector's operator shares with the mdm server."),
    ("instance_credential", Bearer, "The credential `POST /api/v1/instances` issued to the instance."),
    ("operator_token", Bearer, "The connector's `operator_token`."),
);

#[cfg(test)]
mod tests {
    /// The committed document is the one the code generates.
    #[test]
    fn the_committed_openapi_document_is_current() {
        platform::openapi::assert_committed::<super::ApiDoc>("connector");
    }
}
