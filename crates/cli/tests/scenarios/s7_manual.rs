//! S7: an instance connects Manually, with its own app registration (Application ID and
//! client secret), talking to the cloud directly; a manual connection serves one
//! instance per tenant.

use cloudconnector::admin_steps;
use cloudconnector::browser::Page;

use crate::harness::{TestStack, eventually, spawn};

async fn save_manual(t: &TestStack, slug: &str, app_id: &str, secret: &str) -> Page {
    let b = admin_steps::mdm_sign_in(t, slug).await.unwrap();
    b.post_form(
        &format!("{}/settings/global-management/conditional-access", t.instance_url(slug)),
        &[
            ("enabled", "true"),
            ("connection_type", "manual"),
            ("sovereign_cloud", "local"),
            ("landing_page", "registration"),
            ("manual_tenant", &t.tenant.domain),
            ("manual_app_id", app_id),
            ("manual_secret", secret),
            ("action", "save"),
        ],
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn s7_manual_connection_delivers_and_serves_one_instance_per_tenant() {
    let t = spawn(2).await;
    // Entra: the admin registers the integration's app, with only what it needs.
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let url = format!("{}/console/entra/app-registrations", t.cloud.url());
    let page = b.post_form(&url, &[("name", "Jamf Pro (manual)"), ("accounts", "single"), ("redirect_uri", "")]).await.unwrap();
    let app_id = page.element_text("message").unwrap().rsplit(' ').next().unwrap().trim_end_matches('.').to_string();
    for (resource, value) in [(wire::ids::INTUNE_APP_ID, "update_device_attributes"), (wire::ids::GRAPH_APP_ID, "Application.Read.All")] {
        b.post_form(&format!("{url}/{app_id}/permissions"), &[("resource", resource), ("kind", "Application"), ("value", value)])
            .await
            .unwrap();
    }
    b.post_form(&format!("{url}/{app_id}/consent"), &[]).await.unwrap();
    let page = b.post_form(&format!("{url}/{app_id}/secrets"), &[("months", "12")]).await.unwrap();
    let secret = page.element_text("message").unwrap().rsplit(' ').next().unwrap().to_string();
    admin_steps::intune_set_app_id(&t, &app_id).await.unwrap();

    // mdm: Manual, saved and tested; the secret is never shown back.
    let page = save_manual(&t, "hq", &app_id, &secret).await;
    assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{}", page.body);
    assert!(!page.body.contains(&secret), "the client secret is shown back");
    let token = t.test_client_token().await;
    let (_, partners) = t.graph_get(&token, "deviceManagement/deviceManagementPartners").await;
    assert_eq!(partners["value"][0]["partnerState"], "enabled");
    assert_eq!(partners["value"][0]["partnerAppType"], "singleTenantApp");

    // A Mac of that instance is delivered by the instance itself.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 17, 0.0).remove(0);
    profile.filevault = false;
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mac = fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    eventually("delivered by the instance", || async {
        let v = t.mdm_read("hq", &format!("computers/{}/conditional-access", mac.computer_id)).await;
        (v["users"][0]["delivery_state"] == "accepted").then_some(())
    })
    .await;
    let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{}'", mac.device_id.clone().unwrap())).await;
    assert_eq!(d["value"][0]["isCompliant"], false);

    // A second instance on the same tenant with a manual connection is refused.
    let page = save_manual(&t, "labs", &app_id, &secret).await;
    assert_eq!(page.element_text("status").as_deref(), Some("Failing"));
    assert!(page.body.contains("one instance per tenant") && page.body.contains("Use the Cloud Connector"), "{}", page.body);

    // The change log records the save and its test, never the secret.
    let log = t.mdm_read("hq", "change-management/logs").await;
    let text = log.to_string();
    assert!(text.contains("Save (Manual)") && text.contains("Client Secret: changed (value not shown)"), "{text}");
    assert!(!text.contains(&secret));
    t.stop().await;
}
