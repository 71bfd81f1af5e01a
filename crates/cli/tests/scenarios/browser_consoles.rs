//! The guide's procedures performed by clicking through the three consoles in Chromium
//! (see `chromium`): S3 connect, S8 a permission removed in Entra, S5 disconnect, S6
//! terminate in Intune, S2 remove a manual integration. Each test is one browser: the
//! administrator signs in to the cloud once, on the first consent page.

use cloudconnector::admin_steps;
use fleet::{Fleet, Mac};

use crate::chromium::Chromium;
use crate::harness::{TestStack, spawn, spawn_with};

/// Signs in to an instance's console.
pub(crate) async fn mdm_sign_in(b: &Chromium, t: &TestStack, slug: &str) -> anyhow::Result<()> {
    let i = t.instance(slug);
    b.goto(&t.instance_url(slug)).await?;
    b.fill("Username", &i.admin_username).await?;
    b.fill("Password", &i.admin_password).await?;
    b.press("Log in").await
}

/// Settings › Global Management › Conditional Access, from anywhere in the instance.
async fn open_conditional_access(b: &Chromium) -> anyhow::Result<()> {
    b.click_link("Settings").await?;
    b.click_link("Conditional Access").await
}

/// How a test connects: whether it signs in to the cloud (the first consent of the
/// browser) and whether it saves the pages for the docs (one test does, so each
/// screenshot comes from one run).
#[derive(Clone, Copy)]
struct Connect {
    cloud_sign_in: bool,
    snapshots: bool,
}

const FIRST: Connect = Connect { cloud_sign_in: true, snapshots: false };

/// S3 steps 1–9 for one instance, as the guide says: the mdm's Conditional Access page,
/// Edit, Connect, both consents, the Application ID page, *Copy and Open Intune*, paste,
/// Save, back to the mdm and Confirm.
async fn s3_connect(b: &Chromium, t: &TestStack, slug: &str, how: Connect) -> anyhow::Result<()> {
    let snapshot = |name: &'static str| async move { if how.snapshots { b.snapshot(name).await } else { Ok(()) } };
    mdm_sign_in(b, t, slug).await?;
    open_conditional_access(b).await?;
    b.click_link("Edit").await?;
    b.tick("Enable Intune Integration for macOS").await?;
    b.choose("Connection Type", "Cloud Connector").await?;
    b.tick("The default registration page").await?;
    b.press("Connect").await?;
    if how.cloud_sign_in {
        b.fill("Email, phone, or Skype", &t.tenant.admin.upn).await?;
        b.fill("Password", &t.tenant.admin.password).await?;
        b.press("Sign in").await?;
    }
    snapshot("cloud-consent").await?;
    b.press("Accept").await?;
    b.press("Accept").await?;
    let app_id = b.text("#application-id").await?;
    snapshot("mdm-application-id").await?;
    let mdm = b.follow_to_new_tab("Copy and Open Intune").await?;
    // Signed in once already: the Intune admin center opens without asking again.
    b.fill("Specify the Microsoft Entra App ID for Jamf", &app_id).await?;
    b.press("Save").await?;
    anyhow::ensure!(b.text("#message").await? == "Saved.", "Intune did not save the App ID");
    snapshot("intune-partner-device-management").await?;
    b.close_tab_back_to(mdm).await?;
    b.press("Confirm").await?;
    anyhow::ensure!(b.text("#status").await? == "Active", "not active: {}", b.text("main").await?);
    anyhow::ensure!(b.text("#message").await? == "Confirmed: Active.", "no confirmation");
    Ok(())
}

/// A Mac of `slug` registered by user `user`, with FileVault on.
async fn registered_mac(t: &TestStack, slug: &str, user: usize) -> Mac {
    registered_mac_with(t, slug, user, true).await
}

async fn registered_mac_with(t: &TestStack, slug: &str, user: usize, filevault: bool) -> Mac {
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 7, 0.0).remove(user);
    profile.filevault = filevault;
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    fleet.onboard(profile, &t.instance_url(slug), &t.instance(slug).invitation, t.clock.now()).await.unwrap()
}

#[tokio::test]
async fn s3_connect_by_clicking_through_the_consoles() {
    let t = spawn(1).await;
    let b = Chromium::start("s3_connect").await;
    let outcome = async {
        s3_connect(&b, &t, "hq", Connect { snapshots: true, ..FIRST }).await?;
        // The Last test is dated, and the dashboard says nothing is left to do.
        anyhow::ensure!(b.text("#last-tested").await?.contains("less than a minute ago"), "undated test");
        b.snapshot("mdm-conditional-access-active").await?;
        b.click_link("Dashboard").await?;
        b.wait_text("h1", "Dashboard").await?;
        b.snapshot("mdm-dashboard").await?;
        anyhow::ensure!(b.text("#status").await? == "Active", "the dashboard's status");
        anyhow::ensure!(!b.has("#next-step").await?, "a next step is offered although connected");
        // A Mac without FileVault: its record says why it is blocked, setting by setting.
        let mac = registered_mac_with(&t, "hq", 0, false).await;
        b.click_link("Computers").await?;
        b.click_link(&mac.profile.device_name).await?;
        b.reload_until_text("#why-blocked .trace tr:last-child td:nth-child(3)", "refused by policies that require a compliant device")
            .await?;
        let verdict = b.text("#why-blocked .verdict").await?;
        anyhow::ensure!(verdict.starts_with("Blocked: Intune found this Mac noncompliant"), "trace: {verdict}");
        anyhow::ensure!(verdict.contains("encryption"), "the failing setting is not named: {verdict}");
        b.snapshot("mdm-computer-record-blocked").await?;
        // The admin centers, still signed in since the consent.
        b.goto(&format!("{}/console/intune", t.cloud.url())).await?;
        b.click_link("Device compliance").await?;
        anyhow::ensure!(b.text("#count-noncompliant").await? == "1", "the dashboard does not count the Mac");
        b.snapshot("intune-device-compliance").await?;
        b.goto(&format!("{}/console/entra", t.cloud.url())).await?;
        b.click_link("Conditional Access").await?;
        b.snapshot("entra-conditional-access").await?;
        // What If: that user, the portal, that Mac — refused, and why, setting by setting.
        b.click_link("What If").await?;
        let user = &t.tenant.users[0];
        b.choose("User", &format!("User 1 ({})", user.upn)).await?;
        b.choose("Cloud app", "Contoso Portal").await?;
        b.choose("Device", &format!("{} ({})", mac.profile.device_name, mac.device_id.clone().unwrap_or_default())).await?;
        b.press("What If").await?;
        let decision = b.text("#what-if-decision").await?;
        anyhow::ensure!(decision.contains("AADSTS53000"), "What If decision: {decision}");
        let settings = b.texts("#what-if-settings td").await?;
        anyhow::ensure!(settings.iter().any(|s| s == "Require encryption"), "failing settings: {settings:?}");
        b.snapshot("entra-what-if").await?;
        Ok(())
    }
    .await;
    b.finish(outcome).await;
    assert_eq!(t.mdm_read("hq", "conditional-access").await["status"], "active");
    t.stop().await;
}

/// Removing the Intune permission in Entra shows as Failing, naming it, on both
/// instances that use the app, at the next upload (S8); Test connection says the same.
#[tokio::test]
async fn s8_a_permission_removed_in_entra_fails_every_instance_of_the_app_at_the_next_upload() {
    // Scheduled heartbeats and re-tests stay far away: only the refused upload tells.
    let t = spawn_with(2, |o| o.heartbeat_interval_s = 24 * 3600).await;
    let b = Chromium::start("s8_drift").await;
    let outcome = async {
        s3_connect(&b, &t, "hq", FIRST).await?;
        s3_connect(&b, &t, "labs", Connect { cloud_sign_in: false, ..FIRST }).await?;
        // Entra admin center › Enterprise applications › Cloud Connector › Remove.
        b.goto(&format!("{}/console/entra", t.cloud.url())).await?;
        b.click_link("Enterprise applications").await?;
        b.click_link("Cloud Connector").await?;
        b.snapshot("entra-enterprise-application").await?;
        b.press("Remove update_device_attributes").await?;
        b.press("Yes, remove").await?;
        anyhow::ensure!(b.text("#message").await?.starts_with("Removed update_device_attributes"), "not removed");
        // The connector's token runs out; a Mac's next report is refused.
        t.advance_clock(91 * 60).await;
        let mac = registered_mac(&t, "hq", 0).await;
        for slug in ["hq", "labs"] {
            // Still signed in to both instances since connecting them.
            b.goto(&t.instance_url(slug)).await?;
            open_conditional_access(&b).await?;
            b.reload_until_text("#status", "Failing").await?;
            let checks = b.texts("#checks td").await?;
            anyhow::ensure!(
                checks.iter().any(|c| c.contains("missing: [update_device_attributes]")),
                "{slug}: the permission is not named: {checks:?}"
            );
        }
        b.press("Test connection").await?;
        anyhow::ensure!(b.text("#message").await? == "Connection tested: Failing.", "Test connection");
        b.snapshot("mdm-conditional-access-failing").await?;
        // The Mac's record traces its state hop by hop to where it stopped.
        b.goto(&t.instance_url("hq")).await?;
        b.click_link("Computers").await?;
        b.click_link(&mac.profile.device_name).await?;
        b.click_link("Why is this Mac blocked?").await?;
        let verdict = b.text("#why-blocked .verdict").await?;
        anyhow::ensure!(verdict.starts_with("Stopped at"), "trace: {verdict}");
        b.snapshot("mdm-computer-record").await?;
        // The connector's operator page lists both links Failing.
        b.goto(&format!("{}/operator", t.connector.url())).await?;
        b.fill("Operator token", &t.operator_token).await?;
        b.press("Sign in").await?;
        let statuses = b.texts("#links .link-status .badge").await?;
        anyhow::ensure!(statuses == ["Failing", "Failing"], "operator page: {statuses:?}");
        b.snapshot("connector-operator").await?;
        b.press("Re-test Instance hq").await?;
        anyhow::ensure!(b.text("#message").await? == "Re-tested: Failing.", "operator re-test");
        Ok(())
    }
    .await;
    b.finish(outcome).await;
    t.stop().await;
}

/// S5: Edit, clear *Enable*, Save, confirm: Disabled, and the last test marked stale.
#[tokio::test]
async fn s5_disconnect_by_clicking_asks_first_and_marks_the_last_test_stale() {
    let t = spawn(1).await;
    let b = Chromium::start("s5_disconnect").await;
    let outcome = async {
        s3_connect(&b, &t, "hq", FIRST).await?;
        b.click_link("Edit").await?;
        b.untick("Enable Intune Integration for macOS").await?;
        b.press("Save").await?;
        anyhow::ensure!(b.text("h1").await? == "Turn off the Intune integration?", "no confirmation");
        b.press("Yes, turn off and disconnect").await?;
        anyhow::ensure!(b.text("#status").await? == "Disabled", "not disabled");
        anyhow::ensure!(b.has("#last-test-stale").await?, "the last test is not marked stale");
        Ok(())
    }
    .await;
    b.finish(outcome).await;
    assert_eq!(t.mdm_read("hq", "conditional-access").await["status"], "disabled");
    t.stop().await;
}

/// S6: Intune › Partner device management › Terminate, confirmed; the mdm shows it at the
/// next upload.
#[tokio::test]
async fn s6_terminate_in_intune_by_clicking_shows_on_the_mdm() {
    let t = spawn(1).await;
    let b = Chromium::start("s6_terminate").await;
    let outcome = async {
        s3_connect(&b, &t, "hq", FIRST).await?;
        b.goto(&format!("{}/console/intune", t.cloud.url())).await?;
        b.click_link("Partner device management").await?;
        // Clearing the App ID would terminate at once: asked first, and Cancel keeps it.
        b.fill("Specify the Microsoft Entra App ID for Jamf", "").await?;
        b.press("Save").await?;
        anyhow::ensure!(b.text("h1").await? == "Clear the App ID and terminate?", "no confirmation");
        b.click_link("Cancel").await?;
        anyhow::ensure!(b.text("#status").await? == "Active", "Cancel changed the connection");
        b.click_link("Terminate").await?;
        b.press("Yes, terminate").await?;
        anyhow::ensure!(b.text("#status").await? == "Terminated", "not terminated");
        registered_mac(&t, "hq", 0).await;
        b.goto(&t.instance_url("hq")).await?;
        open_conditional_access(&b).await?;
        b.reload_until_text("#status", "Terminated by Intune").await?;
        anyhow::ensure!(b.has("#last-test-stale").await?, "the last test is not marked stale");
        Ok(())
    }
    .await;
    b.finish(outcome).await;
    t.stop().await;
}

/// S2: remove a manual integration — clear *Enable* in the mdm, clear the App ID in
/// Intune (confirmed: it terminates), delete the app in Entra.
#[tokio::test]
async fn s2_remove_a_manual_integration_by_clicking() {
    let t = spawn(1).await;
    let app_id = admin_steps::manual_integration(&t, "hq").await.unwrap();
    let b = Chromium::start("s2_remove_manual").await;
    let outcome = async {
        mdm_sign_in(&b, &t, "hq").await?;
        open_conditional_access(&b).await?;
        b.click_link("Edit").await?;
        b.untick("Enable Intune Integration for macOS").await?;
        b.press("Save").await?;
        b.press("Yes, turn off and disconnect").await?;
        anyhow::ensure!(b.text("#status").await? == "Disabled", "not disabled");
        // Intune: the instance deprovisioned the tenant, so the partner is already
        // Terminated and clearing the App ID needs no confirmation.
        b.goto(&format!("{}/console/login", t.cloud.url())).await?;
        b.fill("Email", &t.tenant.admin.upn).await?;
        b.fill("Password", &t.tenant.admin.password).await?;
        b.press("Sign in").await?;
        b.click_link("Partner device management").await?;
        anyhow::ensure!(b.text("#status").await? == "Terminated", "not terminated by the instance");
        b.fill("Specify the Microsoft Entra App ID for Jamf", "").await?;
        b.press("Save").await?;
        anyhow::ensure!(b.text("#message").await? == "Saved.", "the App ID was not cleared");
        // Entra: delete the app.
        b.goto(&format!("{}/console/entra/enterprise-applications", t.cloud.url())).await?;
        b.click_link("Manual integration (hq)").await?;
        b.tick("Yes, delete this application").await?;
        b.press("Delete").await?;
        anyhow::ensure!(!b.text("#applications").await?.contains(&app_id), "the app is still listed");
        Ok(())
    }
    .await;
    b.finish(outcome).await;
    t.stop().await;
}
