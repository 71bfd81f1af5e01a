//! How the connector batches a tenant's updates into upload messages (`batch_linger_ms`,
//! 500 ms here): a lone change goes out at once, while the updates that follow it within
//! the linger wait, on the service clock, and leave together as one message.

use cloudconnector::admin_steps;
use wire::connector_api::{InventoryBatch, InventoryUpdate};

use crate::harness::{TestStack, eventually, spawn_with};

fn update(n: usize, device: &wire::DeviceId, now_ms: i64) -> InventoryUpdate {
    InventoryUpdate {
        computer_id: format!("mac-{n}"),
        sequence: 1,
        item: wire::partner::DeviceItem {
            entity_type: wire::partner::entity_type::LEGACY_INVENTORY,
            device_id: device.clone(),
            last_update_time: platform::clock::ms_to_rfc3339(now_ms),
            encrypted: Some(true),
            os_version: Some("15.1".into()),
            device_name: Some(format!("Mac {n}")),
            ..Default::default()
        },
    }
}

async fn count(t: &TestStack, sql: &str) -> i64 {
    let db = sqlx::AnyPool::connect(&t.database_urls.connector).await.unwrap();
    let n = sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap();
    db.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_change_goes_out_at_once_and_a_stream_waits_for_the_linger() {
    let t = spawn_with(0, |_| {}).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let store = t.cloud.state.store.clone();
    let mut devices = Vec::new();
    for n in 0..11 {
        devices
            .push(cloudconnector::bench::seed_device(&store, &t.tenant.tenant_id, &t.tenant.admin.id, n, t.clock.now_ms()).await.unwrap());
    }
    let credential = t.mdm.state.store.instance_by_slug("hq").await.unwrap().unwrap().connector_credential.unwrap();
    let post = |n: usize| {
        let batch = InventoryBatch { updates: vec![update(n, &devices[n], t.clock.now_ms())] };
        let request = t.http.post(format!("{}/api/v1/inventory", t.connector.url())).bearer_auth(&credential).json(&batch);
        async move { assert!(request.send().await.unwrap().status().is_success()) }
    };
    let before = count(&t, "SELECT COUNT(*) FROM messages").await;

    // The tenant sent nothing for longer than the linger: the change leaves at once, with
    // the service clock standing still.
    post(0).await;
    eventually("the lone change's message", || async { (count(&t, "SELECT COUNT(*) FROM messages").await == before + 1).then_some(()) })
        .await;

    // Ten more changes, one request each, while the clock stands: they wait for the linger.
    for n in 1..=10 {
        post(n).await;
    }
    eventually("the ten changes queued", || async {
        (count(&t, "SELECT COUNT(*) FROM intake WHERE message_id IS NULL").await == 10).then_some(())
    })
    .await;
    // Once the linger has passed on the service clock they leave together, as one message
    // (a message made before would show as a third one, and as a smaller largest one).
    t.advance_clock(1).await;
    eventually("the stream's message", || async { (count(&t, "SELECT COUNT(*) FROM messages").await == before + 2).then_some(()) }).await;
    let largest = "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM intake GROUP BY message_id) m";
    assert_eq!(count(&t, largest).await, 10, "the ten changes in one message");
    t.stop().await;
}
