//! Recovery: the connector process killed (SIGKILL) again and again while Macs report;
//! after restarts every update is delivered, and none twice.

use std::collections::HashSet;
use std::path::PathBuf;

use cloudconnector::admin_steps;
use cloudconnector::stack::StackOptions;
use serde_json::Value;

use crate::harness::{eventually, spawn_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_killed_mid_delivery_loses_and_duplicates_nothing() {
    const MACS: usize = 40;
    let mut t = spawn_with(MACS, |o: &mut StackOptions| {
        o.connector_binary = Some(PathBuf::from(env!("CARGO_BIN_EXE_cloudconnector")));
        o.batch_size = 4;
    })
    .await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let (url, invitation) = (t.instance_url("hq"), t.instance("hq").invitation.clone());
    for (n, profile) in fleet::generate(&users, 51, 0.3).into_iter().enumerate() {
        fleet.onboard(profile, &url, &invitation, t.clock.now()).await.unwrap();
        if n % 8 == 7 {
            // Killed while updates are queued, batched or in flight; back a moment later.
            t.connector_process().kill();
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            t.connector_process().restart().await.unwrap();
        }
    }
    eventually("every Mac delivered", || async {
        (t.mdm_read("hq", "conditional-access/summary").await["delivered"] == MACS).then_some(())
    })
    .await;

    // Exactly one outcome per update: nothing lost, nothing applied twice.
    let credential = t.mdm.state.store.instance_by_slug("hq").await.unwrap().unwrap().connector_credential.unwrap();
    let page: Value = t
        .http
        .get(format!("{}/api/v1/outcomes?after=0&limit=5000", t.connector.url()))
        .bearer_auth(&credential)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes = page["outcomes"].as_array().unwrap();
    let keys: HashSet<(String, i64)> =
        outcomes.iter().map(|o| (o["computer_id"].as_str().unwrap().to_string(), o["sequence"].as_i64().unwrap())).collect();
    assert_eq!(keys.len(), outcomes.len(), "an update was concluded twice");
    assert_eq!(outcomes.len(), MACS);
    assert!(outcomes.iter().all(|o| o["status"] == "accepted"), "{page}");
    let token = t.test_client_token().await;
    let (_, managed) = t.graph_get(&token, "deviceManagement/managedDevices?$top=999").await;
    assert_eq!(managed["value"].as_array().unwrap().len(), MACS);
    t.stop().await;
}
