//! A device under several compliance policies, combined as Intune combines them.
//!
//! - Each policy is evaluated on its own, with its own grace period (its `block`
//!   action) and its own clocks, and gets its own state (Microsoft Learn, "Create a
//!   compliance policy in Microsoft Intune": actions for noncompliance belong to a policy).
//! - The device takes the most severe of its policies' states (Microsoft Learn, "Monitor
//!   results of your Intune Device compliance policies": unknown < not applicable <
//!   compliant < in grace period < not compliant < error).
//! - Where two policies set one setting, the most restrictive value applies (Microsoft
//!   Learn, "Common questions, issues, and resolutions with device policies and profiles
//!   in Microsoft Intune"): evaluating each policy alone and keeping the worst state does
//!   exactly that, so no compliance setting is ever in conflict.
//! - Each assignment's graded enforcement (`intune::enforcement`) applies to its policy's
//!   state: a warned policy is held in its grace period until its deadline, a report-only
//!   policy is evaluated and kept but left out of the device's state.

use serde::{Deserialize, Serialize};
use wire::partner::DeviceItem;

use crate::intune::compliance::{self, ComplianceState, MacOsPolicySettings, Previous, SettingResult, Verdict};
use crate::intune::enforcement::Enforcement;

/// One assigned policy's state on a device, kept between evaluations (JSON in
/// `managed_devices.policy_states`, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyState {
    pub policy_id: String,
    /// `compliant`, `inGracePeriod`, `noncompliant` or `error`.
    pub state: ComplianceState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncompliant_since_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_since_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_expires_ms: Option<i64>,
    /// How the assignment that reached the device enforces the policy (block when absent).
    #[serde(default, skip_serializing_if = "is_block")]
    pub enforcement: Enforcement,
}

fn is_block(e: &Enforcement) -> bool {
    *e == Enforcement::Block
}

/// One policy as assigned to a device's user: its ID, settings and enforcement.
pub type Assigned = (String, MacOsPolicySettings, Enforcement);

/// The device's evaluation under its assigned policies.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The worst state of the enforced policies; `None` when every policy is report only
    /// (the caller applies the tenant's rule for a device without a policy).
    pub verdict: Option<Verdict>,
    /// Every setting of every policy, each naming its policy.
    pub results: Vec<SettingResult>,
    pub policies: Vec<PolicyState>,
}

impl Evaluation {
    /// The settings of the enforced policies only: the reasons a device is not compliant.
    pub fn enforced_results(&self) -> Vec<SettingResult> {
        enforced_results(&self.results, &self.policies)
    }

    /// The earliest deadline of a warned policy the device does not meet, while it lasts.
    pub fn warned_until_ms(&self) -> Option<i64> {
        self.policies
            .iter()
            .filter(|p| p.state == ComplianceState::InGracePeriod && matches!(p.enforcement, Enforcement::Warn { .. }))
            .filter_map(|p| p.grace_expires_ms)
            .min()
    }
}

/// The `results` of the policies `states` enforce (not report only).
pub fn enforced_results(results: &[SettingResult], states: &[PolicyState]) -> Vec<SettingResult> {
    let report_only: Vec<&str> = states.iter().filter(|p| !p.enforcement.enforced()).map(|p| p.policy_id.as_str()).collect();
    results.iter().filter(|r| !report_only.contains(&r.policy_id.as_str())).cloned().collect()
}

/// Evaluates each of `policies` (id, settings, enforcement) on its own against `item`,
/// applies its enforcement, then combines the enforced ones.
/// `stored` are the policy states of the previous evaluation; a device evaluated before
/// policies were tracked one by one has none, and each policy then starts from the
/// device's `fallback` state. `policies` must not be empty (no policy is a tenant
/// setting, decided by the caller).
pub fn evaluate_all(policies: &[Assigned], item: &DeviceItem, stored: &[PolicyState], fallback: &Previous, now_ms: i64) -> Evaluation {
    let mut results = Vec::new();
    let mut states = Vec::with_capacity(policies.len());
    for (id, settings, enforcement) in policies {
        let own = compliance::evaluate(id, settings, item);
        let previous = match stored.iter().find(|p| &p.policy_id == id) {
            Some(p) => Previous { state: Some(p.state), noncompliant_since_ms: p.noncompliant_since_ms, error_since_ms: p.error_since_ms },
            None if stored.is_empty() => fallback.clone(),
            // A policy assigned since the last evaluation starts afresh.
            None => Previous::default(),
        };
        let v = enforcement.apply(compliance::overall(&own, settings.grace_period_hours(), &previous, now_ms), now_ms);
        states.push(PolicyState {
            policy_id: id.clone(),
            state: v.state,
            noncompliant_since_ms: v.noncompliant_since_ms,
            error_since_ms: v.error_since_ms,
            grace_expires_ms: v.grace_expires_ms,
            enforcement: *enforcement,
        });
        results.extend(own);
    }
    let enforced: Vec<PolicyState> = states.iter().filter(|p| p.enforcement.enforced()).cloned().collect();
    let verdict = (!enforced.is_empty()).then(|| worst(&enforced));
    Evaluation { verdict, results, policies: states }
}

/// The device's verdict: the most severe policy state, with the clocks of the policies
/// in that state (the earliest noncompliance, the earliest grace period to end).
pub fn worst(states: &[PolicyState]) -> Verdict {
    let Some(top) = states.iter().max_by_key(|p| p.state.severity()) else { return Verdict::decided_unknown() };
    let state = match top.state {
        s @ (ComplianceState::Compliant | ComplianceState::InGracePeriod | ComplianceState::Noncompliant | ComplianceState::Error) => s,
        _ => ComplianceState::Unknown,
    };
    let same: Vec<&PolicyState> = states.iter().filter(|p| p.state == top.state).collect();
    Verdict {
        state,
        noncompliant_since_ms: states.iter().filter_map(|p| p.noncompliant_since_ms).min(),
        error_since_ms: states.iter().filter_map(|p| p.error_since_ms).min(),
        grace_expires_ms: same.iter().filter_map(|p| p.grace_expires_ms).min(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intune::compliance::{ScheduledActionConfiguration, ScheduledActionsForRule};

    const HOUR: i64 = 3600 * 1000;

    fn policy(id: &str, grace_hours: i64, adjust: impl FnOnce(&mut MacOsPolicySettings)) -> Assigned {
        let mut s = MacOsPolicySettings {
            scheduled_actions_for_rule: vec![ScheduledActionsForRule {
                rule_name: None,
                scheduled_action_configurations: vec![ScheduledActionConfiguration {
                    action_type: "block".into(),
                    grace_period_hours: grace_hours,
                }],
            }],
            ..Default::default()
        };
        adjust(&mut s);
        (id.into(), s, Enforcement::Block)
    }

    fn mac(os: &str, encrypted: bool) -> DeviceItem {
        DeviceItem { os_version: Some(os.into()), encrypted: Some(encrypted), ..Default::default() }
    }

    fn verdict(e: &Evaluation) -> Verdict {
        e.verdict.clone().expect("an enforced policy")
    }

    fn state_of(e: &Evaluation, id: &str) -> ComplianceState {
        e.policies.iter().find(|p| p.policy_id == id).unwrap().state
    }

    #[test]
    fn two_policies_setting_one_value_the_most_restrictive_applies() {
        let lenient = policy("lenient", 0, |s| s.os_minimum_version = Some("14.0".into()));
        let strict = policy("strict", 0, |s| s.os_minimum_version = Some("15.0".into()));
        let both = [lenient.clone(), strict.clone()];
        let e = evaluate_all(&both, &mac("14.6", true), &[], &Previous::default(), 0);
        assert_eq!(
            (state_of(&e, "lenient"), state_of(&e, "strict"), verdict(&e).state),
            (ComplianceState::Compliant, ComplianceState::Noncompliant, ComplianceState::Noncompliant)
        );
        let reasons: Vec<String> = e.results.iter().filter_map(SettingResult::reason).collect();
        assert_eq!(reasons, ["Minimum OS version: requires >= 15.0, reported 14.6"]);
        // The order the policies are assigned in does not matter.
        let e = evaluate_all(&[strict, lenient], &mac("14.6", true), &[], &Previous::default(), 0);
        assert_eq!(verdict(&e).state, ComplianceState::Noncompliant);
        let e = evaluate_all(&both, &mac("15.1", true), &[], &Previous::default(), 0);
        assert_eq!(verdict(&e).state, ComplianceState::Compliant);
    }

    #[test]
    fn each_policy_keeps_its_own_grace_period() {
        // Both fail on encryption; one grants three days, the other one.
        let long = policy("long", 72, |s| s.storage_require_encryption = true);
        let short = policy("short", 24, |s| s.storage_require_encryption = true);
        let policies = [long, short];
        let first = evaluate_all(&policies, &mac("15.1", false), &[], &Previous::default(), 0);
        assert_eq!(verdict(&first).state, ComplianceState::InGracePeriod);
        assert_eq!(verdict(&first).grace_expires_ms, Some(24 * HOUR), "the earliest grace period ends the device's");
        let later = evaluate_all(&policies, &mac("15.1", false), &first.policies, &Previous::default(), 25 * HOUR);
        assert_eq!((state_of(&later, "long"), state_of(&later, "short")), (ComplianceState::InGracePeriod, ComplianceState::Noncompliant));
        assert_eq!((verdict(&later).state, verdict(&later).is_compliant()), (ComplianceState::Noncompliant, Some(false)));
        assert_eq!(verdict(&later).noncompliant_since_ms, Some(0), "noncompliance dates from the first failing report");
    }

    #[test]
    fn three_policies_the_device_takes_the_worst_state() {
        let os = policy("os", 0, |s| s.os_minimum_version = Some("14.0".into()));
        let disk = policy("disk", 48, |s| s.storage_require_encryption = true);
        let build = policy("build", 0, |s| s.os_minimum_build_version = Some("24A335".into()));
        let policies = [os, disk, build];
        // The build is unreadable: an error, held at the previous state for seven days.
        let item = DeviceItem { os_build: Some("not a build".into()), ..mac("15.1", false) };
        let e = evaluate_all(&policies, &item, &[], &Previous::default(), 0);
        assert_eq!(
            (state_of(&e, "os"), state_of(&e, "disk"), state_of(&e, "build")),
            (ComplianceState::Compliant, ComplianceState::InGracePeriod, ComplianceState::Error)
        );
        assert_eq!(verdict(&e).state, ComplianceState::Error, "error is the most severe state");
        // Fixed build: the disk policy's grace period decides.
        let item = DeviceItem { os_build: Some("24B83".into()), ..mac("15.1", false) };
        let e = evaluate_all(&policies, &item, &e.policies, &Previous::default(), HOUR);
        assert_eq!((verdict(&e).state, verdict(&e).grace_expires_ms), (ComplianceState::InGracePeriod, Some(48 * HOUR)));
        // Everything met: compliant.
        let item = DeviceItem { os_build: Some("24B83".into()), ..mac("15.1", true) };
        let e = evaluate_all(&policies, &item, &e.policies, &Previous::default(), 2 * HOUR);
        assert_eq!(verdict(&e).state, ComplianceState::Compliant);
        assert!(e.policies.iter().all(|p| p.state == ComplianceState::Compliant && p.noncompliant_since_ms.is_none()));
    }

    #[test]
    fn a_newly_assigned_policy_starts_its_own_clock() {
        let disk = policy("disk", 24, |s| s.storage_require_encryption = true);
        let first = evaluate_all(std::slice::from_ref(&disk), &mac("15.1", false), &[], &Previous::default(), 0);
        let firewall = policy("firewall", 24, |s| s.firewall_enabled = true);
        let item = DeviceItem { firewall_enabled: Some(false), ..mac("15.1", false) };
        let e = evaluate_all(&[disk, firewall], &item, &first.policies, &Previous::default(), 20 * HOUR);
        let grace = |id: &str| e.policies.iter().find(|p| p.policy_id == id).unwrap().grace_expires_ms;
        assert_eq!((grace("disk"), grace("firewall")), (Some(24 * HOUR), Some(44 * HOUR)));
    }

    #[test]
    fn a_report_only_policy_is_evaluated_but_not_counted_and_a_warned_one_holds_until_its_deadline() {
        let (id, settings, _) = policy("disk", 0, |s| s.storage_require_encryption = true);
        let audit = [(id.clone(), settings.clone(), Enforcement::ReportOnly)];
        let e = evaluate_all(&audit, &mac("15.1", false), &[], &Previous::default(), 0);
        assert_eq!((e.verdict.as_ref().map(|v| v.state), state_of(&e, "disk")), (None, ComplianceState::Noncompliant));
        assert!(e.enforced_results().is_empty(), "a report-only policy gives no reason");
        let os = policy("os", 0, |s| s.os_minimum_version = Some("15.0".into()));
        let e = evaluate_all(&[audit[0].clone(), os], &mac("15.1", false), &[], &Previous::default(), 0);
        assert_eq!(verdict(&e).state, ComplianceState::Compliant, "only the enforced policy counts");

        let warned = [(id, settings, Enforcement::Warn { until_ms: 72 * HOUR })];
        let e = evaluate_all(&warned, &mac("15.1", false), &[], &Previous::default(), HOUR);
        assert_eq!((verdict(&e).state, verdict(&e).grace_expires_ms), (ComplianceState::InGracePeriod, Some(72 * HOUR)));
        assert_eq!((e.warned_until_ms(), e.enforced_results().len()), (Some(72 * HOUR), 1));
        let e = evaluate_all(&warned, &mac("15.1", false), &e.policies, &Previous::default(), 72 * HOUR);
        assert_eq!((verdict(&e).state, e.warned_until_ms()), (ComplianceState::Noncompliant, None));
    }

    #[test]
    fn severity_follows_intunes_order() {
        let order = [
            ComplianceState::Unknown,
            ComplianceState::NotApplicable,
            ComplianceState::Compliant,
            ComplianceState::InGracePeriod,
            ComplianceState::Noncompliant,
            ComplianceState::Error,
        ];
        assert!(order.windows(2).all(|w| w[0].severity() < w[1].severity()));
        assert_eq!(worst(&[]).state, ComplianceState::Unknown);
    }
}
