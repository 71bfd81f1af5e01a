//! The identity platform's token endpoints (v1 and v2); admin consent is in `admin_consent`.

use super::Path;
use std::collections::HashMap;

use crate::http::Bytes;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::form;
use crate::Shared;
use crate::entra::assertions;
use crate::entra::clients::{self, ClientCredential};
use crate::entra::directory::{Application, PermissionKind, Tenant, User, first_party_resource, resource_of_scope};
use crate::entra::sign_in::{self, Credentials, MULTI_TENANT_SEGMENTS};
use crate::entra::tokens::{AccessClaims, token_lifetime_s};
use crate::error::{CloudError, Result};

/// The tenant a path segment names: its GUID or one of its domains. A segment that is
/// neither a GUID nor a DNS name is AADSTS900023, an unknown one AADSTS90002.
pub(crate) async fn tenant(state: &Shared, key: &str) -> Result<Tenant> {
    let dns_name =
        key.contains('.') && key.split('.').all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if uuid::Uuid::parse_str(key).is_err() && !dns_name {
        return Err(CloudError::login(
            "invalid_request",
            900023,
            format!("Specified tenant identifier '{key}' is neither a valid DNS name, nor a valid external domain."),
        ));
    }
    state.store.tenant(key).await?.ok_or_else(|| {
        CloudError::login(
            "invalid_request",
            90002,
            format!("Tenant '{key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        )
    })
}

#[utoipa::path(post, path = "/{tenant}/oauth2/v2.0/token", tag = "identity",
    summary = "A token (v2.0: `scope`)",
    description = "Client credentials (secret or certificate assertion), resource owner password, or an authorization code. Errors are the identity platform's: `invalid_client` is 401, every other error 400.",
    params(("tenant" = String, Path, description = "A tenant ID, one of its verified domains, or `common` / `organizations` (multi-tenant).")),
    request_body(content = super::openapi::TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(super::openapi::TokenAnswers))]
pub async fn token_v2(State(state): State<Shared>, Path(segment): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    token(state, segment, headers, body, false).await
}

#[utoipa::path(post, path = "/{tenant}/oauth2/token", tag = "identity",
    summary = "A token (v1: `resource`)",
    description = "Client credentials (secret or certificate assertion), resource owner password, or an authorization code. Errors are the identity platform's: `invalid_client` is 401, every other error 400.",
    params(("tenant" = String, Path, description = "A tenant ID, one of its verified domains, or `common` / `organizations` (multi-tenant).")),
    request_body(content = super::openapi::TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(super::openapi::TokenAnswers))]
pub async fn token_v1(State(state): State<Shared>, Path(segment): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    token(state, segment, headers, body, true).await
}

fn missing(name: &str) -> CloudError {
    CloudError::login("invalid_request", 900144, format!("The request body must contain the following parameter: '{name}'."))
}

async fn token(state: Shared, segment: String, headers: HeaderMap, body: Bytes, v1: bool) -> Result<Response> {
    let form = form(&body);
    let grant_type = form.get("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant_type == "authorization_code" {
        return redeem_code(&state, &segment, &form, &headers, v1).await;
    }
    let resource = requested_resource(&form, v1, grant_type == "password")?;
    match grant_type.as_str() {
        "client_credentials" => {
            if MULTI_TENANT_SEGMENTS.contains(&segment.as_str()) {
                return Err(CloudError::login(
                    "invalid_request",
                    50059,
                    "No tenant-identifying information found in either the request or implied by any provided credentials.",
                ));
            }
            let tenant = tenant(&state, &segment).await?;
            let (app, acr) = authenticate_client(&state, &tenant, &segment, &form, &headers).await?;
            let claims = app_token_claims(&state, &tenant, &app, acr, &resource).await?;
            respond(&state, claims, &resource, v1)
        }
        "password" => {
            let user = password_user(&state, &segment, &form).await?;
            let client_id = form.get("client_id").ok_or_else(|| missing("client_id"))?;
            let app = state.store.application(client_id).await?.ok_or_else(|| clients::app_not_found(client_id, &user.tenant_id))?;
            if !app.public_client {
                authenticate_client(&state, &tenant(&state, &user.tenant_id).await?, &segment, &form, &headers).await?;
            }
            let claims = user_token_claims(&state, &user, &app, &resource)?;
            respond(&state, claims, &resource, v1)
        }
        other => Err(CloudError::login("unsupported_grant_type", 70003, format!("The app requested an unsupported grant type '{other}'."))),
    }
}

/// The resource of an interactive scope list: the API of the first scope that names one
/// (`https://graph.microsoft.com/User.Read`, `…/.default`); sign-in scopes alone
/// (`openid profile`) give a Microsoft Graph token, as the identity platform does.
fn interactive_resource(scope: &str) -> String {
    scope
        .split_whitespace()
        .filter_map(|s| s.rsplit_once('/').map(|(r, _)| r))
        .find(|r| first_party_resource(r).is_some())
        .unwrap_or("https://graph.microsoft.com")
        .to_string()
}

async fn redeem_code(state: &Shared, segment: &str, form: &HashMap<String, String>, headers: &HeaderMap, v1: bool) -> Result<Response> {
    let client_id = form.get("client_id").ok_or_else(|| missing("client_id"))?;
    let app = state.store.application(client_id).await?.ok_or_else(|| clients::app_not_found(client_id, segment))?;
    let row = super::authorize::redeem(state, form).await?;
    let user = state
        .store
        .user(&row.user_id)
        .await?
        .ok_or_else(|| CloudError::login("invalid_grant", 50034, "The user account no longer exists."))?;
    if user.account_enabled == 0 {
        return Err(CloudError::login("invalid_grant", 50057, "The user account is disabled."));
    }
    if !app.public_client {
        authenticate_client(state, &tenant(state, &user.tenant_id).await?, segment, form, headers).await?;
    }
    let resource = if v1 {
        form.get("resource").cloned().unwrap_or_else(|| interactive_resource(&row.scope))
    } else {
        interactive_resource(&row.scope)
    };
    let mut claims = user_token_claims(state, &user, &app, &resource)?;
    claims.deviceid = row.device_id.clone().map(wire::DeviceId::into_string);
    respond(state, claims, &resource, v1)
}

/// Sign-in scopes a user's token request may add to its resource's scope (MSAL always
/// sends them); they name no resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// The resource a token is requested for: `scope=<resource>/.default` (v2) or `resource=` (v1);
/// a user's request (`for_user`) may add the OpenID Connect scopes.
fn requested_resource(form: &HashMap<String, String>, v1: bool, for_user: bool) -> Result<String> {
    if v1 {
        return form.get("resource").cloned().ok_or_else(|| missing("resource"));
    }
    if form.contains_key("resource") {
        return Err(CloudError::login("invalid_request", 901002, "The 'resource' request parameter is not supported."));
    }
    let scope = form.get("scope").ok_or_else(|| missing("scope"))?;
    let scope =
        &if for_user { scope.split_whitespace().filter(|s| !OIDC_SCOPES.contains(s)).collect::<Vec<_>>().join(" ") } else { scope.clone() };
    let resources: Vec<&str> = scope.split_whitespace().filter_map(|s| s.strip_suffix("/.default")).collect();
    if resources.len() > 1 && resources.iter().any(|r| r.trim_end_matches('/') != resources[0].trim_end_matches('/')) {
        return Err(CloudError::login(
            "invalid_scope",
            700022,
            format!(
                "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
            ),
        ));
    }
    resource_of_scope(scope).map(str::to_string).ok_or_else(|| {
        CloudError::login(
            "invalid_scope",
            70011,
            format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        )
    })
}

/// Client authentication by secret (Basic header or body) or by a certificate-signed
/// client assertion, read from the request; `entra::clients` decides. Returns the app and
/// `appidacr`.
async fn authenticate_client(
    state: &Shared,
    tenant: &Tenant,
    segment: &str,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(Application, &'static str)> {
    let now = state.clock.now_ms();
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(assertions::ASSERTION_TYPE) {
            return Err(CloudError::login(
                "invalid_request",
                900144,
                format!(
                    "The request body must contain the parameter 'client_assertion_type' with the value '{}'.",
                    assertions::ASSERTION_TYPE
                ),
            ));
        }
        let client_id = match form.get("client_id") {
            Some(id) => id.clone(),
            None => jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(assertion)
                .ok()
                .and_then(|d| d.claims["iss"].as_str().map(str::to_string))
                .ok_or_else(|| missing("client_id"))?,
        };
        let audiences = assertion_audiences(state, tenant, segment);
        let credential = ClientCredential::Assertion { client_id, assertion, audiences: &audiences };
        return clients::authenticate(&state.store, tenant, credential, now).await;
    }
    let (client_id, secret) = match basic_credentials(headers) {
        Some((id, secret)) => (id, Some(secret)),
        None => (form.get("client_id").cloned().ok_or_else(|| missing("client_id"))?, form.get("client_secret").cloned()),
    };
    let Some(secret) = secret else {
        return Err(CloudError::login(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    clients::authenticate(&state.store, tenant, ClientCredential::Secret { client_id, secret }, now).await
}

/// The client ID and secret of an `Authorization: Basic` header (each form-encoded, as
/// RFC 6749 section 2.3.1 says). NUL cannot name a client (nor be stored on PostgreSQL):
/// such a header is not read.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let decoded = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.contains('\0'))?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |v: &str| url::form_urlencoded::parse(format!("v={v}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((decode(id)?, decode(secret)?))
}

/// The token endpoint URLs a client assertion may name: this cloud's, and the canonical
/// one of each Microsoft cloud (the audience Microsoft documents, which clients
/// configured for it sign), by path segment, tenant ID and domain, v1 and v2.
fn assertion_audiences(state: &Shared, tenant: &Tenant, segment: &str) -> Vec<String> {
    let roots: Vec<String> = std::iter::once(state.base_url.clone())
        .chain(wire::CloudProfile::NAMES.iter().filter_map(|n| wire::CloudProfile::builtin(n)).map(|p| p.authority))
        .collect();
    roots
        .iter()
        .flat_map(|base| [segment, tenant.id.as_str(), tenant.domain.as_str()].map(|s| (base.clone(), s.to_string())))
        .flat_map(|(base, s)| [format!("{base}/{s}/oauth2/v2.0/token"), format!("{base}/{s}/oauth2/token")])
        .collect()
}

async fn app_token_claims(state: &Shared, tenant: &Tenant, app: &Application, acr: &str, resource: &str) -> Result<AccessClaims> {
    let not_found = || {
        CloudError::login(
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {}. This can happen if the application \
         has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                tenant.domain
            ),
        )
    };
    let fp = first_party_resource(resource).ok_or_else(not_found)?;
    // Without an Intune licence the tenant has no Intune service principal.
    if fp.app_id == wire::ids::INTUNE_APP_ID && tenant.intune_licence == 0 {
        return Err(not_found());
    }
    let sp =
        state.store.service_principal(&tenant.id, &app.app_id).await?.ok_or_else(|| clients::app_not_found(&app.app_id, &tenant.id))?;
    let roles = state
        .store
        .grants(&sp.id)
        .await?
        .into_iter()
        .filter(|p| p.resource_app_id == fp.app_id && p.kind == PermissionKind::Application)
        .map(|p| p.value)
        .collect();
    let now = state.clock.now().timestamp();
    Ok(AccessClaims {
        aud: fp.identifier_uri.to_string(),
        iss: format!("https://sts.windows.net/{}/", tenant.id),
        iat: now,
        nbf: now,
        exp: now + token_lifetime_s(),
        tid: tenant.id.to_string(),
        oid: sp.id.clone(),
        sub: sp.id,
        appid: Some(app.app_id.clone()),
        appidacr: Some(acr.into()),
        roles,
        scp: None,
        upn: None,
        idtyp: Some("app".into()),
        ver: "1.0".into(),
        uti: platform::secrets::random_token(16),
        deviceid: None,
    })
}

async fn password_user(state: &Shared, segment: &str, form: &HashMap<String, String>) -> Result<User> {
    let username = form.get("username").ok_or_else(|| missing("username"))?;
    let password = form.get("password").ok_or_else(|| missing("password"))?;
    match sign_in::check_credentials(&state.store, username, password, segment).await? {
        Credentials::Valid(user) => Ok(user),
        Credentials::Wrong => {
            Err(CloudError::login("invalid_grant", 50126, "Error validating credentials due to invalid username or password."))
        }
        Credentials::Disabled => Err(CloudError::login("invalid_grant", 50057, "The user account is disabled.")),
        Credentials::OtherTenant(_) => {
            // A segment naming no tenant is refused as the token endpoint refuses it.
            tenant(state, segment).await?;
            Err(CloudError::login(
                "invalid_grant",
                50020,
                format!("User account '{username}' from identity provider does not exist in tenant '{segment}'."),
            ))
        }
    }
}

/// The scopes of a user's token: `User.Read`, and for a Global Administrator signed in to
/// Microsoft Graph with the Graph command line tools, what the admin's role allows
/// ([`crate::entra::administration::ADMIN_SCOPES`]).
fn delegated_scopes(user: &User, app: &Application, resource_app_id: &str) -> String {
    let mut scopes = String::from("user_impersonation User.Read");
    if user.global_admin != 0 && app.app_id == wire::ids::GRAPH_COMMAND_LINE_TOOLS_APP_ID && resource_app_id == wire::ids::GRAPH_APP_ID {
        for s in crate::entra::administration::ADMIN_SCOPES {
            scopes.push(' ');
            scopes.push_str(s);
        }
    }
    scopes
}

fn user_token_claims(state: &Shared, user: &User, app: &Application, resource: &str) -> Result<AccessClaims> {
    let fp = first_party_resource(resource).ok_or_else(|| {
        CloudError::login("invalid_resource", 500011, format!("The resource principal named {resource} was not found in the tenant."))
    })?;
    let now = state.clock.now().timestamp();
    Ok(AccessClaims {
        aud: fp.identifier_uri.to_string(),
        iss: format!("https://sts.windows.net/{}/", user.tenant_id),
        iat: now,
        nbf: now,
        exp: now + token_lifetime_s(),
        tid: user.tenant_id.to_string(),
        oid: user.id.clone(),
        sub: user.id.clone(),
        appid: Some(app.app_id.clone()),
        appidacr: Some("0".into()),
        roles: vec![],
        scp: Some(delegated_scopes(user, app, fp.app_id)),
        upn: Some(user.upn.clone()),
        idtyp: Some("user".into()),
        ver: "1.0".into(),
        uti: platform::secrets::random_token(16),
        deviceid: None,
    })
}

fn respond(state: &Shared, claims: AccessClaims, resource: &str, v1: bool) -> Result<Response> {
    let lifetime = claims.exp - claims.iat;
    let (nbf, exp) = (claims.nbf, claims.exp);
    let access_token = state.keys.sign(&claims)?;
    state.metrics.tokens_total.increment(1);
    let body = if v1 {
        json!({
            "token_type": "Bearer", "expires_in": lifetime.to_string(), "ext_expires_in": lifetime.to_string(),
            "expires_on": exp.to_string(), "not_before": nbf.to_string(), "resource": resource, "access_token": access_token,
        })
    } else {
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access_token})
    };
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
