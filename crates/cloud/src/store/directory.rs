//! Tenants, users, groups, applications, service principals and their grants.

use super::*;

impl Store {
    // ---- tenants and users -------------------------------------------------------------

    pub async fn insert_tenant(&self, t: &Tenant, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, domain, display_name, intune_licence, entra_p1_licence, scale_unit, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.domain)
        .bind(&t.display_name)
        .bind(t.intune_licence)
        .bind(t.entra_p1_licence)
        .bind(&t.scale_unit)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A tenant by GUID or verified domain (case-insensitive).
    pub async fn tenant(&self, key: &str) -> Result<Option<Tenant>> {
        Ok(sqlx::query_as::<_, Tenant>(
            "SELECT id, domain, display_name, intune_licence, entra_p1_licence, scale_unit FROM tenants \
             WHERE id = $1 OR domain = $2",
        )
        .bind(key.to_ascii_lowercase())
        .bind(key.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn tenant_by_scale_unit(&self, unit: &str) -> Result<Option<Tenant>> {
        Ok(sqlx::query_as::<_, Tenant>(
            "SELECT id, domain, display_name, intune_licence, entra_p1_licence, scale_unit FROM tenants WHERE scale_unit = $1",
        )
        .bind(unit)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn insert_user(&self, u: &User, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, tenant_id, upn, display_name, password_hash, global_admin, account_enabled, mail_nickname, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&u.id)
        .bind(&u.tenant_id)
        .bind(u.upn.to_ascii_lowercase())
        .bind(&u.display_name)
        .bind(&u.password_hash)
        .bind(u.global_admin)
        .bind(u.account_enabled)
        .bind(u.mail_nickname.as_deref())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives a user every licence the tenant subscribes to (what a tenant's administrator
    /// does for its first users; Graph's `assignLicense` does it one SKU at a time).
    pub async fn assign_tenant_licences(&self, u: &User) -> Result<()> {
        for (sku, flag) in
            [(crate::entra::directory::SKU_INTUNE, "intune_licence"), (crate::entra::directory::SKU_ENTRA_P1, "entra_p1_licence")]
        {
            sqlx::query(&format!("INSERT INTO user_licences (user_id, sku_id) SELECT $1, $2 FROM tenants WHERE id = $3 AND {flag} <> 0"))
                .bind(&u.id)
                .bind(sku)
                .bind(&u.tenant_id)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// The SKUs of the licences a user holds.
    pub async fn user_licences(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>("SELECT sku_id FROM user_licences WHERE user_id = $1 ORDER BY sku_id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// The SKUs of several users' licences, by user.
    pub async fn licences_of(&self, user_ids: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in user_ids.chunks(500) {
            let sql = format!(
                "SELECT user_id, sku_id FROM user_licences WHERE user_id IN ({}) ORDER BY sku_id",
                self.db.placeholders().list(chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, String)>(&sql).persistent(false);
            for id in chunk {
                q = q.bind(id);
            }
            for (user, sku) in q.fetch_all(self.pool()).await? {
                out.entry(user).or_default().push(sku);
            }
        }
        Ok(out)
    }

    pub async fn user_by_upn(&self, upn: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, tenant_id, upn, display_name, password_hash, global_admin, account_enabled, mail_nickname FROM users WHERE upn = $1",
        )
        .bind(upn.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, tenant_id, upn, display_name, password_hash, global_admin, account_enabled, mail_nickname FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A page of a tenant's users by object ID, optionally one UPN only.
    pub async fn users(&self, tenant_id: &TenantId, upn: Option<&str>, after: &str, limit: i64) -> Result<Vec<User>> {
        let only = upn.unwrap_or("").to_ascii_lowercase();
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, tenant_id, upn, display_name, password_hash, global_admin, account_enabled, mail_nickname FROM users \
             WHERE tenant_id = $1 AND ($2 = '' OR upn = $3) AND id > $4 ORDER BY id LIMIT $5",
        )
        .bind(tenant_id)
        .bind(&only)
        .bind(&only)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// A page of a tenant's users whose UPN or display name contains `search` (any case),
    /// by object ID after `after`: the Entra admin center's user list.
    pub async fn search_users(&self, tenant_id: &TenantId, search: &str, after: &str, limit: i64) -> Result<Vec<User>> {
        let pattern = format!("%{}%", search.to_lowercase());
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, tenant_id, upn, display_name, password_hash, global_admin, account_enabled, mail_nickname FROM users \
             WHERE tenant_id = $1 AND (LOWER(upn) LIKE $2 OR LOWER(display_name) LIKE $3) AND id > $4 ORDER BY id LIMIT $5",
        )
        .bind(tenant_id)
        .bind(&pattern)
        .bind(&pattern)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// `(id, display_name, mail_nickname)` of a tenant's groups, as Graph shows them.
    pub async fn graph_groups(&self, tenant_id: &TenantId) -> Result<Vec<(String, String, Option<String>)>> {
        Ok(sqlx::query_as::<_, (String, String, Option<String>)>(
            "SELECT id, display_name, mail_nickname FROM directory_groups WHERE tenant_id = $1 ORDER BY display_name, id",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// `(id, display_name)` of a tenant's groups.
    pub async fn groups(&self, tenant_id: &TenantId) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as::<_, (String, String)>(
            "SELECT id, display_name FROM directory_groups WHERE tenant_id = $1 ORDER BY display_name, id",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Members of a group, which must belong to `tenant_id`, as a page by user ID.
    pub async fn group_members(&self, tenant_id: &TenantId, group_id: &str, after: &str, limit: i64) -> Result<Vec<User>> {
        Ok(sqlx::query_as::<_, User>(
            "SELECT u.id, u.tenant_id, u.upn, u.display_name, u.password_hash, u.global_admin, u.account_enabled, u.mail_nickname FROM group_members m \
             JOIN users u ON u.id = m.user_id JOIN directory_groups g ON g.id = m.group_id \
             WHERE g.tenant_id = $1 AND m.group_id = $2 AND u.id > $3 ORDER BY u.id LIMIT $4",
        )
        .bind(tenant_id)
        .bind(group_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Application registrations owned by a tenant.
    pub async fn applications_of(&self, tenant_id: &TenantId) -> Result<Vec<Application>> {
        let ids =
            sqlx::query_scalar::<_, String>("SELECT app_id FROM applications WHERE owner_tenant_id = $1 ORDER BY display_name, app_id")
                .bind(tenant_id)
                .fetch_all(self.pool())
                .await?;
        let mut apps = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = self.application(&id).await? {
                apps.push(a);
            }
        }
        Ok(apps)
    }

    /// `(id, hint, expires_ms)` of an application's secrets.
    pub async fn secret_hints(&self, app_id: &str) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as::<_, (String, String, i64)>("SELECT id, hint, expires_ms FROM app_secrets WHERE app_id = $1 ORDER BY created_ms")
            .bind(app_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn insert_group(&self, id: &str, tenant_id: &TenantId, name: &str, mail_nickname: &str) -> Result<()> {
        sqlx::query("INSERT INTO directory_groups (id, tenant_id, display_name, mail_nickname) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(tenant_id)
            .bind(name)
            .bind(mail_nickname)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Adds a member; `false` when the user already was one.
    pub async fn add_group_member(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let r = sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(group_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes a member; `false` when the user was not one.
    pub async fn remove_group_member(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Renames a group; `false` when the tenant has no such group.
    pub async fn rename_group(&self, tenant_id: &TenantId, id: &str, name: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE directory_groups SET display_name = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(name)
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes a group with its memberships and the compliance-policy assignments that
    /// target it. Conditional Access policies keep naming it, as in Entra.
    pub async fn delete_group(&self, tenant_id: &TenantId, id: &str) -> Result<bool> {
        let mut txn = self.begin().await?;
        if !super::owned(&mut txn, "directory_groups", tenant_id, id).await? {
            return Ok(false);
        }
        for sql in ["DELETE FROM group_members WHERE group_id = $1", "DELETE FROM policy_assignments WHERE group_id = $1"] {
            sqlx::query(sql).bind(id).execute(&mut *txn).await?;
        }
        let r = sqlx::query("DELETE FROM directory_groups WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- users: changes through Graph ---------------------------------------------------

    /// Changes a user's name, password hash or `accountEnabled` (each `None`: unchanged).
    /// A new password or a disabled account ends the user's console sessions.
    pub async fn update_user(
        &self,
        id: &str,
        display_name: Option<&str>,
        password_hash: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<()> {
        let mut txn = self.begin().await?;
        if password_hash.is_some() || enabled == Some(false) {
            sqlx::query("DELETE FROM console_sessions WHERE user_id = $1").bind(id).execute(&mut *txn).await?;
        }
        sqlx::query(
            "UPDATE users SET display_name = COALESCE($1, display_name), password_hash = COALESCE($2, password_hash), \
             account_enabled = COALESCE($3, account_enabled) WHERE id = $4",
        )
        .bind(display_name)
        .bind(password_hash)
        .bind(enabled.map(i64::from))
        .bind(id)
        .execute(&mut *txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes a user with their memberships, licences and console sessions. Their
    /// devices and sign-in log stay, as Entra keeps them.
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        let mut txn = self.begin().await?;
        for table in ["group_members", "user_licences", "console_sessions", "users"] {
            let column = if table == "users" { "id" } else { "user_id" };
            sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1")).bind(id).execute(&mut *txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Adds and removes licence SKUs of a user in one transaction.
    pub async fn change_licences(&self, user_id: &str, add: &[String], remove: &[String]) -> Result<()> {
        let mut txn = self.begin().await?;
        for sku in remove {
            sqlx::query("DELETE FROM user_licences WHERE user_id = $1 AND sku_id = $2").bind(user_id).bind(sku).execute(&mut *txn).await?;
        }
        for sku in add {
            sqlx::query("INSERT INTO user_licences (user_id, sku_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(user_id)
                .bind(sku)
                .execute(&mut *txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    // ---- applications, service principals, grants -------------------------------------

    pub async fn insert_application(&self, a: &Application, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO applications (app_id, object_id, owner_tenant_id, display_name, multi_tenant, public_client, \
             identifier_uri, redirect_uris, required_permissions, app_roles, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&a.app_id)
        .bind(&a.object_id)
        .bind(a.owner_tenant_id.clone())
        .bind(&a.display_name)
        .bind(a.multi_tenant as i64)
        .bind(a.public_client as i64)
        .bind(a.identifier_uri.clone())
        .bind(serde_json::to_string(&a.redirect_uris).unwrap_or_default())
        .bind(serde_json::to_string(&a.required_permissions).unwrap_or_default())
        .bind(serde_json::to_string(&a.app_roles).unwrap_or_default())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn application(&self, app_id: &str) -> Result<Option<Application>> {
        let row = sqlx::query(
            "SELECT app_id, object_id, owner_tenant_id, display_name, multi_tenant, public_client, identifier_uri, \
             redirect_uris, required_permissions, app_roles FROM applications WHERE app_id = $1",
        )
        .bind(app_id.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Application {
            app_id: r.get(0),
            object_id: r.get(1),
            owner_tenant_id: r.get(2),
            display_name: r.get(3),
            multi_tenant: r.get::<i64, _>(4) != 0,
            public_client: r.get::<i64, _>(5) != 0,
            identifier_uri: r.get(6),
            redirect_uris: json(&r.get::<String, _>(7)),
            required_permissions: json(&r.get::<String, _>(8)),
            app_roles: json(&r.get::<String, _>(9)),
        }))
    }

    pub async fn set_required_permissions(&self, app_id: &str, permissions: &[Permission]) -> Result<()> {
        sqlx::query("UPDATE applications SET required_permissions = $1 WHERE app_id = $2")
            .bind(serde_json::to_string(permissions).unwrap_or_default())
            .bind(app_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_secret(&self, app_id: &str, digest: &str, hint: &str, expires_ms: i64, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO app_secrets (id, app_id, secret_digest, hint, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(app_id)
            .bind(digest)
            .bind(hint)
            .bind(expires_ms)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes every client secret of an application.
    pub async fn delete_secrets(&self, app_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM app_secrets WHERE app_id = $1").bind(app_id).execute(self.pool()).await?;
        Ok(())
    }

    /// `(digest, expires_ms)` of every secret of an application.
    pub async fn secrets(&self, app_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as::<_, (String, i64)>("SELECT secret_digest, expires_ms FROM app_secrets WHERE app_id = $1")
            .bind(app_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn insert_certificate(&self, app_id: &str, der: &[u8], sha1: &[u8], sha256: &[u8], expires_ms: i64, now: i64) -> Result<()> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        sqlx::query(
            "INSERT INTO app_certificates (id, app_id, certificate_der, thumbprint_sha1, thumbprint_sha256, expires_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(app_id)
        .bind(b64.encode(der))
        .bind(b64.encode(sha1))
        .bind(b64.encode(sha256))
        .bind(expires_ms)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn certificates(&self, app_id: &str) -> Result<Vec<crate::entra::assertions::RegisteredCertificate>> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let rows = sqlx::query_as::<_, (String, String, String, i64)>(
            "SELECT certificate_der, thumbprint_sha1, thumbprint_sha256, expires_ms FROM app_certificates WHERE app_id = $1",
        )
        .bind(app_id.to_ascii_lowercase())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(der, sha1, sha256, expires_ms)| crate::entra::assertions::RegisteredCertificate {
                der: b64.decode(der).unwrap_or_default(),
                thumbprint_sha1: b64.decode(sha1).unwrap_or_default(),
                thumbprint_sha256: b64.decode(sha256).unwrap_or_default(),
                expires_ms,
            })
            .collect())
    }

    /// Records an app's client assertion by `jti`; `false` when another assertion already
    /// used that `jti` (the same assertion presented again is fine until it expires).
    pub async fn record_assertion(&self, app_id: &str, jti: &str, digest: &str, expires_ms: i64, now: i64) -> Result<bool> {
        sqlx::query("DELETE FROM used_assertions WHERE expires_ms < $1").bind(now).execute(self.pool()).await?;
        sqlx::query(
            "INSERT INTO used_assertions (jti, app_id, expires_ms, assertion_digest) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(jti)
        .bind(app_id)
        .bind(expires_ms)
        .bind(digest)
        .execute(self.pool())
        .await?;
        let stored = sqlx::query_scalar::<_, Option<String>>("SELECT assertion_digest FROM used_assertions WHERE app_id = $1 AND jti = $2")
            .bind(app_id)
            .bind(jti)
            .fetch_optional(self.pool())
            .await?;
        Ok(stored.flatten().as_deref() == Some(digest))
    }

    /// The tenant's service principal for `app_id`, created if missing.
    pub async fn ensure_service_principal(&self, tenant_id: &TenantId, app_id: &str, name: &str, now: i64) -> Result<String> {
        sqlx::query(
            "INSERT INTO service_principals (id, tenant_id, app_id, display_name, created_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, app_id) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(tenant_id)
        .bind(app_id)
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await?;
        let sp = self.service_principal(tenant_id, app_id).await?;
        sp.map(|sp| sp.id).ok_or_else(|| crate::error::CloudError::internal("service principal vanished"))
    }

    pub async fn service_principal(&self, tenant_id: &TenantId, app_id: &str) -> Result<Option<ServicePrincipal>> {
        Ok(sqlx::query_as::<_, ServicePrincipal>(
            "SELECT id, tenant_id, app_id, display_name FROM service_principals WHERE tenant_id = $1 AND app_id = $2",
        )
        .bind(tenant_id)
        .bind(app_id.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn service_principals(&self, tenant_id: &TenantId) -> Result<Vec<ServicePrincipal>> {
        Ok(sqlx::query_as::<_, ServicePrincipal>(
            "SELECT id, tenant_id, app_id, display_name FROM service_principals WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Deletes an enterprise application (service principal) and its grants.
    pub async fn delete_service_principal(&self, tenant_id: &TenantId, sp_id: &str) -> Result<bool> {
        sqlx::query("DELETE FROM permission_grants WHERE tenant_id = $1 AND sp_id = $2")
            .bind(tenant_id)
            .bind(sp_id)
            .execute(self.pool())
            .await?;
        let r = sqlx::query("DELETE FROM service_principals WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(sp_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn revoke(&self, sp_id: &str, p: &Permission) -> Result<bool> {
        let r = sqlx::query("DELETE FROM permission_grants WHERE sp_id = $1 AND resource_app_id = $2 AND kind = $3 AND permission = $4")
            .bind(sp_id)
            .bind(&p.resource_app_id)
            .bind(p.kind.as_ref())
            .bind(&p.value)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn grant(&self, tenant_id: &TenantId, sp_id: &str, p: &Permission, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO permission_grants (id, tenant_id, sp_id, resource_app_id, kind, permission, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sp_id, resource_app_id, kind, permission) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(tenant_id)
        .bind(sp_id)
        .bind(&p.resource_app_id)
        .bind(p.kind.as_ref())
        .bind(&p.value)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn grants(&self, sp_id: &str) -> Result<Vec<Permission>> {
        let rows = sqlx::query_as::<_, (String, String, String)>(
            "SELECT resource_app_id, kind, permission FROM permission_grants WHERE sp_id = $1 ORDER BY resource_app_id, kind, permission",
        )
        .bind(sp_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(r, k, v)| {
                Ok(Permission {
                    resource_app_id: r,
                    kind: PermissionKind::try_from(k).map_err(crate::error::CloudError::internal)?,
                    value: v,
                })
            })
            .collect()
    }
}
