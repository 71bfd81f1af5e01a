//! Fuzz targets of the mdm's parsers of outside input: the read API's RSQL filter, an
//! agent's inventory report, a Jamf Pro inventory record. `PROPTEST_CASES` sets the
//! cases (`scripts/fuzz` runs a million of each; the suite runs proptest's default 256).

use platform::fuzz;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::domain::{inventory_api, jamf, normalize, rsql};

const NOW: i64 = 1_790_000_000_000;
const DEFAULTS: normalize::Defaults = normalize::Defaults { device_name: "Enrolled Mac", model: "Mac" };

const RSQL_TOKENS: &[&str] = &[
    "general.name",
    "hardware.serialNumber",
    "udid",
    "==",
    "!=",
    "=in=",
    "=out=",
    "<",
    "<=",
    ">",
    ">=",
    "(",
    ")",
    ";",
    ",",
    "\"",
    "'",
    "\\",
    " ",
    "\t",
    "Mac",
    "C02X",
    "é",
];

/// A whole report as an agent sends it, every section filled.
fn report() -> Value {
    json!({
        "collected_at": platform::clock::ms_to_rfc3339(NOW - 60_000), "device_name": "Design-MBP", "model": "MacBook Pro",
        "hardware": {"processor_architecture": "arm64", "core_count": 8, "total_ram_mb": 16384, "serial_number": "C02X"},
        "os_name": "macOS", "os_version": "13.4.1 (a)", "os_build": "22F770820d", "os_version_extra": "(a)",
        "security": {"filevault_enabled": true, "sip": "ENABLED", "gatekeeper": "APP_STORE_AND_IDENTIFIED_DEVELOPERS",
                     "firewall_enabled": true, "firewall_stealth_mode": false, "firewall_block_all_incoming": false, "prevent_auto_login": true},
        "password_policy": {"min_length": 12, "min_complex_characters": 1, "max_age_days": 90, "require_alphanumeric": true, "history_depth": 5},
        "volumes": [{"name": "Macintosh HD", "boot": true, "filevault": "ENCRYPTED"}, {"name": "Data", "boot": false, "filevault": "DECRYPTED"}],
        "local_users": [{"username": "alice", "full_name": "Alice", "admin": true}, {"username": "bob", "full_name": "Bob"}],
    })
}

proptest! {
    /// Any text: a filter tree or a syntax error, never a panic; what the read API takes
    /// from a tree is a query or a sentence.
    #[test]
    fn fuzz_rsql(filter in fuzz::soup(RSQL_TOKENS)) {
        match rsql::parse(&filter) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.0.starts_with("the filter") || e.0.starts_with("filter syntax error"), "{}", e.0),
        }
        if let Err(sentence) = inventory_api::parse(&[("filter".to_string(), filter)]) {
            prop_assert!(!sentence.is_empty());
        }
    }

    /// Any JSON, or a good report with fields replaced or removed: a report or a refusal
    /// naming a field. A report taken is taken again unchanged (what is stored reads back).
    #[test]
    fn fuzz_inventory_report(raw in prop_oneof![1 => fuzz::json(), 3 => fuzz::mutated(report())]) {
        match normalize::report(raw, NOW, &DEFAULTS) {
            Ok(taken) => {
                let stored = serde_json::to_value(&taken.report).unwrap();
                let again = normalize::report(stored, NOW, &DEFAULTS);
                prop_assert_eq!(again.map(|n| n.report), Ok(taken.report));
            }
            Err(refused) => prop_assert!(!refused.field.is_empty() && !refused.message.is_empty()),
        }
    }

    /// Any JSON, or a documented Jamf Pro record with fields replaced or removed: a
    /// computer whose report is read like an agent's, or a refusal naming a field.
    #[test]
    fn fuzz_jamf_record(record in prop_oneof![1 => fuzz::json(), 3 => fuzz::mutated(jamf::tests::record())]) {
        match jamf::computer(&record) {
            Ok(computer) => {
                let defaults = normalize::Defaults { device_name: &computer.serial_number, model: "Mac" };
                if let Err(refused) = normalize::report(computer.report, NOW, &defaults) {
                    prop_assert!(!refused.field.is_empty());
                }
            }
            Err(refused) => prop_assert!(!refused.field.is_empty()),
        }
        let _ = jamf::records(&json!({"totalCount": 1, "results": [record]}));
    }
}
