//! Computers › Compliance preview: what Intune would decide for this fleet under the
//! tenant's compliance policies or a draft, before anything is enforced: a headline, a
//! chart and a table per failing setting, the models most affected and every Mac, and
//! the same as CSV (`mdm::preview`).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::html::{Markup, html};
use serde_json::{Value, json};

use super::super::callers::ConsoleAdmin;
use super::{console_page, form};
use crate::Shared;
use crate::error::{MdmError, Result};
use crate::http::Bytes;
use crate::preview::FleetPreview;

/// The page's path under the instance.
pub const PATH: &str = "/computers/compliance-preview";

/// Macs listed on the page (the CSV holds them all).
const LISTED: usize = 200;

pub async fn page(me: ConsoleAdmin) -> Result<Response> {
    Ok(render(&me, &HashMap::new(), None, None))
}

/// Runs the preview the form describes; `format=csv` answers the CSV file instead.
pub async fn run(State(state): State<Shared>, me: ConsoleAdmin, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let drafts = (f.get("source").map(String::as_str) == Some("draft")).then(|| vec![draft(&f)]);
    match crate::preview::run(&state, &me.instance, drafts).await {
        Ok(p) if f.get("format").map(String::as_str) == Some("csv") => {
            let name = format!("attachment; filename=\"compliance-preview-{}.csv\"", me.instance.slug);
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], p.to_csv())
                .into_response())
        }
        Ok(p) => Ok(render(&me, &f, Some(&p), None)),
        Err(e @ (MdmError::Refused(_) | MdmError::Upstream(_))) => {
            let status = if matches!(e, MdmError::Upstream(_)) { StatusCode::BAD_GATEWAY } else { StatusCode::UNPROCESSABLE_ENTITY };
            let mut resp = render(&me, &f, None, Some(&e.to_string()));
            *resp.status_mut() = status;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

/// The draft policy the form describes, in Graph's macOS compliance policy shape.
fn draft(f: &HashMap<String, String>) -> Value {
    let text = |k: &str| f.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let mut policy = json!({
        "@odata.type": "#microsoft.graph.macOSCompliancePolicy",
        "displayName": text("displayName").unwrap_or_else(|| "Draft policy".into()),
    });
    for k in ["osMinimumVersion", "gatekeeperAllowedAppSource"] {
        if let Some(v) = text(k) {
            policy[k] = json!(v);
        }
    }
    for k in ["storageRequireEncryption", "firewallEnabled", "systemIntegrityProtectionEnabled"] {
        if text(k).is_some() {
            policy[k] = json!(true);
        }
    }
    policy
}

fn render(me: &ConsoleAdmin, f: &HashMap<String, String>, preview: Option<&FleetPreview>, error: Option<&str>) -> Response {
    console_page(
        me,
        &[("Computers", "/computers".into()), ("Compliance preview", PATH.into())],
        html! {
            h1 { "Compliance preview" }
            p class="muted" { "What Microsoft Intune would decide for every Mac of this instance if the policies were assigned to its user and \
                enforced. Intune evaluates the Macs' last inventory through the connector; nothing is stored or sent as inventory. \
                A Mac in a policy's grace period counts as not meeting it." }
            @if let Some(e) = error { p id="error" class="message error" role="alert" { (e) } }
            (policy_form(&me.instance.slug, f))
            @if let Some(p) = preview { (results(p)) }
        },
    )
}

fn policy_form(slug: &str, f: &HashMap<String, String>) -> Markup {
    let v = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let draft = v("source") == "draft";
    let check = |name: &str, label: &str| html! { label { input type="checkbox" name=(name) value="true" checked[!v(name).is_empty()]; " " (label) } };
    let gatekeeper = [
        ("", "Not configured"),
        ("macAppStore", "Mac App Store"),
        ("macAppStoreAndIdentifiedDevelopers", "Mac App Store and identified developers"),
    ];
    html! {
        form id="preview" class="stacked" method="post" action={ "/i/" (slug) (PATH) } {
            fieldset {
                legend { "Policies" }
                label { input type="radio" name="source" value="tenant" checked[!draft]; " The tenant's compliance policies (all of them, as if assigned to every Mac and enforced)" }
                label { input type="radio" name="source" value="draft" checked[draft]; " A draft policy:" }
                label { "Name " input name="displayName" value=(v("displayName")) placeholder="Draft policy"; }
                label { "Minimum OS version " input name="osMinimumVersion" value=(v("osMinimumVersion")) size="8" placeholder="14.0"; }
                (check("storageRequireEncryption", "Require encryption (FileVault)"))
                (check("firewallEnabled", "Firewall"))
                (check("systemIntegrityProtectionEnabled", "Require system integrity protection"))
                label { "Allow apps downloaded from " select name="gatekeeperAllowedAppSource" {
                    @for (value, label) in gatekeeper { option value=(value) selected[v("gatekeeperAllowedAppSource") == value] { (label) } }
                } }
            }
            button name="format" value="html" { "Preview" } " "
            button name="format" value="csv" { "Download CSV" }
        }
    }
}

fn results(p: &FleetPreview) -> Markup {
    html! {
        h2 { "Result" }
        p id="headline" { b { (p.headline()) } }
        @if !p.settings.is_empty() {
            (chart(p))
            table id="settings" {
                tr { th { "Setting" } th { "Macs failing it" } th { "Share of the fleet" } }
                @for s in &p.settings { tr { td { (s.label) } td { (s.macs) } td { (s.percent) " %" } } }
            }
        }
        h3 { "By model" }
        table id="models" {
            tr { th { "Model" } th { "Macs" } th { "Would be noncompliant" } }
            @for m in &p.models { tr { td { (m.model) } td { (m.macs) } td { (m.noncompliant) } } }
        }
        h3 { "Macs" }
        @if p.macs.len() > LISTED { p class="muted" { "The first " (LISTED) " of " (p.macs.len()) " (noncompliant first); the CSV holds them all." } }
        table id="macs" {
            tr { th { "Name" } th { "Serial number" } th { "Model" } th { "macOS" } th { "Intune would decide" } th { "Failing settings" } }
            @for m in p.macs.iter().take(LISTED) {
                tr {
                    td { (m.name) } td { (m.serial_number) } td { (m.model) } td { (m.os_version) }
                    td { (platform::html::badge(if m.passes() { "Compliant" } else { "Not compliant" }, None)) }
                    td { (m.failing.join("; ")) }
                }
            }
        }
    }
}

/// One horizontal bar per failing setting, its length the share of the fleet (an SVG
/// drawn here: no script).
fn chart(p: &FleetPreview) -> Markup {
    let (row, label_w, bar_w) = (28, 260.0, 360.0);
    let height = p.settings.len() * row + 8;
    html! {
        svg id="chart" role="img" aria-label="Share of the fleet failing each setting" width="700" height=(height) viewBox={ "0 0 700 " (height) } {
            @for (n, s) in p.settings.iter().enumerate() {
                @let y = n * row + 4;
                text x="0" y=(y + 17) font-size="13" { (s.label) }
                rect x=(label_w) y=(y) width=(format!("{:.1}", bar_w * s.percent / 100.0)) height="20" fill="#c0392b" {}
                text x=(format!("{:.1}", label_w + bar_w * s.percent / 100.0 + 6.0)) y=(y + 15) font-size="13" { (s.percent) " % (" (s.macs) ")" }
            }
        }
    }
}
