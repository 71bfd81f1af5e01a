//! Computers: the search list and a computer's record, in Jamf Pro's inventory
//! categories (General, Hardware, Operating System, Security, Disk Encryption, Password
//! Policy, Local User Accounts) with its inventory history.

use axum::extract::State;
use axum::response::Response;
use platform::html::{Markup, html, pager, search_box};

use super::super::callers::ConsoleAdmin;
use super::super::{Path, Query};
use super::console_page;
use crate::Shared;
use crate::error::{MdmError, Result};
use crate::store::HistoryRow;

#[derive(serde::Deserialize)]
pub struct Search {
    q: Option<String>,
    /// Keyset paging: the rows after this computer ID.
    after: Option<i64>,
}

/// Rows on a page of the computer list.
const PAGE: i64 = 50;

/// Computers: search by name or serial number, 50 a page.
pub async fn computers(State(state): State<Shared>, Query(s): Query<Search>, me: ConsoleAdmin) -> Result<Response> {
    let q = s.q.unwrap_or_default();
    let mut computers = state.store.computers(&me.instance.id, &q, s.after.unwrap_or(0), PAGE + 1).await?;
    let more = computers.len() as i64 > PAGE;
    computers.truncate(PAGE as usize);
    let slug = &me.instance.slug;
    let next = more.then(|| computers.last().map(|c| c.id.to_string())).flatten();
    Ok(console_page(
        &me,
        &[("Computers", "/computers".into())],
        html! {
            h1 { "Computers" }
            p { a id="compliance-preview" href={ "/i/" (slug) "/computers/compliance-preview" } { "Compliance preview" }
                " — what Intune's compliance policies (or a draft) would decide for this fleet" }
            (search_box("Search name or serial number", &q))
            table id="computers" {
                tr { th { "Name" } th { "Serial number" } th { "Model" } th { "Last check-in" } th { "Last inventory update" } }
                @for c in &computers {
                    tr {
                        td { a href={ "/i/" (slug) "/computers/" (c.id) } { (c.name) } }
                        td { (c.serial_number) } td { (c.model) }
                        td { (c.last_checkin_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_default()) }
                        td { (c.collected_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_default()) }
                    }
                }
            }
            (pager(&q, s.after.is_some(), next.as_deref(), computers.len()))
        },
    ))
}

/// The record's categories, as tabs leading to each section of the one page.
const CATEGORIES: [(&str, &str); 9] = [
    ("general", "General"),
    ("hardware", "Hardware"),
    ("os", "Operating System"),
    ("security", "Security"),
    ("disk-encryption", "Disk Encryption"),
    ("password-policy", "Password Policy"),
    ("local-users", "Local User Accounts"),
    ("history", "History"),
    ("why-blocked", "Why is this Mac blocked?"),
];

/// A computer's record: every inventory category, the Conditional Access state of each
/// registered user, the inventory history and the trace of its last verdict.
pub async fn computer(State(state): State<Shared>, Path((_, id)): Path<(String, i64)>, me: ConsoleAdmin) -> Result<Response> {
    let computer = state.store.computer(&me.instance.id, id).await?.ok_or_else(|| MdmError::Page(format!("No computer {id}.")))?;
    let view = crate::agent::ca_view(&state, &computer).await?;
    let inventory: Option<wire::agent::InventoryReport> = computer.inventory.as_deref().and_then(|i| serde_json::from_str(i).ok());
    let history = state.store.inventory_history(computer.id, 50).await?;
    let trace = super::trace::trace(&state, &me.instance, &computer, &view).await?;
    let ms = |t: Option<i64>| t.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "never".into());
    Ok(console_page(
        &me,
        &[("Computers", "/computers".into()), (&computer.name, format!("/computers/{}", computer.id))],
        html! {
            h1 { (computer.name) }
            ul class="tabs" { @for (anchor, label) in CATEGORIES { li { a href={ "#" (anchor) } { (label) } } } }
            h2 id="general-heading" { "General" }
            table class="facts" id="general" {
                (row("Serial number", &computer.serial_number))
                (row("UDID", &computer.udid))
                (row("Last inventory update", &ms(computer.collected_ms)))
                (row("Last check-in", &ms(computer.last_checkin_ms)))
                (row("Enrolled", &ms(Some(computer.enrolled_ms))))
                @if let Some(i) = &inventory { (row("Model", &i.model)) }
            }
            @if let Some(i) = &inventory { (inventory_sections(i)) }
            h2 { "Local User Accounts" }
            table id="local-users" {
                tr { th { "Username" } th { "Computer Azure Active Directory ID" } th { "User Azure Active Directory ID" }
                     th { "Conditional Access Inventory State" } th { "Last inventory sent" } th { "Intune compliance" } }
                @for u in &view.users { (user_row(u)) }
            }
            h2 { "History" }
            table id="history" {
                tr { th { "Received" } th { "Collected" } th { "Kind" } th { "Sequence" } th { "Changed" } }
                @for h in &history { (history_row(h)) }
            }
            (trace)
        },
    ))
}

/// One row of a record's table: a label and its value.
fn row(name: &str, value: &str) -> Markup {
    html! { tr { th { (name) } td { (value) } } }
}

/// A row whose value may be missing (a dash).
fn opt_row(name: &str, value: Option<String>) -> Markup {
    row(name, value.as_deref().unwrap_or("—"))
}

/// A registered user of the Mac: its Entra IDs, delivery and Intune's verdict.
fn user_row(u: &wire::agent::LocalUserCa) -> Markup {
    html! {
        tr {
            td { (u.username) }
            td { (u.computer_azure_active_directory_id.as_deref().unwrap_or("")) }
            td { (u.user_azure_active_directory_id.as_deref().unwrap_or("")) }
            td { (u.conditional_access_inventory_state) }
            td class="delivery" { (u.delivery_state) }
            td class="compliance" {
                (u.compliance_state.as_deref().unwrap_or(""))
                @if !u.compliance_reasons.is_empty() { ul { @for r in &u.compliance_reasons { li { (r) } } } }
            }
        }
    }
}

fn history_row(h: &HistoryRow) -> Markup {
    html! {
        tr {
            td { (platform::clock::ms_to_rfc3339(h.received_ms)) }
            td { (platform::clock::ms_to_rfc3339(h.collected_ms)) }
            td { (h.kind) } td { (h.sequence) } td { (h.changed) }
        }
    }
}

/// The record's inventory categories as Jamf Pro names them.
fn inventory_sections(i: &wire::agent::InventoryReport) -> Markup {
    let (h, sec, p) = (&i.hardware, &i.security, &i.password_policy);
    let on = |b: bool| if b { "Enabled" } else { "Disabled" };
    html! {
        h2 { "Hardware" }
        table class="facts" id="hardware" {
            (opt_row("Model identifier", h.model_identifier.clone()))
            (opt_row("Architecture", h.processor_architecture.clone()))
            (opt_row("Processor", h.processor_type.clone()))
            (opt_row("Cores", h.core_count.map(|n| n.to_string())))
            (opt_row("Total RAM (MB)", h.total_ram_mb.map(|n| n.to_string())))
            (opt_row("MAC address", h.mac_address.clone()))
        }
        h2 { "Operating System" }
        table class="facts" id="os" { (row("Name", &i.os_name)) (row("Version", &i.os_version)) (row("Build", &i.os_build)) }
        h2 { "Security" }
        table class="facts" id="security" {
            (row("System Integrity Protection", sec.sip.partner_value().unwrap_or("Not collected")))
            (row("Gatekeeper", sec.gatekeeper.partner_value().unwrap_or("Not collected")))
            (row("Firewall", on(sec.firewall_enabled)))
            (row("Block all incoming connections", on(sec.firewall_block_all_incoming)))
            (row("Stealth mode", on(sec.firewall_stealth_mode)))
            (row("Automatic login", if sec.prevent_auto_login { "Disabled" } else { "Allowed" }))
        }
        h2 id="disk-encryption" { "Disk Encryption" }
        p { "FileVault 2 status: " b id="filevault-status" { (i.filevault_status()) } }
        table id="volumes" {
            tr { th { "Volume" } th { "Boot" } th { "FileVault 2 state" } }
            @for v in &i.volumes { tr { td { (v.name) } td { (if v.boot { "yes" } else { "" }) } td { (v.filevault.as_str()) } } }
        }
        h2 { "Password Policy" }
        table class="facts" id="password-policy" {
            (opt_row("Minimum length", p.min_length.map(|n| n.to_string())))
            (opt_row("Minimum complex characters", p.min_complex_characters.map(|n| n.to_string())))
            (opt_row("Require alphanumeric", p.require_alphanumeric.map(|b| b.to_string())))
            (opt_row("Maximum age (days)", p.max_age_days.map(|n| n.to_string())))
            (opt_row("Passwords remembered", p.history_depth.map(|n| n.to_string())))
        }
    }
}
