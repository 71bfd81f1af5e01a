//! Intune partner services (docs/microsoft-compatibility.md, §6.3): provisioning, heartbeat, device data upload.
//!
//! Field names follow the partner data-sync API (PascalCase, OData v3 style).

use serde::{Deserialize, Serialize};

use crate::ids::{DeviceId, MessageId, TenantId};

/// `Provisioned` values of `PartnerTenants`.
pub const PROVISIONED: i32 = 1;
pub const DEPROVISIONED: i32 = 2;

/// `PUT PartnerTenants(guid'<tenant>')` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PartnerTenantRequest {
    pub provisioned: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_enrollment_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_remediation_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PartnerTenantResponse {
    pub key: String,
    pub context_id: String,
    pub provisioned: i32,
    pub http_status_code: u16,
    #[serde(default)]
    pub error_detail: Option<String>,
}

/// `PUT PartnerTenantHeartbeat(guid'<tenant>')` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HeartbeatRequest {
    pub timestamp: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HeartbeatResponse {
    #[serde(rename = "odata.metadata", default)]
    pub odata_metadata: String,
    #[serde(rename = "odata.id", default)]
    pub odata_id: String,
    /// The tenant ID, the entity's key.
    #[serde(default)]
    pub key: String,
    pub tenant_id: TenantId,
    /// Which kind of partner sent the heartbeat (this service answers `Partner`).
    #[serde(default)]
    pub client_type: String,
    pub timestamp: String,
    /// When set, the time from which the service asks the partner to send its data again
    /// (null: no resync asked).
    #[serde(default)]
    pub resync_timestamp: Option<String>,
    pub http_status_code: u16,
    #[serde(default)]
    pub error_detail: Option<String>,
    #[serde(default)]
    pub message_errors: Vec<String>,
}

/// How the reason that carries a warned device's deadline begins, among an item
/// result's `complianceReasons` (`Access is blocked from 8 Dec 2026 09:00 UTC unless this
/// is fixed.`): the partner shows it to the user as the deadline, not as a setting to fix.
pub const DEADLINE_PREFIX: &str = "Access is blocked from ";

/// Kinds of upload item. The legacy integration sends one inventory item per device
/// carrying both the compliance and the hardware attributes; the partner-compliance model
/// sends EntityType 1 (inventory) and 4 (the partner's own verdict).
pub mod entity_type {
    pub const LEGACY_INVENTORY: i32 = 0;
    pub const INVENTORY: i32 = 1;
    pub const COMPLIANCE: i32 = 4;
}

/// One item of a `DataUploadMessages` body. Every attribute but the keys is optional:
/// an attribute the partner does not send makes the settings that read it *not applicable*.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceItem {
    pub entity_type: i32,
    pub tenant_id: TenantId,
    /// Entra device ID (`deviceId` of the Entra device, from Workplace Join): a GUID.
    #[schema(format = "uuid")]
    pub device_id: DeviceId,
    /// Entra user object ID.
    pub user_id: String,
    /// When the partner observed this state (RFC 3339). Newer wins.
    #[schema(format = DateTime)]
    pub last_update_time: String,
    // Compliance attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gatekeeper: Option<String>,
    #[serde(rename = "SIP", default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_auto_login: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_expiration_days: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_password_char_sets: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_length: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_history_length: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_block_all_incoming: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_stealth_mode: Option<bool>,
    // Hardware and identity attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(rename = "UDID", default, skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_build: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jamf_id: Option<i64>,
    /// Conditional Access inventory state: 0 activated, 1 deactivated, 2 unresponsive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<i32>,
    #[serde(rename = "UPN", default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(rename = "MACAddress", default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_in_time: Option<String>,
    // EntityType 1 and 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_management_state: Option<String>,
    /// Exchange ActiveSync IDs of the device; EntityType 1 requires the list, empty when
    /// there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eas_ids: Option<Vec<String>>,
    /// The partner's verdict: `true`/`false`, or as live partners write it, `"compliant"`
    /// / `"notCompliant"`.
    #[serde(rename = "complianceStatus", default, skip_serializing_if = "Option::is_none", deserialize_with = "verdict")]
    pub compliance_status: Option<bool>,
}

/// `PUT DataUploadMessages(guid'<message id>')` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UploadMessage {
    pub tenant_id: TenantId,
    pub upload_time: String,
    /// The items: a JSON array, or (as live partners send it) a string holding one.
    #[serde(deserialize_with = "items")]
    pub content: Vec<DeviceItem>,
}

/// `true`, `false`, `"compliant"`, `"notCompliant"` (any case), or null.
fn verdict<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(serde_json::Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "compliant" | "true" => Ok(Some(true)),
            "notcompliant" | "noncompliant" | "false" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!("complianceStatus '{s}' is not compliant or notCompliant"))),
        },
        Some(other) => Err(serde::de::Error::custom(format!("complianceStatus {other} is not compliant or notCompliant"))),
    }
}

/// The items as an array, or an array encoded in a string.
fn items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<DeviceItem>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => serde_json::from_str(&s).map_err(|e| serde::de::Error::custom(format!("Content: {e}"))),
        other => serde_json::from_value(other).map_err(|e| serde::de::Error::custom(format!("Content: {e}"))),
    }
}

/// Answer to the PUT: the message is queued for asynchronous processing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UploadAccepted {
    pub tenant_id: TenantId,
    pub message_id: MessageId,
    pub error_code: i32,
    #[serde(default)]
    pub error_detail: Option<String>,
}

/// Where an upload message is (`DataUploadMessages` `Status`). A status this
/// vocabulary does not know is kept as sent (`Other`): a partner asks again, as for
/// `Pending`. Written as text with `Display` (`AsRef` would name the variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString)]
pub enum MessageStatus {
    /// Queued or being processed: ask again.
    Pending,
    /// Processed; each item's result is in `ItemResults`.
    Completed,
    /// Refused as a whole (`ErrorCode`, `ErrorDetail`).
    Failed,
    /// Any other text.
    #[serde(untagged)]
    #[strum(default)]
    Other(String),
}

impl utoipa::PartialSchema for MessageStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["Pending", "Completed", "Failed"]))
            .description(Some("Pending (ask again), Completed (see ItemResults) or Failed (see ErrorCode, ErrorDetail)."))
            .into()
    }
}

impl utoipa::ToSchema for MessageStatus {}

/// Per-item outcome inside a message status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ItemResult {
    pub device_id: DeviceId,
    pub status: ItemStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Of an accepted item: the device's compliance state once it was applied
    /// (`compliant`, `noncompliant`, `inGracePeriod`, `error`, `conflict`, `unknown`).
    /// This cloud's addition; a partner must not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_state: Option<String>,
    /// Of an accepted item that is not compliant: one sentence per failing setting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_reasons: Vec<String>,
}

/// What became of one item of a processed message. A status this vocabulary does not
/// know is kept as sent (`Other`), so a partner can say what it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString)]
pub enum ItemStatus {
    /// Applied.
    #[default]
    Accepted,
    /// Older than the state already stored: not applied.
    Stale,
    /// Refused (`ErrorCode`, `ErrorDetail`).
    Rejected,
    /// Any other text.
    #[serde(untagged)]
    #[strum(default)]
    Other(String),
}

impl utoipa::PartialSchema for ItemStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["Accepted", "Stale", "Rejected"]))
            .description(Some("Accepted (applied), Stale (older than the state already stored: not applied) or Rejected."))
            .into()
    }
}

impl utoipa::ToSchema for ItemStatus {}

/// `GET DataUploadMessages(guid'<id>')`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UploadStatus {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub status: MessageStatus,
    pub error_code: i32,
    #[serde(default)]
    pub error_detail: Option<String>,
    #[serde(default)]
    pub item_results: Vec<ItemResult>,
}

/// Discovery answer items (Graph form: `providerName`; Azure AD Graph form: `serviceName`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    #[serde(default, alias = "serviceName")]
    pub provider_name: String,
    pub uri: String,
}

/// Parses the OData v3 key `guid'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'` (the hyphenated
/// form only, as OData writes a Guid literal).
pub fn parse_guid_key(key: &str) -> Option<uuid::Uuid> {
    let inner = key.strip_prefix("guid'")?.strip_suffix('\'')?;
    uuid::Uuid::try_parse(inner).ok().filter(|_| inner.len() == 36)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_item_uses_the_wire_names() {
        let item = DeviceItem {
            entity_type: entity_type::LEGACY_INVENTORY,
            tenant_id: "t".into(),
            device_id: "d".into(),
            user_id: "u".into(),
            last_update_time: "2026-01-01T00:00:00Z".into(),
            encrypted: Some(true),
            sip: Some("Enabled".into()),
            udid: Some("X".into()),
            upn: Some("a@b".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&item).unwrap();
        for key in ["EntityType", "TenantId", "DeviceId", "Encrypted", "SIP", "UDID", "UPN"] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        assert!(v.get("Gatekeeper").is_none());
    }

    #[test]
    fn live_partners_content_and_verdicts_read() {
        let body = r#"{"TenantId":"t","UploadTime":"2026-11-30T00:00:00Z","Content":"[{\"EntityType\":4,\"TenantId\":\"t\",\"DeviceId\":\"d\",\"UserId\":\"u\",\"LastUpdateTime\":\"2026-11-30T00:00:00Z\",\"complianceStatus\":\"notCompliant\"}]"}"#;
        let m: UploadMessage = serde_json::from_str(body).unwrap();
        assert_eq!(m.content[0].compliance_status, Some(false));
        let item: DeviceItem = serde_json::from_str(
            r#"{"EntityType":4,"TenantId":"t","DeviceId":"d","UserId":"u","LastUpdateTime":"x","complianceStatus":true}"#,
        )
        .unwrap();
        assert_eq!(item.compliance_status, Some(true));
        assert!(
            serde_json::from_str::<DeviceItem>(
                r#"{"EntityType":4,"TenantId":"t","DeviceId":"d","UserId":"u","LastUpdateTime":"x","complianceStatus":"maybe"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn guid_keys_parse_only_in_odata_form() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(parse_guid_key(&format!("guid'{id}'")), Some(id));
        assert_eq!(parse_guid_key(&id.to_string()), None);
        assert_eq!(parse_guid_key("guid'nope'"), None);
    }

    #[test]
    fn discovery_accepts_both_name_fields() {
        let a: ServiceEndpoint = serde_json::from_str(r#"{"serviceName":"S","uri":"u"}"#).unwrap();
        let b: ServiceEndpoint = serde_json::from_str(r#"{"providerName":"S","uri":"u"}"#).unwrap();
        assert_eq!(a, b);
    }
}

crate::text_enum!(MessageStatus, ItemStatus);

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn item_status_keeps_an_unknown_text() {
        let known: ItemStatus = serde_json::from_str("\"Stale\"").unwrap();
        let other: ItemStatus = serde_json::from_str("\"Processing\"").unwrap();
        assert_eq!((known, other.clone()), (ItemStatus::Stale, ItemStatus::Other("Processing".into())));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"Processing\"");
        assert_eq!("Rejected".parse::<ItemStatus>().unwrap(), ItemStatus::Rejected);
        assert_eq!(MessageStatus::try_from("Pending".to_string()).unwrap(), MessageStatus::Pending);
        assert_eq!(MessageStatus::try_from("Queued".to_string()).unwrap(), MessageStatus::Other("Queued".into()));
        assert_eq!(MessageStatus::Other("Queued".into()).to_string(), "Queued");
    }
}

/// Most devices one `CompliancePreview` request may carry.
pub const MAX_PREVIEW_DEVICES: usize = 1000;

/// `POST CompliancePreview` on the partner device data sync service: what Intune would
/// decide for each device under a set of compliance policies, evaluated as an upload is
/// but stored nowhere (this service's extension; docs/microsoft-compatibility.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PreviewRequest {
    /// Draft policies in Graph's `#microsoft.graph.macOSCompliancePolicy` shape (with
    /// `displayName`); absent: the tenant's macOS compliance policies, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<DraftPolicy>>, min_items = 1)]
    pub policies: Option<Vec<serde_json::Value>>,
    /// The devices as inventory items (1 to [`MAX_PREVIEW_DEVICES`]); `DeviceId` is any
    /// key the partner chooses, echoed back.
    #[schema(min_items = 1, max_items = 1000)]
    pub devices: Vec<DeviceItem>,
}

/// A draft policy's schema (its shape only): Graph's macOS compliance policy, of which
/// `displayName` is required; the settings (`osMinimumVersion`, …) follow Graph's names
/// and rules, and one that breaks a rule is refused naming it.
#[derive(utoipa::ToSchema)]
#[schema(as = DraftPolicy)]
#[expect(dead_code, reason = "the draft's shape in the OpenAPI documents")]
pub struct DraftPolicy {
    #[schema(rename = "displayName", min_length = 1, max_length = 200, pattern = r"\S")]
    display_name: String,
}

/// The answer of `CompliancePreview`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PreviewResponse {
    /// The policies evaluated, in order.
    pub policies: Vec<PreviewPolicy>,
    /// One verdict per device, in the request's order.
    pub devices: Vec<PreviewDevice>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PreviewPolicy {
    /// The tenant's policy ID, or `draft-<n>` for a draft.
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PreviewDevice {
    pub device_id: String,
    /// `compliant`, `inGracePeriod`, `noncompliant` or `error`, as an upload would make it
    /// on its first evaluation.
    pub compliance_state: String,
    /// Every setting not met (or not readable), each naming its policy.
    pub failing: Vec<PreviewSetting>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PreviewSetting {
    pub policy_id: String,
    /// Graph's setting name (`osMinimumVersion`).
    pub setting: String,
    /// As the Intune admin center labels it (`Minimum OS version`).
    pub label: String,
    /// `noncompliant` or `error`.
    pub state: String,
    pub expected: String,
    pub actual: Option<String>,
}
