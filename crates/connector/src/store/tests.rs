//! The store on its own, against an in-memory SQLite database: states go in as enums and
//! come back as the same enums, history and queues answer what was written.

use partner::outcome::ItemOutcome;
use wire::connector_api::{LinkStatus, OutcomeStatus};

use super::*;

async fn store() -> Store {
    Store::connect(&platform::db::memory_url()).await.unwrap()
}

fn link(id: &str, instance_id: &InstanceId) -> LinkRow {
    LinkRow {
        id: id.into(),
        instance_id: instance_id.clone(),
        cloud: "local".into(),
        tenant_id: Some("tenant".into()),
        status: LinkStatus::AwaitingConsent,
        landing_page: "{\"kind\":\"registration\"}".into(),
        return_url: "https://mdm.example/ca".into(),
        checks: "[]".into(),
        last_tested_ms: None,
    }
}

/// Stores message `m-1` of `tenant`, due at 10.
async fn message(store: &Store) -> MessageId {
    let message = MessageRow {
        message_id: "m-1".into(),
        tenant_id: "tenant".into(),
        cloud: "local".into(),
        body: "{}".into(),
        status: MessageState::Upload,
        attempts: 0,
        next_attempt_ms: 10,
    };
    let mut txn = store.begin().await.unwrap();
    tx::insert_message(&mut txn, &message, 1).await.unwrap();
    txn.commit().await.unwrap();
    message.message_id
}

async fn instance(store: &Store) -> InstanceId {
    let row = InstanceRow {
        id: InstanceId::default(),
        external_id: "ext".into(),
        name: "Instance".into(),
        url: "https://mdm.example/i/a".into(),
        version: "11.0.0".into(),
    };
    store.upsert_instance(&row, "digest", 1).await.unwrap()
}

#[tokio::test]
async fn a_links_states_and_history_round_trip() {
    let store = store().await;
    let instance_id = instance(&store).await;
    let mut l = link("link-1", &instance_id);
    store.insert_link(&l, 1).await.unwrap();
    l.status = LinkStatus::Active;
    store.update_link(&l, "confirmed", 2).await.unwrap();
    // Saving without a change of state writes no history.
    store.update_link(&l, "saved again", 3).await.unwrap();
    let history = store.link_history(&"link-1".into()).await.unwrap();
    assert_eq!(history, [(1, LinkStatus::AwaitingConsent, "link created".to_string()), (2, LinkStatus::Active, "confirmed".to_string())]);
    assert_eq!(store.link(&"link-1".into()).await.unwrap().unwrap().status, LinkStatus::Active);
    assert_eq!(store.links_with_status(LinkStatus::Active).await.unwrap().len(), 1);
    assert!(store.links_with_status(LinkStatus::Failing).await.unwrap().is_empty());
    assert_eq!(store.set_active_links_status(&"tenant".into(), LinkStatus::Terminated, "terminated in Intune", 4).await.unwrap(), 1);
    assert_eq!(store.link(&"link-1".into()).await.unwrap().unwrap().status, LinkStatus::Terminated);
}

#[tokio::test]
async fn messages_are_due_by_state_and_time() {
    let store = store().await;
    let id = message(&store).await;
    assert!(store.messages_due(MessageState::Upload, 9, 10).await.unwrap().is_empty(), "not due before its time");
    let due = store.messages_due(MessageState::Upload, 10, 10).await.unwrap();
    assert_eq!((due.len(), due[0].status), (1, MessageState::Upload));
    assert!(store.lease_message(&id, MessageState::Upload, "node-a", 10, 100).await.unwrap());
    let next = Next { status: MessageState::Poll, attempts: 1, at_ms: 20, error: None };
    assert!(store.reschedule_message(&id, "node-a", next).await.unwrap());
    assert!(store.messages_due(MessageState::Upload, 30, 10).await.unwrap().is_empty());
    assert_eq!(store.messages_due(MessageState::Poll, 30, 10).await.unwrap()[0].attempts, 1);
}

#[tokio::test]
async fn outcomes_come_back_in_order_with_their_status() {
    let store = store().await;
    let instance_id = instance(&store).await;
    let mut txn = store.begin().await.unwrap();
    let stale =
        ItemOutcome { status: OutcomeStatus::Stale, detail: Some("newer".into()), compliance_state: None, compliance_reasons: vec![] };
    let accepted = ItemOutcome {
        status: OutcomeStatus::Accepted,
        detail: None,
        compliance_state: Some("compliant".into()),
        compliance_reasons: vec![],
    };
    tx::insert_outcome(&mut txn, &instance_id, "7", 1, &stale, 5).await.unwrap();
    tx::insert_outcome(&mut txn, &instance_id, "7", 2, &accepted, 6).await.unwrap();
    txn.commit().await.unwrap();
    let outcomes = store.outcomes(&instance_id, 0, 10).await.unwrap();
    let statuses: Vec<_> = outcomes.iter().map(|o| (o.sequence, o.status)).collect();
    assert_eq!(statuses, [(1, OutcomeStatus::Stale), (2, OutcomeStatus::Accepted)]);
    assert_eq!(store.outcomes(&instance_id, outcomes[0].seq, 10).await.unwrap().len(), 1, "after a cursor, only later ones");
}

#[tokio::test]
async fn a_message_is_leased_to_one_node_until_its_lease_runs_out_or_is_given_up() {
    let store = store().await;
    let id = &message(&store).await;
    assert!(store.lease_message(id, MessageState::Upload, "node-a", 10, 100).await.unwrap());
    assert!(!store.lease_message(id, MessageState::Upload, "node-b", 10, 100).await.unwrap(), "held by node-a");
    assert!(store.messages_due(MessageState::Upload, 50, 10).await.unwrap().is_empty(), "a held message is not due");
    assert!(!store.lease_message(id, MessageState::Poll, "node-b", 200, 300).await.unwrap(), "not in that state");
    // node-a stalled: its lease runs out and node-b takes the message over.
    assert_eq!(store.messages_due(MessageState::Upload, 100, 10).await.unwrap().len(), 1);
    assert!(store.lease_message(id, MessageState::Upload, "node-b", 100, 200).await.unwrap());
    // node-a comes back late: its writes are fenced off.
    let poll = Next { status: MessageState::Poll, attempts: 0, at_ms: 150, error: None };
    assert!(!store.reschedule_message(id, "node-a", poll).await.unwrap());
    let mut txn = store.begin().await.unwrap();
    assert!(!tx::close_leased_message(&mut txn, id, "node-a").await.unwrap());
    txn.rollback().await.unwrap();
    // Rescheduling gives the lease up at once.
    assert!(store.reschedule_message(id, "node-b", poll).await.unwrap());
    assert!(store.lease_message(id, MessageState::Poll, "node-a", 150, 250).await.unwrap());
    let mut txn = store.begin().await.unwrap();
    assert!(tx::close_leased_message(&mut txn, id, "node-a").await.unwrap());
    txn.commit().await.unwrap();
    assert!(!store.lease_message(id, MessageState::Poll, "node-b", 300, 400).await.unwrap(), "a done message is no one's");
}

#[tokio::test]
async fn a_restarted_node_and_a_single_sqlite_node_take_up_their_leases_at_once() {
    let store = store().await;
    let id = &message(&store).await;
    assert!(store.lease_message(id, MessageState::Upload, "host:8444", 10, 100_000).await.unwrap());
    store.release_leases("host:8444").await.unwrap();
    assert_eq!(store.messages_due(MessageState::Upload, 20, 10).await.unwrap().len(), 1, "due again at once");
}

#[tokio::test]
async fn a_cluster_job_runs_on_one_node_per_period() {
    let store = store().await;
    assert!(store.take_job("heartbeat", "node-a", 1_000, 2_000).await.unwrap());
    assert!(!store.take_job("heartbeat", "node-b", 1_000, 2_000).await.unwrap(), "taken for this period");
    assert!(!store.take_job("heartbeat", "node-b", 1_999, 2_999).await.unwrap());
    assert!(store.take_job("heartbeat", "node-b", 2_000, 3_000).await.unwrap(), "the next period");
    assert!(store.take_job("reconcile", "node-a", 2_000, 3_000).await.unwrap(), "jobs are independent");
}

#[tokio::test]
async fn a_tenants_pause_is_shared_and_the_later_one_stands() {
    let store = store().await;
    store.share_pause("global", "t1", 5_000).await.unwrap();
    store.share_pause("global", "t1", 4_000).await.unwrap();
    store.share_pause("global", "t2", 2_000).await.unwrap();
    let mut live = store.shared_pauses(3_000).await.unwrap();
    live.sort();
    assert_eq!(live, [("global".to_string(), "t1".to_string(), 5_000)], "t2's pause is over; t1's later one stands");
    store.share_pause("global", "t1", 9_000).await.unwrap();
    assert_eq!(store.shared_pauses(3_000).await.unwrap()[0].2, 9_000);
}

#[tokio::test]
async fn retention_prunes_old_history_and_keeps_what_is_still_needed() {
    let store = store().await;
    let instance_id = instance(&store).await;
    let (tenant, device) = (TenantId::from("tenant"), DeviceId::from("d"));
    let mut txn = store.begin().await.unwrap();
    // Computer 7: three concluded updates, all old. Computer 8: an old dead letter.
    // Computer 9: an old update still queued.
    for (computer, sequence) in [("7", 1), ("7", 2), ("7", 3), ("8", 1), ("9", 1)] {
        tx::insert_intake(&mut txn, &instance_id, &tenant, computer, sequence, &device, "{}", 10).await.unwrap();
    }
    let accepted = ItemOutcome { status: OutcomeStatus::Accepted, detail: None, compliance_state: None, compliance_reasons: vec![] };
    tx::insert_outcome(&mut txn, &instance_id, "7", 1, &accepted, 10).await.unwrap();
    tx::insert_outcome(&mut txn, &instance_id, "7", 3, &accepted, 500).await.unwrap();
    txn.commit().await.unwrap();
    message(&store).await;
    sqlx::query("UPDATE messages SET status = 'done'").execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE intake SET status = 'done', message_id = 'm-1' WHERE computer_id = '7' AND sequence = 3")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE intake SET status = 'done' WHERE computer_id = '7'").execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE intake SET status = 'dead' WHERE computer_id = '8'").execute(store.pool()).await.unwrap();

    let pruned = store.prune(100).await.unwrap();
    assert_eq!(pruned, Pruned { intake: 2, messages: 0, outcomes: 1 }, "7's older updates and the old outcome");
    let left: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT computer_id, sequence, status FROM intake ORDER BY computer_id, sequence")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let expected = [("7", 3, "done"), ("8", 1, "dead"), ("9", 1, "queued")].map(|(c, s, st)| (c.to_string(), s, st.to_string()));
    assert_eq!(left, expected, "each computer's latest update, dead letters and the queue stay");
    assert_eq!(store.max_sequences(&instance_id, &["7"]).await.unwrap().get("7"), Some(&3), "older updates are still recognised as older");
    assert_eq!(store.outcomes(&instance_id, 0, 10).await.unwrap().len(), 1);
    // The message the kept update belongs to stays until that update is pruned too.
    sqlx::query("UPDATE intake SET message_id = NULL").execute(store.pool()).await.unwrap();
    assert_eq!(store.prune(100).await.unwrap(), Pruned { intake: 0, messages: 1, outcomes: 0 });
}

#[tokio::test]
async fn updates_of_an_instance_that_left_the_tenant_are_given_up_but_its_withdrawals_go() {
    let store = store().await;
    let (staying, leaving) = (instance(&store).await, {
        let row = InstanceRow {
            id: InstanceId::from("instance-2"),
            external_id: "ext-2".into(),
            name: "Leaving".into(),
            url: "https://mdm.example/i/b".into(),
            version: "11.0.0".into(),
        };
        store.upsert_instance(&row, "digest-2", 1).await.unwrap()
    });
    let mut kept = link("link-1", &staying);
    kept.status = LinkStatus::Failing;
    store.insert_link(&kept, 1).await.unwrap();
    let mut gone = link("link-2", &leaving);
    gone.status = LinkStatus::Disconnected;
    store.insert_link(&gone, 1).await.unwrap();
    let (tenant, device) = (TenantId::from("tenant"), DeviceId::from("d"));
    let mut txn = store.begin().await.unwrap();
    tx::insert_intake(&mut txn, &staying, &tenant, "1", 1, &device, "{\"a\":1}", 10).await.unwrap();
    tx::insert_intake(&mut txn, &leaving, &tenant, "withdraw:e", 10, &DeviceId::from("e"), "{\"w\":1}", 10).await.unwrap();
    tx::insert_intake(&mut txn, &leaving, &tenant, "2", 1, &DeviceId::from("e"), "{\"late\":1}", 11).await.unwrap();
    assert_eq!(tx::drop_departed(&mut txn, &tenant, 20).await.unwrap(), 1);
    let batch = tx::claim_batch(&mut txn, &tenant, &"m-1".into(), 10).await.unwrap();
    txn.commit().await.unwrap();
    let items: Vec<&str> = batch.iter().map(|(_, item)| item.as_str()).collect();
    assert_eq!(items, ["{\"a\":1}", "{\"w\":1}"], "the failing link's update and the withdrawal");
    let dead = store.dead_letters(Some(&leaving), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some(tx::LEFT_THE_TENANT));
    let told = store.outcomes(&leaving, 0, 10).await.unwrap();
    assert_eq!((told.len(), told[0].status), (1, OutcomeStatus::Rejected), "the instance learns what became of it");
}
