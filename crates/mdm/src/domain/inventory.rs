//! What a computer's inventory means for Conditional Access: the inventory state of its
//! users and the item handed to the connector.

use wire::agent::InventoryReport;
use wire::partner::{DeviceItem, entity_type};
use wire::{DeviceId, TenantId};

/// A computer that has not checked in for this long is UNRESPONSIVE (docs/operations.md, Clocks).
pub const UNRESPONSIVE_AFTER_MS: i64 = 24 * 3600 * 1000;

/// The Conditional Access inventory state of a local user: UNKNOWN until registered,
/// DEACTIVATED once removed from the computer, UNRESPONSIVE after 24 hours without a
/// check-in, ACTIVATED otherwise.
pub fn ca_state(registered: bool, removed: bool, last_checkin_ms: Option<i64>, now_ms: i64) -> &'static str {
    if !registered {
        return "UNKNOWN";
    }
    if removed {
        return "DEACTIVATED";
    }
    match last_checkin_ms {
        Some(t) if now_ms - t <= UNRESPONSIVE_AFTER_MS => "ACTIVATED",
        _ => "UNRESPONSIVE",
    }
}

/// The wire value of the state (`State`): 0 activated, 1 deactivated, 2 unresponsive.
pub fn state_code(state: &str) -> i32 {
    match state {
        "ACTIVATED" => 0,
        "DEACTIVATED" => 1,
        _ => 2,
    }
}

/// The key of one registered user's device record at the connector: the computer and
/// the user's Entra device (`17/3f2c…`); outcomes come back under it.
pub fn record_key(computer_id: i64, device_id: Option<&DeviceId>) -> String {
    match device_id {
        Some(device) => format!("{computer_id}/{device}"),
        None => computer_id.to_string(),
    }
}

/// The computer and (when named) the Entra device of a record key.
pub fn parse_record_key(key: &str) -> Option<(i64, Option<&str>)> {
    match key.split_once('/') {
        Some((computer, device)) => Some((computer.parse().ok()?, Some(device).filter(|d| !d.is_empty()))),
        None => Some((key.parse().ok()?, None)),
    }
}

pub struct Registered<'a> {
    pub computer_id: i64,
    pub serial_number: &'a str,
    pub udid: &'a str,
    pub aad_device_id: &'a str,
    pub aad_user_id: &'a str,
    pub upn: &'a str,
    pub state: &'a str,
    pub last_checkin: Option<String>,
    /// When the state was observed (the stored collection date, never ahead of receipt).
    pub collected_at: String,
}

/// The legacy inventory item for one registered user's Entra device: compliance and
/// hardware attributes. A value the Mac did not collect (SIP or Gatekeeper
/// `NOT_COLLECTED`) is left out, so Intune treats the setting as not applicable.
pub fn device_item(inv: &InventoryReport, r: &Registered) -> DeviceItem {
    let (s, p) = (&inv.security, &inv.password_policy);
    DeviceItem {
        entity_type: entity_type::LEGACY_INVENTORY,
        tenant_id: TenantId::default(),
        device_id: r.aad_device_id.into(),
        user_id: r.aad_user_id.to_string(),
        last_update_time: r.collected_at.clone(),
        encrypted: Some(inv.boot_volume_encrypted()),
        gatekeeper: s.gatekeeper.partner_value().map(str::to_string),
        sip: s.sip.partner_value().map(str::to_string),
        prevent_auto_login: Some(s.prevent_auto_login),
        passcode_length: p.min_length.map(|n| n.to_string()),
        minimum_password_char_sets: p.min_complex_characters.map(|n| n.to_string()),
        password_expiration_days: p.max_age_days.map(|n| n.to_string()),
        password_type: p.require_alphanumeric.map(|a| if a { "alphanumeric" } else { "simple" }.to_string()),
        password_history_length: p.history_depth.map(|n| n.to_string()),
        firewall_enabled: Some(s.firewall_enabled),
        firewall_block_all_incoming: Some(s.firewall_block_all_incoming),
        firewall_stealth_mode: Some(s.firewall_stealth_mode),
        device_name: Some(inv.device_name.clone()),
        serial_number: Some(r.serial_number.to_string()),
        udid: Some(r.udid.to_string()),
        os: Some(inv.os_name.clone()),
        os_version: Some(inv.os_version.clone()),
        os_build: Some(inv.os_build.clone()),
        model: Some(inv.model.clone()),
        mac_address: inv.hardware.mac_address.clone(),
        jamf_id: Some(r.computer_id),
        state: Some(state_code(r.state)),
        upn: (!r.upn.is_empty()).then(|| r.upn.to_string()),
        last_check_in_time: r.last_checkin.clone(),
        ..Default::default()
    }
}

/// The partner's own verdict (EntityType 4, the Device Compliance model), dated when the
/// instance decided it: membership can change with time alone (days since inventory).
pub fn verdict_item(r: &Registered, compliant: bool, decided_at: String) -> DeviceItem {
    DeviceItem {
        entity_type: entity_type::COMPLIANCE,
        tenant_id: TenantId::default(),
        device_id: r.aad_device_id.into(),
        user_id: r.aad_user_id.to_string(),
        last_update_time: decided_at,
        compliance_status: Some(compliant),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_turn_unresponsive_after_a_day_without_check_in() {
        assert_eq!(ca_state(false, false, Some(0), 0), "UNKNOWN");
        assert_eq!(ca_state(true, false, Some(0), UNRESPONSIVE_AFTER_MS), "ACTIVATED");
        assert_eq!(ca_state(true, false, Some(0), UNRESPONSIVE_AFTER_MS + 1), "UNRESPONSIVE");
        assert_eq!(ca_state(true, true, Some(0), 0), "DEACTIVATED");
        assert_eq!(state_code("DEACTIVATED"), 1);
    }

    #[test]
    fn record_keys_name_the_registration() {
        let key = record_key(17, Some(&"3f2c0000-0000-0000-0000-000000000001".into()));
        assert_eq!(parse_record_key(&key), Some((17, Some("3f2c0000-0000-0000-0000-000000000001"))));
        assert_eq!(parse_record_key("17"), Some((17, None)));
        assert_eq!(parse_record_key("withdraw:abc"), None);
    }
}
