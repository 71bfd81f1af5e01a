//! Bulk seeding for the benchmarks of memory and retention (`cloudconnector bench
//! connector-memory`, `bench retention`): many instances with an active link each and many
//! delivered devices, written in a few large transactions instead of through the pipeline.
//! Not used by the service itself.

use super::*;

/// What [`Store::seed_delivered`] wrote: each instance's credential (index = instance
/// number) and one of the devices, for a trace.
pub struct Seeded {
    pub credentials: Vec<String>,
    pub some_device: DeviceId,
}

impl Store {
    /// Writes `instances` instances with an active, tested and reconciled link each (ten
    /// instances per tenant) and `devices` devices spread over them, each with `updates`
    /// updates (sequences 1 to `updates`) already delivered (`done`) at `now`, each with
    /// its `accepted` outcome, and its landing-page route.
    pub async fn seed_delivered(&self, instances: usize, devices: usize, updates: usize, now: i64) -> Result<Seeded> {
        let tenants = instances.div_ceil(10).max(1);
        let mut credentials = Vec::with_capacity(instances);
        let mut instance_tenant = Vec::with_capacity(instances);
        let mut txn = self.db.begin().await?;
        for n in 0..instances {
            let (id, credential) = (InstanceId::from(uuid::Uuid::new_v4().to_string()), platform::secrets::random_token(16));
            let tenant = TenantId::from(uuid::Uuid::from_u128(n as u128 % tenants as u128 + 1).to_string());
            sqlx::query(
                "INSERT INTO instances (id, external_id, name, url, version, credential_digest, created_ms) VALUES ($1, $2, $3, $4, '11.0.0', $5, $6)",
            )
            .bind(&id)
            .bind(format!("bench-{n}"))
            .bind(format!("Instance {n}"))
            .bind(format!("https://mdm.example/i/{n}"))
            .bind(platform::secrets::digest_hex(&credential))
            .bind(now)
            .execute(&mut *txn)
            .await?;
            sqlx::query(
                "INSERT INTO links (id, instance_id, cloud, tenant_id, status, landing_page, return_url, checks, last_tested_ms, created_ms, updated_ms, reconciled_ms) \
                 VALUES ($1, $2, 'local', $3, 'active', '{\"kind\":\"registration\"}', $4, '[]', $5, $6, $7, $8)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&id)
            .bind(&tenant)
            .bind(format!("https://mdm.example/i/{n}/ca"))
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(now)
            .execute(&mut *txn)
            .await?;
            credentials.push(credential);
            instance_tenant.push((id, tenant));
        }
        txn.commit().await?;
        let mut some_device = DeviceId::default();
        for chunk in (0..devices).collect::<Vec<_>>().chunks(10_000) {
            let mut txn = self.db.begin().await?;
            for &n in chunk {
                let (instance, tenant) = &instance_tenant[n % instances.max(1)];
                some_device = uuid::Uuid::new_v4().to_string().into();
                seed_device(&mut txn, instance, tenant, n, &some_device, updates, now).await?;
            }
            txn.commit().await?;
        }
        Ok(Seeded { credentials, some_device })
    }
}

async fn seed_device(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
    tenant: &TenantId,
    n: usize,
    device: &DeviceId,
    updates: usize,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO device_routes (tenant_id, device_id, instance_id, upn) VALUES ($1, $2, $3, $4)")
        .bind(tenant)
        .bind(device)
        .bind(instance)
        .bind(format!("user{n}@contoso.example"))
        .execute(&mut *conn)
        .await?;
    let item = format!(
        "{{\"EntityType\":0,\"TenantId\":\"{tenant}\",\"DeviceId\":\"{device}\",\"UserId\":\"\",\"LastUpdateTime\":\"2026-11-24T00:00:00Z\",\"Encrypted\":true}}"
    );
    for sequence in 1..=updates as i64 {
        sqlx::query(
            "INSERT INTO intake (instance_id, tenant_id, computer_id, sequence, device_id, item, status, message_id, received_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, 'done', NULL, $7)",
        )
        .bind(instance)
        .bind(tenant)
        .bind(n.to_string())
        .bind(sequence)
        .bind(device)
        .bind(&item)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO outcomes (instance_id, computer_id, sequence, status, detail, at_ms) VALUES ($1, $2, $3, 'accepted', NULL, $4)",
        )
        .bind(instance)
        .bind(n.to_string())
        .bind(sequence)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
