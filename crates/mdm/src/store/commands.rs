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

/// A Mac is asked for its inventory at most once in this long: a Recheck pressed again
/// within it follows the same command (ms).
pub const RECHECK_COOLDOWN_MS: i64 = 60 * 1000;

const COLUMNS: &str = "uuid, computer_id, command_type, queued_ms, delivered_ms";

impl Store {
    /// Queues `command_type` for a computer and returns the command to follow:
    /// - one still waiting is asked again (its `queued_ms` moves to `now`, so a Mac that
    ///   did not answer before is given its time again), never queued twice;
    /// - one queued in the last [`RECHECK_COOLDOWN_MS`] and already answered is followed
    ///   as it is (a burst of presses makes the Mac report once);
    /// - otherwise a new one.
    pub async fn queue_command(&self, computer_id: i64, command_type: &str, now: i64) -> Result<CommandRow> {
        let waiting = sqlx::query_as::<_, CommandRow>(&format!(
            "UPDATE computer_commands SET queued_ms = $1 WHERE computer_id = $2 AND command_type = $3 AND delivered_ms IS NULL \
             RETURNING {COLUMNS}"
        ))
        .bind(now)
        .bind(computer_id)
        .bind(command_type)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = waiting {
            return Ok(row);
        }
        let recent = sqlx::query_as::<_, CommandRow>(&format!(
            "SELECT {COLUMNS} FROM computer_commands WHERE computer_id = $1 AND command_type = $2 AND queued_ms > $3 \
             ORDER BY queued_ms DESC LIMIT 1"
        ))
        .bind(computer_id)
        .bind(command_type)
        .bind(now - RECHECK_COOLDOWN_MS)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = recent {
            return Ok(row);
        }
        let uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
        // Two presses at once: the unique index on waiting commands keeps one, and both
        // follow it.
        sqlx::query(
            "INSERT INTO computer_commands (uuid, computer_id, command_type, queued_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&uuid)
        .bind(computer_id)
        .bind(command_type)
        .bind(now)
        .execute(self.pool())
        .await?;
        sqlx::query_as::<_, CommandRow>(&format!(
            "SELECT {COLUMNS} FROM computer_commands WHERE computer_id = $1 AND command_type = $2 ORDER BY queued_ms DESC, uuid LIMIT 1"
        ))
        .bind(computer_id)
        .bind(command_type)
        .fetch_one(self.pool())
        .await
        .map_err(Into::into)
    }

    /// Hands the computer's waiting commands over (oldest first) and marks them delivered,
    /// in one statement: of two polls at once, on any nodes, only one gets each command.
    pub async fn take_commands(&self, computer_id: i64, now: i64) -> Result<Vec<CommandRow>> {
        let mut rows = sqlx::query_as::<_, CommandRow>(&format!(
            "UPDATE computer_commands SET delivered_ms = $1 WHERE computer_id = $2 AND delivered_ms IS NULL RETURNING {COLUMNS}"
        ))
        .bind(now)
        .bind(computer_id)
        .fetch_all(self.pool())
        .await?;
        rows.sort_by(|a, b| a.queued_ms.cmp(&b.queued_ms).then(a.uuid.cmp(&b.uuid)));
        Ok(rows)
    }

    /// Whether a command waits for the computer (an index lookup, for the long poll).
    pub async fn has_waiting_command(&self, computer_id: i64) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM computer_commands WHERE computer_id = $1 AND delivered_ms IS NULL")
            .bind(computer_id)
            .fetch_one(self.pool())
            .await?
            > 0)
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

    /// The sequence of the computer's latest inventory report (whole or partial)
    /// received at or after `since_ms`; `None` when none was.
    pub async fn reported_since(&self, computer_id: i64, since_ms: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(sequence) FROM inventory_history WHERE computer_id = $1 AND kind IN ('full', 'partial') AND received_ms >= $2",
        )
        .bind(computer_id)
        .bind(since_ms)
        .fetch_one(self.pool())
        .await?)
    }
}
