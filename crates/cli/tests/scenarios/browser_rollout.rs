//! Issue 17's steps clicked through in Chromium: the Intune admin warns with a deadline,
//! a warned user fixes their Mac and presses Recheck on the remediation page (which
//! follows the Mac's answer by itself), and the mdm admin previews a draft policy on
//! the fleet.

use std::sync::Arc;

use cloudconnector::admin_steps;
use fleet::{Fleet, SignIn};

use crate::browser_consoles::mdm_sign_in;
use crate::chromium::Chromium;
use crate::harness::{eventually, spawn};

#[tokio::test]
async fn warn_recheck_and_preview_by_clicking() {
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 9, 0.0).remove(0);
    profile.filevault = false;
    let mac = fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    let id = mac.device_id.clone().unwrap();
    eventually("blocked", || async { (t.is_compliant(&id).await == Some(false)).then_some(()) }).await;
    let deadline = (t.clock.now() + chrono::Duration::days(14)).format("%Y-%m-%dT%H:%M").to_string();
    let b = Chromium::start("warn_recheck_preview").await;
    let outcome = async {
        // Intune: the FileVault policy moves from Block to a warning for two weeks.
        b.goto(&format!("{}/console/login", t.cloud.url())).await?;
        b.fill("Email", &t.tenant.admin.upn).await?;
        b.fill("Password", &t.tenant.admin.password).await?;
        b.press("Sign in").await?;
        b.click_link("Compliance policies").await?;
        b.choose("Enforcement", "Warn until…").await?;
        b.pick("Block from (UTC)", &deadline).await?;
        b.press("Assign").await?;
        let message = b.text("#message").await?;
        anyhow::ensure!(message.starts_with("Assigned: Warn until ") && message.ends_with(", then block."), "{message}");
        b.snapshot("intune-compliance-policies-warn").await?;

        // The Mac reports; its user is let in with the warning and follows it to the fix.
        t.advance_clock(60).await;
        fleet.report_inventory(&mac, t.clock.now()).await?;
        eventually("warned", || async { (t.is_compliant(&id).await == Some(true)).then_some(()) }).await;
        let SignIn::Warned { partner_link, .. } =
            fleet.sign_in(&mac, &t.tenant.portal_app_id, &t.tenant.portal_redirect_uri, true, t.clock.now()).await?
        else {
            anyhow::bail!("no warning at sign-in");
        };
        let computer = format!("computers/{}/conditional-access", mac.computer_id);
        eventually("the warning at the instance", || async {
            (t.mdm_read("hq", &computer).await["users"][0]["compliance_state"] == "inGracePeriod").then_some(())
        })
        .await;
        let shared = Arc::new(tokio::sync::Mutex::new(mac.clone()));
        let agent = tokio::spawn(fleet.clone().run_agent(shared.clone(), t.clock.clone()));
        b.goto(&partner_link.unwrap_or_default()).await?;
        anyhow::ensure!(b.text("#deadline").await?.contains("Access is blocked from"), "no deadline on the page");
        shared.lock().await.profile.filevault = true;
        b.press("Recheck").await?;
        // The page reloads itself while the Mac answers and Intune decides.
        let checked = b.wait_text("#recheck-status", "Checked just now.").await;
        agent.abort();
        checked?;
        anyhow::ensure!(b.text("h1").await? == "Your Mac meets your organization's requirements", "{}", b.text("main").await?);
        b.snapshot("mdm-remediation-rechecked").await?;

        // The mdm: a draft requiring a macOS no Mac runs yet fails the whole fleet.
        mdm_sign_in(&b, &t, "hq").await?;
        b.click_link("Computers").await?;
        b.click_link("Compliance preview").await?;
        b.tick("A draft policy").await?;
        b.fill("Name", "Next year's macOS").await?;
        b.fill("Minimum OS version", "27.0").await?;
        b.press("Preview").await?;
        let headline = b.text("#headline").await?;
        anyhow::ensure!(headline == "\"Next year's macOS\" would make 100 % of this fleet noncompliant: 1 of 1 Macs.", "{headline}");
        anyhow::ensure!(b.has("#chart rect").await?, "no chart");
        b.snapshot("mdm-compliance-preview").await?;
        Ok(())
    }
    .await;
    b.finish(outcome).await;
    t.stop().await;
}
