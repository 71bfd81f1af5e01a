//! What the agent on a Mac does with its instance: enrol, report inventory, post the
//! Entra IDs after Workplace Join, check in.

use wire::agent::{AadRegistration, ComputerCaView, Enroll, Enrolled, InventoryReport, LocalUserCa};

use crate::Shared;
use crate::domain::device_compliance;
use crate::domain::inventory::{Registered, ca_state, device_item, verdict_item};
use crate::domain::settings::status;
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

async fn integration_active(state: &Shared, instance: &InstanceRow) -> Result<bool> {
    let ca = state.store.ca(&instance.id).await?;
    Ok(ca.settings.enabled && ca.link_status == status::ACTIVE)
}

/// Builds the item for a computer's registered user, if it has one: its inventory for
/// Intune to evaluate, or (Device Compliance) only this instance's verdict, when the
/// computer is in the applicable group.
async fn item_for(state: &Shared, computer: &ComputerRow, inventory: &InventoryReport, now: i64) -> Result<Option<String>> {
    let users = state.store.local_users(computer.id).await?;
    let Some(user) = users.iter().find(|u| u.aad_device_id.is_some()) else { return Ok(None) };
    let registered = Registered {
        computer_id: computer.id,
        serial_number: &computer.serial_number,
        udid: &computer.udid,
        aad_device_id: user.aad_device_id.as_deref().unwrap_or_default(),
        aad_user_id: user.aad_user_id.as_deref().unwrap_or_default(),
        upn: user.upn.as_deref().unwrap_or_default(),
        state: ca_state(true, Some(now), now),
        last_checkin: Some(platform::clock::ms_to_rfc3339(now)),
    };
    let settings = state.store.ca(&computer.instance_id).await?.settings;
    let item = if settings.compliance_model == crate::domain::settings::MODEL_DEVICE_COMPLIANCE {
        match device_compliance::verdict(&settings.applicable_rule, &settings.compliance_rule, inventory, now) {
            Some(compliant) => verdict_item(inventory, &registered, compliant),
            None => return Ok(None),
        }
    } else {
        device_item(inventory, &registered)
    };
    Ok(Some(serde_json::to_string(&item).map_err(MdmError::internal)?))
}

/// Stores a full inventory report. A report older than the stored one is refused and
/// changes nothing; while the integration is on, a registered computer's report is
/// queued for the connector in the same transaction.
pub async fn submit_inventory(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, report: InventoryReport) -> Result<i64> {
    let collected = platform::clock::parse_rfc3339(&report.collected_at)
        .ok_or_else(|| MdmError::Invalid("collected_at must be an RFC 3339 date.".into()))?
        .timestamp_millis();
    bounded("device_name", &report.device_name, 255)?;
    bounded("os_version", &report.os_version, 32)?;
    if report.local_users.iter().any(|u| u.username.trim().is_empty() || u.username.len() > 255) {
        return Err(MdmError::Invalid("every local user needs a username of 1 to 255 characters.".into()));
    }
    if computer.collected_ms.is_some_and(|stored| stored > collected) {
        return Err(MdmError::Conflict("This report is older than the inventory already stored; it was not applied.".into()));
    }
    let now = state.clock.now_ms();
    let item = if integration_active(state, instance).await? { item_for(state, computer, &report, now).await? } else { None };
    let json = serde_json::to_string(&report).map_err(MdmError::internal)?;
    let mut txn = state.store.begin().await?;
    let sequence = tx::store_inventory(&mut txn, computer.id, &json, collected, &report.device_name, &report.model, now).await?;
    for u in &report.local_users {
        tx::upsert_local_user(&mut txn, computer.id, &u.username).await?;
    }
    if let Some(item) = item {
        tx::enqueue(&mut txn, &instance.id, computer.id, sequence, &item, now).await?;
        tx::set_delivery(&mut txn, computer.id, "queued", None).await?;
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
    // A registered computer reports its current state at once.
    if let Some(inventory) = computer.inventory.as_deref().and_then(|i| serde_json::from_str::<InventoryReport>(i).ok())
        && integration_active(state, instance).await?
        && let Some(item) = item_for(state, computer, &inventory, now).await?
    {
        let mut txn = state.store.begin().await?;
        let sequence = tx::store_inventory(
            &mut txn,
            computer.id,
            computer.inventory.as_deref().unwrap_or_default(),
            computer.collected_ms.unwrap_or(now),
            &computer.name,
            &computer.model,
            now,
        )
        .await?;
        tx::enqueue(&mut txn, &instance.id, computer.id, sequence, &item, now).await?;
        tx::set_delivery(&mut txn, computer.id, "queued", None).await?;
        txn.commit().await?;
        state.work.notify_one();
    }
    Ok(())
}

/// Queues the current state of every registered computer of the instance (a full
/// reconcile): after a connection turns Active, devices registered before it are known.
pub async fn reconcile(state: &Shared, instance: &InstanceRow) -> Result<usize> {
    let now = state.clock.now_ms();
    let (mut after, mut queued) = (0, 0);
    loop {
        let page = state.store.computers(&instance.id, "", after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for computer in &page {
            let Some(inventory) = computer.inventory.as_deref().and_then(|i| serde_json::from_str::<InventoryReport>(i).ok()) else {
                continue;
            };
            let Some(item) = item_for(state, computer, &inventory, computer.last_checkin_ms.unwrap_or(now)).await? else { continue };
            let mut txn = state.store.begin().await?;
            let sequence = tx::bump_sequence(&mut txn, computer.id).await?;
            tx::enqueue(&mut txn, &instance.id, computer.id, sequence, &item, now).await?;
            tx::set_delivery(&mut txn, computer.id, "queued", None).await?;
            txn.commit().await?;
            queued += 1;
        }
    }
    state.work.notify_one();
    Ok(queued)
}

pub async fn checkin(state: &Shared, computer: &ComputerRow) -> Result<()> {
    state.store.checkin(computer.id, state.clock.now_ms()).await
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
                conditional_access_inventory_state: ca_state(u.aad_device_id.is_some(), computer.last_checkin_ms, now).into(),
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
