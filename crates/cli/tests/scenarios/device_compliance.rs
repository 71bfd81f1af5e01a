//! The Device Compliance model (docs/microsoft-compatibility.md): the instance decides from its applicable and
//! compliance rules and sends only the verdict (EntityType 4) through the connector.

use cloudconnector::admin_steps;
use fleet::{Fleet, Mac};

use crate::harness::{TestStack, eventually, spawn};

async fn mac(t: &TestStack, fleet: &Fleet, user: usize, os: &str, filevault: bool) -> Mac {
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 31, 0.0).remove(user);
    profile.os_version = os.into();
    profile.filevault = filevault;
    fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap()
}

#[tokio::test]
async fn device_compliance_verdicts_are_decided_by_the_instance() {
    let t = spawn(3).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let ca = format!("{}/settings/global-management/conditional-access", t.instance_url("hq"));
    let form = |compliance: &'static str| {
        vec![
            ("enabled", "true"),
            ("connection_type", "cloud_connector"),
            ("sovereign_cloud", "local"),
            ("landing_page", "registration"),
            ("compliance_model", "device_compliance"),
            ("applicable_rule", "os_version at_least 12.0"),
            ("compliance_rule", compliance),
            ("action", "save"),
        ]
    };
    let page = b.post_form(&ca, &form("filevault equals true")).await.unwrap();
    assert!(page.element_text("error").unwrap().contains("Unknown operator"), "{}", page.body);
    assert!(page.texts("textarea[name=compliance_rule]").contains(&"filevault equals true".to_string()), "the input is kept");
    let page = b.post_form(&ca, &form("filevault is true\nos_version at_least 14.0\ndays_since_inventory less_than 2")).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"));

    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let good = mac(&t, &fleet, 0, "14.6.1", true).await;
    let old = mac(&t, &fleet, 1, "13.6.9", true).await;
    let ancient = mac(&t, &fleet, 2, "11.7.10", false).await;
    let token = t.test_client_token().await;
    for (m, expected) in [(&good, true), (&old, false)] {
        let id = m.device_id.clone().unwrap();
        let got = eventually("verdict", || async {
            let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{id}'")).await;
            d["value"][0]["isCompliant"].as_bool()
        })
        .await;
        assert_eq!(got, expected, "{}", m.profile.os_version);
    }
    // Outside the applicable group nothing is sent.
    let v = t.mdm_read("hq", &format!("computers/{}/conditional-access", ancient.computer_id)).await;
    assert_eq!(v["users"][0]["delivery_state"], "not_sent");
    // Intune keeps the partner's verdict for Entra without evaluating its own settings, and
    // does not list verdict-only Macs among its managed devices.
    let (_, managed) = t.graph_get(&token, "deviceManagement/managedDevices").await;
    assert_eq!(managed["value"].as_array().unwrap().len(), 0, "{managed}");
    // Time alone changes membership: without a new inventory for two days, the compliant
    // Mac leaves the compliance group and the instance sends the new verdict.
    t.advance_clock(2 * 24 * 3600 + 60).await;
    let token = t.test_client_token().await; // the earlier one expired meanwhile
    let id = good.device_id.clone().unwrap();
    eventually("verdict after two days", || async {
        let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{id}'")).await;
        (d["value"][0]["isCompliant"] == false).then_some(())
    })
    .await;
    let history = t.mdm_read("hq", &format!("computers-inventory/{}/history", good.computer_id)).await;
    assert_eq!(history["results"][0]["kind"], "membership", "{history}");
    // A fresh inventory brings it back.
    fleet.report_inventory(&good, t.clock.now()).await.unwrap();
    eventually("compliant again", || async {
        let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{id}'")).await;
        (d["value"][0]["isCompliant"] == true).then_some(())
    })
    .await;
    let log = t.mdm_read("hq", "change-management/logs").await.to_string();
    assert!(log.contains("Compliance model: intune → device_compliance"), "{log}");
    t.stop().await;
}
