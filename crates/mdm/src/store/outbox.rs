//! The outbox of items to send and the cursor of outcomes read.

use super::*;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub computer_id: i64,
    /// The registered user's Entra device the item is for (none in rows written before
    /// items were kept per registration).
    pub device_id: Option<DeviceId>,
    pub sequence: i64,
    pub payload: String,
    pub attempts: i64,
    pub created_ms: i64,
    /// Not to be sent before this time (service clock, ms): set after a failed send.
    pub next_attempt_ms: i64,
}

impl Store {
    // ---- outbox and outcomes -----------------------------------------------------------

    /// The next rows of an instance's outbox to send, oldest first, up to `limit`: those
    /// due by `now` before the first that is not (a batch delayed after a failed send).
    /// Everything queued after a delayed row waits for it, so the connector receives each
    /// device's updates in the order they were taken.
    pub async fn outbox_due(&self, instance_id: &str, now: i64, limit: i64) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query_as::<_, OutboxRow>(
            "SELECT id, computer_id, device_id, sequence, payload, attempts, created_ms, next_attempt_ms FROM outbox \
             WHERE instance_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(instance_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().take_while(|r| r.next_attempt_ms <= now).collect())
    }

    /// Takes sent or given-up rows out of the outbox and marks their users' delivery
    /// state (`sent`, `rejected` with `detail`), in one transaction.
    pub async fn settle_outbox(&self, rows: &[OutboxRow], state: &str, detail: Option<&str>) -> Result<()> {
        let mut txn = self.begin().await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        tx::delete_outbox(&mut txn, &ids).await?;
        let users: Vec<(i64, Option<&str>, i64)> = rows.iter().map(|r| (r.computer_id, r.device_id.as_deref(), r.sequence)).collect();
        tx::set_delivery_many(&mut txn, &users, state, detail).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn reschedule_outbox(&self, ids: &[i64], next_ms: i64) -> Result<()> {
        for chunk in ids.chunks(500) {
            let mut p = self.db.placeholders();
            let sql =
                format!("UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = {} WHERE id IN ({})", p.one(), p.list(chunk.len()));
            let mut q = sqlx::query(&sql).bind(next_ms);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(self.pool()).await?;
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
