//! The fleet as a Jamf Pro server would list it: one record of Jamf Pro's
//! `GET /api/v1/computers-inventory` answer per Mac, with the sections `general`,
//! `hardware`, `operatingSystem`, `security`, `diskEncryption`, `localUserAccounts` and
//! `userAndLocation` in the shape Jamf documents — what an admin exports from the server
//! they already run, to import it (`cloudconnector admin import-jamf`).

use serde_json::{Value, json};

use crate::Mac;

/// Jamf Pro's record of `mac`, reported at `report_date` and last in contact at
/// `last_contact`; its user's Entra registration when the Mac has one.
pub fn computer_record(mac: &Mac, jamf_id: u64, report_date: &str, last_contact: &str) -> Value {
    let p = &mac.profile;
    let (version, rsr) = p.os_version.split_once(' ').map_or((p.os_version.as_str(), None), |(v, x)| (v, Some(x)));
    let state = if p.filevault { "ENCRYPTED" } else { "UNENCRYPTED" };
    json!({
        "id": jamf_id.to_string(),
        "udid": p.udid,
        "general": {"name": p.device_name, "platform": "Mac", "reportDate": report_date, "lastContactTime": last_contact},
        "hardware": {
            "make": "Apple", "model": p.model, "modelIdentifier": p.model_identifier, "serialNumber": p.serial_number,
            "coreCount": p.core_count, "totalRamMegabytes": p.total_ram_mb, "macAddress": p.mac_address,
            // Jamf Pro reports many Intel Macs as i386.
            "processorArchitecture": if p.processor_architecture == "x86_64" { "i386" } else { "arm64" },
        },
        "operatingSystem": {
            "name": "macOS", "version": version, "build": p.os_build, "rapidSecurityResponse": rsr,
            "supplementalBuildVersion": rsr.map(|_| p.os_build.clone()),
            "fileVault2Status": if p.filevault { "ALL_ENCRYPTED" } else { "NOT_ENCRYPTED" },
        },
        "security": {
            "sipStatus": if p.sip { "ENABLED" } else { "DISABLED" }, "gatekeeperStatus": p.gatekeeper.as_str(),
            "firewallEnabled": p.firewall, "autoLoginDisabled": true,
        },
        "diskEncryption": {
            "bootPartitionEncryptionDetails": {"partitionName": "Macintosh HD", "partitionFileVault2State": state,
                                               "partitionFileVault2Percent": if p.filevault { 100 } else { 0 }},
        },
        "localUserAccounts": [{
            "username": p.username, "fullName": p.upn, "admin": false, "userAccountType": "LOCAL",
            "passwordMinLength": p.password_min_length, "passwordMaxAge": 90,
            "passwordMinComplexCharacters": if p.password_alphanumeric { 1 } else { 0 },
            "passwordRequireAlphanumeric": p.password_alphanumeric, "passwordHistoryDepth": 5,
            "computerAzureActiveDirectoryId": mac.device_id, "userAzureActiveDirectoryId": mac.user_object_id,
            "azureActiveDirectoryId": if mac.device_id.is_some() { "ACTIVATED" } else { "UNKNOWN" },
        }],
        "userAndLocation": {"username": p.username, "email": p.upn},
    })
}

/// One page of the answer: `{"totalCount", "results"}`.
pub fn page(records: Vec<Value>, total: usize) -> Value {
    json!({"totalCount": total, "results": records})
}
