//! The delivery pipeline: intake, messages, routes and outcomes.

use std::collections::HashMap;

use super::*;

/// One outcome reported back to an instance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutcomeRow {
    pub seq: i64,
    pub computer_id: String,
    pub sequence: i64,
    #[sqlx(try_from = "String")]
    pub status: OutcomeStatus,
    pub detail: Option<String>,
    pub at_ms: i64,
    pub compliance_state: Option<String>,
    /// JSON array of sentences.
    pub compliance_reasons: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub cloud: String,
    pub body: String,
    #[sqlx(try_from = "String")]
    pub status: MessageState,
    pub attempts: i64,
    pub next_attempt_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntakeRow {
    pub id: i64,
    pub instance_id: InstanceId,
    pub computer_id: String,
    pub sequence: i64,
    pub device_id: DeviceId,
    pub received_ms: i64,
}

/// A message's next step: its state, attempts so far, when (service-clock milliseconds)
/// and the last error.
#[derive(Debug, Clone, Copy)]
pub struct Next<'a> {
    pub status: MessageState,
    pub attempts: i64,
    pub at_ms: i64,
    pub error: Option<&'a str>,
}

/// Message lifecycle: `upload` (PUT due) → `poll` (status GET due) → `done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::EnumString, strum::AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum MessageState {
    Upload,
    Poll,
    Done,
}

wire::text_enum!(MessageState);

impl Store {
    // ---- intake ------------------------------------------------------------------------

    /// The highest sequence held for each of `computer_ids` of an instance (those with
    /// none are left out), one query per 500.
    pub async fn max_sequences(&self, instance_id: &InstanceId, computer_ids: &[&str]) -> Result<HashMap<String, i64>> {
        let mut out = HashMap::with_capacity(computer_ids.len());
        for chunk in computer_ids.chunks(500) {
            let mut p = self.db.placeholders();
            let sql = format!(
                "SELECT computer_id, MAX(sequence) FROM intake WHERE instance_id = {} AND computer_id IN ({}) GROUP BY computer_id",
                p.one(),
                p.list(chunk.len())
            );
            // Planned afresh each time: a plan cached while the table was small would scan
            // every row of the instance once it is large.
            let mut q = sqlx::query_as::<_, (String, i64)>(&sql).persistent(false).bind(instance_id);
            for c in chunk {
                q = q.bind(*c);
            }
            out.extend(q.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    pub fn begin(&self) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error>> + '_ {
        self.db.begin()
    }

    /// Tenants with queued updates: `(tenant, queued count, oldest arrival)`.
    pub async fn tenants_with_queue(&self) -> Result<Vec<(TenantId, i64, i64)>> {
        Ok(sqlx::query_as::<_, (TenantId, i64, i64)>(
            "SELECT tenant_id, COUNT(*), MIN(received_ms) FROM intake WHERE status = 'queued' GROUP BY tenant_id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The cloud profile of a tenant's most recent link.
    pub async fn cloud_of_tenant(&self, tenant_id: &TenantId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT cloud FROM links WHERE tenant_id = $1 ORDER BY updated_ms DESC LIMIT 1")
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Messages in `status` whose next attempt is due and that no node holds, without
    /// their bodies (see [`Store::message_body`]): most are not picked this round, and a
    /// picked one is worked on only once [`Store::lease_message`] gave it to this node.
    pub async fn messages_due(&self, status: MessageState, now: i64, limit: i64) -> Result<Vec<MessageRow>> {
        Ok(sqlx::query_as::<_, MessageRow>(
            "SELECT message_id, tenant_id, cloud, '' AS body, status, attempts, next_attempt_ms FROM messages \
             WHERE status = $1 AND next_attempt_ms <= $2 AND lease_until_ms <= $3 ORDER BY next_attempt_ms LIMIT $4",
        )
        .bind(status.as_ref())
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Gives a message to `node` until `until_ms` if no node holds it at `now` and it is
    /// still in `status`; whether it did. One statement, so of several nodes racing for
    /// a message exactly one wins (PostgreSQL re-checks the condition on the row another
    /// node just updated; SQLite runs one writer at a time). Rescheduling or concluding
    /// the message gives the lease up.
    pub async fn lease_message(&self, id: &MessageId, status: MessageState, node: &str, now: i64, until_ms: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE messages SET lease_until_ms = $1, lease_node = $2 WHERE message_id = $3 AND status = $4 AND lease_until_ms <= $5",
        )
        .bind(until_ms)
        .bind(node)
        .bind(id)
        .bind(status.as_ref())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn message_body(&self, message_id: &MessageId) -> Result<String> {
        Ok(sqlx::query_scalar::<_, String>("SELECT body FROM messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Makes the tenant's waiting messages due now (a link whose re-test or Confirm just
    /// passed: what the refusal held back goes at once). Leased ones are left alone.
    pub async fn hurry_messages(&self, tenant_id: &TenantId, now: i64) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE messages SET next_attempt_ms = $1 WHERE tenant_id = $2 AND status <> 'done' AND next_attempt_ms > $3 AND lease_until_ms <= $4",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected())
    }

    /// Schedules the next step of a message `node` holds and gives the lease up; whether
    /// it did (a node whose lease another node took since changes nothing).
    pub async fn reschedule_message(&self, id: &MessageId, node: &str, next: Next<'_>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE messages SET status = $1, attempts = $2, next_attempt_ms = $3, last_error = $4, lease_until_ms = 0, lease_node = NULL \
             WHERE message_id = $5 AND lease_node = $6 AND status <> 'done'",
        )
        .bind(next.status.as_ref())
        .bind(next.attempts)
        .bind(next.at_ms)
        .bind(next.error.map(str::to_string))
        .bind(id)
        .bind(node)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn intake_of_message(&self, message_id: &MessageId) -> Result<Vec<IntakeRow>> {
        Ok(sqlx::query_as::<_, IntakeRow>(
            "SELECT id, instance_id, computer_id, sequence, device_id, received_ms FROM intake WHERE message_id = $1 ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn outcomes(&self, instance_id: &InstanceId, after: i64, limit: i64) -> Result<Vec<OutcomeRow>> {
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

    pub async fn route(&self, tenant_id: &TenantId, device_id: &DeviceId) -> Result<Option<InstanceId>> {
        Ok(sqlx::query_scalar::<_, InstanceId>("SELECT instance_id FROM device_routes WHERE tenant_id = $1 AND device_id = $2")
            .bind(tenant_id)
            .bind(device_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Entra devices of a tenant last reported by an instance.
    pub async fn devices_of_instance(&self, tenant_id: &TenantId, instance_id: &InstanceId) -> Result<Vec<DeviceId>> {
        Ok(sqlx::query_scalar::<_, DeviceId>("SELECT device_id FROM device_routes WHERE tenant_id = $1 AND instance_id = $2")
            .bind(tenant_id)
            .bind(instance_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// The instance that last reported a device of this user.
    pub async fn route_by_upn(&self, tenant_id: &TenantId, upn: &str) -> Result<Option<InstanceId>> {
        Ok(sqlx::query_scalar::<_, InstanceId>("SELECT instance_id FROM device_routes WHERE tenant_id = $1 AND upn = $2 LIMIT 1")
            .bind(tenant_id)
            .bind(upn.to_ascii_lowercase())
            .fetch_optional(self.pool())
            .await?)
    }

    /// When the oldest update of an instance that is not concluded yet arrived.
    pub async fn oldest_pending_ms(&self, instance_id: &InstanceId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(received_ms) FROM intake WHERE instance_id = $1 AND status IN ('queued', 'batched')",
        )
        .bind(instance_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// When the last message for a tenant was formed.
    pub async fn last_message_ms(&self, tenant_id: &TenantId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(created_ms) FROM messages WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// The most recent delivery error recorded for a tenant's messages.
    pub async fn last_error(&self, tenant_id: &TenantId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT last_error FROM messages WHERE tenant_id = $1 AND last_error IS NOT NULL ORDER BY created_ms DESC LIMIT 1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// `(accepted, rejected)` outcomes of an instance.
    pub async fn outcome_counts(&self, instance_id: &InstanceId) -> Result<(i64, i64, i64)> {
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
    pub async fn backlog(&self, instance_id: &InstanceId) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM intake WHERE instance_id = $1 AND status IN ('queued', 'batched')")
            .bind(instance_id)
            .fetch_one(self.pool())
            .await?)
    }
}
