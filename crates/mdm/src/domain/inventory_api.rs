//! The inventory read API's request language (sections, paging, sort, an RSQL subset)
//! and the computer record it returns, modelled on the real product's API.

use serde_json::{Value, json};
use wire::agent::InventoryReport;
use wire::apple::MacOsVersion;

use crate::domain::inventory::ca_state;
use crate::domain::rsql::{self, Comparison, Node};
use crate::store::{ComputerRow, InventoryQuery, LocalUserRow, SortColumn};

pub const SECTIONS: [&str; 6] = ["GENERAL", "HARDWARE", "OPERATING_SYSTEM", "SECURITY", "DISK_ENCRYPTION", "LOCAL_USER_ACCOUNTS"];
pub const MAX_PAGE_SIZE: i64 = 2000;

/// Parses the query: `page`, `page-size`, `sort` (`field:asc|desc`), `filter` (RSQL:
/// `==` comparisons joined by `;` on `general.name`, `hardware.serialNumber`, `udid`) and
/// `section`. An unknown parameter is refused rather than ignored, so a misspelt one
/// (`pagesize`) is seen. Errors are sentences for the caller.
pub fn parse(pairs: &[(String, String)]) -> Result<(InventoryQuery, Vec<String>), String> {
    const KNOWN: [&str; 5] = ["page", "page-size", "sort", "filter", "section"];
    if let Some((unknown, _)) = pairs.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(format!("unknown query parameter '{unknown}'; parameters: {}", KNOWN.join(", ")));
    }
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let number = |k: &str, default: i64| -> Result<i64, String> {
        get(k).map(|v| v.parse::<i64>().map_err(|_| format!("{k} must be a whole number"))).unwrap_or(Ok(default))
    };
    let page = number("page", 0)?;
    let page_size = number("page-size", 100)?;
    if page < 0 || !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(format!("page must be 0 or more and page-size 1 to {MAX_PAGE_SIZE}"));
    }
    let (column, descending) =
        match get("sort").unwrap_or("general.name:asc").split_once(':').unwrap_or((get("sort").unwrap_or("id"), "asc")) {
            (field, dir) if dir == "asc" || dir == "desc" => {
                let column = match field {
                    "id" => SortColumn::Id,
                    "general.name" => SortColumn::Name,
                    "hardware.serialNumber" => SortColumn::Serial,
                    other => return Err(format!("sorting by {other} is not supported; use id, general.name or hardware.serialNumber")),
                };
                (column, dir == "desc")
            }
            (_, dir) => return Err(format!("sort direction {dir} must be asc or desc")),
        };
    let mut query = InventoryQuery { name: None, serial: None, udid: None, sort_column: column, descending, page, page_size };
    if let Some(filter) = get("filter").filter(|f| !f.trim().is_empty()) {
        for term in conjunction(rsql::parse(filter).map_err(|e| e.to_string())?)? {
            let mut arguments = term.arguments.into_iter();
            let value = match (term.operator.as_str(), arguments.next(), arguments.next()) {
                ("==", Some(value), None) => value,
                (op, _, _) => return Err(format!("the filter operator {op} is not supported; use ==")),
            };
            match term.selector.as_str() {
                "general.name" => query.name = Some(value),
                "hardware.serialNumber" => query.serial = Some(value),
                "udid" => query.udid = Some(value),
                other => return Err(format!("filtering on {other} is not supported; use general.name, hardware.serialNumber or udid")),
            }
        }
    }
    let mut sections: Vec<String> = pairs.iter().filter(|(k, _)| k == "section").map(|(_, v)| v.to_ascii_uppercase()).collect();
    if sections.is_empty() {
        sections.push("GENERAL".into());
    }
    if let Some(unknown) = sections.iter().find(|s| !SECTIONS.contains(&s.as_str()) && s.as_str() != "ALL") {
        return Err(format!("unknown section {unknown}; sections: {}", SECTIONS.join(", ")));
    }
    Ok((query, sections))
}

/// The comparisons of a filter that only joins them with `;` (the store matches each
/// field exactly); `,` and groups that need it are refused.
fn conjunction(node: Node) -> Result<Vec<Comparison>, String> {
    match node {
        Node::Comparison(c) => Ok(vec![c]),
        Node::And(parts) => Ok(parts.into_iter().map(conjunction).collect::<Result<Vec<_>, _>>()?.concat()),
        Node::Or(_) => Err("filters joined by , (or) are not supported; join terms with ;".into()),
    }
}

/// One computer with the requested sections; the others are null.
pub fn computer_json(c: &ComputerRow, users: &[LocalUserRow], sections: &[String], now_ms: i64) -> Value {
    let inv: Option<InventoryReport> = c.inventory.as_deref().and_then(|i| serde_json::from_str(i).ok());
    let want = |s: &str| sections.iter().any(|x| x == s || x == "ALL");
    let ms = platform::clock::ms_to_rfc3339;
    let mut v = json!({"id": c.id.to_string(), "udid": c.udid});
    v["general"] = if want("GENERAL") {
        json!({"name": c.name, "platform": "Mac", "reportDate": c.collected_ms.map(ms), "lastContactTime": c.last_checkin_ms.map(ms),
               "lastEnrolledDate": ms(c.enrolled_ms), "managementId": c.udid})
    } else {
        Value::Null
    };
    v["hardware"] = match want("HARDWARE") {
        true => {
            let h = inv.as_ref().map(|i| i.hardware.clone()).unwrap_or_default();
            json!({"make": "Apple", "model": c.model, "serialNumber": c.serial_number, "modelIdentifier": h.model_identifier,
                   "processorArchitecture": h.processor_architecture, "processorType": h.processor_type, "coreCount": h.core_count,
                   "totalRamMegabytes": h.total_ram_mb, "macAddress": h.mac_address})
        }
        false => Value::Null,
    };
    v["operatingSystem"] = match (&inv, want("OPERATING_SYSTEM")) {
        (Some(i), true) => {
            // Jamf Pro reports a Rapid Security Response apart from the version.
            let version = i.os_version.parse::<MacOsVersion>().ok();
            let rsr = version.as_ref().and_then(|v| v.rsr()).map(|l| format!("({l})"));
            json!({"name": i.os_name, "version": version.map(|v| v.numbers_text()).unwrap_or_else(|| i.os_version.clone()),
                   "build": i.os_build, "rapidSecurityResponse": rsr,
                   "supplementalBuildVersion": rsr.is_some().then(|| i.os_build.clone()),
                   "fileVault2Status": i.filevault_status()})
        }
        _ => Value::Null,
    };
    v["security"] = match (&inv, want("SECURITY")) {
        (Some(i), true) => json!({
            "sipStatus": i.security.sip.as_str(),
            "gatekeeperStatus": i.security.gatekeeper.as_str(),
            "firewallEnabled": i.security.firewall_enabled, "autoLoginDisabled": i.security.prevent_auto_login,
            "firewallBlockAllIncoming": i.security.firewall_block_all_incoming, "firewallStealthMode": i.security.firewall_stealth_mode,
        }),
        _ => Value::Null,
    };
    v["diskEncryption"] = match (&inv, want("DISK_ENCRYPTION")) {
        (Some(i), true) => json!({
            "fileVault2Enabled": i.security.filevault_enabled,
            "bootPartitionEncryptionDetails": i.volumes.iter().find(|v| v.boot).map(|v| json!({"partitionName": v.name, "partitionFileVault2State": v.filevault})),
            "individualVolumeFileVaultStates": i.volumes.iter().map(|v| json!({"name": v.name, "fileVault2State": v.filevault, "boot": v.boot})).collect::<Vec<_>>(),
        }),
        _ => Value::Null,
    };
    v["localUserAccounts"] = if want("LOCAL_USER_ACCOUNTS") {
        Value::Array(users.iter().map(|u| json!({
            "username": u.username,
            "fullName": inv.as_ref().and_then(|i| i.local_users.iter().find(|l| l.username == u.username)).map(|l| l.full_name.clone()),
            "computerAzureActiveDirectoryId": u.aad_device_id, "userAzureActiveDirectoryId": u.aad_user_id,
            // The real API's name for the Conditional Access inventory state.
            "azureActiveDirectoryId": ca_state(u.aad_device_id.is_some(), u.removed_ms.is_some(), c.last_checkin_ms, now_ms),
            "passwordMinLength": inv.as_ref().and_then(|i| i.password_policy.min_length),
            "passwordMinComplexCharacters": inv.as_ref().and_then(|i| i.password_policy.min_complex_characters),
            "passwordMaxAge": inv.as_ref().and_then(|i| i.password_policy.max_age_days),
            "passwordRequireAlphanumeric": inv.as_ref().and_then(|i| i.password_policy.require_alphanumeric),
            "passwordHistoryDepth": inv.as_ref().and_then(|i| i.password_policy.history_depth),
        })).collect())
    } else {
        Value::Array(vec![])
    };
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn a_page_past_every_row_is_empty_never_the_first() {
        let (q, _) = parse(&pairs("page=9223372036854775807&page-size=2000")).unwrap();
        assert_eq!(q.offset(), i64::MAX);
        let (q, _) = parse(&pairs("page=3&page-size=50")).unwrap();
        assert_eq!(q.offset(), 150);
    }

    #[test]
    fn queries_parse_like_the_real_api() {
        let (q, sections) = parse(&pairs("section=GENERAL&section=local_user_accounts&page=2&page-size=50&sort=hardware.serialNumber:desc&filter=general.name==%22Orchard%22;udid==ABC")).unwrap();
        assert_eq!((q.page, q.page_size, q.sort_column, q.descending), (2, 50, SortColumn::Serial, true));
        assert_eq!((q.name.as_deref(), q.udid.as_deref()), (Some("Orchard"), Some("ABC")));
        assert_eq!(sections, ["GENERAL", "LOCAL_USER_ACCOUNTS"]);
        assert!(parse(&pairs("page-size=0")).is_err());
        assert!(parse(&pairs("sort=general.reportDate:asc")).unwrap_err().contains("not supported"));
        assert!(parse(&pairs("filter=general.name=lt=A")).unwrap_err().contains("=lt= is not supported"));
        assert!(parse(&pairs("filter=udid==A,udid==B")).unwrap_err().contains("not supported"));
        assert!(parse(&pairs("filter=udid==A;")).unwrap_err().contains("position 7"));
        let (q, _) = parse(&pairs("filter=general.name==%22Lab%3B%202%22;(udid==X)")).unwrap();
        assert_eq!((q.name.as_deref(), q.udid.as_deref()), (Some("Lab; 2"), Some("X")));
        assert!(parse(&pairs("section=PRINTERS")).unwrap_err().contains("unknown section"));
        assert!(parse(&pairs("pagesize=5")).unwrap_err().contains("unknown query parameter 'pagesize'"));
    }
}
