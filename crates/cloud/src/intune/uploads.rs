//! `DataUploadMessages`: accepted synchronously after the acceptance rules of docs/microsoft-compatibility.md §6.3,
//! applied asynchronously by a worker that evaluates compliance and writes the result
//! through to the Entra device.

use std::collections::HashMap;

use wire::partner::{DeviceItem, ItemResult, ItemStatus, MessageStatus, UploadAccepted, UploadMessage, entity_type};

use crate::entra::tokens::AccessClaims;
use crate::error::{CloudError, Result};
use crate::intune::combine::{self, PolicyState};
use crate::intune::compliance::{self, ComplianceState, SettingResult};
use crate::intune::enforcement;
use crate::intune::partner::{self, PartnerState};
use crate::store::{DeviceRow, ManagedDeviceRow, Store, UploadRow, tx};
use wire::{DeviceId, TenantId};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Documented limits of one message.
pub const MAX_ITEMS_PER_MESSAGE: usize = 1000;
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Checks the message-level acceptance rules and queues the message.
pub async fn accept(
    store: &Store,
    tenant_id: &TenantId,
    claims: &AccessClaims,
    message_id: uuid::Uuid,
    body: &[u8],
    now_ms: i64,
) -> Result<UploadAccepted> {
    let app_id = authorize_partner(store, tenant_id, claims).await?;
    read_message(body, tenant_id)?;
    let digest = platform::secrets::digest_hex(std::str::from_utf8(body).unwrap_or_default());
    let row = UploadRow {
        message_id: message_id.to_string().into(),
        tenant_id: tenant_id.clone(),
        app_id,
        body_digest: digest.clone(),
        status: MessageStatus::Pending,
        body: String::from_utf8_lossy(body).into_owned(),
        item_results: None,
        error_code: 0,
        error_detail: None,
        received_ms: now_ms,
    };
    if !store.insert_upload(&row).await? {
        // A retried PUT of the same message is answered again. Other content under a used
        // ID is a new message once the earlier one is processed (the legacy integration
        // names every message after its tenant); while it is pending, a conflict.
        let existing = store.upload(tenant_id, &row.message_id).await?.ok_or_else(|| CloudError::internal("upload vanished"))?;
        if existing.body_digest != digest && !store.reuse_upload(&row).await? {
            return Err(CloudError::conflict(
                "MessageIdConflict",
                format!("Message {message_id} is still being processed with other content; upload under a new ID."),
            ));
        }
    }
    Ok(UploadAccepted { tenant_id: tenant_id.into(), message_id: message_id.to_string().into(), error_code: 0, error_detail: None })
}

/// Reads an upload message's body as the partner service takes it: at most
/// [`MAX_BODY_BYTES`] bytes, a `DataUploadMessage` (Intune partner device data sync: the
/// items as an array or as a string holding one) for `tenant_id`, at most
/// [`MAX_ITEMS_PER_MESSAGE`] items. Errors: 413 (`RequestEntityTooLarge`,
/// `TooManyItems`), 400 (not a message), 403 (another tenant's).
pub fn read_message(body: &[u8], tenant_id: &TenantId) -> Result<UploadMessage> {
    if body.len() > MAX_BODY_BYTES {
        return Err(CloudError::too_large("RequestEntityTooLarge", format!("An upload message may carry at most {MAX_BODY_BYTES} bytes.")));
    }
    // Read as JSON Schema reads it: a whole float (`8.0`) is an integer.
    let message: UploadMessage =
        platform::http::json_object(body).map_err(|e| CloudError::bad_request(format!("The upload message is not valid: {e}")))?;
    if !message.tenant_id.eq_ignore_ascii_case(tenant_id) {
        // Authenticated, but writing for a tenant the token and endpoint are not: as a key
        // naming another tenant in the tenant data sync service.
        return Err(CloudError::forbidden(format!(
            "TenantId {} does not match the tenant {tenant_id} of this endpoint.",
            message.tenant_id
        )));
    }
    if message.content.len() > MAX_ITEMS_PER_MESSAGE {
        return Err(CloudError::too_large(
            "TooManyItems",
            format!("An upload message may carry at most {MAX_ITEMS_PER_MESSAGE} items; this one has {}.", message.content.len()),
        ));
    }
    Ok(message)
}

/// The rules every partner-service call shares: the token is for this tenant, carries
/// `update_device_attributes`, and comes from the App ID configured in Partner device
/// management. Returns that App ID.
pub async fn authorize_partner(store: &Store, tenant_id: &TenantId, claims: &AccessClaims) -> Result<String> {
    let (app_id, is_terminated) = check_partner(store, tenant_id, claims).await?;
    if is_terminated {
        return Err(terminated());
    }
    Ok(app_id)
}

/// The answer to a terminated partner: a distinct code so the partner can tell it apart.
pub fn terminated() -> CloudError {
    CloudError::refused("PartnerTerminated", "The partner connection was terminated in Intune. Provision the tenant again to resume.")
}

/// As [`authorize_partner`], but a terminated partner may still provision itself again
/// (a new connection inside the 24-hour window keeps the devices).
pub async fn authorize_partner_allowing_terminated(store: &Store, tenant_id: &TenantId, claims: &AccessClaims) -> Result<String> {
    Ok(check_partner(store, tenant_id, claims).await?.0)
}

/// Intune permissions a device management partner (Partner device management) holds.
const DEVICE_PARTNER_ROLES: [&str; 2] = [wire::ids::ROLE_UPDATE_DEVICE_ATTRIBUTES, "send_data_to_microsoft_intune"];
/// ... and a compliance partner (Partner compliance management), which may hold only
/// `manage_partner_compliance_policy`.
const COMPLIANCE_PARTNER_ROLES: [&str; 3] =
    [wire::ids::ROLE_UPDATE_DEVICE_ATTRIBUTES, "send_data_to_microsoft_intune", "manage_partner_compliance_policy"];

async fn check_partner(store: &Store, tenant_id: &TenantId, claims: &AccessClaims) -> Result<(String, bool)> {
    if !claims.tid.eq_ignore_ascii_case(tenant_id) {
        return Err(CloudError::forbidden("The token was issued for another tenant."));
    }
    let app_id = claims.appid.clone().unwrap_or_default();
    if let Some(partner) = store.partner(tenant_id).await?
        && partner.app_id.as_deref() == Some(app_id.as_str())
    {
        if !claims.has_role(&DEVICE_PARTNER_ROLES) {
            return Err(CloudError::forbidden("The application lacks the Intune permission update_device_attributes."));
        }
        return Ok((app_id, partner.partner_state == PartnerState::Terminated));
    }
    if let Some(c) = crate::intune::compliance_partners::onboarded(store, tenant_id, &app_id).await? {
        if !claims.has_role(&COMPLIANCE_PARTNER_ROLES) {
            return Err(CloudError::forbidden("The application lacks the Intune permission manage_partner_compliance_policy."));
        }
        return Ok((app_id, c.partner_state == PartnerState::Terminated));
    }
    if !claims.has_role(&COMPLIANCE_PARTNER_ROLES) {
        return Err(CloudError::forbidden("The application lacks the Intune permission update_device_attributes."));
    }
    Err(CloudError::forbidden(format!(
        "Application {app_id} is neither the App ID configured in Partner device management nor an onboarded compliance partner."
    )))
}

/// Applies every pending message; returns how many were processed.
pub async fn process_pending(store: &Store, now_ms: i64, config: &crate::CloudConfig) -> Result<usize> {
    let pending = store.pending_uploads(64).await?;
    for message in &pending {
        if config.null_sink {
            accept_at_once(store, message, now_ms).await?;
        } else {
            apply(store, message, now_ms, config.no_policy_is_compliant).await?;
        }
    }
    Ok(pending.len())
}

/// The null sink's processing ([`crate::CloudConfig::null_sink`]): every device of the
/// message accepted, as it is, and the message completed.
async fn accept_at_once(store: &Store, message: &UploadRow, now_ms: i64) -> Result<()> {
    let body: UploadMessage = platform::http::json_object(message.body.as_bytes()).map_err(CloudError::internal)?;
    let results: Vec<ItemResult> = body
        .content
        .iter()
        .map(|i| ItemResult {
            device_id: i.device_id.to_lowercase(),
            status: ItemStatus::Accepted,
            error_code: None,
            error_detail: None,
            compliance_state: None,
            compliance_reasons: vec![],
        })
        .collect();
    let mut conn = store.db.pool.acquire().await?;
    let results = serde_json::to_string(&results).unwrap_or_default();
    tx::finish_upload(&mut conn, message, MessageStatus::Completed, &results, 0, None, now_ms).await
}

pub(super) struct Planned {
    pub(super) result: ItemResult,
    pub(super) write: Option<(ManagedDeviceRow, Option<bool>)>,
    /// The partner no longer manages this device: it leaves Intune.
    withdraw: Option<DeviceId>,
}

async fn apply(store: &Store, message: &UploadRow, now_ms: i64, no_policy_is_compliant: bool) -> Result<()> {
    // Read as `read_message` read it when it was taken (whole floats are integers).
    let body: UploadMessage = match platform::http::json_object(message.body.as_bytes()) {
        Ok(b) => b,
        Err(e) => {
            let mut conn = store.db.pool.acquire().await?;
            return tx::finish_upload(&mut conn, message, MessageStatus::Failed, "[]", 400, Some(&e.to_string()), now_ms).await;
        }
    };
    // Reads first, a few per message rather than per item; writes in one short
    // transaction: keeps SQLite's single writer free.
    let known = Known::read(store, &message.tenant_id, &body.content).await?;
    let mut latest: HashMap<DeviceId, i64> = HashMap::new();
    let mut planned = Vec::with_capacity(body.content.len());
    let cx = Context::read(store, &message.tenant_id, no_policy_is_compliant, now_ms).await?;
    for item in &body.content {
        planned.push(plan_item(message, item, &known, &mut latest, &cx));
    }
    let results: Vec<ItemResult> = planned.iter().map(|p| p.result.clone()).collect();
    let mut txn = store.begin().await?;
    for p in &planned {
        if let Some((row, compliant)) = &p.write {
            tx::upsert_managed_device(&mut txn, row).await?;
            tx::set_device_compliance(&mut txn, &row.device_id, *compliant, &message.app_id, now_ms).await?;
        }
        if let Some(device_id) = &p.withdraw {
            tx::withdraw_device(&mut txn, device_id, now_ms).await?;
        }
    }
    let results = serde_json::to_string(&results).unwrap_or_default();
    tx::finish_upload(&mut txn, message, MessageStatus::Completed, &results, 0, None, now_ms).await?;
    txn.commit().await?;
    // A message whose every item was refused turns the partner Rejected; an accepted one
    // brings it back to Active.
    let rejected = planned.iter().filter(|p| p.result.status == ItemStatus::Rejected).count();
    if !planned.is_empty()
        && let Some(mut p) = store.partner(&message.tenant_id).await?.filter(|p| p.app_id.as_deref() == Some(message.app_id.as_str()))
        && partner::messages_processed(&mut p, rejected == planned.len(), now_ms)
    {
        store.save_partner(&p).await?;
    }
    Ok(())
}

fn rejected(device_id: &DeviceId, code: &str, detail: String) -> Planned {
    let result = ItemResult {
        device_id: device_id.clone(),
        status: ItemStatus::Rejected,
        error_code: Some(code.into()),
        error_detail: Some(detail),
        ..Default::default()
    };
    Planned { result, write: None, withdraw: None }
}

/// What the cloud knows of a message's devices and users, read before planning.
pub(super) struct Known {
    devices: HashMap<DeviceId, DeviceRow>,
    managed: HashMap<DeviceId, ManagedDeviceRow>,
    /// Users without an entry have no policy assigned.
    policies: HashMap<String, Vec<combine::Assigned>>,
}

impl Known {
    /// The Entra devices, managed devices and users' policies `items` name, in a few reads.
    pub(super) async fn read(store: &Store, tenant_id: &TenantId, items: &[DeviceItem]) -> Result<Known> {
        let ids: Vec<DeviceId> = items.iter().map(|i| i.device_id.to_lowercase()).collect();
        let users: Vec<String> = items
            .iter()
            .map(|i| i.user_id.clone())
            .filter(|u| !u.is_empty())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let policies = store.policies_for_users(tenant_id, &users).await?.into_iter().map(|(user, rows)| {
            let assigned = rows.into_iter().map(|(r, e)| (r.id, serde_json::from_str(&r.settings).unwrap_or_default(), e)).collect();
            (user, assigned)
        });
        Ok(Known {
            devices: store.devices_by_ids(tenant_id, &ids).await?,
            managed: store.managed_devices_by_ids(&ids).await?,
            policies: policies.collect(),
        })
    }

    /// The Entra device of `device_id`, when the tenant has it.
    pub(super) fn device(&self, device_id: &DeviceId) -> Option<&DeviceRow> {
        self.devices.get(device_id)
    }
}

/// The tenant's evaluation settings and the time, the same for every item of a message.
pub(super) struct Context {
    now_ms: i64,
    no_policy_is_compliant: bool,
    validity_days: i64,
}

impl Context {
    /// The tenant's settings (`no_policy_is_compliant` is the service's default for a
    /// tenant that set none), read once per message.
    pub(super) async fn read(store: &Store, tenant_id: &TenantId, no_policy_is_compliant: bool, now_ms: i64) -> Result<Context> {
        let (no_policy_is_compliant, validity_days) = store.compliance_settings(tenant_id, no_policy_is_compliant).await?;
        Ok(Context { now_ms, no_policy_is_compliant, validity_days })
    }
}

/// The date a partner gave a state, judged against the service's clock: a date further
/// ahead than the allowed skew is refused (it would make every later, honest state of
/// the device look older), one ahead within it is taken as now.
fn observed_ms(item: &DeviceItem, now_ms: i64) -> Result<i64, Refusal> {
    let Some(updated) = platform::clock::parse_rfc3339(&item.last_update_time) else {
        return Err(Refusal("InvalidLastUpdateTime", "LastUpdateTime must be an RFC 3339 date.".into()));
    };
    platform::clock::reported_time(updated.timestamp_millis(), now_ms).map_err(|ahead| {
        let detail = format!(
            "LastUpdateTime {} is {} ahead of the service's clock; date a state when it was observed.",
            item.last_update_time,
            platform::clock::describe_ms(ahead)
        );
        Refusal("LastUpdateTimeInFuture", detail)
    })
}

/// The checks an item passes before anything is looked up: its tenant, its date (the
/// date is the answer), its entity type and, for a managed device's inventory, its
/// Exchange ActiveSync IDs (if only an empty list; a withdrawal need not name them).
fn well_formed(message: &UploadRow, item: &DeviceItem, cx: &Context) -> Result<i64, Refusal> {
    if !item.tenant_id.eq_ignore_ascii_case(&message.tenant_id) {
        return Err(Refusal("TenantMismatch", "The item names another tenant.".into()));
    }
    let updated_ms = observed_ms(item, cx.now_ms)?;
    if ![entity_type::LEGACY_INVENTORY, entity_type::INVENTORY, entity_type::COMPLIANCE].contains(&item.entity_type) {
        return Err(Refusal("UnknownEntityType", format!("EntityType {} is not supported.", item.entity_type)));
    }
    if item.entity_type == entity_type::INVENTORY && is_managed(item) && item.eas_ids.is_none() {
        return Err(Refusal("MissingEasIds", "EntityType 1 requires EasIds (an empty list when the device has none).".into()));
    }
    Ok(updated_ms)
}

/// One sentence per setting not met, and the note; two policies requiring one thing
/// give one sentence.
fn reasons(results: &[SettingResult], note: Option<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for reason in results.iter().filter_map(SettingResult::reason).chain(note) {
        if !out.contains(&reason) {
            out.push(reason);
        }
    }
    out
}

/// An EntityType 1 item of a device the partner manages (`DeviceManagementState`
/// `managed`, or none given).
fn is_managed(item: &DeviceItem) -> bool {
    item.device_management_state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("managed"))
}

/// The partner decided compliance itself: EntityType 4, or EntityType 1 with its verdict.
fn carries_verdict(item: &DeviceItem) -> bool {
    item.entity_type == entity_type::COMPLIANCE || (item.entity_type == entity_type::INVENTORY && item.compliance_status.is_some())
}

/// Why an item is refused: its error code and detail.
struct Refusal(&'static str, String);

pub(super) fn plan_item(
    message: &UploadRow,
    item: &DeviceItem,
    known: &Known,
    latest: &mut HashMap<DeviceId, i64>,
    cx: &Context,
) -> Planned {
    let device_id = item.device_id.to_lowercase();
    let updated_ms = match well_formed(message, item, cx) {
        Ok(ms) => ms,
        Err(Refusal(code, detail)) => return rejected(&device_id, code, detail),
    };
    let Some(device) = known.devices.get(&device_id) else {
        return rejected(&device_id, "DeviceNotFound", "No Entra device with this ID is registered in the tenant.".into());
    };
    let previous = known.managed.get(&device_id);
    // A stored date ahead of the clock came from a partner's wrong clock before such
    // dates were refused: it orders nothing.
    let stored_ms = previous.map(|m| m.partner_update_ms).filter(|ms| platform::clock::reported_time(*ms, cx.now_ms).is_ok());
    if latest.get(&device_id).copied().or(stored_ms).is_some_and(|s| s > updated_ms) {
        let result = ItemResult {
            device_id,
            status: ItemStatus::Stale,
            error_detail: Some("A newer state of this device is already stored; this one was not applied.".into()),
            ..Default::default()
        };
        return Planned { result, write: None, withdraw: None };
    }
    latest.insert(device_id.clone(), updated_ms);
    let accepted = ItemResult { device_id: device_id.clone(), status: ItemStatus::Accepted, ..Default::default() };
    // EntityType 1 is the partner's inventory: a device it no longer manages leaves
    // Intune; a managed one is noted, and decides compliance only when it carries the
    // partner's verdict (complianceStatus), as EntityType 4 does.
    if item.entity_type == entity_type::INVENTORY && (!is_managed(item) || item.compliance_status.is_none()) {
        return Planned { result: accepted, write: None, withdraw: (!is_managed(item)).then_some(device_id) };
    }
    let Decision { verdict, results: setting_results, policies, note } = match decide(item, previous, known, cx, updated_ms) {
        Ok(decided) => decided,
        Err(Refusal(code, detail)) => return rejected(&device_id, code, detail),
    };
    let compliant = verdict.is_compliant();
    let reasons = reasons(&combine::enforced_results(&setting_results, &policies), note);
    let row = ManagedDeviceRow {
        id: device.id.clone(),
        tenant_id: message.tenant_id.clone(),
        device_id: device_id.clone(),
        user_id: item.user_id.clone(),
        device_name: item.device_name.clone(),
        os_version: item.os_version.clone(),
        serial_number: item.serial_number.clone(),
        compliance_state: verdict.state,
        attributes: serde_json::to_string(item).unwrap_or_default(),
        setting_results: serde_json::to_string(&setting_results).unwrap_or_default(),
        partner_update_ms: updated_ms,
        last_sync_ms: cx.now_ms,
        noncompliant_since_ms: verdict.noncompliant_since_ms,
        error_since_ms: verdict.error_since_ms,
        grace_expires_ms: verdict.grace_expires_ms,
        policy_states: serde_json::to_string(&policies).unwrap_or_default(),
        enrolled_ms: Some(cx.now_ms),
        // A compliance partner's verdict alone does not make the Mac an Intune device.
        verdict_only: (carries_verdict(item) && previous.is_none_or(|m| m.verdict_only != 0)) as i64,
        valid_until_ms: Some(updated_ms + cx.validity_days * DAY_MS),
    };
    let result = ItemResult {
        compliance_state: Some(verdict.state.to_string()),
        compliance_reasons: if verdict.state == ComplianceState::Compliant { vec![] } else { reasons },
        ..accepted
    };
    Planned { result, write: Some((row, compliant)), withdraw: None }
}

/// A device's new state, the per-setting and per-policy results behind it, and a reason
/// no setting gives (the validity period, no policy, the partner's verdict).
struct Decision {
    verdict: compliance::Verdict,
    results: Vec<SettingResult>,
    policies: Vec<PolicyState>,
    note: Option<String>,
}

/// The device's compliance state from an item: the partner's own verdict (EntityType
/// 4), not evaluated (a userless Mac), or its user's policies evaluated against what the
/// item reports, with the validity period applied.
fn decide(
    item: &DeviceItem,
    previous: Option<&ManagedDeviceRow>,
    known: &Known,
    cx: &Context,
    updated_ms: i64,
) -> Result<Decision, Refusal> {
    let before = compliance::Previous {
        state: previous.map(|m| m.compliance_state),
        noncompliant_since_ms: previous.and_then(|m| m.noncompliant_since_ms),
        error_since_ms: previous.and_then(|m| m.error_since_ms),
    };
    let plain = |verdict, note: Option<&str>| Decision { verdict, results: vec![], policies: vec![], note: note.map(str::to_string) };
    let mut decision = if carries_verdict(item) {
        match item.compliance_status {
            Some(c) => plain(compliance::Verdict::decided(c), (!c).then_some("The compliance partner reported the device not compliant.")),
            None => return Err(Refusal("MissingComplianceStatus", "EntityType 4 requires complianceStatus.".into())),
        }
    } else if item.user_id.is_empty() {
        // Userless Macs are not evaluated: policies apply through user groups only.
        plain(compliance::Verdict::decided_unknown(), Some("A Mac without a user is not evaluated."))
    } else {
        let user_policies: &[combine::Assigned] = known.policies.get(&item.user_id).map(Vec::as_slice).unwrap_or_default();
        let no_policy = |note_policies: Vec<PolicyState>, results: Vec<SettingResult>| {
            let note = (!cx.no_policy_is_compliant)
                .then(|| "No compliance policy is enforced, and the tenant marks such devices not compliant.".to_string());
            Decision { verdict: compliance::Verdict::decided(cx.no_policy_is_compliant), results, policies: note_policies, note }
        };
        if user_policies.is_empty() {
            no_policy(vec![], vec![])
        } else {
            let stored: Vec<PolicyState> = previous.map(|m| serde_json::from_str(&m.policy_states).unwrap_or_default()).unwrap_or_default();
            let e = combine::evaluate_all(user_policies, item, &stored, &before, cx.now_ms);
            // Report-only policies keep their results for the admin; they give no reason.
            let warned = e.warned_until_ms();
            match e.verdict {
                // Every policy is report only: as a device without a policy.
                None => no_policy(e.policies, e.results),
                Some(verdict) => {
                    // Warned users are told when the device really lapses: the end of its
                    // grace period, which a blocking policy's own may bring forward.
                    let lapses = verdict.grace_expires_ms.filter(|_| warned.is_some() && verdict.state == ComplianceState::InGracePeriod);
                    Decision { verdict, results: e.results, policies: e.policies, note: lapses.map(enforcement::deadline_sentence) }
                }
            }
        }
    };
    // A state collected longer ago than the validity period is not a report within it,
    // even when a partner sends it again (a reconcile, an unresponsive Mac).
    if decision.verdict.is_compliant() == Some(true) && updated_ms < cx.now_ms - cx.validity_days * DAY_MS {
        decision.verdict = compliance::Verdict::decided(false);
        decision.note = Some(format!("The last report is older than the compliance status validity period ({} days).", cx.validity_days));
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "tenant";
    const DEVICE: &str = "9b0e2a40-0000-4000-8000-000000000001";
    const NOW: i64 = 1_790_000_000_000;

    fn known(stored_update_ms: Option<i64>) -> Known {
        let device = DeviceRow {
            id: "object".into(),
            tenant_id: TENANT.into(),
            device_id: DEVICE.into(),
            display_name: "Mac".into(),
            owner_user_id: "user".into(),
            operating_system: "MacMDM".into(),
            os_version: "15.7.9".into(),
            public_key: String::new(),
            certificate_thumbprint: String::new(),
            is_compliant: None,
            is_managed: 0,
            mdm_app_id: None,
            registered_ms: 0,
            compliance_updated_ms: None,
            last_sign_in_ms: None,
            account_enabled: 1,
        };
        let managed = stored_update_ms.map(|ms| ManagedDeviceRow {
            id: "object".into(),
            tenant_id: TENANT.into(),
            device_id: DEVICE.into(),
            user_id: "user".into(),
            device_name: None,
            os_version: None,
            serial_number: None,
            compliance_state: ComplianceState::Compliant,
            attributes: "{}".into(),
            setting_results: "[]".into(),
            partner_update_ms: ms,
            last_sync_ms: NOW - 1000,
            noncompliant_since_ms: None,
            error_since_ms: None,
            grace_expires_ms: None,
            policy_states: "[]".into(),
            enrolled_ms: Some(ms),
            verdict_only: 0,
            valid_until_ms: None,
        });
        Known {
            devices: HashMap::from([(DEVICE.into(), device)]),
            managed: managed.into_iter().map(|m| (DEVICE.into(), m)).collect(),
            policies: HashMap::new(),
        }
    }

    fn plan(known: &Known, at: &str) -> Planned {
        let message = UploadRow {
            message_id: "m".into(),
            tenant_id: TENANT.into(),
            app_id: "app".into(),
            body_digest: String::new(),
            status: MessageStatus::Pending,
            body: String::new(),
            item_results: None,
            error_code: 0,
            error_detail: None,
            received_ms: NOW,
        };
        let item = DeviceItem {
            entity_type: entity_type::LEGACY_INVENTORY,
            tenant_id: TENANT.into(),
            device_id: DEVICE.into(),
            user_id: "user".into(),
            last_update_time: at.into(),
            encrypted: Some(true),
            ..Default::default()
        };
        let cx = Context { now_ms: NOW, no_policy_is_compliant: true, validity_days: 30 };
        plan_item(&message, &item, known, &mut HashMap::new(), &cx)
    }

    #[test]
    fn a_partner_date_ahead_of_the_clock_is_refused_or_taken_as_now() {
        let refused = plan(&known(None), "2099-01-01T00:00:00Z").result;
        assert_eq!((&refused.status, refused.error_code.as_deref()), (&ItemStatus::Rejected, Some("LastUpdateTimeInFuture")));
        assert!(refused.error_detail.unwrap().contains("ahead of the service's clock"));
        let near = plan(&known(None), &platform::clock::ms_to_rfc3339(NOW + 60_000));
        assert_eq!(near.result.status, ItemStatus::Accepted);
        assert_eq!(near.write.unwrap().0.partner_update_ms, NOW, "a little ahead: dated when applied");
    }

    #[test]
    fn a_stored_date_ahead_of_the_clock_orders_nothing() {
        let honest = platform::clock::ms_to_rfc3339(NOW - 60_000);
        // Stored before such dates were refused: a year ahead.
        assert_eq!(plan(&known(Some(NOW + 365 * 86_400_000)), &honest).result.status, ItemStatus::Accepted);
        // A genuinely newer state stored: the older one is Stale, and says why.
        let stale = plan(&known(Some(NOW - 1000)), &honest).result;
        assert_eq!(stale.status, ItemStatus::Stale);
        assert!(stale.error_detail.unwrap().contains("newer state"));
    }
}
