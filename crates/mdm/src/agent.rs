//! What the agent on a Mac does with its instance: enrol, report inventory, post the
//! Entra IDs after Workplace Join, check in.

use wire::agent::{AadRegistration, ComputerCaView, Enroll, Enrolled, INVENTORY_SECTIONS, InventoryReport, LocalUserCa, VOLUME_STATES};

use crate::Shared;
use crate::domain::device_compliance;
use crate::domain::inventory::{Registered, UNRESPONSIVE_AFTER_MS, ca_state, device_item, verdict_item};
use crate::domain::settings::{CaSettings, status};
use crate::error::{MdmError, Result};
use crate::store::{ComputerRow, InstanceRow, tx};

fn bounded(name: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.len() > max {
        return Err(MdmError::Invalid(format!("{name} must be 1 to {max} characters.")));
    }
    Ok(())
}

pub async fn enroll(state: &Shared, instance: &InstanceRow, req: Enroll) -> Result<Enrolled> {
    if platform::secrets::digest_hex(&req.invitation) != platform::secrets::digest_hex(&instance.invitation) {
        return Err(MdmError::Unauthorized("The enrollment invitation is not valid for this instance.".into()));
    }
    bounded("udid", &req.udid, 64)?;
    bounded("serial_number", &req.serial_number, 64)?;
    bounded("device_name", &req.device_name, 255)?;
    bounded("model", &req.model, 255)?;
    let credential = platform::secrets::random_token(32);
    let id = state
        .store
        .enroll_computer(
            &instance.id,
            &req.udid,
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
    let credential = credential.ok_or_else(|| MdmError::Unauthorized("A bearer computer credential is required.".into()))?;
    state
        .store
        .computer_by_credential(&instance.id, &platform::secrets::digest_hex(credential))
        .await?
        .ok_or_else(|| MdmError::Unauthorized("The computer credential is not valid.".into()))
}

/// The instance's Conditional Access settings while its integration is on and its
/// connection active; `None` when nothing is to be sent.
async fn sending_settings(state: &Shared, instance: &InstanceRow) -> Result<Option<CaSettings>> {
    let ca = state.store.ca(&instance.id).await?;
    Ok((ca.settings.enabled && ca.link_status == status::ACTIVE).then_some(ca.settings))
}

/// An item to send and the Conditional Access inventory state it reports.
struct Item {
    payload: String,
    state: &'static str,
    /// Device Compliance: the verdict the item carries.
    verdict: Option<bool>,
}

/// Hands an item to the sender in the caller's transaction, remembering what it reports.
async fn queue(txn: &mut sqlx::AnyConnection, instance_id: &str, computer_id: i64, sequence: i64, item: &Item, now: i64) -> Result<()> {
    tx::enqueue(txn, instance_id, computer_id, sequence, &item.payload, item.state, now).await?;
    if let Some(v) = item.verdict {
        tx::set_reported_verdict(txn, computer_id, device_compliance::verdict_name(Some(v))).await?;
    }
    tx::set_delivery(txn, computer_id, "queued", None).await
}

/// Builds the item for a computer's registered user, if it has one: its inventory for
/// Intune to evaluate, or (Device Compliance) only this instance's verdict, when the
/// computer is in the applicable group. `last_checkin` decides ACTIVATED or UNRESPONSIVE.
async fn item_for(
    state: &Shared,
    settings: &CaSettings,
    computer: &ComputerRow,
    inventory: &InventoryReport,
    last_checkin: i64,
) -> Result<Option<Item>> {
    let users = state.store.local_users(computer.id).await?;
    let Some(user) = users.iter().find(|u| u.aad_device_id.is_some()) else { return Ok(None) };
    // The inventory being sent says whether the registered user is still on the Mac.
    let removed = !inventory.local_users.iter().any(|u| u.username == user.username);
    let ca = ca_state(true, removed, Some(last_checkin), state.clock.now_ms());
    let registered = Registered {
        computer_id: computer.id,
        serial_number: &computer.serial_number,
        udid: &computer.udid,
        aad_device_id: user.aad_device_id.as_deref().unwrap_or_default(),
        aad_user_id: user.aad_user_id.as_deref().unwrap_or_default(),
        upn: user.upn.as_deref().unwrap_or_default(),
        state: ca,
        last_checkin: Some(platform::clock::ms_to_rfc3339(last_checkin)),
    };
    let now = state.clock.now_ms();
    let (item, verdict) = if settings.compliance_model == crate::domain::settings::MODEL_DEVICE_COMPLIANCE {
        match device_compliance::verdict(&settings.applicable_rule, &settings.compliance_rule, inventory, now) {
            Some(compliant) => (verdict_item(&registered, compliant, platform::clock::ms_to_rfc3339(now)), Some(compliant)),
            None => return Ok(None),
        }
    } else {
        (device_item(inventory, &registered), None)
    };
    Ok(Some(Item { payload: serde_json::to_string(&item).map_err(MdmError::internal)?, state: ca, verdict }))
}

fn validate_report(report: &InventoryReport) -> Result<i64> {
    let collected = platform::clock::parse_rfc3339(&report.collected_at)
        .ok_or_else(|| MdmError::Invalid("collected_at must be an RFC 3339 date.".into()))?
        .timestamp_millis();
    bounded("device_name", &report.device_name, 255)?;
    bounded("model", &report.model, 255)?;
    bounded("os_name", &report.os_name, 64)?;
    bounded("os_version", &report.os_version, 32)?;
    bounded("os_build", &report.os_build, 32)?;
    if report.local_users.iter().any(|u| u.username.trim().is_empty() || u.username.len() > 255) {
        return Err(MdmError::Invalid("every local user needs a username of 1 to 255 characters.".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, v) in report.volumes.iter().enumerate() {
        bounded(&format!("volumes[{i}].name"), &v.name, 255)?;
        if !names.insert(v.name.as_str()) {
            return Err(MdmError::Invalid(format!("volumes[{i}].name '{}' appears twice.", v.name)));
        }
        if !VOLUME_STATES.contains(&v.filevault.as_str()) {
            return Err(MdmError::Invalid(format!("volumes[{i}].filevault must be one of {}.", VOLUME_STATES.join(", "))));
        }
    }
    if report.volumes.iter().filter(|v| v.boot).count() > 1 {
        return Err(MdmError::Invalid("At most one volume can be the boot volume.".into()));
    }
    let p = &report.password_policy;
    for (name, value, max) in [
        ("password_policy.min_length", p.min_length, 64),
        ("password_policy.min_complex_characters", p.min_complex_characters, 64),
        ("password_policy.max_age_days", p.max_age_days, 65535),
        ("password_policy.history_depth", p.history_depth, 64),
    ] {
        if value.is_some_and(|n| !(0..=max).contains(&n)) {
            return Err(MdmError::Invalid(format!("{name} must be between 0 and {max}.")));
        }
    }
    let h = &report.hardware;
    if h.processor_architecture.as_deref().is_some_and(|a| !["arm64", "x86_64"].contains(&a)) {
        return Err(MdmError::Invalid("hardware.processor_architecture must be arm64 or x86_64.".into()));
    }
    if h.core_count.is_some_and(|n| !(1..=1024).contains(&n)) || h.total_ram_mb.is_some_and(|n| n < 0) {
        return Err(MdmError::Invalid("hardware.core_count must be 1 to 1024 and total_ram_mb not negative.".into()));
    }
    Ok(collected)
}

/// The sections of `after` that differ from `before`.
fn changed_sections(before: Option<&serde_json::Value>, after: &serde_json::Value) -> String {
    let Some(before) = before else { return "all".into() };
    let changed: Vec<&str> = INVENTORY_SECTIONS.iter().copied().filter(|k| before.get(k) != after.get(k)).collect();
    if changed.is_empty() { "none".into() } else { changed.join(",") }
}

/// Stores a full inventory report. A report older than the stored one is refused and
/// changes nothing; while the integration is on, a registered computer's report is
/// queued for sending in the same transaction.
pub async fn submit_inventory(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, report: InventoryReport) -> Result<i64> {
    apply(state, instance, computer, report, "full").await
}

/// A partial report: `collected_at` and only the sections that changed, merged over the
/// stored inventory. Needs a full report first.
pub async fn submit_partial(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, patch: serde_json::Value) -> Result<i64> {
    let serde_json::Value::Object(patch) = patch else {
        return Err(MdmError::Invalid("A partial inventory report must be a JSON object.".into()));
    };
    if let Some(unknown) = patch.keys().find(|k| *k != "collected_at" && !INVENTORY_SECTIONS.contains(&k.as_str())) {
        return Err(MdmError::Invalid(format!("Unknown inventory section '{unknown}'. Sections: {}.", INVENTORY_SECTIONS.join(", "))));
    }
    if !patch.contains_key("collected_at") {
        return Err(MdmError::Invalid("collected_at is required.".into()));
    }
    let stored = computer
        .inventory
        .as_deref()
        .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
        .ok_or_else(|| MdmError::Conflict("This computer has no full inventory yet; submit a full report (PUT) first.".into()))?;
    let mut merged = stored;
    for (k, v) in patch {
        merged[k] = v;
    }
    let report: InventoryReport =
        serde_json::from_value(merged).map_err(|e| MdmError::Invalid(format!("The merged inventory is not valid: {e}")))?;
    apply(state, instance, computer, report, "partial").await
}

async fn apply(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, report: InventoryReport, kind: &str) -> Result<i64> {
    let collected = validate_report(&report)?;
    if computer.collected_ms.is_some_and(|stored| stored > collected) {
        return Err(MdmError::Conflict("This report is older than the inventory already stored; it was not applied.".into()));
    }
    let now = state.clock.now_ms();
    // The report itself is a sign of life: the computer counts as checked in.
    let item = match sending_settings(state, instance).await? {
        Some(settings) => item_for(state, &settings, computer, &report, now).await?,
        None => None,
    };
    let value = serde_json::to_value(&report).map_err(MdmError::internal)?;
    let before = computer.inventory.as_deref().and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok());
    let changed = changed_sections(before.as_ref(), &value);
    let json = value.to_string();
    let mut txn = state.store.begin().await?;
    let sequence = tx::store_inventory(&mut txn, computer.id, &json, collected, &report.device_name, &report.model, now).await?;
    tx::record_history(&mut txn, computer.id, sequence, kind, collected, now, &changed).await?;
    for u in &report.local_users {
        tx::upsert_local_user(&mut txn, computer.id, &u.username).await?;
    }
    let present: Vec<&str> = report.local_users.iter().map(|u| u.username.as_str()).collect();
    tx::mark_removed_users(&mut txn, computer.id, &present, now).await?;
    if let Some(item) = item {
        queue(&mut txn, &instance.id, computer.id, sequence, &item, now).await?;
    }
    txn.commit().await?;
    state.work.notify_one();
    Ok(sequence)
}

/// The registration agent's post after Workplace Join.
pub async fn register_aad(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, req: AadRegistration) -> Result<()> {
    for (name, v) in [("aad_device_id", &req.aad_device_id), ("aad_user_id", &req.aad_user_id)] {
        if uuid::Uuid::parse_str(v).is_err() {
            return Err(MdmError::Invalid(format!("{name} must be a GUID.")));
        }
    }
    bounded("username", &req.username, 255)?;
    if !req.upn.contains('@') || req.upn.len() > 320 {
        return Err(MdmError::Invalid("upn must be a user principal name (name@domain).".into()));
    }
    let now = state.clock.now_ms();
    let mut txn = state.store.begin().await?;
    tx::register_user(
        &mut txn,
        computer.id,
        &req.username,
        &req.aad_device_id.to_ascii_lowercase(),
        &req.aad_user_id.to_ascii_lowercase(),
        &req.upn,
        now,
    )
    .await?;
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
    let Some(inventory) = computer.inventory.as_deref().and_then(|i| serde_json::from_str::<InventoryReport>(i).ok()) else {
        return Ok(false);
    };
    let Some(item) = item_for(state, settings, computer, &inventory, last_checkin).await? else { return Ok(false) };
    let now = state.clock.now_ms();
    let mut txn = state.store.begin().await?;
    let sequence = tx::bump_sequence(&mut txn, computer.id).await?;
    tx::record_history(&mut txn, computer.id, sequence, kind, computer.collected_ms.unwrap_or(now), now, changed).await?;
    queue(&mut txn, &instance.id, computer.id, sequence, &item, now).await?;
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
            let Some(inventory) = computer.inventory.as_deref().and_then(|i| serde_json::from_str::<InventoryReport>(i).ok()) else {
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
                    Some(d) if u.delivery_state == "rejected" => format!("rejected: {d}"),
                    _ => u.delivery_state,
                },
                username: u.username,
                computer_azure_active_directory_id: u.aad_device_id,
                user_azure_active_directory_id: u.aad_user_id,
            })
            .collect(),
    })
}
