//! Every SQL statement of the cloud, behind one type. Portable SQL over [`platform::Db`];
//! dialect differences live only in the migration trees.

use std::collections::HashMap;

use platform::db::{Db, Migrations};
use sqlx::Row;

use crate::entra::conditional_access::Policy;
use crate::entra::directory::{Application, Permission, ServicePrincipal, Tenant, User};
use crate::error::Result;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

mod graph;
pub use graph::Page;

pub(crate) const MANAGED_COLUMNS: &str = "id, tenant_id, device_id, user_id, device_name, os_version, serial_number, compliance_state, \
    attributes, setting_results, partner_update_ms, last_sync_ms, noncompliant_since_ms, error_since_ms, grace_expires_ms";

/// Ids bound per `IN (…)` list: well inside SQLite's and PostgreSQL's parameter limits.
const IN_CHUNK: usize = 500;

/// `$from, $from+1, …` for `n` bound values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Devices that have not reported for this many days are noncompliant (tenant default).
pub const DEFAULT_VALIDITY_DAYS: i64 = 30;

#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: String,
    pub tenant_id: String,
    pub device_id: String,
    pub display_name: String,
    pub owner_user_id: String,
    pub operating_system: String,
    pub os_version: String,
    pub public_key: String,
    pub certificate_thumbprint: String,
    pub is_compliant: Option<i64>,
    pub is_managed: i64,
    pub mdm_app_id: Option<String>,
    pub registered_ms: i64,
    pub compliance_updated_ms: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerRow {
    pub tenant_id: String,
    pub app_id: Option<String>,
    pub partner_state: String,
    pub provisioned: i64,
    pub enrollment_url: Option<String>,
    pub remediation_url: Option<String>,
    pub last_heartbeat_ms: Option<i64>,
    pub noncompliant_at_ms: Option<i64>,
    pub removal_at_ms: Option<i64>,
    pub updated_ms: i64,
    pub devices_noncompliant_applied: i64,
    pub devices_removed: i64,
    /// JSON lists of group IDs.
    pub include_groups: String,
    pub exclude_groups: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CompliancePartnerRow {
    pub id: String,
    pub tenant_id: String,
    pub display_name: String,
    /// The partner's multi-tenant application.
    pub app_id: String,
    /// JSON list of user group IDs onboarded for macOS.
    pub mac_groups: String,
    pub partner_state: String,
    pub last_heartbeat_ms: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerPolicyRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub display_name: String,
    pub description: String,
    pub platform: String,
    /// JSON list of group IDs.
    pub assignments: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagedDeviceRow {
    pub id: String,
    pub tenant_id: String,
    pub device_id: String,
    pub user_id: String,
    pub device_name: Option<String>,
    pub os_version: Option<String>,
    pub serial_number: Option<String>,
    pub compliance_state: String,
    pub attributes: String,
    pub setting_results: String,
    pub partner_update_ms: i64,
    pub last_sync_ms: i64,
    pub noncompliant_since_ms: Option<i64>,
    pub error_since_ms: Option<i64>,
    pub grace_expires_ms: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub message_id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub body_digest: String,
    pub status: String,
    pub body: String,
    pub item_results: Option<String>,
    pub error_code: i64,
    pub error_detail: Option<String>,
    pub received_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub settings: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthorizeRequest {
    pub id: String,
    pub tenant_hint: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scope: String,
    pub device_id: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInRow {
    pub id: String,
    pub tenant_id: String,
    pub at_ms: i64,
    pub user_id: String,
    pub upn: String,
    pub app_id: String,
    pub app_name: String,
    pub device_id: Option<String>,
    pub error_code: i64,
    pub failure_reason: Option<String>,
    /// `success`, `failure` or `notApplied`.
    pub ca_status: String,
    /// JSON list of the policies applied and their results.
    pub policies: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRequest {
    pub id: String,
    pub tenant_hint: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub user_id: Option<String>,
    pub expires_ms: i64,
}

fn json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

impl Store {
    pub async fn connect(url: &str) -> Result<Store, platform::Error> {
        Ok(Store { db: Db::connect(url, &MIGRATIONS).await? })
    }

    fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    // ---- tenants and users -------------------------------------------------------------

    pub async fn insert_tenant(&self, t: &Tenant, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, domain, display_name, intune_licence, entra_p1_licence, scale_unit, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.domain)
        .bind(&t.display_name)
        .bind(t.intune_licence)
        .bind(t.entra_p1_licence)
        .bind(&t.scale_unit)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A tenant by GUID or verified domain (case-insensitive).
    pub async fn tenant(&self, key: &str) -> Result<Option<Tenant>> {
        Ok(sqlx::query_as::<_, Tenant>(
            "SELECT id, domain, display_name, intune_licence, entra_p1_licence, scale_unit FROM tenants \
             WHERE id = $1 OR domain = $2",
        )
        .bind(key.to_ascii_lowercase())
        .bind(key.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn tenant_by_scale_unit(&self, unit: &str) -> Result<Option<Tenant>> {
        Ok(sqlx::query_as::<_, Tenant>(
            "SELECT id, domain, display_name, intune_licence, entra_p1_licence, scale_unit FROM tenants WHERE scale_unit = $1",
        )
        .bind(unit)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn insert_user(&self, u: &User, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, tenant_id, upn, display_name, password_hash, global_admin, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&u.id)
        .bind(&u.tenant_id)
        .bind(u.upn.to_ascii_lowercase())
        .bind(&u.display_name)
        .bind(&u.password_hash)
        .bind(u.global_admin)
        .bind(now)
        .execute(self.pool())
        .await?;
        // A new user holds the tenant's licences.
        for (sku, flag) in
            [(crate::entra::directory::SKU_INTUNE, "intune_licence"), (crate::entra::directory::SKU_ENTRA_P1, "entra_p1_licence")]
        {
            sqlx::query(&format!("INSERT INTO user_licences (user_id, sku_id) SELECT $1, $2 FROM tenants WHERE id = $3 AND {flag} <> 0"))
                .bind(&u.id)
                .bind(sku)
                .bind(&u.tenant_id)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// The SKUs of the licences a user holds.
    pub async fn user_licences(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT sku_id FROM user_licences WHERE user_id = $1 ORDER BY sku_id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// The SKUs of several users' licences, by user.
    pub async fn licences_of(&self, user_ids: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in user_ids.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT user_id, sku_id FROM user_licences WHERE user_id IN ({}) ORDER BY sku_id", list.join(", "));
            let mut q = sqlx::query_as::<_, (String, String)>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for (user, sku) in q.fetch_all(self.pool()).await? {
                out.entry(user).or_default().push(sku);
            }
        }
        Ok(out)
    }

    pub async fn user_by_upn(&self, upn: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as::<_, User>("SELECT id, tenant_id, upn, display_name, password_hash, global_admin FROM users WHERE upn = $1")
            .bind(upn.to_ascii_lowercase())
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as::<_, User>("SELECT id, tenant_id, upn, display_name, password_hash, global_admin FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A page of a tenant's users by object ID, optionally one UPN only.
    pub async fn users(&self, tenant_id: &str, upn: Option<&str>, after: &str, limit: i64) -> Result<Vec<User>> {
        let only = upn.unwrap_or("").to_ascii_lowercase();
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, tenant_id, upn, display_name, password_hash, global_admin FROM users \
             WHERE tenant_id = $1 AND ($2 = '' OR upn = $3) AND id > $4 ORDER BY id LIMIT $5",
        )
        .bind(tenant_id)
        .bind(&only)
        .bind(&only)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// `(id, display_name)` of a tenant's groups.
    pub async fn groups(&self, tenant_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as::<_, (String, String)>(
            "SELECT id, display_name FROM directory_groups WHERE tenant_id = $1 ORDER BY display_name, id",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Members of a group, which must belong to `tenant_id`, as a page by user ID.
    pub async fn group_members(&self, tenant_id: &str, group_id: &str, after: &str, limit: i64) -> Result<Vec<User>> {
        Ok(sqlx::query_as::<_, User>(
            "SELECT u.id, u.tenant_id, u.upn, u.display_name, u.password_hash, u.global_admin FROM group_members m \
             JOIN users u ON u.id = m.user_id JOIN directory_groups g ON g.id = m.group_id \
             WHERE g.tenant_id = $1 AND m.group_id = $2 AND u.id > $3 ORDER BY u.id LIMIT $4",
        )
        .bind(tenant_id)
        .bind(group_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Application registrations owned by a tenant.
    pub async fn applications_of(&self, tenant_id: &str) -> Result<Vec<Application>> {
        let ids =
            sqlx::query_scalar::<_, String>("SELECT app_id FROM applications WHERE owner_tenant_id = $1 ORDER BY display_name, app_id")
                .bind(tenant_id)
                .fetch_all(self.pool())
                .await?;
        let mut apps = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = self.application(&id).await? {
                apps.push(a);
            }
        }
        Ok(apps)
    }

    /// `(id, hint, expires_ms)` of an application's secrets.
    pub async fn secret_hints(&self, app_id: &str) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as::<_, (String, String, i64)>("SELECT id, hint, expires_ms FROM app_secrets WHERE app_id = $1 ORDER BY created_ms")
            .bind(app_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn insert_group(&self, id: &str, tenant_id: &str, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO directory_groups (id, tenant_id, display_name) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(tenant_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn add_group_member(&self, group_id: &str, user_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(group_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ---- applications, service principals, grants -------------------------------------

    pub async fn insert_application(&self, a: &Application, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO applications (app_id, object_id, owner_tenant_id, display_name, multi_tenant, public_client, \
             identifier_uri, redirect_uris, required_permissions, app_roles, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&a.app_id)
        .bind(&a.object_id)
        .bind(a.owner_tenant_id.clone())
        .bind(&a.display_name)
        .bind(a.multi_tenant as i64)
        .bind(a.public_client as i64)
        .bind(a.identifier_uri.clone())
        .bind(serde_json::to_string(&a.redirect_uris).unwrap_or_default())
        .bind(serde_json::to_string(&a.required_permissions).unwrap_or_default())
        .bind(serde_json::to_string(&a.app_roles).unwrap_or_default())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn application(&self, app_id: &str) -> Result<Option<Application>> {
        let row = sqlx::query(
            "SELECT app_id, object_id, owner_tenant_id, display_name, multi_tenant, public_client, identifier_uri, \
             redirect_uris, required_permissions, app_roles FROM applications WHERE app_id = $1",
        )
        .bind(app_id.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Application {
            app_id: r.get(0),
            object_id: r.get(1),
            owner_tenant_id: r.get(2),
            display_name: r.get(3),
            multi_tenant: r.get::<i64, _>(4) != 0,
            public_client: r.get::<i64, _>(5) != 0,
            identifier_uri: r.get(6),
            redirect_uris: json(&r.get::<String, _>(7)),
            required_permissions: json(&r.get::<String, _>(8)),
            app_roles: json(&r.get::<String, _>(9)),
        }))
    }

    pub async fn set_required_permissions(&self, app_id: &str, permissions: &[Permission]) -> Result<()> {
        sqlx::query("UPDATE applications SET required_permissions = $1 WHERE app_id = $2")
            .bind(serde_json::to_string(permissions).unwrap_or_default())
            .bind(app_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_redirect_uris(&self, app_id: &str, uris: &[String]) -> Result<()> {
        sqlx::query("UPDATE applications SET redirect_uris = $1 WHERE app_id = $2")
            .bind(serde_json::to_string(uris).unwrap_or_default())
            .bind(app_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_secret(&self, app_id: &str, digest: &str, hint: &str, expires_ms: i64, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO app_secrets (id, app_id, secret_digest, hint, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(app_id)
            .bind(digest)
            .bind(hint)
            .bind(expires_ms)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// `(digest, expires_ms)` of every secret of an application.
    pub async fn secrets(&self, app_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as::<_, (String, i64)>("SELECT secret_digest, expires_ms FROM app_secrets WHERE app_id = $1")
            .bind(app_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn insert_certificate(&self, app_id: &str, der: &[u8], sha1: &[u8], sha256: &[u8], expires_ms: i64, now: i64) -> Result<()> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        sqlx::query(
            "INSERT INTO app_certificates (id, app_id, certificate_der, thumbprint_sha1, thumbprint_sha256, expires_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(app_id)
        .bind(b64.encode(der))
        .bind(b64.encode(sha1))
        .bind(b64.encode(sha256))
        .bind(expires_ms)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn certificates(&self, app_id: &str) -> Result<Vec<crate::entra::assertions::RegisteredCertificate>> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let rows = sqlx::query_as::<_, (String, String, String, i64)>(
            "SELECT certificate_der, thumbprint_sha1, thumbprint_sha256, expires_ms FROM app_certificates WHERE app_id = $1",
        )
        .bind(app_id.to_ascii_lowercase())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(der, sha1, sha256, expires_ms)| crate::entra::assertions::RegisteredCertificate {
                der: b64.decode(der).unwrap_or_default(),
                thumbprint_sha1: b64.decode(sha1).unwrap_or_default(),
                thumbprint_sha256: b64.decode(sha256).unwrap_or_default(),
                expires_ms,
            })
            .collect())
    }

    /// Records a client assertion's `jti`; false if it was seen before (a replay).
    /// Records an app's client assertion by `jti`; `false` when another assertion already
    /// used that `jti` (the same assertion presented again is fine until it expires).
    pub async fn record_assertion(&self, app_id: &str, jti: &str, digest: &str, expires_ms: i64, now: i64) -> Result<bool> {
        sqlx::query("DELETE FROM used_assertions WHERE expires_ms < $1").bind(now).execute(self.pool()).await?;
        sqlx::query(
            "INSERT INTO used_assertions (jti, app_id, expires_ms, assertion_digest) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(jti)
        .bind(app_id)
        .bind(expires_ms)
        .bind(digest)
        .execute(self.pool())
        .await?;
        let stored = sqlx::query_scalar::<_, Option<String>>("SELECT assertion_digest FROM used_assertions WHERE app_id = $1 AND jti = $2")
            .bind(app_id)
            .bind(jti)
            .fetch_optional(self.pool())
            .await?;
        Ok(stored.flatten().as_deref() == Some(digest))
    }

    /// The tenant's service principal for `app_id`, created if missing.
    pub async fn ensure_service_principal(&self, tenant_id: &str, app_id: &str, name: &str, now: i64) -> Result<String> {
        sqlx::query(
            "INSERT INTO service_principals (id, tenant_id, app_id, display_name, created_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, app_id) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(tenant_id)
        .bind(app_id)
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await?;
        let sp = self.service_principal(tenant_id, app_id).await?;
        sp.map(|sp| sp.id).ok_or_else(|| crate::error::CloudError::internal("service principal vanished"))
    }

    pub async fn service_principal(&self, tenant_id: &str, app_id: &str) -> Result<Option<ServicePrincipal>> {
        Ok(sqlx::query_as::<_, ServicePrincipal>(
            "SELECT id, tenant_id, app_id, display_name FROM service_principals WHERE tenant_id = $1 AND app_id = $2",
        )
        .bind(tenant_id)
        .bind(app_id.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn service_principals(&self, tenant_id: &str) -> Result<Vec<ServicePrincipal>> {
        Ok(sqlx::query_as::<_, ServicePrincipal>(
            "SELECT id, tenant_id, app_id, display_name FROM service_principals WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Deletes an enterprise application (service principal) and its grants.
    pub async fn delete_service_principal(&self, tenant_id: &str, sp_id: &str) -> Result<bool> {
        sqlx::query("DELETE FROM permission_grants WHERE tenant_id = $1 AND sp_id = $2")
            .bind(tenant_id)
            .bind(sp_id)
            .execute(self.pool())
            .await?;
        let r = sqlx::query("DELETE FROM service_principals WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(sp_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn revoke(&self, sp_id: &str, p: &Permission) -> Result<bool> {
        let r = sqlx::query("DELETE FROM permission_grants WHERE sp_id = $1 AND resource_app_id = $2 AND kind = $3 AND permission = $4")
            .bind(sp_id)
            .bind(&p.resource_app_id)
            .bind(&p.kind)
            .bind(&p.value)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn grant(&self, tenant_id: &str, sp_id: &str, p: &Permission, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO permission_grants (id, tenant_id, sp_id, resource_app_id, kind, permission, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sp_id, resource_app_id, kind, permission) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(tenant_id)
        .bind(sp_id)
        .bind(&p.resource_app_id)
        .bind(&p.kind)
        .bind(&p.value)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn grants(&self, sp_id: &str) -> Result<Vec<Permission>> {
        let rows = sqlx::query_as::<_, (String, String, String)>(
            "SELECT resource_app_id, kind, permission FROM permission_grants WHERE sp_id = $1 ORDER BY resource_app_id, kind, permission",
        )
        .bind(sp_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(r, k, v)| Permission { resource_app_id: r, kind: k, value: v }).collect())
    }

    // ---- keys, sessions, consent -------------------------------------------------------

    pub async fn insert_signing_key(&self, kid: &str, pem: &str, certificate_der: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_ms, certificate_der) VALUES ($1, $2, $3, $4)")
            .bind(kid)
            .bind(pem)
            .bind(now)
            .bind(certificate_der)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores the certificate of a key made before keys had one.
    pub async fn set_signing_key_certificate(&self, kid: &str, certificate_der: &str) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET certificate_der = $1 WHERE kid = $2")
            .bind(certificate_der)
            .bind(kid)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_signing_key(&self, kid: &str) -> Result<()> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid).execute(self.pool()).await?;
        Ok(())
    }

    /// `(kid, pem, created_ms, certificate DER in base64)`, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<(String, String, i64, Option<String>)>> {
        Ok(sqlx::query_as::<_, (String, String, i64, Option<String>)>(
            "SELECT kid, private_pem, created_ms, certificate_der FROM signing_keys ORDER BY created_ms DESC",
        )
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn insert_console_session(&self, digest: &str, user_id: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO console_sessions (token_digest, user_id, expires_ms) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(user_id)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn console_session_user(&self, digest: &str, now: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT user_id FROM console_sessions WHERE token_digest = $1 AND expires_ms > $2")
            .bind(digest)
            .bind(now)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn insert_consent_request(&self, r: &ConsentRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO consent_requests (id, tenant_hint, client_id, redirect_uri, state, user_id, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id)
        .bind(&r.tenant_hint)
        .bind(&r.client_id)
        .bind(&r.redirect_uri)
        .bind(r.state.clone())
        .bind(r.user_id.clone())
        .bind(r.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn consent_request(&self, id: &str, now: i64) -> Result<Option<ConsentRequest>> {
        Ok(sqlx::query_as::<_, ConsentRequest>(
            "SELECT id, tenant_hint, client_id, redirect_uri, state, user_id, expires_ms FROM consent_requests \
             WHERE id = $1 AND expires_ms > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn set_consent_user(&self, id: &str, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE consent_requests SET user_id = $1 WHERE id = $2").bind(user_id).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Removes a consent request; true if this call removed it (single use).
    pub async fn take_consent_request(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM consent_requests WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- Conditional Access, interactive sign-in ----------------------------------------

    pub async fn insert_ca_policy(&self, tenant_id: &str, p: &Policy, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO ca_policies (id, tenant_id, display_name, state, conditions, grant_control, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.id)
        .bind(tenant_id)
        .bind(&p.display_name)
        .bind(&p.state)
        .bind(serde_json::to_string(&p.conditions).unwrap_or_default())
        .bind(&p.grant)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn ca_policies(&self, tenant_id: &str) -> Result<Vec<Policy>> {
        let rows = sqlx::query_as::<_, (String, String, String, String, String)>(
            "SELECT id, display_name, state, conditions, grant_control FROM ca_policies WHERE tenant_id = $1 ORDER BY display_name, id",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, display_name, state, conditions, grant)| Policy {
                id,
                display_name,
                state,
                conditions: serde_json::from_str(&conditions).unwrap_or_default(),
                grant,
            })
            .collect())
    }

    pub async fn set_ca_policy_state(&self, tenant_id: &str, id: &str, state: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE ca_policies SET state = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(state)
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn groups_of_user(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT group_id FROM group_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn insert_authorize_request(&self, r: &AuthorizeRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorize_requests (id, tenant_hint, client_id, redirect_uri, scope, state, code_challenge, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(&r.tenant_hint)
        .bind(&r.client_id)
        .bind(&r.redirect_uri)
        .bind(&r.scope)
        .bind(r.state.clone())
        .bind(r.code_challenge.clone())
        .bind(r.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn authorize_request(&self, id: &str, now: i64) -> Result<Option<AuthorizeRequest>> {
        Ok(sqlx::query_as::<_, AuthorizeRequest>(
            "SELECT id, tenant_hint, client_id, redirect_uri, scope, state, code_challenge, expires_ms FROM authorize_requests \
             WHERE id = $1 AND expires_ms > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn delete_authorize_request(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM authorize_requests WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn insert_code(&self, digest: &str, c: &CodeRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_digest, client_id, redirect_uri, user_id, scope, device_id, code_challenge, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(digest)
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.user_id)
        .bind(&c.scope)
        .bind(c.device_id.clone())
        .bind(c.code_challenge.clone())
        .bind(c.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Consumes an authorization code (single use).
    pub async fn take_code(&self, digest: &str) -> Result<Option<CodeRow>> {
        Ok(sqlx::query_as::<_, CodeRow>(
            "DELETE FROM authorization_codes WHERE code_digest = $1 \
             RETURNING client_id, redirect_uri, user_id, scope, device_id, code_challenge, expires_ms",
        )
        .bind(digest)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn insert_sign_in(&self, s: &SignInRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO sign_in_logs (id, tenant_id, at_ms, user_id, upn, app_id, app_name, device_id, error_code, failure_reason, ca_status, policies) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&s.id)
        .bind(&s.tenant_id)
        .bind(s.at_ms)
        .bind(&s.user_id)
        .bind(&s.upn)
        .bind(&s.app_id)
        .bind(&s.app_name)
        .bind(s.device_id.clone())
        .bind(s.error_code)
        .bind(s.failure_reason.clone())
        .bind(&s.ca_status)
        .bind(&s.policies)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A tenant's newest sign-ins first.
    pub async fn sign_ins(&self, tenant_id: &str, limit: i64) -> Result<Vec<SignInRow>> {
        Ok(sqlx::query_as::<_, SignInRow>(
            "SELECT id, tenant_id, at_ms, user_id, upn, app_id, app_name, device_id, error_code, failure_reason, ca_status, policies \
             FROM sign_in_logs WHERE tenant_id = $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(tenant_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    // ---- devices -----------------------------------------------------------------------

    pub async fn device_ca(&self, tenant_id: &str) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as::<_, (String, String)>("SELECT cert_pem, key_pem FROM device_cas WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn insert_device_ca(&self, tenant_id: &str, cert_pem: &str, key_pem: &str) -> Result<()> {
        sqlx::query("INSERT INTO device_cas (tenant_id, cert_pem, key_pem) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(tenant_id)
            .bind(cert_pem)
            .bind(key_pem)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_device(&self, d: &DeviceRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO devices (id, tenant_id, device_id, display_name, owner_user_id, operating_system, os_version, \
             public_key, certificate_thumbprint, is_compliant, is_managed, mdm_app_id, registered_ms, compliance_updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&d.id)
        .bind(&d.tenant_id)
        .bind(&d.device_id)
        .bind(&d.display_name)
        .bind(&d.owner_user_id)
        .bind(&d.operating_system)
        .bind(&d.os_version)
        .bind(&d.public_key)
        .bind(&d.certificate_thumbprint)
        .bind(d.is_compliant)
        .bind(d.is_managed)
        .bind(d.mdm_app_id.clone())
        .bind(d.registered_ms)
        .bind(d.compliance_updated_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    const DEVICE_COLUMNS: &str = "id, tenant_id, device_id, display_name, owner_user_id, operating_system, os_version, \
        public_key, certificate_thumbprint, is_compliant, is_managed, mdm_app_id, registered_ms, compliance_updated_ms";

    pub async fn device(&self, tenant_id: &str, device_id: &str) -> Result<Option<DeviceRow>> {
        let sql = format!("SELECT {} FROM devices WHERE tenant_id = $1 AND device_id = $2", Self::DEVICE_COLUMNS);
        Ok(sqlx::query_as::<_, DeviceRow>(&sql).bind(tenant_id).bind(device_id.to_ascii_lowercase()).fetch_optional(self.pool()).await?)
    }

    /// A tenant's device by its object ID.
    pub async fn device_by_object_id(&self, tenant_id: &str, id: &str) -> Result<Option<DeviceRow>> {
        let sql = format!("SELECT {} FROM devices WHERE tenant_id = $1 AND id = $2", Self::DEVICE_COLUMNS);
        Ok(sqlx::query_as::<_, DeviceRow>(&sql).bind(tenant_id).bind(id).fetch_optional(self.pool()).await?)
    }

    /// One page of a tenant's devices ordered by device ID, optionally only one device ID.
    pub async fn devices(&self, tenant_id: &str, device_id: Option<&str>, after: &str, limit: i64) -> Result<Vec<DeviceRow>> {
        let sql = format!(
            "SELECT {} FROM devices WHERE tenant_id = $1 AND ($2 = '' OR device_id = $3) AND device_id > $4 \
             ORDER BY device_id LIMIT $5",
            Self::DEVICE_COLUMNS
        );
        let only = device_id.unwrap_or("").to_ascii_lowercase();
        Ok(sqlx::query_as::<_, DeviceRow>(&sql)
            .bind(tenant_id)
            .bind(&only)
            .bind(&only)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    // ---- partners ----------------------------------------------------------------------

    pub async fn partner(&self, tenant_id: &str) -> Result<Option<PartnerRow>> {
        Ok(sqlx::query_as::<_, PartnerRow>(
            "SELECT tenant_id, app_id, partner_state, provisioned, enrollment_url, remediation_url, last_heartbeat_ms, \
             noncompliant_at_ms, removal_at_ms, updated_ms, devices_noncompliant_applied, devices_removed, include_groups, exclude_groups FROM partners WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn save_partner(&self, p: &PartnerRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO partners (tenant_id, app_id, partner_state, provisioned, enrollment_url, remediation_url, \
             last_heartbeat_ms, noncompliant_at_ms, removal_at_ms, updated_ms, devices_noncompliant_applied, devices_removed, \
             include_groups, exclude_groups) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id) DO UPDATE SET app_id = excluded.app_id, partner_state = excluded.partner_state, \
             provisioned = excluded.provisioned, enrollment_url = excluded.enrollment_url, remediation_url = excluded.remediation_url, \
             last_heartbeat_ms = excluded.last_heartbeat_ms, noncompliant_at_ms = excluded.noncompliant_at_ms, \
             removal_at_ms = excluded.removal_at_ms, updated_ms = excluded.updated_ms, \
             devices_noncompliant_applied = excluded.devices_noncompliant_applied, devices_removed = excluded.devices_removed, \
             include_groups = excluded.include_groups, exclude_groups = excluded.exclude_groups",
        )
        .bind(&p.tenant_id)
        .bind(p.app_id.clone())
        .bind(&p.partner_state)
        .bind(p.provisioned)
        .bind(p.enrollment_url.clone())
        .bind(p.remediation_url.clone())
        .bind(p.last_heartbeat_ms)
        .bind(p.noncompliant_at_ms)
        .bind(p.removal_at_ms)
        .bind(p.updated_ms)
        .bind(p.devices_noncompliant_applied)
        .bind(p.devices_removed)
        .bind(&p.include_groups)
        .bind(&p.exclude_groups)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every partner whose state or clocks may move with time.
    pub async fn partners_with_clocks(&self) -> Result<Vec<PartnerRow>> {
        Ok(sqlx::query_as::<_, PartnerRow>(
            "SELECT tenant_id, app_id, partner_state, provisioned, enrollment_url, remediation_url, last_heartbeat_ms, \
             noncompliant_at_ms, removal_at_ms, updated_ms, devices_noncompliant_applied, devices_removed, include_groups, exclude_groups FROM partners \
             WHERE partner_state IN ('enabled', 'terminated')",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The +24 h clock: every device the partner reported is noncompliant, in Intune and Entra.
    pub async fn mark_partner_devices_noncompliant(&self, tenant_id: &str, now: i64) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("UPDATE managed_devices SET compliance_state = 'noncompliant', last_sync_ms = $1 WHERE tenant_id = $2")
            .bind(now)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE devices SET is_compliant = 0, compliance_updated_ms = $1 WHERE tenant_id = $2 \
             AND device_id IN (SELECT device_id FROM managed_devices WHERE tenant_id = $3)",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The +90 days clock: the partner's devices leave Intune; their Entra devices are no
    /// longer managed (and stay noncompliant).
    pub async fn remove_partner_devices(&self, tenant_id: &str, now: i64) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "UPDATE devices SET is_managed = 0, mdm_app_id = NULL, is_compliant = 0, compliance_updated_ms = $1 WHERE tenant_id = $2 \
             AND device_id IN (SELECT device_id FROM managed_devices WHERE tenant_id = $3)",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM managed_devices WHERE tenant_id = $1").bind(tenant_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- partner compliance management -------------------------------------------------

    pub async fn insert_compliance_partner(&self, c: &CompliancePartnerRow, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO compliance_partners (id, tenant_id, display_name, app_id, mac_groups, partner_state, last_heartbeat_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) ON CONFLICT (tenant_id, app_id) DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.display_name)
        .bind(&c.app_id)
        .bind(&c.mac_groups)
        .bind(&c.partner_state)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn compliance_partners(&self, tenant_id: &str) -> Result<Vec<CompliancePartnerRow>> {
        Ok(sqlx::query_as::<_, CompliancePartnerRow>(
            "SELECT id, tenant_id, display_name, app_id, mac_groups, partner_state, last_heartbeat_ms FROM compliance_partners \
             WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A compliance partner confirmed (provisioning or heartbeat): Active.
    pub async fn activate_compliance_partner(&self, tenant_id: &str, app_id: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE compliance_partners SET partner_state = 'enabled', last_heartbeat_ms = $1 WHERE tenant_id = $2 AND app_id = $3",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(app_id)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Creates a partner compliance policy; false if one with that name exists on the platform.
    pub async fn insert_partner_policy(&self, p: &PartnerPolicyRow, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO partner_compliance_policies (id, tenant_id, app_id, display_name, description, platform, assignments, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, '[]', $7) ON CONFLICT (tenant_id, platform, display_name) DO NOTHING",
        )
        .bind(&p.id)
        .bind(&p.tenant_id)
        .bind(&p.app_id)
        .bind(&p.display_name)
        .bind(&p.description)
        .bind(&p.platform)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn partner_policies(&self, tenant_id: &str) -> Result<Vec<PartnerPolicyRow>> {
        Ok(sqlx::query_as::<_, PartnerPolicyRow>(
            "SELECT id, tenant_id, app_id, display_name, description, platform, assignments FROM partner_compliance_policies \
             WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn set_partner_policy_assignments(&self, tenant_id: &str, id: &str, assignments: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE partner_compliance_policies SET assignments = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(assignments)
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- compliance policies and managed devices ---------------------------------------

    pub async fn insert_policy(&self, p: &PolicyRow, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO compliance_policies (id, tenant_id, display_name, settings, created_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&p.id)
            .bind(&p.tenant_id)
            .bind(&p.display_name)
            .bind(&p.settings)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn assign_policy(&self, policy_id: &str, group_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO policy_assignments (policy_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(policy_id)
            .bind(group_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Policies that apply to a user through the user groups it belongs to.
    /// The compliance policies assigned (through their groups) to each of `user_ids`.
    pub async fn policies_for_users(&self, tenant_id: &str, user_ids: &[String]) -> Result<HashMap<String, Vec<PolicyRow>>> {
        let mut out: HashMap<String, Vec<PolicyRow>> = HashMap::new();
        for chunk in user_ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT DISTINCT m.user_id, p.id, p.tenant_id, p.display_name, p.settings FROM compliance_policies p \
                 JOIN policy_assignments a ON a.policy_id = p.id \
                 JOIN group_members m ON m.group_id = a.group_id \
                 WHERE p.tenant_id = $1 AND m.user_id IN ({}) ORDER BY p.id",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(tenant_id);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(self.pool()).await? {
                out.entry(r.get(0)).or_default().push(PolicyRow {
                    id: r.get(1),
                    tenant_id: r.get(2),
                    display_name: r.get(3),
                    settings: r.get(4),
                });
            }
        }
        Ok(out)
    }

    /// The tenant's Entra devices among `device_ids` (lower case), by device ID.
    pub async fn devices_by_ids(&self, tenant_id: &str, device_ids: &[String]) -> Result<HashMap<String, DeviceRow>> {
        let mut out = HashMap::new();
        for chunk in device_ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {} FROM devices WHERE tenant_id = $1 AND device_id IN ({})",
                Self::DEVICE_COLUMNS,
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query_as::<_, DeviceRow>(&sql).bind(tenant_id);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await?.into_iter().map(|d| (d.device_id.clone(), d)));
        }
        Ok(out)
    }

    /// The managed devices among `device_ids`, by device ID.
    pub async fn managed_devices_by_ids(&self, device_ids: &[String]) -> Result<HashMap<String, ManagedDeviceRow>> {
        let mut out = HashMap::new();
        for chunk in device_ids.chunks(IN_CHUNK) {
            let sql = format!("SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE device_id IN ({})", placeholders(1, chunk.len()));
            let mut q = sqlx::query_as::<_, ManagedDeviceRow>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await?.into_iter().map(|m| (m.device_id.clone(), m)));
        }
        Ok(out)
    }

    pub async fn policies_for_user(&self, tenant_id: &str, user_id: &str) -> Result<Vec<PolicyRow>> {
        Ok(sqlx::query_as::<_, PolicyRow>(
            "SELECT DISTINCT p.id, p.tenant_id, p.display_name, p.settings FROM compliance_policies p \
             JOIN policy_assignments a ON a.policy_id = p.id \
             JOIN group_members m ON m.group_id = a.group_id \
             WHERE p.tenant_id = $1 AND m.user_id = $2 ORDER BY p.id",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn policies(&self, tenant_id: &str) -> Result<Vec<PolicyRow>> {
        Ok(sqlx::query_as::<_, PolicyRow>(
            "SELECT id, tenant_id, display_name, settings FROM compliance_policies WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn policy(&self, tenant_id: &str, id: &str) -> Result<Option<PolicyRow>> {
        Ok(sqlx::query_as::<_, PolicyRow>(
            "SELECT id, tenant_id, display_name, settings FROM compliance_policies WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Group IDs a policy is assigned to.
    pub async fn policy_assignments(&self, policy_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT group_id FROM policy_assignments WHERE policy_id = $1 ORDER BY group_id")
            .bind(policy_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Replaces a policy's assignments.
    pub async fn set_policy_assignments(&self, policy_id: &str, groups: &[String]) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("DELETE FROM policy_assignments WHERE policy_id = $1").bind(policy_id).execute(&mut *tx).await?;
        for g in groups {
            sqlx::query("INSERT INTO policy_assignments (policy_id, group_id) VALUES ($1, $2)")
                .bind(policy_id)
                .bind(g)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts of a tenant's partner devices per compliance state.
    pub async fn compliance_counts(&self, tenant_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as::<_, (String, i64)>(
            "SELECT compliance_state, COUNT(*) FROM managed_devices WHERE tenant_id = $1 GROUP BY compliance_state ORDER BY compliance_state",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A tenant's partner-managed device by its Intune ID.
    pub async fn managed_device_by_id(&self, tenant_id: &str, id: &str) -> Result<Option<ManagedDeviceRow>> {
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The principal names of users, by object ID.
    pub async fn upns_of(&self, user_ids: &[String]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in user_ids.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id, upn FROM users WHERE id IN ({})", list.join(", "));
            let mut q = sqlx::query_as::<_, (String, String)>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    pub async fn managed_device(&self, device_id: &str) -> Result<Option<ManagedDeviceRow>> {
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!("SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE device_id = $1"))
            .bind(device_id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn managed_devices(&self, tenant_id: &str, after: &str, limit: i64) -> Result<Vec<ManagedDeviceRow>> {
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(tenant_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// `(no policy counts as compliant, validity period in days)` of a tenant.
    pub async fn compliance_settings(&self, tenant_id: &str, default_no_policy: bool) -> Result<(bool, i64)> {
        let row = sqlx::query_as::<_, (i64, i64)>(
            "SELECT no_policy_is_compliant, validity_days FROM tenant_compliance_settings WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(n, d)| (n != 0, d)).unwrap_or((default_no_policy, DEFAULT_VALIDITY_DAYS)))
    }

    pub async fn save_compliance_settings(&self, tenant_id: &str, no_policy_is_compliant: bool, validity_days: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenant_compliance_settings (tenant_id, no_policy_is_compliant, validity_days) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET no_policy_is_compliant = excluded.no_policy_is_compliant, validity_days = excluded.validity_days",
        )
        .bind(tenant_id)
        .bind(no_policy_is_compliant as i64)
        .bind(validity_days)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Devices whose grace period ended become noncompliant. Returns how many.
    pub async fn expire_grace_periods(&self, now: i64) -> Result<u64> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "UPDATE devices SET is_compliant = 0, compliance_updated_ms = $1 WHERE device_id IN \
             (SELECT device_id FROM managed_devices WHERE compliance_state = 'inGracePeriod' AND grace_expires_ms <= $2)",
        )
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query("UPDATE managed_devices SET compliance_state = 'noncompliant' WHERE compliance_state = 'inGracePeriod' AND grace_expires_ms <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    /// Devices that have not reported within their tenant's validity period become
    /// noncompliant. Returns how many.
    pub async fn enforce_validity_period(&self, now: i64) -> Result<u64> {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let stale = "SELECT m.device_id FROM managed_devices m LEFT JOIN tenant_compliance_settings s ON s.tenant_id = m.tenant_id \
                     WHERE m.compliance_state IN ('compliant', 'inGracePeriod') \
                     AND m.partner_update_ms < $1 - COALESCE(s.validity_days, $2) * $3";
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(&format!("UPDATE devices SET is_compliant = 0, compliance_updated_ms = $4 WHERE device_id IN ({stale})"))
            .bind(now)
            .bind(DEFAULT_VALIDITY_DAYS)
            .bind(DAY_MS)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query(&format!("UPDATE managed_devices SET compliance_state = 'noncompliant' WHERE device_id IN ({stale})"))
            .bind(now)
            .bind(DEFAULT_VALIDITY_DAYS)
            .bind(DAY_MS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    // ---- uploads -----------------------------------------------------------------------

    /// Stores a new upload message; false if the ID was taken already.
    pub async fn insert_upload(&self, u: &UploadRow) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO upload_messages (message_id, tenant_id, app_id, body_digest, status, body, item_results, \
             error_code, error_detail, received_ms, processed_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, NULL, $7, NULL) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(&u.message_id)
        .bind(&u.tenant_id)
        .bind(&u.app_id)
        .bind(&u.body_digest)
        .bind(&u.status)
        .bind(&u.body)
        .bind(u.received_ms)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn upload(&self, message_id: &str) -> Result<Option<UploadRow>> {
        Ok(sqlx::query_as::<_, UploadRow>(
            "SELECT message_id, tenant_id, app_id, body_digest, status, body, item_results, error_code, error_detail, \
             received_ms FROM upload_messages WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn pending_uploads(&self, limit: i64) -> Result<Vec<UploadRow>> {
        Ok(sqlx::query_as::<_, UploadRow>(
            "SELECT message_id, tenant_id, app_id, body_digest, status, body, item_results, error_code, error_detail, \
             received_ms FROM upload_messages WHERE status = 'Pending' ORDER BY received_ms LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub fn begin(&self) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error>> + '_ {
        self.db.pool.begin()
    }
}

/// Statements that must run inside one transaction while a message is applied.
pub mod tx {
    use super::*;
    use sqlx::AnyConnection;

    pub async fn upsert_managed_device(conn: &mut AnyConnection, m: &ManagedDeviceRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO managed_devices (id, tenant_id, device_id, user_id, device_name, os_version, serial_number, \
             compliance_state, attributes, setting_results, partner_update_ms, last_sync_ms, noncompliant_since_ms, error_since_ms, \
             grace_expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id, device_name = excluded.device_name, \
             os_version = excluded.os_version, serial_number = excluded.serial_number, compliance_state = excluded.compliance_state, \
             attributes = excluded.attributes, setting_results = excluded.setting_results, partner_update_ms = excluded.partner_update_ms, \
             last_sync_ms = excluded.last_sync_ms, noncompliant_since_ms = excluded.noncompliant_since_ms, \
             error_since_ms = excluded.error_since_ms, grace_expires_ms = excluded.grace_expires_ms",
        )
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(&m.device_id)
        .bind(&m.user_id)
        .bind(m.device_name.clone())
        .bind(m.os_version.clone())
        .bind(m.serial_number.clone())
        .bind(&m.compliance_state)
        .bind(&m.attributes)
        .bind(&m.setting_results)
        .bind(m.partner_update_ms)
        .bind(m.last_sync_ms)
        .bind(m.noncompliant_since_ms)
        .bind(m.error_since_ms)
        .bind(m.grace_expires_ms)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// A device the partner no longer manages: its Intune record goes, its Entra device is
    /// no longer managed and no longer counts as compliant.
    pub async fn withdraw_device(conn: &mut AnyConnection, device_id: &str, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM managed_devices WHERE device_id = $1").bind(device_id).execute(&mut *conn).await?;
        sqlx::query(
            "UPDATE devices SET is_managed = 0, mdm_app_id = NULL, is_compliant = NULL, compliance_updated_ms = $1 WHERE device_id = $2",
        )
        .bind(now)
        .bind(device_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The only writer of an Entra device's `isCompliant` (SPEC §5: Intune decides).
    pub async fn set_device_compliance(
        conn: &mut AnyConnection,
        device_id: &str,
        compliant: Option<bool>,
        mdm_app_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE devices SET is_compliant = $1, is_managed = 1, mdm_app_id = $2, compliance_updated_ms = $3 WHERE device_id = $4",
        )
        .bind(compliant.map(|c| c as i64))
        .bind(mdm_app_id)
        .bind(now)
        .bind(device_id)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn finish_upload(
        conn: &mut AnyConnection,
        message_id: &str,
        status: &str,
        results: &str,
        error_code: i64,
        detail: Option<&str>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE upload_messages SET status = $1, item_results = $2, error_code = $3, error_detail = $4, processed_ms = $5, \
             body = '' WHERE message_id = $6",
        )
        .bind(status)
        .bind(results)
        .bind(error_code)
        .bind(detail.map(str::to_string))
        .bind(now)
        .bind(message_id)
        .execute(conn)
        .await?;
        Ok(())
    }
}
