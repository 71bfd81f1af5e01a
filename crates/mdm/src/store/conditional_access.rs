//! An instance's Conditional Access settings and its change-management log.

use super::*;
use crate::domain::settings::{ComplianceModel, ConnectionType, LandingKind};

#[derive(Debug, Clone)]
pub struct CaRow {
    pub settings: CaSettings,
    pub link_id: Option<LinkId>,
    pub link_status: CaStatus,
    pub checks: String,
    /// Manual mode: the sealed client secret and the tenant's GUID once known.
    pub manual_secret: Option<String>,
    pub manual_tenant_id: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub at_ms: i64,
    pub username: String,
    pub object_type: String,
    pub object_name: String,
    pub action: String,
    pub details: String,
}

impl Store {
    // ---- Conditional Access settings and change log ------------------------------------

    pub async fn ca(&self, instance_id: &str) -> Result<CaRow> {
        let row = sqlx::query(
            "SELECT enabled, connection_type, sovereign_cloud, landing_page, custom_url, link_id, link_status, checks, \
             manual_tenant, manual_app_id, manual_secret, manual_tenant_id, compliance_model, applicable_rule, compliance_rule \
             FROM ca_settings WHERE instance_id = $1",
        )
        .bind(instance_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            None => CaRow {
                settings: CaSettings::default(),
                link_id: None,
                link_status: CaStatus::NotConfigured,
                checks: "[]".into(),
                manual_secret: None,
                manual_tenant_id: None,
            },
            Some(r) => CaRow {
                settings: CaSettings {
                    enabled: r.get::<i64, _>(0) != 0,
                    connection_type: ConnectionType::try_from(r.get::<String, _>(1)).map_err(MdmError::internal)?,
                    sovereign_cloud: r.get(2),
                    landing_page: LandingKind::try_from(r.get::<String, _>(3)).map_err(MdmError::internal)?,
                    custom_url: r.get(4),
                    manual_tenant: r.get(8),
                    manual_app_id: r.get(9),
                    compliance_model: ComplianceModel::try_from(r.get::<String, _>(12)).map_err(MdmError::internal)?,
                    applicable_rule: serde_json::from_str(&r.get::<String, _>(13)).unwrap_or_default(),
                    compliance_rule: serde_json::from_str(&r.get::<String, _>(14)).unwrap_or_default(),
                },
                link_id: r.get(5),
                link_status: CaStatus::try_from(r.get::<String, _>(6)).map_err(MdmError::internal)?,
                checks: r.get(7),
                manual_secret: r.get(10),
                manual_tenant_id: r.get(11),
            },
        })
    }

    /// Only the connection's state and checks, when the link they describe is still the
    /// current one: an admin's concurrent Save of the settings is never overwritten.
    pub async fn set_link_state(&self, instance_id: &str, link_id: &LinkId, status: CaStatus, checks: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("UPDATE ca_settings SET link_status = $1, checks = $2, updated_ms = $3 WHERE instance_id = $4 AND link_id = $5 AND enabled <> 0")
            .bind(status.as_ref())
            .bind(checks)
            .bind(now)
            .bind(instance_id)
            .bind(link_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn save_ca(&self, instance_id: &str, ca: &CaRow, now: i64) -> Result<()> {
        let s = &ca.settings;
        sqlx::query(
            "INSERT INTO ca_settings (instance_id, enabled, connection_type, sovereign_cloud, landing_page, custom_url, link_id, link_status, \
             checks, updated_ms, manual_tenant, manual_app_id, manual_secret, manual_tenant_id, compliance_model, applicable_rule, \
             compliance_rule) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (instance_id) DO UPDATE SET \
             enabled = excluded.enabled, connection_type = excluded.connection_type, sovereign_cloud = excluded.sovereign_cloud, \
             landing_page = excluded.landing_page, custom_url = excluded.custom_url, link_id = excluded.link_id, \
             link_status = excluded.link_status, checks = excluded.checks, updated_ms = excluded.updated_ms, \
             manual_tenant = excluded.manual_tenant, manual_app_id = excluded.manual_app_id, manual_secret = excluded.manual_secret, \
             manual_tenant_id = excluded.manual_tenant_id, compliance_model = excluded.compliance_model, \
             applicable_rule = excluded.applicable_rule, compliance_rule = excluded.compliance_rule",
        )
        .bind(instance_id)
        .bind(s.enabled as i64)
        .bind(s.connection_type.as_ref())
        .bind(&s.sovereign_cloud)
        .bind(s.landing_page.as_ref())
        .bind(s.custom_url.clone())
        .bind(ca.link_id.clone())
        .bind(ca.link_status.as_ref())
        .bind(&ca.checks)
        .bind(now)
        .bind(s.manual_tenant.clone())
        .bind(s.manual_app_id.clone())
        .bind(ca.manual_secret.clone())
        .bind(ca.manual_tenant_id.clone())
        .bind(s.compliance_model.as_ref())
        .bind(serde_json::to_string(&s.applicable_rule).unwrap_or_default())
        .bind(serde_json::to_string(&s.compliance_rule).unwrap_or_default())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn log_change(
        &self,
        instance_id: &str,
        now: i64,
        username: &str,
        object_type: &str,
        object_name: &str,
        action: &str,
        details: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO change_log (instance_id, at_ms, username, object_type, object_name, action, details) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(instance_id).bind(now).bind(username).bind(object_type).bind(object_name).bind(action).bind(details)
            .execute(self.pool()).await?;
        Ok(())
    }

    pub async fn change_log(&self, instance_id: &str, object_type: &str) -> Result<Vec<ChangeRow>> {
        Ok(sqlx::query_as::<_, ChangeRow>(
            "SELECT id, at_ms, username, object_type, object_name, action, details FROM change_log \
             WHERE instance_id = $1 AND ($2 = '' OR object_type = $3) ORDER BY id DESC LIMIT 500",
        )
        .bind(instance_id)
        .bind(object_type)
        .bind(object_type)
        .fetch_all(self.pool())
        .await?)
    }
}
