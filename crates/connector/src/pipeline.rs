//! Delivery, source → batch → sink: inventory from instances is stored before the
//! instance gets its answer, batched per tenant into upload messages, uploaded, polled
//! until the cloud has processed it, and each device's outcome is reported back.

use platform::problem::Refuse;
use std::collections::HashMap;
use std::time::Duration;

use partner::outcome::ItemOutcome;
use wire::connector_api::{InventoryAccepted, InventoryBatch, LinkStatus, OutcomeStatus};
use wire::partner::{ItemResult, MessageStatus};

use crate::Shared;
use crate::cloud_client::CallError;
use crate::concurrency::Signal;
use crate::error::{ConnectorError, Result};
use crate::retry::{self, Verdict};
use crate::store::{InstanceRow, MessageRow, MessageState, Next, tx};
use wire::{DeviceId, MessageId, TenantId};

/// Largest intake batch accepted in one request.
pub const MAX_INTAKE_BATCH: usize = 5000;

/// Validates and durably queues a batch. Idempotent: a retried batch is accepted again
/// without queuing anything twice; an update older than one already held is superseded.
pub async fn intake(state: &Shared, instance: &InstanceRow, batch: InventoryBatch) -> Result<InventoryAccepted> {
    if batch.updates.len() > MAX_INTAKE_BATCH {
        return Err(ConnectorError::invalid(format!("A batch may hold at most {MAX_INTAKE_BATCH} updates.")));
    }
    let link = state
        .store
        .current_link(&instance.id)
        .await?
        .filter(|l| l.status == LinkStatus::Active)
        .ok_or_else(|| ConnectorError::conflict("This instance has no active connection; nothing was queued."))?;
    let tenant = link.tenant_id.clone().unwrap_or_default();
    for (i, u) in batch.updates.iter().enumerate() {
        if !platform::text::within_chars(&u.computer_id, 200) {
            return Err(ConnectorError::invalid(format!("updates[{i}].computer_id must be 1 to 200 characters.")));
        }
        if u.sequence < 0 {
            return Err(ConnectorError::invalid(format!("updates[{i}].sequence must not be negative.")));
        }
        if uuid::Uuid::parse_str(&u.item.device_id).is_err() {
            return Err(ConnectorError::invalid(format!("updates[{i}].item.DeviceId must be an Entra device ID (GUID).")));
        }
        if platform::clock::parse_rfc3339(&u.item.last_update_time).is_none() {
            return Err(ConnectorError::invalid(format!("updates[{i}].item.LastUpdateTime must be an RFC 3339 date.")));
        }
    }
    let now = state.clock.now_ms();
    // One read before the transaction (keeping SQLite's single writer free for the
    // inserts): the newest sequence held for each computer of the batch.
    let mut computers: Vec<&str> = batch.updates.iter().map(|u| u.computer_id.as_str()).collect();
    computers.sort_unstable();
    computers.dedup();
    let newest = state.store.max_sequences(&instance.id, &computers).await?;
    let mut superseded = 0;
    let mut items = Vec::with_capacity(batch.updates.len());
    for u in &batch.updates {
        if newest.get(u.computer_id.as_str()).is_some_and(|max| *max > u.sequence) {
            superseded += 1;
            continue;
        }
        let mut item = u.item.clone();
        item.tenant_id = tenant.clone();
        item.device_id = item.device_id.to_lowercase();
        if let Some(received) = clamped_to_receipt(&item.last_update_time, now) {
            item.last_update_time = received;
            state.metrics.intake_future_dated_total.increment(1);
        }
        let json = serde_json::to_string(&item).map_err(ConnectorError::internal)?;
        let upn = item.upn.as_deref().map(str::to_ascii_lowercase);
        items.push((u, item.device_id, json, upn));
    }
    let rows: Vec<tx::NewIntake> = items
        .iter()
        .map(|(u, device_id, json, _)| tx::NewIntake { computer_id: &u.computer_id, sequence: u.sequence, device_id, item: json })
        .collect();
    let routes: Vec<(&DeviceId, Option<&str>)> = items.iter().map(|(_, device_id, _, upn)| (device_id, upn.as_deref())).collect();
    let mut txn = state.store.begin().await?;
    tx::insert_intake_rows(&mut txn, &instance.id, &tenant, &rows, now).await?;
    tx::upsert_routes(&mut txn, &tenant, &instance.id, &routes).await?;
    txn.commit().await?;
    state.work.notify_one();
    let accepted = items.len();
    state.metrics.intake_updates_total.increment(accepted as u64);
    state.metrics.intake_superseded_total.increment(superseded as u64);
    Ok(InventoryAccepted { accepted, superseded })
}

/// An instance's date for a state, as the cloud will be told it: a date ahead of this
/// connector's clock cannot be when anything was observed, so it is taken as the time
/// received (the cloud orders a device's states by it, and a future date would make
/// every later, honest state look older). `None` when the date stands.
fn clamped_to_receipt(reported: &str, now: i64) -> Option<String> {
    let t = platform::clock::parse_rfc3339(reported)?;
    (t.timestamp_millis() > now).then(|| platform::clock::ms_to_rfc3339(now))
}

/// The delivery loop. Work is driven by the database alone, so a restart resumes
/// exactly where the previous process stopped.
pub async fn run(state: Shared) {
    loop {
        let busy = match step(&state).await {
            Ok(busy) => busy,
            Err(e) => {
                tracing::warn!(error = %e, "delivery step failed; will retry");
                false
            }
        };
        if !busy {
            let _ = tokio::time::timeout(Duration::from_millis(100), state.work.notified()).await;
        }
    }
}

async fn step(state: &Shared) -> Result<bool> {
    share_pauses(state).await?;
    let batched = batch(state).await?;
    let uploaded = upload_due(state).await?;
    let polled = poll_due(state).await?;
    Ok(batched + uploaded > 0 || polled > 0)
}

/// Shares this node's tenant pauses with the other nodes and takes theirs: the cloud's
/// request budget is per tenant, so a `Retry-After` one node was given binds every node
/// from its next step on. A pause is written once (`AppState::pauses_shared` remembers
/// what is shared); reading the few live ones is one query a step.
pub async fn share_pauses(state: &Shared) -> Result<()> {
    // A single node has no one to share with: no query on its hot path.
    if !state.store.shared() {
        return Ok(());
    }
    let gates = state.cloud.gates();
    let now = state.clock.now_ms();
    let new: Vec<(String, String, i64)> = {
        let mut shared = state.pauses_shared.lock().expect("lock");
        shared.retain(|_, until| *until > now);
        gates.closed().into_iter().filter(|(c, t, until)| shared.get(&(c.clone(), t.clone())).is_none_or(|s| s < until)).collect()
    };
    for (cloud, tenant, until) in new {
        state.store.share_pause(&cloud, &tenant, until).await?;
        state.pauses_shared.lock().expect("lock").insert((cloud, tenant), until);
    }
    for (cloud, tenant, until) in state.store.shared_pauses(now).await? {
        gates.close_until(&cloud, &tenant, until);
        state.pauses_shared.lock().expect("lock").insert((cloud, tenant), until);
    }
    Ok(())
}

/// Moves queued updates into upload messages: per tenant, as many full messages as its
/// window lets go out at once, and a partial one once the oldest update has lingered, or
/// at once when the tenant's last message is older than the linger. The linger adapts to
/// the backlog: a lone change goes out without waiting, while a steady stream still
/// leaves at most one partial message per linger period, which keeps the tenant within
/// its partner write budget (200 writes per 20 s).
async fn batch(state: &Shared) -> Result<usize> {
    let mut made = 0;
    let now = state.clock.now_ms();
    let linger = state.config.batch_linger_ms as i64;
    for (tenant, queued, oldest) in state.store.tenants_with_queue().await? {
        // Few large messages, as the tenant's write budget wants.
        if (queued as usize) < state.config.batch_size && now - oldest < linger {
            let quiet = state.store.last_message_ms(&tenant).await?.is_none_or(|last| now - last >= linger);
            if !quiet {
                continue;
            }
        }
        let Some(cloud) = state.store.cloud_of_tenant(&tenant).await? else { continue };
        for _ in 0..state.concurrency.limit(&tenant) {
            let claimed = form_message(state, &tenant, &cloud, now).await?;
            if claimed > 0 {
                made += 1;
            }
            if claimed < state.config.batch_size {
                break;
            }
        }
    }
    Ok(made)
}

/// Claims queued updates of a tenant into one new message; returns how many.
async fn form_message(state: &Shared, tenant: &TenantId, cloud: &str, now: i64) -> Result<usize> {
    let message_id = MessageId::from(uuid::Uuid::new_v4().to_string());
    let mut txn = state.store.begin_for_tenant(tenant).await?;
    let departed = tx::drop_departed(&mut txn, tenant, now).await?;
    if departed > 0 {
        tracing::warn!(%tenant, updates = departed, "updates of instances that left the tenant are given up");
    }
    let items = tx::claim_batch(&mut txn, tenant, &message_id, state.config.batch_size as i64).await?;
    if items.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    // The body is fixed once: every retry PUTs the same bytes under the same ID.
    let content: Vec<&str> = items.iter().map(|(_, item)| item.as_str()).collect();
    let body = partner::client::message_body(tenant, &platform::clock::rfc3339(state.clock.now()), &content);
    let message = MessageRow {
        message_id,
        tenant_id: tenant.clone(),
        cloud: cloud.to_string(),
        body,
        status: MessageState::Upload,
        attempts: 0,
        next_attempt_ms: now,
    };
    tx::insert_message(&mut txn, &message, now).await?;
    txn.commit().await?;
    state.metrics.messages_created_total.increment(1);
    Ok(items.len())
}

fn jitter() -> f64 {
    use rand::Rng;
    rand::rng().random::<f64>()
}

async fn retry_later(state: &Shared, m: &MessageRow, status: MessageState, error: &CallError, after_ms: Option<u64>) -> Result<()> {
    let attempts = m.attempts + 1;
    let delay = retry::backoff_ms(attempts as u32, jitter(), after_ms);
    state.metrics.upload_retries_total.increment(1);
    tracing::info!(tenant = %m.tenant_id, message = %m.message_id, attempts, delay_ms = delay, error = %error, "delivery will be retried");
    let error = error.to_string();
    let next = Next { status, attempts, at_ms: state.clock.now_ms() + delay as i64, error: Some(&error) };
    state.store.reschedule_message(&m.message_id, &state.node, next).await?;
    Ok(())
}

/// How long a message refused for the connector's identity or permissions waits before
/// its next attempt: the admin has to act (restore a permission, consent again), and a
/// passing re-test or Confirm makes it due at once (`Store::hurry_messages`).
const REFUSED_WAIT_MS: u64 = 5 * 60 * 1000;

/// What to do with a message whose call failed. A refusal of the connector's identity or
/// permissions has the tenant's links re-tested at once (`maintenance::RetestRequests`),
/// so the link shows why; the message keeps its updates and waits
/// ([`REFUSED_WAIT_MS`]) instead of giving them up, since the refusal ends when the admin
/// fixes the cause — while a link of the tenant is active or failing. Once none is, or
/// for any other failure, [`retry::classify`] decides (a 401 is first retried at once with
/// a fresh token there).
async fn after_failure(state: &Shared, m: &MessageRow, e: &CallError) -> Result<Verdict> {
    if !e.is_authorisation() {
        return Ok(retry::classify(e));
    }
    state.retests.request(&m.cloud, &m.tenant_id);
    if !state.store.tenant_has_live_link(&m.tenant_id).await? {
        return Ok(Verdict::GiveUp(format!("{e} (no connection of the tenant remains to fix it)")));
    }
    Ok(match (e.status(), m.attempts) {
        (Some(401), 0) => retry::classify(e),
        _ => Verdict::Retry { after_ms: Some(REFUSED_WAIT_MS) },
    })
}

/// Takes a due message for this node (another node may have taken it since it was read).
/// The lease lasts the call's budget ([`within_budget`]) and 20 s more for writing what
/// came of it, so it runs out while a node is working on the message only if the
/// service clock jumps; then the node's writes are fenced off (`lease_node`).
async fn lease(state: &Shared, m: &MessageRow, status: MessageState, now: i64) -> Result<bool> {
    let until = now + call_budget_ms(state) as i64 + 20_000;
    state.store.lease_message(&m.message_id, status, &state.node, now, until).await
}

/// The longest one upload or status call of a leased message may take, retries of its
/// token and discovery included: twice the cloud timeout and 10 s.
fn call_budget_ms(state: &Shared) -> u64 {
    2 * state.config.cloud_timeout_ms + 10_000
}

/// Bounds a call of a leased message by [`call_budget_ms`]: past it the call counts as
/// a transport failure (retried), and the lease is still held.
async fn within_budget<T>(state: &Shared, call: impl std::future::Future<Output = Result<T, CallError>>) -> Result<T, CallError> {
    let budget = call_budget_ms(state);
    tokio::time::timeout(Duration::from_millis(budget), call)
        .await
        .unwrap_or_else(|_| Err(CallError::Transport(format!("no answer within {budget} ms"))))
}

/// Uploads due messages, each tenant up to its adaptive window, all concurrently.
async fn upload_due(state: &Shared) -> Result<usize> {
    let now = state.clock.now_ms();
    // The tenant's gate is closed by any request's Retry-After; its messages wait for it.
    let due = state.store.messages_due(MessageState::Upload, now, 256).await?.into_iter().filter(|m| !state.paused(&m.cloud, &m.tenant_id));
    let mut calls = tokio::task::JoinSet::new();
    for mut m in state.concurrency.pick(due, |m| &m.tenant_id) {
        let app = state.app(&m.cloud)?.clone();
        if !lease(state, &m, MessageState::Upload, now).await? {
            continue;
        }
        let state = state.clone();
        m.body = state.store.message_body(&m.message_id).await?;
        state.metrics.upload_requests_total.increment(1);
        calls.spawn(async move {
            let result = within_budget(&state, state.cloud.upload(&app, &m.tenant_id, &m.message_id, &m.body)).await;
            (m, result)
        });
    }
    let mut started = 0;
    while let Some(joined) = calls.join_next().await {
        let (m, result) = joined.map_err(ConnectorError::internal)?;
        started += 1;
        state.concurrency.observe(&m.tenant_id, Signal::of(&result));
        match result {
            Ok(_) => {
                let next = Next { status: MessageState::Poll, attempts: 0, at_ms: state.clock.now_ms() + 50, error: None };
                state.store.reschedule_message(&m.message_id, &state.node, next).await?;
            }
            Err(e) if e.is_partner_terminated() => {
                terminated(state, &m.tenant_id).await?;
                conclude(state, &m, &HashMap::new(), Some("the connection was terminated in Intune")).await?
            }
            Err(e) => match after_failure(state, &m, &e).await? {
                Verdict::Retry { after_ms } => retry_later(state, &m, MessageState::Upload, &e, after_ms).await?,
                Verdict::GiveUp(reason) => conclude(state, &m, &HashMap::new(), Some(&reason)).await?,
            },
        }
    }
    Ok(started)
}

/// Polls the status of uploaded messages, within the same per-tenant windows.
async fn poll_due(state: &Shared) -> Result<usize> {
    let now = state.clock.now_ms();
    let due = state.store.messages_due(MessageState::Poll, now, 256).await?.into_iter().filter(|m| !state.paused(&m.cloud, &m.tenant_id));
    let mut calls = tokio::task::JoinSet::new();
    for m in state.concurrency.pick(due, |m| &m.tenant_id) {
        let app = state.app(&m.cloud)?.clone();
        if !lease(state, &m, MessageState::Poll, now).await? {
            continue;
        }
        let state = state.clone();
        calls.spawn(async move {
            let result = within_budget(&state, state.cloud.upload_status(&app, &m.tenant_id, &m.message_id)).await;
            (m, result)
        });
    }
    let mut finished = 0;
    while let Some(joined) = calls.join_next().await {
        let (m, result) = joined.map_err(ConnectorError::internal)?;
        state.concurrency.observe(&m.tenant_id, Signal::of(&result));
        match result {
            Ok(s) if s.status == MessageStatus::Completed => {
                let results: HashMap<DeviceId, ItemResult> = s.item_results.into_iter().map(|r| (r.device_id.to_lowercase(), r)).collect();
                conclude(state, &m, &results, None).await?;
                finished += 1;
            }
            Ok(s) if s.status == MessageStatus::Failed => {
                let reason = format!("the cloud failed the message: {}", s.error_detail.unwrap_or_default());
                conclude(state, &m, &HashMap::new(), Some(&reason)).await?;
                finished += 1;
            }
            // Still pending: poll again, less often the longer it takes (the polls count
            // against the tenant's request budget).
            Ok(_) => {
                let wait = (100_i64 << m.attempts.clamp(0, 5)).min(2_000);
                let next = Next { status: MessageState::Poll, attempts: m.attempts + 1, at_ms: state.clock.now_ms() + wait, error: None };
                state.store.reschedule_message(&m.message_id, &state.node, next).await?;
            }
            // The cloud does not know the message (lost before it was stored): upload again.
            Err(e) if e.status() == Some(404) => retry_later(state, &m, MessageState::Upload, &e, None).await?,
            Err(e) => match after_failure(state, &m, &e).await? {
                Verdict::Retry { after_ms } => retry_later(state, &m, MessageState::Poll, &e, after_ms).await?,
                Verdict::GiveUp(reason) => conclude(state, &m, &HashMap::new(), Some(&reason)).await?,
            },
        }
    }
    Ok(finished)
}

/// An instance leaves a tenant that others still use: its link turns disconnected and, in
/// the same transaction, its devices are queued as no longer managed (EntityType 1,
/// `DeviceManagementState: unmanaged`), through the same durable path as any update, and
/// the instance stops receiving their routed users. Disconnected first: an update the
/// instance sent meanwhile is given up when the next message forms
/// (`tx::drop_departed`), never sent after the withdrawal; and nothing is half done.
pub async fn withdraw(state: &Shared, link: &crate::store::LinkRow, detail: impl Fn(usize) -> String + Sync) -> Result<usize> {
    let tenant = &link.tenant_id.clone().unwrap_or_default();
    let instance_id = &link.instance_id;
    let devices = state.store.devices_of_instance(tenant, instance_id).await?;
    let now = state.clock.now_ms();
    let mut txn = state.store.begin().await?;
    tx::update_link(&mut txn, link, &detail(devices.len()), now).await?;
    for device in &devices {
        let item = wire::partner::DeviceItem {
            entity_type: wire::partner::entity_type::INVENTORY,
            tenant_id: tenant.clone(),
            device_id: device.clone(),
            user_id: String::new(),
            last_update_time: platform::clock::ms_to_rfc3339(now),
            device_management_state: Some("unmanaged".into()),
            eas_ids: Some(vec![]),
            ..Default::default()
        };
        let json = serde_json::to_string(&item).map_err(ConnectorError::internal)?;
        tx::insert_intake(&mut txn, instance_id, tenant, &format!("withdraw:{device}"), now, device, &json, now).await?;
    }
    tx::delete_routes(&mut txn, tenant, instance_id).await?;
    txn.commit().await?;
    state.work.notify_one();
    tracing::info!(%tenant, instance = %instance_id, devices = devices.len(), "instance left the tenant; its devices are withdrawn");
    Ok(devices.len())
}

/// Intune terminated the tenant's connection: every link to it shows so on its instance.
pub async fn terminated(state: &Shared, tenant: &TenantId) -> Result<()> {
    let n = state.store.set_active_links_status(tenant, LinkStatus::Terminated, "terminated in Intune", state.clock.now_ms()).await?;
    if n > 0 {
        tracing::warn!(%tenant, links = n, "connection terminated in Intune");
    }
    Ok(())
}

/// Records each device's outcome and closes the message, in one transaction. Only an
/// accepted item counts as delivered; a stale one (the cloud holds a newer state of the
/// device) is reported as such and not kept for replay, since replaying cannot change it.
async fn conclude(state: &Shared, m: &MessageRow, results: &HashMap<DeviceId, ItemResult>, failure: Option<&str>) -> Result<()> {
    let rows = state.store.intake_of_message(&m.message_id).await?;
    let now = state.clock.now_ms();
    let mut txn = state.store.begin().await?;
    if !tx::close_leased_message(&mut txn, &m.message_id, &state.node).await? {
        txn.rollback().await?;
        tracing::info!(message = %m.message_id, "another node holds the message now; its conclusion is left to it");
        return Ok(());
    }
    let (mut accepted, mut stale) = (0u64, 0u64);
    let mut outcomes = Vec::with_capacity(rows.len());
    for r in &rows {
        let outcome = match failure {
            Some(reason) => ItemOutcome::of(None, reason),
            None => ItemOutcome::of(results.get(&r.device_id), "the cloud reported no result for this device"),
        };
        if outcome.is_accepted() {
            accepted += 1;
            state.metrics.delivery_seconds.record((now - r.received_ms).max(0) as f64 / 1000.0);
        } else if outcome.status == OutcomeStatus::Stale {
            stale += 1;
        } else {
            // Kept with its reason until an operator or the instance replays it.
            tx::dead_letter(&mut txn, r.id, outcome.detail.as_deref().unwrap_or("refused"), now).await?;
        }
        outcomes.push((r, outcome));
    }
    let new: Vec<tx::NewOutcome> = outcomes
        .iter()
        .map(|(r, outcome)| tx::NewOutcome { instance_id: &r.instance_id, computer_id: &r.computer_id, sequence: r.sequence, outcome })
        .collect();
    tx::insert_outcomes(&mut txn, &new, now).await?;
    tx::finish_message(&mut txn, &m.message_id).await?;
    txn.commit().await?;
    state.metrics.messages_completed_total.increment(1);
    state.metrics.devices_accepted_total.increment(accepted);
    state.metrics.devices_stale_total.increment(stale);
    state.metrics.devices_rejected_total.increment(rows.len() as u64 - accepted - stale);
    if let Some(reason) = failure {
        tracing::warn!(tenant = %m.tenant_id, message = %m.message_id, devices = rows.len(), reason, "message rejected");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_ahead_of_the_connector_is_taken_as_received() {
        let now = platform::clock::parse_rfc3339("2026-11-30T10:00:00Z").unwrap().timestamp_millis();
        assert_eq!(clamped_to_receipt("2099-01-01T00:00:00Z", now).as_deref(), Some("2026-11-30T10:00:00Z"));
        assert_eq!(clamped_to_receipt("2026-11-30T10:00:30Z", now).as_deref(), Some("2026-11-30T10:00:00Z"));
        assert_eq!(clamped_to_receipt("2026-11-30T09:59:00Z", now), None, "a past date stands");
    }
}
