//! Signing keys, console sessions, consent and authorization requests, codes, Conditional Access policies and sign-in logs.

use super::*;
use crate::entra::conditional_access::{GrantControl, PolicyState};
use crate::error::CloudError;

impl Store {
    // ---- keys, sessions, consent -------------------------------------------------------

    pub async fn insert_signing_key(&self, kid: &str, pem: &str, certificate_der: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_ms, certificate_der) VALUES ($1, $2, $3, $4)")
            .bind(kid)
            .bind(self.secrets.seal_value(pem, &key_context("signing_keys", kid)))
            .bind(now)
            .bind(certificate_der)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores the certificate of a key made before keys had one.
    pub async fn set_signing_key_certificate(&self, kid: &str, certificate_der: &str) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET certificate_der = $1 WHERE kid = $2")
            .bind(certificate_der)
            .bind(kid)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_signing_key(&self, kid: &str) -> Result<()> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid).execute(self.pool()).await?;
        Ok(())
    }

    /// `(kid, pem, created_ms, certificate DER in base64)`, newest first.
    /// Every signing key, newest first: (kid, private key PEM, created, certificate DER).
    pub async fn signing_keys(&self) -> Result<Vec<(String, String, i64, Option<String>)>> {
        let rows = sqlx::query_as::<_, (String, String, i64, Option<String>)>(
            "SELECT kid, private_pem, created_ms, certificate_der FROM signing_keys ORDER BY created_ms DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(kid, sealed, created, der)| Ok((kid.clone(), self.open_key("signing_keys", &kid, &sealed)?, created, der)))
            .collect()
    }

    pub async fn insert_console_session(&self, digest: &str, user_id: &str, expires_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO console_sessions (token_digest, user_id, expires_ms) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(user_id)
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn console_session_user(&self, digest: &str, now: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT user_id FROM console_sessions WHERE token_digest = $1 AND expires_ms > $2")
            .bind(digest)
            .bind(now)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn insert_consent_request(&self, r: &ConsentRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO consent_requests (id, tenant_hint, client_id, redirect_uri, state, user_id, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id)
        .bind(&r.tenant_hint)
        .bind(&r.client_id)
        .bind(&r.redirect_uri)
        .bind(r.state.clone())
        .bind(r.user_id.clone())
        .bind(r.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn consent_request(&self, id: &str, now: i64) -> Result<Option<ConsentRequest>> {
        Ok(sqlx::query_as::<_, ConsentRequest>(
            "SELECT id, tenant_hint, client_id, redirect_uri, state, user_id, expires_ms FROM consent_requests \
             WHERE id = $1 AND expires_ms > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn set_consent_user(&self, id: &str, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE consent_requests SET user_id = $1 WHERE id = $2").bind(user_id).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Removes a consent request; true if this call removed it (single use).
    pub async fn take_consent_request(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM consent_requests WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- Conditional Access, interactive sign-in ----------------------------------------

    pub async fn insert_ca_policy(&self, tenant_id: &TenantId, p: &Policy, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO ca_policies (id, tenant_id, display_name, state, conditions, grant_control, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.id)
        .bind(tenant_id)
        .bind(&p.display_name)
        .bind(p.state.as_ref())
        .bind(serde_json::to_string(&p.conditions).unwrap_or_default())
        .bind(p.grant.as_ref())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn ca_policies(&self, tenant_id: &TenantId) -> Result<Vec<Policy>> {
        let rows = sqlx::query_as::<_, (String, String, String, String, String)>(
            "SELECT id, display_name, state, conditions, grant_control FROM ca_policies WHERE tenant_id = $1 ORDER BY display_name, id",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, display_name, state, conditions, grant)| {
                Ok(Policy {
                    id,
                    display_name,
                    state: PolicyState::try_from(state).map_err(CloudError::internal)?,
                    conditions: serde_json::from_str(&conditions).unwrap_or_default(),
                    grant: GrantControl::try_from(grant).map_err(CloudError::internal)?,
                })
            })
            .collect()
    }

    /// Replaces a policy's name, state, conditions and grant; `false` when the tenant has
    /// no such policy.
    pub async fn update_ca_policy(&self, tenant_id: &TenantId, p: &Policy) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE ca_policies SET display_name = $1, state = $2, conditions = $3, grant_control = $4 WHERE tenant_id = $5 AND id = $6",
        )
        .bind(&p.display_name)
        .bind(p.state.as_ref())
        .bind(serde_json::to_string(&p.conditions).unwrap_or_default())
        .bind(p.grant.as_ref())
        .bind(tenant_id)
        .bind(&p.id)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes a policy; `false` when the tenant has no such policy.
    pub async fn delete_ca_policy(&self, tenant_id: &TenantId, id: &str) -> Result<bool> {
        let r =
            sqlx::query("DELETE FROM ca_policies WHERE tenant_id = $1 AND id = $2").bind(tenant_id).bind(id).execute(self.pool()).await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn set_ca_policy_state(&self, tenant_id: &TenantId, id: &str, state: PolicyState) -> Result<bool> {
        let r = sqlx::query("UPDATE ca_policies SET state = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(state.as_ref())
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn groups_of_user(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT group_id FROM group_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn insert_authorize_request(&self, r: &AuthorizeRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorize_requests (id, tenant_hint, client_id, redirect_uri, scope, state, code_challenge, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(&r.tenant_hint)
        .bind(&r.client_id)
        .bind(&r.redirect_uri)
        .bind(&r.scope)
        .bind(r.state.clone())
        .bind(r.code_challenge.clone())
        .bind(r.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn authorize_request(&self, id: &str, now: i64) -> Result<Option<AuthorizeRequest>> {
        Ok(sqlx::query_as::<_, AuthorizeRequest>(
            "SELECT id, tenant_hint, client_id, redirect_uri, scope, state, code_challenge, expires_ms FROM authorize_requests \
             WHERE id = $1 AND expires_ms > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Consumes an authorization code (single use).
    pub async fn take_code(&self, digest: &str) -> Result<Option<CodeRow>> {
        Ok(sqlx::query_as::<_, CodeRow>(
            "DELETE FROM authorization_codes WHERE code_digest = $1 \
             RETURNING client_id, redirect_uri, user_id, scope, device_id, code_challenge, expires_ms",
        )
        .bind(digest)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A tenant's newest sign-ins first.
    pub async fn sign_ins(&self, tenant_id: &TenantId, limit: i64) -> Result<Vec<SignInRow>> {
        Ok(sqlx::query_as::<_, SignInRow>(
            "SELECT id, tenant_id, at_ms, user_id, upn, app_id, app_name, device_id, error_code, failure_reason, ca_status, policies, \
             additional_details FROM sign_in_logs WHERE tenant_id = $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(tenant_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

/// The authorization code `digest` stands for (written by the sign-in journal).
pub(super) fn insert_code_query<'q>(digest: &'q str, c: &'q CodeRow) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "INSERT INTO authorization_codes (code_digest, client_id, redirect_uri, user_id, scope, device_id, code_challenge, expires_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(digest)
    .bind(&c.client_id)
    .bind(&c.redirect_uri)
    .bind(&c.user_id)
    .bind(&c.scope)
    .bind(c.device_id.clone())
    .bind(c.code_challenge.clone())
    .bind(c.expires_ms)
}

/// One sign-in log entry (written by the sign-in journal).
pub(super) fn insert_sign_in_query(s: &SignInRow) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(
        "INSERT INTO sign_in_logs (id, tenant_id, at_ms, user_id, upn, app_id, app_name, device_id, error_code, failure_reason, ca_status, policies, \
         additional_details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&s.id)
    .bind(&s.tenant_id)
    .bind(s.at_ms)
    .bind(&s.user_id)
    .bind(&s.upn)
    .bind(&s.app_id)
    .bind(&s.app_name)
    .bind(s.device_id.clone())
    .bind(s.error_code)
    .bind(s.failure_reason.clone())
    .bind(&s.ca_status)
    .bind(&s.policies)
    .bind(s.additional_details.clone())
}
