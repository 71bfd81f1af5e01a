//! Partner device management (one partner per tenant) and partner compliance management.

use super::*;

impl Store {
    // ---- partners ----------------------------------------------------------------------

    pub async fn partner(&self, tenant_id: &TenantId) -> Result<Option<PartnerRow>> {
        Ok(sqlx::query_as::<_, PartnerRow>(
            "SELECT tenant_id, app_id, partner_state, provisioned, enrollment_url, remediation_url, last_heartbeat_ms, \
             noncompliant_at_ms, removal_at_ms, updated_ms, devices_noncompliant_applied, devices_removed, include_groups, exclude_groups FROM partners WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Removes the tenant's partner record as it was read (`updated_ms`); false when it
    /// is gone or changed meanwhile.
    pub async fn delete_partner(&self, tenant_id: &TenantId, updated_ms: i64) -> Result<bool> {
        let r = sqlx::query("DELETE FROM partners WHERE tenant_id = $1 AND updated_ms = $2")
            .bind(tenant_id)
            .bind(updated_ms)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Creates the tenant's partner record; false when the tenant has one.
    pub async fn create_partner(&self, p: &PartnerRow) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO partners (tenant_id, app_id, partner_state, provisioned, enrollment_url, remediation_url, \
             last_heartbeat_ms, noncompliant_at_ms, removal_at_ms, updated_ms, devices_noncompliant_applied, devices_removed, \
             include_groups, exclude_groups) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(&p.tenant_id)
        .bind(p.app_id.clone())
        .bind(p.partner_state.as_ref())
        .bind(p.provisioned)
        .bind(p.enrollment_url.clone())
        .bind(p.remediation_url.clone())
        .bind(p.last_heartbeat_ms)
        .bind(p.noncompliant_at_ms)
        .bind(p.removal_at_ms)
        .bind(p.updated_ms)
        .bind(p.devices_noncompliant_applied)
        .bind(p.devices_removed)
        .bind(&p.include_groups)
        .bind(&p.exclude_groups)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn save_partner(&self, p: &PartnerRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO partners (tenant_id, app_id, partner_state, provisioned, enrollment_url, remediation_url, \
             last_heartbeat_ms, noncompliant_at_ms, removal_at_ms, updated_ms, devices_noncompliant_applied, devices_removed, \
             include_groups, exclude_groups) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id) DO UPDATE SET app_id = excluded.app_id, partner_state = excluded.partner_state, \
             provisioned = excluded.provisioned, enrollment_url = excluded.enrollment_url, remediation_url = excluded.remediation_url, \
             last_heartbeat_ms = excluded.last_heartbeat_ms, noncompliant_at_ms = excluded.noncompliant_at_ms, \
             removal_at_ms = excluded.removal_at_ms, updated_ms = excluded.updated_ms, \
             devices_noncompliant_applied = excluded.devices_noncompliant_applied, devices_removed = excluded.devices_removed, \
             include_groups = excluded.include_groups, exclude_groups = excluded.exclude_groups",
        )
        .bind(&p.tenant_id)
        .bind(p.app_id.clone())
        .bind(p.partner_state.as_ref())
        .bind(p.provisioned)
        .bind(p.enrollment_url.clone())
        .bind(p.remediation_url.clone())
        .bind(p.last_heartbeat_ms)
        .bind(p.noncompliant_at_ms)
        .bind(p.removal_at_ms)
        .bind(p.updated_ms)
        .bind(p.devices_noncompliant_applied)
        .bind(p.devices_removed)
        .bind(&p.include_groups)
        .bind(&p.exclude_groups)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every partner whose state or clocks may move with time.
    pub async fn partners_with_clocks(&self) -> Result<Vec<PartnerRow>> {
        Ok(sqlx::query_as::<_, PartnerRow>(
            "SELECT tenant_id, app_id, partner_state, provisioned, enrollment_url, remediation_url, last_heartbeat_ms, \
             noncompliant_at_ms, removal_at_ms, updated_ms, devices_noncompliant_applied, devices_removed, include_groups, exclude_groups FROM partners \
             WHERE partner_state IN ('enabled', 'terminated')",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The +24 h clock: every device the partner reported is noncompliant, in Intune and Entra.
    pub async fn mark_partner_devices_noncompliant(&self, tenant_id: &TenantId, now: i64) -> Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query("UPDATE managed_devices SET compliance_state = 'noncompliant', last_sync_ms = $1 WHERE tenant_id = $2")
            .bind(now)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE devices SET is_compliant = 0, compliance_updated_ms = $1 WHERE tenant_id = $2 \
             AND device_id IN (SELECT device_id FROM managed_devices WHERE tenant_id = $3)",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The +90 days clock: the partner's devices leave Intune; their Entra devices are no
    /// longer managed (and stay noncompliant).
    pub async fn remove_partner_devices(&self, tenant_id: &TenantId, now: i64) -> Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "UPDATE devices SET is_managed = 0, mdm_app_id = NULL, is_compliant = 0, compliance_updated_ms = $1 WHERE tenant_id = $2 \
             AND device_id IN (SELECT device_id FROM managed_devices WHERE tenant_id = $3)",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM managed_devices WHERE tenant_id = $1").bind(tenant_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- partner compliance management -------------------------------------------------

    /// Adds a compliance partner (onboarded for `c.platform`); false when the app is a
    /// partner of the tenant already or the platform is taken (one partner per platform,
    /// as Microsoft allows).
    pub async fn insert_compliance_partner(&self, c: &CompliancePartnerRow, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO compliance_partners (id, tenant_id, display_name, app_id, mac_groups, partner_state, last_heartbeat_ms, \
             created_ms, platform) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.display_name)
        .bind(&c.app_id)
        .bind(&c.mac_groups)
        .bind(c.partner_state.as_ref())
        .bind(now)
        .bind(c.platform.clone())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Onboards a partner for `platform` (false when another partner of the tenant holds
    /// it), or for none (`None`).
    pub async fn set_compliance_partner_platform(&self, tenant_id: &TenantId, id: &str, platform: Option<&str>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE compliance_partners SET platform = $1 WHERE tenant_id = $2 AND id = $3 AND NOT EXISTS \
             (SELECT 1 FROM compliance_partners other WHERE other.tenant_id = $2 AND other.platform = $1 AND other.id <> $3)",
        )
        .bind(platform.map(str::to_string))
        .bind(tenant_id)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn compliance_partners(&self, tenant_id: &TenantId) -> Result<Vec<CompliancePartnerRow>> {
        Ok(sqlx::query_as::<_, CompliancePartnerRow>(
            "SELECT id, tenant_id, display_name, app_id, mac_groups, partner_state, last_heartbeat_ms, platform FROM compliance_partners \
             WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A compliance partner's state after it provisions (`enabled`), deprovisions
    /// (`terminated`) or sends a heartbeat; false when the app is no compliance partner.
    pub async fn set_compliance_partner_state(
        &self,
        tenant_id: &TenantId,
        app_id: &str,
        state: crate::intune::partner::PartnerState,
        now: i64,
    ) -> Result<bool> {
        let r =
            sqlx::query("UPDATE compliance_partners SET partner_state = $1, last_heartbeat_ms = $2 WHERE tenant_id = $3 AND app_id = $4")
                .bind(state.as_ref())
                .bind(now)
                .bind(tenant_id)
                .bind(app_id)
                .execute(self.pool())
                .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The user groups a compliance partner onboards for macOS (JSON list of group IDs).
    pub async fn set_compliance_partner_groups(&self, tenant_id: &TenantId, id: &str, mac_groups: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE compliance_partners SET mac_groups = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(mac_groups)
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Offboards a compliance partner; false when there was none with this ID.
    pub async fn delete_compliance_partner(&self, tenant_id: &TenantId, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM compliance_partners WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Creates a partner compliance policy; false if one with that name exists on the platform.
    pub async fn insert_partner_policy(&self, p: &PartnerPolicyRow, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO partner_compliance_policies (id, tenant_id, app_id, display_name, description, platform, assignments, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, '[]', $7) ON CONFLICT (tenant_id, platform, display_name) DO NOTHING",
        )
        .bind(&p.id)
        .bind(&p.tenant_id)
        .bind(&p.app_id)
        .bind(&p.display_name)
        .bind(&p.description)
        .bind(&p.platform)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn partner_policies(&self, tenant_id: &TenantId) -> Result<Vec<PartnerPolicyRow>> {
        Ok(sqlx::query_as::<_, PartnerPolicyRow>(
            "SELECT id, tenant_id, app_id, display_name, description, platform, assignments FROM partner_compliance_policies \
             WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn set_partner_policy_assignments(&self, tenant_id: &TenantId, id: &str, assignments: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE partner_compliance_policies SET assignments = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(assignments)
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
