//! Retention of delivery history: concluded updates, finished messages and outcomes
//! older than the configured period are deleted, in batches so that no statement holds the
//! database for long. What stays whatever its age: each computer's latest update (the
//! superseding check and reconciles read it), dead letters (an operator may replay them),
//! updates not yet concluded, and the messages any kept update belongs to.

use super::*;

/// Rows deleted per statement.
const BATCH: i64 = 5_000;

/// What one pruning deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub intake: u64,
    pub messages: u64,
    pub outcomes: u64,
}

impl Store {
    /// Deletes the delivery history older than `cutoff_ms` (service-clock milliseconds).
    pub async fn prune(&self, cutoff_ms: i64) -> Result<Pruned> {
        let intake = self
            .delete_in_batches(
                "DELETE FROM intake WHERE id IN (SELECT i.id FROM intake i WHERE i.status = 'done' AND i.received_ms < $1 \
                 AND EXISTS (SELECT 1 FROM intake n WHERE n.instance_id = i.instance_id AND n.computer_id = i.computer_id \
                 AND n.sequence > i.sequence) LIMIT $2)",
                cutoff_ms,
            )
            .await?;
        let messages = self
            .delete_in_batches(
                "DELETE FROM messages WHERE message_id IN (SELECT m.message_id FROM messages m WHERE m.status = 'done' \
                 AND m.created_ms < $1 AND NOT EXISTS (SELECT 1 FROM intake i WHERE i.message_id = m.message_id) LIMIT $2)",
                cutoff_ms,
            )
            .await?;
        let outcomes = self
            .delete_in_batches("DELETE FROM outcomes WHERE seq IN (SELECT seq FROM outcomes WHERE at_ms < $1 LIMIT $2)", cutoff_ms)
            .await?;
        Ok(Pruned { intake, messages, outcomes })
    }

    /// Gives deleted rows' space back and answers the database's size in bytes (for the
    /// retention benchmark; it holds the database while it runs).
    pub async fn compact_and_measure(&self) -> Result<i64> {
        self.db.compact_and_measure().await.map_err(ConnectorError::internal)
    }

    async fn delete_in_batches(&self, sql: &str, cutoff_ms: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = sqlx::query(sql).bind(cutoff_ms).bind(BATCH).execute(self.pool()).await?.rows_affected();
            total += n;
            if n < BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
