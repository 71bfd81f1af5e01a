//! Conditional Access *What If* (Entra admin center › Conditional Access › What If, and
//! Graph `POST /identity/conditionalAccess/evaluate`): what a sign-in of a user to an
//! application from a device, or from a device in a chosen state, would get — every
//! policy, whether it applies and why not, what its grant control decides, and for a
//! registered device Intune manages, each setting it fails with the value it reported.
//! It reads only; the decision comes from the same [`conditional_access::evaluate`] as an
//! interactive sign-in (the sign-in page), which also refuses a disabled device before
//! any policy (AADSTS135011) and a disabled account before that (AADSTS50057).

use wire::DeviceId;

use crate::entra::conditional_access::{self, Device, Outcome, Subject, WhatIf};
use crate::entra::directory::User;
use crate::error::Result;
use crate::intune::compliance::{SettingResult, SettingState};
use crate::store::Store;

/// The device a What If sign-in comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceChoice {
    /// No registered device is presented.
    None,
    /// A registered device of the tenant, as Entra holds it now.
    Registered(DeviceId),
    /// Any registered device whose `isCompliant` is this.
    InState(Option<bool>),
}

/// What the sign-in would get.
#[derive(Debug, Clone)]
pub struct Report {
    pub outcome: Outcome,
    pub policies: Vec<WhatIf>,
    /// The device's name, when a registered one was chosen.
    pub device_name: Option<String>,
    /// The device's `isCompliant` as evaluated.
    pub compliant: Option<bool>,
    /// For a registered device Intune manages: each setting it does not meet, with the
    /// value reported (the reason a compliance grant fails).
    pub failing_settings: Vec<SettingResult>,
    /// The account is disabled: the sign-in would fail before Conditional Access
    /// (AADSTS50057), whatever the policies say.
    pub user_disabled: bool,
}

/// Why What If cannot run.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The device is not registered in the user's tenant.
    UnknownDevice(DeviceId),
}

/// Evaluates a sign-in of `user` to `app_id` from `device`.
pub async fn run(store: &Store, user: &User, app_id: &str, device: &DeviceChoice) -> Result<std::result::Result<Report, Refused>> {
    let (state, device_name, failing_settings) = match device {
        DeviceChoice::None => (Device::Unrecognized, None, vec![]),
        DeviceChoice::InState(compliant) => (Device::Registered { device_id: DeviceId::default(), compliant: *compliant }, None, vec![]),
        DeviceChoice::Registered(id) => {
            let Some(d) = store.device(&user.tenant_id, id).await? else {
                return Ok(Err(Refused::UnknownDevice(id.clone())));
            };
            let managed = store.managed_device(&d.device_id).await?.filter(|m| m.tenant_id == user.tenant_id);
            // A report-only policy's settings are not why a device is refused.
            let failing: Vec<SettingResult> = match managed {
                Some(m) => {
                    let results: Vec<SettingResult> = serde_json::from_str(&m.setting_results).unwrap_or_default();
                    let states: Vec<crate::intune::combine::PolicyState> = serde_json::from_str(&m.policy_states).unwrap_or_default();
                    crate::intune::combine::enforced_results(&results, &states)
                        .into_iter()
                        .filter(|r| matches!(r.state, SettingState::Noncompliant | SettingState::Error))
                        .collect()
                }
                None => vec![],
            };
            if d.account_enabled == 0 {
                // A disabled device is refused before any policy is evaluated.
                return Ok(Ok(Report {
                    outcome: Outcome::DeviceDisabled,
                    policies: vec![],
                    device_name: Some(d.display_name),
                    compliant: d.is_compliant.map(|c| c != 0),
                    failing_settings: failing,
                    user_disabled: user.account_enabled == 0,
                }));
            }
            let state = Device::Registered { device_id: d.device_id.clone(), compliant: d.is_compliant.map(|c| c != 0) };
            (state, Some(d.display_name), failing)
        }
    };
    let compliant = match &state {
        Device::Registered { compliant, .. } => *compliant,
        Device::Unrecognized => None,
    };
    let policies = store.ca_policies(&user.tenant_id).await?;
    let groups = store.groups_of_user(&user.id).await?;
    let subject = Subject { user_id: &user.id, groups: &groups, app_id };
    let (outcome, policies) = conditional_access::what_if(&policies, &subject, &state);
    Ok(Ok(Report { outcome, policies, device_name, compliant, failing_settings, user_disabled: user.account_enabled == 0 }))
}
