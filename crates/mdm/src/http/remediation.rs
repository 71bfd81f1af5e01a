//! The remediation page (Intune's `partnerRemediationUrl` routed to the instance) and
//! its *Recheck*: for the device the cloud names, each reason Intune gave in its last
//! verdict in plain words with the steps that fix it on the Mac; *Recheck* asks the Mac
//! to report now and the page follows the new report to Intune's new verdict.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use platform::html::{Markup, html, page};

use super::Query;
use super::callers::Instance;
use super::landing::device;
use crate::Shared;
use crate::domain::remediation;
use crate::error::Result;
use crate::store::{CommandRow, InstanceRow, LocalUserRow};
use wire::DeviceId;

/// How long the page waits for the Mac to answer a Recheck before it says so, in ms.
const ANSWER_WITHIN_MS: i64 = 2 * 60 * 1000;

#[derive(serde::Deserialize)]
pub struct RemediationQuery {
    device_id: Option<DeviceId>,
    /// The Recheck being followed (its command's UUID).
    recheck: Option<String>,
}

/// Where a Recheck stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recheck {
    /// The Mac has not fetched the command yet.
    Asking,
    /// Fetched; its report has not arrived.
    Reporting,
    /// The report arrived and was sent on; Intune's verdict has not come back.
    Evaluating,
    /// Intune's verdict on the new report is shown.
    Done,
    /// Intune did not take the report (rejected, or older than one it holds).
    Refused,
    /// The report queued nothing for Intune (the instance's connection is not active).
    NotSent,
    /// Still one of the waiting steps after [`ANSWER_WITHIN_MS`]: said so, no more reloads.
    TimedOut(Step),
}

/// A waiting step of a Recheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Asking,
    Reporting,
    Evaluating,
}

impl Recheck {
    fn waiting(self) -> bool {
        matches!(self, Recheck::Asking | Recheck::Reporting | Recheck::Evaluating)
    }

    fn sentence(self) -> &'static str {
        match self {
            Recheck::Asking => "Asking your Mac to report its state…",
            Recheck::Reporting => "Your Mac is reporting its state…",
            Recheck::Evaluating => "Microsoft Intune is checking what your Mac reported…",
            Recheck::Done => "Checked just now.",
            Recheck::Refused => "Microsoft Intune could not use what your Mac reported; the verdict below is the previous one.",
            Recheck::NotSent => {
                "Your Mac reported, but this organization's connection to Microsoft Intune is not active: the verdict below is the previous one."
            }
            Recheck::TimedOut(Step::Asking) => {
                "Your Mac has not answered. Make sure it is turned on, awake and connected to the internet, then press Recheck again."
            }
            Recheck::TimedOut(Step::Reporting) => {
                "Your Mac took the request but has not reported yet. Press Recheck again in a minute, or ask your IT department."
            }
            Recheck::TimedOut(Step::Evaluating) => {
                "Your Mac reported, but Microsoft Intune has not answered yet. Reload this page in a few minutes."
            }
        }
    }
}

/// Where `command` stands for the registered `user`, with the user read again once the
/// report is in (the report and the item it queues commit together, so a read after
/// finding the report sees the item too, never the verdict before it).
async fn progress(state: &Shared, instance_id: &str, user: LocalUserRow, command: &CommandRow) -> Result<(Recheck, LocalUserRow)> {
    let now = state.clock.now_ms();
    let report = match command.delivered_ms {
        Some(_) => state.store.reported_since(user.computer_id, command.queued_ms).await?,
        None => None,
    };
    let user = match (report, &user.aad_device_id) {
        (Some(_), Some(d)) => state.store.local_user_by_device(instance_id, d).await?.unwrap_or(user),
        _ => user,
    };
    let step = match (command.delivered_ms, report) {
        (None, _) => Step::Asking,
        (Some(_), None) => Step::Reporting,
        // The report queued no item for this device: its delivery state is an older one's.
        (Some(_), Some(sequence)) if user.delivery_sequence.is_none_or(|s| s < sequence) => return Ok((Recheck::NotSent, user)),
        (Some(_), Some(_)) if matches!(user.delivery_state.as_str(), "queued" | "sent") => Step::Evaluating,
        (Some(_), Some(_)) if user.delivery_state == "accepted" => return Ok((Recheck::Done, user)),
        (Some(_), Some(_)) => return Ok((Recheck::Refused, user)),
    };
    let recheck = match step {
        _ if now - command.queued_ms > ANSWER_WITHIN_MS => Recheck::TimedOut(step),
        Step::Asking => Recheck::Asking,
        Step::Reporting => Recheck::Reporting,
        Step::Evaluating => Recheck::Evaluating,
    };
    Ok((recheck, user))
}

/// The remediation page; while a Recheck is under way it reloads itself every two
/// seconds (`Refresh` header) until Intune's new verdict is in.
pub async fn page_for_device(
    State(state): State<Shared>,
    Query(q): Query<RemediationQuery>,
    Instance(instance): Instance,
) -> Result<Response> {
    let user = match &q.device_id {
        Some(d) => state.store.local_user_by_device(&instance.id, d).await?,
        None => None,
    };
    let command = match (&user, &q.recheck) {
        (Some(u), Some(uuid)) => state.store.command(u.computer_id, uuid).await?,
        _ => None,
    };
    let (recheck, user) = match (user, &command) {
        (Some(u), Some(c)) => {
            let (r, u) = progress(&state, &instance.id, u, c).await?;
            (Some(r), Some(u))
        }
        (u, _) => (None, u),
    };
    let body = page("Make your Mac compliant", content(&instance, q.device_id.as_ref(), user.as_ref(), recheck, state.clock.now_ms()));
    let mut resp = Html(body).into_response();
    if recheck.is_some_and(Recheck::waiting) {
        resp.headers_mut().insert(header::REFRESH, header::HeaderValue::from_static("2"));
    }
    Ok(resp)
}

fn content(
    instance: &InstanceRow,
    device_id: Option<&DeviceId>,
    user: Option<&LocalUserRow>,
    recheck: Option<Recheck>,
    now_ms: i64,
) -> Markup {
    let reasons: Vec<String> =
        user.and_then(|u| u.compliance_reasons.as_deref()).and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default();
    let fixes = remediation::fixes(&reasons);
    // A deadline already passed (Intune blocked the Mac since, without a new report) is
    // not shown as one still ahead.
    let deadline = remediation::deadline(&reasons).filter(|d| remediation::deadline_ms(d).is_none_or(|ms| ms > now_ms));
    let compliant = user.and_then(|u| u.compliance_state.as_deref()) == Some("compliant");
    html! {
        @if compliant && fixes.is_empty() {
            h1 { "Your Mac meets your organization's requirements" }
        } @else if deadline.is_some() {
            h1 { "Fix your Mac before access is blocked" }
        } @else {
            h1 { "Your Mac does not meet your organization's requirements" }
        }
        (device(device_id))
        @if let Some(d) = deadline { p id="deadline" class="message" role="alert" { "You can still sign in for now. " (d) } }
        @if let Some(r) = recheck { p id="recheck-status" role="status" class=(if r == Recheck::Done { "ok" } else { "muted" }) { (r.sentence()) } }
        @if compliant && fixes.is_empty() {
            p id="verdict" { "Microsoft Intune finds this Mac compliant. Sign in to your app again." }
        } @else if fixes.is_empty() {
            p { "Open Self Service from " (instance.name) " to see what to change, then sign in again." }
        } @else {
            p { "Microsoft Intune found what needs to change on this Mac. Fix each of these, then press Recheck:" }
            table id="fixes" {
                tr { th { "Requirement" } th { "What was found" } th { "How to fix it" } }
                @for f in &fixes { tr { td { (f.setting) } td { (f.found) } td { (f.steps) } } }
            }
        }
        @if let (Some(d), Some(_)) = (device_id, user) {
            @if !recheck.is_some_and(Recheck::waiting) {
                form method="post" action={ "/i/" (instance.slug) "/remediation/recheck?device_id=" (encoded(d)) } {
                    button id="recheck" type="submit" { "Recheck" }
                    " "
                    span class="muted" { "Your Mac reports its state now; the new verdict follows within seconds." }
                }
            }
        }
    }
}

/// *Recheck*: queues Update Inventory for the Mac and follows it on the page. A device
/// the instance does not know comes back to the page unchanged.
pub async fn recheck(State(state): State<Shared>, Query(q): Query<RemediationQuery>, Instance(instance): Instance) -> Result<Response> {
    let base = format!("/i/{}/remediation", instance.slug);
    let Some(device_id) = q.device_id else { return Ok(Redirect::to(&base).into_response()) };
    let device = encoded(&device_id);
    let to = match crate::agent::recheck(&state, &instance, &device_id).await? {
        Some(c) => format!("{base}?device_id={device}&recheck={}", c.uuid),
        None => format!("{base}?device_id={device}"),
    };
    Ok(Redirect::to(&to).into_response())
}

/// A device ID as a query value (it comes from the address: anything may be in it).
fn encoded(device_id: &DeviceId) -> String {
    url::form_urlencoded::byte_serialize(device_id.to_string().as_bytes()).collect()
}
