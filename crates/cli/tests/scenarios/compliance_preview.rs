//! Compliance preview of a fleet: Macs reported by their agent and Macs imported from a
//! Jamf Pro export, evaluated by Intune (through the connector) under a draft policy or
//! the tenant's, before anything is enforced — from the read API, the CLI and the console.

use cloudconnector::admin::Admin;
use cloudconnector::admin_steps;
use fleet::{Fleet, Mac};
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn};

async fn preview(t: &TestStack, slug: &str, body: Value, format: &str) -> (u16, String) {
    let i = t.instance(slug);
    let resp = t
        .http
        .post(format!("{}/api/v1/compliance-preview?format={format}", t.instance_url(slug)))
        .basic_auth(&i.admin_username, Some(&i.admin_password))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn managed_devices(t: &TestStack) -> usize {
    let token = t.test_client_token().await;
    t.graph_get(&token, "deviceManagement/managedDevices").await.1["value"].as_array().map_or(0, Vec::len)
}

/// Five Macs of `hq`: two report through their agent and register (macOS 14.6.1 with
/// FileVault, 15.1 without), three come from a Jamf Pro export (13.6.9, 12.7.6 and 15.0,
/// with FileVault). Returns the admin commands' client.
async fn fleet_of_five(t: &TestStack) -> Admin {
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profiles = fleet::generate(&users, 31, 0.0);
    let mut set = |n: usize, os: &str, build: &str, filevault: bool| {
        let p = &mut profiles[n];
        (p.os_version, p.os_build, p.filevault) = (os.into(), build.into(), filevault);
    };
    set(0, "14.6.1", "23G93", true);
    set(1, "15.1", "24B83", false);
    set(2, "13.6.9", "22G830", true);
    set(3, "12.7.6", "21H1320", true);
    set(4, "15.0", "24A335", true);
    // Two Macs report through their agent and register; three come from a Jamf Pro export.
    let hq = t.instance("hq");
    for p in &profiles[..2] {
        let mac = fleet.onboard(p.clone(), &t.instance_url("hq"), &hq.invitation, t.clock.now()).await.unwrap();
        let id = mac.device_id.clone().unwrap();
        eventually("evaluated", || async { t.is_compliant(&id).await }).await;
    }
    let stamp = platform::clock::rfc3339(t.clock.now());
    let records: Vec<Value> = profiles[2..]
        .iter()
        .enumerate()
        .map(|(n, p)| fleet::jamf::computer_record(&Mac::unenrolled(p.clone()), 900 + n as u64, &stamp, &stamp))
        .collect();
    let page = t.write_endpoints_file().with_file_name("export.json");
    std::fs::write(&page, serde_json::to_vec(&fleet::jamf::page(records, 3)).unwrap()).unwrap();
    let admin = Admin::from_file(&t.write_endpoints_file()).unwrap();
    let imported = &admin.import_jamf("hq", &[page], None, None).await.unwrap()[0].1;
    assert_eq!(imported["created"], 3, "{imported}");
    admin
}

#[tokio::test]
async fn a_draft_policy_is_previewed_on_reported_and_imported_macs() {
    let t = spawn(5).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let admin = fleet_of_five(&t).await;
    let before = managed_devices(&t).await;

    // A draft requiring macOS 14: the two older Macs, both imported, would fail it.
    let draft = json!({"displayName": "Sonoma or later", "osMinimumVersion": "14.0"});
    let (status, body) = preview(&t, "hq", json!({"policies": [draft]}), "json").await;
    assert_eq!(status, 200, "{body}");
    let p: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((p["total"].as_u64(), p["noncompliant"].as_u64()), (Some(5), Some(2)), "{p}");
    assert_eq!((p["settings"][0]["label"].as_str(), p["settings"][0]["percent"].as_f64()), (Some("Minimum OS version"), Some(40.0)));
    let failing: Vec<&str> = p["macs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["compliance_state"] == "noncompliant")
        .map(|m| m["os_version"].as_str().unwrap())
        .collect();
    assert_eq!(failing.len(), 2);
    assert!(failing.contains(&"13.6.9") && failing.contains(&"12.7.6"), "{failing:?}");
    assert_eq!(p["macs"][0]["failing"][0].as_str().unwrap().split(", reported").next(), Some("Minimum OS version: requires >= 14.0"));
    // The tenant's own policy (FileVault): the agent Mac without it.
    let (_, body) = preview(&t, "hq", json!({}), "json").await;
    let p: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((p["noncompliant"].as_u64(), p["macs"][0]["os_version"].as_str()), (Some(1), Some("15.1")), "{p}");
    assert_eq!(p["policies"][0]["display_name"], "macOS baseline: FileVault required");
    // Nothing was stored or sent as inventory.
    assert_eq!(managed_devices(&t).await, before);

    // Refusals: a draft breaking a rule names it; an instance without a connection.
    let (status, body) = preview(&t, "hq", json!({"policies": [{"displayName": "x", "passwordMinimumLength": 40}]}), "json").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("passwordMinimumLength"), "{body}");
    let (status, _) = preview(&t, "labs", json!({}), "json").await;
    assert_eq!(status, 409);

    // The CLI writes the same as CSV, one row per Mac.
    let draft_file = t.write_endpoints_file().with_file_name("draft.json");
    std::fs::write(&draft_file, serde_json::to_vec(&draft).unwrap()).unwrap();
    let csv = admin.compliance_preview("hq", None, None, Some(draft), true).await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "computer_id,name,serial_number,model,os_version,compliance_state,failing");
    assert_eq!(rows.len(), 6, "{csv}");
    assert!(
        rows[1].contains(",noncompliant,Minimum OS version: requires >= 14.0, reported")
            || rows[1].contains(",noncompliant,\"Minimum OS version"),
        "{csv}"
    );

    // The console: the same draft from the form, with its headline, chart and tables.
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let url = format!("{}/computers/compliance-preview", t.instance_url("hq"));
    let form = [("source", "draft"), ("displayName", "Sonoma or later"), ("osMinimumVersion", "14.0"), ("format", "html")];
    let page = b.post_form(&url, &form).await.unwrap();
    assert_eq!(
        page.element_text("headline").as_deref(),
        Some("\"Sonoma or later\" would make 40 % of this fleet noncompliant: 2 of 5 Macs."),
        "{}",
        page.body
    );
    assert_eq!(page.texts("#settings td")[..3], ["Minimum OS version", "2", "40 %"]);
    assert!(page.document().select(&scraper::Selector::parse("#chart rect").unwrap()).count() == 1, "{}", page.body);
    assert_eq!(page.texts("#macs tr").len(), 6);
    let refused = b.post_form(&url, &[("source", "draft"), ("osMinimumVersion", "fourteen"), ("format", "html")]).await.unwrap();
    assert!(refused.element_text("error").is_some_and(|e| e.contains("osMinimumVersion")), "{}", refused.body);
    assert_eq!(refused.attributes("input[name=osMinimumVersion]", "value"), ["fourteen"], "the input is kept");
    t.stop().await;
}
