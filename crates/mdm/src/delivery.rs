//! Sending inventory to the connector: the outbox is filled in the same transaction as
//! the inventory it reports, drained in batches, and the connector's per-device outcomes
//! come back into each computer's Local User Accounts category.

use std::time::{Duration, Instant};

use wire::connector_api::{InventoryBatch, InventoryUpdate, OutcomeStatus};

use crate::Shared;
use crate::connector_client::SendError;
use crate::domain::inventory::{parse_record_key, record_key};
use crate::domain::settings::{CaStatus, ComplianceModel, ConnectionType};
use crate::error::Result;
use crate::store::{InstanceRow, tx};

/// Device Compliance group memberships are recalculated this often (service clock).
const MEMBERSHIP_EVERY_MS: i64 = 3600 * 1000;

/// Each held instance's inventory history is pruned this often (service clock).
const HISTORY_PRUNE_EVERY_MS: i64 = 3600 * 1000;

/// How often silent computers are looked for and the connection's state is followed.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);

/// How long a node's hold on an instance lasts without renewal: another node takes the
/// instance over this long after its holder stopped (the same node, restarted, at once).
/// Half of it outlasts the connector client's 60 s request timeout, so a node never
/// works for an instance on a lease that ran out.
const INSTANCE_LEASE_MS: i64 = 180_000;

/// The instances this node works for now ([`crate::store::Store::hold_instance`]). A
/// lease is renewed once half of it has passed, so an idle node writes about once per
/// 90 s per instance, and every instance it answers for here is held for 90 s more.
async fn held_instances(state: &Shared) -> Result<Vec<InstanceRow>> {
    let now = state.clock.now_ms();
    let mut held = Vec::new();
    for instance in state.store.instances().await? {
        let fresh = state.leases.lock().expect("lock").get(&instance.id).is_some_and(|until| until - now > INSTANCE_LEASE_MS / 2);
        if fresh || state.store.hold_instance(&instance.id, &state.node, now, now + INSTANCE_LEASE_MS).await? {
            if !fresh {
                state.leases.lock().expect("lock").insert(instance.id.clone(), now + INSTANCE_LEASE_MS);
            }
            held.push(instance);
        } else {
            state.leases.lock().expect("lock").remove(&instance.id);
        }
    }
    Ok(held)
}

pub async fn run(state: Shared) {
    let mut last_housekeeping: Option<Instant> = None;
    loop {
        if last_housekeeping.is_none_or(|t| t.elapsed() >= HOUSEKEEPING_EVERY) {
            last_housekeeping = Some(Instant::now());
            if let Err(e) = housekeeping(&state).await {
                tracing::warn!(error = %e, "housekeeping failed; will retry");
            }
        }
        let busy = match step(&state).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "delivery to the connector failed; will retry");
                false
            }
        };
        if !busy {
            let _ = tokio::time::timeout(Duration::from_millis(100), state.work.notified()).await;
        }
    }
}

/// Follows each Cloud Connector link's state (health re-tests and termination found by
/// the connector show on the settings page) and reports computers gone silent.
async fn housekeeping(state: &Shared) -> Result<()> {
    for instance in held_instances(state).await? {
        let mut ca = state.store.ca(&instance.id).await?;
        if ca.settings.enabled && ca.settings.connection_type == ConnectionType::CloudConnector && ca.link_id.is_some() {
            match crate::integration::refresh(state, &instance).await {
                Ok((fresh, _)) => ca = fresh,
                Err(e) => tracing::warn!(instance = %instance.slug, error = %e, "the connector's view of the link could not be read"),
            }
        }
        if ca.settings.enabled && ca.link_status == CaStatus::Active && ca.settings.compliance_model == ComplianceModel::Intune {
            crate::agent::report_silent(state, &instance).await?;
        }
        if let Err(e) = prune_history(state, &instance.id).await {
            tracing::warn!(instance = %instance.slug, error = %e, "pruning the inventory history failed; will retry");
        }
        if ca.settings.enabled && ca.link_status == CaStatus::Active && ca.settings.compliance_model == ComplianceModel::DeviceCompliance {
            let now = state.clock.now_ms();
            let due = state.memberships_checked.lock().expect("lock").get(&instance.id).is_none_or(|t| now - t >= MEMBERSHIP_EVERY_MS);
            if due {
                crate::agent::recheck_memberships(state, &instance).await?;
                state.memberships_checked.lock().expect("lock").insert(instance.id.clone(), now);
            }
        }
    }
    Ok(())
}

/// Once an hour per held instance: its inventory history and the commands for its Macs
/// older than `retention_days`.
async fn prune_history(state: &Shared, instance_id: &str) -> Result<()> {
    let now = state.clock.now_ms();
    let due = state.history_pruned.lock().expect("lock").get(instance_id).is_none_or(|t| now - t >= HISTORY_PRUNE_EVERY_MS);
    if due {
        let cutoff = now - state.config.retention_days as i64 * 86_400_000;
        let pruned = state.store.prune_history(instance_id, cutoff).await? + state.store.prune_commands(instance_id, cutoff).await?;
        state.metrics.pruned_rows_total.increment(pruned);
        state.history_pruned.lock().expect("lock").insert(instance_id.to_string(), now);
    }
    Ok(())
}

async fn step(state: &Shared) -> Result<bool> {
    let mut busy = false;
    for instance in held_instances(state).await? {
        let ca = state.store.ca(&instance.id).await?;
        if ca.settings.enabled && ca.link_status == CaStatus::Active {
            if ca.settings.connection_type == ConnectionType::Manual {
                busy |= crate::manual::send(state, &instance, &ca).await?;
            } else if let Some(credential) = &instance.connector_credential {
                busy |= send(state, &instance, credential).await?;
            }
        }
        if let (Some(credential), Some(_)) = (&instance.connector_credential, &ca.link_id) {
            busy |= collect_outcomes(state, &instance, credential).await?;
        }
    }
    Ok(busy)
}

async fn send(state: &Shared, instance: &InstanceRow, credential: &str) -> Result<bool> {
    let now = state.clock.now_ms();
    let due = state.store.outbox_due(&instance.id, now, 1000).await?;
    if due.is_empty() {
        return Ok(false);
    }
    let updates: Vec<InventoryUpdate> = due
        .iter()
        .filter_map(|r| {
            Some(InventoryUpdate {
                computer_id: record_key(r.computer_id, r.device_id.as_ref()),
                sequence: r.sequence,
                item: serde_json::from_str(&r.payload).ok()?,
            })
        })
        .collect();
    match state.connector.send_inventory(credential, &InventoryBatch { updates }).await {
        Ok(_) => {
            state.store.settle_outbox(&due, "sent", None).await?;
            state.metrics.updates_sent_total.increment(due.len() as u64);
            Ok(true)
        }
        Err(SendError::Refused(detail)) => {
            // Sent in order, the batch would hold back everything after it for ever.
            state.metrics.send_failures_total.increment(1);
            tracing::warn!(instance = %instance.slug, updates = due.len(), %detail, "connector refused the batch; its updates are rejected");
            state.store.settle_outbox(&due, "rejected", Some(&detail)).await?;
            Ok(false)
        }
        Err(SendError::Retry(detail)) => {
            state.metrics.send_failures_total.increment(1);
            let attempts = due.iter().map(|r| r.attempts).max().unwrap_or(0);
            let delay = (1000_i64 << attempts.min(6)).min(60_000);
            tracing::warn!(instance = %instance.slug, updates = due.len(), delay_ms = delay, %detail, "connector did not take the batch");
            let ids: Vec<i64> = due.iter().map(|r| r.id).collect();
            state.store.reschedule_outbox(&ids, now + delay).await?;
            Ok(false)
        }
    }
}

async fn collect_outcomes(state: &Shared, instance: &InstanceRow, credential: &str) -> Result<bool> {
    let cursor = state.store.outcome_cursor(&instance.id).await?;
    let page = state.connector.outcomes(credential, cursor).await?;
    if page.outcomes.is_empty() {
        return Ok(false);
    }
    let mut txn = state.store.begin().await?;
    tx::set_cursor(&mut txn, &instance.id, page.cursor).await?;
    for o in &page.outcomes {
        let Some((computer_id, device)) = parse_record_key(&o.computer_id) else {
            continue;
        };
        let outcome = ItemOutcome {
            status: o.status,
            detail: o.detail.as_deref(),
            compliance_state: o.compliance_state.as_deref(),
            compliance_reasons: &o.compliance_reasons,
        };
        record_outcome(&mut txn, computer_id, device, o.sequence, &outcome).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// What became of one item, as recorded on the computer.
pub(crate) struct ItemOutcome<'a> {
    pub status: OutcomeStatus,
    pub detail: Option<&'a str>,
    pub compliance_state: Option<&'a str>,
    pub compliance_reasons: &'a [String],
}

/// Records what became of one registered user's item of `sequence`: its delivery state
/// and, once accepted, what the cloud decided (unless a newer item was queued since).
pub(crate) async fn record_outcome(
    txn: &mut sqlx::AnyConnection,
    computer_id: i64,
    device: Option<&str>,
    sequence: i64,
    o: &ItemOutcome<'_>,
) -> Result<()> {
    tx::set_delivery(txn, computer_id, device, sequence, o.status.as_ref(), o.detail).await?;
    if o.status == OutcomeStatus::Accepted {
        tx::set_compliance(txn, computer_id, device, sequence, o.compliance_state, o.compliance_reasons).await?;
    }
    Ok(())
}
