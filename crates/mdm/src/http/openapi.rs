//! The mdm server's OpenAPI document for its machine-facing APIs (the agent API a Mac
//! speaks, the read API for tools, health), generated from the handlers' annotations and
//! the wire types (utoipa), served at `/openapi.json` and committed as
//! `docs/openapi/mdm.json` (a test fails when they drift apart). The console and landing
//! pages are HTML for people and are left out.

use utoipa::OpenApi;

use super::{agent_api, answers, read_api};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloud Connector mdm",
        description = "The device-management server's APIs, per instance (`/i/{slug}`): the agent API a Mac speaks (bearer computer credential \
            after enrolment), the read API for tools (HTTP Basic with an admin account, or a bearer token from `/api/oauth/token` for an API client), \
            and health. No text may contain the NUL character (U+0000, `%00` in a URL or form): such a request is refused (422) before it is read. Errors are RFC 9457 problem details (`application/problem+json`); the token endpoint answers as OAuth 2.0 (RFC 6749 §5.2)."
    ),
    paths(
        agent_api::enroll, agent_api::inventory, agent_api::partial_inventory, agent_api::aad_registration, agent_api::checkin,
        agent_api::ca_view, agent_api::commands, read_api::conditional_access, read_api::summary, read_api::computer_ca, read_api::change_log,
        read_api::oauth_token, read_api::computers_inventory, read_api::inventory_history, read_api::import_jamf, read_api::compliance_preview, platform::openapi::live, platform::openapi::ready, platform::openapi::document,
        platform::metrics::serve
    ),
    components(schemas(answers::SectionName)),
    modifiers(&Schemes),
    tags(
        (name = "agent", description = "Calls of an enrolled Mac."),
        (name = "read", description = "The read API for tools."),
        (name = "health", description = "Liveness, readiness, metrics and this document.")
    )
)]
pub struct ApiDoc;

platform::security_schemes!(Schemes:
    ("computer_credential", Bearer, "The credential the enrolment issued to the Mac."),
    ("api_token", Bearer, "An access token from `POST /i/{slug}/api/oauth/token` (API client)."),
    ("admin_basic", Basic, "An admin account of the instance."),
);

#[cfg(test)]
mod tests {
    /// The committed document is the one the code generates.
    #[test]
    fn the_committed_openapi_document_is_current() {
        platform::openapi::assert_committed::<super::ApiDoc>("mdm");
    }
}
