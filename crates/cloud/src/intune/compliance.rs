//! Evaluation of macOS compliance policies (docs/microsoft-compatibility.md) against what a partner reported.
//! Pure functions: the upload worker and the clock tick feed them, nothing here touches
//! storage.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use wire::agent::{GatekeeperStatus, SipStatus};
use wire::apple::{MacOsBuild, MacOsVersion};
use wire::partner::DeviceItem;

pub use crate::intune::policy_settings::{MacOsPolicySettings, ScheduledActionConfiguration, ScheduledActionsForRule, label};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SettingState {
    Compliant,
    Noncompliant,
    /// The partner did not send the attribute the setting reads.
    NotApplicable,
    /// The partner sent the attribute in a form that cannot be evaluated.
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingResult {
    pub policy_id: String,
    pub setting: String,
    pub state: SettingState,
    /// What the partner reported, for the per-setting report.
    pub actual: Option<String>,
    /// What the policy requires.
    pub expected: String,
}

/// Compares a reported macOS version with a policy's: a Rapid Security Response counts
/// as the version it patches unless the policy itself names one (`13.4.1 (a)`). `None`
/// when either cannot be read.
pub fn compare_versions(reported: &str, required: &str) -> Option<Ordering> {
    let (reported, required) = (reported.parse::<MacOsVersion>().ok()?, required.parse::<MacOsVersion>().ok()?);
    Some(match required.rsr() {
        Some(_) => reported.cmp(&required),
        None => reported.cmp_base(&required),
    })
}

/// Compares macOS builds as Apple numbers them (`22F82 < 22F770820d < 22G74`; see
/// `wire::apple`). `None` when either cannot be read.
pub fn compare_builds(reported: &str, required: &str) -> Option<Ordering> {
    Some(reported.parse::<MacOsBuild>().ok()?.cmp(&required.parse::<MacOsBuild>().ok()?))
}

/// A reported attribute, unless it says the partner did not collect it (Jamf Pro's
/// `NOT_COLLECTED`, `NOT_AVAILABLE`): such a setting is not applicable, not an error.
fn collected<T: std::str::FromStr>(value: &Option<String>, not_collected: impl Fn(&T) -> bool) -> Option<String> {
    value.clone().filter(|v| !v.parse::<T>().is_ok_and(|parsed| not_collected(&parsed)))
}

impl SettingResult {
    /// One sentence for a setting that is not met, as the partner and the admin see it:
    /// `Require encryption: reported not encrypted`, `Minimum OS version: requires >= 14.0,
    /// reported 13.6.9`. `None` for a met or not applicable setting.
    pub fn reason(&self) -> Option<String> {
        let label = label(&self.setting);
        let actual = self.actual.as_deref().unwrap_or("nothing");
        match self.state {
            SettingState::Compliant | SettingState::NotApplicable => None,
            SettingState::Error => Some(format!("{label}: the reported value '{actual}' cannot be evaluated")),
            SettingState::Noncompliant => Some(match (self.setting.as_str(), actual) {
                ("storageRequireEncryption", "false") => format!("{label}: reported not encrypted"),
                ("firewallEnabled" | "firewallEnableStealthMode", "false") => format!("{label}: reported off"),
                ("firewallBlockAllIncoming", "false") => format!("{label}: reported not blocked"),
                _ => format!("{label}: requires {}, reported {actual}", self.expected),
            }),
        }
    }
}

struct Check<'a> {
    policy_id: &'a str,
    out: Vec<SettingResult>,
}

impl Check<'_> {
    /// `verdict` gets the reported value: `Some(true)` compliant, `Some(false)`
    /// noncompliant, `None` the value cannot be evaluated (error).
    fn add(&mut self, setting: &str, expected: String, actual: Option<String>, verdict: impl FnOnce(&str) -> Option<bool>) {
        let state = match actual.as_deref() {
            None => SettingState::NotApplicable,
            Some(v) => match verdict(v) {
                Some(true) => SettingState::Compliant,
                Some(false) => SettingState::Noncompliant,
                None => SettingState::Error,
            },
        };
        self.out.push(SettingResult { policy_id: self.policy_id.into(), setting: setting.into(), state, actual, expected });
    }
}

fn number(v: &str) -> Option<i64> {
    v.trim().parse().ok()
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Every configured setting of one policy against one device's reported attributes.
pub fn evaluate(policy_id: &str, s: &MacOsPolicySettings, item: &DeviceItem) -> Vec<SettingResult> {
    let mut c = Check { policy_id, out: Vec::new() };
    system_and_os(&mut c, s, item);
    password(&mut c, s, item);
    security(&mut c, s, item);
    c.out
}

/// System Integrity Protection and the OS version and build bounds.
fn system_and_os(c: &mut Check<'_>, s: &MacOsPolicySettings, item: &DeviceItem) {
    if s.system_integrity_protection_enabled {
        let sip = collected(&item.sip, |v: &SipStatus| matches!(v, SipStatus::NotCollected | SipStatus::NotAvailable));
        c.add("systemIntegrityProtectionEnabled", "Enabled".into(), sip, |v| match v.parse::<SipStatus>().ok()? {
            SipStatus::Enabled => Some(true),
            _ => Some(false),
        });
    }
    if let Some(min) = &s.os_minimum_version {
        c.add("osMinimumVersion", format!(">= {min}"), item.os_version.clone(), |v| compare_versions(v, min).map(|o| o != Ordering::Less));
    }
    if let Some(max) = &s.os_maximum_version {
        c.add("osMaximumVersion", format!("<= {max}"), item.os_version.clone(), |v| {
            compare_versions(v, max).map(|o| o != Ordering::Greater)
        });
    }
    if let Some(min) = &s.os_minimum_build_version {
        c.add("osMinimumBuildVersion", format!(">= {min}"), item.os_build.clone(), |v| compare_builds(v, min).map(|o| o != Ordering::Less));
    }
    if let Some(max) = &s.os_maximum_build_version {
        c.add("osMaximumBuildVersion", format!("<= {max}"), item.os_build.clone(), |v| {
            compare_builds(v, max).map(|o| o != Ordering::Greater)
        });
    }
}

/// The password settings.
fn password(c: &mut Check<'_>, s: &MacOsPolicySettings, item: &DeviceItem) {
    let password_type = item.password_type.clone().map(|t| t.to_ascii_lowercase());
    if s.password_required {
        c.add("passwordRequired", "a password".into(), password_type.clone(), |v| match v {
            "simple" | "alphanumeric" => Some(true),
            "unknown" | "none" => Some(false),
            _ => None,
        });
    }
    if s.password_block_simple {
        c.add("passwordBlockSimple", "not simple".into(), password_type.clone(), |v| match v {
            "simple" => Some(false),
            "alphanumeric" => Some(true),
            "unknown" | "none" => Some(false),
            _ => None,
        });
    }
    if s.password_required_type.as_deref() == Some("alphanumeric") {
        c.add("passwordRequiredType", "alphanumeric".into(), password_type, |v| match v {
            "alphanumeric" => Some(true),
            "simple" | "unknown" | "none" => Some(false),
            _ => None,
        });
    }
    if let Some(n) = s.password_minimum_length {
        c.add("passwordMinimumLength", format!(">= {n}"), item.passcode_length.clone(), |v| number(v).map(|l| l >= n as i64));
    }
    if let Some(n) = s.password_minimum_character_set_count {
        c.add("passwordMinimumCharacterSetCount", format!(">= {n}"), item.minimum_password_char_sets.clone(), |v| {
            number(v).map(|l| l >= n as i64)
        });
    }
    if let Some(n) = s.password_expiration_days {
        // The device must expire passwords at least this often (0 or absent: never).
        c.add("passwordExpirationDays", format!("<= {n}"), item.password_expiration_days.clone(), |v| {
            number(v).map(|d| d > 0 && d <= n as i64)
        });
    }
    if let Some(n) = s.password_previous_password_block_count {
        c.add("passwordPreviousPasswordBlockCount", format!(">= {n}"), item.password_history_length.clone(), |v| {
            number(v).map(|h| h >= n as i64)
        });
    }
}

/// Encryption, the firewall and Gatekeeper.
fn security(c: &mut Check<'_>, s: &MacOsPolicySettings, item: &DeviceItem) {
    let flag = |b: Option<bool>| b.map(|b| b.to_string());
    if s.storage_require_encryption {
        c.add("storageRequireEncryption", "true".into(), flag(item.encrypted), boolean);
    }
    if s.firewall_enabled {
        c.add("firewallEnabled", "true".into(), flag(item.firewall_enabled), boolean);
    }
    if s.firewall_block_all_incoming {
        c.add("firewallBlockAllIncoming", "true".into(), flag(item.firewall_block_all_incoming), boolean);
    }
    if s.firewall_enable_stealth_mode {
        c.add("firewallEnableStealthMode", "true".into(), flag(item.firewall_stealth_mode), boolean);
    }
    let gatekeeper = collected(&item.gatekeeper, |v: &GatekeeperStatus| *v == GatekeeperStatus::NotCollected);
    let openness = |v: &str| v.parse::<GatekeeperStatus>().ok()?.openness();
    match s.gatekeeper_allowed_app_source.as_deref() {
        Some("macAppStore") => c.add("gatekeeperAllowedAppSource", "App Store".into(), gatekeeper, |v| openness(v).map(|r| r == 0)),
        Some("macAppStoreAndIdentifiedDevelopers") => {
            c.add("gatekeeperAllowedAppSource", "App Store and identified developers".into(), gatekeeper, |v| openness(v).map(|r| r <= 1))
        }
        _ => {}
    }
}

/// A device's (or one policy's) compliance state, as Graph spells `complianceState`
/// (Microsoft Graph, `complianceState` enum of `managedDevice`); stored as that text.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, strum::Display, strum::EnumString, strum::AsRefStr,
)]
#[serde(rename_all = "camelCase")]
#[strum(serialize_all = "camelCase")]
pub enum ComplianceState {
    /// Not evaluated (a userless Mac, or no report yet).
    #[default]
    Unknown,
    NotApplicable,
    Compliant,
    /// Noncompliant, but the policy's grace period has not ended: still counts as compliant.
    InGracePeriod,
    Noncompliant,
    Conflict,
    /// A setting could not be evaluated.
    Error,
    ConfigManager,
}

wire::text_enum!(ComplianceState);

impl ComplianceState {
    /// The state as the Intune admin center words it.
    pub fn label(self) -> &'static str {
        match self {
            ComplianceState::Unknown => "Not evaluated",
            ComplianceState::NotApplicable => "Not applicable",
            ComplianceState::Compliant => "Compliant",
            ComplianceState::InGracePeriod => "In grace period",
            ComplianceState::Noncompliant => "Not compliant",
            ComplianceState::Conflict => "Conflict",
            ComplianceState::Error => "Error",
            ComplianceState::ConfigManager => "Managed by Configuration Manager",
        }
    }

    /// How severe the state is; a device takes its policies' most severe one (Microsoft
    /// Learn, "Monitor results of your Intune Device compliance policies": unknown < not
    /// applicable < compliant < in grace period < not compliant < error).
    pub fn severity(self) -> u8 {
        match self {
            ComplianceState::Unknown | ComplianceState::ConfigManager => 0,
            ComplianceState::NotApplicable => 1,
            ComplianceState::Compliant => 2,
            ComplianceState::InGracePeriod => 3,
            ComplianceState::Noncompliant | ComplianceState::Conflict => 4,
            ComplianceState::Error => 5,
        }
    }

    /// The Entra device's `isCompliant`: a device in its grace period still counts; an
    /// unknown state leaves it unset.
    pub fn is_compliant(self) -> Option<bool> {
        match self {
            ComplianceState::Compliant | ComplianceState::InGracePeriod => Some(true),
            ComplianceState::Unknown => None,
            _ => Some(false),
        }
    }
}

/// What the device's state was before this evaluation (for grace period and error hold).
#[derive(Debug, Clone, Default)]
pub struct Previous {
    pub state: Option<ComplianceState>,
    pub noncompliant_since_ms: Option<i64>,
    pub error_since_ms: Option<i64>,
}

/// The device's new state and the clocks to remember.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub state: ComplianceState,
    pub noncompliant_since_ms: Option<i64>,
    pub error_since_ms: Option<i64>,
    pub grace_expires_ms: Option<i64>,
}

impl Verdict {
    /// A state decided elsewhere (the partner's own verdict).
    pub fn decided(compliant: bool) -> Verdict {
        Verdict {
            state: if compliant { ComplianceState::Compliant } else { ComplianceState::Noncompliant },
            noncompliant_since_ms: None,
            error_since_ms: None,
            grace_expires_ms: None,
        }
    }

    /// Not evaluated (userless Macs).
    pub fn decided_unknown() -> Verdict {
        Verdict { state: ComplianceState::Unknown, noncompliant_since_ms: None, error_since_ms: None, grace_expires_ms: None }
    }

    /// The Entra device's `isCompliant`: a device in its grace period still counts.
    pub fn is_compliant(&self) -> Option<bool> {
        self.state.is_compliant()
    }
}

/// A setting in error keeps the previous state for this long.
pub const ERROR_HOLD_MS: i64 = 7 * 24 * 3600 * 1000;

/// One policy's compliance state from its settings' results (docs/operations.md, Clocks), with its own
/// grace period (`grace_hours`, the policy's `block` action) and the clocks it kept from
/// the previous evaluation. A device under several policies takes the worst of their
/// states (`intune::combine`).
pub fn overall(results: &[SettingResult], grace_hours: i64, previous: &Previous, now_ms: i64) -> Verdict {
    let plain = |state: ComplianceState| Verdict { state, noncompliant_since_ms: None, error_since_ms: None, grace_expires_ms: None };
    if results.iter().any(|r| r.state == SettingState::Error) {
        let since = previous.error_since_ms.unwrap_or(now_ms);
        let held = previous.state.filter(|_| now_ms - since < ERROR_HOLD_MS);
        let state = match held {
            Some(s @ (ComplianceState::Compliant | ComplianceState::Noncompliant | ComplianceState::InGracePeriod)) => s,
            _ => ComplianceState::Error,
        };
        // A held noncompliance keeps its clock, so its grace period still ends on time.
        let noncompliant_since_ms =
            previous.noncompliant_since_ms.filter(|_| matches!(state, ComplianceState::Noncompliant | ComplianceState::InGracePeriod));
        let grace_expires_ms = noncompliant_since_ms.filter(|_| grace_hours > 0).map(|since| since + grace_hours * 3600 * 1000);
        return Verdict { state, noncompliant_since_ms, error_since_ms: Some(since), grace_expires_ms };
    }
    if results.iter().any(|r| r.state == SettingState::Noncompliant) {
        let since = previous.noncompliant_since_ms.unwrap_or(now_ms);
        let grace_end = since + grace_hours * 3600 * 1000;
        let state = if grace_hours > 0 && now_ms < grace_end { ComplianceState::InGracePeriod } else { ComplianceState::Noncompliant };
        return Verdict {
            state,
            noncompliant_since_ms: Some(since),
            error_since_ms: None,
            grace_expires_ms: (grace_hours > 0).then_some(grace_end),
        };
    }
    plain(ComplianceState::Compliant)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "p";

    #[test]
    fn versions_and_builds_compare_as_numbers() {
        assert_eq!(compare_versions("10.15.7", "11.0"), Some(Ordering::Less));
        assert_eq!(compare_versions("11.10", "11.9"), Some(Ordering::Greater));
        assert_eq!(compare_versions("14.0", "14"), Some(Ordering::Equal));
        assert_eq!(compare_versions("26.1", "15.7"), Some(Ordering::Greater));
        // A Rapid Security Response counts as its base version, unless the policy names one.
        assert_eq!(compare_versions("13.4.1 (a)", "13.4.1"), Some(Ordering::Equal));
        assert_eq!(compare_versions("13.4.1 (a)", "13.4.1 (c)"), Some(Ordering::Less));
        assert_eq!(compare_builds("23H124", "23G93"), Some(Ordering::Greater));
        assert_eq!(compare_builds("22G830", "23A344"), Some(Ordering::Less));
        assert_eq!(compare_builds("22F770820d", "22F82"), Some(Ordering::Greater));
        assert_eq!(compare_builds("22F770820d", "22G74"), Some(Ordering::Less));
        assert_eq!(compare_builds("garbage", "23A344"), None);
    }

    #[test]
    fn every_setting_reads_its_attribute() {
        let s = MacOsPolicySettings {
            system_integrity_protection_enabled: true,
            os_minimum_version: Some("13.0".into()),
            os_maximum_version: Some("15.9".into()),
            os_minimum_build_version: Some("22A380".into()),
            password_required: true,
            password_block_simple: true,
            password_minimum_length: Some(8),
            password_required_type: Some("alphanumeric".into()),
            password_minimum_character_set_count: Some(2),
            password_expiration_days: Some(90),
            password_previous_password_block_count: Some(5),
            storage_require_encryption: true,
            firewall_enabled: true,
            gatekeeper_allowed_app_source: Some("macAppStoreAndIdentifiedDevelopers".into()),
            ..Default::default()
        };
        let good = DeviceItem {
            sip: Some("Enabled".into()),
            os_version: Some("14.6.1".into()),
            os_build: Some("23G93".into()),
            password_type: Some("alphanumeric".into()),
            passcode_length: Some("12".into()),
            minimum_password_char_sets: Some("3".into()),
            password_expiration_days: Some("60".into()),
            password_history_length: Some("10".into()),
            encrypted: Some(true),
            firewall_enabled: Some(true),
            gatekeeper: Some("App Store".into()),
            ..Default::default()
        };
        let results = evaluate(P, &s, &good);
        assert_eq!(results.len(), 14);
        assert!(results.iter().all(|r| r.state == SettingState::Compliant), "{results:?}");
        let bad = DeviceItem {
            sip: Some("Disabled".into()),
            os_version: Some("12.7.6".into()),
            password_type: Some("simple".into()),
            passcode_length: Some("4".into()),
            encrypted: Some(false),
            gatekeeper: Some("Anywhere".into()),
            ..Default::default()
        };
        let results = evaluate(P, &s, &bad);
        let state = |name: &str| results.iter().find(|r| r.setting == name).unwrap().state;
        for name in [
            "systemIntegrityProtectionEnabled",
            "osMinimumVersion",
            "passwordBlockSimple",
            "passwordMinimumLength",
            "passwordRequiredType",
            "storageRequireEncryption",
            "gatekeeperAllowedAppSource",
        ] {
            assert_eq!(state(name), SettingState::Noncompliant, "{name}");
        }
        assert_eq!(state("firewallEnabled"), SettingState::NotApplicable);
        assert_eq!(state("osMaximumVersion"), SettingState::Compliant);
    }

    #[test]
    fn every_vendor_spelling_of_sip_and_gatekeeper_is_understood() {
        let s = MacOsPolicySettings {
            system_integrity_protection_enabled: true,
            gatekeeper_allowed_app_source: Some("macAppStoreAndIdentifiedDevelopers".into()),
            ..Default::default()
        };
        let state = |sip: &str, gatekeeper: &str| -> Vec<SettingState> {
            evaluate(P, &s, &DeviceItem { sip: Some(sip.into()), gatekeeper: Some(gatekeeper.into()), ..Default::default() })
                .iter()
                .map(|r| r.state)
                .collect()
        };
        use SettingState::*;
        assert_eq!(state("ENABLED", "APP_STORE_AND_IDENTIFIED_DEVELOPERS"), [Compliant, Compliant]);
        assert_eq!(state("Enabled", "App Store"), [Compliant, Compliant]);
        assert_eq!(state("DISABLED", "DISABLED"), [Noncompliant, Noncompliant], "Gatekeeper off lets apps in from anywhere");
        assert_eq!(state("NOT_COLLECTED", "NOT_COLLECTED"), [NotApplicable, NotApplicable]);
        assert_eq!(state("sometimes", "maybe"), [Error, Error]);
    }

    #[test]
    fn settings_not_met_give_one_sentence_each() {
        let s = MacOsPolicySettings {
            storage_require_encryption: true,
            os_minimum_version: Some("14.0".into()),
            firewall_enabled: true,
            ..Default::default()
        };
        let item =
            DeviceItem { encrypted: Some(false), os_version: Some("13.6.9".into()), firewall_enabled: Some(true), ..Default::default() };
        let reasons: Vec<String> = evaluate(P, &s, &item).iter().filter_map(SettingResult::reason).collect();
        assert_eq!(reasons, ["Minimum OS version: requires >= 14.0, reported 13.6.9", "Require encryption: reported not encrypted"]);
    }

    #[test]
    fn unreadable_attributes_are_errors_and_keep_the_old_state_for_seven_days() {
        let s = MacOsPolicySettings { os_minimum_version: Some("13.0".into()), ..Default::default() };
        let r = evaluate(P, &s, &DeviceItem { os_version: Some("fourteen".into()), ..Default::default() });
        assert_eq!(r[0].state, SettingState::Error);
        let prev = Previous { state: Some(ComplianceState::Compliant), ..Default::default() };
        let v = overall(&r, 0, &prev, 0);
        assert_eq!((v.state, v.error_since_ms), (ComplianceState::Compliant, Some(0)));
        let prev = Previous { state: Some(ComplianceState::Compliant), error_since_ms: Some(0), ..Default::default() };
        assert_eq!(overall(&r, 0, &prev, ERROR_HOLD_MS + 1).state, ComplianceState::Error);
    }

    #[test]
    fn grace_period_delays_noncompliance() {
        let s = MacOsPolicySettings { storage_require_encryption: true, ..Default::default() };
        let r = evaluate(P, &s, &DeviceItem { encrypted: Some(false), ..Default::default() });
        let first = overall(&r, 24, &Previous::default(), 0);
        assert_eq!((first.state, first.is_compliant()), (ComplianceState::InGracePeriod, Some(true)));
        let prev = Previous {
            state: Some(ComplianceState::InGracePeriod),
            noncompliant_since_ms: first.noncompliant_since_ms,
            ..Default::default()
        };
        let later = overall(&r, 24, &prev, 25 * 3600 * 1000);
        assert_eq!((later.state, later.is_compliant()), (ComplianceState::Noncompliant, Some(false)));
        assert_eq!(overall(&r, 0, &Previous::default(), 0).state, ComplianceState::Noncompliant);
    }

    #[test]
    fn policy_validation_names_the_bad_setting() {
        assert!(MacOsPolicySettings::default().validate().is_ok());
        let bad = MacOsPolicySettings { password_minimum_length: Some(40), ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("passwordMinimumLength"));
        let bad = MacOsPolicySettings { gatekeeper_allowed_app_source: Some("everywhere".into()), ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("gatekeeperAllowedAppSource"));
    }
}
