//! Entra devices and the tenant device CA.

use super::*;

impl Store {
    // ---- devices -----------------------------------------------------------------------

    /// The tenant's device CA: (certificate PEM, private key PEM).
    pub async fn device_ca(&self, tenant_id: &TenantId) -> Result<Option<(String, String)>> {
        let row = sqlx::query_as::<_, (String, String)>("SELECT cert_pem, key_pem FROM device_cas WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|(cert, sealed)| Ok((cert, self.open_key("device_cas", tenant_id, &sealed)?))).transpose()
    }

    pub async fn insert_device_ca(&self, tenant_id: &TenantId, cert_pem: &str, key_pem: &str) -> Result<()> {
        sqlx::query("INSERT INTO device_cas (tenant_id, cert_pem, key_pem) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(tenant_id)
            .bind(cert_pem)
            .bind(self.secrets.seal_value(key_pem, &key_context("device_cas", tenant_id)))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_device(&self, d: &DeviceRow) -> Result<()> {
        insert_device_query(d).execute(self.pool()).await?;
        Ok(())
    }

    /// Many devices in one transaction (seeding a benchmark or an import).
    pub async fn insert_devices(&self, rows: &[DeviceRow]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for d in rows {
            insert_device_query(d).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) const DEVICE_COLUMNS: &str = "id, tenant_id, device_id, display_name, owner_user_id, operating_system, os_version, \
        public_key, certificate_thumbprint, is_compliant, is_managed, mdm_app_id, registered_ms, compliance_updated_ms, last_sign_in_ms, account_enabled";

    pub async fn device(&self, tenant_id: &TenantId, device_id: &DeviceId) -> Result<Option<DeviceRow>> {
        let sql = format!("SELECT {} FROM devices WHERE tenant_id = $1 AND device_id = $2", Self::DEVICE_COLUMNS);
        Ok(sqlx::query_as::<_, DeviceRow>(&sql).bind(tenant_id).bind(device_id.to_ascii_lowercase()).fetch_optional(self.pool()).await?)
    }

    /// A tenant's device by its object ID.
    pub async fn device_by_object_id(&self, tenant_id: &TenantId, id: &str) -> Result<Option<DeviceRow>> {
        let sql = format!("SELECT {} FROM devices WHERE tenant_id = $1 AND id = $2", Self::DEVICE_COLUMNS);
        Ok(sqlx::query_as::<_, DeviceRow>(&sql).bind(tenant_id).bind(id).fetch_optional(self.pool()).await?)
    }

    /// One page of a tenant's devices ordered by device ID, optionally only one device ID.
    pub async fn devices(&self, tenant_id: &TenantId, device_id: Option<&DeviceId>, after: &str, limit: i64) -> Result<Vec<DeviceRow>> {
        let sql = format!(
            "SELECT {} FROM devices WHERE tenant_id = $1 AND ($2 = '' OR device_id = $3) AND device_id > $4 \
             ORDER BY device_id LIMIT $5",
            Self::DEVICE_COLUMNS
        );
        let only = device_id.map_or(String::new(), |d| d.to_ascii_lowercase());
        Ok(sqlx::query_as::<_, DeviceRow>(&sql)
            .bind(tenant_id)
            .bind(&only)
            .bind(&only)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// A page of a tenant's devices whose name or device ID contains `search` (any case),
    /// by device ID after `after`: the Entra admin center's device list.
    pub async fn search_devices(&self, tenant_id: &TenantId, search: &str, after: &str, limit: i64) -> Result<Vec<DeviceRow>> {
        let sql = format!(
            "SELECT {} FROM devices WHERE tenant_id = $1 AND (LOWER(display_name) LIKE $2 OR device_id LIKE $3) AND device_id > $4 \
             ORDER BY device_id LIMIT $5",
            Self::DEVICE_COLUMNS
        );
        let pattern = format!("%{}%", search.to_lowercase());
        Ok(sqlx::query_as::<_, DeviceRow>(&sql)
            .bind(tenant_id)
            .bind(&pattern)
            .bind(&pattern)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Sets a device's `accountEnabled`; `false` when the tenant has no such device.
    pub async fn set_device_enabled(&self, tenant_id: &TenantId, id: &str, enabled: bool) -> Result<bool> {
        let r = sqlx::query("UPDATE devices SET account_enabled = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(i64::from(enabled))
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes an Entra device and the Intune record of it; the partner's next report of it
    /// is refused as for any unknown device, until the Mac registers again.
    pub async fn delete_device(&self, tenant_id: &TenantId, device_id: &DeviceId) -> Result<()> {
        let mut txn = self.begin().await?;
        sqlx::query("DELETE FROM managed_devices WHERE tenant_id = $1 AND device_id = $2")
            .bind(tenant_id)
            .bind(device_id)
            .execute(&mut *txn)
            .await?;
        sqlx::query("DELETE FROM devices WHERE tenant_id = $1 AND device_id = $2")
            .bind(tenant_id)
            .bind(device_id)
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}

fn insert_device_query(d: &DeviceRow) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(
        "INSERT INTO devices (id, tenant_id, device_id, display_name, owner_user_id, operating_system, os_version, \
         public_key, certificate_thumbprint, is_compliant, is_managed, mdm_app_id, registered_ms, compliance_updated_ms, \
         last_sign_in_ms, account_enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&d.id)
    .bind(&d.tenant_id)
    .bind(&d.device_id)
    .bind(&d.display_name)
    .bind(&d.owner_user_id)
    .bind(&d.operating_system)
    .bind(&d.os_version)
    .bind(&d.public_key)
    .bind(&d.certificate_thumbprint)
    .bind(d.is_compliant)
    .bind(d.is_managed)
    .bind(d.mdm_app_id.clone())
    .bind(d.registered_ms)
    .bind(d.compliance_updated_ms)
    .bind(d.last_sign_in_ms)
    .bind(d.account_enabled)
}
