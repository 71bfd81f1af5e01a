//! Every SQL statement of the mdm server, behind one type.

use platform::db::{Db, Migrations};
use sqlx::{AnyConnection, Row};

use crate::domain::settings::{CaSettings, status};
use crate::error::{MdmError, Result};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
    /// Seals the secrets of instance rows: in memory plaintext, in the database sealed.
    pub(crate) secrets: std::sync::Arc<platform::secrets::SecretBox>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub version: String,
    pub invitation: String,
    pub connector_instance_id: Option<String>,
    pub connector_credential: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminRow {
    pub id: String,
    pub instance_id: String,
    pub username: String,
    pub password_hash: String,
    pub privileges: String,
}

impl AdminRow {
    pub fn has_privilege(&self, p: &str) -> bool {
        serde_json::from_str::<Vec<String>>(&self.privileges).unwrap_or_default().iter().any(|x| x == p)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComputerRow {
    pub id: i64,
    pub instance_id: String,
    pub udid: String,
    pub serial_number: String,
    pub name: String,
    pub model: String,
    pub inventory: Option<String>,
    pub collected_ms: Option<i64>,
    pub sequence: i64,
    pub last_checkin_ms: Option<i64>,
    pub enrolled_ms: i64,
    /// The Conditional Access inventory state last handed over for sending.
    pub reported_state: Option<String>,
    /// Device Compliance: the verdict last handed over for sending.
    pub reported_verdict: Option<String>,
}

impl ComputerRow {
    /// The stored inventory report, dated as stored (never ahead of when it was
    /// received). `None` before the first report, or (logged) when it cannot be read.
    pub fn stored_inventory(&self) -> Option<wire::agent::InventoryReport> {
        let text = self.inventory.as_deref()?;
        match serde_json::from_str::<wire::agent::InventoryReport>(text) {
            Ok(mut report) => {
                if let Some(ms) = self.collected_ms {
                    report.collected_at = platform::clock::ms_to_rfc3339(ms);
                }
                Some(report)
            }
            Err(e) => {
                tracing::warn!(computer = self.id, error = %e, "the stored inventory cannot be read; the next full report replaces it");
                None
            }
        }
    }
}

/// One entry of a computer's inventory history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub sequence: i64,
    /// `full`, `partial`, `registration`, `reconcile` or `state`.
    pub kind: String,
    pub collected_ms: i64,
    pub received_ms: i64,
    /// The sections that changed, comma separated.
    pub changed: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Id,
    Name,
    Serial,
}

/// A parsed inventory API request.
#[derive(Debug, Clone)]
pub struct InventoryQuery {
    pub name: Option<String>,
    pub serial: Option<String>,
    pub udid: Option<String>,
    pub sort_column: SortColumn,
    pub descending: bool,
    pub page: i64,
    pub page_size: i64,
}

impl InventoryQuery {
    /// Rows skipped before the page: a page beyond any count (even past `i64::MAX` rows)
    /// is an empty page, never the first one again.
    pub fn offset(&self) -> i64 {
        self.page.saturating_mul(self.page_size)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocalUserRow {
    pub computer_id: i64,
    pub username: String,
    pub aad_device_id: Option<String>,
    pub aad_user_id: Option<String>,
    pub upn: Option<String>,
    pub registered_ms: Option<i64>,
    pub delivery_state: String,
    pub delivery_detail: Option<String>,
    /// When the user disappeared from the computer's inventory (DEACTIVATED).
    pub removed_ms: Option<i64>,
    /// What the cloud decided for this user's Entra device (last accepted update).
    pub compliance_state: Option<String>,
    /// JSON array of the cloud's reasons when not compliant.
    pub compliance_reasons: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CaRow {
    pub settings: CaSettings,
    pub link_id: Option<String>,
    pub link_status: String,
    pub checks: String,
    /// Manual mode: the sealed client secret and the tenant's GUID once known.
    pub manual_secret: Option<String>,
    pub manual_tenant_id: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub at_ms: i64,
    pub username: String,
    pub object_type: String,
    pub object_name: String,
    pub action: String,
    pub details: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub computer_id: i64,
    /// The registered user's Entra device the item is for (none in rows written before
    /// items were kept per registration).
    pub device_id: Option<String>,
    pub sequence: i64,
    pub payload: String,
    pub attempts: i64,
    pub created_ms: i64,
}

const COMPUTER_COLUMNS: &str = "id, instance_id, udid, serial_number, name, model, inventory, collected_ms, sequence, last_checkin_ms, enrolled_ms, reported_state, reported_verdict";
const LOCAL_USER_COLUMNS: &str = "computer_id, username, aad_device_id, aad_user_id, upn, registered_ms, delivery_state, delivery_detail, \
     removed_ms, compliance_state, compliance_reasons";

impl Store {
    /// Connects and seals any instance secret still held in clear (written before the
    /// mdm sealed them).
    pub async fn connect(url: &str, secrets: std::sync::Arc<platform::secrets::SecretBox>) -> Result<Store, MdmError> {
        let store = Store { db: Db::connect(url, &MIGRATIONS).await.map_err(MdmError::internal)?, secrets };
        store.seal_instance_secrets().await?;
        Ok(store)
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    pub fn begin(&self) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error>> + '_ {
        self.db.begin()
    }

    // ---- instances and admins ----------------------------------------------------------

    pub async fn insert_instance(&self, i: &InstanceRow, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, slug, name, version, invitation, connector_instance_id, connector_credential, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6)",
        )
        .bind(&i.id)
        .bind(&i.slug)
        .bind(&i.name)
        .bind(&i.version)
        .bind(self.secrets.seal_value(&i.invitation, &crate::sealed::secret_context("invitation", &i.id)))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn instance_by_slug(&self, slug: &str) -> Result<Option<InstanceRow>> {
        let row = sqlx::query_as::<_, InstanceRow>(
            "SELECT id, slug, name, version, invitation, connector_instance_id, connector_credential FROM instances WHERE slug = $1",
        )
        .bind(slug)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| self.opened(r)).transpose()
    }

    pub async fn instances(&self) -> Result<Vec<InstanceRow>> {
        let rows = sqlx::query_as::<_, InstanceRow>(
            "SELECT id, slug, name, version, invitation, connector_instance_id, connector_credential FROM instances ORDER BY slug",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(|r| self.opened(r)).collect()
    }

    pub async fn set_connector_registration(&self, instance_id: &str, connector_instance_id: &str, credential: &str) -> Result<()> {
        sqlx::query("UPDATE instances SET connector_instance_id = $1, connector_credential = $2 WHERE id = $3")
            .bind(connector_instance_id)
            .bind(self.secrets.seal_value(credential, &crate::sealed::secret_context("connector_credential", instance_id)))
            .bind(instance_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_admin(&self, a: &AdminRow) -> Result<()> {
        sqlx::query("INSERT INTO admins (id, instance_id, username, password_hash, privileges) VALUES ($1, $2, $3, $4, $5)")
            .bind(&a.id)
            .bind(&a.instance_id)
            .bind(&a.username)
            .bind(&a.password_hash)
            .bind(&a.privileges)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn admin_by_username(&self, instance_id: &str, username: &str) -> Result<Option<AdminRow>> {
        Ok(sqlx::query_as::<_, AdminRow>(
            "SELECT id, instance_id, username, password_hash, privileges FROM admins WHERE instance_id = $1 AND username = $2",
        )
        .bind(instance_id)
        .bind(username)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn insert_session(&self, digest: &str, admin_id: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_digest, admin_id, expires_ms) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(admin_id)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn session_admin(&self, digest: &str, now: i64) -> Result<Option<AdminRow>> {
        Ok(sqlx::query_as::<_, AdminRow>(
            "SELECT a.id, a.instance_id, a.username, a.password_hash, a.privileges FROM sessions s JOIN admins a ON a.id = s.admin_id \
             WHERE s.token_digest = $1 AND s.expires_ms > $2",
        )
        .bind(digest)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    // ---- API clients -------------------------------------------------------------------

    pub async fn insert_api_client(&self, instance_id: &str, client_id: &str, name: &str, secret_digest: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_clients (client_id, instance_id, display_name, secret_digest, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(client_id)
        .bind(instance_id)
        .bind(name)
        .bind(secret_digest)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `(client_id, display_name)` of an instance's API clients.
    pub async fn api_clients(&self, instance_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as::<_, (String, String)>(
            "SELECT client_id, display_name FROM api_clients WHERE instance_id = $1 ORDER BY created_ms",
        )
        .bind(instance_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn api_client_secret(&self, instance_id: &str, client_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT secret_digest FROM api_clients WHERE instance_id = $1 AND client_id = $2")
            .bind(instance_id)
            .bind(client_id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn insert_api_token(&self, digest: &str, client_id: &str, instance_id: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (token_digest, client_id, instance_id, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(digest)
            .bind(client_id)
            .bind(instance_id)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn api_token_valid(&self, digest: &str, instance_id: &str, now: i64) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT client_id FROM api_tokens WHERE token_digest = $1 AND instance_id = $2 AND expires_ms > $3",
        )
        .bind(digest)
        .bind(instance_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }

    /// Computers of an instance for the inventory API: equality filters on name, serial
    /// number and UDID, a sort key, and offset paging. Returns the page and the total.
    pub async fn computers_page(&self, instance_id: &str, q: &InventoryQuery) -> Result<(Vec<ComputerRow>, i64)> {
        let name = q.name.clone().unwrap_or_default();
        let serial = q.serial.clone().unwrap_or_default();
        let udid = q.udid.clone().unwrap_or_default();
        let filter = "instance_id = $1 AND ($2 = '' OR name = $3) AND ($4 = '' OR serial_number = $5) AND ($6 = '' OR udid = $7)";
        let total = sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM computers WHERE {filter}"))
            .bind(instance_id)
            .bind(&name)
            .bind(&name)
            .bind(&serial)
            .bind(&serial)
            .bind(&udid)
            .bind(&udid)
            .fetch_one(self.pool())
            .await?;
        // The sort column comes from a fixed list, never from the request text.
        let order = match (q.sort_column, q.descending) {
            (SortColumn::Id, false) => "id ASC",
            (SortColumn::Id, true) => "id DESC",
            (SortColumn::Name, false) => "name ASC, id ASC",
            (SortColumn::Name, true) => "name DESC, id DESC",
            (SortColumn::Serial, false) => "serial_number ASC, id ASC",
            (SortColumn::Serial, true) => "serial_number DESC, id DESC",
        };
        let rows = sqlx::query_as::<_, ComputerRow>(&format!(
            "SELECT {COMPUTER_COLUMNS} FROM computers WHERE {filter} ORDER BY {order} LIMIT $8 OFFSET $9"
        ))
        .bind(instance_id)
        .bind(&name)
        .bind(&name)
        .bind(&serial)
        .bind(&serial)
        .bind(&udid)
        .bind(&udid)
        .bind(q.page_size)
        .bind(q.offset())
        .fetch_all(self.pool())
        .await?;
        Ok((rows, total))
    }

    // ---- computers ---------------------------------------------------------------------

    /// Enrols a computer (or re-enrols it with a new credential); returns its ID.
    #[allow(clippy::too_many_arguments)]
    pub async fn enroll_computer(
        &self,
        instance_id: &str,
        udid: &str,
        serial: &str,
        name: &str,
        model: &str,
        credential_digest: &str,
        now: i64,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO computers (instance_id, udid, serial_number, name, model, credential_digest, inventory, collected_ms, sequence, last_checkin_ms, enrolled_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, 0, $7, $8) \
             ON CONFLICT (instance_id, udid) DO UPDATE SET credential_digest = $9, serial_number = $10, name = $11, model = $12")
            .bind(instance_id).bind(udid).bind(serial).bind(name).bind(model).bind(credential_digest).bind(now).bind(now)
            .bind(credential_digest).bind(serial).bind(name).bind(model)
            .execute(self.pool()).await?;
        Ok(sqlx::query_scalar::<_, i64>("SELECT id FROM computers WHERE instance_id = $1 AND udid = $2")
            .bind(instance_id)
            .bind(udid)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn computer_by_credential(&self, instance_id: &str, digest: &str) -> Result<Option<ComputerRow>> {
        Ok(sqlx::query_as::<_, ComputerRow>(&format!(
            "SELECT {COMPUTER_COLUMNS} FROM computers WHERE instance_id = $1 AND credential_digest = $2"
        ))
        .bind(instance_id)
        .bind(digest)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn computer_by_udid(&self, instance_id: &str, udid: &str) -> Result<Option<ComputerRow>> {
        Ok(sqlx::query_as::<_, ComputerRow>(&format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE instance_id = $1 AND udid = $2"))
            .bind(instance_id)
            .bind(udid)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn computer(&self, instance_id: &str, id: i64) -> Result<Option<ComputerRow>> {
        Ok(sqlx::query_as::<_, ComputerRow>(&format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE instance_id = $1 AND id = $2"))
            .bind(instance_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A page of an instance's computers, by ID, whose name or serial contains `search`.
    pub async fn computers(&self, instance_id: &str, search: &str, after: i64, limit: i64) -> Result<Vec<ComputerRow>> {
        let pattern = format!("%{}%", search.to_ascii_lowercase());
        Ok(sqlx::query_as::<_, ComputerRow>(&format!(
            "SELECT {COMPUTER_COLUMNS} FROM computers WHERE instance_id = $1 AND id > $2 \
             AND (LOWER(name) LIKE $3 OR LOWER(serial_number) LIKE $4) ORDER BY id LIMIT $5"
        ))
        .bind(instance_id)
        .bind(after)
        .bind(&pattern)
        .bind(&pattern)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn checkin(&self, computer_id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE computers SET last_checkin_ms = $1 WHERE id = $2").bind(now).bind(computer_id).execute(self.pool()).await?;
        Ok(())
    }

    /// Computers last reported ACTIVATED that have not checked in since `cutoff`.
    pub async fn gone_silent(&self, instance_id: &str, cutoff: i64, limit: i64) -> Result<Vec<ComputerRow>> {
        Ok(sqlx::query_as::<_, ComputerRow>(&format!(
            "SELECT {COMPUTER_COLUMNS} FROM computers WHERE instance_id = $1 AND reported_state = 'ACTIVATED' \
             AND last_checkin_ms < $2 ORDER BY id LIMIT $3"
        ))
        .bind(instance_id)
        .bind(cutoff)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The newest entries of a computer's inventory history first.
    pub async fn inventory_history(&self, computer_id: i64, limit: i64) -> Result<Vec<HistoryRow>> {
        Ok(sqlx::query_as::<_, HistoryRow>(
            "SELECT sequence, kind, collected_ms, received_ms, changed FROM inventory_history WHERE computer_id = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(computer_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn local_users(&self, computer_id: i64) -> Result<Vec<LocalUserRow>> {
        Ok(sqlx::query_as::<_, LocalUserRow>(&format!(
            "SELECT {LOCAL_USER_COLUMNS} FROM local_users WHERE computer_id = $1 ORDER BY username"
        ))
        .bind(computer_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Counts of an instance's computers: (computers, registered users, accepted, rejected).
    pub async fn delivery_summary(&self, instance_id: &str) -> Result<(i64, i64, i64, i64)> {
        let computers = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM computers WHERE instance_id = $1")
            .bind(instance_id)
            .fetch_one(self.pool())
            .await?;
        let row = sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT COUNT(*), \
                    COALESCE(SUM(CASE WHEN u.delivery_state = 'accepted' THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN u.delivery_state = 'rejected' THEN 1 ELSE 0 END), 0) \
             FROM local_users u JOIN computers c ON c.id = u.computer_id WHERE c.instance_id = $1 AND u.aad_device_id IS NOT NULL",
        )
        .bind(instance_id)
        .fetch_one(self.pool())
        .await?;
        Ok((computers, row.0, row.1, row.2))
    }

    // ---- Conditional Access settings and change log ------------------------------------

    pub async fn ca(&self, instance_id: &str) -> Result<CaRow> {
        let row = sqlx::query(
            "SELECT enabled, connection_type, sovereign_cloud, landing_page, custom_url, link_id, link_status, checks, \
             manual_tenant, manual_app_id, manual_secret, manual_tenant_id, compliance_model, applicable_rule, compliance_rule \
             FROM ca_settings WHERE instance_id = $1",
        )
        .bind(instance_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            None => CaRow {
                settings: CaSettings::default(),
                link_id: None,
                link_status: status::NOT_CONFIGURED.into(),
                checks: "[]".into(),
                manual_secret: None,
                manual_tenant_id: None,
            },
            Some(r) => CaRow {
                settings: CaSettings {
                    enabled: r.get::<i64, _>(0) != 0,
                    connection_type: r.get(1),
                    sovereign_cloud: r.get(2),
                    landing_page: r.get(3),
                    custom_url: r.get(4),
                    manual_tenant: r.get(8),
                    manual_app_id: r.get(9),
                    compliance_model: r.get(12),
                    applicable_rule: serde_json::from_str(&r.get::<String, _>(13)).unwrap_or_default(),
                    compliance_rule: serde_json::from_str(&r.get::<String, _>(14)).unwrap_or_default(),
                },
                link_id: r.get(5),
                link_status: r.get(6),
                checks: r.get(7),
                manual_secret: r.get(10),
                manual_tenant_id: r.get(11),
            },
        })
    }

    /// Only the connection's state and checks, when the link they describe is still the
    /// current one: an admin's concurrent Save of the settings is never overwritten.
    pub async fn set_link_state(&self, instance_id: &str, link_id: &str, status: &str, checks: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("UPDATE ca_settings SET link_status = $1, checks = $2, updated_ms = $3 WHERE instance_id = $4 AND link_id = $5 AND enabled <> 0")
            .bind(status)
            .bind(checks)
            .bind(now)
            .bind(instance_id)
            .bind(link_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn save_ca(&self, instance_id: &str, ca: &CaRow, now: i64) -> Result<()> {
        let s = &ca.settings;
        sqlx::query(
            "INSERT INTO ca_settings (instance_id, enabled, connection_type, sovereign_cloud, landing_page, custom_url, link_id, link_status, \
             checks, updated_ms, manual_tenant, manual_app_id, manual_secret, manual_tenant_id, compliance_model, applicable_rule, \
             compliance_rule) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (instance_id) DO UPDATE SET \
             enabled = excluded.enabled, connection_type = excluded.connection_type, sovereign_cloud = excluded.sovereign_cloud, \
             landing_page = excluded.landing_page, custom_url = excluded.custom_url, link_id = excluded.link_id, \
             link_status = excluded.link_status, checks = excluded.checks, updated_ms = excluded.updated_ms, \
             manual_tenant = excluded.manual_tenant, manual_app_id = excluded.manual_app_id, manual_secret = excluded.manual_secret, \
             manual_tenant_id = excluded.manual_tenant_id, compliance_model = excluded.compliance_model, \
             applicable_rule = excluded.applicable_rule, compliance_rule = excluded.compliance_rule",
        )
        .bind(instance_id)
        .bind(s.enabled as i64)
        .bind(&s.connection_type)
        .bind(&s.sovereign_cloud)
        .bind(&s.landing_page)
        .bind(s.custom_url.clone())
        .bind(ca.link_id.clone())
        .bind(&ca.link_status)
        .bind(&ca.checks)
        .bind(now)
        .bind(s.manual_tenant.clone())
        .bind(s.manual_app_id.clone())
        .bind(ca.manual_secret.clone())
        .bind(ca.manual_tenant_id.clone())
        .bind(&s.compliance_model)
        .bind(serde_json::to_string(&s.applicable_rule).unwrap_or_default())
        .bind(serde_json::to_string(&s.compliance_rule).unwrap_or_default())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn log_change(
        &self,
        instance_id: &str,
        now: i64,
        username: &str,
        object_type: &str,
        object_name: &str,
        action: &str,
        details: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO change_log (instance_id, at_ms, username, object_type, object_name, action, details) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(instance_id).bind(now).bind(username).bind(object_type).bind(object_name).bind(action).bind(details)
            .execute(self.pool()).await?;
        Ok(())
    }

    pub async fn change_log(&self, instance_id: &str, object_type: &str) -> Result<Vec<ChangeRow>> {
        Ok(sqlx::query_as::<_, ChangeRow>(
            "SELECT id, at_ms, username, object_type, object_name, action, details FROM change_log \
             WHERE instance_id = $1 AND ($2 = '' OR object_type = $3) ORDER BY id DESC LIMIT 500",
        )
        .bind(instance_id)
        .bind(object_type)
        .bind(object_type)
        .fetch_all(self.pool())
        .await?)
    }

    // ---- outbox and outcomes -----------------------------------------------------------

    pub async fn outbox_due(&self, instance_id: &str, now: i64, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(sqlx::query_as::<_, OutboxRow>(
            "SELECT id, computer_id, device_id, sequence, payload, attempts, created_ms FROM outbox WHERE instance_id = $1 AND next_attempt_ms <= $2 ORDER BY id LIMIT $3")
            .bind(instance_id).bind(now).bind(limit).fetch_all(self.pool()).await?)
    }

    pub async fn reschedule_outbox(&self, ids: &[i64], next_ms: i64) -> Result<()> {
        for id in ids {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $1 WHERE id = $2")
                .bind(next_ms)
                .bind(*id)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    pub async fn outcome_cursor(&self, instance_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT cursor FROM outcome_cursors WHERE instance_id = $1")
            .bind(instance_id)
            .fetch_optional(self.pool())
            .await?
            .unwrap_or(0))
    }
}

/// A Workplace Join a local user made, as the registration agent posted it.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub aad_device_id: &'a str,
    pub aad_user_id: &'a str,
    pub upn: Option<&'a str>,
}

/// Statements that run inside a caller's transaction.
pub mod tx {
    use super::*;

    /// A computer's inventory as stored.
    pub struct StoredInventory<'a> {
        pub json: &'a str,
        pub collected_ms: i64,
        pub last_checkin_ms: i64,
        pub name: &'a str,
        pub model: &'a str,
    }

    /// Stores a computer's inventory under its next sequence and returns the sequence;
    /// `None`, storing nothing, when the stored inventory was collected later (a date
    /// ahead of `now`, stored before such dates were refused, orders nothing). Deciding in
    /// the statement keeps two reports of one computer from both passing the check.
    pub async fn store_inventory(conn: &mut AnyConnection, computer_id: i64, i: &StoredInventory<'_>, now: i64) -> Result<Option<i64>> {
        let updated = sqlx::query(
            "UPDATE computers SET inventory = $1, collected_ms = $2, sequence = sequence + 1, last_checkin_ms = $3, name = $4, model = $5 \
             WHERE id = $6 AND (collected_ms IS NULL OR collected_ms <= $7 OR collected_ms > $8)",
        )
        .bind(i.json)
        .bind(i.collected_ms)
        .bind(i.last_checkin_ms)
        .bind(i.name)
        .bind(i.model)
        .bind(computer_id)
        .bind(i.collected_ms)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(Some(
            sqlx::query_scalar::<_, i64>("SELECT sequence FROM computers WHERE id = $1").bind(computer_id).fetch_one(&mut *conn).await?,
        ))
    }

    /// A new sequence for a computer whose current state is sent again (reconcile).
    pub async fn bump_sequence(conn: &mut AnyConnection, computer_id: i64) -> Result<i64> {
        sqlx::query("UPDATE computers SET sequence = sequence + 1 WHERE id = $1").bind(computer_id).execute(&mut *conn).await?;
        Ok(sqlx::query_scalar::<_, i64>("SELECT sequence FROM computers WHERE id = $1").bind(computer_id).fetch_one(&mut *conn).await?)
    }

    /// A local user seen in the computer's inventory. Account names are unique per
    /// computer without regard to case (`username_key`, always `LOWER(TRIM(username))`,
    /// written by the database itself so every row agrees on it).
    pub async fn upsert_local_user(conn: &mut AnyConnection, computer_id: i64, username: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO local_users (computer_id, username, username_key, delivery_state) VALUES ($1, $2, LOWER(TRIM($3)), 'not_sent') \
                     ON CONFLICT (computer_id, username_key) DO UPDATE SET removed_ms = NULL",
        )
        .bind(computer_id)
        .bind(username)
        .bind(username)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Marks the computer's local users whose names (`normalize::account_key`) are absent
    /// from `present` as removed (once).
    pub async fn mark_removed_users(conn: &mut AnyConnection, computer_id: i64, present: &[String], now: i64) -> Result<()> {
        let names = sqlx::query_scalar::<_, String>("SELECT username FROM local_users WHERE computer_id = $1 AND removed_ms IS NULL")
            .bind(computer_id)
            .fetch_all(&mut *conn)
            .await?;
        for gone in names.iter().filter(|n| !present.contains(&crate::domain::normalize::account_key(n))) {
            sqlx::query("UPDATE local_users SET removed_ms = $1 WHERE computer_id = $2 AND username = $3")
                .bind(now)
                .bind(computer_id)
                .bind(gone)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// A local user's Workplace Join: its Entra device and user. A user registering again
    /// replaces the earlier registration.
    pub async fn register_user(conn: &mut AnyConnection, computer_id: i64, username: &str, r: &Registration<'_>, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO local_users (computer_id, username, username_key, aad_device_id, aad_user_id, upn, registered_ms, delivery_state) \
             VALUES ($1, $2, LOWER(TRIM($3)), $4, $5, $6, $7, 'not_sent') \
             ON CONFLICT (computer_id, username_key) DO UPDATE SET aad_device_id = $8, aad_user_id = $9, upn = $10, registered_ms = $11, \
             delivery_state = 'not_sent', delivery_detail = NULL, compliance_state = NULL, compliance_reasons = NULL",
        )
        .bind(computer_id)
        .bind(username)
        .bind(username)
        .bind(r.aad_device_id)
        .bind(r.aad_user_id)
        .bind(r.upn)
        .bind(now)
        .bind(r.aad_device_id)
        .bind(r.aad_user_id)
        .bind(r.upn)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// One registered user's item (`device`) is queued under `sequence`: outcomes of
    /// older sequences no longer change its delivery state.
    pub async fn mark_queued(conn: &mut AnyConnection, computer_id: i64, device: &str, sequence: i64) -> Result<()> {
        sqlx::query(
            "UPDATE local_users SET delivery_state = 'queued', delivery_detail = NULL, delivery_sequence = $1 \
             WHERE computer_id = $2 AND aad_device_id = $3",
        )
        .bind(sequence)
        .bind(computer_id)
        .bind(device)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The delivery state of one registered user's item (`device`), or of every
    /// registration of the computer (`None`: an outcome that names only the computer),
    /// unless a newer sequence than `sequence` was queued since.
    pub async fn set_delivery(
        conn: &mut AnyConnection,
        computer_id: i64,
        device: Option<&str>,
        sequence: i64,
        state: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE local_users SET delivery_state = $1, delivery_detail = $2 WHERE computer_id = $3 AND aad_device_id IS NOT NULL \
             AND ($4 = '' OR aad_device_id = $5) AND (delivery_sequence IS NULL OR delivery_sequence <= $6)",
        )
        .bind(state)
        .bind(detail.map(str::to_string))
        .bind(computer_id)
        .bind(device.unwrap_or_default())
        .bind(device.unwrap_or_default())
        .bind(sequence)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// What the cloud decided for a registered user's Entra device, from the outcome of
    /// `sequence` (kept unless a newer one was queued since).
    pub async fn set_compliance(
        conn: &mut AnyConnection,
        computer_id: i64,
        device: Option<&str>,
        sequence: i64,
        state: Option<&str>,
        reasons: &[String],
    ) -> Result<()> {
        let reasons = (!reasons.is_empty()).then(|| serde_json::to_string(reasons).unwrap_or_default());
        sqlx::query(
            "UPDATE local_users SET compliance_state = $1, compliance_reasons = $2 WHERE computer_id = $3 AND aad_device_id IS NOT NULL \
             AND ($4 = '' OR aad_device_id = $5) AND (delivery_sequence IS NULL OR delivery_sequence <= $6)",
        )
        .bind(state.map(str::to_string))
        .bind(reasons)
        .bind(computer_id)
        .bind(device.unwrap_or_default())
        .bind(device.unwrap_or_default())
        .bind(sequence)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Hands the item for one registered user's Entra device to the sender.
    pub async fn enqueue(
        conn: &mut AnyConnection,
        instance_id: &str,
        computer_id: i64,
        device_id: &str,
        sequence: i64,
        payload: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO outbox (instance_id, computer_id, device_id, sequence, payload, attempts, next_attempt_ms, created_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)")
            .bind(instance_id).bind(computer_id).bind(device_id).bind(sequence).bind(payload).bind(now).bind(now)
            .execute(conn).await?;
        Ok(())
    }

    pub async fn set_reported_verdict(conn: &mut AnyConnection, computer_id: i64, verdict: &str) -> Result<()> {
        sqlx::query("UPDATE computers SET reported_verdict = $1 WHERE id = $2").bind(verdict).bind(computer_id).execute(conn).await?;
        Ok(())
    }

    pub async fn set_reported_state(conn: &mut AnyConnection, computer_id: i64, reported_state: &str) -> Result<()> {
        sqlx::query("UPDATE computers SET reported_state = $1 WHERE id = $2").bind(reported_state).bind(computer_id).execute(conn).await?;
        Ok(())
    }

    pub async fn record_history(
        conn: &mut AnyConnection,
        computer_id: i64,
        sequence: i64,
        kind: &str,
        collected_ms: i64,
        now: i64,
        changed: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO inventory_history (computer_id, sequence, kind, collected_ms, received_ms, changed) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(computer_id).bind(sequence).bind(kind).bind(collected_ms).bind(now).bind(changed)
            .execute(conn).await?;
        Ok(())
    }

    pub async fn delete_outbox(conn: &mut AnyConnection, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id).execute(conn).await?;
        Ok(())
    }

    pub async fn set_cursor(conn: &mut AnyConnection, instance_id: &str, cursor: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO outcome_cursors (instance_id, cursor) VALUES ($1, $2) ON CONFLICT (instance_id) DO UPDATE SET cursor = $3",
        )
        .bind(instance_id)
        .bind(cursor)
        .bind(cursor)
        .execute(conn)
        .await?;
        Ok(())
    }
}
