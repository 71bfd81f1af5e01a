//! OpenID Connect discovery (the v1 and v2 documents) and the signing keys (JWKS), as
//! the identity platform publishes them.

use axum::Json;
use axum::extract::State;
use serde_json::json;

use super::Path;
use super::login::tenant;
use crate::Shared;
use crate::entra::sign_in::MULTI_TENANT_SEGMENTS;
use crate::error::{CloudError, Result};

fn openid_configuration(state: &Shared, segment: &str, issuer_tenant: &str, v2: bool) -> serde_json::Value {
    let base = &state.base_url;
    let (token, authorize, jwks, issuer) = if v2 {
        (
            format!("{base}/{segment}/oauth2/v2.0/token"),
            format!("{base}/{segment}/oauth2/v2.0/authorize"),
            format!("{base}/{segment}/discovery/v2.0/keys"),
            format!("{base}/{issuer_tenant}/v2.0"),
        )
    } else {
        (
            format!("{base}/{segment}/oauth2/token"),
            format!("{base}/{segment}/oauth2/authorize"),
            format!("{base}/common/discovery/keys"),
            format!("https://sts.windows.net/{issuer_tenant}/"),
        )
    };
    json!({
        "token_endpoint": token,
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": jwks,
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/graph/oidc/userinfo"),
        "authorization_endpoint": authorize,
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    })
}

async fn issuer_tenant(state: &Shared, segment: &str) -> Result<String> {
    if MULTI_TENANT_SEGMENTS.contains(&segment) { Ok("{tenantid}".into()) } else { Ok(tenant(state, segment).await?.id.into_string()) }
}

#[utoipa::path(get, path = "/{tenant}/v2.0/.well-known/openid-configuration", tag = "identity",
    summary = "OpenID Connect discovery (v2.0 endpoints)",
    params(("tenant" = String, Path, description = "A tenant ID, one of its verified domains, or `common` / `organizations` (multi-tenant).")),
    responses((status = 200, description = "The document.", body = Object), (status = 400, description = "No such tenant (AADSTS90002).", body = wire::errors::AadstsError)))]
pub async fn openid_configuration_v2(State(state): State<Shared>, Path(segment): Path<String>) -> Result<Json<serde_json::Value>> {
    let issuer = issuer_tenant(&state, &segment).await?;
    Ok(Json(openid_configuration(&state, &segment, &issuer, true)))
}

#[utoipa::path(get, path = "/{tenant}/.well-known/openid-configuration", tag = "identity",
    summary = "OpenID Connect discovery (v1 endpoints)",
    params(("tenant" = String, Path, description = "A tenant ID, one of its verified domains, or `common` / `organizations` (multi-tenant).")),
    responses((status = 200, description = "The document.", body = Object), (status = 400, description = "No such tenant (AADSTS90002).", body = wire::errors::AadstsError)))]
pub async fn openid_configuration_v1(State(state): State<Shared>, Path(segment): Path<String>) -> Result<Json<serde_json::Value>> {
    let issuer = issuer_tenant(&state, &segment).await?;
    Ok(Json(openid_configuration(&state, &segment, &issuer, false)))
}

/// `/{tenant}/discovery/v2.0/keys`: each key names the issuer it signs for
/// (`{base}/{tenantid}/v2.0`, templated on `common`, `organizations`), as Microsoft's do.
#[utoipa::path(get, path = "/{tenant}/discovery/v2.0/keys", tag = "identity",
    summary = "The token-signing keys (JWKS), each naming its issuer",
    params(("tenant" = String, Path, description = "A tenant ID, one of its verified domains, or `common` / `organizations` (multi-tenant).")),
    responses((status = 200, description = "The document.", body = Object), (status = 400, description = "No such tenant (AADSTS90002).", body = wire::errors::AadstsError)))]
pub async fn jwks_v2(State(state): State<Shared>, Path(segment): Path<String>) -> Result<Json<serde_json::Value>> {
    let issuer = format!("{}/{}/v2.0", state.base_url, issuer_tenant(&state, &segment).await?);
    let mut set = serde_json::to_value(state.keys.jwks()).map_err(CloudError::internal)?;
    for key in set["keys"].as_array_mut().into_iter().flatten() {
        key["issuer"] = json!(issuer);
    }
    Ok(Json(set))
}

/// `/{tenant}/discovery/keys` (v1): the same keys, without an issuer.
#[utoipa::path(get, path = "/{tenant}/discovery/keys", tag = "identity",
    summary = "The token-signing keys (JWKS, v1)",
    params(("tenant" = String, Path, description = "A tenant ID, one of its verified domains, or `common` / `organizations` (multi-tenant).")),
    responses((status = 200, description = "The document.", body = Object), (status = 400, description = "No such tenant (AADSTS90002).", body = wire::errors::AadstsError)))]
pub async fn jwks_v1(State(state): State<Shared>, Path(segment): Path<String>) -> Result<Json<serde_json::Value>> {
    issuer_tenant(&state, &segment).await?;
    Ok(Json(serde_json::to_value(state.keys.jwks()).map_err(CloudError::internal)?))
}
