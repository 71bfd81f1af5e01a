//! Delivery against a misbehaving cloud: 429 with `Retry-After`, 503, a dropped
//! connection, a refused fresh token, a cut-off answer and one too slow to wait for.
//! Everything arrives, once; no request comes before the
//! `Retry-After` it was given.

use cloudconnector::admin_steps;
use serde_json::{Value, json};

use crate::harness::{eventually, spawn_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_rides_out_throttling_outages_resets_and_refused_tokens() {
    // The connector gives the cloud one second to answer.
    let t = spawn_with(3, |o| o.cloud_timeout_ms = 1000).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let faults = json!([
        {"kind": "throttle", "retry_after_s": 2},
        {"kind": "unavailable"},
        {"kind": "reset"},
        {"kind": "reject_token"},
        {"kind": "truncated"},
        {"kind": "slow", "seconds": 3},
    ]);
    let resp = t.http.post(format!("{}/_test/faults", t.cloud.url())).json(&faults).send().await.unwrap();
    assert!(resp.status().is_success());
    let before = t.http.get(format!("{}/_test/faults", t.cloud.url())).send().await.unwrap().json::<Vec<Value>>().await.unwrap().len();

    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    for profile in fleet::generate(&users, 61, 0.0) {
        fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    }
    eventually("delivered despite the faults", || async {
        (t.mdm_read("hq", "conditional-access/summary").await["delivered"] == 3).then_some(())
    })
    .await;
    // Once: one accepted outcome per update, one managed device per Mac.
    let admin = cloudconnector::admin::Admin::from_file(&t.write_endpoints_file()).unwrap();
    let link = admin.status().await.unwrap().links.remove(0);
    assert_eq!((link.accepted_total, link.rejected_total, link.dead_letters), (3, 0, 0));
    let (_, managed) = t.graph_get(&t.test_client_token().await, "deviceManagement/managedDevices").await;
    assert_eq!(managed["value"].as_array().unwrap().len(), 3);

    let arrivals: Vec<Value> = t.http.get(format!("{}/_test/faults", t.cloud.url())).send().await.unwrap().json().await.unwrap();
    let arrivals = &arrivals[before..];
    let injected: Vec<&str> = arrivals.iter().filter_map(|a| a["fault"]["kind"].as_str()).collect();
    assert_eq!(injected, ["throttle", "unavailable", "reset", "reject_token", "truncated", "slow"], "every fault was met");
    let throttled = arrivals.iter().position(|a| a["fault"]["kind"] == "throttle").unwrap();
    let (t0, next) = (arrivals[throttled]["at_ms"].as_i64().unwrap(), arrivals[throttled + 1]["at_ms"].as_i64().unwrap());
    assert!(next - t0 >= 2000, "the next request came {} ms after a Retry-After of 2 s", next - t0);
    let metrics = t.http.get(format!("{}/metrics", t.connector.url())).send().await.unwrap().text().await.unwrap();
    let retries = platform::metrics::value(&metrics, "cloudconnector_upload_retries_total").unwrap();
    assert!(retries >= 2.0, "{metrics}");
    t.stop().await;
}
