//! Every SQL statement of the connector, behind one type.

use platform::db::{Db, Migrations};
use sqlx::Row;

use crate::error::Result;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub external_id: String,
    pub name: String,
    pub url: String,
    pub version: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub id: String,
    pub instance_id: String,
    pub cloud: String,
    pub tenant_id: Option<String>,
    pub status: String,
    pub landing_page: String,
    pub return_url: String,
    pub checks: String,
    pub last_tested_ms: Option<i64>,
}

/// One outcome reported back to an instance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutcomeRow {
    pub seq: i64,
    pub computer_id: String,
    pub sequence: i64,
    pub status: String,
    pub detail: Option<String>,
    pub at_ms: i64,
    pub compliance_state: Option<String>,
    /// JSON array of sentences.
    pub compliance_reasons: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub message_id: String,
    pub tenant_id: String,
    pub cloud: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntakeRow {
    pub id: i64,
    pub instance_id: String,
    pub computer_id: String,
    pub sequence: i64,
    pub device_id: String,
    pub received_ms: i64,
}

/// Message lifecycle: `upload` (PUT due) → `poll` (status GET due) → `done`.
pub mod message_state {
    pub const UPLOAD: &str = "upload";
    pub const POLL: &str = "poll";
    pub const DONE: &str = "done";
}

/// Intake lifecycle: `queued` → `batched` (in a message) → `done`, or `dead` when the
/// cloud refused it or delivery was given up (replayable: back to `queued`).
pub mod intake_state {
    pub const QUEUED: &str = "queued";
    pub const BATCHED: &str = "batched";
    pub const DONE: &str = "done";
    pub const DEAD: &str = "dead";
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub instance_id: String,
    pub tenant_id: String,
    pub computer_id: String,
    pub sequence: i64,
    pub device_id: String,
    pub reason: Option<String>,
    pub dead_ms: Option<i64>,
}

/// One update of a device as the connector handled it (`trace`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TracedUpdate {
    pub id: i64,
    pub instance_id: String,
    pub tenant_id: String,
    pub computer_id: String,
    pub sequence: i64,
    pub status: String,
    pub message_id: Option<String>,
    pub received_ms: i64,
    pub dead_reason: Option<String>,
    pub item: String,
}

const LINK_COLUMNS: &str = "id, instance_id, cloud, tenant_id, status, landing_page, return_url, checks, last_tested_ms";

impl Store {
    pub async fn connect(url: &str) -> Result<Store, platform::Error> {
        Ok(Store { db: Db::connect(url, &MIGRATIONS).await? })
    }

    fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    // ---- instances ---------------------------------------------------------------------

    /// Registers an instance, or re-registers it with a new credential.
    pub async fn upsert_instance(&self, i: &InstanceRow, credential_digest: &str, now: i64) -> Result<String> {
        sqlx::query(
            "INSERT INTO instances (id, external_id, name, url, version, credential_digest, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (external_id) DO UPDATE SET name = $8, url = $9, version = $10, credential_digest = $11",
        )
        .bind(&i.id).bind(&i.external_id).bind(&i.name).bind(&i.url).bind(&i.version).bind(credential_digest).bind(now)
        .bind(&i.name).bind(&i.url).bind(&i.version).bind(credential_digest)
        .execute(self.pool())
        .await?;
        Ok(sqlx::query_scalar::<_, String>("SELECT id FROM instances WHERE external_id = $1")
            .bind(&i.external_id)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn instance_by_credential(&self, digest: &str) -> Result<Option<InstanceRow>> {
        Ok(sqlx::query_as::<_, InstanceRow>("SELECT id, external_id, name, url, version FROM instances WHERE credential_digest = $1")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn instance(&self, id: &str) -> Result<Option<InstanceRow>> {
        Ok(sqlx::query_as::<_, InstanceRow>("SELECT id, external_id, name, url, version FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    // ---- links and consent -------------------------------------------------------------

    pub async fn insert_link(&self, l: &LinkRow, now: i64) -> Result<()> {
        let mut txn = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO links (id, instance_id, cloud, tenant_id, status, landing_page, return_url, checks, last_tested_ms, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&l.id).bind(&l.instance_id).bind(&l.cloud).bind(l.tenant_id.clone()).bind(&l.status).bind(&l.landing_page)
        .bind(&l.return_url).bind(&l.checks).bind(l.last_tested_ms).bind(now).bind(now)
        .execute(&mut *txn)
        .await?;
        tx::link_event(&mut txn, &l.id, &l.status, "link created", now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The states a link went through, oldest first.
    pub async fn link_history(&self, link_id: &str) -> Result<Vec<(i64, String, String)>> {
        Ok(sqlx::query_as::<_, (i64, String, String)>("SELECT at_ms, status, detail FROM link_events WHERE link_id = $1 ORDER BY id")
            .bind(link_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn link(&self, id: &str) -> Result<Option<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The instance's newest link.
    pub async fn current_link(&self, instance_id: &str) -> Result<Option<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE instance_id = $1 ORDER BY created_ms DESC, id DESC LIMIT 1"
        ))
        .bind(instance_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn links_with_status(&self, status: &str) -> Result<Vec<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE status = $1"))
            .bind(status)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn active_links_of_tenant(&self, tenant_id: &str) -> Result<Vec<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE tenant_id = $1 AND status = 'active'"))
            .bind(tenant_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Moves every active link of a tenant to `status` (termination noticed from Intune).
    pub async fn set_active_links_status(&self, tenant_id: &str, status: &str, detail: &str, now: i64) -> Result<u64> {
        let mut txn = self.db.begin().await?;
        let ids = sqlx::query_scalar::<_, String>("SELECT id FROM links WHERE tenant_id = $1 AND status = 'active'")
            .bind(tenant_id)
            .fetch_all(&mut *txn)
            .await?;
        for id in &ids {
            tx::link_event(&mut txn, id, status, detail, now).await?;
            sqlx::query("UPDATE links SET status = $1, updated_ms = $2 WHERE id = $3")
                .bind(status)
                .bind(now)
                .bind(id)
                .execute(&mut *txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Saves a link; a change of status goes into its history with `detail` (why).
    pub async fn update_link(&self, l: &LinkRow, detail: &str, now: i64) -> Result<()> {
        let mut txn = self.db.begin().await?;
        let before =
            sqlx::query_scalar::<_, String>("SELECT status FROM links WHERE id = $1").bind(&l.id).fetch_optional(&mut *txn).await?;
        if before.as_deref() != Some(l.status.as_str()) {
            tx::link_event(&mut txn, &l.id, &l.status, detail, now).await?;
        }
        sqlx::query("UPDATE links SET tenant_id = $1, status = $2, checks = $3, last_tested_ms = $4, updated_ms = $5 WHERE id = $6")
            .bind(l.tenant_id.clone())
            .bind(&l.status)
            .bind(&l.checks)
            .bind(l.last_tested_ms)
            .bind(now)
            .bind(&l.id)
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn insert_consent_state(&self, digest: &str, link_id: &str, step: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO consent_states (state_digest, link_id, step, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(digest)
            .bind(link_id)
            .bind(step)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Consumes a consent state: `(link_id, step)` if it existed and had not expired.
    pub async fn take_consent_state(&self, digest: &str, now: i64) -> Result<Option<(String, String)>> {
        let row = sqlx::query("DELETE FROM consent_states WHERE state_digest = $1 RETURNING link_id, step, expires_ms")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.and_then(|r| {
            let expires: i64 = r.get(2);
            (expires > now).then(|| (r.get(0), r.get(1)))
        }))
    }

    // ---- intake ------------------------------------------------------------------------

    /// Highest sequence held for a computer of an instance.
    pub async fn max_sequence(&self, instance_id: &str, computer_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(sequence) FROM intake WHERE instance_id = $1 AND computer_id = $2")
            .bind(instance_id)
            .bind(computer_id)
            .fetch_one(self.pool())
            .await?)
    }

    pub fn begin(&self) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error>> + '_ {
        self.db.begin()
    }

    /// Tenants with queued updates.
    /// Tenants with queued updates: `(tenant, queued count, oldest arrival)`.
    pub async fn tenants_with_queue(&self) -> Result<Vec<(String, i64, i64)>> {
        Ok(sqlx::query_as::<_, (String, i64, i64)>(
            "SELECT tenant_id, COUNT(*), MIN(received_ms) FROM intake WHERE status = 'queued' GROUP BY tenant_id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The cloud profile of a tenant's most recent link.
    pub async fn cloud_of_tenant(&self, tenant_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT cloud FROM links WHERE tenant_id = $1 ORDER BY updated_ms DESC LIMIT 1")
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Messages in `status` whose next attempt is due, without their bodies (see
    /// [`Store::message_body`]): most are not picked this round.
    pub async fn messages_due(&self, status: &str, now: i64, limit: i64) -> Result<Vec<MessageRow>> {
        Ok(sqlx::query_as::<_, MessageRow>(
            "SELECT message_id, tenant_id, cloud, '' AS body, status, attempts, next_attempt_ms FROM messages \
             WHERE status = $1 AND next_attempt_ms <= $2 ORDER BY next_attempt_ms LIMIT $3",
        )
        .bind(status)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn message_body(&self, message_id: &str) -> Result<String> {
        Ok(sqlx::query_scalar::<_, String>("SELECT body FROM messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn reschedule_message(&self, id: &str, status: &str, attempts: i64, next_ms: i64, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE messages SET status = $1, attempts = $2, next_attempt_ms = $3, last_error = $4 WHERE message_id = $5")
            .bind(status)
            .bind(attempts)
            .bind(next_ms)
            .bind(error.map(str::to_string))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn intake_of_message(&self, message_id: &str) -> Result<Vec<IntakeRow>> {
        Ok(sqlx::query_as::<_, IntakeRow>(
            "SELECT id, instance_id, computer_id, sequence, device_id, received_ms FROM intake WHERE message_id = $1 ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn outcomes(&self, instance_id: &str, after: i64, limit: i64) -> Result<Vec<OutcomeRow>> {
        Ok(sqlx::query_as::<_, OutcomeRow>(
            "SELECT seq, computer_id, sequence, status, detail, at_ms, compliance_state, compliance_reasons FROM outcomes \
             WHERE instance_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(instance_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn route(&self, tenant_id: &str, device_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT instance_id FROM device_routes WHERE tenant_id = $1 AND device_id = $2")
            .bind(tenant_id)
            .bind(device_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Entra devices of a tenant last reported by an instance.
    pub async fn devices_of_instance(&self, tenant_id: &str, instance_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT device_id FROM device_routes WHERE tenant_id = $1 AND instance_id = $2")
            .bind(tenant_id)
            .bind(instance_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// The instance that last reported a device of this user.
    pub async fn route_by_upn(&self, tenant_id: &str, upn: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT instance_id FROM device_routes WHERE tenant_id = $1 AND upn = $2 LIMIT 1")
            .bind(tenant_id)
            .bind(upn.to_ascii_lowercase())
            .fetch_optional(self.pool())
            .await?)
    }

    /// When the oldest update of an instance that is not concluded yet arrived.
    pub async fn oldest_pending_ms(&self, instance_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(received_ms) FROM intake WHERE instance_id = $1 AND status IN ('queued', 'batched')",
        )
        .bind(instance_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// When the last message for a tenant was formed.
    pub async fn last_message_ms(&self, tenant_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(created_ms) FROM messages WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// The most recent delivery error recorded for a tenant's messages.
    pub async fn last_error(&self, tenant_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT last_error FROM messages WHERE tenant_id = $1 AND last_error IS NOT NULL ORDER BY created_ms DESC LIMIT 1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// `(accepted, rejected)` outcomes of an instance.
    pub async fn outcome_counts(&self, instance_id: &str) -> Result<(i64, i64, i64)> {
        Ok(sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT COALESCE(SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN status IN ('rejected', 'dead') THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN status = 'stale' THEN 1 ELSE 0 END), 0) FROM outcomes WHERE instance_id = $1",
        )
        .bind(instance_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Gauges for `/metrics`: updates not concluded, dead letters, active links.
    pub async fn gauges(&self) -> Result<(i64, i64, i64)> {
        let backlog = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM intake WHERE status IN ('queued', 'batched')")
            .fetch_one(self.pool())
            .await?;
        let rejected = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM intake WHERE status = 'dead'").fetch_one(self.pool()).await?;
        let links = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM links WHERE status = 'active'").fetch_one(self.pool()).await?;
        Ok((backlog, rejected, links))
    }

    /// Counts per intake state for a tenant's queue (status API, demo summary).
    pub async fn backlog(&self, instance_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM intake WHERE instance_id = $1 AND status IN ('queued', 'batched')")
            .bind(instance_id)
            .fetch_one(self.pool())
            .await?)
    }
}

impl Store {
    /// Dead letters, oldest first, of one instance or of all.
    pub async fn dead_letters(&self, instance_id: Option<&str>, limit: i64) -> Result<Vec<DeadLetter>> {
        Ok(sqlx::query_as::<_, DeadLetter>(
            "SELECT id, instance_id, tenant_id, computer_id, sequence, device_id, dead_reason AS reason, dead_ms FROM intake \
             WHERE status = 'dead' AND ($1 = '' OR instance_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(instance_id.unwrap_or_default())
        .bind(instance_id.unwrap_or_default())
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn dead_letter_count(&self, instance_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM intake WHERE status = 'dead' AND instance_id = $1")
            .bind(instance_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Queues dead letters again (all of an instance, all, or the given ids). A letter
    /// for which a newer update of the same computer exists is closed instead: replaying
    /// it would send an older state. Returns `(replayed, superseded)`.
    pub async fn replay_dead_letters(&self, instance_id: Option<&str>, ids: Option<&[i64]>, now: i64) -> Result<(u64, u64)> {
        let letters = self.dead_letters(instance_id, i64::MAX).await?;
        let wanted: Vec<&DeadLetter> = letters.iter().filter(|d| ids.is_none_or(|ids| ids.contains(&d.id))).collect();
        let (mut replayed, mut superseded) = (0, 0);
        let mut txn = self.db.begin().await?;
        for d in wanted {
            let newer =
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM intake WHERE instance_id = $1 AND computer_id = $2 AND sequence > $3")
                    .bind(&d.instance_id)
                    .bind(&d.computer_id)
                    .bind(d.sequence)
                    .fetch_one(&mut *txn)
                    .await?;
            let status = if newer > 0 { "done" } else { "queued" };
            sqlx::query("UPDATE intake SET status = $1, message_id = NULL, received_ms = $2 WHERE id = $3 AND status = 'dead'")
                .bind(status)
                .bind(now)
                .bind(d.id)
                .execute(&mut *txn)
                .await?;
            if newer > 0 { superseded += 1 } else { replayed += 1 }
        }
        txn.commit().await?;
        Ok((replayed, superseded))
    }

    /// Resends the newest update of every computer an instance reported on a tenant (the
    /// current state the connector holds). Returns how many were queued.
    pub async fn reconcile(&self, tenant_id: &str, instance_id: &str, now: i64) -> Result<u64> {
        let mut txn = self.db.begin().await?;
        let r = sqlx::query(
            "UPDATE intake SET status = 'queued', message_id = NULL, received_ms = $1 WHERE status IN ('done', 'dead') AND id IN \
             (SELECT MAX(id) FROM intake WHERE tenant_id = $2 AND instance_id = $3 AND computer_id NOT LIKE 'withdraw:%' GROUP BY computer_id)",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(instance_id)
        .execute(&mut *txn)
        .await?;
        sqlx::query("UPDATE links SET reconciled_ms = $1 WHERE tenant_id = $2 AND instance_id = $3 AND status = 'active'")
            .bind(now)
            .bind(tenant_id)
            .bind(instance_id)
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
        Ok(r.rows_affected())
    }

    /// Active links whose last full reconcile is older than `cutoff`.
    pub async fn links_due_for_reconcile(&self, cutoff: i64) -> Result<Vec<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE status = 'active' AND COALESCE(reconciled_ms, created_ms) < $1"
        ))
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn reconciled_ms(&self, link_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT reconciled_ms FROM links WHERE id = $1")
            .bind(link_id)
            .fetch_optional(self.pool())
            .await?
            .flatten())
    }

    /// Every link, newest first (operator status).
    pub async fn all_links(&self) -> Result<Vec<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!("SELECT {LINK_COLUMNS} FROM links ORDER BY created_ms DESC"))
            .fetch_all(self.pool())
            .await?)
    }

    /// Every update the connector holds for an Entra device, oldest first.
    pub async fn trace(&self, device_id: &str) -> Result<Vec<TracedUpdate>> {
        Ok(sqlx::query_as::<_, TracedUpdate>(
            "SELECT id, instance_id, tenant_id, computer_id, sequence, status, message_id, received_ms, dead_reason, item \
             FROM intake WHERE device_id = $1 ORDER BY id",
        )
        .bind(device_id.to_ascii_lowercase())
        .fetch_all(self.pool())
        .await?)
    }

    /// Outcomes reported for one update.
    pub async fn outcomes_of(&self, instance_id: &str, computer_id: &str, sequence: i64) -> Result<Vec<(String, Option<String>, i64)>> {
        Ok(sqlx::query_as::<_, (String, Option<String>, i64)>(
            "SELECT status, detail, at_ms FROM outcomes WHERE instance_id = $1 AND computer_id = $2 AND sequence = $3 ORDER BY seq",
        )
        .bind(instance_id)
        .bind(computer_id)
        .bind(sequence)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn message_status(&self, message_id: &str) -> Result<Option<(String, i64, Option<String>)>> {
        Ok(sqlx::query_as::<_, (String, i64, Option<String>)>("SELECT status, attempts, last_error FROM messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Links whose health re-test is due: active ones, and those a re-test turned failing.
    pub async fn links_due_for_health_check(&self, cutoff: i64) -> Result<Vec<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE (status = 'active' OR (status = 'failing' AND checks LIKE '%health_retest%')) \
             AND COALESCE(last_tested_ms, 0) < $1"
        ))
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Statements that run inside a caller's transaction.
pub mod tx {
    use sqlx::AnyConnection;

    use super::*;

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_intake(
        conn: &mut AnyConnection,
        instance_id: &str,
        tenant_id: &str,
        computer_id: &str,
        sequence: i64,
        device_id: &str,
        item: &str,
        now: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO intake (instance_id, tenant_id, computer_id, sequence, device_id, item, status, message_id, received_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', NULL, $7) ON CONFLICT (instance_id, computer_id, sequence) DO NOTHING",
        )
        .bind(instance_id)
        .bind(tenant_id)
        .bind(computer_id)
        .bind(sequence)
        .bind(device_id)
        .bind(item)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn delete_routes(conn: &mut AnyConnection, tenant_id: &str, instance_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM device_routes WHERE tenant_id = $1 AND instance_id = $2")
            .bind(tenant_id)
            .bind(instance_id)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn upsert_route(
        conn: &mut AnyConnection,
        tenant_id: &str,
        device_id: &str,
        instance_id: &str,
        upn: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO device_routes (tenant_id, device_id, instance_id, upn) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, device_id) DO UPDATE SET instance_id = $5, upn = $6",
        )
        .bind(tenant_id)
        .bind(device_id)
        .bind(instance_id)
        .bind(upn.map(str::to_string))
        .bind(instance_id)
        .bind(upn.map(str::to_string))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` queued updates of a tenant into message `message_id`. A device
    /// with an update in a message still in flight waits for it: messages of a tenant go
    /// out concurrently, and only this keeps each device's updates in order.
    /// Returns `(id, item json)` in arrival order.
    pub async fn claim_batch(conn: &mut AnyConnection, tenant_id: &str, message_id: &str, limit: i64) -> Result<Vec<(i64, String)>> {
        sqlx::query(
            "UPDATE intake SET status = 'batched', message_id = $1 WHERE id IN \
             (SELECT id FROM intake WHERE tenant_id = $2 AND status = 'queued' AND device_id NOT IN \
                (SELECT device_id FROM intake WHERE tenant_id = $3 AND status = 'batched') ORDER BY id LIMIT $4)",
        )
        .bind(message_id)
        .bind(tenant_id)
        .bind(tenant_id)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        Ok(sqlx::query_as::<_, (i64, String)>("SELECT id, item FROM intake WHERE message_id = $1 ORDER BY id")
            .bind(message_id)
            .fetch_all(&mut *conn)
            .await?)
    }

    pub async fn insert_message(conn: &mut AnyConnection, m: &MessageRow, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO messages (message_id, tenant_id, cloud, body, status, attempts, next_attempt_ms, last_error, created_ms) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, NULL, $7)",
        )
        .bind(&m.message_id)
        .bind(&m.tenant_id)
        .bind(&m.cloud)
        .bind(&m.body)
        .bind(&m.status)
        .bind(m.next_attempt_ms)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Records what became of one update, for its instance to collect.
    pub async fn insert_outcome(
        conn: &mut AnyConnection,
        instance_id: &str,
        computer_id: &str,
        sequence: i64,
        outcome: &partner::outcome::ItemOutcome,
        now: i64,
    ) -> Result<()> {
        let reasons =
            (!outcome.compliance_reasons.is_empty()).then(|| serde_json::to_string(&outcome.compliance_reasons).unwrap_or_default());
        sqlx::query(
            "INSERT INTO outcomes (instance_id, computer_id, sequence, status, detail, at_ms, compliance_state, compliance_reasons) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(instance_id)
        .bind(computer_id)
        .bind(sequence)
        .bind(outcome.status)
        .bind(outcome.detail.clone())
        .bind(now)
        .bind(outcome.compliance_state.clone())
        .bind(reasons)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn link_event(conn: &mut AnyConnection, link_id: &str, status: &str, detail: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO link_events (link_id, at_ms, status, detail) VALUES ($1, $2, $3, $4)")
            .bind(link_id)
            .bind(now)
            .bind(status)
            .bind(detail)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// An update the cloud refused, or that was given up on, becomes a dead letter.
    pub async fn dead_letter(conn: &mut AnyConnection, id: i64, reason: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE intake SET status = 'dead', dead_reason = $1, dead_ms = $2 WHERE id = $3")
            .bind(reason)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn finish_message(conn: &mut AnyConnection, message_id: &str) -> Result<()> {
        sqlx::query("UPDATE intake SET status = 'done' WHERE message_id = $1 AND status = 'batched'")
            .bind(message_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE messages SET status = 'done', body = '' WHERE message_id = $1").bind(message_id).execute(&mut *conn).await?;
        Ok(())
    }
}
