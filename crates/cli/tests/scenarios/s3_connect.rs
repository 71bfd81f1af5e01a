//! S3: configure the Cloud Connector for a new tenant, for two instances sharing one App
//! ID, then Macs register and their compliance reaches Entra.

use std::collections::HashMap;

use cloudconnector::admin_steps;

use crate::harness::{eventually, spawn};

#[tokio::test]
async fn s3_two_instances_connect_and_macs_reach_entra() {
    let t = spawn(6).await;

    // Steps 1–9 for both instances, through the consoles and consent pages.
    for slug in ["hq", "labs"] {
        let page = admin_steps::connect_instance(&t, slug).await.unwrap();
        assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{slug}: {}", page.body);
        let ca = t.mdm_read(slug, "conditional-access").await;
        assert_eq!(ca["status"], "active");
        assert_eq!(ca["tenant_id"], t.tenant.tenant_id.as_str());
        // Step 11: every instance shares the one App ID.
        assert_eq!(ca["application_id"], t.provider.connector_app_id.as_str());
        let checks = ca["checks"].as_array().unwrap();
        for name in ["token", "permissions_intune", "permissions_graph", "service_discovery", "provisioning", "heartbeat", "test_upload"] {
            assert!(checks.iter().any(|c| c["name"] == name && c["passed"] == true), "{slug}: check {name} in {checks:?}");
        }
    }

    // Step 9: Intune shows the partner Active; step 5: both apps are enterprise apps.
    let token = t.test_client_token().await;
    let (status, partners) = t.graph_get(&token, "deviceManagement/deviceManagementPartners").await;
    assert_eq!(status, 200);
    assert_eq!(partners["value"][0]["partnerState"], "enabled");
    assert_eq!(partners["value"][0]["singleTenantAppId"], t.provider.connector_app_id.as_str());
    let (_, sps) = t.graph_get(&token, "servicePrincipals").await;
    let names: Vec<&str> = sps["value"].as_array().unwrap().iter().filter_map(|s| s["displayName"].as_str()).collect();
    assert!(names.contains(&"Cloud Connector") && names.contains(&"Cloud Connector user registration app"), "{names:?}");

    // Step 10: Macs register; each instance sends inventory of its registered computers.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profiles = fleet::generate(&users, 1, 0.0);
    for (n, p) in profiles.iter_mut().enumerate() {
        p.filevault = n % 3 != 0; // Macs 0 and 3 fail the FileVault policy.
    }
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut macs = Vec::new();
    for (n, p) in profiles.into_iter().enumerate() {
        let slug = if n % 2 == 0 { "hq" } else { "labs" };
        let i = t.instance(slug);
        macs.push((slug, fleet.onboard(p, &t.instance_url(slug), &i.invitation, t.clock.now()).await.unwrap()));
    }
    for slug in ["hq", "labs"] {
        eventually("delivery", || async {
            let s = t.mdm_read(slug, "conditional-access/summary").await;
            (s["delivered"] == 3).then_some(())
        })
        .await;
    }

    let (_, devices) = t.graph_get(&token, "devices").await;
    let compliance: HashMap<String, Option<bool>> = devices["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["deviceId"].as_str().unwrap().to_string(), d["isCompliant"].as_bool()))
        .collect();
    for (slug, mac) in &macs {
        let device_id = mac.device_id.clone().unwrap();
        assert_eq!(compliance[&device_id], Some(mac.profile.filevault), "{} on {slug}", mac.profile.device_name);
        // The computer record's Local User Accounts category shows the state.
        let view = t.mdm_read(slug, &format!("computers/{}/conditional-access", mac.computer_id)).await;
        let user = &view["users"][0];
        assert_eq!(user["conditional_access_inventory_state"], "ACTIVATED");
        assert_eq!(user["computer_azure_active_directory_id"], device_id.as_str());
        assert_eq!(user["delivery_state"], "accepted");
    }
    let (_, managed) = t.graph_get(&token, "deviceManagement/managedDevices").await;
    assert_eq!(managed["value"].as_array().unwrap().len(), 6);
    assert!(managed["value"].as_array().unwrap().iter().all(|m| m["managementAgent"] == "jamf"));

    // The change-management log has every step, with the field-level details.
    let log = t.mdm_read("hq", "change-management/logs?object_type=Conditional%20Access").await;
    let actions: Vec<&str> = log["logs"].as_array().unwrap().iter().filter_map(|l| l["action"].as_str()).collect();
    for a in ["Edit", "Connect", "Confirm"] {
        assert!(actions.contains(&a), "{a} missing in {actions:?}");
    }
    assert!(
        log["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| { l["details"].as_str().unwrap().contains("Enable Intune Integration for macOS: false → true") })
    );

    // The connector's status API and metrics tell the same story.
    let credential = t.mdm.state.store.instance_by_slug("hq").await.unwrap().unwrap().connector_credential.unwrap();
    let status: serde_json::Value =
        t.http.get(format!("{}/api/v1/status", t.connector.url())).bearer_auth(&credential).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (status["link"]["status"].as_str(), status["backlog"].as_i64(), status["accepted_total"].as_i64()),
        (Some("active"), Some(0), Some(3)),
        "{status}"
    );
    assert!(status["last_upload_at"].is_string());
    let metrics = t.http.get(format!("{}/metrics", t.connector.url())).send().await.unwrap().text().await.unwrap();
    for (name, value) in
        [("cloudconnector_devices_accepted_total", 6.0), ("cloudconnector_active_links", 2.0), ("cloudconnector_backlog_updates", 0.0)]
    {
        assert_eq!(platform::metrics::value(&metrics, name), Some(value), "{name} in\n{metrics}");
    }
    let labelled = |l: &&str| l.starts_with(r#"cloudconnector_active_links{service="connector",node=""#) && l.ends_with("\"} 2");
    assert!(metrics.lines().any(|l| labelled(&l)), "labelled by service and node: {metrics}");
    // The cloud and the mdm count what they did through the same exporter.
    let http = &t.http;
    let scrape = |url: String| async move { http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap() };
    let cloud = scrape(t.cloud.url()).await;
    assert!(platform::metrics::value(&cloud, "cloudconnector_upload_messages_total").unwrap() >= 1.0, "{cloud}");
    assert!(platform::metrics::value(&cloud, "cloudconnector_tokens_issued_total").unwrap() >= 1.0, "{cloud}");
    let mdm = scrape(t.mdm.url()).await;
    assert_eq!(platform::metrics::value(&mdm, "cloudconnector_updates_sent_total"), Some(6.0), "{mdm}");
    assert!(mdm.contains(r#"cloudconnector_http_requests_total{service="mdm",node=""#), "{mdm}");

    // The tenant's enrollment URL routes a known device to its instance's landing page.
    let (slug, mac) = &macs[1];
    let resp = t
        .http
        .get(format!("{}/route/{}/enroll?device_id={}", t.connector.url(), t.tenant.tenant_id, mac.device_id.clone().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{}/device-registration", t.instance_url(slug))), "{location}");
    t.stop().await;
}

#[tokio::test]
async fn macs_registered_before_the_connection_are_sent_when_it_turns_active() {
    let t = spawn(1).await;
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 4, 0.0).remove(0);
    profile.filevault = false;
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mac = fleet.onboard(profile, &t.instance_url("labs"), &t.instance("labs").invitation, t.clock.now()).await.unwrap();
    let view = t.mdm_read("labs", &format!("computers/{}/conditional-access", mac.computer_id)).await;
    assert_eq!(view["users"][0]["delivery_state"], "not_sent", "nothing is sent while the integration is off");

    let page = admin_steps::connect_instance(&t, "labs").await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"));
    let token = t.test_client_token().await;
    let device = mac.device_id.clone().unwrap();
    let compliant = eventually("reconciled", || async {
        let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{device}'")).await;
        d["value"][0]["isCompliant"].as_bool()
    })
    .await;
    assert!(!compliant, "FileVault is off");
    t.stop().await;
}
