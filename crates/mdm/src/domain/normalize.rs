//! The one door inventory comes in by: from what a Mac's agent or a Jamf Pro export
//! reports to the stored report the partner attributes are built from (the table is in
//! `docs/inventory.md`).
//!
//! - **Compliance data** (the OS version and build, security settings, FileVault per
//!   volume, password rules, local users, the collection date) must be readable: a value
//!   that is not is refused naming the field and what is allowed, and nothing is stored.
//! - **Informational data** (hardware, names, models) never blocks a report: a value
//!   that cannot be read is dropped and named in the answer's warnings.
//! - Every vendor spelling of a value is read (Jamf Pro's `APP_STORE_AND_IDENTIFIED_DEVELOPERS`,
//!   macOS's `App Store and identified developers`, `i386` for an Intel Mac, an RSR
//!   version `13.4.1 (a)` or a separate `(a)`), and stored under one canonical spelling.
//! - Names are counted in characters, as people count them, not in bytes.
//! - The Mac's clock is not trusted: a collection date ahead of the server's clock is
//!   taken as the time received (nothing can have been collected later), with a warning
//!   when it is further ahead than clocks drift; the report itself is kept, so a Mac with
//!   a wrong clock still reports its compliance data.

use serde_json::Value;
use wire::agent::InventoryReport;
use wire::apple::{MacOsBuild, MacOsVersion};

/// The longest name (device, model, user, volume) kept, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// A report fit to store, and what was dropped on the way.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub report: InventoryReport,
    /// The collection date as stored: never ahead of the time received.
    pub collected_ms: i64,
    /// Informational values that could not be read and were dropped, one sentence each.
    pub warnings: Vec<String>,
}

/// What an informational name falls back to when a report has none that can be read:
/// the computer's current name and model.
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    pub device_name: &'a str,
    pub model: &'a str,
}

/// A report refused: `field` names where, `message` what is wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refused {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> Refused {
    Refused { field: field.into(), message: message.into() }
}

pub use platform::text::within_chars as within;

/// Normalises a whole report (a full one, or a partial one merged over the stored
/// report) received at `now_ms` on the server's clock.
pub fn report(raw: Value, now_ms: i64, defaults: &Defaults<'_>) -> Result<Normalized, Refused> {
    let Value::Object(mut raw) = raw else { return Err(refuse("(body)", "an inventory report must be a JSON object")) };
    let mut warnings = Vec::new();
    informational(&mut raw, defaults, &mut warnings);
    let mut report: InventoryReport = serde_path_to_error::deserialize(Value::Object(raw)).map_err(|e| {
        let field = e.path().to_string();
        refuse(if field == "." { "(body)".into() } else { field }, e.into_inner().to_string())
    })?;
    let collected_ms = collected_at(&report.collected_at, now_ms, &mut warnings)?;
    report.collected_at = platform::clock::ms_to_rfc3339(collected_ms);
    os(&mut report)?;
    users(&report)?;
    volumes(&report)?;
    password_policy(&report)?;
    Ok(Normalized { report, collected_ms, warnings })
}

/// Drops what an informational field holds when it cannot be read, and writes the
/// architecture in one spelling.
fn informational(raw: &mut serde_json::Map<String, Value>, defaults: &Defaults<'_>, warnings: &mut Vec<String>) {
    for (field, default) in [("device_name", defaults.device_name), ("model", defaults.model)] {
        match raw.get_mut(field) {
            Some(Value::String(s)) if s.trim().chars().count() > MAX_NAME_CHARS => {
                *s = s.trim().chars().take(MAX_NAME_CHARS).collect();
                warnings.push(format!("{field} was longer than {MAX_NAME_CHARS} characters and was shortened."));
            }
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            other => {
                if other.is_some() {
                    warnings.push(format!("{field} could not be read; '{default}' is kept."));
                }
                raw.insert(field.into(), Value::String(default.into()));
            }
        }
    }
    if !raw.get("os_name").is_some_and(|v| v.as_str().is_some_and(|s| within(s, 64))) {
        if raw.contains_key("os_name") {
            warnings.push("os_name could not be read; macOS is assumed.".into());
        }
        raw.insert("os_name".into(), Value::String("macOS".into()));
    }
    if let Some(users) = raw.get_mut("local_users").and_then(Value::as_array_mut) {
        for (i, user) in users.iter_mut().enumerate().filter(|(_, u)| u.is_object()) {
            match user.get("full_name") {
                Some(Value::String(name)) if name.chars().count() <= MAX_NAME_CHARS => {}
                Some(_) => {
                    warnings.push(format!("local_users[{i}].full_name could not be read and was dropped."));
                    user["full_name"] = Value::String(String::new());
                }
                None => user["full_name"] = Value::String(String::new()),
            }
        }
    }
    match raw.get_mut("hardware") {
        None => {}
        Some(Value::Null) => {
            raw.remove("hardware");
        }
        Some(Value::Object(hardware)) => hardware_fields(hardware, warnings),
        Some(_) => {
            warnings.push("hardware is not an object and was dropped.".into());
            raw.remove("hardware");
        }
    }
}

fn hardware_fields(hardware: &mut serde_json::Map<String, Value>, warnings: &mut Vec<String>) {
    let mut drop = |hardware: &mut serde_json::Map<String, Value>, field: &str, value: &Value| {
        warnings.push(format!("hardware.{field} {value} could not be read and was dropped."));
        hardware.remove(field);
    };
    for field in ["model_identifier", "processor_type", "mac_address"] {
        match hardware.get(field).cloned() {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if within(&s, MAX_NAME_CHARS) => {}
            Some(other) => drop(hardware, field, &other),
        }
    }
    match hardware.get("processor_architecture").cloned() {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match architecture(&s) {
            Some(a) => {
                hardware.insert("processor_architecture".into(), Value::String(a.into()));
            }
            None => drop(hardware, "processor_architecture", &Value::String(s)),
        },
        Some(other) => drop(hardware, "processor_architecture", &other),
    }
    for (field, range) in [("core_count", 1..=1024_i64), ("total_ram_mb", 0..=i64::from(i32::MAX) * 1024)] {
        match hardware.get(field).cloned() {
            None | Some(Value::Null) => {}
            Some(v) if v.as_i64().is_some_and(|n| range.contains(&n) && (field != "core_count" || i32::try_from(n).is_ok())) => {}
            Some(other) => drop(hardware, field, &other),
        }
    }
}

/// `arm64` or `x86_64` from any spelling macOS (`uname -m`, `arm64e`), Jamf Pro (`i386`
/// for many Intel Macs) or System Information (`Intel`, `Apple Silicon`) uses.
pub fn architecture(value: &str) -> Option<&'static str> {
    match wire::agent::vocabulary_key(value).as_str() {
        "ARM64" | "ARM64E" | "ARM" | "AARCH64" | "APPLE_SILICON" => Some("arm64"),
        "X86_64" | "X86" | "X64" | "AMD64" | "I386" | "I686" | "INTEL" | "X86_64H" => Some("x86_64"),
        _ => None,
    }
}

fn collected_at(value: &str, now_ms: i64, warnings: &mut Vec<String>) -> Result<i64, Refused> {
    let at = platform::clock::parse_rfc3339(value)
        .ok_or_else(|| refuse("collected_at", format!("'{value}' is not an RFC 3339 date such as 2026-11-30T09:15:00Z")))?;
    Ok(platform::clock::reported_time(at.timestamp_millis(), now_ms).unwrap_or_else(|ahead| {
        warnings.push(format!(
            "collected_at {value} is {} ahead of this server's clock; the time received is kept. Correct the Mac's date and time.",
            platform::clock::describe_ms(ahead)
        ));
        now_ms
    }))
}

/// The version with its RSR letter (from the version or from `os_version_extra`) and
/// the build, in Apple's own spelling.
fn os(report: &mut InventoryReport) -> Result<(), Refused> {
    let mut version: MacOsVersion = report.os_version.parse().map_err(|e: wire::apple::ParseError| refuse("os_version", e.to_string()))?;
    if let Some(extra) = report.os_version_extra.take().filter(|e| !e.trim().is_empty()) {
        let with_extra = format!("{} {}", version.numbers_text(), extra.trim());
        version = with_extra
            .parse()
            .map_err(|_| refuse("os_version_extra", format!("'{extra}' is not a Rapid Security Response letter such as (a)")))?;
    }
    let build: MacOsBuild = report.os_build.parse().map_err(|e: wire::apple::ParseError| refuse("os_build", e.to_string()))?;
    report.os_version = version.to_string();
    report.os_build = build.to_string();
    Ok(())
}

fn users(report: &InventoryReport) -> Result<(), Refused> {
    let mut seen: Vec<String> = Vec::new();
    for (i, user) in report.local_users.iter().enumerate() {
        if !within(&user.username, MAX_NAME_CHARS) {
            return Err(refuse(format!("local_users[{i}].username"), format!("must be 1 to {MAX_NAME_CHARS} characters")));
        }
        let key = account_key(&user.username);
        if seen.contains(&key) {
            return Err(refuse(
                format!("local_users[{i}].username"),
                format!("'{}' appears twice (macOS account names are not case-sensitive)", user.username),
            ));
        }
        seen.push(key);
    }
    Ok(())
}

/// How macOS compares account names (and Entra compares UPNs): without regard to case.
pub fn account_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn volumes(report: &InventoryReport) -> Result<(), Refused> {
    let mut names: Vec<String> = Vec::new();
    for (i, v) in report.volumes.iter().enumerate() {
        if !within(&v.name, MAX_NAME_CHARS) {
            return Err(refuse(format!("volumes[{i}].name"), format!("must be 1 to {MAX_NAME_CHARS} characters")));
        }
        if names.contains(&v.name) {
            return Err(refuse(format!("volumes[{i}].name"), format!("'{}' appears twice", v.name)));
        }
        names.push(v.name.clone());
    }
    if report.volumes.iter().filter(|v| v.boot).count() > 1 {
        return Err(refuse("volumes", "at most one volume can be the boot volume"));
    }
    Ok(())
}

fn password_policy(report: &InventoryReport) -> Result<(), Refused> {
    let p = &report.password_policy;
    for (name, value, max) in [
        ("min_length", p.min_length, 64),
        ("min_complex_characters", p.min_complex_characters, 64),
        ("max_age_days", p.max_age_days, 65535),
        ("history_depth", p.history_depth, 64),
    ] {
        if value.is_some_and(|n| !(0..=max).contains(&n)) {
            return Err(refuse(format!("password_policy.{name}"), format!("must be between 0 and {max}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_790_000_000_000;
    const DEFAULTS: Defaults = Defaults { device_name: "Enrolled Mac", model: "Mac" };

    fn report(raw: Value, now_ms: i64) -> Result<Normalized, Refused> {
        super::report(raw, now_ms, &DEFAULTS)
    }

    fn mac() -> Value {
        json!({
            "collected_at": platform::clock::ms_to_rfc3339(NOW - 60_000), "device_name": "Mac", "model": "MacBook Pro",
            "hardware": {"processor_architecture": "arm64", "core_count": 8},
            "os_name": "macOS", "os_version": "14.6.1", "os_build": "23G93",
            "security": {"filevault_enabled": true, "sip": "Enabled", "gatekeeper": "App Store and identified developers",
                         "firewall_enabled": true, "prevent_auto_login": true},
            "local_users": [{"username": "alice", "full_name": "Alice"}],
        })
    }

    fn with(patch: Value) -> Value {
        let mut m = mac();
        for (k, v) in patch.as_object().unwrap() {
            if let (Some(Value::Object(inner)), Value::Object(p)) = (m.get_mut(k), v) {
                inner.extend(p.clone());
            } else {
                m[k] = v.clone();
            }
        }
        m
    }

    #[test]
    fn jamf_and_macos_spellings_are_understood() {
        let n = report(with(json!({"security": {"gatekeeper": "APP_STORE_AND_IDENTIFIED_DEVELOPERS", "sip": "ENABLED"}})), NOW).unwrap();
        assert_eq!(n.report.security.gatekeeper, wire::agent::GatekeeperStatus::AppStoreAndIdentifiedDevelopers);
        let n = report(with(json!({"security": {"gatekeeper": "DISABLED"}})), NOW).unwrap();
        assert_eq!(n.report.security.gatekeeper.partner_value(), Some("Anywhere"));
        let n = report(with(json!({"os_version": "13.4.1 (a)", "os_build": "22F770820d"})), NOW).unwrap();
        assert_eq!((n.report.os_version.as_str(), n.report.os_build.as_str()), ("13.4.1 (a)", "22F770820d"));
        let n = report(with(json!({"os_version": "13.4.1", "os_version_extra": "(c)", "os_build": "22F770820d"})), NOW).unwrap();
        assert_eq!((n.report.os_version.as_str(), n.report.os_version_extra.as_deref()), ("13.4.1 (c)", None));
        let n = report(with(json!({"volumes": [{"name": "Macintosh HD", "boot": true, "filevault": "RESTART_NEEDED"}]})), NOW).unwrap();
        assert!(!n.report.boot_volume_encrypted());
    }

    #[test]
    fn unknown_compliance_values_are_refused_naming_field_and_allowed_values() {
        let e = report(with(json!({"security": {"gatekeeper": "SOMETIMES"}})), NOW).unwrap_err();
        assert_eq!(e.field, "security.gatekeeper");
        assert!(e.message.contains("APP_STORE_AND_IDENTIFIED_DEVELOPERS") && e.message.contains("SOMETIMES"), "{e}");
        let e = report(with(json!({"volumes": [{"name": "A", "filevault": "SORT_OF"}]})), NOW).unwrap_err();
        assert_eq!(e.field, "volumes[0].filevault");
        assert!(e.message.contains("ENCRYPTING_PAUSED"), "{e}");
        assert_eq!(report(with(json!({"os_version": "fourteen"})), NOW).unwrap_err().field, "os_version");
        assert_eq!(report(with(json!({"os_build": "latest"})), NOW).unwrap_err().field, "os_build");
        let e = report(with(json!({"local_users": [{"username": "alice"}, {"username": "Alice"}]})), NOW).unwrap_err();
        assert!(e.message.contains("not case-sensitive"), "{e}");
    }

    #[test]
    fn informational_values_never_block_a_report() {
        let n = report(with(json!({"hardware": {"processor_architecture": "i386", "core_count": -3, "mac_address": 7}})), NOW).unwrap();
        assert_eq!(n.report.hardware.processor_architecture.as_deref(), Some("x86_64"), "i386 is an Intel Mac");
        assert_eq!((n.report.hardware.core_count, n.report.hardware.mac_address.as_deref()), (None, None));
        assert_eq!(n.warnings.len(), 2, "{:?}", n.warnings);
        let n = report(with(json!({"hardware": {"processor_architecture": "PowerPC"}})), NOW).unwrap();
        assert!(n.report.hardware.processor_architecture.is_none() && n.warnings[0].contains("PowerPC"));
        let long = "é".repeat(300);
        let n = report(with(json!({"device_name": long})), NOW).unwrap();
        assert_eq!(n.report.device_name.chars().count(), MAX_NAME_CHARS);
        let n = report(with(json!({"device_name": "ü".repeat(200)})), NOW).unwrap();
        assert!(n.warnings.is_empty(), "200 characters fit though they are 400 bytes");
        let n = report(with(json!({"device_name": null, "model": 7})), NOW).unwrap();
        assert_eq!((n.report.device_name.as_str(), n.report.model.as_str()), ("Enrolled Mac", "Mac"), "the computer's names are kept");
        assert_eq!(n.warnings.len(), 2, "{:?}", n.warnings);
    }

    #[test]
    fn the_macs_clock_is_not_trusted() {
        let at = |ms: i64| json!({"collected_at": platform::clock::ms_to_rfc3339(ms)});
        let n = report(with(at(NOW + 36 * 3_600_000)), NOW).unwrap();
        assert_eq!(n.collected_ms, NOW, "far ahead: taken as received");
        assert!(n.warnings.len() == 1 && n.warnings[0].contains("36 h ahead"), "{:?}", n.warnings);
        let n = report(with(json!({"collected_at": "2031-01-01T00:00:00Z"})), NOW).unwrap();
        assert_eq!((n.collected_ms, n.report.collected_at.as_str()), (NOW, platform::clock::ms_to_rfc3339(NOW).as_str()));
        let n = report(with(at(NOW + 60_000)), NOW).unwrap();
        assert_eq!(n.collected_ms, NOW, "a little ahead: taken as received");
        assert!(n.warnings.is_empty(), "within drift: no warning");
        assert!(report(with(json!({"collected_at": "yesterday"})), NOW).unwrap_err().field == "collected_at");
        assert_eq!(report(with(at(NOW - 5_000)), NOW).unwrap().collected_ms, NOW - 5_000);
    }
}
