//! *Why is this Mac blocked?* on a computer record: every hop of the Mac's last state
//! from its check-in to the sign-in, with its time and state, for each Entra device
//! registered on it. The first hop that did not go through is where to look.
//!
//! The mdm knows the check-in, the inventory and what it sent; the connector
//! (`GET /api/v1/devices/{id}`, the instance's own updates) knows the upload and the
//! cloud's answer; Intune's verdict, its failing settings and the device's `isCompliant`
//! in Entra come back with that answer. The sign-in itself is decided by Conditional
//! Access in Entra, from that `isCompliant`.

use platform::html::{Markup, badge, html};
use wire::agent::{ComputerCaView, LocalUserCa};
use wire::connector_api::{DeviceTrace, IntakeState};

use crate::Shared;
use crate::error::Result;
use crate::store::{ComputerRow, InstanceRow};

/// One hop: what it is, when it happened, what happened, and whether it went through
/// (`None`: not reached or nothing to judge).
struct Hop {
    name: &'static str,
    at: Option<String>,
    state: String,
    passed: Option<bool>,
}

fn hop(name: &'static str, at: Option<String>, state: impl Into<String>, passed: Option<bool>) -> Hop {
    Hop { name, at, state: state.into(), passed }
}

/// The trace section of the record.
pub(super) async fn trace(state: &Shared, instance: &InstanceRow, computer: &ComputerRow, view: &ComputerCaView) -> Result<Markup> {
    let history = state.store.inventory_history(computer.id, 1).await?;
    let mut devices = Vec::new();
    for user in view.users.iter().filter(|u| u.computer_azure_active_directory_id.is_some()) {
        let device_id = user.computer_azure_active_directory_id.clone().unwrap_or_default();
        // The connector's part, or why it could not be read.
        let connector = match &instance.connector_credential {
            Some(c) => state.connector.device_trace(c, &device_id).await.map_err(|e| e.to_string()),
            None => Ok(None),
        };
        let received = history.first().map(|h| (h.collected_ms, h.received_ms));
        devices.push((user, hops(computer, received, user, connector)));
    }
    Ok(html! {
        section id="why-blocked" {
            h2 { "Why is this Mac blocked?" }
            @if devices.is_empty() { p class="muted" { "No user of this Mac has registered it with Microsoft Entra ID, so Conditional Access sees no device: the user is sent to the landing page." } }
            @for (user, hops) in &devices {
                h3 { (user.username) " · Entra device " code { (user.computer_azure_active_directory_id.as_deref().unwrap_or("")) } }
                p class="verdict" { (summary(hops)) }
                table class="trace" {
                    tr { th { "Hop" } th { "When" } th { "State" } th { "Result" } }
                    @for h in hops {
                        tr {
                            td { (h.name) }
                            td { (h.at.as_deref().unwrap_or("—")) }
                            td { (h.state) }
                            td { @match h.passed { Some(true) => (badge("Passed", None)), Some(false) => (badge("Failed", None)), None => (badge("Pending", None)) } }
                        }
                    }
                }
            }
        }
    })
}

/// The verdict in one sentence: the failing settings, or where the state stopped.
fn summary(hops: &[Hop]) -> String {
    match hops.iter().find(|h| h.passed != Some(true)) {
        None => "Not blocked: Intune found this Mac compliant, so Conditional Access lets its user sign in.".into(),
        Some(h) if h.name == "Intune evaluation" && h.passed == Some(false) => {
            format!(
                "Blocked: Intune found this Mac noncompliant ({}). Conditional Access policies that require a compliant device refuse its sign-ins.",
                h.state
            )
        }
        Some(h) => format!(
            "{} at “{}”: {}. Entra keeps the device's previous compliance until a newer state arrives.",
            if h.passed.is_none() { "Waiting" } else { "Stopped" },
            h.name,
            h.state.trim_end_matches('.')
        ),
    }
}

fn hops(
    computer: &ComputerRow,
    received: Option<(i64, i64)>,
    user: &LocalUserCa,
    connector: std::result::Result<Option<DeviceTrace>, String>,
) -> Vec<Hop> {
    let ms = |t: i64| platform::clock::ms_to_rfc3339(t);
    let mut out = vec![
        hop(
            "Check-in",
            computer.last_checkin_ms.map(ms),
            if computer.last_checkin_ms.is_some() { "checked in" } else { "never" },
            Some(computer.last_checkin_ms.is_some()),
        ),
        match received {
            Some((collected, at)) => {
                hop("Inventory", Some(ms(at)), format!("collected on the Mac {}, received by this instance", ms(collected)), Some(true))
            }
            None => hop("Inventory", None, "no inventory received yet", Some(false)),
        },
    ];
    let sent = !matches!(user.delivery_state.as_str(), "not_sent" | "queued");
    out.push(hop("Sent to the Cloud Connector", None, if sent { "sent" } else { user.delivery_state.as_str() }, Some(sent)));
    let trace = match connector {
        Ok(t) => t,
        Err(e) => {
            out.push(hop("Cloud Connector", None, format!("could not be read: {e}"), None));
            return out;
        }
    };
    let last = trace.as_ref().and_then(|t| t.updates.iter().max_by_key(|u| u.sequence));
    out.push(match last {
        Some(u) => hop("Cloud Connector", Some(u.received_at.clone()), format!("update {} received", u.sequence), Some(true)),
        None => hop("Cloud Connector", None, "holds no update of this device", None),
    });
    out.push(match last {
        Some(u) if u.status == IntakeState::Dead => {
            hop("Upload to Intune", None, format!("given up: {}", u.dead_reason.as_deref().unwrap_or("no reason recorded")), Some(false))
        }
        Some(u) if u.status == IntakeState::Done => {
            hop("Upload to Intune", None, u.message.clone().unwrap_or_else(|| "done".into()), Some(true))
        }
        // In a message on its way: failing only once an attempt has failed.
        Some(u) => match &u.message {
            Some(m) if m.contains("last error") => hop("Upload to Intune", None, m.clone(), Some(false)),
            Some(m) => hop("Upload to Intune", None, m.clone(), None),
            None => hop("Upload to Intune", None, "waiting to be uploaded", None),
        },
        None => hop("Upload to Intune", None, "not uploaded", None),
    });
    let answered = last.and_then(|u| u.outcomes.last().cloned());
    let (verdict, compliant) = match user.compliance_state.as_deref() {
        Some("compliant") => ("compliant".to_string(), Some(true)),
        Some(other) if user.compliance_reasons.is_empty() => (other.to_string(), Some(false)),
        Some(_) => (user.compliance_reasons.join("; "), Some(false)),
        None => ("no verdict yet".to_string(), None),
    };
    out.push(hop("Intune evaluation", answered.as_deref().and_then(outcome_time), verdict, compliant));
    out.push(hop(
        "Microsoft Entra device",
        None,
        match compliant {
            Some(c) => format!("isCompliant = {c}"),
            None => "isCompliant not set by this state".into(),
        },
        compliant,
    ));
    out.push(hop(
        "Sign-in",
        None,
        match compliant {
            Some(true) => "allowed by policies that require a compliant device",
            Some(false) => "refused by policies that require a compliant device",
            None => "decided on the device's previous compliance",
        },
        compliant,
    ));
    out
}

/// The time in an outcome line (`accepted 2026-12-01T10:00:00Z: detail`).
fn outcome_time(line: &str) -> Option<String> {
    line.split_whitespace().nth(1).map(|t| t.trim_end_matches(':').to_string())
}
