//! The demo's policy rollout: the Intune admin previews "Sonoma or later" on the first
//! instance's fleet, assigns it report only, then warns with a deadline a week out; a
//! user on an older macOS is let in with the warning, updates, presses Recheck on the
//! remediation page, and is let in without one seconds later.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::json;

use crate::admin_steps;
use crate::browser::{Browser, Page};
use crate::graph_reader::GraphReader;
use crate::stack::Stack;

const POLICY: &str = "Sonoma or later";

/// What the rollout showed.
#[derive(Debug, Default, Serialize)]
pub struct Rollout {
    /// The preview of the first instance's fleet: Macs previewed and how many would fail.
    pub previewed: usize,
    pub previewed_noncompliant: usize,
    /// The warning a user below macOS 14 was shown at sign-in (none when no Mac of the
    /// fleet could show it: every Mac on 14 or later, or without FileVault).
    pub warning: Option<String>,
    /// Seconds from pressing Recheck to Intune's new verdict on the remediation page.
    pub recheck_seconds: Option<f64>,
    /// The same user's next sign-in: `granted`.
    pub after_recheck: Option<String>,
}

/// Runs the rollout on `slug`'s Macs (`macs` as the demo registered them).
pub async fn run(stack: &Stack, macs: &mut [(String, fleet::Mac)], slug: &str) -> anyhow::Result<Rollout> {
    let draft = json!({"displayName": POLICY, "osMinimumVersion": "14.0"});
    let preview = preview(stack, slug, &draft).await?;
    let mut out = Rollout {
        previewed: preview["total"].as_u64().unwrap_or(0) as usize,
        previewed_noncompliant: preview["noncompliant"].as_u64().unwrap_or(0) as usize,
        ..Default::default()
    };
    let b = admin_steps::cloud_console_sign_in(stack).await?;
    let policies = format!("{}/console/intune/devices/compliance-policies", stack.cloud.url());
    let group = stack.tenant.mac_users_group_id.as_str();
    let created = [("displayName", POLICY), ("osMinimumVersion", "14.0"), ("group", group), ("enforcement", "reportOnly")];
    b.post_form(&policies, &created).await?;
    let graph = GraphReader::new(stack).await?;
    let id = graph.list("deviceManagement/deviceCompliancePolicies").await?.into_iter().find(|p| p["displayName"] == POLICY);
    let id = id.and_then(|p| p["id"].as_str().map(str::to_string)).context("the new policy is not listed")?;
    let deadline = (stack.clock.now() + chrono::Duration::days(7)).format("%Y-%m-%dT%H:%M").to_string();
    let warn = [("group", group), ("enforcement", "warn"), ("warn_until", deadline.as_str())];
    b.post_form(&format!("{policies}/{id}/assign"), &warn).await?;

    let below = |m: &fleet::Mac| {
        m.profile.filevault
            && m.profile.checks_in
            && m.profile.os_version.split('.').next().and_then(|v| v.parse::<u32>().ok()).is_some_and(|v| v < 14)
    };
    let Some((_, mac)) = macs.iter_mut().find(|(s, m)| s == slug && below(m)) else { return Ok(out) };
    recover(stack, mac, &graph, &mut out).await?;
    Ok(out)
}

/// The instance's compliance preview of `draft` (its read API).
async fn preview(stack: &Stack, slug: &str, draft: &serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let i = stack.instance(slug);
    let resp = stack
        .http
        .post(format!("{}/api/v1/compliance-preview", stack.instance_url(slug)))
        .basic_auth(&i.admin_username, Some(&i.admin_password))
        .json(&json!({"policies": [draft]}))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    if !status.is_success() {
        bail!("compliance preview of {slug}: {status} {body}");
    }
    Ok(body)
}

/// The warned user's Mac reports under the new policy, signs in with the warning,
/// updates macOS and presses Recheck; its agent answers and the page shows the verdict.
async fn recover(stack: &Stack, mac: &mut fleet::Mac, graph: &GraphReader, out: &mut Rollout) -> anyhow::Result<()> {
    let fleet = fleet::Fleet::new(stack.http.clone(), &stack.cloud.url());
    let (app, redirect) = (&stack.tenant.portal_app_id, &stack.tenant.portal_redirect_uri);
    let device = mac.device_id.clone().context("a registered Mac")?;
    fleet.report_inventory(mac, stack.clock.now()).await?;
    until("the warned verdict", || async { Ok(graph.compliance_states().await?.get(&device).is_some_and(|s| s == "inGracePeriod")) })
        .await?;
    let fleet::SignIn::Warned { warning, partner_link, .. } = fleet.sign_in(mac, app, redirect, true, stack.clock.now()).await? else {
        bail!("the Mac below macOS 14 was not warned");
    };
    out.warning = Some(warning);
    let link = partner_link.context("the warning links to the fix")?;

    let shared = std::sync::Arc::new(tokio::sync::Mutex::new(mac.clone()));
    let agent = tokio::spawn(fleet.clone().run_agent(shared.clone(), stack.clock.clone()));
    {
        let mut m = shared.lock().await;
        (m.profile.os_version, m.profile.os_build) = ("15.1".into(), "24B83".into());
    }
    let started = Instant::now();
    let checked = press_recheck(&stack.browser(), &link).await;
    agent.abort();
    checked?;
    out.recheck_seconds = Some(started.elapsed().as_secs_f64());
    *mac = shared.lock().await.clone();
    out.after_recheck = Some(match fleet.sign_in(mac, app, redirect, true, stack.clock.now()).await? {
        fleet::SignIn::Granted { .. } => "granted".into(),
        other => format!("{other:?}"),
    });
    Ok(())
}

/// On the remediation page at `url`, presses *Recheck* and follows the page (as it
/// reloads itself) until Intune's new verdict is in; returns that page.
pub async fn press_recheck(browser: &Browser, url: &str) -> anyhow::Result<Page> {
    let page = browser.get(url).await?;
    let action = page.attributes("form", "action").into_iter().find(|a| a.contains("/remediation/recheck")).context("a Recheck button")?;
    let action = reqwest::Url::parse(&page.url)?.join(&action)?.to_string();
    let following = browser.post_form(&action, &[]).await?.url;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = browser.get(&following).await?;
        if page.element_text("recheck-status").as_deref() == Some("Checked just now.") {
            return Ok(page);
        }
        if Instant::now() > deadline {
            bail!("the remediation page did not show a new verdict within 30 s: {:?}", page.element_text("recheck-status"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `probe` every 100 ms for up to 30 s.
async fn until<F, Fut>(what: &str, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if probe().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out waiting for {what}")
}
