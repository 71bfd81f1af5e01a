//! Graded enforcement: the Intune admin rolls the FileVault policy out report only, then
//! warns with a deadline, then the deadline passes and it blocks. The sign-ins, the
//! sign-in log, the Intune console and the remediation page follow each step.

use cloudconnector::admin_steps;
use fleet::{Fleet, SignIn};
use serde_json::Value;

use crate::harness::{TestStack, eventually, spawn};

async fn managed(t: &TestStack, device_id: &str) -> Value {
    let token = t.test_client_token().await;
    let (_, body) = t.graph_get(&token, "deviceManagement/managedDevices").await;
    body["value"].as_array().and_then(|v| v.iter().find(|m| m["azureADDeviceId"] == device_id).cloned()).unwrap_or(Value::Null)
}

async fn managed_state(t: &TestStack, device_id: &str) -> Option<String> {
    managed(t, device_id).await["complianceState"].as_str().map(str::to_string)
}

async fn newest_sign_in(t: &TestStack) -> Value {
    let token = t.test_client_token().await;
    let (_, log) = t.graph_get(&token, "auditLogs/signIns").await;
    log["value"][0].clone()
}

#[tokio::test]
async fn a_policy_goes_from_report_only_to_warned_to_enforced() {
    let t = spawn(3).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let token = t.test_client_token().await;
    let (_, policies) = t.graph_get(&token, "deviceManagement/deviceCompliancePolicies").await;
    let filevault = policies["value"][0]["id"].as_str().unwrap().to_string();
    let list = format!("{}/console/intune/devices/compliance-policies", t.cloud.url());
    let assign = format!("{list}/{filevault}/assign");
    let group = t.tenant.mac_users_group_id.as_str();

    // Report only: the Mac without FileVault is evaluated, not blocked.
    let page = b.post_form(&assign, &[("group", group), ("enforcement", "reportOnly")]).await.unwrap();
    assert!(page.texts("#policies .badge").contains(&"Report only".to_string()), "{}", page.body);
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 5, 0.0).remove(0);
    profile.filevault = false;
    let mac = fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    let id = mac.device_id.clone().unwrap();
    eventually("evaluated", || async { managed_state(&t, &id).await }).await;
    assert_eq!(managed_state(&t, &id).await.as_deref(), Some("compliant"), "a report-only policy does not count");
    let report = b.get(&format!("{}/console/intune/devices/{id}/compliance", t.cloud.url())).await.unwrap();
    assert_eq!(report.texts("#policies .policy-state"), ["Not compliant"], "{}", report.body);
    assert_eq!(report.texts("#policies .enforcement"), ["Report only"]);
    let sign_in =
        || async { fleet.sign_in(&mac, &t.tenant.portal_app_id, &t.tenant.portal_redirect_uri, true, t.clock.now()).await.unwrap() };
    assert!(matches!(sign_in().await, SignIn::Granted { .. }));

    // Warn for three days: the user gets in, is told what to fix and by when.
    let deadline = t.clock.now() + chrono::Duration::days(3);
    let (field, told) = (deadline.format("%Y-%m-%dT%H:%M").to_string(), deadline.format("%-d %b %Y %H:%M UTC").to_string());
    let refused = b.post_form(&assign, &[("group", group), ("enforcement", "warn")]).await.unwrap();
    assert!(refused.body.contains("A warning needs its deadline"), "{}", refused.body);
    let page = b.post_form(&assign, &[("group", group), ("enforcement", "warn"), ("warn_until", &field)]).await.unwrap();
    assert!(page.texts("#policies .badge").contains(&format!("Warn until {told}, then block")), "{}", page.body);
    t.advance_clock(60).await;
    fleet.report_inventory(&mac, t.clock.now()).await.unwrap();
    eventually("warned", || async { (managed_state(&t, &id).await.as_deref() == Some("inGracePeriod")).then_some(()) }).await;
    assert_eq!(t.is_compliant(&id).await, Some(true));
    let SignIn::Warned { code, warning, partner_link } = sign_in().await else { panic!("no warning") };
    assert!(!code.is_empty());
    assert!(warning.contains("does not meet macOS baseline: FileVault required") && warning.contains(&told), "{warning}");
    let logged = newest_sign_in(&t).await;
    assert_eq!((logged["status"]["errorCode"].as_i64(), logged["status"]["additionalDetails"].as_str()), (Some(0), Some(warning.as_str())));
    // The remediation page names the fix and the deadline, once the verdict reached the instance.
    let computer = format!("computers/{}/conditional-access", mac.computer_id);
    eventually("the warning at the instance", || async {
        (t.mdm_read("hq", &computer).await["users"][0]["compliance_state"] == "inGracePeriod").then_some(())
    })
    .await;
    let remediation = t.browser().get(&partner_link.expect("a link to the fix")).await.unwrap();
    assert!(remediation.element_text("deadline").is_some_and(|d| d.contains(&told)), "{}", remediation.body);
    assert_eq!(remediation.texts("#fixes td").first().map(String::as_str), Some("Require encryption"));

    // The admin gives two more days: the Mac's grace period follows at once, without a
    // new report, so the clock does not block it at the first deadline.
    let later = deadline + chrono::Duration::days(2);
    let (field, told) = (later.format("%Y-%m-%dT%H:%M").to_string(), later.format("%-d %b %Y %H:%M UTC").to_string());
    let page = b.post_form(&assign, &[("group", group), ("enforcement", "warn"), ("warn_until", &field)]).await.unwrap();
    assert!(page.texts("#policies .badge").contains(&format!("Warn until {told}, then block")), "{}", page.body);
    let m = managed(&t, &id).await;
    assert_eq!(
        (m["complianceState"].as_str(), m["complianceGracePeriodExpirationDateTime"].as_str()),
        (Some("inGracePeriod"), Some(format!("{}:00Z", field).as_str())),
        "{m}"
    );

    // The deadline passes: blocked, and the log says since when.
    t.advance_clock(5 * 24 * 3600).await;
    eventually("blocked", || async { (managed_state(&t, &id).await.as_deref() == Some("noncompliant")).then_some(()) }).await;
    assert_eq!(t.is_compliant(&id).await, Some(false));
    assert!(matches!(sign_in().await, SignIn::Refused { ref aadsts, .. } if aadsts == "AADSTS53000"));
    let logged = newest_sign_in(&t).await;
    let details = logged["status"]["additionalDetails"].as_str().unwrap_or_default().to_string();
    assert_eq!(details, format!("Blocked since {told}, when the warning of macOS baseline: FileVault required ended."), "{logged}");
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let page = b.get(&list).await.unwrap();
    assert!(page.texts("#policies .badge").contains(&format!("Block since {told}")), "{}", page.body);
    // Graph shows the schedule on the assignment.
    let token = t.test_client_token().await;
    let (_, assigned) = t.graph_get(&token, &format!("deviceManagement/deviceCompliancePolicies/{filevault}/assignments")).await;
    assert_eq!(assigned["value"][0]["enforcement"], "warn", "{assigned}");
    t.stop().await;
}
