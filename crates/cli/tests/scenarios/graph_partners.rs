//! Graph's device-management writes and partner discovery as Microsoft serves them:
//! `deviceManagementPartners` and `complianceManagementPartners` created, updated,
//! terminated and deleted; a user's managed devices, their fields and their deletion;
//! each tenant's partner services discovered through Graph and Azure AD Graph.

use cloud::entra::directory::{Permission, PermissionKind};
use cloudconnector::admin_steps;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn};

const INCLUDE: &str = "#microsoft.graph.groupAssignmentTarget";
const EXCLUDE: &str = "#microsoft.graph.exclusionGroupAssignmentTarget";

/// A token for an app of the tenant holding the Graph application `permissions`.
async fn admin_token(t: &TestStack, name: &str, permissions: &[&str]) -> String {
    let perms: Vec<(&str, &str)> = permissions.iter().map(|p| (wire::ids::GRAPH_APP_ID, *p)).collect();
    let (app, secret) = admin_steps::register_app(t, name, &perms).await.unwrap();
    let (status, body) = t.token(&t.tenant.tenant_id, &app, &secret, "https://graph.microsoft.com/.default").await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn call(t: &TestStack, method: Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = t.http.request(method, format!("{}/graph/v1.0/{path}", t.cloud.url())).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn target(kind: &str, group: &str) -> Value {
    json!({"target": {"@odata.type": kind, "groupId": group}})
}

#[tokio::test]
async fn device_management_partners_are_created_updated_terminated_and_deleted() {
    let t = spawn(2).await;
    let token = admin_token(&t, "Partner admin", &["DeviceManagementServiceConfig.ReadWrite.All"]).await;
    let group = t.tenant.mac_users_group_id.clone();
    let partners = "deviceManagement/deviceManagementPartners";
    let app_id = uuid::Uuid::new_v4().to_string();
    let create = json!({"displayName": "Jamf", "singleTenantAppId": app_id, "groupsRequiringPartnerEnrollment": [target(INCLUDE, &group)]});
    let (s, created) = call(&t, Method::POST, &token, partners, Some(create.clone())).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!((created["partnerState"].as_str(), created["isConfigured"].as_bool()), (Some("unavailable"), Some(true)));
    assert_eq!(created["groupsRequiringPartnerEnrollment"][0]["target"]["groupId"], group.as_str());
    let id = created["id"].as_str().unwrap().to_string();
    let (s, _) = call(&t, Method::POST, &token, partners, Some(create)).await;
    assert_eq!(s, 409, "one partner record per tenant");
    let (s, updated) = call(
        &t,
        Method::PATCH,
        &token,
        &format!("{partners}/{id}"),
        Some(json!({"singleTenantAppId": null, "groupsRequiringPartnerEnrollment": [target(EXCLUDE, &group)]})),
    )
    .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["isConfigured"], false);
    assert_eq!(updated["groupsRequiringPartnerEnrollment"][0]["target"]["@odata.type"], EXCLUDE);
    let bad = json!({"groupsRequiringPartnerEnrollment": [target(INCLUDE, &uuid::Uuid::new_v4().to_string())]});
    assert_eq!(call(&t, Method::PATCH, &token, &format!("{partners}/{id}"), Some(bad)).await.0, 400);
    assert_eq!(call(&t, Method::DELETE, &token, &format!("{partners}/{id}"), None).await.0, 204);
    assert!(call(&t, Method::GET, &token, partners, None).await.1["value"].as_array().unwrap().is_empty());

    // Connected through S3, the partner's heartbeats move lastHeartbeatDateTime; the answer
    // to a heartbeat carries every field of the service's.
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let intune = t.connector_token("https://api.manage.microsoft.com//.default").await;
    let sync = t.partner_base("PartnerTenantDataSyncService").await;
    let tid = t.tenant.tenant_id.clone();
    let mut previous = None;
    for step in 0..2 {
        let sent = t.clock.now().timestamp();
        let answer: Value = t
            .http
            .put(format!("{sync}/PartnerTenantHeartbeat(guid'{tid}')?api-version=1.3"))
            .bearer_auth(&intune)
            .header("Prefer", "return-content")
            .json(&json!({"Timestamp": platform::clock::rfc3339(t.clock.now())}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for field in ["odata.metadata", "odata.id", "Key", "TenantId", "ClientType", "Timestamp", "ResyncTimestamp", "MessageErrors"] {
            assert!(answer.get(field).is_some(), "{field} missing: {answer}");
        }
        assert_eq!((answer["Key"].as_str(), answer["HttpStatusCode"].as_u64()), (Some(tid.as_str()), Some(200)));
        let (_, p) = call(&t, Method::GET, &token, &format!("{partners}/{tid}"), None).await;
        // The service's clock runs on between the request and this check.
        let heartbeat = chrono::DateTime::parse_from_rfc3339(p["lastHeartbeatDateTime"].as_str().unwrap()).unwrap().timestamp();
        assert!((sent..=t.clock.now().timestamp()).contains(&heartbeat), "heartbeat {step}: {heartbeat} sent at {sent}");
        if let Some(before) = previous {
            assert!(heartbeat >= before + 120, "the second heartbeat is two minutes later");
        }
        previous = Some(heartbeat);
        t.advance_clock(120).await;
    }

    // Terminate through Graph: 204, the removal clocks run, and the record cannot be
    // deleted while its devices wait for removal.
    let token = admin_token(&t, "Partner admin 2", &["DeviceManagementServiceConfig.ReadWrite.All"]).await;
    let reader = t.test_client_token().await;
    let (s, _) = call(&t, Method::POST, &reader, &format!("{partners}/{tid}/terminate"), None).await;
    assert_eq!(s, 403, "terminating needs a write permission");
    let (s, body) = call(&t, Method::POST, &token, &format!("{partners}/{tid}/terminate"), None).await;
    assert_eq!(s, 204, "{body}");
    let (_, p) = call(&t, Method::GET, &token, &format!("{partners}/{tid}"), None).await;
    assert_eq!(p["partnerState"], "terminated");
    assert!(p["whenPartnerDevicesWillBeRemovedDateTime"].is_string(), "{p}");
    let (s, body) = call(&t, Method::DELETE, &token, &format!("{partners}/{tid}"), None).await;
    assert_eq!(s, 400, "{body}");
    t.stop().await;
}

/// Two vendors' multi-tenant apps, consented by the tenant's administrator.
async fn consented_vendors(t: &TestStack, names: &[&str]) {
    let website = format!("{}/", t.instance_url("hq"));
    let graph_read = vec![Permission::new(wire::ids::GRAPH_APP_ID, PermissionKind::Application, "Application.Read.All")];
    for name in names {
        let (app_id, _) =
            cloud::seed::vendor_app(&t.cloud.state.store, &t.provider.tenant_id, name, &website, graph_read.clone(), t.clock.now_ms())
                .await
                .unwrap();
        let b = t.browser();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("client_id", &app_id), ("redirect_uri", &website)])
            .finish();
        let page = b.get(&format!("{}/{}/adminconsent?{query}", t.cloud.url(), t.tenant.tenant_id)).await.unwrap();
        admin_steps::consent_as(t, &b, page, &t.tenant.admin.upn, &t.tenant.admin.password).await.unwrap();
    }
}

#[tokio::test]
async fn compliance_management_partners_are_onboarded_updated_and_offboarded() {
    let t = spawn(1).await;
    consented_vendors(&t, &["Vendor A", "Vendor B"]).await;
    let token = admin_token(&t, "Compliance admin", &["DeviceManagementServiceConfig.ReadWrite.All"]).await;
    let group = t.tenant.mac_users_group_id.clone();
    let partners = "deviceManagement/complianceManagementPartners";
    let onboard =
        |name: &str| json!({"displayName": name, "macOsOnboarded": true, "macOsEnrollmentAssignments": [target(INCLUDE, &group)]});
    let (s, created) = call(&t, Method::POST, &token, partners, Some(onboard("Vendor A"))).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (s, one) = call(&t, Method::GET, &token, &format!("{partners}/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!((one["displayName"].as_str(), one["partnerState"].as_str()), (Some("Vendor A"), Some("unknown")));
    assert_eq!(one["macOsEnrollmentAssignments"][0]["target"]["groupId"], group.as_str());
    // One partner per platform; only consented partner apps.
    let (s, refused) = call(&t, Method::POST, &token, partners, Some(onboard("Vendor B"))).await;
    assert_eq!(s, 409, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("one compliance partner"), "{refused}");
    assert_eq!(call(&t, Method::POST, &token, partners, Some(onboard("Nobody"))).await.0, 400);
    let bad = json!({"macOsEnrollmentAssignments": [target(INCLUDE, &uuid::Uuid::new_v4().to_string())]});
    assert_eq!(call(&t, Method::PATCH, &token, &format!("{partners}/{id}"), Some(bad)).await.0, 400);
    let (s, patched) = call(
        &t,
        Method::PATCH,
        &token,
        &format!("{partners}/{id}"),
        Some(json!({"macOsEnrollmentAssignments": [target(INCLUDE, &group)]})),
    )
    .await;
    assert_eq!(s, 200, "{patched}");
    // Onboarded for no platform, it stays a partner and macOS is free for the other
    // vendor; it cannot take macOS back while that one holds it.
    let (s, off) = call(&t, Method::PATCH, &token, &format!("{partners}/{id}"), Some(json!({"macOsOnboarded": false}))).await;
    assert_eq!((s, off["macOsOnboarded"].as_bool()), (200, Some(false)), "{off}");
    let (s, other) = call(&t, Method::POST, &token, partners, Some(onboard("Vendor B"))).await;
    assert_eq!(s, 201, "{other}");
    let back = call(&t, Method::PATCH, &token, &format!("{partners}/{id}"), Some(json!({"macOsOnboarded": true}))).await;
    assert_eq!(back.0, 409, "{}", back.1);
    // Removed, it is gone.
    assert_eq!(call(&t, Method::DELETE, &token, &format!("{partners}/{id}"), None).await.0, 204);
    assert_eq!(call(&t, Method::GET, &token, &format!("{partners}/{id}"), None).await.0, 404);
    let (_, left) = call(&t, Method::GET, &token, partners, None).await;
    assert_eq!(left["value"].as_array().unwrap().len(), 1, "{left}");
    let reader = t.test_client_token().await;
    assert_eq!(call(&t, Method::POST, &reader, partners, Some(onboard("Vendor A"))).await.0, 403);
    t.stop().await;
}

#[tokio::test]
async fn a_users_managed_devices_carry_their_fields_and_can_be_deleted() {
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let profile = fleet::generate(&users, 41, 0.0).remove(0);
    let mac = fleet.onboard(profile.clone(), &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    let device = mac.device_id.clone().unwrap();
    let reader = t.test_client_token().await;
    let upn = &t.tenant.users[0].upn;
    let listed = eventually("delivered", || async {
        let (_, body) = call(&t, Method::GET, &reader, &format!("users('{upn}')/managedDevices"), None).await;
        body["value"].as_array().filter(|v| !v.is_empty()).map(|v| v[0].clone())
    })
    .await;
    assert_eq!(listed["azureADDeviceId"], device.as_str());
    assert_eq!(listed["emailAddress"], upn.as_str());
    assert_eq!(listed["model"], profile.model.as_str());
    assert_eq!(listed["wiFiMacAddress"], profile.mac_address.as_str());
    assert_eq!(listed["isEncrypted"], profile.filevault);
    assert_eq!(listed["isSupervised"], false);
    let now = t.clock.now().timestamp();
    for field in ["enrolledDateTime", "lastSyncDateTime"] {
        let at = chrono::DateTime::parse_from_rfc3339(listed[field].as_str().unwrap()).unwrap().timestamp();
        assert!((now - 5..=now).contains(&at), "{field} {at} vs {now}");
    }
    let (s, _) = call(&t, Method::GET, &reader, &format!("users/{}/managedDevices?$select=id,model", t.tenant.users[0].id), None).await;
    assert_eq!(s, 200);

    // A Mac the partner sends only a verdict for (EntityType 4) is compliant in Entra but
    // not listed among Intune's devices, beside the Mac above that is.
    let mut judged = fleet::Mac::unenrolled(fleet::generate(&users, 42, 0.0).remove(0));
    fleet.workplace_join(&mut judged).await.unwrap();
    let judged_id = judged.device_id.clone().unwrap();
    let intune = t.connector_token("https://api.manage.microsoft.com//.default").await;
    let sync = t.partner_base("PartnerDeviceDataSyncService").await;
    let tid = &t.tenant.tenant_id;
    let verdict = json!({"TenantId": tid, "UploadTime": platform::clock::rfc3339(t.clock.now()), "Content": [{
        "EntityType": 4, "TenantId": tid, "DeviceId": judged_id, "UserId": t.tenant.users[0].id,
        "LastUpdateTime": platform::clock::rfc3339(t.clock.now()), "complianceStatus": true}]});
    let resp = t
        .http
        .put(format!("{sync}/DataUploadMessages(guid'{}')?api-version=1.0", uuid::Uuid::new_v4()))
        .bearer_auth(&intune)
        .json(&verdict)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    eventually("verdict applied", || async { t.is_compliant(&judged_id).await.filter(|c| *c) }).await;
    let (_, all) = call(&t, Method::GET, &reader, "deviceManagement/managedDevices", None).await;
    let listed_ids: Vec<&str> = all["value"].as_array().unwrap().iter().map(|m| m["azureADDeviceId"].as_str().unwrap()).collect();
    assert_eq!(listed_ids, [device.as_str()], "{all}");

    // Delete: a write permission is needed; the Mac leaves Intune and Entra stops counting
    // it as managed or compliant.
    let id = listed["id"].as_str().unwrap().to_string();
    assert_eq!(call(&t, Method::DELETE, &reader, &format!("deviceManagement/managedDevices/{id}"), None).await.0, 403);
    let writer = admin_token(&t, "Device admin", &["DeviceManagementManagedDevices.ReadWrite.All"]).await;
    assert_eq!(call(&t, Method::DELETE, &writer, &format!("deviceManagement/managedDevices/{id}"), None).await.0, 204);
    assert_eq!(call(&t, Method::GET, &reader, &format!("deviceManagement/managedDevices/{id}"), None).await.0, 404);
    let (_, d) = call(&t, Method::GET, &reader, &format!("devices(deviceId='{device}')"), None).await;
    assert_eq!((d["isManaged"].as_bool(), d["isCompliant"].as_bool()), (Some(false), None), "{d}");
    t.stop().await;
}

#[tokio::test]
async fn each_tenant_discovers_its_own_partner_services() {
    let t = spawn(1).await;
    let store = &t.cloud.state.store;
    let now = t.clock.now_ms();
    let spec = |domain, name, licensed| cloud::seed::CustomerSpec { domain, name, users: 1, licensed };
    let fabrikam = cloud::seed::customer(store, spec("fabrikam.example", "Fabrikam", true), now).await.unwrap();
    let unlicensed = cloud::seed::customer(store, spec("northwind.example", "Northwind", false), now).await.unwrap();
    let services = |tenant: &cloud::seed::CustomerTenant| {
        let (tenant, client, secret) = (tenant.tenant_id.clone(), tenant.test_client_id.clone(), tenant.test_client_secret.clone());
        let t = &t;
        async move {
            let (_, token) = t.token(&tenant, &client, &secret, "https://graph.microsoft.com/.default").await;
            let token = token["access_token"].as_str().unwrap().to_string();
            let path = format!("servicePrincipals/appId={}/endpoints", wire::ids::INTUNE_APP_ID);
            let (s, body) = call(t, Method::GET, &token, &path, None).await;
            assert_eq!(s, 200, "{body}");
            body["value"].as_array().unwrap().iter().map(|e| (e["providerName"].to_string(), e["uri"].to_string())).collect::<Vec<_>>()
        }
    };
    let contoso_services = services(&t.tenant).await;
    let fabrikam_services = services(&fabrikam).await;
    let uri = |list: &[(String, String)], name: &str| list.iter().find(|(n, _)| n.trim_matches('"') == name).map(|(_, u)| u.clone());
    let contoso_sync = uri(&contoso_services, "PartnerDeviceDataSyncService").unwrap();
    assert_ne!(Some(contoso_sync.clone()), uri(&fabrikam_services, "PartnerDeviceDataSyncService"), "per-tenant base URIs");
    assert_eq!(Some(contoso_sync.clone()), uri(&contoso_services, "PartnerDeviceDataSyncServiceBackup"));
    assert_ne!(uri(&contoso_services, "ASUName"), uri(&fabrikam_services, "ASUName"));
    // Without Intune, discovery answers but names no partner service.
    assert!(uri(&services(&unlicensed).await, "PartnerDeviceDataSyncService").is_none());
    // Without a Graph permission, discovery is refused.
    let (app, secret) = admin_steps::register_app(&t, "No permissions", &[]).await.unwrap();
    let (_, bare) = t.token(&t.tenant.tenant_id, &app, &secret, "https://graph.microsoft.com/.default").await;
    let path = format!("servicePrincipals/appId={}/endpoints", wire::ids::INTUNE_APP_ID);
    let (s, refused) = call(&t, Method::GET, bare["access_token"].as_str().unwrap(), &path, None).await;
    assert_eq!((s, refused["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{refused}");

    // Another tenant's administrator, with every write permission, finds none of this
    // tenant's partner objects or devices.
    let fabrikam_sp = store.service_principal(&fabrikam.tenant_id, &fabrikam.test_client_id).await.unwrap().unwrap();
    for p in ["DeviceManagementServiceConfig.ReadWrite.All", "DeviceManagementManagedDevices.ReadWrite.All"] {
        let permission = Permission::new(wire::ids::GRAPH_APP_ID, PermissionKind::Application, p);
        store.grant(&fabrikam.tenant_id, &fabrikam_sp.id, &permission, now).await.unwrap();
    }
    let (_, foreign) =
        t.token(&fabrikam.tenant_id, &fabrikam.test_client_id, &fabrikam.test_client_secret, "https://graph.microsoft.com/.default").await;
    let foreign = foreign["access_token"].as_str().unwrap().to_string();
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let tid = t.tenant.tenant_id.clone();
    let partner = format!("deviceManagement/deviceManagementPartners/{tid}");
    assert_eq!(call(&t, Method::PATCH, &foreign, &partner, Some(json!({"singleTenantAppId": null}))).await.0, 404);
    assert_eq!(call(&t, Method::POST, &foreign, &format!("{partner}/terminate"), None).await.0, 404);
    assert_eq!(call(&t, Method::DELETE, &foreign, &partner, None).await.0, 404);
    let reader = t.test_client_token().await;
    let (_, p) = call(&t, Method::GET, &reader, &partner, None).await;
    assert_eq!(p["partnerState"], "enabled", "untouched: {p}");

    // The legacy Azure AD Graph names the same services with serviceName.
    let (app, secret) =
        admin_steps::register_app(&t, "Legacy partner", &[(wire::ids::AAD_GRAPH_APP_ID, "Application.Read.All")]).await.unwrap();
    let (s, token) = t.token(&t.tenant.tenant_id, &app, &secret, "https://graph.windows.net/.default").await;
    assert_eq!(s, 200, "{token}");
    let legacy: Value = t
        .http
        .get(format!(
            "{}/aadgraph/{}/servicePrincipalsByAppId/{}/serviceEndpoints?api-version=1.6",
            t.cloud.url(),
            t.tenant.domain,
            wire::ids::INTUNE_APP_ID
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("client-request-id", uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let legacy_sync = legacy["value"].as_array().unwrap().iter().find(|e| e["serviceName"] == "PartnerDeviceDataSyncService").cloned();
    assert_eq!(legacy_sync.map(|e| e["uri"].to_string()), Some(contoso_sync), "{legacy}");
    t.stop().await;
}
