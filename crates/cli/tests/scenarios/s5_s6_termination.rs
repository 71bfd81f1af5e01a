//! S5 (disconnect from the mdm), S6 (terminate from Intune) and the clocks of docs/operations.md:
//! +24 h noncompliant, +90 days removal, cancelled by a new connection within 24 hours.

use cloudconnector::admin_steps;
use fleet::{Fleet, Mac};
use serde_json::Value;

use crate::harness::{TestStack, eventually, spawn};

const DAY: i64 = 24 * 3600;

async fn registered_mac(t: &TestStack, fleet: &Fleet, user: usize, slug: &str) -> Mac {
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 5, 0.0).remove(user);
    profile.filevault = true;
    fleet.onboard(profile, &t.instance_url(slug), &t.instance(slug).invitation, t.clock.now()).await.unwrap()
}

async fn partner(t: &TestStack) -> Value {
    let token = t.test_client_token().await;
    let (_, body) = t.graph_get(&token, "deviceManagement/deviceManagementPartners").await;
    body["value"][0].clone()
}

async fn compliant(t: &TestStack, device_id: &str) -> Option<bool> {
    let token = t.test_client_token().await;
    let (_, body) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{device_id}'")).await;
    body["value"][0]["isCompliant"].as_bool()
}

/// Settings › Conditional Access › Edit: clear "Enable Intune Integration for macOS", Save,
/// and confirm.
async fn disconnect(t: &TestStack, slug: &str) {
    admin_steps::disconnect(t, slug).await.unwrap();
}

#[tokio::test]
async fn s6_terminate_from_intune_stops_uploads_and_runs_both_clocks() {
    let t = spawn(2).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let mac = registered_mac(&t, &fleet, 0, "hq").await;
    let device = mac.device_id.clone().unwrap();
    eventually("compliant", || async { (compliant(&t, &device).await == Some(true)).then_some(()) }).await;

    // Terminate exists only while connected, and asks for confirmation.
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let page_url = format!("{}{}", t.cloud.url(), cloud::http::PARTNER_PAGE);
    let page = b.get(&page_url).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"));
    assert!(page.element_text("terminate").is_some());
    let confirm = b.get(&format!("{page_url}/terminate")).await.unwrap();
    assert!(confirm.body.contains("Terminate the partner connection?"));
    let page = b.post_form(&format!("{page_url}/terminate"), &[("confirm", "yes")]).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Terminated"));
    assert!(page.element_text("terminate").is_none(), "no Terminate without a connection");
    let p = partner(&t).await;
    assert_eq!(p["partnerState"], "terminated");
    let removal = (t.clock.now() + chrono::Duration::days(90)).format("%Y-%m-%d").to_string();
    assert!(p["whenPartnerDevicesWillBeRemovedDateTime"].as_str().unwrap().starts_with(&removal), "{p}");
    let noncompliant = (t.clock.now() + chrono::Duration::hours(24)).format("%Y-%m-%d").to_string();
    assert!(p["whenPartnerDevicesWillBeMarkedAsNonCompliantDateTime"].as_str().unwrap().starts_with(&noncompliant), "{p}");

    // The next upload is refused; the mdm shows the connection terminated by Intune.
    fleet.report_inventory(&mac, t.clock.now() + chrono::Duration::seconds(30)).await.unwrap();
    eventually("terminated on the mdm", || async {
        (t.mdm_read("hq", "conditional-access").await["status"] == "terminated").then_some(())
    })
    .await;
    let expected = "rejected: the connection was terminated in Intune";
    eventually("the rejection reaches the computer record", || async {
        let view = t.mdm_read("hq", &format!("computers/{}/conditional-access", mac.computer_id)).await;
        (view["users"][0]["delivery_state"] == expected).then_some(())
    })
    .await;
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let ca = b.get(&format!("{}/settings/global-management/conditional-access", t.instance_url("hq"))).await.unwrap();
    assert_eq!(ca.element_text("status").as_deref(), Some("Terminated by Intune"));

    // +24 h: noncompliant. +90 days: removed from Intune.
    assert_eq!(compliant(&t, &device).await, Some(true), "still compliant inside the 24 hours");
    t.advance_clock(DAY + 60).await;
    eventually("noncompliant after 24 h", || async { (compliant(&t, &device).await == Some(false)).then_some(()) }).await;
    let token = t.test_client_token().await;
    let (_, managed) = t.graph_get(&token, "deviceManagement/managedDevices").await;
    assert_eq!(managed["value"][0]["complianceState"], "noncompliant");
    t.advance_clock(90 * DAY).await;
    eventually("removed after 90 days", || async {
        let token = t.test_client_token().await;
        let (_, managed) = t.graph_get(&token, "deviceManagement/managedDevices").await;
        managed["value"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    t.stop().await;
}

#[tokio::test]
async fn s5_disconnect_and_s2_reconnect_within_24_hours_keeps_devices() {
    let t = spawn(2).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    admin_steps::connect_instance(&t, "labs").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let mac = registered_mac(&t, &fleet, 0, "hq").await;
    let device = mac.device_id.clone().unwrap();
    let labs_mac = registered_mac(&t, &fleet, 1, "labs").await;
    let labs_device = labs_mac.device_id.clone().unwrap();
    for d in [&device, &labs_device] {
        eventually("compliant", || async { (compliant(&t, d).await == Some(true)).then_some(()) }).await;
    }

    // S5 with another instance still connected: only this instance's devices leave.
    disconnect(&t, "labs").await;
    assert_eq!(t.mdm_read("labs", "conditional-access").await["status"], "disabled");
    assert_eq!(partner(&t).await["partnerState"], "enabled", "the tenant stays Active");
    eventually("the leaving instance's Mac is withdrawn", || async {
        let token = t.test_client_token().await;
        let (_, managed) = t.graph_get(&token, "deviceManagement/managedDevices").await;
        let ids: Vec<&str> = managed["value"].as_array().unwrap().iter().filter_map(|m| m["azureADDeviceId"].as_str()).collect();
        (ids == [device.as_str()]).then_some(())
    })
    .await;
    let token = t.test_client_token().await;
    let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{labs_device}'")).await;
    assert_eq!((d["value"][0]["isManaged"].as_bool(), d["value"][0]["isCompliant"].as_bool()), (Some(false), None));
    let log = t.mdm_read("labs", "change-management/logs").await;
    assert!(log["logs"].as_array().unwrap().iter().any(|l| l["action"] == "Disconnect"), "{log}");

    // The last instance: the tenant is Terminated and the removal date is shown.
    disconnect(&t, "hq").await;
    assert_eq!(partner(&t).await["partnerState"], "terminated");
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let page = b.get(&format!("{}{}", t.cloud.url(), cloud::http::PARTNER_PAGE)).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Terminated"));
    assert_ne!(page.element_text("removal").as_deref(), Some("—"));

    // S2: a Cloud Connector connection confirmed within 24 hours; devices carry on.
    t.advance_clock(23 * 3600).await;
    let page = admin_steps::connect_instance(&t, "hq").await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{}", page.body);
    let p = partner(&t).await;
    assert_eq!(p["partnerState"], "enabled");
    assert!(p["whenPartnerDevicesWillBeMarkedAsNonCompliantDateTime"].is_null(), "the clocks are cancelled: {p}");
    t.advance_clock(2 * 3600).await;
    fleet.report_inventory(&mac, t.clock.now()).await.unwrap();
    eventually("delivered again", || async {
        let v = t.mdm_read("hq", &format!("computers/{}/conditional-access", mac.computer_id)).await;
        (v["users"][0]["delivery_state"] == "accepted").then_some(())
    })
    .await;
    assert_eq!(compliant(&t, &device).await, Some(true), "no re-registration, still compliant after 25 h");
    t.stop().await;
}

#[tokio::test]
async fn partners_without_heartbeats_turn_unresponsive_until_the_next_one() {
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    assert_eq!(partner(&t).await["partnerState"], "enabled");
    t.advance_clock(2 * 3600).await;
    eventually("unresponsive", || async { (partner(&t).await["partnerState"] == "unresponsive").then_some(()) }).await;
    // Confirm sends a heartbeat, among its checks.
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    b.post_form(&format!("{}/settings/global-management/conditional-access/confirm", t.instance_url("hq")), &[]).await.unwrap();
    assert_eq!(partner(&t).await["partnerState"], "enabled");
    t.stop().await;
}

/// An instance that leaves while its updates still wait at the connector (the tenant
/// asked to wait): once everything is delivered, only the staying instance's Mac is in
/// Intune and on the compliance dashboard. (An update accepted after the withdrawal is
/// given up before it is sent: `store::tests` in the connector.)
#[tokio::test]
async fn updates_still_waiting_when_an_instance_leaves_do_not_bring_its_macs_back() {
    let t = spawn(2).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    admin_steps::connect_instance(&t, "labs").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let mac = registered_mac(&t, &fleet, 0, "hq").await;
    let labs_mac = registered_mac(&t, &fleet, 1, "labs").await;
    for d in [mac.device_id.clone().unwrap(), labs_mac.device_id.clone().unwrap()] {
        eventually("compliant", || async { (compliant(&t, &d).await == Some(true)).then_some(()) }).await;
    }
    // The tenant asks to wait ten minutes; the labs Mac reports meanwhile.
    let throttle = serde_json::json!([{"kind": "throttle", "retry_after_s": 600}]);
    t.http.post(format!("{}/_test/faults", t.cloud.url())).json(&throttle).send().await.unwrap();
    for n in 1..=3 {
        fleet.report_inventory(&labs_mac, t.clock.now() + chrono::Duration::seconds(n)).await.unwrap();
    }
    let admin = cloudconnector::admin::Admin::from_file(&t.write_endpoints_file()).unwrap();
    eventually("the reports wait at the connector", || async {
        let links = admin.status().await.ok()?.links;
        links.iter().any(|l| l.instance_name == "Instance labs" && l.backlog > 0).then_some(())
    })
    .await;
    disconnect(&t, "labs").await;
    t.advance_clock(11 * 60).await;
    eventually("everything concluded", || async {
        let links = admin.status().await.ok()?.links;
        links.iter().all(|l| l.backlog == 0).then_some(())
    })
    .await;
    let token = t.test_client_token().await;
    let (_, managed) = t.graph_get(&token, "deviceManagement/managedDevices").await;
    let ids: Vec<&str> = managed["value"].as_array().unwrap().iter().filter_map(|m| m["azureADDeviceId"].as_str()).collect();
    assert_eq!(ids, [mac.device_id.as_deref().unwrap()], "only the staying instance's Mac");
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let dashboard = b.get(&format!("{}/console/intune/devices/compliance", t.cloud.url())).await.unwrap();
    let counted: i64 = dashboard.texts("#counts td[id^=count-]").iter().map(|n| n.parse::<i64>().unwrap()).sum();
    assert_eq!(counted, 1, "{}", dashboard.body);
    t.stop().await;
}
