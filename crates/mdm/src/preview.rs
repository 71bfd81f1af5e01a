//! Compliance preview of the instance's fleet: every Mac's stored inventory (reported by
//! its agent or imported from a Jamf Pro export) sent through the connector to Intune's
//! `CompliancePreview`, under the tenant's compliance policies or drafts, and summed up
//! per setting and per model. Intune decides; nothing here evaluates a setting, and
//! nothing is stored or sent as inventory.

use std::collections::BTreeMap;

use platform::problem::Refuse;
use serde::Serialize;
use wire::partner::{MAX_PREVIEW_DEVICES, PreviewPolicy, PreviewRequest};

use crate::Shared;
use crate::domain::inventory::{Registered, device_item};
use crate::error::{MdmError, Result};
use crate::store::{ComputerRow, InstanceRow};

/// What Intune would decide for the fleet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FleetPreview {
    /// The policies evaluated (the tenant's, or the drafts as `draft-<n>`).
    pub policies: Vec<PolicyName>,
    /// Macs with an inventory, all previewed.
    pub total: usize,
    /// Of them, the Macs that do not meet the policies (noncompliant, in error, or in a
    /// policy's grace period).
    pub noncompliant: usize,
    /// Per failing setting: how many Macs fail it, most first.
    pub settings: Vec<SettingCount>,
    /// Per model: its Macs and how many would not be compliant, most failing first.
    pub models: Vec<ModelCount>,
    /// Every Mac's verdict, noncompliant first, then by name.
    pub macs: Vec<MacVerdict>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyName {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingCount {
    /// As the Intune admin center labels it (`Minimum OS version`).
    pub label: String,
    /// The policy that sets it (its display name).
    pub policy: String,
    pub macs: usize,
    /// Share of the fleet, 0 to 100.
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelCount {
    pub model: String,
    pub macs: usize,
    pub noncompliant: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MacVerdict {
    pub computer_id: i64,
    pub name: String,
    pub serial_number: String,
    pub model: String,
    pub os_version: String,
    /// `compliant`, `inGracePeriod`, `noncompliant` or `error`.
    pub compliance_state: String,
    /// One sentence per failing setting: `Minimum OS version: requires >= 14.0, reported 13.6.9`.
    pub failing: Vec<String>,
}

impl MacVerdict {
    /// Whether the Mac meets every policy. A Mac in a policy's grace period does not: it
    /// is let in only until the grace period ends.
    pub fn passes(&self) -> bool {
        self.compliance_state == "compliant"
    }
}

/// Previews every Mac of `instance` with an inventory, under `drafts` (Graph-shaped
/// macOS compliance policies) or, with none, the tenant's policies. Errors: 409 without
/// an active connection, 422 when Intune refuses the drafts (its reason), 502 when the
/// connector or Intune does not answer.
pub async fn run(state: &Shared, instance: &InstanceRow, drafts: Option<Vec<serde_json::Value>>) -> Result<FleetPreview> {
    let credential = instance
        .connector_credential
        .clone()
        .ok_or_else(|| MdmError::conflict("This instance is not registered with the connector: turn Conditional Access on first."))?;
    let mut macs = Vec::new();
    let mut policies = Vec::new();
    let mut after = 0;
    loop {
        let page = state.store.computers(&instance.id, "", after, MAX_PREVIEW_DEVICES as i64).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let with_inventory: Vec<(ComputerRow, wire::agent::InventoryReport)> =
            page.into_iter().filter_map(|c| c.stored_inventory().map(|inv| (c, inv))).collect();
        if with_inventory.is_empty() {
            continue;
        }
        let req = PreviewRequest { policies: drafts.clone(), devices: with_inventory.iter().map(|(c, inv)| item(c, inv)).collect() };
        let answer = state.connector.compliance_preview(&credential, &req).await?;
        if answer.devices.len() != with_inventory.len() {
            return Err(MdmError::Upstream(format!(
                "Intune answered {} verdicts for {} Macs; the preview was not completed.",
                answer.devices.len(),
                with_inventory.len()
            )));
        }
        for ((c, inv), verdict) in with_inventory.iter().zip(answer.devices) {
            let failing = verdict
                .failing
                .iter()
                .map(|s| format!("{}: requires {}, reported {}", s.label, s.expected, s.actual.as_deref().unwrap_or("nothing")))
                .collect();
            macs.push(MacVerdict {
                computer_id: c.id,
                name: c.name.clone(),
                serial_number: c.serial_number.clone(),
                model: c.model.clone(),
                os_version: inv.os_version.clone(),
                compliance_state: verdict.compliance_state,
                failing,
            });
        }
        policies = answer.policies;
    }
    if macs.is_empty() {
        return Err(MdmError::invalid("No Mac of this instance has reported an inventory yet: nothing to preview."));
    }
    Ok(summarise(policies, macs))
}

/// The preview item of one Mac: its inventory as the connector would send it, keyed by
/// a GUID made of the computer's ID (no Entra device or user: the preview assigns every
/// policy to it; answers are matched by their order).
fn item(c: &ComputerRow, inv: &wire::agent::InventoryReport) -> wire::partner::DeviceItem {
    let key = uuid::Uuid::from_u128(c.id as u128).to_string();
    let r = Registered {
        computer_id: c.id,
        serial_number: &c.serial_number,
        udid: &c.udid,
        aad_device_id: &key,
        aad_user_id: "",
        upn: "",
        state: "ACTIVATED",
        last_checkin: None,
        collected_at: inv.collected_at.clone(),
    };
    device_item(inv, &r)
}

/// Counts per setting and per model, and orders the Macs (noncompliant first).
fn summarise(policies: Vec<PreviewPolicy>, mut macs: Vec<MacVerdict>) -> FleetPreview {
    let total = macs.len();
    let mut settings: BTreeMap<String, usize> = BTreeMap::new();
    let mut models: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for m in &macs {
        let entry = models.entry(m.model.clone()).or_default();
        entry.0 += 1;
        if !m.passes() {
            entry.1 += 1;
        }
        let mut seen: Vec<&str> = Vec::new();
        for f in &m.failing {
            let label = f.split_once(": ").map_or(f.as_str(), |(l, _)| l);
            if !seen.contains(&label) {
                seen.push(label);
                *settings.entry(label.to_string()).or_default() += 1;
            }
        }
    }
    let mut settings: Vec<SettingCount> =
        settings.into_iter().map(|(label, n)| SettingCount { policy: String::new(), percent: share(n, total), macs: n, label }).collect();
    settings.sort_by(|a, b| b.macs.cmp(&a.macs).then(a.label.cmp(&b.label)));
    // The policies are named on the summary only when there is one (a draft or the tenant's single policy).
    if let [only] = policies.as_slice() {
        settings.iter_mut().for_each(|s| s.policy = only.display_name.clone());
    }
    let mut models: Vec<ModelCount> =
        models.into_iter().map(|(model, (n, bad))| ModelCount { model, macs: n, noncompliant: bad }).collect();
    models.sort_by(|a, b| b.noncompliant.cmp(&a.noncompliant).then(a.model.cmp(&b.model)));
    macs.sort_by(|a, b| a.passes().cmp(&b.passes()).then(a.name.cmp(&b.name)));
    let noncompliant = macs.iter().filter(|m| !m.passes()).count();
    let policies = policies.into_iter().map(|p| PolicyName { id: p.id, display_name: p.display_name }).collect();
    FleetPreview { policies, total, noncompliant, settings, models, macs }
}

/// `n` of `total` as a percentage with one decimal.
fn share(n: usize, total: usize) -> f64 {
    if total == 0 { 0.0 } else { (n as f64 * 1000.0 / total as f64).round() / 10.0 }
}

impl FleetPreview {
    /// The sentence the console leads with: `Requiring these settings makes 31.0 % of this
    /// fleet noncompliant: 412 of 1,329 Macs.`
    pub fn headline(&self) -> String {
        let what = match self.policies.as_slice() {
            [only] => format!("\"{}\"", only.display_name),
            _ => "these policies".into(),
        };
        format!(
            "{what} would make {} % of this fleet noncompliant: {} of {} Macs.",
            share(self.noncompliant, self.total),
            self.noncompliant,
            self.total
        )
    }

    /// The whole preview as CSV, one row per Mac: `computer_id,name,serial_number,model,
    /// os_version,compliance_state,failing` (failing settings joined by `; `).
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(["computer_id", "name", "serial_number", "model", "os_version", "compliance_state", "failing"]);
        for m in &self.macs {
            let id = m.computer_id.to_string();
            let cells = [
                id,
                inert(&m.name),
                inert(&m.serial_number),
                inert(&m.model),
                inert(&m.os_version),
                m.compliance_state.clone(),
                inert(&m.failing.join("; ")),
            ];
            let _ = w.write_record(&cells);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

/// A value a spreadsheet will not run as a formula: names come from the Macs (a user
/// can name theirs `=HYPERLINK(…)`), so one starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return is prefixed with `'`.
fn inert(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(name: &str, model: &str, state: &str, failing: &[&str]) -> MacVerdict {
        MacVerdict {
            computer_id: 1,
            name: name.into(),
            serial_number: "C02".into(),
            model: model.into(),
            os_version: "13.6.9".into(),
            compliance_state: state.into(),
            failing: failing.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn the_fleet_is_summed_up_per_setting_and_model() {
        let policies = vec![PreviewPolicy { id: "draft-1".into(), display_name: "Sonoma or later".into() }];
        let macs = vec![
            mac("b", "MacBook Air", "compliant", &[]),
            mac("a", "MacBook Air", "noncompliant", &["Minimum OS version: requires >= 14.0, reported 13.6.9"]),
            mac(
                "c",
                "iMac",
                "noncompliant",
                &["Minimum OS version: requires >= 14.0, reported 12.7.6", "Require encryption: requires true, reported false"],
            ),
            mac("d", "iMac", "inGracePeriod", &["Require encryption: requires true, reported false"]),
            mac("=cmd|' /C calc'!A0", "iMac", "compliant", &[]),
        ];
        let p = summarise(policies, macs);
        assert_eq!((p.total, p.noncompliant), (5, 3), "a Mac in its grace period does not meet the policy");
        assert_eq!(p.headline(), "\"Sonoma or later\" would make 60 % of this fleet noncompliant: 3 of 5 Macs.");
        let settings: Vec<(&str, usize, f64)> = p.settings.iter().map(|s| (s.label.as_str(), s.macs, s.percent)).collect();
        assert_eq!(settings, [("Minimum OS version", 2, 40.0), ("Require encryption", 2, 40.0)]);
        let models: Vec<(&str, usize, usize)> = p.models.iter().map(|m| (m.model.as_str(), m.macs, m.noncompliant)).collect();
        assert_eq!(models, [("iMac", 3, 2), ("MacBook Air", 2, 1)]);
        let order: Vec<&str> = p.macs.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(order, ["a", "c", "d", "=cmd|' /C calc'!A0", "b"], "noncompliant first");
        let csv = p.to_csv();
        assert!(csv.starts_with("computer_id,name,serial_number,model,os_version,compliance_state,failing\n"), "{csv}");
        assert!(
            csv.contains("\"Minimum OS version: requires >= 14.0, reported 12.7.6; Require encryption: requires true, reported false\""),
            "{csv}"
        );
    }
}
