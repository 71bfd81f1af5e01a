//! What operators and maintenance read and replay: dead letters, reconciles, traces, links due for a health re-test.

use super::links::LINK_COLUMNS;
use super::*;

/// The columns of a dead letter, in the order `dead_letters` selects them.
type LetterColumns = (i64, InstanceId, TenantId, String, i64, DeviceId, Option<String>, Option<i64>);

/// One update of a device as the connector handled it (`trace`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TracedUpdate {
    pub id: i64,
    pub instance_id: InstanceId,
    pub tenant_id: TenantId,
    pub computer_id: String,
    pub sequence: i64,
    #[sqlx(try_from = "String")]
    pub status: IntakeState,
    pub message_id: Option<MessageId>,
    pub received_ms: i64,
    pub dead_reason: Option<String>,
    pub item: String,
}

impl Store {
    /// Dead letters, oldest first, of one instance or of all.
    pub async fn dead_letters(&self, instance_id: Option<&InstanceId>, limit: i64) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query_as::<_, LetterColumns>(
            "SELECT id, instance_id, tenant_id, computer_id, sequence, device_id, dead_reason AS reason, dead_ms FROM intake \
             WHERE status = 'dead' AND ($1 = '' OR instance_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(instance_id.map_or("", |i| i.as_str()))
        .bind(instance_id.map_or("", |i| i.as_str()))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, instance_id, tenant_id, computer_id, sequence, device_id, reason, dead_ms)| DeadLetter {
                id,
                instance_id,
                tenant_id,
                computer_id,
                sequence,
                device_id,
                reason,
                at: dead_ms.map(platform::clock::ms_to_rfc3339),
            })
            .collect())
    }

    pub async fn dead_letter_count(&self, instance_id: &InstanceId) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM intake WHERE status = 'dead' AND instance_id = $1")
            .bind(instance_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Queues dead letters again (all of an instance, all, or the given ids). A letter
    /// for which a newer update of the same computer exists is closed instead: replaying
    /// it would send an older state. Returns `(replayed, superseded)`.
    pub async fn replay_dead_letters(&self, instance_id: Option<&InstanceId>, ids: Option<&[i64]>, now: i64) -> Result<(u64, u64)> {
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
    pub async fn reconcile(&self, tenant_id: &TenantId, instance_id: &InstanceId, now: i64) -> Result<u64> {
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

    pub async fn reconciled_ms(&self, link_id: &LinkId) -> Result<Option<i64>> {
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
    pub async fn trace(&self, device_id: &DeviceId) -> Result<Vec<TracedUpdate>> {
        Ok(sqlx::query_as::<_, TracedUpdate>(
            "SELECT id, instance_id, tenant_id, computer_id, sequence, status, message_id, received_ms, dead_reason, item \
             FROM intake WHERE device_id = $1 ORDER BY id",
        )
        .bind(device_id.to_ascii_lowercase())
        .fetch_all(self.pool())
        .await?)
    }

    /// Outcomes reported for one update.
    pub async fn outcomes_of(
        &self,
        instance_id: &InstanceId,
        computer_id: &str,
        sequence: i64,
    ) -> Result<Vec<(String, Option<String>, i64)>> {
        Ok(sqlx::query_as::<_, (String, Option<String>, i64)>(
            "SELECT status, detail, at_ms FROM outcomes WHERE instance_id = $1 AND computer_id = $2 AND sequence = $3 ORDER BY seq",
        )
        .bind(instance_id)
        .bind(computer_id)
        .bind(sequence)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn message_status(&self, message_id: &MessageId) -> Result<Option<(String, i64, Option<String>)>> {
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
