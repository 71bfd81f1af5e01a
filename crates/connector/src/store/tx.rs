//! Statements that run inside a caller's transaction.

use std::collections::HashMap;

use platform::db::Placeholders;
use sqlx::AnyConnection;

use super::*;

/// One update to queue ([`insert_intake_rows`]).
pub struct NewIntake<'a> {
    pub computer_id: &'a str,
    pub sequence: i64,
    pub device_id: &'a DeviceId,
    /// The partner item, as JSON.
    pub item: &'a str,
}

/// Rows per multi-row statement: at 8 parameters a row at most, 4,000 stays far below
/// SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// Queues one update; false when it was already held (same instance, computer, sequence).
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
    let row = NewIntake { computer_id, sequence, device_id, item };
    Ok(insert_intake_rows(conn, instance_id, tenant_id, &[row], now).await? == 1)
}

/// Queues updates of one instance and tenant with one multi-row `INSERT` per 500 (the
/// same statement on both databases; the `Any` driver binds no arrays, so PostgreSQL's
/// `UNNEST` is out of reach). An update already held is skipped. Returns how many rows
/// were inserted.
pub async fn insert_intake_rows(
    conn: &mut AnyConnection,
    instance_id: &InstanceId,
    tenant_id: &TenantId,
    rows: &[NewIntake<'_>],
    now: i64,
) -> Result<u64> {
    let mut inserted = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut p = Placeholders::for_connection(conn);
        let values: Vec<String> = chunk.iter().map(|_| format!("({}, 'queued', NULL, {})", p.list(6), p.one())).collect();
        let sql = format!(
            "INSERT INTO intake (instance_id, tenant_id, computer_id, sequence, device_id, item, status, message_id, received_ms) \
             VALUES {} ON CONFLICT (instance_id, computer_id, sequence) DO NOTHING",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q.bind(instance_id).bind(tenant_id).bind(r.computer_id).bind(r.sequence).bind(r.device_id).bind(r.item).bind(now);
        }
        inserted += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
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
    upsert_routes(conn, tenant_id, instance_id, &[(device_id, upn)]).await
}

/// Routes each device of a tenant to `instance_id` (with its user's UPN, lower-cased by
/// the caller), one multi-row statement per 500. A device named twice keeps the last.
pub async fn upsert_routes(
    conn: &mut AnyConnection,
    tenant_id: &TenantId,
    instance_id: &InstanceId,
    routes: &[(&DeviceId, Option<&str>)],
) -> Result<()> {
    // One statement may not change a row twice (PostgreSQL refuses it).
    let mut last: HashMap<&DeviceId, Option<&str>> = HashMap::with_capacity(routes.len());
    let mut order = Vec::with_capacity(routes.len());
    for (device, upn) in routes {
        if last.insert(device, *upn).is_none() {
            order.push(*device);
        }
    }
    for chunk in order.chunks(ROWS_PER_STATEMENT) {
        let mut p = Placeholders::for_connection(conn);
        let values: Vec<String> = chunk.iter().map(|_| format!("({})", p.list(4))).collect();
        let sql = format!(
            "INSERT INTO device_routes (tenant_id, device_id, instance_id, upn) VALUES {} \
             ON CONFLICT (tenant_id, device_id) DO UPDATE SET instance_id = excluded.instance_id, upn = excluded.upn",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for device in chunk {
            q = q.bind(tenant_id).bind(*device).bind(instance_id).bind(last[device].map(str::to_string));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Why a departed instance's update is given up on.
pub const LEFT_THE_TENANT: &str = "the instance left the tenant before this update was sent";

/// Gives up on the queued updates of instances that left the tenant (their every link to
/// it disconnected) but for their withdrawals (`withdraw:` keys), each with a rejected
/// outcome for its instance. An update accepted at the moment its instance disconnected
/// would otherwise follow the withdrawal and bring the Mac back into Intune. Returns how
/// many were given up.
pub async fn drop_departed(conn: &mut AnyConnection, tenant_id: &TenantId, now: i64) -> Result<u64> {
    let departed = "tenant_id = $1 AND status = 'queued' AND computer_id NOT LIKE 'withdraw:%' AND NOT EXISTS \
         (SELECT 1 FROM links l WHERE l.instance_id = intake.instance_id AND l.tenant_id = intake.tenant_id AND l.status <> 'disconnected')";
    let rows = sqlx::query_as::<_, (i64, InstanceId, String, i64)>(&format!(
        "SELECT id, instance_id, computer_id, sequence FROM intake WHERE {departed}"
    ))
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let outcome = partner::outcome::ItemOutcome {
        status: wire::connector_api::OutcomeStatus::Rejected,
        detail: Some(LEFT_THE_TENANT.into()),
        compliance_state: None,
        compliance_reasons: vec![],
    };
    for (id, instance_id, computer_id, sequence) in &rows {
        dead_letter(conn, *id, LEFT_THE_TENANT, now).await?;
        insert_outcome(conn, instance_id, computer_id, *sequence, &outcome, now).await?;
    }
    Ok(rows.len() as u64)
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
    insert_outcomes(conn, &[NewOutcome { instance_id, computer_id, sequence, outcome }], now).await
}

/// What became of one update ([`insert_outcomes`]).
pub struct NewOutcome<'a> {
    pub instance_id: &'a InstanceId,
    pub computer_id: &'a str,
    pub sequence: i64,
    pub outcome: &'a partner::outcome::ItemOutcome,
}

/// Records what became of updates, for their instances to collect: one multi-row
/// `INSERT` per 500.
pub async fn insert_outcomes(conn: &mut AnyConnection, rows: &[NewOutcome<'_>], now: i64) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut p = Placeholders::for_connection(conn);
        let values: Vec<String> = chunk.iter().map(|_| format!("({})", p.list(8))).collect();
        let sql = format!(
            "INSERT INTO outcomes (instance_id, computer_id, sequence, status, detail, at_ms, compliance_state, compliance_reasons) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            let o = r.outcome;
            let reasons = (!o.compliance_reasons.is_empty()).then(|| serde_json::to_string(&o.compliance_reasons).unwrap_or_default());
            q = q
                .bind(r.instance_id)
                .bind(r.computer_id)
                .bind(r.sequence)
                .bind(o.status.as_ref())
                .bind(o.detail.clone())
                .bind(now)
                .bind(o.compliance_state.clone())
                .bind(reasons);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Stores a link's state, with a history event when its status changes.
pub async fn update_link(conn: &mut AnyConnection, l: &LinkRow, detail: &str, now: i64) -> Result<()> {
    let before = sqlx::query_scalar::<_, String>("SELECT status FROM links WHERE id = $1").bind(&l.id).fetch_optional(&mut *conn).await?;
    if before.as_deref() != Some(l.status.as_ref()) {
        link_event(conn, &l.id, l.status, detail, now).await?;
    }
    sqlx::query("UPDATE links SET tenant_id = $1, status = $2, checks = $3, last_tested_ms = $4, updated_ms = $5 WHERE id = $6")
        .bind(l.tenant_id.clone())
        .bind(l.status.as_ref())
        .bind(&l.checks)
        .bind(l.last_tested_ms)
        .bind(now)
        .bind(&l.id)
        .execute(&mut *conn)
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
