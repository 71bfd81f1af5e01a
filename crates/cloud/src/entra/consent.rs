//! Admin consent: what granting an application in a tenant creates.

use crate::entra::directory::{Application, FIRST_PARTY, User};
use crate::error::Result;
use crate::store::Store;
use wire::TenantId;

/// Whether `user` may grant consent for the whole organization: only a Global
/// Administrator may (otherwise AADSTS90094, "The grant requires admin permission").
pub fn may_grant_for_organization(user: &User) -> bool {
    user.global_admin != 0
}

/// A redirect URI is accepted only when it equals a registered one exactly.
pub fn redirect_uri_registered(app: &Application, redirect_uri: &str) -> bool {
    app.redirect_uris.iter().any(|u| u == redirect_uri)
}

/// Where the admin-consent endpoint may send the admin back: a registered URI, or one
/// with path segments added to it.
pub fn admin_consent_redirect_allowed(app: &Application, redirect_uri: &str) -> bool {
    app.redirect_uris.iter().any(|u| u == redirect_uri || extends(u, redirect_uri))
}

/// Microsoft lets the admin-consent `redirect_uri` add path segments to a registered URI
/// (same scheme, host and port; no query or fragment): `https://app/consent` admits
/// `https://app/consent/tenant-a`, never `https://app/consentx`.
fn extends(registered: &str, requested: &str) -> bool {
    let (Ok(r), Ok(q)) = (url::Url::parse(registered), url::Url::parse(requested)) else { return false };
    if r.scheme() != q.scheme() || r.host() != q.host() || r.port_or_known_default() != q.port_or_known_default() {
        return false;
    }
    if q.query().is_some() || q.fragment().is_some() || r.query().is_some() {
        return false;
    }
    let base = r.path().trim_end_matches('/');
    q.path().strip_prefix(base).is_some_and(|rest| rest.starts_with('/') && !rest.split('/').any(|s| s == ".." || s == "."))
}

/// Creates the application's service principal (enterprise application) in the tenant
/// and grants every permission it requires, application and delegated alike.
pub async fn grant_admin_consent(store: &Store, tenant_id: &TenantId, app: &Application, now_ms: i64) -> Result<String> {
    let sp_id = store.ensure_service_principal(tenant_id, &app.app_id, &app.display_name, now_ms).await?;
    for p in &app.required_permissions {
        if let Some(fp) = FIRST_PARTY.iter().find(|fp| fp.app_id == p.resource_app_id) {
            store.ensure_service_principal(tenant_id, fp.app_id, fp.display_name, now_ms).await?;
        }
        store.grant(tenant_id, &sp_id, p, now_ms).await?;
    }
    Ok(sp_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_consent_may_add_path_segments_to_a_registered_uri() {
        let app = Application {
            app_id: "a".into(),
            object_id: "o".into(),
            owner_tenant_id: None,
            display_name: "App".into(),
            multi_tenant: true,
            public_client: false,
            identifier_uri: None,
            redirect_uris: vec!["https://partner.example/consent".into()],
            required_permissions: vec![],
            app_roles: vec![],
        };
        let allowed = |u: &str| admin_consent_redirect_allowed(&app, u);
        assert!(allowed("https://partner.example/consent"));
        assert!(allowed("https://partner.example/consent/tenant-a"));
        assert!(allowed("https://partner.example:443/consent/a/b"));
        assert!(!allowed("https://partner.example/consentx"));
        assert!(!allowed("https://partner.example/consent/../admin"));
        assert!(!allowed("https://partner.example/consent/a?next=x"));
        assert!(!allowed("http://partner.example/consent/a"));
        assert!(!allowed("https://evil.example/consent/a"));
        assert!(!redirect_uri_registered(&app, "https://partner.example/consent/tenant-a"), "sign-in redirects match exactly");
    }
}
