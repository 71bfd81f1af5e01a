//! Work on the service clock's schedule: the health re-test of each link (scenario S8: drift),
//! the daily full reconcile (docs/architecture.md, Reliability patterns), both also
//! available on demand through the APIs, and the hourly pruning of old delivery history.

use std::collections::BTreeSet;
use std::time::Duration;

use wire::TenantId;

use crate::Shared;
use crate::error::Result;
use crate::onboarding;

/// Tenants (by cloud) whose active links are re-tested at this node's next step, asked
/// for when the cloud refuses the connector's identity or permissions for the tenant on
/// an upload, a status read or a heartbeat ([`partner::client::CallError::is_authorisation`]):
/// a permission removed in Entra then shows as Failing on every instance of that app
/// at once, not at the next scheduled re-test.
#[derive(Debug, Default)]
pub struct RetestRequests(std::sync::Mutex<BTreeSet<(String, TenantId)>>);

impl RetestRequests {
    /// Asks for a re-test of `tenant`'s links of `cloud`.
    pub fn request(&self, cloud: &str, tenant: &TenantId) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert((cloud.to_string(), tenant.clone()));
    }

    fn take(&self) -> BTreeSet<(String, TenantId)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

pub async fn run(state: Shared) {
    loop {
        if let Err(e) = step(&state).await {
            tracing::warn!(error = %e, "maintenance step failed; will retry");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How long a node's claim on one link's re-test or reconcile lasts: with several nodes
/// one of them does each, and one that could not (the tenant paused, an error) is tried
/// again after this. The chore itself records when it was done.
const CHORE_CLAIM_MS: i64 = 60_000;

/// How often one node of the cluster prunes history older than `retention_days`.
const RETENTION_EVERY_MS: i64 = 3_600_000;

async fn step(state: &Shared) -> Result<()> {
    let now = state.clock.now_ms();
    retest_refused(state, now).await?;
    let cutoff = now - state.config.health_interval_s as i64 * 1000;
    for link in state.store.links_due_for_health_check(cutoff).await? {
        if !state.store.take_job(&format!("health-retest:{}", link.id), &state.node, now, now + CHORE_CLAIM_MS).await? {
            continue;
        }
        let (id, tenant) = (link.id.clone(), link.tenant_id.clone().unwrap_or_default());
        if let Err(e) = onboarding::health_check(state, link).await {
            tracing::debug!(link = %id, tenant = %tenant, error = %e, "health re-test skipped");
        }
    }
    let cutoff = now - state.config.reconcile_interval_s as i64 * 1000;
    for link in state.store.links_due_for_reconcile(cutoff).await? {
        if !state.store.take_job(&format!("reconcile:{}", link.id), &state.node, now, now + CHORE_CLAIM_MS).await? {
            continue;
        }
        reconcile(state, &link).await?;
    }
    if state.store.take_job("retention", &state.node, now, now + RETENTION_EVERY_MS).await? {
        prune(state, now).await?;
    }
    Ok(())
}

/// How often a refusal may have one link re-tested: a refusal the re-test cannot see
/// (the link passes) must not have the link re-tested at every retried upload.
const REFUSAL_RETEST_EVERY_MS: i64 = 600_000;

/// Re-tests the active links of every tenant the cloud refused since the last step, each
/// at most once per [`REFUSAL_RETEST_EVERY_MS`] and on one node (the claim is the
/// scheduled re-test's, so the two never run together). A tenant under `Retry-After` is
/// asked for again at the next step.
async fn retest_refused(state: &Shared, now: i64) -> Result<()> {
    for (cloud, tenant) in state.retests.take() {
        if state.paused(&cloud, &tenant) {
            state.retests.request(&cloud, &tenant);
            continue;
        }
        for link in state.store.active_links_of_tenant(&tenant).await?.into_iter().filter(|l| l.cloud == cloud) {
            let key = format!("health-retest:{}", link.id);
            if !state.store.take_job(&key, &state.node, now, now + REFUSAL_RETEST_EVERY_MS).await? {
                continue;
            }
            let id = link.id.clone();
            if let Err(e) = onboarding::health_check(state, link).await {
                tracing::debug!(link = %id, tenant = %tenant, error = %e, "re-test after a refusal skipped");
            }
        }
    }
    Ok(())
}

/// Deletes the delivery history older than the retention period.
pub async fn prune(state: &Shared, now: i64) -> Result<crate::store::Pruned> {
    let cutoff = now - state.config.retention_days as i64 * 86_400_000;
    let pruned = state.store.prune(cutoff).await?;
    state.metrics.pruned_rows_total.increment(pruned.intake + pruned.messages + pruned.outcomes);
    tracing::info!(
        intake = pruned.intake,
        messages = pruned.messages,
        outcomes = pruned.outcomes,
        "retention: old delivery history pruned"
    );
    Ok(pruned)
}

/// Resends the current state of every computer of the link's instance on its tenant.
pub async fn reconcile(state: &Shared, link: &crate::store::LinkRow) -> Result<u64> {
    let Some(tenant) = &link.tenant_id else { return Ok(0) };
    let queued = state.store.reconcile(tenant, &link.instance_id, state.clock.now_ms()).await?;
    state.metrics.reconciled_updates_total.increment(queued);
    tracing::info!(%tenant, instance = %link.instance_id, link = %link.id, queued, "reconcile: current state queued again");
    state.work.notify_one();
    Ok(queued)
}
