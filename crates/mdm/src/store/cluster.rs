//! What lets several mdm nodes share one database: the node holding an instance's lease is
//! the one that works for it in the background (sends its outbox, reads its outcomes,
//! follows its link), so nothing is sent twice.

use super::*;

impl Store {
    /// Takes or renews `node`'s lease on an instance until `until_ms`: granted when no
    /// node holds it, when `node` does, or when the holder's lease ran out by `now`.
    /// Whether `node` holds it now; of nodes racing for it exactly one is told yes (one
    /// conditional statement; PostgreSQL re-checks it on a row another node just wrote).
    pub async fn hold_instance(&self, instance_id: &str, node: &str, now: i64, until_ms: i64) -> Result<bool> {
        sqlx::query("INSERT INTO instance_leases (instance_id, node, until_ms) VALUES ($1, '', 0) ON CONFLICT (instance_id) DO NOTHING")
            .bind(instance_id)
            .execute(self.pool())
            .await?;
        let r = sqlx::query("UPDATE instance_leases SET node = $1, until_ms = $2 WHERE instance_id = $3 AND (node = $4 OR until_ms <= $5)")
            .bind(node)
            .bind(until_ms)
            .bind(instance_id)
            .bind(node)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives up the instances `node` holds (its shutdown, or its restart), or on SQLite,
    /// where one node runs, every hold: the work is taken up again at once.
    pub async fn release_instances(&self, node: &str) -> Result<()> {
        let all = self.db.backend == platform::db::Backend::Sqlite;
        sqlx::query("UPDATE instance_leases SET until_ms = 0 WHERE $1 OR node = $2").bind(all).bind(node).execute(self.pool()).await?;
        Ok(())
    }
}
