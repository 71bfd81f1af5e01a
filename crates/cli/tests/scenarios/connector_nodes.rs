//! Two connector nodes on one PostgreSQL database: each message is worked on by one node
//! at a time (leases), every update reaches Entra once, and what runs once per period for
//! the whole cluster (heartbeats) is taken by one node. On SQLite a second node is refused.

use cloudconnector::admin_steps;
use cloudconnector::stack::ConnectorService;

use crate::harness::{eventually, spawn_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connector_nodes_share_the_work_and_upload_each_message_once() {
    let t = spawn_with(6, |o| o.batch_size = 2).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let ConnectorService::InProcess(first) = &t.connector else { panic!("in-process connector") };
    let second = connector::start(first.state.config.clone(), platform::http::bind(0).unwrap(), &t.ca, t.clock.clone()).await;
    if t.database_urls.connector.starts_with("sqlite") {
        let refused = second.err().expect("a second node on one SQLite file is refused").to_string();
        assert!(refused.contains("in use by another node of this service") && refused.contains("PostgreSQL"), "{refused}");
        t.stop().await;
        return;
    }
    let second = second.unwrap();
    let nodes = [first.state.clone(), second.state.clone()];
    assert_ne!(nodes[0].node, nodes[1].node);

    // Twelve Macs, two to a message: the nodes race for six or more messages.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut macs = Vec::new();
    for profile in fleet::generate(&users, 2, 0.0) {
        macs.push(fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap());
    }
    eventually("every update delivered", || async {
        let s = t.mdm_read("hq", "conditional-access/summary").await;
        (s["delivered"] == macs.len()).then_some(())
    })
    .await;
    let token = t.test_client_token().await;
    let (_, devices) = t.graph_get(&token, "devices").await;
    for mac in &macs {
        let device_id = mac.device_id.clone().unwrap();
        let device = devices["value"].as_array().unwrap().iter().find(|d| d["deviceId"] == device_id.as_str()).unwrap();
        assert_eq!(device["isCompliant"], mac.profile.filevault, "{}", mac.profile.device_name);
    }

    // Each message formed was uploaded by exactly one node, once.
    let sum = |f: fn(&connector::metrics::Metrics) -> u64| nodes.iter().map(|n| f(&n.metrics)).sum::<u64>();
    let formed = sum(|m| m.count("cloudconnector_messages_created_total"));
    let uploads = sum(|m| m.count("cloudconnector_upload_requests_total"));
    assert!(formed >= macs.len() as u64 / 2, "{formed} messages for {} Macs", macs.len());
    let by_node: Vec<u64> = nodes.iter().map(|n| n.metrics.count("cloudconnector_upload_requests_total")).collect();
    assert_eq!(uploads, formed, "uploads by node: {by_node:?}");
    let dead =
        t.http.get(format!("{}/api/v1/operator/dead-letters", t.connector.url())).bearer_auth(&t.operator_token).send().await.unwrap();
    let dead: serde_json::Value = dead.json().await.unwrap();
    assert_eq!(dead["dead_letters"], serde_json::json!([]));

    // A Retry-After one node is given pauses the tenant on the other from its next step.
    let tenant = t.tenant.tenant_id.as_str();
    assert_eq!(nodes[1].cloud.gates().remaining_ms("local", tenant), 0);
    nodes[0].cloud.gates().observe("local", tenant, 429, Some(120));
    connector::pipeline::share_pauses(&nodes[0]).await.unwrap();
    connector::pipeline::share_pauses(&nodes[1]).await.unwrap();
    let remaining = nodes[1].cloud.gates().remaining_ms("local", tenant);
    assert!(remaining > 100_000 && remaining <= 120_000, "{remaining} ms");

    // A cluster job of a period is taken by one node.
    let now = t.clock.now_ms();
    let race =
        nodes.clone().map(|n| tokio::spawn(async move { n.store.take_job("a-test-job", &n.node, now + 3_600_000, now + 7_200_000).await }));
    let mut taken = Vec::new();
    for r in race {
        taken.push(r.await.unwrap().unwrap());
    }
    assert_eq!(taken.iter().filter(|t| **t).count(), 1, "{taken:?}");
    second.shutdown().await;
    t.stop().await;
}
