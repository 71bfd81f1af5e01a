//! The mdm's agent API, spoken by Macs (`<instance>/api/agent/v1/…`).

use serde::{Deserialize, Serialize};

/// `POST enrollments`: the Mac enrols with the instance's invitation code. Names are
/// counted in characters once trimmed; the UDID is stored upper case, so one Mac is one
/// computer however it spells it (enrolling again gives the same computer a new credential).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enroll {
    /// The instance's enrolment invitation; another value is refused (401).
    pub invitation: String,
    #[schema(min_length = 1, max_length = 64, pattern = "\\S")]
    pub udid: String,
    #[schema(min_length = 1, max_length = 64, pattern = "\\S")]
    pub serial_number: String,
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    pub device_name: String,
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    pub model: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enrolled {
    pub computer_id: i64,
    /// Per-computer bearer credential for every later agent call.
    pub credential: String,
}

/// `PUT inventory`: a full inventory report. `PATCH inventory` takes the same object
/// with `collected_at` and only the sections that changed.
///
/// The mdm reads every report through one normalisation layer (`mdm::domain::normalize`,
/// table in `docs/inventory.md`): the vocabularies of macOS and of Jamf Pro's API are
/// understood, informational fields never block a report, and a value that would decide
/// compliance but cannot be read is refused naming the field and what is allowed.
///
/// The schema states what a request may hold: informational fields take any value (one
/// that cannot be read is dropped with a warning), compliance fields are strict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct InventoryReport {
    /// When the agent collected it (RFC 3339). A date ahead of the server's clock is
    /// taken as the time received (with a warning beyond 5 minutes); a report older than
    /// the stored one is refused (409).
    #[schema(format = DateTime)]
    pub collected_at: String,
    /// Informational: when it cannot be read, the computer's name is kept.
    #[schema(value_type = serde_json::Value, required = false)]
    pub device_name: String,
    /// Informational: when it cannot be read, the computer's model is kept.
    #[schema(value_type = serde_json::Value, required = false)]
    pub model: String,
    /// Informational: an object of [`Hardware`] fields; what cannot be read is dropped.
    #[serde(default)]
    #[schema(value_type = serde_json::Value, required = false)]
    pub hardware: Hardware,
    /// Informational: `macOS` when it cannot be read.
    #[schema(value_type = serde_json::Value, required = false)]
    pub os_name: String,
    /// `sw_vers -productVersion`, optionally with the RSR letter: `13.4.1 (a)`.
    #[schema(pattern = "^\\s*([Mm][Aa][Cc][Oo][Ss]\\s*)?[0-9]{1,9}(\\.[0-9]{1,9}){0,2}([ \\t]*\\([A-Za-z]\\))?\\s*$")]
    pub os_version: String,
    /// `sw_vers -productVersionExtra` (`(a)`), as Macs report a Rapid Security Response
    /// apart from the version; folded into `os_version` when stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^\\s*(\\([A-Za-z]\\))?\\s*$")]
    pub os_version_extra: Option<String>,
    /// `sw_vers -buildVersion`: with an RSR installed, the RSR's build (`22F770820d`).
    #[schema(pattern = "^\\s*[0-9]{1,2}[A-Za-z][0-9]{1,9}[A-Za-z]?\\s*$")]
    pub os_build: String,
    pub security: Security,
    /// FileVault state of each APFS volume; names differ, at most one is the boot volume.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub password_policy: PasswordPolicy,
    /// The Mac's local accounts; no name twice (macOS compares them without regard to case).
    pub local_users: Vec<LocalUser>,
}

/// `PUT`/`PATCH inventory`'s answer: the stored sequence and what was dropped.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryApplied {
    pub computer_id: i64,
    /// The computer's inventory sequence after this report.
    pub sequence: i64,
    /// Informational values that could not be read and were dropped, one sentence each.
    pub warnings: Vec<String>,
}

/// The top-level sections a partial submission may carry.
pub const INVENTORY_SECTIONS: [&str; 11] = [
    "device_name",
    "model",
    "hardware",
    "os_name",
    "os_version",
    "os_version_extra",
    "os_build",
    "security",
    "volumes",
    "password_policy",
    "local_users",
];

/// Informational: never decides compliance, so a value that cannot be read is dropped
/// with a warning instead of refusing the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Hardware {
    pub model_identifier: Option<String>,
    /// `arm64` or `x86_64` (Jamf Pro's `i386` is an Intel Mac).
    pub processor_architecture: Option<String>,
    pub processor_type: Option<String>,
    pub core_count: Option<i32>,
    pub total_ram_mb: Option<i64>,
    pub mac_address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Security {
    /// FileVault 2 turned on for the boot volume.
    pub filevault_enabled: bool,
    pub sip: SipStatus,
    pub gatekeeper: GatekeeperStatus,
    pub firewall_enabled: bool,
    #[serde(default)]
    pub firewall_block_all_incoming: bool,
    #[serde(default)]
    pub firewall_stealth_mode: bool,
    pub prevent_auto_login: bool,
}

/// One volume and its FileVault state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Volume {
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    pub boot: bool,
    pub filevault: FileVaultState,
}

/// Turns a vendor's spelling into a lookup key: upper case, `&` read as AND, every run of
/// other characters one `_` (`App Store & identified developers` →
/// `APP_STORE_AND_IDENTIFIED_DEVELOPERS`).
pub fn vocabulary_key(value: &str) -> String {
    let mut key = String::with_capacity(value.len());
    for c in value.trim().replace('&', " and ").chars() {
        if c.is_alphanumeric() {
            key.extend(c.to_uppercase());
        } else if !key.ends_with('_') {
            key.push('_');
        }
    }
    key.trim_matches('_').to_string()
}

/// A closed vocabulary of macOS / Jamf Pro values: stored and sent under its canonical
/// name (Jamf Pro's API spelling), read from any spelling the vendors use.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($variant:ident => $canonical:literal $(| $alias:literal)*,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The canonical name (Jamf Pro's API spelling).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $canonical,)+ }
            }

            /// The canonical names, for error messages.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match vocabulary_key(s).as_str() {
                    $($canonical $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(format!("'{s}' is not {}; allowed: {}", $what, Self::allowed())),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            /// Any spelling whose [`vocabulary_key`] is a listed value; listed: each value's key.
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let keys: Vec<&str> = vec![$($canonical $(, $alias)*),+];
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(keys))
                    .description(Some(concat!("Read without regard to case, blanks and punctuation (`App Store & identified developers` is APP_STORE_AND_IDENTIFIED_DEVELOPERS); stored and sent as the first spelling of its value. ", $what, ".")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

vocabulary!(
    /// System Integrity Protection (`csrutil status`; Jamf Pro `security.sipStatus`).
    /// `csrutil`'s `unknown (Custom Configuration)`, some protections turned off, is
    /// read as `DISABLED`.
    SipStatus, "a System Integrity Protection status", {
        Enabled => "ENABLED",
        Disabled => "DISABLED" | "UNKNOWN_CUSTOM_CONFIGURATION" | "CUSTOM_CONFIGURATION",
        NotCollected => "NOT_COLLECTED",
        NotAvailable => "NOT_AVAILABLE",
    }
);

vocabulary!(
    /// Where Gatekeeper lets apps come from (Jamf Pro `security.gatekeeperStatus`; the
    /// System Settings labels, `App Store & Known Developers` since macOS 15, and
    /// Intune's `gatekeeperAllowedAppSource` names are read too). `DISABLED` is
    /// Gatekeeper off: apps from anywhere.
    GatekeeperStatus, "a Gatekeeper status", {
        AppStore => "APP_STORE" | "MAC_APP_STORE" | "MACAPPSTORE",
        AppStoreAndIdentifiedDevelopers => "APP_STORE_AND_IDENTIFIED_DEVELOPERS" | "APP_STORE_AND_KNOWN_DEVELOPERS"
            | "MAC_APP_STORE_AND_IDENTIFIED_DEVELOPERS" | "MACAPPSTOREANDIDENTIFIEDDEVELOPERS",
        Disabled => "DISABLED" | "ANYWHERE" | "OFF",
        NotCollected => "NOT_COLLECTED",
    }
);

vocabulary!(
    /// FileVault 2 state of a volume (Jamf Pro `partitionFileVault2State`). Only
    /// `ENCRYPTED` counts as encrypted; `NOT_ENCRYPTED` is read as `UNENCRYPTED`.
    FileVaultState, "a FileVault state", {
        Encrypted => "ENCRYPTED",
        Encrypting => "ENCRYPTING",
        EncryptingPaused => "ENCRYPTING_PAUSED",
        Decrypting => "DECRYPTING",
        DecryptingPaused => "DECRYPTING_PAUSED",
        Decrypted => "DECRYPTED",
        Unencrypted => "UNENCRYPTED" | "NOT_ENCRYPTED",
        RestartNeeded => "RESTART_NEEDED",
        Optimizing => "OPTIMIZING",
        Ineligible => "INELIGIBLE",
        Unknown => "UNKNOWN",
    }
);

impl SipStatus {
    /// The partner attribute Intune evaluates (`SIP`); not sent when not collected.
    pub fn partner_value(self) -> Option<&'static str> {
        match self {
            SipStatus::Enabled => Some("Enabled"),
            SipStatus::Disabled => Some("Disabled"),
            SipStatus::NotCollected | SipStatus::NotAvailable => None,
        }
    }
}

impl GatekeeperStatus {
    /// The partner attribute Intune evaluates (`Gatekeeper`); not sent when not collected.
    pub fn partner_value(self) -> Option<&'static str> {
        match self {
            GatekeeperStatus::AppStore => Some("App Store"),
            GatekeeperStatus::AppStoreAndIdentifiedDevelopers => Some("App Store and identified developers"),
            GatekeeperStatus::Disabled => Some("Anywhere"),
            GatekeeperStatus::NotCollected => None,
        }
    }

    /// How permissive: 0 App Store, 1 and identified developers, 2 anywhere.
    pub fn openness(self) -> Option<u8> {
        match self {
            GatekeeperStatus::AppStore => Some(0),
            GatekeeperStatus::AppStoreAndIdentifiedDevelopers => Some(1),
            GatekeeperStatus::Disabled => Some(2),
            GatekeeperStatus::NotCollected => None,
        }
    }
}

/// The password rules in force for local accounts (from the configuration profile).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PasswordPolicy {
    #[schema(minimum = 0, maximum = 64)]
    pub min_length: Option<i32>,
    /// Minimum number of complex (non-alphanumeric) characters.
    #[schema(minimum = 0, maximum = 64)]
    pub min_complex_characters: Option<i32>,
    /// Days before a password expires (none: never).
    #[schema(minimum = 0, maximum = 65535)]
    pub max_age_days: Option<i32>,
    pub require_alphanumeric: Option<bool>,
    /// Previous passwords that may not be reused.
    #[schema(minimum = 0, maximum = 64)]
    pub history_depth: Option<i32>,
}

impl InventoryReport {
    /// Jamf's FileVault 2 status of the computer: `ALL_ENCRYPTED`, `BOOT_ENCRYPTED`,
    /// `SOME_ENCRYPTED` or `NOT_ENCRYPTED`. Without volume detail, the boot flag decides.
    pub fn filevault_status(&self) -> &'static str {
        if self.volumes.is_empty() {
            return if self.security.filevault_enabled { "ALL_ENCRYPTED" } else { "NOT_ENCRYPTED" };
        }
        let encrypted = self.volumes.iter().filter(|v| v.filevault == FileVaultState::Encrypted).count();
        let boot = self.volumes.iter().any(|v| v.boot && v.filevault == FileVaultState::Encrypted);
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
            Some(v) => v.filevault == FileVaultState::Encrypted,
            None => self.security.filevault_enabled,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LocalUser {
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    pub username: String,
    /// Informational: dropped (empty) when it cannot be read.
    #[schema(value_type = serde_json::Value, required = false)]
    pub full_name: String,
}

/// `POST aad-registrations`: what the registration agent posts after Workplace Join.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AadRegistration {
    /// The local account that registered.
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    pub username: String,
    #[schema(format = Uuid)]
    pub aad_device_id: String,
    #[schema(format = Uuid)]
    pub aad_user_id: String,
    /// The user's principal name (`name@domain`), at most 320 characters; see [`is_upn`].
    #[schema(min_length = 3, max_length = 320, pattern = "^[^@\\s\\x00-\\x1f\\x7f-\\x9f]+@[^@\\s\\x00-\\x1f\\x7f-\\x9f]+$")]
    pub upn: String,
}

/// Whether `upn` is a user principal name as Entra ID forms one: `name@domain`, one `@`
/// with text on both sides, no white space or control character, at most 320 characters
/// (the schema's pattern says the same).
pub fn is_upn(upn: &str) -> bool {
    let clean = |part: &str| !part.is_empty() && !part.contains('@') && !part.chars().any(|c| c.is_whitespace() || c.is_control());
    upn.chars().count() <= 320 && upn.split_once('@').is_some_and(|(name, domain)| clean(name) && clean(domain))
}

/// A computer's Conditional Access view, as the agent and console read it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComputerCaView {
    pub computer_id: i64,
    pub users: Vec<LocalUserCa>,
}

/// Local User Accounts category: Conditional Access fields of one local user. Each
/// registered user (own Workplace Join, own Entra device) has its own delivery state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LocalUserCa {
    pub username: String,
    pub computer_azure_active_directory_id: Option<String>,
    pub user_azure_active_directory_id: Option<String>,
    /// `ACTIVATED`, `DEACTIVATED`, `UNRESPONSIVE` or `UNKNOWN`.
    pub conditional_access_inventory_state: String,
    /// `not_sent`, `queued`, `sent`, `accepted`, `stale: <reason>` (the cloud already
    /// held a newer state, so this one was not applied), `rejected: <reason>`.
    pub delivery_state: String,
    /// What the cloud decided when it applied the last accepted update: `compliant`,
    /// `noncompliant`, `inGracePeriod`, `error`, … (none before the first answer).
    #[serde(default)]
    pub compliance_state: Option<String>,
    /// The cloud's reasons for a state other than compliant, one per failing setting
    /// ("Require encryption: reported not encrypted").
    #[serde(default)]
    pub compliance_reasons: Vec<String>,
}

/// A command the mdm sends a Mac, as Apple's MDM protocol names it: a `CommandUUID` and
/// a `RequestType`. The agent answers an `UpdateInventory` with a whole inventory report
/// (what Jamf Pro's *Update Inventory* has a Mac do).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AgentCommand {
    #[serde(rename = "CommandUUID")]
    pub command_uuid: String,
    /// `UpdateInventory`.
    #[serde(rename = "RequestType")]
    pub request_type: String,
}

/// The answer to the agent's long poll: the commands waiting for the Mac (empty when
/// none arrived while it waited).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AgentCommands {
    pub commands: Vec<AgentCommand>,
}

/// The `RequestType` that has the Mac report its whole inventory now.
pub const UPDATE_INVENTORY: &str = "UpdateInventory";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_spelling_reads_as_one_value() {
        for spelling in [
            "APP_STORE_AND_IDENTIFIED_DEVELOPERS",
            "App Store and identified developers",
            "App Store & Known Developers",
            "macAppStoreAndIdentifiedDevelopers",
        ] {
            assert_eq!(spelling.parse(), Ok(GatekeeperStatus::AppStoreAndIdentifiedDevelopers), "{spelling}");
        }
        assert_eq!("Anywhere".parse(), Ok(GatekeeperStatus::Disabled));
        assert_eq!("unknown (Custom Configuration)".parse(), Ok(SipStatus::Disabled));
        assert_eq!("not_encrypted".parse(), Ok(FileVaultState::Unencrypted));
        let e = "SOMETIMES".parse::<GatekeeperStatus>().unwrap_err();
        assert!(e.contains("'SOMETIMES' is not a Gatekeeper status; allowed: APP_STORE,"), "{e}");
        assert_eq!(serde_json::to_value(GatekeeperStatus::Disabled).unwrap(), "DISABLED", "stored under Jamf Pro's name");
    }
}
