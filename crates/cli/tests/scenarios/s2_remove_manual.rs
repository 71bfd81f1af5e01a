//! S2: remove a manually configured integration — clear *Enable* in the mdm, clear the App
//! ID in Intune, delete the app in Entra — and what the admin then sees: the partner
//! Terminated, devices kept for 24 hours; a Cloud Connector connection confirmed within
//! them carries the Macs on without re-registering, and without one they turn
//! noncompliant.

use cloudconnector::admin_steps;
use fleet::{Fleet, Mac};
use serde_json::Value;

use crate::harness::{TestStack, eventually, spawn};

const HOUR: i64 = 3600;

async fn registered_macs(t: &TestStack, n: usize) -> Vec<Mac> {
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let mut macs = Vec::new();
    for mut profile in fleet::generate(&users, 91, 0.0).into_iter().take(n) {
        profile.filevault = true;
        macs.push(fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap());
    }
    macs
}

async fn graph(t: &TestStack, path: &str) -> Value {
    let token = t.test_client_token().await;
    t.graph_get(&token, path).await.1
}

async fn compliant(t: &TestStack, device_id: &str) -> Option<bool> {
    graph(t, &format!("devices?$filter=deviceId%20eq%20'{device_id}'")).await["value"][0]["isCompliant"].as_bool()
}

async fn partner(t: &TestStack) -> Value {
    graph(t, "deviceManagement/deviceManagementPartners").await["value"][0].clone()
}

/// S2 steps 2 and 3: clear the App ID in Intune, delete the app in Entra.
async fn remove_in_intune_and_entra(t: &TestStack, app_id: &str) {
    admin_steps::intune_set_app_id(t, "").await.unwrap();
    let b = admin_steps::cloud_console_sign_in(t).await.unwrap();
    let list = b.get(&format!("{}/console/entra/enterprise-applications", t.cloud.url())).await.unwrap();
    let page = format!("{}{}", t.cloud.url(), list.row_link("#applications tr", app_id).expect("the manual app is listed"));
    b.post_form(&format!("{page}/delete"), &[("confirm", "yes")]).await.unwrap();
    let list = b.get(&format!("{}/console/entra/enterprise-applications", t.cloud.url())).await.unwrap();
    assert!(!list.body.contains(app_id), "the app is gone from Enterprise applications");
}

#[tokio::test]
async fn s2_remove_a_manual_integration_then_connect_within_24_hours_without_re_registering() {
    let t = spawn(2).await;
    let app_id = admin_steps::manual_integration(&t, "hq").await.unwrap();
    let macs = registered_macs(&t, 2).await;
    let devices: Vec<String> = macs.iter().map(|m| m.device_id.clone().unwrap()).collect();
    for d in &devices {
        eventually("compliant (manual)", || async { (compliant(&t, d).await == Some(true)).then_some(()) }).await;
    }

    // Step 1: clear "Enable Intune Integration for macOS": disabled, configuration kept.
    let m = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let page = admin_steps::save_settings_confirmed(
        &m,
        &t.instance_url("hq"),
        // The form as the browser sends it: Enable cleared, the other fields as shown.
        &[
            ("connection_type", "manual"),
            ("sovereign_cloud", "local"),
            ("landing_page", "registration"),
            ("manual_tenant", &t.tenant.domain),
            ("manual_app_id", &app_id),
            ("action", "save"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Disabled"), "{}", page.body);
    let ca = t.mdm_read("hq", "conditional-access").await;
    assert_eq!((ca["settings"]["enabled"].as_bool(), ca["settings"]["connection_type"].as_str()), (Some(false), Some("manual")));
    assert_eq!(ca["settings"]["manual_tenant"], t.tenant.domain.as_str(), "the configuration is kept");

    // Steps 2 and 3, then step 4: Partner device management shows Terminated.
    remove_in_intune_and_entra(&t, &app_id).await;
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let intune = b.get(&format!("{}{}", t.cloud.url(), cloud::http::PARTNER_PAGE)).await.unwrap();
    assert_eq!(intune.element_text("status").as_deref(), Some("Terminated"), "{}", intune.body);
    let p = partner(&t).await;
    assert_eq!(p["partnerState"], "terminated");
    let in_a_day = (t.clock.now() + chrono::Duration::hours(24)).format("%Y-%m-%d").to_string();
    assert!(p["whenPartnerDevicesWillBeMarkedAsNonCompliantDateTime"].as_str().unwrap().starts_with(&in_a_day), "{p}");

    // Step 5: 23 hours later the Cloud Connector is confirmed; the clock is cancelled.
    t.advance_clock(23 * HOUR).await;
    let page = admin_steps::connect_instance(&t, "hq").await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{}", page.body);
    t.advance_clock(2 * HOUR).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for d in &devices {
        assert_eq!(compliant(&t, d).await, Some(true), "past the first 24 hours, {d} is still compliant");
    }
    // No Mac registered again: the tenant holds the same two devices, and their state
    // now reaches Intune through the connector.
    let listed = graph(&t, "devices").await;
    let ids: Vec<&str> = listed["value"].as_array().unwrap().iter().filter_map(|d| d["deviceId"].as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let admin = cloudconnector::admin::Admin::from_file(&t.write_endpoints_file()).unwrap();
    eventually("sent through the connector", || async {
        let trace = admin.trace(&devices[0]).await.ok()?;
        trace.updates.iter().any(|u| u.outcomes.iter().any(|o| o.starts_with("accepted"))).then_some(())
    })
    .await;
    t.stop().await;
}

#[tokio::test]
async fn s2_without_a_new_connection_within_24_hours_registered_macs_turn_noncompliant() {
    let t = spawn(1).await;
    let app_id = admin_steps::manual_integration(&t, "hq").await.unwrap();
    let device = registered_macs(&t, 1).await.remove(0).device_id.unwrap();
    eventually("compliant (manual)", || async { (compliant(&t, &device).await == Some(true)).then_some(()) }).await;
    admin_steps::remove_manual_integration(&t, "hq", &app_id).await.unwrap();
    assert_eq!(partner(&t).await["partnerState"], "terminated");

    t.advance_clock(23 * HOUR).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(compliant(&t, &device).await, Some(true), "within the 24 hours");
    t.advance_clock(2 * HOUR).await;
    eventually("noncompliant after 24 hours", || async { (compliant(&t, &device).await == Some(false)).then_some(()) }).await;
    t.stop().await;
}
