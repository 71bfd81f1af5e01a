//! Computers, their inventory history and local users.

use super::*;

const COMPUTER_COLUMNS: &str = "id, instance_id, udid, serial_number, name, model, inventory, collected_ms, sequence, last_checkin_ms, enrolled_ms, reported_state, reported_verdict";
const LOCAL_USER_COLUMNS: &str = "computer_id, username, aad_device_id, aad_user_id, upn, registered_ms, delivery_state, delivery_detail, \
     removed_ms, compliance_state, compliance_reasons, delivery_sequence";

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
    pub aad_device_id: Option<DeviceId>,
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
    /// The inventory sequence of the item last queued for this user's Entra device.
    pub delivery_sequence: Option<i64>,
}

impl Store {
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

    /// Deletes the inventory history of an instance's computers received before
    /// `cutoff_ms`, in batches, keeping each computer's latest entry. Returns the rows
    /// deleted.
    pub async fn prune_history(&self, instance_id: &str, cutoff_ms: i64) -> Result<u64> {
        const BATCH: i64 = 5_000;
        let mut total = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM inventory_history WHERE id IN (SELECT h.id FROM inventory_history h JOIN computers c ON c.id = h.computer_id \
                 WHERE c.instance_id = $1 AND h.received_ms < $2 \
                 AND EXISTS (SELECT 1 FROM inventory_history n WHERE n.computer_id = h.computer_id AND n.id > h.id) LIMIT $3)",
            )
            .bind(instance_id)
            .bind(cutoff_ms)
            .bind(BATCH)
            .execute(self.pool())
            .await?
            .rows_affected();
            total += n;
            if n < BATCH as u64 {
                return Ok(total);
            }
        }
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

    /// The registered user of one of the instance's computers whose Entra device is
    /// `device_id` (the device the cloud names on the remediation page).
    pub async fn local_user_by_device(&self, instance_id: &str, device_id: &DeviceId) -> Result<Option<LocalUserRow>> {
        Ok(sqlx::query_as::<_, LocalUserRow>(&format!(
            "SELECT {LOCAL_USER_COLUMNS} FROM local_users WHERE aad_device_id = $2 AND removed_ms IS NULL \
             AND computer_id IN (SELECT id FROM computers WHERE instance_id = $1) ORDER BY registered_ms DESC LIMIT 1"
        ))
        .bind(instance_id)
        .bind(device_id.to_lowercase())
        .fetch_optional(self.pool())
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
}
