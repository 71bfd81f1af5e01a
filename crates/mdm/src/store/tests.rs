//! The store on its own, against an in-memory SQLite database: an instance's Conditional
//! Access settings, the connection status as an enum, and the change-management log.

use std::sync::Arc;

use super::*;

async fn store_with_instance() -> (Store, String) {
    let store = Store::connect(&platform::db::memory_url(), Arc::new(platform::secrets::SecretBox::ephemeral())).await.unwrap();
    let instance = InstanceRow {
        id: "instance-1".into(),
        slug: "hq".into(),
        name: "HQ".into(),
        version: "11.0.0".into(),
        invitation: "invite".into(),
        connector_instance_id: None,
        connector_credential: None,
    };
    store.insert_instance(&instance, 1).await.unwrap();
    (store, instance.id)
}

#[tokio::test]
async fn an_instance_without_settings_is_not_configured() {
    let (store, id) = store_with_instance().await;
    let ca = store.ca(&id).await.unwrap();
    assert_eq!((ca.link_status, ca.settings.enabled, ca.link_id), (CaStatus::NotConfigured, false, None));
    assert_eq!(store.instance_by_slug("hq").await.unwrap().map(|i| i.name), Some("HQ".into()));
}

#[tokio::test]
async fn the_connection_state_changes_only_for_the_current_link() {
    let (store, id) = store_with_instance().await;
    let mut ca = store.ca(&id).await.unwrap();
    ca.settings.enabled = true;
    ca.link_id = Some("link-1".into());
    ca.link_status = CaStatus::AwaitingConsent;
    store.save_ca(&id, &ca, 2).await.unwrap();
    assert!(!store.set_link_state(&id, &"link-0".into(), CaStatus::Active, "[]", 3).await.unwrap(), "an older link changes nothing");
    assert_eq!(store.ca(&id).await.unwrap().link_status, CaStatus::AwaitingConsent);
    assert!(store.set_link_state(&id, &"link-1".into(), CaStatus::Active, "[{\"name\":\"token\"}]", 4).await.unwrap());
    let saved = store.ca(&id).await.unwrap();
    assert_eq!((saved.link_status, saved.checks.as_str()), (CaStatus::Active, "[{\"name\":\"token\"}]"));
}

#[tokio::test]
async fn the_change_log_is_newest_first_and_filtered_by_object_type() {
    let (store, id) = store_with_instance().await;
    store.log_change(&id, 1, "admin", "Conditional Access", "Cloud Connector", "Save", "enabled").await.unwrap();
    store.log_change(&id, 2, "admin", "API Client", "reader", "Create", "").await.unwrap();
    let all: Vec<_> = store.change_log(&id, "").await.unwrap().into_iter().map(|r| r.object_type).collect();
    assert_eq!(all, ["API Client", "Conditional Access"]);
    assert_eq!(store.change_log(&id, "Conditional Access").await.unwrap().len(), 1);
}

#[tokio::test]
async fn one_node_at_a_time_holds_an_instance() {
    let (store, id) = store_with_instance().await;
    assert!(store.hold_instance(&id, "node-a", 1_000, 31_000).await.unwrap());
    assert!(!store.hold_instance(&id, "node-b", 1_000, 31_000).await.unwrap(), "node-a holds it");
    assert!(store.hold_instance(&id, "node-a", 20_000, 50_000).await.unwrap(), "the holder renews");
    assert!(!store.hold_instance(&id, "node-b", 49_999, 79_999).await.unwrap());
    // node-a stopped renewing: its lease runs out and node-b takes the instance over.
    assert!(store.hold_instance(&id, "node-b", 50_000, 80_000).await.unwrap());
    assert!(!store.hold_instance(&id, "node-a", 50_001, 80_001).await.unwrap());
}

#[tokio::test]
async fn retention_prunes_old_inventory_history_but_each_computers_latest_entry() {
    let (store, instance) = store_with_instance().await;
    let mut computers = Vec::new();
    for udid in ["A", "B"] {
        computers
            .push(store.enroll_computer(&instance, udid, "SERIAL", "Mac", "MacBookPro18,1", &format!("digest-{udid}"), 1).await.unwrap());
    }
    let mut txn = store.begin().await.unwrap();
    // A: three old entries and a recent one. B: one old entry, its only one.
    for (computer, sequence, at) in
        [(computers[0], 1, 10), (computers[0], 2, 20), (computers[0], 3, 30), (computers[0], 4, 500), (computers[1], 1, 10)]
    {
        tx::record_history(&mut txn, computer, sequence, "full", at, at, "[]").await.unwrap();
    }
    txn.commit().await.unwrap();
    assert_eq!(store.prune_history("another-instance", 100).await.unwrap(), 0, "only the instance's own computers");
    assert_eq!(store.prune_history(&instance, 100).await.unwrap(), 3);
    let kept = |c| {
        let store = store.clone();
        async move { store.inventory_history(c, 10).await.unwrap().iter().map(|h| h.sequence).collect::<Vec<_>>() }
    };
    assert_eq!(kept(computers[0]).await, [4]);
    assert_eq!(kept(computers[1]).await, [1], "a computer's latest entry stays whatever its age");
}

#[tokio::test]
async fn a_command_waits_once_is_handed_out_once_and_is_pruned_with_age() {
    let (store, instance) = store_with_instance().await;
    let computer = store.enroll_computer(&instance, "A", "SERIAL", "Mac", "MacBookPro18,1", "digest-A", 1).await.unwrap();
    const MINUTE: i64 = 60_000;
    let first = store.queue_command(computer, "UpdateInventory", 10).await.unwrap();
    let again = store.queue_command(computer, "UpdateInventory", 5 * MINUTE).await.unwrap();
    assert_eq!(first.uuid, again.uuid, "asked twice before it answers, the Mac reports once");
    assert_eq!(again.queued_ms, 5 * MINUTE, "asked again, the Mac is given its time again");
    let taken = store.take_commands(computer, 5 * MINUTE + 1).await.unwrap();
    assert_eq!((taken.len(), taken[0].delivered_ms), (1, Some(5 * MINUTE + 1)));
    assert!(store.take_commands(computer, 5 * MINUTE + 2).await.unwrap().is_empty(), "handed out once");
    assert!(store.command(computer + 1, &first.uuid).await.unwrap().is_none(), "another computer's command is not found");
    let burst = store.queue_command(computer, "UpdateInventory", 5 * MINUTE + 3).await.unwrap();
    assert_eq!(burst.uuid, first.uuid, "within the cooldown, the answered command is followed");
    let next = store.queue_command(computer, "UpdateInventory", 7 * MINUTE).await.unwrap();
    assert_ne!(next.uuid, first.uuid, "after it, a new Recheck queues a new command");
    assert_eq!(store.prune_commands("another-instance", 100 * MINUTE).await.unwrap(), 0);
    assert_eq!(store.prune_commands(&instance, 6 * MINUTE).await.unwrap(), 1, "only the older one");
    assert!(store.command(computer, &next.uuid).await.unwrap().is_some());
}

#[tokio::test]
async fn history_never_shows_a_collection_after_its_receipt() {
    let (store, instance) = store_with_instance().await;
    let computer = store.enroll_computer(&instance, "C", "SERIAL", "Mac", "MacBookPro18,1", "digest-c", 1).await.unwrap();
    let mut txn = store.begin().await.unwrap();
    // A stored collection time from a Mac whose clock ran ahead, sent again at 500.
    tx::record_history(&mut txn, computer, 1, "registration", 900, 500, "local_users").await.unwrap();
    tx::record_history(&mut txn, computer, 2, "full", 450, 600, "[]").await.unwrap();
    txn.commit().await.unwrap();
    let rows = store.inventory_history(computer, 10).await.unwrap();
    let times: Vec<(i64, i64, i64)> = rows.iter().map(|h| (h.sequence, h.collected_ms, h.received_ms)).collect();
    assert!(times.contains(&(1, 500, 500)) && times.contains(&(2, 450, 600)), "{times:?}");
}
