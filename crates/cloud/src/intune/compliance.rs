//! Evaluation of macOS compliance policies (SPEC §6) against what a partner reported.
//! Pure functions: the upload worker feeds them, nothing here touches storage.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use wire::partner::DeviceItem;

/// The `#microsoft.graph.macOSCompliancePolicy` settings evaluated here. A `false` or
/// absent requirement means "not configured", as in Graph.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MacOsPolicySettings {
    #[serde(default)]
    pub storage_require_encryption: bool,
    #[serde(default)]
    pub system_integrity_protection_enabled: bool,
    #[serde(default)]
    pub firewall_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_minimum_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_maximum_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_minimum_length: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SettingState {
    Compliant,
    Noncompliant,
    /// The partner did not send the attribute the setting reads.
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingResult {
    pub policy_id: String,
    pub setting: String,
    pub state: SettingState,
    /// What the partner reported, for the per-setting report.
    pub actual: Option<String>,
}

/// Compares dotted version numbers numerically: 10.15.7 < 11.0 < 11.10.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.trim().parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(a), parse(b));
    for i in 0..a.len().max(b.len()) {
        match a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0)) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

fn check(policy_id: &str, setting: &str, actual: Option<String>, pass: impl FnOnce(&str) -> bool) -> SettingResult {
    let state = match actual.as_deref() {
        None => SettingState::NotApplicable,
        Some(v) if pass(v) => SettingState::Compliant,
        Some(_) => SettingState::Noncompliant,
    };
    SettingResult { policy_id: policy_id.into(), setting: setting.into(), state, actual }
}

/// Every configured setting of one policy against one device's reported attributes.
pub fn evaluate(policy_id: &str, s: &MacOsPolicySettings, item: &DeviceItem) -> Vec<SettingResult> {
    let mut out = Vec::new();
    if s.storage_require_encryption {
        out.push(check(policy_id, "storageRequireEncryption", item.encrypted.map(|b| b.to_string()), |v| v == "true"));
    }
    if s.system_integrity_protection_enabled {
        out.push(check(policy_id, "systemIntegrityProtectionEnabled", item.sip.clone(), |v| v.eq_ignore_ascii_case("enabled")));
    }
    if s.firewall_enabled {
        out.push(check(policy_id, "firewallEnabled", item.firewall_enabled.map(|b| b.to_string()), |v| v == "true"));
    }
    if let Some(min) = &s.os_minimum_version {
        out.push(check(policy_id, "osMinimumVersion", item.os_version.clone(), |v| compare_versions(v, min) != Ordering::Less));
    }
    if let Some(max) = &s.os_maximum_version {
        out.push(check(policy_id, "osMaximumVersion", item.os_version.clone(), |v| compare_versions(v, max) != Ordering::Greater));
    }
    if let Some(len) = s.password_minimum_length {
        out.push(check(policy_id, "passwordMinimumLength", item.passcode_length.clone(), |v| {
            v.parse::<i32>().map(|n| n >= len).unwrap_or(false)
        }));
    }
    out
}

/// The device's compliance state from all its settings' results (SPEC §5). With no
/// assigned policy the tenant default applies (compliant unless the tenant says otherwise).
pub fn overall_state(results: &[SettingResult], has_policies: bool, no_policy_is_compliant: bool) -> &'static str {
    if !has_policies {
        return if no_policy_is_compliant { "compliant" } else { "noncompliant" };
    }
    if results.iter().any(|r| r.state == SettingState::Noncompliant) { "noncompliant" } else { "compliant" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(compare_versions("10.15.7", "11.0"), Ordering::Less);
        assert_eq!(compare_versions("11.10", "11.9"), Ordering::Greater);
        assert_eq!(compare_versions("14.0", "14"), Ordering::Equal);
    }

    #[test]
    fn encryption_policy_splits_devices() {
        let s = MacOsPolicySettings { storage_require_encryption: true, ..Default::default() };
        let enc = DeviceItem { encrypted: Some(true), ..Default::default() };
        let plain = DeviceItem { encrypted: Some(false), ..Default::default() };
        let silent = DeviceItem::default();
        assert_eq!(overall_state(&evaluate("p", &s, &enc), true, true), "compliant");
        assert_eq!(overall_state(&evaluate("p", &s, &plain), true, true), "noncompliant");
        let na = evaluate("p", &s, &silent);
        assert_eq!(na[0].state, SettingState::NotApplicable);
        assert_eq!(overall_state(&na, true, true), "compliant");
    }

    #[test]
    fn os_minimum_uses_version_order() {
        let s = MacOsPolicySettings { os_minimum_version: Some("11.0".into()), ..Default::default() };
        let old = DeviceItem { os_version: Some("10.15.7".into()), ..Default::default() };
        let new = DeviceItem { os_version: Some("11.10".into()), ..Default::default() };
        assert_eq!(evaluate("p", &s, &old)[0].state, SettingState::Noncompliant);
        assert_eq!(evaluate("p", &s, &new)[0].state, SettingState::Compliant);
    }
}
