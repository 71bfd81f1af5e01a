//! Partner device management (docs/operations.md, Clocks): the partner state machine and its clocks.

use chrono::Duration;

use crate::store::PartnerRow;
use wire::TenantId;

/// `deviceManagementPartnerTenantState` as Graph spells it (lower case), stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, strum::Display, strum::EnumString, strum::AsRefStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum PartnerState {
    Unknown,
    Unavailable,
    /// Shown as **Active** in the console.
    Enabled,
    Terminated,
    Rejected,
    Unresponsive,
}

wire::text_enum!(PartnerState);

/// After termination, devices turn noncompliant after this long unless a new connection
/// is confirmed first.
pub fn noncompliant_after() -> Duration {
    Duration::hours(24)
}

/// After termination, devices are removed after this long ("three months").
pub fn removal_after() -> Duration {
    Duration::days(90)
}

/// The console's label of a partner state.
pub fn display(state: PartnerState) -> &'static str {
    match state {
        PartnerState::Enabled => "Active",
        PartnerState::Terminated => "Terminated",
        PartnerState::Unresponsive => "Unresponsive",
        PartnerState::Rejected => "Rejected",
        PartnerState::Unavailable => "Not connected",
        PartnerState::Unknown => "Unknown",
    }
}

pub fn new_partner(tenant_id: &TenantId, now_ms: i64) -> PartnerRow {
    PartnerRow {
        tenant_id: tenant_id.into(),
        app_id: None,
        partner_state: PartnerState::Unavailable,
        provisioned: 0,
        enrollment_url: None,
        remediation_url: None,
        last_heartbeat_ms: None,
        noncompliant_at_ms: None,
        removal_at_ms: None,
        updated_ms: now_ms,
        devices_noncompliant_applied: 0,
        devices_removed: 0,
        include_groups: "[]".into(),
        exclude_groups: "[]".into(),
    }
}

/// The partner's include and exclude groups.
pub fn groups(p: &PartnerRow) -> (Vec<String>, Vec<String>) {
    (serde_json::from_str(&p.include_groups).unwrap_or_default(), serde_json::from_str(&p.exclude_groups).unwrap_or_default())
}

/// Users in scope of the partner: members of an included group and of no excluded one
/// (exclusion wins).
pub fn users_in_scope(include: &[(String, Vec<String>)], exclude: &[(String, Vec<String>)]) -> usize {
    let excluded: std::collections::HashSet<&String> = exclude.iter().flat_map(|(_, m)| m).collect();
    let included: std::collections::HashSet<&String> = include.iter().flat_map(|(_, m)| m).filter(|u| !excluded.contains(u)).collect();
    included.len()
}

/// Whether a connection exists, which is when *Terminate* is offered.
pub fn connected(p: &PartnerRow) -> bool {
    [PartnerState::Enabled, PartnerState::Unresponsive, PartnerState::Rejected].contains(&p.partner_state)
}

/// Missed heartbeats turn an Active partner Unresponsive.
pub fn check_heartbeat(p: &mut PartnerRow, now_ms: i64, unresponsive_after_ms: i64) -> bool {
    let stale = p.last_heartbeat_ms.is_none_or(|t| now_ms - t > unresponsive_after_ms);
    if p.partner_state == PartnerState::Enabled && stale {
        p.partner_state = PartnerState::Unresponsive;
        p.updated_ms = now_ms;
        return true;
    }
    false
}

/// The admin saved (or cleared) *Specify the Microsoft Entra App ID for Jamf*.
pub fn set_app_id(p: &mut PartnerRow, app_id: Option<String>, now_ms: i64) {
    p.app_id = app_id;
    p.updated_ms = now_ms;
}

/// `PartnerTenants` with `Provisioned: 1`: the partner is Active, and a pending
/// termination inside its 24-hour window is cancelled.
/// A manual connection uses the tenant's own single-tenant app and serves one instance:
/// while it is connected, another instance (another enrollment URL) provisioning with
/// that app is refused. Returns why, naming the instance it serves.
pub fn manual_connection_taken(p: &PartnerRow, single_tenant_app: bool, enrollment_url: Option<&str>) -> Option<String> {
    let other_instance = p.enrollment_url.is_some() && p.enrollment_url.as_deref() != enrollment_url;
    (single_tenant_app && connected(p) && other_instance).then(|| {
        format!(
            "A manual connection (single-tenant app) serves one instance per tenant, and this tenant is connected to the instance at {}. \
             Use the Cloud Connector to connect several instances.",
            p.enrollment_url.clone().unwrap_or_default()
        )
    })
}

pub fn provision(p: &mut PartnerRow, enrollment_url: Option<String>, remediation_url: Option<String>, now_ms: i64) {
    p.provisioned = wire::partner::PROVISIONED as i64;
    p.enrollment_url = enrollment_url;
    p.remediation_url = remediation_url;
    p.partner_state = PartnerState::Enabled;
    p.last_heartbeat_ms = Some(now_ms);
    if p.noncompliant_at_ms.is_some_and(|t| now_ms < t) {
        p.noncompliant_at_ms = None;
        p.removal_at_ms = None;
    }
    // A new connection: devices report again; the clocks of a later termination start afresh.
    p.devices_noncompliant_applied = 0;
    p.devices_removed = 0;
    p.updated_ms = now_ms;
}

/// Terminate (console, Graph action, or `Provisioned: 2`): both clocks start.
pub fn terminate(p: &mut PartnerRow, now_ms: i64) {
    p.provisioned = wire::partner::DEPROVISIONED as i64;
    p.partner_state = PartnerState::Terminated;
    p.noncompliant_at_ms = Some(now_ms + noncompliant_after().num_milliseconds());
    p.removal_at_ms = Some(now_ms + removal_after().num_milliseconds());
    p.updated_ms = now_ms;
}

/// `all_rejected`: every item of a message was refused. Returns whether the state changed.
pub fn messages_processed(p: &mut PartnerRow, all_rejected: bool, now_ms: i64) -> bool {
    let next = match (p.partner_state, all_rejected) {
        (PartnerState::Enabled, true) => PartnerState::Rejected,
        (PartnerState::Rejected, false) => PartnerState::Enabled,
        _ => return false,
    };
    p.partner_state = next;
    p.updated_ms = now_ms;
    true
}

pub fn heartbeat(p: &mut PartnerRow, now_ms: i64) {
    p.last_heartbeat_ms = Some(now_ms);
    if p.partner_state == PartnerState::Unresponsive {
        p.partner_state = PartnerState::Enabled;
    }
    p.updated_ms = now_ms;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_inside_the_window_cancels_the_clocks() {
        let mut p = new_partner(&"t".into(), 0);
        terminate(&mut p, 0);
        assert_eq!(p.partner_state, PartnerState::Terminated);
        provision(&mut p, None, None, Duration::hours(23).num_milliseconds());
        assert_eq!(p.partner_state, PartnerState::Enabled);
        assert_eq!(p.noncompliant_at_ms, None);
        assert_eq!(p.removal_at_ms, None);
    }

    #[test]
    fn rejected_messages_turn_the_partner_rejected_until_one_is_accepted() {
        let mut p = new_partner(&"t".into(), 0);
        provision(&mut p, None, None, 0);
        assert!(messages_processed(&mut p, true, 1));
        assert_eq!(p.partner_state, PartnerState::Rejected);
        assert!(!messages_processed(&mut p, true, 2));
        assert!(messages_processed(&mut p, false, 3));
        assert_eq!(p.partner_state, PartnerState::Enabled);
    }

    #[test]
    fn provisioning_after_the_window_keeps_the_removal_date() {
        let mut p = new_partner(&"t".into(), 0);
        terminate(&mut p, 0);
        provision(&mut p, None, None, Duration::hours(25).num_milliseconds());
        assert_eq!(p.partner_state, PartnerState::Enabled);
        assert!(p.removal_at_ms.is_some());
    }

    #[test]
    fn a_manual_connection_serves_one_instance() {
        let mut p = new_partner(&"t".into(), 0);
        provision(&mut p, Some("https://mdm.example/i/hq".into()), None, 1);
        assert!(manual_connection_taken(&p, true, Some("https://mdm.example/i/labs")).is_some_and(|why| why.contains("/i/hq")));
        assert!(manual_connection_taken(&p, true, Some("https://mdm.example/i/hq")).is_none(), "the same instance again");
        assert!(manual_connection_taken(&p, false, Some("https://mdm.example/i/labs")).is_none(), "a multi-tenant app serves several");
        terminate(&mut p, 2);
        assert!(manual_connection_taken(&p, true, Some("https://mdm.example/i/labs")).is_none(), "no longer connected");
    }
}
