//! Compliance preview: what Intune would decide for a partner's devices under a set of
//! policies (the tenant's, or drafts), with the same evaluation an upload gets on its
//! first report, and nothing stored. Lets an administrator see what a policy does to a
//! fleet before assigning it.

use wire::partner::{DeviceItem, PreviewDevice, PreviewPolicy, PreviewResponse, PreviewSetting};

use crate::intune::combine;
use crate::intune::compliance::{self, MacOsPolicySettings, SettingState};
use crate::intune::enforcement::Enforcement;
use crate::intune::policy_settings::label;

/// One policy to preview: its ID, display name and settings.
pub struct Candidate {
    pub id: String,
    pub display_name: String,
    pub settings: MacOsPolicySettings,
}

/// Each device's verdict under every candidate at once (as if all were assigned to its
/// user and enforced), with the settings it fails.
pub fn preview(candidates: &[Candidate], devices: &[DeviceItem], now_ms: i64) -> PreviewResponse {
    let assigned: Vec<combine::Assigned> = candidates.iter().map(|c| (c.id.clone(), c.settings.clone(), Enforcement::Block)).collect();
    let devices = devices
        .iter()
        .map(|item| {
            let e = combine::evaluate_all(&assigned, item, &[], &compliance::Previous::default(), now_ms);
            let state = e.verdict.map(|v| v.state).unwrap_or_default();
            let failing = e
                .results
                .into_iter()
                .filter(|r| matches!(r.state, SettingState::Noncompliant | SettingState::Error))
                .map(|r| PreviewSetting {
                    label: label(&r.setting).to_string(),
                    state: if r.state == SettingState::Error { "error" } else { "noncompliant" }.into(),
                    policy_id: r.policy_id,
                    setting: r.setting,
                    expected: r.expected,
                    actual: r.actual,
                })
                .collect();
            PreviewDevice { device_id: item.device_id.to_string(), compliance_state: state.to_string(), failing }
        })
        .collect();
    let policies = candidates.iter().map(|c| PreviewPolicy { id: c.id.clone(), display_name: c.display_name.clone() }).collect();
    PreviewResponse { policies, devices }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_gets_the_verdict_and_failing_settings_an_upload_would() {
        let sonoma = Candidate {
            id: "draft-1".into(),
            display_name: "Sonoma".into(),
            settings: MacOsPolicySettings { os_minimum_version: Some("14.0".into()), ..Default::default() },
        };
        let mac = |id: &str, os: &str| DeviceItem { device_id: id.into(), os_version: Some(os.into()), ..Default::default() };
        let r = preview(&[sonoma], &[mac("a", "13.6.9"), mac("b", "14.6.1"), mac("c", "fourteen")], 0);
        let states: Vec<&str> = r.devices.iter().map(|d| d.compliance_state.as_str()).collect();
        assert_eq!(states, ["noncompliant", "compliant", "error"]);
        let failing = &r.devices[0].failing[0];
        assert_eq!(
            (failing.label.as_str(), failing.expected.as_str(), failing.actual.as_deref()),
            ("Minimum OS version", ">= 14.0", Some("13.6.9"))
        );
        assert!(r.devices[1].failing.is_empty());
        assert_eq!(r.policies[0].display_name, "Sonoma");
    }
}
