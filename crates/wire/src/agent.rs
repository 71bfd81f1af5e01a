//! The mdm's agent API, spoken by Macs (`<instance>/api/agent/v1/…`).

use serde::{Deserialize, Serialize};

/// `POST enrollments`: the Mac enrols with the instance's invitation code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enroll {
    pub invitation: String,
    pub udid: String,
    pub serial_number: String,
    pub device_name: String,
    pub model: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolled {
    pub computer_id: i64,
    /// Per-computer bearer credential for every later agent call.
    pub credential: String,
}

/// `PUT inventory`: a full inventory report. `PATCH inventory` takes the same object
/// with `collected_at` and only the sections that changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryReport {
    /// When the agent collected it (RFC 3339); a report older than the stored one is refused.
    pub collected_at: String,
    pub device_name: String,
    pub model: String,
    #[serde(default)]
    pub hardware: Hardware,
    pub os_name: String,
    pub os_version: String,
    pub os_build: String,
    pub security: Security,
    /// FileVault state of each APFS volume.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub password_policy: PasswordPolicy,
    pub local_users: Vec<LocalUser>,
}

/// The top-level sections a partial submission may carry.
pub const INVENTORY_SECTIONS: [&str; 10] =
    ["device_name", "model", "hardware", "os_name", "os_version", "os_build", "security", "volumes", "password_policy", "local_users"];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hardware {
    pub model_identifier: Option<String>,
    /// `arm64` or `x86_64`.
    pub processor_architecture: Option<String>,
    pub processor_type: Option<String>,
    pub core_count: Option<i32>,
    pub total_ram_mb: Option<i64>,
    pub mac_address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Security {
    /// FileVault 2 turned on for the boot volume.
    pub filevault_enabled: bool,
    /// `Enabled` / `Disabled`.
    pub sip: String,
    /// `App Store`, `App Store and identified developers` or `Anywhere`.
    pub gatekeeper: String,
    pub firewall_enabled: bool,
    #[serde(default)]
    pub firewall_block_all_incoming: bool,
    #[serde(default)]
    pub firewall_stealth_mode: bool,
    pub prevent_auto_login: bool,
}

/// One volume and its FileVault state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    pub name: String,
    #[serde(default)]
    pub boot: bool,
    /// `ENCRYPTED`, `ENCRYPTING`, `DECRYPTING` or `NOT_ENCRYPTED`.
    pub filevault: String,
}

pub const VOLUME_STATES: [&str; 4] = ["ENCRYPTED", "ENCRYPTING", "DECRYPTING", "NOT_ENCRYPTED"];

/// The password rules in force for local accounts (from the configuration profile).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PasswordPolicy {
    pub min_length: Option<i32>,
    /// Minimum number of complex (non-alphanumeric) characters.
    pub min_complex_characters: Option<i32>,
    /// Days before a password expires (none: never).
    pub max_age_days: Option<i32>,
    pub require_alphanumeric: Option<bool>,
    /// Previous passwords that may not be reused.
    pub history_depth: Option<i32>,
}

impl InventoryReport {
    /// Jamf's FileVault 2 status of the computer: `ALL_ENCRYPTED`, `BOOT_ENCRYPTED`,
    /// `SOME_ENCRYPTED` or `NOT_ENCRYPTED`. Without volume detail, the boot flag decides.
    pub fn filevault_status(&self) -> &'static str {
        if self.volumes.is_empty() {
            return if self.security.filevault_enabled { "ALL_ENCRYPTED" } else { "NOT_ENCRYPTED" };
        }
        let encrypted = self.volumes.iter().filter(|v| v.filevault == "ENCRYPTED").count();
        let boot = self.volumes.iter().any(|v| v.boot && v.filevault == "ENCRYPTED");
        match encrypted {
            n if n == self.volumes.len() => "ALL_ENCRYPTED",
            _ if boot => "BOOT_ENCRYPTED",
            0 => "NOT_ENCRYPTED",
            _ => "SOME_ENCRYPTED",
        }
    }

    /// Whether the boot volume is encrypted (Intune's `Encrypted`).
    pub fn boot_volume_encrypted(&self) -> bool {
        match self.volumes.iter().find(|v| v.boot) {
            Some(v) => v.filevault == "ENCRYPTED",
            None => self.security.filevault_enabled,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocalUser {
    pub username: String,
    pub full_name: String,
}

/// `POST aad-registrations`: what the registration agent posts after Workplace Join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AadRegistration {
    pub username: String,
    pub aad_device_id: String,
    pub aad_user_id: String,
    pub upn: String,
}

/// A computer's Conditional Access view, as the agent and console read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComputerCaView {
    pub computer_id: i64,
    pub users: Vec<LocalUserCa>,
}

/// Local User Accounts category: Conditional Access fields of one local user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocalUserCa {
    pub username: String,
    pub computer_azure_active_directory_id: Option<String>,
    pub user_azure_active_directory_id: Option<String>,
    /// `ACTIVATED`, `DEACTIVATED`, `UNRESPONSIVE` or `UNKNOWN`.
    pub conditional_access_inventory_state: String,
    /// `not_sent`, `queued`, `sent`, `accepted`, `rejected: <reason>`.
    pub delivery_state: String,
}
