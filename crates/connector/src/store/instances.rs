//! Instances registered with the connector.

use super::*;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: InstanceId,
    pub external_id: String,
    pub name: String,
    pub url: String,
    pub version: String,
}

impl Store {
    // ---- instances ---------------------------------------------------------------------

    /// Registers an instance, or re-registers it with a new credential.
    pub async fn upsert_instance(&self, i: &InstanceRow, credential_digest: &str, now: i64) -> Result<InstanceId> {
        sqlx::query(
            "INSERT INTO instances (id, external_id, name, url, version, credential_digest, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (external_id) DO UPDATE SET name = $8, url = $9, version = $10, credential_digest = $11",
        )
        .bind(&i.id).bind(&i.external_id).bind(&i.name).bind(&i.url).bind(&i.version).bind(credential_digest).bind(now)
        .bind(&i.name).bind(&i.url).bind(&i.version).bind(credential_digest)
        .execute(self.pool())
        .await?;
        Ok(sqlx::query_scalar::<_, InstanceId>("SELECT id FROM instances WHERE external_id = $1")
            .bind(&i.external_id)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn instance_by_credential(&self, digest: &str) -> Result<Option<InstanceRow>> {
        Ok(sqlx::query_as::<_, InstanceRow>("SELECT id, external_id, name, url, version FROM instances WHERE credential_digest = $1")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn instance(&self, id: &InstanceId) -> Result<Option<InstanceRow>> {
        Ok(sqlx::query_as::<_, InstanceRow>("SELECT id, external_id, name, url, version FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }
}
