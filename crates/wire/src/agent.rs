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

/// `PUT inventory`: a full inventory report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryReport {
    /// When the agent collected it (RFC 3339); a report older than the stored one is refused.
    pub collected_at: String,
    pub device_name: String,
    pub model: String,
    pub os_name: String,
    pub os_version: String,
    pub os_build: String,
    pub security: Security,
    pub local_users: Vec<LocalUser>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Security {
    /// FileVault on every partition.
    pub filevault_enabled: bool,
    /// `Enabled` / `Disabled`.
    pub sip: String,
    /// `App Store`, `App Store and identified developers` or `Anywhere`.
    pub gatekeeper: String,
    pub firewall_enabled: bool,
    pub prevent_auto_login: bool,
    pub password_min_length: Option<i32>,
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
