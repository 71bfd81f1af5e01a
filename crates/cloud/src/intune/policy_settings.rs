//! The settings of a macOS compliance policy (Graph `#microsoft.graph.macOSCompliancePolicy`),
//! the rules a policy must respect to be saved, and the labels Intune's admin center
//! shows for them (Microsoft Learn: "macOS device compliance settings in Intune").

use serde::{Deserialize, Serialize};
use wire::apple::{MacOsBuild, MacOsVersion};

/// The `#microsoft.graph.macOSCompliancePolicy` settings. A `false` or absent requirement
/// means "not configured", as in Graph.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MacOsPolicySettings {
    #[serde(default)]
    pub system_integrity_protection_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_minimum_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_maximum_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_minimum_build_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_maximum_build_version: Option<String>,
    #[serde(default)]
    pub password_required: bool,
    #[serde(default)]
    pub password_block_simple: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_minimum_length: Option<i32>,
    /// `deviceDefault`, `alphanumeric` or `numeric`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_required_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_minimum_character_set_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_expiration_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_previous_password_block_count: Option<i32>,
    #[serde(default)]
    pub storage_require_encryption: bool,
    #[serde(default)]
    pub firewall_enabled: bool,
    #[serde(default)]
    pub firewall_block_all_incoming: bool,
    #[serde(default)]
    pub firewall_enable_stealth_mode: bool,
    /// `notConfigured`, `macAppStore`, `macAppStoreAndIdentifiedDevelopers`, `anywhere`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gatekeeper_allowed_app_source: Option<String>,
    /// Actions for noncompliance; a `block` action's `gracePeriodHours` is the grace period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled_actions_for_rule: Vec<ScheduledActionsForRule>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledActionsForRule {
    #[serde(default)]
    pub rule_name: Option<String>,
    #[serde(default)]
    pub scheduled_action_configurations: Vec<ScheduledActionConfiguration>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledActionConfiguration {
    pub action_type: String,
    #[serde(default)]
    pub grace_period_hours: i64,
}

impl MacOsPolicySettings {
    /// Hours a device may stay noncompliant before it is marked so (the `block` action).
    pub fn grace_period_hours(&self) -> i64 {
        self.scheduled_actions_for_rule
            .iter()
            .flat_map(|r| &r.scheduled_action_configurations)
            .filter(|a| a.action_type == "block")
            .map(|a| a.grace_period_hours)
            .max()
            .unwrap_or(0)
    }

    /// Rules a policy must respect to be saved.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("osMinimumVersion", &self.os_minimum_version), ("osMaximumVersion", &self.os_maximum_version)] {
            if let Some(v) = v
                && v.parse::<MacOsVersion>().is_err()
            {
                return Err(format!("{name} must be a macOS version such as 14, 14.5 or 13.4.1 (a), not '{v}'."));
            }
        }
        for (name, v) in
            [("osMinimumBuildVersion", &self.os_minimum_build_version), ("osMaximumBuildVersion", &self.os_maximum_build_version)]
        {
            if let Some(v) = v
                && v.parse::<MacOsBuild>().is_err()
            {
                return Err(format!("{name} must be a macOS build such as 23H124 or 22F770820d, not '{v}'."));
            }
        }
        if let Some(n) = self.password_minimum_length
            && !(4..=14).contains(&n)
        {
            return Err("passwordMinimumLength must be between 4 and 14.".into());
        }
        if let Some(n) = self.password_minimum_character_set_count
            && !(0..=4).contains(&n)
        {
            return Err("passwordMinimumCharacterSetCount must be between 0 and 4.".into());
        }
        if let Some(n) = self.password_expiration_days
            && !(1..=65535).contains(&n)
        {
            return Err("passwordExpirationDays must be between 1 and 65535.".into());
        }
        if let Some(n) = self.password_previous_password_block_count
            && !(1..=24).contains(&n)
        {
            return Err("passwordPreviousPasswordBlockCount must be between 1 and 24.".into());
        }
        if let Some(t) = &self.password_required_type
            && !["deviceDefault", "alphanumeric", "numeric"].contains(&t.as_str())
        {
            return Err("passwordRequiredType must be deviceDefault, alphanumeric or numeric.".into());
        }
        if let Some(g) = &self.gatekeeper_allowed_app_source
            && !["notConfigured", "macAppStore", "macAppStoreAndIdentifiedDevelopers", "anywhere"].contains(&g.as_str())
        {
            return Err(
                "gatekeeperAllowedAppSource must be notConfigured, macAppStore, macAppStoreAndIdentifiedDevelopers or anywhere.".into()
            );
        }
        if self.grace_period_hours() < 0 || self.grace_period_hours() > 365 * 24 {
            return Err("gracePeriodHours must be between 0 and 8760.".into());
        }
        Ok(())
    }
}

/// The label Intune's admin center gives a setting (the Graph property name for any
/// other).
pub fn label(setting: &str) -> &str {
    match setting {
        "systemIntegrityProtectionEnabled" => "Require system integrity protection",
        "osMinimumVersion" => "Minimum OS version",
        "osMaximumVersion" => "Maximum OS version",
        "osMinimumBuildVersion" => "Minimum OS build version",
        "osMaximumBuildVersion" => "Maximum OS build version",
        "passwordRequired" => "Require a password to unlock devices",
        "passwordBlockSimple" => "Simple passwords",
        "passwordMinimumLength" => "Minimum password length",
        "passwordRequiredType" => "Password type",
        "passwordMinimumCharacterSetCount" => "Number of non-alphanumeric characters in password",
        "passwordExpirationDays" => "Password expiration (days)",
        "passwordPreviousPasswordBlockCount" => "Number of previous passwords to prevent reuse",
        "storageRequireEncryption" => "Require encryption",
        "firewallEnabled" => "Firewall",
        "firewallBlockAllIncoming" => "Incoming connections",
        "firewallEnableStealthMode" => "Stealth Mode",
        "gatekeeperAllowedAppSource" => "Allow apps downloaded from these locations",
        other => other,
    }
}
