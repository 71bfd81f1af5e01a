//! Importing a Jamf Pro inventory: pages of `GET /api/v1/computers-inventory` taken in
//! through the same normalisation as an agent's reports. A computer is created (or
//! found by its UDID), its report stored, its Entra registrations kept, and, while the
//! integration is on, its registered users' items are queued like any report's. A record
//! that cannot be read is refused on its own, with its reason; the others are kept.

use platform::problem::Refuse;
use serde::Serialize;
use serde_json::Value;

use crate::Shared;
use crate::agent::{Source, apply};
use crate::domain::jamf::{self, JamfComputer};
use crate::domain::normalize::{self, account_key};
use crate::error::{MdmError, Result};
use crate::store::{ComputerRow, InstanceRow, Registration, tx};

/// Most records one page may carry (Jamf Pro's largest `page-size` here).
pub const MAX_RECORDS: usize = 2000;

/// What became of a page.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    /// Records older than the inventory already stored (a Mac that reported since).
    pub unchanged: usize,
    /// Entra registrations found in the records' local user accounts.
    pub registrations: usize,
    pub refused: Vec<RefusedRecord>,
    /// Informational values dropped, one sentence each, prefixed by the record.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefusedRecord {
    /// Position in the page's `results`.
    pub index: usize,
    /// Jamf Pro's ID of the record, when it has one.
    pub id: Option<String>,
    pub reason: String,
}

/// Imports one page into `instance`, logging the import in the change-management log.
pub async fn page(state: &Shared, instance: &InstanceRow, page: &Value, admin: &str) -> Result<ImportSummary> {
    let records = jamf::records(page).map_err(MdmError::invalid)?;
    if records.len() > MAX_RECORDS {
        return Err(MdmError::invalid(format!("A page may hold at most {MAX_RECORDS} computers; this one holds {}.", records.len())));
    }
    let mut summary = ImportSummary::default();
    for (index, record) in records.iter().enumerate() {
        let id = record.get("id").map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        if let Err(reason) = one(state, instance, record, &mut summary).await {
            summary.refused.push(RefusedRecord { index, id, reason });
        }
    }
    let details = format!(
        "Jamf Pro inventory page: {} created, {} updated, {} unchanged, {} refused, {} Entra registrations",
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.refused.len(),
        summary.registrations
    );
    state.store.log_change(&instance.id, state.clock.now_ms(), admin, "Computers", "Jamf Pro import", "Imported", &details).await?;
    Ok(summary)
}

/// Imports one record; `Err` is the reason it was refused.
async fn one(state: &Shared, instance: &InstanceRow, record: &Value, summary: &mut ImportSummary) -> std::result::Result<(), String> {
    let now = state.clock.now_ms();
    let computer = jamf::computer(record).map_err(|e| e.to_string())?;
    let defaults = normalize::Defaults { device_name: &computer.serial_number, model: "Mac" };
    let mut normalized = normalize::report(computer.report.clone(), now, &defaults).map_err(|e| e.to_string())?;
    let label = format!("{} ({})", normalized.report.device_name, computer.udid);
    summary.warnings.extend(normalized.warnings.drain(..).map(|w| format!("{label}: {w}")));
    let (row, created) = stored_computer(state, instance, &computer, &normalized.report).await.map_err(|e| e.to_string())?;
    // A record older than what the Mac reported since changes nothing, its Entra
    // registrations included (the agent's are newer).
    let stored = row.collected_ms.filter(|ms| *ms <= now);
    if stored.is_some_and(|ms| ms > normalized.collected_ms) {
        summary.unchanged += 1;
        return Ok(());
    }
    let new_registrations = register(state, &row, &computer.registrations, now).await.map_err(|e| e.to_string())?;
    summary.registrations += computer.registrations.len();
    if !created && new_registrations == 0 && stored == Some(normalized.collected_ms) {
        summary.unchanged += 1;
        return Ok(());
    }
    // The stored row again: its registrations are what the items are built from.
    let row = state.store.computer(&instance.id, row.id).await.map_err(|e| e.to_string())?.ok_or("the computer vanished")?;
    // Jamf Pro's last contact, unless the Mac has checked in with this server since.
    let contact = computer.last_contact_ms.unwrap_or(normalized.collected_ms).min(now);
    let last_checkin = if created { contact } else { row.last_checkin_ms.map_or(contact, |c| c.max(contact)) };
    match apply(state, instance, &row, normalized, Source { kind: "import", last_checkin }).await {
        Ok(_) if created => summary.created += 1,
        Ok(_) => summary.updated += 1,
        Err(MdmError::Refused(platform::problem::Refusal::Conflict(_))) => summary.unchanged += 1,
        Err(e) => return Err(e.to_string()),
    }
    Ok(())
}

/// The computer with the record's UDID, enrolled without an agent credential when new
/// (its agent enrolling later takes the record over). Returns it and whether it is new.
async fn stored_computer(
    state: &Shared,
    instance: &InstanceRow,
    c: &JamfComputer,
    report: &wire::agent::InventoryReport,
) -> Result<(ComputerRow, bool)> {
    if let Some(row) = state.store.computer_by_udid(&instance.id, &c.udid).await? {
        return Ok((row, false));
    }
    // A credential nobody holds: only the Mac's own enrolment gives it one.
    let unusable = platform::secrets::digest_hex(&platform::secrets::random_token(32));
    let now = state.clock.now_ms();
    let id =
        state.store.enroll_computer(&instance.id, &c.udid, &c.serial_number, &report.device_name, &report.model, &unusable, now).await?;
    let row = state.store.computer(&instance.id, id).await?.ok_or_else(|| MdmError::internal("the imported computer vanished"))?;
    Ok((row, true))
}

/// Keeps the records' Entra registrations; returns how many were new.
async fn register(state: &Shared, computer: &ComputerRow, registrations: &[jamf::JamfRegistration], now: i64) -> Result<usize> {
    if registrations.is_empty() {
        return Ok(0);
    }
    let mut new = 0;
    let known = state.store.local_users(computer.id).await?;
    let mut txn = state.store.begin().await?;
    for r in registrations {
        let (device, user, key) = (r.aad_device_id.to_ascii_lowercase(), r.aad_user_id.to_ascii_lowercase(), account_key(&r.username));
        // The same registration imported again keeps its delivery state.
        if known.iter().any(|u| account_key(&u.username) == key && u.aad_device_id.as_deref() == Some(device.as_str())) {
            continue;
        }
        let registration = Registration { aad_device_id: &device, aad_user_id: &user, upn: r.upn.as_deref() };
        tx::register_user(&mut txn, computer.id, &r.username, &registration, now).await?;
        new += 1;
    }
    txn.commit().await?;
    Ok(new)
}
