//! Statements that run inside a caller's transaction.

use platform::db::Placeholders;

use super::*;

/// A Workplace Join a local user made, as the registration agent posted it.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub aad_device_id: &'a str,
    pub aad_user_id: &'a str,
    pub upn: Option<&'a str>,
}

/// A computer's inventory as stored.
pub struct StoredInventory<'a> {
    pub json: &'a str,
    pub collected_ms: i64,
    pub last_checkin_ms: i64,
    pub name: &'a str,
    pub model: &'a str,
}

/// Stores a computer's inventory under its next sequence and returns the sequence;
/// `None`, storing nothing, when the stored inventory was collected later (a date
/// ahead of `now`, stored before such dates were refused, orders nothing). Deciding in
/// the statement keeps two reports of one computer from both passing the check.
pub async fn store_inventory(conn: &mut AnyConnection, computer_id: i64, i: &StoredInventory<'_>, now: i64) -> Result<Option<i64>> {
    let updated = sqlx::query(
        "UPDATE computers SET inventory = $1, collected_ms = $2, sequence = sequence + 1, last_checkin_ms = $3, name = $4, model = $5 \
         WHERE id = $6 AND (collected_ms IS NULL OR collected_ms <= $7 OR collected_ms > $8)",
    )
    .bind(i.json)
    .bind(i.collected_ms)
    .bind(i.last_checkin_ms)
    .bind(i.name)
    .bind(i.model)
    .bind(computer_id)
    .bind(i.collected_ms)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(sqlx::query_scalar::<_, i64>("SELECT sequence FROM computers WHERE id = $1").bind(computer_id).fetch_one(&mut *conn).await?))
}

/// A new sequence for a computer whose current state is sent again (reconcile).
pub async fn bump_sequence(conn: &mut AnyConnection, computer_id: i64) -> Result<i64> {
    sqlx::query("UPDATE computers SET sequence = sequence + 1 WHERE id = $1").bind(computer_id).execute(&mut *conn).await?;
    Ok(sqlx::query_scalar::<_, i64>("SELECT sequence FROM computers WHERE id = $1").bind(computer_id).fetch_one(&mut *conn).await?)
}

/// A local user seen in the computer's inventory. Account names are unique per
/// computer without regard to case (`username_key`, always `LOWER(TRIM(username))`,
/// written by the database itself so every row agrees on it).
pub async fn upsert_local_user(conn: &mut AnyConnection, computer_id: i64, username: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO local_users (computer_id, username, username_key, delivery_state) VALUES ($1, $2, LOWER(TRIM($3)), 'not_sent') \
                 ON CONFLICT (computer_id, username_key) DO UPDATE SET removed_ms = NULL",
    )
    .bind(computer_id)
    .bind(username)
    .bind(username)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the computer's local users whose names (`normalize::account_key`) are absent
/// from `present` as removed (once).
pub async fn mark_removed_users(conn: &mut AnyConnection, computer_id: i64, present: &[String], now: i64) -> Result<()> {
    let names = sqlx::query_scalar::<_, String>("SELECT username FROM local_users WHERE computer_id = $1 AND removed_ms IS NULL")
        .bind(computer_id)
        .fetch_all(&mut *conn)
        .await?;
    for gone in names.iter().filter(|n| !present.contains(&crate::domain::normalize::account_key(n))) {
        sqlx::query("UPDATE local_users SET removed_ms = $1 WHERE computer_id = $2 AND username = $3")
            .bind(now)
            .bind(computer_id)
            .bind(gone)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A local user's Workplace Join: its Entra device and user. A user registering again
/// replaces the earlier registration.
pub async fn register_user(conn: &mut AnyConnection, computer_id: i64, username: &str, r: &Registration<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO local_users (computer_id, username, username_key, aad_device_id, aad_user_id, upn, registered_ms, delivery_state) \
         VALUES ($1, $2, LOWER(TRIM($3)), $4, $5, $6, $7, 'not_sent') \
         ON CONFLICT (computer_id, username_key) DO UPDATE SET aad_device_id = $8, aad_user_id = $9, upn = $10, registered_ms = $11, \
         delivery_state = 'not_sent', delivery_detail = NULL, compliance_state = NULL, compliance_reasons = NULL",
    )
    .bind(computer_id)
    .bind(username)
    .bind(username)
    .bind(r.aad_device_id)
    .bind(r.aad_user_id)
    .bind(r.upn)
    .bind(now)
    .bind(r.aad_device_id)
    .bind(r.aad_user_id)
    .bind(r.upn)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// One registered user's item (`device`) is queued under `sequence`: outcomes of
/// older sequences no longer change its delivery state.
pub async fn mark_queued(conn: &mut AnyConnection, computer_id: i64, device: &str, sequence: i64) -> Result<()> {
    sqlx::query(
        "UPDATE local_users SET delivery_state = 'queued', delivery_detail = NULL, delivery_sequence = $1 \
         WHERE computer_id = $2 AND aad_device_id = $3",
    )
    .bind(sequence)
    .bind(computer_id)
    .bind(device)
    .execute(conn)
    .await?;
    Ok(())
}

/// The delivery state of one registered user's item (`device`), or of every
/// registration of the computer (`None`: an outcome that names only the computer),
/// unless a newer sequence than `sequence` was queued since.
pub async fn set_delivery(
    conn: &mut AnyConnection,
    computer_id: i64,
    device: Option<&str>,
    sequence: i64,
    state: &str,
    detail: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE local_users SET delivery_state = $1, delivery_detail = $2 WHERE computer_id = $3 AND aad_device_id IS NOT NULL \
         AND ($4 = '' OR aad_device_id = $5) AND (delivery_sequence IS NULL OR delivery_sequence <= $6)",
    )
    .bind(state)
    .bind(detail.map(str::to_string))
    .bind(computer_id)
    .bind(device.unwrap_or_default())
    .bind(device.unwrap_or_default())
    .bind(sequence)
    .execute(conn)
    .await?;
    Ok(())
}

/// [`set_delivery`] for many outbox rows `(computer, device, sequence)` with one state:
/// one statement per 300 rows, so a sent batch holds its users' rows only briefly.
pub async fn set_delivery_many(
    conn: &mut AnyConnection,
    rows: &[(i64, Option<&str>, i64)],
    state: &str,
    detail: Option<&str>,
) -> Result<()> {
    for chunk in rows.chunks(300) {
        // Placeholders in the order they are written and bound: state, detail, the
        // computers, then the VALUES rows.
        let mut p = Placeholders::for_connection(conn);
        let (set_state, set_detail, computers) = (p.one(), p.one(), p.list(chunk.len()));
        let values: Vec<String> = chunk.iter().map(|_| format!("({})", p.list(3))).collect();
        // The computers' list lets the index on `computer_id` find the rows; VALUES
        // columns are column1, column2, … on both databases.
        let sql = format!(
            "UPDATE local_users SET delivery_state = {set_state}, delivery_detail = {set_detail} WHERE aad_device_id IS NOT NULL \
             AND computer_id IN ({computers}) AND EXISTS \
             (SELECT 1 FROM (VALUES {}) AS v WHERE v.column1 = local_users.computer_id \
              AND (v.column2 = '' OR v.column2 = local_users.aad_device_id) \
              AND (local_users.delivery_sequence IS NULL OR local_users.delivery_sequence <= v.column3))",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql).persistent(false).bind(state).bind(detail.map(str::to_string));
        for (computer_id, _, _) in chunk {
            q = q.bind(*computer_id);
        }
        for (computer_id, device, sequence) in chunk {
            q = q.bind(*computer_id).bind(device.unwrap_or_default()).bind(*sequence);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// What the cloud decided for a registered user's Entra device, from the outcome of
/// `sequence` (kept unless a newer one was queued since).
pub async fn set_compliance(
    conn: &mut AnyConnection,
    computer_id: i64,
    device: Option<&str>,
    sequence: i64,
    state: Option<&str>,
    reasons: &[String],
) -> Result<()> {
    let reasons = (!reasons.is_empty()).then(|| serde_json::to_string(reasons).unwrap_or_default());
    sqlx::query(
        "UPDATE local_users SET compliance_state = $1, compliance_reasons = $2 WHERE computer_id = $3 AND aad_device_id IS NOT NULL \
         AND ($4 = '' OR aad_device_id = $5) AND (delivery_sequence IS NULL OR delivery_sequence <= $6)",
    )
    .bind(state.map(str::to_string))
    .bind(reasons)
    .bind(computer_id)
    .bind(device.unwrap_or_default())
    .bind(device.unwrap_or_default())
    .bind(sequence)
    .execute(conn)
    .await?;
    Ok(())
}

/// Hands the item for one registered user's Entra device to the sender.
pub async fn enqueue(
    conn: &mut AnyConnection,
    instance_id: &str,
    computer_id: i64,
    device_id: &DeviceId,
    sequence: i64,
    payload: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (instance_id, computer_id, device_id, sequence, payload, attempts, next_attempt_ms, created_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)")
        .bind(instance_id).bind(computer_id).bind(device_id).bind(sequence).bind(payload).bind(now).bind(now)
        .execute(conn).await?;
    Ok(())
}

pub async fn set_reported_verdict(conn: &mut AnyConnection, computer_id: i64, verdict: &str) -> Result<()> {
    sqlx::query("UPDATE computers SET reported_verdict = $1 WHERE id = $2").bind(verdict).bind(computer_id).execute(conn).await?;
    Ok(())
}

pub async fn set_reported_state(conn: &mut AnyConnection, computer_id: i64, reported_state: &str) -> Result<()> {
    sqlx::query("UPDATE computers SET reported_state = $1 WHERE id = $2").bind(reported_state).bind(computer_id).execute(conn).await?;
    Ok(())
}

/// A row of a computer's inventory history. Nothing is collected after it is received:
/// a collection time ahead of `now` (a stored date from a Mac whose clock ran ahead, sent
/// again) is recorded as `now`.
pub async fn record_history(
    conn: &mut AnyConnection,
    computer_id: i64,
    sequence: i64,
    kind: &str,
    collected_ms: i64,
    now: i64,
    changed: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO inventory_history (computer_id, sequence, kind, collected_ms, received_ms, changed) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(computer_id)
    .bind(sequence)
    .bind(kind)
    .bind(collected_ms.min(now))
    .bind(now)
    .bind(changed)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes sent outbox rows: one statement per 500 ids.
pub async fn delete_outbox(conn: &mut AnyConnection, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(500) {
        let sql = format!("DELETE FROM outbox WHERE id IN ({})", Placeholders::for_connection(conn).list(chunk.len()));
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn set_cursor(conn: &mut AnyConnection, instance_id: &str, cursor: i64) -> Result<()> {
    sqlx::query("INSERT INTO outcome_cursors (instance_id, cursor) VALUES ($1, $2) ON CONFLICT (instance_id) DO UPDATE SET cursor = $3")
        .bind(instance_id)
        .bind(cursor)
        .bind(cursor)
        .execute(conn)
        .await?;
    Ok(())
}
