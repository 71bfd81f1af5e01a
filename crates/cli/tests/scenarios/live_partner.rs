//! A live compliance partner's whole sequence, replayed with the exact paths, headers and
//! bodies it sends to Microsoft: Fleet's open-source Microsoft compliance proxy
//! (fleetdm/fleet, `website/api/helpers/microsoft-proxy/` and
//! `website/api/controllers/microsoft-proxy/`). Its quirks are kept on purpose: the stray
//! `}` after the provisioning key, `Content` as a JSON string, `complianceStatus` as
//! `"compliant"`/`"notCompliant"`, the new policy read from `value[0]`, users looked up
//! as `users('<upn>')`, and no `Accept` header.

use cloud::entra::directory::{Permission, PermissionKind};
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn};

/// Fleet's partner application: registered in its vendor's tenant, holding the Graph
/// reads its proxy makes and, on the Intune API, only `manage_partner_compliance_policy`.
fn fleet_permissions() -> Vec<Permission> {
    let graph = |v: &str| Permission::new(wire::ids::GRAPH_APP_ID, PermissionKind::Application, v);
    vec![
        graph("Application.Read.All"),
        graph("Group.Read.All"),
        graph("User.Read.All"),
        Permission::new(wire::ids::INTUNE_APP_ID, PermissionKind::Application, "manage_partner_compliance_policy"),
    ]
}

/// `new Date().toISOString()`: milliseconds and `Z`.
fn js_iso(t: &TestStack) -> String {
    t.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

struct Proxy<'a> {
    t: &'a TestStack,
    graph_token: String,
    intune_token: String,
    tenant_sync: String,
    device_sync: String,
}

impl Proxy<'_> {
    async fn send(&self, req: reqwest::RequestBuilder, token: &str, body: Option<&Value>) -> (u16, Value) {
        // Fleet's requests carry `Content-Type: application/json` with a body and never an
        // `Accept` header.
        let req = req.bearer_auth(token);
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(b.to_string()),
            None => req,
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn graph(&self, path: &str) -> (u16, Value) {
        let url = format!("{}/graph/v1.0/{path}", self.t.cloud.url());
        self.send(self.t.http.get(url), &self.graph_token, None).await
    }

    async fn upload(&self, message_id: &str, items: Value) -> (u16, Value) {
        let tid = &self.t.tenant.tenant_id;
        // The items travel as a JSON string inside `Content`.
        let body = json!({"TenantId": tid, "UploadTime": js_iso(self.t), "Content": items.to_string()});
        let url = format!("{}/DataUploadMessages(guid'{message_id}')?api-version=1.2", self.device_sync);
        self.send(self.t.http.put(url), &self.intune_token, Some(&body)).await
    }

    async fn completed(&self, message_id: &str) -> Value {
        let url = format!("{}/DataUploadMessages(guid'{message_id}')?api-version=1.2", self.device_sync);
        eventually("message processed", || async {
            let (status, body) = self.send(self.t.http.get(&url), &self.intune_token, None).await;
            assert_eq!(status, 200, "{body}");
            (body["Status"] != "Pending").then_some(body)
        })
        .await
    }
}

/// The two items Fleet uploads for one Mac: its inventory (EntityType 1) and its verdict
/// (EntityType 4).
fn fleet_items(t: &TestStack, device_id: &str, user_id: &str, compliant: bool) -> Value {
    let tid = &t.tenant.tenant_id;
    let now = js_iso(t);
    json!([
        {"EntityType": 1, "TenantId": tid, "DeviceManagementState": "managed", "DeviceId": device_id, "DeviceName": "Fleet Mac",
         "UserId": user_id, "LastCheckInTime": now, "LastUpdateTime": now, "Os": "macOS", "OsVersion": "26.1", "EasIds": [], "State": 0},
        {"EntityType": 4, "TenantId": tid, "DeviceId": device_id, "UserId": user_id, "LastUpdateTime": now,
         "complianceStatus": if compliant { "compliant" } else { "notCompliant" }},
    ])
}

/// Onboarding as the customer's administrator does it: admin consent to the partner's
/// app, then Partner compliance management › Add (macOS, Mac users).
async fn onboard_fleet(t: &TestStack) -> (String, String) {
    let website = format!("{}/", t.instance_url("hq"));
    let (app_id, secret) = cloud::seed::vendor_app(
        &t.cloud.state.store,
        &t.provider.tenant_id,
        "Fleet compliance for Microsoft Intune",
        &website,
        fleet_permissions(),
        t.clock.now_ms(),
    )
    .await
    .unwrap();
    let b = t.browser();
    let query =
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs([("client_id", &app_id), ("redirect_uri", &website)]).finish();
    let page = b.get(&format!("{}/{}/adminconsent?{query}", t.cloud.url(), t.tenant.tenant_id)).await.unwrap();
    let landed = cloudconnector::admin_steps::consent_as(t, &b, page, &t.tenant.admin.upn, &t.tenant.admin.password).await.unwrap();
    assert!(landed.url.starts_with(&website), "{}", landed.url);
    let console = cloudconnector::admin_steps::cloud_console_sign_in(t).await.unwrap();
    let url = format!("{}/console/intune/tenant-admin/connectors/partner-compliance-management", t.cloud.url());
    let page =
        console.post_form(&url, &[("app_id", &app_id), ("platform", "macOS"), ("group", &t.tenant.mac_users_group_id)]).await.unwrap();
    assert!(page.body.contains("Pending activation"), "{}", page.body);
    (app_id, secret)
}

/// token → discovery. Returns the proxy with both tokens and both service URLs.
async fn discover<'a>(t: &'a TestStack, app_id: &str, secret: &str) -> Proxy<'a> {
    let tid = &t.tenant.tenant_id;
    let (s, graph) = t.token(tid, app_id, secret, "https://graph.microsoft.com/.default").await;
    assert_eq!(s, 200, "{graph}");
    let (s, intune) = t.token(tid, app_id, secret, "https://api.manage.microsoft.com//.default").await;
    assert_eq!(s, 200, "{intune}");
    let mut proxy = Proxy {
        t,
        graph_token: graph["access_token"].as_str().unwrap().into(),
        intune_token: intune["access_token"].as_str().unwrap().into(),
        tenant_sync: String::new(),
        device_sync: String::new(),
    };
    let (s, sps) = proxy.graph(&format!("servicePrincipals?$filter=appId%20eq%20'{}'", wire::ids::INTUNE_APP_ID)).await;
    assert_eq!(s, 200, "{sps}");
    let sp = sps["value"][0]["id"].as_str().unwrap().to_string();
    let (s, endpoints) = proxy.graph(&format!("servicePrincipals/{sp}/endPoints")).await;
    assert_eq!(s, 200, "{endpoints}");
    let uri = |name: &str| {
        let e = endpoints["value"].as_array().unwrap().iter().find(|e| e["providerName"] == name);
        e.unwrap_or_else(|| panic!("{name} missing: {endpoints}"))["uri"].as_str().unwrap().to_string()
    };
    proxy.tenant_sync = uri("PartnerTenantDataSyncService");
    proxy.device_sync = uri("PartnerDeviceDataSyncService");
    proxy
}

#[tokio::test]
async fn fleet_compliance_proxy_sequence_runs_unchanged() {
    let t = spawn(2).await;
    let tid = t.tenant.tenant_id.clone();
    let (app_id, secret) = onboard_fleet(&t).await;
    let proxy = discover(&t, &app_id, &secret).await;

    // Provisioning, with the stray `}` after the key.
    let provision = |n: i64| json!({"Provisioned": n, "PartnerEnrollmentUrl": "https://fleet.example/enroll", "PartnerRemediationUrl": "https://fleet.example/remediate"});
    let url = format!("{}/PartnerTenants(guid'{tid}')}}?api-version=1.6", proxy.tenant_sync);
    let (s, body) = proxy.send(t.http.put(&url), &proxy.intune_token, Some(&provision(1))).await;
    assert_eq!(s, 200, "{body}");
    let admin = t.test_client_token().await;
    let (_, partners) = t.graph_get(&admin, "deviceManagement/complianceManagementPartners").await;
    assert_eq!(partners["value"][0]["partnerState"], "enabled", "{partners}");

    // The policy: its ID read from `value[0].Id`; on a second run the 409 sends Fleet to
    // the list, where `value[0].Id` is the same policy.
    let policies = format!("{}/PartnerCompliancePolicies?api-version=1.6", proxy.tenant_sync);
    let policy = json!({"DisplayName": "Fleet compliance policy", "Description": "Compliance decided by Fleet", "Platform": "macOS", "PartnerManagedCompliance": true});
    let (s, created) = proxy.send(t.http.post(&policies), &proxy.intune_token, Some(&policy)).await;
    assert_eq!(s, 201, "{created}");
    let policy_id = created["value"][0]["Id"].as_str().unwrap().to_string();
    let (s, _) = proxy.send(t.http.post(&policies), &proxy.intune_token, Some(&policy)).await;
    assert_eq!(s, 409);
    let (s, listed) = proxy.send(t.http.get(&policies), &proxy.intune_token, None).await;
    assert_eq!(s, 200, "{listed}");
    assert_eq!(listed["value"][0]["Id"], policy_id.as_str());

    // Assignment to the first group Graph lists.
    let (s, groups) = proxy.graph("groups").await;
    assert_eq!(s, 200, "{groups}");
    let group = groups["value"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(group, t.tenant.mac_users_group_id);
    let assign = format!("{}/PartnerCompliancePolicies(guid'{policy_id}')/Assign?api-version=1.6", proxy.tenant_sync);
    let (s, body) = proxy.send(t.http.post(&assign), &proxy.intune_token, Some(&json!({"assignments": [group]}))).await;
    assert!((200..300).contains(&s), "{s} {body}");

    // The user behind a Mac, by UPN in the key form, unencoded.
    let user = &t.tenant.users[0];
    let (s, found) = proxy.graph(&format!("users('{}')", user.upn)).await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["id"], user.id.as_str());

    // A Mac Fleet manages, registered with Entra by its user; Fleet's verdicts set
    // isCompliant, each message read back as Completed.
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let users = vec![(user.upn.clone(), user.password.clone())];
    let mut mac = fleet::Mac::unenrolled(fleet::generate(&users, 12, 0.0).remove(0));
    fleet.workplace_join(&mut mac).await.unwrap();
    let device = mac.device_id.clone().unwrap();
    for (n, compliant) in [false, true].into_iter().enumerate() {
        let message_id = uuid::Uuid::new_v4().to_string();
        let (s, body) = proxy.upload(&message_id, fleet_items(&t, &device, &user.id, compliant)).await;
        assert_eq!(s, 200, "{body}");
        let status = proxy.completed(&message_id).await;
        assert_eq!(status["Status"], "Completed", "{status}");
        assert_eq!(t.is_compliant(&device).await, Some(compliant), "verdict {n}");
        t.advance_clock(1).await;
    }

    // The compliance partner's Macs are not Intune's to list; their verdicts live in Entra.
    let (_, managed) = t.graph_get(&admin, "deviceManagement/managedDevices").await;
    assert!(managed["value"].as_array().unwrap().iter().all(|m| m["azureADDeviceId"] != device.as_str()), "{managed}");
    // EntityType 1 requires EasIds, even an empty list.
    let mut items = fleet_items(&t, &device, &user.id, true);
    items[0].as_object_mut().unwrap().remove("EasIds");
    let message_id = uuid::Uuid::new_v4().to_string();
    assert_eq!(proxy.upload(&message_id, json!([items[0].clone()])).await.0, 200);
    let status = proxy.completed(&message_id).await;
    assert_eq!(
        (status["ItemResults"][0]["Status"].as_str(), status["ItemResults"][0]["ErrorCode"].as_str()),
        (Some("Rejected"), Some("MissingEasIds"))
    );

    // Deprovisioning: the partner is Terminated and its uploads are refused.
    let (s, body) = proxy.send(t.http.put(&url), &proxy.intune_token, Some(&provision(2))).await;
    assert_eq!(s, 200, "{body}");
    let (_, partners) = t.graph_get(&admin, "deviceManagement/complianceManagementPartners").await;
    assert_eq!(partners["value"][0]["partnerState"], "terminated", "{partners}");
    let (s, body) = proxy.upload(&uuid::Uuid::new_v4().to_string(), fleet_items(&t, &device, &user.id, false)).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(t.is_compliant(&device).await, Some(true));
    t.stop().await;
}

/// The legacy integration names every message after its tenant:
/// `DataUploadMessages(guid'<tenantId>')` again and again, each new once the one before
/// it is processed.
#[tokio::test]
async fn legacy_uploads_reuse_the_tenant_id_as_message_id() {
    let t = spawn(1).await;
    let tid = t.tenant.tenant_id.clone();
    let (app_id, secret) = onboard_fleet(&t).await;
    let proxy = discover(&t, &app_id, &secret).await;
    let url = format!("{}/PartnerTenants(guid'{tid}')?api-version=1.6", proxy.tenant_sync);
    let (s, _) = proxy.send(t.http.put(&url), &proxy.intune_token, Some(&json!({"Provisioned": 1}))).await;
    assert_eq!(s, 200);
    let user = &t.tenant.users[0];
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut mac = fleet::Mac::unenrolled(fleet::generate(&[(user.upn.clone(), user.password.clone())], 13, 0.0).remove(0));
    fleet.workplace_join(&mut mac).await.unwrap();
    let device = mac.device_id.clone().unwrap();
    for compliant in [true, false, true] {
        let (s, body) = proxy.upload(&tid, fleet_items(&t, &device, &user.id, compliant)).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(proxy.completed(&tid).await["Status"], "Completed");
        assert_eq!(t.is_compliant(&device).await, Some(compliant));
        t.advance_clock(1).await;
    }
    t.stop().await;
}
