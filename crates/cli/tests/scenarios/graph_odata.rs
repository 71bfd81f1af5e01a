//! Microsoft Graph as clients nobody here wrote use it: paths in any case, OData key
//! forms, single items, every query option a resource supports (and Graph's error for
//! those it does not), `$filter` expressions, `/$count`, and the request ids on every
//! answer.

use cloudconnector::admin_steps;
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn, spawn_with};

async fn get(t: &TestStack, token: &str, path: &str, eventual: bool) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = t.http.get(format!("{}/graph/{path}", t.cloud.url())).bearer_auth(token);
    if eventual {
        req = req.header("ConsistencyLevel", "eventual");
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.headers().clone(), resp.text().await.unwrap())
}

async fn json_of(t: &TestStack, token: &str, path: &str) -> Value {
    let (status, _, body) = get(t, token, path, false).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn error_of(t: &TestStack, token: &str, path: &str, eventual: bool) -> (u16, String, String) {
    let (status, _, body) = get(t, token, path, eventual).await;
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, v["error"]["code"].as_str().unwrap_or_default().into(), v["error"]["message"].as_str().unwrap_or_default().into())
}

/// Three registered Macs evaluated: two compliant, one without FileVault.
async fn evaluated_macs(t: &TestStack) -> Vec<fleet::Mac> {
    admin_steps::connect_instance(t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut macs = Vec::new();
    for (n, mut profile) in fleet::generate(&users, 121, 0.0).into_iter().enumerate() {
        profile.filevault = n != 2;
        macs.push(fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap());
    }
    let token = t.test_client_token().await;
    eventually("every Mac evaluated", || async {
        (json_of(t, &token, "v1.0/deviceManagement/managedDevices").await["value"].as_array()?.len() == macs.len()).then_some(())
    })
    .await;
    macs
}

#[tokio::test]
async fn paths_keys_and_single_items_as_graph_serves_them() {
    let t = spawn(3).await;
    let macs = evaluated_macs(&t).await;
    let token = t.test_client_token().await;
    let intune = wire::ids::INTUNE_APP_ID;
    // 1: segments, versions and GUIDs in any case.
    let sp = json_of(&t, &token, &format!("v1.0/servicePrincipals?$filter=appId eq '{intune}'")).await["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let endpoints = json_of(&t, &token, &format!("V1.0/ServicePrincipals/{}/endPoints", sp.to_uppercase())).await;
    let names: Vec<&str> = endpoints["value"].as_array().unwrap().iter().map(|e| e["providerName"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "PartnerTenantDataSyncService",
            "PartnerTenantDataSyncServiceBackup",
            "PartnerDeviceDataSyncService",
            "PartnerDeviceDataSyncServiceBackup",
            "Region",
            "ASUName"
        ],
        "{endpoints}"
    );
    assert!(json_of(&t, &token, "v1.0/Users").await["value"].as_array().unwrap().len() >= 3);
    let managed = json_of(&t, &token, "v1.0/deviceManagement/ManagedDevices").await;
    assert_eq!(managed["value"].as_array().unwrap().len(), 3);
    // 2: OData key forms and alternate keys.
    let upn = &t.tenant.users[0].upn;
    assert_eq!(json_of(&t, &token, &format!("v1.0/users('{upn}')")).await["userPrincipalName"], upn.as_str());
    assert_eq!(json_of(&t, &token, &format!("v1.0/servicePrincipals(appId='{intune}')")).await["id"], sp.as_str());
    let app_id = t.provider.connector_app_id.clone();
    let (status, _, _) = get(&t, &token, &format!("v1.0/applications(appId='{app_id}')"), false).await;
    assert_eq!(status, 404, "the connector's app is registered in its own tenant, not in the customer's");
    let device = macs[0].device_id.clone().unwrap();
    let by_device_id = json_of(&t, &token, &format!("v1.0/devices(deviceId='{device}')")).await;
    assert_eq!(by_device_id["deviceId"], device.as_str());
    assert!(by_device_id["@odata.context"].as_str().unwrap().ends_with("$metadata#devices/$entity"));
    // 3: a single item of every collection.
    let object_id = by_device_id["id"].as_str().unwrap();
    assert_eq!(json_of(&t, &token, &format!("v1.0/devices/{}", object_id.to_uppercase())).await["deviceId"], device.as_str());
    let one = managed["value"][0]["id"].as_str().unwrap();
    assert_eq!(json_of(&t, &token, &format!("v1.0/deviceManagement/managedDevices/{one}")).await["id"], one);
    let tid = &t.tenant.tenant_id;
    assert_eq!(json_of(&t, &token, &format!("v1.0/deviceManagement/deviceManagementPartners/{tid}")).await["partnerState"], "enabled");
    let (status, code, message) = error_of(&t, &token, "v1.0/devices(deviceId='00000000-0000-4000-8000-000000000000')", false).await;
    assert_eq!((status, code.as_str()), (404, "Request_ResourceNotFound"), "{message}");
    let (status, _, message) = error_of(&t, &token, "v1.0/widgets", false).await;
    assert_eq!(status, 400);
    assert_eq!(message, "Resource not found for the segment 'widgets'.");
    t.stop().await;
}

#[tokio::test]
async fn query_options_filter_and_count_as_graph_does() {
    let t = spawn(3).await;
    let macs = evaluated_macs(&t).await;
    let token = t.test_client_token().await;
    let managed = "v1.0/deviceManagement/managedDevices";
    // 4: $select, $count, $orderby, $skip, /$count.
    let page = json_of(&t, &token, &format!("{managed}?$select=id,complianceState&$count=true&$orderby=complianceState desc&$top=2")).await;
    assert_eq!(page["@odata.count"], 3);
    assert_eq!(page["value"][0].as_object().unwrap().keys().filter(|k| !k.starts_with('@')).count(), 2, "{page}");
    assert_eq!(page["value"][0]["complianceState"], "noncompliant");
    let next = page["@odata.nextLink"].as_str().expect("a next page");
    assert!(next.contains("%24select=id%2CcomplianceState") || next.contains("$select=id,complianceState"), "$select kept: {next}");
    let rest: Value = t.http.get(next).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(rest["value"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(json_of(&t, &token, &format!("{managed}?$skip=2")).await["value"].as_array().unwrap().len(), 1);
    let (status, headers, body) = get(&t, &token, "v1.0/devices/$count", true).await;
    assert_eq!((status, body.as_str()), (200, "3"));
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    let (status, code, message) = error_of(&t, &token, "v1.0/devices/$count", false).await;
    assert_eq!((status, code.as_str(), message.as_str()), (400, "Request_BadRequest", "$count is not currently supported."));
    assert!(json_of(&t, &token, "v1.0/devices?$count=true").await.get("@odata.count").is_none(), "ignored without ConsistencyLevel");
    // A group's members: filtered, sorted and counted over every member, not a page.
    let group = &t.tenant.mac_users_group_id;
    let (status, _, body) = get(
        &t,
        &token,
        &format!("v1.0/groups/{group}/members?$filter=startswith(displayName,'User')&$orderby=displayName desc&$count=true&$top=2"),
        true,
    )
    .await;
    let members: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, members["@odata.count"].as_i64()), (200, Some(3)), "{members}");
    let names: Vec<&str> = members["value"].as_array().unwrap().iter().map(|u| u["displayName"].as_str().unwrap()).collect();
    assert_eq!(names, ["User 3", "User 2"]);
    assert!(members["@odata.nextLink"].is_string(), "{members}");
    let (_, _, body) = get(&t, &token, "v1.0/devices?$count=true&$search=\"displayName:mac\"", true).await;
    assert!(serde_json::from_str::<Value>(&body).unwrap()["@odata.count"].as_i64().is_some(), "{body}");
    let (status, code, _) = error_of(&t, &token, "v1.0/devices?$search=\"displayName:mac\"", false).await;
    assert_eq!((status, code.as_str()), (400, "Request_UnsupportedQuery"));
    let (status, _, message) = error_of(&t, &token, "v1.0/users?$skip=1", false).await;
    assert_eq!((status, message.as_str()), (400, "'$skip' is not supported by the service."));
    // 5: $filter as OData v4.
    let ids: Vec<String> = macs.iter().map(|m| m.device_id.clone().unwrap()).collect();
    let count = |v: Value| v["value"].as_array().unwrap().len();
    assert_eq!(count(json_of(&t, &token, &format!("{managed}?$filter=ComplianceState  eq  'compliant'")).await), 2);
    assert_eq!(count(json_of(&t, &token, &format!("{managed}?$filter=operatingSystem eq 'macOS' and managementAgent eq 'jamf'")).await), 3);
    let one = format!("{managed}?$filter=azureADDeviceId eq '{}' or serialNumber eq '{}'", ids[0], macs[1].profile.serial_number);
    assert_eq!(count(json_of(&t, &token, &one).await), 2);
    let inlist = format!("v1.0/devices?$filter=deviceId in ('{}', '{}')", ids[0], ids[2]);
    assert_eq!(count(json_of(&t, &token, &inlist).await), 2);
    let prefix = &macs[0].profile.device_name[..4];
    assert!(count(json_of(&t, &token, &format!("v1.0/devices?$filter=startswith(displayName,'{prefix}')")).await) >= 1);
    let licensed = format!("v1.0/users?$filter=assignedLicenses/any(x:x/skuId eq {})", "061f9ace-7d42-4136-88ac-31dc755f143f");
    assert!(count(json_of(&t, &token, &licensed).await) >= 3, "every user holds the tenant's Intune licence");
    let (status, code, message) = error_of(&t, &token, "v1.0/devices?$filter=displayName ne 'x'", false).await;
    assert_eq!((status, code.as_str()), (400, "Request_UnsupportedQuery"));
    assert!(message.contains("ConsistencyLevel:eventual"), "{message}");
    let (_, code, message) = error_of(&t, &token, "v1.0/devices?$filter=trustType ge 'W'", false).await;
    assert_eq!(code, "Request_UnsupportedQuery");
    assert!(message.contains("property 'trustType' of resource 'Device'"), "{message}");
    let (status, _, message) = error_of(&t, &token, "v1.0/devices?$filter=deviceId eq", false).await;
    assert!(status == 400 && message.contains("Syntax error at position"), "{message}");
    t.stop().await;
}

#[tokio::test]
async fn every_answer_carries_its_request_ids_and_errors_repeat_them() {
    let t = spawn_with(1, |o| o.throttle.requests_per_window = 3).await;
    let token = t.test_client_token().await;
    let send = |path: &str| {
        t.http
            .get(format!("{}/graph/v1.0/{path}", t.cloud.url()))
            .bearer_auth(&token)
            .header("client-request-id", "7964ef27-13a3-6ca4-ed7b-73c271110867")
            .send()
    };
    let ok = send("devices").await.unwrap();
    assert_eq!(ok.headers()["client-request-id"], "7964ef27-13a3-6ca4-ed7b-73c271110867");
    assert!(uuid::Uuid::parse_str(ok.headers()["request-id"].to_str().unwrap()).is_ok());
    assert!(ok.headers().contains_key("date"));
    let bad = send("devices?$top=0").await.unwrap();
    let request_id = bad.headers()["request-id"].to_str().unwrap().to_string();
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["innerError"]["request-id"], json!(request_id));
    assert_eq!(body["error"]["innerError"]["client-request-id"], "7964ef27-13a3-6ca4-ed7b-73c271110867");
    assert!(body["error"]["innerError"]["date"].is_string());
    // Throttled: 429 with Retry-After, and the same innerError.
    let throttled = loop {
        let resp = send("devices").await.unwrap();
        if resp.status() == 429 {
            break resp;
        }
    };
    assert!(throttled.headers().contains_key("retry-after"));
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(body["error"]["innerError"]["client-request-id"], "7964ef27-13a3-6ca4-ed7b-73c271110867");
    t.stop().await;
}
