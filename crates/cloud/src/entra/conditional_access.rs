//! Conditional Access: which policies apply to a sign-in and what they decide. Pure
//! functions; the sign-in handler gathers the facts and logs the decision.

use serde::{Deserialize, Serialize};
use wire::DeviceId;

/// A policy's `state` as Graph spells it (`conditionalAccessPolicyState`), stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr)]
#[serde(rename_all = "camelCase")]
#[strum(serialize_all = "camelCase")]
pub enum PolicyState {
    /// On: enforced.
    Enabled,
    /// Off: not evaluated.
    Disabled,
    /// Report-only: evaluated and logged, never enforced.
    EnabledForReportingButNotEnforced,
}

wire::text_enum!(PolicyState);

impl PolicyState {
    /// Every state with the Entra admin center's label, in the order it offers them.
    pub const LABELLED: [(PolicyState, &'static str); 3] =
        [(PolicyState::Enabled, "On"), (PolicyState::EnabledForReportingButNotEnforced, "Report-only"), (PolicyState::Disabled, "Off")];
}

/// The built-in grant controls supported here (Graph `conditionalAccessGrantControl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr)]
#[serde(rename_all = "camelCase")]
#[strum(serialize_all = "camelCase")]
pub enum GrantControl {
    /// `compliantDevice`: the sign-in must come from a device Intune marks compliant.
    CompliantDevice,
    /// `block`: the sign-in is refused.
    Block,
}

wire::text_enum!(GrantControl);

/// Users, groups and applications a policy covers (`"All"` matches everything).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    #[serde(default)]
    pub include_users: Vec<String>,
    #[serde(default)]
    pub exclude_users: Vec<String>,
    #[serde(default)]
    pub include_groups: Vec<String>,
    #[serde(default)]
    pub exclude_groups: Vec<String>,
    #[serde(default)]
    pub include_applications: Vec<String>,
    #[serde(default)]
    pub exclude_applications: Vec<String>,
    /// Graph `clientAppTypes` as given (empty: `all`). Every sign-in here is a browser or a
    /// modern client, which each of these values but `exchangeActiveSync`, `easSupported`
    /// and `other` covers; they are kept so the policy reads back as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_app_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub display_name: String,
    pub state: PolicyState,
    pub conditions: Conditions,
    pub grant: GrantControl,
}

pub struct Subject<'a> {
    pub user_id: &'a str,
    pub groups: &'a [String],
    pub app_id: &'a str,
}

/// What the cloud knows of the device the sign-in comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Device {
    /// No registered device identity was presented.
    Unrecognized,
    Registered {
        device_id: DeviceId,
        compliant: Option<bool>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    /// AADSTS53000: the device must be marked compliant.
    DeviceNotCompliant,
    /// AADSTS530003: the device must be managed (no registered device presented).
    DeviceNotRecognized,
    /// AADSTS53003: blocked by a policy.
    Blocked,
    /// AADSTS135011: the device presented is disabled in Entra; no policy is evaluated.
    DeviceDisabled,
}

impl Outcome {
    pub fn aadsts(self) -> u32 {
        match self {
            Outcome::Granted => 0,
            Outcome::DeviceNotCompliant => 53000,
            Outcome::DeviceNotRecognized => 530003,
            Outcome::Blocked => 53003,
            Outcome::DeviceDisabled => 135011,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Outcome::Granted => "",
            Outcome::DeviceNotCompliant => {
                "Device is not in required device state: compliant. Conditional Access policy requires a compliant device, and the device is not compliant. The user must enroll their device with an approved MDM provider like Intune."
            }
            Outcome::DeviceNotRecognized => "Your device is required to be managed to access this resource.",
            Outcome::Blocked => "Access has been blocked by Conditional Access policies.",
            Outcome::DeviceDisabled => "Device used during the authentication is disabled.",
        }
    }
}

/// One policy's part in a decision, for the sign-in log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub id: String,
    pub display_name: String,
    /// `success`, `failure`, `reportOnlySuccess`, `reportOnlyFailure`.
    pub result: String,
}

fn matches(include: &[String], exclude: &[String], candidates: &[&str]) -> bool {
    let hit = |list: &[String]| list.iter().any(|x| x == "All" || candidates.contains(&x.as_str()));
    hit(include) && !hit(exclude)
}

fn applies(p: &Policy, s: &Subject) -> bool {
    not_applying(p, s).is_none()
}

/// Why a policy does not apply to the sign-in, as Graph's `whatIfAnalysisReasons` names
/// it (`policyNotEnabled`, `users`, `application`, `clientApps`); `None` when it applies.
pub fn not_applying(p: &Policy, s: &Subject) -> Option<&'static str> {
    let mut principals: Vec<&str> = vec![s.user_id];
    principals.extend(s.groups.iter().map(String::as_str));
    let c = &p.conditions;
    let user_in = matches(&c.include_users, &c.exclude_users, &[s.user_id]) || matches(&c.include_groups, &[], &principals);
    let user_out = c.exclude_users.iter().any(|u| u == s.user_id) || c.exclude_groups.iter().any(|g| s.groups.contains(g));
    if p.state == PolicyState::Disabled {
        Some("policyNotEnabled")
    } else if !user_in || user_out {
        Some("users")
    } else if !matches(&c.include_applications, &c.exclude_applications, &[s.app_id]) {
        Some("application")
    } else if !modern_client(c) {
        Some("clientApps")
    } else {
        None
    }
}

/// One policy in a What If evaluation (Entra's *What If* tool, Graph
/// `conditionalAccess/evaluate`): whether it applies, why not, and what its grant control
/// would decide for the device (report-only policies too, though they enforce nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    pub policy: Policy,
    /// `None` when it applies; else Graph's `analysisReasons` value.
    pub not_applying: Option<&'static str>,
    /// What the grant control decides for this device, when the policy applies.
    pub outcome: Option<Outcome>,
}

/// Every policy of the tenant evaluated for a sign-in of `subject` from `device`, and the
/// decision the sign-in would get ([`evaluate`], so What If and a real sign-in never
/// differ).
pub fn what_if(policies: &[Policy], subject: &Subject, device: &Device) -> (Outcome, Vec<WhatIf>) {
    let results = policies
        .iter()
        .map(|p| {
            let not_applying = not_applying(p, subject);
            WhatIf { policy: p.clone(), not_applying, outcome: not_applying.is_none().then(|| result_of(p, device)) }
        })
        .collect();
    (evaluate(policies, subject, device).0, results)
}

/// Every sign-in here comes from a browser or a modern client: a policy for legacy
/// clients only (`exchangeActiveSync`, `easSupported`, `other`) does not apply to it.
fn modern_client(c: &Conditions) -> bool {
    c.client_app_types.is_empty()
        || c.client_app_types.iter().any(|t| ["all", "browser", "mobileAppsAndDesktopClients"].contains(&t.as_str()))
}

fn result_of(p: &Policy, device: &Device) -> Outcome {
    match p.grant {
        GrantControl::Block => Outcome::Blocked,
        GrantControl::CompliantDevice => match device {
            Device::Unrecognized => Outcome::DeviceNotRecognized,
            Device::Registered { compliant: Some(true), .. } => Outcome::Granted,
            Device::Registered { .. } => Outcome::DeviceNotCompliant,
        },
    }
}

/// Every enabled policy that applies must be satisfied; report-only policies are
/// evaluated and logged but never enforced. The strongest refusal wins.
pub fn evaluate(policies: &[Policy], subject: &Subject, device: &Device) -> (Outcome, Vec<Applied>) {
    let rank = |o: Outcome| match o {
        Outcome::Granted => 0,
        Outcome::DeviceNotCompliant => 1,
        Outcome::DeviceNotRecognized => 2,
        Outcome::Blocked => 3,
        Outcome::DeviceDisabled => 4,
    };
    let mut outcome = Outcome::Granted;
    let mut applied = Vec::new();
    for p in policies.iter().filter(|p| p.state != PolicyState::Disabled && applies(p, subject)) {
        let o = result_of(p, device);
        let report_only = p.state == PolicyState::EnabledForReportingButNotEnforced;
        let result = match (report_only, o == Outcome::Granted) {
            (false, true) => "success",
            (false, false) => "failure",
            (true, true) => "reportOnlySuccess",
            (true, false) => "reportOnlyFailure",
        };
        applied.push(Applied { id: p.id.clone(), display_name: p.display_name.clone(), result: result.into() });
        if !report_only && rank(o) > rank(outcome) {
            outcome = o;
        }
    }
    (outcome, applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(state: PolicyState, grant: GrantControl) -> Policy {
        Policy {
            id: "p".into(),
            display_name: "Require compliant Mac".into(),
            state,
            conditions: Conditions { include_groups: vec!["g".into()], include_applications: vec!["app".into()], ..Default::default() },
            grant,
        }
    }

    #[test]
    fn compliant_device_policy_decides_by_device_state() {
        let groups = vec!["g".to_string()];
        let s = Subject { user_id: "u", groups: &groups, app_id: "app" };
        let p = [policy(PolicyState::Enabled, GrantControl::CompliantDevice)];
        let reg = |c| Device::Registered { device_id: "d".into(), compliant: c };
        assert_eq!(evaluate(&p, &s, &reg(Some(true))).0, Outcome::Granted);
        assert_eq!(evaluate(&p, &s, &reg(Some(false))).0, Outcome::DeviceNotCompliant);
        assert_eq!(evaluate(&p, &s, &reg(None)).0, Outcome::DeviceNotCompliant);
        assert_eq!(evaluate(&p, &s, &Device::Unrecognized).0, Outcome::DeviceNotRecognized);
    }

    #[test]
    fn what_if_names_why_each_policy_does_or_does_not_apply() {
        let groups = vec!["g".to_string()];
        let s = Subject { user_id: "u", groups: &groups, app_id: "app" };
        let mut off = policy(PolicyState::Disabled, GrantControl::Block);
        off.id = "off".into();
        let mut other_app = policy(PolicyState::Enabled, GrantControl::Block);
        other_app.conditions.include_applications = vec!["other".into()];
        let mut excluded = policy(PolicyState::Enabled, GrantControl::Block);
        excluded.conditions.exclude_groups = vec!["g".into()];
        let compliant = policy(PolicyState::Enabled, GrantControl::CompliantDevice);
        let device = Device::Registered { device_id: "d".into(), compliant: Some(false) };
        let (outcome, results) = what_if(&[off, other_app, excluded, compliant], &s, &device);
        assert_eq!(outcome, Outcome::DeviceNotCompliant);
        let reasons: Vec<Option<&str>> = results.iter().map(|r| r.not_applying).collect();
        assert_eq!(reasons, [Some("policyNotEnabled"), Some("application"), Some("users"), None]);
        assert_eq!(results[3].outcome, Some(Outcome::DeviceNotCompliant));
        assert_eq!(results[0].outcome, None);
    }

    #[test]
    fn report_only_disabled_and_out_of_scope_policies_do_not_block() {
        let groups = vec!["g".to_string()];
        let s = Subject { user_id: "u", groups: &groups, app_id: "app" };
        let (o, applied) =
            evaluate(&[policy(PolicyState::EnabledForReportingButNotEnforced, GrantControl::Block)], &s, &Device::Unrecognized);
        assert_eq!((o, applied[0].result.as_str()), (Outcome::Granted, "reportOnlyFailure"));
        assert!(evaluate(&[policy(PolicyState::Disabled, GrantControl::Block)], &s, &Device::Unrecognized).1.is_empty());
        let other_app = Subject { user_id: "u", groups: &groups, app_id: "other" };
        assert_eq!(evaluate(&[policy(PolicyState::Enabled, GrantControl::Block)], &other_app, &Device::Unrecognized).0, Outcome::Granted);
        let mut excluded = policy(PolicyState::Enabled, GrantControl::Block);
        excluded.conditions.exclude_users = vec!["u".into()];
        assert_eq!(evaluate(&[excluded], &s, &Device::Unrecognized).0, Outcome::Granted);
        // "Block legacy authentication": browsers and modern clients pass.
        let mut legacy = policy(PolicyState::Enabled, GrantControl::Block);
        legacy.conditions.client_app_types = vec!["exchangeActiveSync".into(), "other".into()];
        assert_eq!(evaluate(&[legacy.clone()], &s, &Device::Unrecognized).0, Outcome::Granted);
        legacy.conditions.client_app_types.push("browser".into());
        assert_eq!(evaluate(&[legacy], &s, &Device::Unrecognized).0, Outcome::Blocked);
    }
}
