//! Compliance policies, their assignments, managed devices and the tenant compliance settings.

use super::*;
use crate::intune::compliance::ComplianceState;
use crate::intune::enforcement::Enforcement;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Devices one sweep of the clock marks noncompliant at most.
const LAPSE_BATCH: usize = 10_000;

/// A compliance clock that runs out (Intune: a policy's grace period, the tenant's
/// compliance status validity period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// `grace_expires_ms`: the end of the grace period, inclusive.
    GraceEnds,
    /// `valid_until_ms`: the last report plus the validity period.
    ValidityEnds,
}

impl Store {
    // ---- compliance policies and managed devices ---------------------------------------

    pub async fn insert_policy(&self, p: &PolicyRow, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO compliance_policies (id, tenant_id, display_name, settings, created_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&p.id)
            .bind(&p.tenant_id)
            .bind(&p.display_name)
            .bind(&p.settings)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces a policy's name and settings; `false` when the tenant has no such policy.
    pub async fn update_policy(&self, p: &PolicyRow) -> Result<bool> {
        let r = sqlx::query("UPDATE compliance_policies SET display_name = $1, settings = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(&p.display_name)
            .bind(&p.settings)
            .bind(&p.tenant_id)
            .bind(&p.id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes a policy with its assignments. Devices keep their state until their next
    /// report is evaluated without it.
    pub async fn delete_policy(&self, tenant_id: &TenantId, id: &str) -> Result<bool> {
        let mut txn = self.begin().await?;
        if !super::owned(&mut txn, "compliance_policies", tenant_id, id).await? {
            return Ok(false);
        }
        sqlx::query("DELETE FROM policy_assignments WHERE policy_id = $1").bind(id).execute(&mut *txn).await?;
        let r = sqlx::query("DELETE FROM compliance_policies WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn assign_policy(&self, policy_id: &str, group_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO policy_assignments (policy_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(policy_id)
            .bind(group_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The compliance policies assigned (through their groups) to each of `user_ids`, each
    /// with its enforcement for that user: the stricter where two of the user's groups
    /// carry one policy ([`Enforcement::stricter`]).
    pub async fn policies_for_users(
        &self,
        tenant_id: &TenantId,
        user_ids: &[String],
    ) -> Result<HashMap<String, Vec<(PolicyRow, Enforcement)>>> {
        let mut out: HashMap<String, Vec<(PolicyRow, Enforcement)>> = HashMap::new();
        for chunk in user_ids.chunks(IN_CHUNK) {
            let mut p = self.db.placeholders();
            let sql = format!(
                "SELECT DISTINCT m.user_id, p.id, p.tenant_id, p.display_name, p.settings, a.enforcement, a.warn_until_ms \
                 FROM compliance_policies p \
                 JOIN policy_assignments a ON a.policy_id = p.id \
                 JOIN group_members m ON m.group_id = a.group_id \
                 WHERE p.tenant_id = {} AND m.user_id IN ({}) ORDER BY p.id",
                p.one(),
                p.list(chunk.len())
            );
            let mut q = sqlx::query(&sql).persistent(false).bind(tenant_id);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(self.pool()).await? {
                let enforcement = Enforcement::from_columns(&r.get::<String, _>(5), r.get(6));
                let policies = out.entry(r.get(0)).or_default();
                let id: String = r.get(1);
                match policies.iter_mut().find(|(p, _)| p.id == id) {
                    Some((_, e)) => *e = e.stricter(enforcement),
                    None => policies.push((PolicyRow { id, tenant_id: r.get(2), display_name: r.get(3), settings: r.get(4) }, enforcement)),
                }
            }
        }
        Ok(out)
    }

    /// The tenant's Entra devices among `device_ids` (lower case), by device ID.
    pub async fn devices_by_ids(&self, tenant_id: &TenantId, device_ids: &[DeviceId]) -> Result<HashMap<DeviceId, DeviceRow>> {
        let mut out = HashMap::new();
        for chunk in device_ids.chunks(IN_CHUNK) {
            let mut p = self.db.placeholders();
            let sql = format!(
                "SELECT {} FROM devices WHERE tenant_id = {} AND device_id IN ({})",
                Self::DEVICE_COLUMNS,
                p.one(),
                p.list(chunk.len())
            );
            let mut q = sqlx::query_as::<_, DeviceRow>(&sql).persistent(false).bind(tenant_id);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await?.into_iter().map(|d| (d.device_id.clone(), d)));
        }
        Ok(out)
    }

    /// The tenant's managed devices whose last evaluation included `policy_id` (its
    /// per-policy states name it), after `after` by device ID, at most `limit`.
    pub async fn managed_devices_under_policy(
        &self,
        tenant_id: &TenantId,
        policy_id: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ManagedDeviceRow>> {
        // Policy IDs are GUIDs: the pattern holds no wildcard of LIKE.
        let pattern = format!("%\"policyId\":\"{policy_id}\"%");
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE tenant_id = $1 AND device_id > $2 AND policy_states LIKE $3 \
             ORDER BY device_id LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(after)
        .bind(pattern)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The managed devices among `device_ids`, by device ID.
    pub async fn managed_devices_by_ids(&self, device_ids: &[DeviceId]) -> Result<HashMap<DeviceId, ManagedDeviceRow>> {
        let mut out = HashMap::new();
        for chunk in device_ids.chunks(IN_CHUNK) {
            let sql =
                format!("SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE device_id IN ({})", self.db.placeholders().list(chunk.len()));
            let mut q = sqlx::query_as::<_, ManagedDeviceRow>(&sql).persistent(false);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await?.into_iter().map(|m| (m.device_id.clone(), m)));
        }
        Ok(out)
    }

    pub async fn policies(&self, tenant_id: &TenantId) -> Result<Vec<PolicyRow>> {
        Ok(sqlx::query_as::<_, PolicyRow>(
            "SELECT id, tenant_id, display_name, settings FROM compliance_policies WHERE tenant_id = $1 ORDER BY display_name",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn policy(&self, tenant_id: &TenantId, id: &str) -> Result<Option<PolicyRow>> {
        Ok(sqlx::query_as::<_, PolicyRow>(
            "SELECT id, tenant_id, display_name, settings FROM compliance_policies WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The groups a policy is assigned to, each with its enforcement.
    pub async fn policy_assignments(&self, policy_id: &str) -> Result<Vec<(String, Enforcement)>> {
        let rows = sqlx::query_as::<_, (String, String, Option<i64>)>(
            "SELECT group_id, enforcement, warn_until_ms FROM policy_assignments WHERE policy_id = $1 ORDER BY group_id",
        )
        .bind(policy_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(g, mode, until)| (g, Enforcement::from_columns(&mode, until))).collect())
    }

    /// Replaces a policy's assignments.
    pub async fn set_policy_assignments(&self, policy_id: &str, assignments: &[(String, Enforcement)]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM policy_assignments WHERE policy_id = $1").bind(policy_id).execute(&mut *tx).await?;
        for (g, enforcement) in assignments {
            let (mode, until) = enforcement.columns();
            sqlx::query("INSERT INTO policy_assignments (policy_id, group_id, enforcement, warn_until_ms) VALUES ($1, $2, $3, $4)")
                .bind(policy_id)
                .bind(g)
                .bind(mode)
                .bind(until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts of a tenant's partner devices per compliance state.
    pub async fn compliance_counts(&self, tenant_id: &TenantId) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as::<_, (String, i64)>(
            "SELECT compliance_state, COUNT(*) FROM managed_devices WHERE tenant_id = $1 AND verdict_only = 0 GROUP BY compliance_state \
             ORDER BY compliance_state",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A user's partner-managed devices (Graph `users/{id}/managedDevices`).
    pub async fn managed_devices_of_user(&self, tenant_id: &TenantId, user_id: &str) -> Result<Vec<ManagedDeviceRow>> {
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE tenant_id = $1 AND user_id = $2 AND verdict_only = 0 ORDER BY id"
        ))
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A tenant's partner-managed device by its Intune ID.
    pub async fn managed_device_by_id(&self, tenant_id: &TenantId, id: &str) -> Result<Option<ManagedDeviceRow>> {
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE tenant_id = $1 AND id = $2 AND verdict_only = 0"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The principal names of users, by object ID.
    pub async fn upns_of(&self, user_ids: &[String]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in user_ids.chunks(500) {
            let sql = format!("SELECT id, upn FROM users WHERE id IN ({})", self.db.placeholders().list(chunk.len()));
            let mut q = sqlx::query_as::<_, (String, String)>(&sql).persistent(false);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    pub async fn managed_device(&self, device_id: &DeviceId) -> Result<Option<ManagedDeviceRow>> {
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!("SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE device_id = $1"))
            .bind(device_id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn managed_devices(&self, tenant_id: &TenantId, after: &str, limit: i64) -> Result<Vec<ManagedDeviceRow>> {
        Ok(sqlx::query_as::<_, ManagedDeviceRow>(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed_devices WHERE tenant_id = $1 AND id > $2 AND verdict_only = 0 ORDER BY id LIMIT $3"
        ))
        .bind(tenant_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// `(no policy counts as compliant, validity period in days)` of a tenant.
    pub async fn compliance_settings(&self, tenant_id: &TenantId, default_no_policy: bool) -> Result<(bool, i64)> {
        let row = sqlx::query_as::<_, (i64, i64)>(
            "SELECT no_policy_is_compliant, validity_days FROM tenant_compliance_settings WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(n, d)| (n != 0, d)).unwrap_or((default_no_policy, DEFAULT_VALIDITY_DAYS)))
    }

    /// Saves the tenant's compliance policy settings; a new validity period moves when each
    /// of its devices' compliance lapses.
    pub async fn save_compliance_settings(&self, tenant_id: &TenantId, no_policy_is_compliant: bool, validity_days: i64) -> Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO tenant_compliance_settings (tenant_id, no_policy_is_compliant, validity_days) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET no_policy_is_compliant = excluded.no_policy_is_compliant, validity_days = excluded.validity_days",
        )
        .bind(tenant_id)
        .bind(no_policy_is_compliant as i64)
        .bind(validity_days)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE managed_devices SET valid_until_ms = partner_update_ms + $1 WHERE tenant_id = $2")
            .bind(validity_days * DAY_MS)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks noncompliant, in Intune and Entra, the devices in one of `states` whose
    /// `deadline` has passed at `now` (`intune::lifecycle` says which clock ends which
    /// states). Found by index first, then updated by ID, so a million devices are never
    /// scanned. At most [`LAPSE_BATCH`] per call; the clock calls again. Returns how many.
    pub async fn lapse(&self, states: &[ComplianceState], deadline: Deadline, now: i64) -> Result<u64> {
        // The states are this enum's own texts, never input: written into the statement.
        let listed = states.iter().map(|s| format!("'{}'", s.as_ref())).collect::<Vec<_>>().join(", ");
        let passed = match deadline {
            Deadline::GraceEnds => "grace_expires_ms <= $1",
            Deadline::ValidityEnds => "valid_until_ms < $1",
        };
        let condition = format!("compliance_state IN ({listed}) AND {passed}");
        let ids: Vec<(String,)> = sqlx::query_as(&format!("SELECT device_id FROM managed_devices WHERE {condition} LIMIT {LAPSE_BATCH}"))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin().await?;
        let mut lapsed = 0;
        for chunk in ids.chunks(IN_CHUNK) {
            // The condition again, so a device that reported meanwhile is left alone; the
            // Entra devices of those that did lapse follow.
            let managed_sql = format!(
                "UPDATE managed_devices SET compliance_state = '{}' WHERE device_id IN ({}) AND {condition} RETURNING device_id",
                ComplianceState::Noncompliant.as_ref(),
                placeholders(2, chunk.len())
            );
            let mut managed = sqlx::query_as::<_, (String,)>(&managed_sql).bind(now);
            for (id,) in chunk {
                managed = managed.bind(id);
            }
            let changed = managed.fetch_all(&mut *tx).await?;
            if changed.is_empty() {
                continue;
            }
            lapsed += changed.len() as u64;
            let devices_sql = format!(
                "UPDATE devices SET is_compliant = 0, compliance_updated_ms = $1 WHERE device_id IN ({})",
                placeholders(2, changed.len())
            );
            let mut devices = sqlx::query(&devices_sql).bind(now);
            for (id,) in &changed {
                devices = devices.bind(id);
            }
            devices.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(lapsed)
    }
}
