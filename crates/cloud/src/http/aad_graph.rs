//! The legacy Azure AD Graph: only partner service discovery, which older partners use.

use super::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use super::{authenticate, graph};
use crate::Shared;
use crate::error::{CloudError, Result};

#[derive(serde::Deserialize)]
pub struct ApiVersion {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// `servicePrincipalsByAppId/{app}/serviceEndpoints`: the partner services' base URLs.
#[utoipa::path(get, path = "/aadgraph/{tenant}/servicePrincipalsByAppId/{app_id}/serviceEndpoints", tag = "partner",
    summary = "Partner discovery (Azure AD Graph): the Intune partner services' URLs for the tenant",
    params(("tenant" = String, Path, description = "The tenant ID or a verified domain."), ("app_id" = String, Path, description = "The Intune application ID."), ("api-version" = String, Query, description = "`1.6`.")),
    responses((status = 200, description = "The service endpoints (`value`).", body = Object), (status = 400, description = "The api-version is missing.", body = wire::errors::ODataError), (status = 401, description = "The token is missing, expired or not for Azure AD Graph.", body = wire::errors::ODataError),
        (status = 403, description = "The token is another tenant's or lacks Application.Read.All / Directory.Read.All.", body = wire::errors::ODataError), (status = 404, description = "No such tenant.", body = wire::errors::ODataError)),
    security(("aad_graph_token" = [])))]
pub async fn service_endpoints(
    State(state): State<Shared>,
    Path((tenant_key, app_id)): Path<(String, String)>,
    Query(q): Query<ApiVersion>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>> {
    if q.api_version.is_none() {
        return Err(CloudError::bad_request("A supported api-version must be specified (for example api-version=1.6)."));
    }
    let claims = authenticate(&state, &headers, &["https://graph.windows.net/", wire::ids::AAD_GRAPH_APP_ID])?;
    let tenant = state.store.tenant(&tenant_key).await?.ok_or_else(|| CloudError::not_found(format!("Tenant {tenant_key} not found.")))?;
    if claims.tid != tenant.id {
        return Err(CloudError::forbidden("The token was issued for another tenant."));
    }
    if !claims.has_role(&["Application.Read.All", "Directory.Read.All"]) {
        return Err(CloudError::forbidden("Insufficient privileges to complete the operation."));
    }
    let endpoints = graph::partner_endpoints(&state, &tenant, &app_id);
    let value: Vec<_> = endpoints
        .into_iter()
        .map(|(name, uri)| {
            json!({"odata.type": "Microsoft.DirectoryServices.ServiceEndpoint", "objectType": "ServiceEndpoint",
            "objectId": uuid::Uuid::new_v4(), "deletionTimestamp": null, "capability": name, "serviceId": app_id,
            "serviceName": name, "uri": uri, "resourceId": app_id})
        })
        .collect();
    Ok(Json(json!({"odata.metadata": format!("{}/aadgraph/{}/$metadata#directoryObjects", state.base_url, tenant.id), "value": value})))
}
