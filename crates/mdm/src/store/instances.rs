//! Instances, their admins and sessions, API clients and their tokens.

use super::*;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub version: String,
    pub invitation: String,
    pub connector_instance_id: Option<InstanceId>,
    pub connector_credential: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminRow {
    pub id: String,
    pub instance_id: String,
    pub username: String,
    pub password_hash: String,
    pub privileges: String,
}

impl AdminRow {
    pub fn has_privilege(&self, p: &str) -> bool {
        serde_json::from_str::<Vec<String>>(&self.privileges).unwrap_or_default().iter().any(|x| x == p)
    }
}

impl Store {
    // ---- instances and admins ----------------------------------------------------------

    pub async fn insert_instance(&self, i: &InstanceRow, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, slug, name, version, invitation, connector_instance_id, connector_credential, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6)",
        )
        .bind(&i.id)
        .bind(&i.slug)
        .bind(&i.name)
        .bind(&i.version)
        .bind(self.secrets.seal_value(&i.invitation, &crate::sealed::secret_context("invitation", &i.id)))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn instance_by_slug(&self, slug: &str) -> Result<Option<InstanceRow>> {
        let row = sqlx::query_as::<_, InstanceRow>(
            "SELECT id, slug, name, version, invitation, connector_instance_id, connector_credential FROM instances WHERE slug = $1",
        )
        .bind(slug)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| self.opened(r)).transpose()
    }

    pub async fn instances(&self) -> Result<Vec<InstanceRow>> {
        let rows = sqlx::query_as::<_, InstanceRow>(
            "SELECT id, slug, name, version, invitation, connector_instance_id, connector_credential FROM instances ORDER BY slug",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(|r| self.opened(r)).collect()
    }

    pub async fn set_connector_registration(&self, instance_id: &str, connector_instance_id: &InstanceId, credential: &str) -> Result<()> {
        sqlx::query("UPDATE instances SET connector_instance_id = $1, connector_credential = $2 WHERE id = $3")
            .bind(connector_instance_id)
            .bind(self.secrets.seal_value(credential, &crate::sealed::secret_context("connector_credential", instance_id)))
            .bind(instance_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_admin(&self, a: &AdminRow) -> Result<()> {
        sqlx::query("INSERT INTO admins (id, instance_id, username, password_hash, privileges) VALUES ($1, $2, $3, $4, $5)")
            .bind(&a.id)
            .bind(&a.instance_id)
            .bind(&a.username)
            .bind(&a.password_hash)
            .bind(&a.privileges)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn admin_by_username(&self, instance_id: &str, username: &str) -> Result<Option<AdminRow>> {
        Ok(sqlx::query_as::<_, AdminRow>(
            "SELECT id, instance_id, username, password_hash, privileges FROM admins WHERE instance_id = $1 AND username = $2",
        )
        .bind(instance_id)
        .bind(username)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn insert_session(&self, digest: &str, admin_id: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_digest, admin_id, expires_ms) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(admin_id)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn session_admin(&self, digest: &str, now: i64) -> Result<Option<AdminRow>> {
        Ok(sqlx::query_as::<_, AdminRow>(
            "SELECT a.id, a.instance_id, a.username, a.password_hash, a.privileges FROM sessions s JOIN admins a ON a.id = s.admin_id \
             WHERE s.token_digest = $1 AND s.expires_ms > $2",
        )
        .bind(digest)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    // ---- API clients -------------------------------------------------------------------

    pub async fn insert_api_client(&self, instance_id: &str, client_id: &str, name: &str, secret_digest: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_clients (client_id, instance_id, display_name, secret_digest, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(client_id)
        .bind(instance_id)
        .bind(name)
        .bind(secret_digest)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `(client_id, display_name)` of an instance's API clients.
    pub async fn api_clients(&self, instance_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as::<_, (String, String)>(
            "SELECT client_id, display_name FROM api_clients WHERE instance_id = $1 ORDER BY created_ms",
        )
        .bind(instance_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn api_client_secret(&self, instance_id: &str, client_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT secret_digest FROM api_clients WHERE instance_id = $1 AND client_id = $2")
            .bind(instance_id)
            .bind(client_id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn insert_api_token(&self, digest: &str, client_id: &str, instance_id: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (token_digest, client_id, instance_id, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(digest)
            .bind(client_id)
            .bind(instance_id)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn api_token_valid(&self, digest: &str, instance_id: &str, now: i64) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT client_id FROM api_tokens WHERE token_digest = $1 AND instance_id = $2 AND expires_ms > $3",
        )
        .bind(digest)
        .bind(instance_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }
}
