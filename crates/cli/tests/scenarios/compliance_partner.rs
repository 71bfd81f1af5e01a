//! The successor model (Partner compliance management): the partner decides compliance
//! and sends only its verdict (EntityType 4); Intune relays it to the Entra device.

use cloudconnector::admin_steps;
use serde_json::{Value, json};

use crate::harness::{eventually, spawn};

#[tokio::test]
async fn compliance_partner_verdicts_reach_entra() {
    let t = spawn(2).await;
    // The partner's app is consented in the tenant (Connect and both consents) but not
    // pasted into Partner device management.
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let page = admin_steps::mdm_connect(&t, &b, "hq", "registration", "").await.unwrap();
    admin_steps::consent_as(&t, &b, page, &t.tenant.admin.upn, &t.tenant.admin.password).await.unwrap();

    let console = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let url = format!("{}/console/intune/tenant-admin/connectors/partner-compliance-management", t.cloud.url());
    let page = console
        .post_form(&url, &[("app_id", &t.provider.connector_app_id), ("platform", "macOS"), ("group", &t.tenant.mac_users_group_id)])
        .await
        .unwrap();
    assert!(page.body.contains("Pending activation"), "{}", page.body);
    let again = console
        .post_form(&url, &[("app_id", &t.provider.connector_app_id), ("platform", "macOS"), ("group", &t.tenant.mac_users_group_id)])
        .await
        .unwrap();
    assert_eq!(again.element_text("message").as_deref(), Some("This partner is already set up for macOS."));
    // Another consented multi-tenant app: Microsoft allows one compliance partner per
    // platform in a tenant.
    let other = console
        .post_form(&url, &[("app_id", &t.provider.registration_app_id), ("platform", "macOS"), ("group", &t.tenant.mac_users_group_id)])
        .await
        .unwrap();
    assert_eq!(
        other.element_text("message").as_deref(),
        Some("Another compliance partner is already set up for macOS in this tenant; a platform has one compliance partner.")
    );
    assert_eq!(other.body.matches("class=\"partner-status\"").count(), 1, "{}", other.body);

    // The partner confirms: Active.
    let intune = t.connector_token("https://api.manage.microsoft.com//.default").await;
    let tenant_sync = t.partner_base("PartnerTenantDataSyncService").await;
    let tid = t.tenant.tenant_id.clone();
    let resp = t
        .http
        .put(format!("{tenant_sync}/PartnerTenants(guid'{tid}')?api-version=1.6"))
        .bearer_auth(&intune)
        .json(&json!({"Provisioned": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page = console.get(&url).await.unwrap();
    assert!(page.texts(".partner-status").contains(&"Active".to_string()), "{}", page.body);
    let token = t.test_client_token().await;
    let (_, partners) = t.graph_get(&token, "deviceManagement/complianceManagementPartners").await;
    assert_eq!(partners["value"][0]["partnerState"], "enabled");
    assert_eq!(partners["value"][0]["macOsEnrollmentAssignments"][0]["target"]["groupId"], t.tenant.mac_users_group_id.as_str());
    // Device management partner state is untouched by the compliance partner.
    let (_, dmp) = t.graph_get(&token, "deviceManagement/deviceManagementPartners").await;
    assert!(dmp["value"].as_array().unwrap().is_empty(), "{dmp}");

    // Its partner-managed policy: created once, 409 on a duplicate, assigned to users.
    let policy = json!({"DisplayName": "Cloud Connector compliance", "Description": "decided by the mdm", "Platform": "macOS", "PartnerManagedCompliance": true});
    let created = t
        .http
        .post(format!("{tenant_sync}/PartnerCompliancePolicies?api-version=1.6"))
        .bearer_auth(&intune)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["Id"].as_str().unwrap().to_string();
    let dup = t
        .http
        .post(format!("{tenant_sync}/PartnerCompliancePolicies?api-version=1.6"))
        .bearer_auth(&intune)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 409);
    let assigned = t
        .http
        .post(format!("{tenant_sync}/PartnerCompliancePolicies(guid'{id}')/Assign?api-version=1.6"))
        .bearer_auth(&intune)
        .json(&json!({"assignments": [t.tenant.mac_users_group_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(assigned.status(), 204);

    // A registered Mac; the partner's verdicts set isCompliant.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut mac =
        fleet.enroll(fleet::generate(&users, 8, 0.0).remove(0), &t.instance_url("hq"), &t.instance("hq").invitation).await.unwrap();
    fleet.workplace_join(&mut mac).await.unwrap();
    let device = mac.device_id.clone().unwrap();
    let device_sync = t.partner_base("PartnerDeviceDataSyncService").await;
    for (n, verdict) in [false, true].into_iter().enumerate() {
        let body = json!({"TenantId": tid, "UploadTime": "2026-11-23T00:00:00Z", "Content": [{
            "EntityType": 4, "TenantId": tid, "DeviceId": device, "UserId": mac.user_object_id,
            "LastUpdateTime": platform::clock::rfc3339(t.clock.now() + chrono::Duration::seconds(n as i64)), "complianceStatus": verdict,
        }]});
        let resp = t
            .http
            .put(format!("{device_sync}/DataUploadMessages(guid'{}')?api-version=1.0", uuid::Uuid::new_v4()))
            .bearer_auth(&intune)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        eventually("verdict applied", || async {
            let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{device}'")).await;
            (d["value"][0]["isCompliant"].as_bool() == Some(verdict)).then_some(())
        })
        .await;
    }
    t.stop().await;
}
