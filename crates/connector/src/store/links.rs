//! Links (an instance joined to a tenant), their history and the consent states of onboarding.

use super::*;

pub(super) const LINK_COLUMNS: &str = "id, instance_id, cloud, tenant_id, status, landing_page, return_url, checks, last_tested_ms";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub id: LinkId,
    pub instance_id: InstanceId,
    pub cloud: String,
    pub tenant_id: Option<TenantId>,
    #[sqlx(try_from = "String")]
    pub status: LinkStatus,
    pub landing_page: String,
    pub return_url: String,
    pub checks: String,
    pub last_tested_ms: Option<i64>,
}

impl Store {
    // ---- links and consent -------------------------------------------------------------

    pub async fn insert_link(&self, l: &LinkRow, now: i64) -> Result<()> {
        let mut txn = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO links (id, instance_id, cloud, tenant_id, status, landing_page, return_url, checks, last_tested_ms, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&l.id).bind(&l.instance_id).bind(&l.cloud).bind(l.tenant_id.clone()).bind(l.status.as_ref()).bind(&l.landing_page)
        .bind(&l.return_url).bind(&l.checks).bind(l.last_tested_ms).bind(now).bind(now)
        .execute(&mut *txn)
        .await?;
        tx::link_event(&mut txn, &l.id, l.status, "link created", now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The states a link went through, oldest first.
    /// Every state a link went through, oldest first: (at ms, state, why).
    pub async fn link_history(&self, link_id: &LinkId) -> Result<Vec<(i64, LinkStatus, String)>> {
        let rows =
            sqlx::query_as::<_, (i64, String, String)>("SELECT at_ms, status, detail FROM link_events WHERE link_id = $1 ORDER BY id")
                .bind(link_id)
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(at, status, detail)| Ok((at, LinkStatus::try_from(status).map_err(ConnectorError::internal)?, detail)))
            .collect()
    }

    pub async fn link(&self, id: &LinkId) -> Result<Option<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The instance's newest link.
    pub async fn current_link(&self, instance_id: &InstanceId) -> Result<Option<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE instance_id = $1 ORDER BY created_ms DESC, id DESC LIMIT 1"
        ))
        .bind(instance_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn links_with_status(&self, status: LinkStatus) -> Result<Vec<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE status = $1"))
            .bind(status.as_ref())
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn active_links_of_tenant(&self, tenant_id: &TenantId) -> Result<Vec<LinkRow>> {
        Ok(sqlx::query_as::<_, LinkRow>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE tenant_id = $1 AND status = 'active'"))
            .bind(tenant_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Whether a link of the tenant is active or failing: one an admin can still bring
    /// back, so what waits for the tenant is kept.
    pub async fn tenant_has_live_link(&self, tenant_id: &TenantId) -> Result<bool> {
        let n = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM links WHERE tenant_id = $1 AND status IN ('active', 'failing')")
            .bind(tenant_id)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Moves every active link of a tenant to `status` (termination noticed from Intune).
    pub async fn set_active_links_status(&self, tenant_id: &TenantId, status: LinkStatus, detail: &str, now: i64) -> Result<u64> {
        let mut txn = self.db.begin().await?;
        let ids = sqlx::query_scalar::<_, LinkId>("SELECT id FROM links WHERE tenant_id = $1 AND status = 'active'")
            .bind(tenant_id)
            .fetch_all(&mut *txn)
            .await?;
        for id in &ids {
            tx::link_event(&mut txn, id, status, detail, now).await?;
            sqlx::query("UPDATE links SET status = $1, updated_ms = $2 WHERE id = $3")
                .bind(status.as_ref())
                .bind(now)
                .bind(id)
                .execute(&mut *txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Saves a link; a change of status goes into its history with `detail` (why).
    pub async fn update_link(&self, l: &LinkRow, detail: &str, now: i64) -> Result<()> {
        let mut txn = self.db.begin().await?;
        tx::update_link(&mut txn, l, detail, now).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn insert_consent_state(&self, digest: &str, link_id: &LinkId, step: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO consent_states (state_digest, link_id, step, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(digest)
            .bind(link_id)
            .bind(step)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Consumes a consent state: `(link_id, step)` if it existed and had not expired.
    pub async fn take_consent_state(&self, digest: &str, now: i64) -> Result<Option<(LinkId, String)>> {
        let row = sqlx::query("DELETE FROM consent_states WHERE state_digest = $1 RETURNING link_id, step, expires_ms")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.and_then(|r| {
            let expires: i64 = r.get(2);
            (expires > now).then(|| (r.get(0), r.get(1)))
        }))
    }
}
