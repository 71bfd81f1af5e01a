//! Retention of delivery history: concluded updates, finished messages and outcomes
//! older than the configured period are deleted in batches, each table walked once in key
//! order, so that no statement holds the database for long. What stays whatever its age:
//! each computer's latest update (the superseding check and reconciles read it), dead
//! letters (an operator may replay them), updates not yet concluded, and the messages any
//! kept update belongs to.

use super::*;

/// Rows deleted per statement.
const BATCH: i64 = 5_000;

/// What one pruning deleted: rows of each table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Concluded updates that a newer update of their computer superseded.
    pub intake: u64,
    /// Finished messages no kept update belongs to.
    pub messages: u64,
    /// Outcomes the instances were given.
    pub outcomes: u64,
}

impl Store {
    /// Deletes the delivery history older than `cutoff_ms` (service-clock milliseconds).
    /// Each table is walked once in key order, a batch at a time: a batch's candidates are
    /// read, then deleted with their condition checked again.
    pub async fn prune(&self, cutoff_ms: i64) -> Result<Pruned> {
        let intake = self
            .prune_walk(
                "SELECT i.id FROM intake i WHERE i.id > $1 AND i.status = 'done' AND i.received_ms < $2 \
                 AND EXISTS (SELECT 1 FROM intake n WHERE n.instance_id = i.instance_id AND n.computer_id = i.computer_id \
                 AND n.sequence > i.sequence) ORDER BY i.id LIMIT $3",
                "DELETE FROM intake WHERE status = 'done' AND id IN",
                cutoff_ms,
            )
            .await?;
        let outcomes = self
            .prune_walk(
                "SELECT seq FROM outcomes WHERE seq > $1 AND at_ms < $2 ORDER BY seq LIMIT $3",
                "DELETE FROM outcomes WHERE seq IN",
                cutoff_ms,
            )
            .await?;
        let messages = self.prune_messages(cutoff_ms).await?;
        Ok(Pruned { intake, messages, outcomes })
    }

    /// Walks a table by its integer key: `select` (after key `$1`, cutoff `$2`, limit `$3`)
    /// names a batch, `delete` (`… IN`) deletes it. Returns the rows deleted.
    async fn prune_walk(&self, select: &str, delete: &str, cutoff_ms: i64) -> Result<u64> {
        let (mut after, mut total) = (0_i64, 0_u64);
        loop {
            let keys: Vec<i64> = sqlx::query_scalar(select).bind(after).bind(cutoff_ms).bind(BATCH).fetch_all(self.pool()).await?;
            let Some(last) = keys.last().copied() else { return Ok(total) };
            let list = keys.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            total += sqlx::query(&format!("{delete} ({list})")).execute(self.pool()).await?.rows_affected();
            after = last;
        }
    }

    /// Finished messages older than the cutoff that no kept update belongs to, walked by id.
    async fn prune_messages(&self, cutoff_ms: i64) -> Result<u64> {
        let (mut after, mut total) = (String::new(), 0_u64);
        loop {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT m.message_id FROM messages m WHERE m.message_id > $1 AND m.status = 'done' AND m.created_ms < $2 \
                 AND NOT EXISTS (SELECT 1 FROM intake i WHERE i.message_id = m.message_id) ORDER BY m.message_id LIMIT $3",
            )
            .bind(&after)
            .bind(cutoff_ms)
            .bind(BATCH)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = ids.last().cloned() else { return Ok(total) };
            let sql = format!("DELETE FROM messages WHERE status = 'done' AND message_id IN ({})", self.db.placeholders().list(ids.len()));
            let mut q = sqlx::query(&sql);
            for id in &ids {
                q = q.bind(id);
            }
            total += q.execute(self.pool()).await?.rows_affected();
            after = last;
        }
    }

    /// Gives deleted rows' space back and answers the database's size in bytes (for the
    /// retention benchmark; it holds the database while it runs).
    pub async fn compact_and_measure(&self) -> Result<i64> {
        self.db.compact_and_measure().await.map_err(ConnectorError::internal)
    }
}
