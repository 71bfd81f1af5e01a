//! The mdm's inventory from the agent's side: partial reports merged over the stored
//! record, every update in the computer's history, FileVault per volume and password
//! facts, and the Conditional Access inventory state of a computer that goes silent or
//! loses its registered user.

use cloudconnector::admin_steps;
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn};

async fn send(t: &TestStack, method: reqwest::Method, url: &str, credential: &str, body: Value) -> (u16, Value) {
    let resp = t.http.request(method, url).bearer_auth(credential).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn partial_reports_merge_and_every_update_is_in_the_history() {
    let t = spawn(2).await;
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut profiles = fleet::generate(&users, 71, 0.0);
    profiles[0].external_volume = Some(false);
    let url = t.instance_url("hq");
    let mac = fleet.enroll(profiles.remove(0), &url, &t.instance("hq").invitation).await.unwrap();
    let fresh = fleet.enroll(profiles.remove(0), &url, &t.instance("hq").invitation).await.unwrap();
    let inventory = format!("{url}/api/agent/v1/inventory");
    let t0 = t.clock.now() - chrono::Duration::minutes(10);
    let at = |s: i64| platform::clock::rfc3339(t0 + chrono::Duration::seconds(s));

    // A partial report needs a full one first.
    let (status, body) = send(&t, reqwest::Method::PATCH, &inventory, &fresh.credential, json!({"collected_at": at(0)})).await;
    assert_eq!(status, 409, "{body}");

    fleet.report_inventory(&mac, t0).await.unwrap();
    let mut security = serde_json::to_value(fleet::Fleet::inventory(&mac, t0).security).unwrap();
    security["firewall_enabled"] = json!(false);
    let (status, body) =
        send(&t, reqwest::Method::PATCH, &inventory, &mac.credential, json!({"collected_at": at(60), "security": security})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sequence"], 2);

    // Bad partial reports change nothing.
    for (patch, expected, says) in [
        (json!({"collected_at": at(120), "colour": "blue"}), 422, "Unknown inventory section 'colour'"),
        (json!({"security": security}), 422, "collected_at is required"),
        (json!({"collected_at": at(30), "os_version": "15.2"}), 409, "older than the inventory already stored"),
        (
            json!({"collected_at": at(120), "volumes": [{"name": "A", "boot": true, "filevault": "SORT_OF"}]}),
            422,
            "volumes[0].filevault: 'SORT_OF' is not a FileVault state; allowed: ENCRYPTED",
        ),
        (
            json!({"collected_at": at(120), "volumes": [{"name": "A", "boot": true, "filevault": "ENCRYPTED"},
                                                         {"name": "B", "boot": true, "filevault": "ENCRYPTED"}]}),
            422,
            "volumes: at most one volume can be the boot volume",
        ),
        (json!({"collected_at": at(120), "password_policy": {"min_length": 500}}), 422, "password_policy.min_length"),
        (json!([1, 2]), 422, "must be a JSON object"),
    ] {
        let (status, body) = send(&t, reqwest::Method::PATCH, &inventory, &mac.credential, patch.clone()).await;
        assert_eq!(status, expected, "{patch}: {body}");
        assert!(body.to_string().contains(says), "{patch}: {body}");
    }

    // The record: merged sections, FileVault per volume, password facts, history.
    let read = |q: String| {
        let (http, i) = (t.http.clone(), t.instance("hq").clone());
        async move {
            let resp = http.get(q).basic_auth(&i.admin_username, Some(&i.admin_password)).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let record = read(format!("{url}/api/v1/computers-inventory?section=ALL&filter=udid=={}", mac.profile.udid)).await;
    let c = &record["results"][0];
    assert_eq!(c["security"]["firewallEnabled"], false, "{c}");
    assert_eq!(c["operatingSystem"]["version"], mac.profile.os_version.as_str(), "untouched sections stay");
    assert_eq!(c["operatingSystem"]["fileVault2Status"], "BOOT_ENCRYPTED");
    assert_eq!(c["diskEncryption"]["individualVolumeFileVaultStates"].as_array().unwrap().len(), 2);
    assert_eq!(c["hardware"]["processorArchitecture"], mac.profile.processor_architecture.as_str());
    assert_eq!(c["localUserAccounts"][0]["passwordMinLength"], mac.profile.password_min_length);
    let history = read(format!("{url}/api/v1/computers-inventory/{}/history", mac.computer_id)).await;
    assert_eq!(history["totalCount"], 2, "{history}");
    assert_eq!(history["results"][0]["kind"], "partial");
    assert_eq!(history["results"][0]["changedSections"], json!(["security"]));
    assert_eq!(history["results"][1]["kind"], "full");
    assert_eq!(history["results"][1]["changedSections"], json!(["all"]));

    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let page = b.get(&format!("{url}/computers/{}", mac.computer_id)).await.unwrap();
    assert_eq!(page.element_text("filevault-status").as_deref(), Some("BOOT_ENCRYPTED"));
    assert!(page.texts("#history td").contains(&"partial".to_string()), "{}", page.body);
    t.stop().await;
}

#[tokio::test]
async fn a_computer_silent_for_a_day_is_reported_unresponsive_then_activated_on_check_in() {
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let profile = fleet::generate(&users, 72, 0.0).remove(0);
    let mac = fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    let ca = format!("computers/{}/conditional-access", mac.computer_id);
    let history = format!("computers-inventory/{}/history", mac.computer_id);
    eventually("first delivery", || async { (t.mdm_read("hq", &ca).await["users"][0]["delivery_state"] == "accepted").then_some(()) })
        .await;

    // 23 hours without a check-in: still ACTIVATED, nothing sent.
    t.advance_clock(23 * 3600).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(t.mdm_read("hq", &ca).await["users"][0]["conditional_access_inventory_state"], "ACTIVATED");
    assert!(t.mdm_read("hq", &history).await["results"].as_array().unwrap().iter().all(|h| h["kind"] != "state"));

    // Past 24 hours: UNRESPONSIVE, sent once.
    t.advance_clock(2 * 3600).await;
    eventually("unresponsive sent", || async {
        let h = t.mdm_read("hq", &history).await;
        (h["results"][0]["kind"] == "state").then_some(())
    })
    .await;
    assert_eq!(t.mdm_read("hq", &ca).await["users"][0]["conditional_access_inventory_state"], "UNRESPONSIVE");
    eventually("delivered", || async { (t.mdm_read("hq", &ca).await["users"][0]["delivery_state"] == "accepted").then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let states = |h: Value| h["results"].as_array().unwrap().iter().filter(|e| e["kind"] == "state").count();
    assert_eq!(states(t.mdm_read("hq", &history).await), 1, "reported once");

    // The Mac checks in again: ACTIVATED, sent again.
    fleet.check_in(&mac).await.unwrap();
    assert_eq!(t.mdm_read("hq", &ca).await["users"][0]["conditional_access_inventory_state"], "ACTIVATED");
    assert_eq!(states(t.mdm_read("hq", &history).await), 2);

    // The registered user is removed from the Mac: DEACTIVATED, sent as State 1.
    let admin = cloudconnector::admin::Admin::from_file(&t.write_endpoints_file()).unwrap();
    let device = mac.device_id.clone().unwrap();
    let later = t.clock.now() + chrono::Duration::seconds(60);
    let resp = t
        .http
        .patch(format!("{}/api/agent/v1/inventory", t.instance_url("hq")))
        .bearer_auth(&mac.credential)
        .json(&json!({"collected_at": platform::clock::rfc3339(later), "local_users": [{"username": "admin", "full_name": "Local admin"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let view = t.mdm_read("hq", &ca).await;
    let user = view["users"].as_array().unwrap().iter().find(|u| u["username"] == mac.profile.username.as_str()).unwrap().clone();
    assert_eq!(user["conditional_access_inventory_state"], "DEACTIVATED", "{view}");
    eventually("State 1 delivered", || async {
        let trace = admin.trace(&device).await.ok()?;
        let last = trace.updates.last()?;
        (last.item.state == Some(1) && last.outcomes.iter().any(|o| o.starts_with("accepted"))).then_some(())
    })
    .await;
    let states_sent: Vec<Option<i32>> = admin.trace(&device).await.unwrap().updates.iter().map(|u| u.item.state).collect();
    assert!(states_sent.windows(3).any(|w| w == [Some(2), Some(0), Some(1)]), "unresponsive, activated, deactivated: {states_sent:?}");
    t.stop().await;
}
