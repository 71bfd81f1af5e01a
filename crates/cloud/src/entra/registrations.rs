//! App registrations an admin creates in the tenant: the application, its client secrets
//! (the value is shown once, only a digest is kept) and the API permissions it requires.

use crate::entra::directory::{Application, Permission};
use crate::error::{CloudError, Result};
use crate::store::Store;
use wire::TenantId;

pub async fn create(
    store: &Store,
    tenant_id: &TenantId,
    name: &str,
    multi_tenant: bool,
    redirect_uri: Option<&str>,
    now_ms: i64,
) -> Result<Application> {
    let name = name.trim();
    if !platform::text::within_chars(name, 120) {
        return Err(CloudError::bad_request("The name must be 1 to 120 characters."));
    }
    let redirect_uris = match redirect_uri.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => match url::Url::parse(u) {
            Ok(parsed) if parsed.scheme() == "https" || parsed.host_str() == Some("localhost") => vec![u.to_string()],
            _ => return Err(CloudError::bad_request("A redirect URI must be an absolute https URL (or http://localhost).")),
        },
        None => vec![],
    };
    let app = Application {
        app_id: uuid::Uuid::new_v4().to_string(),
        object_id: uuid::Uuid::new_v4().to_string(),
        owner_tenant_id: Some(tenant_id.into()),
        display_name: name.into(),
        multi_tenant,
        public_client: false,
        identifier_uri: None,
        redirect_uris,
        required_permissions: vec![],
        app_roles: vec![],
    };
    store.insert_application(&app, now_ms).await?;
    store.ensure_service_principal(tenant_id, &app.app_id, name, now_ms).await?;
    Ok(app)
}

/// The tenant's own registration `app_id`, or an error naming it.
pub async fn owned(store: &Store, tenant_id: &TenantId, app_id: &str) -> Result<Application> {
    store
        .application(app_id)
        .await?
        .filter(|a| a.owner_tenant_id.as_deref() == Some(tenant_id))
        .ok_or_else(|| CloudError::not_found(format!("No app registration {app_id} in this tenant.")))
}

/// A new client secret valid for `months` (1 to 24); returns the value, shown only now.
pub async fn add_secret(store: &Store, app: &Application, months: i64, now_ms: i64) -> Result<String> {
    if !(1..=24).contains(&months) {
        return Err(CloudError::bad_request("A client secret expires after 1 to 24 months."));
    }
    let secret = platform::secrets::random_token(30);
    let expires = now_ms + months * 30 * 24 * 3600 * 1000;
    store.insert_secret(&app.app_id, &platform::secrets::digest_hex(&secret), &secret[..3], expires, now_ms).await?;
    Ok(secret)
}

/// Adds an API permission the app requires (granted only by admin consent).
pub async fn require_permission(store: &Store, app: &Application, resource_app_id: &str, kind: &str, value: &str) -> Result<()> {
    let p = Permission::requested(resource_app_id, kind, value).map_err(CloudError::bad_request)?;
    let mut permissions = app.required_permissions.clone();
    if !permissions.contains(&p) {
        permissions.push(p);
        store.set_required_permissions(&app.app_id, &permissions).await?;
    }
    Ok(())
}
