//! An admin loads the fleet a Jamf Pro server already knows: pages of Jamf Pro's
//! `GET /api/v1/computers-inventory` answer, through `cloudconnector admin import-jamf`,
//! read by the same normalisation as an agent's reports and evaluated end to end.

use std::collections::HashMap;

use cloudconnector::admin::Admin;
use cloudconnector::admin_steps;
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/jamf-computers-inventory-page.json")).unwrap()
}

fn write_page(t: &TestStack, name: &str, page: &Value) -> std::path::PathBuf {
    let path = t.write_endpoints_file().with_file_name(name);
    std::fs::write(&path, serde_json::to_vec(page).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn a_jamf_pro_page_is_imported_record_by_record() {
    let t = spawn(1).await;
    let admin = Admin::from_file(&t.write_endpoints_file()).unwrap();
    let file = write_page(&t, "page-0.json", &fixture());
    let summary = &admin.import_jamf("hq", std::slice::from_ref(&file), None, None).await.unwrap()[0].1;
    assert_eq!((summary["created"].as_u64(), summary["registrations"].as_u64()), (Some(2), Some(1)), "{summary}");
    let refused = summary["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{summary}");
    assert_eq!(refused[0]["id"], "1003");
    assert!(refused[0]["reason"].as_str().unwrap().starts_with("operatingSystem: the record has no operatingSystem section"));

    // Stored in this server's words: the RSR, Jamf Pro's i386 as an Intel Mac, the
    // registration of the first record's user with the assigned user's email.
    let page = t.mdm_read("hq", "computers-inventory?section=ALL&sort=id:asc").await;
    assert_eq!(page["totalCount"], 2);
    let (first, second) = (&page["results"][0], &page["results"][1]);
    assert_eq!(
        (first["operatingSystem"]["version"].as_str(), first["operatingSystem"]["rapidSecurityResponse"].as_str()),
        (Some("13.4.1"), Some("(a)"))
    );
    let jdoe = first["localUserAccounts"].as_array().unwrap().iter().find(|u| u["username"] == "jdoe").unwrap();
    assert_eq!(jdoe["computerAzureActiveDirectoryId"], "0f3a4c1e-9d3b-4a5e-8c7f-2b1d0e9a8c76");
    assert_eq!(first["general"]["lastContactTime"], "2026-11-29T09:40:11Z");
    assert_eq!(second["hardware"]["processorArchitecture"], "x86_64");
    assert_eq!(second["security"]["gatekeeperStatus"], "DISABLED");
    assert_eq!(second["operatingSystem"]["fileVault2Status"], "NOT_ENCRYPTED");
    // The export wrote this Mac's UDID in lower case; its agent enrolling later with the
    // upper-case UDID Macs report takes the same record over.
    assert_eq!(second["udid"], "9A8B7C6D-5E4F-4321-8765-43210FEDCBA9");
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let users = [(t.tenant.users[0].upn.clone(), t.tenant.users[0].password.clone())];
    let mut profile = fleet::generate(&users, 115, 0.0).remove(0);
    profile.udid = "9A8B7C6D-5E4F-4321-8765-43210FEDCBA9".into();
    let agent = fleet.enroll(profile, &t.instance_url("hq"), &t.instance("hq").invitation).await.unwrap();
    assert_eq!(agent.computer_id.to_string(), second["id"].as_str().unwrap(), "one computer per Mac");

    // The same page again changes nothing; the change-management log names the import.
    let again = &admin.import_jamf("hq", &[file], None, None).await.unwrap()[0].1;
    assert_eq!((again["created"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(2)), "{again}");
    // Only an admin imports; a body that is not a page, or too long a page, is refused whole.
    let url = format!("{}/api/v1/computers-inventory/import", t.instance_url("hq"));
    assert_eq!(t.http.post(&url).json(&fixture()).send().await.unwrap().status(), 401);
    let i = t.instance("hq");
    let post = |body: Value| t.http.post(&url).basic_auth(&i.admin_username, Some(&i.admin_password)).json(&body).send();
    let resp = post(json!({"totalCount": 1})).await.unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("a page of GET /api/v1/computers-inventory"));
    let big = json!({"results": vec![fixture()["results"][0].clone(); 2500]});
    assert!(serde_json::to_vec(&big).unwrap().len() > 4 * 1024 * 1024, "larger than other requests may be");
    let resp = post(big).await.unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("at most 2000 computers"));
    let log = t.mdm_read("hq", "change-management/logs").await;
    assert!(log["logs"][0]["details"].as_str().unwrap().contains("0 created, 0 updated, 2 unchanged, 1 refused"), "{log}");
    t.stop().await;
}

#[tokio::test]
async fn a_thousand_imported_computers_are_evaluated_end_to_end() {
    const MACS: usize = 1000;
    let t = spawn(20).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    // The Macs' users registered them with Entra before: twenty users, fifty Macs each.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).cycle().take(MACS).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut tasks = tokio::task::JoinSet::new();
    let mut macs: Vec<(usize, fleet::Mac)> = Vec::with_capacity(MACS);
    for (n, profile) in fleet::generate(&users, 113, 0.25).into_iter().enumerate() {
        let fleet = fleet.clone();
        tasks.spawn(async move {
            let mut mac = fleet::Mac::unenrolled(profile);
            fleet.workplace_join(&mut mac).await.unwrap();
            (n, mac)
        });
        while tasks.len() >= 16 {
            macs.push(tasks.join_next().await.unwrap().unwrap());
        }
    }
    macs.extend(tasks.join_all().await);
    macs.sort_by_key(|(n, _)| *n);
    // The page a Jamf Pro server gives for these Macs.
    let at = platform::clock::rfc3339(t.clock.now() - chrono::Duration::minutes(5));
    let records = macs.iter().map(|(n, m)| fleet::jamf::computer_record(m, 5000 + *n as u64, &at, &at)).collect();
    let page = fleet::jamf::page(records, MACS);

    let admin = Admin::from_file(&t.write_endpoints_file()).unwrap();
    let summary = &admin.import_jamf("hq", &[write_page(&t, "page-1000.json", &page)], None, None).await.unwrap()[0].1;
    assert_eq!((summary["created"].as_u64(), summary["registrations"].as_u64()), (Some(MACS as u64), Some(MACS as u64)), "{summary}");

    // Every Mac is evaluated: compliant exactly when FileVault is on.
    eventually("every imported Mac delivered", || async {
        let s = t.mdm_read("hq", "conditional-access/summary").await;
        (s["delivered"].as_u64() == Some(MACS as u64)).then_some(())
    })
    .await;
    let token = t.test_client_token().await;
    let mut states: HashMap<String, String> = HashMap::new();
    let mut next = Some(format!("{}/graph/v1.0/deviceManagement/managedDevices?$top=999", t.cloud.url()));
    while let Some(url) = next {
        let page: Value = t.http.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        for m in page["value"].as_array().unwrap() {
            states.insert(m["azureADDeviceId"].as_str().unwrap().into(), m["complianceState"].as_str().unwrap().into());
        }
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    let off = macs.iter().filter(|(_, m)| !m.profile.filevault).count();
    assert!((150..350).contains(&off), "{off} of {MACS} without FileVault");
    for (_, m) in &macs {
        let expected = if m.profile.filevault { "compliant" } else { "noncompliant" };
        assert_eq!(states.get(m.device_id.as_deref().unwrap()).map(String::as_str), Some(expected), "{}", m.profile.device_name);
    }
    t.stop().await;
}
