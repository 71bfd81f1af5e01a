//! What real Macs and Jamf Pro servers report: Rapid Security Response versions and
//! builds, Jamf Pro's own vocabulary, `i386` Intel Macs, a Mac with two registered users,
//! wrong clocks on the Mac and at a partner. Each is sent through the public APIs and
//! must reach Entra's `isCompliant` with the right value.

use cloudconnector::admin_steps;
use fleet::{Fleet, Mac};
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn};

const GRAPH: &str = "https://graph.microsoft.com/.default";

fn users(t: &TestStack) -> Vec<(String, String)> {
    t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect()
}

/// A Mac of user `user`, enrolled with hq, on `os` / `build`.
async fn enrolled(t: &TestStack, fleet: &Fleet, user: usize, os: &str, build: &str) -> Mac {
    let mut profile = fleet::generate(&users(t), 111, 0.0).remove(user);
    profile.os_version = os.into();
    profile.os_build = build.into();
    profile.filevault = true;
    profile.sip = true;
    profile.gatekeeper = wire::agent::GatekeeperStatus::AppStoreAndIdentifiedDevelopers;
    fleet.enroll(profile, &t.instance_url("hq"), &t.instance("hq").invitation).await.unwrap()
}

/// The Mac's full report as its agent builds it, changed by `patch` (section by section).
fn report(mac: &Mac, collected: chrono::DateTime<chrono::Utc>, patch: Value) -> Value {
    let mut body = serde_json::to_value(Fleet::inventory(mac, collected)).unwrap();
    for (k, v) in patch.as_object().unwrap() {
        match (body.get_mut(k), v) {
            (Some(Value::Object(section)), Value::Object(p)) => section.extend(p.clone()),
            _ => body[k] = v.clone(),
        }
    }
    body
}

async fn send(t: &TestStack, method: reqwest::Method, mac: &Mac, body: &Value) -> (u16, Value) {
    let url = format!("{}/api/agent/v1/inventory", mac.instance_url);
    let resp = t.http.request(method, url).bearer_auth(&mac.credential).json(body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// The Local User Accounts entry of a registered user, once `ready` holds for it.
async fn user_view(t: &TestStack, mac: &Mac, device: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let path = format!("computers/{}/conditional-access", mac.computer_id);
    eventually(what, || async {
        let view = t.mdm_read("hq", &path).await;
        view["users"].as_array()?.iter().find(|u| u["computer_azure_active_directory_id"] == device).filter(|u| ready(u)).cloned()
    })
    .await
}

async fn compliance_of(t: &TestStack, mac: &Mac, device: &str) -> Value {
    user_view(t, mac, device, "the cloud's verdict", |u| u["delivery_state"] == "accepted" && u["compliance_state"].is_string()).await
}

#[tokio::test]
async fn macos_and_jamf_pro_values_reach_entra_with_the_right_verdict() {
    let t = spawn(3).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    // The Intune admin sets OS version and build bounds through Graph, with an app of
    // their own.
    let permission = [(wire::ids::GRAPH_APP_ID, "DeviceManagementConfiguration.ReadWrite.All")];
    let (app, secret) = admin_steps::register_app(&t, "Compliance automation", &permission).await.unwrap();
    let (status, token) = t.token(&t.tenant.tenant_id, &app, &secret, GRAPH).await;
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().unwrap().to_string();
    let policies = format!("{}/graph/v1.0/deviceManagement/deviceCompliancePolicies", t.cloud.url());
    let policy = |build_min: &str| {
        json!({"@odata.type": "#microsoft.graph.macOSCompliancePolicy", "displayName": "Ventura builds",
               "osMinimumVersion": "13.0", "osMinimumBuildVersion": build_min, "osMaximumBuildVersion": "22G74",
               "systemIntegrityProtectionEnabled": true, "gatekeeperAllowedAppSource": "macAppStoreAndIdentifiedDevelopers",
               "scheduledActionsForRule": [{"ruleName": "PasswordRequired",
                   "scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 0}]}]})
    };
    let refused = t.http.post(&policies).bearer_auth(&token).json(&policy("latest")).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("osMinimumBuildVersion must be a macOS build"));
    let created: Value = t.http.post(&policies).bearer_auth(&token).json(&policy("22F82")).send().await.unwrap().json().await.unwrap();
    assert_eq!(created["osMinimumBuildVersion"], "22F82", "{created}");
    let target = json!({"assignments": [{"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget",
                                                     "groupId": t.tenant.mac_users_group_id}}]});
    let resp = t.http.post(format!("{policies}/{}/assign", created["id"].as_str().unwrap())).bearer_auth(&token).json(&target).send();
    assert_eq!(resp.await.unwrap().status(), 200);

    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let now = t.clock.now();
    // 1, 3: a Rapid Security Response (sw_vers reports "(a)" apart) on an Intel Mac that
    // Jamf Pro calls i386, with Jamf Pro's SIP and Gatekeeper values.
    let mut rsr = enrolled(&t, &fleet, 0, "13.4.1 (a)", "22F770820d").await;
    let body = report(
        &rsr,
        now,
        json!({"hardware": {"processor_architecture": "i386"},
        "security": {"sip": "ENABLED", "gatekeeper": "APP_STORE_AND_IDENTIFIED_DEVELOPERS"}}),
    );
    assert_eq!(body["os_version_extra"], "(a)");
    let (status, answer) = send(&t, reqwest::Method::PUT, &rsr, &body).await;
    assert_eq!((status, answer["warnings"].clone()), (200, json!([])), "{answer}");
    // 2: Jamf Pro's DISABLED Gatekeeper, FileVault off, a build inside the bounds.
    let mut open = enrolled(&t, &fleet, 1, "13.5", "22G74").await;
    open.profile.filevault = false;
    let (status, answer) =
        send(&t, reqwest::Method::PUT, &open, &report(&open, now, json!({"security": {"gatekeeper": "DISABLED"}}))).await;
    assert_eq!(status, 200, "{answer}");
    // A build past osMaximumBuildVersion.
    let mut newer = enrolled(&t, &fleet, 2, "14.6.1", "23G93").await;
    fleet.report_inventory(&newer, now).await.unwrap();
    for mac in [&mut rsr, &mut open, &mut newer] {
        fleet.workplace_join(mac).await.unwrap();
        fleet.submit_entra_ids(mac).await.unwrap();
    }

    let device = |m: &Mac| m.device_id.clone().unwrap();
    let verdict = compliance_of(&t, &rsr, &device(&rsr)).await;
    assert_eq!(verdict["compliance_state"], "compliant", "an RSR counts as its base version: {verdict}");
    assert_eq!(t.is_compliant(&device(&rsr)).await, Some(true));
    let verdict = compliance_of(&t, &open, &device(&open)).await;
    assert_eq!(verdict["compliance_state"], "noncompliant", "{verdict}");
    let reasons: Vec<&str> = verdict["compliance_reasons"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(reasons.contains(&"Require encryption: reported not encrypted"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("requires App Store and identified developers, reported Anywhere")), "{reasons:?}");
    assert_eq!(reasons.len(), 2, "SIP ENABLED is understood: {reasons:?}");
    let verdict = compliance_of(&t, &newer, &device(&newer)).await;
    assert_eq!(verdict["compliance_reasons"], json!(["Maximum OS build version: requires <= 22G74, reported 23G93"]));
    assert_eq!(t.is_compliant(&device(&newer)).await, Some(false));

    // What the mdm stores and shows: Jamf Pro's names, the RSR apart, the reasons.
    let page = t.mdm_read("hq", &format!("computers-inventory?section=ALL&filter=udid=={}", rsr.profile.udid)).await;
    let c = &page["results"][0];
    assert_eq!(c["operatingSystem"]["version"], "13.4.1");
    assert_eq!(c["operatingSystem"]["rapidSecurityResponse"], "(a)");
    assert_eq!(c["operatingSystem"]["supplementalBuildVersion"], "22F770820d");
    assert_eq!(
        (c["security"]["sipStatus"].as_str(), c["security"]["gatekeeperStatus"].as_str()),
        (Some("ENABLED"), Some("APP_STORE_AND_IDENTIFIED_DEVELOPERS"))
    );
    assert_eq!(c["hardware"]["processorArchitecture"], "x86_64");
    // The RSR is removed (sw_vers no longer shows an extra): a partial report clears it.
    let cleared = json!({"collected_at": platform::clock::rfc3339(t.clock.now()), "os_version_extra": null});
    assert_eq!(send(&t, reqwest::Method::PATCH, &rsr, &cleared).await.0, 200);
    let page = t.mdm_read("hq", &format!("computers-inventory?section=OPERATING_SYSTEM&filter=udid=={}", rsr.profile.udid)).await;
    assert_eq!(page["results"][0]["operatingSystem"]["rapidSecurityResponse"], Value::Null, "{page}");
    assert_eq!(page["results"][0]["operatingSystem"]["version"], "13.4.1");
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let record = b.get(&format!("{}/computers/{}", t.instance_url("hq"), open.computer_id)).await.unwrap();
    assert!(record.body.contains("Require encryption: reported not encrypted"), "{}", record.body);

    // A value that would decide compliance but cannot be read is refused, naming it.
    let (status, answer) = send(&t, reqwest::Method::PUT, &rsr, &report(&rsr, now, json!({"security": {"gatekeeper": "SOMETIMES"}}))).await;
    assert_eq!(status, 422);
    let detail = answer["detail"].as_str().unwrap();
    assert!(detail.starts_with("security.gatekeeper:") && detail.contains("APP_STORE_AND_IDENTIFIED_DEVELOPERS"), "{detail}");

    // The Intune console sets build bounds too, and refuses what is not a build.
    let console = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let form = format!("{}/console/intune/devices/compliance-policies", t.cloud.url());
    let page = console.post_form(&form, &[("displayName", "Builds"), ("osMinimumBuildVersion", "soon")]).await.unwrap();
    assert!(page.body.contains("osMinimumBuildVersion must be a macOS build"), "{}", page.body);
    let page =
        console.post_form(&form, &[("displayName", "Builds"), ("osMinimumBuildVersion", "23H124"), ("osMaximumBuildVersion", "24G830")]);
    let page = page.await.unwrap();
    assert!(page.texts("#policies td").iter().any(|s| s.contains("Minimum OS build version: 23H124")), "{}", page.body);
    t.stop().await;
}

#[tokio::test]
async fn each_registered_user_of_a_mac_is_its_own_entra_device() {
    let t = spawn(2).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let profiles = fleet::generate(&users(&t), 112, 0.0);
    let (first, second) = (profiles[0].clone(), profiles[1].clone());
    let mut mac = fleet.enroll(first.clone(), &t.instance_url("hq"), &t.instance("hq").invitation).await.unwrap();
    let both = json!([{"username": first.username, "full_name": "First"}, {"username": second.username, "full_name": "Second"}]);
    let (status, body) = send(&t, reqwest::Method::PUT, &mac, &report(&mac, t.clock.now(), json!({"local_users": both}))).await;
    assert_eq!(status, 200, "{body}");
    // Both users register on the same Mac; the agent writes the second one's account
    // name in another case, as macOS does not mind.
    fleet.workplace_join(&mut mac).await.unwrap();
    fleet.submit_entra_ids(&mac).await.unwrap();
    let mut as_second = mac.clone();
    as_second.profile.upn = second.upn.clone();
    as_second.profile.password = second.password.clone();
    as_second.profile.username = second.username.to_uppercase();
    fleet.workplace_join(&mut as_second).await.unwrap();
    fleet.submit_entra_ids(&as_second).await.unwrap();
    let (a, b) = (mac.device_id.clone().unwrap(), as_second.device_id.clone().unwrap());
    assert_ne!(a, b);

    for device in [&a, &b] {
        assert_eq!(compliance_of(&t, &mac, device).await["compliance_state"], "compliant");
        assert_eq!(t.is_compliant(device).await, Some(true), "{device}");
    }
    let view = t.mdm_read("hq", &format!("computers/{}/conditional-access", mac.computer_id)).await;
    assert_eq!(view["users"].as_array().unwrap().len(), 2, "one account, whatever its case: {view}");

    // The second user leaves the Mac: only that registration turns DEACTIVATED.
    let only_first = json!({"collected_at": platform::clock::rfc3339(t.clock.now()), "local_users": [{"username": first.username, "full_name": "First"}]});
    assert_eq!(send(&t, reqwest::Method::PATCH, &mac, &only_first).await.0, 200);
    let gone = user_view(&t, &mac, &b, "second user deactivated", |u| u["conditional_access_inventory_state"] == "DEACTIVATED").await;
    assert_eq!(gone["user_azure_active_directory_id"], as_second.user_object_id.clone().unwrap().as_str());
    let kept = user_view(&t, &mac, &a, "first user still active", |_| true).await;
    assert_eq!(kept["conditional_access_inventory_state"], "ACTIVATED");
    t.stop().await;
}

#[tokio::test]
async fn clocks_of_macs_and_partners_are_not_trusted() {
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let mut mac = enrolled(&t, &fleet, 0, "15.7.9", "24G830").await;
    fleet.report_inventory(&mac, t.clock.now()).await.unwrap();
    fleet.workplace_join(&mut mac).await.unwrap();
    fleet.submit_entra_ids(&mac).await.unwrap();
    let device = mac.device_id.clone().unwrap();
    assert_eq!(compliance_of(&t, &mac, &device).await["compliance_state"], "compliant");

    // 5: the Mac's clock runs 36 hours ahead, then it is fixed and FileVault is off. The
    // future report is kept, dated when it was received, and says why.
    let ahead = report(&mac, t.clock.now() + chrono::Duration::hours(36), json!({}));
    let (status, answer) = send(&t, reqwest::Method::PUT, &mac, &ahead).await;
    assert_eq!(status, 200, "{answer}");
    let warning = answer["warnings"][0].as_str().unwrap();
    assert!(warning.contains("collected_at") && warning.contains("36 h ahead") && warning.contains("time received"), "{answer}");
    let sent = t.clock.now();
    let (status, answer) = send(&t, reqwest::Method::PUT, &mac, &report(&mac, sent, json!({"collected_at": "2031-01-01T00:00:00Z"}))).await;
    assert_eq!(status, 200, "{answer}");
    let received = t.clock.now();
    let stored = t.mdm_read("hq", &format!("computers-inventory?filter=udid=={}", mac.profile.udid)).await;
    // The time received, to the second: between sending and the answer (the test clock
    // runs on with real time, so a second may turn in between).
    let date = stored["results"][0]["general"]["reportDate"].as_str().unwrap();
    let date = chrono::DateTime::parse_from_rfc3339(date).unwrap().with_timezone(&chrono::Utc);
    assert!(date.timestamp() >= sent.timestamp() && date <= received, "{stored}");
    t.advance_clock(60).await;
    mac.profile.filevault = false;
    fleet.report_changes(&mac, &["security", "volumes"], t.clock.now()).await.unwrap();
    eventually("the honest report lands", || async { (t.is_compliant(&device).await == Some(false)).then_some(()) }).await;

    // 6: a partner dates a state in 2099: refused for that item, with its reason.
    let intune = t.connector_token("https://api.manage.microsoft.com//.default").await;
    let sync = t.partner_base(wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC).await;
    let tid = t.tenant.tenant_id.clone();
    let upload = |at: String| {
        let (http, intune, sync, tid, device, user) =
            (t.http.clone(), intune.clone(), sync.clone(), tid.clone(), device.clone(), mac.user_object_id.clone());
        async move {
            let id = uuid::Uuid::new_v4();
            let body = json!({"TenantId": tid, "UploadTime": at, "Content": [{"EntityType": 0, "TenantId": tid, "DeviceId": device,
                "UserId": user, "LastUpdateTime": at, "Encrypted": true}]});
            let url = format!("{sync}/DataUploadMessages(guid'{id}')?api-version=1.0");
            assert_eq!(http.put(&url).bearer_auth(&intune).json(&body).send().await.unwrap().status(), 200);
            eventually("message processed", || async {
                let status: Value = http.get(&url).bearer_auth(&intune).send().await.ok()?.json().await.ok()?;
                (status["Status"] == "Completed").then(|| status["ItemResults"][0].clone())
            })
            .await
        }
    };
    let result = upload("2099-01-01T00:00:00Z".into()).await;
    assert_eq!((result["Status"].as_str(), result["ErrorCode"].as_str()), (Some("Rejected"), Some("LastUpdateTimeInFuture")), "{result}");
    assert_eq!(t.is_compliant(&device).await, Some(false), "the refused item changed nothing");

    // A state older than the one the cloud holds is Stale: the mdm never shows it as
    // delivered.
    t.advance_clock(3600).await;
    let partner_time = t.clock.now();
    assert_eq!(upload(platform::clock::rfc3339(partner_time)).await["Status"], "Accepted");
    let older = json!({"collected_at": platform::clock::rfc3339(partner_time - chrono::Duration::minutes(30)), "os_name": "macOS"});
    assert_eq!(send(&t, reqwest::Method::PATCH, &mac, &older).await.0, 200);
    let stale =
        user_view(&t, &mac, &device, "stale outcome", |u| u["delivery_state"].as_str().is_some_and(|s| s.starts_with("stale"))).await;
    assert!(stale["delivery_state"].as_str().unwrap().contains("newer state"), "{stale}");
    t.stop().await;
}
