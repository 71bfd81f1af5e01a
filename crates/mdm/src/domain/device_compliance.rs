//! Device Compliance (the successor model; docs/inventory.md): the instance decides compliance from
//! two smart-group style rules over inventory fields (*applicable* and *compliance*) and
//! sends only the verdict. Pure functions over an inventory report.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use wire::agent::{GatekeeperStatus, InventoryReport, SipStatus};
use wire::apple::MacOsVersion;

/// One criterion: `field operator value`, e.g. `os_version at_least 14.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Criterion {
    pub field: String,
    pub operator: String,
    pub value: String,
}

pub const FIELDS: [&str; 8] =
    ["os_version", "filevault", "filevault_status", "sip", "firewall", "gatekeeper", "password_min_length", "days_since_inventory"];
pub const OPERATORS: [&str; 5] = ["is", "is_not", "at_least", "at_most", "less_than"];

/// Parses one criterion per line; every line must name a known field and operator.
pub fn parse_rule(text: &str) -> Result<Vec<Criterion>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, char::is_whitespace);
            let (Some(field), Some(operator), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("'{line}' is not of the form: field operator value"));
            };
            if !FIELDS.contains(&field) {
                return Err(format!("Unknown field '{field}'. Fields: {}.", FIELDS.join(", ")));
            }
            if !OPERATORS.contains(&operator) {
                return Err(format!("Unknown operator '{operator}'. Operators: {}.", OPERATORS.join(", ")));
            }
            let value = value.trim();
            if field == "os_version" && value.parse::<MacOsVersion>().is_err() {
                return Err(format!("'{value}' is not a macOS version such as 14, 14.5 or 13.4.1 (a)."));
            }
            if field == "gatekeeper" && value.parse::<GatekeeperStatus>().is_err() {
                return Err(format!("'{value}' is not a Gatekeeper status; allowed: {}.", GatekeeperStatus::allowed()));
            }
            Ok(Criterion { field: field.into(), operator: operator.into(), value: value.trim().into() })
        })
        .collect()
}

pub fn format_rule(rule: &[Criterion]) -> String {
    rule.iter().map(|c| format!("{} {} {}", c.field, c.operator, c.value)).collect::<Vec<_>>().join("\n")
}

/// Compares macOS versions as Apple numbers them; a Rapid Security Response counts as
/// the version it patches, unless the rule names one. Unreadable values compare as
/// unequal and lower, so `at_least` never holds for them.
fn compare_versions(actual: &str, rule: &str) -> Ordering {
    match (actual.parse::<MacOsVersion>(), rule.parse::<MacOsVersion>()) {
        (Ok(a), Ok(r)) if r.rsr().is_some() => a.cmp(&r),
        (Ok(a), Ok(r)) => a.cmp_base(&r),
        _ => Ordering::Less,
    }
}

/// The value of a field for a computer, as text.
fn actual(field: &str, inv: &InventoryReport, now_ms: i64) -> String {
    let s = &inv.security;
    match field {
        "os_version" => inv.os_version.clone(),
        "filevault" => inv.boot_volume_encrypted().to_string(),
        // ALL_ENCRYPTED, BOOT_ENCRYPTED, SOME_ENCRYPTED or NOT_ENCRYPTED.
        "filevault_status" => inv.filevault_status().to_string(),
        "password_min_length" => inv.password_policy.min_length.unwrap_or(0).to_string(),
        "sip" => (s.sip == SipStatus::Enabled).to_string(),
        "firewall" => s.firewall_enabled.to_string(),
        // Jamf Pro's names: APP_STORE, APP_STORE_AND_IDENTIFIED_DEVELOPERS, DISABLED.
        "gatekeeper" => s.gatekeeper.as_str().to_string(),
        "days_since_inventory" => platform::clock::parse_rfc3339(&inv.collected_at)
            .map(|t| ((now_ms - t.timestamp_millis()) / (24 * 3600 * 1000)).to_string())
            .unwrap_or_else(|| "9999".into()),
        _ => String::new(),
    }
}

fn holds(c: &Criterion, inv: &InventoryReport, now_ms: i64) -> bool {
    let a = actual(&c.field, inv, now_ms);
    let order = if c.field == "os_version" {
        compare_versions(&a, &c.value)
    } else if c.field == "gatekeeper" {
        // Any spelling of the rule's value (`App Store`, `APP_STORE`) names one status.
        let rule = c.value.parse::<GatekeeperStatus>().map(GatekeeperStatus::as_str).unwrap_or(&c.value);
        a.cmp(&rule.to_string())
    } else {
        match (a.parse::<f64>(), c.value.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.to_ascii_lowercase().cmp(&c.value.to_ascii_lowercase()),
        }
    };
    match c.operator.as_str() {
        "is" => order == Ordering::Equal,
        "is_not" => order != Ordering::Equal,
        "at_least" => order != Ordering::Less,
        "at_most" => order != Ordering::Greater,
        "less_than" => order == Ordering::Less,
        _ => false,
    }
}

/// `None` when the computer is not in the applicable group; otherwise whether it is in
/// the compliance group (every criterion of a rule must hold; an empty rule matches all).
pub fn verdict(applicable: &[Criterion], compliance: &[Criterion], inv: &InventoryReport, now_ms: i64) -> Option<bool> {
    if !applicable.iter().all(|c| holds(c, inv, now_ms)) {
        return None;
    }
    Some(compliance.iter().all(|c| holds(c, inv, now_ms)))
}

/// How a verdict is remembered: `compliant`, `noncompliant` or `not_applicable`.
pub fn verdict_name(verdict: Option<bool>) -> &'static str {
    match verdict {
        Some(true) => "compliant",
        Some(false) => "noncompliant",
        None => "not_applicable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::agent::{FileVaultState, InventoryReport, PasswordPolicy, Security, Volume};

    fn inv(os: &str, filevault: bool) -> InventoryReport {
        InventoryReport {
            collected_at: "2026-11-20T00:00:00Z".into(),
            device_name: "Mac".into(),
            model: "Mac14,2".into(),
            hardware: Default::default(),
            os_name: "macOS".into(),
            os_version: os.into(),
            os_version_extra: None,
            os_build: "23G93".into(),
            security: Security {
                filevault_enabled: filevault,
                sip: SipStatus::Enabled,
                gatekeeper: wire::agent::GatekeeperStatus::AppStoreAndIdentifiedDevelopers,
                firewall_enabled: true,
                firewall_block_all_incoming: false,
                firewall_stealth_mode: false,
                prevent_auto_login: true,
            },
            volumes: vec![],
            password_policy: PasswordPolicy { min_length: Some(8), ..Default::default() },
            local_users: vec![],
        }
    }

    #[test]
    fn rules_parse_and_decide() {
        let applicable = parse_rule("os_version at_least 12.0").unwrap();
        let compliance = parse_rule("filevault is true\nos_version at_least 14.0\ndays_since_inventory less_than 2").unwrap();
        let now = platform::clock::parse_rfc3339("2026-11-21T00:00:00Z").unwrap().timestamp_millis();
        assert_eq!(verdict(&applicable, &compliance, &inv("14.6.1", true), now), Some(true));
        assert_eq!(verdict(&applicable, &compliance, &inv("13.6.9", true), now), Some(false));
        assert_eq!(verdict(&applicable, &compliance, &inv("14.6.1", false), now), Some(false));
        assert_eq!(verdict(&applicable, &compliance, &inv("11.7", true), now), None, "not applicable");
        let late = now + 3 * 24 * 3600 * 1000;
        assert_eq!(verdict(&applicable, &compliance, &inv("14.6.1", true), late), Some(false), "stale inventory");
        assert!(parse_rule("colour is red").unwrap_err().contains("Unknown field"));
        assert!(parse_rule("filevault equals true").unwrap_err().contains("Unknown operator"));
        assert_eq!(format_rule(&compliance).lines().count(), 3);
        // FileVault per volume: only every volume encrypted is ALL_ENCRYPTED.
        let all = parse_rule("filevault_status is ALL_ENCRYPTED").unwrap();
        let mut mac = inv("14.6.1", true);
        mac.volumes = vec![
            Volume { name: "Macintosh HD".into(), boot: true, filevault: FileVaultState::Encrypted },
            Volume { name: "Data2".into(), boot: false, filevault: FileVaultState::Unencrypted },
        ];
        assert_eq!(mac.filevault_status(), "BOOT_ENCRYPTED");
        assert_eq!(verdict(&[], &all, &mac, now), Some(false));
        mac.volumes[1].filevault = FileVaultState::Encrypted;
        assert_eq!(verdict(&[], &all, &mac, now), Some(true));
        assert_eq!(verdict(&[], &parse_rule("password_min_length at_least 10").unwrap(), &mac, now), Some(false));
    }
}
