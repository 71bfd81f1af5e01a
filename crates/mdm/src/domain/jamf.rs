//! A computer record of Jamf Pro's API (`GET /api/v1/computers-inventory`, sections
//! `general`, `hardware`, `operatingSystem`, `security`, `diskEncryption`,
//! `localUserAccounts`, `userAndLocation`, as Jamf documents them) read as this server's
//! inventory report, so an admin can load the fleet they already have. The report then
//! passes the same normalisation as an agent's (`normalize::report`).

use serde_json::{Map, Value, json};

use wire::agent::FileVaultState;

use crate::domain::normalize::{Refused, account_key};
use wire::DeviceId;

/// A Jamf Pro computer, ready to store.
#[derive(Debug, Clone)]
pub struct JamfComputer {
    /// Jamf Pro's own ID of the record (for messages).
    pub jamf_id: String,
    pub udid: String,
    pub serial_number: String,
    /// The report in the agent's shape, not yet normalised.
    pub report: Value,
    /// `general.lastContactTime`: the Mac's last check-in with Jamf Pro (ms).
    pub last_contact_ms: Option<i64>,
    /// Local users registered with Entra (Workplace Join) on the Mac.
    pub registrations: Vec<JamfRegistration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JamfRegistration {
    pub username: String,
    pub aad_device_id: DeviceId,
    pub aad_user_id: String,
    /// `userAndLocation.email` when the account is the computer's assigned user
    /// (`userAndLocation.username`); Jamf Pro knows no other account's email.
    pub upn: Option<String>,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn section<'a>(record: &'a Value, name: &str, section: &str) -> Result<&'a Value, Refused> {
    record.get(name).filter(|v| v.is_object()).ok_or_else(|| Refused {
        field: name.into(),
        message: format!("the record has no {name} section; export it with section={section}"),
    })
}

fn ms(v: &Value, path: &[&str]) -> Option<i64> {
    text(v, path).and_then(platform::clock::parse_rfc3339).map(|t| t.timestamp_millis())
}

/// Reads one record of a Jamf Pro inventory page. A record missing what compliance
/// needs (its identity, the OS, security, disk encryption, local users) is refused.
pub fn computer(record: &Value) -> Result<JamfComputer, Refused> {
    let jamf_id = record.get("id").map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default();
    let udid = text(record, &["udid"]).ok_or_else(|| Refused { field: "udid".into(), message: "is required".into() })?;
    // Macs report their UDID upper case; exports may not.
    let udid = udid.to_ascii_uppercase();
    let udid = udid.as_str();
    let general = section(record, "general", "GENERAL")?;
    let hardware = section(record, "hardware", "HARDWARE")?;
    let os = section(record, "operatingSystem", "OPERATING_SYSTEM")?;
    let security = section(record, "security", "SECURITY")?;
    let disk = section(record, "diskEncryption", "DISK_ENCRYPTION")?;
    let accounts = record.get("localUserAccounts").and_then(Value::as_array).ok_or_else(|| Refused {
        field: "localUserAccounts".into(),
        message: "the record has no localUserAccounts section; export it with section=LOCAL_USER_ACCOUNTS".into(),
    })?;
    let serial_number = text(hardware, &["serialNumber"]).unwrap_or(udid).to_string();
    let collected = text(general, &["reportDate"]).or(text(general, &["lastContactTime"])).unwrap_or_default();
    let name = text(general, &["name"]).unwrap_or(&serial_number).to_string();
    let mut report = Map::new();
    report.insert("collected_at".into(), json!(collected));
    report.insert("device_name".into(), json!(name));
    report.insert("model".into(), json!(text(hardware, &["model"]).or(text(hardware, &["modelIdentifier"])).unwrap_or("Mac")));
    report.insert("hardware".into(), hardware_of(hardware));
    report.insert("os_name".into(), json!(text(os, &["name"]).unwrap_or("macOS")));
    report.insert("os_version".into(), json!(text(os, &["version"]).unwrap_or_default()));
    if let Some(rsr) = text(os, &["rapidSecurityResponse"]) {
        report.insert("os_version_extra".into(), json!(rsr));
    }
    // With a Rapid Security Response installed, the Mac runs the supplemental build.
    let build = text(os, &["supplementalBuildVersion"]).or(text(os, &["build"])).unwrap_or_default();
    report.insert("os_build".into(), json!(build));
    report.insert("security".into(), security_of(security, disk, os));
    report.insert("volumes".into(), volumes_of(disk));
    report.insert("password_policy".into(), password_policy_of(accounts));
    let users: Vec<Value> = accounts
        .iter()
        .filter_map(|a| Some(json!({"username": text(a, &["username"])?, "full_name": text(a, &["fullName"]).unwrap_or_default()})))
        .collect();
    report.insert("local_users".into(), Value::Array(users));
    let assigned = record.get("userAndLocation");
    let assigned_user = assigned.and_then(|u| text(u, &["username"])).map(account_key);
    // An email that is not a UPN (`name@domain`) names no Entra user: left out.
    let email = assigned.and_then(|u| text(u, &["email"])).filter(|e| wire::agent::is_upn(e)).map(str::to_string);
    let registrations = accounts
        .iter()
        .filter_map(|a| {
            let username = text(a, &["username"])?;
            Some(JamfRegistration {
                username: username.to_string(),
                aad_device_id: text(a, &["computerAzureActiveDirectoryId"]).filter(|d| uuid::Uuid::parse_str(d).is_ok())?.into(),
                aad_user_id: text(a, &["userAzureActiveDirectoryId"]).filter(|d| uuid::Uuid::parse_str(d).is_ok())?.into(),
                upn: email.clone().filter(|_| assigned_user.as_deref() == Some(account_key(username).as_str())),
            })
        })
        .collect();
    Ok(JamfComputer {
        jamf_id,
        udid: udid.to_string(),
        serial_number,
        report: Value::Object(report),
        last_contact_ms: ms(general, &["lastContactTime"]),
        registrations,
    })
}

fn hardware_of(h: &Value) -> Value {
    json!({
        "model_identifier": h.get("modelIdentifier"),
        "processor_architecture": h.get("processorArchitecture"),
        "processor_type": h.get("processorType"),
        "core_count": h.get("coreCount"),
        "total_ram_mb": h.get("totalRamMegabytes"),
        "mac_address": h.get("macAddress"),
    })
}

/// SIP and Gatekeeper in Jamf Pro's words (a status the record leaves out is one Jamf
/// Pro did not collect); FileVault from the boot partition's state, else the OS
/// section's `fileVault2Status`, else `fileVault2Enabled`, which some servers add.
fn security_of(security: &Value, disk: &Value, os: &Value) -> Value {
    let boot = disk.get("bootPartitionEncryptionDetails").and_then(|b| text(b, &["partitionFileVault2State"]));
    let status = text(os, &["fileVault2Status"]).map(wire::agent::vocabulary_key);
    let filevault = match (boot, status) {
        (Some(state), _) => state.parse::<FileVaultState>().is_ok_and(|s| s == FileVaultState::Encrypted),
        (None, Some(status)) => matches!(status.as_str(), "ALL_ENCRYPTED" | "BOOT_ENCRYPTED"),
        (None, None) => disk.get("fileVault2Enabled").and_then(Value::as_bool).unwrap_or(false),
    };
    json!({
        "filevault_enabled": filevault,
        "sip": text(security, &["sipStatus"]).unwrap_or("NOT_COLLECTED"),
        "gatekeeper": text(security, &["gatekeeperStatus"]).unwrap_or("NOT_COLLECTED"),
        "firewall_enabled": security.get("firewallEnabled").and_then(Value::as_bool).unwrap_or(false),
        "prevent_auto_login": security.get("autoLoginDisabled").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The boot partition's FileVault state, as Jamf Pro details it.
fn volumes_of(disk: &Value) -> Value {
    match disk.get("bootPartitionEncryptionDetails").filter(|d| d.is_object()) {
        Some(boot) => json!([{
            "name": text(boot, &["partitionName"]).unwrap_or("Macintosh HD"),
            "boot": true,
            "filevault": text(boot, &["partitionFileVault2State"]).unwrap_or("UNKNOWN"),
        }]),
        None => json!([]),
    }
}

/// Jamf Pro reports the password rules with each local account; they are the Mac's
/// (one configuration profile), so the first account that has them gives them.
fn password_policy_of(accounts: &[Value]) -> Value {
    let number = |a: &Value, k: &str| a.get(k).and_then(Value::as_i64);
    let Some(a) = accounts.iter().find(|a| number(a, "passwordMinLength").is_some() || number(a, "passwordMaxAge").is_some()) else {
        return json!({});
    };
    json!({
        "min_length": number(a, "passwordMinLength"),
        "min_complex_characters": number(a, "passwordMinComplexCharacters"),
        "max_age_days": number(a, "passwordMaxAge").filter(|d| *d > 0),
        "require_alphanumeric": a.get("passwordRequireAlphanumeric").and_then(Value::as_bool),
        "history_depth": number(a, "passwordHistoryDepth"),
    })
}

/// The records of one page (`{"totalCount": n, "results": [...]}`).
pub fn records(page: &Value) -> Result<&[Value], Refused> {
    if !page.get("totalCount").is_none_or(|n| n.is_null() || n.as_i64().is_some_and(|n| n >= 0)) {
        return Err(Refused { field: "totalCount".into(), message: "must be a count (an integer from 0 to 2^63 - 1)".into() });
    }
    page.get("results").and_then(Value::as_array).map(Vec::as_slice).ok_or_else(|| Refused {
        field: "results".into(),
        message: "a page of GET /api/v1/computers-inventory ({\"totalCount\", \"results\": [...]}) is expected".into(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::normalize;

    const DEFAULTS: normalize::Defaults = normalize::Defaults { device_name: "Mac", model: "Mac" };

    /// A record in the documented shape, with invented values.
    pub fn record() -> Value {
        json!({
            "id": "42", "udid": "5C1D1B8E-2A6B-4C63-9F44-0B2D6A7E9C11",
            "general": {"name": "Design-MBP-07", "platform": "Mac", "reportDate": "2026-11-29T08:15:02.000Z",
                        "lastContactTime": "2026-11-29T09:40:11.000Z"},
            "hardware": {"make": "Apple", "model": "MacBook Pro (14-inch, 2021)", "modelIdentifier": "MacBookPro18,3",
                         "serialNumber": "C02ZX1YBMD6T", "processorArchitecture": "arm64", "processorType": "Apple M1 Pro",
                         "coreCount": 8, "totalRamMegabytes": 16384, "macAddress": "3C:22:FB:10:20:30"},
            "operatingSystem": {"name": "macOS", "version": "13.4.1", "build": "22F82", "supplementalBuildVersion": "22F770820d",
                                "rapidSecurityResponse": "(a)", "fileVault2Status": "ALL_ENCRYPTED"},
            "security": {"sipStatus": "ENABLED", "gatekeeperStatus": "APP_STORE_AND_IDENTIFIED_DEVELOPERS", "firewallEnabled": true,
                         "autoLoginDisabled": true},
            "diskEncryption": {"bootPartitionEncryptionDetails": {"partitionName": "Macintosh HD (Boot Partition)",
                                                                  "partitionFileVault2State": "ENCRYPTED",
                                                                  "partitionFileVault2Percent": 100}},
            "localUserAccounts": [
                {"username": "jdoe", "fullName": "Jane Doe", "admin": true, "passwordMinLength": 12, "passwordMaxAge": 90,
                 "passwordMinComplexCharacters": 1, "passwordHistoryDepth": 5, "passwordRequireAlphanumeric": true,
                 "computerAzureActiveDirectoryId": "0f3a4c1e-9d3b-4a5e-8c7f-2b1d0e9a8c76",
                 "userAzureActiveDirectoryId": "7b2e5d40-1c9f-4f4e-a3d2-6e8f9b0c1a25", "azureActiveDirectoryId": "ACTIVATED"},
                {"username": "admin", "fullName": "Local admin", "admin": true, "computerAzureActiveDirectoryId": null}
            ],
            "userAndLocation": {"username": "jdoe", "realname": "Jane Doe", "email": "jane.doe@contoso.example"}
        })
    }

    #[test]
    fn a_documented_record_reads_as_a_report() {
        let c = computer(&record()).unwrap();
        assert_eq!(
            (c.udid.as_str(), c.serial_number.as_str(), c.jamf_id.as_str()),
            ("5C1D1B8E-2A6B-4C63-9F44-0B2D6A7E9C11", "C02ZX1YBMD6T", "42")
        );
        assert_eq!(c.registrations.len(), 1, "only the registered account");
        assert_eq!(c.registrations[0].upn.as_deref(), Some("jane.doe@contoso.example"));
        let n = normalize::report(c.report, platform::clock::parse_rfc3339("2026-11-30T00:00:00Z").unwrap().timestamp_millis(), &DEFAULTS)
            .unwrap();
        let r = &n.report;
        assert_eq!((r.os_version.as_str(), r.os_build.as_str()), ("13.4.1 (a)", "22F770820d"));
        assert!(r.boot_volume_encrypted() && r.security.firewall_enabled);
        assert_eq!(r.password_policy.min_length, Some(12));
        assert_eq!(r.local_users.len(), 2);
        assert!(n.warnings.is_empty(), "{:?}", n.warnings);
    }

    #[test]
    fn a_record_without_what_compliance_needs_is_refused_by_name() {
        let mut r = record();
        r["operatingSystem"] = Value::Null;
        assert_eq!(computer(&r).unwrap_err().field, "operatingSystem");
        let mut r = record();
        r["hardware"]["processorArchitecture"] = json!("i386");
        r["security"]["gatekeeperStatus"] = json!("DISABLED");
        let n = normalize::report(computer(&r).unwrap().report, i64::MAX / 2, &DEFAULTS).unwrap();
        assert_eq!(n.report.hardware.processor_architecture.as_deref(), Some("x86_64"));
        assert_eq!(n.report.security.gatekeeper.partner_value(), Some("Anywhere"));
        assert!(records(&json!({"totalCount": 0})).is_err());
    }

    #[test]
    fn identities_and_filevault_read_as_jamf_pro_means_them() {
        let mut r = record();
        r["udid"] = json!("5c1d1b8e-2a6b-4c63-9f44-0b2d6a7e9c11");
        // A second registered account: Jamf Pro knows only the assigned user's email.
        r["localUserAccounts"][1]["computerAzureActiveDirectoryId"] = json!("1a2b3c4d-0000-4000-8000-000000000002");
        r["localUserAccounts"][1]["userAzureActiveDirectoryId"] = json!("1a2b3c4d-0000-4000-8000-000000000003");
        let c = computer(&r).unwrap();
        assert_eq!(c.udid, "5C1D1B8E-2A6B-4C63-9F44-0B2D6A7E9C11", "one spelling, as Macs report it");
        let upns: Vec<Option<&str>> = c.registrations.iter().map(|g| g.upn.as_deref()).collect();
        assert_eq!(upns, [Some("jane.doe@contoso.example"), None]);
        // Without the boot partition's details, the OS section's status decides.
        r["diskEncryption"] = json!({});
        r["operatingSystem"]["fileVault2Status"] = json!("Boot_Encrypted");
        assert_eq!(computer(&r).unwrap().report["security"]["filevault_enabled"], true);
        r["operatingSystem"]["fileVault2Status"] = json!("SOME_ENCRYPTED");
        assert_eq!(computer(&r).unwrap().report["security"]["filevault_enabled"], false);
        r["diskEncryption"] = json!({"bootPartitionEncryptionDetails": {"partitionFileVault2State": "ENCRYPTING"}});
        assert_eq!(computer(&r).unwrap().report["security"]["filevault_enabled"], false, "not yet encrypted");
        assert_eq!(records(&json!({"totalCount": 1, "results": [record()]})).unwrap().len(), 1);
    }
}
