//! Settings › Global Management › Conditional Access › macOS Intune Integration: the
//! fields, their rules, and the field-level differences the change-management log keeps.

use serde::{Deserialize, Serialize};

use crate::domain::device_compliance::{Criterion, format_rule};
use wire::connector_api::LandingPage;

/// How the instance connects to Intune (Jamf Pro's *Connection Type*).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ConnectionType {
    /// Through the multi-tenant Cloud Connector.
    #[default]
    CloudConnector,
    /// With the tenant's own app registration.
    Manual,
}

/// Where a user of a Mac Microsoft does not recognise is sent.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LandingKind {
    /// The instance's device registration page.
    #[default]
    Registration,
    /// The instance's Access Denied page.
    AccessDenied,
    /// The admin's own page (`custom_url`).
    Custom,
}

/// Who decides a Mac's compliance.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ComplianceModel {
    /// Intune evaluates the inventory sent.
    #[default]
    Intune,
    /// This instance decides and sends the verdict.
    DeviceCompliance,
}

wire::text_enum!(ConnectionType, LandingKind, ComplianceModel);

/// The privilege an account needs to change these settings.
pub const PRIVILEGE: &str = "Conditional Access";

/// The oldest version that may use the Cloud Connector.
pub const MIN_CLOUD_CONNECTOR_VERSION: &str = "10.18.0";

/// The connection's status, shown on the Conditional Access page and stored as text.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CaStatus {
    NotConfigured,
    AwaitingConsent,
    AwaitingConfirmation,
    Active,
    Failing,
    Disabled,
    Terminated,
}

wire::text_enum!(CaStatus);

impl CaStatus {
    /// The status as Jamf Pro's Conditional Access page words it.
    pub fn label(self) -> &'static str {
        match self {
            CaStatus::NotConfigured => "Not configured",
            CaStatus::AwaitingConsent => "Awaiting consent",
            CaStatus::AwaitingConfirmation => "Awaiting confirmation",
            CaStatus::Active => "Active",
            CaStatus::Failing => "Failing",
            CaStatus::Disabled => "Disabled",
            CaStatus::Terminated => "Terminated by Intune",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaSettings {
    pub enabled: bool,
    pub connection_type: ConnectionType,
    pub sovereign_cloud: String,
    pub landing_page: LandingKind,
    pub custom_url: Option<String>,
    /// Manual: the tenant's domain (Microsoft Entra tenant Name).
    #[serde(default)]
    pub manual_tenant: Option<String>,
    /// Manual: the Application ID of the instance's own app registration.
    #[serde(default)]
    pub manual_app_id: Option<String>,
    #[serde(default)]
    pub compliance_model: ComplianceModel,
    #[serde(default)]
    pub applicable_rule: Vec<Criterion>,
    #[serde(default)]
    pub compliance_rule: Vec<Criterion>,
}

impl Default for CaSettings {
    fn default() -> Self {
        CaSettings {
            enabled: false,
            connection_type: ConnectionType::CloudConnector,
            sovereign_cloud: "local".into(),
            landing_page: LandingKind::Registration,
            custom_url: None,
            manual_tenant: None,
            manual_app_id: None,
            compliance_model: ComplianceModel::Intune,
            applicable_rule: vec![],
            compliance_rule: vec![],
        }
    }
}

impl CaSettings {
    pub fn landing(&self) -> LandingPage {
        match self.landing_page {
            LandingKind::AccessDenied => LandingPage::AccessDenied,
            LandingKind::Custom => LandingPage::Custom { url: self.custom_url.clone().unwrap_or_default() },
            LandingKind::Registration => LandingPage::Registration,
        }
    }
}

/// A tenant is named by its GUID or a DNS name (`contoso.onmicrosoft.com`): it goes into
/// the authority's path, so nothing else may pass.
pub fn valid_tenant_name(t: &str) -> bool {
    if uuid::Uuid::parse_str(t).is_ok() {
        return true;
    }
    let labels: Vec<&str> = t.split('.').collect();
    t.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Checks a proposed change against the rules of the page. `version` is the instance's.
pub fn validate(current: &CaSettings, proposed: &CaSettings, version: &str, known_clouds: &[&str]) -> Result<(), String> {
    if !known_clouds.contains(&proposed.sovereign_cloud.as_str()) {
        return Err(format!("Sovereign Cloud must be one of: {}.", known_clouds.join(", ")));
    }
    if proposed.landing_page == LandingKind::Custom {
        let url = proposed.custom_url.as_deref().unwrap_or("");
        if url.chars().count() > 2048 {
            return Err("The custom landing page URL may be at most 2048 characters.".into());
        }
        if let Err(why) = platform::net::check_outbound(url, &[]) {
            return Err(format!("The custom landing page must be an absolute https URL on a public host: {why}."));
        }
    }
    if proposed.compliance_model == ComplianceModel::DeviceCompliance && proposed.compliance_rule.is_empty() {
        return Err("Device Compliance needs a compliance rule (one criterion per line: field operator value).".into());
    }
    if proposed.enabled && proposed.connection_type == ConnectionType::Manual {
        if proposed.manual_tenant.as_deref().is_none_or(|t| !valid_tenant_name(t)) {
            return Err("Enter the Microsoft Entra tenant name, for example contoso.onmicrosoft.com.".into());
        }
        if proposed.manual_app_id.as_deref().is_none_or(|a| uuid::Uuid::parse_str(a).is_err()) {
            return Err("Enter the Application ID of the app registration (a GUID).".into());
        }
    }
    if proposed.enabled && proposed.connection_type == ConnectionType::CloudConnector {
        if current.enabled && current.connection_type == ConnectionType::Manual {
            return Err("A Manual connection is enabled. Remove the manual integration first: clear \"Enable Intune \
                        Integration for macOS\", clear the App ID in Intune and delete its apps in Entra, then configure \
                        the Cloud Connector within 24 hours."
                .into());
        }
        if version_below(version, MIN_CLOUD_CONNECTOR_VERSION) {
            return Err(format!(
                "The Cloud Connector requires version {MIN_CLOUD_CONNECTOR_VERSION} or later; this instance runs {version}."
            ));
        }
    }
    Ok(())
}

fn version_below(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.trim().parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(a), parse(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        if x != y {
            return x < y;
        }
    }
    false
}

/// `field: before → after` for every field that changed.
pub fn diff(before: &CaSettings, after: &CaSettings) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name}: {a} → {b}"));
        }
    };
    field("Enable Intune Integration for macOS", before.enabled.to_string(), after.enabled.to_string());
    field("Connection Type", before.connection_type.to_string(), after.connection_type.to_string());
    field("Sovereign Cloud", before.sovereign_cloud.clone(), after.sovereign_cloud.clone());
    field("Landing page", before.landing_page.to_string(), after.landing_page.to_string());
    field("Custom URL", before.custom_url.clone().unwrap_or_default(), after.custom_url.clone().unwrap_or_default());
    field("Microsoft Entra tenant Name", before.manual_tenant.clone().unwrap_or_default(), after.manual_tenant.clone().unwrap_or_default());
    field("Application ID", before.manual_app_id.clone().unwrap_or_default(), after.manual_app_id.clone().unwrap_or_default());
    field("Compliance model", before.compliance_model.to_string(), after.compliance_model.to_string());
    field("Applicable rule", format_rule(&before.applicable_rule), format_rule(&after.applicable_rule));
    field("Compliance rule", format_rule(&before.compliance_rule), format_rule(&after.compliance_rule));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(enabled: bool) -> CaSettings {
        CaSettings { enabled, ..Default::default() }
    }

    #[test]
    fn cloud_connector_needs_version_10_18() {
        assert!(validate(&cc(false), &cc(true), "10.17.1", &["local"]).unwrap_err().contains("10.18"));
        assert!(validate(&cc(false), &cc(true), "10.18.0", &["local"]).is_ok());
        assert!(validate(&cc(false), &cc(true), "11.2", &["local"]).is_ok());
    }

    #[test]
    fn manual_must_be_removed_before_the_cloud_connector() {
        let manual = CaSettings { enabled: true, connection_type: ConnectionType::Manual, ..Default::default() };
        assert!(validate(&manual, &cc(true), "11.0", &["local"]).unwrap_err().contains("Manual"));
    }

    #[test]
    fn tenant_names_are_guids_or_dns_names() {
        assert!(valid_tenant_name("contoso.onmicrosoft.com"));
        assert!(valid_tenant_name("5b1c8a0e-2d1f-4c7a-9a51-1f0f4a6f2b11"));
        for bad in ["contoso", "evil.com/x", "a..b", "x@evil.com", "-a.com", "127.0.0.1:8443/../x"] {
            assert!(!valid_tenant_name(bad), "{bad}");
        }
    }

    #[test]
    fn custom_landing_pages_must_be_https() {
        let mut s = cc(true);
        s.landing_page = LandingKind::Custom;
        s.custom_url = Some("http://example.com".into());
        assert!(validate(&cc(false), &s, "11.0", &["local"]).is_err());
        s.custom_url = Some("https://example.com/help".into());
        assert!(validate(&cc(false), &s, "11.0", &["local"]).is_ok());
        s.custom_url = Some("https://169.254.169.254/latest".into());
        assert!(validate(&cc(false), &s, "11.0", &["local"]).unwrap_err().contains("internal address"));
    }

    #[test]
    fn diff_names_changed_fields_only() {
        let d = diff(&cc(false), &cc(true));
        assert_eq!(d, vec!["Enable Intune Integration for macOS: false → true".to_string()]);
    }
}
