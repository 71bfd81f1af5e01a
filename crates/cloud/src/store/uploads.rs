//! Upload messages of the partner device data service, and the statements that apply one
//! inside a transaction.

use super::*;

impl Store {
    // ---- uploads -----------------------------------------------------------------------

    /// Stores a new upload message; false if the tenant used the ID already.
    pub async fn insert_upload(&self, u: &UploadRow) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO upload_messages (message_id, tenant_id, app_id, body_digest, status, body, item_results, \
             error_code, error_detail, received_ms, processed_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, NULL, $7, NULL) \
             ON CONFLICT (tenant_id, message_id) DO NOTHING",
        )
        .bind(&u.message_id)
        .bind(&u.tenant_id)
        .bind(&u.app_id)
        .bind(&u.body_digest)
        .bind(u.status.to_string())
        .bind(&u.body)
        .bind(u.received_ms)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A message ID used again for new content once its earlier message is processed (the
    /// legacy integration uploads every message under the tenant's ID): the new content
    /// replaces it, pending. False while the earlier one is still pending.
    pub async fn reuse_upload(&self, u: &UploadRow) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE upload_messages SET app_id = $1, body_digest = $2, status = $3, body = $4, item_results = NULL, error_code = 0, \
             error_detail = NULL, received_ms = $5, processed_ms = NULL WHERE message_id = $6 AND tenant_id = $7 AND status <> $8",
        )
        .bind(&u.app_id)
        .bind(&u.body_digest)
        .bind(u.status.to_string())
        .bind(&u.body)
        .bind(u.received_ms)
        .bind(&u.message_id)
        .bind(&u.tenant_id)
        .bind(wire::partner::MessageStatus::Pending.to_string())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A tenant's upload message (IDs are each tenant's own).
    pub async fn upload(&self, tenant_id: &TenantId, message_id: &MessageId) -> Result<Option<UploadRow>> {
        Ok(sqlx::query_as::<_, UploadRow>(
            "SELECT message_id, tenant_id, app_id, body_digest, status, body, item_results, error_code, error_detail, \
             received_ms FROM upload_messages WHERE tenant_id = $1 AND message_id = $2",
        )
        .bind(tenant_id)
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn pending_uploads(&self, limit: i64) -> Result<Vec<UploadRow>> {
        Ok(sqlx::query_as::<_, UploadRow>(
            "SELECT message_id, tenant_id, app_id, body_digest, status, body, item_results, error_code, error_detail, \
             received_ms FROM upload_messages WHERE status = 'Pending' ORDER BY received_ms LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub fn begin(&self) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error>> + '_ {
        self.db.begin()
    }
}

/// Statements that must run inside one transaction while a message is applied.
pub mod tx {
    use super::*;
    use sqlx::AnyConnection;

    /// A managed device's `(partner_update_ms, last_sync_ms)`, read inside the caller's
    /// transaction (to write only over the state a computation started from).
    pub async fn managed_device_clocks(conn: &mut AnyConnection, device_id: &DeviceId) -> Result<Option<(i64, i64)>> {
        Ok(sqlx::query_as::<_, (i64, i64)>("SELECT partner_update_ms, last_sync_ms FROM managed_devices WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(conn)
            .await?)
    }

    pub async fn upsert_managed_device(conn: &mut AnyConnection, m: &ManagedDeviceRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO managed_devices (id, tenant_id, device_id, user_id, device_name, os_version, serial_number, \
             compliance_state, attributes, setting_results, partner_update_ms, last_sync_ms, noncompliant_since_ms, error_since_ms, \
             grace_expires_ms, policy_states, enrolled_ms, verdict_only, valid_until_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id, device_name = excluded.device_name, \
             os_version = excluded.os_version, serial_number = excluded.serial_number, compliance_state = excluded.compliance_state, \
             attributes = excluded.attributes, setting_results = excluded.setting_results, partner_update_ms = excluded.partner_update_ms, \
             last_sync_ms = excluded.last_sync_ms, noncompliant_since_ms = excluded.noncompliant_since_ms, \
             error_since_ms = excluded.error_since_ms, grace_expires_ms = excluded.grace_expires_ms, policy_states = excluded.policy_states, \
             enrolled_ms = COALESCE(managed_devices.enrolled_ms, excluded.enrolled_ms), verdict_only = excluded.verdict_only, \
             valid_until_ms = excluded.valid_until_ms",
        )
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(&m.device_id)
        .bind(&m.user_id)
        .bind(m.device_name.clone())
        .bind(m.os_version.clone())
        .bind(m.serial_number.clone())
        .bind(m.compliance_state.as_ref())
        .bind(&m.attributes)
        .bind(&m.setting_results)
        .bind(m.partner_update_ms)
        .bind(m.last_sync_ms)
        .bind(m.noncompliant_since_ms)
        .bind(m.error_since_ms)
        .bind(m.grace_expires_ms)
        .bind(&m.policy_states)
        .bind(m.enrolled_ms)
        .bind(m.verdict_only)
        .bind(m.valid_until_ms)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// A device the partner no longer manages: its Intune record goes, its Entra device is
    /// no longer managed and no longer counts as compliant.
    pub async fn withdraw_device(conn: &mut AnyConnection, device_id: &DeviceId, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM managed_devices WHERE device_id = $1").bind(device_id).execute(&mut *conn).await?;
        sqlx::query(
            "UPDATE devices SET is_managed = 0, mdm_app_id = NULL, is_compliant = NULL, compliance_updated_ms = $1 WHERE device_id = $2",
        )
        .bind(now)
        .bind(device_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Writes an Entra device's `isCompliant` as the evaluation of an upload decided it
    /// (Intune decides; docs/operations.md, Clocks). The clocks write it too: a lapsed
    /// verdict (`store::compliance`), a terminated or removed partner (`store::partners`),
    /// a device withdrawn by its partner (above).
    pub async fn set_device_compliance(
        conn: &mut AnyConnection,
        device_id: &DeviceId,
        compliant: Option<bool>,
        mdm_app_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE devices SET is_compliant = $1, is_managed = 1, mdm_app_id = $2, compliance_updated_ms = $3 WHERE device_id = $4",
        )
        .bind(compliant.map(|c| c as i64))
        .bind(mdm_app_id)
        .bind(now)
        .bind(device_id)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Records a message's outcome (`message` names it: its tenant and ID).
    pub async fn finish_upload(
        conn: &mut AnyConnection,
        message: &UploadRow,
        status: wire::partner::MessageStatus,
        results: &str,
        error_code: i64,
        detail: Option<&str>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE upload_messages SET status = $1, item_results = $2, error_code = $3, error_detail = $4, processed_ms = $5, \
             body = '' WHERE message_id = $6 AND tenant_id = $7",
        )
        .bind(status.to_string())
        .bind(results)
        .bind(error_code)
        .bind(detail.map(str::to_string))
        .bind(now)
        .bind(&message.message_id)
        .bind(&message.tenant_id)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::partner::MessageStatus;

    fn message(body: &str) -> UploadRow {
        UploadRow {
            message_id: "11111111-1111-1111-1111-111111111111".into(),
            tenant_id: "tenant".into(),
            app_id: "app".into(),
            body_digest: platform::secrets::digest_hex(body),
            status: MessageStatus::Pending,
            body: body.into(),
            item_results: None,
            error_code: 0,
            error_detail: None,
            received_ms: 1,
        }
    }

    /// A message ID comes back with other content: refused while the first message is
    /// pending, a new message once it is processed (the legacy integration's habit).
    #[tokio::test]
    async fn a_message_id_is_reused_only_after_processing() {
        let store = crate::store::tests::memory_store().await;
        assert!(store.insert_upload(&message("first")).await.unwrap());
        assert!(!store.insert_upload(&message("second")).await.unwrap(), "the ID is taken");
        assert!(!store.reuse_upload(&message("second")).await.unwrap(), "the first is still pending");
        let mut conn = store.db.pool.acquire().await.unwrap();
        tx::finish_upload(&mut conn, &message("first"), MessageStatus::Completed, "[]", 0, None, 2).await.unwrap();
        drop(conn);
        assert!(store.reuse_upload(&message("second")).await.unwrap());
        let stored = store.upload(&"tenant".into(), &message("first").message_id).await.unwrap().unwrap();
        // Another tenant's message under that ID is its own.
        assert!(store.insert_upload(&UploadRow { tenant_id: "other".into(), ..message("third") }).await.unwrap());
        assert_eq!((stored.status, stored.body.as_str()), (MessageStatus::Pending, "second"));
    }
}
