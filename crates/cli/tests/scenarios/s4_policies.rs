//! S4, policy side: an Intune admin creates and assigns macOS compliance policies in the
//! console; the evaluation honours grace periods, the validity period and several policies, and
//! the dashboard reports each setting.

use cloudconnector::admin_steps;
use fleet::{Fleet, Mac};
use serde_json::Value;

use crate::harness::{TestStack, eventually, spawn};

const HOUR: i64 = 3600;

async fn mac_with_os(t: &TestStack, fleet: &Fleet, user: usize, os: &str, build: &str) -> Mac {
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 21, 0.0).remove(user);
    profile.filevault = true;
    profile.os_version = os.into();
    profile.os_build = build.into();
    fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap()
}

async fn managed(t: &TestStack, device_id: &str) -> Option<Value> {
    let token = t.test_client_token().await;
    let (_, body) = t.graph_get(&token, "deviceManagement/managedDevices").await;
    body["value"].as_array().unwrap().iter().find(|m| m["azureADDeviceId"] == device_id).cloned()
}

async fn state_of(t: &TestStack, device_id: &str) -> Option<String> {
    managed(t, device_id).await.and_then(|m| m["complianceState"].as_str().map(str::to_string))
}

/// The device report's per-policy rows: (policy, state), by policy name.
fn policy_states(body: &str) -> Vec<(String, String)> {
    let html = scraper::Html::parse_document(body);
    let row = scraper::Selector::parse("#policies tr").unwrap();
    let cell = scraper::Selector::parse("td").unwrap();
    let mut rows: Vec<(String, String)> = html
        .select(&row)
        .filter_map(|r| {
            let cells: Vec<String> = r.select(&cell).map(|c| c.text().collect()).collect();
            (cells.len() == 4).then(|| (cells[0].clone(), cells[1].clone()))
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn s4_policies_from_the_console_with_grace_validity_and_several_policies() {
    let t = spawn(3).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let policies = format!("{}/console/intune/devices/compliance-policies", t.cloud.url());
    let page = b
        .post_form(
            &policies,
            &[
                ("displayName", "Sonoma or later"),
                ("osMinimumVersion", "14.0"),
                ("gracePeriodHours", "24"),
                ("group", &t.tenant.mac_users_group_id),
            ],
        )
        .await
        .unwrap();
    assert!(page.body.contains("Sonoma or later") && page.body.contains("Mac users"), "{}", page.body);
    let invalid = b.post_form(&policies, &[("displayName", "bad"), ("passwordMinimumLength", "40")]).await.unwrap();
    assert!(invalid.body.contains("passwordMinimumLength must be between 4 and 14"));

    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let old = mac_with_os(&t, &fleet, 0, "13.6.9", "22G830").await;
    let new = mac_with_os(&t, &fleet, 1, "14.6.1", "23G93").await;
    let (old_id, new_id) = (old.device_id.clone().unwrap(), new.device_id.clone().unwrap());
    eventually("evaluated", || async { state_of(&t, &old_id).await.filter(|_| true) }).await;
    eventually("evaluated", || async { state_of(&t, &new_id).await }).await;

    // Below the minimum, inside the 24-hour grace period: still allowed in.
    let m = managed(&t, &old_id).await.unwrap();
    assert_eq!(m["complianceState"], "inGracePeriod");
    let grace_end = (t.clock.now() + chrono::Duration::hours(24)).format("%Y-%m-%d").to_string();
    assert!(m["complianceGracePeriodExpirationDateTime"].as_str().unwrap().starts_with(&grace_end), "{m}");
    assert_eq!(state_of(&t, &new_id).await.as_deref(), Some("compliant"));
    let report = b.get(&format!("{}/console/intune/devices/{old_id}/compliance", t.cloud.url())).await.unwrap();
    assert_eq!(report.element_text("state").as_deref(), Some("In grace period"));
    let settings = report.texts("#settings td");
    assert!(["Minimum OS version", ">= 14.0", "13.6.9"].iter().all(|s| settings.contains(&s.to_string())), "{}", report.body);

    // The grace period ends: noncompliant, and Entra follows.
    t.advance_clock(25 * HOUR).await;
    eventually("grace period over", || async { (state_of(&t, &old_id).await.as_deref() == Some("noncompliant")).then_some(()) }).await;
    let token = t.test_client_token().await;
    let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{old_id}'")).await;
    assert_eq!(d["value"][0]["isCompliant"], false);

    // Validity period: 7 days without a report makes the compliant Mac noncompliant.
    // (Console sessions last 8 hours: the admin signs in again.)
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let settings = format!("{}/console/intune/devices/compliance-policy-settings", t.cloud.url());
    let page = b.post_form(&settings, &[("no_policy", "compliant"), ("validity_days", "500")]).await.unwrap();
    assert!(page.body.contains("1 to 120 days"));
    b.post_form(&settings, &[("no_policy", "compliant"), ("validity_days", "7")]).await.unwrap();
    t.advance_clock(8 * 24 * HOUR).await;
    eventually("validity period over", || async { (state_of(&t, &new_id).await.as_deref() == Some("noncompliant")).then_some(()) }).await;

    // Three policies on one user, two setting the minimum version: each is evaluated with
    // its own grace period, the most restrictive version applies and the device takes
    // the worst state.
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    b.post_form(
        &policies,
        &[
            ("displayName", "Sequoia or later"),
            ("osMinimumVersion", "15.0"),
            ("gracePeriodHours", "48"),
            ("group", &t.tenant.mac_users_group_id),
        ],
    )
    .await
    .unwrap();
    fleet.report_inventory(&new, t.clock.now()).await.unwrap();
    fleet.report_inventory(&old, t.clock.now()).await.unwrap();
    eventually("Sequoia policy applied", || async { (state_of(&t, &new_id).await.as_deref() == Some("inGracePeriod")).then_some(()) })
        .await;
    let report = b.get(&format!("{}/console/intune/devices/{new_id}/compliance", t.cloud.url())).await.unwrap();
    assert_eq!(
        policy_states(&report.body),
        [
            ("Sequoia or later".to_string(), "In grace period".to_string()),
            ("Sonoma or later".to_string(), "Compliant".to_string()),
            ("macOS baseline: FileVault required".to_string(), "Compliant".to_string()),
        ],
        "{}",
        report.body
    );
    // The old Mac fails both version policies: the one whose grace period ended decides,
    // though the other still grants one.
    eventually("old Mac re-evaluated", || async {
        let report = b.get(&format!("{}/console/intune/devices/{old_id}/compliance", t.cloud.url())).await.unwrap();
        (policy_states(&report.body).len() == 3).then_some(report)
    })
    .await;
    assert_eq!(state_of(&t, &old_id).await.as_deref(), Some("noncompliant"));
    assert_eq!(t.is_compliant(&new_id).await, Some(true), "a device in its grace period keeps access");

    // Graph: the policies with their type and assignments; only user-group targets.
    let token = t.test_client_token().await;
    let (status, list) = t.graph_get(&token, "deviceManagement/deviceCompliancePolicies").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["value"].as_array().unwrap().iter().map(|p| p["displayName"].as_str().unwrap()).collect();
    assert!(names.contains(&"Sonoma or later") && names.contains(&"macOS baseline: FileVault required"), "{names:?}");
    assert!(list["value"].as_array().unwrap().iter().all(|p| p["@odata.type"] == "#microsoft.graph.macOSCompliancePolicy"));
    let id = t.tenant.policy_id.clone();
    let (_, assigned) = t.graph_get(&token, &format!("deviceManagement/deviceCompliancePolicies/{id}/assignments")).await;
    assert_eq!(assigned["value"][0]["target"]["groupId"], t.tenant.mac_users_group_id.as_str());
    let resp = t
        .http
        .post(format!("{}/graph/v1.0/deviceManagement/deviceCompliancePolicies", t.cloud.url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "the read-only test client cannot create policies");

    // The dashboard counts agree with Graph.
    let dashboard = b.get(&format!("{}/console/intune/devices/compliance", t.cloud.url())).await.unwrap();
    for (device, state) in [(&old_id, "noncompliant"), (&new_id, "inGracePeriod")] {
        assert_eq!(state_of(&t, device).await.as_deref(), Some(state));
        assert_eq!(dashboard.element_text(&format!("count-{state}")).as_deref(), Some("1"), "{state}");
    }
    t.stop().await;
}
