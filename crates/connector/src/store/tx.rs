//! Statements that run inside a caller's transaction.

use sqlx::AnyConnection;

use super::*;

#[allow(clippy::too_many_arguments)]
pub async fn insert_intake(
    conn: &mut AnyConnection,
    instance_id: &InstanceId,
    tenant_id: &TenantId,
    computer_id: &str,
    sequence: i64,
    device_id: &DeviceId,
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

pub async fn delete_routes(conn: &mut AnyConnection, tenant_id: &TenantId, instance_id: &InstanceId) -> Result<()> {
    sqlx::query("DELETE FROM device_routes WHERE tenant_id = $1 AND instance_id = $2")
        .bind(tenant_id)
        .bind(instance_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn upsert_route(
    conn: &mut AnyConnection,
    tenant_id: &TenantId,
    device_id: &DeviceId,
    instance_id: &InstanceId,
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
pub async fn claim_batch(conn: &mut AnyConnection, tenant_id: &TenantId, message_id: &MessageId, limit: i64) -> Result<Vec<(i64, String)>> {
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
    .bind(m.status.as_ref())
    .bind(m.next_attempt_ms)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records what became of one update, for its instance to collect.
pub async fn insert_outcome(
    conn: &mut AnyConnection,
    instance_id: &InstanceId,
    computer_id: &str,
    sequence: i64,
    outcome: &partner::outcome::ItemOutcome,
    now: i64,
) -> Result<()> {
    let reasons = (!outcome.compliance_reasons.is_empty()).then(|| serde_json::to_string(&outcome.compliance_reasons).unwrap_or_default());
    sqlx::query(
        "INSERT INTO outcomes (instance_id, computer_id, sequence, status, detail, at_ms, compliance_state, compliance_reasons) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(instance_id)
    .bind(computer_id)
    .bind(sequence)
    .bind(outcome.status.as_ref())
    .bind(outcome.detail.clone())
    .bind(now)
    .bind(outcome.compliance_state.clone())
    .bind(reasons)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn link_event(conn: &mut AnyConnection, link_id: &LinkId, status: LinkStatus, detail: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO link_events (link_id, at_ms, status, detail) VALUES ($1, $2, $3, $4)")
        .bind(link_id)
        .bind(now)
        .bind(status.as_ref())
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

pub async fn finish_message(conn: &mut AnyConnection, message_id: &MessageId) -> Result<()> {
    sqlx::query("UPDATE intake SET status = 'done' WHERE message_id = $1 AND status = 'batched'")
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Closes a message `node` holds (status `done`, body dropped, lease given up); whether
/// it did. A node whose lease another node took since is fenced off: it concludes
/// nothing, so a message is concluded once and its outcomes written once.
pub async fn close_leased_message(conn: &mut AnyConnection, message_id: &MessageId, node: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE messages SET status = 'done', body = '', lease_until_ms = 0, lease_node = NULL \
         WHERE message_id = $1 AND lease_node = $2 AND status <> 'done'",
    )
    .bind(message_id)
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
