//! Admin consent: what granting an application in a tenant creates.

use crate::entra::directory::{Application, FIRST_PARTY};
use crate::error::Result;
use crate::store::Store;

/// A redirect URI is accepted only when it equals a registered one exactly.
pub fn redirect_uri_registered(app: &Application, redirect_uri: &str) -> bool {
    app.redirect_uris.iter().any(|u| u == redirect_uri)
}

/// Creates the application's service principal (enterprise application) in the tenant
/// and grants every permission it requires, application and delegated alike.
pub async fn grant_admin_consent(store: &Store, tenant_id: &str, app: &Application, now_ms: i64) -> Result<String> {
    let sp_id = store.ensure_service_principal(tenant_id, &app.app_id, &app.display_name, now_ms).await?;
    for p in &app.required_permissions {
        if let Some(fp) = FIRST_PARTY.iter().find(|fp| fp.app_id == p.resource_app_id) {
            store.ensure_service_principal(tenant_id, fp.app_id, fp.display_name, now_ms).await?;
        }
        store.grant(tenant_id, &sp_id, p, now_ms).await?;
    }
    Ok(sp_id)
}
