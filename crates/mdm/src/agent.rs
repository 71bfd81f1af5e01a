//! What the agent on a Mac does with its instance: enrol, report inventory, post the
//! Entra IDs after Workplace Join, check in, fetch the commands waiting for it.

use platform::problem::Refuse;
use serde_json::Value;
use wire::agent::{AadRegistration, ComputerCaView, Enroll, Enrolled, INVENTORY_SECTIONS, InventoryReport, LocalUserCa};
use wire::apple::MacOsVersion;

use crate::Shared;
use crate::domain::device_compliance;
use crate::domain::inventory::{Registered, UNRESPONSIVE_AFTER_MS, ca_state, device_item, verdict_item};
use crate::domain::normalize::{self, MAX_NAME_CHARS, Normalized, account_key, within};
use crate::domain::settings::{CaSettings, CaStatus};
use crate::error::{MdmError, Result};
use crate::store::{CommandRow, ComputerRow, InstanceRow, Registration, tx};
use wire::DeviceId;

/// Refuses a value of 1 to `max` characters (counted as people count them).
fn bounded(name: &str, value: &str, max: usize) -> Result<()> {
    if !within(value, max) {
        return Err(MdmError::invalid(format!("{name} must be 1 to {max} characters.")));
    }
    Ok(())
}

pub async fn enroll(state: &Shared, instance: &InstanceRow, req: Enroll) -> Result<Enrolled> {
    if platform::secrets::digest_hex(&req.invitation) != platform::secrets::digest_hex(&instance.invitation) {
        return Err(MdmError::unauthorized("The enrollment invitation is not valid for this instance."));
    }
    bounded("udid", &req.udid, 64)?;
    bounded("serial_number", &req.serial_number, 64)?;
    bounded("device_name", &req.device_name, MAX_NAME_CHARS)?;
    bounded("model", &req.model, MAX_NAME_CHARS)?;
    let credential = platform::secrets::random_token(32);
    // Macs report their UDID upper case; one spelling keeps one computer per Mac.
    let id = state
        .store
        .enroll_computer(
            &instance.id,
            &req.udid.trim().to_ascii_uppercase(),
            &req.serial_number,
            &req.device_name,
            &req.model,
            &platform::secrets::digest_hex(&credential),
            state.clock.now_ms(),
        )
        .await?;
    Ok(Enrolled { computer_id: id, credential })
}

/// The computer a per-computer credential belongs to.
pub async fn computer(state: &Shared, instance: &InstanceRow, credential: Option<&str>) -> Result<ComputerRow> {
    let credential = credential.ok_or_else(|| MdmError::unauthorized("A bearer computer credential is required."))?;
    state
        .store
        .computer_by_credential(&instance.id, &platform::secrets::digest_hex(credential))
        .await?
        .ok_or_else(|| MdmError::unauthorized("The computer credential is not valid."))
}

/// The instance's Conditional Access settings while its integration is on and its
/// connection active; `None` when nothing is to be sent.
async fn sending_settings(state: &Shared, instance: &InstanceRow) -> Result<Option<CaSettings>> {
    let ca = state.store.ca(&instance.id).await?;
    Ok((ca.settings.enabled && ca.link_status == CaStatus::Active).then_some(ca.settings))
}

/// The item for one registered user's Entra device.
struct Item {
    device_id: DeviceId,
    payload: String,
}

/// What is sent for a computer: one item per registered user (each Workplace Join is an
/// Entra device of its own), the check-in state they report, and (Device Compliance)
/// the verdict they carry.
struct Items {
    items: Vec<Item>,
    /// ACTIVATED or UNRESPONSIVE: remembered so a computer going silent is reported once.
    silence: &'static str,
    verdict: Option<bool>,
}

/// Hands a computer's items to the sender in the caller's transaction.
async fn queue(txn: &mut sqlx::AnyConnection, instance_id: &str, computer_id: i64, sequence: i64, items: &Items, now: i64) -> Result<()> {
    for item in &items.items {
        tx::enqueue(txn, instance_id, computer_id, &item.device_id, sequence, &item.payload, now).await?;
        tx::mark_queued(txn, computer_id, &item.device_id, sequence).await?;
    }
    tx::set_reported_state(txn, computer_id, items.silence).await?;
    if let Some(v) = items.verdict {
        tx::set_reported_verdict(txn, computer_id, device_compliance::verdict_name(Some(v))).await?;
    }
    Ok(())
}

/// Builds the items of a computer's registered users, if it has any: its inventory for
/// Intune to evaluate, or (Device Compliance) only this instance's verdict, when the
/// computer is in the applicable group. `last_checkin` decides ACTIVATED or
/// UNRESPONSIVE; a registered user no longer in the inventory is DEACTIVATED.
async fn items_for(
    state: &Shared,
    settings: &CaSettings,
    computer: &ComputerRow,
    inventory: &InventoryReport,
    collected_ms: i64,
    last_checkin: i64,
) -> Result<Option<Items>> {
    let users = state.store.local_users(computer.id).await?;
    let registered: Vec<_> = users.iter().filter(|u| u.aad_device_id.is_some()).collect();
    if registered.is_empty() {
        return Ok(None);
    }
    let now = state.clock.now_ms();
    let verdict = if settings.compliance_model == crate::domain::settings::ComplianceModel::DeviceCompliance {
        match device_compliance::verdict(&settings.applicable_rule, &settings.compliance_rule, inventory, now) {
            Some(compliant) => Some(compliant),
            None => return Ok(None),
        }
    } else {
        None
    };
    let present: Vec<String> = inventory.local_users.iter().map(|u| account_key(&u.username)).collect();
    let mut items = Vec::with_capacity(registered.len());
    for user in registered {
        let removed = !present.contains(&account_key(&user.username));
        let r = Registered {
            computer_id: computer.id,
            serial_number: &computer.serial_number,
            udid: &computer.udid,
            aad_device_id: user.aad_device_id.as_deref().unwrap_or_default(),
            aad_user_id: user.aad_user_id.as_deref().unwrap_or_default(),
            upn: user.upn.as_deref().unwrap_or_default(),
            state: ca_state(true, removed, Some(last_checkin), now),
            last_checkin: Some(platform::clock::ms_to_rfc3339(last_checkin)),
            collected_at: platform::clock::ms_to_rfc3339(collected_ms),
        };
        let item = match verdict {
            Some(compliant) => verdict_item(&r, compliant, platform::clock::ms_to_rfc3339(now)),
            None => device_item(inventory, &r),
        };
        items.push(Item { device_id: r.aad_device_id.into(), payload: serde_json::to_string(&item).map_err(MdmError::internal)? });
    }
    Ok(Some(Items { items, silence: ca_state(true, false, Some(last_checkin), now), verdict }))
}

/// The sections of `after` that differ from `before`.
fn changed_sections(before: Option<&Value>, after: &Value) -> String {
    let Some(before) = before else { return "all".into() };
    let changed: Vec<&str> = INVENTORY_SECTIONS.iter().copied().filter(|k| before.get(k) != after.get(k)).collect();
    if changed.is_empty() { "none".into() } else { changed.join(",") }
}

/// What storing a report gave: its sequence, and the informational values dropped.
#[derive(Debug, Clone)]
pub struct Applied {
    pub sequence: i64,
    pub warnings: Vec<String>,
}

/// Stores a full inventory report, read through the normalisation layer. A report older
/// than the stored one is refused and changes nothing; while the integration is on, a
/// registered computer's report is queued for sending in the same transaction.
pub async fn submit_inventory(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, raw: Value) -> Result<Applied> {
    let now = state.clock.now_ms();
    let normalized = normalize::report(raw, now, &defaults(computer)).map_err(MdmError::invalid)?;
    // The report itself is a sign of life: the computer counts as checked in.
    apply(state, instance, computer, normalized, Source { kind: "full", last_checkin: now }).await
}

/// A partial report: `collected_at` and only the sections that changed, merged over the
/// stored inventory. Needs a full report first.
pub async fn submit_partial(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, patch: Value) -> Result<Applied> {
    let Value::Object(patch) = patch else {
        return Err(MdmError::invalid("A partial inventory report must be a JSON object."));
    };
    if let Some(unknown) = patch.keys().find(|k| *k != "collected_at" && !INVENTORY_SECTIONS.contains(&k.as_str())) {
        return Err(MdmError::invalid(format!("Unknown inventory section '{unknown}'. Sections: {}.", INVENTORY_SECTIONS.join(", "))));
    }
    if !patch.contains_key("collected_at") {
        return Err(MdmError::invalid("collected_at is required."));
    }
    let stored = computer
        .inventory
        .as_deref()
        .and_then(|i| serde_json::from_str::<Value>(i).ok())
        .ok_or_else(|| MdmError::conflict("This computer has no full inventory yet; submit a full report (PUT) first."))?;
    let mut merged = stored;
    // A new `os_version_extra` (none: the Rapid Security Response is gone) replaces the
    // stored version's RSR letter even when the version itself is not sent again.
    if patch.contains_key("os_version_extra") && !patch.contains_key("os_version") {
        let base = merged["os_version"].as_str().and_then(|v| v.parse::<MacOsVersion>().ok()).map(|v| v.numbers_text());
        if let Some(base) = base {
            merged["os_version"] = Value::String(base);
        }
    }
    for (k, v) in patch {
        merged[k] = v;
    }
    let now = state.clock.now_ms();
    let normalized = normalize::report(merged, now, &defaults(computer)).map_err(MdmError::invalid)?;
    apply(state, instance, computer, normalized, Source { kind: "partial", last_checkin: now }).await
}

/// A computer's current names, kept when a report has none that can be read.
fn defaults(computer: &ComputerRow) -> normalize::Defaults<'_> {
    normalize::Defaults { device_name: &computer.name, model: &computer.model }
}

/// Where a report came from: its kind in the history (`full`, `partial`, `import`) and
/// the computer's last check-in it tells of.
pub(crate) struct Source<'a> {
    pub kind: &'a str,
    pub last_checkin: i64,
}

/// Stores a normalised report and, while the integration is on, queues the items of the
/// computer's registered users in the same transaction.
pub(crate) async fn apply(
    state: &Shared,
    instance: &InstanceRow,
    computer: &ComputerRow,
    n: Normalized,
    source: Source<'_>,
) -> Result<Applied> {
    let now = state.clock.now_ms();
    let older = || MdmError::conflict("This report is older than the inventory already stored; it was not applied.");
    // A stored date ahead of the clock (from before such dates were refused) orders nothing.
    if computer.collected_ms.is_some_and(|stored| stored > n.collected_ms && stored <= now) {
        return Err(older());
    }
    let items = match sending_settings(state, instance).await? {
        Some(settings) => items_for(state, &settings, computer, &n.report, n.collected_ms, source.last_checkin).await?,
        None => None,
    };
    let value = serde_json::to_value(&n.report).map_err(MdmError::internal)?;
    let before = computer.inventory.as_deref().and_then(|i| serde_json::from_str::<Value>(i).ok());
    let changed = changed_sections(before.as_ref(), &value);
    let json = value.to_string();
    let mut txn = state.store.begin().await?;
    let stored = tx::StoredInventory {
        json: &json,
        collected_ms: n.collected_ms,
        last_checkin_ms: source.last_checkin,
        name: &n.report.device_name,
        model: &n.report.model,
    };
    // Checked again in the statement: another report may have landed since the read.
    let sequence = tx::store_inventory(&mut txn, computer.id, &stored, now).await?.ok_or_else(older)?;
    tx::record_history(&mut txn, computer.id, sequence, source.kind, n.collected_ms, now, &changed).await?;
    for u in &n.report.local_users {
        tx::upsert_local_user(&mut txn, computer.id, u.username.trim()).await?;
    }
    let present: Vec<String> = n.report.local_users.iter().map(|u| account_key(&u.username)).collect();
    tx::mark_removed_users(&mut txn, computer.id, &present, now).await?;
    if let Some(items) = &items {
        queue(&mut txn, &instance.id, computer.id, sequence, items, now).await?;
    }
    txn.commit().await?;
    state.work.notify_one();
    Ok(Applied { sequence, warnings: n.warnings })
}

/// The registration agent's post after Workplace Join. Each local user who registers
/// has a registration of their own; the account name is matched as macOS matches it.
pub async fn register_aad(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, req: AadRegistration) -> Result<()> {
    for (name, v) in [("aad_device_id", &req.aad_device_id), ("aad_user_id", &req.aad_user_id)] {
        if uuid::Uuid::parse_str(v).is_err() {
            return Err(MdmError::invalid(format!("{name} must be a GUID.")));
        }
    }
    bounded("username", &req.username, MAX_NAME_CHARS)?;
    if !wire::agent::is_upn(&req.upn) {
        return Err(MdmError::invalid("upn must be a user principal name (name@domain) of at most 320 characters."));
    }
    let now = state.clock.now_ms();
    let (device, user) = (req.aad_device_id.to_ascii_lowercase(), req.aad_user_id.to_ascii_lowercase());
    let registration = Registration { aad_device_id: &device, aad_user_id: &user, upn: Some(req.upn.trim()) };
    let mut txn = state.store.begin().await?;
    tx::register_user(&mut txn, computer.id, req.username.trim(), &registration, now).await?;
    txn.commit().await?;
    state.store.checkin(computer.id, now).await?;
    // A registered computer reports its current state at once.
    if let Some(settings) = sending_settings(state, instance).await? {
        resend(state, instance, &settings, computer, now, "registration", "local_users").await?;
    }
    Ok(())
}

/// Queues the stored inventory of a computer again under a new sequence, reporting it as
/// last checked in at `last_checkin`. Returns whether anything was queued.
#[allow(clippy::too_many_arguments)]
async fn resend(
    state: &Shared,
    instance: &InstanceRow,
    settings: &CaSettings,
    computer: &ComputerRow,
    last_checkin: i64,
    kind: &str,
    changed: &str,
) -> Result<bool> {
    let Some(inventory) = computer.stored_inventory() else {
        return Ok(false);
    };
    let now = state.clock.now_ms();
    let collected = computer.collected_ms.unwrap_or(now);
    let Some(items) = items_for(state, settings, computer, &inventory, collected, last_checkin).await? else { return Ok(false) };
    let mut txn = state.store.begin().await?;
    let sequence = tx::bump_sequence(&mut txn, computer.id).await?;
    tx::record_history(&mut txn, computer.id, sequence, kind, collected, now, changed).await?;
    queue(&mut txn, &instance.id, computer.id, sequence, &items, now).await?;
    txn.commit().await?;
    state.work.notify_one();
    Ok(true)
}

/// Queues the current state of every registered computer of the instance (a full
/// reconcile): after a connection turns Active, devices registered before it are known.
pub async fn reconcile(state: &Shared, instance: &InstanceRow) -> Result<usize> {
    let settings = state.store.ca(&instance.id).await?.settings;
    let now = state.clock.now_ms();
    let (mut after, mut queued) = (0, 0);
    loop {
        let page = state.store.computers(&instance.id, "", after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for computer in &page {
            if resend(state, instance, &settings, computer, computer.last_checkin_ms.unwrap_or(now), "reconcile", "none").await? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Registered computers that stopped checking in for 24 h are reported UNRESPONSIVE, once.
/// Only the Intune model carries the state; a Device Compliance verdict does not.
pub async fn report_silent(state: &Shared, instance: &InstanceRow) -> Result<usize> {
    let settings = state.store.ca(&instance.id).await?.settings;
    let now = state.clock.now_ms();
    let mut reported = 0;
    for computer in state.store.gone_silent(&instance.id, now - UNRESPONSIVE_AFTER_MS, 500).await? {
        let last = computer.last_checkin_ms.unwrap_or(0);
        if !resend(state, instance, &settings, &computer, last, "state", "conditional_access_state").await? {
            // Nothing to send (no inventory or not applicable): stop looking at it.
            let mut txn = state.store.begin().await?;
            tx::set_reported_state(&mut txn, computer.id, "UNRESPONSIVE").await?;
            txn.commit().await?;
        }
        reported += 1;
    }
    if reported > 0 {
        tracing::info!(instance = %instance.slug, computers = reported, "computers without a check-in for 24 hours reported unresponsive");
    }
    Ok(reported)
}

/// Device Compliance: group membership can change with time alone (`days_since_inventory`),
/// so every registered computer is evaluated again and a changed verdict is sent once.
pub async fn recheck_memberships(state: &Shared, instance: &InstanceRow) -> Result<usize> {
    let settings = state.store.ca(&instance.id).await?.settings;
    let now = state.clock.now_ms();
    let (mut after, mut changed) = (0, 0);
    loop {
        let page = state.store.computers(&instance.id, "", after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for computer in &page {
            let Some(inventory) = computer.stored_inventory() else {
                continue;
            };
            let verdict = device_compliance::verdict(&settings.applicable_rule, &settings.compliance_rule, &inventory, now);
            let name = device_compliance::verdict_name(verdict);
            if computer.reported_verdict.as_deref().is_none_or(|r| r == name) {
                // Never sent (not registered yet), or unchanged.
                continue;
            }
            if verdict.is_none()
                || !resend(state, instance, &settings, computer, computer.last_checkin_ms.unwrap_or(now), "membership", "compliance_group")
                    .await?
            {
                // Left the applicable group: nothing is sent for it any more.
                let mut txn = state.store.begin().await?;
                tx::set_reported_verdict(&mut txn, computer.id, name).await?;
                txn.commit().await?;
            }
            changed += 1;
        }
    }
    if changed > 0 {
        tracing::info!(instance = %instance.slug, computers = changed, "Device Compliance memberships changed");
    }
    Ok(changed)
}

/// A check-in; a computer reported UNRESPONSIVE is reported ACTIVATED again.
pub async fn checkin(state: &Shared, instance: &InstanceRow, computer: &ComputerRow) -> Result<()> {
    let now = state.clock.now_ms();
    state.store.checkin(computer.id, now).await?;
    if computer.reported_state.as_deref() == Some("UNRESPONSIVE")
        && let Some(settings) = sending_settings(state, instance).await?
    {
        resend(state, instance, &settings, computer, now, "state", "conditional_access_state").await?;
    }
    Ok(())
}

/// The Local User Accounts category's Conditional Access fields of one computer.
pub async fn ca_view(state: &Shared, computer: &ComputerRow) -> Result<ComputerCaView> {
    let now = state.clock.now_ms();
    let users = state.store.local_users(computer.id).await?;
    Ok(ComputerCaView {
        computer_id: computer.id,
        users: users
            .into_iter()
            .map(|u| LocalUserCa {
                conditional_access_inventory_state: ca_state(
                    u.aad_device_id.is_some(),
                    u.removed_ms.is_some(),
                    computer.last_checkin_ms,
                    now,
                )
                .into(),
                delivery_state: match u.delivery_detail {
                    Some(d) if u.delivery_state == "rejected" || u.delivery_state == "stale" => format!("{}: {d}", u.delivery_state),
                    _ => u.delivery_state,
                },
                compliance_state: u.compliance_state,
                compliance_reasons: u.compliance_reasons.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_default(),
                username: u.username,
                computer_azure_active_directory_id: u.aad_device_id.map(DeviceId::into_string),
                user_azure_active_directory_id: u.aad_user_id,
            })
            .collect(),
    })
}

/// Longest a Mac's poll for commands may wait, in seconds.
/// Kept under ten seconds: proxies and clients in front of the mdm time out quiet
/// requests, and a poll renewed often costs one indexed read.
pub const MAX_COMMAND_WAIT_S: u64 = 8;

/// How often a waiting poll looks in the database for a command queued on another node.
const COMMAND_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The commands waiting for `computer`, waiting up to `wait_s` seconds (at most
/// [`MAX_COMMAND_WAIT_S`]) for one to be queued: the agent's long poll stands in for the
/// push that wakes a real Mac. A command queued on this node wakes the poll at once; one
/// queued on another node is found within [`COMMAND_CHECK_EVERY`]. Commands handed out
/// are marked delivered.
pub async fn wait_for_commands(state: &Shared, computer: &ComputerRow, wait_s: u64) -> Result<Vec<CommandRow>> {
    // Real time, not the service's clock: this bounds how long a request is held open.
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(wait_s.min(MAX_COMMAND_WAIT_S));
    loop {
        // Registered before the check, so a command queued right after it still wakes us.
        let queued = state.commands_queued.notified();
        if state.store.has_waiting_command(computer.id).await? {
            let commands = state.store.take_commands(computer.id, state.clock.now_ms()).await?;
            if !commands.is_empty() {
                return Ok(commands);
            }
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return Ok(Vec::new());
        }
        let _ = tokio::time::timeout((until - now).min(COMMAND_CHECK_EVERY), queued).await;
    }
}

/// Asks the Mac a registered user's Entra device belongs to for its inventory now (the
/// remediation page's *Recheck*). `None` when the instance has no such registration.
pub async fn recheck(state: &Shared, instance: &InstanceRow, device_id: &DeviceId) -> Result<Option<CommandRow>> {
    let Some(user) = state.store.local_user_by_device(&instance.id, device_id).await? else { return Ok(None) };
    let command = state.store.queue_command(user.computer_id, wire::agent::UPDATE_INVENTORY, state.clock.now_ms()).await?;
    state.commands_queued.notify_waiters();
    tracing::info!(instance = %instance.slug, computer = user.computer_id, command = %command.uuid, "recheck queued");
    Ok(Some(command))
}
