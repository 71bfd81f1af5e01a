//! Commands waiting for a Mac, fetched by its agent (migration 0012).

use super::*;

/// One command for a Mac.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommandRow {
    pub uuid: String,
    pub computer_id: i64,
    /// The Apple MDM `RequestType` the agent answers (`UpdateInventory`).
    pub command_type: String,
    pub queued_ms: i64,
    /// When the agent fetched it; `None` while it waits.
    pub delivered_ms: Option<i64>,
}

impl Store {
    /// Queues `command_type` for a computer, unless one is already waiting: a Mac asked
    /// twice before it answers reports once. Returns the waiting command.
    pub async fn queue_command(&self, computer_id: i64, command_type: &str, now: i64) -> Result<CommandRow> {
        let mut txn = self.pool().begin().await?;
        let waiting = sqlx::query_as::<_, CommandRow>(
            "SELECT uuid, computer_id, command_type, queued_ms, delivered_ms FROM computer_commands \
             WHERE computer_id = $1 AND command_type = $2 AND delivered_ms IS NULL",
        )
        .bind(computer_id)
        .bind(command_type)
        .fetch_optional(&mut *txn)
        .await?;
        if let Some(row) = waiting {
            return Ok(row);
        }
        let row = CommandRow {
            uuid: uuid::Uuid::new_v4().to_string().to_uppercase(),
            computer_id,
            command_type: command_type.into(),
            queued_ms: now,
            delivered_ms: None,
        };
        sqlx::query("INSERT INTO computer_commands (uuid, computer_id, command_type, queued_ms) VALUES ($1, $2, $3, $4)")
            .bind(&row.uuid)
            .bind(computer_id)
            .bind(command_type)
            .bind(now)
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Hands the computer's waiting commands over (oldest first) and marks them delivered.
    pub async fn take_commands(&self, computer_id: i64, now: i64) -> Result<Vec<CommandRow>> {
        let mut txn = self.pool().begin().await?;
        let rows = sqlx::query_as::<_, CommandRow>(
            "SELECT uuid, computer_id, command_type, queued_ms, delivered_ms FROM computer_commands \
             WHERE computer_id = $1 AND delivered_ms IS NULL ORDER BY queued_ms, uuid",
        )
        .bind(computer_id)
        .fetch_all(&mut *txn)
        .await?;
        for row in &rows {
            // Another node's poll may have taken it meanwhile: only one hands it out.
            let taken = sqlx::query("UPDATE computer_commands SET delivered_ms = $1 WHERE uuid = $2 AND delivered_ms IS NULL")
                .bind(now)
                .bind(&row.uuid)
                .execute(&mut *txn)
                .await?
                .rows_affected();
            if taken == 0 {
                txn.rollback().await?;
                return Ok(Vec::new());
            }
        }
        txn.commit().await?;
        Ok(rows.into_iter().map(|r| CommandRow { delivered_ms: Some(now), ..r }).collect())
    }

    /// One command of the computer, by its UUID.
    pub async fn command(&self, computer_id: i64, uuid: &str) -> Result<Option<CommandRow>> {
        Ok(sqlx::query_as::<_, CommandRow>(
            "SELECT uuid, computer_id, command_type, queued_ms, delivered_ms FROM computer_commands WHERE uuid = $1 AND computer_id = $2",
        )
        .bind(uuid)
        .bind(computer_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Deletes the commands of an instance's computers queued before `cutoff_ms`
    /// (answered or not: a Mac back after that long reports on its own). Returns how many.
    pub async fn prune_commands(&self, instance_id: &str, cutoff_ms: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM computer_commands WHERE queued_ms < $1 \
             AND computer_id IN (SELECT id FROM computers WHERE instance_id = $2)",
        )
        .bind(cutoff_ms)
        .bind(instance_id)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Whether the computer sent an inventory report (whole or partial) received at or
    /// after `since_ms`.
    pub async fn reported_since(&self, computer_id: i64, since_ms: i64) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM inventory_history WHERE computer_id = $1 AND kind IN ('full', 'partial') AND received_ms >= $2",
        )
        .bind(computer_id)
        .bind(since_ms)
        .fetch_one(self.pool())
        .await?
            > 0)
    }
}
