//! The cloud's OpenAPI document, generated from its handlers' annotations and the wire
//! types (utoipa), served at `/openapi.json` and committed as `docs/openapi/cloud.json`
//! (a test fails when they drift apart). It covers the identity platform's discovery,
//! keys and token endpoints, the Azure AD Graph partner discovery, the Intune partner
//! services a partner speaks (tenant and device data sync) and health. Microsoft Graph is
//! left out: it is OData, described by its `$metadata` and checked with Microsoft's own
//! SDKs (the interoperability tests); so are the sign-in and consent pages and the
//! consoles (HTML for people) and the test-mode `/_test` endpoints.

use utoipa::OpenApi;

use super::{aad_graph, discovery, login, partner_api};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloud Connector local cloud",
        description = "The cloud's Microsoft-shaped endpoints that a partner and an identity client speak, answered as Microsoft answers them: \
            identity platform errors are AADSTS JSON (`AadstsError`), service errors OData JSON (`ODataError`). Partner services take a \
            bearer token the tenant's token endpoint issued for `https://api.manage.microsoft.com/` with the application permission \
            `update_device_attributes`; they answer 429 with `Retry-After` when a tenant's budget is spent. No text may contain the NUL \
            character (U+0000, `%00` in a URL or form): such a request is refused (400, OData JSON) before it is read."
    ),
    paths(
        discovery::openid_configuration_v2, discovery::openid_configuration_v1, discovery::jwks_v2, discovery::jwks_v1,
        login::token_v2, login::token_v1, aad_graph::service_endpoints, partner_api::tenant_data_sync, partner_api::upload,
        partner_api::upload_status, partner_api::compliance_preview, partner_api::create_partner_policy, partner_api::list_partner_policies, partner_api::assign_partner_policy, platform::openapi::live, platform::openapi::ready, platform::openapi::document,
        platform::metrics::serve
    ),
    components(schemas(PoliciesSet, TokenAnswer)),
    modifiers(&Schemes),
    tags(
        (name = "identity", description = "The identity platform: discovery, signing keys, tokens."),
        (name = "partner", description = "Partner discovery and the Intune partner services."),
        (name = "health", description = "Liveness, readiness, metrics and this document.")
    )
)]
pub struct ApiDoc;

platform::security_schemes!(Schemes:
    ("intune_token", Jwt, "An app-only token for `https://api.manage.microsoft.com/` carrying `update_device_attributes`."),
    ("aad_graph_token", Jwt, "An app-only token for `https://graph.windows.net/` carrying `Application.Read.All` or `Directory.Read.All`."),
);

/// The token endpoints' form (`application/x-www-form-urlencoded`). Which fields a grant
/// needs is the identity platform's rule, answered with its AADSTS codes: `grant_type`
/// always (900144 when missing); `client_credentials` needs `client_id` and a secret
/// (`client_secret`, HTTP Basic) or a certificate assertion (`client_assertion_type` and
/// `client_assertion`), and a tenant in the path; `password` needs `username` and
/// `password`; `authorization_code` needs `code` and `redirect_uri`. v2 names the
/// resource by `scope` (`<resource>/.default`), v1 by `resource`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "the form's shape in the OpenAPI document")]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
}

/// The refusals every partner-service call may answer, in OData's error shape.
#[derive(utoipa::IntoResponses)]
#[expect(dead_code, reason = "the answers' shapes in the OpenAPI document")]
pub enum PartnerRefusals {
    #[response(status = 401, description = "The token is missing, expired or not for this audience.")]
    Unauthorized(wire::errors::ODataError),
    #[response(
        status = 403,
        description = "The token lacks update_device_attributes, names another tenant, or the application is not the tenant's partner (or it is terminated)."
    )]
    Forbidden(wire::errors::ODataError),
    #[response(
        status = 404,
        description = "No partner service at this address for the token's tenant, no such entity set, or no such entity."
    )]
    NotFound(wire::errors::ODataError),
    #[response(status = 429, description = "The tenant's budget is spent; retry after `Retry-After` seconds.",
        headers(("Retry-After" = u64, description = "Seconds to wait.")))]
    Throttled(wire::errors::ODataError),
}

/// What the token endpoint answers (both versions): the token, or the identity
/// platform's error (`invalid_client` 401, every other error 400).
#[derive(utoipa::IntoResponses)]
#[expect(dead_code, reason = "the answers' schemas in the OpenAPI document")]
pub enum TokenAnswers {
    #[response(status = 200, description = "The token.")]
    Token(TokenAnswer),
    #[response(
        status = 400,
        description = "A parameter is missing or not valid, the tenant or application is unknown, or the grant is refused."
    )]
    Refused(wire::errors::AadstsError),
    #[response(status = 401, description = "The client's credentials are not valid (`invalid_client`).")]
    InvalidClient(wire::errors::AadstsError),
    #[response(status = 413, description = "The body is too large.")]
    TooLarge(wire::errors::ODataError),
}

/// The entity set of partner compliance policies, its one name.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "the name's schema in the OpenAPI document")]
pub enum PoliciesSet {
    PartnerCompliancePolicies,
}

/// `POST PartnerCompliancePolicies`'s body.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "the body's shape in the OpenAPI document")]
pub struct PartnerPolicyForm {
    /// Not blank (the name is kept trimmed).
    #[schema(rename = "DisplayName", pattern = "[^\\s]|[\\x1c-\\x1f]")]
    display_name: String,
    #[schema(rename = "Platform", pattern = "^(macOS|iOS|android|windows)$")]
    platform: String,
    #[schema(rename = "Description")]
    description: Option<String>,
}

/// `POST PartnerCompliancePolicies(guid'…')/Assign`'s body: the user groups.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "the body's shape in the OpenAPI document")]
pub struct AssignForm {
    assignments: Vec<String>,
}

/// A token endpoint's answer. v2 gives `expires_in` as a number; v1 as a string and adds
/// `expires_on`, `not_before` and `resource`, as the identity platform does.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "the answer's shape in the OpenAPI document")]
pub struct TokenAnswer {
    /// `Bearer`.
    token_type: String,
    /// Seconds, a number (v2) or a string (v1).
    #[schema(value_type = Object)]
    expires_in: serde_json::Value,
    access_token: String,
}

#[cfg(test)]
mod tests {
    /// The committed document is the one the code generates.
    #[test]
    fn the_committed_openapi_document_is_current() {
        platform::openapi::assert_committed::<super::ApiDoc>("cloud");
    }
}
