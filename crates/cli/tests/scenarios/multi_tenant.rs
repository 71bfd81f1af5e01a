//! One connector, two tenants: two instances connected to Contoso and a third to
//! Fabrikam (S3 through the connector), each Mac delivered into its own tenant; one
//! Contoso instance disconnects (S5) without touching the others, and Fabrikam's admin
//! terminates the connection in Intune (S6), which only Fabrikam's instance sees.

use cloudconnector::admin::Admin;
use cloudconnector::admin_steps;
use cloudconnector::stack::InstanceSeed;
use fleet::Fleet;

use crate::harness::{TestStack, eventually, spawn_with};

async fn delivered(t: &TestStack, slug: &str, computer_id: i64) {
    eventually("delivered", || async {
        let v = t.mdm_read(slug, &format!("computers/{computer_id}/conditional-access")).await;
        (v["users"][0]["delivery_state"] == "accepted").then_some(())
    })
    .await;
}

#[tokio::test]
async fn one_connector_serves_two_tenants_and_each_keeps_its_own_state() {
    let t = spawn_with(2, |o| {
        o.instances.push(InstanceSeed {
            slug: "eu".into(),
            name: "Instance eu".into(),
            version: "11.12.0".into(),
            conditional_access_privilege: true,
        });
    })
    .await;
    let fabrikam = cloud::seed::customer(
        &t.cloud.state.store,
        cloud::seed::CustomerSpec { domain: "fabrikam.example", name: "Fabrikam", users: 1, licensed: true },
        t.clock.now_ms(),
    )
    .await
    .unwrap();

    // S3 three times: hq and labs to Contoso, eu to Fabrikam (its own admin consents).
    for slug in ["hq", "labs"] {
        let page = admin_steps::connect_instance(&t, slug).await.unwrap();
        assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{slug}");
    }
    let page = admin_steps::connect_instance_to(&t, "eu", &fabrikam.admin).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{}", page.body);
    let ca = t.mdm_read("eu", "conditional-access").await;
    assert_eq!(ca["tenant_id"], fabrikam.tenant_id.as_str());

    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let contoso: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fabrikam_users: Vec<(String, String)> = fabrikam.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut placed = Vec::new();
    for (slug, profile) in [
        ("hq", fleet::generate(&contoso, 101, 0.0).remove(0)),
        ("labs", fleet::generate(&contoso, 101, 0.0).remove(1)),
        ("eu", fleet::generate(&fabrikam_users, 102, 0.0).remove(0)),
    ] {
        let mac = fleet.onboard(profile, &t.instance_url(slug), &t.instance(slug).invitation, t.clock.now()).await.unwrap();
        delivered(&t, slug, mac.computer_id).await;
        placed.push((slug, mac));
    }
    // Each Mac is in its own tenant's directory, with its compliance, and nowhere else.
    let (_, body) =
        t.token(&fabrikam.tenant_id, &fabrikam.test_client_id, &fabrikam.test_client_secret, "https://graph.microsoft.com/.default").await;
    let fabrikam_token = body["access_token"].as_str().unwrap().to_string();
    let contoso_token = t.test_client_token().await;
    for (slug, mac) in &placed {
        let filter = format!("devices?$filter=deviceId%20eq%20'{}'", mac.device_id.clone().unwrap());
        let (own, other) = if *slug == "eu" { (&fabrikam_token, &contoso_token) } else { (&contoso_token, &fabrikam_token) };
        let (_, found) = t.graph_get(own, &filter).await;
        assert!(found["value"][0]["isCompliant"].is_boolean(), "{slug}: {found}");
        let (_, elsewhere) = t.graph_get(other, &filter).await;
        assert_eq!(elsewhere["value"].as_array().map(Vec::len), Some(0), "{slug} leaks into the other tenant");
    }
    // Message IDs are each tenant's own: Contoso's ID is unknown to Fabrikam (404, as any
    // unknown ID), and Fabrikam may use it for a message of its own.
    let contoso_id = uuid::Uuid::new_v4().to_string();
    let upload = |tenant: String, message_id: String| {
        let t = &t;
        async move {
            let (_, token) = t
                .token(&tenant, &t.provider.connector_app_id, &t.provider.connector_secret, "https://api.manage.microsoft.com//.default")
                .await;
            let token = token["access_token"].as_str().unwrap().to_string();
            let (_, graph) =
                t.token(&tenant, &t.provider.connector_app_id, &t.provider.connector_secret, "https://graph.microsoft.com/.default").await;
            let (_, endpoints) = t
                .graph_get(
                    graph["access_token"].as_str().unwrap(),
                    &format!("servicePrincipals/appId={}/endpoints", wire::ids::INTUNE_APP_ID),
                )
                .await;
            let sync = endpoints["value"].as_array().unwrap().iter().find(|e| e["providerName"] == "PartnerDeviceDataSyncService").unwrap()
                ["uri"]
                .as_str()
                .unwrap()
                .to_string();
            let url = format!("{sync}/DataUploadMessages(guid'{message_id}')");
            let body = serde_json::json!({"TenantId": tenant, "UploadTime": "2026-11-30T00:00:00Z", "Content": []});
            let put = t.http.put(format!("{url}?api-version=1.0")).bearer_auth(&token).json(&body).send().await.unwrap().status().as_u16();
            let get = t.http.get(format!("{url}?api-version=1.2")).bearer_auth(&token).send().await.unwrap().status().as_u16();
            (put, get, token, url)
        }
    };
    let (put, get, _, _) = upload(t.tenant.tenant_id.to_string(), contoso_id.clone()).await;
    assert_eq!((put, get), (200, 200));
    let (_, _, fabrikam_intune, fabrikam_url) = upload(fabrikam.tenant_id.to_string(), uuid::Uuid::new_v4().to_string()).await;
    let foreign = fabrikam_url.rsplit_once("(guid'").unwrap().0.to_string() + &format!("(guid'{contoso_id}')?api-version=1.2");
    let status = t.http.get(&foreign).bearer_auth(&fabrikam_intune).send().await.unwrap().status().as_u16();
    assert_eq!(status, 404, "another tenant's message answers as an unknown one");
    let (put, get, _, _) = upload(fabrikam.tenant_id.to_string(), contoso_id.clone()).await;
    assert_eq!((put, get), (200, 200), "the same ID is Fabrikam's own");

    let admin = Admin::from_file(&t.write_endpoints_file()).unwrap();
    let links = admin.status().await.unwrap().links;
    let tenants: std::collections::BTreeSet<_> = links
        .iter()
        .filter(|l| l.link.status == wire::connector_api::LinkStatus::Active)
        .filter_map(|l| l.link.tenant_id.clone())
        .collect();
    assert_eq!(tenants.len(), 2, "{links:?}");

    // S5: labs leaves Contoso; hq keeps Contoso Active, Fabrikam is untouched.
    admin_steps::disconnect(&t, "labs").await.unwrap();
    let partner = |token: String| {
        let t = &t;
        async move { t.graph_get(&token, "deviceManagement/deviceManagementPartners").await.1["value"][0]["partnerState"].clone() }
    };
    assert_eq!(partner(contoso_token.clone()).await, "enabled");
    assert_eq!(partner(fabrikam_token.clone()).await, "enabled");
    assert_eq!(t.mdm_read("hq", "conditional-access").await["status"], "active");

    // S6: Fabrikam's admin terminates in Intune; only eu notices, at its next upload.
    let b = admin_steps::cloud_console_sign_in_as(&t, &fabrikam.admin).await.unwrap();
    let page_url = format!("{}{}", t.cloud.url(), cloud::http::PARTNER_PAGE);
    let page = b.post_form(&format!("{page_url}/terminate"), &[("confirm", "yes")]).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Terminated"));
    assert_eq!(partner(fabrikam_token.clone()).await, "terminated");
    assert_eq!(partner(contoso_token.clone()).await, "enabled");
    let (_, eu_mac) = &placed[2];
    fleet.report_inventory(eu_mac, t.clock.now() + chrono::Duration::seconds(30)).await.unwrap();
    eventually("eu terminated", || async { (t.mdm_read("eu", "conditional-access").await["status"] == "terminated").then_some(()) }).await;
    // The connector's history of each link says what happened and why.
    let links = admin.status().await.unwrap().links;
    let history = |name: &str| {
        links.iter().find(|l| l.instance_name == name).unwrap().history.iter().map(|e| e.status.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(history("Instance eu"), ["awaiting_consent", "awaiting_confirmation", "active", "terminated"]);
    assert_eq!(history("Instance labs"), ["awaiting_consent", "awaiting_confirmation", "active", "disconnected"]);
    let labs = links.iter().find(|l| l.instance_name == "Instance labs").unwrap();
    assert!(labs.history.last().unwrap().detail.contains("1 device(s) withdrawn"), "{:?}", labs.history);
    let (_, hq_mac) = &placed[0];
    fleet.report_inventory(hq_mac, t.clock.now() + chrono::Duration::seconds(30)).await.unwrap();
    delivered(&t, "hq", hq_mac.computer_id).await;
    assert_eq!(t.mdm_read("hq", "conditional-access").await["status"], "active");
    t.stop().await;
}
