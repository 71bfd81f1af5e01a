//! What lets several connector nodes share one database: a tenant's messages are formed by
//! one node at a time, cluster-wide jobs (heartbeats, each link's re-test and reconcile)
//! run on one node per period, and a tenant's `Retry-After` pause binds every node. (Message leases are with the messages, in
//! `delivery.rs`.)

use platform::db::Backend;

use super::*;

impl Store {
    /// Whether other nodes may share this database: PostgreSQL; SQLite serves one node
    /// (`platform::db::NodeLock`).
    pub fn shared(&self) -> bool {
        self.db.backend == Backend::Postgres
    }

    /// Begins the transaction that forms a message of `tenant`. On PostgreSQL it first
    /// takes the tenant's transaction-scoped advisory lock, so two nodes never form
    /// messages of one tenant at once: each sees the other's batched updates, and the
    /// per-device order `tx::claim_batch` keeps holds across nodes. SQLite has one writer
    /// at a time already.
    pub async fn begin_for_tenant(&self, tenant: &TenantId) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut txn = self.db.begin().await?;
        if self.db.backend == Backend::Postgres {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked").bind(tenant).execute(&mut *txn).await?;
        }
        Ok(txn)
    }

    /// Takes the cluster-wide job `name` for this period if it is due at `now`: moves its
    /// next run to `next_due_ms` and records `node`. Whether this node runs it; of several
    /// nodes asking at once exactly one is told yes. Due times are on the service clock,
    /// so the nodes' clocks must agree (NTP); a node whose clock runs ahead takes jobs early.
    pub async fn take_job(&self, name: &str, node: &str, now: i64, next_due_ms: i64) -> Result<bool> {
        sqlx::query("INSERT INTO cluster_jobs (name, next_due_ms, node) VALUES ($1, 0, NULL) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(self.pool())
            .await?;
        let r = sqlx::query("UPDATE cluster_jobs SET next_due_ms = $1, node = $2 WHERE name = $3 AND next_due_ms <= $4")
            .bind(next_due_ms)
            .bind(node)
            .bind(name)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records that `tenant` of `cloud` is paused until `until_ms` for every node; a
    /// later pause already recorded stands.
    pub async fn share_pause(&self, cloud: &str, tenant: &str, until_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenant_pauses (cloud, tenant_id, until_ms) VALUES ($1, $2, $3) ON CONFLICT (cloud, tenant_id) DO UPDATE \
             SET until_ms = CASE WHEN excluded.until_ms > tenant_pauses.until_ms THEN excluded.until_ms ELSE tenant_pauses.until_ms END",
        )
        .bind(cloud)
        .bind(tenant)
        .bind(until_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The pauses of every node that last beyond `now`: `(cloud, tenant, until_ms)`.
    pub async fn shared_pauses(&self, now: i64) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as::<_, (String, String, i64)>("SELECT cloud, tenant_id, until_ms FROM tenant_pauses WHERE until_ms > $1")
            .bind(now)
            .fetch_all(self.pool())
            .await?)
    }

    /// Gives up the leases `node` holds (a restart of that node, or its shutdown), or on
    /// SQLite, where one node runs, every lease: its work is taken up again at once.
    pub async fn release_leases(&self, node: &str) -> Result<()> {
        let all = self.db.backend == Backend::Sqlite;
        sqlx::query("UPDATE messages SET lease_until_ms = 0, lease_node = NULL WHERE lease_until_ms > 0 AND ($1 OR lease_node = $2)")
            .bind(all)
            .bind(node)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
